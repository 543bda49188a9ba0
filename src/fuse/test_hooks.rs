//! Test-only fault and delay injection, compiled in only with the
//! `test-hooks` cargo feature (never in release builds). The SYNCFS epoch
//! tests use it to hold chosen WRITEs inside their epoch and to make the
//! SYNCFS flush fail; the seccomp tests use it to make a forbidden call.

use std::io;
use std::time::Duration;

/// What to inject.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestHooks {
    /// A WRITE at exactly this file offset is held after its host write,
    /// still inside its epoch, for `slow_write`.
    pub slow_write_offset: Option<u64>,
    /// How long such a WRITE is held.
    pub slow_write: Duration,
    /// SYNCFS fails with this errno after waiting for its epochs.
    pub fail_syncfs: Option<i32>,
    /// STATFS first makes a system call outside the seccomp allowlist
    /// (`sys::sigsys::forbidden_call`), to show the filter's action.
    pub forbidden_syscall: bool,
    /// The targeted flush's fsync of a regular file of exactly this size
    /// fails with EIO (set on the filesystem by the daemon).
    pub fail_flush_size: Option<u64>,
}

impl TestHooks {
    pub(crate) fn after_write(&self, offset: u64) {
        if self.slow_write_offset == Some(offset) {
            std::thread::sleep(self.slow_write);
        }
    }

    /// Before STATFS: the forbidden call, if asked for; its error (ENOSYS
    /// under `--seccomp trap`) becomes the reply.
    pub(crate) fn before_statfs(&self) -> io::Result<()> {
        if self.forbidden_syscall {
            crate::sys::sigsys::forbidden_call()?;
        }
        Ok(())
    }

    pub(crate) fn syncfs_result(&self) -> io::Result<()> {
        match self.fail_syncfs {
            Some(errno) => Err(io::Error::from_raw_os_error(errno)),
            None => Ok(()),
        }
    }
}
