//! Inode attributes: mode, owner, timestamps and size.
//!
//! The `*_fd` functions act on the file an `O_PATH` descriptor refers to
//! (through `/proc/self/fd` or `AT_EMPTY_PATH`); the `f*` ones need a
//! descriptor opened for I/O.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::open::{ProcFdName, ProcSelfFd};
use super::{cvt, EMPTY};

/// What to do with one timestamp in [`futimens`] / [`utimens_fd`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUpdate {
    /// Leave it alone (`UTIME_OMIT`).
    Omit,
    /// Set it to the current time (`UTIME_NOW`).
    Now,
    /// Set it to these seconds and nanoseconds.
    Set(i64, u32),
}

impl TimeUpdate {
    fn timespec(self) -> libc::timespec {
        let (tv_sec, tv_nsec) = match self {
            Self::Omit => (0, libc::UTIME_OMIT),
            Self::Now => (0, libc::UTIME_NOW),
            // The kernel rejects nanoseconds >= 1e9 with EINVAL.
            Self::Set(sec, nsec) => (sec, i64::from(nsec)),
        };
        libc::timespec { tv_sec, tv_nsec }
    }
}

/// `fchmod(2)` on a descriptor opened for I/O.
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: plain syscall on a borrowed descriptor.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// chmod of the file an `O_PATH` descriptor refers to.
pub fn chmod_fd(proc: &ProcSelfFd, fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    let name = ProcFdName::relative(fd);
    // SAFETY: `name` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::fchmodat(proc.dir().as_raw_fd(), name.as_cstr().as_ptr(), mode, 0) })
        .map(drop)
}

/// chmod of `name` in `dir` (not following a symlink there: the kernel
/// refuses to chmod symlinks, so `name` must not be one).
pub fn chmod_at(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), mode, 0) }).map(drop)
}

/// chown of `name` in `dir`, not following a symlink; `None` leaves that
/// id unchanged.
pub fn chown_at(
    dir: BorrowedFd<'_>,
    name: &CStr,
    uid: Option<u32>,
    gid: Option<u32>,
) -> io::Result<()> {
    let uid = uid.unwrap_or(u32::MAX);
    let gid = gid.unwrap_or(u32::MAX);
    // SAFETY: `name` is NUL-terminated and outlives the call.
    cvt(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// chown of the file `fd` refers to (symlinks included, not followed);
/// `None` leaves that id unchanged.
pub fn chown_fd(fd: BorrowedFd<'_>, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let uid = uid.unwrap_or(u32::MAX);
    let gid = gid.unwrap_or(u32::MAX);
    // SAFETY: the empty path is NUL-terminated; plain syscall otherwise.
    cvt(unsafe {
        libc::fchownat(
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            uid,
            gid,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// `futimens(2)` on a descriptor opened for I/O.
pub fn futimens(fd: BorrowedFd<'_>, atime: TimeUpdate, mtime: TimeUpdate) -> io::Result<()> {
    let times = [atime.timespec(), mtime.timespec()];
    // SAFETY: `times` is an array of two timespecs that outlives the call.
    cvt(unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) }).map(drop)
}

/// Sets the timestamps of the file an `O_PATH` descriptor refers to.
pub fn utimens_fd(
    proc: &ProcSelfFd,
    fd: BorrowedFd<'_>,
    atime: TimeUpdate,
    mtime: TimeUpdate,
) -> io::Result<()> {
    let times = [atime.timespec(), mtime.timespec()];
    let name = ProcFdName::relative(fd);
    // SAFETY: `name` is NUL-terminated and `times` holds two timespecs;
    // both outlive the call.
    cvt(unsafe {
        libc::utimensat(
            proc.dir().as_raw_fd(),
            name.as_cstr().as_ptr(),
            times.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// `ftruncate(2)` on a descriptor opened for writing.
pub fn ftruncate(fd: BorrowedFd<'_>, size: u64) -> io::Result<()> {
    let size = i64::try_from(size).map_err(|_| super::errno(libc::EFBIG))?;
    // SAFETY: plain syscall on a borrowed descriptor.
    cvt(unsafe { libc::ftruncate64(fd.as_raw_fd(), size) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::stat::fstat;
    use std::os::fd::AsFd;

    #[test]
    fn utimens_sets_one_time_and_omits_the_other() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let f = tmp.as_file();
        futimens(
            f.as_fd(),
            TimeUpdate::Set(1000, 5),
            TimeUpdate::Set(2000, 7),
        )
        .unwrap();
        let proc = ProcSelfFd::open().unwrap();
        utimens_fd(&proc, f.as_fd(), TimeUpdate::Omit, TimeUpdate::Set(3000, 9)).unwrap();
        let st = fstat(f.as_fd()).unwrap();
        assert_eq!((st.st_atime, st.st_atime_nsec), (1000, 5));
        assert_eq!((st.st_mtime, st.st_mtime_nsec), (3000, 9));
    }

    #[test]
    fn chmod_fd_changes_the_mode() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let f = tmp.as_file();
        let proc = ProcSelfFd::open().unwrap();
        chmod_fd(&proc, f.as_fd(), 0o640).unwrap();
        assert_eq!(fstat(f.as_fd()).unwrap().st_mode & 0o7777, 0o640);
        fchmod(f.as_fd(), 0o600).unwrap();
        assert_eq!(fstat(f.as_fd()).unwrap().st_mode & 0o7777, 0o600);
    }

    #[test]
    fn ftruncate_rejects_sizes_beyond_off_t() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let err = ftruncate(tmp.as_file().as_fd(), u64::MAX).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EFBIG));
        ftruncate(tmp.as_file().as_fd(), 10).unwrap();
        assert_eq!(fstat(tmp.as_file().as_fd()).unwrap().st_size, 10);
    }
}
