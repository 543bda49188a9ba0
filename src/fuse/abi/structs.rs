//! Structs shared by many messages: the request and reply headers, inode
//! attributes, locks, directory records and request extensions.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::EntryOut;
#[cfg(doc)]
use super::*;

/// Inode attributes, as in `struct stat`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Attr {
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub atime: u64,
    pub mtime: u64,
    pub ctime: u64,
    pub atimensec: u32,
    pub mtimensec: u32,
    pub ctimensec: u32,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u32,
    pub blksize: u32,
    /// [`attr_flags`] bits.
    pub flags: u32,
}

/// A timestamp in [`Statx`].
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SxTime {
    pub tv_sec: i64,
    pub tv_nsec: u32,
    pub __reserved: i32,
}

/// Attributes as in `struct statx`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Statx {
    /// `STATX_*` bits of the fields that are filled in.
    pub mask: u32,
    pub blksize: u32,
    pub attributes: u64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub mode: u16,
    pub __spare0: [u16; 1],
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub attributes_mask: u64,
    pub atime: SxTime,
    pub btime: SxTime,
    pub ctime: SxTime,
    pub mtime: SxTime,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub __spare2: [u64; 14],
}

/// Filesystem statistics, as in `struct statfs`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Kstatfs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
    pub padding: u32,
    pub spare: [u32; 6],
}

/// A POSIX record lock.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FileLock {
    pub start: u64,
    pub end: u64,
    /// `F_RDLCK`, `F_WRLCK` or `F_UNLCK`.
    pub type_: u32,
    /// Thread group id of the lock holder.
    pub pid: u32,
}

/// Header of every request.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct InHeader {
    /// Length of the whole request, header included.
    pub len: u32,
    /// An [`Opcode`] number.
    pub opcode: u32,
    /// Request id, echoed in [`OutHeader::unique`].
    pub unique: u64,
    /// Inode the request is about.
    pub nodeid: u64,
    /// Caller's credentials (or [`INVALID_UIDGID`]).
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
    /// Length of request extensions at the end, in units of 8 bytes.
    pub total_extlen: u16,
    pub padding: u16,
}

/// Header of every reply.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct OutHeader {
    /// Length of the whole reply, header included.
    pub len: u32,
    /// Zero or a negated errno.
    pub error: i32,
    pub unique: u64,
}

/// Header of a `READDIR` record; `namelen` bytes of name and padding to 8
/// follow (see [`dirent_size`]).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Dirent {
    pub ino: u64,
    /// Offset of the next entry, for the next `READDIR`.
    pub off: u64,
    pub namelen: u32,
    /// File type as in `d_type` (`DT_*`).
    pub type_: u32,
}

/// Header of a `READDIRPLUS` record; name and padding follow (see
/// [`direntplus_size`]).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Direntplus {
    /// Counts as a lookup unless `nodeid` is zero.
    pub entry_out: EntryOut,
    pub dirent: Dirent,
}

/// One security context in the [`init_flags::SECURITY_CTX`] extension; the
/// NUL-terminated name, then `size` bytes of context, each padded to 8, follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Secctx {
    pub size: u32,
    pub padding: u32,
}

/// Start of the security context extension; `nr_secctx` [`Secctx`] follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SecctxHeader {
    /// Total size of the extension, this header included.
    pub size: u32,
    pub nr_secctx: u32,
}

/// Header of one request extension (after the request's arguments).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ExtHeader {
    /// Size of the extension, this header included, a multiple of 8.
    pub size: u32,
    /// An [`ext_type`] value.
    pub type_: u32,
}

/// Body of the [`ext_type::EXT_GROUPS`] extension; `nr_groups` `u32` group
/// ids follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SuppGroups {
    pub nr_groups: u32,
}
