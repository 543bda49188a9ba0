//! Resource bounds a guest cannot exceed, on the real binary: open
//! handles (`--max-handles`, EMFILE past it), the memory of directory
//! handles nobody reads, and the log a flood of malformed chains writes.

mod common;

use std::fs;

use common::daemon::DaemonProcess;
use common::malformed::{rd, send_raw, RETURN_TIMEOUT};
use epochfsd::fuse::abi::ROOT_ID;

const RDONLY: u32 = libc::O_RDONLY as u32;

#[test]
fn handles_past_max_handles_get_emfile_until_one_is_released() {
    let (d, mut c) = common::start(1, &["--max-handles", "8"]);
    fs::write(d.share().join("f"), b"x").unwrap();
    let f = c.lookup(ROOT_ID, b"f").unwrap().nodeid;
    let mut open: Vec<u64> = (0..6).map(|_| c.open(f, RDONLY).unwrap().fh).collect();
    open.push(c.opendir(ROOT_ID).unwrap().fh);
    let (_, created) = c.create(ROOT_ID, b"g", libc::O_RDWR as u32, 0o644).unwrap();

    let file = c.open(f, RDONLY);
    let dir = c.opendir(ROOT_ID);
    let new = c.create(ROOT_ID, b"h", libc::O_RDWR as u32, 0o644);

    assert_eq!(file.err(), Some(libc::EMFILE));
    assert_eq!(dir.err(), Some(libc::EMFILE));
    assert_eq!(new.err(), Some(libc::EMFILE));
    assert!(
        !d.share().join("h").exists(),
        "a refused CREATE made a file"
    );
    c.release(f, open[0], RDONLY).unwrap();
    assert!(c.open(f, RDONLY).is_ok(), "a released slot is free again");
    assert_ne!(created.fh, 0);
}

/// Anonymous memory of the daemon (heap and stacks; guest memory is shared).
fn rss_anon_kib(d: &DaemonProcess) -> u64 {
    let v = d.status_field("RssAnon");
    v.trim_end_matches("kB").trim().parse().unwrap()
}

/// The daemon's soft open file limit.
fn nofile_limit(d: &DaemonProcess) -> usize {
    let limits = fs::read_to_string(format!("/proc/{}/limits", d.server_pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn twenty_thousand_unread_opendirs_cost_little_memory() {
    let (d, mut c) = common::start(1, &["--log-level", "warn"]);
    // 20,000, or as many as the host's descriptor limit lets the daemon open.
    let dirs = 20_000.min(nofile_limit(&d).saturating_sub(500));
    c.opendir(ROOT_ID).unwrap();
    let before = rss_anon_kib(&d);

    for _ in 0..dirs {
        c.opendir(ROOT_ID).expect("OPENDIR");
    }
    let after = rss_anon_kib(&d);

    let per_dir = (after.saturating_sub(before) * 1024) / dirs as u64;
    eprintln!("{dirs} OPENDIRs: RssAnon {before} kB -> {after} kB, {per_dir} bytes each");
    // A 4 KiB buffer each was 82 MB for 20,000; the handle itself is an
    // entry in a hash map.
    assert!(per_dir < 512, "{per_dir} bytes per unread OPENDIR");
}

#[test]
fn ten_thousand_malformed_chains_write_a_bounded_log() {
    const CHAINS: u64 = 10_000;
    const BATCH: u64 = 500;
    let (d, mut c) = common::start(1, &["--log-level", "warn"]);
    let hole = c.vmm.unmapped_addr();
    let q = c.queue;

    for batch in 0..CHAINS / BATCH {
        let heads: Vec<u16> = (0..BATCH)
            .map(|i| send_raw(&mut c, &[rd(hole + (batch * BATCH + i) * 64, 56)]))
            .collect();
        for h in heads {
            assert!(
                c.vmm.wait_head(q, h, RETURN_TIMEOUT).is_some(),
                "chain lost"
            );
        }
    }
    assert!(c.getattr(ROOT_ID).is_ok());

    let log = d.log();
    let dropped = log.matches(" dropping ").count();
    eprintln!("{} bytes, {dropped} lines for {CHAINS} chains", log.len());
    assert!(dropped >= 1, "nothing logged:\n{log}");
    assert!(log.len() < 32 * 1024, "{} bytes of log", log.len());
}
