//! Command line: virtiofsd-compatible flags, validated into a [`Config`].
//!
//! `Cli` is what clap parses; `Config::try_from(cli)` checks everything an
//! operator can get wrong (both or neither of `--socket-path`/`--fd`, a
//! missing shared directory, unsupported options) so that `main` reports one
//! clear error and exits non-zero before anything starts.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Most request queues a device may have: the high-priority queue comes on
/// top, and vhost-user-backend's thread masks hold 64 queues.
pub const MAX_REQUEST_QUEUES: usize = crate::device::layout::MAX_QUEUES - 1;

/// Largest `--queue-poll-us`: past a millisecond a thread would spin longer
/// than any guest takes to send its next request.
pub const MAX_QUEUE_POLL_US: u64 = 1000;

/// Bounds of `--handoff-us`: below 100 us a stand-in would take over from
/// threads that are merely busy; past 10 s the bound would not protect
/// anything.
pub const HANDOFF_US_RANGE: std::ops::RangeInclusive<u64> = 100..=10_000_000;

/// Guest page cache policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum CacheMode {
    /// No caching: every access goes to the host.
    Never,
    /// Cache metadata for a long time, data not at all.
    Metadata,
    /// Cache for a short time; revalidate on open.
    #[default]
    Auto,
    /// Cache for a long time; the host directory is not changed behind the guest.
    Always,
}

/// How SYNCFS makes data durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SyncfsMode {
    /// Flush the inodes the guest changed (falls back to syncfs(2) when unknown).
    #[default]
    Targeted,
    /// Call syncfs(2) on the host filesystem.
    Host,
    /// Benchmark baseline, not for production: like `targeted`, but SYNCFS
    /// first waits for a moment when no mutating request is in flight at
    /// all (a full drain), instead of for exactly the earlier ones.
    Drain,
}

/// How the daemon confines itself to the shared directory before serving
/// (virtiofsd's `--sandbox`; see `daemon::sandbox`). Defence in depth:
/// containment is enforced by `openat2(RESOLVE_BENEATH)` whatever the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SandboxMode {
    /// New mount, network and IPC namespaces (plus a user namespace when
    /// not root) and pivot_root into the shared directory (the default).
    #[default]
    Namespace,
    /// chroot into the shared directory (needs root).
    Chroot,
    /// No sandbox.
    None,
}

/// How inodes are held (virtiofsd's `--inode-file-handles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum InodeFileHandles {
    /// Keep an O_PATH descriptor per inode.
    Never,
    /// Use file handles where the host supports them, descriptors elsewhere
    /// (and everywhere if the daemon lacks CAP_DAC_READ_SEARCH).
    #[default]
    #[value(alias = "fallback")]
    Prefer,
    /// Require file handles: refuse to start without them, fail lookups of
    /// inodes that have none.
    Mandatory,
}

/// How many epoll threads serve the request queues (`--queue-threads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueThreads {
    /// One per two cores the daemon may run on, at least one, at most one
    /// per request queue.
    #[default]
    Auto,
    /// Exactly this many (validated against the queue count).
    Count(usize),
}

impl std::str::FromStr for QueueThreads {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(QueueThreads::Auto);
        }
        s.parse()
            .map(QueueThreads::Count)
            .map_err(|_| format!("expected `auto` or a thread count, got {s:?}"))
    }
}

impl std::fmt::Display for QueueThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueThreads::Auto => f.write_str("auto"),
            QueueThreads::Count(n) => write!(f, "{n}"),
        }
    }
}

/// What to do with RLIMIT_NOFILE at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NofileLimit {
    /// Raise it to min(1,000,000, /proc/sys/fs/nr_open) (the default).
    Raise,
    /// Leave it as inherited (`--rlimit-nofile 0`).
    Keep,
    /// Set soft and hard limit to exactly this.
    Set(u64),
}

/// epochfsd: a vhost-user virtio-fs daemon.
#[derive(Debug, Parser)]
#[command(name = "epochfsd", version, about)]
pub struct Cli {
    /// vhost-user socket path to create and listen on.
    #[arg(long, value_name = "PATH")]
    pub socket_path: Option<PathBuf>,

    /// An already listening vhost-user socket, inherited as this file descriptor.
    #[arg(long, value_name = "N")]
    pub fd: Option<i32>,

    /// Host directory to share with the guest.
    #[arg(long, value_name = "DIR")]
    pub shared_dir: Option<PathBuf>,

    /// Tag to expose in the device config space (QEMU sets it itself).
    #[arg(long)]
    pub tag: Option<String>,

    /// Number of request queues (the high-priority queue is extra).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub num_request_queues: usize,

    /// Most worker threads per request queue (0 = 1 worker).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub thread_pool_size: usize,

    /// Epoll threads that take requests off the request queues, 1 to
    /// --num-request-queues; the queues are spread over them round robin
    /// (the high-priority queue always has a thread of its own). Fewer
    /// threads than queues save wake-ups and context switches on a host with
    /// few cores; one per queue keeps a busy queue from delaying another.
    /// `auto` (default): one per two available cores, at least 1, at most
    /// one per request queue.
    #[arg(long, default_value_t = QueueThreads::Auto, value_name = "N|auto")]
    pub queue_threads: QueueThreads,

    /// Longest a queue thread keeps polling its queues for the next request
    /// after serving some, before it sleeps until a kick, in microseconds
    /// (0 = never poll). Each thread adapts its window between 0 and this:
    /// it halves when polling finds nothing and doubles when a kick comes
    /// soon after the thread went to sleep. Polling saves a wake-up on both
    /// sides per request when the guest keeps requests coming; it spends up
    /// to this long of CPU each time the queues go quiet.
    #[arg(long, default_value_t = 50, value_name = "MICROSECONDS")]
    pub queue_poll_us: u64,

    /// Longest a queue thread may be inside one request it serves itself
    /// (slow storage) before a stand-in thread takes its queues over, in
    /// microseconds (100 to 10,000,000). The thread's other requests and
    /// queues then wait at most about this long behind a blocked one.
    #[arg(long, default_value_t = 1000, value_name = "MICROSECONDS")]
    pub handoff_us: u64,

    /// Guest cache policy.
    #[arg(long, value_enum, default_value_t = CacheMode::Auto)]
    pub cache: CacheMode,

    /// Let the guest cache writes (FUSE writeback cache).
    #[arg(long)]
    pub writeback: bool,

    /// Disable the writeback cache (default).
    #[arg(long, conflicts_with = "writeback")]
    pub no_writeback: bool,

    /// Serve extended attributes.
    #[arg(long)]
    pub xattr: bool,

    /// Do not serve extended attributes (default).
    #[arg(long, conflicts_with = "xattr")]
    pub no_xattr: bool,

    /// Serve POSIX ACLs (implies --xattr).
    #[arg(long, conflicts_with = "no_xattr")]
    pub posix_acl: bool,

    /// Export the share read-only.
    #[arg(long)]
    pub readonly: bool,

    /// Honour O_DIRECT from the guest.
    #[arg(long)]
    pub allow_direct_io: bool,

    /// Mark submount roots so the guest mounts them separately.
    #[arg(long)]
    pub announce_submounts: bool,

    /// Hold inodes as file handles instead of O_PATH descriptors: never,
    /// prefer (default), mandatory.
    #[arg(long, value_enum, default_value_t = InodeFileHandles::Prefer, value_name = "WHEN")]
    pub inode_file_handles: InodeFileHandles,

    /// Set the open file limit to N (0 = leave as is; default: raise to
    /// min(1000000, /proc/sys/fs/nr_open)).
    #[arg(long, value_name = "N")]
    pub rlimit_nofile: Option<u64>,

    /// Confine the daemon to the shared directory: namespace (default),
    /// chroot (needs root) or none.
    #[arg(long, value_enum, default_value_t = SandboxMode::Namespace, value_name = "MODE")]
    pub sandbox: SandboxMode,

    /// Seccomp policy (accepted for compatibility; no filter is installed).
    #[arg(long, value_name = "ACTION")]
    pub seccomp: Option<String>,

    /// How SYNCFS makes the guest's writes durable.
    #[arg(long, value_enum, default_value_t = SyncfsMode::Targeted)]
    pub syncfs: SyncfsMode,

    /// Write a JSON-lines trace of mutating requests and SYNCFS to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace_epochs: Option<PathBuf>,

    /// Log level: error, warn, info, debug, trace.
    #[arg(long, default_value = "info")]
    pub log_level: String,

    /// Log to syslog (accepted; logs go to stderr).
    #[arg(long)]
    pub syslog: bool,

    /// Print the vhost-user capabilities as JSON and exit.
    #[arg(long)]
    pub print_capabilities: bool,

    /// Stay in the foreground (always the case; accepted for compatibility).
    #[arg(short = 'f', long)]
    pub foreground: bool,

    /// Keep supplementary groups / capabilities options (accepted, ignored).
    #[arg(long, value_name = "CAPS")]
    pub modcaps: Option<String>,

    /// Translate uids (not supported).
    #[arg(long, value_name = "MAP")]
    pub uid_map: Option<String>,

    /// Translate gids (not supported).
    #[arg(long, value_name = "MAP")]
    pub gid_map: Option<String>,

    /// Enable FUSE_HANDLE_KILLPRIV_V2 (accepted; killpriv is handled by the daemon).
    #[arg(long)]
    pub killpriv_v2: bool,

    /// Disable FUSE_HANDLE_KILLPRIV_V2 (accepted).
    #[arg(long)]
    pub no_killpriv_v2: bool,

    /// Test builds only: hold a WRITE at this offset inside its epoch.
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true)]
    pub test_slow_write_offset: Option<u64>,

    /// Test builds only: how long (ms) to hold that WRITE.
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true, default_value_t = 0)]
    pub test_slow_write_ms: u64,

    /// Test builds only: make SYNCFS fail with this errno.
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true)]
    pub test_fail_syncfs: Option<i32>,

    /// Test builds only: the targeted flush fails with EIO for a file of
    /// exactly this many bytes.
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true)]
    pub test_fail_flush_size: Option<u64>,
}

/// Where the vhost-user connection comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketSource {
    /// Create and listen on this path.
    Path(PathBuf),
    /// Use this already listening socket.
    Fd(i32),
}

/// A validated daemon configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The vhost-user listening socket.
    pub socket: SocketSource,
    /// The shared directory, canonicalized.
    pub shared_dir: PathBuf,
    /// Config-space tag.
    pub tag: Option<String>,
    /// Number of request queues.
    pub num_request_queues: usize,
    /// Workers per request queue.
    pub workers_per_queue: usize,
    /// Epoll threads serving the request queues (`auto` resolved).
    pub queue_threads: usize,
    /// Longest busy-poll window of a queue thread.
    pub queue_poll: std::time::Duration,
    /// Longest a queue thread serves one request before a stand-in takes over.
    pub handoff: std::time::Duration,
    /// Cache policy.
    pub cache: CacheMode,
    /// Writeback cache.
    pub writeback: bool,
    /// Extended attributes.
    pub xattr: bool,
    /// POSIX ACLs (enforced by the guest, stored as host ACLs).
    pub posix_acl: bool,
    /// Read-only export.
    pub readonly: bool,
    /// Honour O_DIRECT.
    pub allow_direct_io: bool,
    /// Announce submounts.
    pub announce_submounts: bool,
    /// Open file limit to set.
    pub rlimit_nofile: NofileLimit,
    /// How inodes are held.
    pub inode_file_handles: InodeFileHandles,
    /// How the daemon confines itself.
    pub sandbox: SandboxMode,
    /// SYNCFS flush mode.
    pub syncfs: SyncfsMode,
    /// Epoch trace file.
    pub trace_epochs: Option<PathBuf>,
    /// Log filter.
    pub log_level: log::LevelFilter,
    /// Injected delays and faults (test builds only).
    #[cfg(feature = "test-hooks")]
    pub hooks: crate::fuse::test_hooks::TestHooks,
}

/// What is wrong with a command line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither or both of the socket options.
    #[error("exactly one of --socket-path and --fd is required")]
    SocketChoice,
    /// No shared directory.
    #[error("--shared-dir is required")]
    NoSharedDir,
    /// The shared directory is unusable.
    #[error("shared directory {path:?} is not usable")]
    SharedDir {
        /// The path given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The shared directory is not a directory.
    #[error("shared directory {0:?} is not a directory")]
    NotADirectory(PathBuf),
    /// Queue count out of range.
    #[error("--num-request-queues must be between 1 and {MAX_REQUEST_QUEUES}, got {0}")]
    QueueCount(usize),
    /// Thread count out of range.
    #[error(
        "--queue-threads must be between 1 and --num-request-queues ({queues}), got {threads}"
    )]
    QueueThreads {
        /// The count given.
        threads: usize,
        /// The request queues.
        queues: usize,
    },
    /// `--queue-poll-us` past its bound.
    #[error("--queue-poll-us must be at most {MAX_QUEUE_POLL_US}, got {0}")]
    QueuePoll(u64),
    /// `--handoff-us` out of range.
    #[error("--handoff-us must be between {min} and {max}, got {0}", min = HANDOFF_US_RANGE.start(), max = HANDOFF_US_RANGE.end())]
    Handoff(u64),
    #[error("--fd must be a non-negative file descriptor, got {0}")]
    BadFd(i32),
    /// Bad log level.
    #[error("unknown log level {0:?} (use error, warn, info, debug or trace)")]
    LogLevel(String),
    /// An option this build does not support.
    #[error("{0} is not supported by this version of epochfsd")]
    Unsupported(&'static str),
}

impl TryFrom<Cli> for Config {
    type Error = ConfigError;

    fn try_from(cli: Cli) -> Result<Self, ConfigError> {
        reject_unsupported(&cli)?;
        let socket = match (cli.socket_path, cli.fd) {
            (Some(path), None) => SocketSource::Path(path),
            (None, Some(fd)) if fd >= 0 => SocketSource::Fd(fd),
            (None, Some(fd)) => return Err(ConfigError::BadFd(fd)),
            _ => return Err(ConfigError::SocketChoice),
        };
        if !(1..=MAX_REQUEST_QUEUES).contains(&cli.num_request_queues) {
            return Err(ConfigError::QueueCount(cli.num_request_queues));
        }
        let queue_threads = resolve_queue_threads(cli.queue_threads, cli.num_request_queues)?;
        if cli.queue_poll_us > MAX_QUEUE_POLL_US {
            return Err(ConfigError::QueuePoll(cli.queue_poll_us));
        }
        if !HANDOFF_US_RANGE.contains(&cli.handoff_us) {
            return Err(ConfigError::Handoff(cli.handoff_us));
        }
        let shared_dir = validate_shared_dir(cli.shared_dir)?;
        let log_level = cli
            .log_level
            .parse()
            .map_err(|_| ConfigError::LogLevel(cli.log_level.clone()))?;
        Ok(Config {
            socket,
            shared_dir,
            tag: cli.tag,
            num_request_queues: cli.num_request_queues,
            workers_per_queue: cli.thread_pool_size.max(1),
            queue_threads,
            queue_poll: std::time::Duration::from_micros(cli.queue_poll_us),
            handoff: std::time::Duration::from_micros(cli.handoff_us),
            cache: cli.cache,
            writeback: cli.writeback,
            xattr: cli.xattr || cli.posix_acl,
            posix_acl: cli.posix_acl,
            readonly: cli.readonly,
            allow_direct_io: cli.allow_direct_io,
            announce_submounts: cli.announce_submounts,
            rlimit_nofile: match cli.rlimit_nofile {
                None => NofileLimit::Raise,
                Some(0) => NofileLimit::Keep,
                Some(n) => NofileLimit::Set(n),
            },
            inode_file_handles: cli.inode_file_handles,
            sandbox: cli.sandbox,
            syncfs: cli.syncfs,
            trace_epochs: cli.trace_epochs,
            log_level,
            #[cfg(feature = "test-hooks")]
            hooks: crate::fuse::test_hooks::TestHooks {
                slow_write_offset: cli.test_slow_write_offset,
                slow_write: std::time::Duration::from_millis(cli.test_slow_write_ms),
                fail_syncfs: cli.test_fail_syncfs,
                fail_flush_size: cli.test_fail_flush_size,
            },
        })
    }
}

fn reject_unsupported(cli: &Cli) -> Result<(), ConfigError> {
    if cli.uid_map.is_some() || cli.gid_map.is_some() {
        return Err(ConfigError::Unsupported("--uid-map/--gid-map"));
    }
    Ok(())
}

/// The request thread count `--queue-threads` asks for, with `auto`
/// worked out from the cores available to the process.
fn resolve_queue_threads(asked: QueueThreads, queues: usize) -> Result<usize, ConfigError> {
    match asked {
        QueueThreads::Auto => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Ok(crate::device::auto_request_threads(queues, cores))
        }
        QueueThreads::Count(threads) if (1..=queues).contains(&threads) => Ok(threads),
        QueueThreads::Count(threads) => Err(ConfigError::QueueThreads { threads, queues }),
    }
}

fn validate_shared_dir(dir: Option<PathBuf>) -> Result<PathBuf, ConfigError> {
    let dir = dir.ok_or(ConfigError::NoSharedDir)?;
    let canonical = dir
        .canonicalize()
        .map_err(|source| ConfigError::SharedDir {
            path: dir.clone(),
            source,
        })?;
    if !canonical.is_dir() {
        return Err(ConfigError::NotADirectory(dir));
    }
    Ok(canonical)
}

/// The `--print-capabilities` answer (vhost-user backend program conventions).
pub fn capabilities_json() -> &'static str {
    r#"{"type":"fs","features":[]}"#
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let cli = Cli::try_parse_from(std::iter::once("epochfsd").chain(args.iter().copied()))
            .expect("clap accepts the arguments");
        Config::try_from(cli)
    }

    #[test]
    fn socket_path_and_shared_dir_make_a_config() {
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap();
        let config = parse(&["--socket-path", "/tmp/s", "--shared-dir", dir_arg]).unwrap();
        assert_eq!(config.socket, SocketSource::Path("/tmp/s".into()));
        assert_eq!(config.num_request_queues, 1);
    }

    #[test]
    fn both_socket_options_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap();
        let err = parse(&["--socket-path", "/s", "--fd", "3", "--shared-dir", dir_arg]);
        assert!(matches!(err, Err(ConfigError::SocketChoice)));
    }

    #[test]
    fn missing_shared_dir_is_rejected() {
        let err = parse(&["--socket-path", "/s", "--shared-dir", "/nonexistent/dir"]);
        assert!(matches!(err, Err(ConfigError::SharedDir { .. })));
    }

    #[test]
    fn queue_count_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap();
        let err = parse(&[
            "--fd",
            "3",
            "--shared-dir",
            dir_arg,
            "--num-request-queues",
            "0",
        ]);
        assert!(matches!(err, Err(ConfigError::QueueCount(0))));
        let too_many = (MAX_REQUEST_QUEUES + 1).to_string();
        let err = parse(&[
            "--fd",
            "3",
            "--shared-dir",
            dir_arg,
            "--num-request-queues",
            &too_many,
        ]);
        assert!(matches!(err, Err(ConfigError::QueueCount(n)) if n == MAX_REQUEST_QUEUES + 1));
        let ok = parse(&[
            "--fd",
            "3",
            "--shared-dir",
            dir_arg,
            "--num-request-queues",
            "16",
        ]);
        assert_eq!(ok.unwrap().num_request_queues, 16);
    }

    #[test]
    fn queue_threads_default_to_auto_and_are_bounded_by_the_queues() {
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap();
        let base = [
            "--fd",
            "3",
            "--shared-dir",
            dir_arg,
            "--num-request-queues=4",
        ];
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let auto = crate::device::auto_request_threads(4, cores);
        assert_eq!(parse(&base).unwrap().queue_threads, auto);
        for (arg, want) in [("auto", auto), ("1", 1), ("2", 2), ("4", 4)] {
            let args = [&base[..], &["--queue-threads", arg]].concat();
            assert_eq!(parse(&args).unwrap().queue_threads, want, "{arg}");
        }
        for bad in [0, 5] {
            let n = bad.to_string();
            let args = [&base[..], &["--queue-threads", &n]].concat();
            assert!(
                matches!(
                    parse(&args),
                    Err(ConfigError::QueueThreads { threads, queues: 4 }) if threads == bad
                ),
                "{bad}"
            );
        }
        let words = ["epochfsd", "--fd", "3", "--queue-threads", "many"];
        assert!(Cli::try_parse_from(words).is_err());
    }

    #[test]
    fn queue_polling_defaults_to_50_us_and_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let base = ["--fd", "3", "--shared-dir", dir.path().to_str().unwrap()];
        let micros = |us: u64| std::time::Duration::from_micros(us);
        assert_eq!(parse(&base).unwrap().queue_poll, micros(50));
        for us in ["0", "1000"] {
            let args = [&base[..], &["--queue-poll-us", us]].concat();
            assert_eq!(
                parse(&args).unwrap().queue_poll,
                micros(us.parse().unwrap())
            );
        }
        let args = [&base[..], &["--queue-poll-us", "1001"]].concat();
        assert!(matches!(parse(&args), Err(ConfigError::QueuePoll(1001))));
        let words = ["epochfsd", "--fd", "3", "--queue-poll-us", "-1"];
        assert!(Cli::try_parse_from(words).is_err());
    }

    #[test]
    fn libvirt_style_arguments_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap();
        let config = parse(&[
            "--fd=3",
            "--shared-dir",
            dir_arg,
            "--cache",
            "never",
            "--sandbox",
            "chroot",
            "--xattr",
            "--thread-pool-size=1",
            "--announce-submounts",
            "--log-level",
            "debug",
        ])
        .unwrap();
        assert_eq!(config.cache, CacheMode::Never);
        assert_eq!(config.sandbox, SandboxMode::Chroot);
        assert!(config.xattr && config.announce_submounts);
    }

    #[test]
    fn sandbox_defaults_to_namespace_and_accepts_all_modes() {
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap();
        let base = ["--fd", "3", "--shared-dir", dir_arg];
        assert_eq!(parse(&base).unwrap().sandbox, SandboxMode::Namespace);
        for (mode, want) in [
            ("namespace", SandboxMode::Namespace),
            ("chroot", SandboxMode::Chroot),
            ("none", SandboxMode::None),
        ] {
            let mut args = base.to_vec();
            args.extend(["--sandbox", mode]);
            assert_eq!(parse(&args).unwrap().sandbox, want, "{mode}");
        }
        let bad = [
            "epochfsd",
            "--fd",
            "3",
            "--shared-dir",
            dir_arg,
            "--sandbox",
            "x",
        ];
        assert!(Cli::try_parse_from(bad).is_err());
    }

    #[test]
    fn inode_file_handles_default_to_prefer_and_accept_all_modes() {
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap();
        let base = ["--fd", "3", "--shared-dir", dir_arg];
        assert_eq!(
            parse(&base).unwrap().inode_file_handles,
            InodeFileHandles::Prefer
        );
        for (arg, want) in [
            ("--inode-file-handles=never", InodeFileHandles::Never),
            ("--inode-file-handles=prefer", InodeFileHandles::Prefer),
            ("--inode-file-handles=fallback", InodeFileHandles::Prefer),
            (
                "--inode-file-handles=mandatory",
                InodeFileHandles::Mandatory,
            ),
        ] {
            let mut args = base.to_vec();
            args.push(arg);
            assert_eq!(parse(&args).unwrap().inode_file_handles, want, "{arg}");
        }
    }

    #[test]
    fn rlimit_nofile_raises_by_default_and_zero_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap();
        let base = ["--fd", "3", "--shared-dir", dir_arg];
        assert_eq!(parse(&base).unwrap().rlimit_nofile, NofileLimit::Raise);
        for (n, want) in [("0", NofileLimit::Keep), ("256", NofileLimit::Set(256))] {
            let mut args = base.to_vec();
            args.extend(["--rlimit-nofile", n]);
            assert_eq!(parse(&args).unwrap().rlimit_nofile, want);
        }
    }

    #[test]
    fn unsupported_options_fail_early() {
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap();
        let err = parse(&["--fd", "3", "--shared-dir", dir_arg, "--uid-map", "x"]);
        assert!(matches!(err, Err(ConfigError::Unsupported(_))));
    }

    #[test]
    fn posix_acl_implies_xattr() {
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap();
        let config = parse(&["--fd", "3", "--shared-dir", dir_arg, "--posix-acl"]).unwrap();
        assert!(config.posix_acl && config.xattr);
        let args = ["epochfsd", "--fd", "3", "--shared-dir", dir_arg];
        let conflicting = args.iter().chain(&["--posix-acl", "--no-xattr"]);
        assert!(Cli::try_parse_from(conflicting).is_err());
    }
}
