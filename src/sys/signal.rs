//! Signal sets: blocking signals in the calling thread and waiting for them
//! synchronously (`pthread_sigmask`, `sigwait`), so no handler ever runs in
//! signal context.

use std::io;
use std::mem::MaybeUninit;

/// A set of signals.
#[derive(Clone, Copy)]
pub struct SignalSet {
    set: libc::sigset_t,
}

impl SignalSet {
    /// The set holding exactly `signals`.
    pub fn of(signals: &[libc::c_int]) -> io::Result<Self> {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initializes the set it is given.
        if unsafe { libc::sigemptyset(set.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the set was initialized just above.
        let mut set = unsafe { set.assume_init() };
        for &signal in signals {
            // SAFETY: `set` is a valid, initialized signal set.
            if unsafe { libc::sigaddset(&mut set, signal) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(SignalSet { set })
    }

    /// Blocks the set in the calling thread; threads it spawns afterwards
    /// inherit the mask.
    pub fn block(&self) -> io::Result<()> {
        // SAFETY: `self.set` is valid; the old mask is not needed.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &self.set, std::ptr::null_mut()) };
        match rc {
            0 => Ok(()),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }

    /// Unblocks the set in the calling thread.
    pub fn unblock(&self) -> io::Result<()> {
        // SAFETY: `self.set` is valid; the old mask is not needed.
        let rc =
            unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &self.set, std::ptr::null_mut()) };
        match rc {
            0 => Ok(()),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }

    /// Waits for one of the set's signals (which must be blocked) and
    /// returns its number.
    pub fn wait(&self) -> io::Result<libc::c_int> {
        let mut signal = 0;
        // SAFETY: `self.set` is a valid signal set and `signal` a valid out
        // pointer.
        match unsafe { libc::sigwait(&self.set, &mut signal) } {
            0 => Ok(signal),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_signal_is_received_by_wait() {
        let set = SignalSet::of(&[libc::SIGUSR2]).unwrap();
        set.block().unwrap();

        // SAFETY: raising a blocked signal in this thread only marks it pending.
        let raised = unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR2) };
        assert_eq!(raised, 0);

        assert_eq!(set.wait().unwrap(), libc::SIGUSR2);
    }
}
