//! Busy-polling a queue thread's queues for a short while before it sleeps.
//!
//! Going to sleep in `epoll_wait` and being woken by the next kick costs a
//! thread wake-up on the daemon's side and an eventfd write on the guest's.
//! Where wake-ups are expensive (a VM host's own vCPUs, for instance) that
//! round trip dominates requests that arrive one at a time. So after
//! draining its queues a thread keeps looking at their avail rings, with
//! notifications still off, for up to a *window*; a request that shows up
//! meanwhile is served without either side sleeping or kicking.
//!
//! The window adapts per thread, on how long the thread slept whenever a
//! kick wakes it (the rule of QEMU's adaptive polling): a thread that slept
//! longer than the configured maximum would not have caught that request
//! by polling, so its window halves, down to nothing; one woken sooner
//! would have, so its window doubles, up to the maximum. A guest that
//! answers slowly (or a daemon that shares its cores with it) thus soon
//! stops paying for spinning that never finds anything, and a guest that
//! keeps requests coming gets the whole window.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Smallest window a thread grows back to from zero.
const MIN_WINDOW_NS: u64 = 2_000;

/// The polling state of one queue thread. Only that thread touches it; the
/// atomics are there so the backend can be shared between threads.
#[derive(Debug)]
struct ThreadPoll {
    /// Current window in nanoseconds (0: sleep at once).
    window_ns: AtomicU64,
    /// When the thread last went to sleep, in nanoseconds since the
    /// [`Poller`]'s start (0: never, or not since it last woke).
    slept_at_ns: AtomicU64,
}

/// Adaptive polling windows of all queue threads of a device.
#[derive(Debug)]
pub(crate) struct Poller {
    max_ns: u64,
    start: Instant,
    threads: Vec<ThreadPoll>,
}

impl Poller {
    /// Windows for `threads` queue threads, each starting at (and never
    /// growing past) `max`; a zero `max` turns polling off.
    pub(crate) fn new(max: Duration, threads: usize) -> Self {
        let max_ns = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Poller {
            max_ns,
            start: Instant::now(),
            threads: (0..threads)
                .map(|_| ThreadPoll {
                    window_ns: AtomicU64::new(max_ns),
                    slept_at_ns: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Thread `thread` was woken by a kick: its window grows if polling
    /// for the maximum window would have caught the request, and shrinks
    /// if not.
    pub(crate) fn woke(&self, thread: usize) {
        let Some(state) = self.threads.get(thread) else {
            return;
        };
        let slept_at = state.slept_at_ns.swap(0, Ordering::Relaxed);
        if slept_at == 0 || self.max_ns == 0 {
            return;
        }
        let slept = self.now_ns().saturating_sub(slept_at);
        let window = state.window_ns.load(Ordering::Relaxed);
        state
            .window_ns
            .store(adapted(window, slept, self.max_ns), Ordering::Relaxed);
    }

    /// Thread `thread` goes back to `epoll_wait`.
    pub(crate) fn sleeping(&self, thread: usize) {
        if self.max_ns == 0 {
            return;
        }
        if let Some(state) = self.threads.get(thread) {
            state.slept_at_ns.store(self.now_ns(), Ordering::Relaxed);
        }
    }

    /// Spins until `has_work` says a request is waiting (true) or thread
    /// `thread`'s window runs out (false).
    pub(crate) fn poll(&self, thread: usize, mut has_work: impl FnMut() -> bool) -> bool {
        let Some(state) = self.threads.get(thread) else {
            return false;
        };
        let window = state.window_ns.load(Ordering::Relaxed);
        if window == 0 {
            return false;
        }
        let deadline = Instant::now() + Duration::from_nanos(window);
        loop {
            if has_work() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::hint::spin_loop();
        }
    }
}

/// The window after a kick woke a thread that had slept `slept_ns`.
fn adapted(window_ns: u64, slept_ns: u64, max_ns: u64) -> u64 {
    if slept_ns <= max_ns {
        return window_ns.saturating_mul(2).clamp(MIN_WINDOW_NS, max_ns);
    }
    let half = window_ns / 2;
    if half < MIN_WINDOW_NS {
        0
    } else {
        half
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(poller: &Poller, thread: usize) -> u64 {
        poller.threads[thread].window_ns.load(Ordering::Relaxed)
    }

    #[test]
    fn a_late_kick_halves_the_window_down_to_nothing() {
        assert_eq!(adapted(50_000, 80_000, 50_000), 25_000);
        assert_eq!(adapted(4_000, 80_000, 50_000), 2_000);
        assert_eq!(adapted(3_000, 80_000, 50_000), 0);
        assert_eq!(adapted(0, 80_000, 50_000), 0);
    }

    #[test]
    fn a_quick_kick_grows_the_window_up_to_the_maximum() {
        assert_eq!(adapted(0, 10_000, 50_000), MIN_WINDOW_NS);
        assert_eq!(adapted(20_000, 10_000, 50_000), 40_000);
        assert_eq!(adapted(40_000, 50_000, 50_000), 50_000);
    }

    #[test]
    fn polling_off_never_spins_and_never_grows() {
        let poller = Poller::new(Duration::ZERO, 1);
        let mut calls = 0;
        assert!(!poller.poll(0, || {
            calls += 1;
            true
        }));
        assert_eq!(calls, 0);
        poller.sleeping(0);
        poller.woke(0);
        assert_eq!(window(&poller, 0), 0);
    }

    #[test]
    fn a_poll_that_finds_work_keeps_the_window() {
        let poller = Poller::new(Duration::from_micros(50), 1);
        let mut calls = 0;
        assert!(poller.poll(0, || {
            calls += 1;
            calls == 3
        }));
        assert_eq!(window(&poller, 0), 50_000);
    }

    #[test]
    fn a_poll_spins_for_its_window_and_each_thread_adapts_its_own() {
        let poller = Poller::new(Duration::from_micros(50), 2);
        let started = Instant::now();
        assert!(!poller.poll(1, || false));
        assert!(started.elapsed() >= Duration::from_micros(50));
        poller.sleeping(1);
        std::thread::sleep(Duration::from_millis(1));
        poller.woke(1);
        assert_eq!(window(&poller, 1), 25_000);
        assert_eq!(window(&poller, 0), 50_000);
        poller.sleeping(1);
        poller.woke(1);
        assert_eq!(window(&poller, 1), 50_000);
    }

    #[test]
    fn an_unknown_thread_is_ignored() {
        let poller = Poller::new(Duration::from_micros(50), 1);
        assert!(!poller.poll(7, || true));
        poller.sleeping(7);
        poller.woke(7);
    }
}
