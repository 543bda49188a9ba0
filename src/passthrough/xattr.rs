//! Extended attributes: GETXATTR, SETXATTR, LISTXATTR, REMOVEXATTR.
//!
//! Served only when [`Config::xattr`](super::Config::xattr) is set;
//! otherwise each answers `ENOSYS`, which tells the guest to stop asking.
//! The calls act on the node's inode through its `/proc/self/fd` path, so
//! no file is opened (a fifo or device is never opened for an xattr), as
//! the guest caller (the host checks access to `user.*` attributes and
//! ACLs).

use std::ffi::CStr;
use std::io;
use std::os::fd::AsFd;

use crate::filesystem::{enosys, Context, NodeId};
use crate::sys;

use super::PassthroughFs;

impl PassthroughFs {
    fn check_xattr(&self) -> io::Result<()> {
        if self.cfg.xattr {
            Ok(())
        } else {
            Err(enosys())
        }
    }

    /// GETXATTR; an empty `buf` asks for the size.
    pub(super) fn do_getxattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        name: &CStr,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        self.check_xattr()?;
        let node = self.inode(inode)?;
        let fd = node.value().fd()?;
        self.as_caller_on(ctx, fd.as_fd(), || {
            sys::xattr::getxattr(&self.proc, fd.as_fd(), name, buf)
        })
    }

    /// LISTXATTR; an empty `buf` asks for the size.
    pub(super) fn do_listxattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        self.check_xattr()?;
        let node = self.inode(inode)?;
        let fd = node.value().fd()?;
        self.as_caller_on(ctx, fd.as_fd(), || {
            sys::xattr::listxattr(&self.proc, fd.as_fd(), buf)
        })
    }

    /// SETXATTR with `XATTR_CREATE` / `XATTR_REPLACE` flags.
    pub(super) fn do_setxattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        name: &CStr,
        value: &[u8],
        flags: u32,
    ) -> io::Result<()> {
        self.check_xattr()?;
        self.check_writable()?;
        let node = self.inode(inode)?;
        let flags = i32::try_from(flags).map_err(|_| sys::errno(libc::EINVAL))?;
        let fd = node.value().fd()?;
        self.as_caller_on(ctx, fd.as_fd(), || {
            sys::xattr::setxattr(&self.proc, fd.as_fd(), name, value, flags)
        })
    }

    /// REMOVEXATTR.
    pub(super) fn do_removexattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        name: &CStr,
    ) -> io::Result<()> {
        self.check_xattr()?;
        self.check_writable()?;
        let node = self.inode(inode)?;
        let fd = node.value().fd()?;
        self.as_caller_on(ctx, fd.as_fd(), || {
            sys::xattr::removexattr(&self.proc, fd.as_fd(), name)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::filesystem::{FileSystem, NodeId};

    #[test]
    fn disabled_xattrs_are_enosys() {
        let (_tmp, fs) = new_fs();
        let enosys = Some(libc::ENOSYS);
        let mut buf = [0u8; 8];
        let e = fs
            .getxattr(&ctx(), NodeId::ROOT, c"user.a", &mut buf)
            .unwrap_err();
        assert_eq!(e.raw_os_error(), enosys);
        let e = fs.listxattr(&ctx(), NodeId::ROOT, &mut buf).unwrap_err();
        assert_eq!(e.raw_os_error(), enosys);
        let e = fs
            .setxattr(&ctx(), NodeId::ROOT, c"user.a", b"v", 0)
            .unwrap_err();
        assert_eq!(e.raw_os_error(), enosys);
        let e = fs.removexattr(&ctx(), NodeId::ROOT, c"user.a").unwrap_err();
        assert_eq!(e.raw_os_error(), enosys);
    }

    #[test]
    fn xattrs_round_trip_when_enabled() {
        let (tmp, fs) = new_fs_with(|c| c.xattr = true);
        std::fs::write(tmp.path().join("f"), b"").unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        match fs.setxattr(&ctx(), e.inode, c"user.k", b"val", 0) {
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return,
            other => other.unwrap(),
        }
        assert_eq!(fs.getxattr(&ctx(), e.inode, c"user.k", &mut []).unwrap(), 3);
        let mut buf = [0u8; 3];
        fs.getxattr(&ctx(), e.inode, c"user.k", &mut buf).unwrap();
        assert_eq!(&buf, b"val");
        let mut small = [0u8; 1];
        let err = fs
            .getxattr(&ctx(), e.inode, c"user.k", &mut small)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ERANGE));
        let n = fs.listxattr(&ctx(), e.inode, &mut []).unwrap();
        let mut list = vec![0u8; n];
        fs.listxattr(&ctx(), e.inode, &mut list).unwrap();
        assert!(list.split(|&b| b == 0).any(|n| n == b"user.k"));
        let err = fs
            .setxattr(&ctx(), e.inode, c"user.k", b"x", libc::XATTR_CREATE as u32)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
        fs.removexattr(&ctx(), e.inode, c"user.k").unwrap();
        let err = fs
            .getxattr(&ctx(), e.inode, c"user.k", &mut buf)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENODATA));
    }
}
