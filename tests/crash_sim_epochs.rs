//! `--crash-sim drop-all` with SYNCFS on one queue and WRITEs on others:
//! the SYNCFS makes durable exactly the WRITEs taken off their queues
//! before it (by epoch), not one taken after it, even when that later one
//! ran first.
//!
//! Runs only with `--features test-hooks` (a WRITE at offset 4096 is held
//! inside its epoch for two seconds after it wrote), like
//! `tests/syncfs_epochs.rs`.
#![cfg(feature = "test-hooks")]

mod common;
#[path = "crash_sim/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use common::fuse_client::{FuseClient, Pending};
use epochfsd::fuse::abi::{self, Opcode, ROOT_ID};
use harness::{open_rw, put, start, tree, Node};
use zerocopy::IntoBytes;

const HELD_OFFSET: u64 = 4096;

fn start_write(
    c: &mut FuseClient,
    queue: usize,
    node: u64,
    fh: u64,
    offset: u64,
    byte: u8,
) -> Pending {
    let payload = [byte; 4096];
    let arg = abi::WriteIn {
        fh,
        offset,
        size: payload.len() as u32,
        ..Default::default()
    };
    c.start_request(
        queue,
        Opcode::Write as u32,
        node,
        &[arg.as_bytes(), &payload],
        &[16, 16],
    )
}

fn finish(c: &mut FuseClient, p: Pending) -> i32 {
    let len = c.wait_pending(&p);
    c.finish_pending(p, len).0.error
}

fn syncfs_covers_the_earlier_write_on_another_queue_and_not_the_later(threads: &str) {
    let extra = [
        "--queue-threads",
        threads,
        "--test-slow-write-offset",
        "4096",
        "--test-slow-write-ms",
        "2000",
    ];
    let mut sim = start("drop-all", 3, &extra, |root| {
        put(root, "data", &[0x11; 8192])
    });
    let c = &mut sim.client;
    let (node, fh) = open_rw(c, ROOT_ID, b"data");

    let held = start_write(c, 1, node, fh, HELD_OFFSET, 0xa5);
    std::thread::sleep(Duration::from_millis(300));
    let sync_arg = abi::SyncfsIn::default();
    let sync = c.start_request(
        2,
        Opcode::Syncfs as u32,
        ROOT_ID,
        &[sync_arg.as_bytes()],
        &[16],
    );
    std::thread::sleep(Duration::from_millis(300));
    // Taken after the SYNCFS, done long before it.
    let later = start_write(c, 3, node, fh, 0, 0x5a);
    assert_eq!(finish(c, later), 0);
    assert_eq!(finish(c, sync), 0);
    assert_eq!(finish(c, held), 0);

    let (share, _, _d) = sim.crash();

    let mut data = vec![0x11; 4096];
    data.extend([0xa5; 4096]);
    let expected = BTreeMap::from([("data".to_string(), harness::file(&data))]);
    let got = tree(&share);
    if let Some(Node::File { data: got_data, .. }) = got.get("data") {
        assert_eq!(got_data[0], 0x11, "the later WRITE survived the crash");
        assert_eq!(got_data[4096], 0xa5, "the earlier WRITE was lost");
    }
    assert_eq!(got, expected);
}

#[test]
fn syncfs_covers_exactly_the_earlier_writes_one_thread() {
    syncfs_covers_the_earlier_write_on_another_queue_and_not_the_later("1");
}

#[test]
fn syncfs_covers_exactly_the_earlier_writes_thread_per_queue() {
    syncfs_covers_the_earlier_write_on_another_queue_and_not_the_later("3");
}

#[test]
fn a_crash_while_a_write_is_held_answers_it_never_and_undoes_it() {
    let extra = [
        "--test-slow-write-offset",
        "4096",
        "--test-slow-write-ms",
        "3000",
    ];
    let mut sim = start("drop-all", 2, &extra, |root| {
        put(root, "data", &[0x11; 8192])
    });
    let (node, fh) = open_rw(&mut sim.client, ROOT_ID, b"data");
    let held = start_write(&mut sim.client, 1, node, fh, HELD_OFFSET, 0xa5);
    std::thread::sleep(Duration::from_millis(300));

    let t0 = std::time::Instant::now();
    let reply = sim.command("crash");

    assert!(reply.contains("\"crashed\":true"), "{reply}");
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "crash waited for the held WRITE"
    );
    let status = sim.daemon.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let answered = sim
        .client
        .vmm
        .wait_head(held.queue, held.head, Duration::from_millis(500));
    assert_eq!(
        answered, None,
        "the held WRITE was answered after the crash"
    );
    let expected = BTreeMap::from([("data".to_string(), harness::file(&[0x11; 8192]))]);
    assert_eq!(tree(sim.daemon.share()), expected);
}
