//! Unit tests of the epoch tracker (native threads; the loom models are in
//! `loom_tests.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::*;

fn tracker(shards: usize) -> EpochTracker {
    EpochTracker::new(TrackerConfig::new(shards)).expect("valid config")
}

fn tracker_with_bound(shards: usize, max_dirty_per_epoch: usize) -> EpochTracker {
    let config = TrackerConfig {
        shards,
        max_dirty_per_epoch,
    };
    EpochTracker::new(config).expect("valid config")
}

/// Runs the first SYNCFS, whose set is always incomplete, so that later
/// tickets report exactly what their epochs dirtied.
fn prime(tracker: &EpochTracker) {
    let ticket = tracker.close_epoch();
    tracker.wait(&ticket);
    assert!(!tracker.take_dirty(&ticket).complete);
    ticket.commit();
}

/// Closes, waits, takes and commits; returns the dirty set.
fn sync_now(tracker: &EpochTracker) -> DirtySet {
    let ticket = tracker.close_epoch();
    tracker.wait(&ticket);
    let dirty = tracker.take_dirty(&ticket);
    ticket.commit();
    dirty
}

#[test]
fn new_rejects_zero_shards() {
    let result = EpochTracker::new(TrackerConfig::new(0));
    assert_eq!(result.err(), Some(EpochError::NoShards));
}

#[test]
fn join_enters_the_current_epoch() {
    let tracker = tracker(2);
    let guard = tracker.join(1);
    assert_eq!((guard.epoch(), guard.shard()), (0, 1));
}

#[test]
fn join_wraps_the_shard_index() {
    let tracker = tracker(3);
    assert_eq!(tracker.join(7).shard(), 1);
}

#[test]
fn close_epoch_opens_the_next_epoch() {
    let tracker = tracker(1);
    let ticket = tracker.close_epoch();
    assert_eq!(ticket.epoch(), 0);
    assert_eq!(tracker.join(0).epoch(), 1);
    assert_eq!(tracker.current_epoch(), 1);
}

#[test]
fn wait_returns_at_once_without_members() {
    let tracker = tracker(2);
    let ticket = tracker.close_epoch();
    assert!(tracker.is_drained(&ticket));
    tracker.wait(&ticket);
}

#[test]
fn ticket_waits_for_a_member_that_joined_before_close() {
    let tracker = tracker(2);
    let guard = tracker.join(0);
    let ticket = tracker.close_epoch();
    assert!(!tracker.is_drained(&ticket));
    assert!(!tracker.wait_timeout(&ticket, Duration::from_millis(5)));
    drop(guard);
    assert!(tracker.is_drained(&ticket));
}

#[test]
fn wait_wakes_when_the_last_earlier_member_leaves() {
    let tracker = tracker(2);
    let (to_member, member_rx) = mpsc::channel::<()>();
    let (joined_tx, joined) = mpsc::channel::<()>();
    let tracker = &tracker;
    thread::scope(|scope| {
        scope.spawn(move || {
            let guard = tracker.join(1);
            joined_tx.send(()).expect("main thread alive");
            member_rx.recv().expect("main thread alive");
            drop(guard);
        });
        joined.recv().expect("member thread alive");
        let ticket = tracker.close_epoch();
        assert!(!tracker.is_drained(&ticket));
        to_member.send(()).expect("member thread alive");
        tracker.wait(&ticket);
    });
}

#[test]
fn ticket_does_not_wait_for_a_member_that_joined_after_close() {
    let tracker = tracker(2);
    let ticket = tracker.close_epoch();
    let later = tracker.join(0);
    assert!(later.epoch() > ticket.epoch());
    tracker.wait(&ticket);
    drop(later);
}

#[test]
fn later_ticket_also_waits_for_earlier_epochs() {
    let tracker = tracker(2);
    let early = tracker.join(0);
    let first = tracker.close_epoch();
    let second = tracker.close_epoch();
    drop(first);
    assert!(!tracker.is_drained(&second));
    drop(early);
    assert!(tracker.is_drained(&second));
}

#[test]
fn later_ticket_waits_for_the_earlier_ticket_to_end() {
    let tracker = tracker(1);
    let first = tracker.close_epoch();
    let second = tracker.close_epoch();
    assert!(tracker.is_drained(&first));
    assert!(!tracker.is_drained(&second));
    first.commit();
    assert!(tracker.is_drained(&second));
}

#[test]
fn earlier_ticket_does_not_wait_for_the_later_epoch() {
    let tracker = tracker(2);
    let first = tracker.close_epoch();
    let member = tracker.join(1);
    let second = tracker.close_epoch();
    assert!(tracker.is_drained(&first));
    drop(first);
    assert!(!tracker.is_drained(&second));
    drop(member);
    assert!(tracker.is_drained(&second));
}

#[test]
fn owned_guard_can_leave_on_another_thread() {
    let tracker = Arc::new(tracker(2));
    let guard = OwnedEpochGuard::join(Arc::clone(&tracker), 1);
    let ticket = OwnedSyncTicket::close(Arc::clone(&tracker));
    thread::spawn(move || drop(guard))
        .join()
        .expect("member thread");
    assert!(tracker.is_drained(&ticket));
}

#[test]
fn handles_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<EpochGuard<&EpochTracker>>();
    assert_send::<OwnedEpochGuard>();
    assert_send::<SyncTicket<&EpochTracker>>();
    assert_send::<OwnedSyncTicket>();
}

#[test]
fn first_dirty_set_is_incomplete() {
    let tracker = tracker(1);
    tracker.join(0).touch(5);
    let dirty = sync_now(&tracker);
    assert_eq!(dirty, DirtySet::default());
}

#[test]
fn dirty_set_is_the_sorted_union_of_all_shards() {
    let tracker = tracker(2);
    prime(&tracker);
    let first = tracker.join(0);
    first.touch(7);
    first.touch(5);
    first.touch_dir(1);
    let second = tracker.join(1);
    second.touch(5);
    second.touch(9);
    drop((first, second));
    let dirty = sync_now(&tracker);
    assert_eq!(dirty.files, [5, 7, 9]);
    assert_eq!(dirty.dirs, [1]);
    assert!(dirty.complete);
}

#[test]
fn taken_inodes_are_not_reported_again() {
    let tracker = tracker(1);
    prime(&tracker);
    tracker.join(0).touch(5);
    assert_eq!(sync_now(&tracker).files, [5]);
    assert!(sync_now(&tracker).is_empty());
}

#[test]
fn inodes_of_later_epochs_wait_for_the_next_ticket() {
    let tracker = tracker(1);
    prime(&tracker);
    let ticket = tracker.close_epoch();
    tracker.join(0).touch(3);
    tracker.wait(&ticket);
    assert!(tracker.take_dirty(&ticket).is_empty());
    ticket.commit();
    assert_eq!(sync_now(&tracker).files, [3]);
}

#[test]
fn uncommitted_ticket_hands_its_set_to_the_next_one() {
    let tracker = tracker(1);
    prime(&tracker);
    tracker.join(0).touch(5);
    let failed = tracker.close_epoch();
    tracker.wait(&failed);
    assert_eq!(tracker.take_dirty(&failed).files, [5]);
    drop(failed);
    tracker.join(0).touch(6);
    assert_eq!(sync_now(&tracker).files, [5, 6]);
}

#[test]
fn overflow_makes_the_set_incomplete_once() {
    let tracker = tracker_with_bound(1, 2);
    prime(&tracker);
    let guard = tracker.join(0);
    for inode in [1, 2, 3, 4] {
        guard.touch(inode);
    }
    drop(guard);
    assert_eq!(sync_now(&tracker), DirtySet::default());
    assert_eq!(tracker.stats().overflows, 1);
    tracker.join(0).touch(8);
    assert_eq!(sync_now(&tracker).files, [8]);
}

#[test]
fn repeated_touches_do_not_count_against_the_bound() {
    let tracker = tracker_with_bound(1, 1);
    prime(&tracker);
    let guard = tracker.join(0);
    guard.touch(4);
    guard.touch(4);
    drop(guard);
    assert_eq!(sync_now(&tracker).files, [4]);
}

#[test]
fn try_close_refuses_when_every_slot_is_taken() {
    let tracker = tracker(1);
    let oldest = tracker.join(0);
    let tickets: Vec<_> = (1..EPOCH_SLOTS).map(|_| tracker.close_epoch()).collect();
    assert!(tracker.try_close_epoch().is_none());
    drop(oldest);
    assert!(tracker.try_close_epoch().is_some());
    drop(tickets);
}

#[test]
fn close_blocks_until_the_oldest_slot_drains() {
    let tracker = tracker(1);
    let oldest = tracker.join(0);
    let tickets: Vec<_> = (1..EPOCH_SLOTS).map(|_| tracker.close_epoch()).collect();
    let closed = AtomicBool::new(false);
    thread::scope(|scope| {
        let closer = scope.spawn(|| {
            let ticket = tracker.close_epoch();
            closed.store(true, Ordering::SeqCst);
            ticket.epoch()
        });
        assert!(!closed.load(Ordering::SeqCst));
        assert_eq!(tracker.stats().epochs_closed, EPOCH_SLOTS as u64 - 1);
        drop(oldest);
        let epoch = closer.join().expect("closer thread");
        assert_eq!(epoch, EPOCH_SLOTS as u64 - 1);
    });
    drop(tickets);
}

#[test]
fn stats_count_closes_and_blocked_waits() {
    let tracker = tracker(1);
    let guard = tracker.join(0);
    let ticket = tracker.close_epoch();
    assert!(!tracker.wait_timeout(&ticket, Duration::from_millis(1)));
    drop(guard);
    tracker.wait(&ticket);
    let stats = tracker.stats();
    assert_eq!(stats.epochs_closed, 1);
    assert_eq!(stats.syncs_waited, 1);
    assert!(stats.total_wait_ns >= 1_000_000);
    assert_eq!(stats.current_epoch, 1);
}

/// A tiny xorshift generator: the tests need cheap randomness, not quality.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const WORKERS: usize = 8;
const JOINS: u64 = 10_000;

fn inode_of(worker: usize, n: u64) -> u64 {
    ((worker as u64) << 32) | n
}

/// What the stress test's members announce, for the syncers to check.
struct Progress {
    /// Highest request number of each worker that has joined.
    started: Vec<AtomicU64>,
    /// Highest request number of each worker that is about to leave.
    finished: Vec<AtomicU64>,
    /// Highest request number of each worker whose inode was taken.
    taken: Mutex<Vec<u64>>,
}

impl Progress {
    fn new() -> Self {
        Self {
            started: (0..WORKERS).map(|_| AtomicU64::new(0)).collect(),
            finished: (0..WORKERS).map(|_| AtomicU64::new(0)).collect(),
            taken: Mutex::new(vec![0; WORKERS]),
        }
    }

    fn snapshot(counters: &[AtomicU64]) -> Vec<u64> {
        counters.iter().map(|c| c.load(Ordering::SeqCst)).collect()
    }

    /// Checks that `dirty` continues each worker's taken prefix without gaps
    /// or repeats, and that the prefix now reaches `joined`.
    fn check_taken(&self, dirty: &DirtySet, joined: &[u64]) {
        assert!(dirty.complete && dirty.dirs.is_empty());
        let mut taken = self.taken.lock().expect("taken lock");
        for &inode in &dirty.files {
            let (worker, n) = ((inode >> 32) as usize, inode & u64::from(u32::MAX));
            assert_eq!(n, taken[worker] + 1, "gap or repeat for worker {worker}");
            taken[worker] = n;
        }
        for (worker, &n) in joined.iter().enumerate() {
            assert!(taken[worker] >= n, "worker {worker} request {n} not taken");
        }
    }
}

fn stress_member(tracker: &EpochTracker, progress: &Progress, worker: usize) {
    for n in 1..=JOINS {
        let guard = tracker.join(worker);
        progress.started[worker].store(n, Ordering::SeqCst);
        guard.touch(inode_of(worker, n));
        if n % 64 == 0 {
            thread::yield_now();
        }
        progress.finished[worker].store(n, Ordering::SeqCst);
        drop(guard);
    }
}

fn stress_syncer(tracker: &EpochTracker, progress: &Progress, done: &AtomicBool, seed: u64) {
    let mut rng = Rng(seed);
    while !done.load(Ordering::SeqCst) {
        for _ in 0..rng.next() % 200 {
            std::hint::spin_loop();
        }
        let joined = Progress::snapshot(&progress.started);
        let ticket = tracker.close_epoch();
        if rng.next().is_multiple_of(2) {
            while !tracker.wait_timeout(&ticket, Duration::from_micros(50)) {}
        } else {
            tracker.wait(&ticket);
        }
        let finished = Progress::snapshot(&progress.finished);
        assert!(joined.iter().zip(&finished).all(|(j, f)| f >= j));
        progress.check_taken(&tracker.take_dirty(&ticket), &joined);
        ticket.commit();
    }
}

#[test]
fn stress_waits_cover_every_earlier_member_and_its_inodes() {
    let tracker = tracker_with_bound(WORKERS, 1 << 20);
    prime(&tracker);
    let progress = Progress::new();
    let done = AtomicBool::new(false);
    let (tracker, progress, done) = (&tracker, &progress, &done);
    thread::scope(|scope| {
        let syncers: Vec<_> = (0..2)
            .map(|i| scope.spawn(move || stress_syncer(tracker, progress, done, 0x9e37_79b9 + i)))
            .collect();
        let members: Vec<_> = (0..WORKERS)
            .map(|worker| scope.spawn(move || stress_member(tracker, progress, worker)))
            .collect();
        members.into_iter().for_each(|m| m.join().expect("member"));
        done.store(true, Ordering::SeqCst);
        syncers.into_iter().for_each(|s| s.join().expect("syncer"));
    });
    let all = vec![JOINS; WORKERS];
    progress.check_taken(&sync_now(tracker), &all);
    let stats = tracker.stats();
    println!("stress: {stats:?}");
    assert!(stats.epochs_closed > 1);
}
