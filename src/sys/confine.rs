//! Confining the process: namespaces (`unshare`), mounts (`mount` of
//! binds and procfs, `pivot_root`, `umount2`), `chroot`, the working directory and
//! `PR_SET_NO_NEW_PRIVS`.
//!
//! These are the building blocks of `--sandbox`; the order they are called
//! in, and why, lives in `daemon::sandbox`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::cvt;

/// `unshare(2)` with `flags` (`CLONE_NEW*`, `CLONE_FS`).
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall without pointers.
    cvt(unsafe { libc::unshare(flags) }).map(drop)
}

/// Changes the propagation type of the mount at `target` (e.g. `MS_SLAVE |
/// MS_REC`).
pub fn set_propagation(target: &CStr, flags: libc::c_ulong) -> io::Result<()> {
    // SAFETY: `target` is NUL-terminated and outlives the call; a
    // propagation change takes no source, type or data (null is allowed).
    cvt(unsafe {
        libc::mount(
            std::ptr::null(),
            target.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    })
    .map(drop)
}

/// Bind-mounts `path` onto itself with everything mounted beneath it
/// (`MS_BIND | MS_REC`), which makes it a mount point.
pub fn bind_onto_itself(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call; a bind mount
    // takes no filesystem type or data.
    cvt(unsafe {
        libc::mount(
            path.as_ptr(),
            path.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    })
    .map(drop)
}

/// Bind-mounts the directory `source` onto `target`, alone (`MS_BIND`,
/// nothing mounted beneath it). The new mount's root is `source`, so `..`
/// from it leaves the mount rather than climbing inside `source`'s
/// filesystem; once the mount is detached from its parent, `..` stays put.
pub fn bind(source: &CStr, target: &CStr) -> io::Result<()> {
    // SAFETY: both paths are NUL-terminated and outlive the call; a bind
    // mount takes no filesystem type or data.
    cvt(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    })
    .map(drop)
}

/// Mounts a new procfs instance at `target`: it shows the processes of the
/// caller's pid namespace. No device nodes, no set-id, nothing to execute.
pub fn mount_proc(target: &CStr) -> io::Result<()> {
    // SAFETY: all strings are NUL-terminated and outlive the call; procfs
    // takes no data here (null is allowed).
    cvt(unsafe {
        libc::mount(
            c"proc".as_ptr(),
            target.as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    })
    .map(drop)
}

/// `pivot_root(2)`: `new_root` becomes `/`, the old root is mounted on
/// `put_old`.
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both paths are NUL-terminated and outlive the call.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Lazily unmounts the mount at `target` and everything beneath it
/// (`umount2(MNT_DETACH)`).
pub fn umount_detach(target: &CStr) -> io::Result<()> {
    // SAFETY: `target` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) }).map(drop)
}

/// `chroot(2)`.
pub fn chroot(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::chroot(path.as_ptr()) }).map(drop)
}

/// `chdir(2)`.
pub fn chdir(path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

/// `fchdir(2)` (an `O_PATH` directory descriptor is fine).
pub fn fchdir(dir: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `dir` is a valid descriptor for the duration of the borrow.
    cvt(unsafe { libc::fchdir(dir.as_raw_fd()) }).map(drop)
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: `execve` can no longer grant
/// privileges (setuid bits, file capabilities) to this thread or its
/// descendants.
pub fn set_no_new_privs() -> io::Result<()> {
    let (on, unused): (libc::c_ulong, libc::c_ulong) = (1, 0);
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers, no pointers.
    cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, on, unused, unused, unused) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_new_privs_can_be_set() {
        // Harmless for the test process: it never execs a setuid binary.
        set_no_new_privs().unwrap();
        // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointer arguments.
        let got = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
        assert_eq!(got, 1);
    }

    #[test]
    fn failures_carry_the_errno() {
        let err = chroot(c"/nonexistent/epochfsd").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        let err = pivot_root(c"/nonexistent/a", c"/nonexistent/b").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }
}
