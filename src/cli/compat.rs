//! The legacy `-o` option syntax of virtiofsd, which libvirt up to 9.x
//! (and later versions, for daemons without `separate-options`) and Kata
//! 2.x still pass: `-o source=DIR,cache=always,xattr`.
//!
//! Each `-o` value is a comma-separated list; `-o` may be given several
//! times; later settings win, and `-o` settings win over the separate
//! flags, as in virtiofsd 1.14. A doubled comma (`,,`) is a literal comma,
//! the escaping libvirt applies to the `source=` path. The options map to
//! the separate flags exactly as virtiofsd maps them, with three
//! additions: `cache=never` besides virtiofsd's `cache=none`, `sandbox=none`,
//! and `flock`/`posix_lock`, which libvirt passes for `<lock posix='on'
//! flock='on'/>`: epochfsd accepts them with a warning, because the guest
//! kernel keeps those locks itself (they work between the guest's
//! processes but are not forwarded to the host).

use std::path::PathBuf;

use super::modes::{CacheMode, Negotiation, SandboxMode};
use super::Cli;

/// A `-o` option epochfsd does not know, or a value it cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompatError {
    /// Not an option of virtiofsd's `-o` syntax.
    #[error("unknown option '-o {0}'")]
    Unknown(String),
    /// A known option with a value it does not take.
    #[error("invalid value '{value}' for '-o {option}'")]
    Value {
        /// The option.
        option: String,
        /// The value given.
        value: String,
    },
}

/// What `flock`/`posix_lock` do in epochfsd, said at start.
pub const LOCKS_NOTICE: &str = "-o flock/posix_lock: file locks are kept by the guest kernel, \
     as on a local filesystem: they work between processes of the guest but are not \
     forwarded to the host, so host processes and other guests do not see them";

/// Splits one `-o` value at single commas; `,,` stands for a comma.
pub(super) fn split_options(value: &str) -> Vec<String> {
    let mut options = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ',' if chars.peek() == Some(&',') => {
                chars.next();
                current.push(',');
            }
            ',' => options.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    options.push(current);
    options.retain(|o| !o.is_empty());
    options
}

/// Applies every `-o` value of `cli` to its separate fields. Returns the
/// warnings to log at start.
pub(super) fn apply(cli: &mut Cli) -> Result<Vec<String>, CompatError> {
    let mut notices = Vec::new();
    let values = std::mem::take(&mut cli.compat_options);
    for value in &values {
        for option in split_options(value) {
            match option.split_once('=') {
                Some((key, val)) => apply_pair(cli, key, val)?,
                None => apply_flag(cli, &option, &mut notices)?,
            }
        }
    }
    cli.compat_options = values;
    Ok(notices)
}

fn bad_value(option: &str, value: &str) -> CompatError {
    CompatError::Value {
        option: option.into(),
        value: value.into(),
    }
}

fn apply_pair(cli: &mut Cli, key: &str, value: &str) -> Result<(), CompatError> {
    match key {
        "source" => cli.shared_dir = Some(PathBuf::from(value)),
        "cache" => {
            cli.cache = match value {
                "none" | "never" => CacheMode::Never,
                "metadata" => CacheMode::Metadata,
                "auto" => CacheMode::Auto,
                "always" => CacheMode::Always,
                _ => return Err(bad_value(key, value)),
            }
        }
        "sandbox" => {
            cli.sandbox = match value {
                "namespace" => SandboxMode::Namespace,
                "chroot" => SandboxMode::Chroot,
                "none" => SandboxMode::None,
                _ => return Err(bad_value(key, value)),
            }
        }
        "loglevel" => {
            cli.log_level = match value {
                "debug" | "info" | "warn" => value.to_string(),
                "err" => "error".to_string(),
                _ => return Err(bad_value(key, value)),
            }
        }
        "modcaps" => cli.modcaps = Some(value.to_string()),
        "xattrmap" => cli.xattrmap = Some(value.to_string()),
        _ => return Err(CompatError::Unknown(format!("{key}={value}"))),
    }
    Ok(())
}

fn apply_flag(cli: &mut Cli, option: &str, notices: &mut Vec<String>) -> Result<(), CompatError> {
    match option {
        "xattr" | "no_xattr" => {
            cli.xattr = option == "xattr";
            cli.no_xattr = !cli.xattr;
        }
        "readdirplus" | "no_readdirplus" => cli.no_readdirplus = option == "no_readdirplus",
        "writeback" | "no_writeback" => {
            cli.writeback = option == "writeback";
            cli.no_writeback = !cli.writeback;
        }
        "allow_direct_io" | "no_allow_direct_io" => {
            cli.allow_direct_io = option == "allow_direct_io"
        }
        "announce_submounts" => cli.no_announce_submounts = false,
        "killpriv_v2" | "no_killpriv_v2" => {
            cli.killpriv_v2 = option == "killpriv_v2";
            cli.no_killpriv_v2 = !cli.killpriv_v2;
        }
        "posix_acl" => cli.posix_acl = Some(Negotiation::Always),
        "no_posix_acl" => cli.posix_acl = Some(Negotiation::Never),
        "security_label" => cli.security_label = Some(Negotiation::Always),
        "no_security_label" => cli.security_label = Some(Negotiation::Never),
        "flock" | "posix_lock" => {
            if !notices.iter().any(|n| n == LOCKS_NOTICE) {
                notices.push(LOCKS_NOTICE.to_string());
            }
        }
        // What epochfsd does anyway: locks stay in the guest.
        "no_flock" | "no_posix_lock" => {}
        _ => return Err(CompatError::Unknown(option.to_string())),
    }
    Ok(())
}
