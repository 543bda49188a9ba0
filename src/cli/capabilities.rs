//! The `--print-capabilities` answer (QEMU's vhost-user backend program
//! conventions): the one place that lists epochfsd's features.
//! `vmm-configs/60-epochfsd.json` repeats the list; a test keeps both equal.
//!
//! * `separate-options`: the daemon takes `--shared-dir DIR --cache MODE
//!   ...` (libvirt >= 10 then stops using the `-o` syntax).
//!
//! Not listed: `migrate-precopy` (libvirt checks it before migrating a
//! domain; epochfsd has no migration support yet), and virtiofsd's
//! `posix-acl-negotiation-mode`/`security-label-negotiation-mode` (libvirt
//! does not use them for the argv it builds).

/// The features, in the order they are printed.
pub const FEATURES: &[&str] = &["separate-options"];

/// The JSON object `--print-capabilities` prints.
pub fn capabilities_json() -> String {
    let features: Vec<String> = FEATURES.iter().map(|f| format!("\"{f}\"")).collect();
    format!("{{\"type\":\"fs\",\"features\":[{}]}}", features.join(","))
}
