//! Running the daemon: build the filesystem, the FUSE server and the device
//! from a [`Config`], serve one vhost-user connection, and stop cleanly when
//! the frontend disconnects or SIGTERM/SIGINT arrives.
//!
//! Start-up order matters for the sandbox ([`sandbox`]): what lives outside
//! the shared directory (the listening socket, the epoch trace, the open
//! file limit read from `/proc`) is set up first, while the process still
//! has one thread; then the sandbox is entered (with `--sandbox namespace`
//! the process forks there: the daemon goes on as pid 1 of its own pid
//! namespace, the started process waits for it in `launcher`); only then
//! are threads started and the filesystem built, so every mount id and
//! file handle is taken inside the sandbox and no host path is resolved
//! after it.

pub mod caps;
mod control;
mod launcher;
mod logging;
mod sandbox;
mod seccomp;
mod signals;
mod socket;

use std::sync::{Arc, Mutex};

use log::{info, warn};
use vhost::vhost_user::Listener;
use vhost_user_backend::VhostUserDaemon;
use vm_memory::{GuestMemoryAtomic, GuestMemoryMmap};

use crate::cli::{CacheMode, Config, InodeFileHandles, NofileLimit};
use crate::crashsim::{CrashSim, CrashSimFs};
use crate::device::{DeviceOptions, FsBackend};
use crate::filesystem::FileSystem;
use crate::fuse::{EpochTrace, Server, ServerOptions};
use crate::passthrough::{self, CachePolicy, HandlePolicy, PassthroughFs};

pub use caps::CapsError;
pub use control::ControlError;
pub use logging::{init as init_logging, SYSLOG_SOCKETS};
pub use sandbox::SandboxError;
pub use seccomp::SeccompError;
pub use socket::SocketError;
use socket::SocketFile;

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
    Listen(#[source] SocketError),
    /// The `--sandbox` could not be entered.
    #[error("cannot confine the daemon to the shared directory (see --sandbox)")]
    Sandbox(#[source] SandboxError),
    /// The capabilities could not be limited.
    #[error("cannot drop capabilities")]
    Caps(#[source] CapsError),
    /// The seccomp filter could not be installed (see --seccomp).
    #[error("cannot install the seccomp filter (see --seccomp)")]
    Seccomp(#[source] SeccompError),
    /// The vhost-user machinery failed.
    #[error("vhost-user daemon failed")]
    VhostUser(#[source] VhostUserFailure),
    /// The frontend set up a virtqueue this daemon does not have (the
    /// vhost-user-backend crate refuses any SET_VRING_* for a queue index
    /// past its queue count) or with a size past the maximum.
    #[error(
        "the VMM's vhost-user set-up was refused: it asked for a queue this daemon does not \
         have (more than --num-request-queues {queues} request queues: match QEMU's \
         num-request-queues= / cloud-hypervisor's num_queues= to it) or a queue size \
         above 1024"
    )]
    FrontendSetup {
        /// `--num-request-queues`.
        queues: usize,
    },
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
    /// The crash simulation's control socket could not be created.
    #[error("cannot create the crash simulation's control socket")]
    Control(#[source] ControlError),
    /// The crash simulation could not start.
    #[error("cannot start the crash simulation")]
    CrashSim(#[source] crate::crashsim::CrashSimError),
    /// `/proc/self/fd` could not be shared with the crash simulation.
    #[error("cannot share /proc/self/fd with the crash simulation")]
    CrashSimProc(#[source] std::io::Error),
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

/// What is opened outside the shared directory, before the sandbox.
struct Outside {
    listener: Listener,
    socket_file: Arc<SocketFile>,
    trace: Option<EpochTrace>,
    control: Option<Control>,
}

/// The crash simulation's control socket, bound before the sandbox.
struct Control {
    listener: std::os::unix::net::UnixListener,
}

/// An error of the vhost-user-backend crate, whose type has a `Display`
/// but no `std::error::Error` impl: this keeps the typed value as the source.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct VhostUserFailure(pub vhost_user_backend::Error);

/// Where the stop handler finds the connection to shut down, once there is one.
type ShutdownSlot = Arc<Mutex<Option<vhost_user_backend::ShutdownHandle>>>;

/// Serves one frontend connection; returns when it ends.
pub fn run(config: Config) -> Result<(), DaemonError> {
    // Blocks the signals only; the thread receiving them starts later.
    let stop = signals::StopSignals::install().map_err(DaemonError::Signals)?;
    apply_nofile_limit(config.rlimit_nofile)?;
    let mut outside = open_outside(&config)?;
    let id_maps = sandbox::IdMaps {
        uid: &config.uid_map,
        gid: &config.gid_map,
    };
    let sandboxed = match sandbox::enter(config.sandbox, &config.shared_dir, id_maps)
        .map_err(DaemonError::Sandbox)?
    {
        sandbox::Entered::Inside(sandboxed) => sandboxed,
        sandbox::Entered::Launcher(launcher) => {
            // The forked daemon serves; the launcher keeps only what it
            // needs to clean up after it.
            let Outside {
                listener,
                socket_file,
                trace,
                control,
            } = outside;
            drop((listener, trace, control));
            launcher.supervise(&socket_file)
        }
    };
    // The crash simulation works on the filesystem's descriptors with the
    // same `/proc/self/fd` (inside the sandbox it is the working directory).
    let proc = match config.crash_sim {
        Some(_) => Some(
            sandboxed
                .proc
                .try_clone()
                .map_err(DaemonError::CrashSimProc)?,
        ),
        None => None,
    };
    let (fs, file_handles) = build_filesystem(&config, sandboxed)?;
    match (outside.control.take(), &config.crash_sim, proc) {
        (Some(control), Some(crash_sim), Some(proc)) => {
            let root = open_root(&fs)?;
            let options = crate::crashsim::Options {
                mode: crash_sim.mode,
                limit: crash_sim.limit,
                xattr: config.xattr,
            };
            let sim = CrashSim::new(options, root, proc).map_err(DaemonError::CrashSim)?;
            let sim = Arc::new(sim);
            info!(
                "crash simulation {} on, control socket {:?}",
                crash_sim.mode, crash_sim.control_socket
            );
            let fs = CrashSimFs::new(fs, Arc::clone(&sim));
            let server = build_server(fs, &config, outside.trace.take());
            let sim_control = Some((control.listener, Arc::clone(&sim)));
            let result = serve(&config, server, file_handles, outside, stop, sim_control);
            sim.discard();
            result
        }
        _ => {
            let server = build_server(fs, &config, outside.trace.take());
            serve(&config, server, file_handles, outside, stop, None)
        }
    }
}

/// The share's root, as the filesystem sees it (inside the sandbox).
fn open_root(fs: &PassthroughFs) -> Result<std::os::fd::OwnedFd, DaemonError> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(fs.config().root_dir.as_os_str().as_bytes())
        .map_err(|_| DaemonError::CrashSimProc(std::io::Error::from_raw_os_error(libc::EINVAL)))?;
    crate::sys::open::open_path(&path, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| DaemonError::CrashSim(crate::crashsim::CrashSimError::Holding(e)))
}

/// Serves one frontend connection with `server`; returns when it ends.
fn serve<F: FileSystem + 'static>(
    config: &Config,
    server: Server<F>,
    file_handles: bool,
    outside: Outside,
    stop: signals::StopSignals,
    control: Option<(std::os::unix::net::UnixListener, Arc<CrashSim>)>,
) -> Result<(), DaemonError> {
    let server = Arc::new(server);
    // Still one thread: what is limited here holds for every thread.
    confine(config, file_handles)?;
    if let Some((listener, sim)) = control {
        control::serve(listener, sim);
    }
    let mem = GuestMemoryAtomic::new(GuestMemoryMmap::new());
    let backend = FsBackend::new(Arc::clone(&server), device_options(config), mem.clone())
        .map_err(DaemonError::Device)?;
    info!("epoll threads: {}", backend.layout());
    let backend = Arc::new(backend);
    let mut daemon = VhostUserDaemon::new("epochfsd".to_string(), backend, mem)
        .map_err(|e| DaemonError::VhostUser(VhostUserFailure(e)))?;
    let mut listener = outside.listener;
    info!(
        "serving {:?} with {} request queue(s), waiting for the frontend",
        config.shared_dir, config.num_request_queues
    );
    let shutdown = ShutdownSlot::default();
    handle_signals(stop, &server, &shutdown, &outside.socket_file);
    // The socket listens since it was bound (or was handed over listening):
    // tell the launcher, which may wait for this line before it starts the
    // VMM. Always on stderr, whatever the log goes to.
    eprintln!("{}", crate::cli::READY_LINE);
    daemon
        .start(&mut listener)
        .map_err(|e| DaemonError::VhostUser(VhostUserFailure(e)))?;
    info!("frontend connected");
    // One connection is served: nobody else may connect, and the socket's
    // directory (outside the share) need not stay open.
    drop(listener);
    outside.socket_file.remove();
    if let Ok(mut slot) = shutdown.lock() {
        *slot = daemon.shutdown_handle();
    }
    let result = daemon.wait();
    // The connection is over. Threads blocked in the host (a hung share, a
    // SYNCFS waiting for a held write) must not keep the process alive.
    exit_after_grace("the frontend disconnected");
    for handler in daemon.get_epoll_handlers() {
        handler.send_exit_event();
    }
    info!("{}", server.syncfs_report());
    connection_result(result, config.num_request_queues)
}

/// Longest the daemon waits, once it was told to stop, for its threads to
/// finish what they are doing before it exits anyway.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Exits the process (status 0) after [`EXIT_GRACE`] unless it ended by
/// itself before: a thread blocked in a host call cannot be interrupted,
/// and joining it would keep the daemon alive as long as the host call.
fn exit_after_grace(why: &'static str) {
    let spawned = std::thread::Builder::new()
        .name("exit-deadline".into())
        .spawn(move || {
            std::thread::sleep(EXIT_GRACE);
            warn!(
                "{why} {} s ago and a thread is still blocked in the host; exiting anyway",
                EXIT_GRACE.as_secs()
            );
            std::process::exit(0);
        });
    if let Err(err) = spawned {
        warn!("cannot start the exit deadline: {err}");
    }
}

/// The filesystem, built inside the sandbox, and whether it holds inodes
/// by file handle.
fn build_filesystem(
    config: &Config,
    sandboxed: sandbox::Sandboxed,
) -> Result<(PassthroughFs, bool), DaemonError> {
    let mut fs_config = filesystem_config(config, sandboxed.root_dir);
    fs_config.single_id_namespace = sandboxed.single_id;
    let fs =
        PassthroughFs::with_proc(fs_config, sandboxed.proc).map_err(DaemonError::Filesystem)?;
    let file_handles = fs.uses_file_handle_calls();
    #[cfg(feature = "test-hooks")]
    fs.set_test_fail_flush_size(config.hooks.fail_flush_size.unwrap_or(0));
    Ok((fs, file_handles))
}

/// The FUSE server over `fs`.
fn build_server<F: FileSystem>(fs: F, config: &Config, trace: Option<EpochTrace>) -> Server<F> {
    let server = Server::new(fs, server_options(config));
    match trace {
        Some(trace) => server.with_trace(trace),
        None => server,
    }
}

/// Drops the capabilities serving does not need, then installs the
/// seccomp filter (after which neither could be changed). Runs on the
/// daemon's only thread; every thread started later inherits both.
fn confine(config: &Config, file_handles: bool) -> Result<(), DaemonError> {
    caps::limit(caps::wanted(file_handles, config.modcaps)).map_err(DaemonError::Caps)?;
    let features = seccomp::Features {
        xattr: config.xattr,
        file_handles,
        control_socket: config.crash_sim.is_some(),
    };
    seccomp::install(config.seccomp, features).map_err(DaemonError::Seccomp)?;
    Ok(())
}

/// Starts the signal thread: SIGUSR1 logs the SYNCFS report; SIGTERM and
/// SIGINT shut the connection down, or exit at once (removing the socket
/// file) if no frontend has connected yet.
fn handle_signals<F: FileSystem + 'static>(
    stop: signals::StopSignals,
    server: &Arc<Server<F>>,
    shutdown: &ShutdownSlot,
    socket_file: &Arc<SocketFile>,
) {
    let report_server = Arc::clone(server);
    let shutdown = Arc::clone(shutdown);
    let socket_file = Arc::clone(socket_file);
    stop.on_signal(
        move || info!("{}", report_server.syncfs_report()),
        move |signal| {
            info!("signal {signal} received, shutting down");
            match shutdown.lock().ok().and_then(|h| h.clone()) {
                Some(handle) => {
                    exit_after_grace("a stop signal arrived");
                    vhost_user_backend::ShutdownHandle::shutdown(&handle)
                }
                None => {
                    socket_file.remove();
                    std::process::exit(0)
                }
            }
        },
    );
}

/// How the connection ended: a frontend going away is a normal end.
fn connection_result(
    result: vhost_user_backend::Result<()>,
    num_request_queues: usize,
) -> Result<(), DaemonError> {
    match result {
        Ok(()) => {
            info!("frontend disconnected");
            Ok(())
        }
        Err(err) if is_disconnect(&err) => {
            info!("frontend disconnected");
            Ok(())
        }
        Err(vhost_user_backend::Error::HandleRequest(vhost::vhost_user::Error::InvalidParam)) => {
            Err(DaemonError::FrontendSetup {
                queues: num_request_queues,
            })
        }
        Err(err) => {
            warn!("connection ended with an error: {err}");
            Err(DaemonError::VhostUser(VhostUserFailure(err)))
        }
    }
}

/// Binds the listening socket and creates the epoch trace: both are host
/// paths, out of reach once the sandbox is entered.
fn open_outside(config: &Config) -> Result<Outside, DaemonError> {
    let (listener, socket_file) = socket::listen(&config.socket, config.socket_group.as_deref())
        .map_err(DaemonError::Listen)?;
    let trace = match &config.trace_epochs {
        Some(path) => Some(
            EpochTrace::create(path).map_err(|source| DaemonError::Trace {
                path: path.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let control = match &config.crash_sim {
        Some(crash_sim) => Some(Control {
            listener: control::bind(&crash_sim.control_socket).map_err(DaemonError::Control)?,
        }),
        None => None,
    };
    Ok(Outside {
        listener,
        socket_file: Arc::new(socket_file),
        trace,
        control,
    })
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

/// The filesystem's configuration; `root_dir` is the shared directory as
/// seen from inside the sandbox.
fn filesystem_config(config: &Config, root_dir: std::path::PathBuf) -> passthrough::Config {
    passthrough::Config {
        root_dir,
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
        preserve_noatime: config.preserve_noatime,
        single_id_namespace: false,
        inode_file_handles: match config.inode_file_handles {
            InodeFileHandles::Never => HandlePolicy::Never,
            InodeFileHandles::Prefer => HandlePolicy::Prefer,
            InodeFileHandles::Mandatory => HandlePolicy::Mandatory,
        },
        max_handles: config.max_handles,
        uids: config.translate_uid.clone(),
        gids: config.translate_gid.clone(),
        xattrmap: config.xattrmap.clone(),
        hidden_root_name: config
            .crash_sim
            .as_ref()
            .map(|_| crate::crashsim::holding_name()),
        migration: config.migration,
    }
}

fn server_options(config: &Config) -> ServerOptions {
    ServerOptions {
        writeback: config.writeback,
        announce_submounts: config.announce_submounts,
        posix_acl: config.posix_acl,
        killpriv_v2: config.killpriv_v2,
        readdirplus: config.readdirplus,
        allow_mmap: config.allow_mmap,
        sync_mode: match config.syncfs {
            crate::cli::SyncfsMode::Targeted => crate::fuse::SyncMode::Targeted,
            crate::cli::SyncfsMode::Host => crate::fuse::SyncMode::Host,
            crate::cli::SyncfsMode::Drain => crate::fuse::SyncMode::Drain,
        },
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
        poll: config.queue_poll,
        handoff: config.handoff,
    }
}
