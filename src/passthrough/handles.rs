//! The handle table: handle ids the guest holds -> open host files.
//!
//! A pure data structure (no libc, no I/O), generic over what a handle
//! holds. Handle ids come from a counter starting at 1 and are never
//! reused, so a stale or forged id from the guest finds nothing instead of
//! someone else's file. The map is sharded by id; opening and releasing
//! write-lock one shard, reads and writes take one read lock.
//!
//! The table holds at most `limit` handles (`--max-handles`): an open
//! first takes a [`Reservation`], before it opens anything on the host,
//! and gets none once the guest holds `limit` handles, so a guest that
//! never releases cannot run the daemon out of descriptors or memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::filesystem::HandleId;

/// Number of lock shards (a power of two).
const SHARDS: usize = 32;

/// Sharded map handle id -> `Arc<H>`.
#[derive(Debug)]
pub struct HandleTable<H> {
    shards: Vec<RwLock<HashMap<HandleId, Arc<H>>>>,
    next_id: AtomicU64,
    /// Handles held plus reservations outstanding.
    count: AtomicUsize,
    limit: usize,
}

/// A slot in the table, taken before the handle exists; given back on
/// drop unless [`Reservation::insert`] filled it.
#[derive(Debug)]
pub struct Reservation<'a, H> {
    table: &'a HandleTable<H>,
    filled: bool,
}

impl<H> Reservation<'_, H> {
    /// Stores `handle` in the reserved slot and returns its id.
    pub fn insert(mut self, handle: H) -> HandleId {
        self.filled = true;
        self.table.store(handle)
    }
}

impl<H> Drop for Reservation<'_, H> {
    fn drop(&mut self) {
        if !self.filled {
            self.table.release_slot();
        }
    }
}

impl<H> Default for HandleTable<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> HandleTable<H> {
    /// An empty table without a limit.
    pub fn new() -> Self {
        Self::with_limit(usize::MAX)
    }

    /// An empty table holding at most `limit` handles.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            next_id: AtomicU64::new(1),
            count: AtomicUsize::new(0),
            limit,
        }
    }

    /// A slot for one more handle, or `None` if the table is full.
    pub fn reserve(&self) -> Option<Reservation<'_, H>> {
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Reservation {
                table: self,
                filled: false,
            })
    }

    fn release_slot(&self) {
        let _ = self
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    fn shard(&self, id: HandleId) -> &RwLock<HashMap<HandleId, Arc<H>>> {
        // The remainder is below SHARDS, so it always fits.
        &self.shards[usize::try_from(id.get() % SHARDS as u64).unwrap_or(0)]
    }

    /// Stores `handle` under a new id and returns the id, whatever the
    /// limit (tests; the daemon goes through [`reserve`](Self::reserve)).
    #[cfg(test)]
    pub fn insert(&self, handle: H) -> HandleId {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.store(handle)
    }

    fn store(&self, handle: H) -> HandleId {
        let id = HandleId::from_raw(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::new(handle));
        id
    }

    /// The handle `id`, if open.
    pub fn get(&self, id: HandleId) -> Option<Arc<H>> {
        self.shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Removes the handle `id` if `keep` does not object; returns it. The
    /// host file closes when the last in-flight user drops its `Arc`.
    pub fn remove_if(&self, id: HandleId, matches: impl FnOnce(&H) -> bool) -> Option<Arc<H>> {
        let mut shard = self
            .shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if !matches(shard.get(&id)?) {
            return None;
        }
        let removed = shard.remove(&id);
        self.release_slot();
        removed
    }

    /// Drops every handle.
    pub fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
            for _ in shard.drain() {
                self.release_slot();
            }
        }
    }

    /// Every open handle with its id, ordered by id (for saving migration
    /// state).
    pub fn snapshot(&self) -> Vec<(HandleId, Arc<H>)> {
        let mut all: Vec<_> = self
            .shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .map(|(id, h)| (*id, Arc::clone(h)))
                    .collect::<Vec<_>>()
            })
            .collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// The id the next handle gets.
    pub fn next_id(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed)
    }

    /// Migration destination: stores `handle` under the id it had on the
    /// source, whatever the limit (the guest holds it already). Returns
    /// false, changing nothing, if the id is 0 or taken.
    pub fn restore(&self, id: HandleId, handle: H) -> bool {
        let mut shard = self
            .shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if id.get() == 0 || shard.contains_key(&id) {
            return false;
        }
        shard.insert(id, Arc::new(handle));
        self.count.fetch_add(1, Ordering::AcqRel);
        self.next_id
            .fetch_max(id.get().saturating_add(1), Ordering::Relaxed);
        true
    }

    /// Makes new handles get ids from `next` on (never lower than now).
    pub fn raise_next_id(&self, next: u64) {
        self.next_id.fetch_max(next, Ordering::Relaxed);
    }

    /// Number of open handles.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_nonzero() {
        let t = HandleTable::new();
        let a = t.insert("a");
        let b = t.insert("b");
        assert_ne!(a.get(), 0);
        assert_ne!(a, b);
        assert_eq!(t.get(a).as_deref(), Some(&"a"));
        assert_eq!(t.get(b).as_deref(), Some(&"b"));
    }

    #[test]
    fn unknown_ids_find_nothing() {
        let t: HandleTable<u8> = HandleTable::new();
        assert!(t.get(HandleId::from_raw(0)).is_none());
        assert!(t.get(HandleId::from_raw(u64::MAX)).is_none());
        assert!(t.remove_if(HandleId::from_raw(42), |_| true).is_none());
    }

    #[test]
    fn remove_if_respects_the_predicate() {
        let t = HandleTable::new();
        let a = t.insert(7u32);
        assert!(t.remove_if(a, |&v| v == 8).is_none());
        assert!(t.get(a).is_some());
        assert_eq!(t.remove_if(a, |&v| v == 7).as_deref(), Some(&7));
        assert!(t.get(a).is_none());
        assert!(
            t.remove_if(a, |_| true).is_none(),
            "double release finds nothing"
        );
    }

    #[test]
    fn reservations_stop_at_the_limit_and_come_back_on_release_or_drop() {
        let t = HandleTable::with_limit(2);
        let a = t.reserve().unwrap().insert(1u8);
        let pending = t.reserve().unwrap();
        assert!(t.reserve().is_none(), "full with a reservation outstanding");
        drop(pending);
        let b = t.reserve().unwrap().insert(2u8);
        assert!(t.reserve().is_none());
        t.remove_if(a, |_| true).unwrap();
        assert!(t.reserve().is_some());
        t.clear();
        assert_eq!(t.len(), 0);
        assert!(t.get(b).is_none());
        let (x, y) = (t.reserve(), t.reserve());
        assert!(x.is_some() && y.is_some(), "clear gives every slot back");
    }

    #[test]
    fn ids_are_not_reused_and_clear_empties() {
        let t = HandleTable::new();
        let a = t.insert(1u8);
        t.remove_if(a, |_| true);
        let b = t.insert(2u8);
        assert_ne!(a, b);
        t.insert(3u8);
        assert_eq!(t.len(), 2);
        t.clear();
        assert_eq!(t.len(), 0);
    }
}
