//! Capabilities the daemon keeps once it is confined: what serving a
//! guest needs, nothing else, in the effective, permitted and bounding
//! sets, with the ambient and inheritable sets empty.
//!
//! Kept by default (what acting as the guest caller needs, and the set
//! virtiofsd keeps): `CHOWN`, `DAC_OVERRIDE`, `FOWNER`, `FSETID` (guest
//! root's file operations), `SETUID`, `SETGID` (switching a worker to the
//! caller's ids and groups), `MKNOD` (guest root creating device nodes),
//! `SETFCAP` (guest root setting `security.capability`), and
//! `DAC_READ_SEARCH` only while file handles are in use
//! (`open_by_handle_at` needs it). Everything else goes, among them
//! `SYS_ADMIN` (so guest root cannot set `trusted.*` attributes),
//! `SETPCAP` and `SYS_RESOURCE`.
//!
//! `MKNOD` stays because a drop-in for virtiofsd must serve the guests it
//! serves: container runtimes unpack images with device nodes onto
//! virtio-fs, and pjdfstest's block/char cases expect it. The daemon
//! itself never opens a special file (`ENXIO`), so a device node is a
//! danger only to host processes that reach the share; where other host
//! users or guests can, `--modcaps=-mknod` drops it (guest root then gets
//! `EPERM` for block and character devices, while FIFOs, sockets and
//! overlayfs whiteouts, character device 0:0, still work).
//!
//! `--modcaps=+cap,-cap` (virtiofsd's option; `:` separates too) adds to
//! or removes from that set. A daemon that does not have a capability
//! (not root, no user namespace) cannot gain it: the kept set is what is
//! asked for and permitted.

use std::io;

use crate::sys::caps::{self, CapSets};

/// Capability names (without `CAP_`) by number, as in
/// `<linux/capability.h>`.
const NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// The mask of the capability named `name` (`chown`, `CAP_CHOWN`, ...).
pub fn by_name(name: &str) -> Option<u64> {
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_prefix("cap_").unwrap_or(&lower);
    NAMES.iter().position(|n| *n == bare).map(|i| 1 << i)
}

/// The names in `set`, for logs and errors.
pub fn names(set: u64) -> Vec<&'static str> {
    NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| set & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

fn mask(names: &[&str]) -> u64 {
    names
        .iter()
        .filter_map(|n| by_name(n))
        .fold(0, |a, b| a | b)
}

/// The default set, without `DAC_READ_SEARCH`.
pub fn default_set() -> u64 {
    mask(&[
        "chown",
        "dac_override",
        "fowner",
        "fsetid",
        "setgid",
        "setuid",
        "mknod",
        "setfcap",
    ])
}

/// `--modcaps`: capabilities to add to and remove from the kept set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModCaps {
    /// `+cap` entries.
    pub add: u64,
    /// `-cap` entries.
    pub remove: u64,
}

/// A `--modcaps` entry that is not `+name` or `-name` with a known name.
#[derive(Debug, thiserror::Error)]
#[error("--modcaps entry {0:?} is not +CAP or -CAP with a known capability")]
pub struct ModCapsError(pub String);

impl std::str::FromStr for ModCaps {
    type Err = ModCapsError;

    fn from_str(s: &str) -> Result<Self, ModCapsError> {
        let mut mods = ModCaps::default();
        for entry in s.split([',', ':']).filter(|e| !e.is_empty()) {
            let bad = || ModCapsError(entry.to_string());
            let (sign, name) = entry.split_at_checked(1).ok_or_else(bad)?;
            let cap = by_name(name).ok_or_else(bad)?;
            match sign {
                "+" => mods.add |= cap,
                "-" => mods.remove |= cap,
                _ => return Err(bad()),
            }
        }
        Ok(mods)
    }
}

/// The set to keep: the default, `DAC_READ_SEARCH` with file handles,
/// then `--modcaps`.
pub fn wanted(file_handles: bool, mods: ModCaps) -> u64 {
    let handles = if file_handles {
        mask(&["dac_read_search"])
    } else {
        0
    };
    ((default_set() | handles) | mods.add) & !mods.remove
}

/// Why the capabilities could not be limited.
#[derive(Debug, thiserror::Error)]
#[error("cannot limit the capabilities: {step} failed")]
pub struct CapsError {
    /// What was being done.
    pub step: &'static str,
    /// The host error.
    #[source]
    pub source: io::Error,
}

fn step<T>(step: &'static str, r: io::Result<T>) -> Result<T, CapsError> {
    r.map_err(|source| CapsError { step, source })
}

/// Limits the calling thread (and every thread it starts afterwards) to
/// `wanted` as far as it has them; returns the kept set.
pub fn limit(wanted: u64) -> Result<u64, CapsError> {
    let current = step("capget", caps::get())?;
    let keep = wanted & current.permitted;
    let setpcap = by_name("setpcap").unwrap_or(0);
    if current.effective & setpcap != 0 {
        step(
            "dropping from the bounding set",
            caps::limit_bounding_set(keep),
        )?;
    } else {
        log::debug!("no CAP_SETPCAP: the bounding set stays as inherited");
    }
    step("clearing the ambient set", caps::clear_ambient())?;
    step(
        "capset",
        caps::set(CapSets {
            effective: keep,
            permitted: keep,
            inheritable: 0,
        }),
    )?;
    let missing = wanted & !keep;
    if missing != 0 {
        log::info!(
            "capabilities not held, so not kept: {}",
            names(missing).join(", ")
        );
    }
    log::info!("capabilities kept: {}", names(keep).join(", "));
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_kernel_numbers() {
        assert_eq!(by_name("chown"), Some(1 << 0));
        assert_eq!(by_name("CAP_SYS_ADMIN"), Some(1 << 21));
        assert_eq!(by_name("mknod"), Some(1 << 27));
        assert_eq!(by_name("setfcap"), Some(1 << 31));
        assert_eq!(by_name("checkpoint_restore"), Some(1 << 40));
        assert_eq!(by_name("nonsense"), None);
    }

    #[test]
    fn modcaps_adds_and_removes_with_either_separator() {
        let m: ModCaps = "+sys_admin,-chown:+MKNOD".parse().unwrap();
        assert_eq!(m.add, (1 << 21) | (1 << 27));
        assert_eq!(m.remove, 1);
        let kept = wanted(false, m);
        assert_eq!(kept & 1, 0, "chown removed");
        assert_ne!(kept & (1 << 21), 0, "sys_admin added");
    }

    #[test]
    fn modcaps_refuses_unknown_names_and_missing_signs() {
        for bad in ["sys_admin", "+nonsense", "*chown", "+"] {
            assert!(bad.parse::<ModCaps>().is_err(), "{bad}");
        }
        assert_eq!("".parse::<ModCaps>().unwrap(), ModCaps::default());
    }

    #[test]
    fn dac_read_search_is_kept_only_with_file_handles() {
        let drs = by_name("dac_read_search").unwrap();
        assert_eq!(wanted(false, ModCaps::default()) & drs, 0);
        assert_ne!(wanted(true, ModCaps::default()) & drs, 0);
        let default = wanted(false, ModCaps::default());
        assert_eq!(
            names(default),
            [
                "chown",
                "dac_override",
                "fowner",
                "fsetid",
                "setgid",
                "setuid",
                "mknod",
                "setfcap"
            ]
        );
    }

    #[test]
    fn limiting_a_thread_keeps_exactly_what_it_held_of_the_wanted_set() {
        let held = caps::get().unwrap().permitted;
        let want = default_set();
        let (sets, bounding) = std::thread::spawn(move || {
            limit(want).unwrap();
            (caps::get().unwrap(), caps::bounding_set().unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(sets.permitted, want & held);
        assert_eq!(sets.effective, want & held);
        assert_eq!(sets.inheritable, 0);
        if held & by_name("setpcap").unwrap() != 0 {
            assert_eq!(bounding, want);
        }
    }
}
