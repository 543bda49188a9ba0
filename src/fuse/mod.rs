//! The FUSE protocol: ABI, request decoding, dispatch and reply encoding.
//!
//! The server here is generic over [`io::Reader`] and [`io::Writer`]; it has
//! no idea whether the bytes come from a virtqueue or a test buffer, and it
//! reaches the host only through the [`crate::filesystem::FileSystem`] trait.

pub mod abi;
mod admission;
mod args;
pub mod intake;
pub mod io;
mod ops;
mod reply;
mod server;
mod syncfs_stats;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
pub mod trace;

pub use admission::{joins_epoch, Admission, Role};
pub use args::validate_name;
pub use intake::RequestHead;
pub use server::{Outcome, Scratch, Server, ServerError, ServerOptions, MAX_ARGS_LEN};
pub use syncfs_stats::SyncfsReport;
pub use trace::EpochTrace;
