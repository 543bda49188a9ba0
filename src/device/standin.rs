//! Stand-ins: nothing a queue thread serves itself may hold its queues.
//!
//! A request thread serves short passes of quick requests itself (see
//! `drain`), which saves a thread hand-off per request. But "quick" is a
//! guess: on slow storage (a congested network share, a dying disk) a
//! LOOKUP or a 4 KiB WRITE can block in the host for seconds, and while it
//! does, the thread takes nothing off any of its queues. So every request
//! thread is watched:
//!
//! * The thread bumps its [`ThreadState::calls`] counter when it starts and
//!   when it ends a request it serves itself (odd = inside one). Two
//!   atomic increments are the whole cost on the request path.
//! * One watchdog thread per device looks at the counters every half
//!   `--handoff-us`. A counter that is odd and unchanged since the last look
//!   belongs to a thread that has been inside one request for at least that
//!   long: the watchdog starts a *stand-in* for it. The watchdog parks when
//!   no thread served anything itself for a while, and the next inline
//!   request wakes it, so an idle daemon has no timer running.
//! * The stand-in hands the requests the stuck thread had taken off its
//!   queues but not started yet to the queues' workers, then takes over the
//!   stuck thread's queues: it drains them (every request to a worker, none
//!   served by the stand-in itself, so the stand-in cannot get stuck),
//!   re-enables their notifications, and waits for kicks on its own
//!   edge-triggered epoll set (it never consumes a kick: the stuck thread's
//!   level-triggered epoll still sees it later and finds nothing left).
//!   It ends as soon as the stuck thread's counter moves.
//! * A thread that needed a stand-in then hands its requests to workers for
//!   a while (the device's inline pause): on storage where every request
//!   blocks, a stand-in per request would cost more than the hand-off it
//!   saves.
//!
//! Two drainers of one queue (the thread and its stand-in) take chains off
//! it and admit them under the thread's [`ThreadState::intake`] lock, so
//! the SYNCFS epochs see requests in queue order whoever pops them.
//!
//! A request therefore waits behind a blocked request for at most the
//! hand-off time plus a thread start, on any thread layout, and SYNCFS
//! keeps waiting for exactly the requests admitted before it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::Duration;

use log::{debug, error};

use super::request::{Job, Vring};

/// Quiet watchdog periods after which the watchdog parks until the next
/// request a queue thread serves itself.
const IDLE_PERIODS_BEFORE_PARKING: u32 = 64;

/// What the device knows of one epoll thread, for its stand-ins.
#[derive(Default)]
pub(crate) struct ThreadState {
    /// Bumped when the thread starts and when it finishes a request it
    /// serves itself: odd while it is inside one.
    calls: AtomicU64,
    /// Requests of the thread's current pass that it will serve itself and
    /// has not started yet. A stand-in hands them to workers.
    pub(crate) pending: Mutex<VecDeque<Job>>,
    /// Held while chains are taken off the thread's queues and admitted.
    pub(crate) intake: Mutex<()>,
    /// The thread's vrings, in device-event order, once it saw an event.
    pub(crate) vrings: OnceLock<Vec<Vring>>,
    /// A stand-in serves the thread's queues now.
    stood_in: AtomicBool,
    /// Until when (nanoseconds on the device's clock, 0: not) the thread
    /// serves nothing itself: set when a stand-in had to take over, so that
    /// on storage where requests keep blocking the thread hands them to
    /// workers instead of needing a stand-in for each one.
    inline_paused_until_ns: AtomicU64,
}

impl ThreadState {
    /// Locks the pending requests (a poisoned lock is still usable: the
    /// deque holds no invariant a panic could break).
    pub(crate) fn pending(&self) -> MutexGuard<'_, VecDeque<Job>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks the intake of the thread's queues.
    pub(crate) fn intake(&self) -> MutexGuard<'_, ()> {
        self.intake.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counter value while inside a request served by the thread.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Whether a stand-in serves the thread's queues now.
    #[cfg(test)]
    pub(crate) fn is_stood_in(&self) -> bool {
        self.stood_in.load(Ordering::SeqCst)
    }

    /// Whether the thread serves nothing itself at `now_ns` (read lazily:
    /// the clock is only looked at while a pause is set).
    pub(crate) fn inline_paused(&self, now_ns: impl FnOnce() -> u64) -> bool {
        let until = self.inline_paused_until_ns.load(Ordering::Relaxed);
        until != 0 && now_ns() < until
    }

    /// Makes the thread hand every request to workers until `until_ns`.
    pub(crate) fn pause_inline(&self, until_ns: u64) {
        self.inline_paused_until_ns
            .store(until_ns, Ordering::Relaxed);
    }
}

/// What the watchdog serves: the device core, seen through this trait so
/// the watchdog knows nothing of FUSE or pools.
pub(crate) trait StandInHost: Send + Sync + 'static {
    /// The epoll threads' states, indexed by thread id.
    fn threads(&self) -> &[ThreadState];
    /// Serves thread `thread`'s queues until its counter leaves `stuck`.
    fn stand_in(&self, thread: usize, stuck: u64);
    /// A stand-in is about to serve `thread`'s queues.
    fn stood_in_for(&self, thread: usize);
}

/// Parking state of the watchdog.
#[derive(Default)]
struct Parking {
    /// The watchdog sleeps until [`Watchdog::call_started`] wakes it.
    parked: AtomicBool,
    /// The device is gone: the watchdog ends.
    exit: Mutex<bool>,
    wake: Condvar,
}

impl Parking {
    fn exit_flag(&self) -> MutexGuard<'_, bool> {
        self.exit.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The device's watchdog thread; dropping this ends it.
pub(crate) struct Watchdog {
    parking: Arc<Parking>,
}

impl Watchdog {
    /// Starts the watchdog over `host`'s threads, looking every `period`.
    pub(crate) fn start<H: StandInHost>(host: Arc<H>, period: Duration) -> Self {
        let parking = Arc::new(Parking::default());
        let shared = Arc::clone(&parking);
        let spawned = thread::Builder::new()
            .name("fs-watchdog".into())
            .spawn(move || watch(&host, &shared, period));
        if let Err(err) = spawned {
            error!("cannot start the queue watchdog: {err}; a request blocked in the host will hold its queues");
        }
        Watchdog { parking }
    }

    /// Marks the start of a request that `state`'s thread serves itself.
    pub(crate) fn call_started(&self, state: &ThreadState) {
        state.calls.fetch_add(1, Ordering::SeqCst);
        // SeqCst on both sides: either the watchdog, about to park, sees
        // the counter move, or this thread sees it parked and wakes it.
        if self.parking.parked.load(Ordering::SeqCst) {
            let _exit = self.parking.exit_flag();
            self.parking.parked.store(false, Ordering::SeqCst);
            self.parking.wake.notify_one();
        }
    }

    /// Marks the end of that request.
    pub(crate) fn call_ended(&self, state: &ThreadState) {
        state.calls.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *self.parking.exit_flag() = true;
        self.parking.wake.notify_one();
    }
}

/// The watchdog loop: look every `period`, start stand-ins for threads
/// stuck since the previous look, park when nothing happens.
fn watch<H: StandInHost>(host: &Arc<H>, parking: &Parking, period: Duration) {
    let counters = || host.threads().iter().map(ThreadState::calls);
    let mut last: Vec<u64> = counters().collect();
    let mut quiet = 0u32;
    loop {
        let exit = parking.exit_flag();
        let (exit, _) = parking
            .wake
            .wait_timeout(exit, period)
            .unwrap_or_else(|e| e.into_inner());
        if *exit {
            return;
        }
        drop(exit);
        let mut active = false;
        for (thread, (now, before)) in counters().zip(last.iter_mut()).enumerate() {
            let inside = now % 2 == 1;
            active |= now != *before || inside;
            if now == *before && inside {
                start_stand_in(host, thread, now);
            }
            *before = now;
        }
        quiet = if active { 0 } else { quiet + 1 };
        if quiet >= IDLE_PERIODS_BEFORE_PARKING {
            if park(parking, &last, counters) {
                return;
            }
            quiet = 0;
        }
    }
}

/// Parks the watchdog until a thread starts a request of its own or the
/// device goes away (then true). Does not park if a counter moved since
/// `last` was read.
fn park<I: Iterator<Item = u64>>(
    parking: &Parking,
    last: &[u64],
    counters: impl Fn() -> I,
) -> bool {
    let mut exit = parking.exit_flag();
    parking.parked.store(true, Ordering::SeqCst);
    if counters().zip(last).any(|(now, before)| now != *before) {
        parking.parked.store(false, Ordering::SeqCst);
        return false;
    }
    debug!("queue watchdog parked");
    while parking.parked.load(Ordering::SeqCst) && !*exit {
        exit = parking.wake.wait(exit).unwrap_or_else(|e| e.into_inner());
    }
    *exit
}

/// Starts a stand-in for `thread`, stuck at counter value `stuck`, unless
/// one serves it already; the stand-in clears the flag when it ends.
fn start_stand_in<H: StandInHost>(host: &Arc<H>, thread: usize, stuck: u64) {
    let Some(state) = host.threads().get(thread) else {
        return;
    };
    if state.stood_in.swap(true, Ordering::SeqCst) {
        return;
    }
    debug!("queue thread {thread} is blocked in a request; a stand-in serves its queues");
    host.stood_in_for(thread);
    let owned = Arc::clone(host);
    let spawned = thread::Builder::new()
        .name(format!("fs-standin-{thread}"))
        .spawn(move || {
            owned.stand_in(thread, stuck);
            if let Some(state) = owned.threads().get(thread) {
                state.stood_in.store(false, Ordering::SeqCst);
            }
            debug!("queue thread {thread} is back; its stand-in ends");
        });
    if let Err(err) = spawned {
        error!("cannot start a stand-in for queue thread {thread}: {err}");
        state.stood_in.store(false, Ordering::SeqCst);
    }
}
