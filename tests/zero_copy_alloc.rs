//! Large READ and WRITE requests move data between guest memory and the host
//! file without a bounce buffer: while a 1 MiB request is served by the
//! in-process daemon, no heap allocation of 512 KiB or more happens.
//!
//! The counting allocator sees every allocation of this test process (the
//! daemon's threads and the harness alike), so the harness's part between
//! reset and read-out is kept small: data is prepared before, the reply is
//! copied out after.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use common::daemon::{DaemonThread, TestDirs};
use common::fuse_client::{FuseClient, GUEST_INIT_FLAGS, GUEST_MAX_READAHEAD};
use common::vmm::{TestVmm, VmmOptions};
use epochfsd::fuse::abi::{self, init_flags, Opcode, ROOT_ID};
use zerocopy::{FromBytes, IntoBytes};

const MIB: usize = 1 << 20;
const BIG: usize = 256 * 1024;
const LIMIT: usize = 512 * 1024;

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
static BIG_COUNT: AtomicUsize = AtomicUsize::new(0);

fn record(size: usize) {
    LARGEST.fetch_max(size, Ordering::Relaxed);
    if size >= BIG {
        BIG_COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged and only adds bookkeeping in atomics, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Tests in this binary share the counters: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn reset() {
    LARGEST.store(0, Ordering::SeqCst);
    BIG_COUNT.store(0, Ordering::SeqCst);
}

fn read_counters() -> (usize, usize) {
    (
        LARGEST.load(Ordering::SeqCst),
        BIG_COUNT.load(Ordering::SeqCst),
    )
}

/// An in-process daemon and a client that negotiated MAX_PAGES and 1 MiB
/// requests, with `f` created and open read-write.
fn setup() -> (DaemonThread, FuseClient, u64, u64) {
    let daemon = DaemonThread::spawn(TestDirs::new(), 1, &[]);
    let vmm = TestVmm::connect(daemon.socket(), 2, VmmOptions::default());
    let mut c = FuseClient::new(vmm);
    let init = c
        .init_with(GUEST_INIT_FLAGS, GUEST_MAX_READAHEAD)
        .expect("INIT");
    let flags = u64::from(init.flags) | (u64::from(init.flags2) << 32);
    assert_ne!(flags & init_flags::MAX_PAGES, 0, "MAX_PAGES refused");
    assert!(
        init.max_write as usize >= MIB,
        "max_write {}",
        init.max_write
    );
    assert!(init.max_pages >= 256, "max_pages {}", init.max_pages);
    let (e, o) = c
        .create(ROOT_ID, b"f", libc::O_RDWR as u32, 0o644)
        .expect("CREATE");
    (daemon, c, e.nodeid, o.fh)
}

/// Disconnects; a clean stop is `vhost_user.rs`'s business, so the daemon
/// thread gets a moment and is otherwise left behind.
fn finish(daemon: DaemonThread, c: FuseClient) {
    drop(c);
    let _ = daemon.join(Duration::from_secs(2));
}

#[test]
fn one_mib_write_allocates_no_large_buffer() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (daemon, mut c, nodeid, fh) = setup();
    let data: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    let arg = abi::WriteIn {
        fh,
        offset: 0,
        size: MIB as u32,
        ..Default::default()
    };
    let mut args: Vec<&[u8]> = vec![arg.as_bytes()];
    args.extend(data.chunks(4096));
    let writable = [16, size_of::<abi::WriteOut>() as u32];

    reset();
    let p = c.start_request(1, Opcode::Write as u32, nodeid, &args, &writable);
    let used = c.wait_pending(&p);
    let (largest, big) = read_counters();
    eprintln!("largest allocation {largest} bytes, {big} of >= {BIG} bytes");

    let (out, body) = c.finish_pending(p, used);
    assert_eq!(out.error, 0, "WRITE failed");
    let (w, _) = abi::WriteOut::read_from_prefix(&body).unwrap();
    assert_eq!(w.size as usize, MIB);
    assert!(
        largest < LIMIT,
        "a {largest}-byte allocation happened while serving a 1 MiB WRITE \
         ({big} allocations >= {BIG} bytes)"
    );
    assert_eq!(fs::read(daemon.share().join("f")).unwrap(), data);
    finish(daemon, c);
}

#[test]
fn one_mib_read_allocates_no_large_buffer() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (daemon, mut c, nodeid, fh) = setup();
    let data: Vec<u8> = (0..MIB).map(|i| (i % 253) as u8).collect();
    fs::write(daemon.share().join("f"), &data).unwrap();
    let arg = abi::ReadIn {
        fh,
        offset: 0,
        size: MIB as u32,
        ..Default::default()
    };
    let mut writable = vec![16u32];
    writable.extend(std::iter::repeat_n(4096u32, MIB / 4096));

    reset();
    let p = c.start_request(1, Opcode::Read as u32, nodeid, &[arg.as_bytes()], &writable);
    let used = c.wait_pending(&p);
    let (largest, big) = read_counters();
    eprintln!("largest allocation {largest} bytes, {big} of >= {BIG} bytes");

    let (out, body) = c.finish_pending(p, used);
    assert_eq!(out.error, 0, "READ failed");
    assert!(body == data, "READ returned different bytes");
    assert!(
        largest < LIMIT,
        "a {largest}-byte allocation happened while serving a 1 MiB READ \
         ({big} allocations >= {BIG} bytes)"
    );
    finish(daemon, c);
}

#[test]
fn one_mib_write_in_one_descriptor_allocates_no_large_buffer() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (daemon, mut c, nodeid, fh) = setup();
    let data: Vec<u8> = (0..MIB).map(|i| (i % 241) as u8).collect();
    let arg = abi::WriteIn {
        fh,
        offset: 0,
        size: MIB as u32,
        ..Default::default()
    };
    let writable = [16, size_of::<abi::WriteOut>() as u32];

    reset();
    let p = c.start_request(
        1,
        Opcode::Write as u32,
        nodeid,
        &[arg.as_bytes(), &data],
        &writable,
    );
    let used = c.wait_pending(&p);
    let (largest, big) = read_counters();
    eprintln!("largest allocation {largest} bytes, {big} of >= {BIG} bytes");

    let (out, _) = c.finish_pending(p, used);
    assert_eq!(out.error, 0, "WRITE failed");
    assert!(
        largest < LIMIT,
        "a {largest}-byte allocation happened while serving a 1 MiB WRITE \
         ({big} allocations >= {BIG} bytes)"
    );
    assert_eq!(fs::read(daemon.share().join("f")).unwrap(), data);
    finish(daemon, c);
}
