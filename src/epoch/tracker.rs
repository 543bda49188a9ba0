//! The epoch tracker itself: sharded member counters, the epoch window, the
//! waiting and waking of SYNCFS, and the dirty sets.
//!
//! The algorithm, its invariants and why it is correct are in the module docs
//! of [`crate::epoch`]; the comments here point back to them (I1..I5, H1, H2).

use std::fmt;
use std::time::{Duration, Instant};

use super::dirty::{DirtyAccum, DirtySet, ShardDirty, Touch};
use super::handle::{EpochGuard, SyncTicket, TrackerRef};
use super::primitives::{
    self as sync, sc_fence, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering,
};
use super::{EpochError, EpochStats, TrackerConfig};

/// How many epochs can be open or undrained at once (I3): the current one and
/// up to `EPOCH_SLOTS - 1` closed ones. Loom models use 2 to reach slot reuse.
pub const EPOCH_SLOTS: usize = if cfg!(loom) { 2 } else { 16 };

/// The counter slot of `epoch`.
fn slot(epoch: u64) -> usize {
    (epoch % EPOCH_SLOTS as u64) as usize
}

/// One worker's member counters, on cache lines of their own.
#[repr(align(128))]
struct Shard {
    /// Members per epoch slot (I2).
    members: [AtomicUsize; EPOCH_SLOTS],
    /// Inodes this shard's members touched, per epoch.
    dirty: Mutex<ShardDirty>,
}

impl Shard {
    fn new() -> Self {
        Self {
            members: std::array::from_fn(|_| AtomicUsize::new(0)),
            dirty: Mutex::new(ShardDirty::default()),
        }
    }
}

/// The words every join and leave reads, apart from the lock's cache line.
#[repr(align(128))]
struct Hot {
    /// The open epoch; written only under the state lock (I1).
    current: AtomicU64,
    /// Threads blocked (or about to block) on the condvar (H2).
    waiters: AtomicUsize,
}

/// The slow-path state, under the tracker's mutex.
struct State {
    /// Every epoch below this one is drained for good (I4).
    drained_below: u64,
    /// Live tickets per epoch slot: a ticket is a member of the epoch after
    /// its own (I5).
    ticket_members: [usize; EPOCH_SLOTS],
    /// Dirty sets handed out to tickets that have not ended yet.
    in_flight: Vec<(u64, DirtyAccum)>,
    /// What the next taker must flush besides its own epochs: sets of tickets
    /// dropped without commit, and initially "incomplete".
    carry: DirtyAccum,
    epochs_closed: u64,
    syncs_waited: u64,
    total_wait_ns: u64,
}

/// Tracks which requests belong to which epoch, so that SYNCFS waits for
/// exactly the requests that came before it. See [`crate::epoch`].
pub struct EpochTracker {
    hot: Hot,
    shards: Box<[Shard]>,
    state: Mutex<State>,
    drained: Condvar,
    max_dirty: usize,
}

impl EpochTracker {
    /// A tracker with epoch 0 open and no members.
    pub fn new(config: TrackerConfig) -> Result<Self, EpochError> {
        if config.shards == 0 {
            return Err(EpochError::NoShards);
        }
        let state = State {
            drained_below: 0,
            ticket_members: [0; EPOCH_SLOTS],
            in_flight: Vec::new(),
            carry: DirtyAccum::incomplete(),
            epochs_closed: 0,
            syncs_waited: 0,
            total_wait_ns: 0,
        };
        Ok(Self {
            hot: Hot {
                current: AtomicU64::new(0),
                waiters: AtomicUsize::new(0),
            },
            shards: (0..config.shards).map(|_| Shard::new()).collect(),
            state: Mutex::new(state),
            drained: Condvar::new(),
            max_dirty: config.max_dirty_per_epoch,
        })
    }

    /// The number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The epoch new members join.
    pub fn current_epoch(&self) -> u64 {
        self.hot.current.load(Ordering::SeqCst)
    }

    /// Joins the current epoch on `shard`; see [`EpochGuard::join`].
    pub fn join(&self, shard: usize) -> EpochGuard<&Self> {
        EpochGuard::join(self, shard)
    }

    /// Closes the current epoch for a SYNCFS; see [`SyncTicket::close`].
    pub fn close_epoch(&self) -> SyncTicket<&Self> {
        SyncTicket::close(self)
    }

    /// Closes the current epoch unless that would block; see
    /// [`SyncTicket::try_close`].
    pub fn try_close_epoch(&self) -> Option<SyncTicket<&Self>> {
        SyncTicket::try_close(self)
    }

    /// Blocks until no epoch covered by `ticket` has members left (earlier
    /// tickets count as members, see [`SyncTicket`]).
    pub fn wait<T: TrackerRef>(&self, ticket: &SyncTicket<T>) {
        debug_assert!(std::ptr::eq(self, ticket.tracker()));
        ticket.tracker().wait_drained(ticket.epoch(), None);
    }

    /// Like [`wait`](Self::wait) for at most `timeout`; true when drained.
    pub fn wait_timeout<T: TrackerRef>(&self, ticket: &SyncTicket<T>, timeout: Duration) -> bool {
        debug_assert!(std::ptr::eq(self, ticket.tracker()));
        ticket.tracker().wait_drained(ticket.epoch(), Some(timeout))
    }

    /// True when [`wait`](Self::wait) would return at once.
    pub fn is_drained<T: TrackerRef>(&self, ticket: &SyncTicket<T>) -> bool {
        debug_assert!(std::ptr::eq(self, ticket.tracker()));
        let tracker = ticket.tracker();
        let mut state = sync::lock(&tracker.state);
        tracker.covered_drained(&mut state, ticket.epoch())
    }

    /// Takes the inodes dirtied in the epochs `ticket` covers and not taken
    /// by an earlier ticket. Call it after [`wait`](Self::wait): before that,
    /// members still running may add to the covered epochs, and what they add
    /// goes to the next ticket instead.
    pub fn take_dirty<T: TrackerRef>(&self, ticket: &SyncTicket<T>) -> DirtySet {
        debug_assert!(std::ptr::eq(self, ticket.tracker()));
        ticket.tracker().take_dirty_upto(ticket.epoch())
    }

    /// Counters for observability.
    pub fn stats(&self) -> EpochStats {
        let (epochs_closed, syncs_waited, total_wait_ns) = {
            let state = sync::lock(&self.state);
            (state.epochs_closed, state.syncs_waited, state.total_wait_ns)
        };
        let overflows = self
            .shards
            .iter()
            .map(|shard| sync::lock(&shard.dirty).overflows())
            .sum();
        EpochStats {
            current_epoch: self.current_epoch(),
            epochs_closed,
            syncs_waited,
            total_wait_ns,
            overflows,
        }
    }

    /// The fast path of a join: count in the slot of the epoch read, then
    /// check it is still current (I2, H1). Returns `(shard, epoch)`.
    pub(crate) fn enter(&self, shard: usize) -> (usize, u64) {
        let shard = if shard < self.shards.len() {
            shard
        } else {
            shard % self.shards.len()
        };
        let members = &self.shards[shard].members;
        loop {
            let epoch = self.hot.current.load(Ordering::Relaxed);
            members[slot(epoch)].fetch_add(1, Ordering::SeqCst);
            sc_fence();
            if self.hot.current.load(Ordering::SeqCst) == epoch {
                return (shard, epoch);
            }
            // A SYNCFS closed `epoch` in between: undo and join the new one.
            self.exit(shard, epoch);
        }
    }

    /// The fast path of a leave; wakes the waiters when the count of a closed
    /// epoch reaches zero while someone waits (H2).
    pub(crate) fn exit(&self, shard: usize, epoch: u64) {
        let previous = self.shards[shard].members[slot(epoch)].fetch_sub(1, Ordering::SeqCst);
        debug_assert!(previous > 0, "epoch member count underflow");
        if previous != 1 {
            return;
        }
        sc_fence();
        if self.hot.waiters.load(Ordering::SeqCst) != 0
            && epoch < self.hot.current.load(Ordering::SeqCst)
        {
            self.wake();
        }
    }

    /// Wakes every waiter. Taking the lock first means a waiter is either
    /// still before its check (and sees the new counts) or already asleep.
    fn wake(&self) {
        drop(sync::lock(&self.state));
        self.drained.notify_all();
    }

    /// Records a touched inode for the member `(shard, epoch)`, and the
    /// bytes of data it wrote there.
    pub(crate) fn record(&self, shard: usize, epoch: u64, inode: u64, kind: Touch, written: u64) {
        sync::lock(&self.shards[shard].dirty).record(epoch, inode, kind, written, self.max_dirty);
    }

    /// Closes the current epoch, waiting for a free slot if needed (I3).
    pub(crate) fn close_blocking(&self) -> u64 {
        let mut state = sync::lock(&self.state);
        if !self.next_slot_free(&mut state) {
            state = self.block_until(state, None, Self::next_slot_free).0;
        }
        self.advance(&mut state)
    }

    /// Closes the current epoch if its successor's slot is free.
    pub(crate) fn try_close(&self) -> Option<u64> {
        let mut state = sync::lock(&self.state);
        self.next_slot_free(&mut state)
            .then(|| self.advance(&mut state))
    }

    /// Opens the next epoch with the new ticket as a member (I5); returns
    /// the closed one. The caller checked that the slot is free.
    fn advance(&self, state: &mut State) -> u64 {
        let closed = self.hot.current.load(Ordering::Relaxed);
        let next = closed + 1;
        state.ticket_members[slot(next)] += 1;
        self.hot.current.store(next, Ordering::SeqCst);
        sc_fence();
        state.epochs_closed += 1;
        closed
    }

    /// True when the epoch after the current one may take its slot: the
    /// epoch that used it last is drained (I3).
    fn next_slot_free(&self, state: &mut State) -> bool {
        let next = self.hot.current.load(Ordering::Relaxed) + 1;
        match next.checked_sub(EPOCH_SLOTS as u64) {
            None => true,
            Some(previous_user) => {
                self.refresh(state);
                state.drained_below > previous_user
            }
        }
    }

    /// True when every epoch `<= epoch` is drained.
    fn covered_drained(&self, state: &mut State, epoch: u64) -> bool {
        self.refresh(state);
        state.drained_below > epoch
    }

    /// Advances the drained watermark over closed epochs without members (I4).
    fn refresh(&self, state: &mut State) {
        sc_fence();
        let current = self.hot.current.load(Ordering::Relaxed);
        while state.drained_below < current && self.is_empty(state, state.drained_below) {
            state.drained_below += 1;
        }
    }

    /// True when nothing counts in the slot of `epoch`.
    fn is_empty(&self, state: &State, epoch: u64) -> bool {
        let slot = slot(epoch);
        state.ticket_members[slot] == 0
            && self
                .shards
                .iter()
                .all(|shard| shard.members[slot].load(Ordering::SeqCst) == 0)
    }

    /// Blocks on the condvar until `ready` holds or `timeout` passes; returns
    /// the guard and whether `ready` held. Announces itself in `waiters`
    /// before the first check (H2).
    fn block_until<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        timeout: Option<Duration>,
        mut ready: impl FnMut(&Self, &mut State) -> bool,
    ) -> (MutexGuard<'a, State>, bool) {
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        self.hot.waiters.fetch_add(1, Ordering::SeqCst);
        let done = loop {
            if ready(self, &mut state) {
                break true;
            }
            state = match deadline {
                None => sync::wait(&self.drained, state),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break false;
                    }
                    sync::wait_timeout(&self.drained, state, left)
                }
            };
        };
        self.hot.waiters.fetch_sub(1, Ordering::SeqCst);
        (state, done)
    }

    /// Waits until every epoch `<= epoch` is drained; false on timeout.
    fn wait_drained(&self, epoch: u64, timeout: Option<Duration>) -> bool {
        let mut state = sync::lock(&self.state);
        if self.covered_drained(&mut state, epoch) {
            return true;
        }
        let start = Instant::now();
        let ready = |tracker: &Self, state: &mut State| tracker.covered_drained(state, epoch);
        let (mut state, done) = self.block_until(state, timeout, ready);
        let waited = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        state.syncs_waited += 1;
        state.total_wait_ns = state.total_wait_ns.saturating_add(waited);
        done
    }

    /// Unions the carried-over set and every shard's sets of epochs
    /// `<= epoch`, and remembers them in case the ticket is not committed.
    fn take_dirty_upto(&self, epoch: u64) -> DirtySet {
        let mut taken = std::mem::take(&mut sync::lock(&self.state).carry);
        for shard in self.shards.iter() {
            sync::lock(&shard.dirty).drain_into(epoch, &mut taken);
        }
        let set = taken.to_set();
        let mut state = sync::lock(&self.state);
        match state.in_flight.iter_mut().find(|(held, _)| *held == epoch) {
            Some((_, held)) => held.merge(taken),
            None => state.in_flight.push((epoch, taken)),
        }
        set
    }

    /// Ends the ticket of `epoch`: hands its dirty set back unless
    /// `committed`, and stops counting it as a member of `epoch + 1` (I5).
    pub(crate) fn release_ticket(&self, epoch: u64, committed: bool) {
        let mut state = sync::lock(&self.state);
        if let Some(index) = state.in_flight.iter().position(|(held, _)| *held == epoch) {
            let (_, taken) = state.in_flight.swap_remove(index);
            if !committed {
                state.carry.merge(taken);
            }
        }
        let count = &mut state.ticket_members[slot(epoch + 1)];
        debug_assert!(*count > 0, "ticket member count underflow");
        *count = count.saturating_sub(1);
        if *count == 0 {
            drop(state);
            self.drained.notify_all();
        }
    }
}

impl fmt::Debug for EpochTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochTracker")
            .field("current_epoch", &self.current_epoch())
            .field("shards", &self.shards.len())
            .field("max_dirty_per_epoch", &self.max_dirty)
            .finish_non_exhaustive()
    }
}
