//! Unit tests of the device layer, without a socket.
//!
//! Each test lays out split queues in guest memory with virtio-queue's
//! [`MockSplitQueue`] (the driver's side), points `Vring`s at the same
//! addresses as the vhost-user handler would on SET_VRING_ADDR, puts real
//! FUSE requests in descriptor chains and calls
//! [`FsBackend::handle_event`] the way an epoll thread does. The filesystem
//! behind the server is a [`Recorder`]: it notes which thread served each
//! request and can hold one request until the test lets it go. A request is
//! known by its tag, carried in the header's `pid` (the filesystem sees it
//! as `Context::pid`; a FORGET is known by its node id).

use std::collections::HashMap;
use std::io;
use std::mem::size_of;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use vhost_user_backend::{VhostUserBackend, VringT};
use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress, GuestMemoryAtomic, GuestMemoryMmap};
use vmm_sys_util::epoll::EventSet;
use zerocopy::{FromBytes, IntoBytes};

use super::backend::{DeviceOptions, FsBackend, MAX_QUEUE_SIZE};
use super::drain::INLINE_BATCH;
use super::request::{GuestMem, Vring};
use crate::filesystem::{Context, FileSystem, HandleId, LockRange, NodeId, SetAttr};
use crate::fuse::abi::{
    AttrOut, FileLock, ForgetIn, FsyncIn, GetattrIn, InHeader, InitIn, LkIn, Opcode, OutHeader,
    SetattrIn, SyncfsIn, KERNEL_VERSION, ROOT_ID,
};
use crate::fuse::intake::HEADER_LEN;
use crate::fuse::{Server, ServerOptions};

/// Entries of every test queue.
const QUEUE_SIZE: u16 = 256;
/// Guest memory of every test.
const MEM_SIZE: usize = 0x80_0000;
/// Queue `q`'s rings start at `q * RING_STRIDE`.
const RING_STRIDE: u64 = 0x1_0000;
/// Queue `q`'s request and reply buffers start at `BUF_BASE + q * BUF_STRIDE`.
const BUF_BASE: u64 = 0x10_0000;
const BUF_STRIDE: u64 = 0x10_0000;
/// Room for one request, and for one reply after it.
const SLOT: u64 = 0x100;
/// Writable bytes of every chain.
const REPLY_LEN: u32 = 0x100;
/// Used length of a GETATTR answered with attributes.
const ATTR_REPLY_LEN: u32 = (size_of::<OutHeader>() + size_of::<AttrOut>()) as u32;
/// Longest a test waits for something that should happen at once.
const PATIENCE: Duration = Duration::from_secs(5);

/// What the filesystem double saw of one request.
#[derive(Debug, Clone)]
struct Served {
    tag: u32,
    op: &'static str,
    thread: String,
}

#[derive(Default)]
struct Log {
    served: Vec<Served>,
    /// Tags of the requests inside the filesystem now.
    inside: Vec<u32>,
    /// The tag of the request to hold until [`Recorder::release`].
    held: Option<u32>,
}

impl Log {
    fn served(&self, tag: u32) -> Option<&Served> {
        self.served.iter().find(|s| s.tag == tag)
    }
}

/// A filesystem that records who served what, and can hold one request.
#[derive(Default)]
struct Recorder {
    log: Mutex<Log>,
    changed: Condvar,
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn serve(&self, tag: u32, op: &'static str) {
        let mut log = self.lock();
        log.inside.push(tag);
        self.changed.notify_all();
        while log.held == Some(tag) {
            log = self.changed.wait(log).unwrap_or_else(|e| e.into_inner());
        }
        log.inside.retain(|&t| t != tag);
        log.served.push(Served {
            tag,
            op,
            thread: current_thread(),
        });
        self.changed.notify_all();
    }

    /// Holds the request tagged `tag` inside the filesystem when it comes.
    fn hold(&self, tag: u32) {
        self.lock().held = Some(tag);
    }

    /// Lets the held request go.
    fn release(&self) {
        self.lock().held = None;
        self.changed.notify_all();
    }

    /// Waits until `done` holds for the log; panics after [`PATIENCE`].
    fn wait_until(&self, what: &str, done: impl Fn(&Log) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        let mut log = self.lock();
        while !done(&log) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}");
            log = self
                .changed
                .wait_timeout(log, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn tags(&self) -> Vec<u32> {
        self.lock().served.iter().map(|s| s.tag).collect()
    }

    /// The thread that served the request tagged `tag`.
    fn thread_of(&self, tag: u32) -> Option<String> {
        self.lock().served(tag).map(|s| s.thread.clone())
    }
}

impl FileSystem for Recorder {
    fn getattr(
        &self,
        ctx: &Context,
        _inode: NodeId,
        _handle: Option<HandleId>,
    ) -> io::Result<(libc::stat64, Duration)> {
        self.serve(ctx.pid, "getattr");
        // SAFETY: `stat64` is plain old data; all-zero bytes are a valid value.
        let st: libc::stat64 = unsafe { std::mem::zeroed() };
        Ok((st, Duration::ZERO))
    }

    fn setattr(
        &self,
        ctx: &Context,
        _inode: NodeId,
        _attr: &SetAttr,
        _handle: Option<HandleId>,
    ) -> io::Result<(libc::stat64, Duration)> {
        self.serve(ctx.pid, "setattr");
        // SAFETY: `stat64` is plain old data; all-zero bytes are a valid value.
        let st: libc::stat64 = unsafe { std::mem::zeroed() };
        Ok((st, Duration::ZERO))
    }

    fn forget(&self, inode: NodeId, _count: u64) {
        self.serve(u32::try_from(inode.get()).unwrap_or(u32::MAX), "forget");
    }

    fn fsync(
        &self,
        ctx: &Context,
        _inode: NodeId,
        _handle: HandleId,
        _datasync: bool,
    ) -> io::Result<()> {
        self.serve(ctx.pid, "fsync");
        Ok(())
    }

    fn syncfs(&self, ctx: &Context, _inode: NodeId) -> io::Result<()> {
        self.serve(ctx.pid, "syncfs");
        Ok(())
    }

    fn sync_inodes(&self, ctx: &Context, _files: &[NodeId], _dirs: &[NodeId]) -> io::Result<()> {
        self.serve(ctx.pid, "syncfs");
        Ok(())
    }

    fn setlk(
        &self,
        ctx: &Context,
        _inode: NodeId,
        _handle: HandleId,
        _owner: u64,
        _lock: LockRange,
        wait: bool,
        _flock: bool,
    ) -> io::Result<()> {
        self.serve(ctx.pid, if wait { "setlkw" } else { "setlk" });
        Ok(())
    }
}

/// Lets a held request go if the test fails while it is held, so that a
/// queue thread blocked in it does not keep a thread scope from ending.
struct ReleaseOnPanic<'a>(&'a Recorder);

impl Drop for ReleaseOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.release();
        }
    }
}

fn current_thread() -> String {
    thread::current().name().unwrap_or_default().to_owned()
}

/// Polls `done` until it holds; panics after [`PATIENCE`].
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// The driver's side of one queue: where its next chain goes.
#[derive(Default)]
struct Driver {
    next_desc: u16,
    next_slot: u64,
    /// Reply buffer of each chain, by head index.
    replies: HashMap<u16, u64>,
}

/// The guest: its memory, its queues and what it put in them.
struct Guest<'m> {
    mem: &'m GuestMem,
    /// The driver's view of each queue (creating one resets its rings, so
    /// they are made once). Index: queue number (0: high priority).
    mocks: Vec<MockSplitQueue<'m, GuestMem>>,
    /// The device's view of the same queues.
    vrings: Vec<Vring>,
    drivers: Vec<Mutex<Driver>>,
    unique: AtomicU64,
}

impl<'m> Guest<'m> {
    /// `queues` queues laid out in `mem`, and vrings through which the
    /// device reads them (over `atomic`, a view of `mem`), ready and
    /// enabled with EVENT_IDX.
    fn new(mem: &'m GuestMem, atomic: &GuestMemoryAtomic<GuestMem>, queues: usize) -> Self {
        let mocks: Vec<_> = (0..queues)
            .map(|q| MockSplitQueue::create(mem, ring_base(q), QUEUE_SIZE))
            .collect();
        let vrings = mocks
            .iter()
            .map(|mock| {
                let vring = Vring::new(atomic.clone(), MAX_QUEUE_SIZE as u16).unwrap();
                vring.set_queue_size(QUEUE_SIZE);
                vring
                    .set_queue_info(
                        mock.desc_table_addr().0,
                        mock.avail_addr().0,
                        mock.used_addr().0,
                    )
                    .unwrap();
                vring.set_queue_event_idx(true);
                vring.set_queue_ready(true);
                vring.set_enabled(true);
                vring
            })
            .collect();
        Guest {
            mem,
            mocks,
            vrings,
            drivers: (0..queues).map(|_| Mutex::default()).collect(),
            unique: AtomicU64::new(1),
        }
    }

    fn driver(&self, queue: usize) -> MutexGuard<'_, Driver> {
        self.drivers[queue]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `request` available on `queue` as a chain of one readable and
    /// one writable descriptor; returns the chain's head index.
    fn push_chain(&self, queue: usize, request: &[u8]) -> u16 {
        assert!(request.len() as u64 <= SLOT);
        let mut driver = self.driver(queue);
        let request_addr = BUF_BASE + queue as u64 * BUF_STRIDE + driver.next_slot * 2 * SLOT;
        let reply_addr = request_addr + SLOT;
        driver.next_slot += 1;
        self.mem
            .write_slice(request, GuestAddress(request_addr))
            .unwrap();
        let head = driver.next_desc;
        let descs = [
            SplitDescriptor::new(
                request_addr,
                request.len() as u32,
                VRING_DESC_F_NEXT as u16,
                head + 1,
            ),
            SplitDescriptor::new(reply_addr, REPLY_LEN, VRING_DESC_F_WRITE as u16, 0),
        ]
        .map(RawDescriptor::from);
        self.mocks[queue].add_desc_chains(&descs, head).unwrap();
        driver.next_desc = (head + 2) % QUEUE_SIZE;
        driver.replies.insert(head, reply_addr);
        head
    }

    /// Makes a FUSE request available on `queue`; returns its head index.
    fn push(&self, queue: usize, opcode: Opcode, nodeid: u64, tag: u32, args: &[u8]) -> u16 {
        let header = InHeader {
            len: (HEADER_LEN + args.len()) as u32,
            opcode: opcode as u32,
            unique: self.unique.fetch_add(1, Ordering::Relaxed),
            nodeid,
            pid: tag,
            ..Default::default()
        };
        self.push_chain(queue, &[header.as_bytes(), args].concat())
    }

    fn getattr(&self, queue: usize, tag: u32) -> u16 {
        self.push(
            queue,
            Opcode::Getattr,
            ROOT_ID,
            tag,
            GetattrIn::default().as_bytes(),
        )
    }

    /// The used ring of `queue`: (head index, used length) in order.
    fn used(&self, queue: usize) -> Vec<(u16, u32)> {
        let used = self.mocks[queue].used_addr();
        let at = |offset: u64| GuestAddress(used.0 + offset);
        let idx: u16 = self.mem.read_obj(at(2)).unwrap();
        (0..u64::from(idx))
            .map(|i| {
                let elem = 4 + 8 * (i % u64::from(QUEUE_SIZE));
                let id: u32 = self.mem.read_obj(at(elem)).unwrap();
                let len: u32 = self.mem.read_obj(at(elem + 4)).unwrap();
                (id as u16, len)
            })
            .collect()
    }

    /// The used length of chain `head` of `queue`, once it is used.
    fn completion(&self, queue: usize, head: u16) -> Option<u32> {
        self.used(queue)
            .into_iter()
            .find_map(|(id, len)| (id == head).then_some(len))
    }

    fn wait_completed(&self, queue: usize, heads: &[u16]) {
        wait_for("the chains in the used ring", || {
            heads.iter().all(|&h| self.completion(queue, h).is_some())
        });
    }

    /// The reply header the device wrote for chain `head` of `queue`.
    fn reply(&self, queue: usize, head: u16) -> OutHeader {
        let addr = self.driver(queue).replies[&head];
        let mut bytes = [0u8; size_of::<OutHeader>()];
        self.mem.read_slice(&mut bytes, GuestAddress(addr)).unwrap();
        OutHeader::read_from_bytes(&bytes).unwrap()
    }
}

fn ring_base(queue: usize) -> GuestAddress {
    GuestAddress(queue as u64 * RING_STRIDE)
}

/// A device over a [`Recorder`] and the guest driving it.
struct Rig<'m> {
    guest: Guest<'m>,
    server: Arc<Server<Recorder>>,
    backend: FsBackend<Recorder>,
}

impl<'m> Deref for Rig<'m> {
    type Target = Guest<'m>;

    fn deref(&self) -> &Guest<'m> {
        &self.guest
    }
}

/// `queues` request queues on `threads` queue threads; no polling, and a
/// hand-off time no test reaches unless it sets its own.
fn options(queues: usize, threads: usize) -> DeviceOptions {
    DeviceOptions {
        num_request_queues: queues,
        tag: None,
        workers_per_queue: 4,
        queue_threads: threads,
        poll: Duration::ZERO,
        handoff: Duration::from_secs(60),
    }
}

/// Guest memory for one test.
fn memory() -> GuestMem {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_SIZE)]).unwrap()
}

impl<'m> Rig<'m> {
    fn new(mem: &'m GuestMem, options: DeviceOptions) -> Self {
        let atomic = GuestMemoryAtomic::new(mem.clone());
        let guest = Guest::new(mem, &atomic, options.num_request_queues + 1);
        let server_options = ServerOptions {
            epoch_shards: options.num_request_queues,
            ..Default::default()
        };
        let server = Arc::new(Server::new(Recorder::default(), server_options));
        let backend = FsBackend::new(Arc::clone(&server), options, atomic).unwrap();
        backend.set_event_idx(true);
        Rig {
            guest,
            server,
            backend,
        }
    }

    fn fs(&self) -> &Recorder {
        self.server.filesystem()
    }

    /// Tells the device that `queue` was kicked, on the calling thread, as
    /// the epoll thread serving `queue` would.
    fn kick(&self, queue: usize) -> io::Result<()> {
        self.epoll().kick(queue)
    }

    /// What an epoll thread has (the mock queues stay on the test's thread).
    fn epoll(&self) -> Epoll<'_> {
        Epoll {
            backend: &self.backend,
            vrings: &self.vrings,
        }
    }

    /// Negotiates the FUSE session through queue 1.
    fn init(&self) {
        let init = InitIn {
            major: KERNEL_VERSION,
            minor: 41,
            ..Default::default()
        };
        let head = self.push(1, Opcode::Init, 0, 0, init.as_bytes());
        self.kick(1).unwrap();
        self.wait_completed(1, &[head]);
        assert_eq!(self.reply(1, head).error, 0);
    }
}

/// The device and its vrings, as the epoll threads see them.
struct Epoll<'a> {
    backend: &'a FsBackend<Recorder>,
    /// Index: queue number.
    vrings: &'a [Vring],
}

impl Epoll<'_> {
    /// Calls `handle_event` for a kick of `queue`, with the thread id, device
    /// event and vrings of the epoll thread that serves `queue`.
    fn kick(&self, queue: usize) -> io::Result<()> {
        let layout = self.backend.layout();
        let (thread, event) = (0..layout.threads())
            .find_map(|t| {
                (0..u16::MAX)
                    .map_while(|e| layout.queue(t, e))
                    .position(|q| q == queue)
                    .map(|e| (t, e))
            })
            .unwrap();
        let vrings: Vec<Vring> = (0..u16::MAX)
            .map_while(|e| layout.queue(thread, e))
            .map(|q| self.vrings[q].clone())
            .collect();
        self.backend
            .handle_event(event as u16, EventSet::IN, &vrings, thread)
    }
}

fn is_worker_of(queue: usize, thread: Option<String>) -> bool {
    thread.is_some_and(|t| t.starts_with(&format!("fs-q{queue}-w")))
}

#[test]
fn a_short_pass_is_served_in_order_on_the_queue_thread_before_the_kick_returns() {
    let mem = memory();
    let rig = Rig::new(&mem, options(1, 1));
    rig.init();
    let heads: Vec<u16> = (1..=5).map(|tag| rig.getattr(1, tag)).collect();

    rig.kick(1).unwrap();

    assert_eq!(rig.fs().tags(), vec![1, 2, 3, 4, 5]);
    for tag in 1..=5 {
        assert_eq!(rig.fs().thread_of(tag), Some(current_thread()));
    }
    for head in heads {
        assert_eq!(rig.completion(1, head), Some(ATTR_REPLY_LEN));
        assert_eq!(rig.reply(1, head).error, 0);
    }
}

#[test]
fn a_pass_longer_than_the_inline_batch_is_served_by_workers() {
    let mem = memory();
    let rig = Rig::new(&mem, options(1, 1));
    rig.init();
    let tags: Vec<u32> = (100..).take(INLINE_BATCH + 1).collect();
    let heads: Vec<u16> = tags.iter().map(|&tag| rig.getattr(1, tag)).collect();

    rig.kick(1).unwrap();

    rig.fs()
        .wait_until("every request served", |log| log.served.len() == tags.len());
    for &tag in &tags {
        assert!(is_worker_of(1, rig.fs().thread_of(tag)), "tag {tag}");
    }
    rig.wait_completed(1, &heads);
}

/// A SETLK(W) argument: a write lock on the whole file.
fn write_lock_everything() -> LkIn {
    LkIn {
        lk: FileLock {
            type_: libc::F_WRLCK as u32,
            end: u64::MAX,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn setlkw_goes_to_a_worker_even_alone() {
    let mem = memory();
    let rig = Rig::new(&mem, options(1, 1));
    rig.init();
    let lock = write_lock_everything();
    let head = rig.push(1, Opcode::Setlkw, ROOT_ID, 3, lock.as_bytes());

    rig.kick(1).unwrap();

    rig.fs().wait_until("setlkw", |log| log.served(3).is_some());
    assert!(is_worker_of(1, rig.fs().thread_of(3)));
    rig.wait_completed(1, &[head]);
    assert_eq!(rig.reply(1, head).error, 0);
}

/// FSYNC and SYNCFS, with their arguments and the name the recorder logs.
fn flush_requests() -> [(Opcode, &'static str, Vec<u8>); 2] {
    [
        (
            Opcode::Fsync,
            "fsync",
            FsyncIn::default().as_bytes().to_vec(),
        ),
        (
            Opcode::Syncfs,
            "syncfs",
            SyncfsIn::default().as_bytes().to_vec(),
        ),
    ]
}

#[test]
fn a_flush_with_nothing_earlier_in_flight_is_served_by_the_queue_thread() {
    for (tag, (opcode, op, args)) in (2..).zip(flush_requests()) {
        let mem = memory();
        let rig = Rig::new(&mem, options(1, 1));
        rig.init();
        let head = rig.push(1, opcode, ROOT_ID, tag, &args);

        rig.kick(1).unwrap();

        rig.wait_completed(1, &[head]);
        assert_eq!(rig.reply(1, head).error, 0, "{op}");
        assert_eq!(rig.fs().thread_of(tag), Some(current_thread()), "{op}");
    }
}

#[test]
fn a_flush_behind_a_change_in_flight_goes_to_a_worker() {
    for (opcode, op, args) in flush_requests() {
        let mem = memory();
        // `options` sets a hand-off time of a minute: no stand-in during the
        // test, the queue thread stays held.
        let rig = Rig::new(&mem, options(1, 1));
        rig.init();
        rig.fs().hold(5);
        let setattr = rig.push(
            1,
            Opcode::Setattr,
            ROOT_ID,
            5,
            SetattrIn::default().as_bytes(),
        );
        let flush = rig.push(1, opcode, ROOT_ID, 6, &args);
        let epoll = rig.epoll();
        thread::scope(|s| {
            let _unblock = ReleaseOnPanic(rig.fs());
            // The pass admits both, serves SETATTR itself (held) and hands
            // the flush, which must wait for it, to a worker.
            let queue_thread = s.spawn(move || epoll.kick(1));
            rig.fs().wait_until("SETATTR held", |log| log.inside == [5]);
            thread::sleep(Duration::from_millis(50));
            assert!(
                rig.fs().lock().served(6).is_none(),
                "{op} served before the SETATTR it waits for"
            );
            rig.fs().release();
            rig.fs().wait_until(op, |log| log.served(6).is_some());
            queue_thread.join().unwrap().unwrap();
        });
        rig.wait_completed(1, &[setattr, flush]);
        assert!(is_worker_of(1, rig.fs().thread_of(6)), "{op}");
    }
}

#[test]
fn a_kick_on_one_queue_also_serves_the_other_queues_of_its_thread() {
    let mem = memory();
    let rig = Rig::new(&mem, options(2, 1));
    rig.init();
    let waiting = rig.getattr(2, 2);
    let kicked = rig.getattr(1, 1);

    rig.kick(1).unwrap();

    assert_eq!(rig.completion(2, waiting), Some(ATTR_REPLY_LEN));
    assert_eq!(rig.completion(1, kicked), Some(ATTR_REPLY_LEN));
    assert_eq!(rig.fs().thread_of(2), Some(current_thread()));
}

#[test]
fn a_request_blocked_on_the_queue_thread_does_not_hold_its_queues() {
    let mem = memory();
    let rig = Rig::new(
        &mem,
        DeviceOptions {
            handoff: Duration::from_millis(1),
            ..options(2, 1)
        },
    );
    rig.init();
    rig.fs().hold(100);
    let blocked = rig.getattr(1, 100);

    let epoll = rig.epoll();
    thread::scope(|s| {
        let _unblock = ReleaseOnPanic(rig.fs());
        let queue_thread = thread::Builder::new()
            .name("test-queue".into())
            .spawn_scoped(s, move || epoll.kick(1))
            .unwrap();
        rig.fs()
            .wait_until("GETATTR 100 in the filesystem", |log| log.inside == [100]);
        let placed = Instant::now();
        let same_queue = rig.getattr(1, 101);
        let other_queue = rig.getattr(2, 102);

        rig.fs().wait_until("the requests behind it", |log| {
            log.served(101).is_some() && log.served(102).is_some()
        });
        let waited = placed.elapsed();
        assert!(waited < Duration::from_secs(1), "waited {waited:?}");
        assert_eq!(rig.fs().lock().inside, [100]);
        assert!(is_worker_of(1, rig.fs().thread_of(101)));
        assert!(is_worker_of(2, rig.fs().thread_of(102)));
        rig.wait_completed(1, &[same_queue]);
        rig.wait_completed(2, &[other_queue]);
        assert_eq!(rig.completion(1, blocked), None);

        rig.fs().release();
        queue_thread.join().unwrap().unwrap();
    });

    assert_eq!(rig.completion(1, blocked), Some(ATTR_REPLY_LEN));
    assert_eq!(rig.fs().thread_of(100).as_deref(), Some("test-queue"));
    let thread = &rig.backend.core().threads[1];
    wait_for("the stand-in to end", || !thread.is_stood_in());
    // A thread that needed a stand-in hands requests to workers for a while.
    rig.getattr(1, 104);
    rig.kick(1).unwrap();
    wait_for("the request after the stand-in", || {
        rig.fs().thread_of(104).is_some()
    });
    assert!(is_worker_of(1, rig.fs().thread_of(104)));
    std::thread::sleep(Duration::from_millis(1) * super::drain::INLINE_PAUSE_HANDOFFS);
    rig.getattr(1, 103);
    rig.kick(1).unwrap();
    assert_eq!(rig.fs().thread_of(103), Some(current_thread()));
}

#[test]
fn the_high_priority_queue_executes_forget_and_refuses_anything_else() {
    let mem = memory();
    let rig = Rig::new(&mem, options(1, 1));
    rig.init();
    let forget = ForgetIn { nlookup: 1 };
    let forgotten = rig.push(0, Opcode::Forget, 7, 0, forget.as_bytes());
    let refused = rig.getattr(0, 9);

    rig.kick(0).unwrap();

    assert_eq!(rig.completion(0, forgotten), Some(0));
    assert_eq!(rig.reply(0, refused).error, -libc::EINVAL);
    assert_eq!(rig.fs().tags(), vec![7]);
    assert_eq!(rig.fs().lock().served[0].op, "forget");
}

#[test]
fn a_chain_without_a_header_is_returned_empty_and_the_queue_keeps_serving() {
    let mem = memory();
    let rig = Rig::new(&mem, options(1, 1));
    rig.init();
    let headless = rig.push_chain(1, &[0u8; 8]);
    let after = rig.getattr(1, 5);

    rig.kick(1).unwrap();

    assert_eq!(rig.completion(1, headless), Some(0));
    assert_eq!(rig.completion(1, after), Some(ATTR_REPLY_LEN));
    assert_eq!(rig.fs().tags(), vec![5]);
}

#[test]
fn a_request_added_while_the_thread_polls_is_served_without_a_kick() {
    let mem = memory();
    let rig = Rig::new(
        &mem,
        DeviceOptions {
            poll: Duration::from_millis(500),
            ..options(1, 1)
        },
    );
    rig.init();
    rig.getattr(1, 1);

    let epoll = rig.epoll();
    thread::scope(|s| {
        let queue_thread = thread::Builder::new()
            .name("test-queue".into())
            .spawn_scoped(s, move || epoll.kick(1))
            .unwrap();
        rig.fs()
            .wait_until("the first request", |log| log.served(1).is_some());
        let unkicked = rig.getattr(1, 2);

        rig.fs()
            .wait_until("the second request", |log| log.served(2).is_some());
        assert_eq!(rig.fs().thread_of(2).as_deref(), Some("test-queue"));
        queue_thread.join().unwrap().unwrap();
        assert_eq!(rig.completion(1, unkicked), Some(ATTR_REPLY_LEN));
    });
}

#[test]
fn dropping_the_device_ends_its_watchdog_and_workers_busy_ones_after_their_job() {
    let mem = memory();
    let rig = Rig::new(&mem, options(2, 2));
    rig.init();
    // Workers for queue 1, parked once they are done; one for queue 2,
    // held in a SETLKW.
    let heads: Vec<u16> = (10..)
        .take(INLINE_BATCH + 1)
        .map(|tag| rig.getattr(1, tag))
        .collect();
    rig.kick(1).unwrap();
    rig.wait_completed(1, &heads);
    rig.fs().hold(99);
    let lock = write_lock_everything();
    let setlkw = rig.push(2, Opcode::Setlkw, ROOT_ID, 99, lock.as_bytes());
    let workers: Vec<_> = rig
        .backend
        .core()
        .pools
        .iter()
        .map(|pool| pool.worker_count())
        .collect();
    let epoll = rig.epoll();
    thread::scope(|s| {
        // Kicked from a thread of its own: if the SETLKW ran on the queue
        // thread, it would block the test.
        let _unblock = ReleaseOnPanic(rig.fs());
        s.spawn(move || epoll.kick(2).unwrap());
        rig.fs()
            .wait_until("SETLKW 99 in the filesystem", |log| log.inside == [99]);
        assert!(workers[0].running() > 0);
        assert_eq!(workers[1].running(), 1);
    });
    let core = Arc::downgrade(rig.backend.core());
    let Rig {
        guest,
        server,
        backend,
    } = rig;

    drop(backend);

    wait_for("the watchdog to let the core go", || {
        core.strong_count() == 0
    });
    wait_for("the parked workers to end", || workers[0].running() == 0);
    assert_eq!(workers[1].running(), 1);
    server.filesystem().release();
    wait_for("the busy worker to end", || workers[1].running() == 0);
    assert_eq!(
        guest.completion(2, setlkw),
        Some(size_of::<OutHeader>() as u32)
    );
}
