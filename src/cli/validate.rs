//! Turning a parsed [`Cli`] into a [`Config`]: the `-o` options are applied
//! first, then every value is checked, and the options epochfsd cannot
//! honour either stop it here with a [`ConfigError`] or become a notice.

use std::path::PathBuf;

use super::compat::{self, CompatError};
use super::modes::{Negotiation, NofileLimit, QueueThreads, SandboxMode};
use super::{
    Cli, Config, CrashSimConfig, SocketSource, HANDOFF_US_RANGE, MAX_HANDLES, MAX_QUEUE_POLL_US,
    MAX_REQUEST_QUEUES,
};
use crate::passthrough::xattrmap::{XattrMap, XattrMapError};
use crate::passthrough::{IdRule, IdRuleError, IdTranslation};

/// What is wrong with a command line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Neither or both of the socket options.
    #[error("exactly one of --socket-path and --fd is required")]
    SocketChoice,
    /// No shared directory.
    #[error("--shared-dir (or -o source=DIR) is required")]
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
    /// Polling window out of range.
    #[error("--queue-poll-us must be at most {MAX_QUEUE_POLL_US}, got {0}")]
    QueuePoll(u64),
    /// A negative fd.
    #[error("--fd must be a non-negative file descriptor, got {0}")]
    BadFd(i32),
    /// Bad log level.
    #[error("unknown log level {0:?} (use off, error, warn, info, debug or trace)")]
    LogLevel(String),
    /// A malformed `-o` option.
    #[error("bad -o option")]
    Compat(#[source] CompatError),
    /// `--handoff-us` out of range.
    #[error("--handoff-us must be between {min} and {max}, got {0}", min = HANDOFF_US_RANGE.start(), max = HANDOFF_US_RANGE.end())]
    Handoff(u64),
    /// A malformed `--modcaps` value.
    #[error("bad --modcaps")]
    Modcaps(#[source] crate::daemon::caps::ModCapsError),
    /// `--max-handles` out of range.
    #[error("--max-handles must be between 1 and {MAX_HANDLES}, got {0}")]
    MaxHandles(usize),
    /// `--uid-map`/`--gid-map` without the namespace sandbox.
    #[error(
        "--uid-map/--gid-map set up the user namespace of --sandbox namespace; \
         they cannot be used with --sandbox {0}"
    )]
    IdMapSandbox(&'static str),
    /// `--xattrmap` rules that do not parse.
    #[error("--xattrmap: {0}")]
    XattrMap(XattrMapError),
    /// An unknown `--crash-sim` mode.
    #[error("bad --crash-sim")]
    CrashSimMode(#[source] crate::crashsim::ModeError),
    /// `--crash-sim` without `--control-socket`.
    #[error("--crash-sim needs --control-socket PATH (the crash is sent there)")]
    CrashSimNeedsSocket,
    /// `--control-socket` or `--crash-sim-limit` without `--crash-sim`.
    #[error("--control-socket and --crash-sim-limit need --crash-sim MODE")]
    CrashSimOff,
    /// A malformed `--crash-sim-limit`.
    #[error("--crash-sim-limit must be a byte count of at least 1M (suffixes K, M, G), got {0:?}")]
    CrashSimLimit(String),
    /// The control socket path names something that is not a socket.
    #[error("--control-socket {0:?} exists and is not a socket")]
    ControlSocketPath(PathBuf),
    /// A `--translate-uid`/`--translate-gid` rule that is malformed or
    /// overlaps an earlier one.
    #[error("{option}: {spec:?}")]
    Translate {
        /// `--translate-uid` or `--translate-gid`.
        option: &'static str,
        /// The rule as written.
        spec: String,
        /// What is wrong with it.
        #[source]
        source: IdRuleError,
    },
    /// An option epochfsd does not implement.
    #[error("{option} is not supported by epochfsd: {why}")]
    Unsupported {
        /// The option as the operator wrote it.
        option: &'static str,
        /// What to do instead.
        why: &'static str,
    },
}

impl TryFrom<Cli> for Config {
    type Error = ConfigError;

    fn try_from(mut cli: Cli) -> Result<Self, ConfigError> {
        let mut notices = compat::apply(&mut cli).map_err(ConfigError::Compat)?;
        reject_unsupported(&cli)?;
        if cli.socket.is_some() {
            notices.push("--socket is deprecated; use --socket-path".to_string());
        }
        let socket = match (cli.socket_path.or(cli.socket), cli.fd) {
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
        if !(1..=MAX_HANDLES).contains(&cli.max_handles) {
            return Err(ConfigError::MaxHandles(cli.max_handles));
        }
        let modcaps = match &cli.modcaps {
            Some(s) => s.parse().map_err(ConfigError::Modcaps)?,
            None => Default::default(),
        };
        if !(cli.uid_map.is_empty() && cli.gid_map.is_empty())
            && cli.sandbox != SandboxMode::Namespace
        {
            return Err(ConfigError::IdMapSandbox(cli.sandbox.name()));
        }
        let shared_dir = validate_shared_dir(cli.shared_dir)?;
        let log_level = if cli.debug {
            log::LevelFilter::Debug
        } else {
            cli.log_level
                .parse()
                .map_err(|_| ConfigError::LogLevel(cli.log_level.clone()))?
        };
        let posix_acl = cli.posix_acl.unwrap_or_default() != Negotiation::Never;
        let xattrmap = cli
            .xattrmap
            .as_deref()
            .map(str::parse::<XattrMap>)
            .transpose()
            .map_err(ConfigError::XattrMap)?;
        Ok(Config {
            socket,
            socket_group: cli.socket_group,
            shared_dir,
            tag: cli.tag,
            num_request_queues: cli.num_request_queues,
            workers_per_queue: cli.thread_pool_size.max(1),
            queue_threads,
            queue_poll: std::time::Duration::from_micros(cli.queue_poll_us),
            handoff: std::time::Duration::from_micros(cli.handoff_us),
            cache: cli.cache,
            writeback: cli.writeback,
            xattr: cli.xattr || posix_acl || xattrmap.is_some(),
            xattrmap,
            posix_acl,
            readonly: cli.readonly,
            allow_direct_io: cli.allow_direct_io,
            announce_submounts: !cli.no_announce_submounts,
            killpriv_v2: cli.killpriv_v2,
            readdirplus: !cli.no_readdirplus,
            preserve_noatime: cli.preserve_noatime,
            allow_mmap: cli.allow_mmap,
            rlimit_nofile: match cli.rlimit_nofile {
                None => NofileLimit::Raise,
                Some(0) => NofileLimit::Keep,
                Some(n) => NofileLimit::Set(n),
            },
            inode_file_handles: cli.inode_file_handles,
            migration: migration_config(
                cli.migration_mode,
                cli.migration_on_error,
                cli.migration_verify_handles,
                cli.migration_confirm_paths,
            ),
            sandbox: cli.sandbox,
            seccomp: cli.seccomp,
            modcaps,
            max_handles: cli.max_handles,
            uid_map: cli.uid_map,
            gid_map: cli.gid_map,
            translate_uid: id_translation("--translate-uid", &cli.translate_uid)?,
            translate_gid: id_translation("--translate-gid", &cli.translate_gid)?,
            syncfs: cli.syncfs,
            crash_sim: crash_sim_config(
                cli.crash_sim.as_deref(),
                cli.control_socket,
                cli.crash_sim_limit.as_deref(),
            )?,
            trace_epochs: cli.trace_epochs,
            log_level,
            syslog: cli.syslog,
            notices,
            #[cfg(feature = "test-hooks")]
            hooks: crate::fuse::test_hooks::TestHooks {
                slow_write_offset: cli.test_slow_write_offset,
                slow_write: std::time::Duration::from_millis(cli.test_slow_write_ms),
                fail_syncfs: cli.test_fail_syncfs,
                forbidden_syscall: cli.test_forbidden_syscall,
                fail_flush_size: cli.test_fail_flush_size,
            },
        })
    }
}

/// Options that would change what the guest sees or who owns what, and
/// that epochfsd does not implement: starting without them would surprise
/// the operator, so they stop the daemon.
fn reject_unsupported(cli: &Cli) -> Result<(), ConfigError> {
    if cli.security_label.is_some_and(|l| l != Negotiation::Never) {
        return Err(ConfigError::Unsupported {
            option: "--security-label",
            why: "the security context the guest sends with new files is not stored",
        });
    }
    Ok(())
}

/// The rules of the `--translate-uid` or `--translate-gid` options
/// (`option`), in the order given; an error names the first bad one.
fn id_translation(option: &'static str, specs: &[String]) -> Result<IdTranslation, ConfigError> {
    let mut translation = IdTranslation::default();
    for spec in specs {
        let bad = |source| ConfigError::Translate {
            option,
            spec: spec.clone(),
            source,
        };
        let rule: IdRule = spec.parse().map_err(bad)?;
        translation.add(&rule).map_err(bad)?;
    }
    Ok(translation)
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

/// The crash simulation's settings, checked: a mode needs the control
/// socket, the other two options need a mode.
fn crash_sim_config(
    mode: Option<&str>,
    control_socket: Option<PathBuf>,
    limit: Option<&str>,
) -> Result<Option<CrashSimConfig>, ConfigError> {
    let Some(mode) = mode else {
        if control_socket.is_some() || limit.is_some() {
            return Err(ConfigError::CrashSimOff);
        }
        return Ok(None);
    };
    let mode = mode.parse().map_err(ConfigError::CrashSimMode)?;
    let control_socket = control_socket.ok_or(ConfigError::CrashSimNeedsSocket)?;
    if let Ok(meta) = std::fs::symlink_metadata(&control_socket) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(ConfigError::ControlSocketPath(control_socket));
        }
    }
    let limit = match limit {
        None => crate::crashsim::DEFAULT_LIMIT,
        Some(text) => parse_bytes(text)
            .filter(|&n| n >= 1 << 20)
            .ok_or_else(|| ConfigError::CrashSimLimit(text.to_string()))?,
    };
    Ok(Some(CrashSimConfig {
        mode,
        control_socket,
        limit,
    }))
}

/// `123`, `64K`, `256M`, `2G` (binary units).
fn parse_bytes(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 10),
        b'M' | b'm' => (&text[..text.len() - 1], 20),
        b'G' | b'g' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// The passthrough's migration settings from the `--migration-*` flags.
fn migration_config(
    mode: super::MigrationMode,
    on_error: super::MigrationOnError,
    verify_handles: bool,
    confirm_paths: bool,
) -> crate::passthrough::MigrationConfig {
    use crate::passthrough::{MigrationConfig, MigrationMode as Mode, MigrationOnError as OnError};
    MigrationConfig {
        mode: match mode {
            super::MigrationMode::FindPaths => Mode::FindPaths,
            super::MigrationMode::FileHandles => Mode::FileHandles,
        },
        on_error: match on_error {
            super::MigrationOnError::Abort => OnError::Abort,
            super::MigrationOnError::GuestError => OnError::GuestError,
        },
        verify_handles,
        confirm_paths,
    }
}
