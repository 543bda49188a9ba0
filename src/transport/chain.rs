//! Resolving a descriptor chain into readable and writable segments, and the
//! reader and writer the FUSE server uses over them.

use crate::sys::datapath;
use std::io;
use std::marker::PhantomData;
use std::os::fd::BorrowedFd;

use virtio_queue::desc::split::Descriptor;
use vm_memory::bitmap::Bitmap;
use vm_memory::{GuestAddress, GuestMemory, Permissions};

use super::segments::Cursor;
use super::ChainError;
use crate::filesystem::{ZeroCopyReader, ZeroCopyWriter};
use crate::fuse::io::{too_short, Reader, Writer};

/// Upper bound on the bytes of one chain (the virtio limit is 4 GiB; FUSE
/// requests are far smaller). Keeps all arithmetic in `usize` comfortable.
const MAX_CHAIN_BYTES: u64 = 64 << 20;

/// Per-worker reusable storage for resolved chains.
#[derive(Default)]
pub struct ChainBuffers {
    readable: Vec<libc::iovec>,
    writable: Vec<libc::iovec>,
    read_scratch: Vec<libc::iovec>,
    write_scratch: Vec<libc::iovec>,
    /// Guest address and length of each device-writable descriptor, in
    /// chain order, for the dirty log ([`ChainBuffers::mark_written`]).
    writable_guest: Vec<(u64, u32)>,
}

// SAFETY: the raw pointers in the vectors are only dereferenced through a
// `ChainReader`/`ChainWriter`, whose lifetime is tied to the borrow of the
// guest memory they point into; between requests the pointers are dead
// values that are cleared before the next use. Moving the buffers to another
// thread therefore cannot create a dangling access.
unsafe impl Send for ChainBuffers {}

impl ChainBuffers {
    /// Creates empty buffers sized for chains of up to `descriptors` entries.
    pub fn with_capacity(descriptors: usize) -> Self {
        ChainBuffers {
            readable: Vec::with_capacity(descriptors),
            writable: Vec::with_capacity(descriptors),
            read_scratch: Vec::with_capacity(descriptors.min(1024)),
            write_scratch: Vec::with_capacity(descriptors.min(1024)),
            writable_guest: Vec::with_capacity(descriptors),
        }
    }

    /// Resolves `descs` against `mem` into a reader over the device-readable
    /// part and a writer over the device-writable part.
    pub fn parse<'a, M, I>(
        &'a mut self,
        mem: &'a M,
        descs: I,
    ) -> Result<(ChainReader<'a>, ChainWriter<'a>), ChainError>
    where
        M: GuestMemory + ?Sized,
        I: IntoIterator<Item = Descriptor>,
    {
        self.readable.clear();
        self.writable.clear();
        self.writable_guest.clear();
        let (mut read_total, mut write_total) = (0u64, 0u64);
        // A writable descriptor of length 0 adds no segment and no byte, yet
        // a readable one after it still breaks the order (and
        // `peek_readable`, which stops at the first writable descriptor,
        // would disagree with the reader).
        let mut seen_writable = false;
        for desc in descs {
            let (list, total) = if desc.is_write_only() {
                seen_writable = true;
                if desc.len() > 0 {
                    self.writable_guest.push((desc.addr().0, desc.len()));
                }
                (&mut self.writable, &mut write_total)
            } else if !seen_writable {
                (&mut self.readable, &mut read_total)
            } else {
                return Err(ChainError::ReadableAfterWritable);
            };
            *total += u64::from(desc.len());
            if read_total + write_total > MAX_CHAIN_BYTES {
                return Err(ChainError::TooLong {
                    max: MAX_CHAIN_BYTES,
                });
            }
            push_segments(mem, &desc, list)?;
        }
        // Both fit: their sum is at most MAX_CHAIN_BYTES.
        let too_long = |_| ChainError::TooLong {
            max: MAX_CHAIN_BYTES,
        };
        let read_total = usize::try_from(read_total).map_err(too_long)?;
        let write_total = usize::try_from(write_total).map_err(too_long)?;
        let reader = ChainReader {
            cursor: Cursor::new(&self.readable, read_total),
            scratch: &mut self.read_scratch,
            _mem: PhantomData,
        };
        let writer = ChainWriter {
            segs: &self.writable,
            capacity: write_total,
            pos: 0,
            high_water: 0,
            scratch: &mut self.write_scratch,
            _mem: PhantomData,
        };
        Ok((reader, writer))
    }

    /// Marks the first `bytes` of the writable part of the chain parsed
    /// last dirty in `mem`'s dirty-page bitmap (the migration log), the
    /// way vm-memory's own writes do: the reply and READ payloads reach
    /// guest memory through raw `iovec`s, which the bitmap does not see.
    /// Call after the writer is done, with the writer's high-water mark.
    pub fn mark_written<M: GuestMemory + ?Sized>(&self, mem: &M, bytes: usize) {
        let mut left = bytes;
        for &(addr, len) in &self.writable_guest {
            if left == 0 {
                break;
            }
            let take = left.min(len as usize);
            left -= take;
            // The chain was resolved against this memory already.
            let Ok(slices) = mem.get_slices(GuestAddress(addr), take, Permissions::Write) else {
                continue;
            };
            for slice in slices.flatten() {
                slice.bitmap().mark_dirty(0, slice.len());
            }
        }
    }

    /// The host segments of the chain parsed last: readable, then writable.
    /// For checks (the fuzz targets compare them with the guest memory map);
    /// they point into guest memory that may be gone by now.
    pub fn segments(&self) -> (&[libc::iovec], &[libc::iovec]) {
        (&self.readable, &self.writable)
    }
}

/// Copies the first `buf.len()` bytes of the chain's readable part into
/// `buf` without consuming the chain; returns false when the readable part
/// is shorter or not in guest memory.
pub fn peek_readable<M, I>(mem: &M, descs: I, buf: &mut [u8]) -> bool
where
    M: GuestMemory + ?Sized,
    I: IntoIterator<Item = Descriptor>,
{
    let mut filled = 0;
    for desc in descs {
        if filled == buf.len() || desc.is_write_only() {
            break;
        }
        let Ok(len) = usize::try_from(desc.len()) else {
            return false;
        };
        let take = len.min(buf.len() - filled);
        let Ok(slices) = mem.get_slices(GuestAddress(desc.addr().0), take, Permissions::Read)
        else {
            return false;
        };
        for slice in slices {
            let Ok(slice) = slice else { return false };
            let len = slice.len();
            if slice.copy_to(&mut buf[filled..filled + len]) != len {
                return false;
            }
            filled += len;
        }
    }
    filled == buf.len()
}

/// Appends the host segments backing `desc` (one per memory region it spans),
/// extending the last segment instead when the memory follows it directly in
/// the daemon's address space: a guest buffer of consecutive pages (a huge
/// page, or a buffer the rig lays out in one piece) then reaches
/// `preadv`/`pwritev` as one long segment rather than one per page, which
/// the host kernel copies faster.
fn push_segments<M: GuestMemory + ?Sized>(
    mem: &M,
    desc: &Descriptor,
    out: &mut Vec<libc::iovec>,
) -> Result<(), ChainError> {
    let bad = || ChainError::BadAddress {
        addr: desc.addr().0,
        len: desc.len(),
    };
    if desc.len() == 0 {
        return Ok(());
    }
    let access = if desc.is_write_only() {
        Permissions::Write
    } else {
        Permissions::Read
    };
    let len = usize::try_from(desc.len()).map_err(|_| bad())?;
    let slices = mem
        .get_slices(GuestAddress(desc.addr().0), len, access)
        .map_err(|_| bad())?;
    for slice in slices {
        let slice = slice.map_err(|_| bad())?;
        let base = slice.ptr_guard_mut().as_ptr();
        match out.last_mut() {
            Some(last) if last.iov_base as usize + last.iov_len == base as usize => {
                last.iov_len += slice.len();
            }
            _ => out.push(libc::iovec {
                iov_base: base.cast(),
                iov_len: slice.len(),
            }),
        }
    }
    Ok(())
}

/// The device-readable part of a chain: the FUSE request.
pub struct ChainReader<'a> {
    cursor: Cursor<'a>,
    scratch: &'a mut Vec<libc::iovec>,
    _mem: PhantomData<&'a ()>,
}

/// The file offset `done` bytes past the guest's `offset`; `EINVAL` (as
/// for any offset beyond `off_t`) if it would not fit.
fn advanced(offset: u64, done: usize) -> io::Result<u64> {
    u64::try_from(done)
        .ok()
        .and_then(|done| offset.checked_add(done))
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
}

impl ZeroCopyReader for ChainReader<'_> {
    fn write_to_file_at(
        &mut self,
        fd: BorrowedFd<'_>,
        count: usize,
        offset: Option<u64>,
    ) -> io::Result<usize> {
        let mut done = 0;
        while done < count {
            let want = self.cursor.fill_iovecs(count - done, self.scratch);
            if want == 0 {
                break;
            }
            let at = offset.map(|o| advanced(o, done)).transpose()?;
            // SAFETY: `fill_iovecs` built every iovec from the chain's
            // readable segments, which point into mapped guest memory with
            // at least `iov_len` bytes; the mapping outlives this reader.
            let n = unsafe { datapath::pwritev(fd, self.scratch, at) }?;
            self.cursor.advance(n);
            done += n;
            if n < want {
                break;
            }
        }
        Ok(done)
    }

    fn remaining_bytes(&self) -> usize {
        self.cursor.remaining()
    }
}

impl Reader for ChainReader<'_> {
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.cursor.copy_out(buf)
    }
}

/// The device-writable part of a chain: where the FUSE reply goes.
pub struct ChainWriter<'a> {
    segs: &'a [libc::iovec],
    capacity: usize,
    pos: usize,
    high_water: usize,
    scratch: &'a mut Vec<libc::iovec>,
    _mem: PhantomData<&'a ()>,
}

impl ChainWriter<'_> {
    /// Bytes of the reply: the furthest position written.
    pub fn bytes_written(&self) -> usize {
        self.high_water
    }

    fn cursor_at(&self, offset: usize) -> Cursor<'_> {
        cursor_at(self.segs, self.capacity, offset)
    }

    fn advance(&mut self, n: usize) {
        self.pos += n;
        self.high_water = self.high_water.max(self.pos);
    }
}

impl ZeroCopyWriter for ChainWriter<'_> {
    fn read_from_file_at(
        &mut self,
        fd: BorrowedFd<'_>,
        count: usize,
        offset: u64,
    ) -> io::Result<usize> {
        let count = count.min(self.available_bytes());
        let mut done = 0;
        while done < count {
            let cursor = cursor_at(self.segs, self.capacity, self.pos);
            let want = cursor.fill_iovecs(count - done, self.scratch);
            let at = advanced(offset, done)?;
            // SAFETY: `fill_iovecs` built every iovec from the chain's
            // device-writable segments, which point into mapped guest memory
            // with at least `iov_len` bytes, only ever accessed through raw
            // pointers; the mapping outlives this writer.
            let n = unsafe { datapath::preadv(fd, self.scratch, at) }?;
            self.advance(n);
            done += n;
            if n < want || want == 0 {
                break;
            }
        }
        Ok(done)
    }

    fn available_bytes(&self) -> usize {
        self.capacity - self.pos
    }
}

impl Writer for ChainWriter<'_> {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write_at(self.pos, buf)?;
        self.advance(buf.len());
        Ok(())
    }

    fn write_at(&mut self, offset: usize, buf: &[u8]) -> io::Result<()> {
        let end = offset.checked_add(buf.len()).ok_or_else(too_short)?;
        if end > self.capacity {
            return Err(too_short());
        }
        self.cursor_at(offset).copy_in(buf)?;
        self.high_water = self.high_water.max(end);
        Ok(())
    }

    fn seek_to(&mut self, offset: usize) -> io::Result<()> {
        if offset > self.capacity {
            return Err(too_short());
        }
        self.pos = offset;
        self.high_water = self.high_water.max(offset);
        Ok(())
    }

    fn position(&self) -> usize {
        self.pos
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

fn cursor_at(segs: &[libc::iovec], capacity: usize, offset: usize) -> Cursor<'_> {
    let mut cursor = Cursor::new(segs, capacity);
    cursor.advance(offset);
    cursor
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::os::fd::AsFd;
    use virtio_queue::desc::RawDescriptor;
    use vm_memory::{Bytes, GuestMemoryMmap};

    const WRITE_ONLY: u16 = virtio_bindings::virtio_ring::VRING_DESC_F_WRITE as u16;

    fn memory() -> GuestMemoryMmap<()> {
        GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 0x10000),
            (GuestAddress(0x10000), 0x10000),
        ])
        .expect("test memory")
    }

    fn desc(addr: u64, len: u32, flags: u16) -> Descriptor {
        Descriptor::from(RawDescriptor::from(Descriptor::new(addr, len, flags, 0)))
    }

    #[test]
    fn reader_copies_across_descriptors_and_regions() {
        let mem = memory();
        mem.write_slice(b"hello ", GuestAddress(0xfffa)).unwrap();
        mem.write_slice(b"world", GuestAddress(0x100)).unwrap();
        let mut bufs = ChainBuffers::default();
        let descs = [desc(0xfffa, 6, 0), desc(0x100, 5, 0)];
        let (mut reader, _) = bufs.parse(&mem, descs).unwrap();
        let mut out = [0u8; 11];
        reader.read_exact(&mut out).unwrap();
        assert_eq!(&out, b"hello world");
        assert!(reader.read_exact(&mut [0u8; 1]).is_err());
    }

    #[test]
    fn adjacent_descriptors_become_one_segment_and_gaps_do_not() {
        let mem = memory();
        let mut bufs = ChainBuffers::default();
        let descs = [
            desc(0x1000, 0x1000, 0),
            desc(0x2000, 0x1000, 0),
            desc(0x4000, 0x1000, 0),
            desc(0x5000, 0x800, WRITE_ONLY),
            desc(0x5800, 0x800, WRITE_ONLY),
        ];
        {
            let (reader, writer) = bufs.parse(&mem, descs).unwrap();
            assert_eq!(reader.remaining_bytes(), 0x3000);
            assert_eq!(writer.capacity(), 0x1000);
        }
        let lens = |segs: &[libc::iovec]| segs.iter().map(|s| s.iov_len).collect::<Vec<_>>();
        assert_eq!(lens(&bufs.readable), [0x2000, 0x1000]);
        assert_eq!(lens(&bufs.writable), [0x1000]);
    }

    #[test]
    fn address_outside_memory_is_rejected() {
        let mem = memory();
        let mut bufs = ChainBuffers::default();
        let err = bufs.parse(&mem, [desc(0x1_0000_0000, 16, 0)]).err();
        assert!(matches!(err, Some(ChainError::BadAddress { .. })));
    }

    #[test]
    fn readable_after_writable_is_rejected() {
        let mem = memory();
        let mut bufs = ChainBuffers::default();
        let err = bufs
            .parse(&mem, [desc(0, 16, WRITE_ONLY), desc(0x100, 16, 0)])
            .err();
        assert!(matches!(err, Some(ChainError::ReadableAfterWritable)));
    }

    #[test]
    fn readable_after_an_empty_writable_descriptor_is_rejected() {
        // Found by the chain fuzz target: the empty writable descriptor left
        // no trace, so parse accepted the chain while peek_readable (which
        // stops at the first writable descriptor) saw no header.
        let mem = memory();
        let mut bufs = ChainBuffers::default();
        let descs = [desc(0x5000, 0, WRITE_ONLY), desc(0x1c01, 0x121, 0)];

        let err = bufs.parse(&mem, descs).err();

        assert!(matches!(err, Some(ChainError::ReadableAfterWritable)));
        assert!(!peek_readable(&mem, descs, &mut [0u8; 40]));
    }

    #[test]
    fn payload_moves_between_file_and_guest_memory() {
        let mem = memory();
        mem.write_slice(&[7u8; 5000], GuestAddress(0xf000)).unwrap();
        let mut file = tempfile::tempfile().unwrap();
        let mut bufs = ChainBuffers::default();
        let descs = [desc(0xf000, 5000, 0), desc(0x2000, 5000, WRITE_ONLY)];
        let (mut reader, mut writer) = bufs.parse(&mem, descs).unwrap();
        assert_eq!(
            reader
                .write_to_file_at(file.as_fd(), 5000, Some(0))
                .unwrap(),
            5000
        );
        writer.seek_to(16).unwrap();
        assert_eq!(
            writer.read_from_file_at(file.as_fd(), 9000, 0).unwrap(),
            4984
        );
        writer.write_at(0, &[1u8; 16]).unwrap();
        assert_eq!(writer.bytes_written(), 5000);
        let mut back = vec![0u8; 5000];
        mem.read_slice(&mut back, GuestAddress(0x2000)).unwrap();
        assert_eq!(&back[..16], &[1u8; 16]);
        assert!(back[16..].iter().all(|&b| b == 7));
        let mut content = Vec::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut content).unwrap();
        assert_eq!(content.len(), 5000);
        file.write_all(b"x").unwrap();
    }

    #[test]
    fn file_offsets_past_u64_are_einval_not_a_wrap() {
        assert_eq!(advanced(10, 5).unwrap(), 15);
        let err = advanced(u64::MAX, 1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }
}
