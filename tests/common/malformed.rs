//! Helpers of the `malformed_*` tests: raw descriptors, hand-built requests
//! and the checks that the daemon returned a bad chain and still serves.

use std::time::Duration;

use super::daemon::DaemonProcess;
use super::fuse_client::{Completion, FuseClient};
use super::vmm::{RawDesc, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use epochfsd::fuse::abi::{self, Opcode, ROOT_ID};
use zerocopy::{FromBytes, IntoBytes};

/// How long a rejected chain may take to show up in the used ring.
pub const RETURN_TIMEOUT: Duration = Duration::from_secs(5);

pub const HDR: u32 = size_of::<abi::InHeader>() as u32;
pub const OUT: u32 = size_of::<abi::OutHeader>() as u32;

pub fn start() -> (DaemonProcess, FuseClient) {
    super::start(1, &[])
}

/// Copies `bytes` into fresh guest memory and returns the guest address.
pub fn put(c: &mut FuseClient, bytes: &[u8]) -> u64 {
    let a = c.vmm.alloc(bytes.len() as u64);
    c.vmm.write_guest(a, bytes);
    a.0
}

pub fn rd(addr: u64, len: u32) -> RawDesc {
    RawDesc {
        addr,
        len,
        flags: 0,
        next: 0,
    }
}

pub fn wr(addr: u64, len: u32) -> RawDesc {
    RawDesc {
        addr,
        len,
        flags: VRING_DESC_F_WRITE,
        next: 0,
    }
}

/// Links `descs` in order (NEXT + next = i + 1), the last one unlinked.
pub fn linked(mut descs: Vec<RawDesc>) -> Vec<RawDesc> {
    let n = descs.len();
    for (i, d) in descs.iter_mut().enumerate().take(n - 1) {
        d.flags |= VRING_DESC_F_NEXT;
        d.next = (i + 1) as u16;
    }
    descs
}

/// A well-formed GETATTR request (header + argument) as one byte string.
pub fn getattr_bytes(c: &mut FuseClient) -> Vec<u8> {
    let arg = abi::GetattrIn::default();
    let h = c.header(Opcode::Getattr as u32, ROOT_ID, size_of::<abi::GetattrIn>());
    let mut v = h.as_bytes().to_vec();
    v.extend_from_slice(arg.as_bytes());
    v
}

/// Places `descs` on the client's queue and kicks; returns the head.
pub fn send_raw(c: &mut FuseClient, descs: &[RawDesc]) -> u16 {
    let q = c.queue;
    let head = c.vmm.submit_raw(q, descs);
    c.vmm.kick(q);
    head
}

/// The daemon still answers GETATTR on the root on the same queue, and the
/// bad chain `head` came back through the used ring. Returns its used length.
pub fn assert_survived(c: &mut FuseClient, head: u16) -> u32 {
    let attr = c.getattr(ROOT_ID);
    assert!(
        attr.is_ok(),
        "GETATTR on the root failed after the bad request: {attr:?}"
    );
    let q = c.queue;
    c.vmm.wait_head(q, head, RETURN_TIMEOUT).unwrap_or_else(|| {
        panic!("the malformed chain (head {head}) was never returned to the used ring")
    })
}

/// A reply (if any) to a request the daemon should refuse: nothing written,
/// or a bare error header.
pub fn assert_refused(used_len: u32, reply: &[u8]) {
    if used_len == 0 {
        return;
    }
    let (h, _) = abi::OutHeader::read_from_prefix(reply).expect("reply header");
    assert_eq!(used_len, OUT, "a refused request must get a bare header");
    assert!(h.error < 0, "request was accepted (error {})", h.error);
}

/// Sends a well-formed chain built from arbitrary request bytes, waits, and
/// checks the daemon survived. Returns the completion.
pub fn send_bytes(c: &mut FuseClient, readable: &[&[u8]], writable: &[u32]) -> Completion {
    let q = c.queue;
    let head = c.vmm.submit(q, readable, writable);
    let done = c.finish(q, head);
    assert!(
        c.getattr(ROOT_ID).is_ok(),
        "GETATTR on the root failed after the bad request"
    );
    done
}

pub fn assert_einval_or_eperm(r: Result<impl std::fmt::Debug, i32>) {
    match r {
        Err(e) => assert!(
            e == libc::EINVAL || e == libc::EPERM,
            "expected EINVAL or EPERM, got errno {e}"
        ),
        Ok(v) => panic!("bad name was accepted: {v:?}"),
    }
}
