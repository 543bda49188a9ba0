//! Configuration of the passthrough filesystem and its setup errors.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// How much the guest may cache (virtiofsd's `--cache` semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CachePolicy {
    /// Nothing: zero timeouts, every open is direct I/O.
    Never,
    /// Metadata for a day; file data is not cached (direct I/O).
    Metadata,
    /// Metadata for one second; the page cache is dropped on each open.
    #[default]
    Auto,
    /// Metadata for a day; data and directory contents kept across opens.
    Always,
}

impl CachePolicy {
    /// Entry and attribute timeout this policy grants.
    pub fn timeout(self) -> Duration {
        match self {
            Self::Never => Duration::ZERO,
            Self::Auto => Duration::from_secs(1),
            Self::Metadata | Self::Always => Duration::from_secs(86400),
        }
    }
}

/// How a migration destination finds the source's inodes again
/// (virtiofsd's `--migration-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrationMode {
    /// By the path each inode had, relative to the share, when the state
    /// was saved: works across filesystems and hosts; an inode without a
    /// name (unlinked but open) cannot be found.
    #[default]
    FindPaths,
    /// By file handle, opened on the share's filesystem: finds renamed and
    /// unlinked-but-open files, needs the same filesystem and
    /// `CAP_DAC_READ_SEARCH`; inodes of other mounts fall back to paths.
    FileHandles,
}

/// What becomes of an inode the destination cannot find again
/// (virtiofsd's `--migration-on-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrationOnError {
    /// The load fails (CHECK_DEVICE_STATE reports it, QEMU aborts the
    /// migration and the source goes on running).
    #[default]
    Abort,
    /// The node stays known to the guest and answers `EIO` on every use;
    /// handles opened on it answer `EBADF`.
    GuestError,
}

/// Migration settings of the passthrough filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MigrationConfig {
    /// How the destination finds inodes.
    pub mode: MigrationMode,
    /// What an inode that cannot be found causes.
    pub on_error: MigrationOnError,
    /// Destination, find-paths mode: the inode a path leads to must also
    /// have the file handle the source recorded (same filesystem only),
    /// not just the same inode number and type.
    pub verify_handles: bool,
    /// Source: before a path is written to the state, resolve it again
    /// and check it still leads to the same inode; a path that does not
    /// is left out (the inode then counts as not found).
    pub confirm_paths: bool,
}

/// Configuration of a [`PassthroughFs`](super::PassthroughFs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The host directory shared with the guest.
    pub root_dir: PathBuf,
    /// Guest caching policy.
    pub cache: CachePolicy,
    /// Use the guest's writeback cache if the guest offers it.
    pub writeback: bool,
    /// Serve extended attributes (otherwise the xattr calls answer ENOSYS).
    pub xattr: bool,
    /// POSIX ACLs: new inodes get the request's umask applied by the host
    /// kernel, which ignores it under a default ACL (needs `xattr`).
    pub posix_acl: bool,
    /// Refuse every change with EROFS.
    pub readonly: bool,
    /// Flag directories on another host mount as submounts.
    pub announce_submounts: bool,
    /// Honour `O_DIRECT` from the guest (otherwise it is dropped).
    pub allow_direct_io: bool,
    /// Keep `O_NOATIME` on the guest's opens (otherwise it is dropped).
    pub preserve_noatime: bool,
    /// The daemon runs in a user namespace that maps one uid or gid only
    /// (`--uid-map=:0:UID:1:`): it is root there but cannot act as any other
    /// user, so every request runs as the daemon.
    pub single_id_namespace: bool,
    /// A name in the shared directory's root that the guest never sees
    /// (LOOKUP answers ENOENT, READDIR skips it, nothing can be created or
    /// renamed under it): the crash simulation's holding directory.
    pub hidden_root_name: Option<std::ffi::CString>,
    /// Hold inodes as file handles instead of descriptors.
    pub inode_file_handles: super::HandlePolicy,
    /// Most open file and directory handles (0: no limit); past it
    /// OPEN, CREATE and OPENDIR fail with EMFILE.
    pub max_handles: usize,
    /// `--xattrmap`: extended attribute names renamed between the guest's
    /// view and the host's (needs `xattr`).
    pub xattrmap: Option<super::xattrmap::XattrMap>,
    /// How migration state is saved and loaded.
    pub migration: MigrationConfig,
    /// `--translate-uid`: uids between the guest's view and the host's.
    pub uids: super::IdTranslation,
    /// `--translate-gid`: gids between the guest's view and the host's.
    pub gids: super::IdTranslation,
}

/// Why a [`PassthroughFs`](super::PassthroughFs) could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path contains a NUL byte.
    #[error("shared directory path {0:?} contains a NUL byte")]
    InvalidPath(PathBuf),
    /// The shared directory cannot be opened.
    #[error("cannot open shared directory {path:?}")]
    OpenRoot {
        /// The configured path.
        path: PathBuf,
        /// The host error.
        #[source]
        source: io::Error,
    },
    /// The shared directory cannot be examined.
    #[error("cannot stat shared directory {path:?}")]
    StatRoot {
        /// The configured path.
        path: PathBuf,
        /// The host error.
        #[source]
        source: io::Error,
    },
    /// `--inode-file-handles=mandatory` but handles do not work here.
    #[error("file handles cannot be used for {path:?} (needs CAP_DAC_READ_SEARCH and a filesystem with handles)")]
    FileHandles {
        /// The configured path.
        path: PathBuf,
        /// The host error.
        #[source]
        source: io::Error,
    },
    /// `/proc/self/fd` is not available.
    #[error("cannot open /proc/self/fd")]
    ProcSelfFd(#[source] io::Error),
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::InvalidPath(_) => io::Error::from_raw_os_error(libc::EINVAL),
            Error::OpenRoot { source, .. }
            | Error::StatRoot { source, .. }
            | Error::FileHandles { source, .. }
            | Error::ProcSelfFd(source) => source,
        }
    }
}
