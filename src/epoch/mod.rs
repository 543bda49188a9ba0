//! The SYNCFS epoch tracker: which requests a SYNCFS must wait for, and which
//! inodes it must flush.
//!
//! A pure data structure (no syscalls, no vhost types); the host-side analogue
//! of the guest kernel's syncfs buckets (see `docs/syncfs-epochs.md`).
//!
//! # Usage
//!
//! ```
//! use epochfsd::epoch::{EpochTracker, TrackerConfig};
//!
//! let tracker = EpochTracker::new(TrackerConfig::new(4))?;
//!
//! // A worker takes a WRITE off queue 2.
//! let guard = tracker.join(2);
//! guard.touch(42); // the file's data changed
//! drop(guard); // the host syscall returned
//!
//! // A SYNCFS arrives.
//! let ticket = tracker.close_epoch();
//! tracker.wait(&ticket); // every earlier request has left
//! let dirty = tracker.take_dirty(&ticket);
//! // The very first set is incomplete: flush the whole filesystem.
//! assert!(!dirty.complete);
//! ticket.commit(); // the flush succeeded; a later SYNCFS may reply now
//! # Ok::<(), epochfsd::epoch::EpochError>(())
//! ```
//!
//! # Semantics
//!
//! * A request that changes data or metadata *joins* the current epoch when a
//!   worker takes it off a queue ([`EpochTracker::join`]) and *leaves* when its
//!   [`EpochGuard`] drops. The guard records the inodes it changed.
//! * SYNCFS *closes* the current epoch ([`EpochTracker::close_epoch`]), which
//!   opens the next one. Its [`SyncTicket`] covers every epoch `<=` the closed
//!   one. [`EpochTracker::wait`] returns once all of them are empty; members
//!   that joined after the close are never waited for.
//! * A live ticket is itself a member of the epoch after the one it closed.
//!   So concurrent SYNCFS chain: a later one waits for everything an earlier
//!   one waits for, and also for the earlier one's flush to end (dropping or
//!   committing its ticket). That ordering is what makes dedup safe: a later
//!   SYNCFS skips the inodes an earlier one took, and may only reply once
//!   those are flushed.
//! * [`EpochTracker::take_dirty`] returns the union of the inodes dirtied in
//!   the covered epochs and not taken before, and the carried-over set of
//!   tickets dropped without [`SyncTicket::commit`] (a failed flush is retried
//!   by the next SYNCFS). Each shard keeps at most
//!   [`TrackerConfig::max_dirty_per_epoch`] inodes per epoch; beyond that the
//!   set is dropped and [`DirtySet::complete`] turns false, as it is for the
//!   first ticket, which cannot know what was written before the tracker
//!   existed.
//!
//! # Algorithm
//!
//! Epochs are numbered by a `u64` that only grows, `current` is the open one.
//! Each shard (one per worker, 128-byte aligned) has [`EPOCH_SLOTS`] member
//! counters; epoch `e` counts in slot `e % EPOCH_SLOTS`. A join reads
//! `current = e`, increments its shard's slot of `e`, and re-reads `current`:
//! if it still is `e` the join is done, otherwise a SYNCFS closed `e` in
//! between, so it decrements again and retries with the new epoch. A leave
//! decrements the slot. Neither takes a lock unless a waiter must be woken.
//!
//! Everything else runs under one mutex: `current` only changes there, and
//! `drained_below` records that every epoch below it is empty. A waiter
//! advances `drained_below` over closed epochs whose slot counts are all zero
//! and sleeps on a condvar until it passes its ticket's epoch. Closing epoch
//! `n - 1` first waits until epoch `n - EPOCH_SLOTS`, the last user of slot
//! `n`, is drained; so any number of concurrent SYNCFS works, the
//! `EPOCH_SLOTS`-th outstanding one blocking in `close_epoch` until the oldest
//! drains ([`EpochTracker::try_close_epoch`] does not block).
//!
//! # Invariants
//!
//! * **I1** `current` never decreases and only changes under the mutex.
//! * **I2** A member of epoch `e` on shard `s` holds one count in slot
//!   `e % EPOCH_SLOTS` of shard `s` from before its join returns until it
//!   leaves. Other counts in a slot are *transient*: a join that lost the race
//!   with a close, undone before that join returns.
//! * **I3** `current - drained_below < EPOCH_SLOTS`: the epochs that can still
//!   have members map to distinct slots.
//! * **I4** No epoch below `drained_below` has or will ever have a member.
//! * **I5** A live ticket of epoch `t` counts (under the mutex) as a member of
//!   epoch `t + 1`.
//!
//! # Proof sketch
//!
//! *A SYNCFS never returns while an earlier member is inside.* `wait` returns
//! when `drained_below > t`. `drained_below` passed `k` only when, with
//! `current > k`, every slot count of `k` read zero. A member of `k` saw
//! `current == k` after its increment, so that re-read came before the store
//! that made `current > k` (H1), and so the zero reads came after the
//! increment: the member had left. Its epoch can gain no new member since
//! joins re-check `current` (I4).
//!
//! *It never waits for a later member.* A join that returns `e' > t` counts in
//! slot `e' % EPOCH_SLOTS`, which by I3 is no slot of an epoch in
//! `drained_below..=t`. Transient counts are undone without waiting for
//! anything, and their undo wakes waiters like a leave.
//!
//! *Chaining.* A ticket of `t' > t` waits for all of `0..=t'`, which includes
//! `t + 1` and so the earlier ticket itself (I5).
//!
//! *No lost wake-up.* A waiter increments `waiters` before reading the counts
//! and sleeps only after a check under the mutex; a leave that takes a count
//! of a closed epoch to zero then reads `waiters` and `current`, and if both
//! say someone may wait, takes the mutex and notifies (H2). Either the leave
//! reads the waiter's increment and notifies, or the waiter's check sees the
//! decrement.
//!
//! # Memory ordering
//!
//! Two store-then-load handshakes carry the proof, and both rely on one total
//! order over the accesses involved:
//!
//! * **H1** join: increment slot, then read `current`; close: store
//!   `current`, then (any waiter, later, under the mutex) read slots.
//! * **H2** leave: decrement slot, then read `waiters` and `current`; waiter:
//!   increment `waiters`, then read slots.
//!
//! Natively every access in them is `SeqCst`, which gives that order (an
//! `xadd` plus plain loads on x86). Loom treats `SeqCst` accesses as
//! acquire/release, so under `cfg(loom)` a `SeqCst` fence sits between the
//! store and the load on each side instead (`sync::sc_fence`); the loom models
//! check the algorithm in that form. The dirty sets need no ordering of their
//! own: a member records under its shard's mutex before its release-decrement,
//! and `take_dirty` locks the same mutex after the acquire-read of zero.

mod dirty;
mod handle;
mod inode_flights;
mod primitives;
mod tracker;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

pub use dirty::DirtySet;
pub use handle::{EpochGuard, OwnedEpochGuard, OwnedSyncTicket, SyncTicket, TrackerRef};
pub use inode_flights::{FlightGuard, FlightWait, InodeFlights};
pub use tracker::{EpochTracker, EPOCH_SLOTS};

/// How an [`EpochTracker`] is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackerConfig {
    /// Number of member counter shards: one per worker or request queue.
    pub shards: usize,
    /// Distinct inodes each shard records per epoch before the epoch
    /// overflows and its SYNCFS falls back to syncing the whole filesystem.
    pub max_dirty_per_epoch: usize,
}

impl TrackerConfig {
    /// Default for [`max_dirty_per_epoch`](Self::max_dirty_per_epoch).
    pub const DEFAULT_MAX_DIRTY_PER_EPOCH: usize = 4096;

    /// `shards` shards with the default dirty-set bound.
    pub fn new(shards: usize) -> Self {
        Self {
            shards,
            max_dirty_per_epoch: Self::DEFAULT_MAX_DIRTY_PER_EPOCH,
        }
    }
}

/// Counters for observability, from [`EpochTracker::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EpochStats {
    /// The epoch new members join.
    pub current_epoch: u64,
    /// Epochs closed by SYNCFS so far.
    pub epochs_closed: u64,
    /// Waits that found members still inside and had to block.
    pub syncs_waited: u64,
    /// Total time spent in those blocked waits, in nanoseconds.
    pub total_wait_ns: u64,
    /// Per-shard epoch dirty sets that overflowed their bound.
    pub overflows: u64,
}

/// Errors building an [`EpochTracker`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EpochError {
    /// The configuration asked for zero shards.
    #[error("the epoch tracker needs at least one shard")]
    NoShards,
}
