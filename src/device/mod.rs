//! The vhost-user device: glue between virtqueues and the FUSE server.
//!
//! * [`backend`]: the `VhostUserBackend` implementation: features, queues,
//!   config space, and turning a queue kick into jobs.
//! * `pool`: per-request-queue worker pools that run jobs, so a request that
//!   blocks in the host never holds up the rest of its queue.
//! * `request`: running one job: chain -> reader/writer -> server -> used ring.
//! * [`layout`]: which epoll thread serves which queue.
//! * `poll`: how long a request thread polls its queues before it sleeps.
//!
//! Threads: the vhost-user-backend crate runs one epoll thread per mask of
//! `queues_per_thread`. The high-priority queue has a thread of its own,
//! which serves FORGETs inline; the request queues share `--queue-threads`
//! threads round robin. A request queue's thread pops descriptor chains,
//! serves a short pass of quick requests itself and hands the rest to that
//! queue's pool, whose workers are started on demand up to the configured
//! limit and stay parked when idle. Dropping the device ends the watchdog
//! and, with the last reference to the shared core, every worker (a busy
//! one after its current request).

mod backend;
mod config_space;
mod drain;
pub mod layout;
mod migration;
mod poll;
mod pool;
mod request;
mod standin;
#[cfg(test)]
mod tests;

pub use backend::{DeviceOptions, FsBackend};
pub use layout::{auto_request_threads, LayoutError, ThreadLayout};

/// Errors of the device layer.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// An epoll thread reported an event the thread layout has no queue for.
    #[error("event {event} of epoll thread {thread} matches no queue")]
    UnknownEvent {
        /// The epoll thread's index.
        thread: usize,
        /// The device event (index into the thread's vrings).
        event: u16,
    },
    /// The queue and thread counts admit no thread layout.
    #[error("no thread layout for these queues")]
    Layout(#[from] LayoutError),
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
