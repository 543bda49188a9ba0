//! SIGTERM/SIGINT (stop) and SIGUSR1 (log statistics) handling without
//! async-signal-safety hazards: the signals are blocked in every thread and
//! one dedicated thread receives them with `sigwait`, then runs ordinary Rust
//! code.

use std::io;
use std::thread;

use crate::sys::signal::SignalSet;

/// The handled signals, blocked for the whole process.
pub(crate) struct StopSignals {
    set: SignalSet,
}

impl StopSignals {
    /// Blocks SIGTERM, SIGINT and SIGUSR1 in the calling thread; threads spawned
    /// afterwards inherit the mask. Call before starting any thread.
    pub(crate) fn install() -> io::Result<Self> {
        let set = SignalSet::of(&[libc::SIGTERM, libc::SIGINT, libc::SIGUSR1])?;
        set.block()?;
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
                let Ok(signal) = set.wait() else {
                    return;
                };
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
