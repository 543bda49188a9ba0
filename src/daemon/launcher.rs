//! The pid namespace of `--sandbox namespace`: the process the VMM or
//! libvirt started (the launcher) forks the daemon as pid 1 of a new pid
//! namespace and stays behind, so that the pid they watch lives exactly
//! as long as the daemon and ends the same way.
//!
//! * Signals: SIGTERM, SIGINT and SIGUSR1 sent to the launcher are passed
//!   on to the daemon (they are blocked in both since start-up; the
//!   daemon's signal thread takes them). The launcher also waits for
//!   SIGCHLD, blocked before the fork and unblocked in the daemon.
//! * The end: the daemon's exit status becomes the launcher's; a daemon
//!   killed by a signal (SIGSYS from `--seccomp kill`) makes the launcher
//!   end by the same signal, without a core dump of its own. The socket
//!   file is removed then if the daemon could not do it.
//! * The other way round: the daemon asks for SIGTERM when the launcher
//!   dies (`PR_SET_PDEATHSIG`, which the daemon's signal thread handles
//!   like an operator's SIGTERM), and checks a pipe the launcher holds open
//!   in case the launcher died before that request was made.
//! * The launcher keeps nothing it does not need: the listening socket and
//!   the epoch trace are closed, every capability is dropped and
//!   `PR_SET_NO_NEW_PRIVS` is set. It shares the daemon's mount, network,
//!   IPC (and user) namespaces, so once the daemon has pivoted, its root is
//!   the shared directory too. It never reads guest data.
//!
//! Forking needs a process of one thread (only the forking thread goes on
//! in the child). The binary has one then; `daemon::run` called on a
//! thread of a larger program (the in-process tests) gets no pid namespace.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use crate::sys::caps::{self, CapSets};
use crate::sys::confine;
use crate::sys::process::{self, Ended, Forked};
use crate::sys::signal::SignalSet;

use super::socket::SocketFile;

/// The process the daemon was forked from, waiting for it.
#[derive(Debug)]
pub(crate) struct Launcher {
    /// The daemon's pid as the launcher sees it.
    daemon: libc::pid_t,
    /// Write end of the pipe the daemon checks; never written, closed by
    /// the launcher's death.
    _alive: OwnedFd,
}

/// Whether the calling thread is the only thread of the process (read
/// from `/proc`, before the sandbox).
pub(crate) fn alone_in_process() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.count() == 1)
}

/// Forks the daemon off. In the launcher, returns it; in the daemon (the
/// child), returns `None` once it asked to learn of the launcher's death.
///
/// # Safety
///
/// The process must have one thread (see [`process::fork`]).
pub(crate) unsafe fn fork() -> io::Result<Option<Launcher>> {
    let child_ended = SignalSet::of(&[libc::SIGCHLD])?;
    child_ended.block()?;
    let (alive_read, alive_write) = process::pipe()?;
    // SAFETY: the caller guarantees the process has one thread.
    match unsafe { process::fork() }? {
        Forked::Parent(daemon) => Ok(Some(Launcher {
            daemon,
            _alive: alive_write,
        })),
        Forked::Child => {
            drop(alive_write);
            child_ended.unblock()?;
            process::set_parent_death_signal(libc::SIGTERM)?;
            if process::writers_gone(alive_read.as_fd())? {
                // The launcher died before the request above: nobody
                // watches this daemon any more.
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(None)
        }
    }
}

impl Launcher {
    /// Waits for the daemon, passing stop signals on, then ends the way it
    /// ended.
    pub(crate) fn supervise(self, socket_file: &SocketFile) -> ! {
        log::debug!(
            "pid namespace: the daemon is pid {} (1 inside); this launcher waits for it",
            self.daemon
        );
        drop_privileges();
        let ended = self.wait_passing_signals();
        socket_file.remove();
        end_like(ended)
    }

    fn wait_passing_signals(&self) -> Ended {
        let handled = [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1, libc::SIGCHLD];
        let set = SignalSet::of(&handled);
        loop {
            match set.as_ref().map(SignalSet::wait) {
                Ok(Ok(libc::SIGCHLD)) => {}
                Ok(Ok(signal)) => {
                    if let Err(e) = process::kill(self.daemon, signal) {
                        log::warn!("cannot pass signal {signal} on to the daemon: {e}");
                    }
                    continue;
                }
                // Not expected (the set is valid): poll the child instead.
                Ok(Err(_)) | Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
            match process::try_wait(self.daemon) {
                Ok(Some(ended)) => return ended,
                Ok(None) => {}
                Err(e) => {
                    log::error!("cannot wait for the daemon: {e}");
                    return Ended::Exited(1);
                }
            }
        }
    }
}

/// Drops every capability and sets `PR_SET_NO_NEW_PRIVS`: waiting and
/// sending signals to its own child need neither.
fn drop_privileges() {
    let dropped = caps::limit_bounding_set(0)
        .or_else(|e| match e.raw_os_error() {
            // No CAP_SETPCAP: the bounding set stays as inherited.
            Some(libc::EPERM) => Ok(()),
            _ => Err(e),
        })
        .and_then(|()| caps::clear_ambient())
        .and_then(|()| caps::set(CapSets::default()))
        .and_then(|()| confine::set_no_new_privs());
    if let Err(e) = dropped {
        log::warn!("the launcher cannot drop its privileges: {e}");
    }
}

/// Exits with the daemon's status, or dies by the signal that killed it.
fn end_like(ended: Ended) -> ! {
    match ended {
        Ended::Exited(status) => std::process::exit(status),
        Ended::Signaled(signal) => {
            log::error!("the daemon was killed by signal {signal}");
            process::die_by_signal(signal);
            std::process::exit(128 + signal)
        }
    }
}
