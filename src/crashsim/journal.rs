//! The undo journal: what the host directory looked like at the last
//! durability point, for every object changed since.
//!
//! Pure bookkeeping (no syscalls): the capturing and restoring code reads
//! and writes the host. Per object (a host inode, [`ObjectId`]) it keeps,
//! copy-on-first-change *per epoch*:
//!
//! * its size and the 4 KiB blocks a request was about to overwrite
//!   (only those, never the whole file);
//! * its attributes (mode, owner, times);
//! * for a directory, its entry set (name -> object).
//!
//! Every image is [`Tagged`] with the SYNCFS epoch of the request that took
//! it and a capture number. A SYNCFS that covers epoch E commits (forgets)
//! the images of epochs `<= E`; an image a later epoch took stays, and it
//! is exactly the state the earlier epochs left, so it is what a crash now
//! goes back to. FSYNC and FSYNCDIR commit every image of their object's
//! kinds. Invariant: for each slot (size, one block, attributes, entries)
//! the images are in capture order, at most one per epoch, and the first
//! one is the durable state.
//!
//! Memory is bounded: each image costs its bytes plus a fixed overhead;
//! past the limit the oldest images are committed, as a page cache writing
//! back on its own would ([`Journal::enforce_limit`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::CString;

/// Bytes per data block: the granularity of pre-images and torn writes.
pub const BLOCK: u64 = 4096;

/// Fixed cost charged per image (bookkeeping).
pub const OVERHEAD: u64 = 128;

/// Cost charged per tracked object: it holds a descriptor open, a scarcer
/// resource than memory, so the limit bounds how many (16,384 at the
/// default 256 MiB) well below the daemon's open file limit.
pub const PIN_COST: u64 = 16 * 1024;

/// Most objects remembered as made since the last FSYNCDIR.
const MAX_FRESH: usize = 1 << 20;

/// A host inode: device and inode number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

/// Extended attributes: name and value of each.
pub type Xattrs = Vec<(CString, Box<[u8]>)>;

/// The attributes a crash can put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrImage {
    /// Permission bits (`S_IFMT` excluded).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Access time (seconds, nanoseconds).
    pub atime: (i64, u32),
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, u32),
    /// Extended attributes, when the daemon serves them (`--xattr`).
    pub xattrs: Option<Xattrs>,
}

impl AttrImage {
    fn cost(&self) -> u64 {
        let xattrs = self.xattrs.iter().flatten();
        OVERHEAD
            + xattrs
                .map(|(name, value)| (name.as_bytes().len() + value.len()) as u64)
                .sum::<u64>()
    }
}

/// A directory entry's target: the object and whether it is a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryTarget {
    /// The object the name leads to.
    pub id: ObjectId,
    /// It is a directory (cannot be hard-linked, only moved).
    pub is_dir: bool,
}

/// A directory's entries, `.` and `..` excluded.
pub type EntrySet = BTreeMap<CString, EntryTarget>;

/// One image, with the epoch whose first change took it.
#[derive(Debug, Clone)]
pub struct Tagged<T> {
    /// The SYNCFS epoch of the request that took it.
    pub epoch: u64,
    /// Capture number: unique, increasing (the eviction order, and what
    /// `random:SEED` draws on).
    pub seq: u64,
    /// The state before that epoch's first change.
    pub value: T,
}

/// The images of one slot, in capture order.
#[derive(Debug, Clone)]
pub struct Images<T>(pub Vec<Tagged<T>>);

impl<T> Default for Images<T> {
    fn default() -> Self {
        Images(Vec::new())
    }
}

impl<T> Images<T> {
    /// Whether `epoch` already has its image here.
    pub fn has_epoch(&self, epoch: u64) -> bool {
        self.0.iter().any(|t| t.epoch == epoch)
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes the images of epochs `<= epoch`; returns how many.
    fn commit_upto(&mut self, epoch: u64, cost: impl Fn(&T) -> u64) -> (usize, u64) {
        let (mut n, mut bytes) = (0, 0);
        self.0.retain(|t| {
            let keep = t.epoch > epoch;
            if !keep {
                n += 1;
                bytes += cost(&t.value);
            }
            keep
        });
        (n, bytes)
    }

    /// Removes the image numbered `seq`, if still here.
    fn remove_seq(&mut self, seq: u64) -> Option<T> {
        let at = self.0.iter().position(|t| t.seq == seq)?;
        Some(self.0.remove(at).value)
    }
}

/// Which slot of an object an image belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The file size.
    Size,
    /// One data block (index in [`BLOCK`]s).
    Block(u64),
    /// The attributes.
    Attrs,
    /// The entry set.
    Entries,
}

/// Everything pending on one object; `P` keeps the object reachable.
#[derive(Debug)]
pub struct ObjectRecord<P> {
    /// Keeps the inode reachable (an `O_PATH` descriptor).
    pub pin: P,
    /// A directory.
    pub is_dir: bool,
    /// Size before each epoch's first data change.
    pub size: Images<u64>,
    /// Block contents before each epoch's first overwrite.
    pub blocks: BTreeMap<u64, Images<Box<[u8]>>>,
    /// Attributes before each epoch's first change.
    pub attrs: Images<AttrImage>,
    /// Entries before each epoch's first namespace change.
    pub entries: Images<EntrySet>,
}

impl<P> ObjectRecord<P> {
    fn new(pin: P, is_dir: bool) -> Self {
        ObjectRecord {
            pin,
            is_dir,
            size: Images::default(),
            blocks: BTreeMap::new(),
            attrs: Images::default(),
            entries: Images::default(),
        }
    }

    fn is_empty(&self) -> bool {
        self.size.is_empty()
            && self.blocks.is_empty()
            && self.attrs.is_empty()
            && self.entries.is_empty()
    }
}

/// What an FSYNC-like commit makes durable on one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitKinds {
    /// Data and size.
    pub data: bool,
    /// Attributes.
    pub attrs: bool,
    /// Entries.
    pub entries: bool,
}

/// Counters reported by `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Images pending (not durable).
    pub pending_changes: u64,
    /// Bytes they cost.
    pub pending_bytes: u64,
    /// Images committed because the limit was reached.
    pub implicit_writebacks: u64,
}

/// A directory removed since the last durability point: enough to make it
/// again if the crash brings its name back.
#[derive(Debug)]
pub struct Tombstone<P> {
    /// Its attributes when it was removed.
    pub attrs: AttrImage,
    /// The epoch of the RMDIR (or RENAME over it).
    pub epoch: u64,
    /// Keeps the removed inode allocated, so that no new object gets its
    /// number (and so its identity) before the crash.
    pub pin: P,
}

/// The undo journal.
#[derive(Debug)]
pub struct Journal<P> {
    /// Pending images per object.
    pub objects: HashMap<ObjectId, ObjectRecord<P>>,
    /// Removed directories whose removal is not durable yet.
    pub tombstones: HashMap<ObjectId, Tombstone<P>>,
    /// Objects made since the last FSYNCDIR, with the epoch of the request
    /// that made them: no durable entry set can name one, so removing it in
    /// that same epoch needs no copy in the holding directory.
    fresh: HashMap<ObjectId, u64>,
    /// Capture order, for eviction (entries may be stale: committed since).
    order: VecDeque<(ObjectId, Slot, u64)>,
    next_seq: u64,
    limit: u64,
    counts: Counts,
}

fn block_cost(b: &[u8]) -> u64 {
    b.len() as u64 + OVERHEAD
}

fn entries_cost(set: &EntrySet) -> u64 {
    set.keys()
        .map(|name| name.as_bytes().len() as u64 + 32)
        .sum::<u64>()
        + OVERHEAD
}

fn fixed_cost<T>(_: &T) -> u64 {
    OVERHEAD
}

impl<P> Journal<P> {
    /// An empty journal holding at most about `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Journal {
            objects: HashMap::new(),
            tombstones: HashMap::new(),
            fresh: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            limit,
            counts: Counts::default(),
        }
    }

    /// The counters.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// The bound on pending bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The record of `id`, made with `pin()` if it has none.
    pub fn object<E>(
        &mut self,
        id: ObjectId,
        pin: impl FnOnce() -> Result<(P, bool), E>,
    ) -> Result<&mut ObjectRecord<P>, E> {
        use std::collections::hash_map::Entry;
        match self.objects.entry(id) {
            Entry::Occupied(o) => Ok(o.into_mut()),
            Entry::Vacant(v) => {
                let (p, is_dir) = pin()?;
                self.counts.pending_bytes += PIN_COST;
                Ok(v.insert(ObjectRecord::new(p, is_dir)))
            }
        }
    }

    fn take_seq(&mut self, id: ObjectId, slot: Slot, cost: u64) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((id, slot, seq));
        self.counts.pending_changes += 1;
        self.counts.pending_bytes += cost;
        seq
    }

    /// Records `id`'s size before `epoch`'s first data change, if that
    /// epoch has none yet (`size` is only asked for then).
    pub fn capture_size<E>(
        &mut self,
        id: ObjectId,
        epoch: u64,
        size: impl FnOnce() -> Result<u64, E>,
    ) -> Result<(), E> {
        let has = self
            .objects
            .get(&id)
            .is_some_and(|o| o.size.has_epoch(epoch));
        if has {
            return Ok(());
        }
        let value = size()?;
        let seq = self.take_seq(id, Slot::Size, OVERHEAD);
        if let Some(o) = self.objects.get_mut(&id) {
            o.size.0.push(Tagged { epoch, seq, value });
        }
        Ok(())
    }

    /// Whether block `index` of `id` still needs its image for `epoch`.
    pub fn needs_block(&self, id: ObjectId, index: u64, epoch: u64) -> bool {
        !self
            .objects
            .get(&id)
            .and_then(|o| o.blocks.get(&index))
            .is_some_and(|b| b.has_epoch(epoch))
    }

    /// Records block `index` of `id` as it was before `epoch` changed it.
    pub fn put_block(&mut self, id: ObjectId, index: u64, epoch: u64, value: Box<[u8]>) {
        let seq = self.take_seq(id, Slot::Block(index), block_cost(&value));
        if let Some(o) = self.objects.get_mut(&id) {
            let images = o.blocks.entry(index).or_default();
            images.0.push(Tagged { epoch, seq, value });
        }
    }

    /// Records `id`'s attributes before `epoch`'s first change.
    pub fn capture_attrs<E>(
        &mut self,
        id: ObjectId,
        epoch: u64,
        attrs: impl FnOnce() -> Result<AttrImage, E>,
    ) -> Result<(), E> {
        if self
            .objects
            .get(&id)
            .is_some_and(|o| o.attrs.has_epoch(epoch))
        {
            return Ok(());
        }
        let value = attrs()?;
        let seq = self.take_seq(id, Slot::Attrs, value.cost());
        if let Some(o) = self.objects.get_mut(&id) {
            o.attrs.0.push(Tagged { epoch, seq, value });
        }
        Ok(())
    }

    /// Records directory `id`'s entries before `epoch`'s first change.
    pub fn capture_entries<E>(
        &mut self,
        id: ObjectId,
        epoch: u64,
        entries: impl FnOnce() -> Result<EntrySet, E>,
    ) -> Result<(), E> {
        if self
            .objects
            .get(&id)
            .is_some_and(|o| o.entries.has_epoch(epoch))
        {
            return Ok(());
        }
        let value = entries()?;
        let seq = self.take_seq(id, Slot::Entries, entries_cost(&value));
        if let Some(o) = self.objects.get_mut(&id) {
            o.entries.0.push(Tagged { epoch, seq, value });
        }
        Ok(())
    }

    /// Counts a change too large to hold (written back at once).
    pub fn note_writeback(&mut self) {
        self.counts.implicit_writebacks += 1;
    }

    /// `id` was just made by a request of `epoch`.
    pub fn note_created(&mut self, id: ObjectId, epoch: u64) {
        // Forgetting one only costs a hard link later; the map stays small.
        if self.fresh.len() < MAX_FRESH {
            self.fresh.insert(id, epoch);
        }
    }

    /// Whether `id` was made in `epoch` and no FSYNCDIR or SYNCFS came
    /// since: no durable entry set names it.
    pub fn is_fresh(&self, id: ObjectId, epoch: u64) -> bool {
        self.fresh.get(&id) == Some(&epoch)
    }

    /// Remembers a directory removed in `epoch`.
    pub fn bury(&mut self, id: ObjectId, tombstone: Tombstone<P>) {
        if let std::collections::hash_map::Entry::Vacant(v) = self.tombstones.entry(id) {
            v.insert(tombstone);
            self.counts.pending_bytes += PIN_COST;
        }
    }

    /// FSYNC / FDATASYNC / FSYNCDIR: `kinds` of `id` are durable.
    pub fn commit_object(&mut self, id: ObjectId, kinds: CommitKinds) {
        let Some(o) = self.objects.get_mut(&id) else {
            return;
        };
        let (mut n, mut bytes) = (0, 0);
        let mut add = |(dn, db): (usize, u64)| {
            n += dn;
            bytes += db;
        };
        if kinds.data {
            add(o.size.commit_upto(u64::MAX, fixed_cost));
            for images in o.blocks.values_mut() {
                add(images.commit_upto(u64::MAX, |b| block_cost(b)));
            }
            o.blocks.clear();
        }
        if kinds.attrs {
            add(o.attrs.commit_upto(u64::MAX, AttrImage::cost));
        }
        if kinds.entries {
            add(o.entries.commit_upto(u64::MAX, entries_cost));
            // Whatever this directory holds is now named durably.
            self.fresh.clear();
        }
        self.forget_committed(n, bytes);
        self.drop_if_empty(id);
    }

    /// SYNCFS covering epochs `<= epoch`: their images are durable.
    pub fn commit_epochs(&mut self, epoch: u64) {
        let (mut n, mut bytes) = (0, 0);
        for o in self.objects.values_mut() {
            let mut add = |(dn, db): (usize, u64)| {
                n += dn;
                bytes += db;
            };
            add(o.size.commit_upto(epoch, fixed_cost));
            for images in o.blocks.values_mut() {
                add(images.commit_upto(epoch, |b| block_cost(b)));
            }
            o.blocks.retain(|_, images| !images.is_empty());
            add(o.attrs.commit_upto(epoch, AttrImage::cost));
            add(o.entries.commit_upto(epoch, entries_cost));
        }
        self.forget_committed(n, bytes);
        let emptied = self.objects.iter().filter(|(_, o)| o.is_empty()).count();
        self.objects.retain(|_, o| !o.is_empty());
        self.counts.pending_bytes = self
            .counts
            .pending_bytes
            .saturating_sub(emptied as u64 * PIN_COST);
        let buried = self.tombstones.len();
        self.tombstones.retain(|_, t| t.epoch > epoch);
        let freed = (buried - self.tombstones.len()) as u64 * PIN_COST;
        self.counts.pending_bytes = self.counts.pending_bytes.saturating_sub(freed);
        self.fresh.retain(|_, made| *made > epoch);
        self.trim_order();
    }

    fn forget_committed(&mut self, n: usize, bytes: u64) {
        self.counts.pending_changes = self.counts.pending_changes.saturating_sub(n as u64);
        self.counts.pending_bytes = self.counts.pending_bytes.saturating_sub(bytes);
    }

    fn drop_if_empty(&mut self, id: ObjectId) {
        if self.objects.get(&id).is_some_and(ObjectRecord::is_empty) {
            self.objects.remove(&id);
            self.counts.pending_bytes = self.counts.pending_bytes.saturating_sub(PIN_COST);
        }
        self.trim_order();
    }

    /// Keeps the eviction queue from filling with committed entries.
    fn trim_order(&mut self) {
        let live = self.counts.pending_changes as usize;
        if self.order.len() > 2 * live + 1024 {
            let objects = &self.objects;
            self.order
                .retain(|(id, slot, seq)| objects.get(id).is_some_and(|o| o.has(*slot, *seq)));
        }
    }

    /// Commits the oldest images until at most the limit is pending;
    /// returns how many were committed.
    pub fn enforce_limit(&mut self) -> u64 {
        let mut committed = 0;
        while self.counts.pending_bytes > self.limit {
            let Some((id, slot, seq)) = self.order.pop_front() else {
                break;
            };
            let Some(o) = self.objects.get_mut(&id) else {
                continue;
            };
            let freed = match slot {
                Slot::Size => o.size.remove_seq(seq).map(|_| OVERHEAD),
                Slot::Block(i) => {
                    let freed = o.blocks.get_mut(&i).and_then(|b| b.remove_seq(seq));
                    if o.blocks.get(&i).is_some_and(Images::is_empty) {
                        o.blocks.remove(&i);
                    }
                    freed.map(|b| block_cost(&b))
                }
                Slot::Attrs => o.attrs.remove_seq(seq).map(|a| a.cost()),
                Slot::Entries => o.entries.remove_seq(seq).map(|e| entries_cost(&e)),
            };
            if let Some(bytes) = freed {
                self.forget_committed(1, bytes);
                committed += 1;
                self.drop_if_empty(id);
            }
        }
        self.counts.implicit_writebacks += committed;
        committed
    }
}

impl<P> ObjectRecord<P> {
    fn has(&self, slot: Slot, seq: u64) -> bool {
        match slot {
            Slot::Size => self.size.0.iter().any(|t| t.seq == seq),
            Slot::Block(i) => self
                .blocks
                .get(&i)
                .is_some_and(|b| b.0.iter().any(|t| t.seq == seq)),
            Slot::Attrs => self.attrs.0.iter().any(|t| t.seq == seq),
            Slot::Entries => self.entries.0.iter().any(|t| t.seq == seq),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ObjectId = ObjectId { dev: 1, ino: 10 };

    fn journal(limit: u64) -> Journal<()> {
        let mut j = Journal::new(limit);
        j.object::<()>(A, || Ok(((), false))).unwrap();
        j
    }

    fn block(j: &mut Journal<()>, index: u64, epoch: u64, byte: u8) {
        if j.needs_block(A, index, epoch) {
            j.put_block(A, index, epoch, vec![byte; BLOCK as usize].into());
        }
    }

    fn first_image(j: &Journal<()>, index: u64) -> Option<u8> {
        j.objects
            .get(&A)?
            .blocks
            .get(&index)?
            .0
            .first()
            .map(|t| t.value[0])
    }

    #[test]
    fn one_image_per_block_and_epoch() {
        let mut j = journal(u64::MAX);
        block(&mut j, 0, 1, b'a');
        block(&mut j, 0, 1, b'b');
        block(&mut j, 0, 2, b'c');
        assert_eq!(j.counts().pending_changes, 2);
        assert_eq!(first_image(&j, 0), Some(b'a'));
    }

    #[test]
    fn syncfs_commits_its_epochs_and_keeps_the_later_image() {
        let mut j = journal(u64::MAX);
        block(&mut j, 0, 1, b'a');
        block(&mut j, 0, 3, b'b');
        j.commit_epochs(2);
        assert_eq!(first_image(&j, 0), Some(b'b'));
        j.commit_epochs(3);
        assert!(j.objects.is_empty());
        assert_eq!(j.counts().pending_changes, 0);
        assert_eq!(j.counts().pending_bytes, 0);
    }

    #[test]
    fn fdatasync_commits_data_but_not_attributes() {
        let mut j = journal(u64::MAX);
        block(&mut j, 0, 1, b'a');
        j.capture_size::<()>(A, 1, || Ok(5)).unwrap();
        let attrs = AttrImage {
            mode: 0o644,
            uid: 0,
            gid: 0,
            atime: (0, 0),
            mtime: (0, 0),
            xattrs: None,
        };
        j.capture_attrs::<()>(A, 1, || Ok(attrs)).unwrap();
        let data_only = CommitKinds {
            data: true,
            attrs: false,
            entries: false,
        };
        j.commit_object(A, data_only);
        let o = &j.objects[&A];
        assert!(o.blocks.is_empty() && o.size.is_empty());
        assert_eq!(o.attrs.0.len(), 1);
        assert_eq!(j.counts().pending_changes, 1);
    }

    #[test]
    fn past_the_limit_the_oldest_images_are_written_back() {
        let limit = PIN_COST + 4 * (BLOCK + OVERHEAD);
        let mut j = journal(limit);
        for i in 0..16 {
            block(&mut j, i, 1, i as u8);
            j.enforce_limit();
            assert!(j.counts().pending_bytes <= limit);
        }
        assert!(j.counts().implicit_writebacks >= 12);
        assert_eq!(first_image(&j, 15), Some(15));
        assert_eq!(first_image(&j, 0), None);
    }
}
