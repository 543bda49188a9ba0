//! Descriptor chains as FUSE readers and writers over guest memory.
//!
//! A chain is resolved once into two lists of host `iovec`s (the readable
//! part and the writable part) that point straight into the mapped guest
//! memory. Small request headers are copied out; READ and WRITE payloads go
//! between those `iovec`s and host files with `preadv`/`pwritev`, so no
//! payload is ever staged in a daemon buffer. The lists live in a
//! per-worker [`ChainBuffers`] that is reused for every request, so the hot
//! path makes no heap allocation once the vectors have grown.
//!
//! Nothing here knows FUSE: the protocol server sees only the
//! [`crate::fuse::io`] traits.

// Guest-supplied numbers convert with `try_from` into an errno; a lossy
// `as` cast is an error here (see docs/architecture.md, "Numbers from the
// guest"). Unit tests may cast freely.
#![cfg_attr(
    not(test),
    deny(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap
    )
)]

mod chain;
mod segments;

pub use chain::{peek_readable, ChainBuffers, ChainReader, ChainWriter};

/// Why a descriptor chain cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A descriptor points outside guest memory (or at memory without a host mapping).
    #[error("descriptor at guest address {addr:#x} (len {len}) is not in guest memory")]
    BadAddress {
        /// Guest physical address of the descriptor's buffer.
        addr: u64,
        /// Length of the descriptor's buffer.
        len: u32,
    },
    /// A device-readable descriptor follows a device-writable one.
    #[error("readable descriptor after a writable one")]
    ReadableAfterWritable,
    /// The chain holds more bytes than a request may.
    #[error("descriptor chain longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: u64,
    },
}
