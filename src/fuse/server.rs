//! The protocol server: reads one request, dispatches it to the filesystem,
//! writes one reply.
//!
//! `Server::handle` is the only entry point. It validates the request header
//! against the bytes actually present, copies the (small) argument block into
//! a per-worker scratch buffer, and calls the handler for the opcode. WRITE
//! is the exception: only its fixed header is copied, the payload stays in
//! the reader and goes to the host file in one `pwritev`.

use std::io;
use std::mem::size_of;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use log::{debug, trace, warn};
use zerocopy::{FromZeros, IntoBytes};

use super::abi::{InHeader, Opcode, WriteIn};
use super::admission::{Admission, Role};
use super::args::Args;
use super::io::{Reader, Writer};
use super::reply::{reply_error, OUT_HEADER_LEN};
use super::syncfs_stats::{SyncfsCounters, SyncfsReport};
use super::trace::{EpochTrace, TraceStamp};
use crate::epoch::{EpochGuard, EpochTracker, InodeFlights, TrackerConfig, TrackerRef};
use crate::filesystem::{errno_of, Context, FileSystem};
use std::sync::Arc;

/// Largest argument block accepted (names, symlink targets, xattr values).
/// WRITE payloads do not count: they are never copied.
pub const MAX_ARGS_LEN: usize = 128 * 1024;

/// Settings the server negotiates with the guest.
#[derive(Debug, Clone, Copy)]
pub struct ServerOptions {
    /// Largest READ/WRITE payload offered at INIT.
    pub max_write: u32,
    /// Offer FUSE_WRITEBACK_CACHE.
    pub writeback: bool,
    /// Offer FUSE_SUBMOUNTS (announce submounts).
    pub announce_submounts: bool,
    /// Offer FUSE_POSIX_ACL (the guest enforces ACLs read via xattrs).
    pub posix_acl: bool,
    /// Offer FUSE_HANDLE_KILLPRIV_V2 (the daemon clears setuid/setgid as
    /// the guest's WRITE, OPEN and SETATTR flags ask).
    pub killpriv_v2: bool,
    /// Offer READDIRPLUS (FUSE_DO_READDIRPLUS and FUSE_READDIRPLUS_AUTO).
    pub readdirplus: bool,
    /// Offer FUSE_DIRECT_IO_ALLOW_MMAP.
    pub allow_mmap: bool,
    /// SYNCFS always calls the filesystem's whole-filesystem sync instead of
    /// flushing the inodes the guest changed.
    pub syncfs_host: bool,
    /// SYNCFS waits for a moment with no mutation in flight (a full drain)
    /// instead of for exactly the earlier epochs: a benchmark baseline.
    pub syncfs_drain: bool,
    /// Shards of the epoch tracker (one per queue that admits requests).
    pub epoch_shards: usize,
    /// Injected delays and faults (test builds only).
    #[cfg(feature = "test-hooks")]
    pub hooks: super::test_hooks::TestHooks,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_write: 1 << 20,
            writeback: false,
            announce_submounts: false,
            posix_acl: false,
            killpriv_v2: false,
            readdirplus: true,
            allow_mmap: false,
            syncfs_host: false,
            syncfs_drain: false,
            epoch_shards: 1,
            #[cfg(feature = "test-hooks")]
            hooks: Default::default(),
        }
    }
}

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A reply of this many bytes was written.
    Replied(usize),
    /// The opcode has no reply (FORGET, BATCH_FORGET, INTERRUPT).
    NoReply,
}

/// A request that cannot be answered at all.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Fewer bytes than a request header.
    #[error("request shorter than the FUSE header")]
    ShortHeader(#[source] io::Error),
    /// The guest's reply buffer cannot hold even an error reply.
    #[error("reply buffer of {capacity} bytes cannot hold a reply header (unique {unique})")]
    NoRoomForReply {
        /// Size of the writable part of the chain.
        capacity: usize,
        /// The request's unique id.
        unique: u64,
    },
}

/// Per-worker memory the server reuses for every request.
#[derive(Default)]
pub struct Scratch {
    args: Vec<u8>,
}

/// One decoded request header, as handlers see it.
pub(crate) struct Request {
    pub unique: u64,
    pub nodeid: u64,
    pub ctx: Context,
}

/// The FUSE protocol server over one filesystem.
pub struct Server<F> {
    pub(crate) fs: F,
    pub(crate) options: ServerOptions,
    pub(crate) initialized: AtomicBool,
    /// INIT flags both sides agreed on.
    pub(crate) negotiated: AtomicU64,
    /// SYNCFS epochs.
    pub(crate) epochs: Arc<EpochTracker>,
    /// In-flight mutations per inode, for FSYNC.
    pub(crate) flights: Arc<InodeFlights>,
    /// `--trace-epochs` output, if enabled.
    pub(crate) trace: Option<EpochTrace>,
    /// What SYNCFS flushed.
    pub(crate) syncfs_stats: SyncfsCounters,
}

impl<F: FileSystem> Server<F> {
    /// A server for `fs`.
    pub fn new(fs: F, options: ServerOptions) -> Self {
        let shards = options.epoch_shards.max(1);
        let epochs = EpochTracker::new(TrackerConfig::new(shards))
            .unwrap_or_else(|_| unreachable!("at least one shard"));
        Server {
            fs,
            options,
            initialized: AtomicBool::new(false),
            negotiated: AtomicU64::new(0),
            epochs: Arc::new(epochs),
            flights: Arc::new(InodeFlights::new()),
            trace: None,
            syncfs_stats: SyncfsCounters::default(),
        }
    }

    /// Records every mutating request and SYNCFS in `trace`.
    pub fn with_trace(mut self, trace: EpochTrace) -> Self {
        self.trace = Some(trace);
        self
    }

    /// SYNCFS and epoch counters, for the log.
    pub fn syncfs_report(&self) -> SyncfsReport {
        self.syncfs_stats.snapshot(self.epochs.stats())
    }

    /// The SYNCFS epoch tracker (for statistics).
    pub fn epochs(&self) -> &EpochTracker {
        &self.epochs
    }

    /// The filesystem behind the server.
    pub fn filesystem(&self) -> &F {
        &self.fs
    }

    /// Serves one request read from `r`, replying into `w`. `admission` is
    /// what [`Server::admit`] decided when the request was popped.
    pub fn handle<R: Reader, W: Writer>(
        &self,
        r: &mut R,
        w: &mut W,
        scratch: &mut Scratch,
        admission: Admission,
    ) -> Result<Outcome, ServerError> {
        let mut header = InHeader::new_zeroed();
        r.read_exact(header.as_mut_bytes())
            .map_err(ServerError::ShortHeader)?;
        let opcode = Opcode::try_from(header.opcode);
        trace!(
            "request {:?} unique {} nodeid {} len {}",
            opcode.as_ref().ok(),
            header.unique,
            header.nodeid,
            header.len
        );
        if matches!(
            opcode,
            Ok(Opcode::Forget | Opcode::BatchForget | Opcode::Interrupt)
        ) {
            self.handle_no_reply(&header, r, scratch);
            return Ok(Outcome::NoReply);
        }
        let Admission { role, mut stamp } = admission;
        if let Some(stamp) = stamp.as_mut() {
            stamp.executed = Some(std::time::Instant::now());
        }
        let result = match opcode {
            Ok(op) => self.handle_with_reply(op, &header, r, w, scratch, role, stamp.as_mut()),
            Err(ref unknown) => {
                debug!("{unknown}");
                Err(io::Error::from_raw_os_error(libc::ENOSYS))
            }
        };
        let errno = result.as_ref().err().map_or(0, errno_of);
        let outcome = match result {
            Ok(len) => Ok(Outcome::Replied(len)),
            Err(err) => self.send_error(w, &header, opcode.as_ref().ok().copied(), &err),
        };
        if let (Some(trace), Some(stamp)) = (&self.trace, &stamp) {
            trace.record(stamp, errno);
        }
        outcome
    }

    fn send_error<W: Writer>(
        &self,
        w: &mut W,
        header: &InHeader,
        opcode: Option<Opcode>,
        err: &io::Error,
    ) -> Result<Outcome, ServerError> {
        let errno = errno_of(err);
        if errno != libc::ENOENT && errno != libc::ENOSYS {
            debug!("{:?} (unique {}) failed: {err}", opcode, header.unique);
        }
        if w.capacity() < OUT_HEADER_LEN {
            return Err(ServerError::NoRoomForReply {
                capacity: w.capacity(),
                unique: header.unique,
            });
        }
        reply_error(w, header.unique, errno)
            .map(Outcome::Replied)
            .map_err(|_| ServerError::NoRoomForReply {
                capacity: w.capacity(),
                unique: header.unique,
            })
    }

    fn handle_no_reply<R: Reader>(&self, header: &InHeader, r: &mut R, scratch: &mut Scratch) {
        let Ok(args) = read_args(header, r, &mut scratch.args) else {
            warn!("dropping malformed FORGET (unique {})", header.unique);
            return;
        };
        match Opcode::try_from(header.opcode) {
            Ok(Opcode::Forget) => self.do_forget(header.nodeid, Args::new(args)),
            Ok(Opcode::BatchForget) => self.do_batch_forget(Args::new(args)),
            _ => {}
        }
    }

    /// Runs a request that has a reply; a member leaves its epoch when this
    /// returns.
    #[allow(clippy::too_many_arguments)]
    fn handle_with_reply<R: Reader, W: Writer>(
        &self,
        op: Opcode,
        header: &InHeader,
        r: &mut R,
        w: &mut W,
        scratch: &mut Scratch,
        role: Role,
        stamp: Option<&mut TraceStamp>,
    ) -> io::Result<usize> {
        if op != Opcode::Init && !self.initialized.load(Ordering::Acquire) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let mut req = Request {
            unique: header.unique,
            nodeid: header.nodeid,
            ctx: Context {
                uid: header.uid,
                gid: header.gid,
                pid: header.pid,
                supp_group: None,
            },
        };
        let mark_done = |stamp: Option<&mut TraceStamp>| {
            if let Some(stamp) = stamp {
                stamp.done = Some(std::time::Instant::now());
            }
        };
        if op == Opcode::Write {
            let write_in = read_write_header(header, r)?;
            let written = self.do_write(&req, &write_in, r, w);
            #[cfg(feature = "test-hooks")]
            self.options.hooks.after_write(write_in.offset);
            if let (Ok(_), Role::Member(guard, _)) = (&written, &role) {
                guard.touch(req.nodeid);
            }
            mark_done(stamp);
            return written;
        }
        let args = read_args(header, r, &mut scratch.args)?;
        let (args, ext) = super::ops::ext::split_extensions(args, header.total_extlen)?;
        req.ctx.supp_group = super::ops::ext::supp_group(ext)?;
        let req = &req;
        match role {
            Role::Sync(ticket) => self.do_syncfs(req, w, ticket, stamp),
            Role::Member(guard, _flight) => {
                let result = self.dispatch(op, req, Args::new(args), w);
                if result.is_ok() {
                    record_changes(&guard, op, req.nodeid, args);
                }
                mark_done(stamp);
                result
            }
            Role::Fsync(earlier) => {
                if let Some(earlier) = earlier {
                    earlier.wait();
                }
                self.dispatch(op, req, Args::new(args), w)
            }
            Role::Free => self.dispatch(op, req, Args::new(args), w),
        }
    }

    fn dispatch<W: Writer>(
        &self,
        op: Opcode,
        req: &Request,
        args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        match op {
            Opcode::Init => self.do_init(req, args, w),
            Opcode::Destroy => self.do_destroy(req, w),
            Opcode::Lookup => self.do_lookup(req, args, w),
            Opcode::Getattr => self.do_getattr(req, args, w),
            Opcode::Statx => self.do_statx(req, args, w),
            Opcode::Setattr => self.do_setattr(req, args, w),
            Opcode::Readlink => self.do_readlink(req, w),
            Opcode::Symlink => self.do_symlink(req, args, w),
            Opcode::Mknod => self.do_mknod(req, args, w),
            Opcode::Mkdir => self.do_mkdir(req, args, w),
            Opcode::Unlink => self.do_unlink(req, args, w),
            Opcode::Rmdir => self.do_rmdir(req, args, w),
            Opcode::Rename => self.do_rename(req, args, w),
            Opcode::Rename2 => self.do_rename2(req, args, w),
            Opcode::Link => self.do_link(req, args, w),
            Opcode::Open => self.do_open(req, args, w),
            Opcode::Create => self.do_create(req, args, w),
            Opcode::Tmpfile => self.do_tmpfile(req, args, w),
            Opcode::Read => self.do_read(req, args, w),
            Opcode::Flush => self.do_flush(req, args, w),
            Opcode::Release => self.do_release(req, args, w),
            Opcode::Fsync => self.do_fsync(req, args, w, false),
            Opcode::Opendir => self.do_opendir(req, args, w),
            Opcode::Readdir => self.do_readdir(req, args, w, false),
            Opcode::Readdirplus => self.do_readdir(req, args, w, true),
            Opcode::Releasedir => self.do_releasedir(req, args, w),
            Opcode::Fsyncdir => self.do_fsync(req, args, w, true),
            Opcode::Statfs => self.do_statfs(req, w),
            Opcode::Syncfs => self.do_syncfs(req, w, None, None),
            Opcode::Access => self.do_access(req, args, w),
            Opcode::Setxattr => self.do_setxattr(req, args, w),
            Opcode::Getxattr => self.do_getxattr(req, args, w),
            Opcode::Listxattr => self.do_listxattr(req, args, w),
            Opcode::Removexattr => self.do_removexattr(req, args, w),
            Opcode::Getlk => self.do_getlk(req, args, w),
            Opcode::Setlk => self.do_setlk(req, args, w, false),
            Opcode::Setlkw => self.do_setlk(req, args, w, true),
            Opcode::Fallocate => self.do_fallocate(req, args, w),
            Opcode::Lseek => self.do_lseek(req, args, w),
            Opcode::CopyFileRange => self.do_copy_file_range(req, args, w),
            Opcode::Ioctl => Err(io::Error::from_raw_os_error(libc::ENOTTY)),
            _ => Err(io::Error::from_raw_os_error(libc::ENOSYS)),
        }
    }
}

/// Number of argument bytes the header announces, checked against the bytes
/// the request really carries.
fn args_len<R: Reader>(header: &InHeader, r: &R) -> io::Result<usize> {
    let total = header.len as usize;
    match total.checked_sub(size_of::<InHeader>()) {
        Some(len) if len <= r.remaining_bytes() => Ok(len),
        _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    }
}

/// Copies the argument block into `buf` (reused between requests).
fn read_args<'b, R: Reader>(
    header: &InHeader,
    r: &mut R,
    buf: &'b mut Vec<u8>,
) -> io::Result<&'b [u8]> {
    let len = args_len(header, r)?;
    if len > MAX_ARGS_LEN {
        return Err(io::Error::from_raw_os_error(libc::E2BIG));
    }
    buf.resize(len, 0);
    r.read_exact(buf)?;
    Ok(buf)
}

/// Reads WRITE's fixed header and checks the payload is really there.
fn read_write_header<R: Reader>(header: &InHeader, r: &mut R) -> io::Result<WriteIn> {
    let len = args_len(header, r)?;
    let mut write_in = WriteIn::new_zeroed();
    if len < size_of::<WriteIn>() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    r.read_exact(write_in.as_mut_bytes())?;
    if write_in.size as usize > len - size_of::<WriteIn>() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(write_in)
}

/// Records in the request's epoch which inodes a successful mutating request
/// changed, so SYNCFS can flush exactly those.
fn record_changes<T: TrackerRef>(guard: &EpochGuard<T>, op: Opcode, nodeid: u64, args: &[u8]) {
    let u64_at = |offset: usize| {
        args.get(offset..offset + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    match op {
        Opcode::Rename | Opcode::Rename2 => {
            guard.touch_dir(nodeid);
            // RenameIn and Rename2In start with the new directory's node id.
            if let Some(new_dir) = u64_at(0) {
                guard.touch_dir(new_dir);
            }
        }
        Opcode::Link => {
            guard.touch_dir(nodeid);
            // LinkIn is the node id of the inode gaining a link.
            if let Some(inode) = u64_at(0) {
                guard.touch(inode);
            }
        }
        Opcode::Create
        | Opcode::Mknod
        | Opcode::Mkdir
        | Opcode::Symlink
        | Opcode::Unlink
        | Opcode::Rmdir
        | Opcode::Tmpfile => guard.touch_dir(nodeid),
        Opcode::Open => {
            // OpenIn starts with the open flags.
            let flags = args
                .get(0..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes);
            if flags.is_some_and(|f| f & libc::O_TRUNC as u32 != 0) {
                guard.touch(nodeid);
            }
        }
        Opcode::CopyFileRange => {
            // CopyFileRangeIn: fh_in, off_in, nodeid_out, ...
            if let Some(out) = u64_at(16) {
                guard.touch(out);
            }
        }
        _ => guard.touch(nodeid),
    }
}
