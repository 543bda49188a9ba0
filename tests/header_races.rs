//! A guest that rewrites a request while the daemon serves it.
//!
//! Guest memory is shared with the guest: a second thread here flips the
//! header of a request (opcode, length, node id) in a tight loop while the
//! same request is submitted thousands of times. Whatever bytes the daemon
//! sees, every request must come back through the used ring, the queue must
//! keep serving, and SIGTERM must still end the daemon. A daemon that read
//! the header twice (once to admit a WRITE into its SYNCFS epoch, once to
//! dispatch it as SYNCFS) would wait for its own epoch forever here.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::fuse_client::FuseClient;
use common::malformed::{put, rd, send_raw, wr};
use common::vmm::RawDesc;
use epochfsd::fuse::abi::{self, Opcode, ROOT_ID};
use vm_memory::{Bytes, GuestAddress};
use zerocopy::IntoBytes;

/// Rounds of submit-and-wait while the flipper runs.
const ROUNDS: usize = 3000;

/// How long one round may take. A round flipped into SYNCFS or FSYNC flushes
/// the host filesystem, which on a host busy writing back other data takes
/// seconds; a stuck queue never answers at all.
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);

/// Header values the flipper cycles through: opcodes whose roles differ
/// (epoch member, SYNCFS, FSYNC, free, unknown) and lengths that lie.
const OPCODES: [u32; 6] = [
    Opcode::Write as u32,
    Opcode::Syncfs as u32,
    Opcode::Fsync as u32,
    Opcode::Getattr as u32,
    Opcode::Setlkw as u32,
    0xdead,
];
const LENGTHS: [u32; 4] = [0, 40, 4096, u32::MAX];

/// A WRITE of 8 bytes to `fh` of `nodeid`, as one byte string.
fn write_request(c: &mut FuseClient, nodeid: u64, fh: u64) -> Vec<u8> {
    let data = *b"racerace";
    let arg = abi::WriteIn {
        fh,
        size: data.len() as u32,
        ..Default::default()
    };
    let h = c.header(
        Opcode::Write as u32,
        nodeid,
        size_of::<abi::WriteIn>() + data.len(),
    );
    [h.as_bytes(), arg.as_bytes(), &data].concat()
}

/// Flips the header at `addr` until `stop` is set.
fn flip_header(mem: vm_memory::GuestMemoryMmap, addr: u64, nodeid: u64, stop: Arc<AtomicBool>) {
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let opcode = OPCODES[i % OPCODES.len()];
        let _ = mem.write_obj(opcode, GuestAddress(addr + 4));
        if i.is_multiple_of(7) {
            let len = LENGTHS[(i / 7) % LENGTHS.len()];
            let _ = mem.write_obj(len, GuestAddress(addr));
        }
        if i.is_multiple_of(11) {
            let node = if i.is_multiple_of(22) {
                nodeid
            } else {
                ROOT_ID
            };
            let _ = mem.write_obj(node, GuestAddress(addr + 16));
        }
        i = i.wrapping_add(1);
    }
}

#[test]
fn a_header_rewritten_while_served_never_stalls_the_queue() {
    let (mut daemon, mut c) = common::start(1, &[]);
    let (entry, open) = c
        .create(ROOT_ID, b"raced", libc::O_RDWR as u32, 0o644)
        .expect("CREATE");
    let request = write_request(&mut c, entry.nodeid, open.fh);
    let req_addr = put(&mut c, &request);
    let reply_addr = c.vmm.alloc(4096).0;
    let chain: Vec<RawDesc> = common::malformed::linked(vec![
        rd(req_addr, request.len() as u32),
        wr(reply_addr, 4096),
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let mem = c.vmm.memory().clone();
        let stop = Arc::clone(&stop);
        let nodeid = entry.nodeid;
        thread::spawn(move || flip_header(mem, req_addr, nodeid, stop))
    };

    let started = Instant::now();
    let mut unanswered = Vec::new();
    for round in 0..ROUNDS {
        c.vmm.write_guest(GuestAddress(req_addr), &request);
        let head = send_raw(&mut c, &chain);
        if c.vmm.wait_head(c.queue, head, ROUND_TIMEOUT).is_none() {
            unanswered.push(round);
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().expect("flipper thread");
    let elapsed = started.elapsed();

    assert!(
        unanswered.is_empty(),
        "request of round {:?} was never answered (the queue is stuck)",
        unanswered
    );
    let attr = c.getattr(ROOT_ID);
    assert!(attr.is_ok(), "GETATTR after the races failed: {attr:?}");
    eprintln!("{ROUNDS} raced requests answered in {elapsed:?}");
    daemon.terminate();
    assert!(
        daemon.wait_exit(Duration::from_secs(5)).is_some(),
        "the daemon did not exit within 5 s of SIGTERM"
    );
}
