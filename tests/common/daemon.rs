//! Starting the daemon under test, as a child process or in-process.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a daemon gets to create its socket.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A scratch directory holding the share (`share/`), the socket and the
/// daemon log. Removed on drop.
pub struct TestDirs {
    pub root: TempDir,
    pub share: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl TestDirs {
    pub fn new() -> TestDirs {
        let root = tempfile::Builder::new()
            .prefix("epochfsd-test-")
            .tempdir()
            .expect("create temp dir");
        let share = root.path().join("share");
        std::fs::create_dir(&share).unwrap();
        let socket = root.path().join("vhost.sock");
        let log = root.path().join("daemon.log");
        TestDirs {
            root,
            share,
            socket,
            log,
        }
    }

    /// The daemon arguments for this directory set.
    pub fn args(&self, num_request_queues: usize, extra: &[&str]) -> Vec<String> {
        let mut v = vec![
            "epochfsd".to_string(),
            "--socket-path".to_string(),
            self.socket.display().to_string(),
            "--shared-dir".to_string(),
            self.share.display().to_string(),
            "--num-request-queues".to_string(),
            num_request_queues.to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }
}

impl Default for TestDirs {
    fn default() -> Self {
        Self::new()
    }
}

fn wait_for_socket(socket: &Path, mut alive: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + START_TIMEOUT;
    while !socket.exists() {
        if let Err(e) = alive() {
            panic!("daemon exited before creating {}: {e}", socket.display());
        }
        assert!(
            Instant::now() < deadline,
            "daemon did not create {} within {START_TIMEOUT:?}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The daemon binary running as a child process; killed on drop. Its stderr
/// goes to `dirs.log` and is printed if the test is panicking.
pub struct DaemonProcess {
    child: Child,
    pub dirs: TestDirs,
}

impl DaemonProcess {
    /// Starts `epochfsd` serving `dirs.share` and waits for its socket.
    pub fn spawn(dirs: TestDirs, num_request_queues: usize, extra: &[&str]) -> DaemonProcess {
        Self::spawn_with(dirs, num_request_queues, extra, |_| {})
    }

    /// Like [`spawn`](Self::spawn), with the command adjusted by `configure`
    /// first (e.g. to run it as another user).
    pub fn spawn_with(
        dirs: TestDirs,
        num_request_queues: usize,
        extra: &[&str],
        configure: impl FnOnce(&mut Command),
    ) -> DaemonProcess {
        let mut args = dirs.args(num_request_queues, extra);
        if !extra.contains(&"--log-level") {
            // Logs are shown only when a test fails; make them worth reading.
            let level = std::env::var("EPOCHFSD_TEST_LOG").unwrap_or_else(|_| "debug".into());
            args.extend(["--log-level".to_string(), level]);
        }
        let log = File::create(&dirs.log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_epochfsd"));
        command
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        configure(&mut command);
        let child = command.spawn().expect("spawn epochfsd");
        let mut d = DaemonProcess { child, dirs };
        let log_path = d.dirs.log.clone();
        let socket = d.dirs.socket.clone();
        let child = &mut d.child;
        wait_for_socket(&socket, || match child.try_wait() {
            Ok(Some(st)) => Err(format!(
                "{st}; log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            )),
            _ => Ok(()),
        });
        d
    }

    pub fn socket(&self) -> &Path {
        &self.dirs.socket
    }

    pub fn share(&self) -> &Path {
        &self.dirs.share
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process that serves: the daemon itself, or with a pid
    /// namespace the child it forked (pid 1 inside), which the started
    /// process waits for.
    pub fn server_pid(&self) -> u32 {
        let pid = self.pid();
        let children = format!("/proc/{pid}/task/{pid}/children");
        std::fs::read_to_string(children)
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|c| c.parse().ok()))
            .unwrap_or(pid)
    }

    /// `/proc/PID/status` of the serving process, field `name` (e.g.
    /// `CapEff`), without the name.
    pub fn status_field(&self, name: &str) -> String {
        let path = format!("/proc/{}/status", self.server_pid());
        let status = std::fs::read_to_string(&path).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {path}"))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM (the operator's and the VMM's way to stop it).
    pub fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill has no memory effects; the pid is our own child's.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.dirs.log).unwrap_or_default()
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- epochfsd log ----\n{}\n---- end log ----", self.log());
        }
    }
}

/// The daemon running on a thread of the test process (started through the
/// library API). `run` returns when the frontend disconnects.
pub struct DaemonThread {
    handle: Option<JoinHandle<Result<(), String>>>,
    pub dirs: TestDirs,
}

impl DaemonThread {
    /// Parses `dirs.args(...)` like `main` does and runs the daemon on a thread.
    pub fn spawn(dirs: TestDirs, num_request_queues: usize, extra: &[&str]) -> DaemonThread {
        use clap::Parser;
        let args = dirs.args(num_request_queues, extra);
        let cli = epochfsd::cli::Cli::try_parse_from(&args).expect("parse daemon arguments");
        let config = epochfsd::cli::Config::try_from(cli).expect("validate daemon arguments");
        let handle = std::thread::Builder::new()
            .name("epochfsd".into())
            .spawn(move || epochfsd::daemon::run(config).map_err(|e| format!("{e:?}")))
            .unwrap();
        let d = DaemonThread {
            handle: Some(handle),
            dirs,
        };
        let h = d.handle.as_ref().unwrap();
        wait_for_socket(&d.dirs.socket, || {
            if h.is_finished() {
                Err("daemon thread finished".into())
            } else {
                Ok(())
            }
        });
        d
    }

    pub fn socket(&self) -> &Path {
        &self.dirs.socket
    }

    pub fn share(&self) -> &Path {
        &self.dirs.share
    }

    /// Waits up to `timeout` for `run` to return (after the frontend has
    /// disconnected) and returns its result, or `None` on timeout.
    pub fn join(mut self, timeout: Duration) -> Option<Result<(), String>> {
        let deadline = Instant::now() + timeout;
        let h = self.handle.take()?;
        while !h.is_finished() {
            if Instant::now() >= deadline {
                // Leave the thread running; the test process exits anyway.
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(
            h.join()
                .unwrap_or_else(|_| Err("daemon thread panicked".into())),
        )
    }
}
