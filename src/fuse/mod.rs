//! The FUSE protocol: ABI, request decoding, dispatch and reply encoding.
//!
//! The server here is generic over [`io::Reader`] and [`io::Writer`]; it has
//! no idea whether the bytes come from a virtqueue or a test buffer, and it
//! reaches the host only through the [`crate::filesystem::FileSystem`] trait.

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

pub mod abi;
mod args;
mod durability;
pub mod intake;
pub mod io;
mod migration;
mod ops;
mod reply;
mod server;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;

pub use durability::admission::{joins_epoch, Admission, Role};
pub use durability::stats::SyncfsReport;
pub use durability::trace::{self, EpochTrace};
pub use durability::SyncMode;
pub use intake::RequestHead;
pub use server::{Outcome, Scratch, Server, ServerError, ServerOptions, MAX_ARGS_LEN};
