//! What `--seccomp` does with a system call outside the allowlist, shown
//! with the test-only `--test-forbidden-syscall` hook: the daemon makes
//! `personality(0xffffffff)` (harmless, and in no list) while it serves a
//! STATFS.
//!
//! * `kill` (the default): the whole daemon dies with SIGSYS.
//! * `trap`: the call fails with ENOSYS, which becomes the STATFS reply;
//!   the daemon names the call on stderr and keeps serving.
//! * `log`: the call goes through, the STATFS succeeds, the kernel logs it.
//!
//! Runs only with `--features test-hooks`.
#![cfg(feature = "test-hooks")]

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::daemon::{DaemonProcess, TestDirs};
use common::vmm::VmmOptions;
use epochfsd::fuse::abi::{Opcode, ROOT_ID};

const HOOK: &str = "--test-forbidden-syscall";

#[test]
fn a_forbidden_call_kills_the_daemon_with_sigsys_by_default() {
    let mut d = DaemonProcess::spawn(TestDirs::new(), 1, &[HOOK]);
    let mut c = common::connect(d.socket(), 1, VmmOptions::default());
    c.getattr(ROOT_ID)
        .expect("GETATTR before the forbidden call");

    let _never_answered = c.start_request(1, Opcode::Statfs as u32, ROOT_ID, &[], &[16, 80]);
    let status = d.wait_exit(Duration::from_secs(10)).expect("daemon dies");

    assert_eq!(status.signal(), Some(libc::SIGSYS), "{status:?}");
}

#[test]
fn trap_fails_the_forbidden_call_with_enosys_and_keeps_serving() {
    let (d, mut c) = common::start(1, &[HOOK, "--seccomp", "trap"]);

    let statfs = c.statfs(ROOT_ID);
    let after = c.getattr(ROOT_ID);

    assert_eq!(statfs.err(), Some(libc::ENOSYS));
    assert!(after.is_ok(), "{after:?}");
    let number = libc::SYS_personality.to_string();
    assert!(
        d.log().contains(&format!("refused system call {number}\n")),
        "log:\n{}",
        d.log()
    );
}

#[test]
fn log_lets_the_forbidden_call_through() {
    let (mut d, mut c) = common::start(1, &[HOOK, "--seccomp", "log"]);

    let statfs = c.statfs(ROOT_ID);

    assert!(statfs.is_ok(), "{statfs:?}");
    assert!(d.is_running());
    assert_eq!(d.status_field("Seccomp"), "2");
    assert!(kernel_logged_personality(&d), "no audit line in dmesg");
}

/// Whether the kernel log has a seccomp audit line (type 1326, action
/// log = 0x7ffc0000) for `personality` from one of the daemon's threads.
fn kernel_logged_personality(d: &DaemonProcess) -> bool {
    let tasks: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", d.server_pid()))
        .map(|dir| {
            dir.filter_map(|t| Some(t.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let call = format!("syscall={}", libc::SYS_personality);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let out = std::process::Command::new("dmesg").output().expect("dmesg");
        let log = String::from_utf8_lossy(&out.stdout);
        let found = log.lines().any(|l| {
            l.contains("type=1326")
                && l.contains(&call)
                && l.contains("code=0x7ffc0000")
                && tasks.iter().any(|t| l.contains(&format!(" pid={t} ")))
        });
        if found {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
