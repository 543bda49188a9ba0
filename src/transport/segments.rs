//! A cursor over a list of host memory segments (`iovec`s into guest memory).

use std::io;

use crate::fuse::io::too_short;

/// Largest number of `iovec`s one `preadv`/`pwritev` call takes (IOV_MAX).
const IOV_MAX: usize = 1024;

/// A position inside a list of segments.
///
/// The segments are guest memory; the caller guarantees they stay mapped
/// while the cursor is in use (see `ChainBuffers::parse`).
pub(crate) struct Cursor<'a> {
    segs: &'a [libc::iovec],
    seg: usize,
    offset: usize,
    remaining: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(segs: &'a [libc::iovec], total: usize) -> Self {
        Cursor {
            segs,
            seg: 0,
            offset: 0,
            remaining: total,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.remaining
    }

    /// Moves forward by `n` bytes (`n <= remaining`).
    pub(crate) fn advance(&mut self, mut n: usize) {
        debug_assert!(n <= self.remaining);
        self.remaining -= n;
        while n > 0 {
            let left_in_seg = self.segs[self.seg].iov_len - self.offset;
            if n < left_in_seg {
                self.offset += n;
                return;
            }
            n -= left_in_seg;
            self.seg += 1;
            self.offset = 0;
        }
        self.skip_empty();
    }

    fn skip_empty(&mut self) {
        while self.seg < self.segs.len() && self.offset == self.segs[self.seg].iov_len {
            self.seg += 1;
            self.offset = 0;
        }
    }

    /// Copies the next `buf.len()` bytes out of guest memory.
    pub(crate) fn copy_out(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if buf.len() > self.remaining {
            return Err(too_short());
        }
        let mut done = 0;
        self.for_each_chunk(buf.len(), |ptr, len| {
            // SAFETY: `ptr` is inside a segment of mapped guest memory with at
            // least `len` bytes left (see `for_each_chunk`); `buf[done..]` has
            // room for `len` bytes. Guest memory never overlaps daemon memory.
            unsafe { std::ptr::copy_nonoverlapping(ptr, buf[done..].as_mut_ptr(), len) };
            done += len;
        });
        Ok(())
    }

    /// Copies `buf` into the next `buf.len()` bytes of guest memory.
    pub(crate) fn copy_in(&mut self, buf: &[u8]) -> io::Result<()> {
        if buf.len() > self.remaining {
            return Err(too_short());
        }
        let mut done = 0;
        self.for_each_chunk(buf.len(), |ptr, len| {
            // SAFETY: as in `copy_out`, with the roles swapped; the segment is
            // a device-writable buffer.
            unsafe { std::ptr::copy_nonoverlapping(buf[done..].as_ptr(), ptr, len) };
            done += len;
        });
        Ok(())
    }

    /// Calls `f(ptr, len)` for consecutive pieces covering the next `count`
    /// bytes (`count <= remaining`) and advances past them.
    fn for_each_chunk(&mut self, count: usize, mut f: impl FnMut(*mut u8, usize)) {
        let mut left = count;
        let (mut seg, mut offset) = (self.seg, self.offset);
        while left > 0 {
            let iov = self.segs[seg];
            let len = (iov.iov_len - offset).min(left);
            // SAFETY: `offset < iov_len`, so the pointer stays inside the segment.
            let ptr = unsafe { iov.iov_base.cast::<u8>().add(offset) };
            f(ptr, len);
            left -= len;
            offset += len;
            if offset == iov.iov_len {
                seg += 1;
                offset = 0;
            }
        }
        self.advance(count);
    }

    /// Fills `out` with `iovec`s covering the next `count` bytes (capped at
    /// IOV_MAX entries); returns the number of bytes they cover. Does not
    /// advance.
    pub(crate) fn fill_iovecs(&self, count: usize, out: &mut Vec<libc::iovec>) -> usize {
        out.clear();
        let mut left = count.min(self.remaining);
        let mut covered = 0;
        let mut offset = self.offset;
        for iov in &self.segs[self.seg.min(self.segs.len())..] {
            if left == 0 || out.len() == IOV_MAX {
                break;
            }
            let len = (iov.iov_len - offset).min(left);
            if len > 0 {
                out.push(libc::iovec {
                    // SAFETY: `offset <= iov_len`, so the pointer stays in (or one
                    // past) the segment.
                    iov_base: unsafe { iov.iov_base.cast::<u8>().add(offset) }.cast(),
                    iov_len: len,
                });
            }
            left -= len;
            covered += len;
            offset = 0;
        }
        covered
    }
}
