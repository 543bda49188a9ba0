//! Which epoll thread serves which queue.
//!
//! vhost-user-backend starts one epoll thread per mask that
//! `queues_per_thread` returns (bit `q` = queue `q`), hands each thread only
//! the vrings of its mask, in ascending queue order, and calls
//! `handle_event` with the position of the kicked vring in that list (the
//! "device event") and the thread's index. [`ThreadLayout`] decides the
//! masks once and answers the reverse question, "which queue is device
//! event `e` of thread `t`?", without allocating.
//!
//! The layout: thread 0 serves the high-priority queue 0 alone (FORGETs must
//! never wait behind requests); the request queues `1..=N` are spread round
//! robin over the request threads `1..=T`: queue `q` goes to thread
//! `1 + (q - 1) % T`. With `T = N` every queue has its own thread; with fewer
//! threads a host with few cores saves the wake-ups and context switches of
//! threads fighting for the same cores.

use std::fmt;

/// Most queues (high-priority included) one device may have: the thread
/// masks of vhost-user-backend are `u64`, one bit per queue.
pub const MAX_QUEUES: usize = u64::BITS as usize;

/// Why a layout cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// No request queue, or more queues than a thread mask can hold.
    #[error("{0} request queues do not fit the thread masks (1 to {max})", max = MAX_QUEUES - 1)]
    QueueCount(usize),
    /// Fewer than one or more threads than request queues.
    #[error("{threads} request threads for {queues} request queues (1 to {queues})")]
    ThreadCount {
        /// The thread count asked for.
        threads: usize,
        /// The request queues to spread.
        queues: usize,
    },
}

/// The request thread count of `--queue-threads auto`: one thread per two
/// cores the process may run on (at least one), never more than there are
/// request queues. A 2-core host thus serves all request queues on one
/// thread, an 8-core host four queues on four threads.
pub fn auto_request_threads(num_request_queues: usize, parallelism: usize) -> usize {
    num_request_queues.min((parallelism / 2).max(1))
}

/// The queue to epoll thread assignment of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadLayout {
    /// `queues[t]` lists, ascending, the queues epoll thread `t` serves; an
    /// index into it is a device event of that thread.
    queues: Vec<Vec<usize>>,
    /// `shared[q]`: queue `q`'s thread serves other queues too.
    shared: Vec<bool>,
}

impl ThreadLayout {
    /// Thread 0 for the high-priority queue, `request_threads` threads
    /// sharing the `num_request_queues` request queues round robin.
    pub fn new(num_request_queues: usize, request_threads: usize) -> Result<Self, LayoutError> {
        if !(1..MAX_QUEUES).contains(&num_request_queues) {
            return Err(LayoutError::QueueCount(num_request_queues));
        }
        if !(1..=num_request_queues).contains(&request_threads) {
            return Err(LayoutError::ThreadCount {
                threads: request_threads,
                queues: num_request_queues,
            });
        }
        let mut queues = vec![vec![0]];
        queues.extend((0..request_threads).map(|t| {
            (1..=num_request_queues)
                .filter(|q| (q - 1) % request_threads == t)
                .collect()
        }));
        let mut shared = vec![false; num_request_queues + 1];
        for qs in queues.iter().filter(|qs| qs.len() > 1) {
            qs.iter().for_each(|&q| shared[q] = true);
        }
        Ok(ThreadLayout { queues, shared })
    }

    /// One mask per epoll thread, for `queues_per_thread`.
    pub fn masks(&self) -> Vec<u64> {
        // `new` keeps every queue index below 64, so the shifts cannot
        // overflow.
        self.queues
            .iter()
            .map(|qs| qs.iter().fold(0u64, |mask, q| mask | (1u64 << q)))
            .collect()
    }

    /// The queue behind `device_event` of epoll thread `thread_id`, if the
    /// layout has one there.
    pub fn queue(&self, thread_id: usize, device_event: u16) -> Option<usize> {
        self.queues
            .get(thread_id)?
            .get(usize::from(device_event))
            .copied()
    }

    /// Whether the thread serving `queue` serves other queues too (false
    /// for a queue the device does not have).
    pub fn shares_thread(&self, queue: usize) -> bool {
        self.shared.get(queue).copied().unwrap_or(false)
    }

    /// Number of epoll threads (the high-priority one included).
    pub fn threads(&self) -> usize {
        self.queues.len()
    }
}

impl fmt::Display for ThreadLayout {
    /// `thread 0: queue 0; thread 1: queues 1, 3; thread 2: queues 2, 4`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (t, qs) in self.queues.iter().enumerate() {
            let sep = if t == 0 { "" } else { "; " };
            let noun = if qs.len() == 1 { "queue" } else { "queues" };
            write!(f, "{sep}thread {t}: {noun} ")?;
            for (i, q) in qs.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                write!(f, "{sep}{q}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_queues_are_spread_round_robin() {
        let layout = ThreadLayout::new(5, 2).unwrap();

        assert_eq!(layout.masks(), vec![0b1, 0b10_1010, 0b1_0100]);
        assert_eq!(layout.threads(), 3);
        assert_eq!(
            layout.to_string(),
            "thread 0: queue 0; thread 1: queues 1, 3, 5; thread 2: queues 2, 4"
        );
    }

    #[test]
    fn device_events_map_to_queues_in_ascending_order() {
        let layout = ThreadLayout::new(5, 2).unwrap();

        let thread1: Vec<_> = (0..3).map(|e| layout.queue(1, e)).collect();
        let thread2: Vec<_> = (0..2).map(|e| layout.queue(2, e)).collect();

        assert_eq!(layout.queue(0, 0), Some(0));
        assert_eq!(thread1, vec![Some(1), Some(3), Some(5)]);
        assert_eq!(thread2, vec![Some(2), Some(4)]);
    }

    #[test]
    fn queues_know_whether_they_share_their_thread() {
        let layout = ThreadLayout::new(3, 2).unwrap();

        let shared: Vec<_> = (0..5).map(|q| layout.shares_thread(q)).collect();

        // Thread 1 serves queues 1 and 3, thread 2 queue 2 alone.
        assert_eq!(shared, vec![false, true, false, true, false]);
        assert!(!ThreadLayout::new(4, 4).unwrap().shares_thread(2));
    }

    #[test]
    fn events_outside_the_table_have_no_queue() {
        let layout = ThreadLayout::new(4, 2).unwrap();

        assert_eq!(layout.queue(0, 1), None);
        assert_eq!(layout.queue(1, 2), None);
        assert_eq!(layout.queue(3, 0), None);
        assert_eq!(layout.queue(usize::MAX, u16::MAX), None);
    }

    #[test]
    fn one_request_thread_serves_every_request_queue() {
        let layout = ThreadLayout::new(4, 1).unwrap();

        assert_eq!(layout.masks(), vec![0b1, 0b1_1110]);
        let served: Vec<_> = (0..4).map(|e| layout.queue(1, e)).collect();
        assert_eq!(served, vec![Some(1), Some(2), Some(3), Some(4)]);
    }

    #[test]
    fn as_many_threads_as_queues_is_one_thread_per_queue() {
        let layout = ThreadLayout::new(4, 4).unwrap();

        assert_eq!(layout.masks(), vec![0b1, 0b10, 0b100, 0b1000, 0b1_0000]);
        assert!((0..5).all(|q| layout.queue(q, 0) == Some(q)));
    }

    #[test]
    fn the_largest_device_fits_the_masks() {
        let layout = ThreadLayout::new(MAX_QUEUES - 1, MAX_QUEUES - 1).unwrap();

        let masks = layout.masks();
        assert_eq!(masks.len(), MAX_QUEUES);
        assert_eq!(masks.iter().fold(0, |all, m| all | m), u64::MAX);
        assert_eq!(layout.queue(MAX_QUEUES - 1, 0), Some(MAX_QUEUES - 1));
    }

    #[test]
    fn impossible_layouts_are_errors() {
        assert_eq!(ThreadLayout::new(0, 1), Err(LayoutError::QueueCount(0)));
        assert_eq!(
            ThreadLayout::new(MAX_QUEUES, 1),
            Err(LayoutError::QueueCount(MAX_QUEUES))
        );
        for threads in [0, 5] {
            assert_eq!(
                ThreadLayout::new(4, threads),
                Err(LayoutError::ThreadCount { threads, queues: 4 })
            );
        }
    }

    #[test]
    fn auto_uses_one_thread_per_two_cores_up_to_the_queue_count() {
        assert_eq!(auto_request_threads(4, 1), 1);
        assert_eq!(auto_request_threads(4, 2), 1);
        assert_eq!(auto_request_threads(4, 3), 1);
        assert_eq!(auto_request_threads(4, 8), 4);
        assert_eq!(auto_request_threads(4, 64), 4);
        assert_eq!(auto_request_threads(1, 64), 1);
        assert_eq!(auto_request_threads(16, 8), 4);
        assert_eq!(auto_request_threads(4, 0), 1);
    }
}
