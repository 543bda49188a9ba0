//! Fixed-size reply bodies (`fuse_*_out`), sent after the
//! [`OutHeader`].

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

#[cfg(doc)]
use super::*;
use super::{Attr, FileLock, Kstatfs, Statx};

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

/// Reply to a size query (`size` zero) of `GETXATTR` or `LISTXATTR`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct GetxattrOut {
    pub size: u32,
    pub padding: u32,
}

/// Reply to `GETLK`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct LkOut {
    pub lk: FileLock,
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

/// Reply to `BMAP`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BmapOut {
    pub block: u64,
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

/// Reply to `POLL`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PollOut {
    pub revents: u32,
    pub padding: u32,
}

/// Reply to `LSEEK`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct LseekOut {
    pub offset: u64,
}
