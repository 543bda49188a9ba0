//! Dirty-page logging the way QEMU drives it during a migration:
//! SET_FEATURES with VHOST_F_LOG_ALL, SET_LOG_BASE with a memfd log, and
//! reading the log back.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use vhost::VhostBackend;

use super::vmm::{memfd, TestVmm};

/// The VMM logs dirty pages (a migration is under way).
pub const VHOST_F_LOG_ALL: u64 = 1 << 26;

const PAGE: u64 = 4096;

/// A dirty-page log handed to the daemon with SET_LOG_BASE: bit N of the
/// memfd stands for guest page N (4 KiB).
pub struct DirtyLog {
    file: File,
    size: u64,
}

impl DirtyLog {
    /// Turns logging on: SET_FEATURES with VHOST_F_LOG_ALL, then
    /// SET_LOG_BASE with a fresh log covering all of guest memory.
    pub fn start(vmm: &mut TestVmm) -> DirtyLog {
        let top = vmm.regions().iter().map(|r| r.1).max().unwrap_or(0);
        let size = (top / PAGE).div_ceil(8).next_multiple_of(PAGE);
        let file = memfd(size);
        let features = vmm.acked_features();
        vmm.frontend()
            .set_features(features | VHOST_F_LOG_ALL)
            .expect("SET_FEATURES with LOG_ALL");
        let region = vhost::VhostUserDirtyLogRegion {
            mmap_size: size,
            mmap_offset: 0,
            mmap_handle: file.as_raw_fd(),
        };
        vmm.frontend()
            .set_log_base(0, Some(region))
            .expect("SET_LOG_BASE");
        DirtyLog { file, size }
    }

    /// Turns logging off again (SET_FEATURES without VHOST_F_LOG_ALL), as
    /// QEMU does when a migration ends or is cancelled.
    pub fn stop(vmm: &mut TestVmm) {
        let features = vmm.acked_features();
        vmm.frontend()
            .set_features(features)
            .expect("SET_FEATURES without LOG_ALL");
    }

    /// Guest page numbers whose bit is set.
    pub fn dirty_pages(&self) -> BTreeSet<u64> {
        let mut bytes = vec![0u8; self.size as usize];
        self.file
            .read_exact_at(&mut bytes, 0)
            .expect("read the log");
        let mut pages = BTreeSet::new();
        for (i, byte) in bytes.iter().enumerate() {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    pages.insert(i as u64 * 8 + bit);
                }
            }
        }
        pages
    }

    /// Clears every bit, as the VMM does after it copied the pages.
    pub fn clear(&self) {
        let zeros = vec![0u8; self.size as usize];
        self.file.write_all_at(&zeros, 0).expect("clear the log");
    }
}
