//! Where log lines go: stderr (env_logger, the default) or, with
//! `--syslog`, the local syslog socket.
//!
//! The syslog socket is connected once, here, before the sandbox is
//! entered; a connected unix socket keeps working after `pivot_root` and in
//! a new network namespace, so no path is resolved later. Each line is
//! sent as one RFC 3164 message (facility `user`, tag `epochfsd[PID]`).
//! Without a syslog socket on the host the daemon logs to stderr and
//! says so there, as virtiofsd does, rather than refusing to start under
//! launchers that always pass `--syslog` (Kata).

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

/// Where syslog daemons listen, in the order the `syslog` crate tries them.
pub const SYSLOG_SOCKETS: &[&str] = &["/dev/log", "/var/run/syslog", "/var/run/log"];

/// Sets up logging at `level`, to syslog if `syslog` (falling back to
/// stderr with a warning there when no syslog socket can be reached).
pub fn init(level: LevelFilter, syslog: bool) {
    if syslog {
        match connect_syslog(SYSLOG_SOCKETS) {
            Ok(logger) => {
                if log::set_boxed_logger(Box::new(logger)).is_ok() {
                    log::set_max_level(level);
                    return;
                }
            }
            Err(e) => {
                init_stderr(level);
                log::warn!("--syslog: cannot reach a syslog socket ({e}); logging to stderr");
                return;
            }
        }
    }
    init_stderr(level);
}

fn init_stderr(level: LevelFilter) {
    // Fails only if a logger is already set (in-process tests): keep it.
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .format_timestamp_millis()
        .try_init();
}

/// A `log` logger that sends each record to syslog at once.
struct SyslogLogger {
    logger: Mutex<Logger<LoggerBackend, Formatter3164>>,
}

/// Connects to the first of `paths` that exists.
fn connect_syslog(paths: &[&str]) -> Result<SyslogLogger, String> {
    let formatter = Formatter3164 {
        facility: Facility::LOG_USER,
        hostname: None,
        process: "epochfsd".to_string(),
        pid: std::process::id(),
    };
    let mut last = "no syslog socket (/dev/log) on this host".to_string();
    for path in paths {
        if !Path::new(path).exists() {
            continue;
        }
        match syslog::unix_custom(formatter.clone(), path) {
            Ok(logger) => {
                return Ok(SyslogLogger {
                    logger: Mutex::new(logger),
                })
            }
            Err(e) => last = format!("{path}: {e}"),
        }
    }
    Err(last)
}

impl Log for SyslogLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = format!("{}", record.args());
        let Ok(mut logger) = self.logger.lock() else {
            return;
        };
        // A lost log line cannot be reported anywhere better than syslog.
        let _ = match record.level() {
            Level::Error => logger.err(message),
            Level::Warn => logger.warning(message),
            Level::Info => logger.info(message),
            Level::Debug | Level::Trace => logger.debug(message),
        };
        let _ = logger.backend.flush();
    }

    fn flush(&self) {
        if let Ok(mut logger) = self.logger.lock() {
            let _ = logger.backend.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn records_reach_the_syslog_socket_as_rfc3164_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).unwrap();
        let p = path.to_str().unwrap();
        let logger = connect_syslog(&["/nonexistent/log", p]).unwrap();
        log::set_max_level(LevelFilter::Info);
        logger.log(
            &Record::builder()
                .args(format_args!("hello syslog"))
                .level(Level::Warn)
                .build(),
        );
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let line = String::from_utf8_lossy(&buf[..n]);
        // <12> = facility user (1) * 8 + severity warning (4).
        assert!(line.starts_with("<12>"), "{line}");
        assert!(
            line.contains(&format!("epochfsd[{}]: hello syslog", std::process::id())),
            "{line}"
        );
    }

    #[test]
    fn no_syslog_socket_is_an_error_naming_dev_log() {
        let err = connect_syslog(&["/nonexistent/log"]).err().unwrap();
        assert!(err.contains("/dev/log"), "{err}");
    }
}
