//! The `FileSystem` trait: what the FUSE protocol server asks of a filesystem.
//!
//! This layer knows nothing about virtqueues or FUSE wire encoding. The server
//! decodes a request, calls one method here with plain Rust values, and encodes
//! what comes back. Data payloads never pass through an intermediate buffer:
//! READ hands the filesystem a [`ZeroCopyWriter`] that fills the guest's buffers
//! straight from a file descriptor, WRITE hands it a [`ZeroCopyReader`] that
//! writes the guest's buffers straight to one.
//!
//! Every method has a default that answers `ENOSYS`, so an implementation only
//! provides what it supports and the server turns the rest into a clean error.

// Guest-supplied numbers convert with `try_from` into an errno; a lossy
// `as` cast is an error here (see docs/architecture.md, "Numbers from the
// guest"). Unit tests may cast freely.
#![cfg_attr(
    not(test),
    deny(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap
    )
)]

use std::ffi::CStr;
use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

mod host;
mod ids;
mod name;
pub mod state;
mod types;

pub use host::HostObjects;
pub use ids::{HandleId, NodeId};
pub use name::{Name, NAME_MAX};
pub use state::{StateError, StateReader, StateWriter};
pub use types::{Context, DirEntry, Entry, LockRange, OpenOptions, SetAttr, SetAttrValid, Whence};

/// The error every unimplemented operation answers.
pub fn enosys() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOSYS)
}

/// Destination of a READ payload: the guest's reply buffers.
///
/// Implemented by the transport over guest memory; the filesystem only ever
/// passes it a file descriptor and a range.
pub trait ZeroCopyWriter {
    /// Reads up to `count` bytes of `fd` at `offset` directly into the
    /// destination (one `preadv`); returns how many bytes arrived. A short
    /// count means end of file.
    fn read_from_file_at(
        &mut self,
        fd: BorrowedFd<'_>,
        count: usize,
        offset: u64,
    ) -> io::Result<usize>;

    /// Bytes still free in the destination.
    fn available_bytes(&self) -> usize;
}

/// Source of a WRITE payload: the guest's request buffers.
pub trait ZeroCopyReader {
    /// Writes up to `count` bytes of the payload directly to `fd` at `offset`
    /// (one `pwritev`); returns how many bytes were written. With
    /// `offset == None` the file's own position is used (for `O_APPEND`).
    fn write_to_file_at(
        &mut self,
        fd: BorrowedFd<'_>,
        count: usize,
        offset: Option<u64>,
    ) -> io::Result<usize>;

    /// Payload bytes not yet consumed.
    fn remaining_bytes(&self) -> usize;
}

/// Receives directory entries during READDIR and READDIRPLUS.
pub trait DirSink {
    /// Adds one entry. `entry` is `Some` for READDIRPLUS. Returns `Ok(false)`
    /// when the reply buffer has no room for it: the entry was not added, and
    /// for READDIRPLUS the caller must undo the lookup it made for it.
    fn add(&mut self, dirent: &DirEntry<'_>, entry: Option<&Entry>) -> io::Result<bool>;
}

/// Options a filesystem learns at INIT time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InitOptions {
    /// The guest honours `Entry`/attribute timeouts and sends READDIRPLUS.
    pub readdirplus: bool,
    /// The guest caches writes (FUSE_WRITEBACK_CACHE negotiated).
    pub writeback: bool,
    /// The guest applies the umask itself (FUSE_DONT_MASK negotiated).
    pub dont_mask: bool,
}

/// What the FUSE server needs from a filesystem.
///
/// Inodes are named by [`NodeId`]s, whose meaning the filesystem owns;
/// [`HandleId`]s are the ones this filesystem returned from `open`,
/// `create`, `tmpfile` or `opendir`. The filesystem must check both: they
/// come from the guest. Every directory entry name arrives as a checked
/// [`Name`].
#[allow(unused_variables)]
pub trait FileSystem: Send + Sync {
    /// Called once per FUSE session, after INIT is negotiated.
    fn init(&self, options: InitOptions) -> io::Result<()> {
        Ok(())
    }

    /// The guest unmounted: forget every inode and handle.
    fn destroy(&self) {}

    /// Looks up `name` in `parent` and takes one lookup reference on the result.
    fn lookup(&self, ctx: &Context, parent: NodeId, name: Name<'_>) -> io::Result<Entry> {
        Err(enosys())
    }

    /// Drops `count` lookup references on `inode`.
    fn forget(&self, inode: NodeId, count: u64) {}

    /// Drops many lookup references at once.
    fn batch_forget(&self, requests: &[(NodeId, u64)]) {
        for &(inode, count) in requests {
            self.forget(inode, count);
        }
    }

    /// Attributes of `inode` and how long the guest may cache them.
    fn getattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: Option<HandleId>,
    ) -> io::Result<(libc::stat64, Duration)> {
        Err(enosys())
    }

    /// Extended attributes (`statx(2)`: birth time included) of `inode`;
    /// `sync` holds the caller's `AT_STATX_*` bits and `mask` the `STATX_*`
    /// fields it wants. Returns them and how long the guest may cache them.
    fn statx(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: Option<HandleId>,
        sync: u32,
        mask: u32,
    ) -> io::Result<(libc::statx, Duration)> {
        Err(enosys())
    }

    /// Changes the attributes named in `attr.valid`; returns the new ones.
    fn setattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        attr: &SetAttr,
        handle: Option<HandleId>,
    ) -> io::Result<(libc::stat64, Duration)> {
        Err(enosys())
    }

    /// Target of a symbolic link, verbatim.
    fn readlink(&self, ctx: &Context, inode: NodeId) -> io::Result<Vec<u8>> {
        Err(enosys())
    }

    /// Creates a symbolic link `name` in `parent` pointing at `target`.
    fn symlink(
        &self,
        ctx: &Context,
        target: &CStr,
        parent: NodeId,
        name: Name<'_>,
    ) -> io::Result<Entry> {
        Err(enosys())
    }

    /// Creates a file node (regular file, fifo, socket or device).
    fn mknod(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        mode: u32,
        rdev: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        Err(enosys())
    }

    /// Creates a directory.
    fn mkdir(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        mode: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        Err(enosys())
    }

    /// Removes a non-directory.
    fn unlink(&self, ctx: &Context, parent: NodeId, name: Name<'_>) -> io::Result<()> {
        Err(enosys())
    }

    /// Removes an empty directory.
    fn rmdir(&self, ctx: &Context, parent: NodeId, name: Name<'_>) -> io::Result<()> {
        Err(enosys())
    }

    /// Renames; `flags` are `RENAME_NOREPLACE` / `RENAME_EXCHANGE` / 0.
    fn rename(
        &self,
        ctx: &Context,
        old_parent: NodeId,
        old_name: Name<'_>,
        new_parent: NodeId,
        new_name: Name<'_>,
        flags: u32,
    ) -> io::Result<()> {
        Err(enosys())
    }

    /// Creates a hard link to `inode` named `new_name` in `new_parent`.
    fn link(
        &self,
        ctx: &Context,
        inode: NodeId,
        new_parent: NodeId,
        new_name: Name<'_>,
    ) -> io::Result<Entry> {
        Err(enosys())
    }

    /// Opens `inode` with the guest's open flags; returns a handle.
    fn open(
        &self,
        ctx: &Context,
        inode: NodeId,
        flags: u32,
    ) -> io::Result<(HandleId, OpenOptions)> {
        Err(enosys())
    }

    /// Atomically creates and opens `name` in `parent`.
    fn create(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        mode: u32,
        flags: u32,
        umask: u32,
    ) -> io::Result<(Entry, HandleId, OpenOptions)> {
        Err(enosys())
    }

    /// Reads up to `size` bytes at `offset` into `dest`.
    #[allow(clippy::too_many_arguments)]
    fn read(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        dest: &mut dyn ZeroCopyWriter,
        size: u32,
        offset: u64,
    ) -> io::Result<usize> {
        Err(enosys())
    }

    /// Writes `size` bytes from `src` at `offset`. `kill_priv` asks to clear
    /// setuid/setgid as a local write by an unprivileged caller would.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        src: &mut dyn ZeroCopyReader,
        size: u32,
        offset: u64,
        kill_priv: bool,
    ) -> io::Result<usize> {
        Err(enosys())
    }

    /// Called on every close(2) of a file descriptor in the guest.
    fn flush(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        lock_owner: u64,
    ) -> io::Result<()> {
        Err(enosys())
    }

    /// The last reference to `handle` is gone.
    fn release(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        flush: bool,
        lock_owner: Option<u64>,
    ) -> io::Result<()> {
        Err(enosys())
    }

    /// Makes the data (and metadata unless `datasync`) of `inode` durable.
    fn fsync(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        datasync: bool,
    ) -> io::Result<()> {
        Err(enosys())
    }

    /// Opens a directory for reading.
    fn opendir(
        &self,
        ctx: &Context,
        inode: NodeId,
        flags: u32,
    ) -> io::Result<(HandleId, OpenOptions)> {
        Err(enosys())
    }

    /// Lists entries starting after the cookie `offset`. With `plus` the
    /// filesystem looks each entry up and passes its `Entry` to the sink.
    fn readdir(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        offset: u64,
        plus: bool,
        sink: &mut dyn DirSink,
    ) -> io::Result<()> {
        Err(enosys())
    }

    /// The last reference to a directory handle is gone.
    fn releasedir(&self, ctx: &Context, inode: NodeId, handle: HandleId) -> io::Result<()> {
        Err(enosys())
    }

    /// Makes a directory's entries durable.
    fn fsyncdir(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        datasync: bool,
    ) -> io::Result<()> {
        Err(enosys())
    }

    /// Filesystem statistics for the filesystem holding `inode`.
    fn statfs(&self, ctx: &Context, inode: NodeId) -> io::Result<libc::statvfs64> {
        Err(enosys())
    }

    /// Makes everything the guest wrote durable on the host.
    fn syncfs(&self, ctx: &Context, inode: NodeId) -> io::Result<()> {
        Err(enosys())
    }

    /// Makes the listed inodes durable: `files` had data or metadata
    /// changed, `dirs` had entries added, removed or renamed. The default
    /// syncs the whole filesystem.
    fn sync_inodes(&self, ctx: &Context, files: &[NodeId], dirs: &[NodeId]) -> io::Result<()> {
        self.syncfs(ctx, NodeId::ROOT)
    }

    /// Makes the listed inodes durable with syncfs(2) of every filesystem
    /// holding one of them, for when that is cheaper than syncing each (the
    /// same guarantee as [`sync_inodes`](Self::sync_inodes)). The default
    /// syncs the root's filesystem.
    fn syncfs_inodes(&self, ctx: &Context, files: &[NodeId], dirs: &[NodeId]) -> io::Result<()> {
        self.syncfs(ctx, NodeId::ROOT)
    }

    /// Bytes of dirty page cache that a syncfs(2) would have to write back
    /// now (an upper bound is fine), if known: what SYNCFS's choice between
    /// syncing each inode and syncing the filesystem weighs.
    fn host_dirty_bytes(&self) -> Option<u64> {
        None
    }

    /// Sets an extended attribute.
    fn setxattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        name: &CStr,
        value: &[u8],
        flags: u32,
    ) -> io::Result<()> {
        Err(enosys())
    }

    /// Reads an extended attribute into `buf`; with an empty `buf` returns
    /// only the size. Returns the length of the value.
    fn getxattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        name: &CStr,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        Err(enosys())
    }

    /// Lists extended attribute names (NUL separated) into `buf`; with an
    /// empty `buf` returns only the size.
    fn listxattr(&self, ctx: &Context, inode: NodeId, buf: &mut [u8]) -> io::Result<usize> {
        Err(enosys())
    }

    /// Removes an extended attribute.
    fn removexattr(&self, ctx: &Context, inode: NodeId, name: &CStr) -> io::Result<()> {
        Err(enosys())
    }

    /// Checks access permissions like access(2).
    fn access(&self, ctx: &Context, inode: NodeId, mask: u32) -> io::Result<()> {
        Err(enosys())
    }

    /// Tests for a POSIX lock (F_GETLK).
    fn getlk(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        owner: u64,
        lock: LockRange,
    ) -> io::Result<LockRange> {
        Err(enosys())
    }

    /// Sets or clears a POSIX lock (F_SETLK / F_SETLKW with `wait`), or a
    /// BSD flock when `flock` is set.
    #[allow(clippy::too_many_arguments)]
    fn setlk(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        owner: u64,
        lock: LockRange,
        wait: bool,
        flock: bool,
    ) -> io::Result<()> {
        Err(enosys())
    }

    /// Preallocates or punches space like fallocate(2).
    fn fallocate(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        mode: u32,
        offset: u64,
        length: u64,
    ) -> io::Result<()> {
        Err(enosys())
    }

    /// Repositions like lseek(2) (SEEK_DATA / SEEK_HOLE included).
    fn lseek(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        offset: u64,
        whence: Whence,
    ) -> io::Result<u64> {
        Err(enosys())
    }

    /// Copies a range between two open files on the host.
    #[allow(clippy::too_many_arguments)]
    fn copy_file_range(
        &self,
        ctx: &Context,
        inode_in: NodeId,
        handle_in: HandleId,
        offset_in: u64,
        inode_out: NodeId,
        handle_out: HandleId,
        offset_out: u64,
        len: u64,
        flags: u64,
    ) -> io::Result<usize> {
        Err(enosys())
    }

    /// Creates an unnamed temporary file in directory `parent` (O_TMPFILE).
    fn tmpfile(
        &self,
        ctx: &Context,
        parent: NodeId,
        mode: u32,
        flags: u32,
        umask: u32,
    ) -> io::Result<(Entry, HandleId, OpenOptions)> {
        Err(enosys())
    }

    /// Migration source: writes what a destination on the same shared
    /// directory needs to go on serving this guest (known inodes with
    /// their lookup counts, open handles). Called with the queues stopped
    /// and no request in flight.
    fn save_state(&self, out: &mut StateWriter) -> Result<(), StateError> {
        Err(StateError::Unsupported)
    }

    /// Migration destination: replaces the (empty) tables with what
    /// [`save_state`](Self::save_state) wrote on the source. Called before
    /// the queues start.
    fn load_state(&self, input: &mut StateReader<'_>) -> Result<(), StateError> {
        Err(StateError::Unsupported)
    }
}

/// Helper for implementations: the errno of an `io::Error`, EIO if it has none.
pub fn errno_of(err: &io::Error) -> i32 {
    err.raw_os_error().unwrap_or(libc::EIO)
}
