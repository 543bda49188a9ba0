//! Per-thread credentials, supplementary groups and umask.
//!
//! On Linux, credentials belong to a thread; glibc's `setresuid`,
//! `setresgid` and `setgroups` broadcast a change to every thread of the
//! process. The functions here make the raw syscalls instead, so a worker
//! thread can act as a guest caller without affecting the other workers.
//!
//! Only the *effective* ids change (`setresuid(-1, uid, -1)`): the real and
//! saved ids stay 0, so the thread keeps its permitted capabilities and can
//! switch back. While the effective uid is not 0 the kernel clears the
//! thread's effective capabilities, so the host checks permissions exactly
//! as it would for that uid.

use std::io;

/// "Leave this id unchanged" for the `setres*id` syscalls.
const UNCHANGED: libc::c_long = -1;

fn raw_result(ret: libc::c_long) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sets the calling thread's effective uid (raw syscall: this thread only).
pub fn set_thread_euid(uid: u32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments; it only changes the
    // calling thread's credentials.
    raw_result(unsafe {
        libc::syscall(
            libc::SYS_setresuid,
            UNCHANGED,
            libc::c_long::from(uid),
            UNCHANGED,
        )
    })
}

/// Sets the calling thread's effective gid (raw syscall: this thread only).
pub fn set_thread_egid(gid: u32) -> io::Result<()> {
    // SAFETY: as in `set_thread_euid`.
    raw_result(unsafe {
        libc::syscall(
            libc::SYS_setresgid,
            UNCHANGED,
            libc::c_long::from(gid),
            UNCHANGED,
        )
    })
}

/// Sets the calling thread's supplementary groups (raw syscall: this
/// thread only). Needs `CAP_SETGID`, so call it before dropping the uid.
pub fn set_thread_groups(groups: &[u32]) -> io::Result<()> {
    // SAFETY: `groups` is a valid array of `len` gid_t values that outlives
    // the call; the kernel only reads it.
    raw_result(unsafe {
        libc::syscall(
            libc::SYS_setgroups,
            groups.len() as libc::c_long,
            groups.as_ptr(),
        )
    })
}

/// Drops every supplementary group of the whole process (glibc's
/// `setgroups`, which applies the change to all threads).
pub fn drop_process_groups() -> io::Result<()> {
    // SAFETY: a zero-length list needs no valid pointer.
    super::cvt(unsafe { libc::setgroups(0, std::ptr::null()) }).map(drop)
}

/// The calling thread's supplementary groups.
pub fn thread_groups() -> io::Result<Vec<u32>> {
    let mut groups = vec![0u32; 256];
    // SAFETY: `groups` has room for the count we pass; the kernel writes at
    // most that many entries.
    let n = unsafe { libc::getgroups(groups.len() as libc::c_int, groups.as_mut_ptr()) };
    let n = super::cvt(n)?;
    groups.truncate(usize::try_from(n).unwrap_or(0));
    Ok(groups)
}

/// The calling thread's effective uid and gid.
pub fn thread_eids() -> (u32, u32) {
    // SAFETY: geteuid/getegid cannot fail; glibc reads the calling thread's
    // ids from the kernel.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// Sets the umask of the calling thread's filesystem context (the whole
/// process unless the thread called [`unshare_fs`]); returns the old one.
pub fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask) }
}

/// Gives the calling thread its own filesystem context (cwd, root, umask),
/// so [`set_umask`] affects this thread only.
pub fn unshare_fs() -> io::Result<()> {
    // SAFETY: plain syscall without pointers.
    super::cvt(unsafe { libc::unshare(libc::CLONE_FS) }).map(drop)
}

/// The effective uid of the process.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// The id of the group called `name` (from `/etc/group` or NSS), or
/// `None` if there is no such group.
pub fn group_id(name: &std::ffi::CStr) -> io::Result<Option<u32>> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: all-zero is a valid `group` (null pointers, zero id).
        let mut group: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: `name` is NUL-terminated; `group`, `buf` and `found`
        // are valid for writes of the sizes passed, and outlive the call.
        let rc = unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                &mut group,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        match rc {
            0 if found.is_null() => return Ok(None),
            0 => return Ok(Some(group.gr_gid)),
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a fresh thread so a failed assertion cannot leave the
    /// test harness thread with switched credentials.
    fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().unwrap()
    }

    #[test]
    fn euid_switch_is_per_thread_and_reversible() {
        if geteuid() != 0 {
            assert!(on_thread(|| set_thread_euid(geteuid() + 1).is_err()));
            return;
        }
        let (inside, restored) = on_thread(|| {
            set_thread_egid(4321).unwrap();
            set_thread_euid(1234).unwrap();
            let inside = thread_eids();
            set_thread_euid(0).unwrap();
            set_thread_egid(0).unwrap();
            (inside, thread_eids())
        });
        assert_eq!(inside, (1234, 4321));
        assert_eq!(restored, (0, 0));
        assert_eq!(thread_eids(), (0, 0), "other threads are not affected");
    }

    #[test]
    fn thread_groups_are_per_thread() {
        if geteuid() != 0 {
            return;
        }
        let before = thread_groups().unwrap();
        let inside = on_thread(|| {
            set_thread_groups(&[777]).unwrap();
            thread_groups().unwrap()
        });
        assert_eq!(inside, [777]);
        assert_eq!(thread_groups().unwrap(), before);
    }

    #[test]
    fn unprivileged_thread_cannot_take_groups() {
        if geteuid() != 0 {
            return;
        }
        let err = on_thread(|| {
            set_thread_euid(1234).unwrap();
            let err = set_thread_groups(&[1]).unwrap_err();
            set_thread_euid(0).unwrap();
            err
        });
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    }
}
