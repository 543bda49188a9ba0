//! `--sandbox`, observed from outside the daemon process: its namespaces
//! and root (`/proc/PID/ns/*`, `/proc/PID/root`), that it still serves the
//! share from inside, that its socket file is removed without touching the
//! file at the same path inside the share, and that a sandbox that cannot
//! be entered stops the daemon with a message.
//!
//! The suite runs as root; the user-namespace and failure cases run the
//! daemon as `nobody`.

mod common;

use std::ffi::{CStr, CString};
use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::daemon::{DaemonProcess, TestDirs};
use common::fuse_client::FuseClient;
use common::vmm::VmmOptions;
use epochfsd::fuse::abi::ROOT_ID;

const NOBODY: u32 = 65534;
const DECOY: &[u8] = b"a guest file at the socket's path";

/// `/proc/PID/<what>` of the serving process (with `--sandbox namespace`
/// the daemon forked into its pid namespace, see `tests/pid_namespace.rs`).
fn proc_path(d: &DaemonProcess, what: &str) -> PathBuf {
    Path::new("/proc")
        .join(d.server_pid().to_string())
        .join(what)
}

/// The namespace `kind` (`mnt`, `net`, ...) of the daemon and of this test.
fn namespaces(d: &DaemonProcess, kind: &str) -> (PathBuf, PathBuf) {
    let theirs = fs::read_link(proc_path(d, &format!("ns/{kind}"))).unwrap();
    let ours = fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
    (theirs, ours)
}

/// Device and inode of what `path` resolves to.
fn file_id(path: &Path) -> (u64, u64) {
    let m = fs::metadata(path).unwrap_or_else(|e| panic!("stat {path:?}: {e}"));
    (m.dev(), m.ino())
}

/// Device and inode of the daemon's root directory.
fn root_of(d: &DaemonProcess) -> (u64, u64) {
    // The magic link resolves to the root itself, even in another mount
    // namespace (its text would be "/" there).
    file_id(&proc_path(d, "root/"))
}

fn no_new_privs(d: &DaemonProcess) -> bool {
    let status = fs::read_to_string(proc_path(d, "status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("NoNewPrivs:"))
        .is_some_and(|v| v.trim() == "1")
}

/// A daemon with `args` and a client that has done INIT. Once INIT is
/// answered the daemon is past its sandbox set-up.
fn start(dirs: TestDirs, args: &[&str]) -> (DaemonProcess, FuseClient) {
    let d = DaemonProcess::spawn(dirs, 1, args);
    let c = common::connect(d.socket(), 1, VmmOptions::default());
    (d, c)
}

/// Creates `name` in the share root through the daemon and checks the host
/// sees it with `data`.
fn assert_serves(d: &DaemonProcess, c: &mut FuseClient, name: &[u8]) {
    let rdwr = libc::O_RDWR as u32;
    let (e, o) = c.create(ROOT_ID, name, rdwr, 0o644).expect("CREATE");
    c.write(e.nodeid, o.fh, 0, b"from the guest")
        .expect("WRITE");
    c.release(e.nodeid, o.fh, rdwr).expect("RELEASE");
    let host = d.share().join(std::str::from_utf8(name).unwrap());
    assert_eq!(fs::read(host).unwrap(), b"from the guest");
}

fn assert_namespace_sandbox(args: &[&str]) {
    let (d, mut c) = start(TestDirs::new(), args);
    for kind in ["mnt", "net", "ipc"] {
        let (theirs, ours) = namespaces(&d, kind);
        assert_ne!(theirs, ours, "daemon shares the test's {kind} namespace");
    }
    let (theirs, ours) = namespaces(&d, "user");
    assert_eq!(theirs, ours, "a root daemon needs no user namespace");
    assert_eq!(root_of(&d), file_id(d.share()), "root is not the share");
    assert_only_the_share_is_mounted(&d);
    assert!(no_new_privs(&d), "NoNewPrivs is not set");
    assert_serves(&d, &mut c, b"made-inside");
}

/// The daemon's mount table is the share alone, at `/`, and it does not
/// propagate mount events back to the host (no `shared:` peer group).
fn assert_only_the_share_is_mounted(d: &DaemonProcess) {
    let table = fs::read_to_string(proc_path(d, "mountinfo")).unwrap();
    let mounts: Vec<&str> = table.lines().collect();
    assert_eq!(mounts.len(), 1, "old root not detached:\n{table}");
    let fields: Vec<&str> = mounts[0].split_whitespace().collect();
    assert_eq!(fields[4], "/", "mount point: {table}");
    assert!(!mounts[0].contains(" shared:"), "shared mount: {table}");
}

#[test]
fn default_is_a_namespace_sandbox_rooted_at_the_share() {
    assert_namespace_sandbox(&[]);
}

#[test]
fn namespace_sandbox_has_its_own_mounts_network_and_root() {
    assert_namespace_sandbox(&["--sandbox", "namespace"]);
}

#[test]
fn chroot_sandbox_roots_the_daemon_at_the_share() {
    let (d, mut c) = start(TestDirs::new(), &["--sandbox", "chroot"]);
    assert_eq!(root_of(&d), file_id(d.share()), "root is not the share");
    let (theirs, ours) = namespaces(&d, "mnt");
    assert_eq!(theirs, ours, "chroot needs no mount namespace");
    assert!(no_new_privs(&d), "NoNewPrivs is not set");
    assert_serves(&d, &mut c, b"made-inside");
}

#[test]
fn no_sandbox_leaves_root_and_namespaces_alone() {
    let (d, mut c) = start(TestDirs::new(), &["--sandbox", "none"]);
    assert_eq!(root_of(&d), file_id(Path::new("/")));
    for kind in ["mnt", "net"] {
        let (theirs, ours) = namespaces(&d, kind);
        assert_eq!(theirs, ours, "{kind}");
    }
    assert_serves(&d, &mut c, b"made-outside");
}

/// Xattrs are read through `/proc/self/fd`, which the sandbox keeps open
/// (there is no `/proc` inside): on a file, and on a symlink (a `trusted.`
/// attribute, since `user.` ones are refused on links; reading it needs
/// CAP_SYS_ADMIN, which the daemon drops unless `--modcaps` keeps it).
fn xattrs_work_inside(sandbox: &str) {
    let dirs = TestDirs::new();
    fs::write(dirs.share.join("f"), b"x").unwrap();
    std::os::unix::fs::symlink("f", dirs.share.join("l")).unwrap();
    lsetxattr(&dirs.share.join("f"), c"user.host", b"file");
    lsetxattr(&dirs.share.join("l"), c"trusted.host", b"link");
    let (d, mut c) = start(
        dirs,
        &["--sandbox", sandbox, "--xattr", "--modcaps=+sys_admin"],
    );
    let f = c.lookup(ROOT_ID, b"f").unwrap().nodeid;
    let l = c.lookup(ROOT_ID, b"l").unwrap().nodeid;

    assert_eq!(c.getxattr(f, b"user.host", 64).unwrap(), b"file");
    assert_eq!(c.getxattr(l, b"trusted.host", 64).unwrap(), b"link");
    c.setxattr(f, b"user.guest", b"set inside", 0, 0).unwrap();
    let list = c.listxattr(f, 256).unwrap();
    assert!(list.split(|&b| b == 0).any(|n| n == b"user.guest"));

    let host = lgetxattr(&d.share().join("f"), c"user.guest");
    assert_eq!(host, b"set inside");
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
}

/// `lsetxattr(2)`, asserting success.
fn lsetxattr(path: &Path, name: &CStr, value: &[u8]) {
    let p = c_path(path);
    // SAFETY: NUL-terminated strings and a readable value buffer, all
    // outliving the call.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(rc, 0, "lsetxattr: {}", std::io::Error::last_os_error());
}

/// `lgetxattr(2)` into a small buffer, asserting success.
fn lgetxattr(path: &Path, name: &CStr) -> Vec<u8> {
    let p = c_path(path);
    let mut buf = vec![0u8; 256];
    // SAFETY: NUL-terminated strings and a writable buffer of the given
    // length, all outliving the call.
    let n = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n)
        .unwrap_or_else(|_| panic!("lgetxattr: {}", std::io::Error::last_os_error()));
    buf.truncate(n);
    buf
}

#[test]
fn xattrs_work_inside_the_namespace_sandbox() {
    xattrs_work_inside("namespace");
}

#[test]
fn xattrs_work_inside_the_chroot_sandbox() {
    xattrs_work_inside("chroot");
}

/// Puts a regular file inside the share at the path the socket has on the
/// host: from a daemon rooted at the share, the host path names it.
fn plant_decoy(dirs: &TestDirs) -> PathBuf {
    let relative = dirs.socket.strip_prefix("/").unwrap();
    let decoy = dirs.share.join(relative);
    fs::create_dir_all(decoy.parent().unwrap()).unwrap();
    fs::write(&decoy, DECOY).unwrap();
    decoy
}

fn assert_decoy_intact(decoy: &Path) {
    let data = fs::read(decoy).ok();
    assert_eq!(
        data.as_deref(),
        Some(DECOY),
        "the share's file at the socket path was touched"
    );
}

fn socket_is_removed_after_a_connection(sandbox: &str) {
    let dirs = TestDirs::new();
    let decoy = plant_decoy(&dirs);
    let (mut d, mut c) = start(dirs, &["--sandbox", sandbox]);
    c.getattr(ROOT_ID).unwrap();
    let removed_while_serving = !d.socket().exists();

    drop(c);
    let st = d.wait_exit(Duration::from_secs(10)).expect("daemon exits");

    assert!(st.success(), "exit status {st}");
    assert_decoy_intact(&decoy);
    assert!(!d.socket().exists(), "socket file left behind");
    // One connection is served: the file goes as soon as it is taken.
    assert!(removed_while_serving, "socket file kept while serving");
}

#[test]
fn socket_is_removed_but_not_its_namesake_in_the_share_namespace() {
    socket_is_removed_after_a_connection("namespace");
}

#[test]
fn socket_is_removed_but_not_its_namesake_in_the_share_chroot() {
    socket_is_removed_after_a_connection("chroot");
}

#[test]
fn socket_is_removed_but_not_its_namesake_in_the_share_none() {
    socket_is_removed_after_a_connection("none");
}

/// Waits until the daemon logs that it waits for the frontend (the
/// sandbox is entered by then).
fn wait_ready(d: &DaemonProcess) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.log().contains("waiting for the frontend") {
        assert!(Instant::now() < deadline, "not ready:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn socket_is_removed_on_sigterm_before_a_connection(sandbox: &str) {
    let dirs = TestDirs::new();
    let decoy = plant_decoy(&dirs);
    let mut d = DaemonProcess::spawn(dirs, 1, &["--sandbox", sandbox]);
    wait_ready(&d);

    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(d.pid() as i32, libc::SIGTERM) };
    let st = d.wait_exit(Duration::from_secs(10)).expect("daemon exits");

    assert!(st.success(), "exit status {st}");
    assert!(!d.socket().exists(), "socket file left behind");
    assert_decoy_intact(&decoy);
}

#[test]
fn socket_is_removed_on_sigterm_before_a_connection_namespace() {
    socket_is_removed_on_sigterm_before_a_connection("namespace");
}

#[test]
fn socket_is_removed_on_sigterm_before_a_connection_chroot() {
    socket_is_removed_on_sigterm_before_a_connection("chroot");
}

/// Test directories `nobody` can use: the socket's directory writable, the
/// share readable and writable.
fn dirs_for_nobody() -> TestDirs {
    let dirs = TestDirs::new();
    for dir in [dirs.root.path(), dirs.share.as_path()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).unwrap();
    }
    dirs
}

fn as_nobody(cmd: &mut Command) {
    cmd.uid(NOBODY).gid(NOBODY);
}

/// Whether `nobody` may create a user namespace on this host.
fn user_namespaces_allowed() -> bool {
    common::userns::user_namespaces_allowed_for(NOBODY, NOBODY)
}

#[test]
fn namespace_sandbox_without_root_adds_a_user_namespace() {
    if !user_namespaces_allowed() {
        eprintln!("skipped: unprivileged user namespaces are disabled on this host");
        return;
    }
    let dirs = dirs_for_nobody();
    let d = DaemonProcess::spawn_with(dirs, 1, &[], as_nobody);
    let mut c = common::connect(d.socket(), 1, VmmOptions::default());

    for kind in ["user", "mnt", "net"] {
        let (theirs, ours) = namespaces(&d, kind);
        assert_ne!(theirs, ours, "daemon shares the test's {kind} namespace");
    }
    let map = fs::read_to_string(proc_path(&d, "uid_map")).unwrap();
    let fields: Vec<&str> = map.split_whitespace().collect();
    assert_eq!(fields, ["65534", "65534", "1"], "uid_map {map:?}");
    assert_eq!(root_of(&d), file_id(d.share()), "root is not the share");
    assert_serves(&d, &mut c, b"made-by-nobody");
    let owner = fs::metadata(d.share().join("made-by-nobody"))
        .unwrap()
        .uid();
    assert_eq!(owner, NOBODY);
}

/// Runs the daemon to its exit (killing it after `timeout`); returns the
/// status and what it printed.
fn run_to_exit(mut cmd: Command, log: &Path, timeout: Duration) -> (ExitStatus, String) {
    let out = File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let mut child = cmd.spawn().expect("spawn epochfsd");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("daemon still running after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status, fs::read_to_string(log).unwrap_or_default())
}

#[test]
fn chroot_sandbox_without_root_fails_with_a_message() {
    let dirs = dirs_for_nobody();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_epochfsd"));
    cmd.args(&dirs.args(1, &["--sandbox", "chroot"])[1..]);
    as_nobody(&mut cmd);

    let (status, output) = run_to_exit(cmd, &dirs.log, Duration::from_secs(10));

    assert!(!status.success(), "daemon ran without its sandbox");
    assert!(
        output.contains("cannot enter the chroot sandbox")
            && output.contains("Operation not permitted"),
        "unclear message: {output}"
    );
    assert!(!dirs.socket.exists(), "socket file left behind");
}
