//! Flag and code constants: the kernel's `#define` groups, one module each,
//! typed like the field they go in (see the conventions in [`super`]).

#[cfg(doc)]
use super::*;

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
