//! LOOKUP and the `Entry` answers of every request that creates a name.
//!
//! A lookup opens the name `O_PATH | O_NOFOLLOW` beneath the parent's
//! descriptor, identifies the host inode by `(st_dev, st_ino, mount id)`
//! and takes one reference on its node, creating the node on first sight.
//!
//! Names arrive checked ([`Name`]): `.` and `..` cannot reach this layer
//! (the guest kernel resolves both itself; the protocol layer answers
//! `EINVAL`), so no lookup can climb out of the share.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use crate::filesystem::{Context, Entry, Name, NodeId};
use crate::sys;

use super::creds::DAEMON;
use super::{inode_file, key_of, Inode, InodeData, InodeFile, PassthroughFs};

/// `FUSE_ATTR_SUBMOUNT` in `fuse_attr.flags`: the directory is the root of
/// another host mount.
pub(super) const ATTR_SUBMOUNT: u32 = 1 << 0;

impl PassthroughFs {
    /// LOOKUP: one more reference on the node `name` in `parent` names.
    /// The name is resolved as the caller (search permission on `parent`).
    pub(super) fn do_lookup(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
    ) -> io::Result<Entry> {
        let parent = self.inode(parent)?;
        let name = self.guest_name(parent.id(), name)?;
        self.lookup_as(ctx, &parent, name)
    }

    /// Lookup of an already validated `name` in `parent`, as the daemon
    /// (after the caller created it).
    pub(super) fn lookup_in(&self, parent: &Inode, name: Name<'_>) -> io::Result<Entry> {
        self.lookup_as(&DAEMON, parent, name)
    }

    /// Resolves the validated `name` in `parent` as the caller of `ctx` and
    /// takes a reference on what it names.
    fn lookup_as(&self, ctx: &Context, parent: &Inode, name: Name<'_>) -> io::Result<Entry> {
        let dir = parent.value().fd()?;
        let fd = self.as_caller_on(ctx, dir.as_fd(), || {
            sys::open::open_beneath(dir.as_fd(), name.as_cstr(), libc::O_PATH, 0)
        })?;
        self.entry_from_fd(fd, parent.key().mnt_id)
    }

    /// Takes a reference on the inode `fd` (an `O_PATH` descriptor) refers
    /// to and answers its entry. `parent_mnt` decides the submount flag.
    /// A known inode keeps its node; a new one is held as `fd` or as a
    /// file handle (then `fd` is closed), as the handle policy says.
    pub(super) fn entry_from_fd(&self, fd: OwnedFd, parent_mnt: u64) -> io::Result<Entry> {
        let st = sys::stat::statx_with_mount(fd.as_fd())?;
        let file_type = st.st.st_mode & libc::S_IFMT;
        let named = inode_file::name(fd.as_fd(), self.handle_policy);
        let is_current = |data: &InodeData| match (&data.file, &named) {
            // A handle does not keep its inode alive (a held descriptor
            // does): if the name now leads to another handle, the inode
            // the node stood for was deleted and its number reused.
            (InodeFile::Handle { handle, .. }, Some(Ok((now, _)))) => now.is(handle),
            _ => true,
        };
        let key = key_of(&st);
        self.note_device(Some(key.dev));
        let (node, _) = self.inodes.acquire_with(key, is_current, || {
            let file = inode_file::hold_named(
                fd,
                named.as_ref(),
                file_type,
                self.handle_policy,
                &self.mounts,
                &self.proc,
            )?;
            Ok::<_, io::Error>(InodeData { file, file_type })
        })?;
        let submount =
            self.cfg.announce_submounts && file_type == libc::S_IFDIR && st.mnt_id != parent_mnt;
        Ok(self.entry(&node, st.st, if submount { ATTR_SUBMOUNT } else { 0 }))
    }

    /// The entry answer for `node` with the host attributes `st` (shown
    /// to the guest with its owner translated).
    pub(super) fn entry(&self, node: &Inode, st: libc::stat64, attr_flags: u32) -> Entry {
        let timeout = self.cfg.cache.timeout();
        Entry {
            inode: node.id(),
            generation: node.generation(),
            attr: self.guest_view(st),
            attr_flags,
            attr_timeout: timeout,
            entry_timeout: timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::filesystem::{FileSystem, NodeId};
    use std::os::unix::fs::symlink;

    #[test]
    fn lookup_counts_references_and_forget_releases_them() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let a = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        let b = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        assert_eq!(a.inode, b.inode);
        assert_ne!(a.inode, NodeId::ROOT);
        assert_eq!(fs.inodes.get(a.inode).unwrap().refcount(), 2);
        fs.forget(a.inode, 1);
        assert_eq!(fs.inodes.get(a.inode).unwrap().refcount(), 1);
        fs.forget(a.inode, 1);
        assert!(fs.inodes.get(a.inode).is_none());
        let err = fs.getattr(&ctx(), a.inode, None).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn hard_links_share_a_node_id() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("a"), b"x").unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        std::fs::hard_link(tmp.path().join("a"), tmp.path().join("d/b")).unwrap();
        let a = fs.lookup(&ctx(), NodeId::ROOT, name(c"a")).unwrap();
        let d = fs.lookup(&ctx(), NodeId::ROOT, name(c"d")).unwrap();
        let b = fs.lookup(&ctx(), d.inode, name(c"b")).unwrap();
        assert_eq!(a.inode, b.inode);
        assert_eq!(a.attr.st_ino, b.attr.st_ino);
        assert_eq!(a.attr.st_nlink, 2);
    }

    #[test]
    fn node_ids_are_not_host_inode_numbers() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"").unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        assert_ne!(e.inode.get(), e.attr.st_ino);
        assert_eq!(e.generation, 0);
    }

    #[test]
    fn missing_names_and_unknown_parents() {
        let (_tmp, fs) = new_fs();
        let err = fs.lookup(&ctx(), NodeId::ROOT, name(c"nope")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        let unknown = NodeId::from_raw(9999);
        let err = fs.lookup(&ctx(), unknown, name(c"x")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        fs.forget(unknown, 1); // ignored
        fs.batch_forget(&[(unknown, 1), (NodeId::ROOT, 100)]);
        assert!(
            fs.getattr(&ctx(), NodeId::ROOT, None).is_ok(),
            "root survives"
        );
    }

    #[test]
    fn symlink_inodes_describe_the_link_not_its_target() {
        let (tmp, fs) = new_fs();
        symlink("/etc", tmp.path().join("l")).unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"l")).unwrap();
        assert_eq!(e.attr.st_mode & libc::S_IFMT, libc::S_IFLNK);
        let err = fs.lookup(&ctx(), e.inode, name(c"passwd")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
    }

    fn lookup_many(fs: &super::super::PassthroughFs, n: usize) -> Vec<NodeId> {
        (0..n)
            .map(|i| {
                let file = std::ffi::CString::new(format!("f{i}")).unwrap();
                fs.lookup(&ctx(), NodeId::ROOT, name(&file)).unwrap().inode
            })
            .collect()
    }

    #[test]
    fn with_file_handles_known_inodes_hold_no_descriptor() {
        use super::super::HandlePolicy;
        let (tmp, fs) = new_fs_with(|c| c.inode_file_handles = HandlePolicy::Prefer);
        assert_eq!(fs.handle_policy(), HandlePolicy::Prefer);
        for i in 0..50 {
            std::fs::write(tmp.path().join(format!("f{i}")), b"x").unwrap();
        }
        let ids = lookup_many(&fs, 50);
        assert_eq!(fs.inode_count(), 51);
        assert_eq!(fs.inode_fd_count(), 1, "only the root keeps a descriptor");
        // Every inode can still be used.
        for id in ids {
            let (st, _) = fs.getattr(&ctx(), id, None).unwrap();
            assert_eq!(st.st_size, 1);
        }
    }

    #[test]
    fn without_file_handles_each_inode_holds_a_descriptor_until_forgotten() {
        use super::super::HandlePolicy;
        let (tmp, fs) = new_fs_with(|c| c.inode_file_handles = HandlePolicy::Never);
        for i in 0..20 {
            std::fs::write(tmp.path().join(format!("f{i}")), b"x").unwrap();
        }
        let ids = lookup_many(&fs, 20);
        assert_eq!(fs.inode_fd_count(), 21);
        fs.batch_forget(&ids.iter().map(|&id| (id, 1)).collect::<Vec<_>>());
        assert_eq!(fs.inode_fd_count(), 1);
        assert_eq!(fs.inode_count(), 1);
    }

    #[test]
    fn handle_of_a_file_renamed_on_the_host_still_reaches_it() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"abc").unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        std::fs::rename(tmp.path().join("f"), tmp.path().join("d/g")).unwrap();
        let (st, _) = fs.getattr(&ctx(), e.inode, None).unwrap();
        assert_eq!((st.st_ino, st.st_size), (e.attr.st_ino, 3));
    }

    #[test]
    fn inode_removed_on_the_host_answers_an_error_not_another_file() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"abc").unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        std::fs::remove_file(tmp.path().join("f")).unwrap();
        std::fs::write(tmp.path().join("f"), b"other file").unwrap();
        match fs.getattr(&ctx(), e.inode, None) {
            Err(err) => assert_eq!(err.raw_os_error(), Some(libc::ESTALE)),
            // With a descriptor (or a not yet freed inode) the old inode.
            Ok((st, _)) => assert_eq!((st.st_ino, st.st_nlink), (e.attr.st_ino, 0)),
        }
    }

    #[test]
    fn a_reused_inode_number_is_a_new_node() {
        let (tmp, fs) = new_fs();
        let (mut reused, mut tries) = (false, 0);
        // ext4 (and most filesystems) hand a freed inode number to the next
        // inode at once; try a few times in case this one does not.
        while !reused && tries < 20 {
            tries += 1;
            std::fs::write(tmp.path().join("f"), b"abc").unwrap();
            let old = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
            std::fs::remove_file(tmp.path().join("f")).unwrap();
            std::fs::create_dir(tmp.path().join("d")).unwrap();
            let new = fs.lookup(&ctx(), NodeId::ROOT, name(c"d")).unwrap();
            reused = new.attr.st_ino == old.attr.st_ino;
            // Whatever held the old inode: the new name is a directory
            // with a node of its own, and stays usable.
            assert_ne!(new.inode, old.inode);
            assert_eq!(new.attr.st_mode & libc::S_IFMT, libc::S_IFDIR);
            let (st, _) = fs.getattr(&ctx(), new.inode, None).unwrap();
            assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFDIR);
            fs.opendir(&ctx(), new.inode, 0).unwrap();
            fs.forget(old.inode, 1);
            fs.forget(new.inode, 1);
            std::fs::remove_dir(tmp.path().join("d")).unwrap();
        }
        assert!(reused, "the host never reused an inode number");
    }

    #[test]
    fn cache_policy_sets_timeouts() {
        use super::super::CachePolicy;
        use std::time::Duration;
        for (policy, secs) in [
            (CachePolicy::Never, 0),
            (CachePolicy::Metadata, 86400),
            (CachePolicy::Auto, 1),
            (CachePolicy::Always, 86400),
        ] {
            let (tmp, fs) = new_fs_with(|c| c.cache = policy);
            std::fs::write(tmp.path().join("f"), b"").unwrap();
            let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
            assert_eq!(e.entry_timeout, Duration::from_secs(secs));
            assert_eq!(e.attr_timeout, Duration::from_secs(secs));
        }
    }
}
