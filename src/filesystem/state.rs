//! The byte codec of migration state: what a filesystem writes on the
//! migration source and reads back on the destination.
//!
//! A pure module (no I/O). Numbers are little-endian and fixed-width, byte
//! strings carry a `u32` length first; nothing else. The reader checks every
//! length against the bytes left before it allocates, so a truncated or
//! corrupt stream ends in a [`StateError`] naming the field, never in a panic
//! or a huge allocation. Versioning and integrity (magic, version, checksum)
//! are the framing's business (`fuse::migration`); a filesystem only frames
//! its own section with [`StateWriter::section`] and its own version number.

/// Why migration state could not be saved or used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The stream ended inside a field.
    #[error("state truncated in {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// A field holds a value this daemon cannot use.
    #[error("state field {what} holds {value}, which this daemon cannot use")]
    Invalid {
        /// The field.
        what: &'static str,
        /// The value found.
        value: u64,
    },
    /// The state was written by a format version this daemon does not read.
    #[error(
        "state format {what} version {found} is not supported (this daemon reads {supported})"
    )]
    Version {
        /// Which part of the state.
        what: &'static str,
        /// The version found.
        found: u32,
        /// The version understood.
        supported: u32,
    },
    /// Bytes are left after the last field.
    #[error("{count} unexpected bytes after the state")]
    Trailing {
        /// How many.
        count: usize,
    },
    /// The content cannot be applied here (a different shared directory,
    /// an inode that cannot be found again, options the destination lacks).
    #[error("{0}")]
    Refused(String),
    /// The filesystem cannot save or load state.
    #[error("this filesystem does not support migration")]
    Unsupported,
}

/// Appends fields to a state buffer.
#[derive(Debug, Default)]
pub struct StateWriter {
    buf: Vec<u8>,
}

impl StateWriter {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Number of bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// A `u8`.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// An `i32`.
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A byte string (at most 4 GiB; migration state never holds one that
    /// long, a longer one is cut so the stream stays well formed).
    pub fn bytes(&mut self, v: &[u8]) {
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.u32(len);
        self.buf.extend_from_slice(&v[..len as usize]);
    }

    /// An optional byte string: a presence byte, then the string.
    pub fn opt_bytes(&mut self, v: Option<&[u8]>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.bytes(v);
            }
            None => self.u8(0),
        }
    }

    /// A nested section written by `fill`, prefixed with its length in bytes
    /// (`u64`), so a reader can hand it to another module whole.
    pub fn section(&mut self, fill: impl FnOnce(&mut StateWriter)) {
        let mut inner = StateWriter::new();
        fill(&mut inner);
        self.u64(inner.buf.len() as u64);
        self.buf.extend_from_slice(&inner.buf);
    }
}

/// Reads fields back, in the order they were written.
#[derive(Debug)]
pub struct StateReader<'a> {
    rest: &'a [u8],
}

impl<'a> StateReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), StateError> {
        match self.rest.len() {
            0 => Ok(()),
            count => Err(StateError::Trailing { count }),
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], StateError> {
        if self.rest.len() < n {
            return Err(StateError::Truncated { what });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], StateError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// A `u8`.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, StateError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A `u8` that must be 0 or 1.
    pub fn bool(&mut self, what: &'static str) -> Result<bool, StateError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(StateError::Invalid {
                what,
                value: u64::from(v),
            }),
        }
    }

    /// A `u32`.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, StateError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// An `i32`.
    pub fn i32(&mut self, what: &'static str) -> Result<i32, StateError> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    /// A `u64`.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, StateError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A byte string, borrowed from the stream.
    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], StateError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    /// An optional byte string.
    pub fn opt_bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>, StateError> {
        if self.bool(what)? {
            self.bytes(what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A section written by [`StateWriter::section`], as a reader of its own.
    pub fn section(&mut self, what: &'static str) -> Result<StateReader<'a>, StateError> {
        let len = self.u64(what)?;
        let len = usize::try_from(len).map_err(|_| StateError::Invalid { what, value: len })?;
        Ok(StateReader::new(self.take(len, what)?))
    }

    /// A count of records that each take at least `min_record` bytes,
    /// checked against the bytes left (so a corrupt count cannot make the
    /// caller reserve memory for records that are not there).
    pub fn count(&mut self, what: &'static str, min_record: usize) -> Result<usize, StateError> {
        let n = self.u64(what)?;
        let fits = usize::try_from(n)
            .ok()
            .filter(|&n| n.saturating_mul(min_record.max(1)) <= self.rest.len());
        fits.ok_or(StateError::Invalid { what, value: n })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_back_in_order() {
        let mut w = StateWriter::new();
        w.u8(7);
        w.u32(0xdead_beef);
        w.i32(-5);
        w.u64(u64::MAX);
        w.bytes(b"dir/file");
        w.opt_bytes(None);
        w.opt_bytes(Some(b""));
        w.section(|s| s.u64(42));
        let bytes = w.into_bytes();
        let mut r = StateReader::new(&bytes);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u32("b").unwrap(), 0xdead_beef);
        assert_eq!(r.i32("c").unwrap(), -5);
        assert_eq!(r.u64("d").unwrap(), u64::MAX);
        assert_eq!(r.bytes("e").unwrap(), b"dir/file");
        assert_eq!(r.opt_bytes("f").unwrap(), None);
        assert_eq!(r.opt_bytes("g").unwrap(), Some(&b""[..]));
        let mut s = r.section("h").unwrap();
        assert_eq!(s.u64("i").unwrap(), 42);
        s.finish().unwrap();
        r.finish().unwrap();
    }

    #[test]
    fn every_truncation_is_an_error_naming_the_field() {
        let mut w = StateWriter::new();
        w.u64(1);
        w.bytes(b"abc");
        let bytes = w.into_bytes();
        for cut in 0..bytes.len() {
            let mut r = StateReader::new(&bytes[..cut]);
            let result = r.u64("first").and_then(|_| r.bytes("second").map(|_| ()));
            assert!(
                matches!(result, Err(StateError::Truncated { .. })),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_count_larger_than_the_bytes_left_is_refused() {
        let mut w = StateWriter::new();
        w.u64(1 << 40);
        let bytes = w.into_bytes();
        let err = StateReader::new(&bytes).count("nodes", 8).unwrap_err();
        assert!(matches!(err, StateError::Invalid { what: "nodes", .. }));
    }

    #[test]
    fn a_bool_other_than_zero_or_one_is_refused() {
        let err = StateReader::new(&[2]).bool("flag").unwrap_err();
        assert!(matches!(err, StateError::Invalid { value: 2, .. }));
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let r = StateReader::new(&[1, 2, 3]);
        assert!(matches!(r.finish(), Err(StateError::Trailing { count: 3 })));
    }
}
