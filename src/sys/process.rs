//! Processes: forking the daemon into its pid namespace, waiting for it,
//! passing signals and its end on (`fork`, `waitpid`, `kill`,
//! `PR_SET_PDEATHSIG`, `PR_SET_DUMPABLE`), and the pipe the forked child
//! watches to learn that its parent is gone.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::cvt;

/// Which side of a [`fork`] the caller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The new process.
    Child,
    /// The calling process; the child's pid as the caller sees it.
    Parent(libc::pid_t),
}

/// `fork(2)`.
///
/// # Safety
///
/// The calling process must have one thread: in the child only the calling
/// thread exists, and a lock another thread held at the fork (the
/// allocator's, the standard library's) would stay locked for good.
pub unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: the caller guarantees the process has one thread, so the
    // child is a complete copy and may run any code.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this status.
    Exited(i32),
    /// A signal ended it.
    Signaled(i32),
}

/// `waitpid(pid, WNOHANG)`: how `pid` ended, or `None` while it runs (or
/// was only stopped).
pub fn try_wait(pid: libc::pid_t) -> io::Result<Option<Ended>> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid out pointer for the duration of the call.
    let ret = cvt(unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) })?;
    if ret == 0 {
        return Ok(None);
    }
    Ok(if libc::WIFEXITED(status) {
        Some(Ended::Exited(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(Ended::Signaled(libc::WTERMSIG(status)))
    } else {
        None
    })
}

/// `kill(pid, signal)`.
pub fn kill(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall without pointers.
    cvt(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// `prctl(PR_SET_PDEATHSIG, signal)`: the calling thread's process gets
/// `signal` when the thread that forked it ends.
pub fn set_parent_death_signal(signal: libc::c_int) -> io::Result<()> {
    let unused: libc::c_ulong = 0;
    let signal = libc::c_ulong::try_from(signal).map_err(|_| super::errno(libc::EINVAL))?;
    // SAFETY: PR_SET_PDEATHSIG takes plain integers.
    cvt(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal, unused, unused, unused) }).map(drop)
}

/// Ends the calling process the way `signal` would end it with its
/// default action (so whoever waits for it sees that signal), without a
/// core dump; returns only if the default action does not end a process
/// (then the caller exits by itself).
pub fn die_by_signal(signal: libc::c_int) {
    let unused: libc::c_ulong = 0;
    // SAFETY: PR_SET_DUMPABLE takes plain integers; 0 turns core dumps off.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, unused, unused, unused, unused) };
    // SAFETY: SIG_DFL is a valid disposition for any catchable signal; an
    // invalid or uncatchable number only makes the call fail.
    unsafe { libc::signal(signal, libc::SIG_DFL) };
    if let Ok(set) = super::signal::SignalSet::of(&[signal]) {
        // A failure leaves the signal blocked: the exit below follows.
        let _ = set.unblock();
    }
    // SAFETY: raise has no memory effects.
    unsafe { libc::raise(signal) };
}

/// `pipe2(O_CLOEXEC)`: the read end and the write end.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two descriptors the kernel writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both are new descriptors owned by nobody
    // else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Whether every write end of the pipe whose read end is `read` is closed
/// (without waiting).
pub fn writers_gone(read: BorrowedFd<'_>) -> io::Result<bool> {
    let mut poll = libc::pollfd {
        fd: read.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a zero timeout never blocks.
    cvt(unsafe { libc::poll(&mut poll, 1, 0) })?;
    Ok(poll.revents & libc::POLLHUP != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_pipe_reports_its_writers_gone_only_once_they_are_closed() {
        let (read, write) = pipe().unwrap();
        assert!(!writers_gone(read.as_fd()).unwrap());
        drop(write);
        assert!(writers_gone(read.as_fd()).unwrap());
    }

    #[test]
    fn waiting_for_a_child_that_is_not_ours_fails_with_echild() {
        let err = try_wait(1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECHILD));
    }

    #[test]
    fn signal_zero_checks_that_a_process_exists() {
        let own = libc::pid_t::try_from(std::process::id()).unwrap();
        assert!(kill(own, 0).is_ok());
    }
}
