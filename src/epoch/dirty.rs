//! Dirty-inode bookkeeping: which inodes the members of each epoch changed.
//!
//! Each shard keeps one [`EpochDirty`] per epoch that its members touched and
//! no ticket has taken yet. A set is bounded: past the bound it is dropped and
//! marked overflowed, and the flush that covers it falls back to syncing the
//! whole filesystem. Taking a ticket's sets unions them into a [`DirtyAccum`],
//! which becomes the sorted [`DirtySet`] handed to the flusher.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// The inodes a flush has to make durable.
///
/// `files` are inodes whose data or metadata changed (fsync them); `dirs` are
/// directories whose entries changed (fsync the directory). An inode may be in
/// both lists. Both lists are sorted and free of duplicates.
///
/// `complete` says whether the lists are the whole story. It is `false` when
/// some covered epoch overflowed its bound, for the first ticket of a tracker
/// (writes made before the tracker existed were never recorded), and after a
/// ticket was dropped without [`SyncTicket::commit`](super::SyncTicket::commit)
/// while holding an incomplete set. When it is `false` both lists are empty and
/// the flusher must sync the whole filesystem instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirtySet {
    /// Inodes whose data or metadata changed.
    pub files: Vec<u64>,
    /// Directories whose entries changed.
    pub dirs: Vec<u64>,
    /// `true` when `files` and `dirs` list everything that needs flushing.
    pub complete: bool,
    /// Bytes the covered epochs' WRITEs wrote (counted even when the sets
    /// overflowed): an upper bound of the guest's own data still in the
    /// host's page cache, which either flush has to write back.
    pub written: u64,
}

impl DirtySet {
    /// True when there is nothing at all to flush.
    pub fn is_empty(&self) -> bool {
        self.complete && self.files.is_empty() && self.dirs.is_empty()
    }
}

/// What a member touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Touch {
    /// A file's data or metadata.
    File,
    /// A directory's entries.
    Dir,
}

/// Multiplicative hasher for inode numbers: they are not chosen by the guest,
/// and every set is bounded, so flooding resistance buys nothing here.
#[derive(Default)]
pub(crate) struct InodeHasher(u64);

impl Hasher for InodeHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type InodeSet = HashSet<u64, BuildHasherDefault<InodeHasher>>;

/// The inodes one shard's members touched in one epoch.
#[derive(Debug)]
struct EpochDirty {
    epoch: u64,
    files: InodeSet,
    dirs: InodeSet,
    overflowed: bool,
    written: u64,
}

impl EpochDirty {
    fn new(epoch: u64) -> Self {
        Self {
            epoch,
            files: InodeSet::default(),
            dirs: InodeSet::default(),
            overflowed: false,
            written: 0,
        }
    }

    /// Records `inode`; returns true when this record made the set overflow.
    fn record(&mut self, inode: u64, kind: Touch, max: usize) -> bool {
        if self.overflowed {
            return false;
        }
        let known = match kind {
            Touch::File => self.files.contains(&inode),
            Touch::Dir => self.dirs.contains(&inode),
        };
        if known {
            return false;
        }
        if self.files.len() + self.dirs.len() >= max {
            self.overflowed = true;
            self.files = InodeSet::default();
            self.dirs = InodeSet::default();
            return true;
        }
        match kind {
            Touch::File => self.files.insert(inode),
            Touch::Dir => self.dirs.insert(inode),
        };
        false
    }
}

/// One shard's untaken dirty sets, oldest epochs usually first.
#[derive(Debug, Default)]
pub(crate) struct ShardDirty {
    epochs: Vec<EpochDirty>,
    overflows: u64,
}

impl ShardDirty {
    /// Records that a member of `epoch` touched `inode`, writing `written`
    /// bytes of data, within `max` inodes per epoch.
    pub(crate) fn record(&mut self, epoch: u64, inode: u64, kind: Touch, written: u64, max: usize) {
        let entry = match self.epochs.iter().rposition(|e| e.epoch == epoch) {
            Some(index) => &mut self.epochs[index],
            None => {
                self.epochs.push(EpochDirty::new(epoch));
                let last = self.epochs.len() - 1;
                &mut self.epochs[last]
            }
        };
        entry.written = entry.written.saturating_add(written);
        if entry.record(inode, kind, max) {
            self.overflows += 1;
        }
    }

    /// Moves every set of an epoch `<= upto` into `acc`.
    pub(crate) fn drain_into(&mut self, upto: u64, acc: &mut DirtyAccum) {
        let mut index = 0;
        while index < self.epochs.len() {
            if self.epochs[index].epoch <= upto {
                acc.absorb_epoch(self.epochs.swap_remove(index));
            } else {
                index += 1;
            }
        }
    }

    /// How many of this shard's epoch sets overflowed so far.
    pub(crate) fn overflows(&self) -> u64 {
        self.overflows
    }
}

/// A union of dirty sets being built or held for a possible retry.
#[derive(Debug)]
pub(crate) struct DirtyAccum {
    files: InodeSet,
    dirs: InodeSet,
    complete: bool,
    written: u64,
}

impl Default for DirtyAccum {
    fn default() -> Self {
        Self {
            files: InodeSet::default(),
            dirs: InodeSet::default(),
            complete: true,
            written: 0,
        }
    }
}

impl DirtyAccum {
    /// An accumulator that already says "incomplete": the state of a new
    /// tracker, which never saw the writes made before it existed.
    pub(crate) fn incomplete() -> Self {
        Self {
            complete: false,
            ..Self::default()
        }
    }

    fn absorb_epoch(&mut self, epoch: EpochDirty) {
        self.written = self.written.saturating_add(epoch.written);
        if epoch.overflowed {
            self.mark_incomplete();
        } else if self.complete {
            self.files.extend(epoch.files);
            self.dirs.extend(epoch.dirs);
        }
    }

    /// Adds everything in `other` to `self`.
    pub(crate) fn merge(&mut self, other: DirtyAccum) {
        self.written = self.written.saturating_add(other.written);
        if !other.complete {
            self.mark_incomplete();
        } else if self.complete {
            self.files.extend(other.files);
            self.dirs.extend(other.dirs);
        }
    }

    fn mark_incomplete(&mut self) {
        self.complete = false;
        self.files = InodeSet::default();
        self.dirs = InodeSet::default();
    }

    /// The sorted list form handed to the flusher.
    pub(crate) fn to_set(&self) -> DirtySet {
        DirtySet {
            files: sorted(&self.files),
            dirs: sorted(&self.dirs),
            complete: self.complete,
            written: self.written,
        }
    }
}

fn sorted(set: &InodeSet) -> Vec<u64> {
    let mut list: Vec<u64> = set.iter().copied().collect();
    list.sort_unstable();
    list
}
