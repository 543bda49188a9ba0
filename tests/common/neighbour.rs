//! A host neighbour for the SYNCFS benchmarks: another process dirtying the
//! page cache of the filesystem under test, and the host's dirty total.

use std::path::Path;
use std::process::{Child, Command};

/// Starts a host process that writes `mib` MiB into `dir/name` without
/// syncing, over and over, to keep the host filesystem's page cache dirty.
pub fn start_dirtier(dir: &Path, name: &str, mib: u64) -> Child {
    let file = dir.join(name);
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while :; do dd if=/dev/zero of='{}' bs=1M count={mib} conv=notrunc status=none; done",
            file.display()
        ))
        .spawn()
        .expect("start the dirtying process")
}

/// The host's dirty page cache (`Dirty:` of `/proc/meminfo`) in KiB.
pub fn dirty_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("Dirty:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
