//! Loom models of the epoch tracker's concurrency: run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --lib epoch::loom` (see
//! `.ci/loom.sh`). Under loom the tracker has two epoch slots, so the models
//! also reach slot reuse. Deadlocks (a lost wake-up, a wait for a later
//! member) fail a model as loom reports them; the assertions check the
//! happens-before promises with relaxed flags, which loom lets go stale
//! unless the tracker synchronizes.

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::{EpochGuard, EpochTracker, SyncTicket, TrackerConfig};

type Tracker = Arc<EpochTracker>;

fn tracker(shards: usize) -> Tracker {
    Arc::new(EpochTracker::new(TrackerConfig::new(shards)).expect("valid config"))
}

/// Runs `model` under loom, exhaustively or with a preemption bound that
/// keeps the larger models to seconds (`LOOM_MAX_PREEMPTIONS` overrides it),
/// and prints how many executions were explored (`--nocapture` shows it).
fn check(preemptions: Option<usize>, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = preemptions;
    }
    let executions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&executions);
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        model();
    });
    let explored = executions.load(std::sync::atomic::Ordering::Relaxed);
    println!("explored {explored} executions");
}

/// A member joined on another thread (racing the close) that announces its
/// epoch (`epoch + 1`, 0 = not yet) and then that it is about to leave.
struct Announced {
    epoch: AtomicU64,
    left: AtomicBool,
}

impl Announced {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: AtomicU64::new(0),
            left: AtomicBool::new(false),
        })
    }

    /// Joins `shard`, announces, leaves.
    fn run(&self, tracker: &EpochTracker, shard: usize) {
        let guard = tracker.join(shard);
        self.epoch.store(guard.epoch() + 1, Ordering::Relaxed);
        self.left.store(true, Ordering::Relaxed);
        drop(guard);
    }

    /// After a wait on a ticket of `closed`: a member seen in a covered
    /// epoch must have left.
    fn assert_left_if_covered(&self, closed: u64) {
        let announced = self.epoch.load(Ordering::Relaxed);
        if announced != 0 && announced - 1 <= closed {
            assert!(self.left.load(Ordering::Relaxed), "wait returned early");
        }
    }
}

/// (1) A member that joined before `close_epoch` has left when `wait`
/// returns, and a member racing the close is waited for iff it landed in the
/// closed epoch.
#[test]
fn loom_wait_sees_every_earlier_member_leave() {
    check(None, || {
        let tracker = tracker(2);
        let early = EpochGuard::join(Arc::clone(&tracker), 0);
        let early_left = Arc::new(AtomicBool::new(false));
        let racer = Announced::new();
        let member = {
            let (tracker, early_left, racer) = (tracker.clone(), early_left.clone(), racer.clone());
            thread::spawn(move || {
                early_left.store(true, Ordering::Relaxed);
                drop(early);
                racer.run(&tracker, 1);
            })
        };
        let ticket = tracker.close_epoch();
        tracker.wait(&ticket);
        assert!(early_left.load(Ordering::Relaxed), "wait returned early");
        racer.assert_left_if_covered(ticket.epoch());
        drop(ticket);
        member.join().expect("member thread");
    });
}

/// (2) `wait` does not wait for a member of a later epoch: the member racing
/// the close stays inside until the wait returned, unless it landed in the
/// closed epoch, in which case it leaves as soon as it learns so.
#[test]
fn loom_wait_ignores_later_members() {
    check(None, || {
        let tracker = tracker(2);
        let closed = Arc::new(AtomicU64::new(0));
        let waited = Arc::new(AtomicBool::new(false));
        let member = {
            let (tracker, closed, waited) = (tracker.clone(), closed.clone(), waited.clone());
            thread::spawn(move || {
                let guard = tracker.join(1);
                loop {
                    let closed = closed.load(Ordering::Acquire);
                    let covered = closed != 0 && guard.epoch() < closed;
                    if covered || waited.load(Ordering::Acquire) {
                        break;
                    }
                    thread::yield_now();
                }
            })
        };
        let ticket = tracker.close_epoch();
        closed.store(ticket.epoch() + 1, Ordering::Release);
        tracker.wait(&ticket);
        waited.store(true, Ordering::Release);
        drop(ticket);
        member.join().expect("member thread");
    });
}

/// One of the two SYNCFS of model (3): close, wait, check, end.
struct Syncer {
    epoch: AtomicU64,
    done: AtomicBool,
    saw_other_done: AtomicBool,
}

impl Syncer {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: AtomicU64::new(0),
            done: AtomicBool::new(false),
            saw_other_done: AtomicBool::new(false),
        })
    }

    fn run(
        &self,
        tracker: &EpochTracker,
        other: &Syncer,
        early_left: &AtomicBool,
        racer: &Announced,
    ) {
        let ticket = SyncTicket::close(tracker);
        tracker.wait(&ticket);
        assert!(early_left.load(Ordering::Relaxed), "wait returned early");
        racer.assert_left_if_covered(ticket.epoch());
        let other_done = other.done.load(Ordering::Relaxed);
        self.saw_other_done.store(other_done, Ordering::Relaxed);
        self.epoch.store(ticket.epoch(), Ordering::Relaxed);
        self.done.store(true, Ordering::Relaxed);
        ticket.commit();
    }
}

/// (3) Two concurrent SYNCFS with members on two shards: each waits for the
/// members before it, and the later one also for the earlier one to end.
#[test]
fn loom_concurrent_syncs_chain() {
    check(Some(3), || {
        let tracker = tracker(2);
        let early = EpochGuard::join(Arc::clone(&tracker), 0);
        let early_left = Arc::new(AtomicBool::new(false));
        let racer = Announced::new();
        let (first, second) = (Syncer::new(), Syncer::new());
        let member = {
            let (tracker, early_left, racer) = (tracker.clone(), early_left.clone(), racer.clone());
            thread::spawn(move || {
                early_left.store(true, Ordering::Relaxed);
                drop(early);
                racer.run(&tracker, 1);
            })
        };
        let syncer = {
            let (tracker, first, second) = (tracker.clone(), first.clone(), second.clone());
            let (early_left, racer) = (early_left.clone(), racer.clone());
            thread::spawn(move || first.run(&tracker, &second, &early_left, &racer))
        };
        second.run(&tracker, &first, &early_left, &racer);
        syncer.join().expect("syncer thread");
        member.join().expect("member thread");
        let (e1, e2) = (
            first.epoch.load(Ordering::Relaxed),
            second.epoch.load(Ordering::Relaxed),
        );
        let later = if e1 > e2 { &first } else { &second };
        assert!(
            later.saw_other_done.load(Ordering::Relaxed),
            "sync chain broken"
        );
    });
}

/// (4) No lost wake-up: members on two shards leave concurrently with the
/// wait, and the wait returns.
#[test]
fn loom_wait_is_woken_by_the_last_leave() {
    check(Some(5), || {
        let tracker = tracker(2);
        let leavers: Vec<_> = (0..2)
            .map(|shard| {
                let guard = EpochGuard::join(Arc::clone(&tracker), shard);
                thread::spawn(move || drop(guard))
            })
            .collect();
        let ticket = tracker.close_epoch();
        tracker.wait(&ticket);
        drop(ticket);
        for leaver in leavers {
            leaver.join().expect("leaver thread");
        }
    });
}

/// (5) Slot reuse: with two slots, the second close has to wait for epoch 0
/// to drain before epoch 2 can take its slot; a joiner racing the closes may
/// count in a closed epoch's slot for a moment, and its undo must wake the
/// waiter.
#[test]
fn loom_close_waits_for_the_slot_to_drain() {
    check(None, || {
        let tracker = tracker(1);
        let early = EpochGuard::join(Arc::clone(&tracker), 0);
        let early_left = Arc::new(AtomicBool::new(false));
        let racer = Announced::new();
        let member = {
            let (tracker, early_left, racer) = (tracker.clone(), early_left.clone(), racer.clone());
            thread::spawn(move || {
                early_left.store(true, Ordering::Relaxed);
                drop(early);
                racer.run(&tracker, 0);
            })
        };
        let first = tracker.close_epoch();
        first.commit();
        let second = tracker.close_epoch();
        assert!(early_left.load(Ordering::Relaxed), "slot reused too early");
        tracker.wait(&second);
        racer.assert_left_if_covered(second.epoch());
        drop(second);
        member.join().expect("member thread");
    });
}
