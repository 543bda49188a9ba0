//! Command line: virtiofsd-compatible flags, validated into a [`Config`].
//!
//! `Cli` is what clap parses; `Config::try_from(cli)` (in `validate`)
//! checks everything an operator can get wrong (both or neither of
//! `--socket-path`/`--fd`, a missing shared directory, options epochfsd
//! does not support) so that `main` reports one clear error and exits
//! non-zero before anything starts.
//!
//! Every flag virtiofsd 1.14 has is accepted in its syntax, because the
//! launchers (libvirt, Kata, cloud-hypervisor's docs) pass them; the rule
//! is that none is accepted and silently ignored. A flag either works, or
//! the daemon refuses to start with a message naming it
//! (`--security-label`), or, where refusing would stop stock launchers for
//! no safety gain, it starts and logs a warning saying what does not happen
//! (`-o flock`/`posix_lock`: locks stay in the guest). Those warnings are
//! [`Config::notices`].
//!
//! Sub-modules: `modes` (value types), `compat` (the legacy `-o` syntax),
//! `idmap` (`--uid-map`/`--gid-map` values), `capabilities`
//! (`--print-capabilities`), `validate` (`Cli` to `Config`).

mod capabilities;
mod compat;
mod idmap;
mod modes;
mod validate;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use clap::Parser;

pub use capabilities::{capabilities_json, FEATURES};
pub use compat::{CompatError, LOCKS_NOTICE};
pub use idmap::{IdMap, IdMapError};
pub use modes::{
    CacheMode, InodeFileHandles, MigrationMode, MigrationOnError, Negotiation, NofileLimit,
    QueueThreads, SandboxMode, SeccompMode, SyncfsMode,
};
pub use validate::ConfigError;

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

/// Default `--max-handles`: far below the open file limit the daemon
/// raises itself to (up to 1,000,000), which inodes held by descriptor
/// and the daemon's own files share.
pub const DEFAULT_MAX_HANDLES: usize = 65_536;

/// Largest `--max-handles`.
pub const MAX_HANDLES: usize = 1 << 20;

/// The line printed on stderr once the socket listens, right before the
/// daemon waits for the frontend (Kata's runtime-rs waits for it).
pub const READY_LINE: &str = "Waiting for vhost-user socket connection...";

/// epochfsd: a vhost-user virtio-fs daemon.
#[derive(Debug, Parser)]
#[command(name = "epochfsd", version, about, args_override_self = true)]
pub struct Cli {
    /// vhost-user socket path to create and listen on.
    #[arg(long, value_name = "PATH")]
    pub socket_path: Option<PathBuf>,

    /// Deprecated name of --socket-path (virtiofsd compatibility).
    #[arg(long, value_name = "PATH", conflicts_with = "socket_path")]
    pub socket: Option<PathBuf>,

    /// Group that owns the socket --socket-path creates; the socket becomes
    /// readable and writable by it (mode 0660).
    #[arg(long, value_name = "GROUP", conflicts_with = "fd")]
    pub socket_group: Option<String>,

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

    /// Most worker threads per request queue. 0 (virtiofsd: no pool) means
    /// one worker per queue: short requests are served on the queue's own
    /// thread in any case, and requests that may wait (SYNCFS, FSYNC,
    /// SETLKW) always need a worker.
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

    /// Most file and directory handles the guest may hold open at once;
    /// past it OPEN, CREATE and OPENDIR fail with EMFILE.
    #[arg(long, default_value_t = DEFAULT_MAX_HANDLES, value_name = "N")]
    pub max_handles: usize,

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

    /// Serve POSIX ACLs (implies --xattr): `--posix-acl` or
    /// `--posix-acl=always|auto` offer them to the guest, `never` (default)
    /// does not.
    #[arg(long, value_enum, require_equals = true, num_args = 0..=1,
          default_missing_value = "always", value_name = "never|auto|always",
          conflicts_with = "no_xattr")]
    pub posix_acl: Option<Negotiation>,

    /// SELinux labels of new files from the guest (virtiofsd): only `never`
    /// is supported; any other value stops the daemon at start.
    #[arg(long, value_enum, require_equals = true, num_args = 0..=1,
          default_missing_value = "always", value_name = "never|auto|always")]
    pub security_label: Option<Negotiation>,

    /// Extended attribute name mapping rules, in virtiofsd's syntax
    /// (implies --xattr); see docs/operations.md.
    #[arg(long, value_name = "RULES")]
    pub xattrmap: Option<String>,

    /// Export the share read-only.
    #[arg(long)]
    pub readonly: bool,

    /// Honour O_DIRECT from the guest.
    #[arg(long)]
    pub allow_direct_io: bool,

    /// Let the guest mount host submounts separately (default).
    #[arg(long)]
    pub announce_submounts: bool,

    /// Show host submounts as plain directories of the share.
    #[arg(long, overrides_with = "announce_submounts")]
    pub no_announce_submounts: bool,

    /// Offer FUSE_HANDLE_KILLPRIV_V2: the daemon then clears setuid/setgid
    /// bits on writes, truncating opens and chowns as the guest asks.
    #[arg(long, overrides_with = "no_killpriv_v2")]
    pub killpriv_v2: bool,

    /// Do not offer FUSE_HANDLE_KILLPRIV_V2 (default): the guest kernel
    /// clears setuid/setgid bits itself, with SETATTR.
    #[arg(long, overrides_with = "killpriv_v2")]
    pub no_killpriv_v2: bool,

    /// Do not offer READDIRPLUS: the guest lists directories with READDIR
    /// and looks entries up one by one.
    #[arg(long)]
    pub no_readdirplus: bool,

    /// Keep O_NOATIME on the guest's opens (by default it is dropped, as
    /// virtiofsd does, since the host refuses it to non-owners).
    #[arg(long)]
    pub preserve_noatime: bool,

    /// Let the guest mmap files shared even when they are opened with
    /// direct I/O (--cache never/metadata): offers FUSE_DIRECT_IO_ALLOW_MMAP.
    #[arg(long)]
    pub allow_mmap: bool,

    /// Hold inodes as file handles instead of O_PATH descriptors: never,
    /// prefer (default), mandatory.
    #[arg(long, value_enum, default_value_t = InodeFileHandles::Prefer, value_name = "WHEN")]
    pub inode_file_handles: InodeFileHandles,

    /// How a migration destination finds the source's inodes again:
    /// find-paths (default) or file-handles.
    #[arg(long, value_enum, default_value_t = MigrationMode::FindPaths, value_name = "MODE")]
    pub migration_mode: MigrationMode,

    /// What an inode the migration destination cannot find causes: abort
    /// (default: the migration fails) or guest-error (EIO on that inode).
    #[arg(long, value_enum, default_value_t = MigrationOnError::Abort, value_name = "WHAT")]
    pub migration_on_error: MigrationOnError,

    /// Migration destination, find-paths mode: also compare file handles,
    /// so an inode found by path is the very same file (same filesystem).
    #[arg(long)]
    pub migration_verify_handles: bool,

    /// Migration source: resolve every path again before it is sent and
    /// drop those that no longer lead to the same inode.
    #[arg(long)]
    pub migration_confirm_paths: bool,

    /// Set the open file limit to N (0 = leave as is; default: raise to
    /// min(1000000, /proc/sys/fs/nr_open)).
    #[arg(long, value_name = "N")]
    pub rlimit_nofile: Option<u64>,

    /// Confine the daemon to the shared directory: namespace (default),
    /// chroot (needs root) or none.
    #[arg(long, value_enum, default_value_t = SandboxMode::Namespace, value_name = "MODE")]
    pub sandbox: SandboxMode,

    /// What a system call outside the allowlist does: kill (default),
    /// log, trap or none.
    #[arg(long, value_enum, default_value_t = SeccompMode::Kill, value_name = "ACTION")]
    pub seccomp: SeccompMode,

    /// Capabilities to keep besides or drop from the default set once
    /// confined: +cap,-cap (e.g. -mknod,-setfcap; `:` separates too).
    #[arg(long, value_name = "CAPS")]
    pub modcaps: Option<String>,

    /// Map ids into the daemon's user namespace (--sandbox namespace, not
    /// root): :namespace_uid:host_uid:count:, repeatable.
    #[arg(long, value_name = ":NS:HOST:COUNT:")]
    pub uid_map: Vec<IdMap>,

    /// Like --uid-map, for group ids.
    #[arg(long, value_name = ":NS:HOST:COUNT:")]
    pub gid_map: Vec<IdMap>,

    /// Translate uids between guest and host, repeatable:
    /// TYPE:SOURCE:TARGET:COUNT with TYPE guest, host, map, squash-guest or
    /// squash-host, or forbid-guest:SOURCE:COUNT.
    #[arg(long, value_name = "TYPE:SOURCE:TARGET:COUNT")]
    pub translate_uid: Vec<String>,

    /// Like --translate-uid, for group ids.
    #[arg(long, value_name = "TYPE:SOURCE:TARGET:COUNT")]
    pub translate_gid: Vec<String>,

    /// How SYNCFS makes the guest's writes durable.
    #[arg(long, value_enum, default_value_t = SyncfsMode::Targeted)]
    pub syncfs: SyncfsMode,

    /// Write a JSON-lines trace of mutating requests and SYNCFS to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace_epochs: Option<PathBuf>,

    /// Power-cut simulation for durability tests: drop-all, keep-metadata
    /// or random:SEED (docs/crash-sim.md). Needs --control-socket.
    #[arg(long, value_name = "MODE")]
    pub crash_sim: Option<String>,

    /// The crash simulation's control socket (commands: status, crash).
    #[arg(long, value_name = "PATH")]
    pub control_socket: Option<PathBuf>,

    /// Most bytes of pre-images the crash simulation holds before it writes
    /// the oldest changes back (suffixes K, M, G; default 256M).
    #[arg(long, value_name = "BYTES")]
    pub crash_sim_limit: Option<String>,

    /// Log level: off, error, warn, info, debug, trace.
    #[arg(long, default_value = "info")]
    pub log_level: String,

    /// Log level debug (virtiofsd's deprecated -d).
    #[arg(short = 'd')]
    pub debug: bool,

    /// Log to syslog (/dev/log) instead of stderr.
    #[arg(long)]
    pub syslog: bool,

    /// Print the vhost-user capabilities as JSON and exit.
    #[arg(long)]
    pub print_capabilities: bool,

    /// Stay in the foreground: epochfsd never daemonizes, so this changes
    /// nothing (virtiofsd compatibility).
    #[arg(short = 'f', long)]
    pub foreground: bool,

    /// virtiofsd's legacy options, e.g. -o source=DIR,cache=always,xattr
    /// (repeatable, comma-separated; see docs/operations.md).
    #[arg(short = 'o', value_name = "OPTIONS", action = clap::ArgAction::Append)]
    pub compat_options: Vec<String>,

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

    /// Test builds only: make a system call outside the seccomp
    /// allowlist while serving STATFS.
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true)]
    pub test_forbidden_syscall: bool,

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

/// The crash simulation's settings (`--crash-sim`, `--control-socket`,
/// `--crash-sim-limit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashSimConfig {
    /// What a crash drops.
    pub mode: crate::crashsim::Mode,
    /// The control socket to create.
    pub control_socket: PathBuf,
    /// Most bytes held.
    pub limit: u64,
}

/// A validated daemon configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The vhost-user listening socket.
    pub socket: SocketSource,
    /// Group to give the socket file (`--socket-group`).
    pub socket_group: Option<String>,
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
    /// `--xattrmap` rules, parsed.
    pub xattrmap: Option<crate::passthrough::xattrmap::XattrMap>,
    /// POSIX ACLs (enforced by the guest, stored as host ACLs).
    pub posix_acl: bool,
    /// Read-only export.
    pub readonly: bool,
    /// Honour O_DIRECT.
    pub allow_direct_io: bool,
    /// Announce submounts.
    pub announce_submounts: bool,
    /// Offer FUSE_HANDLE_KILLPRIV_V2.
    pub killpriv_v2: bool,
    /// Offer READDIRPLUS.
    pub readdirplus: bool,
    /// Keep O_NOATIME on opens.
    pub preserve_noatime: bool,
    /// Offer FUSE_DIRECT_IO_ALLOW_MMAP.
    pub allow_mmap: bool,
    /// Open file limit to set.
    pub rlimit_nofile: NofileLimit,
    /// How inodes are held.
    pub inode_file_handles: InodeFileHandles,
    /// How migration state is saved and loaded.
    pub migration: crate::passthrough::MigrationConfig,
    /// How the daemon confines itself.
    pub sandbox: SandboxMode,
    /// The seccomp filter's action.
    pub seccomp: SeccompMode,
    /// `--modcaps`.
    pub modcaps: crate::daemon::caps::ModCaps,
    /// Most handles the guest may hold open.
    pub max_handles: usize,
    /// `--uid-map` lines for the sandbox's user namespace.
    pub uid_map: Vec<IdMap>,
    /// `--gid-map` lines for the sandbox's user namespace.
    pub gid_map: Vec<IdMap>,
    /// `--translate-uid` rules.
    pub translate_uid: crate::passthrough::IdTranslation,
    /// `--translate-gid` rules.
    pub translate_gid: crate::passthrough::IdTranslation,
    /// SYNCFS flush mode.
    pub syncfs: SyncfsMode,
    /// Epoch trace file.
    pub trace_epochs: Option<PathBuf>,
    /// `--crash-sim` and its options, if on.
    pub crash_sim: Option<CrashSimConfig>,
    /// Log filter.
    pub log_level: log::LevelFilter,
    /// Log to syslog.
    pub syslog: bool,
    /// Warnings to log once logging is set up: options that were accepted
    /// but do not do everything they do in virtiofsd.
    pub notices: Vec<String>,
    /// Injected delays and faults (test builds only).
    #[cfg(feature = "test-hooks")]
    pub hooks: crate::fuse::test_hooks::TestHooks,
}
