//! `TestVmm`: a minimal VMM that drives the daemon over vhost-user.
//!
//! It owns memfd-backed guest memory (mapped in this process too, so tests
//! read and write it), negotiates features with the daemon the way QEMU does,
//! lays out split virtqueues in guest memory and offers helpers to place
//! descriptor chains on them and to collect their completions.
//!
//! Guest physical layout (defaults): region 0 at GPA 0, region 1 (optional) at
//! 4 GiB, each `region_size` bytes, one memfd behind both. Region 0 starts
//! with the rings; everything else is handed out by a wrapping bump allocator
//! that refuses to reuse memory still owned by an in-flight chain.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use vhost::vhost_user::message::{VhostUserHeaderFlag, VhostUserProtocolFeatures};
use vhost::vhost_user::{Frontend, VhostUserFrontend};
use vhost::{VhostBackend, VhostUserMemoryRegionInfo, VringConfigData};
use vm_memory::{
    Bytes, FileOffset, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion,
};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// Descriptor continues through `next`.
pub const VRING_DESC_F_NEXT: u16 = 1;
/// Buffer is device-writable.
pub const VRING_DESC_F_WRITE: u16 = 2;
/// Buffer holds an indirect descriptor table.
pub const VRING_DESC_F_INDIRECT: u16 = 4;

/// virtio feature bits the harness knows about.
pub const VIRTIO_RING_F_INDIRECT_DESC: u64 = 1 << 28;
pub const VIRTIO_RING_F_EVENT_IDX: u64 = 1 << 29;
pub const VHOST_USER_F_PROTOCOL_FEATURES: u64 = 1 << 30;
pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;
/// The VMM logs dirty pages (a migration is under way).
pub const VHOST_F_LOG_ALL: u64 = 1 << 26;

/// A dirty-page log handed to the daemon with SET_LOG_BASE: bit N of the
/// memfd stands for guest page N (4 KiB).
pub struct DirtyLog {
    file: File,
    size: u64,
}

impl DirtyLog {
    /// Guest page numbers whose bit is set.
    pub fn dirty_pages(&self) -> std::collections::BTreeSet<u64> {
        use std::os::unix::fs::FileExt;
        let mut bytes = vec![0u8; self.size as usize];
        self.file
            .read_exact_at(&mut bytes, 0)
            .expect("read the log");
        let mut pages = std::collections::BTreeSet::new();
        for (i, byte) in bytes.iter().enumerate() {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    pages.insert(i as u64 * 8 + bit);
                }
            }
        }
        pages
    }

    /// Clears every bit, as the VMM does after it copied the pages.
    pub fn clear(&self) {
        use std::os::unix::fs::FileExt;
        let zeros = vec![0u8; self.size as usize];
        self.file.write_all_at(&zeros, 0).expect("clear the log");
    }
}

/// Guest physical base of region 1 when `two_regions` is set.
pub const REGION1_BASE: u64 = 0x1_0000_0000;

const DESC_SIZE: u64 = 16;
const PAGE: u64 = 4096;

/// Knobs for [`TestVmm::connect`].
#[derive(Clone, Debug)]
pub struct VmmOptions {
    /// Entries per virtqueue (QEMU users run 1024).
    pub queue_size: u16,
    /// Negotiate VIRTIO_RING_F_EVENT_IDX if offered.
    pub event_idx: bool,
    /// Negotiate VIRTIO_RING_F_INDIRECT_DESC if offered.
    pub indirect: bool,
    /// Size of each guest memory region.
    pub region_size: usize,
    /// Add a second region at [`REGION1_BASE`], leaving a hole below it.
    pub two_regions: bool,
    /// Deadline for connecting and for each vhost-user reply.
    pub socket_timeout: Duration,
    /// Ring index the queues start at (SET_VRING_BASE), as after a migration;
    /// near 65535 it exercises index wraparound.
    pub ring_base: u16,
}

impl Default for VmmOptions {
    fn default() -> Self {
        VmmOptions {
            queue_size: 1024,
            event_idx: true,
            indirect: true,
            region_size: 64 << 20,
            two_regions: true,
            socket_timeout: Duration::from_secs(10),
            ring_base: 0,
        }
    }
}

/// One descriptor exactly as written to the table, for malformed chains.
///
/// In [`TestVmm::submit_raw`], `next` is an index into the submitted slice;
/// values `>= slice.len()` are written to the table unchanged (so a test can
/// point outside the chain or outside the table).
#[derive(Clone, Copy, Debug, Default)]
pub struct RawDesc {
    pub addr: u64,
    pub len: u32,
    pub flags: u16,
    pub next: u16,
}

/// A used-ring entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Used {
    pub head: u16,
    pub len: u32,
}

/// Guest memory handed out for one chain.
#[derive(Default)]
struct Chain {
    /// Descriptor table slots to give back on completion.
    slots: Vec<u16>,
    /// Device-writable buffers, in chain order.
    writable: Vec<(GuestAddress, u32)>,
    /// Allocations `[start, end)` owned by the chain while in flight.
    allocs: Vec<(u64, u64)>,
}

struct Vq {
    size: u16,
    desc: GuestAddress,
    avail: GuestAddress,
    used: GuestAddress,
    free: Vec<u16>,
    next_avail: u16,
    last_used: u16,
    /// Avail index at the last notification (EVENT_IDX kick suppression).
    notified: u16,
    kick: EventFd,
    call: EventFd,
    inflight: HashMap<u16, Chain>,
    done: HashMap<u16, Chain>,
    stash: VecDeque<Used>,
}

/// The fake VMM. Dropping it closes the vhost-user connection.
pub struct TestVmm {
    frontend: Frontend,
    mem: GuestMemoryMmap,
    _memfd: File,
    queues: Vec<Vq>,
    event_idx: bool,
    acked_features: u64,
    /// Allocator arena: `(start, end)` of each region's free part.
    arenas: Vec<(u64, u64)>,
    cursor: (usize, u64),
}

fn memfd(size: u64) -> File {
    let name = c"epochfsd-test-guest";
    // SAFETY: `name` is a valid NUL-terminated string; the result is checked.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(size).expect("size the guest memfd");
    file
}

fn connect_stream(socket: &Path, timeout: Duration) -> UnixStream {
    let deadline = Instant::now() + timeout;
    loop {
        match UnixStream::connect(socket) {
            Ok(s) => {
                s.set_read_timeout(Some(timeout)).unwrap();
                s.set_write_timeout(Some(timeout)).unwrap();
                return s;
            }
            Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("connect to {}: {e}", socket.display()),
        }
    }
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

impl TestVmm {
    /// Connects to the daemon at `socket` and sets up `num_queues_total`
    /// queues (hiprio + request queues), negotiating like QEMU does.
    pub fn connect(socket: &Path, num_queues_total: usize, opts: VmmOptions) -> TestVmm {
        let stream = connect_stream(socket, opts.socket_timeout);
        let mut frontend = Frontend::from_stream(stream, num_queues_total as u64);

        // Features.
        let offered = frontend.get_features().expect("GET_FEATURES");
        assert_ne!(
            offered & VHOST_USER_F_PROTOCOL_FEATURES,
            0,
            "daemon must offer VHOST_USER_F_PROTOCOL_FEATURES (offered {offered:#x})"
        );
        assert_ne!(
            offered & VIRTIO_F_VERSION_1,
            0,
            "daemon must offer VIRTIO_F_VERSION_1 (offered {offered:#x})"
        );
        let proto = frontend
            .get_protocol_features()
            .expect("GET_PROTOCOL_FEATURES");
        assert!(
            proto.contains(VhostUserProtocolFeatures::MQ),
            "daemon must offer MQ (offered {proto:?})"
        );
        let want_proto = proto
            & (VhostUserProtocolFeatures::MQ
                | VhostUserProtocolFeatures::REPLY_ACK
                | VhostUserProtocolFeatures::DEVICE_STATE
                | VhostUserProtocolFeatures::LOG_SHMFD);
        frontend
            .set_protocol_features(want_proto)
            .expect("SET_PROTOCOL_FEATURES");
        if want_proto.contains(VhostUserProtocolFeatures::REPLY_ACK) {
            // Every later message waits for an ack, so errors surface here.
            frontend.set_hdr_flags(VhostUserHeaderFlag::NEED_REPLY);
        }
        let queue_num = frontend.get_queue_num().expect("GET_QUEUE_NUM");
        assert_eq!(
            queue_num, num_queues_total as u64,
            "GET_QUEUE_NUM reported {queue_num}, expected {num_queues_total}"
        );
        frontend.set_owner().expect("SET_OWNER");
        let mut want = VIRTIO_F_VERSION_1 | VHOST_USER_F_PROTOCOL_FEATURES;
        if opts.indirect {
            want |= VIRTIO_RING_F_INDIRECT_DESC;
        }
        if opts.event_idx {
            want |= VIRTIO_RING_F_EVENT_IDX;
        }
        let acked_features = want & offered;
        frontend.set_features(acked_features).expect("SET_FEATURES");
        let event_idx = acked_features & VIRTIO_RING_F_EVENT_IDX != 0;

        // Memory.
        let rsize = opts.region_size as u64;
        let nregions = if opts.two_regions { 2 } else { 1 };
        let file = memfd(rsize * nregions);
        let mut ranges = vec![(
            GuestAddress(0),
            opts.region_size,
            Some(FileOffset::new(file.try_clone().unwrap(), 0)),
        )];
        if opts.two_regions {
            ranges.push((
                GuestAddress(REGION1_BASE),
                opts.region_size,
                Some(FileOffset::new(file.try_clone().unwrap(), rsize)),
            ));
        }
        let mem = GuestMemoryMmap::<()>::from_ranges_with_files(&ranges).expect("map guest memory");
        let regions: Vec<VhostUserMemoryRegionInfo> = mem
            .iter()
            .map(|r| VhostUserMemoryRegionInfo::from_guest_region(r).expect("region info"))
            .collect();
        frontend.set_mem_table(&regions).expect("SET_MEM_TABLE");

        // Rings at the start of region 0.
        let qsize = u64::from(opts.queue_size);
        let mut cursor = 0u64;
        let mut layout = Vec::new();
        for _ in 0..num_queues_total {
            let desc = cursor;
            cursor = align_up(cursor + DESC_SIZE * qsize, PAGE);
            let avail = cursor;
            cursor = align_up(cursor + 6 + 2 * qsize, PAGE);
            let used = cursor;
            cursor = align_up(cursor + 6 + 8 * qsize, PAGE);
            layout.push((desc, avail, used));
        }
        let mut arenas = vec![(cursor, rsize)];
        if opts.two_regions {
            arenas.push((REGION1_BASE, REGION1_BASE + rsize));
        }

        let mut queues = Vec::with_capacity(num_queues_total);
        for (i, (desc, avail, used)) in layout.into_iter().enumerate() {
            let host = |gpa: u64| mem.get_host_address(GuestAddress(gpa)).unwrap() as u64;
            let kick = EventFd::new(EFD_NONBLOCK).unwrap();
            let call = EventFd::new(EFD_NONBLOCK).unwrap();
            frontend
                .set_vring_num(i, opts.queue_size)
                .expect("SET_VRING_NUM");
            // Both rings start at the base index, like a driver that has
            // already gone round `ring_base` times.
            mem.store(opts.ring_base, GuestAddress(avail + 2), Ordering::Release)
                .unwrap();
            mem.store(opts.ring_base, GuestAddress(used + 2), Ordering::Release)
                .unwrap();
            frontend
                .set_vring_base(i, opts.ring_base)
                .expect("SET_VRING_BASE");
            let config = VringConfigData {
                queue_max_size: opts.queue_size,
                queue_size: opts.queue_size,
                flags: 0,
                desc_table_addr: host(desc),
                used_ring_addr: host(used),
                avail_ring_addr: host(avail),
                log_addr: None,
            };
            frontend.set_vring_addr(i, &config).expect("SET_VRING_ADDR");
            frontend.set_vring_call(i, &call).expect("SET_VRING_CALL");
            frontend.set_vring_kick(i, &kick).expect("SET_VRING_KICK");
            frontend
                .set_vring_enable(i, true)
                .expect("SET_VRING_ENABLE");
            queues.push(Vq {
                size: opts.queue_size,
                desc: GuestAddress(desc),
                avail: GuestAddress(avail),
                used: GuestAddress(used),
                free: (0..opts.queue_size).rev().collect(),
                next_avail: opts.ring_base,
                last_used: opts.ring_base,
                notified: opts.ring_base,
                kick,
                call,
                inflight: HashMap::new(),
                done: HashMap::new(),
                stash: VecDeque::new(),
            });
        }

        TestVmm {
            frontend,
            mem,
            _memfd: file,
            queues,
            event_idx,
            acked_features,
            cursor: (0, arenas[0].0),
            arenas,
        }
    }

    /// Features acked with SET_FEATURES.
    pub fn acked_features(&self) -> u64 {
        self.acked_features
    }

    /// Number of queues set up.
    pub fn num_queues(&self) -> usize {
        self.queues.len()
    }

    /// Guest memory, for tests that poke at it directly.
    pub fn memory(&self) -> &GuestMemoryMmap {
        &self.mem
    }

    /// The vhost-user connection, for tests that send extra messages.
    pub fn frontend(&mut self) -> &mut Frontend {
        &mut self.frontend
    }

    /// An address in no region (the hole between region 0 and region 1, or
    /// past the end of region 0 with one region).
    pub fn unmapped_addr(&self) -> u64 {
        self.arenas[0].1 + 0x10_0000
    }

    /// `[start, end)` guest physical range of each memory region.
    pub fn regions(&self) -> Vec<(u64, u64)> {
        self.mem
            .iter()
            .map(|r| (r.start_addr().0, r.start_addr().0 + r.len()))
            .collect()
    }

    /// Makes the next allocations come from memory region `region`.
    pub fn alloc_from_region(&mut self, region: usize) {
        self.cursor = (region, self.arenas[region].0);
    }

    /// Allocates `len` bytes of guest memory (16-byte aligned, zeroed).
    ///
    /// The memory belongs to the caller; it is not tracked for reuse and is
    /// recycled when the allocator wraps around.
    pub fn alloc(&mut self, len: u64) -> GuestAddress {
        self.alloc_into(len, &mut Vec::new())
    }

    fn alloc_into(&mut self, len: u64, owned: &mut Vec<(u64, u64)>) -> GuestAddress {
        let len = len.max(1);
        let align = if len >= PAGE { PAGE } else { 16 };
        let mut tries = 0;
        loop {
            let (ri, pos) = self.cursor;
            let (_, end) = self.arenas[ri];
            let start = align_up(pos, align);
            if start + len <= end {
                let busy_until = self
                    .queues
                    .iter()
                    .flat_map(|q| q.inflight.values())
                    .flat_map(|c| c.allocs.iter())
                    .filter(|&&(s, e)| s < start + len && start < e)
                    .map(|&(_, e)| e)
                    .max();
                if let Some(e) = busy_until {
                    // Skip past the chain still in flight there and retry in
                    // this arena, instead of giving the arena up.
                    self.cursor = (ri, e);
                    continue;
                }
                {
                    self.cursor = (ri, start + len);
                    owned.push((start, start + len));
                    let zeros = vec![0u8; len.min(PAGE) as usize];
                    // Zero small buffers so stale replies never look valid.
                    self.mem
                        .write_slice(&zeros, GuestAddress(start))
                        .expect("zero guest buffer");
                    return GuestAddress(start);
                }
            }
            // Move to the next arena (wrapping) and retry.
            let next = (ri + 1) % self.arenas.len();
            self.cursor = (next, self.arenas[next].0);
            tries += 1;
            assert!(
                tries <= 2 * self.arenas.len(),
                "test guest memory exhausted allocating {len} bytes"
            );
        }
    }

    /// Writes `data` to guest memory at `addr`.
    pub fn write_guest(&self, addr: GuestAddress, data: &[u8]) {
        self.mem
            .write_slice(data, addr)
            .expect("write guest memory");
    }

    /// Reads `len` bytes of guest memory at `addr`.
    pub fn read_guest(&self, addr: GuestAddress, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.mem
            .read_slice(&mut v, addr)
            .expect("read guest memory");
        v
    }

    /// Writes `descs` as a descriptor table into fresh guest memory (for
    /// hand-made indirect tables) and returns its address.
    pub fn write_desc_table(&mut self, descs: &[RawDesc]) -> GuestAddress {
        let table = self.alloc(DESC_SIZE * descs.len() as u64);
        for (i, d) in descs.iter().enumerate() {
            self.write_desc_at(table.0 + DESC_SIZE * i as u64, d);
        }
        table
    }

    fn write_desc_at(&self, at: u64, d: &RawDesc) {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&d.addr.to_le_bytes());
        b[8..12].copy_from_slice(&d.len.to_le_bytes());
        b[12..14].copy_from_slice(&d.flags.to_le_bytes());
        b[14..16].copy_from_slice(&d.next.to_le_bytes());
        self.mem
            .write_slice(&b, GuestAddress(at))
            .expect("write descriptor");
    }

    /// Builds the buffers for a chain: readable slices then writable lengths,
    /// one buffer each. Returns the descriptors (with `next` = position + 1)
    /// and the chain bookkeeping.
    fn build_buffers(
        &mut self,
        readable: &[&[u8]],
        writable_lens: &[u32],
    ) -> (Vec<RawDesc>, Chain) {
        let mut chain = Chain::default();
        let mut descs = Vec::new();
        for r in readable {
            let a = self.alloc_into(r.len() as u64, &mut chain.allocs);
            self.write_guest(a, r);
            descs.push(RawDesc {
                addr: a.0,
                len: r.len() as u32,
                flags: 0,
                next: 0,
            });
        }
        for &w in writable_lens {
            let a = self.alloc_into(u64::from(w), &mut chain.allocs);
            chain.writable.push((a, w));
            descs.push(RawDesc {
                addr: a.0,
                len: w,
                flags: VRING_DESC_F_WRITE,
                next: 0,
            });
        }
        let n = descs.len();
        for (i, d) in descs.iter_mut().enumerate() {
            if i + 1 < n {
                d.flags |= VRING_DESC_F_NEXT;
                d.next = (i + 1) as u16;
            }
        }
        (descs, chain)
    }

    /// Places a chain with one descriptor per readable slice and per writable
    /// length on `queue` and returns its head. Call [`kick`](Self::kick) after.
    pub fn submit(&mut self, queue: usize, readable: &[&[u8]], writable_lens: &[u32]) -> u16 {
        let (descs, chain) = self.build_buffers(readable, writable_lens);
        self.place(queue, &descs, chain)
    }

    /// Same as [`submit`](Self::submit), but the buffers are described by one
    /// indirect descriptor table referenced from a single ring descriptor.
    pub fn submit_indirect(
        &mut self,
        queue: usize,
        readable: &[&[u8]],
        writable_lens: &[u32],
    ) -> u16 {
        let (descs, mut chain) = self.build_buffers(readable, writable_lens);
        let table = self.alloc_into(DESC_SIZE * descs.len() as u64, &mut chain.allocs);
        for (i, d) in descs.iter().enumerate() {
            self.write_desc_at(table.0 + DESC_SIZE * i as u64, d);
        }
        let ring_desc = RawDesc {
            addr: table.0,
            len: (DESC_SIZE * descs.len() as u64) as u32,
            flags: VRING_DESC_F_INDIRECT,
            next: 0,
        };
        self.place(queue, &[ring_desc], chain)
    }

    /// Places arbitrary descriptors on `queue` (see [`RawDesc`] for `next`).
    /// The head is `descs[0]`. Nothing is known about writable buffers, so
    /// [`read_reply`](Self::read_reply) returns nothing for it.
    pub fn submit_raw(&mut self, queue: usize, descs: &[RawDesc]) -> u16 {
        self.place(queue, descs, Chain::default())
    }

    fn place(&mut self, queue: usize, descs: &[RawDesc], mut chain: Chain) -> u16 {
        assert!(!descs.is_empty(), "a chain needs at least one descriptor");
        let q = &mut self.queues[queue];
        assert!(
            q.free.len() >= descs.len(),
            "queue {queue}: descriptor table full ({} free, {} needed)",
            q.free.len(),
            descs.len()
        );
        let slots: Vec<u16> = (0..descs.len()).map(|_| q.free.pop().unwrap()).collect();
        let (desc_base, avail, size, head) = (q.desc, q.avail, q.size, slots[0]);
        for (i, d) in descs.iter().enumerate() {
            let mut d = *d;
            if usize::from(d.next) < descs.len() {
                d.next = slots[usize::from(d.next)];
            }
            self.write_desc_at(desc_base.0 + DESC_SIZE * u64::from(slots[i]), &d);
        }
        let q = &mut self.queues[queue];
        chain.slots = slots;
        q.done.remove(&head);
        q.inflight.insert(head, chain);
        let idx = q.next_avail;
        q.next_avail = idx.wrapping_add(1);
        let slot = u64::from(idx % size);
        self.mem
            .write_obj(head, avail.unchecked_add_raw(4 + 2 * slot))
            .unwrap();
        fence(Ordering::SeqCst);
        self.mem
            .store(
                idx.wrapping_add(1),
                avail.unchecked_add_raw(2),
                Ordering::Release,
            )
            .unwrap();
        fence(Ordering::SeqCst);
        head
    }

    /// Notifies the daemon that `queue` has new buffers.
    pub fn kick(&self, queue: usize) {
        self.queues[queue].kick.write(1).expect("kick");
    }

    /// Notifies the daemon of new buffers on `queue` only if it asked to be
    /// told (EVENT_IDX `avail_event`), the way a Linux guest suppresses kicks;
    /// without EVENT_IDX it always kicks. Returns whether it kicked.
    pub fn notify(&mut self, queue: usize) -> bool {
        fence(Ordering::SeqCst);
        let q = &self.queues[queue];
        let (new, old) = (q.next_avail, q.notified);
        let kick = if self.event_idx {
            let avail_event: u16 = self
                .mem
                .load(
                    q.used.unchecked_add_raw(4 + 8 * u64::from(q.size)),
                    Ordering::Acquire,
                )
                .unwrap();
            new.wrapping_sub(avail_event).wrapping_sub(1) < new.wrapping_sub(old)
        } else {
            true
        };
        self.queues[queue].notified = new;
        if kick {
            self.kick(queue);
        }
        kick
    }

    /// The next used entry of `queue` if one is there, without waiting.
    pub fn try_used(&mut self, queue: usize) -> Option<Used> {
        if let Some(u) = self.queues[queue].stash.pop_front() {
            return Some(u);
        }
        self.reap_one(queue)
    }

    /// Waits up to `timeout` until any of `queues` may have a used entry:
    /// asks for a call on each (EVENT_IDX), re-checks the rings, then polls
    /// all their call eventfds at once. Returns false on timeout.
    pub fn wait_any(&mut self, queues: &[usize], timeout: Duration) -> bool {
        let mut pfds = [libc::pollfd {
            fd: -1,
            events: libc::POLLIN,
            revents: 0,
        }; 65];
        let n = queues.len().min(pfds.len());
        for (pfd, &queue) in pfds.iter_mut().zip(&queues[..n]) {
            let q = &self.queues[queue];
            if !q.stash.is_empty() {
                return true;
            }
            if self.event_idx {
                let used_event = q.avail.unchecked_add_raw(4 + 2 * u64::from(q.size));
                self.mem
                    .store(q.last_used, used_event, Ordering::Release)
                    .unwrap();
            }
            pfd.fd = q.call.as_raw_fd();
        }
        fence(Ordering::SeqCst);
        for &queue in &queues[..n] {
            let q = &self.queues[queue];
            let used_idx: u16 = self
                .mem
                .load(q.used.unchecked_add_raw(2), Ordering::Acquire)
                .unwrap();
            if used_idx != q.last_used {
                return true;
            }
        }
        let ms = timeout.as_millis().clamp(1, 10_000) as i32;
        // SAFETY: `pfds[..n]` are valid pollfds that live across the call.
        let ready = unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, ms) };
        for &queue in &queues[..n] {
            let _ = self.queues[queue].call.read();
        }
        ready > 0
    }

    /// Takes the next used entry of `queue`, waiting up to `timeout` for the
    /// call eventfd. Returns `None` on timeout.
    pub fn wait_used(&mut self, queue: usize, timeout: Duration) -> Option<Used> {
        if let Some(u) = self.queues[queue].stash.pop_front() {
            return Some(u);
        }
        self.wait_ring(queue, timeout)
    }

    /// Takes the next entry from the used ring itself (ignoring the stash).
    fn wait_ring(&mut self, queue: usize, timeout: Duration) -> Option<Used> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(u) = self.reap_one(queue) {
                return Some(u);
            }
            if self.event_idx {
                // Ask for a call as soon as the next entry is written.
                let q = &self.queues[queue];
                let used_event = q.avail.unchecked_add_raw(4 + 2 * u64::from(q.size));
                self.mem
                    .store(q.last_used, used_event, Ordering::Release)
                    .unwrap();
                fence(Ordering::SeqCst);
                if let Some(u) = self.reap_one(queue) {
                    return Some(u);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let ms = (deadline - now).as_millis().clamp(1, 1000) as i32;
            let mut pfd = libc::pollfd {
                fd: self.queues[queue].call.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `pfd` is one valid pollfd that lives across the call.
            let _ = unsafe { libc::poll(&mut pfd, 1, ms) };
            let _ = self.queues[queue].call.read();
        }
    }

    /// Waits up to `timeout` for the daemon to signal the call eventfd of
    /// any of `queues`, as a guest waits for an interrupt, and drains the
    /// ones signalled. Returns whether one was. Looks at no ring: an entry
    /// put on a used ring without a call is not seen here. (Arm the queues
    /// first: [`wait_head`](Self::wait_head) with a zero timeout does, as a
    /// guest re-enabling its callbacks does.)
    pub fn wait_calls(&mut self, queues: &[usize], timeout: Duration) -> bool {
        let mut pfds: Vec<libc::pollfd> = queues
            .iter()
            .map(|&q| libc::pollfd {
                fd: self.queues[q].call.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `pfds` is a valid array of pollfds that lives across the call.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        if n <= 0 {
            return false;
        }
        for (p, &q) in pfds.iter().zip(queues) {
            if p.revents & libc::POLLIN != 0 {
                let _ = self.queues[q].call.read();
            }
        }
        true
    }

    /// Waits for the completion of `head` on `queue`, keeping other
    /// completions for later [`wait_used`](Self::wait_used) calls. Returns the
    /// used length, or `None` on timeout.
    pub fn wait_head(&mut self, queue: usize, head: u16, timeout: Duration) -> Option<u32> {
        let q = &mut self.queues[queue];
        if let Some(pos) = q.stash.iter().position(|u| u.head == head) {
            return q.stash.remove(pos).map(|u| u.len);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let u = self.wait_ring(queue, left)?;
            if u.head == head {
                return Some(u.len);
            }
            self.queues[queue].stash.push_back(u);
            if left.is_zero() {
                return None;
            }
        }
    }

    fn reap_one(&mut self, queue: usize) -> Option<Used> {
        let q = &mut self.queues[queue];
        let used_idx: u16 = self
            .mem
            .load(q.used.unchecked_add_raw(2), Ordering::Acquire)
            .unwrap();
        if used_idx == q.last_used {
            return None;
        }
        fence(Ordering::Acquire);
        let slot = u64::from(q.last_used % q.size);
        let elem = q.used.unchecked_add_raw(4 + 8 * slot);
        let id: u32 = self.mem.read_obj(elem).unwrap();
        let len: u32 = self.mem.read_obj(elem.unchecked_add_raw(4)).unwrap();
        q.last_used = q.last_used.wrapping_add(1);
        let head = id as u16;
        assert!(
            u32::from(head) == id && head < q.size,
            "queue {queue}: used id {id} is not a descriptor index"
        );
        match q.inflight.remove(&head) {
            Some(chain) => {
                q.free.extend(chain.slots.iter().copied());
                q.done.insert(head, chain);
            }
            None => panic!("queue {queue}: used id {head} was not in flight"),
        }
        Some(Used { head, len })
    }

    /// Bytes of the writable buffers of completed chain `head`, concatenated
    /// in chain order (all of them, whatever the used length says).
    pub fn read_reply(&self, queue: usize, head: u16) -> Vec<u8> {
        let chain = self.queues[queue]
            .done
            .get(&head)
            .unwrap_or_else(|| panic!("queue {queue}: head {head} has not completed"));
        let total: usize = chain.writable.iter().map(|&(_, l)| l as usize).sum();
        let mut out = Vec::with_capacity(total);
        for &(a, l) in &chain.writable {
            out.extend_from_slice(&self.read_guest(a, l as usize));
        }
        out
    }

    /// Stops every queue the way a VMM does before it migrates the device
    /// (GET_VRING_BASE on each); returns the ring indexes the daemon
    /// reports.
    pub fn stop_queues(&mut self) -> Vec<u16> {
        (0..self.queues.len())
            .map(|i| {
                let base = self.frontend.get_vring_base(i).expect("GET_VRING_BASE");
                u16::try_from(base).expect("ring index fits u16")
            })
            .collect()
    }

    /// Turns dirty-page logging on the way QEMU does when a migration
    /// starts: SET_FEATURES with VHOST_F_LOG_ALL, then SET_LOG_BASE with a
    /// fresh log (one bit per 4 KiB page of guest physical memory).
    pub fn start_dirty_log(&mut self) -> DirtyLog {
        let top = self.regions().iter().map(|r| r.1).max().unwrap_or(0);
        let size = (top / PAGE).div_ceil(8).next_multiple_of(PAGE);
        let file = memfd(size);
        self.frontend
            .set_features(self.acked_features | VHOST_F_LOG_ALL)
            .expect("SET_FEATURES with LOG_ALL");
        let region = vhost::VhostUserDirtyLogRegion {
            mmap_size: size,
            mmap_offset: 0,
            mmap_handle: file.as_raw_fd(),
        };
        self.frontend
            .set_log_base(0, Some(region))
            .expect("SET_LOG_BASE");
        DirtyLog { file, size }
    }

    /// Turns logging off again (SET_FEATURES without VHOST_F_LOG_ALL), as
    /// QEMU does when a migration ends or is cancelled.
    pub fn stop_dirty_log(&mut self) {
        self.frontend
            .set_features(self.acked_features)
            .expect("SET_FEATURES without LOG_ALL");
    }

    /// Guest address and length of each writable buffer of completed
    /// chain `head`.
    pub fn writable_buffers(&self, queue: usize, head: u16) -> Vec<(u64, u32)> {
        self.queues[queue].done[&head]
            .writable
            .iter()
            .map(|&(a, l)| (a.0, l))
            .collect()
    }

    /// `[start, end)` of `queue`'s used ring in guest memory (with the
    /// `avail_event` field at its end).
    pub fn used_ring(&self, queue: usize) -> (u64, u64) {
        let q = &self.queues[queue];
        (q.used.0, q.used.0 + 6 + 8 * u64::from(q.size))
    }

    /// Number of chains placed on `queue` and not yet completed.
    pub fn in_flight(&self, queue: usize) -> usize {
        self.queues[queue].inflight.len()
    }
}

trait AddRaw {
    fn unchecked_add_raw(self, off: u64) -> GuestAddress;
}

impl AddRaw for GuestAddress {
    fn unchecked_add_raw(self, off: u64) -> GuestAddress {
        GuestAddress(self.0 + off)
    }
}
