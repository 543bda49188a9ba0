//! Open-file requests: OPEN, CREATE, TMPFILE, READ, WRITE, FLUSH, RELEASE,
//! FSYNC and FSYNCDIR.

use std::io;

use zerocopy::IntoBytes;

use crate::filesystem::{
    FileSystem, HandleId, NodeId, OpenOptions, SetAttr, SetAttrValid, ZeroCopyReader,
    ZeroCopyWriter,
};
use crate::fuse::abi::{
    fopen, fsync_flags, open_in_flags, release_flags, write_flags, CreateIn, FlushIn, FsyncIn,
    OpenIn, OpenOut, ReadIn, ReleaseIn, WriteIn, WriteOut,
};
use crate::fuse::args::Args;
use crate::fuse::io::{Reader, Writer};
use crate::fuse::reply::{entry_out, finish, reply_ok, wire_len, OUT_HEADER_LEN};
use crate::fuse::server::{Request, Server};

/// Whether an OPEN or CREATE asks to clear setuid/setgid: a truncating
/// open by a caller without CAP_FSETID (FUSE_HANDLE_KILLPRIV_V2).
fn kills_privs(flags: u32, open_flags: u32) -> bool {
    flags & libc::O_TRUNC as u32 != 0 && open_flags & open_in_flags::OPEN_KILL_SUIDGID != 0
}

fn open_out(handle: HandleId, opts: OpenOptions) -> OpenOut {
    let mut open_flags = 0;
    for (on, bit) in [
        (opts.direct_io, fopen::DIRECT_IO),
        (opts.keep_cache, fopen::KEEP_CACHE),
        (opts.cache_dir, fopen::CACHE_DIR),
        (opts.nonseekable, fopen::NONSEEKABLE),
        (opts.parallel_direct_writes, fopen::PARALLEL_DIRECT_WRITES),
    ] {
        if on {
            open_flags |= bit;
        }
    }
    OpenOut {
        fh: handle.get(),
        open_flags,
        ..Default::default()
    }
}

impl<F: FileSystem> Server<F> {
    pub(crate) fn do_open<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let open: OpenIn = args.obj()?;
        let (handle, opts) = self.fs.open(&req.ctx, req.node(), open.flags)?;
        if self.handles_killpriv() && kills_privs(open.flags, open.open_flags) {
            self.kill_privs_or_release(req, req.node(), handle)?;
        }
        reply_ok(w, req.unique, &[open_out(handle, opts).as_bytes()])
    }

    /// Clears setuid/setgid of a file just opened with `O_TRUNC` by a
    /// caller the guest says is unprivileged (FUSE_OPEN_KILL_SUIDGID); on
    /// failure the handle is released, as the guest will never use it.
    fn kill_privs_or_release(
        &self,
        req: &Request,
        inode: NodeId,
        handle: HandleId,
    ) -> io::Result<()> {
        let kill = SetAttr {
            valid: SetAttrValid {
                kill_suidgid: true,
                ..SetAttrValid::default()
            },
            ..SetAttr::default()
        };
        if let Err(e) = self.fs.setattr(&req.ctx, inode, &kill, Some(handle)) {
            let _ = self.fs.release(&req.ctx, inode, handle, false, None);
            return Err(e);
        }
        Ok(())
    }

    pub(crate) fn do_opendir<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let open: OpenIn = args.obj()?;
        let (handle, opts) = self.fs.opendir(&req.ctx, req.node(), open.flags)?;
        reply_ok(w, req.unique, &[open_out(handle, opts).as_bytes()])
    }

    pub(crate) fn do_create<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let create: CreateIn = args.obj()?;
        let name = args.final_name()?;
        let (entry, handle, opts) = self.fs.create(
            &req.ctx,
            req.node(),
            name,
            create.mode,
            create.flags,
            create.umask,
        )?;
        if self.handles_killpriv() && kills_privs(create.flags, create.open_flags) {
            if let Err(e) = self.kill_privs_or_release(req, entry.inode, handle) {
                self.fs.forget(entry.inode, 1);
                return Err(e);
            }
        }
        let entry = entry_out(&entry);
        let open = open_out(handle, opts);
        reply_ok(w, req.unique, &[entry.as_bytes(), open.as_bytes()])
    }

    pub(crate) fn do_tmpfile<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let create: CreateIn = args.obj()?;
        let (entry, handle, opts) = self.fs.tmpfile(
            &req.ctx,
            req.node(),
            create.mode,
            create.flags,
            create.umask,
        )?;
        let entry = entry_out(&entry);
        let open = open_out(handle, opts);
        reply_ok(w, req.unique, &[entry.as_bytes(), open.as_bytes()])
    }

    pub(crate) fn do_read<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let read: ReadIn = args.obj()?;
        if read.size > self.options.max_write {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        w.seek_to(OUT_HEADER_LEN)?;
        let room = u32::try_from(w.available_bytes()).unwrap_or(u32::MAX);
        let size = read.size.min(room);
        let dest: &mut dyn ZeroCopyWriter = w;
        self.fs.read(
            &req.ctx,
            req.node(),
            HandleId::from_raw(read.fh),
            dest,
            size,
            read.offset,
        )?;
        finish(w, req.unique)
    }

    pub(crate) fn do_write<R: Reader, W: Writer>(
        &self,
        req: &Request,
        write: &WriteIn,
        r: &mut R,
        w: &mut W,
    ) -> io::Result<usize> {
        if write.size > self.options.max_write {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let kill_priv =
            self.handles_killpriv() && write.write_flags & write_flags::WRITE_KILL_SUIDGID != 0;
        let src: &mut dyn ZeroCopyReader = r;
        let written = self.fs.write(
            &req.ctx,
            req.node(),
            HandleId::from_raw(write.fh),
            src,
            write.size,
            write.offset,
            kill_priv,
        )?;
        let out = WriteOut {
            size: wire_len(written)?,
            ..Default::default()
        };
        reply_ok(w, req.unique, &[out.as_bytes()])
    }

    pub(crate) fn do_flush<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let flush: FlushIn = args.obj()?;
        self.fs.flush(
            &req.ctx,
            req.node(),
            HandleId::from_raw(flush.fh),
            flush.lock_owner,
        )?;
        reply_ok(w, req.unique, &[])
    }

    pub(crate) fn do_release<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let release: ReleaseIn = args.obj()?;
        let flush = release.release_flags & release_flags::RELEASE_FLUSH != 0;
        let unlock = release.release_flags & release_flags::RELEASE_FLOCK_UNLOCK != 0;
        let owner = unlock.then_some(release.lock_owner);
        self.fs.release(
            &req.ctx,
            req.node(),
            HandleId::from_raw(release.fh),
            flush,
            owner,
        )?;
        reply_ok(w, req.unique, &[])
    }

    pub(crate) fn do_releasedir<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let release: ReleaseIn = args.obj()?;
        self.fs
            .releasedir(&req.ctx, req.node(), HandleId::from_raw(release.fh))?;
        reply_ok(w, req.unique, &[])
    }

    pub(crate) fn do_fsync<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
        dir: bool,
    ) -> io::Result<usize> {
        let fsync: FsyncIn = args.obj()?;
        let datasync = fsync.fsync_flags & fsync_flags::FSYNC_FDATASYNC != 0;
        if dir {
            self.fs
                .fsyncdir(&req.ctx, req.node(), HandleId::from_raw(fsync.fh), datasync)?;
        } else {
            self.fs
                .fsync(&req.ctx, req.node(), HandleId::from_raw(fsync.fh), datasync)?;
        }
        reply_ok(w, req.unique, &[])
    }
}
