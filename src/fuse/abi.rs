//! The FUSE wire format, protocol 7.41 (Linux 6.12 `include/uapi/linux/fuse.h`).
//!
//! This module owns the byte layout of FUSE messages and nothing else: the
//! fixed-size request and reply structs, the opcode numbers and the flag
//! constants. It holds no logic and does no I/O; decoding a request, checking
//! its lengths and encoding a reply belong to the rest of [`crate::fuse`].
//!
//! # Conventions
//!
//! * Kernel `struct fuse_foo_bar` is `FooBar` here, with the
//!   kernel's field names (`type` is spelled `type_`). Fields the kernel leaves
//!   unused or reserves for alignment are kept, so every struct is exactly as
//!   large as its C counterpart and has no implicit padding.
//! * Every struct derives the `zerocopy` traits, so it is read from and written
//!   to byte buffers without `unsafe`. Trailing variable-length parts (names,
//!   data, group lists) are not part of the structs: they follow them on the
//!   wire.
//! * Kernel `#define` groups become modules of constants, typed like the
//!   field they go in, with the `FUSE_` (and `FOPEN_`) prefix dropped:
//!   `FUSE_GETATTR_FH` is [`getattr_flags::GETATTR_FH`], `FATTR_MODE` stays
//!   [`fattr::FATTR_MODE`].
//! * Integers are in native byte order. virtio-fs carries FUSE messages in the
//!   guest's byte order, so the daemon assumes guest and host agree on it.

use thiserror::Error;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Major protocol version this daemon speaks.
pub const KERNEL_VERSION: u32 = 7;

/// Minor protocol version this daemon speaks (Linux 6.12).
pub const KERNEL_MINOR_VERSION: u32 = 41;

/// Node id of the root directory of the mount.
pub const ROOT_ID: u64 = 1;

/// Longest name component the daemon accepts (the Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Smallest read buffer a `/dev/fuse` server must offer the kernel.
pub const MIN_READ_BUFFER: usize = 8192;

/// Bit set in [`InHeader::unique`] when the kernel resends a request after
/// `NOTIFY_RESEND`.
pub const UNIQUE_RESEND: u64 = 1 << 63;

/// Value of [`InHeader::uid`] and [`InHeader::gid`] when the caller's ids have
/// no mapping (idmapped mounts: requests that do not create an inode).
pub const INVALID_UIDGID: u32 = u32::MAX;

/// Most iovecs (input plus output) an unrestricted ioctl reply may ask for.
pub const IOCTL_MAX_IOV: usize = 256;

/// Size of [`EntryOut`] before protocol 7.9.
pub const COMPAT_ENTRY_OUT_SIZE: usize = 120;
/// Size of [`AttrOut`] before protocol 7.9.
pub const COMPAT_ATTR_OUT_SIZE: usize = 96;
/// Size of [`MknodIn`] before protocol 7.12 (no `umask`).
pub const COMPAT_MKNOD_IN_SIZE: usize = 8;
/// Size of [`WriteIn`] before protocol 7.9.
pub const COMPAT_WRITE_IN_SIZE: usize = 24;
/// Size of [`StatfsOut`] before protocol 7.4.
pub const COMPAT_STATFS_SIZE: usize = 48;
/// Size of [`SetxattrIn`] unless [`init_flags::SETXATTR_EXT`] was negotiated.
pub const COMPAT_SETXATTR_IN_SIZE: usize = 8;
/// Size of [`InitOut`] before protocol 7.5.
pub const COMPAT_INIT_OUT_SIZE: usize = 8;
/// Size of [`InitOut`] before protocol 7.23.
pub const COMPAT_22_INIT_OUT_SIZE: usize = 24;

/// Offset of the name in a directory entry: the size of [`Dirent`].
pub const NAME_OFFSET: usize = size_of::<Dirent>();
/// Offset of the name in a `READDIRPLUS` entry: the size of [`Direntplus`].
pub const NAME_OFFSET_DIRENTPLUS: usize = size_of::<Direntplus>();

/// Rounds `len` up to the 8-byte alignment of directory records.
const fn rec_align(len: usize) -> usize {
    (len + 7) & !7
}

/// Bytes one `READDIR` record takes: a [`Dirent`], the name, padding to 8.
pub const fn dirent_size(namelen: usize) -> usize {
    rec_align(NAME_OFFSET + namelen)
}

/// Bytes one `READDIRPLUS` record takes: a [`Direntplus`], the name, padding
/// to 8.
pub const fn direntplus_size(namelen: usize) -> usize {
    rec_align(NAME_OFFSET_DIRENTPLUS + namelen)
}

/// Bits of [`SetattrIn::valid`]: which attributes to change.
pub mod fattr {
    /// Change the mode.
    pub const FATTR_MODE: u32 = 1 << 0;
    /// Change the owner.
    pub const FATTR_UID: u32 = 1 << 1;
    /// Change the group.
    pub const FATTR_GID: u32 = 1 << 2;
    /// Change the size (truncate).
    pub const FATTR_SIZE: u32 = 1 << 3;
    /// Set the access time from `atime`/`atimensec`.
    pub const FATTR_ATIME: u32 = 1 << 4;
    /// Set the modification time from `mtime`/`mtimensec`.
    pub const FATTR_MTIME: u32 = 1 << 5;
    /// `fh` is valid (the change comes through an open file).
    pub const FATTR_FH: u32 = 1 << 6;
    /// Set the access time to the current time.
    pub const FATTR_ATIME_NOW: u32 = 1 << 7;
    /// Set the modification time to the current time.
    pub const FATTR_MTIME_NOW: u32 = 1 << 8;
    /// `lock_owner` is valid.
    pub const FATTR_LOCKOWNER: u32 = 1 << 9;
    /// Set the change time from `ctime`/`ctimensec`.
    pub const FATTR_CTIME: u32 = 1 << 10;
    /// Clear set-user-id and set-group-id bits (with `HANDLE_KILLPRIV_V2`).
    pub const FATTR_KILL_SUIDGID: u32 = 1 << 11;
}

/// Bits of [`OpenOut::open_flags`], returned by `OPEN`, `OPENDIR` and `CREATE`.
pub mod fopen {
    /// Bypass the guest page cache for this file.
    pub const DIRECT_IO: u32 = 1 << 0;
    /// Keep the cached data of the inode across this open.
    pub const KEEP_CACHE: u32 = 1 << 1;
    /// The file does not support seeking.
    pub const NONSEEKABLE: u32 = 1 << 2;
    /// The guest may cache this directory's entries.
    pub const CACHE_DIR: u32 = 1 << 3;
    /// Stream-like file: no file position at all.
    pub const STREAM: u32 = 1 << 4;
    /// Do not send `FLUSH` on close.
    pub const NOFLUSH: u32 = 1 << 5;
    /// Direct writes to this file may run in parallel.
    pub const PARALLEL_DIRECT_WRITES: u32 = 1 << 6;
    /// Reads and writes go straight to a backing file (`/dev/fuse` only).
    pub const PASSTHROUGH: u32 = 1 << 7;
}

/// `INIT` capability bits. `flags` carries bits 0..32 and `flags2` bits 32..64
/// (shifted down by 32); one `u64` here holds both.
pub mod init_flags {
    /// Reads may be sent asynchronously.
    pub const ASYNC_READ: u64 = 1 << 0;
    /// The server handles POSIX (fcntl) locks.
    pub const POSIX_LOCKS: u64 = 1 << 1;
    /// Kernel sends a file handle for fstat and friends (never implemented).
    pub const FILE_OPS: u64 = 1 << 2;
    /// The server handles `O_TRUNC` in `OPEN`.
    pub const ATOMIC_O_TRUNC: u64 = 1 << 3;
    /// The server answers lookups of "." and "..".
    pub const EXPORT_SUPPORT: u64 = 1 << 4;
    /// Writes larger than a page are allowed.
    pub const BIG_WRITES: u64 = 1 << 5;
    /// The kernel does not apply the umask on create.
    pub const DONT_MASK: u64 = 1 << 6;
    /// The kernel can splice-write to the device.
    pub const SPLICE_WRITE: u64 = 1 << 7;
    /// The kernel can splice-move pages to the device.
    pub const SPLICE_MOVE: u64 = 1 << 8;
    /// The kernel can splice-read from the device.
    pub const SPLICE_READ: u64 = 1 << 9;
    /// The server handles BSD (flock) locks.
    pub const FLOCK_LOCKS: u64 = 1 << 10;
    /// The kernel supports ioctl on directories.
    pub const HAS_IOCTL_DIR: u64 = 1 << 11;
    /// Invalidate cached pages when the mtime or size changes.
    pub const AUTO_INVAL_DATA: u64 = 1 << 12;
    /// The server supports `READDIRPLUS`.
    pub const DO_READDIRPLUS: u64 = 1 << 13;
    /// The kernel picks `READDIRPLUS` or `READDIR` adaptively.
    pub const READDIRPLUS_AUTO: u64 = 1 << 14;
    /// Direct I/O may be submitted asynchronously.
    pub const ASYNC_DIO: u64 = 1 << 15;
    /// Buffered writes go through the guest page cache (writeback caching).
    pub const WRITEBACK_CACHE: u64 = 1 << 16;
    /// The kernel treats `ENOSYS` from `OPEN` as "no open needed".
    pub const NO_OPEN_SUPPORT: u64 = 1 << 17;
    /// Lookups and readdir in one directory may run in parallel.
    pub const PARALLEL_DIROPS: u64 = 1 << 18;
    /// The server clears suid/sgid/capabilities on write, chown and truncate.
    pub const HANDLE_KILLPRIV: u64 = 1 << 19;
    /// The server supports POSIX ACLs.
    pub const POSIX_ACL: u64 = 1 << 20;
    /// Reading the device after an abort returns `ECONNABORTED`.
    pub const ABORT_ERROR: u64 = 1 << 21;
    /// [`InitOut::max_pages`](super::InitOut::max_pages) is valid.
    pub const MAX_PAGES: u64 = 1 << 22;
    /// The guest caches `READLINK` replies.
    pub const CACHE_SYMLINKS: u64 = 1 << 23;
    /// The kernel treats `ENOSYS` from `OPENDIR` as "no opendir needed".
    pub const NO_OPENDIR_SUPPORT: u64 = 1 << 24;
    /// Cached pages are invalidated only on explicit request.
    pub const EXPLICIT_INVAL_DATA: u64 = 1 << 25;
    /// [`InitOut::map_alignment`](super::InitOut::map_alignment) is valid (DAX).
    pub const MAP_ALIGNMENT: u64 = 1 << 26;
    /// The kernel supports submounts ([`ATTR_SUBMOUNT`](super::attr_flags::ATTR_SUBMOUNT)).
    pub const SUBMOUNTS: u64 = 1 << 27;
    /// The server clears suid/sgid on write, chown and truncate as told by
    /// the per-request kill flags.
    pub const HANDLE_KILLPRIV_V2: u64 = 1 << 28;
    /// `SETXATTR` carries the extended [`SetxattrIn`](super::SetxattrIn).
    pub const SETXATTR_EXT: u64 = 1 << 29;
    /// `flags2` is valid (bits 32..64 of this set).
    pub const INIT_EXT: u64 = 1 << 30;
    /// Reserved; never set.
    pub const INIT_RESERVED: u64 = 1 << 31;
    /// Create requests carry the caller's security context.
    pub const SECURITY_CTX: u64 = 1 << 32;
    /// The kernel supports per-inode DAX ([`ATTR_DAX`](super::attr_flags::ATTR_DAX)).
    pub const HAS_INODE_DAX: u64 = 1 << 33;
    /// Create requests carry the caller's supplementary group
    /// ([`SuppGroups`](super::SuppGroups)) when the parent is not setgid.
    pub const CREATE_SUPP_GROUP: u64 = 1 << 34;
    /// The kernel supports [`EXPIRE_ONLY`](super::inval_entry_flags::EXPIRE_ONLY).
    pub const HAS_EXPIRE_ONLY: u64 = 1 << 35;
    /// Shared mmap is allowed on files opened with `DIRECT_IO`.
    pub const DIRECT_IO_ALLOW_MMAP: u64 = 1 << 36;
    /// Old name of [`DIRECT_IO_ALLOW_MMAP`].
    pub const DIRECT_IO_RELAX: u64 = DIRECT_IO_ALLOW_MMAP;
    /// Files may be opened in passthrough mode (`/dev/fuse` only).
    pub const PASSTHROUGH: u64 = 1 << 37;
    /// The filesystem cannot be exported (no NFS file handles).
    pub const NO_EXPORT_SUPPORT: u64 = 1 << 38;
    /// The kernel can resend pending requests ([`UNIQUE_RESEND`](super::UNIQUE_RESEND)).
    pub const HAS_RESEND: u64 = 1 << 39;
    /// Idmapped mounts are allowed (needs `default_permissions`).
    pub const ALLOW_IDMAP: u64 = 1 << 40;
}

/// Bits of [`GetattrIn::getattr_flags`] and [`StatxIn::getattr_flags`].
pub mod getattr_flags {
    /// `fh` is valid.
    pub const GETATTR_FH: u32 = 1 << 0;
}

/// Bits of [`LkIn::lk_flags`].
pub mod lk_flags {
    /// The lock is a BSD `flock`, not a POSIX record lock.
    pub const LK_FLOCK: u32 = 1 << 0;
}

/// Bits of [`WriteIn::write_flags`].
pub mod write_flags {
    /// Delayed write from the page cache; `fh` is a guess.
    pub const WRITE_CACHE: u32 = 1 << 0;
    /// `lock_owner` is valid.
    pub const WRITE_LOCKOWNER: u32 = 1 << 1;
    /// Clear set-user-id and set-group-id bits.
    pub const WRITE_KILL_SUIDGID: u32 = 1 << 2;
    /// Old name of [`WRITE_KILL_SUIDGID`].
    pub const WRITE_KILL_PRIV: u32 = WRITE_KILL_SUIDGID;
}

/// Bits of [`ReadIn::read_flags`].
pub mod read_flags {
    /// `lock_owner` is valid.
    pub const READ_LOCKOWNER: u32 = 1 << 1;
}

/// Bits of [`ReleaseIn::release_flags`].
pub mod release_flags {
    /// Flush the file before releasing it.
    pub const RELEASE_FLUSH: u32 = 1 << 0;
    /// Drop the `flock` locks held by `lock_owner`.
    pub const RELEASE_FLOCK_UNLOCK: u32 = 1 << 1;
}

/// Bits of [`FsyncIn::fsync_flags`].
pub mod fsync_flags {
    /// Sync data only, like `fdatasync(2)`.
    pub const FSYNC_FDATASYNC: u32 = 1 << 0;
}

/// Bits of [`Attr::flags`].
pub mod attr_flags {
    /// The inode is the root of a submount.
    pub const ATTR_SUBMOUNT: u32 = 1 << 0;
    /// Use DAX for this inode.
    pub const ATTR_DAX: u32 = 1 << 1;
}

/// Bits of [`OpenIn::open_flags`] and [`CreateIn::open_flags`].
pub mod open_in_flags {
    /// Clear set-user-id and set-group-id bits on truncating open.
    pub const OPEN_KILL_SUIDGID: u32 = 1 << 0;
}

/// Bits of [`SetxattrIn::setxattr_flags`].
pub mod setxattr_flags {
    /// Clear the set-group-id bit when setting a POSIX ACL.
    pub const SETXATTR_ACL_KILL_SGID: u32 = 1 << 0;
}

/// Bits of [`IoctlIn::flags`] and [`IoctlOut::flags`].
pub mod ioctl_flags {
    /// 32-bit compat ioctl on a 64-bit kernel.
    pub const IOCTL_COMPAT: u32 = 1 << 0;
    /// Not restricted to well-formed ioctls; retries allowed.
    pub const IOCTL_UNRESTRICTED: u32 = 1 << 1;
    /// Reply: retry with the iovecs that follow.
    pub const IOCTL_RETRY: u32 = 1 << 2;
    /// 32-bit ioctl.
    pub const IOCTL_32BIT: u32 = 1 << 3;
    /// The ioctl is on a directory.
    pub const IOCTL_DIR: u32 = 1 << 4;
    /// x32 compat ioctl on a 64-bit kernel (64-bit `time_t`).
    pub const IOCTL_COMPAT_X32: u32 = 1 << 5;
}

/// Bits of [`PollIn::flags`].
pub mod poll_flags {
    /// The kernel wants a `NOTIFY_POLL` when the file becomes ready.
    pub const POLL_SCHEDULE_NOTIFY: u32 = 1 << 0;
}

/// Bits of [`SetupmappingIn::flags`].
pub mod setupmapping_flags {
    /// Map for writing.
    pub const SETUPMAPPING_FLAG_WRITE: u64 = 1 << 0;
    /// Map for reading.
    pub const SETUPMAPPING_FLAG_READ: u64 = 1 << 1;
}

/// Bits of [`NotifyInvalEntryOut::flags`].
pub mod inval_entry_flags {
    /// Only expire the entry; do not drop it.
    pub const EXPIRE_ONLY: u32 = 1 << 0;
}

/// Values of [`ExtHeader::type_`]: request extensions after the arguments.
pub mod ext_type {
    /// Security context extension. Types up to this value are reserved,
    /// because the old secctx extension carried a count in this field.
    pub const MAX_NR_SECCTX: u32 = 31;
    /// Supplementary group extension ([`SuppGroups`](super::SuppGroups)).
    pub const EXT_GROUPS: u32 = 32;
}

/// Codes of unsolicited notifications (server to kernel, `/dev/fuse` only),
/// sent in [`OutHeader::error`] with `unique` zero.
pub mod notify_code {
    /// A polled file became ready.
    pub const NOTIFY_POLL: i32 = 1;
    /// Drop cached attributes and data of an inode.
    pub const NOTIFY_INVAL_INODE: i32 = 2;
    /// Drop a cached directory entry.
    pub const NOTIFY_INVAL_ENTRY: i32 = 3;
    /// Push data into the guest page cache.
    pub const NOTIFY_STORE: i32 = 4;
    /// Ask for data from the guest page cache.
    pub const NOTIFY_RETRIEVE: i32 = 5;
    /// A directory entry was deleted.
    pub const NOTIFY_DELETE: i32 = 6;
    /// Resend all pending requests.
    pub const NOTIFY_RESEND: i32 = 7;
}

/// Error of [`Opcode::try_from`]: the number names no FUSE request.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown FUSE opcode {0}")]
pub struct UnknownOpcode(pub u32);

/// Defines [`Opcode`] together with its number and name tables, so the three
/// cannot drift apart.
macro_rules! opcodes {
    ($($(#[$doc:meta])* $variant:ident = $value:literal => $name:literal,)*) => {
        /// FUSE request opcodes ([`InHeader::opcode`]).
        #[repr(u32)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Opcode {
            $($(#[$doc])* $variant = $value,)*
        }

        impl Opcode {
            /// Every opcode, in numeric order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$variant,)*];

            /// The kernel's name without the `FUSE_` prefix, e.g. `"LOOKUP"`.
            pub const fn name(&self) -> &'static str {
                match self {
                    $(Opcode::$variant => $name,)*
                }
            }
        }

        impl TryFrom<u32> for Opcode {
            type Error = UnknownOpcode;

            fn try_from(value: u32) -> Result<Self, Self::Error> {
                match value {
                    $($value => Ok(Opcode::$variant),)*
                    other => Err(UnknownOpcode(other)),
                }
            }
        }
    };
}

opcodes! {
    /// Look up a name in a directory; takes a reference on the result.
    Lookup = 1 => "LOOKUP",
    /// Drop references taken by lookups ([`ForgetIn`]); no reply.
    Forget = 2 => "FORGET",
    /// Read attributes ([`GetattrIn`]).
    Getattr = 3 => "GETATTR",
    /// Change attributes ([`SetattrIn`]).
    Setattr = 4 => "SETATTR",
    /// Read a symlink target.
    Readlink = 5 => "READLINK",
    /// Create a symlink: name and target follow.
    Symlink = 6 => "SYMLINK",
    /// Create a special or regular file ([`MknodIn`]).
    Mknod = 8 => "MKNOD",
    /// Create a directory ([`MkdirIn`]).
    Mkdir = 9 => "MKDIR",
    /// Remove a non-directory.
    Unlink = 10 => "UNLINK",
    /// Remove an empty directory.
    Rmdir = 11 => "RMDIR",
    /// Rename ([`RenameIn`]).
    Rename = 12 => "RENAME",
    /// Create a hard link ([`LinkIn`]).
    Link = 13 => "LINK",
    /// Open a file ([`OpenIn`]).
    Open = 14 => "OPEN",
    /// Read from an open file ([`ReadIn`]).
    Read = 15 => "READ",
    /// Write to an open file ([`WriteIn`]).
    Write = 16 => "WRITE",
    /// Filesystem statistics.
    Statfs = 17 => "STATFS",
    /// Close an open file ([`ReleaseIn`]).
    Release = 18 => "RELEASE",
    /// Sync an open file ([`FsyncIn`]).
    Fsync = 20 => "FSYNC",
    /// Set an extended attribute ([`SetxattrIn`]).
    Setxattr = 21 => "SETXATTR",
    /// Get an extended attribute ([`GetxattrIn`]).
    Getxattr = 22 => "GETXATTR",
    /// List extended attributes ([`GetxattrIn`]).
    Listxattr = 23 => "LISTXATTR",
    /// Remove an extended attribute.
    Removexattr = 24 => "REMOVEXATTR",
    /// Called on every close of a file descriptor ([`FlushIn`]).
    Flush = 25 => "FLUSH",
    /// Negotiate the protocol ([`InitIn`], [`InitOut`]).
    Init = 26 => "INIT",
    /// Open a directory ([`OpenIn`]).
    Opendir = 27 => "OPENDIR",
    /// Read directory entries ([`ReadIn`]).
    Readdir = 28 => "READDIR",
    /// Close a directory ([`ReleaseIn`]).
    Releasedir = 29 => "RELEASEDIR",
    /// Sync a directory ([`FsyncIn`]).
    Fsyncdir = 30 => "FSYNCDIR",
    /// Test for a lock ([`LkIn`]).
    Getlk = 31 => "GETLK",
    /// Take or release a lock without waiting ([`LkIn`]).
    Setlk = 32 => "SETLK",
    /// Take a lock, waiting for it ([`LkIn`]).
    Setlkw = 33 => "SETLKW",
    /// Check access permissions ([`AccessIn`]).
    Access = 34 => "ACCESS",
    /// Create and open a file ([`CreateIn`]).
    Create = 35 => "CREATE",
    /// Interrupt a pending request ([`InterruptIn`]).
    Interrupt = 36 => "INTERRUPT",
    /// Map a file block to a device block ([`BmapIn`]).
    Bmap = 37 => "BMAP",
    /// The mount is going away.
    Destroy = 38 => "DESTROY",
    /// Forward an ioctl ([`IoctlIn`]).
    Ioctl = 39 => "IOCTL",
    /// Poll a file for readiness ([`PollIn`]).
    Poll = 40 => "POLL",
    /// Reply to `NOTIFY_RETRIEVE` ([`NotifyRetrieveIn`]).
    NotifyReply = 41 => "NOTIFY_REPLY",
    /// Drop references of several inodes ([`BatchForgetIn`]); no reply.
    BatchForget = 42 => "BATCH_FORGET",
    /// Allocate or punch file space ([`FallocateIn`]).
    Fallocate = 43 => "FALLOCATE",
    /// Read directory entries with their attributes ([`ReadIn`]).
    Readdirplus = 44 => "READDIRPLUS",
    /// Rename with `renameat2(2)` flags ([`Rename2In`]).
    Rename2 = 45 => "RENAME2",
    /// Find data or holes ([`LseekIn`]).
    Lseek = 46 => "LSEEK",
    /// Copy a range between open files ([`CopyFileRangeIn`]).
    CopyFileRange = 47 => "COPY_FILE_RANGE",
    /// Map file ranges into the DAX window ([`SetupmappingIn`]).
    Setupmapping = 48 => "SETUPMAPPING",
    /// Unmap ranges from the DAX window ([`RemovemappingIn`]).
    Removemapping = 49 => "REMOVEMAPPING",
    /// Flush the whole filesystem ([`SyncfsIn`]).
    Syncfs = 50 => "SYNCFS",
    /// Create and open an unnamed file ([`CreateIn`]).
    Tmpfile = 51 => "TMPFILE",
    /// Read attributes the `statx(2)` way ([`StatxIn`], [`StatxOut`]).
    Statx = 52 => "STATX",
}

impl From<Opcode> for u32 {
    fn from(op: Opcode) -> u32 {
        op as u32
    }
}

impl std::fmt::Display for Opcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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

/// Reply to `LOOKUP`, `MKNOD`, `MKDIR`, `SYMLINK`, `LINK` (and the entry part
/// of `CREATE`): a new reference on `nodeid`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EntryOut {
    /// Node id; zero means a negative entry (cacheable "does not exist").
    pub nodeid: u64,
    /// `(nodeid, generation)` must be unique for the filesystem's lifetime.
    pub generation: u64,
    /// How long the name may be cached (seconds).
    pub entry_valid: u64,
    /// How long the attributes may be cached (seconds).
    pub attr_valid: u64,
    pub entry_valid_nsec: u32,
    pub attr_valid_nsec: u32,
    pub attr: Attr,
}

/// `FORGET` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ForgetIn {
    /// Number of lookups to drop.
    pub nlookup: u64,
}

/// One inode of a `BATCH_FORGET`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ForgetOne {
    pub nodeid: u64,
    pub nlookup: u64,
}

/// `BATCH_FORGET` argument; `count` [`ForgetOne`] follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BatchForgetIn {
    pub count: u32,
    pub dummy: u32,
}

/// `GETATTR` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GetattrIn {
    /// [`getattr_flags`] bits.
    pub getattr_flags: u32,
    pub dummy: u32,
    pub fh: u64,
}

/// Reply to `GETATTR` and `SETATTR`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct AttrOut {
    /// How long the attributes may be cached (seconds).
    pub attr_valid: u64,
    pub attr_valid_nsec: u32,
    pub dummy: u32,
    pub attr: Attr,
}

/// `STATX` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StatxIn {
    /// [`getattr_flags`] bits.
    pub getattr_flags: u32,
    pub reserved: u32,
    pub fh: u64,
    /// `AT_STATX_*` sync flags.
    pub sx_flags: u32,
    /// `STATX_*` bits wanted.
    pub sx_mask: u32,
}

/// Reply to `STATX`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StatxOut {
    pub attr_valid: u64,
    pub attr_valid_nsec: u32,
    /// [`attr_flags`] bits.
    pub flags: u32,
    pub spare: [u64; 2],
    pub stat: Statx,
}

/// `MKNOD` argument; the name follows.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct MknodIn {
    pub mode: u32,
    pub rdev: u32,
    pub umask: u32,
    pub padding: u32,
}

/// `MKDIR` argument; the name follows.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct MkdirIn {
    pub mode: u32,
    pub umask: u32,
}

/// `RENAME` argument; old and new names follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RenameIn {
    pub newdir: u64,
}

/// `RENAME2` argument; old and new names follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Rename2In {
    pub newdir: u64,
    /// `RENAME_NOREPLACE`, `RENAME_EXCHANGE`, `RENAME_WHITEOUT`.
    pub flags: u32,
    pub padding: u32,
}

/// `LINK` argument; the new name follows.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct LinkIn {
    pub oldnodeid: u64,
}

/// `SETATTR` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SetattrIn {
    /// [`fattr`] bits: which of the fields below are meant.
    pub valid: u32,
    pub padding: u32,
    pub fh: u64,
    pub size: u64,
    pub lock_owner: u64,
    pub atime: u64,
    pub mtime: u64,
    pub ctime: u64,
    pub atimensec: u32,
    pub mtimensec: u32,
    pub ctimensec: u32,
    pub mode: u32,
    pub unused4: u32,
    pub uid: u32,
    pub gid: u32,
    pub unused5: u32,
}

/// `OPEN` and `OPENDIR` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct OpenIn {
    /// `open(2)` flags.
    pub flags: u32,
    /// [`open_in_flags`] bits.
    pub open_flags: u32,
}

/// `CREATE` and `TMPFILE` argument; the name follows.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CreateIn {
    /// `open(2)` flags.
    pub flags: u32,
    pub mode: u32,
    pub umask: u32,
    /// [`open_in_flags`] bits.
    pub open_flags: u32,
}

/// Reply to `OPEN`, `OPENDIR` (and the open part of `CREATE`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct OpenOut {
    pub fh: u64,
    /// [`fopen`] bits.
    pub open_flags: u32,
    /// Backing file id for [`fopen::PASSTHROUGH`]; zero otherwise.
    pub backing_id: i32,
}

/// `RELEASE` and `RELEASEDIR` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ReleaseIn {
    pub fh: u64,
    /// `open(2)` flags of the file.
    pub flags: u32,
    /// [`release_flags`] bits.
    pub release_flags: u32,
    pub lock_owner: u64,
}

/// `FLUSH` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FlushIn {
    pub fh: u64,
    pub unused: u32,
    pub padding: u32,
    pub lock_owner: u64,
}

/// `READ`, `READDIR` and `READDIRPLUS` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ReadIn {
    pub fh: u64,
    pub offset: u64,
    pub size: u32,
    /// [`read_flags`] bits.
    pub read_flags: u32,
    pub lock_owner: u64,
    /// `open(2)` flags of the file.
    pub flags: u32,
    pub padding: u32,
}

/// `WRITE` argument; `size` bytes of data follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct WriteIn {
    pub fh: u64,
    pub offset: u64,
    pub size: u32,
    /// [`write_flags`] bits.
    pub write_flags: u32,
    pub lock_owner: u64,
    /// `open(2)` flags of the file.
    pub flags: u32,
    pub padding: u32,
}

/// Reply to `WRITE` (and `COPY_FILE_RANGE`): bytes written.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct WriteOut {
    pub size: u32,
    pub padding: u32,
}

/// Reply to `STATFS`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct StatfsOut {
    pub st: Kstatfs,
}

/// `FSYNC` and `FSYNCDIR` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FsyncIn {
    pub fh: u64,
    /// [`fsync_flags`] bits.
    pub fsync_flags: u32,
    pub padding: u32,
}

/// `SETXATTR` argument; name and value follow. Only the first
/// [`COMPAT_SETXATTR_IN_SIZE`] bytes are sent unless
/// [`init_flags::SETXATTR_EXT`] was negotiated.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SetxattrIn {
    /// Value length.
    pub size: u32,
    /// `XATTR_CREATE` / `XATTR_REPLACE`.
    pub flags: u32,
    /// [`setxattr_flags`] bits.
    pub setxattr_flags: u32,
    pub padding: u32,
}

/// `GETXATTR` and `LISTXATTR` argument; for `GETXATTR` the name follows.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GetxattrIn {
    /// Buffer size; zero asks for the needed size only.
    pub size: u32,
    pub padding: u32,
}

/// Reply to a size query (`size` zero) of `GETXATTR` or `LISTXATTR`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GetxattrOut {
    pub size: u32,
    pub padding: u32,
}

/// `GETLK`, `SETLK` and `SETLKW` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct LkIn {
    pub fh: u64,
    pub owner: u64,
    pub lk: FileLock,
    /// [`lk_flags`] bits.
    pub lk_flags: u32,
    pub padding: u32,
}

/// Reply to `GETLK`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct LkOut {
    pub lk: FileLock,
}

/// `ACCESS` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct AccessIn {
    /// `R_OK`, `W_OK`, `X_OK` bits.
    pub mask: u32,
    pub padding: u32,
}

/// `INIT` argument (7.36+ layout; older kernels send only the first 16 bytes).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct InitIn {
    pub major: u32,
    pub minor: u32,
    pub max_readahead: u32,
    /// Low half of [`init_flags`].
    pub flags: u32,
    /// High half of [`init_flags`], valid with [`init_flags::INIT_EXT`].
    pub flags2: u32,
    pub unused: [u32; 11],
}

/// Reply to `INIT`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct InitOut {
    pub major: u32,
    pub minor: u32,
    pub max_readahead: u32,
    /// Low half of [`init_flags`].
    pub flags: u32,
    pub max_background: u16,
    pub congestion_threshold: u16,
    pub max_write: u32,
    /// Timestamp granularity in nanoseconds.
    pub time_gran: u32,
    /// Largest request in pages, with [`init_flags::MAX_PAGES`].
    pub max_pages: u16,
    /// log2 of the DAX mapping alignment, with [`init_flags::MAP_ALIGNMENT`].
    pub map_alignment: u16,
    /// High half of [`init_flags`], with [`init_flags::INIT_EXT`].
    pub flags2: u32,
    /// Stacking depth of passthrough backing files.
    pub max_stack_depth: u32,
    pub unused: [u32; 6],
}

/// `INTERRUPT` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct InterruptIn {
    /// `unique` of the request to interrupt.
    pub unique: u64,
}

/// `BMAP` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BmapIn {
    pub block: u64,
    pub blocksize: u32,
    pub padding: u32,
}

/// Reply to `BMAP`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BmapOut {
    pub block: u64,
}

/// `IOCTL` argument; `in_size` bytes of input follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IoctlIn {
    pub fh: u64,
    /// [`ioctl_flags`] bits.
    pub flags: u32,
    pub cmd: u32,
    pub arg: u64,
    pub in_size: u32,
    pub out_size: u32,
}

/// An iovec of an unrestricted ioctl retry.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IoctlIovec {
    pub base: u64,
    pub len: u64,
}

/// Reply to `IOCTL`; output data (or retry iovecs) follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IoctlOut {
    pub result: i32,
    /// [`ioctl_flags`] bits.
    pub flags: u32,
    pub in_iovs: u32,
    pub out_iovs: u32,
}

/// `POLL` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PollIn {
    pub fh: u64,
    /// Kernel handle to quote in `NOTIFY_POLL`.
    pub kh: u64,
    /// [`poll_flags`] bits.
    pub flags: u32,
    /// `POLL*` events wanted.
    pub events: u32,
}

/// Reply to `POLL`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PollOut {
    pub revents: u32,
    pub padding: u32,
}

/// `NOTIFY_POLL` body.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct NotifyPollWakeupOut {
    pub kh: u64,
}

/// `FALLOCATE` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FallocateIn {
    pub fh: u64,
    pub offset: u64,
    pub length: u64,
    /// `fallocate(2)` mode bits.
    pub mode: u32,
    pub padding: u32,
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

/// `NOTIFY_INVAL_INODE` body.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct NotifyInvalInodeOut {
    pub ino: u64,
    pub off: i64,
    pub len: i64,
}

/// `NOTIFY_INVAL_ENTRY` body; the name follows.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct NotifyInvalEntryOut {
    pub parent: u64,
    pub namelen: u32,
    /// [`inval_entry_flags`] bits.
    pub flags: u32,
}

/// `NOTIFY_DELETE` body; the name follows.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct NotifyDeleteOut {
    pub parent: u64,
    pub child: u64,
    pub namelen: u32,
    pub padding: u32,
}

/// `NOTIFY_STORE` body; the data follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct NotifyStoreOut {
    pub nodeid: u64,
    pub offset: u64,
    pub size: u32,
    pub padding: u32,
}

/// `NOTIFY_RETRIEVE` body.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct NotifyRetrieveOut {
    pub notify_unique: u64,
    pub nodeid: u64,
    pub offset: u64,
    pub size: u32,
    pub padding: u32,
}

/// `NOTIFY_REPLY` argument (answer to `NOTIFY_RETRIEVE`); the data follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct NotifyRetrieveIn {
    pub dummy1: u64,
    pub offset: u64,
    pub size: u32,
    pub dummy2: u32,
    pub dummy3: u64,
    pub dummy4: u64,
}

/// `LSEEK` argument.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct LseekIn {
    pub fh: u64,
    pub offset: u64,
    /// `SEEK_*`.
    pub whence: u32,
    pub padding: u32,
}

/// Reply to `LSEEK`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct LseekOut {
    pub offset: u64,
}

/// `COPY_FILE_RANGE` argument; the request's `nodeid` is the source inode.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CopyFileRangeIn {
    pub fh_in: u64,
    pub off_in: u64,
    pub nodeid_out: u64,
    pub fh_out: u64,
    pub off_out: u64,
    pub len: u64,
    pub flags: u64,
}

/// `SETUPMAPPING` argument (DAX).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SetupmappingIn {
    pub fh: u64,
    /// Offset in the file.
    pub foffset: u64,
    pub len: u64,
    /// [`setupmapping_flags`] bits.
    pub flags: u64,
    /// Offset in the DAX window.
    pub moffset: u64,
}

/// `REMOVEMAPPING` argument; `count` [`RemovemappingOne`] follow.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RemovemappingIn {
    pub count: u32,
}

/// One range of a `REMOVEMAPPING`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RemovemappingOne {
    pub moffset: u64,
    pub len: u64,
}

/// `SYNCFS` argument; the request's `nodeid` is the (sub)mount root.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SyncfsIn {
    pub padding: u64,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    macro_rules! assert_sizes {
        ($($ty:ty => $size:expr,)*) => {
            $(assert_eq!(size_of::<$ty>(), $size, stringify!($ty));)*
        };
    }

    #[test]
    fn struct_sizes_match_kernel() {
        assert_sizes! {
            InHeader => 40,
            OutHeader => 16,
            Attr => 88,
            SxTime => 16,
            Statx => 256,
            Kstatfs => 80,
            FileLock => 24,
            EntryOut => 128,
            ForgetIn => 8,
            ForgetOne => 16,
            BatchForgetIn => 8,
            GetattrIn => 16,
            AttrOut => 104,
            StatxIn => 24,
            StatxOut => 288,
            MknodIn => 16,
            MkdirIn => 8,
            RenameIn => 8,
            Rename2In => 16,
            LinkIn => 8,
            SetattrIn => 88,
            OpenIn => 8,
            CreateIn => 16,
            OpenOut => 16,
            ReleaseIn => 24,
            FlushIn => 24,
            ReadIn => 40,
            WriteIn => 40,
            WriteOut => 8,
            StatfsOut => 80,
            FsyncIn => 16,
            SetxattrIn => 16,
            GetxattrIn => 8,
            GetxattrOut => 8,
            LkIn => 48,
            LkOut => 24,
            AccessIn => 8,
            InitIn => 64,
            InitOut => 64,
            InterruptIn => 8,
            BmapIn => 16,
            BmapOut => 8,
            IoctlIn => 32,
            IoctlIovec => 16,
            IoctlOut => 16,
            PollIn => 24,
            PollOut => 8,
            NotifyPollWakeupOut => 8,
            FallocateIn => 32,
            Dirent => 24,
            Direntplus => 152,
            NotifyInvalInodeOut => 24,
            NotifyInvalEntryOut => 16,
            NotifyDeleteOut => 24,
            NotifyStoreOut => 24,
            NotifyRetrieveOut => 32,
            NotifyRetrieveIn => 40,
            LseekIn => 24,
            LseekOut => 8,
            CopyFileRangeIn => 56,
            SetupmappingIn => 40,
            RemovemappingIn => 4,
            RemovemappingOne => 16,
            SyncfsIn => 8,
            Secctx => 8,
            SecctxHeader => 8,
            ExtHeader => 8,
            SuppGroups => 4,
        }
    }

    #[test]
    fn compat_sizes_are_prefixes_of_current_structs() {
        assert!(COMPAT_ENTRY_OUT_SIZE < size_of::<EntryOut>());
        assert!(COMPAT_ATTR_OUT_SIZE < size_of::<AttrOut>());
        assert_eq!(COMPAT_MKNOD_IN_SIZE, offset_of!(MknodIn, umask));
        assert_eq!(COMPAT_WRITE_IN_SIZE, offset_of!(WriteIn, lock_owner));
        assert_eq!(COMPAT_STATFS_SIZE, offset_of!(Kstatfs, frsize));
        assert_eq!(
            COMPAT_SETXATTR_IN_SIZE,
            offset_of!(SetxattrIn, setxattr_flags)
        );
        assert_eq!(COMPAT_INIT_OUT_SIZE, offset_of!(InitOut, max_readahead));
        assert_eq!(COMPAT_22_INIT_OUT_SIZE, offset_of!(InitOut, time_gran));
    }

    #[test]
    fn field_offsets_match_kernel() {
        assert_eq!(offset_of!(InHeader, total_extlen), 36);
        assert_eq!(offset_of!(InitIn, flags2), 16);
        assert_eq!(offset_of!(InitOut, max_pages), 28);
        assert_eq!(offset_of!(InitOut, flags2), 32);
        assert_eq!(offset_of!(InitOut, max_stack_depth), 36);
        assert_eq!(offset_of!(SetattrIn, uid), 76);
        assert_eq!(offset_of!(Statx, atime), 64);
        assert_eq!(offset_of!(Statx, rdev_major), 128);
        assert_eq!(offset_of!(StatxOut, stat), 32);
        assert_eq!(offset_of!(Direntplus, dirent), 128);
        assert_eq!(offset_of!(LkIn, lk_flags), 40);
    }

    #[test]
    fn every_opcode_round_trips_through_u32() {
        for &op in Opcode::ALL {
            assert_eq!(Opcode::try_from(u32::from(op)), Ok(op));
        }
        assert_eq!(Opcode::ALL.len(), 50);
    }

    #[test]
    fn numbers_without_an_opcode_are_rejected() {
        for n in 0..=64u32 {
            let known = Opcode::ALL.iter().any(|&op| op as u32 == n);
            assert_eq!(Opcode::try_from(n).is_ok(), known, "opcode {n}");
        }
        assert_eq!(Opcode::try_from(7), Err(UnknownOpcode(7)));
        assert_eq!(Opcode::try_from(9999), Err(UnknownOpcode(9999)));
        assert_eq!(UnknownOpcode(9999).to_string(), "unknown FUSE opcode 9999");
    }

    #[test]
    fn opcode_numbers_and_names_match_kernel() {
        assert_eq!(Opcode::Lookup as u32, 1);
        assert_eq!(Opcode::Mknod as u32, 8);
        assert_eq!(Opcode::Fsync as u32, 20);
        assert_eq!(Opcode::Setupmapping as u32, 48);
        assert_eq!(Opcode::Syncfs as u32, 50);
        assert_eq!(Opcode::Statx as u32, 52);
        assert_eq!(Opcode::Lookup.name(), "LOOKUP");
        assert_eq!(Opcode::CopyFileRange.name(), "COPY_FILE_RANGE");
        assert_eq!(Opcode::Syncfs.to_string(), "SYNCFS");
    }

    #[test]
    fn opcode_names_are_unique() {
        let mut names: Vec<_> = Opcode::ALL.iter().map(Opcode::name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Opcode::ALL.len());
    }

    #[test]
    fn flags2_bits_sit_above_bit_31() {
        assert_eq!(init_flags::INIT_EXT, 1 << 30);
        assert_eq!(init_flags::SECURITY_CTX >> 32, 1);
        assert_eq!(init_flags::CREATE_SUPP_GROUP >> 32, 1 << 2);
        assert_eq!(init_flags::ALLOW_IDMAP >> 32, 1 << 8);
    }

    #[test]
    fn dirent_sizes_round_up_to_eight() {
        assert_eq!(dirent_size(0), 24);
        assert_eq!(dirent_size(1), 32);
        assert_eq!(dirent_size(8), 32);
        assert_eq!(dirent_size(9), 40);
        assert_eq!(direntplus_size(1), 160);
        assert_eq!(direntplus_size(NAME_MAX), 152 + 256);
    }

    #[test]
    fn in_header_decodes_from_native_bytes() {
        let header = InHeader {
            len: 48,
            opcode: Opcode::Syncfs as u32,
            unique: 7,
            nodeid: ROOT_ID,
            total_extlen: 1,
            ..Default::default()
        };
        let bytes = header.as_bytes().to_vec();

        let decoded = InHeader::read_from_bytes(&bytes).expect("40 bytes");

        assert_eq!(decoded.opcode, 50);
        assert_eq!(decoded.unique, 7);
        assert_eq!(decoded.nodeid, ROOT_ID);
        assert_eq!(decoded.total_extlen, 1);
    }
}
