//! The real binary started with each launcher's exact argv (libvirt 9 and
//! 11, libvirt session mode, Kata's Go runtime, Kata 2.x, Kata's
//! runtime-rs, cloud-hypervisor's docs): it prints the ready line on
//! stderr, a vhost-user frontend connects, INIT is answered and a file the
//! "guest" creates appears in the share. `--fd` launchers get a listening
//! socket the test binds, inherited as that descriptor, as libvirt and Kata
//! hand it over. Also: what happens at start with options epochfsd refuses.

mod common;

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fuse_client::FuseClient;
use common::vmm::VmmOptions;
use epochfsd::cli::READY_LINE;
use epochfsd::fuse::abi::ROOT_ID;

const NOBODY: u32 = 65534;

/// A scratch directory with the share and, for `--socket-path`, the socket.
struct Scratch {
    root: tempfile::TempDir,
    share: PathBuf,
    socket: PathBuf,
    log: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let root = tempfile::Builder::new()
            .prefix("epochfsd-launch-")
            .tempdir()
            .unwrap();
        let share = root.path().join("share");
        fs::create_dir(&share).unwrap();
        Scratch {
            socket: root.path().join("vhost.sock"),
            log: root.path().join("stderr.log"),
            share,
            root,
        }
    }

    /// `argv` with `DIR` and `SOCK` filled in, split at spaces.
    fn words(&self, argv: &str) -> Vec<String> {
        argv.split(' ')
            .map(|w| {
                w.replace("DIR", self.share.to_str().unwrap())
                    .replace("SOCK", self.socket.to_str().unwrap())
            })
            .collect()
    }
}

/// The daemon started by the test; killed on drop (its stderr is printed
/// if the test fails).
struct Launched {
    child: Child,
    log: PathBuf,
}

impl Launched {
    fn stderr(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the ready line; panics with the log if the daemon exits
    /// first or takes longer than 20 s.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.stderr().lines().any(|l| l == READY_LINE) {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "daemon exited ({st}) before the ready line:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no ready line:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- epochfsd stderr ----\n{}", self.stderr());
        }
    }
}

/// Starts the binary with `args`; `inherit` is a listening socket to pass
/// as descriptor `fd` (`--fd=N` launchers); `configure` adjusts the command.
fn launch(
    s: &Scratch,
    args: &[String],
    inherit: Option<(&UnixListener, i32)>,
    configure: impl FnOnce(&mut Command),
) -> Launched {
    let log = File::create(&s.log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_epochfsd"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    if let Some((listener, target)) = inherit {
        let source = listener.as_raw_fd();
        // SAFETY: dup2 and fcntl are async-signal-safe; the closure touches
        // no memory of the parent beyond two integers.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(source, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // dup2 clears FD_CLOEXEC on the copy, unless source == target.
                if libc::fcntl(target, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    configure(&mut cmd);
    Launched {
        child: cmd.spawn().expect("spawn epochfsd"),
        log: s.log.clone(),
    }
}

/// Connects a frontend to `socket`, does INIT, creates `name` with data,
/// and checks it in the share.
fn serve_one_file(s: &Scratch, socket: &Path, name: &str) -> FuseClient {
    let mut c = common::connect(socket, 1, VmmOptions::default());
    let rdwr = libc::O_RDWR as u32;
    let (e, o) = c
        .create(ROOT_ID, name.as_bytes(), rdwr, 0o644)
        .expect("CREATE");
    c.write(e.nodeid, o.fh, 0, b"from the guest")
        .expect("WRITE");
    c.release(e.nodeid, o.fh, rdwr).expect("RELEASE");
    assert_eq!(fs::read(s.share.join(name)).unwrap(), b"from the guest");
    c
}

/// Runs a `--socket-path` launcher's argv end to end.
fn socket_path_launcher(argv: &str) -> (Scratch, Launched) {
    let s = Scratch::new();
    let mut d = launch(&s, &s.words(argv), None, |_| {});
    d.wait_ready();
    serve_one_file(&s, &s.socket, "f");
    (s, d)
}

/// Runs an `--fd=N` launcher's argv end to end, with the socket bound by
/// the test and inherited as descriptor `fd`.
fn fd_launcher(argv: &str, fd: i32) -> (Scratch, Launched) {
    let s = Scratch::new();
    let listener = UnixListener::bind(&s.socket).unwrap();
    let mut d = launch(&s, &s.words(argv), Some((&listener, fd)), |_| {});
    drop(listener);
    d.wait_ready();
    serve_one_file(&s, &s.socket, "f");
    (s, d)
}

/// After the frontend goes away the daemon exits 0 by itself.
fn exits_cleanly(mut d: Launched, c: Option<FuseClient>) {
    drop(c);
    let st = d.wait_exit(Duration::from_secs(10)).expect("daemon exits");
    assert!(st.success(), "{st}:\n{}", d.stderr());
}

#[test]
fn libvirt_9_old_form_argv_serves() {
    let (_s, d) = fd_launcher(
        "--fd=7 -o source=DIR,cache=always,xattr --thread-pool-size=4",
        7,
    );
    assert!(!d.stderr().contains("WARN"), "{}", d.stderr());
}

#[test]
fn libvirt_9_old_form_with_sandbox_and_debug_serves() {
    let (_s, d) = fd_launcher(
        "--fd=7 -o source=DIR,cache=always,xattr,sandbox=chroot --thread-pool-size=4 -d",
        7,
    );
    assert!(d.stderr().contains("DEBUG"), "-d is debug logging");
}

/// An open file limit the daemon may set without CAP_SYS_RESOURCE: at most
/// the soft limit the test has (libvirt passes the domain's
/// `<openfiles max>`).
fn settable_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur.min(4096)
}

#[test]
fn libvirt_11_separate_options_argv_serves() {
    let n = settable_nofile();
    let (_s, d) = fd_launcher(
        &format!("--fd=7 --shared-dir DIR --cache always --sandbox chroot --xattr --thread-pool-size=4 --rlimit-nofile={n}"),
        7,
    );
    let want = format!("open file limit set to {n}");
    assert!(d.stderr().contains(&want), "{}", d.stderr());
}

#[test]
fn kata_go_runtime_argv_serves() {
    let (_s, d) = fd_launcher(
        "--syslog --cache=auto --shared-dir=DIR --fd=3 --thread-pool-size=1 --announce-submounts",
        3,
    );
    // This host has no syslog socket: the daemon says so and logs to stderr.
    if !Path::new("/dev/log").exists() {
        assert!(
            d.stderr().contains("--syslog: cannot reach"),
            "{}",
            d.stderr()
        );
    }
}

#[test]
fn kata_2_compat_argv_serves() {
    fd_launcher(
        "--syslog --cache=auto --shared-dir=DIR --fd=3 --thread-pool-size=1 -o announce_submounts",
        3,
    );
}

#[test]
fn kata_runtime_rs_argv_serves_and_exits_when_the_frontend_leaves() {
    let s = Scratch::new();
    let argv = "--socket-path SOCK --shared-dir DIR --cache auto --sandbox none --seccomp none --inode-file-handles never --thread-pool-size=1 --announce-submounts --xattr";
    let mut d = launch(&s, &s.words(argv), None, |_| {});
    d.wait_ready();
    let c = serve_one_file(&s, &s.socket, "f");
    exits_cleanly(d, Some(c));
}

#[test]
fn cloud_hypervisor_docs_argv_serves() {
    socket_path_launcher(
        "--log-level debug --socket-path=SOCK --shared-dir=DIR --cache=never --thread-pool-size=4",
    );
}

#[test]
fn deprecated_socket_flag_serves_with_a_warning() {
    let (_s, d) = socket_path_launcher("--socket SOCK --shared-dir DIR");
    assert!(
        d.stderr().contains("--socket is deprecated"),
        "{}",
        d.stderr()
    );
}

#[test]
fn seccomp_kill_starts_without_a_warning_and_serves() {
    // The launcher served a file through the frontend under the filter.
    let (_s, d) = socket_path_launcher("--socket-path SOCK --shared-dir DIR --seccomp kill");
    let stderr = d.stderr();
    assert!(stderr.contains(READY_LINE), "{stderr}");
    assert!(stderr.contains("seccomp filter installed"), "{stderr}");
    assert!(!stderr.contains("no seccomp filter"), "{stderr}");
    exits_cleanly(d, None);
}

#[test]
fn the_ready_line_comes_before_the_frontend_connects() {
    let s = Scratch::new();
    let mut d = launch(
        &s,
        &s.words("--socket-path SOCK --shared-dir DIR"),
        None,
        |_| {},
    );
    d.wait_ready();
    let ready_lines = d.stderr().lines().filter(|l| *l == READY_LINE).count();
    assert_eq!(ready_lines, 1);
    assert!(s.socket.exists(), "the socket listens once the line is out");
}

/// Whether `nobody` may create a user namespace on this host.
fn user_namespaces_allowed() -> bool {
    common::userns::user_namespaces_allowed_for(NOBODY, NOBODY)
}

#[test]
fn libvirt_session_id_maps_make_the_daemon_root_of_its_namespace() {
    if !user_namespaces_allowed() {
        eprintln!("skipped: unprivileged user namespaces are disabled on this host");
        return;
    }
    let s = Scratch::new();
    use std::os::unix::fs::PermissionsExt;
    for dir in [s.root.path(), s.share.as_path()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).unwrap();
    }
    let listener = UnixListener::bind(&s.socket).unwrap();
    let argv = format!("--fd=7 --shared-dir DIR --uid-map=:0:{NOBODY}:1: --gid-map=:0:{NOBODY}:1:");
    let mut d = launch(&s, &s.words(&argv), Some((&listener, 7)), |cmd| {
        cmd.uid(NOBODY).gid(NOBODY);
    });
    drop(listener);
    d.wait_ready();
    let c = serve_one_file(&s, &s.socket, "made-in-session-mode");
    let pid = d.child.id();
    let uid_map = fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    let gid_map = fs::read_to_string(format!("/proc/{pid}/gid_map")).unwrap();
    let fields = |m: &str| m.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(fields(&uid_map), ["0", "65534", "1"], "{uid_map}");
    assert_eq!(fields(&gid_map), ["0", "65534", "1"], "{gid_map}");
    let meta = fs::metadata(s.share.join("made-in-session-mode")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY));
    exits_cleanly(d, Some(c));
}

/// Starts the binary with `argv`, expects it to exit non-zero within 10 s
/// and returns its stderr.
fn refused(argv: &str, configure: impl FnOnce(&mut Command)) -> String {
    let s = Scratch::new();
    let mut d = launch(&s, &s.words(argv), None, configure);
    let st = d.wait_exit(Duration::from_secs(10)).expect("daemon exits");
    assert!(!st.success(), "{argv}: exit {st}");
    let out = d.stderr();
    assert!(!out.contains(READY_LINE), "{out}");
    out
}

#[test]
fn uid_map_as_root_is_refused_as_virtiofsd_does() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let out = refused(
        "--socket-path SOCK --shared-dir DIR --uid-map=:0:1000:1: --gid-map=:0:1000:1:",
        |_| {},
    );
    assert!(out.contains("--uid-map/--gid-map"), "{out}");
    assert!(out.contains("runs as root"), "{out}");
}

#[test]
fn unsupported_or_malformed_options_stop_the_daemon_with_their_name() {
    for (argv, name) in [
        (
            "--socket-path SOCK --shared-dir DIR --translate-uid map:0:1000",
            "--translate-uid: \"map:0:1000\": expected TYPE:SOURCE:TARGET:COUNT",
        ),
        (
            "--socket-path SOCK --shared-dir DIR --xattrmap :okay:all:::",
            "--xattrmap: rule 1: unknown type",
        ),
        (
            "--socket-path SOCK --shared-dir DIR --security-label",
            "--security-label",
        ),
        ("--socket-path SOCK -o source=DIR,bogus", "bogus"),
    ] {
        let out = refused(argv, |_| {});
        assert!(out.contains(name), "{argv}: {out}");
    }
}

#[test]
fn print_capabilities_lists_separate_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_epochfsd"))
        .arg("--print-capabilities")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"type":"fs","features":["separate-options","migrate-precopy"]}"#
    );
}

/// Runs the daemon in a private mount namespace whose `/dev/log` is the
/// datagram socket at `log_socket` (this host has no syslog daemon, and the
/// test must not create one in the host's `/dev`).
fn with_dev_log(log_socket: &Path) -> impl FnOnce(&mut Command) {
    use std::ffi::CString;
    let source = CString::new(log_socket.to_str().unwrap()).unwrap();
    move |cmd: &mut Command| {
        // SAFETY: only raw syscalls on pointers prepared before the fork
        // (the CStrings live in the closure), all async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                let check = |rc: libc::c_int| {
                    if rc < 0 {
                        Err(std::io::Error::last_os_error())
                    } else {
                        Ok(rc)
                    }
                };
                check(libc::unshare(libc::CLONE_NEWNS))?;
                let none = std::ptr::null();
                check(libc::mount(
                    none,
                    c"/".as_ptr(),
                    none,
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
                check(libc::mount(
                    c"tmpfs".as_ptr(),
                    c"/dev".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                ))?;
                let fd = check(libc::open(
                    c"/dev/log".as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY,
                    0o666,
                ))?;
                libc::close(fd);
                check(libc::mount(
                    source.as_ptr(),
                    c"/dev/log".as_ptr(),
                    none,
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
                Ok(())
            });
        }
    }
}

#[test]
fn syslog_gets_the_log_also_from_inside_the_sandbox() {
    use std::os::unix::net::UnixDatagram;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return; // needs a mount namespace for its own /dev/log
    }
    let s = Scratch::new();
    let log_socket = s.root.path().join("syslog.sock");
    let syslog = UnixDatagram::bind(&log_socket).unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let argv = "--syslog --socket-path SOCK --shared-dir DIR --sandbox namespace";
    let mut d = launch(&s, &s.words(argv), None, with_dev_log(&log_socket));
    d.wait_ready();
    let c = serve_one_file(&s, &s.socket, "f");
    let pid = d.child.id();
    let mut lines = Vec::new();
    let mut buf = [0u8; 4096];
    // "frontend connected" is logged after the sandbox was entered.
    while !lines
        .iter()
        .any(|l: &String| l.contains("frontend connected"))
    {
        let n = syslog.recv(&mut buf).expect("a syslog message within 10 s");
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(
        lines
            .iter()
            .all(|l| l.contains(&format!("epochfsd[{pid}]:"))),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("sandbox namespace")),
        "{lines:?}"
    );
    let stderr = d.stderr();
    assert!(
        !stderr.contains("INFO"),
        "log lines went to stderr: {stderr}"
    );
    assert!(stderr.contains(READY_LINE));
    exits_cleanly(d, Some(c));
}
