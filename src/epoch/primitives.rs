//! The synchronization primitives the epoch tracker is built from.
//!
//! Normally these are the `std` types. Under `cfg(loom)` they are loom's
//! model-checked equivalents, so the tracker's own code is what loom explores.
//! The helpers also turn a poisoned lock into its guard: the tracker's state
//! stays consistent at every point where a panic could unwind (all updates are
//! single assignments), so a panic elsewhere must not disable SYNCFS for good.

use std::sync::PoisonError;
use std::time::Duration;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
pub(crate) use std::sync::atomic::Ordering;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

/// Orders the tracker's store-then-load handshakes (see the module docs of
/// [`crate::epoch`], "Memory ordering").
///
/// Natively every access in those handshakes is `SeqCst`, which already puts
/// them in one total order, so this compiles to nothing. Loom weakens `SeqCst`
/// accesses to acquire/release but models `SeqCst` fences exactly, so under
/// loom the same handshakes are ordered by a fence at this point instead.
#[inline(always)]
pub(crate) fn sc_fence() {
    #[cfg(loom)]
    loom::sync::atomic::fence(Ordering::SeqCst);
}

/// Locks `mutex`, recovering the guard if another thread panicked holding it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Blocks on `condvar`, recovering the guard from a poisoned mutex.
pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// Blocks on `condvar` for at most `timeout` (loom ignores the timeout).
pub(crate) fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    match condvar.wait_timeout(guard, timeout) {
        Ok((guard, _)) => guard,
        Err(poisoned) => poisoned.into_inner().0,
    }
}
