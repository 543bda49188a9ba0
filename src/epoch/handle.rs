//! The RAII handles of the epoch tracker: [`EpochGuard`] (one request's
//! membership in an epoch) and [`SyncTicket`] (one SYNCFS's closed epoch).
//!
//! Both are generic over how they reach the tracker ([`TrackerRef`]): a plain
//! `&EpochTracker` for a request handled within a borrow, or an
//! `Arc<EpochTracker>` ([`OwnedEpochGuard`], [`OwnedSyncTicket`]) for one that
//! moves to another thread. Either way they are `Send`.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use super::dirty::Touch;
use super::tracker::EpochTracker;

/// Anything that leads to an [`EpochTracker`]: `&EpochTracker`,
/// `Arc<EpochTracker>`, ...
pub trait TrackerRef: Deref<Target = EpochTracker> {}

impl<T: Deref<Target = EpochTracker>> TrackerRef for T {}

/// An [`EpochGuard`] that owns a reference count on its tracker.
pub type OwnedEpochGuard = EpochGuard<Arc<EpochTracker>>;

/// A [`SyncTicket`] that owns a reference count on its tracker.
pub type OwnedSyncTicket = SyncTicket<Arc<EpochTracker>>;

/// A request's membership in the epoch that was current when it joined.
///
/// Take it when a request that changes data or metadata comes off its queue;
/// drop it once the host syscall returned (or the request failed). Until then
/// every SYNCFS that closed this epoch, or a later one, waits for it.
#[must_use = "dropping the guard leaves the epoch at once"]
pub struct EpochGuard<T: TrackerRef> {
    tracker: T,
    shard: usize,
    epoch: u64,
}

impl<T: TrackerRef> EpochGuard<T> {
    /// Joins the current epoch on `shard` (the worker or queue index, taken
    /// modulo the tracker's shard count).
    pub fn join(tracker: T, shard: usize) -> Self {
        let (shard, epoch) = tracker.enter(shard);
        Self {
            tracker,
            shard,
            epoch,
        }
    }

    /// The epoch this request belongs to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The shard this request counts on.
    pub fn shard(&self) -> usize {
        self.shard
    }

    /// Records that this request changed the data or metadata of `inode`.
    pub fn touch(&self, inode: u64) {
        self.tracker
            .record(self.shard, self.epoch, inode, Touch::File, 0);
    }

    /// Records that this request wrote `bytes` bytes of data to `inode`.
    pub fn touch_written(&self, inode: u64, bytes: u64) {
        self.tracker
            .record(self.shard, self.epoch, inode, Touch::File, bytes);
    }

    /// Records that this request changed the entries of directory `inode`.
    pub fn touch_dir(&self, inode: u64) {
        self.tracker
            .record(self.shard, self.epoch, inode, Touch::Dir, 0);
    }
}

impl<T: TrackerRef> Drop for EpochGuard<T> {
    fn drop(&mut self) {
        self.tracker.exit(self.shard, self.epoch);
    }
}

impl<T: TrackerRef> fmt::Debug for EpochGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochGuard")
            .field("epoch", &self.epoch)
            .field("shard", &self.shard)
            .finish()
    }
}

/// One SYNCFS: the epoch it closed, and the promise to flush what it covers.
///
/// The ticket covers every epoch up to and including [`epoch`](Self::epoch).
/// While it lives it counts as a member of the epoch after its own, so a later
/// SYNCFS waits until this one is dropped, that is, until its flush is over.
/// Call [`commit`](Self::commit) once the [`DirtySet`](super::DirtySet) taken
/// with it was flushed successfully; dropping it without that hands the set
/// back, and the next ticket to take a dirty set flushes it again.
#[must_use = "dropping the ticket ends the SYNCFS at once"]
pub struct SyncTicket<T: TrackerRef> {
    tracker: T,
    epoch: u64,
    committed: bool,
}

impl<T: TrackerRef> SyncTicket<T> {
    /// Closes the current epoch and opens the next one.
    ///
    /// Blocks only when the last [`EPOCH_SLOTS`](super::EPOCH_SLOTS) - 1
    /// closed epochs are all still undrained (members inside, or tickets
    /// outstanding): it then waits until the oldest of them drains. A queue worker that must not stall
    /// can use [`try_close`](Self::try_close) and leave the blocking close to
    /// the thread that waits for the SYNCFS.
    pub fn close(tracker: T) -> Self {
        let epoch = tracker.close_blocking();
        Self::new(tracker, epoch)
    }

    /// Like [`close`](Self::close), but returns `None` instead of blocking.
    pub fn try_close(tracker: T) -> Option<Self> {
        let epoch = tracker.try_close()?;
        Some(Self::new(tracker, epoch))
    }

    fn new(tracker: T, epoch: u64) -> Self {
        Self {
            tracker,
            epoch,
            committed: false,
        }
    }

    /// The epoch this ticket closed: it covers every epoch `<=` this one.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The tracker this ticket belongs to.
    pub fn tracker(&self) -> &EpochTracker {
        &self.tracker
    }

    /// Ends the SYNCFS after a successful flush of what it took.
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl<T: TrackerRef> Drop for SyncTicket<T> {
    fn drop(&mut self) {
        self.tracker.release_ticket(self.epoch, self.committed);
    }
}

impl<T: TrackerRef> fmt::Debug for SyncTicket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncTicket")
            .field("epoch", &self.epoch)
            .field("committed", &self.committed)
            .finish()
    }
}
