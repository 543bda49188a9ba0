//! SIGTERM/SIGINT (stop) and SIGUSR1 (log statistics) handling without
//! async-signal-safety hazards: the signals are blocked in every thread and
//! one dedicated thread receives them with `sigwait`, then runs ordinary Rust
//! code.

use std::io;
use std::mem::MaybeUninit;
use std::thread;

/// The handled signals, blocked for the whole process.
pub(crate) struct StopSignals {
    set: libc::sigset_t,
}

impl StopSignals {
    /// Blocks SIGTERM, SIGINT and SIGUSR1 in the calling thread; threads spawned
    /// afterwards inherit the mask. Call before starting any thread.
    pub(crate) fn install() -> io::Result<Self> {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initializes the set it is given.
        unsafe { libc::sigemptyset(set.as_mut_ptr()) };
        // SAFETY: the set was initialized just above.
        let mut set = unsafe { set.assume_init() };
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1] {
            // SAFETY: `set` is a valid, initialized signal set.
            unsafe { libc::sigaddset(&mut set, signal) };
        }
        // SAFETY: `set` is valid; the old mask is not needed.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(StopSignals { set })
    }

    /// On a background thread: runs `on_usr1` for every SIGUSR1 and `on_stop`
    /// for the first SIGTERM or SIGINT, after which the thread ends.
    pub(crate) fn on_signal(
        self,
        on_usr1: impl Fn() + Send + 'static,
        on_stop: impl FnOnce(i32) + Send + 'static,
    ) {
        let set = self.set;
        let spawned = thread::Builder::new()
            .name("signals".into())
            .spawn(move || loop {
                let mut signal = 0;
                // SAFETY: `set` is a valid signal set and `signal` a valid out pointer.
                if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                    return;
                }
                if signal == libc::SIGUSR1 {
                    on_usr1();
                } else {
                    on_stop(signal);
                    return;
                }
            });
        if let Err(err) = spawned {
            log::error!("cannot start the signal thread: {err}");
        }
    }
}
