//! The crash simulation's control socket (`--control-socket`): a unix
//! stream socket, mode 0600, bound before the sandbox, served by its own
//! thread. One command per line, one JSON object per reply line:
//!
//! * `status`: the counters (`pending_changes`, `pending_bytes`,
//!   `durability_points`, `implicit_writebacks`, ...);
//! * `crash`: cuts the power (see [`CrashSim::crash`]), replies with
//!   `"crashed":true` and the counts, and exits the process with status 0;
//! * anything else: `{"error":...}`.
//!
//! After a crash every command gets an error line (the process is about to
//! exit; a second connection may still get one in the meantime).

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use log::{info, warn};

use crate::crashsim::CrashSim;

/// Why the control socket could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The path names something that is not a socket.
    #[error("--control-socket {0:?} exists and is not a socket")]
    NotASocket(PathBuf),
    /// bind(2) or chmod failed.
    #[error("cannot create the control socket {path:?}")]
    Bind {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Binds the control socket at `path` with mode 0600 (a stale socket
/// there is replaced; anything else is an error).
pub fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    let bind_err = |source| ControlError::Bind {
        path: path.to_path_buf(),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(ControlError::NotASocket(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(bind_err)?;
    }
    // The process has one thread here: the umask covers only this bind,
    // so the socket is never reachable by others, not even briefly.
    let old = crate::sys::creds::set_umask(0o177);
    let bound = UnixListener::bind(path);
    crate::sys::creds::set_umask(old);
    let listener = bound.map_err(bind_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
    Ok(listener)
}

/// Serves `listener` on its own thread for the life of the process.
pub fn serve(listener: UnixListener, sim: Arc<CrashSim>) {
    let spawned = std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(stream) => spawn_connection(stream, Arc::clone(&sim)),
                    Err(err) => warn!("control socket: accept failed: {err}"),
                }
            }
        });
    if let Err(err) = spawned {
        warn!("cannot start the control socket thread: {err}");
    }
}

fn spawn_connection(stream: UnixStream, sim: Arc<CrashSim>) {
    let spawned = std::thread::Builder::new()
        .name("control-conn".into())
        .spawn(move || {
            if let Err(err) = serve_connection(stream, &sim) {
                log::debug!("control connection ended: {err}");
            }
        });
    if let Err(err) = spawned {
        warn!("cannot serve a control connection: {err}");
    }
}

fn serve_connection(stream: UnixStream, sim: &CrashSim) -> io::Result<()> {
    let mut out = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        let command = line.trim();
        if command.is_empty() {
            continue;
        }
        let (reply, exit) = answer(command, sim);
        out.write_all(reply.as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()?;
        if exit {
            info!("crash-sim: crashed ({reply}); exiting");
            std::process::exit(0);
        }
    }
    Ok(())
}

/// The reply line to `command`, and whether the process exits after it.
fn answer(command: &str, sim: &CrashSim) -> (String, bool) {
    match command {
        "status" => match sim.status() {
            Ok(status) => (status.to_json(), false),
            Err(err) => (error_line(&err.to_string()), false),
        },
        "crash" => match sim.crash() {
            Ok(restored) => (restored.to_json(sim.mode()), true),
            Err(err) => (error_line(&err.to_string()), false),
        },
        other => (
            error_line(&format!(
                "unknown command {other:?} (expected status or crash)"
            )),
            false,
        ),
    }
}

/// `{"error":"..."}` with `message` escaped for JSON.
fn error_line(message: &str) -> String {
    let mut escaped = String::with_capacity(message.len());
    for c in message.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            c if (c as u32) < 0x20 => escaped.push_str(&format!("\\u{:04x}", c as u32)),
            c => escaped.push(c),
        }
    }
    format!("{{\"error\":\"{escaped}\"}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_are_escaped_json() {
        assert_eq!(error_line("a \"b\"\n"), r#"{"error":"a \"b\"\u000a"}"#);
    }

    #[test]
    fn a_path_that_is_not_a_socket_is_refused() {
        let file = tempfile::NamedTempFile::new().unwrap();
        assert!(matches!(
            bind(file.path()),
            Err(ControlError::NotASocket(_))
        ));
    }

    #[test]
    fn the_socket_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl");
        let _listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A stale socket is replaced.
        drop(_listener);
        assert!(bind(&path).is_ok());
    }
}
