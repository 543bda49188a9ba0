//! Durability and filesystem-wide questions: STATFS, SYNCFS and the
//! targeted flush of the inodes an epoch touched.
//!
//! None of these may answer `ENOSYS` (for SYNCFS that would disable it in
//! the guest for good), and every host error, EIO above all, is passed on.

use std::io;
use std::os::fd::AsFd;

use crate::sys;

use super::{PassthroughFs, ROOT};

impl PassthroughFs {
    /// STATFS of the filesystem holding `inode`.
    pub(super) fn do_statfs(&self, inode: u64) -> io::Result<libc::statvfs64> {
        let node = self.inode(inode)?;
        sys::stat::fstatvfs(node.value().fd()?.as_fd())
    }

    /// syncfs(2) on the filesystem holding `inode` (the root's when the
    /// inode cannot be opened for I/O).
    pub(super) fn do_syncfs(&self, inode: u64) -> io::Result<()> {
        let node = self.inode(inode)?;
        let data = node.value();
        if inode == ROOT || !(data.is_dir() || data.is_reg()) {
            return sys::datapath::syncfs(self.root_sync.as_fd());
        }
        let fd = self.proc.reopen(data.fd()?.as_fd(), libc::O_RDONLY)?;
        sys::datapath::syncfs(fd.as_fd())
    }

    /// fsync(2) of each listed inode (files and directories alike, each
    /// once). An inode that cannot be fsynced on its own (the guest already
    /// forgot it, or it is a symlink or special file) makes this fall back
    /// to syncfs(2) of the root's filesystem. Every inode is tried; the
    /// first error is returned.
    pub(super) fn do_sync_inodes(&self, files: &[u64], dirs: &[u64]) -> io::Result<()> {
        let mut ids: Vec<u64> = files.iter().chain(dirs).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut whole_fs = false;
        let mut first_err = None;
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
            let synced = data
                .fd()
                .and_then(|path| self.proc.reopen(path.as_fd(), flags))
                .and_then(|fd| sys::datapath::fsync(fd.as_fd()));
            if let Err(e) = synced {
                log::debug!("fsync of node {id} failed: {e}");
                first_err.get_or_insert(e);
            }
        }
        if whole_fs {
            if let Err(e) = sys::datapath::syncfs(self.root_sync.as_fd()) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::filesystem::{FileSystem, ROOT_ID};

    #[test]
    fn statfs_and_syncfs_answer() {
        let (tmp, fs) = new_fs();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        let d = fs.lookup(&ctx(), ROOT_ID, c"d").unwrap();
        assert!(fs.statfs(&ctx(), ROOT_ID).unwrap().f_bsize > 0);
        fs.syncfs(&ctx(), ROOT_ID).unwrap();
        fs.syncfs(&ctx(), d.inode).unwrap();
        let err = fs.syncfs(&ctx(), 31337).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn sync_inodes_fsyncs_known_and_falls_back_for_unknown() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        std::os::unix::fs::symlink("f", tmp.path().join("l")).unwrap();
        let f = fs.lookup(&ctx(), ROOT_ID, c"f").unwrap();
        let l = fs.lookup(&ctx(), ROOT_ID, c"l").unwrap();
        fs.sync_inodes(&ctx(), &[f.inode, f.inode], &[ROOT_ID])
            .unwrap();
        fs.sync_inodes(&ctx(), &[l.inode, 4242], &[]).unwrap();
        fs.sync_inodes(&ctx(), &[], &[]).unwrap();
    }
}
