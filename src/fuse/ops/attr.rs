//! Attribute requests: GETATTR, STATX and SETATTR.

use std::io;
use std::time::Duration;

use zerocopy::IntoBytes;

use crate::filesystem::{FileSystem, HandleId, SetAttr, SetAttrValid};
use crate::fuse::abi::{
    fattr, getattr_flags, AttrOut, GetattrIn, SetattrIn, Statx, StatxIn, StatxOut, SxTime,
};
use crate::fuse::args::Args;
use crate::fuse::io::Writer;
use crate::fuse::reply::{attr_from_stat, reply_ok, split_duration};
use crate::fuse::server::{Request, Server};

impl<F: FileSystem> Server<F> {
    pub(crate) fn do_getattr<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let getattr: GetattrIn = args.obj()?;
        let handle = (getattr.getattr_flags & getattr_flags::GETATTR_FH != 0)
            .then_some(HandleId::from_raw(getattr.fh));
        let (st, timeout) = self.fs.getattr(&req.ctx, req.node(), handle)?;
        reply_attr(w, req.unique, &st, timeout)
    }

    pub(crate) fn do_statx<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let statx: StatxIn = args.obj()?;
        let handle = (statx.getattr_flags & getattr_flags::GETATTR_FH != 0)
            .then_some(HandleId::from_raw(statx.fh));
        let (stx, timeout) =
            self.fs
                .statx(&req.ctx, req.node(), handle, statx.sx_flags, statx.sx_mask)?;
        let (attr_valid, attr_valid_nsec) = split_duration(timeout);
        let out = StatxOut {
            attr_valid,
            attr_valid_nsec,
            stat: statx_to_wire(&stx),
            ..Default::default()
        };
        reply_ok(w, req.unique, &[out.as_bytes()])
    }

    pub(crate) fn do_setattr<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let setattr: SetattrIn = args.obj()?;
        let handle =
            (setattr.valid & fattr::FATTR_FH != 0).then_some(HandleId::from_raw(setattr.fh));
        let mut attr = decode_setattr(&setattr);
        attr.valid.kill_suidgid &= self.handles_killpriv();
        let (st, timeout) = self.fs.setattr(&req.ctx, req.node(), &attr, handle)?;
        reply_attr(w, req.unique, &st, timeout)
    }
}

fn reply_attr<W: Writer>(
    w: &mut W,
    unique: u64,
    st: &libc::stat64,
    timeout: Duration,
) -> io::Result<usize> {
    let (attr_valid, attr_valid_nsec) = split_duration(timeout);
    let out = AttrOut {
        attr_valid,
        attr_valid_nsec,
        attr: attr_from_stat(st, 0),
        ..Default::default()
    };
    reply_ok(w, unique, &[out.as_bytes()])
}

/// The fields of a host `statx` answer the guest uses (basic stats and
/// birth time), in the wire format.
fn statx_to_wire(stx: &libc::statx) -> Statx {
    let time = |t: &libc::statx_timestamp| SxTime {
        tv_sec: t.tv_sec,
        tv_nsec: t.tv_nsec,
        __reserved: 0,
    };
    Statx {
        mask: stx.stx_mask & (libc::STATX_BASIC_STATS | libc::STATX_BTIME),
        blksize: stx.stx_blksize,
        attributes: stx.stx_attributes,
        nlink: stx.stx_nlink,
        uid: stx.stx_uid,
        gid: stx.stx_gid,
        mode: stx.stx_mode,
        ino: stx.stx_ino,
        size: stx.stx_size,
        blocks: stx.stx_blocks,
        attributes_mask: stx.stx_attributes_mask,
        atime: time(&stx.stx_atime),
        btime: time(&stx.stx_btime),
        ctime: time(&stx.stx_ctime),
        mtime: time(&stx.stx_mtime),
        rdev_major: stx.stx_rdev_major,
        rdev_minor: stx.stx_rdev_minor,
        dev_major: stx.stx_dev_major,
        dev_minor: stx.stx_dev_minor,
        ..Default::default()
    }
}

fn decode_setattr(s: &SetattrIn) -> SetAttr {
    let has = |bit: u32| s.valid & bit != 0;
    SetAttr {
        valid: SetAttrValid {
            mode: has(fattr::FATTR_MODE),
            uid: has(fattr::FATTR_UID),
            gid: has(fattr::FATTR_GID),
            size: has(fattr::FATTR_SIZE),
            atime: has(fattr::FATTR_ATIME),
            mtime: has(fattr::FATTR_MTIME),
            atime_now: has(fattr::FATTR_ATIME_NOW),
            mtime_now: has(fattr::FATTR_MTIME_NOW),
            ctime: has(fattr::FATTR_CTIME),
            kill_suidgid: has(fattr::FATTR_KILL_SUIDGID),
        },
        mode: s.mode,
        uid: s.uid,
        gid: s.gid,
        size: s.size,
        // The guest sends times before 1970 as the bits of a negative i64.
        atime: (s.atime.cast_signed(), s.atimensec),
        mtime: (s.mtime.cast_signed(), s.mtimensec),
    }
}
