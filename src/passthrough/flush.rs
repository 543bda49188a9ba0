//! Durability and filesystem-wide questions: STATFS, SYNCFS and the
//! targeted flush of the inodes an epoch touched.
//!
//! None of these may answer `ENOSYS` (for SYNCFS that would disable it in
//! the guest for good), and every host error, EIO above all, is passed on.

use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::filesystem::NodeId;
use crate::sys;

use super::inode_table::Node;
use super::{InodeData, PassthroughFs, ROOT};

impl PassthroughFs {
    /// STATFS of the filesystem holding `inode`.
    pub(super) fn do_statfs(&self, inode: NodeId) -> io::Result<libc::statvfs64> {
        let node = self.inode(inode)?;
        sys::stat::fstatvfs(node.value().fd()?.as_fd())
    }

    /// syncfs(2) on the filesystem holding `inode` (the root's when the
    /// inode cannot be opened for I/O).
    pub(super) fn do_syncfs(&self, inode: NodeId) -> io::Result<()> {
        let node = self.inode(inode)?;
        let data = node.value();
        if inode == ROOT || !(data.is_dir() || data.is_reg()) {
            return sys::datapath::syncfs(self.root_sync.as_fd());
        }
        let fd = self.proc.reopen(data.fd()?.as_fd(), libc::O_RDONLY)?;
        sys::datapath::syncfs(fd.as_fd())
    }

    /// fsync(2) of each listed inode (files and directories alike, each
    /// once), up to [`FLUSH_THREADS`] at a time so that a journaling host
    /// filesystem can commit them together (one after the other, every
    /// fsync may force a journal commit of its own). An inode that cannot
    /// be fsynced on its own (the guest already forgot it, or it is a
    /// symlink or special file) makes this fall back to syncfs(2) of the
    /// root's filesystem. Every inode is tried; an error of one of them is
    /// returned once all are done.
    pub(super) fn do_sync_inodes(&self, files: &[NodeId], dirs: &[NodeId]) -> io::Result<()> {
        let (targets, whole_fs) = self.flush_targets(files, dirs);
        let first_err = Mutex::new(None);
        let next = AtomicUsize::new(0);
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some((id, node, flags)) = targets.get(i) else {
                break;
            };
            if let Err(e) = self.flush_one(node.value(), *flags) {
                log::debug!("fsync of node {id} failed: {e}");
                lock(&first_err).get_or_insert(e);
            }
        };
        // A thread costs more than it saves for a handful of inodes (the
        // first fsync commits the others' journal entries too).
        let helpers = targets
            .len()
            .div_ceil(INODES_PER_THREAD)
            .min(FLUSH_THREADS)
            .saturating_sub(1);
        if helpers == 0 {
            work();
        } else {
            std::thread::scope(|scope| {
                for _ in 0..helpers {
                    // Without a thread, this one does its share.
                    let spawned = std::thread::Builder::new()
                        .name("epochfsd-flush".into())
                        .spawn_scoped(scope, work);
                    if spawned.is_err() {
                        break;
                    }
                }
                work();
            });
        }
        let mut first_err = first_err.into_inner().unwrap_or_else(|e| e.into_inner());
        if whole_fs {
            if let Err(e) = sys::datapath::syncfs(self.root_sync.as_fd()) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// syncfs(2) of every host filesystem holding one of the listed inodes
    /// (the root's when one cannot be opened): the same guarantee as
    /// [`do_sync_inodes`](Self::do_sync_inodes), chosen when it is cheaper.
    /// A share on a FUSE filesystem, where syncfs(2) would not reach the
    /// storage, gets the fsyncs instead.
    pub(super) fn do_syncfs_inodes(&self, files: &[NodeId], dirs: &[NodeId]) -> io::Result<()> {
        if !self.syncfs_reaches_storage {
            return self.do_sync_inodes(files, dirs);
        }
        #[cfg(any(test, feature = "test-hooks"))]
        for (_, node, flags) in &self.flush_targets(files, dirs).0 {
            // A file whose write-back fails fails syncfs(2) too.
            let fd = self.proc.reopen(node.value().fd()?.as_fd(), *flags)?;
            self.flush_hook(fd.as_fd())?;
        }
        if !self.other_devices.load(Ordering::Acquire) {
            // Every inode shown so far is on the root's filesystem (and one
            // that cannot be opened is synced through the root anyway): no
            // need to look each of them up.
            return sys::datapath::syncfs(self.root_sync.as_fd());
        }
        let (targets, whole_fs) = self.flush_targets(files, dirs);
        let root_dev = self.root_dev;
        let mut first_err = None;
        let mut synced = vec![root_dev];
        if whole_fs || targets.iter().any(|(_, n, _)| n.key().dev == root_dev) {
            if let Err(e) = sys::datapath::syncfs(self.root_sync.as_fd()) {
                first_err.get_or_insert(e);
            }
        }
        for (id, node, flags) in &targets {
            let dev = node.key().dev;
            if synced.contains(&dev) {
                continue;
            }
            synced.push(dev);
            let done = node
                .value()
                .fd()
                .and_then(|path| self.proc.reopen(path.as_fd(), *flags))
                .and_then(|fd| sys::datapath::syncfs(fd.as_fd()));
            if let Err(e) = done {
                log::debug!("syncfs of the filesystem of node {id} failed: {e}");
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Notes the device of an inode shown to the guest (`None`: unknown,
    /// counted as another one).
    pub(super) fn note_device(&self, dev: Option<u64>) {
        if dev != Some(self.root_dev) {
            self.other_devices.store(true, Ordering::Release);
        }
    }

    /// The listed inodes that can be synced on their own, with the flags to
    /// open them, and whether some cannot (then the root's filesystem must
    /// be synced as a whole).
    fn flush_targets(&self, files: &[NodeId], dirs: &[NodeId]) -> (Vec<FlushTarget>, bool) {
        let mut ids: Vec<NodeId> = files.iter().chain(dirs).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut whole_fs = false;
        let mut targets = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(node) = self.inodes.get(id) else {
                whole_fs = true;
                continue;
            };
            let data = node.value();
            let flags = if data.is_dir() {
                libc::O_RDONLY | libc::O_DIRECTORY
            } else if data.is_reg() {
                libc::O_RDONLY | libc::O_NONBLOCK
            } else {
                whole_fs = true;
                continue;
            };
            targets.push((id, node, flags));
        }
        (targets, whole_fs)
    }

    /// fsync(2) of one inode through a descriptor opened for it.
    fn flush_one(&self, data: &InodeData, flags: i32) -> io::Result<()> {
        let fd = self.proc.reopen(data.fd()?.as_fd(), flags)?;
        #[cfg(any(test, feature = "test-hooks"))]
        self.flush_hook(fd.as_fd())?;
        sys::datapath::fsync(fd.as_fd())?;
        #[cfg(test)]
        self.fsyncs_done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Test builds: makes the flush of a file of the chosen size fail (both
    /// paths: the targeted flush and syncfs(2) of a dirty set holding it).
    #[cfg(any(test, feature = "test-hooks"))]
    fn flush_hook(&self, fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
        let size = self.fail_flush_size.load(Ordering::Relaxed);
        if size != 0 && sys::stat::fstat(fd)?.st_size.cast_unsigned() == size {
            return Err(sys::errno(libc::EIO));
        }
        Ok(())
    }

    /// Test builds: the targeted flush of any regular file of exactly
    /// `size` bytes fails with EIO (0: none does).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn set_test_fail_flush_size(&self, size: u64) {
        self.fail_flush_size.store(size, Ordering::Relaxed);
    }
}

/// Inodes one targeted flush syncs at the same time. Measured on ext4
/// (docs/benchmarks.md, "SYNCFS flush cost"): 1,000 dirty 4 KiB files take
/// about 2 s one by one, 40-90 ms with 8-16 at a time.
pub(crate) const FLUSH_THREADS: usize = 16;
/// At least this many inodes per flush thread: a SYNCFS after one new file
/// (the file, its directory) stays on the worker's thread.
const INODES_PER_THREAD: usize = 4;

type FlushTarget = (NodeId, Arc<Node<InodeData>>, i32);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::filesystem::{FileSystem, NodeId};
    use std::sync::atomic::Ordering;

    #[test]
    fn statfs_and_syncfs_answer() {
        let (tmp, fs) = new_fs();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        let d = fs.lookup(&ctx(), NodeId::ROOT, name(c"d")).unwrap();
        assert!(fs.statfs(&ctx(), NodeId::ROOT).unwrap().f_bsize > 0);
        fs.syncfs(&ctx(), NodeId::ROOT).unwrap();
        fs.syncfs(&ctx(), d.inode).unwrap();
        let err = fs.syncfs(&ctx(), NodeId::from_raw(31337)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn sync_inodes_fsyncs_known_and_falls_back_for_unknown() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        std::os::unix::fs::symlink("f", tmp.path().join("l")).unwrap();
        let f = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        let l = fs.lookup(&ctx(), NodeId::ROOT, name(c"l")).unwrap();
        fs.sync_inodes(&ctx(), &[f.inode, f.inode], &[NodeId::ROOT])
            .unwrap();
        let unknown = NodeId::from_raw(4242);
        fs.sync_inodes(&ctx(), &[l.inode, unknown], &[]).unwrap();
        fs.sync_inodes(&ctx(), &[], &[]).unwrap();
        fs.syncfs_inodes(&ctx(), &[f.inode, l.inode, unknown], &[NodeId::ROOT])
            .unwrap();
    }

    /// 500 files, each `4096` bytes except `odd` (4097 bytes), looked up.
    fn many_files(odd: usize) -> (tempfile::TempDir, super::super::PassthroughFs, Vec<NodeId>) {
        let (tmp, fs) = new_fs();
        let nodes = (0..500)
            .map(|i| {
                let file = format!("f{i}");
                let len = if i == odd { 4097 } else { 4096 };
                std::fs::write(tmp.path().join(&file), vec![7u8; len]).unwrap();
                let c = std::ffi::CString::new(file).unwrap();
                fs.lookup(&ctx(), NodeId::ROOT, name(&c)).unwrap().inode
            })
            .collect();
        (tmp, fs, nodes)
    }

    #[test]
    fn host_dirty_bytes_are_read_from_meminfo() {
        let (_tmp, fs) = new_fs();
        assert!(fs.host_dirty_bytes().is_some());
    }

    #[test]
    fn sync_inodes_fsyncs_every_one_of_many_inodes() {
        let (_tmp, fs, nodes) = many_files(usize::MAX);
        let before = fs.fsyncs_done.load(Ordering::Relaxed);

        fs.sync_inodes(&ctx(), &nodes, &[NodeId::ROOT]).unwrap();

        assert_eq!(fs.fsyncs_done.load(Ordering::Relaxed) - before, 501);
    }

    #[test]
    fn an_error_on_one_of_many_inodes_is_returned_after_all_others_synced() {
        let (_tmp, fs, nodes) = many_files(250);
        fs.set_test_fail_flush_size(4097);
        let before = fs.fsyncs_done.load(Ordering::Relaxed);

        let err = fs.sync_inodes(&ctx(), &nodes, &[]).unwrap_err();

        assert_eq!(err.raw_os_error(), Some(libc::EIO));
        assert_eq!(fs.fsyncs_done.load(Ordering::Relaxed) - before, 499);
        // syncfs(2) of the same set reports it as well.
        let err = fs.syncfs_inodes(&ctx(), &nodes, &[]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO));
        // Without the failing file both paths succeed.
        fs.set_test_fail_flush_size(0);
        fs.sync_inodes(&ctx(), &nodes, &[]).unwrap();
        fs.syncfs_inodes(&ctx(), &nodes, &[]).unwrap();
    }
}
