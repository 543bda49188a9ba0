//! Per-inode in-flight mutations, so that FSYNC and FSYNCDIR wait for the
//! earlier mutating requests on their own inode and for nothing else.
//!
//! The same two ideas as the SYNCFS epochs, scaled down to one inode: a
//! mutating request joins its inode's current *phase* when it is taken off
//! a queue; an FSYNC taken off a queue afterwards closes that phase (opens
//! the next) and waits until every member of its phase and of the phases
//! before has left. Only two phases of one inode can hold members at once,
//! so each inode needs two counters. When the previous phase is still
//! draining (another FSYNC waits for it), the new FSYNC cannot close its
//! phase at once; it waits for the previous phase to drain and closes its
//! own then. It may so wait for a few members that came after it, never
//! fewer than it must, and never for ever: every phase it waits for stops
//! growing once it is closed.
//!
//! Inodes with nothing in flight have no entry, so the table never holds
//! more entries than requests in flight (at most the queues' sizes), even if
//! a guest sends made-up node ids. The table is sharded by inode so
//! unrelated inodes do not share a lock; no syscalls, no allocation once the
//! shards' maps have grown to the working set.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::dirty::InodeHasher;

/// Shards of the table (a power of two).
const SHARDS: usize = 64;

#[derive(Debug, Default)]
struct Flight {
    /// The phase new members join.
    phase: u64,
    /// Members per phase, indexed by `phase % 2`.
    members: [u32; 2],
    /// FSYNCs holding a [`FlightWait`] on this inode; keeps the entry alive.
    waiters: u32,
}

impl Flight {
    fn slot(phase: u64) -> usize {
        (phase % 2) as usize
    }

    fn previous_drained(&self) -> bool {
        self.phase == 0 || self.members[Self::slot(self.phase - 1)] == 0
    }

    fn is_idle(&self) -> bool {
        self.members == [0, 0] && self.waiters == 0
    }

    /// Has every member of phases `<= target` left? Closes `target` if it
    /// is still open and may be closed now.
    fn drained_through(&mut self, target: u64) -> bool {
        if self.phase == target && self.previous_drained() {
            self.phase += 1;
        }
        match self.phase.checked_sub(target) {
            // Closed twice since: closing `target + 1` needed `target` empty.
            Some(d) if d >= 2 => true,
            Some(1) => self.members[Self::slot(target)] == 0,
            _ => false,
        }
    }
}

type FlightMap = HashMap<u64, Flight, BuildHasherDefault<InodeHasher>>;

#[derive(Default)]
struct Shard {
    flights: Mutex<FlightMap>,
    drained: Condvar,
}

/// The table of in-flight mutations by inode.
pub struct InodeFlights {
    shards: Box<[Shard]>,
}

impl Default for InodeFlights {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for InodeFlights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InodeFlights").finish_non_exhaustive()
    }
}

impl InodeFlights {
    /// An empty table.
    pub fn new() -> Self {
        InodeFlights {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }

    fn shard(&self, inode: u64) -> &Shard {
        // Node ids are often sequential; mix the bits before picking a shard.
        let mixed = inode.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58;
        &self.shards[mixed as usize % SHARDS]
    }

    fn lock(shard: &Shard) -> MutexGuard<'_, FlightMap> {
        shard.flights.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A mutating request on `inode` was taken off its queue.
    pub fn join(self: &Arc<Self>, inode: u64) -> FlightGuard {
        let mut flights = Self::lock(self.shard(inode));
        let flight = flights.entry(inode).or_default();
        flight.members[Flight::slot(flight.phase)] += 1;
        FlightGuard {
            table: Arc::clone(self),
            inode,
            phase: flight.phase,
        }
    }

    fn leave(&self, inode: u64, phase: u64) {
        let shard = self.shard(inode);
        let mut flights = Self::lock(shard);
        let Some(flight) = flights.get_mut(&inode) else {
            debug_assert!(false, "a member left an inode with no flight");
            return;
        };
        let slot = &mut flight.members[Flight::slot(phase)];
        *slot = slot.saturating_sub(1);
        if *slot == 0 {
            if flight.waiters > 0 {
                shard.drained.notify_all();
            } else if flight.is_idle() {
                flights.remove(&inode);
            }
        }
    }

    /// An FSYNC on `inode` was taken off its queue: the point it must wait
    /// for. Never blocks; `None` when nothing is in flight on the inode.
    pub fn mark(self: &Arc<Self>, inode: u64) -> Option<FlightWait> {
        let mut flights = Self::lock(self.shard(inode));
        let flight = flights.get_mut(&inode)?;
        let target = flight.phase;
        if flight.drained_through(target) {
            return None;
        }
        flight.waiters += 1;
        Some(FlightWait {
            table: Arc::clone(self),
            inode,
            target,
            waited: false,
        })
    }

    fn wait(&self, inode: u64, target: u64) {
        let shard = self.shard(inode);
        let mut flights = Self::lock(shard);
        loop {
            let Some(flight) = flights.get_mut(&inode) else {
                debug_assert!(false, "a waiter's flight vanished");
                return;
            };
            if flight.drained_through(target) {
                flight.waiters -= 1;
                if flight.is_idle() {
                    flights.remove(&inode);
                }
                return;
            }
            flights = shard
                .drained
                .wait(flights)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Inodes with an entry (members or waiters), for tests.
    pub fn tracked_inodes(&self) -> usize {
        self.shards.iter().map(|s| Self::lock(s).len()).sum()
    }
}

/// Membership of one mutating request; leaving happens on drop.
#[must_use = "dropping the guard leaves the inode's phase at once"]
pub struct FlightGuard {
    table: Arc<InodeFlights>,
    inode: u64,
    phase: u64,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.table.leave(self.inode, self.phase);
    }
}

impl fmt::Debug for FlightGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlightGuard")
            .field("inode", &self.inode)
            .field("phase", &self.phase)
            .finish()
    }
}

/// What one FSYNC waits for; [`wait`](Self::wait) consumes it.
#[must_use = "an FSYNC mark that is never waited for keeps its inode tracked"]
pub struct FlightWait {
    table: Arc<InodeFlights>,
    inode: u64,
    target: u64,
    /// `wait` ran and already gave up the hold on the entry.
    waited: bool,
}

impl FlightWait {
    /// Blocks until every mutation on the inode taken off a queue before
    /// this FSYNC has finished.
    pub fn wait(mut self) {
        self.table.wait(self.inode, self.target);
        self.waited = true;
    }
}

impl Drop for FlightWait {
    fn drop(&mut self) {
        if self.waited {
            return;
        }
        // Dropped without waiting (the request failed before the FSYNC):
        // give up the waiter's hold on the entry.
        let mut flights = InodeFlights::lock(self.table.shard(self.inode));
        if let Some(flight) = flights.get_mut(&self.inode) {
            flight.waiters -= 1;
            if flight.is_idle() {
                flights.remove(&self.inode);
            }
        }
    }
}

impl fmt::Debug for FlightWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlightWait")
            .field("inode", &self.inode)
            .field("target", &self.target)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    fn table() -> Arc<InodeFlights> {
        Arc::new(InodeFlights::new())
    }

    /// Runs `wait` on a thread; the receiver gets `()` once it returned.
    fn wait_in_thread(wait: FlightWait) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            wait.wait();
            let _ = tx.send(());
        });
        rx
    }

    const SHORT: Duration = Duration::from_millis(100);

    #[test]
    fn nothing_in_flight_means_nothing_to_wait_for() {
        let t = table();
        assert!(t.mark(7).is_none());
        let g = t.join(7);
        drop(g);
        assert!(t.mark(7).is_none());
        assert_eq!(t.tracked_inodes(), 0);
    }

    #[test]
    fn fsync_waits_for_an_earlier_member_of_its_inode_only() {
        let t = table();
        let earlier = t.join(1);
        let other_inode = t.join(2);
        let done = wait_in_thread(t.mark(1).expect("member in flight"));

        assert!(t.mark(2).is_some(), "inode 2 has its own member");
        assert!(
            done.recv_timeout(SHORT).is_err(),
            "returned while a member was inside"
        );
        drop(other_inode);
        assert!(
            done.recv_timeout(SHORT).is_err(),
            "inode 2 released inode 1's wait"
        );
        drop(earlier);
        done.recv_timeout(Duration::from_secs(5))
            .expect("woken when the member left");
    }

    #[test]
    fn fsync_does_not_wait_for_a_later_member() {
        let t = table();
        let earlier = t.join(1);
        let mark = t.mark(1).expect("member in flight");
        let later = t.join(1);
        let done = wait_in_thread(mark);

        drop(earlier);
        done.recv_timeout(Duration::from_secs(5))
            .expect("did not wait for the later member");
        drop(later);
        assert_eq!(t.tracked_inodes(), 0);
    }

    #[test]
    fn a_second_fsync_waits_for_both_phases_and_is_not_starved() {
        let t = table();
        let a = t.join(1);
        let first = wait_in_thread(t.mark(1).unwrap());
        let b = t.join(1);
        // The phase before is still draining: this FSYNC cannot close its own.
        let second = wait_in_thread(t.mark(1).unwrap());
        drop(b);
        assert!(
            second.recv_timeout(SHORT).is_err(),
            "second ignored the first phase"
        );
        drop(a);
        first.recv_timeout(Duration::from_secs(5)).unwrap();
        second.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(t.tracked_inodes(), 0);
    }

    #[test]
    fn a_mark_dropped_without_waiting_releases_the_entry() {
        let t = table();
        let g = t.join(3);
        let mark = t.mark(3).unwrap();
        drop(mark);
        drop(g);
        assert_eq!(t.tracked_inodes(), 0);
    }

    #[test]
    fn many_threads_members_and_fsyncs_all_finish() {
        let t = table();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let t = Arc::clone(&t);
                thread::spawn(move || {
                    for n in 0..2000u64 {
                        let inode = n % 3;
                        if (n + i) % 5 == 0 {
                            if let Some(w) = t.mark(inode) {
                                w.wait();
                            }
                        } else {
                            let _g = t.join(inode);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(t.tracked_inodes(), 0);
    }
}
