//! The dirty-page bitmap of a guest memory region, as the daemon maps it.
//!
//! vm-memory makes a bitmap slice for every guest memory access and marks
//! it on every write. With vhost-user-backend's `BitmapMmapRegion` (the
//! migration log behind an `Arc<RwLock<..>>`, cloned for every slice, locked
//! for every write, logging or not) 4 KiB READs at 1 queue x 16 cost 35%
//! more daemon CPU per request on the host rig than with no bitmap; with
//! slices that are a reference and an offset, still about 20% more (the
//! access paths are no longer the unit type's). So [`DirtyBitmap`]'s
//! slices *are* the unit type: accesses through vm-memory cost what they
//! cost without a bitmap and mark nothing, and the device marks what it
//! writes itself, on the region's bitmap, while logging is on: the reply
//! and payload bytes of each request and the used ring after each
//! completion ([`crate::transport::mark_dirty`]). The daemon writes guest
//! memory nowhere else.
//!
//! The log is consulted only while it is `active`, which the device turns
//! on and off with `VHOST_F_LOG_ALL` (and which needs a log from
//! `SET_LOG_BASE` to exist).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use vhost_user_backend::bitmap::{AtomicBitmapMmap, BitmapMmapRegion, BitmapReplace};
use vm_memory::bitmap::{Bitmap, WithBitmapSlice};
use vm_memory::mmap::NewBitmap;

/// A region's dirty bitmap: the migration log once the VMM sent one, and
/// marked only while logging is on. Clones (vhost-user-backend clones
/// regions when the memory table changes) share the log and the switches.
#[derive(Debug, Default, Clone)]
pub struct DirtyBitmap {
    log: BitmapMmapRegion,
    switches: Arc<Switches>,
}

#[derive(Debug, Default)]
struct Switches {
    /// `SET_LOG_BASE` gave this region a log.
    has_log: AtomicBool,
    /// Writes are marked (a log exists and `VHOST_F_LOG_ALL` is acked).
    active: AtomicBool,
}

impl DirtyBitmap {
    /// Turns marking on (if the region has a log) or off.
    pub fn set_logging(&self, on: bool) {
        let on = on && self.switches.has_log.load(Ordering::Acquire);
        self.switches.active.store(on, Ordering::Release);
    }

    fn active(&self) -> bool {
        self.switches.active.load(Ordering::Relaxed)
    }
}

impl WithBitmapSlice<'_> for DirtyBitmap {
    type S = ();
}

impl Bitmap for DirtyBitmap {
    fn mark_dirty(&self, offset: usize, len: usize) {
        if self.active() {
            self.log.mark_dirty(offset, len);
        }
    }

    fn dirty_at(&self, offset: usize) -> bool {
        self.log.dirty_at(offset)
    }

    fn slice_at(&self, _offset: usize) {}
}

impl NewBitmap for DirtyBitmap {
    fn with_len(_len: usize) -> Self {
        Self::default()
    }
}

impl BitmapReplace for DirtyBitmap {
    type InnerBitmap = AtomicBitmapMmap;

    /// `SET_LOG_BASE`: the VMM sends the log after it acked
    /// `VHOST_F_LOG_ALL`, so marking starts here.
    fn replace(&self, bitmap: AtomicBitmapMmap) {
        self.log.replace(bitmap);
        self.switches.has_log.store(true, Ordering::Release);
        self.switches.active.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_log_nothing_is_marked_and_logging_stays_off() {
        let bitmap = DirtyBitmap::default();
        bitmap.set_logging(true);
        bitmap.mark_dirty(0, 4096);
        assert!(!bitmap.dirty_at(0));
        assert!(!bitmap.active());
    }
}
