//! Per-thread filesystem credentials and the process umask.
//!
//! `setfsuid`/`setfsgid` change only the calling thread's filesystem ids
//! (the raw syscalls are per-thread on Linux; glibc does not broadcast
//! them), so a worker can create files as the guest caller without
//! affecting other workers.

use std::io;

use super::errno;

/// Sets the calling thread's filesystem uid; returns the previous one.
/// Fails with `EPERM` when the change did not take (no `CAP_SETUID`).
pub fn set_fsuid(uid: u32) -> io::Result<u32> {
    // SAFETY: plain syscall without pointers.
    let old = unsafe { libc::setfsuid(uid) };
    // SAFETY: as above; an invalid id (-1) changes nothing and reports
    // the current value.
    let now = unsafe { libc::setfsuid(u32::MAX) };
    if now as u32 == uid {
        Ok(old as u32)
    } else {
        Err(errno(libc::EPERM))
    }
}

/// Sets the calling thread's filesystem gid; returns the previous one.
pub fn set_fsgid(gid: u32) -> io::Result<u32> {
    // SAFETY: plain syscall without pointers.
    let old = unsafe { libc::setfsgid(gid) };
    // SAFETY: as above; -1 only reports the current value.
    let now = unsafe { libc::setfsgid(u32::MAX) };
    if now as u32 == gid {
        Ok(old as u32)
    } else {
        Err(errno(libc::EPERM))
    }
}

/// Sets the process umask; returns the previous one.
pub fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask) }
}

/// The effective uid of the process.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsuid_switch_is_reported_and_restored() {
        let me = geteuid();
        if me != 0 {
            assert!(set_fsuid(me.wrapping_add(1)).is_err());
            return;
        }
        let before = set_fsuid(1234).unwrap();
        assert_eq!(before, 0);
        assert_eq!(set_fsuid(0).unwrap(), 1234);
        set_fsgid(4321).unwrap();
        assert_eq!(set_fsgid(0).unwrap(), 4321);
    }
}
