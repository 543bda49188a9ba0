//! Confinement of the real binary, observed from outside: the seccomp
//! filter in every thread, the capability sets, what guest root can no
//! longer do with them (`trusted.*` attributes, device nodes), and the
//! socket file's mode and group.
//!
//! The suite runs as root (the capability checks need it).

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;

use common::daemon::{DaemonProcess, TestDirs};
use common::vmm::VmmOptions;
use epochfsd::fuse::abi::ROOT_ID;

/// Capability masks (bit = `CAP_*` number).
const CHOWN: u64 = 1 << 0;
const DAC_OVERRIDE: u64 = 1 << 1;
const DAC_READ_SEARCH: u64 = 1 << 2;
const FOWNER: u64 = 1 << 3;
const FSETID: u64 = 1 << 4;
const SETGID: u64 = 1 << 6;
const SETUID: u64 = 1 << 7;
const SYS_ADMIN: u64 = 1 << 21;
const MKNOD: u64 = 1 << 27;
const SETFCAP: u64 = 1 << 31;
const DEFAULT_CAPS: u64 =
    CHOWN | DAC_OVERRIDE | FOWNER | FSETID | SETGID | SETUID | MKNOD | SETFCAP;

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn cap_field(d: &DaemonProcess, name: &str) -> u64 {
    let hex = d.status_field(name);
    u64::from_str_radix(&hex, 16).unwrap_or_else(|_| panic!("{name}: {hex}"))
}

/// Every thread of the serving process is under a seccomp filter.
fn assert_filtered_threads(d: &DaemonProcess, want: &str) {
    let tasks = format!("/proc/{}/task", d.server_pid());
    let mut n = 0;
    for task in fs::read_dir(&tasks).unwrap() {
        let status = fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        let mode = status
            .lines()
            .find_map(|l| l.strip_prefix("Seccomp:"))
            .map(str::trim);
        assert_eq!(mode, Some(want), "{status}");
        n += 1;
    }
    assert!(n >= 3, "only {n} threads");
}

#[test]
fn every_thread_runs_under_the_seccomp_filter_by_default() {
    let (d, mut c) = common::start(1, &[]);
    c.statfs(ROOT_ID).expect("STATFS");
    assert_eq!(d.status_field("Seccomp"), "2");
    assert_filtered_threads(&d, "2");
}

#[test]
fn seccomp_none_installs_no_filter() {
    let (d, mut c) = common::start(1, &["--seccomp", "none"]);
    c.statfs(ROOT_ID).expect("STATFS");
    assert_filtered_threads(&d, "0");
}

#[test]
fn capabilities_are_limited_to_what_serving_needs() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    for (args, want) in [
        (&["--inode-file-handles", "never"][..], DEFAULT_CAPS),
        (
            &["--inode-file-handles", "mandatory"][..],
            DEFAULT_CAPS | DAC_READ_SEARCH,
        ),
        (
            &["--modcaps=+sys_admin,-chown"][..],
            (DEFAULT_CAPS | SYS_ADMIN | DAC_READ_SEARCH) & !CHOWN,
        ),
    ] {
        let (d, mut c) = common::start(1, args);
        c.getattr(ROOT_ID).expect("GETATTR");
        for set in ["CapEff", "CapPrm", "CapBnd"] {
            assert_eq!(cap_field(&d, set), want, "{set} with {args:?}");
        }
        assert_eq!(cap_field(&d, "CapAmb"), 0, "{args:?}");
        assert_eq!(cap_field(&d, "CapInh"), 0, "{args:?}");
    }
}

#[test]
fn guest_root_cannot_set_trusted_xattrs_but_can_set_user_ones() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dirs = TestDirs::new();
    fs::write(dirs.share.join("f"), b"x").unwrap();
    let d = DaemonProcess::spawn(dirs, 1, &["--xattr"]);
    let mut c = common::connect(d.socket(), 1, VmmOptions::default());
    let f = c.lookup(ROOT_ID, b"f").unwrap().nodeid;

    let trusted = c.setxattr(f, b"trusted.escape", b"v", 0, 0);
    let user = c.setxattr(f, b"user.fine", b"v", 0, 0);

    assert_eq!(trusted, Err(libc::EPERM));
    assert_eq!(user, Ok(()));
}

const BLOCK_DEV: u32 = libc::S_IFBLK | 0o666;
/// `makedev(7, 0)` in the kernel's old 16-bit encoding FUSE carries.
const LOOP0: u32 = 7 << 8;

#[test]
fn guest_root_creates_device_nodes_as_with_virtiofsd() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let (d, mut c) = common::start(1, &[]);

    let block = c.mknod(ROOT_ID, b"disk", BLOCK_DEV, LOOP0);

    assert!(block.is_ok(), "{block:?}");
    assert_ne!(cap_field(&d, "CapEff") & MKNOD, 0);
    let meta = fs::symlink_metadata(d.share().join("disk")).unwrap();
    assert!(meta.file_type().is_block_device());
}

#[test]
fn modcaps_minus_mknod_refuses_device_nodes_but_fifos_and_whiteouts_work() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let (d, mut c) = common::start(1, &["--modcaps=-mknod"]);

    let block = c.mknod(ROOT_ID, b"disk", BLOCK_DEV, LOOP0);
    let whiteout = c.mknod(ROOT_ID, b"wh", libc::S_IFCHR | 0o600, 0);
    let fifo = c.mknod(ROOT_ID, b"fifo", libc::S_IFIFO | 0o644, 0);

    assert_eq!(block.err(), Some(libc::EPERM));
    assert_eq!(cap_field(&d, "CapEff") & MKNOD, 0);
    // Overlayfs whiteouts (character device 0:0) need no CAP_MKNOD.
    assert!(whiteout.is_ok(), "{whiteout:?}");
    assert!(fifo.is_ok(), "{fifo:?}");
    assert!(!d.share().join("disk").exists());
    assert!(fs::symlink_metadata(d.share().join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
}

fn socket_mode(d: &DaemonProcess) -> (u32, u32) {
    let m = fs::symlink_metadata(d.socket()).unwrap();
    (m.permissions().mode() & 0o7777, m.gid())
}

fn with_open_umask(cmd: &mut std::process::Command) {
    // SAFETY: umask is async-signal-safe and touches no memory.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
}

#[test]
fn the_socket_is_0600_even_under_an_open_umask() {
    let d = DaemonProcess::spawn_with(TestDirs::new(), 1, &[], with_open_umask);
    // SAFETY: getegid cannot fail.
    let own_group = unsafe { libc::getegid() };
    assert_eq!(socket_mode(&d), (0o600, own_group));
}

#[test]
fn socket_group_gives_the_socket_to_that_group_with_mode_0660() {
    if !is_root() {
        eprintln!("skipped: needs root to give files away");
        return;
    }
    let args = ["--socket-group", "nogroup"];
    let d = DaemonProcess::spawn_with(TestDirs::new(), 1, &args, with_open_umask);
    wait_ready(&d);
    let (mode, gid) = socket_mode(&d);
    assert_eq!(mode, 0o660);
    assert_eq!(Some(gid), group_id("nogroup"));
}

/// Waits until the daemon logs that it waits for the frontend (the socket
/// is set up by then).
fn wait_ready(d: &DaemonProcess) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !d.log().contains("waiting for the frontend") {
        assert!(
            std::time::Instant::now() < deadline,
            "not ready:\n{}",
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The gid of `name` in /etc/group.
fn group_id(name: &str) -> Option<u32> {
    fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| f.get(2)?.parse().ok())?
        })
}
