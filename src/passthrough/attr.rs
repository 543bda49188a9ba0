//! GETATTR, SETATTR and ACCESS.
//!
//! Without a handle, attributes are read and changed through the inode's
//! `O_PATH` descriptor (`AT_EMPTY_PATH`, or its `/proc/self/fd` entry for
//! chmod, utimensat and truncate); with one, through the open descriptor.
//! Changes are applied in the order mode, owner, size, times, and the new
//! attributes are read back afterwards.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use crate::filesystem::{Context, HandleId, NodeId, SetAttr};
use crate::sys;
use crate::sys::attr::TimeUpdate;

use super::{InodeData, PassthroughFs};

/// The mode after a write or truncate by an unprivileged caller: setuid
/// always goes, setgid only if group-execute is set (otherwise it marks
/// mandatory locking and stays), as the Linux VFS does.
pub(super) fn mode_without_privs(mode: u32) -> Option<u32> {
    let mut kill = mode & libc::S_ISUID;
    if mode & libc::S_IXGRP != 0 {
        kill |= mode & libc::S_ISGID;
    }
    (kill != 0).then_some(mode & 0o7777 & !kill)
}

/// Whether `ctx` may access a file with attributes `st` as `mask` asks
/// (`R_OK`/`W_OK`/`X_OK`, 0 = existence). Supplementary groups are not
/// known from the request and are not considered.
fn permits(st: &libc::stat64, ctx: &Context, mask: u32) -> bool {
    let mask = mask & 0o7;
    if mask == 0 {
        return true;
    }
    let mode = st.st_mode;
    if ctx.uid == 0 {
        // Root may read and write anything and execute what is executable
        // by someone (or is a directory).
        let is_dir = mode & libc::S_IFMT == libc::S_IFDIR;
        return mask & 1 == 0 || is_dir || mode & 0o111 != 0;
    }
    let bits = if st.st_uid == ctx.uid {
        mode >> 6
    } else if st.st_gid == ctx.gid {
        mode >> 3
    } else {
        mode
    } & 0o7;
    bits & mask == mask
}

impl PassthroughFs {
    /// Attributes of `inode` (via `handle` when given), as the guest sees
    /// them, and their timeout.
    pub(super) fn do_getattr(
        &self,
        inode: NodeId,
        handle: Option<HandleId>,
    ) -> io::Result<(libc::stat64, Duration)> {
        let st = match handle {
            Some(h) => sys::stat::fstat(self.handle(inode, h)?.fd.as_fd())?,
            None => sys::stat::fstat(self.inode(inode)?.value().fd()?.as_fd())?,
        };
        Ok((self.guest_view(st), self.cfg.cache.timeout()))
    }

    /// STATX: `statx(2)` of the node (or the handle's descriptor), always
    /// asking for the basic fields and the birth time.
    pub(super) fn do_statx(
        &self,
        inode: NodeId,
        handle: Option<HandleId>,
        sync: u32,
        mask: u32,
    ) -> io::Result<(libc::statx, Duration)> {
        let sync = i32::try_from(sync).map_err(|_| sys::errno(libc::EINVAL))?;
        let mask = mask | libc::STATX_BASIC_STATS | libc::STATX_BTIME;
        let stx = match handle {
            Some(h) => sys::stat::statx(self.handle(inode, h)?.fd.as_fd(), sync, mask)?,
            None => sys::stat::statx(self.inode(inode)?.value().fd()?.as_fd(), sync, mask)?,
        };
        Ok((self.guest_view_statx(stx), self.cfg.cache.timeout()))
    }

    /// SETATTR: applies the fields `attr.valid` names, as the caller; a
    /// chown may rest on the caller's membership of the new group.
    pub(super) fn do_setattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        attr: &SetAttr,
        handle: Option<HandleId>,
    ) -> io::Result<(libc::stat64, Duration)> {
        self.check_writable()?;
        let node = self.inode(inode)?;
        let handle = handle.map(|h| self.handle(inode, h)).transpose()?;
        let data = node.value();
        if attr.valid.mode && data.file_type == libc::S_IFLNK {
            // Linux has no mode on symlinks; chmod would follow nothing.
            return Err(sys::errno(libc::EOPNOTSUPP));
        }
        let path = data.fd()?;
        let path_fd = path.as_fd();
        let io_fd: Option<BorrowedFd<'_>> = handle.as_ref().map(|h| h.fd.as_fd());
        self.as_caller(
            ctx,
            |g| {
                g.push_owner_of(path_fd);
                if attr.valid.gid {
                    g.push(attr.gid);
                }
            },
            || self.apply_setattr(data, path_fd, io_fd, attr),
        )?;
        let valid = attr.valid;
        if valid.kill_suidgid && !valid.mode && !data.is_dir() {
            let st = sys::stat::fstat(path_fd)?;
            if let Some(mode) = mode_without_privs(st.st_mode) {
                sys::attr::chmod_fd(&self.proc, path_fd, mode)?;
            }
        }

        self.do_getattr(inode, None)
    }

    /// The mode, owner, size and time changes of a SETATTR, through the
    /// open descriptor `io_fd` when the guest gave a handle.
    fn apply_setattr(
        &self,
        data: &InodeData,
        path_fd: BorrowedFd<'_>,
        io_fd: Option<BorrowedFd<'_>>,
        attr: &SetAttr,
    ) -> io::Result<()> {
        let valid = attr.valid;
        if valid.mode {
            let mode = attr.mode & 0o7777;
            match io_fd {
                Some(fd) => sys::attr::fchmod(fd, mode)?,
                None => sys::attr::chmod_fd(&self.proc, path_fd, mode)?,
            }
        }
        if valid.uid || valid.gid {
            let uid = valid.uid.then_some(attr.uid);
            let gid = valid.gid.then_some(attr.gid);
            sys::attr::chown_fd(path_fd, uid, gid)?;
        }
        if valid.size {
            self.truncate(data, path_fd, io_fd, attr.size)?;
        }
        if valid.atime || valid.mtime || valid.atime_now || valid.mtime_now {
            // `*_now` alone also means "set it", to now.
            let pick = |set: bool, now: bool, (sec, nsec): (i64, u32)| match (set, now) {
                (_, true) => TimeUpdate::Now,
                (true, false) => TimeUpdate::Set(sec, nsec),
                (false, false) => TimeUpdate::Omit,
            };
            let atime = pick(valid.atime, valid.atime_now, attr.atime);
            let mtime = pick(valid.mtime, valid.mtime_now, attr.mtime);
            match io_fd {
                Some(fd) => sys::attr::futimens(fd, atime, mtime)?,
                None => sys::attr::utimens_fd(&self.proc, path_fd, atime, mtime)?,
            }
        }
        Ok(())
    }

    /// Truncates through `io_fd`, or by opening the regular file `data`
    /// for writing (opening one has no side effect).
    fn truncate(
        &self,
        data: &InodeData,
        path_fd: BorrowedFd<'_>,
        io_fd: Option<BorrowedFd<'_>>,
        size: u64,
    ) -> io::Result<()> {
        if let Some(fd) = io_fd {
            return sys::attr::ftruncate(fd, size);
        }
        if data.is_dir() {
            return Err(sys::errno(libc::EISDIR));
        }
        if !data.is_reg() {
            return Err(sys::errno(libc::EINVAL));
        }
        let fd = self
            .proc
            .reopen(path_fd, libc::O_WRONLY | libc::O_NONBLOCK)?;
        sys::attr::ftruncate(fd.as_fd(), size)
    }

    /// ACCESS, checked against the caller in `ctx` (the daemon itself may
    /// be root, so access(2) on the host would say yes to everything).
    pub(super) fn do_access(&self, ctx: &Context, inode: NodeId, mask: u32) -> io::Result<()> {
        let node = self.inode(inode)?;
        let st = sys::stat::fstat(node.value().fd()?.as_fd())?;
        if mask & (libc::W_OK as u32) != 0 && self.cfg.readonly {
            return Err(sys::errno(libc::EROFS));
        }
        if permits(&st, ctx, mask) {
            Ok(())
        } else {
            Err(sys::errno(libc::EACCES))
        }
    }

    /// Drops setuid/setgid from the file open as `fd` (a WRITE with
    /// `kill_priv`).
    pub(super) fn kill_privs(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let st = sys::stat::fstat(fd)?;
        match mode_without_privs(st.st_mode) {
            Some(mode) => sys::attr::fchmod(fd, mode),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::filesystem::{FileSystem, NodeId, SetAttrValid};
    use std::os::unix::fs::PermissionsExt;

    fn stat_mode(mode: u32, uid: u32, gid: u32) -> libc::stat64 {
        // SAFETY: stat64 is plain old data; zero is a valid value.
        let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
        st.st_mode = mode;
        st.st_uid = uid;
        st.st_gid = gid;
        st
    }

    #[test]
    fn privs_are_killed_like_the_vfs_does() {
        assert_eq!(mode_without_privs(0o4755), Some(0o755));
        assert_eq!(mode_without_privs(0o6755), Some(0o755));
        assert_eq!(mode_without_privs(0o2745), None, "sgid without g+x stays");
        assert_eq!(mode_without_privs(0o6745), Some(0o2745));
        assert_eq!(mode_without_privs(0o755), None);
    }

    #[test]
    fn permission_check_uses_owner_group_other() {
        let st = stat_mode(libc::S_IFREG | 0o640, 10, 20);
        assert!(permits(&st, &caller(10, 99), 6));
        assert!(permits(&st, &caller(11, 20), 4));
        assert!(!permits(&st, &caller(11, 20), 2));
        assert!(!permits(&st, &caller(11, 21), 4));
        assert!(permits(&st, &caller(11, 21), 0));
        assert!(permits(&st, &caller(0, 0), 6));
        assert!(!permits(&st, &caller(0, 0), 1));
        let dir = stat_mode(libc::S_IFDIR | 0o600, 10, 20);
        assert!(permits(&dir, &caller(0, 0), 1));
    }

    #[test]
    fn setattr_mode_times_and_size_without_handle() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"0123456789").unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        let attr = SetAttr {
            valid: SetAttrValid {
                mode: true,
                size: true,
                atime: true,
                mtime: true,
                ..Default::default()
            },
            mode: 0o600,
            size: 4,
            atime: (1_000_000, 7),
            mtime: (2_000_000, 9),
            ..Default::default()
        };
        let (st, _) = fs.setattr(&ctx(), e.inode, &attr, None).unwrap();
        assert_eq!(st.st_mode & 0o7777, 0o600);
        assert_eq!(st.st_size, 4);
        assert_eq!((st.st_atime, st.st_atime_nsec), (1_000_000, 7));
        assert_eq!((st.st_mtime, st.st_mtime_nsec), (2_000_000, 9));
        assert_eq!(std::fs::read(tmp.path().join("f")).unwrap(), b"0123");
    }

    #[test]
    fn setattr_mtime_now_leaves_atime() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"").unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        let mut attr = SetAttr {
            valid: SetAttrValid {
                atime: true,
                mtime: true,
                ..Default::default()
            },
            atime: (5, 0),
            mtime: (6, 0),
            ..Default::default()
        };
        fs.setattr(&ctx(), e.inode, &attr, None).unwrap();
        attr.valid = SetAttrValid {
            mtime: true,
            mtime_now: true,
            ..Default::default()
        };
        let (st, _) = fs.setattr(&ctx(), e.inode, &attr, None).unwrap();
        assert_eq!(st.st_atime, 5);
        assert!(st.st_mtime > 1_000_000);
    }

    #[test]
    fn setattr_with_handle_truncates_through_it() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"abcdef").unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        let (h, _) = fs.open(&ctx(), e.inode, libc::O_RDWR as u32).unwrap();
        let attr = SetAttr {
            valid: SetAttrValid {
                size: true,
                ..Default::default()
            },
            size: 2,
            ..Default::default()
        };
        let (st, _) = fs.setattr(&ctx(), e.inode, &attr, Some(h)).unwrap();
        assert_eq!(st.st_size, 2);
        let (st, _) = fs.getattr(&ctx(), e.inode, Some(h)).unwrap();
        assert_eq!(st.st_size, 2);
        let err = fs
            .getattr(&ctx(), e.inode, Some(HandleId::from_raw(h.get() + 100)))
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn setattr_owner_and_kill_suidgid() {
        if crate::sys::creds::geteuid() != 0 {
            return; // chown needs root
        }
        let (tmp, fs) = new_fs();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o6755)).unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        let attr = SetAttr {
            valid: SetAttrValid {
                gid: true,
                kill_suidgid: true,
                ..Default::default()
            },
            gid: 1234,
            ..Default::default()
        };
        let (st, _) = fs.setattr(&ctx(), e.inode, &attr, None).unwrap();
        assert_eq!(st.st_gid, 1234);
        assert_eq!(st.st_mode & 0o7777, 0o755);
    }

    #[test]
    fn truncate_of_a_directory_is_eisdir() {
        let (tmp, fs) = new_fs();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"d")).unwrap();
        let attr = SetAttr {
            valid: SetAttrValid {
                size: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let err = fs.setattr(&ctx(), e.inode, &attr, None).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EISDIR));
    }

    #[test]
    fn readonly_refuses_setattr() {
        let (_tmp, fs) = new_fs_with(|c| c.readonly = true);
        let err = fs
            .setattr(&ctx(), NodeId::ROOT, &SetAttr::default(), None)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
        let err = fs
            .access(&ctx(), NodeId::ROOT, libc::W_OK as u32)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
        fs.access(&ctx(), NodeId::ROOT, libc::R_OK as u32).unwrap();
    }
}
