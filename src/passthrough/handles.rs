//! The handle table: handle ids the guest holds -> open host files.
//!
//! A pure data structure (no libc, no I/O), generic over what a handle
//! holds. Handle ids come from a counter starting at 1 and are never
//! reused, so a stale or forged id from the guest finds nothing instead of
//! someone else's file. The map is sharded by id; opening and releasing
//! write-lock one shard, reads and writes take one read lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

/// Number of lock shards (a power of two).
const SHARDS: usize = 32;

/// Sharded map handle id -> `Arc<H>`.
#[derive(Debug)]
pub struct HandleTable<H> {
    shards: Vec<RwLock<HashMap<u64, Arc<H>>>>,
    next_id: AtomicU64,
}

impl<H> Default for HandleTable<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> HandleTable<H> {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            next_id: AtomicU64::new(1),
        }
    }

    fn shard(&self, id: u64) -> &RwLock<HashMap<u64, Arc<H>>> {
        &self.shards[(id as usize) % SHARDS]
    }

    /// Stores `handle` under a new id and returns the id.
    pub fn insert(&self, handle: H) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::new(handle));
        id
    }

    /// The handle `id`, if open.
    pub fn get(&self, id: u64) -> Option<Arc<H>> {
        self.shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Removes the handle `id` if `keep` does not object; returns it. The
    /// host file closes when the last in-flight user drops its `Arc`.
    pub fn remove_if(&self, id: u64, matches: impl FnOnce(&H) -> bool) -> Option<Arc<H>> {
        let mut shard = self
            .shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if !matches(shard.get(&id)?) {
            return None;
        }
        shard.remove(&id)
    }

    /// Drops every handle.
    pub fn clear(&self) {
        for shard in &self.shards {
            shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
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
        assert_ne!(a, 0);
        assert_ne!(a, b);
        assert_eq!(t.get(a).as_deref(), Some(&"a"));
        assert_eq!(t.get(b).as_deref(), Some(&"b"));
    }

    #[test]
    fn unknown_ids_find_nothing() {
        let t: HandleTable<u8> = HandleTable::new();
        assert!(t.get(0).is_none());
        assert!(t.get(u64::MAX).is_none());
        assert!(t.remove_if(42, |_| true).is_none());
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
