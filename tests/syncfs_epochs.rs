//! SYNCFS waits for exactly the mutating requests taken off a queue before
//! it, never for later ones, and never stalls the queues while it waits.
//!
//! Runs only with `--features test-hooks`, which lets the daemon hold a WRITE
//! at a chosen offset inside its epoch (`--test-slow-write-offset/-ms`) and
//! make the flush fail (`--test-fail-syncfs`). `scripts/test-all.sh` runs it.
#![cfg(feature = "test-hooks")]

mod common;

use std::time::{Duration, Instant};

use common::daemon::DaemonProcess;
use common::fuse_client::{FuseClient, Pending};
use epochfsd::fuse::abi::{self, Opcode, ROOT_ID};
use zerocopy::IntoBytes;

const QUEUES: usize = 4;
const SLOW_OFFSET: u64 = 4096;
const HOLD: Duration = Duration::from_millis(2000);

fn start(extra: &[&str]) -> (DaemonProcess, FuseClient, u64, u64) {
    let hold = HOLD.as_millis().to_string();
    let offset = SLOW_OFFSET.to_string();
    let mut args = vec![
        "--test-slow-write-offset",
        offset.as_str(),
        "--test-slow-write-ms",
        hold.as_str(),
        "--cache",
        "never",
    ];
    args.extend_from_slice(extra);
    let (d, mut c) = common::start(QUEUES, &args);
    let (entry, open) = c
        .create(ROOT_ID, b"data", libc::O_RDWR as u32, 0o644)
        .expect("create");
    (d, c, entry.nodeid, open.fh)
}

fn start_write(c: &mut FuseClient, queue: usize, nodeid: u64, fh: u64, offset: u64) -> Pending {
    let payload = [0xa5u8; 4096];
    let arg = abi::WriteIn {
        fh,
        offset,
        size: payload.len() as u32,
        ..Default::default()
    };
    c.start_request(
        queue,
        Opcode::Write as u32,
        nodeid,
        &[arg.as_bytes(), &payload],
        &[16, 16],
    )
}

fn start_syncfs(c: &mut FuseClient, queue: usize) -> Pending {
    let arg = abi::SyncfsIn::default();
    c.start_request(
        queue,
        Opcode::Syncfs as u32,
        ROOT_ID,
        &[arg.as_bytes()],
        &[16],
    )
}

/// Waits for `p` and returns its error field and when it was answered.
fn finish(c: &mut FuseClient, p: Pending, t0: Instant) -> (i32, Duration) {
    let len = c.wait_pending(&p);
    let at = t0.elapsed();
    let (out, _) = c.finish_pending(p, len);
    (out.error, at)
}

#[test]
fn syncfs_waits_for_a_write_taken_before_it() {
    let (_d, mut c, nodeid, fh) = start(&[]);
    let t0 = Instant::now();

    let write = start_write(&mut c, 1, nodeid, fh, SLOW_OFFSET);
    std::thread::sleep(Duration::from_millis(300));
    let sync = start_syncfs(&mut c, 2);
    let (sync_err, sync_at) = finish(&mut c, sync, t0);
    let (write_err, _) = finish(&mut c, write, t0);

    assert_eq!((sync_err, write_err), (0, 0));
    assert!(
        sync_at >= HOLD,
        "SYNCFS answered after {sync_at:?}, before the held WRITE"
    );
}

#[test]
fn syncfs_does_not_wait_for_a_write_taken_after_it() {
    let (_d, mut c, nodeid, fh) = start(&[]);
    let t0 = Instant::now();

    let first = start_write(&mut c, 1, nodeid, fh, 0);
    let (first_err, _) = finish(&mut c, first, t0);
    let sync = start_syncfs(&mut c, 2);
    let later = start_write(&mut c, 3, nodeid, fh, SLOW_OFFSET);
    let (sync_err, sync_at) = finish(&mut c, sync, t0);
    let (later_err, later_at) = finish(&mut c, later, t0);

    assert_eq!((first_err, sync_err, later_err), (0, 0, 0));
    assert!(
        later_at >= HOLD,
        "the later WRITE was not held ({later_at:?})"
    );
    assert!(
        sync_at < HOLD / 2,
        "SYNCFS waited {sync_at:?} for a WRITE taken after it"
    );
}

#[test]
fn syncfs_waits_for_the_earlier_write_only_when_writes_surround_it() {
    let (_d, mut c, nodeid, fh) = start(&[]);
    let t0 = Instant::now();

    let a = start_write(&mut c, 1, nodeid, fh, SLOW_OFFSET);
    std::thread::sleep(Duration::from_millis(500));
    let sync = start_syncfs(&mut c, 2);
    std::thread::sleep(Duration::from_millis(500));
    let later = start_write(&mut c, 3, nodeid, fh, SLOW_OFFSET);
    let (sync_err, sync_at) = finish(&mut c, sync, t0);
    let (later_err, later_at) = finish(&mut c, later, t0);
    let (a_err, _) = finish(&mut c, a, t0);

    assert_eq!((a_err, sync_err, later_err), (0, 0, 0));
    assert!(
        sync_at >= HOLD,
        "SYNCFS at {sync_at:?} did not wait for the earlier WRITE"
    );
    assert!(
        sync_at < later_at,
        "SYNCFS at {sync_at:?} waited for the later WRITE (answered at {later_at:?})"
    );
}

#[test]
fn two_syncfs_each_wait_for_exactly_their_earlier_writes() {
    let (_d, mut c, nodeid, fh) = start(&[]);
    let t0 = Instant::now();

    let w1 = start_write(&mut c, 1, nodeid, fh, SLOW_OFFSET);
    std::thread::sleep(Duration::from_millis(700));
    let s1 = start_syncfs(&mut c, 2);
    let w2 = start_write(&mut c, 3, nodeid, fh, SLOW_OFFSET);
    std::thread::sleep(Duration::from_millis(700));
    let s2 = start_syncfs(&mut c, 4);
    let (s1_err, s1_at) = finish(&mut c, s1, t0);
    let (w1_err, _) = finish(&mut c, w1, t0);
    let (s2_err, s2_at) = finish(&mut c, s2, t0);
    let (w2_err, w2_at) = finish(&mut c, w2, t0);

    assert_eq!((w1_err, s1_err, w2_err, s2_err), (0, 0, 0, 0));
    assert!(s1_at >= HOLD && s1_at < w2_at, "first SYNCFS at {s1_at:?}");
    assert!(
        s2_at >= w2_at.saturating_sub(Duration::from_millis(50)),
        "second SYNCFS at {s2_at:?} before W2 at {w2_at:?}"
    );
}

#[test]
fn injected_flush_error_reaches_the_guest() {
    let (_d, mut c, _nodeid, _fh) = start(&["--test-fail-syncfs", "5"]);

    let r = c.syncfs(ROOT_ID);

    assert_eq!(r, Err(libc::EIO));
}

#[test]
fn getattr_behind_a_waiting_syncfs_on_the_same_queue_is_answered() {
    let (_d, mut c, nodeid, fh) = start(&[]);
    let t0 = Instant::now();

    let write = start_write(&mut c, 1, nodeid, fh, SLOW_OFFSET);
    std::thread::sleep(Duration::from_millis(300));
    let sync = start_syncfs(&mut c, 2);
    std::thread::sleep(Duration::from_millis(100));
    let arg = abi::GetattrIn::default();
    let getattr = c.start_request(
        2,
        Opcode::Getattr as u32,
        nodeid,
        &[arg.as_bytes()],
        &[16, 104],
    );
    let (getattr_err, getattr_at) = finish(&mut c, getattr, t0);
    let (sync_err, sync_at) = finish(&mut c, sync, t0);
    let (write_err, _) = finish(&mut c, write, t0);

    assert_eq!((getattr_err, sync_err, write_err), (0, 0, 0));
    assert!(
        getattr_at < HOLD / 2,
        "GETATTR behind the SYNCFS answered only at {getattr_at:?}"
    );
    assert!(sync_at >= HOLD, "SYNCFS answered at {sync_at:?}");
}

/// Starts a GETATTR on `queue` and returns when it was answered.
fn getattr_at(c: &mut FuseClient, queue: usize, nodeid: u64, t0: Instant) -> Duration {
    let arg = abi::GetattrIn::default();
    let p = c.start_request(
        queue,
        Opcode::Getattr as u32,
        nodeid,
        &[arg.as_bytes()],
        &[16, 104],
    );
    let (err, at) = finish(c, p, t0);
    assert_eq!(err, 0);
    at
}

#[test]
fn a_held_write_delays_neither_its_own_queue_nor_the_others() {
    let (_d, mut c, nodeid, fh) = start(&[]);
    let t0 = Instant::now();

    let write = start_write(&mut c, 1, nodeid, fh, SLOW_OFFSET);
    std::thread::sleep(Duration::from_millis(100));
    let same_queue = getattr_at(&mut c, 1, nodeid, t0);
    let other_queue = getattr_at(&mut c, 3, nodeid, t0);
    let (write_err, write_at) = finish(&mut c, write, t0);

    assert_eq!(write_err, 0);
    assert!(write_at >= HOLD, "the WRITE was not held ({write_at:?})");
    assert!(
        same_queue < HOLD / 2 && other_queue < HOLD / 2,
        "GETATTRs waited for the held WRITE: same queue {same_queue:?}, other queue {other_queue:?}"
    );
}
