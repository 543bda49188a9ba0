//! Durability: everything SYNCFS and FSYNC owe the guest, in one place.
//!
//! [`Durability`] owns the SYNCFS epoch tracker, the per-inode flights that
//! FSYNC waits on, the `--trace-epochs` output and the flush counters, and
//! exposes the three moments of a request's life that concern them:
//!
//! * [`Durability::admit`], when the chain is taken off its queue: a request
//!   that changes data or metadata joins the current epoch (and its inode's
//!   flight), a SYNCFS closes the epoch, an FSYNC marks what it must wait for
//!   ([`admission`]);
//! * [`Durability::record`], when a member's host call succeeded: which
//!   inodes it changed, so the flush can be targeted;
//! * [`Durability::sync`], for SYNCFS: wait for exactly the earlier epochs,
//!   then flush what they changed (or the whole host filesystem where that
//!   is unknown or asked for), count it, and commit.
//!
//! The protocol server holds one `Durability` and otherwise only dispatches
//! and replies. Deciding at pop time (and not when a worker gets to the
//! request) is what makes "arrived before the SYNCFS" mean queue order,
//! whatever the worker scheduling. Crash simulation and migration state
//! belong beside it.

pub(crate) mod admission;
pub(crate) mod flush_cost;
pub(crate) mod stats;
pub mod trace;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use zerocopy::FromBytes;

use self::admission::{joins_epoch, Admission, Role};
use self::flush_cost::{Backlog, FlushCostModel, FlushPath};
use self::stats::{Flush, SyncfsCounters, SyncfsReport};
use self::trace::{EpochTrace, TraceStamp};
use super::abi::{CopyFileRangeIn, LinkIn, Opcode, OpenIn, RenameIn};
use super::intake::RequestHead;
use crate::epoch::{
    EpochGuard, EpochTracker, InodeFlights, OwnedEpochGuard, OwnedSyncTicket, TrackerConfig,
    TrackerRef,
};
use crate::filesystem::{Context, FileSystem, NodeId};

/// How SYNCFS makes the covered epochs durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// fsync exactly the inodes the covered epochs changed (syncfs(2) when
    /// that set is unknown).
    #[default]
    Targeted,
    /// Always syncfs(2) on the host filesystem.
    Host,
    /// Benchmark baseline: wait for a moment with no mutation in flight at
    /// all (a full drain), then flush as `Targeted`.
    Drain,
}

/// The SYNCFS and FSYNC state of one FUSE session.
pub(crate) struct Durability {
    epochs: Arc<EpochTracker>,
    flights: Arc<InodeFlights>,
    trace: Option<EpochTrace>,
    stats: SyncfsCounters,
    mode: SyncMode,
    /// Measured costs of the targeted flush and of syncfs(2), to pick the
    /// cheaper one.
    cost: Mutex<FlushCostModel>,
    /// The session came from a migration source: what its epochs changed
    /// there is not known here, so the next SYNCFS flushes the whole host
    /// filesystem (syncfs(2)) and only later ones are targeted.
    unknown_history: AtomicBool,
}

impl Durability {
    /// Epochs sharded over `shards` queues (at least one).
    pub(crate) fn new(shards: usize, mode: SyncMode) -> Self {
        let epochs = EpochTracker::new(TrackerConfig::new(shards.max(1)))
            .unwrap_or_else(|_| unreachable!("at least one shard"));
        Durability {
            epochs: Arc::new(epochs),
            flights: Arc::new(InodeFlights::new()),
            trace: None,
            stats: SyncfsCounters::default(),
            mode,
            cost: Mutex::new(FlushCostModel::new()),
            unknown_history: AtomicBool::new(false),
        }
    }

    /// Migration destination: the writes of the session before the move
    /// are not in any dirty set here, so the next SYNCFS uses syncfs(2).
    pub(crate) fn forget_history(&self) {
        self.unknown_history.store(true, Ordering::Release);
    }

    /// Records every mutating request and SYNCFS in `trace`.
    pub(crate) fn set_trace(&mut self, trace: EpochTrace) {
        self.trace = Some(trace);
    }

    /// The epoch tracker (statistics).
    pub(crate) fn epochs(&self) -> &EpochTracker {
        &self.epochs
    }

    /// SYNCFS and epoch counters.
    pub(crate) fn report(&self) -> SyncfsReport {
        self.stats.snapshot(self.epochs.stats())
    }

    /// What the request `head`, popped from the request queue served by
    /// `shard`, owes the epochs.
    pub(crate) fn admit(&self, head: &RequestHead, shard: usize) -> Admission {
        let Ok(op) = head.opcode() else {
            return Admission::FREE;
        };
        let header = head.header();
        let role = match op {
            // Never block the queue: if every epoch slot is busy, the worker
            // closes the epoch itself.
            Opcode::Syncfs => Role::Sync(OwnedSyncTicket::try_close(self.epochs.clone())),
            op if joins_epoch(op) => Role::Member(
                OwnedEpochGuard::join(self.epochs.clone(), shard),
                self.flights.join(header.nodeid),
            ),
            // Not traced: FSYNC is not part of the SYNCFS guarantee.
            Opcode::Fsync | Opcode::Fsyncdir => {
                return Admission::new(Role::Fsync(self.flights.mark(header.nodeid)), None)
            }
            _ => return Admission::FREE,
        };
        let stamp = self.trace.as_ref().map(|_| {
            let mut stamp = TraceStamp::new(op, shard + 1, header.unique, header.nodeid);
            stamp.epoch = match &role {
                Role::Member(guard, _) => Some(guard.epoch()),
                Role::Sync(ticket) => ticket.as_ref().map(|t| t.epoch()),
                Role::Free | Role::Fsync(_) | Role::Refused => None,
            };
            stamp
        });
        // A SYNCFS with nothing earlier in flight only flushes (not in the
        // full-drain baseline, which waits for later requests too).
        let host_only = match &role {
            Role::Sync(Some(ticket)) => {
                self.mode != SyncMode::Drain && self.epochs.is_drained(ticket)
            }
            _ => false,
        };
        let admission = Admission::new(role, stamp);
        if host_only {
            admission.waiting_only_for_the_host()
        } else {
            admission
        }
    }

    /// Writes the trace line of a traced request, answered with `errno`.
    pub(crate) fn trace_answer(&self, stamp: Option<&TraceStamp>, errno: i32) {
        if let (Some(trace), Some(stamp)) = (&self.trace, stamp) {
            trace.record(stamp, errno);
        }
    }

    /// Records in a member's epoch which inodes its successful request
    /// changed (`op` on `nodeid` with argument bytes `args`), so that SYNCFS
    /// can flush exactly those.
    pub(crate) fn record<T: TrackerRef>(
        &self,
        guard: &EpochGuard<T>,
        op: Opcode,
        nodeid: u64,
        args: &[u8],
    ) {
        match op {
            Opcode::Rename | Opcode::Rename2 => {
                guard.touch_dir(nodeid);
                // RENAME2's argument starts like RENAME's: the new directory.
                if let Ok((arg, _)) = RenameIn::read_from_prefix(args) {
                    guard.touch_dir(arg.newdir);
                }
            }
            Opcode::Link => {
                guard.touch_dir(nodeid);
                if let Ok((arg, _)) = LinkIn::read_from_prefix(args) {
                    guard.touch(arg.oldnodeid);
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
                let truncates = OpenIn::read_from_prefix(args)
                    .is_ok_and(|(arg, _)| arg.flags & libc::O_TRUNC.unsigned_abs() != 0);
                if truncates {
                    guard.touch(nodeid);
                }
            }
            Opcode::CopyFileRange => {
                if let Ok((arg, _)) = CopyFileRangeIn::read_from_prefix(args) {
                    guard.touch(arg.nodeid_out);
                }
            }
            _ => guard.touch(nodeid),
        }
    }

    /// SYNCFS: waits until every request admitted before `ticket` (closed at
    /// admission; closed now when every epoch slot was busy then) has left
    /// its epoch, flushes what those requests changed through `fs`, counts
    /// it, and commits the ticket when the flush succeeded.
    pub(crate) fn sync<F: FileSystem>(
        &self,
        fs: &F,
        ctx: &Context,
        nodeid: u64,
        ticket: Option<OwnedSyncTicket>,
        stamp: Option<&mut TraceStamp>,
        #[cfg(feature = "test-hooks")] hooks: &super::test_hooks::TestHooks,
    ) -> io::Result<()> {
        let mut ticket = ticket.unwrap_or_else(|| OwnedSyncTicket::close(self.epochs.clone()));
        if self.mode == SyncMode::Drain {
            ticket = self.drain(ticket);
        }
        self.epochs.wait(&ticket);
        // The filesystem learns which epochs the flush covers.
        let ctx = Context {
            epoch: Some(ticket.epoch()),
            ..*ctx
        };
        let flushed = self.flush(fs, &ctx, nodeid, &ticket);
        #[cfg(feature = "test-hooks")]
        let flushed = flushed.and(hooks.syncfs_result());
        if let Some(stamp) = stamp {
            stamp.epoch = Some(ticket.epoch());
            stamp.done = Some(Instant::now());
        }
        flushed?;
        ticket.commit();
        Ok(())
    }

    fn cost(&self) -> std::sync::MutexGuard<'_, FlushCostModel> {
        self.cost.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The full-drain baseline: keeps closing epochs until one closes with
    /// nothing in flight, so it also waits for requests that came after it.
    fn drain(&self, mut ticket: OwnedSyncTicket) -> OwnedSyncTicket {
        loop {
            self.epochs.wait(&ticket);
            let next = OwnedSyncTicket::close(self.epochs.clone());
            // A ticket counts as a member of the epoch after its own.
            drop(ticket);
            if self.epochs.is_drained(&next) {
                return next;
            }
            ticket = next;
        }
    }

    /// Flushes what the epochs `ticket` covers changed (they are empty by
    /// now), or the whole host filesystem when that is not known.
    fn flush<F: FileSystem>(
        &self,
        fs: &F,
        ctx: &Context,
        nodeid: u64,
        ticket: &OwnedSyncTicket,
    ) -> io::Result<()> {
        let dirty = self.epochs.take_dirty(ticket);
        let inodes = dirty.files.len() + dirty.dirs.len();
        // Taken for this flush; given back below if it fails.
        let unknown_history = self.unknown_history.swap(false, Ordering::AcqRel);
        let host = self.mode == SyncMode::Host || unknown_history;
        // Read only when the cost model needs it (one pread of /proc/meminfo).
        let backlog = (!host)
            .then(|| fs.host_dirty_bytes())
            .flatten()
            .map(|host| Backlog {
                host,
                own: dirty.written,
            });
        let decision =
            (!host && dirty.complete && inodes > 0).then(|| self.cost().choose(inodes, backlog));
        let started = Instant::now();
        let (flush, result) = match decision {
            _ if host || !dirty.complete => (Flush::Host, fs.syncfs(ctx, NodeId::from_raw(nodeid))),
            Some(d) if d.path == FlushPath::Syncfs => (
                Flush::ByCost {
                    files: dirty.files.len(),
                    dirs: dirty.dirs.len(),
                    probe: d.probe,
                },
                fs.syncfs_inodes(ctx, &node_ids(&dirty.files), &node_ids(&dirty.dirs)),
            ),
            _ => (
                Flush::Targeted {
                    files: dirty.files.len(),
                    dirs: dirty.dirs.len(),
                    probe: decision.is_some_and(|d| d.probe),
                },
                fs.sync_inodes(ctx, &node_ids(&dirty.files), &node_ids(&dirty.dirs)),
            ),
        };
        let took = started.elapsed();
        // Only successful flushes say what a flush costs; the first SYNCFS
        // and overflows measure syncfs(2) too.
        if result.is_ok() && !host {
            match flush {
                Flush::Targeted { .. } if inodes > 0 => {
                    self.cost()
                        .observe(FlushPath::Targeted, inodes, took, backlog)
                }
                Flush::ByCost { .. } => {
                    self.cost()
                        .observe(FlushPath::Syncfs, inodes, took, backlog)
                }
                Flush::Host => self
                    .cost()
                    .observe_unknown_set(took, backlog.map(|b| b.host)),
                Flush::Targeted { .. } => {}
            }
        }
        self.stats.record(flush, took, result.is_ok());
        if unknown_history && result.is_err() {
            self.unknown_history.store(true, Ordering::Release);
        }
        result
    }
}

/// The epoch tracker's node numbers (it imports nothing of the project) as
/// the filesystem's node ids.
fn node_ids(ids: &[u64]) -> Vec<NodeId> {
    ids.iter().copied().map(NodeId::from_raw).collect()
}
