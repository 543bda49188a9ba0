//! Target 2: descriptor-chain parsing over arbitrary descriptor tables.
//!
//! A small guest memory of three regions (two adjacent in guest physical
//! addresses but mapped apart, then a hole, then a third) holds a split
//! virtqueue of 16 entries whose descriptor table, indirect tables and data
//! come from the input. The harness pops one chain with virtio-queue, as the
//! device does, and runs the transport on it: [`peek_readable`] (the header
//! copy of intake), [`ChainBuffers::parse`], then a sequence of reader and
//! writer operations, including the zero-copy ones against a memfd.
//!
//! # Input format
//!
//! ```text
//! input := table[256] head:u16le image_len:u16le image[image_len] op*
//! table   the descriptor table (16 descriptors of 16 bytes), at GPA 0
//! head    the chain head the avail ring offers
//! image   copied into guest memory from GPA 0x300 on, across the regions
//! op      := kind:u8 a:u16le b:u16le (see `Op`)
//! ```
//!
//! # What is checked
//!
//! * nothing panics and nothing touches memory outside the guest's mapping:
//!   every segment `parse` produced lies inside one mapped region;
//! * the reader yields exactly the bytes of the readable descriptors, in
//!   order, as read through vm-memory by guest address, and `peek_readable`
//!   agrees with it on the prefix it copies;
//! * the writer behaves like a byte vector of its capacity: position, high
//!   water mark and, where the writable descriptors do not overlap each
//!   other, the bytes that land in guest memory.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use epochfsd::filesystem::ZeroCopyReader;
use epochfsd::fuse::io::{Reader, Writer};
use epochfsd::transport::{peek_readable, ChainBuffers};
use virtio_queue::desc::split::Descriptor;
use virtio_queue::{Queue, QueueT};
use vm_memory::{
    Address, Bytes as _, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion,
};

use crate::Bytes;

/// Guest memory: `(start, len)` of each region.
pub const REGIONS: [(u64, usize); 3] = [(0, 0x3000), (0x3000, 0x1000), (0x5000, 0x2000)];
/// Entries of the queue.
pub const QUEUE_SIZE: u16 = 16;
const DESC_TABLE: u64 = 0;
const AVAIL_RING: u64 = 0x100;
const USED_RING: u64 = 0x200;
/// Where the input's memory image starts.
pub const IMAGE_START: u64 = 0x300;
/// Bytes of the descriptor table.
pub const TABLE_LEN: usize = QUEUE_SIZE as usize * 16;
/// Descriptor flags.
pub const F_NEXT: u16 = 1;
/// Device-writable.
pub const F_WRITE: u16 = 2;
/// Indirect table.
pub const F_INDIRECT: u16 = 4;
/// Chains with more bytes than this are only parsed, not modelled (a
/// model byte per chain byte would make the target slow for nothing).
const MODEL_MAX: u64 = 256 << 10;
/// Bytes of the memfd the zero-copy operations use.
const FILE_LEN: usize = 0x3000;

type Mem = GuestMemoryMmap<()>;

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Bytes::new(data);
    let mem = memory();
    let table = input.take(TABLE_LEN);
    mem.write_slice(table, GuestAddress(DESC_TABLE))
        .expect("descriptor table in memory");
    let head = input.u16();
    let image_len = usize::from(input.u16());
    write_image(&mem, input.take(image_len));
    publish(&mem, head);
    let mut queue = queue();
    let Some(chain) = queue.pop_descriptor_chain(&mem) else {
        return;
    };
    let descs: Vec<Descriptor> = chain.clone().collect();
    let total: u64 = descs.iter().map(|d| u64::from(d.len())).sum();
    if total > MODEL_MAX {
        // Too big to model cheaply: the transport must still cope.
        let mut header = [0u8; 40];
        peek_readable(&mem, chain.clone(), &mut header);
        let mut buffers = ChainBuffers::default();
        if buffers.parse(&mem, chain).is_ok() {
            check_segments(&mem, &buffers);
        }
        return;
    }
    let streams = Streams::of(&mem, &descs);

    let mut header = [0u8; 40];
    let peeked = peek_readable(&mem, chain.clone(), &mut header);

    let mut buffers = ChainBuffers::default();
    let Ok((mut reader, mut writer)) = buffers.parse(&mem, chain) else {
        return;
    };
    let readable = streams
        .readable
        .as_ref()
        .expect("parse accepted a chain with a readable descriptor outside memory");
    assert_eq!(reader.remaining_bytes(), readable.len(), "readable bytes");
    assert_eq!(writer.capacity(), streams.writable_len, "writable bytes");
    if peeked {
        assert_eq!(
            &header[..],
            &readable[..40],
            "peek_readable vs the readable bytes"
        );
    } else {
        assert!(
            readable.len() < 40,
            "peek_readable failed on {} readable bytes",
            readable.len()
        );
    }

    // A writable descriptor over readable bytes changes what later reads
    // see; the reads are then checked for their lengths only.
    let aliased = aliasing(&descs);
    // Reads of the chain go to `sink`; writes into the chain come from
    // `source`, which keeps its pattern.
    let files = Files {
        source: memfd(),
        sink: memfd(),
    };
    let mut model = Model::new(streams.writable_len);
    let mut read_pos = 0;
    while !input.is_empty() {
        let op = Op::decode(&mut input);
        op.apply(
            &mut reader,
            &mut writer,
            &files,
            readable,
            &mut read_pos,
            &mut model,
            aliased,
        );
    }
    assert_eq!(
        writer.bytes_written(),
        model.high_water,
        "writer high water"
    );
    check_segments(&mem, &buffers);
    if !overlapping(descs.iter().filter(|d| d.is_write_only())) {
        let landed = writable_stream(&mem, &descs);
        for (i, written) in model.written.iter().enumerate() {
            if let Some(byte) = written {
                assert_eq!(landed[i], *byte, "writable byte {i} in guest memory");
            }
        }
    }
}

fn memory() -> Mem {
    let ranges: Vec<(GuestAddress, usize)> = REGIONS
        .iter()
        .map(|&(start, len)| (GuestAddress(start), len))
        .collect();
    GuestMemoryMmap::from_ranges(&ranges).expect("guest memory")
}

/// Copies `image` into guest memory from [`IMAGE_START`] on, skipping the hole.
fn write_image(mem: &Mem, mut image: &[u8]) {
    for &(start, len) in &REGIONS {
        let from = start.max(IMAGE_START);
        let end = start + len as u64;
        if from >= end || image.is_empty() {
            continue;
        }
        let n = image.len().min((end - from) as usize);
        mem.write_slice(&image[..n], GuestAddress(from))
            .expect("image in memory");
        image = &image[n..];
    }
}

/// Offers `head` in the avail ring (flags 0, idx 1).
fn publish(mem: &Mem, head: u16) {
    let ring = GuestAddress(AVAIL_RING);
    mem.write_obj(0u16, ring).expect("avail flags");
    mem.write_obj(1u16, ring.unchecked_add(2))
        .expect("avail idx");
    mem.write_obj(head, ring.unchecked_add(4))
        .expect("avail ring");
}

fn queue() -> Queue {
    let mut queue = Queue::new(QUEUE_SIZE).expect("queue");
    queue.set_size(QUEUE_SIZE);
    queue.set_desc_table_address(Some(DESC_TABLE as u32), Some(0));
    queue.set_avail_ring_address(Some(AVAIL_RING as u32), Some(0));
    queue.set_used_ring_address(Some(USED_RING as u32), Some(0));
    queue.set_ready(true);
    queue
}

/// The chain's bytes as the guest laid them out, read by guest address.
struct Streams {
    /// The readable descriptors' bytes in order; `None` when one lies
    /// outside guest memory.
    readable: Option<Vec<u8>>,
    writable_len: usize,
}

impl Streams {
    fn of(mem: &Mem, descs: &[Descriptor]) -> Self {
        let mut readable = Some(Vec::new());
        let mut writable_len = 0;
        for desc in descs {
            if desc.is_write_only() {
                writable_len += desc.len() as usize;
                continue;
            }
            if let Some(bytes) = readable.as_mut() {
                let mut buf = vec![0u8; desc.len() as usize];
                if desc.len() > 0 && mem.read_slice(&mut buf, desc.addr()).is_err() {
                    readable = None;
                } else {
                    bytes.extend_from_slice(&buf);
                }
            }
        }
        Streams {
            readable,
            writable_len,
        }
    }
}

fn writable_stream(mem: &Mem, descs: &[Descriptor]) -> Vec<u8> {
    let mut out = Vec::new();
    for desc in descs.iter().filter(|d| d.is_write_only()) {
        let mut buf = vec![0u8; desc.len() as usize];
        if desc.len() > 0 {
            mem.read_slice(&mut buf, desc.addr())
                .expect("parse accepted a writable descriptor outside memory");
        }
        out.extend_from_slice(&buf);
    }
    out
}

fn overlapping<'a>(descs: impl Iterator<Item = &'a Descriptor>) -> bool {
    let mut ranges = ranges(descs);
    ranges.sort_unstable();
    ranges.windows(2).any(|w| w[1].0 < w[0].1)
}

fn ranges<'a>(descs: impl Iterator<Item = &'a Descriptor>) -> Vec<(u64, u64)> {
    descs
        .filter(|d| d.len() > 0)
        .map(|d| (d.addr().0, d.addr().0.saturating_add(u64::from(d.len()))))
        .collect()
}

/// Whether a writable descriptor overlaps a readable one.
fn aliasing(descs: &[Descriptor]) -> bool {
    let writable = ranges(descs.iter().filter(|d| d.is_write_only()));
    let readable = ranges(descs.iter().filter(|d| !d.is_write_only()));
    writable
        .iter()
        .any(|w| readable.iter().any(|r| r.0 < w.1 && w.0 < r.1))
}

/// Every segment must lie inside one region's mapping.
fn check_segments(mem: &Mem, buffers: &ChainBuffers) {
    let (readable, writable) = buffers.segments();
    let maps: Vec<(usize, usize)> = mem
        .iter()
        .map(|region| {
            let base = region
                .get_host_address(vm_memory::MemoryRegionAddress(0))
                .expect("mapped region") as usize;
            (base, base + region.len() as usize)
        })
        .collect();
    for seg in readable.iter().chain(writable) {
        let start = seg.iov_base as usize;
        let end = start + seg.iov_len;
        let inside = |&(lo, hi): &(usize, usize)| start >= lo && end <= hi;
        // A merged segment may span regions that are adjacent in the host's
        // address space too; then it must be covered by a run of them.
        assert!(
            maps.iter().any(inside) || covered(&maps, start, end),
            "segment {start:#x}..{end:#x} outside guest memory {maps:x?}"
        );
    }
}

fn covered(maps: &[(usize, usize)], mut start: usize, end: usize) -> bool {
    while start < end {
        match maps.iter().find(|&&(lo, hi)| start >= lo && start < hi) {
            Some(&(_, hi)) => start = hi,
            None => return false,
        }
    }
    true
}

/// The files the zero-copy operations use.
struct Files {
    source: OwnedFd,
    sink: OwnedFd,
}

fn memfd() -> OwnedFd {
    // SAFETY: a plain syscall with a NUL-terminated name.
    let fd = unsafe { libc::memfd_create(c"chain-fuzz".as_ptr(), 0) };
    assert!(fd >= 0, "memfd_create");
    // SAFETY: `fd` was just created and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let pattern = file_pattern();
    // SAFETY: `pattern` is valid for its length; `fd` is open.
    let n = unsafe {
        libc::pwrite(
            fd.as_fd().as_raw_fd(),
            pattern.as_ptr().cast(),
            pattern.len(),
            0,
        )
    };
    assert_eq!(n, FILE_LEN as isize, "fill memfd");
    fd
}

fn file_pattern() -> Vec<u8> {
    (0..FILE_LEN).map(|i| (i * 7 + 3) as u8).collect()
}

/// The writer as a plain byte vector.
struct Model {
    capacity: usize,
    pos: usize,
    high_water: usize,
    /// What the harness wrote at each offset (`None`: untouched).
    written: Vec<Option<u8>>,
}

impl Model {
    fn new(capacity: usize) -> Self {
        Model {
            capacity,
            pos: 0,
            high_water: 0,
            written: vec![None; capacity],
        }
    }

    fn put(&mut self, offset: usize, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            self.written[offset + i] = Some(b);
        }
        self.high_water = self.high_water.max(offset + bytes.len());
    }
}

/// One reader or writer operation.
#[derive(Debug)]
enum Op {
    Read(usize),
    ReadToFile { count: usize, offset: Option<u64> },
    Write(usize),
    WriteAt { offset: usize, len: usize },
    Seek(usize),
    WriteFromFile { count: usize, offset: u64 },
}

impl Op {
    fn decode(input: &mut Bytes<'_>) -> Op {
        let kind = input.u8();
        let a = usize::from(input.u16());
        let b = usize::from(input.u16());
        match kind % 6 {
            0 => Op::Read(a),
            1 => Op::ReadToFile {
                count: a,
                offset: (b != 0xffff).then_some(b as u64 % FILE_LEN as u64),
            },
            2 => Op::Write(a),
            3 => Op::WriteAt { offset: a, len: b },
            4 => Op::Seek(a),
            _ => Op::WriteFromFile {
                count: a,
                offset: b as u64,
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        reader: &mut impl Reader,
        writer: &mut impl Writer,
        files: &Files,
        readable: &[u8],
        read_pos: &mut usize,
        model: &mut Model,
        aliased: bool,
    ) {
        match *self {
            Op::Read(n) => {
                let mut buf = vec![0u8; n];
                let result = reader.read_exact(&mut buf);
                if *read_pos + n <= readable.len() {
                    result.expect("read within the readable bytes");
                    if !aliased {
                        assert_eq!(buf, readable[*read_pos..*read_pos + n], "bytes read");
                    }
                    *read_pos += n;
                } else {
                    assert!(result.is_err(), "read past the readable bytes");
                    // The position is unspecified after a failed read.
                    *read_pos = readable.len() - reader.remaining_bytes();
                }
                assert_eq!(reader.remaining_bytes(), readable.len() - *read_pos);
            }
            Op::ReadToFile { count, offset } => {
                let Some(offset) = offset else {
                    // Appending writes go to the file position: not modelled.
                    return;
                };
                let n = reader
                    .write_to_file_at(files.sink.as_fd(), count, Some(offset))
                    .expect("pwritev into a memfd");
                assert_eq!(n, count.min(readable.len() - *read_pos), "bytes to file");
                let mut back = vec![0u8; n];
                // SAFETY: `back` is valid for `n` bytes; the fd is open.
                let got = unsafe {
                    libc::pread(
                        files.sink.as_raw_fd(),
                        back.as_mut_ptr().cast(),
                        n,
                        offset as i64,
                    )
                };
                assert_eq!(got, n as isize);
                if !aliased {
                    assert_eq!(
                        back,
                        readable[*read_pos..*read_pos + n],
                        "bytes in the file"
                    );
                }
                *read_pos += n;
                assert_eq!(reader.remaining_bytes(), readable.len() - *read_pos);
            }
            Op::Write(n) => {
                let bytes = pattern(model.pos, n);
                let result = writer.write_all(&bytes);
                if model.pos + n <= model.capacity {
                    result.expect("write within capacity");
                    let at = model.pos;
                    model.put(at, &bytes);
                    model.pos += n;
                } else {
                    assert!(result.is_err(), "write past capacity");
                }
            }
            Op::WriteAt { offset, len } => {
                let bytes = pattern(offset, len);
                let result = writer.write_at(offset, &bytes);
                if offset + len <= model.capacity {
                    result.expect("write_at within capacity");
                    model.put(offset, &bytes);
                } else {
                    assert!(result.is_err(), "write_at past capacity");
                }
            }
            Op::Seek(offset) => {
                let result = writer.seek_to(offset);
                if offset <= model.capacity {
                    result.expect("seek within capacity");
                    model.pos = offset;
                    model.high_water = model.high_water.max(offset);
                } else {
                    assert!(result.is_err(), "seek past capacity");
                }
            }
            Op::WriteFromFile { count, offset } => {
                let n = writer
                    .read_from_file_at(files.source.as_fd(), count, offset)
                    .expect("preadv from a memfd");
                let in_file = FILE_LEN.saturating_sub(offset as usize);
                let expect = count.min(model.capacity - model.pos).min(in_file);
                assert_eq!(n, expect, "bytes from file");
                if n > 0 {
                    let at = model.pos;
                    let offset = offset as usize;
                    model.put(at, &file_pattern()[offset..offset + n]);
                    model.pos += n;
                }
            }
        }
        assert_eq!(writer.position(), model.pos, "writer position");
        assert_eq!(
            writer.available_bytes(),
            model.capacity - model.pos,
            "writer room"
        );
    }
}

fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len).map(|i| (i * 13 + 1) as u8).collect()
}
