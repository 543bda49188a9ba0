//! Extended attributes: GETXATTR, SETXATTR, LISTXATTR, REMOVEXATTR.
//!
//! Served only when [`Config::xattr`](super::Config::xattr) is set;
//! otherwise each answers `ENOSYS`, which tells the guest to stop asking.
//! The calls act on the node's inode through its `/proc/self/fd` path, so
//! no file is opened (a fifo or device is never opened for an xattr), as
//! the guest caller (the host checks access to `user.*` attributes and
//! ACLs).

use std::borrow::Cow;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use crate::filesystem::{enosys, Context, NodeId};
use crate::sys;

use super::xattrmap::ToHost;
use super::PassthroughFs;

/// Host LISTXATTR answers that changed size between the size query and the
/// read are retried this often before the guest gets `ERANGE`.
const LIST_RETRIES: usize = 3;

impl PassthroughFs {
    fn check_xattr(&self) -> io::Result<()> {
        if self.cfg.xattr {
            Ok(())
        } else {
            Err(enosys())
        }
    }

    /// The host name for the guest's xattr `name` under `--xattrmap`;
    /// `denied` is the errno of a refused name (`ENODATA` for GETXATTR,
    /// which reports the name absent, `EPERM` otherwise).
    fn host_xattr_name<'a>(&self, name: &'a CStr, denied: i32) -> io::Result<Cow<'a, CStr>> {
        let Some(map) = &self.cfg.xattrmap else {
            return Ok(Cow::Borrowed(name));
        };
        match map.to_host(name) {
            ToHost::Name(host) => Ok(Cow::Owned(host)),
            ToHost::Denied => Err(sys::errno(denied)),
            ToHost::Unsupported => Err(sys::errno(libc::EOPNOTSUPP)),
        }
    }

    /// LISTXATTR through `--xattrmap`: the host's whole list, renamed and
    /// filtered; its size when `buf` is empty.
    fn mapped_listxattr(&self, fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        let Some(map) = &self.cfg.xattrmap else {
            return sys::xattr::listxattr(&self.proc, fd, buf);
        };
        let host = self.host_listxattr(fd)?;
        let list = map.list_to_guest(&host);
        if buf.is_empty() {
            return Ok(list.len());
        }
        let out = buf
            .get_mut(..list.len())
            .ok_or_else(|| sys::errno(libc::ERANGE))?;
        out.copy_from_slice(&list);
        Ok(list.len())
    }

    /// The host's full xattr name list of `fd`.
    fn host_listxattr(&self, fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
        for _ in 0..LIST_RETRIES {
            let size = sys::xattr::listxattr(&self.proc, fd, &mut [])?;
            let mut host = vec![0u8; size];
            match sys::xattr::listxattr(&self.proc, fd, &mut host) {
                Ok(n) => {
                    host.truncate(n);
                    return Ok(host);
                }
                // Grew between the two calls: ask again.
                Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(sys::errno(libc::ERANGE))
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
        let name = self.host_xattr_name(name, libc::ENODATA)?;
        let node = self.inode(inode)?;
        let fd = node.value().fd()?;
        self.as_caller_on(ctx, fd.as_fd(), || {
            sys::xattr::getxattr(&self.proc, fd.as_fd(), &name, buf)
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
        self.as_caller_on(ctx, fd.as_fd(), || self.mapped_listxattr(fd.as_fd(), buf))
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
        let name = self.host_xattr_name(name, libc::EPERM)?;
        let fd = node.value().fd()?;
        self.as_caller_on(ctx, fd.as_fd(), || {
            sys::xattr::setxattr(&self.proc, fd.as_fd(), &name, value, flags)
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
        let name = self.host_xattr_name(name, libc::EPERM)?;
        let fd = node.value().fd()?;
        self.as_caller_on(ctx, fd.as_fd(), || {
            sys::xattr::removexattr(&self.proc, fd.as_fd(), &name)
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
    fn xattrmap_renames_on_the_host_and_back() {
        let rules = ":map:trusted.:user.virtiofs.:";
        let (tmp, fs) = new_fs_with(|c| {
            c.xattr = true;
            c.xattrmap = Some(rules.parse().unwrap());
        });
        let path = tmp.path().join("f");
        std::fs::write(&path, b"").unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        match fs.setxattr(&ctx(), e.inode, c"trusted.k", b"v", 0) {
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return,
            other => other.unwrap(),
        }
        fs.setxattr(&ctx(), e.inode, c"user.plain", b"p", 0)
            .unwrap();
        let host = host_names(&path);
        assert!(
            host.contains(&"user.virtiofs.trusted.k".to_string()),
            "{host:?}"
        );
        assert!(!host.iter().any(|n| n == "trusted.k"), "{host:?}");

        let mut buf = [0u8; 1];
        fs.getxattr(&ctx(), e.inode, c"trusted.k", &mut buf)
            .unwrap();
        assert_eq!(&buf, b"v");
        let n = fs.listxattr(&ctx(), e.inode, &mut []).unwrap();
        let mut list = vec![0u8; n];
        assert_eq!(fs.listxattr(&ctx(), e.inode, &mut list).unwrap(), n);
        let mut shown: Vec<&[u8]> = list.split(|&b| b == 0).filter(|n| !n.is_empty()).collect();
        shown.sort();
        assert_eq!(shown, [&b"trusted.k"[..], b"user.plain"]);
        let mut short = vec![0u8; n - 1];
        let err = fs.listxattr(&ctx(), e.inode, &mut short).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ERANGE));

        // The stored names cannot be reached directly.
        let err = fs
            .setxattr(&ctx(), e.inode, c"user.virtiofs.x", b"v", 0)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        let err = fs
            .getxattr(&ctx(), e.inode, c"user.virtiofs.trusted.k", &mut [])
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENODATA));
        fs.removexattr(&ctx(), e.inode, c"trusted.k").unwrap();
        assert!(!host_names(&path)
            .iter()
            .any(|n| n.starts_with("user.virtiofs.")));
    }

    /// The xattr names of `path` as the host lists them.
    fn host_names(path: &std::path::Path) -> Vec<String> {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        let mut buf = vec![0u8; 4096];
        // SAFETY: `c` is a valid C string and `buf` is writable for its length.
        let n = unsafe { libc::listxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        assert!(n >= 0, "{}", std::io::Error::last_os_error());
        buf.truncate(n as usize);
        buf.split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect()
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
