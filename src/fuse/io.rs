//! The byte streams the FUSE server reads requests from and writes replies to.
//!
//! The server is generic over these traits, so it runs the same over a
//! virtqueue descriptor chain (see `crate::transport`) and over plain byte
//! buffers in unit tests and fuzzing (see [`mem`]).

use std::io;

use crate::filesystem::{ZeroCopyReader, ZeroCopyWriter};

/// A request: bytes the guest sent, consumed front to back.
pub trait Reader: ZeroCopyReader {
    /// Copies exactly `buf.len()` bytes out of the request, or fails with
    /// `UnexpectedEof` leaving the position unspecified.
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()>;
}

/// A reply: the guest's writable buffers.
///
/// The server writes the payload after a gap for the reply header, then
/// fills the header in with [`Writer::write_at`] once the length is known.
pub trait Writer: ZeroCopyWriter {
    /// Appends `buf` at the current position.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;

    /// Writes `buf` at absolute `offset` without moving the position.
    fn write_at(&mut self, offset: usize, buf: &[u8]) -> io::Result<()>;

    /// Moves the position to absolute `offset` (at most the capacity).
    fn seek_to(&mut self, offset: usize) -> io::Result<()>;

    /// Current position: the number of bytes the reply occupies so far.
    fn position(&self) -> usize;

    /// Total size of the destination.
    fn capacity(&self) -> usize;
}

/// Error for a destination or source that is too small.
pub(crate) fn too_short() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "buffer too short")
}

pub mod mem {
    //! Reader and writer over ordinary memory, for tests and fuzzing.

    use std::io;
    use std::os::fd::BorrowedFd;

    use super::{too_short, Reader, Writer};
    use crate::filesystem::{ZeroCopyReader, ZeroCopyWriter};

    /// Reads a request out of a byte slice.
    pub struct SliceReader<'a> {
        data: &'a [u8],
    }

    impl<'a> SliceReader<'a> {
        /// Wraps `data`.
        pub fn new(data: &'a [u8]) -> Self {
            SliceReader { data }
        }
    }

    impl ZeroCopyReader for SliceReader<'_> {
        fn write_to_file_at(
            &mut self,
            fd: BorrowedFd<'_>,
            count: usize,
            offset: Option<u64>,
        ) -> io::Result<usize> {
            let count = count.min(self.data.len());
            let written = crate::sys::datapath::pwrite(fd, &self.data[..count], offset)?;
            self.data = &self.data[written..];
            Ok(written)
        }

        fn remaining_bytes(&self) -> usize {
            self.data.len()
        }
    }

    impl Reader for SliceReader<'_> {
        fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
            if buf.len() > self.data.len() {
                return Err(too_short());
            }
            let (head, tail) = self.data.split_at(buf.len());
            buf.copy_from_slice(head);
            self.data = tail;
            Ok(())
        }
    }

    /// Collects a reply in a fixed-size byte vector.
    pub struct VecWriter {
        buf: Vec<u8>,
        pos: usize,
        high_water: usize,
    }

    impl VecWriter {
        /// A destination of `capacity` bytes.
        pub fn new(capacity: usize) -> Self {
            VecWriter {
                buf: vec![0; capacity],
                pos: 0,
                high_water: 0,
            }
        }

        /// The bytes written so far (up to the furthest position reached).
        pub fn written(&self) -> &[u8] {
            &self.buf[..self.high_water]
        }

        fn advance(&mut self, n: usize) {
            self.pos += n;
            self.high_water = self.high_water.max(self.pos);
        }
    }

    impl ZeroCopyWriter for VecWriter {
        fn read_from_file_at(
            &mut self,
            fd: BorrowedFd<'_>,
            count: usize,
            offset: u64,
        ) -> io::Result<usize> {
            let count = count.min(self.buf.len() - self.pos);
            let dst = &mut self.buf[self.pos..self.pos + count];
            let n = crate::sys::datapath::pread(fd, dst, offset)?;
            self.advance(n);
            Ok(n)
        }

        fn available_bytes(&self) -> usize {
            self.buf.len() - self.pos
        }
    }

    impl Writer for VecWriter {
        fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
            if data.len() > self.available_bytes() {
                return Err(too_short());
            }
            self.buf[self.pos..self.pos + data.len()].copy_from_slice(data);
            self.advance(data.len());
            Ok(())
        }

        fn write_at(&mut self, offset: usize, data: &[u8]) -> io::Result<()> {
            let end = offset.checked_add(data.len()).ok_or_else(too_short)?;
            if end > self.buf.len() {
                return Err(too_short());
            }
            self.buf[offset..end].copy_from_slice(data);
            self.high_water = self.high_water.max(end);
            Ok(())
        }

        fn seek_to(&mut self, offset: usize) -> io::Result<()> {
            if offset > self.buf.len() {
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
            self.buf.len()
        }
    }
}
