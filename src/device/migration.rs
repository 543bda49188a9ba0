//! The device side of live migration: moving the back-end state through
//! the file descriptor of `SET_DEVICE_STATE_FD`, and knowing when no
//! request is in flight.
//!
//! The VMM stops the rings (`GET_VRING_BASE`), then hands the source a pipe
//! to write its state into and the destination a pipe to read it from, and
//! finally asks `CHECK_DEVICE_STATE` whether that went well. The vhost-user
//! handler thread must not block on the pipe, so the bytes move on a
//! thread of their own; `CHECK_DEVICE_STATE` waits for it and reports its
//! result. What the state holds is the FUSE server's business
//! (`Server::save_state`, `Server::load_state`); a load that is refused
//! there fails the check, is logged with its reason, and changes nothing.
//!
//! Saving waits until every request taken off a queue has been answered
//! ([`InFlight`]): a worker may still be finishing a request when the VMM
//! stops the rings, and the state must not miss its effect (a new inode,
//! an open handle) nor may its answer land in a ring the VMM has already
//! read the index of.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{error, info};
use vhost::vhost_user::message::{VhostTransferStateDirection, VhostTransferStatePhase};

use crate::filesystem::FileSystem;
use crate::fuse::Server;

/// Longest a save waits for requests still in flight (a SETLKW waiting
/// for a lock, a host call stuck on a hung share) before it gives up: the
/// migration then fails and the source goes on.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Requests taken off the queues and not answered yet.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    lock: Mutex<()>,
    idle: Condvar,
}

/// One request in flight; dropping it (after the answer is on the used
/// ring, or with the job when the device goes away) ends it.
pub(crate) struct InFlightToken(Arc<InFlight>);

impl InFlight {
    /// Counts one more request in flight.
    pub(crate) fn enter(self: &Arc<Self>) -> InFlightToken {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightToken(Arc::clone(self))
    }

    /// Waits until no request is in flight; false after `timeout`.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        while self.count.load(Ordering::Acquire) != 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            // Short waits: the last request's wake-up may come between the
            // load above and the wait.
            let (g, _) = self
                .idle
                .wait_timeout(guard, left.min(Duration::from_millis(10)))
                .unwrap_or_else(PoisonError::into_inner);
            guard = g;
        }
        true
    }
}

impl Drop for InFlightToken {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _guard = self.0.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.0.idle.notify_all();
        }
    }
}

/// The state transfer under way, if any.
#[derive(Default)]
pub(crate) struct Transfer {
    pending: Mutex<Option<JoinHandle<Result<(), String>>>>,
}

impl Transfer {
    /// SET_DEVICE_STATE_FD: starts saving into `file` (source) or loading
    /// from it (destination); returns without waiting for the transfer.
    pub(crate) fn start<F: FileSystem + 'static>(
        &self,
        server: &Arc<Server<F>>,
        in_flight: &[Arc<InFlight>],
        direction: VhostTransferStateDirection,
        phase: VhostTransferStatePhase,
        file: File,
    ) -> io::Result<()> {
        if !matches!(phase, VhostTransferStatePhase::STOPPED) {
            return Err(refuse("only the stopped phase is supported".into()));
        }
        let work: Box<dyn FnOnce() -> Result<(), String> + Send> = match direction {
            VhostTransferStateDirection::SAVE => {
                let bytes = save(server, in_flight).map_err(refuse)?;
                Box::new(move || send(file, &bytes))
            }
            VhostTransferStateDirection::LOAD => {
                let server = Arc::clone(server);
                Box::new(move || receive(file, &server))
            }
        };
        let handle = std::thread::Builder::new()
            .name("state-transfer".into())
            .spawn(work)?;
        let old = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(handle);
        if old.is_some() {
            log::warn!("a new state transfer replaces one that was never checked");
        }
        Ok(())
    }

    /// CHECK_DEVICE_STATE: waits for the transfer and reports how it went.
    pub(crate) fn check(&self) -> io::Result<()> {
        let handle = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let result = match handle {
            None => Err("no state transfer was started".to_string()),
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err("the state transfer thread panicked".into())),
        };
        result.map_err(refuse)
    }
}

/// The state to send, once no request is in flight.
fn save<F: FileSystem>(server: &Server<F>, in_flight: &[Arc<InFlight>]) -> Result<Vec<u8>, String> {
    let started = Instant::now();
    if !in_flight.iter().all(|q| q.wait_idle(DRAIN_TIMEOUT)) {
        return Err(format!(
            "requests still in flight after {DRAIN_TIMEOUT:?} (blocked in the host?)"
        ));
    }
    let bytes = server.save_state().map_err(|e| e.to_string())?;
    info!(
        "migration: state of {} bytes saved in {:?}",
        bytes.len(),
        started.elapsed()
    );
    Ok(bytes)
}

fn send(mut file: File, bytes: &[u8]) -> Result<(), String> {
    file.write_all(bytes)
        .map_err(|e| format!("writing the state to the VMM failed: {e}"))
}

fn receive<F: FileSystem>(mut file: File, server: &Server<F>) -> Result<(), String> {
    let started = Instant::now();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("reading the state from the VMM failed: {e}"))?;
    server.load_state(&bytes).map_err(|e| {
        format!(
            "the migration state ({} bytes) is refused: {e}",
            bytes.len()
        )
    })?;
    info!(
        "migration: state of {} bytes loaded in {:?}",
        bytes.len(),
        started.elapsed()
    );
    Ok(())
}

/// Logs `why` (the VMM learns only that it failed) and makes it the error.
fn refuse(why: String) -> io::Error {
    error!("migration: {why}");
    io::Error::other(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_idle_returns_once_the_last_request_ends() {
        let in_flight = Arc::new(InFlight::default());
        let token = in_flight.enter();
        let waiter = {
            let in_flight = Arc::clone(&in_flight);
            std::thread::spawn(move || in_flight.wait_idle(Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(30));
        drop(token);
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn wait_idle_gives_up_while_a_request_stays() {
        let in_flight = Arc::new(InFlight::default());
        let _token = in_flight.enter();
        assert!(!in_flight.wait_idle(Duration::from_millis(30)));
    }
}
