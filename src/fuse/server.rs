//! The protocol server: reads one request, dispatches it to the filesystem,
//! writes one reply.
//!
//! `Server::handle` is the only entry point. It takes the request header as
//! copied once at intake (see [`super::intake`]), skips those bytes in the
//! request, validates the header against the bytes actually present, copies the (small) argument block into
//! a per-worker scratch buffer, and calls the handler for the opcode. WRITE
//! is the exception: only its fixed header is copied, the payload stays in
//! the reader and goes to the host file in one `pwritev`.

use std::io;
use std::mem::size_of;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use log::{debug, trace};
use zerocopy::{FromZeros, IntoBytes};

use super::abi::{InHeader, Opcode, WriteIn};
use super::args::{guest_len, Args};
use super::durability::admission::{role_fits, Admission, Role};
use super::durability::stats::SyncfsReport;
use super::durability::trace::{EpochTrace, TraceStamp};
use super::durability::{Durability, SyncMode};
use super::intake::{RequestHead, HEADER_LEN};
use super::io::{Reader, Writer};
use super::reply::{reply_error, OUT_HEADER_LEN};
use crate::epoch::EpochTracker;
use crate::filesystem::{errno_of, Context, FileSystem, NodeId};

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
    /// How SYNCFS makes the covered epochs durable.
    pub sync_mode: SyncMode,
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
            sync_mode: SyncMode::Targeted,
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

impl Request {
    /// The node the request is about, as the filesystem names it.
    pub fn node(&self) -> NodeId {
        NodeId::from_raw(self.nodeid)
    }
}

/// The FUSE protocol server over one filesystem: it decodes, dispatches and
/// replies; what SYNCFS and FSYNC owe the guest lives in its [`Durability`].
pub struct Server<F> {
    pub(super) fs: F,
    pub(super) options: ServerOptions,
    pub(super) initialized: AtomicBool,
    /// INIT flags both sides agreed on.
    pub(super) negotiated: AtomicU64,
    pub(super) durability: Durability,
}

impl<F: FileSystem> Server<F> {
    /// A server for `fs`.
    pub fn new(fs: F, options: ServerOptions) -> Self {
        Server {
            fs,
            durability: Durability::new(options.epoch_shards, options.sync_mode),
            options,
            initialized: AtomicBool::new(false),
            negotiated: AtomicU64::new(0),
        }
    }

    /// Records every mutating request and SYNCFS in `trace`.
    pub fn with_trace(mut self, trace: EpochTrace) -> Self {
        self.durability.set_trace(trace);
        self
    }

    /// SYNCFS and epoch counters, for the log.
    pub fn syncfs_report(&self) -> SyncfsReport {
        self.durability.report()
    }

    /// The SYNCFS epoch tracker (for statistics).
    pub fn epochs(&self) -> &EpochTracker {
        self.durability.epochs()
    }

    /// The filesystem behind the server.
    pub fn filesystem(&self) -> &F {
        &self.fs
    }

    /// Admits the request `head`, just popped from the request queue served
    /// by `shard`: what it owes the SYNCFS epochs (see [`Durability`]).
    pub fn admit(&self, head: &RequestHead, shard: usize) -> Admission {
        self.durability.admit(head, shard)
    }

    /// Admits a request popped from the high-priority queue: FORGET,
    /// BATCH_FORGET and INTERRUPT owe the epochs nothing; anything else is
    /// refused there (a guest that sends a WRITE or a SYNCFS on that queue
    /// would otherwise make the FORGETs behind it wait).
    pub fn admit_high_priority(&self, head: &RequestHead) -> Admission {
        if head.is_high_priority() {
            return Admission::FREE;
        }
        Admission::new(Role::Refused, None)
    }

    /// Serves one request read from `r`, replying into `w`. `head` is the
    /// request's header as copied when it was taken off its queue (the
    /// header bytes at the front of `r` are skipped, never read again) and
    /// `admission` what [`Server::admit`] decided from that same copy.
    pub fn handle<R: Reader, W: Writer>(
        &self,
        head: &RequestHead,
        r: &mut R,
        w: &mut W,
        scratch: &mut Scratch,
        admission: Admission,
    ) -> Result<Outcome, ServerError> {
        let mut skipped = [0u8; HEADER_LEN];
        r.read_exact(&mut skipped)
            .map_err(ServerError::ShortHeader)?;
        let header = *head.header();
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
        let Admission {
            role, mut stamp, ..
        } = admission;
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
        self.durability.trace_answer(stamp.as_ref(), errno);
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
            crate::warn_limited!("dropping malformed FORGET (unique {})", header.unique);
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
        if matches!(role, Role::Refused) || !role_fits(&role, op) {
            debug!(
                "refusing {op:?} (unique {}): not admitted as one",
                header.unique
            );
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
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
                epoch: None,
            },
        };
        if let Role::Member(guard, _) = &role {
            req.ctx.epoch = Some(guard.epoch());
        }
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
                guard.touch_written(req.nodeid, u64::from(write_in.size));
            }
            mark_done(stamp);
            return written;
        }
        let args = read_args(header, r, &mut scratch.args)?;
        let (args, ext) = super::ops::extensions::split_extensions(args, header.total_extlen)?;
        req.ctx.supp_group = super::ops::extensions::supp_group(ext)?;
        let req = &req;
        match role {
            Role::Sync(ticket) => self.do_syncfs(req, w, ticket, stamp),
            Role::Member(guard, _flight) => {
                let result = self.dispatch(op, req, Args::new(args), w);
                if result.is_ok() {
                    self.durability.record(&guard, op, req.nodeid, args);
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
            // Refused above.
            Role::Refused => Err(io::Error::from_raw_os_error(libc::EINVAL)),
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
    let total = guest_len(header.len)?;
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
    if guest_len(write_in.size)? > len - size_of::<WriteIn>() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(write_in)
}
