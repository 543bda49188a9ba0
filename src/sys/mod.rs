//! Small safe wrappers over the Linux syscalls the daemon makes.
//!
//! This module owns every raw file-descriptor number and every `unsafe`
//! call into libc: each wrapper takes borrowed descriptors and `&CStr`
//! names, returns `io::Result` carrying the host errno, and turns a new raw
//! descriptor into an [`OwnedFd`](std::os::fd::OwnedFd) at once so nothing
//! can leak. Nothing here knows about FUSE, the guest or the inode table.
//!
//! Split by concern: [`open`] (openat, openat2, re-opening through
//! `/proc/self/fd`), [`stat`] (fstatat, statx, fstatvfs), [`namei`] (entries
//! in a directory), [`attr`] (mode, owner, times, size), [`datapath`] (sync,
//! allocation, seeking), [`dirent`] (getdents64), [`xattr`], [`creds`]
//! (per-thread filesystem uid/gid), [`file_handle`] (name_to_handle_at,
//! open_by_handle_at), [`rlimit`] (the open file limit), [`process`]
//! (fork, wait, kill: the pid namespace's launcher), [`signal`]
//! (blocking and waiting for signals), [`confine`] (namespaces, mounts,
//! chroot: the `--sandbox` building blocks), [`caps`] (capability sets) and
//! [`sigsys`] (the `--seccomp trap` handler).

pub mod attr;
pub mod caps;
pub mod confine;
pub mod creds;
pub mod datapath;
pub mod dirent;
pub mod file_handle;
pub mod namei;
pub mod open;
pub mod process;
pub mod rlimit;
pub mod signal;
pub mod sigsys;
pub mod stat;
pub mod xattr;

use std::io;

/// Turns a `-1`-on-error return value into `io::Result`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like [`cvt`] for calls returning `ssize_t`/`long` (reads, lengths).
pub(crate) fn cvt_size(ret: isize) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        // `ret` is non-negative here, so the conversion is lossless.
        Ok(ret.unsigned_abs())
    }
}

/// Like [`cvt`] for `off64_t` results (lseek).
pub(crate) fn cvt_off(ret: i64) -> io::Result<u64> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret.unsigned_abs())
    }
}

/// An `io::Error` carrying `errno`.
pub fn errno(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

/// The empty path, for `AT_EMPTY_PATH` calls that act on the descriptor itself.
pub(crate) const EMPTY: &std::ffi::CStr = c"";
