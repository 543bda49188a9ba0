//! Power-cut simulation (`--crash-sim MODE`): on command, turn the shared
//! directory into the state a crash may leave, as of the guest's last
//! durability points.
//!
//! [`CrashSimFs`] wraps the filesystem the FUSE server serves. Before a
//! request changes anything it records, in an undo [`journal`], what the
//! change overwrites (copy-on-first-change per object and SYNCFS epoch:
//! the 4 KiB blocks a WRITE, FALLOCATE, COPY_FILE_RANGE or truncation
//! overwrites and the old size, the attributes, a directory's entries), and
//! keeps a file that is about to lose its last name alive by hard-linking it
//! into a holding directory the guest never sees (`.epochfsd-crash-sim` in
//! the share's root, hidden by the passthrough). Durability points commit:
//! FSYNC an object's data and attributes, FDATASYNC its data and size,
//! FSYNCDIR a directory's entries, SYNCFS every image of the epochs it
//! covers (the epoch of each request comes in its `Context`).
//!
//! [`CrashSim::crash`] stops every request at the gate (none executes or is
//! answered any more), waits for the host calls under way, puts back what
//! [`Mode`] drops ([`restore`]), removes the holding directory and reports
//! the counts; the control socket (`crate::daemon`) replies and exits.
//!
//! With the mode off none of this exists: the daemon serves the plain
//! filesystem, so the request path pays nothing.

mod capture;
mod fs;
mod host;
pub mod journal;
mod mode;
mod restore;

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub use fs::CrashSimFs;
pub use mode::{Mode, ModeError};
pub use restore::Restored;

use self::host::Host;
use self::journal::{Journal, ObjectId};
use crate::sys;
use crate::sys::open::ProcSelfFd;

/// The holding directory's name in the share's root.
pub const HOLDING_NAME: &CStr = c".epochfsd-crash-sim";

/// Default bound on what the simulation holds (`--crash-sim-limit`).
pub const DEFAULT_LIMIT: u64 = 256 << 20;

/// Why the simulation could not start or crash.
#[derive(Debug, thiserror::Error)]
pub enum CrashSimError {
    /// The holding directory could not be made.
    #[error("cannot prepare the holding directory {HOLDING_NAME:?} in the shared directory")]
    Holding(#[source] io::Error),
    /// `crash` was already sent.
    #[error("already crashed")]
    AlreadyCrashed,
}

/// What the daemon asks of the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// What a crash drops.
    pub mode: Mode,
    /// Most bytes held (`--crash-sim-limit`).
    pub limit: u64,
    /// Extended attributes are served (`--xattr`): capture and restore them.
    pub xattr: bool,
}

/// The counters `status` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The mode.
    pub mode: Mode,
    /// Changes not durable yet.
    pub pending_changes: u64,
    /// Bytes held for them.
    pub pending_bytes: u64,
    /// The bound on those bytes.
    pub limit: u64,
    /// FSYNC, FDATASYNC, FSYNCDIR and SYNCFS that succeeded.
    pub durability_points: u64,
    /// Changes made durable because the bound was reached.
    pub implicit_writebacks: u64,
}

impl Status {
    /// One JSON object, no newline.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"mode\":\"{}\",\"pending_changes\":{},\"pending_bytes\":{},\"limit\":{},\
             \"durability_points\":{},\"implicit_writebacks\":{}}}",
            self.mode,
            self.pending_changes,
            self.pending_bytes,
            self.limit,
            self.durability_points,
            self.implicit_writebacks
        )
    }
}

/// The simulation's state, shared by the filesystem wrapper and the
/// control socket.
#[derive(Debug)]
pub struct CrashSim {
    mode: Mode,
    host: Host,
    /// The share's root (`O_PATH`), where the holding directory lives.
    root: OwnedFd,
    /// The holding directory's identity (left out of entry sets).
    holding_id: ObjectId,
    journal: Mutex<Journal<OwnedFd>>,
    /// Set by `crash`: nothing passes the gate any more.
    crashed: AtomicBool,
    /// Requests between capture and the end of their host call.
    in_flight: AtomicUsize,
    durability_points: AtomicU64,
    limit_logged: AtomicBool,
}

impl CrashSim {
    /// A simulation with `options` over the share whose root is `root` (an
    /// `O_PATH` descriptor, inside the sandbox if there is one), reaching
    /// descriptors through `proc`. Empties a holding directory left by an
    /// earlier run, or makes one.
    pub fn new(
        options: Options,
        root: OwnedFd,
        proc: ProcSelfFd,
    ) -> Result<CrashSim, CrashSimError> {
        let Options { mode, limit, xattr } = options;
        let holding = open_holding(root.as_fd()).map_err(CrashSimError::Holding)?;
        let holding_id = host::stat(holding.as_fd())
            .map_err(CrashSimError::Holding)?
            .id;
        Ok(CrashSim {
            mode,
            holding_id,
            host: Host {
                proc,
                holding,
                xattr,
            },
            root,
            journal: Mutex::new(Journal::new(limit)),
            crashed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            durability_points: AtomicU64::new(0),
            limit_logged: AtomicBool::new(false),
        })
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The counters; an error after `crash`.
    pub fn status(&self) -> Result<Status, CrashSimError> {
        if self.crashed.load(Ordering::SeqCst) {
            return Err(CrashSimError::AlreadyCrashed);
        }
        let j = self.journal();
        let counts = j.counts();
        Ok(Status {
            mode: self.mode,
            pending_changes: counts.pending_changes,
            pending_bytes: counts.pending_bytes,
            limit: j.limit(),
            durability_points: self.durability_points.load(Ordering::Relaxed),
            implicit_writebacks: counts.implicit_writebacks,
        })
    }

    /// Cuts the power: no request passes the gate any more, the host calls
    /// under way finish, and the share becomes the post-crash state of the
    /// mode. The second call is an error, whatever the first did.
    pub fn crash(&self) -> Result<Restored, CrashSimError> {
        if self.crashed.swap(true, Ordering::SeqCst) {
            return Err(CrashSimError::AlreadyCrashed);
        }
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let journal = std::mem::replace(&mut *self.journal(), Journal::new(0));
        let restored = restore::run(&self.host, journal, self.mode);
        self.remove_holding();
        Ok(restored)
    }

    /// The daemon stops without a crash: the holding directory goes.
    pub fn discard(&self) {
        if !self.crashed.swap(true, Ordering::SeqCst) {
            self.remove_holding();
        }
    }

    fn remove_holding(&self) {
        let removed = host::empty_tree(self.host.holding.as_fd()).and_then(|()| {
            sys::namei::unlinkat(self.root.as_fd(), HOLDING_NAME, libc::AT_REMOVEDIR)
        });
        if let Err(err) = removed {
            log::warn!("crash-sim: cannot remove the holding directory: {err}");
        }
    }

    fn journal(&self) -> MutexGuard<'_, Journal<OwnedFd>> {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enters a request that may change the host: it parks for good if the
    /// power is cut, and `crash` waits for it while it runs.
    fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.crashed.load(Ordering::SeqCst) {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            park_forever();
        }
        InFlight(self)
    }

    /// A request that changes nothing: it parks for good after a crash.
    fn check_power(&self) {
        if self.crashed.load(Ordering::SeqCst) {
            park_forever();
        }
    }

    fn count_point(&self) {
        self.durability_points.fetch_add(1, Ordering::Relaxed);
    }

    fn after_capture(&self, journal: &mut Journal<OwnedFd>) {
        if journal.enforce_limit() > 0 && !self.limit_logged.swap(true, Ordering::Relaxed) {
            log::info!(
                "crash-sim: {} bytes held, the limit: the oldest pending changes are written \
                 back from now on (counted as implicit_writebacks)",
                journal.limit()
            );
        }
    }
}

/// A request between the gate and the end of its host call; after a crash
/// its answer is never sent (the thread parks).
struct InFlight<'a>(&'a CrashSim);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.check_power();
    }
}

/// The power is off: this thread never answers again (the process exits
/// once the crash is reported).
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// Opens (making it, or emptying what an earlier run left) the holding
/// directory in `root`.
fn open_holding(root: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    match sys::namei::mkdirat(root, HOLDING_NAME, 0o700) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            log::warn!("crash-sim: emptying {HOLDING_NAME:?}, left by an earlier run");
        }
        other => other?,
    }
    let holding = sys::open::openat(
        root,
        HOLDING_NAME,
        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        0,
    )?;
    host::empty_tree(holding.as_fd())?;
    Ok(holding)
}

/// The holding directory's name as an owned string (for the passthrough's
/// hidden name).
pub fn holding_name() -> CString {
    HOLDING_NAME.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim_over(dir: &std::path::Path) -> CrashSim {
        let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        let root = sys::open::open_path(&path, libc::O_PATH | libc::O_DIRECTORY).unwrap();
        let options = Options {
            mode: Mode::DropAll,
            limit: DEFAULT_LIMIT,
            xattr: false,
        };
        CrashSim::new(options, root, ProcSelfFd::open().unwrap()).unwrap()
    }

    #[test]
    fn a_second_crash_and_a_status_after_it_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let sim = sim_over(dir.path());
        assert!(dir.path().join(".epochfsd-crash-sim").is_dir());
        assert_eq!(sim.status().unwrap().pending_changes, 0);

        assert_eq!(sim.crash().unwrap(), Restored::default());

        assert!(matches!(sim.crash(), Err(CrashSimError::AlreadyCrashed)));
        assert!(matches!(sim.status(), Err(CrashSimError::AlreadyCrashed)));
        assert!(!dir.path().join(".epochfsd-crash-sim").exists());
    }

    #[test]
    fn a_holding_directory_left_by_an_earlier_run_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let left = dir.path().join(".epochfsd-crash-sim");
        std::fs::create_dir_all(left.join("sub")).unwrap();
        std::fs::write(left.join("sub/f"), b"x").unwrap();

        let sim = sim_over(dir.path());

        assert_eq!(std::fs::read_dir(&left).unwrap().count(), 0);
        sim.discard();
        assert!(!left.exists());
    }
}
