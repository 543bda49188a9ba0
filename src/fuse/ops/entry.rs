//! Requests about names in directories: LOOKUP, MKDIR, MKNOD, SYMLINK, LINK,
//! UNLINK, RMDIR, RENAME, RENAME2, READLINK.

use std::io;

use zerocopy::IntoBytes;

use crate::filesystem::{Entry, FileSystem, NodeId};
use crate::fuse::abi::{LinkIn, MkdirIn, MknodIn, Rename2In, RenameIn};
use crate::fuse::args::Args;
use crate::fuse::io::Writer;
use crate::fuse::reply::{entry_out, reply_ok};
use crate::fuse::server::{Request, Server};

/// RENAME2 flags the protocol passes through (RENAME_NOREPLACE, RENAME_EXCHANGE,
/// RENAME_WHITEOUT).
const RENAME_FLAGS: u32 = libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE | libc::RENAME_WHITEOUT;

impl<F: FileSystem> Server<F> {
    pub(crate) fn reply_entry<W: Writer>(
        &self,
        w: &mut W,
        unique: u64,
        entry: &Entry,
    ) -> io::Result<usize> {
        let out = entry_out(entry);
        let result = reply_ok(w, unique, &[out.as_bytes()]);
        if result.is_err() && entry.inode != NodeId::NONE {
            // The guest will never learn this node id: give the reference back.
            self.fs.forget(entry.inode, 1);
        }
        result
    }

    pub(crate) fn do_lookup<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let name = args.final_name()?;
        let entry = self.fs.lookup(&req.ctx, req.node(), name)?;
        self.reply_entry(w, req.unique, &entry)
    }

    pub(crate) fn do_mkdir<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let mkdir: MkdirIn = args.obj()?;
        let name = args.final_name()?;
        let entry = self
            .fs
            .mkdir(&req.ctx, req.node(), name, mkdir.mode, mkdir.umask)?;
        self.reply_entry(w, req.unique, &entry)
    }

    pub(crate) fn do_mknod<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let mknod: MknodIn = args.obj()?;
        let name = args.final_name()?;
        let entry = self.fs.mknod(
            &req.ctx,
            req.node(),
            name,
            mknod.mode,
            mknod.rdev,
            mknod.umask,
        )?;
        self.reply_entry(w, req.unique, &entry)
    }

    pub(crate) fn do_symlink<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let name = args.name()?;
        let target = args.final_cstr()?;
        if target.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        let entry = self.fs.symlink(&req.ctx, target, req.node(), name)?;
        self.reply_entry(w, req.unique, &entry)
    }

    pub(crate) fn do_link<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let link: LinkIn = args.obj()?;
        let name = args.final_name()?;
        let entry = self
            .fs
            .link(&req.ctx, NodeId::from_raw(link.oldnodeid), req.node(), name)?;
        self.reply_entry(w, req.unique, &entry)
    }

    pub(crate) fn do_unlink<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let name = args.final_name()?;
        self.fs.unlink(&req.ctx, req.node(), name)?;
        reply_ok(w, req.unique, &[])
    }

    pub(crate) fn do_rmdir<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let name = args.final_name()?;
        self.fs.rmdir(&req.ctx, req.node(), name)?;
        reply_ok(w, req.unique, &[])
    }

    pub(crate) fn do_rename<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let rename: RenameIn = args.obj()?;
        self.rename_names(req, args, NodeId::from_raw(rename.newdir), 0, w)
    }

    pub(crate) fn do_rename2<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let rename: Rename2In = args.obj()?;
        if rename.flags & !RENAME_FLAGS != 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.rename_names(req, args, NodeId::from_raw(rename.newdir), rename.flags, w)
    }

    fn rename_names<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        new_dir: NodeId,
        flags: u32,
        w: &mut W,
    ) -> io::Result<usize> {
        let old_name = args.name()?;
        let new_name = args.final_name()?;
        self.fs
            .rename(&req.ctx, req.node(), old_name, new_dir, new_name, flags)?;
        reply_ok(w, req.unique, &[])
    }

    pub(crate) fn do_readlink<W: Writer>(&self, req: &Request, w: &mut W) -> io::Result<usize> {
        let target = self.fs.readlink(&req.ctx, req.node())?;
        reply_ok(w, req.unique, &[&target])
    }
}
