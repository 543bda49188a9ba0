//! The pid namespace and private procfs of `--sandbox namespace`,
//! observed from outside the real binary: the launched process forks the
//! daemon as pid 1 of a new pid namespace and waits for it; the daemon's
//! working directory (its `/proc/self/fd`) is its own `fd` directory of a
//! procfs of that namespace, from which `..` leads nowhere; signals and
//! the end pass between the launched pid and the daemon both ways.
//!
//! Run as root; the user-namespace cases run the daemon as `nobody`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::{DaemonProcess, TestDirs};
use common::fuse_client::FuseClient;
use common::vmm::VmmOptions;
use epochfsd::fuse::abi::ROOT_ID;

const NOBODY: u32 = 65534;
/// The stop signals must end the daemon within this.
const STOP_LIMIT: Duration = Duration::from_secs(5);

fn proc_of(pid: u32) -> PathBuf {
    Path::new("/proc").join(pid.to_string())
}

fn pid_namespace(pid: u32) -> PathBuf {
    fs::read_link(proc_of(pid).join("ns/pid")).unwrap()
}

/// The `NSpid:` line of `pid`: its pid in each namespace, outermost first.
fn ns_pids(pid: u32) -> Vec<u32> {
    let status = fs::read_to_string(proc_of(pid).join("status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|v| v.split_whitespace().map(|p| p.parse().unwrap()).collect())
        .unwrap_or_default()
}

/// Device and inode of what `path` resolves to.
fn file_id(path: &Path) -> std::io::Result<(u64, u64)> {
    fs::metadata(path).map(|m| (m.dev(), m.ino()))
}

/// The entry names of a directory.
fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// `statfs(2).f_type` of `path`.
fn fs_type(path: &Path) -> i64 {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: a NUL-terminated path and a buffer of the right type, both
    // outliving the call.
    let rc = unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) };
    assert_eq!(
        rc,
        0,
        "statfs {path:?}: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: statfs succeeded and filled the buffer.
    let st = unsafe { st.assume_init() };
    st.f_type
}

/// A daemon serving and its client, with INIT done (the daemon is past
/// its sandbox then). Dropping the client ends the daemon.
fn start(dirs: TestDirs, configure: impl FnOnce(&mut Command)) -> (DaemonProcess, FuseClient) {
    let d = DaemonProcess::spawn_with(dirs, 1, &[], configure);
    let mut c = common::connect(d.socket(), 1, VmmOptions::default());
    c.getattr(ROOT_ID).expect("GETATTR");
    (d, c)
}

/// A daemon waiting for its frontend (forked and sandboxed by then).
fn start_waiting() -> DaemonProcess {
    let d = DaemonProcess::spawn(TestDirs::new(), 1, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.log().contains("waiting for the frontend") {
        assert!(Instant::now() < deadline, "not ready:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    d
}

fn assert_pid_1_of_its_own_namespace(d: &DaemonProcess) {
    let (launcher, daemon) = (d.pid(), d.server_pid());
    assert_ne!(launcher, daemon, "no daemon was forked");
    let ours = fs::read_link("/proc/self/ns/pid").unwrap();
    assert_ne!(
        pid_namespace(daemon),
        ours,
        "daemon in the test's pid namespace"
    );
    assert_eq!(pid_namespace(launcher), ours, "launcher moved");
    assert_eq!(ns_pids(daemon), [daemon, 1], "not pid 1 inside");
    // Nobody else lives in the namespace: its pid 1 has no children.
    let children = fs::read_to_string(proc_of(daemon).join(format!("task/{daemon}/children")));
    assert_eq!(children.unwrap().trim(), "", "processes beside the daemon");
}

/// The daemon's working directory is its own `fd` directory, of a procfs
/// that is not the host's, and `..` does not leave it.
fn assert_private_proc_self_fd(d: &DaemonProcess) {
    let daemon = proc_of(d.server_pid());
    let cwd = daemon.join("cwd");
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    assert_eq!(fs_type(&cwd), PROC_SUPER_MAGIC, "cwd is not on a procfs");
    let host_proc = file_id(Path::new("/proc/self")).unwrap().0;
    let (cwd_dev, cwd_ino) = file_id(&cwd).unwrap();
    assert_ne!(cwd_dev, host_proc, "cwd is on the host's procfs");
    assert_eq!(names(&cwd), names(&daemon.join("fd")), "not its fd table");
    for up in ["..", "../..", "../../..", "../../../../../.."] {
        let id = file_id(&cwd.join(up)).unwrap();
        assert_eq!(id, (cwd_dev, cwd_ino), "{up} left the fd directory");
    }
}

/// Paths that from a procfs's `fd` directory reach the host: none
/// resolves from the daemon's.
fn assert_no_escape_through_procfs(d: &DaemonProcess) {
    let cwd = proc_of(d.server_pid()).join("cwd");
    let host_root = file_id(Path::new("/")).unwrap();
    // The same paths from the test's own (host) procfs do reach the host
    // root: this is what the daemon's working directory was before.
    let own_root = format!("/proc/self/fd/../../{}/root/", std::process::id());
    let ours = file_id(Path::new(&own_root)).unwrap();
    assert_eq!(ours, host_root, "the check would prove nothing");
    for escape in [
        "../../1/root/",
        "../../self/root/",
        "../../1/cwd/",
        "../../../../etc/",
    ] {
        let reached = file_id(&cwd.join(escape));
        assert!(
            reached.as_ref().map_or(true, |id| *id != host_root),
            "{escape} reached the host root"
        );
    }
    for secret in ["../../1/root/etc/shadow", "../../../etc/shadow"] {
        assert!(fs::read(cwd.join(secret)).is_err(), "{secret} was read");
    }
}

#[test]
fn the_daemon_is_pid_1_of_its_own_pid_namespace() {
    let (d, _c) = start(TestDirs::new(), |_| {});
    assert_pid_1_of_its_own_namespace(&d);
}

#[test]
fn its_proc_self_fd_is_its_own_of_a_private_procfs() {
    let (d, _c) = start(TestDirs::new(), |_| {});
    assert_private_proc_self_fd(&d);
}

#[test]
fn dot_dot_escapes_through_its_procfs_do_not_reach_the_host_root() {
    let (d, _c) = start(TestDirs::new(), |_| {});
    assert_no_escape_through_procfs(&d);
}

/// Test directories `nobody` can use.
fn dirs_for_nobody() -> TestDirs {
    let dirs = TestDirs::new();
    for dir in [dirs.root.path(), dirs.share.as_path()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).unwrap();
    }
    dirs
}

#[test]
fn without_root_the_pid_namespace_and_private_procfs_come_with_the_user_namespace() {
    if !common::userns::user_namespaces_allowed_for(NOBODY, NOBODY) {
        eprintln!("skipped: unprivileged user namespaces are disabled on this host");
        return;
    }
    let (d, _c) = start(dirs_for_nobody(), |cmd| {
        cmd.uid(NOBODY).gid(NOBODY);
    });
    assert_pid_1_of_its_own_namespace(&d);
    assert_private_proc_self_fd(&d);
    assert_no_escape_through_procfs(&d);
}

#[test]
fn the_launcher_holds_no_capability_and_not_the_listening_socket() {
    let (d, _c) = start(TestDirs::new(), |_| {});
    let status = fs::read_to_string(proc_of(d.pid()).join("status")).unwrap();
    for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        let line = status.lines().find(|l| l.starts_with(set)).unwrap();
        assert!(line.ends_with("0000000000000000"), "launcher {line}");
    }
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    for fd in fs::read_dir(proc_of(d.pid()).join("fd")).unwrap() {
        let target = fs::read_link(fd.unwrap().path()).unwrap_or_default();
        let target = target.to_string_lossy();
        assert!(!target.starts_with("socket:"), "launcher holds {target}");
    }
}

/// Waits up to `limit` for `pid` (not our child) to disappear.
fn gone_within(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while proc_of(pid).exists() {
        // A zombie still has a directory; it no longer runs.
        let state = fs::read_to_string(proc_of(pid).join("stat")).unwrap_or_default();
        if state.split_whitespace().nth(2) == Some("Z") {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

#[test]
fn sigterm_to_the_launched_pid_ends_a_serving_daemon_within_5_s() {
    let (mut d, _c) = start(TestDirs::new(), |_| {});
    let daemon = d.server_pid();

    let sent = Instant::now();
    d.terminate();
    let status = d.wait_exit(STOP_LIMIT).expect("launcher exits");

    let took = sent.elapsed();
    eprintln!("SIGTERM to the launcher's exit: {took:?}");
    assert!(status.success(), "{status}\n{}", d.log());
    assert!(took < STOP_LIMIT);
    assert!(gone_within(daemon, Duration::from_secs(1)), "daemon left");
    assert!(d.log().contains("signal 15 received"), "{}", d.log());
}

#[test]
fn the_daemons_exit_status_is_the_launched_pids() {
    use vhost::vhost_user::Frontend;
    use vhost::VhostBackend;
    let mut d = start_waiting();
    let stream = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    let frontend = Frontend::from_stream(stream, 8);
    frontend.set_owner().expect("SET_OWNER");

    // Queue 5 of a daemon with two: it refuses the set-up and exits 1.
    let _ = frontend.set_vring_num(5, 128);
    let status = d.wait_exit(Duration::from_secs(10)).expect("daemon exits");

    assert_eq!(status.code(), Some(1), "{status}\n{}", d.log());
    assert!(d.log().contains("set-up was refused"), "{}", d.log());
}

#[test]
fn a_daemon_killed_by_a_signal_kills_the_launched_pid_with_it() {
    let mut d = start_waiting();
    let daemon = libc::pid_t::try_from(d.server_pid()).unwrap();
    assert_ne!(u32::try_from(daemon).unwrap(), d.pid());

    // SAFETY: kill has no memory effects; the pid is our child's child.
    assert_eq!(unsafe { libc::kill(daemon, libc::SIGKILL) }, 0);
    let status = d.wait_exit(STOP_LIMIT).expect("launcher exits");

    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    // The daemon could not remove its socket file: the launcher did.
    assert!(!d.socket().exists(), "socket file left behind");
}

#[test]
fn the_daemon_ends_when_its_launcher_is_killed() {
    let mut d = start_waiting();
    let daemon = d.server_pid();
    assert_ne!(daemon, d.pid());

    let launcher = libc::pid_t::try_from(d.pid()).unwrap();
    // SAFETY: kill has no memory effects; the pid is our own child's.
    assert_eq!(unsafe { libc::kill(launcher, libc::SIGKILL) }, 0);
    d.wait_exit(STOP_LIMIT).expect("launcher dies");

    assert!(
        gone_within(daemon, STOP_LIMIT),
        "daemon outlived its launcher"
    );
}
