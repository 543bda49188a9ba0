//! Which flush a SYNCFS should use, decided from measured costs.
//!
//! A targeted flush (fsync of every inode the covered epochs changed) costs
//! about "per-inode cost x inodes"; `syncfs(2)` costs one journal commit plus
//! writing back *everything* dirty on the host filesystem, the guest's data
//! and any neighbour's. Both write back the guest's own data; they differ in
//! the journal commits (fsyncs one after the other can each force one, a
//! `syncfs(2)` commits once) and in the neighbours' data (only `syncfs(2)`
//! pays for it). So the choice is made in two steps:
//!
//! * **The guest is alone.** When the host's not-yet-durable page cache
//!   (`Dirty:` + `Writeback:` of `/proc/meminfo`, all filesystems) is no
//!   more than the bytes the covered WRITEs wrote plus a small allowance
//!   ([`Backlog::foreign_is_negligible`]: the guest's own metadata and the
//!   host's background noise), `syncfs(2)` writes back nothing the targeted
//!   flush would not and commits once: it is taken, with no measurement
//!   needed (the first SYNCFS of a size included).
//! * **Otherwise** the model compares measured costs. Dirty-set sizes are
//!   grouped in power-of-two buckets (1, 2..3, 4..7, ..., 32768 and more).
//!   Per bucket it keeps a running average of the targeted flush's cost
//!   *per inode* and of `syncfs(2)`'s fixed cost: what it took beyond writing
//!   back the *foreign* dirty data (host backlog less the guest's own) at the
//!   measured write-back rate. So a neighbour that dirties GiBs raises the
//!   `syncfs(2)` estimate *before* anyone pays for it, and lowers it again
//!   when it is gone.
//! * `choose(n, backlog)`: targeted unless both estimates exist and the
//!   targeted one (per-inode average x n) is higher than the `syncfs(2)` one.
//!   A bucket without a sample of its own borrows the nearest bucket's (for
//!   `syncfs(2)` preferring a smaller set: a lower bound, so a wrong guess
//!   is corrected by one measurement).
//! * A sample more than twice or less than half the estimate replaces it at
//!   once (a neighbour appeared: the next SYNCFS must not pay it again; or
//!   the guest went from small files to large ones, which the inode count
//!   alone does not show), and so does a re-measurement of a stale
//!   estimate; otherwise the averages move by a quarter of the difference.
//! * Estimates of the path not taken go stale. After [`PROBE_AFTER`]
//!   decisions in a bucket without a sample of the other path, the model
//!   re-measures it once: the targeted flush always (it only costs the
//!   guest's own files), `syncfs(2)` only when it could plausibly win (its
//!   estimate at most [`SYNCFS_PROBE_RATIO`] times the targeted one), so a
//!   host with a busy neighbour does not pay seconds for a probe that cannot
//!   change the decision.
//!
//! With a neighbour, ties go to the targeted flush: it never writes back
//! other tenants' data. Pure data structure (no clock, no syscalls): callers
//! time the flush and report it with [`FlushCostModel::observe`].

use std::time::Duration;

/// Power-of-two buckets of dirty-set size.
const BUCKETS: usize = 16;
/// Decisions in a bucket after which the path not taken is measured again.
pub(crate) const PROBE_AFTER: u32 = 32;
/// `syncfs(2)` is re-measured only if its (stale) estimate is at most this
/// many times the targeted estimate.
pub(crate) const SYNCFS_PROBE_RATIO: f64 = 4.0;
/// A sample this many times above or below the estimate replaces it.
const JUMP: f64 = 2.0;
/// `syncfs(2)` samples with at least this much dirty data on the host
/// measure its write-back rate.
const RATE_MIN_DIRTY: u64 = 64 << 20;
/// Write-back rate assumed before one was measured, in bytes per
/// nanosecond (1 GB/s: fast, so that `syncfs(2)` is not assumed slower
/// than it is; a slower device is learnt from the first such sample).
const RATE_PRIOR: f64 = 1.0;
/// Foreign dirty data always counted as negligible: the host's background
/// noise (logs, timestamps) on an otherwise idle machine.
const FOREIGN_SLACK: u64 = 1 << 20;
/// Foreign dirty data allowed per inode of the dirty set: the metadata
/// blocks (inode table, directory, bitmaps) the guest's own changes dirty,
/// which no WRITE counts.
const FOREIGN_PER_INODE: u64 = 4096;
/// The allowed fraction of the guest's own written bytes (`own / 8`): its
/// file system's allocation metadata grows with the data.
const FOREIGN_OWN_SHIFT: u32 = 3;

/// The host's page cache not yet on disk when a flush is chosen or starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backlog {
    /// `Dirty:` + `Writeback:` of `/proc/meminfo`, in bytes (every
    /// filesystem of the host: an over-estimate for one of them).
    pub host: u64,
    /// Bytes the covered epochs' WRITEs wrote: the part of `host` both
    /// flushes write back (an upper bound: the host may have written some
    /// of it back already. A guest that wrote much more than a neighbour
    /// has dirty since its last SYNCFS, long enough ago for the host to
    /// have written its part back, passes the alone test and pays for the
    /// neighbour's data in that one `syncfs(2)`: the price of needing no
    /// per-filesystem dirty count, which Linux does not export).
    pub own: u64,
}

impl Backlog {
    /// Dirty data on the host that is not the guest's: what only
    /// `syncfs(2)` would write back.
    fn foreign(self) -> u64 {
        self.host.saturating_sub(self.own)
    }

    /// Is the foreign data too little to matter for a flush of `inodes`
    /// inodes? Then `syncfs(2)` does the targeted flush's write-back with a
    /// single journal commit.
    fn foreign_is_negligible(self, inodes: usize) -> bool {
        let inodes = u64::try_from(inodes).unwrap_or(u64::MAX);
        let allowance = FOREIGN_SLACK
            .saturating_add(inodes.saturating_mul(FOREIGN_PER_INODE))
            .saturating_add(self.own >> FOREIGN_OWN_SHIFT);
        self.foreign() <= allowance
    }
}

/// The flush to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlushPath {
    /// fsync of each inode of the dirty set.
    Targeted,
    /// `syncfs(2)` of the host filesystems holding them.
    Syncfs,
}

/// What [`FlushCostModel::choose`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub path: FlushPath,
    /// The path was chosen to re-measure it, not because it looked cheaper.
    pub probe: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Average {
    /// Nanoseconds (per inode for the targeted flush); `None` before the
    /// first sample.
    value: Option<f64>,
}

impl Average {
    /// Adds a sample; `replace` takes it as the new value.
    fn add(&mut self, sample: f64, replace: bool) {
        self.value = Some(match self.value {
            Some(v) if !replace => v + (sample - v) / 4.0,
            _ => sample,
        });
    }

    /// Is `sample` more than [`JUMP`] times above or below the value?
    fn jumps(&self, sample: f64) -> bool {
        self.value
            .is_some_and(|v| sample > v * JUMP || sample * JUMP < v)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Targeted flush cost per inode.
    targeted: Average,
    /// `syncfs(2)` cost beyond writing back the host's dirty data (the
    /// journal commit, the guest's metadata): the measured cost less
    /// dirty bytes / rate.
    syncfs: Average,
    /// Decisions since the last targeted / syncfs sample in this bucket.
    since_targeted: u32,
    since_syncfs: u32,
}

/// Running costs of both flushes, for one host filesystem (one share).
#[derive(Debug, Clone, Default)]
pub(crate) struct FlushCostModel {
    buckets: [Bucket; BUCKETS],
    /// Write-back rate of `syncfs(2)`, bytes per nanosecond.
    rate: Average,
}

fn bucket(inodes: usize) -> usize {
    let log2 = usize::try_from(inodes.max(1).ilog2()).unwrap_or(usize::MAX);
    log2.min(BUCKETS - 1)
}

impl FlushCostModel {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Estimated targeted cost of `inodes` inodes, in nanoseconds.
    fn targeted_estimate(&self, inodes: usize) -> Option<f64> {
        let b = bucket(inodes);
        // Nearest bucket with a sample; on equal distance the larger set
        // (its per-inode cost is the better guess for a growing set).
        (0..BUCKETS)
            .filter_map(|i| {
                self.buckets[i]
                    .targeted
                    .value
                    .map(|v| (i.abs_diff(b), i, v))
            })
            .min_by_key(|&(d, i, _)| (d, std::cmp::Reverse(i)))
            .map(|(_, _, per_inode)| per_inode * inodes.max(1) as f64)
    }

    fn rate(&self) -> f64 {
        self.rate.value.unwrap_or(RATE_PRIOR)
    }

    /// Estimated `syncfs(2)` cost with `inodes` dirty inodes and `dirty`
    /// bytes of foreign dirty page cache on the host, in nanoseconds: the
    /// bucket's fixed part plus writing back `dirty`. A bucket without a sample of
    /// its own borrows the nearest smaller set's fixed part (a lower bound),
    /// else the nearest larger one's; with none at all, only the write-back
    /// is counted (when `dirty` is known).
    fn syncfs_estimate(&self, inodes: usize, dirty: Option<u64>) -> Option<f64> {
        let b = bucket(inodes);
        let fixed = (0..=b)
            .rev()
            .chain(b + 1..BUCKETS)
            .find_map(|i| self.buckets[i].syncfs.value);
        let writeback = dirty.map(|d| d as f64 / self.rate());
        match (fixed, writeback) {
            (None, None) => None,
            (f, w) => Some(f.unwrap_or(0.0) + w.unwrap_or(0.0)),
        }
    }

    /// Picks the flush for a dirty set of `inodes` inodes, with `backlog`
    /// on the host now (if known).
    pub(crate) fn choose(&mut self, inodes: usize, backlog: Option<Backlog>) -> Decision {
        if backlog.is_some_and(|b| b.foreign_is_negligible(inodes)) {
            return Decision {
                path: FlushPath::Syncfs,
                probe: false,
            };
        }
        let dirty = backlog.map(Backlog::foreign);
        let b = bucket(inodes);
        let targeted = self.targeted_estimate(inodes);
        let syncfs = self.syncfs_estimate(inodes, dirty);
        let bk = &mut self.buckets[b];
        bk.since_targeted = bk.since_targeted.saturating_add(1);
        bk.since_syncfs = bk.since_syncfs.saturating_add(1);
        let (Some(t), Some(s)) = (targeted, syncfs) else {
            return Decision {
                path: FlushPath::Targeted,
                probe: false,
            };
        };
        if t > s {
            let probe = bk.since_targeted > PROBE_AFTER;
            return Decision {
                path: if probe {
                    FlushPath::Targeted
                } else {
                    FlushPath::Syncfs
                },
                probe,
            };
        }
        let probe = bk.since_syncfs > PROBE_AFTER && s <= t * SYNCFS_PROBE_RATIO;
        Decision {
            path: if probe {
                FlushPath::Syncfs
            } else {
                FlushPath::Targeted
            },
            probe,
        }
    }

    /// Records that `path` flushed a dirty set of `inodes` inodes in `took`,
    /// with `backlog` on the host when it started.
    pub(crate) fn observe(
        &mut self,
        path: FlushPath,
        inodes: usize,
        took: Duration,
        backlog: Option<Backlog>,
    ) {
        let ns = took.as_nanos() as f64;
        if path == FlushPath::Syncfs {
            self.observe_rate(ns, backlog.map(|b| b.host));
        }
        let dirty = backlog.map(Backlog::foreign);
        let rate = self.rate();
        let bk = &mut self.buckets[bucket(inodes)];
        match path {
            FlushPath::Targeted => {
                let per_inode = ns / inodes.max(1) as f64;
                let replace = bk.since_targeted > PROBE_AFTER || bk.targeted.jumps(per_inode);
                bk.targeted.add(per_inode, replace);
                bk.since_targeted = 0;
            }
            FlushPath::Syncfs => {
                let fixed = (ns - dirty.unwrap_or(0) as f64 / rate).max(0.0);
                let replace = bk.since_syncfs > PROBE_AFTER || bk.syncfs.jumps(fixed);
                bk.syncfs.add(fixed, replace);
                bk.since_syncfs = 0;
            }
        }
    }

    /// Records a `syncfs(2)` of a dirty set that was not known (the first
    /// SYNCFS, an overflow): it only tells the write-back rate.
    pub(crate) fn observe_unknown_set(&mut self, took: Duration, dirty: Option<u64>) {
        self.observe_rate(took.as_nanos() as f64, dirty);
    }

    fn observe_rate(&mut self, ns: f64, dirty: Option<u64>) {
        if let Some(d) = dirty.filter(|&d| d >= RATE_MIN_DIRTY) {
            let sample = d as f64 / ns.max(1.0);
            let replace = self.rate.jumps(sample);
            self.rate.add(sample, replace);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const MIB: u64 = 1 << 20;

    /// `bytes` dirty on the host, none of them the guest's.
    fn host(bytes: u64) -> Option<Backlog> {
        Some(Backlog {
            host: bytes,
            own: 0,
        })
    }

    fn path(m: &mut FlushCostModel, n: usize) -> FlushPath {
        m.choose(n, None).path
    }

    #[test]
    fn buckets_are_powers_of_two() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1), 0);
        assert_eq!((bucket(2), bucket(3), bucket(4)), (1, 1, 2));
        assert_eq!(bucket(1000), 9);
        assert_eq!(bucket(usize::MAX), BUCKETS - 1);
    }

    #[test]
    fn targeted_until_both_costs_are_known() {
        let mut m = FlushCostModel::new();
        assert_eq!(path(&mut m, 1000), FlushPath::Targeted);
        m.observe(FlushPath::Targeted, 1000, 1000 * MS, None);
        // No syncfs(2) sample yet.
        assert_eq!(path(&mut m, 1000), FlushPath::Targeted);
        let mut m = FlushCostModel::new();
        m.observe(FlushPath::Syncfs, 1, 5 * MS, None);
        assert_eq!(path(&mut m, 1000), FlushPath::Targeted);
    }

    #[test]
    fn picks_syncfs_for_large_sets_and_targeted_for_small_ones() {
        let mut m = FlushCostModel::new();
        // syncfs(2) costs 50 ms whatever the set; fsync 1 ms per inode.
        for n in [1, 10, 100, 1000] {
            m.observe(FlushPath::Syncfs, n, 50 * MS, None);
            m.observe(FlushPath::Targeted, n, n as u32 * MS, None);
        }
        assert_eq!(path(&mut m, 1), FlushPath::Targeted);
        assert_eq!(path(&mut m, 10), FlushPath::Targeted);
        assert_eq!(path(&mut m, 100), FlushPath::Syncfs);
        assert_eq!(path(&mut m, 1000), FlushPath::Syncfs);
        // A bucket never measured borrows its neighbours' estimates.
        assert_eq!(path(&mut m, 10_000), FlushPath::Syncfs);
        assert_eq!(path(&mut m, 40), FlushPath::Targeted);
    }

    #[test]
    fn larger_files_move_the_estimate_at_once() {
        let mut m = FlushCostModel::new();
        // 1000 files of 4 KiB: targeted 100 ms, syncfs(2) 120 ms.
        m.observe(FlushPath::Targeted, 1000, 100 * MS, None);
        m.observe(FlushPath::Syncfs, 1000, 120 * MS, None);
        assert_eq!(path(&mut m, 1000), FlushPath::Targeted);
        // 1000 files of 1 MiB: targeted 2.3 s, syncfs(2) 1.6 s.
        m.observe(FlushPath::Targeted, 1000, 2300 * MS, None);
        assert_eq!(path(&mut m, 1000), FlushPath::Syncfs);
        m.observe(FlushPath::Syncfs, 1000, 1600 * MS, None);
        assert_eq!(path(&mut m, 1000), FlushPath::Syncfs);
    }

    #[test]
    fn host_dirty_data_counts_against_syncfs_before_it_is_paid() {
        let mut m = FlushCostModel::new();
        // Alone: 1000 inodes, syncfs(2) 40 ms with 8 MiB dirty, targeted
        // 100 ms: syncfs(2) is cheaper.
        m.observe(FlushPath::Targeted, 1000, 100 * MS, host(8 * MIB));
        m.observe(FlushPath::Syncfs, 1000, 40 * MS, host(8 * MIB));
        assert_eq!(m.choose(1000, host(8 * MIB)).path, FlushPath::Syncfs);
        // A neighbour has 2 GiB dirty: at the assumed 1 GB/s that is 2 s.
        assert_eq!(m.choose(1000, host(2048 * MIB)).path, FlushPath::Targeted);
        // A slow device: syncfs(2) wrote 512 MiB in 5 s (~107 MB/s)...
        m.observe_unknown_set(5000 * MS, Some(512 * MIB));
        // ...so 100 MiB dirty now rules it out as well.
        assert_eq!(m.choose(1000, host(100 * MIB)).path, FlushPath::Targeted);
        // The neighbour left.
        assert_eq!(m.choose(1000, host(MIB)).path, FlushPath::Syncfs);
    }

    #[test]
    fn without_any_syncfs_sample_the_dirty_data_alone_decides() {
        let mut m = FlushCostModel::new();
        m.observe(FlushPath::Targeted, 1000, 100 * MS, host(0));
        // 10 MiB at 1 GB/s: ~10 ms, below 100 ms: syncfs(2) is tried.
        assert_eq!(m.choose(1000, host(10 << 20)).path, FlushPath::Syncfs);
        assert_eq!(m.choose(1000, host(1 << 30)).path, FlushPath::Targeted);
        assert_eq!(m.choose(1000, None).path, FlushPath::Targeted);
    }

    #[test]
    fn a_tie_goes_to_the_targeted_flush() {
        let mut m = FlushCostModel::new();
        m.observe(FlushPath::Syncfs, 100, 100 * MS, None);
        m.observe(FlushPath::Targeted, 100, 100 * MS, None);
        assert_eq!(path(&mut m, 100), FlushPath::Targeted);
    }

    #[test]
    fn syncfs_borrows_a_smaller_set_first() {
        let mut m = FlushCostModel::new();
        m.observe(FlushPath::Targeted, 1000, 1000 * MS, None);
        m.observe(FlushPath::Syncfs, 10, 20 * MS, None);
        m.observe(FlushPath::Syncfs, 10_000, 5000 * MS, None);
        // 1000 inodes: targeted ~1 s, syncfs borrowed from 10 (20 ms), the
        // optimistic lower bound, so syncfs(2) is tried and measured.
        assert_eq!(path(&mut m, 1000), FlushPath::Syncfs);
        m.observe(FlushPath::Syncfs, 1000, 3000 * MS, None);
        assert_eq!(path(&mut m, 1000), FlushPath::Targeted);
    }

    #[test]
    fn a_neighbour_is_noticed_after_one_expensive_syncfs() {
        let mut m = FlushCostModel::new();
        m.observe(FlushPath::Syncfs, 1000, 40 * MS, None);
        m.observe(FlushPath::Targeted, 1000, 60 * MS, None);
        assert_eq!(path(&mut m, 1000), FlushPath::Syncfs);
        // A neighbour dirties GiBs: the next syncfs(2) takes 4 s.
        m.observe(FlushPath::Syncfs, 1000, 4000 * MS, None);
        assert_eq!(path(&mut m, 1000), FlushPath::Targeted);
    }

    #[test]
    fn averages_move_by_a_quarter() {
        let mut m = FlushCostModel::new();
        m.observe(FlushPath::Targeted, 1, 8 * MS, None);
        m.observe(FlushPath::Targeted, 1, 4 * MS, None);
        assert_eq!(m.targeted_estimate(1), Some(7e6));
        m.observe(FlushPath::Syncfs, 1, 8 * MS, None);
        m.observe(FlushPath::Syncfs, 1, 12 * MS, None);
        assert_eq!(m.syncfs_estimate(1, None), Some(9e6));
        // More than twice the estimate, or less than half: taken as it is.
        m.observe(FlushPath::Syncfs, 1, 100 * MS, None);
        assert_eq!(m.syncfs_estimate(1, None), Some(100e6));
        m.observe(FlushPath::Syncfs, 1, 10 * MS, None);
        assert_eq!(m.syncfs_estimate(1, None), Some(10e6));
        m.observe(FlushPath::Targeted, 1, 40 * MS, None);
        assert_eq!(m.targeted_estimate(1), Some(40e6));
    }

    #[test]
    fn the_path_not_taken_is_measured_again_now_and_then() {
        let mut m = FlushCostModel::new();
        m.observe(FlushPath::Syncfs, 1000, 40 * MS, None);
        m.observe(FlushPath::Targeted, 1000, 200 * MS, None);
        let mut probes = 0;
        for _ in 0..(PROBE_AFTER as usize + 1) * 3 {
            let d = m.choose(1000, None);
            if d.probe {
                assert_eq!(d.path, FlushPath::Targeted);
                probes += 1;
                // Still slower: the model stays with syncfs(2).
                m.observe(FlushPath::Targeted, 1000, 200 * MS, None);
            } else {
                assert_eq!(d.path, FlushPath::Syncfs);
                m.observe(FlushPath::Syncfs, 1000, 40 * MS, None);
            }
        }
        assert_eq!(probes, 3);
    }

    #[test]
    fn a_neighbour_leaving_is_noticed_by_a_syncfs_probe() {
        let mut m = FlushCostModel::new();
        m.observe(FlushPath::Syncfs, 1000, 400 * MS, None);
        m.observe(FlushPath::Targeted, 1000, 200 * MS, None);
        let mut chose_syncfs_at = None;
        for i in 0..100 {
            let d = m.choose(1000, None);
            match d.path {
                FlushPath::Targeted => m.observe(FlushPath::Targeted, 1000, 200 * MS, None),
                FlushPath::Syncfs => {
                    assert!(d.probe);
                    // The neighbour is gone: syncfs(2) now costs 40 ms.
                    m.observe(FlushPath::Syncfs, 1000, 40 * MS, None);
                    chose_syncfs_at = Some(i);
                    break;
                }
            }
        }
        assert_eq!(chose_syncfs_at, Some(PROBE_AFTER as usize));
        // The probe replaced the stale 400 ms.
        assert_eq!(path(&mut m, 1000), FlushPath::Syncfs);
    }

    #[test]
    fn no_syncfs_probe_when_it_cannot_win() {
        let mut m = FlushCostModel::new();
        // A busy neighbour: syncfs(2) 4 s, the targeted flush 5 ms.
        m.observe(FlushPath::Syncfs, 1, 4000 * MS, None);
        m.observe(FlushPath::Targeted, 1, 5 * MS, None);
        for _ in 0..10 * PROBE_AFTER {
            let d = m.choose(1, None);
            assert_eq!(d.path, FlushPath::Targeted);
            m.observe(FlushPath::Targeted, 1, 5 * MS, None);
        }
    }

    /// `host` bytes dirty on the host, `own` of them the guest's.
    fn backlog(host: u64, own: u64) -> Option<Backlog> {
        Some(Backlog { host, own })
    }

    #[test]
    fn alone_syncfs_is_taken_from_the_first_flush_on() {
        const KIB: u64 = 1 << 10;
        let mut m = FlushCostModel::new();
        // One 4 KiB file, a few KiB of the host's own noise.
        assert_eq!(
            m.choose(1, backlog(40 * KIB, 4 * KIB)).path,
            FlushPath::Syncfs
        );
        // 1,000 files of 4 KiB and their metadata.
        assert_eq!(
            m.choose(1000, backlog(6 * MIB, 4000 * KIB)).path,
            FlushPath::Syncfs
        );
        // 1,000 files of 1 MiB, part of them written back already.
        assert_eq!(
            m.choose(1000, backlog(700 * MIB, 1000 * MIB)).path,
            FlushPath::Syncfs
        );
        // The estimates say nothing against it: measured slower, still taken.
        m.observe(FlushPath::Targeted, 1, MS, backlog(40 * KIB, 4 * KIB));
        m.observe(FlushPath::Syncfs, 1, 5 * MS, backlog(40 * KIB, 4 * KIB));
        assert_eq!(
            m.choose(1, backlog(40 * KIB, 4 * KIB)).path,
            FlushPath::Syncfs
        );
    }

    #[test]
    fn a_neighbour_s_dirty_data_keeps_the_targeted_flush() {
        let mut m = FlushCostModel::new();
        assert_eq!(
            m.choose(1, backlog(2048 * MIB, 4096)).path,
            FlushPath::Targeted
        );
        // 100 MiB of the guest's, 64 MiB more of somebody else's.
        assert_eq!(
            m.choose(100, backlog(164 * MIB, 100 * MIB)).path,
            FlushPath::Targeted
        );
        // Without /proc/meminfo nothing is known: targeted, as before.
        assert_eq!(m.choose(1, None).path, FlushPath::Targeted);
    }

    #[test]
    fn the_allowance_for_foreign_data_grows_with_the_dirty_set() {
        let three_mib = Backlog {
            host: 3 * MIB,
            own: 0,
        };
        assert!(!three_mib.foreign_is_negligible(1));
        assert!(three_mib.foreign_is_negligible(1000));
        let own_large = Backlog {
            host: 80 * MIB,
            own: 512 * MIB,
        };
        assert_eq!(own_large.foreign(), 0);
        assert!(own_large.foreign_is_negligible(1));
        let saturated = Backlog {
            host: u64::MAX,
            own: u64::MAX,
        };
        assert!(saturated.foreign_is_negligible(usize::MAX));
    }
}
