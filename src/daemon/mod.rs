//! Running the daemon: build the filesystem, the FUSE server and the device
//! from a [`Config`], serve one vhost-user connection, and stop cleanly when
//! the frontend disconnects or SIGTERM/SIGINT arrives.

mod signals;

use std::os::fd::FromRawFd;
use std::sync::{Arc, Mutex};

use log::{info, warn};
use vhost::vhost_user::Listener;
use vhost_user_backend::VhostUserDaemon;
use vm_memory::{GuestMemoryAtomic, GuestMemoryMmap};

use crate::cli::{CacheMode, Config, InodeFileHandles, NofileLimit, SocketSource};
use crate::device::{DeviceOptions, FsBackend};
use crate::fuse::{EpochTrace, Server, ServerOptions};
use crate::passthrough::{self, CachePolicy, HandlePolicy, PassthroughFs};

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The shared directory could not be served.
    #[error("cannot serve the shared directory")]
    Filesystem(#[source] passthrough::Error),
    /// The device could not be built.
    #[error("cannot build the virtio-fs device")]
    Device(#[source] crate::device::DeviceError),
    /// The vhost-user socket could not be created.
    #[error("cannot listen on the vhost-user socket")]
    Listen(#[source] vhost::vhost_user::Error),
    /// The vhost-user machinery failed.
    #[error("vhost-user daemon failed: {0}")]
    VhostUser(String),
    /// Signal handling could not be set up.
    #[error("cannot set up signal handling")]
    Signals(#[source] std::io::Error),
    /// The `--trace-epochs` file could not be created.
    #[error("cannot create the epoch trace {path:?}")]
    Trace {
        /// The file asked for.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The open file limit could not be raised.
    #[error("cannot set the open file limit to {limit}")]
    Rlimit {
        /// The limit asked for.
        limit: u64,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Serves one frontend connection; returns when it ends.
pub fn run(config: Config) -> Result<(), DaemonError> {
    let stop = signals::StopSignals::install().map_err(DaemonError::Signals)?;
    apply_nofile_limit(config.rlimit_nofile)?;
    let fs = PassthroughFs::new(filesystem_config(&config)).map_err(DaemonError::Filesystem)?;
    let mut server = Server::new(fs, server_options(&config));
    if let Some(path) = &config.trace_epochs {
        let trace = EpochTrace::create(path).map_err(|source| DaemonError::Trace {
            path: path.clone(),
            source,
        })?;
        server = server.with_trace(trace);
    }
    let server = Arc::new(server);
    let mem = GuestMemoryAtomic::new(GuestMemoryMmap::new());
    let backend = FsBackend::new(Arc::clone(&server), device_options(&config), mem.clone())
        .map_err(DaemonError::Device)?;
    info!("epoll threads: {}", backend.layout());
    let backend = Arc::new(backend);
    let mut daemon = VhostUserDaemon::new("epochfsd".to_string(), backend, mem)
        .map_err(|e| DaemonError::VhostUser(e.to_string()))?;
    let mut listener = listen(&config.socket)?;
    info!(
        "serving {:?} with {} request queue(s), waiting for the frontend",
        config.shared_dir, config.num_request_queues
    );
    let shutdown = Arc::new(Mutex::new(None));
    let report_server = Arc::clone(&server);
    stop.on_signal(move || info!("{}", report_server.syncfs_report()), {
        let shutdown = Arc::clone(&shutdown);
        move |signal| {
            info!("signal {signal} received, shutting down");
            match shutdown.lock().ok().and_then(|h| h.clone()) {
                Some(handle) => vhost_user_backend::ShutdownHandle::shutdown(&handle),
                None => std::process::exit(0),
            }
        }
    });
    daemon
        .start(&mut listener)
        .map_err(|e| DaemonError::VhostUser(e.to_string()))?;
    info!("frontend connected");
    if let Ok(mut slot) = shutdown.lock() {
        *slot = daemon.shutdown_handle();
    }
    let result = daemon.wait();
    for handler in daemon.get_epoll_handlers() {
        handler.send_exit_event();
    }
    info!("{}", server.syncfs_report());
    match result {
        Ok(()) => {
            info!("frontend disconnected");
            Ok(())
        }
        Err(err) if is_disconnect(&err) => {
            info!("frontend disconnected");
            Ok(())
        }
        Err(err) => {
            warn!("connection ended with an error: {err}");
            Err(DaemonError::VhostUser(err.to_string()))
        }
    }
}

/// Applies `--rlimit-nofile`. A failed default raise is only a warning;
/// a limit the operator asked for that cannot be set is fatal.
fn apply_nofile_limit(limit: NofileLimit) -> Result<(), DaemonError> {
    use crate::sys::rlimit;
    match limit {
        NofileLimit::Keep => Ok(()),
        NofileLimit::Raise => {
            match rlimit::raise_nofile() {
                Ok(n) => info!("open file limit {} (hard {})", n.soft, n.hard),
                Err(e) => warn!("cannot raise the open file limit: {e}"),
            }
            Ok(())
        }
        NofileLimit::Set(n) => {
            rlimit::set_nofile(rlimit::Nofile { soft: n, hard: n })
                .map_err(|source| DaemonError::Rlimit { limit: n, source })?;
            info!("open file limit set to {n}");
            Ok(())
        }
    }
}

/// The vhost-user crates report a frontend going away as an error; these are
/// the normal ways a VMM ends the connection.
fn is_disconnect(err: &vhost_user_backend::Error) -> bool {
    use vhost::vhost_user::Error as VhostUserError;
    matches!(
        err,
        vhost_user_backend::Error::HandleRequest(
            VhostUserError::Disconnected
                | VhostUserError::PartialMessage
                | VhostUserError::SocketBroken(_)
        )
    )
}

fn listen(socket: &SocketSource) -> Result<Listener, DaemonError> {
    match socket {
        SocketSource::Path(path) => Listener::new(path, true).map_err(DaemonError::Listen),
        // SAFETY: the operator passed this descriptor to us as an already
        // listening socket (`--fd`); nothing else in the process owns it.
        SocketSource::Fd(fd) => Ok(unsafe { Listener::from_raw_fd(*fd) }),
    }
}

fn filesystem_config(config: &Config) -> passthrough::Config {
    passthrough::Config {
        root_dir: config.shared_dir.clone(),
        cache: match config.cache {
            CacheMode::Never => CachePolicy::Never,
            CacheMode::Metadata => CachePolicy::Metadata,
            CacheMode::Auto => CachePolicy::Auto,
            CacheMode::Always => CachePolicy::Always,
        },
        writeback: config.writeback,
        xattr: config.xattr,
        posix_acl: config.posix_acl,
        readonly: config.readonly,
        announce_submounts: config.announce_submounts,
        allow_direct_io: config.allow_direct_io,
        inode_file_handles: match config.inode_file_handles {
            InodeFileHandles::Never => HandlePolicy::Never,
            InodeFileHandles::Prefer => HandlePolicy::Prefer,
            InodeFileHandles::Mandatory => HandlePolicy::Mandatory,
        },
    }
}

fn server_options(config: &Config) -> ServerOptions {
    ServerOptions {
        writeback: config.writeback,
        announce_submounts: config.announce_submounts,
        posix_acl: config.posix_acl,
        syncfs_host: config.syncfs == crate::cli::SyncfsMode::Host,
        syncfs_drain: config.syncfs == crate::cli::SyncfsMode::Drain,
        epoch_shards: config.num_request_queues,
        #[cfg(feature = "test-hooks")]
        hooks: config.hooks,
        ..ServerOptions::default()
    }
}

fn device_options(config: &Config) -> DeviceOptions {
    DeviceOptions {
        num_request_queues: config.num_request_queues,
        tag: config.tag.clone(),
        workers_per_queue: config.workers_per_queue,
        queue_threads: config.queue_threads,
    }
}
