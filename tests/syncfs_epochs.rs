//! SYNCFS waits for exactly the mutating requests taken off a queue before
//! it, never for later ones, and never stalls the queues while it waits.
//!
//! Runs only with `--features test-hooks`, which lets the daemon hold a WRITE
//! at a chosen offset inside its epoch (`--test-slow-write-offset/-ms`) and
//! make the flush fail (`--test-fail-syncfs`). `scripts/test-all.sh` runs it.
//!
//! Every check runs with the request queues sharing one epoll thread and
//! with a thread per queue (`--queue-threads`).
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

/// Runs each check twice: with all request queues on one epoll thread (a
/// SYNCFS or held WRITE must stall none of the queues sharing it) and with
/// an epoll thread per queue.
macro_rules! in_both_thread_layouts {
    ($($check:ident),* $(,)?) => {
        mod one_thread {
            $(#[test]
            fn $check() {
                super::$check("1")
            })*
        }
        mod thread_per_queue {
            $(#[test]
            fn $check() {
                super::$check(&super::QUEUES.to_string())
            })*
        }
    };
}

in_both_thread_layouts!(
    syncfs_waits_for_a_write_taken_before_it,
    syncfs_does_not_wait_for_a_write_taken_after_it,
    syncfs_waits_for_the_earlier_write_only_when_writes_surround_it,
    two_syncfs_each_wait_for_exactly_their_earlier_writes,
    injected_flush_error_reaches_the_guest,
    getattr_behind_a_waiting_syncfs_on_the_same_queue_is_answered,
    a_held_write_delays_neither_its_own_queue_nor_the_others,
    the_epoch_trace_shows_syncfs_covering_exactly_the_earlier_writes,
    fsync_waits_for_an_earlier_write_on_its_inode_and_not_on_others,
    fsync_does_not_wait_for_a_write_taken_after_it,
);

/// A daemon whose `QUEUES` request queues share `threads` epoll threads.
fn start(threads: &str, extra: &[&str]) -> (DaemonProcess, FuseClient, u64, u64) {
    let hold = HOLD.as_millis().to_string();
    let offset = SLOW_OFFSET.to_string();
    let mut args = vec![
        "--queue-threads",
        threads,
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

fn syncfs_waits_for_a_write_taken_before_it(threads: &str) {
    let (_d, mut c, nodeid, fh) = start(threads, &[]);
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

fn syncfs_does_not_wait_for_a_write_taken_after_it(threads: &str) {
    let (_d, mut c, nodeid, fh) = start(threads, &[]);
    let t0 = Instant::now();

    let first = start_write(&mut c, 1, nodeid, fh, 0);
    let (first_err, _) = finish(&mut c, first, t0);
    let sync = start_syncfs(&mut c, 2);
    // Order across queues is the order the daemon takes requests off them;
    // give queue 2's thread time to take the SYNCFS first.
    std::thread::sleep(Duration::from_millis(200));
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

fn syncfs_waits_for_the_earlier_write_only_when_writes_surround_it(threads: &str) {
    let (_d, mut c, nodeid, fh) = start(threads, &[]);
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

fn two_syncfs_each_wait_for_exactly_their_earlier_writes(threads: &str) {
    let (_d, mut c, nodeid, fh) = start(threads, &[]);
    let t0 = Instant::now();

    let w1 = start_write(&mut c, 1, nodeid, fh, SLOW_OFFSET);
    std::thread::sleep(Duration::from_millis(700));
    let s1 = start_syncfs(&mut c, 2);
    std::thread::sleep(Duration::from_millis(200));
    let w2 = start_write(&mut c, 3, nodeid, fh, SLOW_OFFSET);
    std::thread::sleep(Duration::from_millis(500));
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

fn injected_flush_error_reaches_the_guest(threads: &str) {
    let (_d, mut c, _nodeid, _fh) = start(threads, &["--test-fail-syncfs", "5"]);

    let r = c.syncfs(ROOT_ID);

    assert_eq!(r, Err(libc::EIO));
}

/// A SYNCFS covering 500 files flushes all of them (whichever flush the
/// cost model picks); when the flush of one of them fails, the guest gets
/// EIO, and the next SYNCFS retries the set and succeeds once it can.
#[test]
fn syncfs_of_many_files_flushes_all_and_reports_an_error_on_one() {
    let (mut d, mut c, _nodeid, _fh) = start("2", &["--test-fail-flush-size", "4097"]);
    // The first SYNCFS syncs the whole filesystem (nothing known yet).
    c.syncfs(ROOT_ID).expect("first SYNCFS");
    let files: Vec<(u64, u64)> = (0..500)
        .map(|i| {
            let (e, o) = c
                .create(
                    ROOT_ID,
                    format!("m{i}").as_bytes(),
                    libc::O_RDWR as u32,
                    0o644,
                )
                .expect("CREATE");
            c.write(e.nodeid, o.fh, 0, &[1; 4096]).expect("WRITE");
            (e.nodeid, o.fh)
        })
        .collect();
    c.syncfs(ROOT_ID).expect("SYNCFS of 500 files");

    for (i, &(node, fh)) in files.iter().enumerate() {
        let len = if i == 250 { 4097 } else { 4096 };
        c.write(node, fh, 0, &vec![2; len]).expect("WRITE");
    }
    assert_eq!(c.syncfs(ROOT_ID), Err(libc::EIO), "one file failed");
    // Still failing: the set was handed back and is retried.
    assert_eq!(c.syncfs(ROOT_ID), Err(libc::EIO), "retried set");
    c.truncate(files[250].0, 4096).expect("truncate");
    c.syncfs(ROOT_ID).expect("SYNCFS after the failure");
    for (i, (node, _)) in files.iter().enumerate() {
        let data = std::fs::read(d.share().join(format!("m{i}"))).unwrap();
        assert_eq!((data.len(), data[0]), (4096, 2), "m{i}, node {node}");
    }

    d.terminate();
    d.wait_exit(Duration::from_secs(10)).expect("daemon exits");
    let log = d.log();
    let report = log
        .lines()
        .rev()
        .find(|l| l.contains("syncfs: "))
        .unwrap_or_else(|| panic!("no syncfs report in\n{log}"));
    assert!(
        report.contains("syncfs: 3 served, 2 failed"),
        "report: {report}"
    );
}

fn getattr_behind_a_waiting_syncfs_on_the_same_queue_is_answered(threads: &str) {
    let (_d, mut c, nodeid, fh) = start(threads, &[]);
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

fn a_held_write_delays_neither_its_own_queue_nor_the_others(threads: &str) {
    let (_d, mut c, nodeid, fh) = start(threads, &[]);
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

/// One line of the `--trace-epochs` file, the fields the checks need.
#[derive(Debug)]
struct TraceLine {
    op: String,
    queue: u64,
    epoch: u64,
    received_us: u64,
    done_us: u64,
    answered_us: u64,
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\":");
    let start = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + key.len();
    let rest = &line[start..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].trim_matches('"')
}

fn read_trace(path: &std::path::Path) -> Vec<TraceLine> {
    let num = |line: &str, name: &str| -> u64 {
        field(line, name)
            .parse()
            .unwrap_or_else(|_| panic!("{name} is not a number in {line}"))
    };
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| TraceLine {
            op: field(l, "op").to_string(),
            queue: num(l, "queue"),
            epoch: num(l, "epoch"),
            received_us: num(l, "received_us"),
            done_us: num(l, "done_us"),
            answered_us: num(l, "answered_us"),
        })
        .collect()
}

fn the_epoch_trace_shows_syncfs_covering_exactly_the_earlier_writes(threads: &str) {
    let trace_dir = tempfile::tempdir().unwrap();
    let trace_path = trace_dir.path().join("epochs.jsonl");
    let trace_arg = trace_path.display().to_string();
    let (d, mut c, nodeid, fh) = start(threads, &["--trace-epochs", &trace_arg]);
    let t0 = Instant::now();

    let earlier = start_write(&mut c, 1, nodeid, fh, SLOW_OFFSET);
    std::thread::sleep(Duration::from_millis(300));
    let sync = start_syncfs(&mut c, 2);
    std::thread::sleep(Duration::from_millis(300));
    let later = start_write(&mut c, 3, nodeid, fh, SLOW_OFFSET);
    for p in [sync, earlier, later] {
        assert_eq!(finish(&mut c, p, t0).0, 0);
    }
    // SIGUSR1 logs the counters.
    // SAFETY: kill(2) with a valid pid and signal number.
    assert_eq!(unsafe { libc::kill(d.pid() as i32, libc::SIGUSR1) }, 0);
    std::thread::sleep(Duration::from_millis(300));

    let lines = read_trace(&trace_path);
    let ops: Vec<&str> = lines.iter().map(|l| l.op.as_str()).collect();
    assert_eq!(ops[0], "CREATE", "{lines:?}");
    let (w1, s, w2) = lines[1..].iter().fold((None, None, None), |acc, l| {
        match (l.op.as_str(), l.queue) {
            ("WRITE", 1) => (Some(l), acc.1, acc.2),
            ("SYNCFS", 2) => (acc.0, Some(l), acc.2),
            ("WRITE", 3) => (acc.0, acc.1, Some(l)),
            _ => panic!("unexpected trace line {l:?}"),
        }
    });
    let (w1, s, w2) = (w1.unwrap(), s.unwrap(), w2.unwrap());
    assert!(w1.received_us < s.received_us && s.received_us < w2.received_us);
    assert!(w1.epoch <= s.epoch && w2.epoch > s.epoch, "{lines:?}");
    assert!(
        s.answered_us >= w1.done_us,
        "SYNCFS answered before W1 was done: {lines:?}"
    );
    assert!(
        s.answered_us < w2.done_us,
        "SYNCFS waited for W2: {lines:?}"
    );
    let log = d.log();
    assert!(
        log.contains("syncfs: 1 served, 0 failed"),
        "no statistics after SIGUSR1 in the log:\n{log}"
    );
}

fn start_fsync(c: &mut FuseClient, queue: usize, nodeid: u64, fh: u64) -> Pending {
    let arg = abi::FsyncIn {
        fh,
        fsync_flags: 0,
        padding: 0,
    };
    c.start_request(
        queue,
        Opcode::Fsync as u32,
        nodeid,
        &[arg.as_bytes()],
        &[16],
    )
}

fn fsync_waits_for_an_earlier_write_on_its_inode_and_not_on_others(threads: &str) {
    let (_d, mut c, nodeid, fh) = start(threads, &[]);
    let (other, other_open) = c
        .create(ROOT_ID, b"other", libc::O_RDWR as u32, 0o644)
        .expect("create other");
    let t0 = Instant::now();

    let write = start_write(&mut c, 1, nodeid, fh, SLOW_OFFSET);
    std::thread::sleep(Duration::from_millis(300));
    let same = start_fsync(&mut c, 2, nodeid, fh);
    let unrelated = start_fsync(&mut c, 3, other.nodeid, other_open.fh);
    let (unrelated_err, unrelated_at) = finish(&mut c, unrelated, t0);
    let (same_err, same_at) = finish(&mut c, same, t0);
    let (write_err, write_at) = finish(&mut c, write, t0);

    assert_eq!((write_err, same_err, unrelated_err), (0, 0, 0));
    assert!(
        same_at >= HOLD && same_at + Duration::from_millis(50) >= write_at,
        "FSYNC answered at {same_at:?}, the WRITE on its inode at {write_at:?}"
    );
    assert!(
        unrelated_at < HOLD / 2,
        "FSYNC of another inode waited until {unrelated_at:?}"
    );
}

fn fsync_does_not_wait_for_a_write_taken_after_it(threads: &str) {
    let (_d, mut c, nodeid, fh) = start(threads, &[]);
    let t0 = Instant::now();

    let earlier = start_write(&mut c, 1, nodeid, fh, 0);
    let fsync = start_fsync(&mut c, 1, nodeid, fh);
    std::thread::sleep(Duration::from_millis(200));
    let later = start_write(&mut c, 2, nodeid, fh, SLOW_OFFSET);
    let (fsync_err, fsync_at) = finish(&mut c, fsync, t0);
    let (later_err, later_at) = finish(&mut c, later, t0);
    let (earlier_err, _) = finish(&mut c, earlier, t0);

    assert_eq!((earlier_err, fsync_err, later_err), (0, 0, 0));
    assert!(later_at >= HOLD, "the later WRITE was not held");
    assert!(
        fsync_at < HOLD / 2,
        "FSYNC waited until {fsync_at:?} for a later WRITE"
    );
}
