//! Busy-polling after a pass (`--queue-poll-us`): a request the guest places
//! on a queue without a kick, shortly after the daemon answered the previous
//! one, is served within the polling window; with polling off it waits for
//! a kick.

mod common;

use std::time::Duration;

use common::fuse_client::{FuseClient, Pending};
use epochfsd::fuse::abi::{self, InHeader, Opcode, ROOT_ID};
use zerocopy::IntoBytes;

const QUEUE: usize = 1;
const ROUNDS: usize = 20;
/// How long after an answer the next request comes: longer than the daemon
/// takes to finish the pass (signal, re-enable notifications, look again),
/// so without polling it is asleep by then; well inside a 1 ms window.
const THINK_TIME: Duration = Duration::from_micros(200);

/// Places a GETATTR of the root on the request queue without kicking it.
fn getattr_without_kick(c: &mut FuseClient) -> Pending {
    let getattr = abi::GetattrIn::default();
    let header: InHeader = c.header(Opcode::Getattr as u32, ROOT_ID, size_of_val(&getattr));
    let readable = [header.as_bytes(), getattr.as_bytes()];
    let writable = [size_of::<abi::OutHeader>() as u32, 4096];
    let head = c.vmm.submit(QUEUE, &readable, &writable);
    Pending {
        queue: QUEUE,
        head,
        header,
    }
}

fn answer(c: &mut FuseClient, p: Pending, used: u32) {
    let (out, _) = c.finish_pending(p, used);
    assert_eq!(out.error, 0);
}

/// Of `ROUNDS` rounds of "kicked request, answer, unkicked request", how
/// many unkicked requests the daemon answered without a kick (the others
/// are kicked after `patience` and must then be answered).
fn answered_without_kick(poll_us: &str, patience: Duration) -> usize {
    let (_d, mut c) = common::start(1, &["--queue-poll-us", poll_us]);
    let mut unkicked_answers = 0;
    for _ in 0..ROUNDS {
        let first = getattr_without_kick(&mut c);
        c.vmm.kick(QUEUE);
        let used = c.wait_pending(&first);
        answer(&mut c, first, used);

        std::thread::sleep(THINK_TIME);
        let second = getattr_without_kick(&mut c);
        let used = match c.vmm.wait_head(QUEUE, second.head, patience) {
            Some(used) => {
                unkicked_answers += 1;
                used
            }
            None => {
                c.vmm.kick(QUEUE);
                c.wait_pending(&second)
            }
        };
        answer(&mut c, second, used);
    }
    eprintln!("--queue-poll-us {poll_us}: {unkicked_answers} of {ROUNDS} answered without a kick");
    unkicked_answers
}

#[test]
fn a_request_right_after_an_answer_needs_no_kick_while_the_thread_polls() {
    // 1 ms of polling: the next request comes 0.2 ms after the answer
    // (longer if the host deschedules the test), so most rounds must go
    // without a kick.
    let answered = answered_without_kick("1000", Duration::from_millis(200));
    assert!(
        answered >= ROUNDS / 2,
        "{answered} of {ROUNDS} unkicked requests answered"
    );
}

#[test]
fn without_polling_an_unkicked_request_waits_for_its_kick() {
    let answered = answered_without_kick("0", Duration::from_millis(100));
    assert!(
        answered <= ROUNDS / 4,
        "{answered} of {ROUNDS} unkicked requests answered without polling"
    );
}
