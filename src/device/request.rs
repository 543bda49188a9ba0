//! Running one request: resolve its chain, let the FUSE server answer it,
//! and return the chain to the guest through the used ring.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use vhost_user_backend::{VringRwLock, VringT};
use virtio_queue::DescriptorChain;
use virtio_queue::QueueT;
use vm_memory::{GuestMemoryAtomic, GuestMemoryLoadGuard, GuestMemoryMmap};

use super::dirty_bitmap::DirtyBitmap;
use super::migration::InFlight;
use super::DeviceError;
use crate::filesystem::FileSystem;
use crate::fuse::{Admission, Outcome, RequestHead, Scratch, Server};
use crate::transport::ChainBuffers;

/// Guest memory as the daemon maps it, with the dirty-page log the VMM
/// hands over during a migration (`SET_LOG_BASE`; empty until then).
pub type GuestMem = GuestMemoryMmap<DirtyBitmap>;

/// A virtqueue over that memory.
pub(crate) type Vring = VringRwLock<GuestMemoryAtomic<GuestMem>>;

/// A descriptor chain holding its own reference to the memory snapshot it
/// was popped from, so the mapping outlives the request even if the guest's
/// memory table changes meanwhile.
pub(crate) type Chain = DescriptorChain<GuestMemoryLoadGuard<GuestMem>>;

/// One request taken off a queue.
pub(crate) struct Job {
    /// The memory snapshot the chain's addresses refer to.
    pub mem: GuestMemoryLoadGuard<GuestMem>,
    pub chain: Chain,
    pub vring: Vring,
    /// The queue the chain came from.
    pub queue: usize,
    /// The request header, copied once when the chain was popped (`None`
    /// when the chain does not even hold one: the request is dropped).
    pub head: Option<RequestHead>,
    /// Epoch bookkeeping decided from `head` when the chain was popped.
    pub admission: Admission,
}

/// What a queue's requests report to the device besides their answer.
#[derive(Clone)]
pub(crate) struct Tracking {
    /// The VMM logs dirty pages (acked `VHOST_F_LOG_ALL`).
    pub dirty_log: Arc<AtomicBool>,
    /// The queue's requests in flight.
    pub in_flight: Arc<InFlight>,
}

/// Per-thread memory reused for every request the thread serves.
pub(crate) struct WorkerBuffers {
    chain: ChainBuffers,
    scratch: Scratch,
}

impl WorkerBuffers {
    pub(crate) fn new(queue_size: usize) -> Self {
        WorkerBuffers {
            chain: ChainBuffers::with_capacity(queue_size),
            scratch: Scratch::default(),
        }
    }
}

/// Serves `job` and puts its chain on the used ring, signalling the guest if
/// it wants to be told.
/// With `dirty_log` on (the VMM acked `VHOST_F_LOG_ALL` for a migration),
/// the guest memory written for the reply is marked in the dirty log; the
/// used ring is marked by the queue code's own writes. The request stops
/// counting as in flight once its answer is on the used ring.
pub(crate) fn run<F: FileSystem>(
    server: &Server<F>,
    job: Job,
    buffers: &mut WorkerBuffers,
    tracking: &Tracking,
) -> Result<(), DeviceError> {
    let result = serve_and_complete(server, job, buffers, &tracking.dirty_log);
    tracking.in_flight.finished();
    result
}

/// Marks `vring`'s used ring (flags, index, elements, `avail_event`) in the
/// dirty log: the device's writes there go through vm-memory, whose
/// accesses mark nothing (see `super::dirty_bitmap`).
pub(crate) fn mark_used_ring(vring: &Vring, mem: &GuestMem) {
    let (used, size) = {
        let state = vring.get_ref();
        let queue = state.get_queue();
        (queue.used_ring(), queue.size())
    };
    crate::transport::mark_dirty(mem, used, 6 + 8 * usize::from(size));
}

fn serve_and_complete<F: FileSystem>(
    server: &Server<F>,
    job: Job,
    buffers: &mut WorkerBuffers,
    dirty_log: &AtomicBool,
) -> Result<(), DeviceError> {
    let head = job.chain.head_index();
    let used_len = match job.head {
        Some(head) => {
            let written = serve_chain(server, &job.mem, job.chain, &head, job.admission, buffers);
            // Read after serving: logging that started meanwhile (the VMM
            // may already have copied these pages) still sees the write.
            if dirty_log.load(Ordering::Acquire) {
                buffers.chain.mark_written(&*job.mem, written.high_water);
            }
            written.used
        }
        None => {
            crate::warn_limited!("dropping a request shorter than its header");
            0
        }
    };
    let completed = complete(&job.vring, head, used_len);
    // Marked after the write, never before: a page the VMM copies between
    // the two is marked again and copied again; marking first could let
    // the VMM clear the bit and copy the page before the write lands.
    if dirty_log.load(Ordering::Acquire) {
        mark_used_ring(&job.vring, &job.mem);
    }
    completed
}

/// What serving a chain wrote into it.
struct Written {
    /// The length for the used ring (0 when the request was dropped).
    used: u32,
    /// How far into the writable part the daemon wrote anything.
    high_water: usize,
}

/// Returns the number of bytes written into the chain (0 when dropped).
fn serve_chain<F: FileSystem>(
    server: &Server<F>,
    mem: &GuestMem,
    chain: Chain,
    head: &RequestHead,
    admission: Admission,
    buffers: &mut WorkerBuffers,
) -> Written {
    let (mut reader, mut writer) = match buffers.chain.parse(mem, chain) {
        Ok(rw) => rw,
        Err(err) => {
            crate::warn_limited!("dropping malformed descriptor chain: {err}");
            return Written {
                used: 0,
                high_water: 0,
            };
        }
    };
    let used = match server.handle(
        head,
        &mut reader,
        &mut writer,
        &mut buffers.scratch,
        admission,
    ) {
        Ok(Outcome::Replied(len)) => len as u32,
        Ok(Outcome::NoReply) => 0,
        Err(err) => {
            crate::warn_limited!("dropping request: {err}");
            0
        }
    };
    Written {
        used,
        high_water: writer.bytes_written(),
    }
}

/// Adds `head` to the used ring and notifies the guest if needed.
pub(crate) fn complete(vring: &Vring, head: u16, len: u32) -> Result<(), DeviceError> {
    vring.add_used(head, len).map_err(DeviceError::Queue)?;
    if vring.needs_notification().map_err(DeviceError::Queue)? {
        vring.signal_used_queue().map_err(DeviceError::Signal)?;
    }
    Ok(())
}
