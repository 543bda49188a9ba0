//! The vhost-user device: glue between virtqueues and the FUSE server.
//!
//! * [`backend`]: the `VhostUserBackend` implementation: features, queues,
//!   config space, and turning a queue kick into jobs.
//! * `pool`: per-request-queue worker pools that run jobs, so a request that
//!   blocks in the host never holds up the rest of its queue.
//! * `request`: running one job: chain -> reader/writer -> server -> used ring.
//!
//! Threads: the vhost-user-backend crate runs one epoll thread per queue
//! (see `queues_per_thread`). The high-priority queue's thread serves FORGETs
//! inline. A request queue's thread pops descriptor chains, serves a short
//! pass of quick requests itself and hands the rest to that queue's pool, whose workers are started on demand up to the
//! configured limit and stay parked when idle.

mod backend;
mod config_space;
mod pool;
mod request;

pub use backend::{DeviceOptions, FsBackend};

/// Errors of the device layer.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// An event arrived for a queue the device does not have.
    #[error("event for unknown queue {0}")]
    UnknownQueue(u16),
    /// An event other than "readable" arrived on a kick fd.
    #[error("unexpected epoll event set {0:#x}")]
    UnexpectedEvent(u32),
    /// Accessing a virtqueue failed.
    #[error("virtqueue access failed")]
    Queue(#[source] virtio_queue::Error),
    /// Signalling the guest failed.
    #[error("signalling the used queue failed")]
    Signal(#[source] std::io::Error),
}

impl From<DeviceError> for std::io::Error {
    fn from(err: DeviceError) -> Self {
        std::io::Error::other(err)
    }
}
