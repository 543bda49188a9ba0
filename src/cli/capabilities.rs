//! The `--print-capabilities` answer (QEMU's vhost-user backend program
//! conventions): the one place that lists epochfsd's features.
//! `vmm-configs/60-epochfsd.json` repeats the list; a test keeps both equal.
//!
//! * `separate-options`: the daemon takes `--shared-dir DIR --cache MODE
//!   ...` (libvirt >= 10 then stops using the `-o` syntax).
//!
//! * `migrate-precopy`: the daemon can be live-migrated with its guest
//!   (vhost-user device state and dirty-page logging, `docs/migration.md`);
//!   libvirt checks it before migrating a domain.
//!
//! Not listed: virtiofsd's
//! `posix-acl-negotiation-mode`/`security-label-negotiation-mode` (libvirt
//! does not use them for the argv it builds).

/// The features, in the order they are printed.
pub const FEATURES: &[&str] = &["separate-options", "migrate-precopy"];

/// The JSON object `--print-capabilities` prints.
pub fn capabilities_json() -> String {
    let features: Vec<String> = FEATURES.iter().map(|f| format!("\"{f}\"")).collect();
    format!("{{\"type\":\"fs\",\"features\":[{}]}}", features.join(","))
}
