//! The seccomp allowlist is complete for a full workload: every operation
//! family the daemon serves (files, data, directories, links, attributes,
//! extended attributes, locks, durability, temporary files), then the
//! frontend's disconnect and the daemon's exit, run through the real
//! binary and the vhost-user harness in the configurations that change
//! the list (`--xattr`, file handles or not, each sandbox mode).
//!
//! * Under the default `kill` action a missing call would end the daemon
//!   with SIGSYS: every request must be answered and the daemon must exit
//!   0 after the disconnect.
//! * Under `--seccomp log` the kernel writes an audit record (type 1326,
//!   action log = `0x7ffc0000`) to the kernel log for every call outside
//!   the list: there must be none from the daemon. That this record is
//!   observable on the host is shown by `tests/seccomp_actions.rs`
//!   (`log_lets_the_forbidden_call_through`, with the test hooks).
//!
//! Runs as root (`dmesg`, the chroot sandbox).

mod common;

use std::time::Duration;

use common::fuse_client::FuseClient;
use epochfsd::fuse::abi::{self, Opcode, ROOT_ID};

/// The option sets whose lists differ.
const CONFIGS: &[&[&str]] = &[
    &[],
    &[
        "--xattr",
        "--posix-acl",
        "--inode-file-handles",
        "mandatory",
    ],
    &["--inode-file-handles", "never", "--sandbox", "chroot"],
    &["--xattr", "--sandbox", "none", "--cache", "always"],
];

const RDWR: u32 = libc::O_RDWR as u32;
const SEEK_DATA: i32 = 3;
const RENAME_NOREPLACE: u32 = 1;

/// Data: a file written, read, synced, grown, copied, searched.
fn data_ops(c: &mut FuseClient, dir: u64) {
    let (f, o) = c.create(dir, b"f", RDWR, 0o644).expect("CREATE");
    let block = vec![0x5a; 64 * 1024];
    c.write(f.nodeid, o.fh, 0, &block).expect("WRITE");
    assert_eq!(c.read(f.nodeid, o.fh, 0, 4096).expect("READ").len(), 4096);
    c.flush(f.nodeid, o.fh).expect("FLUSH");
    c.fsync(f.nodeid, o.fh, false).expect("FSYNC");
    c.fsync(f.nodeid, o.fh, true).expect("FSYNC datasync");
    c.fallocate(f.nodeid, o.fh, 0, 0, 1 << 20)
        .expect("FALLOCATE");
    c.lseek(f.nodeid, o.fh, 0, SEEK_DATA).expect("LSEEK");
    let (g, og) = c.create(dir, b"g", RDWR, 0o644).expect("CREATE g");
    c.copy_file_range((f.nodeid, o.fh, 0), (g.nodeid, og.fh, 0), 4096)
        .expect("COPY_FILE_RANGE");
    c.getattr_fh(f.nodeid, o.fh).expect("GETATTR fh");
    c.statx(f.nodeid, 0x7ff, Some(o.fh)).expect("STATX");
    let lock = abi::FileLock {
        start: 0,
        end: 10,
        type_: libc::F_WRLCK as u32,
        pid: 1,
    };
    let _ = c.lock_op(Opcode::Getlk, f.nodeid, o.fh, lock, 0);
    c.release(f.nodeid, o.fh, RDWR).expect("RELEASE");
    c.release(g.nodeid, og.fh, RDWR).expect("RELEASE g");
    let opened = c.open(f.nodeid, libc::O_RDONLY as u32).expect("OPEN");
    c.release(f.nodeid, opened.fh, 0).expect("RELEASE ro");
}

/// Attributes: size, mode, times, access.
fn attribute_ops(c: &mut FuseClient, dir: u64) {
    let f = c.lookup(dir, b"f").expect("LOOKUP").nodeid;
    c.truncate(f, 100).expect("SETATTR size");
    c.chmod(f, 0o600).expect("SETATTR mode");
    c.utimes(f, (1, 0), (2, 0)).expect("SETATTR times");
    c.access(f, libc::R_OK as u32).expect("ACCESS");
    c.getattr(f).expect("GETATTR");
}

/// The namespace: directories, links, special files, renames, removal.
fn namespace_ops(c: &mut FuseClient, dir: u64) {
    let f = c.lookup(dir, b"f").expect("LOOKUP").nodeid;
    let s = c.symlink(dir, b"s", b"f").expect("SYMLINK").nodeid;
    assert_eq!(c.readlink(s).expect("READLINK"), b"f");
    c.link(f, dir, b"hard").expect("LINK");
    c.mknod(dir, b"fifo", libc::S_IFIFO | 0o644, 0)
        .expect("MKNOD fifo");
    c.rename(dir, b"hard", dir, b"hard2").expect("RENAME");
    c.rename2(dir, b"hard2", dir, b"hard3", RENAME_NOREPLACE)
        .expect("RENAME2");
    let d = c.opendir(dir).expect("OPENDIR");
    assert!(c.readdir_all(dir, d.fh).expect("READDIR").len() >= 6);
    let _ = c.readdirplus(dir, d.fh, 0, 4096).expect("READDIRPLUS");
    c.releasedir(dir, d.fh).expect("RELEASEDIR");
    let (t, ot) = c.tmpfile(dir, RDWR, 0o600).expect("TMPFILE");
    c.release(t.nodeid, ot.fh, RDWR).expect("RELEASE tmpfile");
    for name in [&b"s"[..], b"hard3", b"fifo", b"g", b"f"] {
        c.unlink(dir, name).expect("UNLINK");
    }
    c.forget(s, 1);
}

/// Extended attributes (with `--xattr`).
fn xattr_ops(c: &mut FuseClient, dir: u64) {
    c.setxattr(dir, b"user.k", b"v", 0, 0).expect("SETXATTR");
    assert_eq!(c.getxattr(dir, b"user.k", 16).expect("GETXATTR"), b"v");
    c.listxattr(dir, 256).expect("LISTXATTR");
    c.removexattr(dir, b"user.k").expect("REMOVEXATTR");
}

/// The whole workload, in a fresh directory of the share.
fn workload(c: &mut FuseClient, xattr: bool) {
    let dir = c.mkdir(ROOT_ID, b"w", 0o755).expect("MKDIR").nodeid;
    data_ops(c, dir);
    attribute_ops(c, dir);
    namespace_ops(c, dir);
    if xattr {
        xattr_ops(c, dir);
    }
    c.statfs(ROOT_ID).expect("STATFS");
    c.syncfs(ROOT_ID).expect("SYNCFS");
    c.rmdir(ROOT_ID, b"w").expect("RMDIR");
}

/// Runs the workload under `--seccomp mode` with `args`; returns the
/// serving process's pid after it exited 0 on the disconnect.
fn run(mode: &str, args: &[&str]) -> u32 {
    let mut all = vec!["--seccomp", mode];
    all.extend_from_slice(args);
    let (mut d, mut c) = common::start(1, &all);
    let pid = d.server_pid();
    assert_eq!(d.status_field("Seccomp"), "2");

    workload(&mut c, args.contains(&"--xattr"));
    drop(c);
    let status = d.wait_exit(Duration::from_secs(10)).expect("daemon exits");

    assert!(status.success(), "{args:?}: {status}\n{}", d.log());
    pid
}

/// The kernel log's seccomp audit records of the log action from `pid`.
fn logged_calls(pid: u32) -> Vec<String> {
    let out = std::process::Command::new("dmesg").output().expect("dmesg");
    assert!(out.status.success(), "dmesg: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.contains("type=1326")
                && l.contains("code=0x7ffc0000")
                && l.contains(&format!(" pid={pid} "))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn the_workload_runs_under_the_kill_action_in_every_configuration() {
    for args in CONFIGS {
        run("kill", args);
    }
}

#[test]
fn the_log_action_logs_nothing_during_the_workload() {
    for args in CONFIGS {
        let pid = run("log", args);
        // Records are written asynchronously (kauditd): give them time.
        std::thread::sleep(Duration::from_millis(300));
        let logged = logged_calls(pid);
        assert!(logged.is_empty(), "{args:?}: {logged:#?}");
    }
}
