//! Directories: OPENDIR, READDIR / READDIRPLUS, RELEASEDIR.
//!
//! A directory handle holds a descriptor opened for reading and a
//! `getdents64` buffer, allocated at its first READDIR (so an OPENDIR
//! costs no buffer: 20,000 directories opened and never read cost their
//! descriptors and table entries only) and freed when a READDIR reaches
//! the end of the directory. READDIR seeks to the guest's cookie and
//! streams entries into the sink until it is full or the directory ends,
//! so a listing in progress costs no allocation per request.
//!
//! READDIRPLUS looks each entry up (taking a reference, as LOOKUP does)
//! and hands the sink its `Entry`; if the sink has no room, that lookup is
//! undone. `.` and `..` are passed with a zeroed entry (node id 0), which
//! the guest ignores: it never takes references through them. An entry
//! that disappears between listing and lookup is skipped.

use std::io;
use std::os::fd::AsFd;
use std::sync::{Mutex, PoisonError};

use crate::filesystem::{Context, DirEntry, DirSink, Entry, HandleId, Name, NodeId, OpenOptions};
use crate::sys;
use crate::sys::dirent::DirentIter;

use super::{CachePolicy, Handle, PassthroughFs};

/// Size of a handle's `getdents64` buffer: a guest READDIR reply is one
/// page, and host records are smaller than FUSE ones.
const DIRENT_BUF: usize = 4096;

/// The entry READDIRPLUS reports for `.` and `..`.
fn empty_entry() -> Entry {
    Entry {
        inode: NodeId::NONE,
        generation: 0,
        // SAFETY: stat64 is plain old data; all-zero is a valid value.
        attr: unsafe { std::mem::zeroed() },
        attr_flags: 0,
        attr_timeout: std::time::Duration::ZERO,
        entry_timeout: std::time::Duration::ZERO,
    }
}

impl PassthroughFs {
    /// OPENDIR.
    pub(super) fn do_opendir(
        &self,
        ctx: &Context,
        inode: NodeId,
        _flags: u32,
    ) -> io::Result<(HandleId, OpenOptions)> {
        let node = self.inode(inode)?;
        if !node.value().is_dir() {
            return Err(sys::errno(libc::ENOTDIR));
        }
        let slot = self.handle_slot()?;
        let fd = self.open_node(ctx, &node, libc::O_RDONLY | libc::O_DIRECTORY)?;
        let handle = slot.insert(Handle {
            inode,
            fd,
            flags: libc::O_RDONLY | libc::O_DIRECTORY,
            dir: Some(Mutex::new(Vec::new())),
        });
        let opts = OpenOptions {
            cache_dir: self.cfg.cache == CachePolicy::Always,
            ..OpenOptions::default()
        };
        Ok((handle, opts))
    }

    /// READDIR / READDIRPLUS from the cookie `offset`.
    pub(super) fn do_readdir(
        &self,
        inode: NodeId,
        handle: HandleId,
        offset: u64,
        plus: bool,
        sink: &mut dyn DirSink,
    ) -> io::Result<()> {
        let h = self.handle(inode, handle)?;
        let Some(buf) = h.dir.as_ref() else {
            return Err(sys::errno(libc::ENOTDIR));
        };
        let parent = if plus { Some(self.inode(inode)?) } else { None };
        // The lock also keeps seek + getdents on the shared position atomic.
        let mut buf = buf.lock().unwrap_or_else(PoisonError::into_inner);
        let fd = h.fd.as_fd();
        sys::datapath::lseek(fd, offset, libc::SEEK_SET)?;
        if buf.is_empty() {
            buf.resize(DIRENT_BUF, 0);
        }
        let mut added = false;
        loop {
            let len = sys::dirent::getdents64(fd, &mut buf)?;
            if len == 0 {
                // The end: a guest that lists again gets a new buffer.
                *buf = Vec::new();
                return Ok(());
            }
            for d in DirentIter::new(&buf[..len]) {
                if self.is_hidden(inode, d.name.to_bytes()) {
                    continue;
                }
                let dirent = DirEntry {
                    ino: d.ino,
                    offset: d.off,
                    type_: d.type_.into(),
                    name: d.name.to_bytes(),
                };
                let Some(parent) = parent.as_ref() else {
                    if !sink.add(&dirent, None)? {
                        return Ok(());
                    }
                    added = true;
                    continue;
                };
                let entry = match Name::new(d.name) {
                    // `.` and `..`: nothing to look up.
                    Err(_) => empty_entry(),
                    Ok(name) => match self.lookup_in(parent, name) {
                        Ok(entry) => entry,
                        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                        // Report the error only if nothing was listed yet;
                        // otherwise end this reply and let the guest retry.
                        Err(e) if !added => return Err(e),
                        Err(_) => return Ok(()),
                    },
                };
                let accepted = sink.add(&dirent, Some(&entry));
                if !matches!(accepted, Ok(true)) {
                    if entry.inode != NodeId::NONE {
                        self.inodes.forget(entry.inode, 1);
                    }
                    return accepted.map(drop);
                }
                added = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::filesystem::{FileSystem, NodeId};

    fn populate(root: &std::path::Path, n: usize) {
        for i in 0..n {
            std::fs::write(root.join(format!("f{i:03}")), b"").unwrap();
        }
        std::fs::create_dir(root.join("sub")).unwrap();
    }

    #[test]
    fn the_dirent_buffer_exists_only_between_the_first_readdir_and_the_end() {
        let (tmp, fs) = new_fs();
        populate(tmp.path(), 3);
        let (h, _) = fs.opendir(&ctx(), NodeId::ROOT, 0).unwrap();
        let buffer_len = |fs: &PassthroughFs| {
            let handle = fs.handle(NodeId::ROOT, h).unwrap();
            let dir = handle.dir.as_ref().unwrap();
            let len = dir.lock().unwrap().capacity();
            len
        };
        assert_eq!(buffer_len(&fs), 0, "OPENDIR allocates nothing");
        let mut one = VecSink::new(1);
        fs.readdir(&ctx(), NodeId::ROOT, h, 0, false, &mut one)
            .unwrap();
        assert_eq!(buffer_len(&fs), DIRENT_BUF, "a listing in progress");
        let mut all = VecSink::new(usize::MAX);
        fs.readdir(&ctx(), NodeId::ROOT, h, 0, false, &mut all)
            .unwrap();
        assert_eq!(buffer_len(&fs), 0, "freed at the end");
    }

    #[test]
    fn readdir_lists_everything_with_dot_entries() {
        let (tmp, fs) = new_fs();
        populate(tmp.path(), 3);
        let (h, _) = fs.opendir(&ctx(), NodeId::ROOT, 0).unwrap();
        let mut sink = VecSink::new(usize::MAX);
        fs.readdir(&ctx(), NodeId::ROOT, h, 0, false, &mut sink)
            .unwrap();
        assert_eq!(sink.names(), [".", "..", "f000", "f001", "f002", "sub"]);
        assert!(sink.entries.iter().all(|e| e.entry.is_none()));
        let sub = sink.entries.iter().find(|e| e.name == b"sub").unwrap();
        assert_eq!(sub.type_, u32::from(libc::DT_DIR));
        fs.releasedir(&ctx(), NodeId::ROOT, h).unwrap();
    }

    #[test]
    fn readdir_resumes_from_the_cookie_across_buffer_refills() {
        let (tmp, fs) = new_fs();
        populate(tmp.path(), 300); // several getdents64 buffers
        let (h, _) = fs.opendir(&ctx(), NodeId::ROOT, 0).unwrap();
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let mut sink = VecSink::new(7);
            fs.readdir(&ctx(), NodeId::ROOT, h, offset, false, &mut sink)
                .unwrap();
            let Some(last) = sink.entries.last() else {
                break;
            };
            offset = last.offset;
            all.extend(sink.entries.into_iter().map(|e| e.name));
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 300 + 3);
    }

    #[test]
    fn readdirplus_looks_entries_up() {
        let (tmp, fs) = new_fs();
        populate(tmp.path(), 2);
        let (h, _) = fs.opendir(&ctx(), NodeId::ROOT, 0).unwrap();
        let mut sink = VecSink::new(usize::MAX);
        fs.readdir(&ctx(), NodeId::ROOT, h, 0, true, &mut sink)
            .unwrap();
        for e in &sink.entries {
            let entry = e.entry.unwrap();
            if e.name == b"." || e.name == b".." {
                assert_eq!(entry.inode, NodeId::NONE);
            } else {
                assert_ne!(entry.inode, NodeId::NONE);
                assert_eq!(fs.inodes.get(entry.inode).unwrap().refcount(), 1);
                let looked = fs
                    .lookup(
                        &ctx(),
                        NodeId::ROOT,
                        name(&std::ffi::CString::new(e.name.clone()).unwrap()),
                    )
                    .unwrap();
                assert_eq!(looked.inode, entry.inode);
            }
        }
        // root + f000 + f001 + sub
        assert_eq!(fs.inodes.len(), 4);
    }

    #[test]
    fn readdirplus_undoes_the_lookup_the_sink_refused() {
        let (tmp, fs) = new_fs();
        populate(tmp.path(), 5);
        let (h, _) = fs.opendir(&ctx(), NodeId::ROOT, 0).unwrap();
        let mut sink = VecSink::new(4);
        fs.readdir(&ctx(), NodeId::ROOT, h, 0, true, &mut sink)
            .unwrap();
        assert_eq!(sink.entries.len(), 4);
        let held: usize = sink
            .entries
            .iter()
            .filter(|e| e.entry.is_some_and(|e| e.inode != NodeId::NONE))
            .count();
        // Only the accepted entries hold references: root + held.
        assert_eq!(fs.inodes.len(), 1 + held);
        for e in &sink.entries {
            let inode = e.entry.unwrap().inode;
            if inode != NodeId::NONE {
                assert_eq!(fs.inodes.get(inode).unwrap().refcount(), 1);
            }
        }
    }

    #[test]
    fn readdir_checks_handles() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"").unwrap();
        let f = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        let err = fs.opendir(&ctx(), f.inode, 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
        let (fh, _) = fs.open(&ctx(), f.inode, 0).unwrap();
        let mut sink = VecSink::new(10);
        let err = fs
            .readdir(&ctx(), f.inode, fh, 0, false, &mut sink)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
        let err = fs
            .readdir(
                &ctx(),
                NodeId::ROOT,
                HandleId::from_raw(999),
                0,
                false,
                &mut sink,
            )
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        let err = fs.releasedir(&ctx(), f.inode, fh).unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(libc::EBADF),
            "a file handle is not a dir handle"
        );
    }

    #[test]
    fn always_policy_caches_directories_and_fsyncdir_works() {
        let (_tmp, fs) = new_fs_with(|c| c.cache = CachePolicy::Always);
        let (h, opts) = fs.opendir(&ctx(), NodeId::ROOT, 0).unwrap();
        assert!(opts.cache_dir);
        fs.fsyncdir(&ctx(), NodeId::ROOT, h, false).unwrap();
    }
}
