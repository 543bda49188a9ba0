//! A hostile or buggy guest, at the transport level: descriptors outside
//! guest memory, loops, bad indices, misordered or nested indirect chains.
//! After each one the daemon must give the chain back (used ring) and still
//! answer GETATTR on the root on the same queue.

mod common;

use common::malformed::*;
use common::vmm::{RawDesc, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT};
use epochfsd::fuse::abi::{self, ROOT_ID};
use zerocopy::FromBytes;

// ---- addresses ----

#[test]
fn readable_descriptor_outside_guest_memory_is_refused() {
    let (_d, mut c) = start();
    let out = c.vmm.alloc(4096).0;
    let hole = c.vmm.unmapped_addr();

    let head = send_raw(&mut c, &linked(vec![rd(hole, 56), wr(out, 4096)]));

    let used = assert_survived(&mut c, head);
    assert_refused(used, &c.vmm.read_guest(vm_memory::GuestAddress(out), 16));
}

#[test]
fn writable_descriptor_outside_guest_memory_is_refused() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let hole = c.vmm.unmapped_addr();

    let head = send_raw(
        &mut c,
        &linked(vec![rd(a, req.len() as u32), wr(hole, 4096)]),
    );

    let used = assert_survived(&mut c, head);
    assert_eq!(used, 0, "nothing can have been written to unmapped memory");
}

#[test]
fn descriptor_straddling_end_of_memory_region_is_refused() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let region_end = c.vmm.regions()[0].1;
    let a = region_end - 20;
    c.vmm.write_guest(vm_memory::GuestAddress(a), &req[..20]);
    let out = c.vmm.alloc(4096).0;

    let head = send_raw(
        &mut c,
        &linked(vec![rd(a, req.len() as u32), wr(out, 4096)]),
    );

    let used = assert_survived(&mut c, head);
    assert_refused(used, &c.vmm.read_guest(vm_memory::GuestAddress(out), 16));
}

#[test]
fn writable_length_beyond_end_of_memory_is_refused() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let out = c.vmm.alloc(4096).0;

    let head = send_raw(
        &mut c,
        &linked(vec![rd(a, req.len() as u32), wr(out, 0xffff_f000)]),
    );

    assert_survived(&mut c, head);
}

#[test]
fn chain_whose_lengths_overflow_u32_is_refused() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let out = c.vmm.alloc(4096).0;

    let head = send_raw(
        &mut c,
        &linked(vec![
            rd(a, req.len() as u32),
            rd(a, u32::MAX),
            rd(a, u32::MAX),
            wr(out, 4096),
        ]),
    );

    assert_survived(&mut c, head);
}

// ---- chain structure ----

#[test]
fn descriptor_loop_is_refused() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let mut descs = vec![rd(a, HDR), rd(a + u64::from(HDR), 16)];
    descs[0].flags = VRING_DESC_F_NEXT;
    descs[0].next = 1;
    descs[1].flags = VRING_DESC_F_NEXT;
    descs[1].next = 0;

    let head = send_raw(&mut c, &descs);

    assert_survived(&mut c, head);
}

#[test]
fn writable_descriptor_pointing_at_itself_is_refused() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let out = c.vmm.alloc(4096).0;
    let mut descs = linked(vec![rd(a, req.len() as u32), wr(out, 4096)]);
    descs[1].flags |= VRING_DESC_F_NEXT;
    descs[1].next = 1;

    let head = send_raw(&mut c, &descs);

    assert_survived(&mut c, head);
}

#[test]
fn next_index_beyond_queue_size_is_refused() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let mut d = rd(a, req.len() as u32);
    d.flags = VRING_DESC_F_NEXT;
    d.next = 5000;

    let head = send_raw(&mut c, &[d]);

    assert_survived(&mut c, head);
}

#[test]
fn readable_descriptor_after_writable_one_is_refused() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let out = c.vmm.alloc(4096).0;

    let head = send_raw(
        &mut c,
        &linked(vec![rd(a, HDR), wr(out, 4096), rd(a + u64::from(HDR), 16)]),
    );

    let used = assert_survived(&mut c, head);
    assert_refused(used, &c.vmm.read_guest(vm_memory::GuestAddress(out), 16));
}

#[test]
fn header_split_over_descriptors_with_empty_ones_is_served() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let out = c.vmm.alloc(4096).0;

    let head = send_raw(
        &mut c,
        &linked(vec![
            rd(a, 13),
            rd(a + 13, 0),
            rd(a + 13, 30),
            rd(a + 43, req.len() as u32 - 43),
            wr(out, 7),
            wr(out + 7, 0),
            wr(out + 7, 4089),
        ]),
    );

    let used = assert_survived(&mut c, head);
    let reply = c.vmm.read_guest(vm_memory::GuestAddress(out), 4096);
    let (h, rest) = abi::OutHeader::read_from_prefix(&reply).unwrap();
    assert_eq!(h.error, 0, "a valid but oddly split GETATTR was refused");
    assert_eq!(
        used as usize,
        size_of::<abi::OutHeader>() + size_of::<abi::AttrOut>()
    );
    let (attr, _) = abi::AttrOut::read_from_prefix(rest).unwrap();
    assert_eq!(attr.attr.mode & libc::S_IFMT, libc::S_IFDIR);
}

// ---- indirect tables ----

#[test]
fn indirect_table_outside_guest_memory_is_refused() {
    let (_d, mut c) = start();
    let hole = c.vmm.unmapped_addr();
    let d = RawDesc {
        addr: hole,
        len: 32,
        flags: VRING_DESC_F_INDIRECT,
        next: 0,
    };

    let head = send_raw(&mut c, &[d]);

    assert_survived(&mut c, head);
}

#[test]
fn indirect_table_with_partial_descriptor_length_is_refused() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let out = c.vmm.alloc(4096).0;
    let table = c
        .vmm
        .write_desc_table(&linked(vec![rd(a, req.len() as u32), wr(out, 4096)]));
    let d = RawDesc {
        addr: table.0,
        len: 20,
        flags: VRING_DESC_F_INDIRECT,
        next: 0,
    };

    let head = send_raw(&mut c, &[d]);

    assert_survived(&mut c, head);
}

#[test]
fn nested_indirect_table_is_refused() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let out = c.vmm.alloc(4096).0;
    let inner = c
        .vmm
        .write_desc_table(&linked(vec![rd(a, req.len() as u32), wr(out, 4096)]));
    let outer = c.vmm.write_desc_table(&[RawDesc {
        addr: inner.0,
        len: 32,
        flags: VRING_DESC_F_INDIRECT,
        next: 0,
    }]);
    let d = RawDesc {
        addr: outer.0,
        len: 16,
        flags: VRING_DESC_F_INDIRECT,
        next: 0,
    };

    let head = send_raw(&mut c, &[d]);

    assert_survived(&mut c, head);
}

#[test]
fn indirect_table_with_loop_is_refused() {
    let (_d, mut c) = start();
    let req = getattr_bytes(&mut c);
    let a = put(&mut c, &req);
    let mut inner = linked(vec![rd(a, HDR), rd(a + u64::from(HDR), 16)]);
    inner[1].flags |= VRING_DESC_F_NEXT;
    inner[1].next = 0;
    let table = c.vmm.write_desc_table(&inner);
    let d = RawDesc {
        addr: table.0,
        len: 32,
        flags: VRING_DESC_F_INDIRECT,
        next: 0,
    };

    let head = send_raw(&mut c, &[d]);

    assert_survived(&mut c, head);
}

// ---- sequences ----

#[test]
fn daemon_serves_normally_after_a_burst_of_bad_chains() {
    let (_d, mut c) = start();
    let hole = c.vmm.unmapped_addr();
    let mut heads = Vec::new();
    for i in 0..100u64 {
        let d = if i % 2 == 0 {
            rd(hole + i * 64, 56)
        } else {
            RawDesc {
                addr: hole,
                len: 32,
                flags: VRING_DESC_F_INDIRECT,
                next: 0,
            }
        };
        heads.push(send_raw(&mut c, &[d]));
    }

    for _ in 0..10 {
        assert!(c.getattr(ROOT_ID).is_ok());
    }
    let q = c.queue;
    let returned = heads
        .iter()
        .filter(|&&h| c.vmm.wait_head(q, h, RETURN_TIMEOUT).is_some())
        .count();
    assert_eq!(returned, 100, "some bad chains never came back");
}
