//! Plain value types exchanged between the FUSE server and a `FileSystem`.

use std::time::Duration;

use super::NodeId;

/// Who is asking: the guest caller's credentials, from the FUSE request header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Context {
    /// Guest caller's effective uid.
    pub uid: u32,
    /// Guest caller's effective gid.
    pub gid: u32,
    /// Guest caller's thread group id (informational).
    pub pid: u32,
    /// A supplementary group of the caller that owns the parent directory
    /// of an inode being created (FUSE_CREATE_SUPP_GROUP extension).
    pub supp_group: Option<u32>,
    /// The SYNCFS epoch of the request: the one a mutating request joined
    /// at admission, or the last one a SYNCFS covers. `None` for requests
    /// that owe the epochs nothing. Lets a filesystem order its own
    /// bookkeeping by the guest's durability points (the crash simulation).
    pub epoch: Option<u64>,
}

/// The answer to a successful LOOKUP (and to every request that creates a name).
#[derive(Clone, Copy)]
pub struct Entry {
    /// Node id the guest will use for this inode (0 = negative entry).
    pub inode: NodeId,
    /// Generation: (inode, generation) is unique over the daemon's lifetime.
    pub generation: u64,
    /// Attributes of the inode.
    pub attr: libc::stat64,
    /// `attr` flags to report (FUSE_ATTR_SUBMOUNT and friends).
    pub attr_flags: u32,
    /// How long the guest may cache `attr`.
    pub attr_timeout: Duration,
    /// How long the guest may cache the name -> inode binding.
    pub entry_timeout: Duration,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("inode", &self.inode)
            .field("generation", &self.generation)
            .field("st_ino", &self.attr.st_ino)
            .field("st_mode", &self.attr.st_mode)
            .finish_non_exhaustive()
    }
}

/// One directory entry as READDIR reports it.
#[derive(Debug, Clone, Copy)]
pub struct DirEntry<'a> {
    /// Host inode number (informational; the guest uses node ids from LOOKUP).
    pub ino: u64,
    /// Cookie to pass back as the offset of the next READDIR.
    pub offset: u64,
    /// File type as in `d_type` (DT_REG, DT_DIR, ...).
    pub type_: u32,
    /// Name, without NUL.
    pub name: &'a [u8],
}

/// Flags the guest may set on an open handle (FOPEN_*), as booleans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Bypass the guest page cache for this handle.
    pub direct_io: bool,
    /// Keep the guest page cache from previous opens.
    pub keep_cache: bool,
    /// Cache directory contents in the guest.
    pub cache_dir: bool,
    /// The file is not seekable.
    pub nonseekable: bool,
    /// Allow parallel direct writes on this handle.
    pub parallel_direct_writes: bool,
}

/// Which fields of a SETATTR are meant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetAttrValid {
    /// Change the mode.
    pub mode: bool,
    /// Change the owner.
    pub uid: bool,
    /// Change the group.
    pub gid: bool,
    /// Change the size (truncate).
    pub size: bool,
    /// Change the access time (to `atime`, or now with `atime_now`).
    pub atime: bool,
    /// Change the modification time (to `mtime`, or now with `mtime_now`).
    pub mtime: bool,
    /// Set atime to the current time.
    pub atime_now: bool,
    /// Set mtime to the current time.
    pub mtime_now: bool,
    /// Change the status change time (ignored by most hosts).
    pub ctime: bool,
    /// Clear setuid/setgid as a local truncate or chown would.
    pub kill_suidgid: bool,
}

/// A SETATTR request's new values; only the fields named in `valid` count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// Which fields to change.
    pub valid: SetAttrValid,
    /// New mode bits.
    pub mode: u32,
    /// New owner.
    pub uid: u32,
    /// New group.
    pub gid: u32,
    /// New size.
    pub size: u64,
    /// New access time: seconds and nanoseconds.
    pub atime: (i64, u32),
    /// New modification time: seconds and nanoseconds.
    pub mtime: (i64, u32),
}

/// A POSIX lock range as the FUSE protocol carries it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive; `u64::MAX` = to end of file).
    pub end: u64,
    /// F_RDLCK, F_WRLCK or F_UNLCK.
    pub type_: u32,
    /// Owning process (guest pid) for F_GETLK answers.
    pub pid: u32,
}

/// `whence` of an LSEEK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whence {
    /// SEEK_SET.
    Set,
    /// SEEK_CUR.
    Cur,
    /// SEEK_END.
    End,
    /// SEEK_DATA.
    Data,
    /// SEEK_HOLE.
    Hole,
}
