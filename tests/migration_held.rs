//! A migration that starts while a WRITE is held in the host and a SYNCFS
//! waits for it: stopping the queues waits for both answers, so the
//! SYNCFS covers exactly its earlier write on the source, the state misses
//! nothing, and the written bytes are there on the destination. Runs only
//! with `--features test-hooks` (the held write); `scripts/test-all.sh`
//! runs it.
#![cfg(feature = "test-hooks")]

mod common;

use std::time::{Duration, Instant};

use common::daemon::{DaemonProcess, TestDirs};
use common::fuse_client::FuseClient;
use common::migration::{load_state, save_state};
use common::vmm::{TestVmm, VmmOptions};
use epochfsd::fuse::abi::{self, Opcode, ROOT_ID};
use zerocopy::IntoBytes;

const HELD_OFFSET: u64 = 8192;
const HOLD: Duration = Duration::from_millis(1500);

#[test]
fn stopping_the_queues_waits_for_a_held_write_and_the_syncfs_behind_it() {
    let offset = HELD_OFFSET.to_string();
    let hold = HOLD.as_millis().to_string();
    let args = [
        "--test-slow-write-offset",
        &offset,
        "--test-slow-write-ms",
        &hold,
    ];
    let (daemon, mut c) = common::start(2, &args);
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
    let started = Instant::now();
    let w = c.start_request(
        1,
        Opcode::Write as u32,
        entry.nodeid,
        &[write.as_bytes(), &payload],
        &[16, 16],
    );
    std::thread::sleep(Duration::from_millis(200));
    let s = c.start_request(
        2,
        Opcode::Syncfs as u32,
        ROOT_ID,
        &[abi::SyncfsIn::default().as_bytes()],
        &[16],
    );

    let state = save_state(&mut c.vmm).expect("save");

    assert!(
        started.elapsed() >= HOLD,
        "the state was saved before the held write returned"
    );
    let used = c.vmm.try_used(1).expect("WRITE answered before the save");
    assert_eq!(used.head, w.head);
    let used = c.vmm.try_used(2).expect("SYNCFS answered before the save");
    assert_eq!(used.head, s.head);
    let (out, _) = c.finish_pending(s, used.len);
    assert_eq!(out.error, 0, "SYNCFS failed");

    let mut dirs = TestDirs::new();
    dirs.share = daemon.share().to_path_buf();
    let dst_daemon = DaemonProcess::spawn(dirs, 2, &[]);
    let vmm = TestVmm::connect(dst_daemon.socket(), 3, VmmOptions::default());
    let mut dst = FuseClient::new(vmm);
    load_state(&mut dst.vmm, &state).expect("load");
    let read = dst
        .read(entry.nodeid, open.fh, HELD_OFFSET, 512)
        .expect("READ on the destination");
    assert_eq!(read, payload, "the held write is there after the move");
    dst.syncfs(ROOT_ID)
        .expect("the first SYNCFS after the move");
}
