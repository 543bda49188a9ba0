//! Session-wide requests: INIT, DESTROY, FORGET, STATFS, SYNCFS.

use std::io;
use std::sync::atomic::Ordering;

use log::info;
use zerocopy::{FromZeros, IntoBytes};

use crate::epoch::OwnedSyncTicket;
use crate::filesystem::{FileSystem, InitOptions, NodeId};
use crate::fuse::abi::{
    init_flags as flags, BatchForgetIn, ForgetIn, ForgetOne, InitIn, InitOut, StatfsOut,
    KERNEL_MINOR_VERSION, KERNEL_VERSION,
};
use crate::fuse::args::Args;
use crate::fuse::io::Writer;
use crate::fuse::reply::{kstatfs, low_u32, reply_ok};
use crate::fuse::server::{Request, Server};
use crate::fuse::trace::TraceStamp;

/// Page size the guest uses to count FUSE_MAX_PAGES.
const PAGE_SIZE: u32 = 4096;

/// Flags the daemon always offers when the guest supports them.
///
/// Not offered on purpose:
///
/// * `POSIX_LOCKS` and `FLOCK_LOCKS`. Without them the guest kernel keeps
///   fcntl record locks and flock locks itself, in its own lock manager,
///   exactly as for a local filesystem: locks conflict between guest
///   processes, F_GETLK reports the holder's pid, deadlocks are detected
///   (EDEADLK), a blocked F_SETLKW or flock can be interrupted by a signal
///   (EINTR), and locks go away when their holder closes the file or dies.
///   Forwarding them would lose the last three: virtio-fs guests never send
///   INTERRUPT, so a SETLKW waiting in the daemon could neither be
///   interrupted nor be told its process died, and each one would pin a
///   worker thread until some other request released the lock. The cost:
///   locks taken in the guest are not seen by host processes or by other
///   guests sharing the same directory.
/// * `POSIX_ACL` unless `--posix-acl`, `HANDLE_KILLPRIV_V2` unless
///   `--killpriv-v2` (virtiofsd's default: without it the guest kernel
///   clears setuid/setgid bits itself with a SETATTR of the mode),
///   `DO_READDIRPLUS`/`READDIRPLUS_AUTO` with `--no-readdirplus`,
///   `DIRECT_IO_ALLOW_MMAP` unless `--allow-mmap` (see `offered_flags`).
/// * `HANDLE_KILLPRIV` (v1): v2 replaces it.
const OFFERED: u64 = flags::ASYNC_READ
    | flags::ATOMIC_O_TRUNC
    | flags::EXPORT_SUPPORT
    | flags::BIG_WRITES
    | flags::AUTO_INVAL_DATA
    | flags::ASYNC_DIO
    | flags::PARALLEL_DIROPS
    | flags::MAX_PAGES
    | flags::CACHE_SYMLINKS
    | flags::DONT_MASK
    | flags::SETXATTR_EXT
    | flags::CREATE_SUPP_GROUP
    | flags::INIT_EXT;

impl<F: FileSystem> Server<F> {
    pub(crate) fn do_init<W: Writer>(
        &self,
        req: &Request,
        args: Args<'_>,
        w: &mut W,
    ) -> io::Result<usize> {
        let init = read_init_in(args.rest())?;
        if init.major != KERNEL_VERSION {
            // A newer major is answered with ours so the guest can retry;
            // an older one is not supported.
            if init.major < KERNEL_VERSION {
                return Err(io::Error::from_raw_os_error(libc::EPROTO));
            }
        }
        let mut guest = u64::from(init.flags);
        if guest & flags::INIT_EXT != 0 {
            guest |= u64::from(init.flags2) << 32;
        }
        let agreed = guest & self.offered_flags();
        self.negotiated.store(agreed, Ordering::Release);
        self.fs.init(InitOptions {
            readdirplus: agreed & flags::DO_READDIRPLUS != 0,
            writeback: agreed & flags::WRITEBACK_CACHE != 0,
            dont_mask: agreed & flags::DONT_MASK != 0,
        })?;
        let max_write = self.options.max_write;
        let out = InitOut {
            major: KERNEL_VERSION,
            minor: KERNEL_MINOR_VERSION.min(init.minor),
            max_readahead: init.max_readahead,
            flags: low_u32(agreed),
            max_background: 256,
            congestion_threshold: 192,
            max_write,
            time_gran: 1,
            max_pages: u16::try_from(max_write / PAGE_SIZE).unwrap_or(u16::MAX),
            flags2: low_u32(agreed >> 32),
            ..Default::default()
        };
        self.initialized.store(true, Ordering::Release);
        info!(
            "FUSE session initialized: protocol 7.{}, flags {agreed:#x}, max_write {max_write}",
            out.minor
        );
        reply_ok(w, req.unique, &[out.as_bytes()])
    }

    /// Whether INIT agreed on `flag`.
    pub(crate) fn negotiated(&self, flag: u64) -> bool {
        self.negotiated.load(Ordering::Acquire) & flag != 0
    }

    /// Whether the guest agreed to FUSE_HANDLE_KILLPRIV_V2 (`--killpriv-v2`):
    /// only then do its KILL_SUIDGID flags on WRITE, OPEN, CREATE and
    /// SETATTR make the daemon clear setuid/setgid.
    pub(crate) fn handles_killpriv(&self) -> bool {
        self.negotiated(flags::HANDLE_KILLPRIV_V2)
    }

    pub(crate) fn offered_flags(&self) -> u64 {
        let mut offered = OFFERED;
        if self.options.writeback {
            offered |= flags::WRITEBACK_CACHE;
        }
        if self.options.announce_submounts {
            offered |= flags::SUBMOUNTS;
        }
        if self.options.posix_acl {
            offered |= flags::POSIX_ACL;
        }
        if self.options.killpriv_v2 {
            offered |= flags::HANDLE_KILLPRIV_V2;
        }
        if self.options.readdirplus {
            offered |= flags::DO_READDIRPLUS | flags::READDIRPLUS_AUTO;
        }
        if self.options.allow_mmap {
            offered |= flags::DIRECT_IO_ALLOW_MMAP;
        }
        offered
    }

    pub(crate) fn do_destroy<W: Writer>(&self, req: &Request, w: &mut W) -> io::Result<usize> {
        self.fs.destroy();
        self.initialized.store(false, Ordering::Release);
        info!("FUSE session destroyed");
        reply_ok(w, req.unique, &[])
    }

    pub(crate) fn do_forget(&self, nodeid: u64, mut args: Args<'_>) {
        if let Ok(forget) = args.obj::<ForgetIn>() {
            self.fs.forget(NodeId::from_raw(nodeid), forget.nlookup);
        }
    }

    pub(crate) fn do_batch_forget(&self, mut args: Args<'_>) {
        let Ok(batch) = args.obj::<BatchForgetIn>() else {
            return;
        };
        for _ in 0..batch.count {
            match args.obj::<ForgetOne>() {
                Ok(one) => self.fs.forget(NodeId::from_raw(one.nodeid), one.nlookup),
                Err(_) => return,
            }
        }
    }

    pub(crate) fn do_statfs<W: Writer>(&self, req: &Request, w: &mut W) -> io::Result<usize> {
        #[cfg(feature = "test-hooks")]
        self.options.hooks.before_statfs()?;
        let st = self.fs.statfs(&req.ctx, req.node())?;
        let out = StatfsOut { st: kstatfs(&st) };
        reply_ok(w, req.unique, &[out.as_bytes()])
    }

    /// SYNCFS: wait until every request admitted before it has left its
    /// epoch, flush what those requests changed, then reply.
    pub(crate) fn do_syncfs<W: Writer>(
        &self,
        req: &Request,
        w: &mut W,
        ticket: Option<OwnedSyncTicket>,
        stamp: Option<&mut TraceStamp>,
    ) -> io::Result<usize> {
        self.durability.sync(
            &self.fs,
            &req.ctx,
            req.nodeid,
            ticket,
            stamp,
            #[cfg(feature = "test-hooks")]
            &self.options.hooks,
        )?;
        reply_ok(w, req.unique, &[])
    }
}

/// Size of `InitIn` as guests before protocol 7.36 send it (no flags2).
const INIT_IN_COMPAT_LEN: usize = 16;

/// Decodes INIT's argument, accepting the short pre-7.36 layout.
fn read_init_in(bytes: &[u8]) -> io::Result<InitIn> {
    if bytes.len() < INIT_IN_COMPAT_LEN {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut init = InitIn::new_zeroed();
    let dst = init.as_mut_bytes();
    let len = bytes.len().min(dst.len());
    dst[..len].copy_from_slice(&bytes[..len]);
    Ok(init)
}
