//! Requests that add, remove or move names: MKDIR, MKNOD, SYMLINK, LINK,
//! UNLINK, RMDIR, RENAME, plus READLINK.
//!
//! Every name is validated first, every call is relative to the parent's
//! `O_PATH` descriptor, and new inodes are created as the guest caller
//! with the request's umask applied. After a creation, the new name is
//! looked up like a LOOKUP, which takes the reference the guest now holds.

use std::ffi::CStr;
use std::io;
use std::os::fd::AsFd;

use crate::filesystem::{Context, Entry, Name, NodeId};
use crate::sys;

use super::PassthroughFs;

/// `RENAME_*` flags passed through to renameat2.
const RENAME_FLAGS: u32 = libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE;

/// Decodes a device number in the kernel's "new" 32-bit encoding (what
/// FUSE carries) into a host `dev_t`.
fn decode_rdev(rdev: u32) -> u64 {
    let major = (rdev & 0xfff00) >> 8;
    let minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
    libc::makedev(major, minor)
}

impl PassthroughFs {
    /// MKDIR.
    pub(super) fn do_mkdir(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        mode: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        self.check_writable()?;
        let parent = self.inode(parent)?;
        let name = self.guest_name(parent.id(), name)?;
        // Resolved before the switch: opening a file handle needs
        // CAP_DAC_READ_SEARCH, which the caller's ids do not have.
        let dir = parent.value().fd()?;
        let mode = self.creation_mode(mode, umask)?;
        self.as_caller_on(ctx, dir.as_fd(), || {
            sys::namei::mkdirat(dir.as_fd(), name.as_cstr(), mode)
        })?;
        self.lookup_in(&parent, name)
    }

    /// MKNOD: regular files, fifos and sockets; device nodes only where
    /// the host lets the caller create them (CAP_MKNOD). Nothing created
    /// here is ever opened for I/O unless it is a regular file.
    pub(super) fn do_mknod(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        mode: u32,
        rdev: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        self.check_writable()?;
        let parent = self.inode(parent)?;
        let name = self.guest_name(parent.id(), name)?;
        let mode = (mode & libc::S_IFMT) | self.creation_mode(mode, umask)?;
        // Resolved before the switch: opening a file handle needs
        // CAP_DAC_READ_SEARCH, which the caller's ids do not have.
        let dir = parent.value().fd()?;
        self.as_caller_on(ctx, dir.as_fd(), || {
            sys::namei::mknodat(dir.as_fd(), name.as_cstr(), mode, decode_rdev(rdev))
        })?;
        self.lookup_in(&parent, name)
    }

    /// SYMLINK: the target is stored verbatim and never resolved here.
    pub(super) fn do_symlink(
        &self,
        ctx: &Context,
        target: &CStr,
        parent: NodeId,
        name: Name<'_>,
    ) -> io::Result<Entry> {
        self.check_writable()?;
        let parent = self.inode(parent)?;
        let name = self.guest_name(parent.id(), name)?;
        // Resolved before the switch: opening a file handle needs
        // CAP_DAC_READ_SEARCH, which the caller's ids do not have.
        let dir = parent.value().fd()?;
        self.as_caller_on(ctx, dir.as_fd(), || {
            sys::namei::symlinkat(target, dir.as_fd(), name.as_cstr())
        })?;
        self.lookup_in(&parent, name)
    }

    /// LINK: a new name for `inode`; answers the same node id.
    pub(super) fn do_link(
        &self,
        ctx: &Context,
        inode: NodeId,
        new_parent: NodeId,
        new_name: Name<'_>,
    ) -> io::Result<Entry> {
        self.check_writable()?;
        let node = self.inode(inode)?;
        let parent = self.inode(new_parent)?;
        let name = self.guest_name(parent.id(), new_name)?;
        let (file, dir) = (node.value().fd()?, parent.value().fd()?);
        self.as_caller(
            ctx,
            |g| {
                g.push_owner_of(file.as_fd());
                g.push_owner_of(dir.as_fd());
            },
            || sys::namei::link_fd(&self.proc, file.as_fd(), dir.as_fd(), name.as_cstr()),
        )?;
        self.lookup_in(&parent, name)
    }

    /// UNLINK (`flags` 0) and RMDIR (`AT_REMOVEDIR`). The node stays in the
    /// table until the guest forgets it.
    pub(super) fn do_unlink(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        flags: i32,
    ) -> io::Result<()> {
        self.check_writable()?;
        let parent = self.inode(parent)?;
        let name = self.guest_name(parent.id(), name)?;
        let dir = parent.value().fd()?;
        self.as_caller_on(ctx, dir.as_fd(), || {
            sys::namei::unlinkat(dir.as_fd(), name.as_cstr(), flags)
        })
    }

    /// RENAME / RENAME2 with `RENAME_NOREPLACE` or `RENAME_EXCHANGE`; other
    /// flags (`RENAME_WHITEOUT`) are `EINVAL`.
    pub(super) fn do_rename(
        &self,
        ctx: &Context,
        old_parent: NodeId,
        old_name: Name<'_>,
        new_parent: NodeId,
        new_name: Name<'_>,
        flags: u32,
    ) -> io::Result<()> {
        self.check_writable()?;
        if flags & !RENAME_FLAGS != 0 {
            return Err(sys::errno(libc::EINVAL));
        }
        let old_parent = self.inode(old_parent)?;
        let new_parent = self.inode(new_parent)?;
        let old_name = self.guest_name(old_parent.id(), old_name)?;
        let new_name = self.guest_name(new_parent.id(), new_name)?;
        let (old_dir, new_dir) = (old_parent.value().fd()?, new_parent.value().fd()?);
        self.as_caller(
            ctx,
            |g| {
                g.push_owner_of(old_dir.as_fd());
                g.push_owner_of(new_dir.as_fd());
                // A directory moving to another parent needs write access
                // to itself (its `..` changes).
                if let Ok(moved) =
                    sys::open::open_beneath(old_dir.as_fd(), old_name.as_cstr(), libc::O_PATH, 0)
                {
                    g.push_owner_of(moved.as_fd());
                }
            },
            || {
                sys::namei::renameat2(
                    old_dir.as_fd(),
                    old_name.as_cstr(),
                    new_dir.as_fd(),
                    new_name.as_cstr(),
                    flags,
                )
            },
        )
    }

    /// READLINK: the target, verbatim.
    pub(super) fn do_readlink(&self, inode: NodeId) -> io::Result<Vec<u8>> {
        let node = self.inode(inode)?;
        if node.value().file_type != libc::S_IFLNK {
            return Err(sys::errno(libc::EINVAL));
        }
        sys::namei::readlink_fd(node.value().fd()?.as_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::filesystem::{FileSystem, NodeId};
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    #[test]
    fn rdev_decoding_matches_the_kernel_encoding() {
        // new_encode_dev(MKDEV(8, 1)) == 0x801; MKDEV(259, 300) spreads.
        assert_eq!(decode_rdev(0x801), libc::makedev(8, 1));
        let (major, minor) = (259u32, 300u32);
        let enc = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
        assert_eq!(decode_rdev(enc), libc::makedev(major, minor));
    }

    #[test]
    fn mkdir_applies_umask_and_answers_an_entry() {
        let (tmp, fs) = new_fs();
        let e = fs
            .mkdir(&ctx(), NodeId::ROOT, name(c"d"), 0o777, 0o022)
            .unwrap();
        assert_eq!(e.attr.st_mode, libc::S_IFDIR | 0o755);
        let meta = std::fs::metadata(tmp.path().join("d")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o755);
        assert_eq!(
            fs.lookup(&ctx(), NodeId::ROOT, name(c"d")).unwrap().inode,
            e.inode
        );
    }

    #[test]
    fn mkdir_existing_is_eexist_and_bad_names_einval() {
        let (_tmp, fs) = new_fs();
        fs.mkdir(&ctx(), NodeId::ROOT, name(c"d"), 0o755, 0)
            .unwrap();
        let err = fs
            .mkdir(&ctx(), NodeId::ROOT, name(c"d"), 0o755, 0)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
    }

    #[test]
    fn mknod_creates_regular_fifo_and_socket() {
        let (tmp, fs) = new_fs();
        let r = fs
            .mknod(
                &ctx(),
                NodeId::ROOT,
                name(c"r"),
                libc::S_IFREG | 0o644,
                0,
                0,
            )
            .unwrap();
        let p = fs
            .mknod(
                &ctx(),
                NodeId::ROOT,
                name(c"p"),
                libc::S_IFIFO | 0o644,
                0,
                0,
            )
            .unwrap();
        let s = fs
            .mknod(
                &ctx(),
                NodeId::ROOT,
                name(c"s"),
                libc::S_IFSOCK | 0o644,
                0,
                0,
            )
            .unwrap();
        assert_eq!(r.attr.st_mode & libc::S_IFMT, libc::S_IFREG);
        assert_eq!(p.attr.st_mode & libc::S_IFMT, libc::S_IFIFO);
        assert_eq!(s.attr.st_mode & libc::S_IFMT, libc::S_IFSOCK);
        let ft = std::fs::symlink_metadata(tmp.path().join("p"))
            .unwrap()
            .file_type();
        assert!(ft.is_fifo());
    }

    #[test]
    fn files_are_created_as_the_caller() {
        let (tmp, fs) = new_fs();
        if !fs.switch_creds {
            return;
        }
        let guest = caller(1000, 1001);
        // A 0700 root-owned directory: the caller may not create there.
        use std::os::unix::fs::PermissionsExt;
        let perms = std::fs::Permissions::from_mode(0o700);
        std::fs::set_permissions(tmp.path(), perms).unwrap();
        let err = fs
            .mkdir(&guest, NodeId::ROOT, name(c"x"), 0o755, 0)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES));
        let open = fs
            .mkdir(&ctx(), NodeId::ROOT, name(c"open"), 0o777, 0)
            .unwrap();
        let e = fs
            .mkdir(&guest, open.inode, name(c"mine"), 0o755, 0)
            .unwrap();
        assert_eq!((e.attr.st_uid, e.attr.st_gid), (1000, 1001));
        let meta = std::fs::metadata(tmp.path().join("open/mine")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1000, 1001));
        // Credentials are restored afterwards.
        let e = fs
            .mkdir(&ctx(), NodeId::ROOT, name(c"root-owned"), 0o755, 0)
            .unwrap();
        assert_eq!(e.attr.st_uid, 0);
    }

    #[test]
    fn symlink_outside_is_stored_verbatim_and_not_followed() {
        let (tmp, fs) = new_fs();
        for (link, target) in [(c"up", c"../../etc"), (c"abs", c"/etc")] {
            let e = fs
                .symlink(&ctx(), target, NodeId::ROOT, name(link))
                .unwrap();
            assert_eq!(e.attr.st_mode & libc::S_IFMT, libc::S_IFLNK);
            assert_eq!(fs.readlink(&ctx(), e.inode).unwrap(), target.to_bytes());
            let err = fs.lookup(&ctx(), e.inode, name(c"passwd")).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
            let err = fs.open(&ctx(), e.inode, libc::O_RDONLY as u32).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
            let err = fs
                .opendir(&ctx(), e.inode, libc::O_RDONLY as u32)
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
        }
        let target = std::fs::read_link(tmp.path().join("abs")).unwrap();
        assert_eq!(target, std::path::Path::new("/etc"));
        let err = fs.readlink(&ctx(), NodeId::ROOT).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn link_answers_the_same_node_id() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("a"), b"x").unwrap();
        let a = fs.lookup(&ctx(), NodeId::ROOT, name(c"a")).unwrap();
        let b = fs.link(&ctx(), a.inode, NodeId::ROOT, name(c"b")).unwrap();
        assert_eq!(a.inode, b.inode);
        assert_eq!(b.attr.st_nlink, 2);
        assert_eq!(fs.inodes.get(a.inode).unwrap().refcount(), 2);
    }

    #[test]
    fn unlink_and_rmdir() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"").unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        let err = fs.unlink(&ctx(), NodeId::ROOT, name(c"d")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EISDIR));
        let err = fs.rmdir(&ctx(), NodeId::ROOT, name(c"f")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
        fs.unlink(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        fs.rmdir(&ctx(), NodeId::ROOT, name(c"d")).unwrap();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn rename_plain_noreplace_and_exchange() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("a"), b"A").unwrap();
        std::fs::write(tmp.path().join("b"), b"B").unwrap();
        let noreplace = libc::RENAME_NOREPLACE;
        let err = fs
            .rename(
                &ctx(),
                NodeId::ROOT,
                name(c"a"),
                NodeId::ROOT,
                name(c"b"),
                noreplace,
            )
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
        fs.rename(
            &ctx(),
            NodeId::ROOT,
            name(c"a"),
            NodeId::ROOT,
            name(c"b"),
            libc::RENAME_EXCHANGE,
        )
        .unwrap();
        assert_eq!(std::fs::read(tmp.path().join("a")).unwrap(), b"B");
        assert_eq!(std::fs::read(tmp.path().join("b")).unwrap(), b"A");
        fs.rename(
            &ctx(),
            NodeId::ROOT,
            name(c"a"),
            NodeId::ROOT,
            name(c"c"),
            noreplace,
        )
        .unwrap();
        fs.rename(
            &ctx(),
            NodeId::ROOT,
            name(c"c"),
            NodeId::ROOT,
            name(c"b"),
            0,
        )
        .unwrap();
        assert_eq!(std::fs::read(tmp.path().join("b")).unwrap(), b"B");
        assert!(!tmp.path().join("a").exists());
    }

    #[test]
    fn rename_rejects_bad_flags_and_names() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("a"), b"").unwrap();
        let err = fs
            .rename(
                &ctx(),
                NodeId::ROOT,
                name(c"a"),
                NodeId::ROOT,
                name(c"b"),
                libc::RENAME_WHITEOUT,
            )
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        let err = fs
            .rename(
                &ctx(),
                NodeId::ROOT,
                name(c"a"),
                NodeId::from_raw(424242),
                name(c"b"),
                0,
            )
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn readonly_refuses_changes() {
        let (_tmp, fs) = new_fs_with(|c| c.readonly = true);
        let err = fs
            .mkdir(&ctx(), NodeId::ROOT, name(c"d"), 0o755, 0)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
        let err = fs.unlink(&ctx(), NodeId::ROOT, name(c"d")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    }
}
