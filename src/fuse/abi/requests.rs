//! Fixed-size request arguments (`fuse_*_in`), sent by the kernel after the
//! [`InHeader`].

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::FileLock;
#[cfg(doc)]
use super::*;

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
