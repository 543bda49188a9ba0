//! epochfsd: a vhost-user virtio-fs daemon.
//!
//! Layers, each knowing only the one below it:
//!
//! * [`device`]: the vhost-user backend; turns queue kicks into requests and
//!   completions into used-ring entries.
//! * [`transport`]: descriptor chains as readers and writers over guest memory.
//! * [`fuse`]: the FUSE protocol (ABI, decoding, dispatch, reply encoding),
//!   generic over the reader/writer traits, with no idea of virtqueues.
//! * [`filesystem`]: the `FileSystem` trait the protocol server calls.
//! * [`passthrough`]: the `FileSystem` that serves a host directory.
//! * [`epoch`]: the SYNCFS epoch tracker, a pure data structure.
//! * [`sys`]: small safe wrappers over the syscalls the daemon makes.
//! * [`log_limit`]: rate-limited log lines for what a guest can trigger.

pub mod cli;
pub mod crashsim;
pub mod daemon;
pub mod device;
pub mod epoch;
pub mod filesystem;
pub mod fuse;
pub mod log_limit;
pub mod passthrough;
pub mod sys;
pub mod transport;
