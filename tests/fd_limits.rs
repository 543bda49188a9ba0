//! Open file limits: `--rlimit-nofile`, running out of descriptors, and
//! how many descriptors the daemon keeps with and without file handles.
//!
//! The daemon is started with a small limit; the client then looks up or
//! opens files until the daemon answers EMFILE/ENFILE, checks that the
//! daemon still serves, gives the descriptors back (FORGET, RELEASE) and
//! checks that it recovers.

mod common;

use std::fs;

use common::daemon::DaemonProcess;
use common::fuse_client::FuseClient;
use epochfsd::fuse::abi::ROOT_ID;

const FILES: usize = 300;
const RDONLY: u32 = libc::O_RDONLY as u32;

fn start(args: &[&str]) -> (DaemonProcess, FuseClient) {
    let (d, c) = common::start(1, args);
    for i in 0..FILES {
        fs::write(d.share().join(format!("f{i}")), b"x").unwrap();
    }
    (d, c)
}

fn fd_count(d: &DaemonProcess) -> usize {
    fs::read_dir(format!("/proc/{}/fd", d.server_pid()))
        .unwrap()
        .count()
}

/// The soft "Max open files" of the daemon.
fn nofile_limit(d: &DaemonProcess) -> u64 {
    let limits = fs::read_to_string(format!("/proc/{}/limits", d.server_pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

fn name(i: usize) -> Vec<u8> {
    format!("f{i}").into_bytes()
}

fn is_out_of_fds(errno: i32) -> bool {
    errno == libc::EMFILE || errno == libc::ENFILE
}

#[test]
fn default_limit_is_raised_and_zero_keeps_it() {
    let (d, _c) = common::start(1, &[]);
    let nr_open: u64 = fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut own = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `own` is a writable rlimit64.
    let rc = unsafe { libc::getrlimit64(libc::RLIMIT_NOFILE, &mut own) };
    assert_eq!(rc, 0);
    // With CAP_SYS_RESOURCE the daemon raises its hard limit too; without,
    // its soft limit goes up to the inherited hard one.
    let target = nr_open.min(1_000_000);
    let raised = nofile_limit(&d);
    assert!(
        raised == target || raised == own.rlim_max.min(target).max(own.rlim_cur),
        "limit {raised}, inherited {}/{}",
        own.rlim_cur,
        own.rlim_max
    );

    let (kept, _c) = common::start(1, &["--rlimit-nofile", "0"]);
    assert_eq!(nofile_limit(&kept), own.rlim_cur);

    let (set, _c) = common::start(1, &["--rlimit-nofile", "500"]);
    assert_eq!(nofile_limit(&set), 500);
}

#[test]
fn without_file_handles_lookups_run_out_and_recover_after_forget() {
    let (mut d, mut c) = start(&["--rlimit-nofile", "64", "--inode-file-handles", "never"]);
    let mut held = Vec::new();
    let mut failure = None;
    for i in 0..FILES {
        match c.lookup(ROOT_ID, &name(i)) {
            Ok(e) => held.push(e.nodeid),
            Err(e) => {
                failure = Some((i, e));
                break;
            }
        }
    }
    let (first_failed, errno) = failure.expect("64 descriptors cannot hold 300 inodes");
    assert!(is_out_of_fds(errno), "errno {errno}");
    assert_eq!(nofile_limit(&d), 64);
    // Still serving: attributes of what is held need no new descriptor.
    assert!(c.getattr(ROOT_ID).is_ok());
    assert!(c.getattr(held[0]).is_ok());
    assert!(d.is_running());

    // Giving the inodes back frees their descriptors.
    let items: Vec<(u64, u64)> = held.iter().map(|&n| (n, 1)).collect();
    c.batch_forget(&items);
    let e = c.lookup(ROOT_ID, &name(first_failed)).unwrap();
    let o = c.open(e.nodeid, RDONLY).unwrap();
    assert_eq!(c.read(e.nodeid, o.fh, 0, 10).unwrap(), b"x");
    c.release(e.nodeid, o.fh, RDONLY).unwrap();
    assert!(fd_count(&d) < 40, "descriptors left: {}", fd_count(&d));
}

#[test]
fn with_file_handles_lookups_hold_no_descriptors() {
    let (d, mut c) = start(&["--rlimit-nofile", "64", "--inode-file-handles", "prefer"]);
    let before = fd_count(&d);
    let mut held = Vec::new();
    for i in 0..FILES {
        held.push(c.lookup(ROOT_ID, &name(i)).expect("lookup").nodeid);
    }
    for &n in &held {
        assert!(c.getattr(n).is_ok());
    }
    let after = fd_count(&d);
    assert!(after <= before + 2, "fds {before} -> {after}");
}

#[test]
fn open_files_run_out_and_recover_after_release() {
    let (mut d, mut c) = start(&["--rlimit-nofile", "64"]);
    let mut open = Vec::new();
    let mut errno = None;
    for i in 0..FILES {
        // The LOOKUP may be the request that finds the table full (it needs
        // a descriptor for a moment too; how many the daemon's own threads
        // hold at that instant varies by one or two).
        let opened = c
            .lookup(ROOT_ID, &name(i))
            .and_then(|e| c.open(e.nodeid, RDONLY).map(|o| (e.nodeid, o.fh)));
        match opened {
            Ok(handle) => open.push(handle),
            Err(err) => {
                errno = Some(err);
                break;
            }
        }
    }
    let errno = errno.expect("64 descriptors cannot hold 300 open files");
    assert!(is_out_of_fds(errno), "errno {errno}");
    assert!(d.is_running());
    // Open handles keep working while the table is full.
    let (n, fh) = open[0];
    assert_eq!(c.read(n, fh, 0, 10).unwrap(), b"x");

    for &(n, fh) in &open {
        c.release(n, fh, RDONLY).unwrap();
    }
    let e = c.lookup(ROOT_ID, &name(FILES - 1)).unwrap();
    let o = c.open(e.nodeid, RDONLY).expect("open after release");
    assert_eq!(c.read(e.nodeid, o.fh, 0, 10).unwrap(), b"x");
}
