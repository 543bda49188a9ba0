//! Dirty-page logging for live migration (VHOST_F_LOG_ALL with
//! VHOST_USER_PROTOCOL_F_LOG_SHMFD): while the VMM copies guest RAM, every
//! page the daemon writes (READ payloads, reply headers, the used ring) is
//! marked in the shared log, and nothing else; with logging off nothing
//! is marked.

mod common;

use std::collections::BTreeSet;
use std::fs;

use common::dirty_log::DirtyLog;
use common::fuse_client::FuseClient;
use epochfsd::fuse::abi::{self, Opcode, ROOT_ID};
use zerocopy::IntoBytes;

const PAGE: u64 = 4096;
const PAYLOAD: u32 = 3 * 4096;

fn pages(start: u64, len: u64) -> impl Iterator<Item = u64> {
    (start / PAGE)..=((start + len - 1) / PAGE)
}

/// A client with `file` (PAYLOAD bytes) looked up and opened.
fn open_file() -> (common::daemon::DaemonProcess, FuseClient, u64, u64) {
    let (d, mut c) = common::start(1, &[]);
    fs::write(d.share().join("file"), vec![7u8; PAYLOAD as usize]).unwrap();
    let node = c.lookup(ROOT_ID, b"file").unwrap().nodeid;
    let fh = c.open(node, libc::O_RDWR as u32).unwrap().fh;
    (d, c, node, fh)
}

/// READs the whole file into a fresh buffer; returns the pages of the
/// chain's writable buffers (reply header and payload).
fn read_whole_file(c: &mut FuseClient, node: u64, fh: u64) -> BTreeSet<u64> {
    let arg = abi::ReadIn {
        fh,
        offset: 0,
        size: PAYLOAD,
        ..Default::default()
    };
    let p = c.start_request(
        1,
        Opcode::Read as u32,
        node,
        &[arg.as_bytes()],
        &[16, PAYLOAD],
    );
    let used = c.wait_pending(&p);
    assert_eq!(used, 16 + PAYLOAD, "the whole file was read");
    settle();
    c.vmm
        .writable_buffers(1, p.head)
        .into_iter()
        .flat_map(|(a, l)| pages(a, u64::from(l)))
        .collect()
}

fn used_ring_pages(c: &FuseClient) -> BTreeSet<u64> {
    let (start, end) = c.vmm.used_ring(1);
    pages(start, end - start).collect()
}

/// Waits until the daemon is idle: it marks the used ring right after it
/// wrote it (after the guest may have seen the entry), and after a request
/// its queue thread polls for a moment, then re-enables notifications,
/// which writes the used ring again.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(100));
}

/// Clears the log once the daemon is idle.
fn clear(log: &DirtyLog) {
    settle();
    log.clear();
    assert!(log.dirty_pages().is_empty());
}

#[test]
fn dirty_logging_marks_the_read_payload_reply_and_used_ring_pages_and_nothing_else() {
    let (_d, mut c, node, fh) = open_file();
    let log = DirtyLog::start(&mut c.vmm);
    clear(&log);

    let reply_pages = read_whole_file(&mut c, node, fh);

    let dirty = log.dirty_pages();
    let used = used_ring_pages(&c);
    let missing: Vec<_> = reply_pages.difference(&dirty).collect();
    assert!(missing.is_empty(), "reply pages not marked: {missing:?}");
    let (used_start, _) = c.vmm.used_ring(1);
    assert!(
        dirty.contains(&(used_start / PAGE)),
        "used ring index page not marked"
    );
    let stray: Vec<_> = dirty
        .iter()
        .filter(|p| !reply_pages.contains(p) && !used.contains(p))
        .collect();
    assert!(
        stray.is_empty(),
        "pages the daemon did not write: {stray:?}"
    );
    assert_eq!(
        reply_pages.len(),
        3 + 1,
        "three payload pages and the header's"
    );
}

#[test]
fn a_write_request_marks_its_reply_but_not_its_payload() {
    let (_d, mut c, node, fh) = open_file();
    let log = DirtyLog::start(&mut c.vmm);
    clear(&log);
    let data = vec![1u8; PAYLOAD as usize];
    let arg = abi::WriteIn {
        fh,
        offset: 0,
        size: PAYLOAD,
        ..Default::default()
    };
    let p = c.start_request(
        1,
        Opcode::Write as u32,
        node,
        &[arg.as_bytes(), &data],
        &[16, 8],
    );
    c.wait_pending(&p);
    settle();
    let reply: BTreeSet<u64> = c
        .vmm
        .writable_buffers(1, p.head)
        .into_iter()
        .flat_map(|(a, l)| pages(a, u64::from(l)))
        .collect();

    let dirty = log.dirty_pages();
    let used = used_ring_pages(&c);
    assert!(reply.is_subset(&dirty), "reply not marked");
    let stray: Vec<_> = dirty
        .iter()
        .filter(|p| !reply.contains(p) && !used.contains(p))
        .collect();
    assert!(
        stray.is_empty(),
        "the payload the daemon only read was marked: {stray:?}"
    );
}

#[test]
fn with_logging_off_nothing_is_marked() {
    let (_d, mut c, node, fh) = open_file();
    let log = DirtyLog::start(&mut c.vmm);
    DirtyLog::stop(&mut c.vmm);
    clear(&log);

    let reply_pages = read_whole_file(&mut c, node, fh);

    let dirty = log.dirty_pages();
    assert_eq!(reply_pages.len(), 4, "the READ went through");
    assert!(dirty.is_empty(), "marked with logging off: {dirty:?}");
}
