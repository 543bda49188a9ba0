//! Counters of what SYNCFS did, for `SIGUSR1` and the exit log.
//!
//! The epoch tracker counts epochs and waits; these count the flushes that
//! follow: how many SYNCFS were answered, how many fell back to syncing the
//! whole host filesystem, and how many inodes the targeted flushes synced.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::epoch::EpochStats;

/// Live counters, updated by the workers that serve SYNCFS.
#[derive(Debug, Default)]
pub(crate) struct SyncfsCounters {
    served: AtomicU64,
    failed: AtomicU64,
    fallbacks: AtomicU64,
    by_cost: AtomicU64,
    targeted: AtomicU64,
    probes: AtomicU64,
    files_flushed: AtomicU64,
    dirs_flushed: AtomicU64,
    flush_ns: AtomicU64,
}

/// How one SYNCFS flushed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Flush {
    /// syncfs(2) on the host filesystem: the dirty set is unknown (first
    /// SYNCFS, overflow) or `--syncfs host`.
    Host,
    /// syncfs(2) of the filesystems holding a known dirty set of these many
    /// files and directories, because the cost model expected it to be
    /// cheaper (or, with `probe`, to measure it again).
    ByCost {
        files: usize,
        dirs: usize,
        probe: bool,
    },
    /// fsync of exactly these many files and directories (`probe`: chosen
    /// to measure it again although syncfs(2) looked cheaper).
    Targeted {
        files: usize,
        dirs: usize,
        probe: bool,
    },
}

impl SyncfsCounters {
    pub(crate) fn record(&self, flush: Flush, took: Duration, ok: bool) {
        let counter = if ok { &self.served } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        match flush {
            Flush::Host => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
            }
            Flush::ByCost { files, dirs, probe } => {
                self.by_cost.fetch_add(1, Ordering::Relaxed);
                self.count_set(files, dirs, probe);
            }
            Flush::Targeted { files, dirs, probe } => {
                self.targeted.fetch_add(1, Ordering::Relaxed);
                self.count_set(files, dirs, probe);
            }
        }
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.flush_ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn count_set(&self, files: usize, dirs: usize, probe: bool) {
        self.probes.fetch_add(u64::from(probe), Ordering::Relaxed);
        self.files_flushed
            .fetch_add(files as u64, Ordering::Relaxed);
        self.dirs_flushed.fetch_add(dirs as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, epochs: EpochStats) -> SyncfsReport {
        SyncfsReport {
            epochs,
            served: self.served.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            by_cost: self.by_cost.load(Ordering::Relaxed),
            targeted: self.targeted.load(Ordering::Relaxed),
            probes: self.probes.load(Ordering::Relaxed),
            files_flushed: self.files_flushed.load(Ordering::Relaxed),
            dirs_flushed: self.dirs_flushed.load(Ordering::Relaxed),
            flush_ns: self.flush_ns.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of the SYNCFS counters and the epoch tracker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncfsReport {
    /// The tracker's counters.
    pub epochs: EpochStats,
    /// SYNCFS answered with success.
    pub served: u64,
    /// SYNCFS answered with an error.
    pub failed: u64,
    /// SYNCFS that synced whole host filesystems (first one, overflow,
    /// `--syncfs host`).
    pub fallbacks: u64,
    /// SYNCFS that called syncfs(2) on a known dirty set because the cost
    /// model expected it to be cheaper than the targeted flush.
    pub by_cost: u64,
    /// SYNCFS that fsynced their dirty set (the targeted flush).
    pub targeted: u64,
    /// Flushes of either kind run to re-measure a stale cost estimate.
    pub probes: u64,
    /// Files of known dirty sets made durable (fsynced by targeted flushes
    /// or covered by a syncfs(2) chosen by cost).
    pub files_flushed: u64,
    /// Directories of known dirty sets made durable, likewise.
    pub dirs_flushed: u64,
    /// Time spent flushing, in nanoseconds.
    pub flush_ns: u64,
}

impl fmt::Display for SyncfsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.epochs;
        write!(
            f,
            "syncfs: {} served, {} failed, {} host fallbacks, {} files + {} dirs flushed, \
             {} targeted, {} syncfs(2) by cost, {} cost probes, \
             {:.3} s flushing; epochs: current {}, {} closed, {} waits totalling {:.3} s, \
             {} dirty-set overflows",
            self.served,
            self.failed,
            self.fallbacks,
            self.files_flushed,
            self.dirs_flushed,
            self.targeted,
            self.by_cost,
            self.probes,
            self.flush_ns as f64 / 1e9,
            e.current_epoch,
            e.epochs_closed,
            e.syncs_waited,
            e.total_wait_ns as f64 / 1e9,
            e.overflows
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_by_kind_of_flush() {
        let c = SyncfsCounters::default();
        c.record(Flush::Host, Duration::from_millis(2), true);
        c.record(
            Flush::Targeted {
                files: 3,
                dirs: 1,
                probe: false,
            },
            Duration::from_millis(1),
            true,
        );
        c.record(
            Flush::Targeted {
                files: 2,
                dirs: 0,
                probe: true,
            },
            Duration::from_millis(1),
            false,
        );
        c.record(
            Flush::ByCost {
                files: 4,
                dirs: 2,
                probe: false,
            },
            Duration::from_millis(3),
            true,
        );

        let r = c.snapshot(EpochStats::default());

        assert_eq!((r.served, r.failed, r.fallbacks), (3, 1, 1));
        assert_eq!((r.targeted, r.by_cost, r.probes), (2, 1, 1));
        assert_eq!((r.files_flushed, r.dirs_flushed), (9, 3));
        assert_eq!(r.flush_ns, 7_000_000);
        assert!(r.to_string().starts_with(
            "syncfs: 3 served, 1 failed, 1 host fallbacks, 9 files + 3 dirs flushed, \
             2 targeted, 1 syncfs(2) by cost, 1 cost probes"
        ));
    }
}
