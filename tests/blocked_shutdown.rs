//! Stopping a daemon whose threads are blocked in the host.
//!
//! A WRITE held in the host for a minute (the `test-hooks` delay after the
//! host write, as a hung network share would hold it) and a SYNCFS waiting
//! for it: SIGTERM, and the frontend going away, must each still end the
//! daemon within 5 s. Runs only with `--features test-hooks`;
//! `scripts/test-all.sh` runs it.
#![cfg(feature = "test-hooks")]

mod common;

use std::time::{Duration, Instant};

use common::daemon::DaemonProcess;
use common::fuse_client::FuseClient;
use epochfsd::fuse::abi::{self, Opcode, ROOT_ID};
use zerocopy::IntoBytes;

const HELD_OFFSET: u64 = 8192;
const EXIT_BOUND: Duration = Duration::from_secs(5);

/// A daemon with 2 request queues, a WRITE held for 60 s on queue 1 and a
/// SYNCFS waiting for it on queue 2.
fn daemon_with_blocked_threads() -> (DaemonProcess, FuseClient) {
    let offset = HELD_OFFSET.to_string();
    let (daemon, mut c) = common::start(
        2,
        &[
            "--test-slow-write-offset",
            &offset,
            "--test-slow-write-ms",
            "60000",
        ],
    );
    let (entry, open) = c
        .create(ROOT_ID, b"held", libc::O_RDWR as u32, 0o644)
        .expect("CREATE");
    let payload = [0x5au8; 512];
    let write = abi::WriteIn {
        fh: open.fh,
        offset: HELD_OFFSET,
        size: payload.len() as u32,
        ..Default::default()
    };
    c.start_request(
        1,
        Opcode::Write as u32,
        entry.nodeid,
        &[write.as_bytes(), &payload],
        &[16, 16],
    );
    std::thread::sleep(Duration::from_millis(300));
    let syncfs = abi::SyncfsIn::default();
    c.start_request(
        2,
        Opcode::Syncfs as u32,
        ROOT_ID,
        &[syncfs.as_bytes()],
        &[16],
    );
    std::thread::sleep(Duration::from_millis(300));
    (daemon, c)
}

#[test]
fn sigterm_ends_the_daemon_while_a_write_is_blocked_in_the_host() {
    let (mut daemon, _client) = daemon_with_blocked_threads();
    let sent = Instant::now();

    daemon.terminate();
    let status = daemon.wait_exit(EXIT_BOUND);

    assert!(
        status.is_some(),
        "daemon still running {EXIT_BOUND:?} after SIGTERM"
    );
    eprintln!("exited {:?} after SIGTERM", sent.elapsed());
}

#[test]
fn a_disconnect_ends_the_daemon_while_a_write_is_blocked_in_the_host() {
    let (mut daemon, client) = daemon_with_blocked_threads();
    let sent = Instant::now();

    drop(client);
    let status = daemon.wait_exit(EXIT_BOUND);

    assert!(
        status.is_some(),
        "daemon still running {EXIT_BOUND:?} after the frontend went away"
    );
    eprintln!("exited {:?} after the disconnect", sent.elapsed());
}
