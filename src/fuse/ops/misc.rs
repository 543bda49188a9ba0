//! Less common requests: ACCESS, extended attributes, POSIX locks,
//! FALLOCATE, LSEEK and COPY_FILE_RANGE.

use std::io;

use zerocopy::IntoBytes;

use crate::filesystem::{FileSystem, HandleId, LockRange, NodeId, SetAttr, SetAttrValid, Whence};
use crate::fuse::abi::{
    init_flags, lk_flags, setxattr_flags, AccessIn, CopyFileRangeIn, FallocateIn, FileLock,
    GetxattrIn, GetxattrOut, LkIn, LkOut, LseekIn, LseekOut, SetxattrIn, WriteOut,
};
use crate::fuse::args::{guest_len, Args};
use crate::fuse::io::Writer;
use crate::fuse::reply::{reply_ok, wire_len};
use crate::fuse::server::{Request, Server};

/// Largest xattr value or name list the daemon hands back (XATTR_SIZE_MAX).
const XATTR_SIZE_MAX: u32 = 64 * 1024;

fn lock_range(lk: &FileLock) -> LockRange {
    LockRange {
        start: lk.start,
        end: lk.end,
        type_: lk.type_,
        pid: lk.pid,
    }
}

impl<F: FileSystem> Server<F> {
    pub(crate) fn do_access<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let access: AccessIn = args.obj()?;
        self.fs.access(&req.ctx, req.node(), access.mask)?;
        reply_ok(w, req.unique, &[])
    }

    pub(crate) fn do_setxattr<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        // Without FUSE_SETXATTR_EXT the guest sends only `size` and `flags`.
        let (size, flags, ext_flags) = if self.negotiated(init_flags::SETXATTR_EXT) {
            let s: SetxattrIn = args.obj()?;
            (s.size, s.flags, s.setxattr_flags)
        } else {
            let [size, flags]: [u32; 2] = args.obj()?;
            (size, flags, 0)
        };
        let name = args.cstr()?;
        let value = args.rest();
        if value.len() != guest_len(size)? {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.fs.setxattr(&req.ctx, req.node(), name, value, flags)?;
        if ext_flags & setxattr_flags::SETXATTR_ACL_KILL_SGID != 0 {
            self.kill_sgid(req)?;
        }
        reply_ok(w, req.unique, &[])
    }

    /// Clears the setgid bit after a POSIX ACL was set by a caller outside
    /// the file's group (what the guest's VFS would do on a local
    /// filesystem, FUSE_SETXATTR_ACL_KILL_SGID).
    fn kill_sgid(&self, req: &Request) -> io::Result<()> {
        let (st, _) = self.fs.getattr(&req.ctx, req.node(), None)?;
        if st.st_mode & libc::S_ISGID == 0 {
            return Ok(());
        }
        let attr = SetAttr {
            valid: SetAttrValid {
                mode: true,
                ..SetAttrValid::default()
            },
            mode: st.st_mode & 0o7777 & !libc::S_ISGID,
            ..SetAttr::default()
        };
        self.fs.setattr(&req.ctx, req.node(), &attr, None).map(drop)
    }

    pub(crate) fn do_getxattr<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let getxattr: GetxattrIn = args.obj()?;
        let name = args.final_cstr()?;
        let mut buf = vec![0u8; guest_len(getxattr.size.min(XATTR_SIZE_MAX))?];
        let len = self.fs.getxattr(&req.ctx, req.node(), name, &mut buf)?;
        reply_xattr(w, req.unique, getxattr.size, &buf, len)
    }

    pub(crate) fn do_listxattr<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let getxattr: GetxattrIn = args.obj()?;
        let mut buf = vec![0u8; guest_len(getxattr.size.min(XATTR_SIZE_MAX))?];
        let len = self.fs.listxattr(&req.ctx, req.node(), &mut buf)?;
        reply_xattr(w, req.unique, getxattr.size, &buf, len)
    }

    pub(crate) fn do_removexattr<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let name = args.final_cstr()?;
        self.fs.removexattr(&req.ctx, req.node(), name)?;
        reply_ok(w, req.unique, &[])
    }

    pub(crate) fn do_getlk<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let lk: LkIn = args.obj()?;
        let found = self.fs.getlk(
            &req.ctx,
            req.node(),
            HandleId::from_raw(lk.fh),
            lk.owner,
            lock_range(&lk.lk),
        )?;
        let out = LkOut {
            lk: FileLock {
                start: found.start,
                end: found.end,
                type_: found.type_,
                pid: found.pid,
            },
        };
        reply_ok(w, req.unique, &[out.as_bytes()])
    }

    pub(crate) fn do_setlk<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
        wait: bool,
    ) -> io::Result<usize> {
        let lk: LkIn = args.obj()?;
        let flock = lk.lk_flags & lk_flags::LK_FLOCK != 0;
        self.fs.setlk(
            &req.ctx,
            req.node(),
            HandleId::from_raw(lk.fh),
            lk.owner,
            lock_range(&lk.lk),
            wait,
            flock,
        )?;
        reply_ok(w, req.unique, &[])
    }

    pub(crate) fn do_fallocate<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let fa: FallocateIn = args.obj()?;
        self.fs.fallocate(
            &req.ctx,
            req.node(),
            HandleId::from_raw(fa.fh),
            fa.mode,
            fa.offset,
            fa.length,
        )?;
        reply_ok(w, req.unique, &[])
    }

    pub(crate) fn do_lseek<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let seek: LseekIn = args.obj()?;
        let whence =
            i32::try_from(seek.whence).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let whence = match whence {
            libc::SEEK_SET => Whence::Set,
            libc::SEEK_CUR => Whence::Cur,
            libc::SEEK_END => Whence::End,
            libc::SEEK_DATA => Whence::Data,
            libc::SEEK_HOLE => Whence::Hole,
            _ => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
        };
        let offset = self.fs.lseek(
            &req.ctx,
            req.node(),
            HandleId::from_raw(seek.fh),
            seek.offset,
            whence,
        )?;
        reply_ok(w, req.unique, &[LseekOut { offset }.as_bytes()])
    }

    pub(crate) fn do_copy_file_range<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let c: CopyFileRangeIn = args.obj()?;
        let copied = self.fs.copy_file_range(
            &req.ctx,
            req.node(),
            HandleId::from_raw(c.fh_in),
            c.off_in,
            NodeId::from_raw(c.nodeid_out),
            HandleId::from_raw(c.fh_out),
            c.off_out,
            c.len,
            c.flags,
        )?;
        let out = WriteOut {
            size: wire_len(copied)?,
            ..Default::default()
        };
        reply_ok(w, req.unique, &[out.as_bytes()])
    }
}

/// Replies to GETXATTR/LISTXATTR: only the size when the guest asked with
/// size 0, otherwise the value, or ERANGE when it does not fit.
fn reply_xattr<W: Writer>(
    w: &mut W,
    unique: u64,
    asked: u32,
    buf: &[u8],
    len: usize,
) -> io::Result<usize> {
    if asked == 0 {
        let out = GetxattrOut {
            size: wire_len(len)?,
            ..Default::default()
        };
        return reply_ok(w, unique, &[out.as_bytes()]);
    }
    let value = buf
        .get(..len)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ERANGE))?;
    reply_ok(w, unique, &[value])
}
