//! Coverage-guided fuzz targets of epochfsd.
//!
//! Each module is one target: a `run(&[u8])` that decodes the input, drives
//! the daemon's code and panics on any broken property. The AFL++ entry
//! points in `src/bin/` (feature `afl`) call them; `tests/replay.rs` runs
//! every file of `corpus/` and `regressions/` through them with plain
//! `cargo test`. See `docs/fuzzing.md`.

pub mod chain;
pub mod epoch_model;
pub mod fuse_dispatch;
pub mod seeds;

/// A cursor over the fuzz input that never fails: past the end it yields
/// zeros and empty slices.
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// Wraps `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }

    /// Whether the input is used up.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.data.split_at(n.min(self.data.len()));
        self.data = tail;
        head
    }

    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    /// A little-endian `u16` (missing bytes are 0).
    pub fn u16(&mut self) -> u16 {
        let mut buf = [0u8; 2];
        let got = self.take(2);
        buf[..got.len()].copy_from_slice(got);
        u16::from_le_bytes(buf)
    }
}

/// A target's entry point.
pub type Target = fn(&[u8]);

/// The targets by name, as `scripts/fuzz.sh` and the replay test know them.
pub const TARGETS: [(&str, Target); 3] = [
    ("fuse_dispatch", fuse_dispatch::run),
    ("chain", chain::run),
    ("epoch_model", epoch_model::run),
];
