//! The value types of the command line: cache, sandbox, SYNCFS and file
//! handle modes, thread counts, the open file limit, and the
//! virtiofsd-compatible negotiation and seccomp values.

use clap::ValueEnum;

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

impl SandboxMode {
    /// The mode's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SandboxMode::Namespace => "namespace",
            SandboxMode::Chroot => "chroot",
            SandboxMode::None => "none",
        }
    }
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

/// How a migration destination finds inodes again (virtiofsd's
/// `--migration-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum MigrationMode {
    /// By the path each inode had when the state was saved.
    #[default]
    FindPaths,
    /// By file handle (same filesystem; needs CAP_DAC_READ_SEARCH).
    FileHandles,
}

/// What an inode the destination cannot find again causes (virtiofsd's
/// `--migration-on-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum MigrationOnError {
    /// The migration fails; the source VM goes on running.
    #[default]
    Abort,
    /// The guest gets EIO on that inode.
    GuestError,
}

/// virtiofsd's `never|auto|always` for features the guest must agree to
/// (`--posix-acl`, `--security-label`); the bare flag means `always`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Negotiation {
    /// Off.
    #[default]
    Never,
    /// Offer it; go on without it if the guest does not agree.
    Auto,
    /// Offer it (the guest kernel decides; see the README).
    Always,
}

/// What the kernel does with a system call outside the daemon's
/// allowlist (virtiofsd's `--seccomp`; see `daemon::seccomp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SeccompMode {
    /// End the process with SIGSYS (the default, as virtiofsd's).
    #[default]
    Kill,
    /// Allow the call and log it in the kernel's audit log.
    Log,
    /// Refuse the call with ENOSYS and name it on stderr.
    Trap,
    /// Install no filter.
    None,
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
