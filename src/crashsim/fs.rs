//! [`CrashSimFs`]: the filesystem the FUSE server serves when the crash
//! simulation is on. Every call passes the power gate; a call that changes
//! the host first has its pre-images captured; a durability point that
//! succeeded commits. Everything else is the wrapped filesystem's.

use std::ffi::CStr;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::capture::Victim;
use super::CrashSim;
use crate::filesystem::{
    Context, DirSink, Entry, FileSystem, HandleId, HostObjects, InitOptions, LockRange, Name,
    NodeId, OpenOptions, SetAttr, Whence, ZeroCopyReader, ZeroCopyWriter,
};

/// A filesystem with the crash simulation in front of it.
#[derive(Debug)]
pub struct CrashSimFs<F> {
    inner: F,
    sim: Arc<CrashSim>,
}

impl<F> CrashSimFs<F> {
    /// `inner`, with `sim` recording its changes.
    pub fn new(inner: F, sim: Arc<CrashSim>) -> Self {
        CrashSimFs { inner, sim }
    }

    /// The wrapped filesystem.
    pub fn inner(&self) -> &F {
        &self.inner
    }

    /// The simulation.
    pub fn sim(&self) -> &Arc<CrashSim> {
        &self.sim
    }
}

/// The epoch a change belongs to (0, covered by any SYNCFS, for a call
/// that comes without one).
fn epoch(ctx: &Context) -> u64 {
    ctx.epoch.unwrap_or(0)
}

impl<F: FileSystem + HostObjects> CrashSimFs<F> {
    /// A call that changes nothing: after a crash it never returns.
    fn read<T>(&self, call: impl FnOnce(&F) -> T) -> T {
        self.sim.check_power();
        let result = call(&self.inner);
        self.sim.check_power();
        result
    }

    /// A call that changes the host: `capture` records what it overwrites
    /// first; `crash` waits for both.
    fn change<T>(&self, capture: impl FnOnce(&CrashSim, &F), call: impl FnOnce(&F) -> T) -> T {
        let _in_flight = self.sim.enter();
        capture(&self.sim, &self.inner);
        call(&self.inner)
    }

    /// A durability point: `commit` runs if the call succeeded.
    fn durable(
        &self,
        call: impl FnOnce(&F) -> io::Result<()>,
        commit: impl FnOnce(&CrashSim, &F),
    ) -> io::Result<()> {
        let _in_flight = self.sim.enter();
        call(&self.inner)?;
        commit(&self.sim, &self.inner);
        Ok(())
    }

    fn namespace<T>(
        &self,
        ctx: &Context,
        parent: NodeId,
        call: impl FnOnce(&F) -> io::Result<T>,
    ) -> io::Result<T> {
        self.change(|sim, fs| sim.capture_entries(fs, parent, epoch(ctx)), call)
    }

    /// A request that makes a new object in `parent`.
    fn creation<T>(
        &self,
        ctx: &Context,
        parent: NodeId,
        call: impl FnOnce(&F) -> io::Result<T>,
        entry: impl FnOnce(&T) -> &Entry,
    ) -> io::Result<T> {
        let made = self.namespace(ctx, parent, call)?;
        self.sim.note_created(&entry(&made).attr, epoch(ctx));
        Ok(made)
    }
}

impl<F: FileSystem + HostObjects> FileSystem for CrashSimFs<F> {
    fn init(&self, options: InitOptions) -> io::Result<()> {
        self.read(|fs| fs.init(options))
    }

    /// The simulation's pending state (what a power cut would lose) lives
    /// in this process only; a migration would silently drop it, so it is
    /// refused, with the reason, and the source goes on.
    fn save_state(
        &self,
        _out: &mut crate::filesystem::StateWriter,
    ) -> Result<(), crate::filesystem::StateError> {
        Err(crate::filesystem::StateError::Refused(
            "a daemon running --crash-sim cannot be migrated: its record of unflushed \
             changes does not travel"
                .into(),
        ))
    }

    fn load_state(
        &self,
        _input: &mut crate::filesystem::StateReader<'_>,
    ) -> Result<(), crate::filesystem::StateError> {
        Err(crate::filesystem::StateError::Refused(
            "a daemon running --crash-sim cannot take over a migrated guest".into(),
        ))
    }

    fn destroy(&self) {
        self.read(|fs| fs.destroy())
    }

    fn lookup(&self, ctx: &Context, parent: NodeId, name: Name<'_>) -> io::Result<Entry> {
        self.read(|fs| fs.lookup(ctx, parent, name))
    }

    fn forget(&self, inode: NodeId, count: u64) {
        self.inner.forget(inode, count)
    }

    fn batch_forget(&self, requests: &[(NodeId, u64)]) {
        self.inner.batch_forget(requests)
    }

    fn getattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: Option<HandleId>,
    ) -> io::Result<(libc::stat64, Duration)> {
        self.read(|fs| fs.getattr(ctx, inode, handle))
    }

    fn statx(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: Option<HandleId>,
        sync: u32,
        mask: u32,
    ) -> io::Result<(libc::statx, Duration)> {
        self.read(|fs| fs.statx(ctx, inode, handle, sync, mask))
    }

    fn setattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        attr: &SetAttr,
        handle: Option<HandleId>,
    ) -> io::Result<(libc::stat64, Duration)> {
        let capture = |sim: &CrashSim, fs: &F| {
            if attr.valid.size {
                sim.capture_data(fs, inode, epoch(ctx), attr.size, u64::MAX);
            }
            sim.capture_attrs(fs, inode, epoch(ctx));
        };
        self.change(capture, |fs| fs.setattr(ctx, inode, attr, handle))
    }

    fn readlink(&self, ctx: &Context, inode: NodeId) -> io::Result<Vec<u8>> {
        self.read(|fs| fs.readlink(ctx, inode))
    }

    fn symlink(
        &self,
        ctx: &Context,
        target: &CStr,
        parent: NodeId,
        name: Name<'_>,
    ) -> io::Result<Entry> {
        let call = |fs: &F| fs.symlink(ctx, target, parent, name);
        self.creation(ctx, parent, call, |e| e)
    }

    fn mknod(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        mode: u32,
        rdev: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        let call = |fs: &F| fs.mknod(ctx, parent, name, mode, rdev, umask);
        self.creation(ctx, parent, call, |e| e)
    }

    fn mkdir(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        mode: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        let call = |fs: &F| fs.mkdir(ctx, parent, name, mode, umask);
        self.creation(ctx, parent, call, |e| e)
    }

    fn unlink(&self, ctx: &Context, parent: NodeId, name: Name<'_>) -> io::Result<()> {
        let capture = |sim: &CrashSim, fs: &F| {
            sim.capture_entries(fs, parent, epoch(ctx));
            sim.capture_victim(fs, parent, name, epoch(ctx), Victim::Removed);
        };
        self.change(capture, |fs| fs.unlink(ctx, parent, name))
    }

    fn rmdir(&self, ctx: &Context, parent: NodeId, name: Name<'_>) -> io::Result<()> {
        let capture = |sim: &CrashSim, fs: &F| {
            sim.capture_entries(fs, parent, epoch(ctx));
            sim.capture_victim(fs, parent, name, epoch(ctx), Victim::Removed);
        };
        self.change(capture, |fs| fs.rmdir(ctx, parent, name))
    }

    fn rename(
        &self,
        ctx: &Context,
        old_parent: NodeId,
        old_name: Name<'_>,
        new_parent: NodeId,
        new_name: Name<'_>,
        flags: u32,
    ) -> io::Result<()> {
        let replaced = match flags & libc::RENAME_EXCHANGE {
            0 => Victim::Removed,
            _ => Victim::Moved,
        };
        let capture = |sim: &CrashSim, fs: &F| {
            let e = epoch(ctx);
            sim.capture_entries(fs, old_parent, e);
            sim.capture_entries(fs, new_parent, e);
            sim.capture_victim(fs, old_parent, old_name, e, Victim::Moved);
            sim.capture_victim(fs, new_parent, new_name, e, replaced);
        };
        let call = |fs: &F| fs.rename(ctx, old_parent, old_name, new_parent, new_name, flags);
        self.change(capture, call)
    }

    fn link(
        &self,
        ctx: &Context,
        inode: NodeId,
        new_parent: NodeId,
        new_name: Name<'_>,
    ) -> io::Result<Entry> {
        self.namespace(ctx, new_parent, |fs| {
            fs.link(ctx, inode, new_parent, new_name)
        })
    }

    fn open(
        &self,
        ctx: &Context,
        inode: NodeId,
        flags: u32,
    ) -> io::Result<(HandleId, OpenOptions)> {
        if flags & libc::O_TRUNC.unsigned_abs() == 0 {
            return self.read(|fs| fs.open(ctx, inode, flags));
        }
        let capture = |sim: &CrashSim, fs: &F| sim.capture_data(fs, inode, epoch(ctx), 0, u64::MAX);
        self.change(capture, |fs| fs.open(ctx, inode, flags))
    }

    fn create(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        mode: u32,
        flags: u32,
        umask: u32,
    ) -> io::Result<(Entry, HandleId, OpenOptions)> {
        let call = |fs: &F| fs.create(ctx, parent, name, mode, flags, umask);
        self.creation(ctx, parent, call, |(e, _, _)| e)
    }

    fn read(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        dest: &mut dyn ZeroCopyWriter,
        size: u32,
        offset: u64,
    ) -> io::Result<usize> {
        self.read(|fs| fs.read(ctx, inode, handle, dest, size, offset))
    }

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
        let end = offset.saturating_add(u64::from(size));
        let capture = |sim: &CrashSim, fs: &F| sim.capture_data(fs, inode, epoch(ctx), offset, end);
        let call = |fs: &F| fs.write(ctx, inode, handle, src, size, offset, kill_priv);
        self.change(capture, call)
    }

    fn flush(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        lock_owner: u64,
    ) -> io::Result<()> {
        self.read(|fs| fs.flush(ctx, inode, handle, lock_owner))
    }

    fn release(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        flush: bool,
        lock_owner: Option<u64>,
    ) -> io::Result<()> {
        self.read(|fs| fs.release(ctx, inode, handle, flush, lock_owner))
    }

    fn fsync(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        datasync: bool,
    ) -> io::Result<()> {
        self.durable(
            |fs| fs.fsync(ctx, inode, handle, datasync),
            |sim, fs| sim.commit_fsync(fs, inode, datasync),
        )
    }

    fn opendir(
        &self,
        ctx: &Context,
        inode: NodeId,
        flags: u32,
    ) -> io::Result<(HandleId, OpenOptions)> {
        self.read(|fs| fs.opendir(ctx, inode, flags))
    }

    fn readdir(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        offset: u64,
        plus: bool,
        sink: &mut dyn DirSink,
    ) -> io::Result<()> {
        self.read(|fs| fs.readdir(ctx, inode, handle, offset, plus, sink))
    }

    fn releasedir(&self, ctx: &Context, inode: NodeId, handle: HandleId) -> io::Result<()> {
        self.read(|fs| fs.releasedir(ctx, inode, handle))
    }

    fn fsyncdir(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        datasync: bool,
    ) -> io::Result<()> {
        self.durable(
            |fs| fs.fsyncdir(ctx, inode, handle, datasync),
            |sim, fs| sim.commit_fsyncdir(fs, inode),
        )
    }

    fn statfs(&self, ctx: &Context, inode: NodeId) -> io::Result<libc::statvfs64> {
        self.read(|fs| fs.statfs(ctx, inode))
    }

    fn syncfs(&self, ctx: &Context, inode: NodeId) -> io::Result<()> {
        self.durable(
            |fs| fs.syncfs(ctx, inode),
            |sim, _| sim.commit_syncfs(ctx.epoch),
        )
    }

    fn sync_inodes(&self, ctx: &Context, files: &[NodeId], dirs: &[NodeId]) -> io::Result<()> {
        self.durable(
            |fs| fs.sync_inodes(ctx, files, dirs),
            |sim, _| sim.commit_syncfs(ctx.epoch),
        )
    }

    fn syncfs_inodes(&self, ctx: &Context, files: &[NodeId], dirs: &[NodeId]) -> io::Result<()> {
        self.durable(
            |fs| fs.syncfs_inodes(ctx, files, dirs),
            |sim, _| sim.commit_syncfs(ctx.epoch),
        )
    }

    fn host_dirty_bytes(&self) -> Option<u64> {
        self.inner.host_dirty_bytes()
    }

    fn setxattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        name: &CStr,
        value: &[u8],
        flags: u32,
    ) -> io::Result<()> {
        let capture = |sim: &CrashSim, fs: &F| sim.capture_attrs(fs, inode, epoch(ctx));
        self.change(capture, |fs| fs.setxattr(ctx, inode, name, value, flags))
    }

    fn getxattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        name: &CStr,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        self.read(|fs| fs.getxattr(ctx, inode, name, buf))
    }

    fn listxattr(&self, ctx: &Context, inode: NodeId, buf: &mut [u8]) -> io::Result<usize> {
        self.read(|fs| fs.listxattr(ctx, inode, buf))
    }

    fn removexattr(&self, ctx: &Context, inode: NodeId, name: &CStr) -> io::Result<()> {
        let capture = |sim: &CrashSim, fs: &F| sim.capture_attrs(fs, inode, epoch(ctx));
        self.change(capture, |fs| fs.removexattr(ctx, inode, name))
    }

    fn access(&self, ctx: &Context, inode: NodeId, mask: u32) -> io::Result<()> {
        self.read(|fs| fs.access(ctx, inode, mask))
    }

    fn getlk(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        owner: u64,
        lock: LockRange,
    ) -> io::Result<LockRange> {
        self.read(|fs| fs.getlk(ctx, inode, handle, owner, lock))
    }

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
        self.read(|fs| fs.setlk(ctx, inode, handle, owner, lock, wait, flock))
    }

    fn fallocate(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        mode: u32,
        offset: u64,
        length: u64,
    ) -> io::Result<()> {
        let end = offset.saturating_add(length);
        let capture = |sim: &CrashSim, fs: &F| sim.capture_data(fs, inode, epoch(ctx), offset, end);
        self.change(capture, |fs| {
            fs.fallocate(ctx, inode, handle, mode, offset, length)
        })
    }

    fn lseek(
        &self,
        ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        offset: u64,
        whence: Whence,
    ) -> io::Result<u64> {
        self.read(|fs| fs.lseek(ctx, inode, handle, offset, whence))
    }

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
        let end = offset_out.saturating_add(len);
        let capture =
            |sim: &CrashSim, fs: &F| sim.capture_data(fs, inode_out, epoch(ctx), offset_out, end);
        let call = |fs: &F| {
            fs.copy_file_range(
                ctx, inode_in, handle_in, offset_in, inode_out, handle_out, offset_out, len, flags,
            )
        };
        self.change(capture, call)
    }

    fn tmpfile(
        &self,
        ctx: &Context,
        parent: NodeId,
        mode: u32,
        flags: u32,
        umask: u32,
    ) -> io::Result<(Entry, HandleId, OpenOptions)> {
        self.read(|fs| fs.tmpfile(ctx, parent, mode, flags, umask))
    }
}
