//! `--sandbox`: confining the daemon to the shared directory before it
//! serves the guest. Defence in depth: containment already rests on
//! `openat2(RESOLVE_BENEATH)`, one-component names and file handles (see
//! `passthrough`); the sandbox limits what a path-resolution mistake in the
//! daemon could reach.
//!
//! * `namespace` (the default): new pid, mount, network and IPC namespaces
//!   (and a user namespace when it is not root, mapping the daemon's own
//!   ids to themselves, or as `--uid-map`/`--gid-map` say). The process
//!   forks: the daemon goes on as pid 1 of the new pid namespace, the
//!   started process stays as its [`Launcher`]. In the daemon every mount
//!   becomes a slave so nothing propagates back to the host; a procfs of
//!   the new pid namespace is mounted over `/proc` and its `self/fd` bind-
//!   mounted on top, which is what is kept; the shared directory is
//!   bind-mounted onto itself and made the root with `pivot_root`, and the
//!   old root is detached, taking both `/proc` mounts with it.
//! * `chroot`: `chroot` into the shared directory (needs root).
//! * `none`: nothing.
//!
//! In both confining modes `PR_SET_NO_NEW_PRIVS` is set, and
//! `/proc/self/fd` is opened beforehand and kept (there is no `/proc`
//! inside): it becomes the working directory, so the xattr calls can name
//! a descriptor relative to it. With `namespace` it is the daemon's own
//! `fd` directory of its private procfs, the root of a detached bind mount,
//! so `..` from it stays in it: no other process and no host procfs can be
//! reached. With `chroot` it is the host's.
//!
//! Must run while the calling thread is the only one in the daemon:
//! namespaces and the root belong to the calling thread's context, which
//! threads created afterwards inherit, and only the forking thread goes on
//! in the forked daemon. (When `daemon::run` is called on a thread of a
//! larger program, as the in-process tests do, there is no fork and no pid
//! namespace, a root daemon still confines only that thread and its
//! descendants, and a user namespace fails with `EINVAL`.)
//!
//! Capabilities and the seccomp filter come after the sandbox
//! (`daemon::caps`, `daemon::seccomp`), in the forked daemon.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::launcher::{self, Launcher};
use crate::cli::{IdMap, SandboxMode};
use crate::sys;
use crate::sys::confine;
use crate::sys::open::ProcSelfFd;

/// A step of entering the sandbox failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot enter the {mode} sandbox: {step} failed")]
pub struct SandboxError {
    /// The mode asked for.
    pub mode: &'static str,
    /// What was being done.
    pub step: &'static str,
    /// The host error.
    #[source]
    pub source: io::Error,
}

/// What the rest of the daemon needs once the sandbox is entered.
#[derive(Debug)]
pub(crate) struct Sandboxed {
    /// `/proc/self/fd`, opened before `/proc` went out of reach.
    pub proc: ProcSelfFd,
    /// The shared directory as the daemon now sees it.
    pub root_dir: PathBuf,
    /// The daemon's user namespace maps a single uid (or gid): it may
    /// look like root there but cannot act as any other user.
    pub single_id: bool,
}

/// `--uid-map` and `--gid-map`: the lines to write for the user namespace
/// of the namespace sandbox (empty: the daemon's own id, to itself).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdMaps<'a> {
    /// uid_map lines.
    pub uid: &'a [IdMap],
    /// gid_map lines.
    pub gid: &'a [IdMap],
}

impl IdMaps<'_> {
    fn is_empty(&self) -> bool {
        self.uid.is_empty() && self.gid.is_empty()
    }
}

/// The name of `mode` on the command line.
fn mode_name(mode: SandboxMode) -> &'static str {
    mode.name()
}

/// A failed step, before the mode is known.
type StepError = (&'static str, io::Error);

/// Attaches the step name to a result.
fn step<T>(name: &'static str, result: io::Result<T>) -> Result<T, StepError> {
    result.map_err(|e| (name, e))
}

/// What the calling process is once [`enter`] returns.
#[derive(Debug)]
pub(crate) enum Entered {
    /// The confined daemon: build the filesystem and serve.
    Inside(Sandboxed),
    /// The launcher of a daemon forked into its own pid namespace: wait
    /// for it ([`Launcher::supervise`]).
    Launcher(Launcher),
}

/// Which side of the sandbox the steps left the caller on.
enum Side {
    Inside(ProcSelfFd),
    Launcher(Launcher),
}

/// Enters the sandbox `mode` around `shared_dir` (canonical, absolute).
pub(crate) fn enter(
    mode: SandboxMode,
    shared_dir: &Path,
    maps: IdMaps<'_>,
) -> Result<Entered, SandboxError> {
    let (euid, _) = sys::creds::thread_eids();
    let single_id = mode == SandboxMode::Namespace && euid != 0 && maps_single_id(maps);
    let entered = match mode {
        SandboxMode::Namespace => c_path(shared_dir).and_then(|dir| enter_namespace(&dir, maps)),
        SandboxMode::Chroot => c_path(shared_dir)
            .and_then(|dir| enter_chroot(&dir))
            .map(Side::Inside),
        SandboxMode::None => step("opening /proc/self/fd", ProcSelfFd::open()).map(Side::Inside),
    };
    let side = entered.map_err(|(step, source)| SandboxError {
        mode: mode_name(mode),
        step,
        source,
    })?;
    let proc = match side {
        Side::Inside(proc) => proc,
        Side::Launcher(launcher) => return Ok(Entered::Launcher(launcher)),
    };
    let root_dir = if mode == SandboxMode::None {
        log::info!("no sandbox (--sandbox none)");
        shared_dir.to_path_buf()
    } else {
        log::info!(
            "sandbox {}: the root is now {shared_dir:?}",
            mode_name(mode)
        );
        PathBuf::from("/")
    };
    Ok(Entered::Inside(Sandboxed {
        proc,
        root_dir,
        single_id,
    }))
}

/// Whether the user namespace the maps make holds one uid or one gid only.
fn maps_single_id(maps: IdMaps<'_>) -> bool {
    let single = |lines: &[IdMap]| lines.len() <= 1 && lines.iter().all(|l| l.count == 1);
    single(maps.uid) || single(maps.gid)
}

fn c_path(path: &Path) -> Result<CString, StepError> {
    step(
        "naming the shared directory",
        CString::new(path.as_os_str().as_bytes()).map_err(|_| sys::errno(libc::EINVAL)),
    )
}

/// Pid, mount, network and IPC namespaces (and a user namespace when not
/// root), then the daemon forked as pid 1 of the new pid namespace gets a
/// private procfs and `pivot_root`s into `shared_dir`; the launcher
/// returns [`Side::Launcher`].
fn enter_namespace(shared_dir: &CStr, maps: IdMaps<'_>) -> Result<Side, StepError> {
    let (uid, gid) = sys::creds::thread_eids();
    if uid == 0 && !maps.is_empty() {
        // As virtiofsd: root gets no user namespace, so there is nothing
        // to apply the maps to.
        return Err((
            "applying --uid-map/--gid-map: they set up the user namespace an \
             unprivileged daemon enters, and this daemon runs as root",
            sys::errno(libc::EPERM),
        ));
    }
    let pid_namespace = launcher::alone_in_process();
    if uid == 0 {
        unshare_namespaces(false, pid_namespace)?;
    } else {
        let own = |id| IdMap {
            inside: id,
            outside: id,
            count: 1,
        };
        // Checked before anything changes.
        let uid_line = single_own_line(maps.uid, uid).ok_or((
            "writing uid_map: only one line mapping the daemon's own uid can be \
             written without newuidmap, which epochfsd does not use",
            sys::errno(libc::EPERM),
        ))?;
        let gid_line = single_own_line(maps.gid, gid).ok_or((
            "writing gid_map: only one line mapping the daemon's own gid can be \
             written without newgidmap, which epochfsd does not use",
            sys::errno(libc::EPERM),
        ))?;
        unshare_namespaces(true, pid_namespace)?;
        step(
            "writing the user namespace id maps",
            write_id_maps(uid_line.unwrap_or(own(uid)), gid_line.unwrap_or(own(gid))),
        )?;
    }
    if pid_namespace {
        // SAFETY: `alone_in_process` found one thread, and nothing since
        // started one (unshare and writing the maps do not).
        let forked = step("forking into the new pid namespace", unsafe {
            launcher::fork()
        })?;
        if let Some(launcher) = forked {
            return Ok(Side::Launcher(launcher));
        }
    } else {
        log::warn!(
            "no pid namespace: the daemon runs on a thread of a larger program, which \
             cannot fork it; its procfs shows the host's processes"
        );
    }
    step(
        "making every mount a slave (MS_SLAVE | MS_REC on /)",
        confine::set_propagation(c"/", libc::MS_SLAVE | libc::MS_REC),
    )?;
    let proc = private_proc_self_fd()?;
    step(
        "bind-mounting the shared directory onto itself",
        confine::bind_onto_itself(shared_dir),
    )?;
    step(
        "changing into the shared directory",
        confine::chdir(shared_dir),
    )?;
    step("pivot_root(\".\", \".\")", confine::pivot_root(c".", c"."))?;
    step(
        "detaching the old root (umount2(\".\", MNT_DETACH))",
        confine::umount_detach(c"."),
    )?;
    step("changing into the new root", confine::chdir(c"/"))?;
    finish(proc).map(Side::Inside)
}

/// `unshare` of the sandbox's namespaces, named as the step.
fn unshare_namespaces(user: bool, pid: bool) -> Result<(), StepError> {
    let base = libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC;
    let (name, flags) = match (user, pid) {
        (false, false) => ("unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)", base),
        (false, true) => (
            "unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)",
            base | libc::CLONE_NEWPID,
        ),
        (true, false) => (
            "unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)",
            base | libc::CLONE_NEWUSER,
        ),
        (true, true) => (
            "unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)",
            base | libc::CLONE_NEWUSER | libc::CLONE_NEWPID,
        ),
    };
    step(name, confine::unshare(flags))
}

/// The daemon's own `/proc/self/fd`, from a procfs of its pid namespace,
/// and nothing else of that procfs: a new procfs is mounted over `/proc`
/// of the old root (in this private mount namespace; detached with the old
/// root later), its `self/fd` is bind-mounted on top, and that bind mount
/// is what is kept. `..` from the root of a detached bind mount stays
/// where it is, so neither other processes' entries nor `/proc/sys` can be
/// reached from the kept directory.
fn private_proc_self_fd() -> Result<ProcSelfFd, StepError> {
    step(
        "mounting a procfs of the daemon's pid namespace over /proc",
        confine::mount_proc(c"/proc"),
    )?;
    // Read for SYNCFS's cost model; its absence is only a warning later.
    let meminfo = sys::open::open_path(c"/proc/meminfo", libc::O_RDONLY).ok();
    step(
        "bind-mounting /proc/self/fd over /proc",
        confine::bind(c"/proc/self/fd", c"/proc"),
    )?;
    step(
        "opening the private /proc/self/fd",
        ProcSelfFd::open_at_path(c"/proc", meminfo),
    )
}

/// The one map line `lines` holds if it maps exactly the daemon's own
/// `id` (`Some(None)` when there are no lines: the default applies);
/// `None` when the lines need a privileged helper.
fn single_own_line(lines: &[IdMap], id: u32) -> Option<Option<IdMap>> {
    match lines {
        [] => Some(None),
        [line] if line.outside == id && line.count == 1 => Some(Some(*line)),
        _ => None,
    }
}

/// Writes the maps of the user namespace just created. An unprivileged
/// process may map only its own ids, one line each, after denying
/// setgroups.
fn write_id_maps(uid: IdMap, gid: IdMap) -> io::Result<()> {
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/gid_map", gid.to_string())?;
    std::fs::write("/proc/self/uid_map", uid.to_string())?;
    if uid.inside != uid.outside || gid.inside != gid.outside {
        log::info!("user namespace: uid_map {uid}, gid_map {gid}");
    }
    Ok(())
}

/// `chroot` into `shared_dir`.
fn enter_chroot(shared_dir: &CStr) -> Result<ProcSelfFd, StepError> {
    // The root is part of the filesystem context, shared by every thread
    // of the process; when the daemon runs on a thread of a larger program
    // this keeps the chroot to it and the threads it starts.
    step("unshare(CLONE_FS)", confine::unshare(libc::CLONE_FS))?;
    let proc = step("opening /proc/self/fd", ProcSelfFd::open())?;
    step(
        "chroot into the shared directory (needs root)",
        confine::chroot(shared_dir),
    )?;
    step("changing into the new root", confine::chdir(c"/"))?;
    finish(proc)
}

/// The steps common to both confining modes.
fn finish(mut proc: ProcSelfFd) -> Result<ProcSelfFd, StepError> {
    step("prctl(PR_SET_NO_NEW_PRIVS)", confine::set_no_new_privs())?;
    step("changing into the kept /proc/self/fd", proc.make_cwd())?;
    Ok(proc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(inside: u32, outside: u32, count: u32) -> IdMap {
        IdMap {
            inside,
            outside,
            count,
        }
    }

    #[test]
    fn only_one_line_of_the_daemons_own_id_is_written_directly() {
        assert_eq!(single_own_line(&[], 1000), Some(None));
        let session = map(0, 1000, 1);
        assert_eq!(single_own_line(&[session], 1000), Some(Some(session)));
        assert_eq!(single_own_line(&[map(0, 1001, 1)], 1000), None);
        assert_eq!(single_own_line(&[map(0, 1000, 2)], 1000), None);
        let subuid = map(1, 100000, 65536);
        assert_eq!(single_own_line(&[session, subuid], 1000), None);
    }

    #[test]
    fn a_namespace_of_one_id_cannot_switch_users() {
        let maps = |uid: &[IdMap], gid: &[IdMap]| maps_single_id(IdMaps { uid, gid });
        assert!(maps(&[], &[]));
        assert!(maps(&[map(0, 1000, 1)], &[map(0, 1000, 1)]));
        assert!(!maps(
            &[map(0, 1000, 1), map(1, 100000, 65536)],
            &[map(0, 1000, 65536)]
        ));
    }
}
