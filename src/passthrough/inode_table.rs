//! The inode table: daemon-allocated node ids <-> host inodes.
//!
//! A pure data structure (no libc, no I/O); the value stored per inode is
//! generic so tests can use plain numbers.
//!
//! Invariants:
//!
//! * Node ids are allocated from a counter and never reused; [`ROOT`] (1)
//!   is the only id that exists before the first lookup and is pinned: it
//!   is never removed, whatever the guest forgets.
//! * At most one live node per [`InodeKey`]: looking the same host inode up
//!   twice (hard links, two names, `..`) returns the same node id.
//! * A node's lookup count only moves from zero to non-zero for pinned
//!   nodes. An unpinned node whose count reached zero is dead: it can no
//!   longer be acquired by key, a concurrent lookup of the same host inode
//!   creates a fresh node (new id), and the dead node leaves both maps.
//! * Both maps are sharded (`SHARDS` locks each); a lookup of a known inode
//!   takes one read lock, only creation and removal write-lock one shard
//!   of each map. Lock order: key shard before id shard.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::filesystem::NodeId;

/// Node id of the shared directory's root.
pub const ROOT: NodeId = NodeId::ROOT;

/// Number of lock shards in each map (a power of two).
const SHARDS: usize = 32;

/// Identity of a host inode: device, inode number and mount id (the same
/// device can be mounted twice, as bind mounts, with different contents
/// visible beneath).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InodeKey {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// Mount id from `statx(STATX_MNT_ID)` (0 if unknown).
    pub mnt_id: u64,
}

/// One known inode.
#[derive(Debug)]
pub struct Node<V> {
    id: NodeId,
    key: InodeKey,
    generation: u64,
    pinned: bool,
    refcount: AtomicU64,
    value: V,
}

impl<V> Node<V> {
    /// The node id the guest uses.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The host identity.
    pub fn key(&self) -> InodeKey {
        self.key
    }

    /// Generation number: always 0, because node ids are never reused, so
    /// `(id, 0)` is unique over the daemon's lifetime.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The per-inode data.
    pub fn value(&self) -> &V {
        &self.value
    }

    /// Current lookup count.
    pub fn refcount(&self) -> u64 {
        self.refcount.load(Ordering::Acquire)
    }

    /// Adds one reference unless the node is dead.
    fn try_acquire(&self) -> bool {
        if self.pinned {
            self.refcount.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        self.refcount
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n != 0).then(|| n.saturating_add(1))
            })
            .is_ok()
    }

    /// Drops up to `count` references; true if this call took the count to
    /// zero (the caller must then remove an unpinned node).
    fn release(&self, count: u64) -> bool {
        match self
            .refcount
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n != 0).then(|| n.saturating_sub(count))
            }) {
            Ok(old) => old <= count,
            Err(_) => false,
        }
    }
}

/// The shard a 64-bit id or hash falls into.
fn shard_index(n: u64) -> usize {
    // The remainder is below SHARDS, so it always fits.
    usize::try_from(n % SHARDS as u64).unwrap_or(0)
}

type Shard<K, V> = RwLock<HashMap<K, Arc<Node<V>>>>;

fn read<K, V>(shard: &Shard<K, V>) -> RwLockReadGuard<'_, HashMap<K, Arc<Node<V>>>> {
    // A panic while holding the lock cannot leave a HashMap half-updated in
    // a way that matters here; keep serving.
    shard
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<K, V>(shard: &Shard<K, V>) -> RwLockWriteGuard<'_, HashMap<K, Arc<Node<V>>>> {
    shard
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sharded maps id -> node and key -> node.
#[derive(Debug)]
pub struct InodeTable<V> {
    by_id: Vec<Shard<NodeId, V>>,
    by_key: Vec<Shard<InodeKey, V>>,
    next_id: AtomicU64,
}

impl<V> Default for InodeTable<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> InodeTable<V> {
    /// An empty table; the first allocated id is `ROOT + 1`.
    pub fn new() -> Self {
        Self {
            by_id: (0..SHARDS).map(|_| RwLock::default()).collect(),
            by_key: (0..SHARDS).map(|_| RwLock::default()).collect(),
            next_id: AtomicU64::new(ROOT.get() + 1),
        }
    }

    fn id_shard(&self, id: NodeId) -> &Shard<NodeId, V> {
        // Ids are sequential, so the low bits spread them evenly.
        &self.by_id[shard_index(id.get())]
    }

    fn key_shard(&self, key: &InodeKey) -> &Shard<InodeKey, V> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        &self.by_key[shard_index(h.finish())]
    }

    /// Installs the root node (id [`ROOT`], pinned, one reference).
    /// Replaces a previous root.
    pub fn insert_root(&self, key: InodeKey, value: V) -> Arc<Node<V>> {
        let node = Arc::new(Node {
            id: ROOT,
            key,
            generation: 0,
            pinned: true,
            refcount: AtomicU64::new(1),
            value,
        });
        let mut keys = write(self.key_shard(&key));
        write(self.id_shard(ROOT)).insert(ROOT, Arc::clone(&node));
        keys.insert(key, Arc::clone(&node));
        node
    }

    /// The node with id `id`, if it is known (no reference is taken).
    pub fn get(&self, id: NodeId) -> Option<Arc<Node<V>>> {
        read(self.id_shard(id)).get(&id).cloned()
    }

    /// Takes one reference on the live node for `key`, creating it with
    /// `value` if there is none (otherwise `value` is dropped). Returns the
    /// node and whether it was created.
    #[cfg(test)]
    pub fn acquire(&self, key: InodeKey, value: V) -> (Arc<Node<V>>, bool) {
        self.acquire_current(key, value, |_| true)
    }

    /// Like [`acquire`](Self::acquire), but a live node for `key` whose
    /// value fails `is_current` is a different inode that had the same
    /// number (the old one was deleted and its number reused while the
    /// guest still held it): it leaves the key index, keeps its id until
    /// the guest forgets it, and a new node takes the key.
    fn acquire_current(
        &self,
        key: InodeKey,
        value: V,
        is_current: impl Fn(&V) -> bool,
    ) -> (Arc<Node<V>>, bool) {
        let shard = self.key_shard(&key);
        if let Some(node) = read(shard).get(&key) {
            if is_current(&node.value) && node.try_acquire() {
                return (Arc::clone(node), false);
            }
        }
        let mut keys = write(shard);
        if let Some(node) = keys.get(&key) {
            if is_current(&node.value) && node.try_acquire() {
                return (Arc::clone(node), false);
            }
        }
        let id = NodeId::from_raw(self.next_id.fetch_add(1, Ordering::Relaxed));
        let node = Arc::new(Node {
            id,
            key,
            generation: 0,
            pinned: false,
            refcount: AtomicU64::new(1),
            value,
        });
        // Visible by id before by key, so an id handed out by a concurrent
        // acquire of the same key always resolves.
        write(self.id_shard(id)).insert(id, Arc::clone(&node));
        keys.insert(key, Arc::clone(&node));
        (node, true)
    }

    /// Like [`acquire_current`](Self::acquire_current), but the value is
    /// made by `make` only when no live, current node has `key` (so a
    /// lookup of a known inode does no work for a value it would drop).
    /// `make` runs without any lock held; if it fails, nothing changes.
    pub fn acquire_with<E>(
        &self,
        key: InodeKey,
        is_current: impl Fn(&V) -> bool,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<(Arc<Node<V>>, bool), E> {
        if let Some(node) = read(self.key_shard(&key)).get(&key) {
            if is_current(&node.value) && node.try_acquire() {
                return Ok((Arc::clone(node), false));
            }
        }
        Ok(self.acquire_current(key, make()?, is_current))
    }

    /// Drops `count` references on `id`; removes the node when none are
    /// left (pinned nodes stay). Unknown ids are ignored. Returns true if
    /// the node was removed.
    pub fn forget(&self, id: NodeId, count: u64) -> bool {
        let Some(node) = self.get(id) else {
            return false;
        };
        if !node.release(count) || node.pinned {
            return false;
        }
        self.remove_dead(&node);
        true
    }

    fn remove_dead(&self, node: &Arc<Node<V>>) {
        let mut keys = write(self.key_shard(&node.key));
        if keys.get(&node.key).is_some_and(|n| Arc::ptr_eq(n, node)) {
            keys.remove(&node.key);
        }
        write(self.id_shard(node.id)).remove(&node.id);
    }

    /// Removes every unpinned node and resets pinned ones to one reference
    /// (the guest unmounted).
    pub fn clear(&self) {
        for shard in &self.by_key {
            write(shard).retain(|_, n| n.pinned);
        }
        for shard in &self.by_id {
            write(shard).retain(|_, n| n.pinned);
        }
        for shard in &self.by_id {
            for node in read(shard).values() {
                node.refcount.store(1, Ordering::Release);
            }
        }
    }

    /// Number of known nodes whose value satisfies `pred` (walks every
    /// shard; for statistics and tests, not the request path).
    pub fn count_where(&self, pred: impl Fn(&V) -> bool) -> usize {
        self.by_id
            .iter()
            .map(|s| read(s).values().filter(|n| pred(&n.value)).count())
            .sum()
    }

    /// Number of known nodes (root included).
    pub fn len(&self) -> usize {
        self.by_id.iter().map(|s| read(s).len()).sum()
    }

    /// Every known node, ordered by id (for saving migration state, with
    /// no request in flight).
    pub fn snapshot(&self) -> Vec<Arc<Node<V>>> {
        let mut nodes: Vec<_> = self
            .by_id
            .iter()
            .flat_map(|s| read(s).values().cloned().collect::<Vec<_>>())
            .collect();
        nodes.sort_by_key(|n| n.id);
        nodes
    }

    /// The id the next new node gets.
    pub fn next_id(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed)
    }

    /// Migration destination: installs a node the source knew, with its
    /// id and lookup count. `key` is `None` for a node that stands for no
    /// host inode any more (it is reachable by id only, so no lookup ever
    /// returns it). New nodes get ids above `id` from now on. Returns
    /// false, changing nothing, if `id` is the root or already taken.
    pub fn restore(&self, id: NodeId, key: Option<InodeKey>, refcount: u64, value: V) -> bool {
        let mut ids = write(self.id_shard(id));
        if id == ROOT || ids.contains_key(&id) {
            return false;
        }
        let node = Arc::new(Node {
            id,
            key: key.unwrap_or(InodeKey {
                dev: u64::MAX,
                ino: u64::MAX,
                mnt_id: u64::MAX,
            }),
            generation: 0,
            pinned: false,
            refcount: AtomicU64::new(refcount.max(1)),
            value,
        });
        ids.insert(id, Arc::clone(&node));
        drop(ids);
        if let Some(key) = key {
            // Two saved nodes of one host inode (the older one was stale on
            // the source): the first keeps the key.
            write(self.key_shard(&key)).entry(key).or_insert(node);
        }
        self.next_id
            .fetch_max(id.get().saturating_add(1), Ordering::Relaxed);
        true
    }

    /// Sets the root's lookup count (migration destination).
    pub fn set_root_refcount(&self, refcount: u64) {
        if let Some(root) = self.get(ROOT) {
            root.refcount.store(refcount.max(1), Ordering::Release);
        }
    }

    /// Makes new nodes get ids from `next` on (never lower than now).
    pub fn raise_next_id(&self, next: u64) {
        self.next_id.fetch_max(next, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ino: u64) -> InodeKey {
        InodeKey {
            dev: 1,
            ino,
            mnt_id: 7,
        }
    }

    fn table() -> InodeTable<u32> {
        let t = InodeTable::new();
        t.insert_root(key(2), 0);
        t
    }

    #[test]
    fn first_lookup_allocates_an_id_above_root() {
        let t = table();
        let (node, created) = t.acquire(key(10), 1);
        assert!(created);
        assert!(node.id() > ROOT);
        assert_eq!(node.refcount(), 1);
        assert_eq!(*node.value(), 1);
    }

    #[test]
    fn same_key_maps_to_the_same_id_and_counts_references() {
        let t = table();
        let (a, _) = t.acquire(key(10), 1);
        let (b, created) = t.acquire(key(10), 2);
        assert!(!created);
        assert_eq!(a.id(), b.id());
        assert_eq!(*b.value(), 1, "the first value is kept");
        assert_eq!(a.refcount(), 2);
    }

    #[test]
    fn different_mounts_are_different_inodes() {
        let t = table();
        let (a, _) = t.acquire(key(10), 1);
        let (b, _) = t.acquire(
            InodeKey {
                mnt_id: 8,
                ..key(10)
            },
            1,
        );
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn forget_removes_at_zero_only() {
        let t = table();
        let (a, _) = t.acquire(key(10), 1);
        t.acquire(key(10), 1);
        assert!(!t.forget(a.id(), 1));
        assert!(t.get(a.id()).is_some());
        assert!(t.forget(a.id(), 1));
        assert!(t.get(a.id()).is_none());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn forget_more_than_held_removes() {
        let t = table();
        let (a, _) = t.acquire(key(10), 1);
        assert!(t.forget(a.id(), 1000));
        assert!(t.get(a.id()).is_none());
    }

    #[test]
    fn ids_are_not_reused_after_forget() {
        let t = table();
        let (a, _) = t.acquire(key(10), 1);
        t.forget(a.id(), 1);
        let (b, created) = t.acquire(key(10), 1);
        assert!(created);
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn unknown_ids_are_ignored() {
        let t = table();
        assert!(!t.forget(NodeId::from_raw(999), 1));
        assert!(t.get(NodeId::from_raw(999)).is_none());
    }

    #[test]
    fn root_survives_any_forget() {
        let t = table();
        assert!(!t.forget(ROOT, u64::MAX));
        assert!(t.get(ROOT).is_some());
        let (root, created) = t.acquire(key(2), 5);
        assert!(!created);
        assert_eq!(root.id(), ROOT);
    }

    #[test]
    fn dead_node_is_replaced_by_a_fresh_one() {
        let t = table();
        let (a, _) = t.acquire(key(10), 1);
        a.release(1);
        let (b, created) = t.acquire(key(10), 1);
        assert!(created, "a dead node is replaced by a fresh one");
        // Removing the dead node must not remove its replacement.
        t.remove_dead(&a);
        assert_eq!(t.acquire(key(10), 1).0.id(), b.id());
    }

    #[test]
    fn clear_keeps_only_root() {
        let t = table();
        for i in 10..20 {
            t.acquire(key(i), 1);
        }
        t.acquire(key(2), 0);
        t.clear();
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(ROOT).map(|r| r.refcount()), Some(1));
    }

    #[test]
    fn acquire_with_makes_a_value_only_for_new_inodes() {
        let t = table();
        let (a, created) = t
            .acquire_with(key(10), |_| true, || Ok::<_, ()>(5))
            .unwrap();
        assert!(created);
        let (b, created) = t
            .acquire_with(
                key(10),
                |_| true,
                || -> Result<u32, ()> { panic!("value made for a known inode") },
            )
            .unwrap();
        assert!(!created);
        assert_eq!((a.id(), *b.value(), b.refcount()), (b.id(), 5, 2));
    }

    #[test]
    fn failed_acquire_with_changes_nothing() {
        let t = table();
        assert_eq!(
            t.acquire_with(key(10), |_| true, || Err::<u32, _>("no"))
                .unwrap_err(),
            "no"
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_reused_inode_number_gets_a_new_node() {
        let t = table();
        let (old, _) = t.acquire(key(10), 1);
        // The host inode behind `old` is gone; another has its number.
        let (new, created) = t
            .acquire_with(key(10), |v| *v == 2, || Ok::<_, ()>(2))
            .unwrap();
        assert!(created);
        assert_ne!(old.id(), new.id());
        // The old id still resolves until the guest forgets it...
        assert_eq!(*t.get(old.id()).unwrap().value(), 1);
        // ...and forgetting it leaves the new node in place.
        assert!(t.forget(old.id(), 1));
        let (again, created) = t
            .acquire_with(key(10), |v| *v == 2, || Ok::<_, ()>(3))
            .unwrap();
        assert!(!created);
        assert_eq!((again.id(), again.refcount()), (new.id(), 2));
    }

    #[test]
    fn count_where_filters_on_values() {
        let t = table();
        for i in 10..20 {
            t.acquire(key(i), u32::try_from(i % 2).unwrap());
        }
        assert_eq!(t.count_where(|v| *v == 1), 5);
        assert_eq!(t.count_where(|v| *v == 0), 6, "root holds 0 too");
    }

    #[test]
    fn concurrent_lookup_and_forget_keep_counts_consistent() {
        let t = Arc::new(table());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let t = Arc::clone(&t);
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        let (n, _) = t.acquire(key(10), 1);
                        assert!(t.get(n.id()).is_some());
                        t.forget(n.id(), 1);
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert_eq!(t.len(), 1, "every node was forgotten");
    }
}
