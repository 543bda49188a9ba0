//! The `VhostUserBackend` implementation for virtio-fs.
//!
//! It owns features, queue layout, config space and event handling, and
//! nothing else: requests go to the per-queue pools, FORGETs on the
//! high-priority queue are served inline. Which epoll thread serves which
//! queue is the [`ThreadLayout`]'s business.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::{debug, error};
use vhost::vhost_user::message::{VhostUserProtocolFeatures, VhostUserVirtioFeatures};
use vhost_user_backend::{VhostUserBackend, VringRwLock, VringT};
use virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;
use virtio_bindings::virtio_ring::{VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC};
use virtio_queue::QueueT;
use vm_memory::{GuestAddressSpace, GuestMemoryAtomic};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::event::{
    new_event_consumer_and_notifier, EventConsumer, EventFlag, EventNotifier,
};

use super::config_space;
use super::layout::ThreadLayout;
use super::poll::Poller;
use super::pool::QueuePool;
use super::request::{self, Chain, GuestMem, Job, Peek, WorkerBuffers};
use super::DeviceError;
use crate::filesystem::FileSystem;
use crate::fuse::abi::Opcode;
use crate::fuse::{self, Admission, Server, ADMISSION_HEADER_LEN};
use crate::transport::peek_readable;

/// Index of the high-priority queue (FORGET only).
const HIPRIO_QUEUE: usize = 0;

/// Most chains one pass over a request queue may find and still serve on
/// the queue's epoll thread, one after the other, instead of waking workers.
/// A thread wake-up costs more than a quick request, so a guest keeping up
/// to this many requests in flight is best served by one thread (measured:
/// at depth 16, 4 KiB READs went from 197k to 343k ops/s against 4 with the
/// rest handed to workers); past this many the requests are piling up and go
/// to the workers, where a slow one holds up no other. The worst an inline
/// pass can do is make the requests of its own pass, and the kicks of the
/// other queues sharing its epoll thread, wait for each other; requests that
/// may block on others (SYNCFS, FSYNC, SETLKW, ...) never run inline.
const INLINE_BATCH: usize = 32;

/// Largest READ or WRITE (bytes moved) an epoll thread that serves several
/// queues still serves inline. Moving more takes longer than waking a
/// worker, and while the thread copies, the other queues it serves wait:
/// with 4 queues on one thread, 1 MiB READs at depth 1 ran at 0.4x of one
/// thread per queue when served inline one after the other. A thread serving
/// one queue serves any size inline (nothing else waits for it).
const SHARED_INLINE_MAX_BYTES: u32 = 64 * 1024;

/// Largest queue size the device accepts.
pub const MAX_QUEUE_SIZE: usize = 1024;

/// How the device is laid out.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// Number of request queues (the high-priority queue comes on top).
    pub num_request_queues: usize,
    /// Tag exposed in config space; `None` keeps CONFIG unadvertised.
    pub tag: Option<String>,
    /// Most worker threads one request queue may use at once.
    pub workers_per_queue: usize,
    /// Epoll threads sharing the request queues (1 to `num_request_queues`;
    /// the high-priority queue has a thread of its own on top).
    pub queue_threads: usize,
    /// Longest a queue thread busy-polls its queues after serving requests
    /// before it goes back to sleep (zero: never; see [`super::poll`]).
    pub poll: Duration,
}

/// Polling state of one drain on a request thread.
struct Polling<'a> {
    /// The epoll thread whose window applies.
    thread: usize,
    /// Set by the dispatcher when it hands a request to a worker.
    handed_off: &'a Cell<bool>,
}

impl Polling<'_> {
    /// Records how the dispatcher handled a request of the current pass.
    fn dispatched(&self, inline: bool) {
        if !inline {
            self.handed_off.set(true);
        }
    }

    /// Whether to poll after the pass just done, which is not the case
    /// when it handed requests to workers: on a host with few cores the
    /// spinning would take the CPU they need, and the guest's next request
    /// waits for their answers anyway. Resets the record for the next pass.
    fn after_pass(&self) -> bool {
        !self.handed_off.replace(false)
    }
}

/// A virtio-fs device serving one FUSE server.
pub struct FsBackend<F> {
    server: Arc<Server<F>>,
    options: DeviceOptions,
    mem: GuestMemoryAtomic<GuestMem>,
    event_idx: AtomicBool,
    pools: Vec<QueuePool<F>>,
    hiprio_buffers: Mutex<WorkerBuffers>,
    layout: ThreadLayout,
    poller: Poller,
}

impl<F: FileSystem + 'static> FsBackend<F> {
    /// A device over `server`, reading guest memory through `mem` (the same
    /// atomic the vhost-user handler updates on SET_MEM_TABLE). Fails if the
    /// queue or thread counts of `options` admit no layout.
    pub fn new(
        server: Arc<Server<F>>,
        options: DeviceOptions,
        mem: GuestMemoryAtomic<GuestMem>,
    ) -> Result<Self, DeviceError> {
        let layout = ThreadLayout::new(options.num_request_queues, options.queue_threads)?;
        let pools = (0..options.num_request_queues)
            .map(|i| {
                QueuePool::new(
                    Arc::clone(&server),
                    i + 1,
                    MAX_QUEUE_SIZE,
                    options.workers_per_queue,
                )
            })
            .collect();
        let poller = Poller::new(options.poll, layout.masks().len());
        Ok(FsBackend {
            server,
            options,
            mem,
            event_idx: AtomicBool::new(false),
            pools,
            hiprio_buffers: Mutex::new(WorkerBuffers::new(MAX_QUEUE_SIZE)),
            layout,
            poller,
        })
    }

    /// Which epoll thread serves which queue.
    pub fn layout(&self) -> &ThreadLayout {
        &self.layout
    }

    /// Pops every available chain of `vring` and hands each to `dispatch`,
    /// polling for more a while (with EVENT_IDX, if `polling` is given)
    /// and re-checking after re-enabling notifications so no kick is lost.
    fn drain_queue(
        &self,
        polling: Option<&Polling>,
        queue: usize,
        vring: &VringRwLock,
        mut dispatch: impl FnMut(Job, bool),
    ) -> Result<(), DeviceError> {
        let event_idx = self.event_idx.load(Ordering::Relaxed);
        loop {
            if event_idx {
                vring.disable_notification().map_err(DeviceError::Queue)?;
            }
            let popped = self.pop_pass(queue, vring, &mut dispatch);
            let poll = polling.filter(|p| p.after_pass() && event_idx && popped > 0);
            if poll.is_some_and(|p| self.poll_for_more(p, [vring])) {
                continue;
            }
            if !event_idx || !vring.enable_notification().map_err(DeviceError::Queue)? {
                return Ok(());
            }
        }
    }

    /// Drains every request queue of an epoll thread that serves several,
    /// in rounds: each round pops what each queue holds, and the rounds go
    /// on, notifications off, until one finds nothing. A busy thread thus
    /// picks up the requests of its other queues without waiting for their
    /// kicks (which the guest does not send while notifications are off),
    /// and a deep queue cannot keep the others waiting longer than a pass.
    fn drain_thread(
        &self,
        polling: &Polling,
        vrings: &[VringRwLock],
        mut dispatch: impl FnMut(usize, Job, bool),
    ) -> Result<(), DeviceError> {
        let event_idx = self.event_idx.load(Ordering::Relaxed);
        let thread_id = polling.thread;
        let queues = || {
            vrings.iter().enumerate().filter_map(move |(event, vring)| {
                let queue = self.layout.queue(thread_id, event as u16)?;
                let serving = queue != HIPRIO_QUEUE && {
                    let state = vring.get_ref();
                    state.is_enabled() && state.get_queue().ready()
                };
                serving.then_some((queue, vring))
            })
        };
        loop {
            let mut found = false;
            loop {
                let mut popped = 0;
                for (queue, vring) in queues() {
                    if event_idx {
                        vring.disable_notification().map_err(DeviceError::Queue)?;
                    }
                    popped +=
                        self.pop_pass(queue, vring, &mut |job, alone| dispatch(queue, job, alone));
                }
                if popped == 0 {
                    break;
                }
                found = true;
            }
            if !event_idx {
                return Ok(());
            }
            let poll = polling.after_pass() && found;
            if poll && self.poll_for_more(polling, queues().map(|(_, vring)| vring)) {
                continue;
            }
            let mut more = false;
            for (_, vring) in queues() {
                more |= vring.enable_notification().map_err(DeviceError::Queue)?;
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// Busy-polls `vrings` (notifications still off) within the polling
    /// thread's window; true when one of them has a request.
    fn poll_for_more<'a>(
        &self,
        polling: &Polling,
        vrings: impl IntoIterator<Item = &'a VringRwLock> + Clone,
    ) -> bool {
        let mem = self.mem.memory();
        self.poller.poll(polling.thread, || {
            vrings.clone().into_iter().any(|vring| {
                let state = vring.get_ref();
                let queue = state.get_queue();
                queue
                    .avail_idx(&*mem, Ordering::Acquire)
                    .is_ok_and(|avail| avail.0 != queue.next_avail())
            })
        })
    }

    /// Pops the chains `vring` holds now and hands each to `dispatch`;
    /// returns how many. `dispatch`'s flag is true for the chains of a pass
    /// that found at most [`INLINE_BATCH`] of them (they may be served
    /// inline, one after the other; notifications are still off then, so
    /// the guest does not kick while they run). In a longer pass every
    /// chain gets `false`.
    fn pop_pass(
        &self,
        queue: usize,
        vring: &VringRwLock,
        dispatch: &mut impl FnMut(Job, bool),
    ) -> usize {
        let mem = self.mem.memory();
        let mut batch: [Option<Job>; INLINE_BATCH] = Default::default();
        let mut popped = 0usize;
        loop {
            let chain = vring
                .get_mut()
                .get_queue_mut()
                .pop_descriptor_chain(mem.clone());
            let Some(chain) = chain else { break };
            let (admission, peek) = self.admit(queue, &mem, &chain);
            let job = Job {
                mem: mem.clone(),
                chain,
                vring: vring.clone(),
                admission,
                peek,
            };
            if popped == INLINE_BATCH {
                // The requests pile up: the whole pass goes to workers.
                batch
                    .iter_mut()
                    .filter_map(Option::take)
                    .for_each(|held| dispatch(held, false));
            }
            match batch.get_mut(popped) {
                Some(slot) => *slot = Some(job),
                None => dispatch(job, false),
            }
            popped += 1;
        }
        batch
            .into_iter()
            .flatten()
            .for_each(|held| dispatch(held, true));
        popped
    }

    /// Lets the server decide, now that the chain is off the queue, whether
    /// the request joins the current SYNCFS epoch or closes it. Also returns
    /// what the inline decision needs to know of the request.
    fn admit(&self, queue: usize, mem: &GuestMem, chain: &Chain) -> (Admission, Peek) {
        let mut header = [0u8; ADMISSION_HEADER_LEN];
        if !peek_readable(mem, chain.clone(), &mut header) {
            return (Admission::FREE, Peek::default());
        }
        let opcode = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        // Only a thread serving several queues cares how much a request
        // moves; the others skip the second peek at a READ.
        let data_len = if self.layout.shares_thread(queue) {
            fuse::data_len(&header, |buf| peek_readable(mem, chain.clone(), buf))
        } else {
            0
        };
        let peek = Peek { opcode, data_len };
        if queue == HIPRIO_QUEUE {
            return (Admission::FREE, peek);
        }
        (self.server.admit(&header, queue - 1), peek)
    }

    /// May a request, alone on its queue, be served on the queue's epoll
    /// thread? Only requests that cannot wait on other requests or on a
    /// disk flush (the thread's queues are not polled while it runs), and
    /// on a thread serving several queues only READs and WRITEs of at most
    /// [`SHARED_INLINE_MAX_BYTES`].
    fn inline_ok(&self, peek: Peek) -> bool {
        if peek.data_len > SHARED_INLINE_MAX_BYTES {
            return false;
        }
        let Ok(op) = Opcode::try_from(peek.opcode) else {
            return true; // answered with ENOSYS at once
        };
        #[cfg(feature = "test-hooks")]
        if op == Opcode::Write && self.server.options.hooks.slow_write_offset.is_some() {
            // The hooks hold such WRITEs on purpose: treat them like a WRITE
            // stuck on slow storage.
            return false;
        }
        !matches!(
            op,
            Opcode::Setlkw
                | Opcode::Syncfs
                | Opcode::Fsync
                | Opcode::Fsyncdir
                | Opcode::Flush
                | Opcode::Fallocate
                | Opcode::CopyFileRange
                | Opcode::Ioctl
                | Opcode::Poll
                | Opcode::Destroy
        )
    }

    fn serve_hiprio(&self, vring: &VringRwLock) -> Result<(), DeviceError> {
        let mut buffers = self
            .hiprio_buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut result = Ok(());
        self.drain_queue(None, HIPRIO_QUEUE, vring, |job, _| {
            if let Err(err) = request::run(&self.server, job, &mut buffers) {
                result = Err(err);
            }
        })?;
        result
    }
}

impl<F: FileSystem + 'static> VhostUserBackend for FsBackend<F> {
    type Bitmap = ();
    type Vring = VringRwLock;

    fn num_queues(&self) -> usize {
        self.options.num_request_queues + 1
    }

    fn max_queue_size(&self) -> usize {
        MAX_QUEUE_SIZE
    }

    fn features(&self) -> u64 {
        (1 << VIRTIO_F_VERSION_1)
            | (1 << VIRTIO_RING_F_INDIRECT_DESC)
            | (1 << VIRTIO_RING_F_EVENT_IDX)
            | VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits()
    }

    fn protocol_features(&self) -> VhostUserProtocolFeatures {
        let mut features = VhostUserProtocolFeatures::MQ
            | VhostUserProtocolFeatures::REPLY_ACK
            | VhostUserProtocolFeatures::CONFIGURE_MEM_SLOTS;
        if self.options.tag.is_some() {
            features |= VhostUserProtocolFeatures::CONFIG;
        }
        features
    }

    fn set_event_idx(&self, enabled: bool) {
        self.event_idx.store(enabled, Ordering::Relaxed);
    }

    fn get_config(&self, offset: u32, size: u32) -> Vec<u8> {
        let Some(tag) = &self.options.tag else {
            return Vec::new();
        };
        let config = config_space::encode(tag, self.options.num_request_queues as u32);
        config_space::slice(&config, offset, size)
    }

    fn update_memory(&self, _mem: GuestMemoryAtomic<GuestMem>) -> io::Result<()> {
        // `self.mem` is a clone of the handler's atomic, so it already sees
        // the new table.
        Ok(())
    }

    fn exit_event(&self, _thread_index: usize) -> Option<(EventConsumer, EventNotifier)> {
        // Without an exit event the epoll threads never stop and the handler
        // blocks joining them when the frontend goes away.
        match new_event_consumer_and_notifier(EventFlag::NONBLOCK) {
            Ok(pair) => Some(pair),
            Err(err) => {
                error!("cannot create an exit event: {err}");
                None
            }
        }
    }

    fn queues_per_thread(&self) -> Vec<u64> {
        self.layout.masks()
    }

    fn handle_event(
        &self,
        device_event: u16,
        evset: EventSet,
        vrings: &[VringRwLock],
        thread_id: usize,
    ) -> io::Result<()> {
        if evset != EventSet::IN {
            return Err(DeviceError::UnexpectedEvent(evset.bits()).into());
        }
        // `vrings` holds only this thread's queues, ascending, and
        // `device_event` indexes into them; the layout knows which they are.
        let unknown = DeviceError::UnknownEvent {
            thread: thread_id,
            event: device_event,
        };
        let (Some(queue), Some(vring)) = (
            self.layout.queue(thread_id, device_event),
            vrings.get(usize::from(device_event)),
        ) else {
            return Err(unknown.into());
        };
        if queue == HIPRIO_QUEUE {
            return Ok(self.serve_hiprio(vring)?);
        }
        self.poller.woke(thread_id);
        let drained = self.drain_request_queues(thread_id, queue, vrings, vring);
        self.poller.sleeping(thread_id);
        Ok(drained?)
    }
}

impl<F: FileSystem + 'static> FsBackend<F> {
    /// Serves what the request queues of thread `thread_id` hold, after a
    /// kick on `queue` (whose vring is `vring`).
    fn drain_request_queues(
        &self,
        thread_id: usize,
        queue: usize,
        vrings: &[VringRwLock],
        vring: &VringRwLock,
    ) -> Result<(), DeviceError> {
        let handed_off = Cell::new(false);
        let polling = Polling {
            thread: thread_id,
            handed_off: &handed_off,
        };
        if self.layout.shares_thread(queue) {
            self.drain_thread(&polling, vrings, |queue, job, alone| {
                let inline = alone && self.inline_ok(job.peek);
                polling.dispatched(inline);
                match self.pools.get(queue - 1) {
                    Some(pool) => pool.dispatch(job, inline),
                    None => error!("queue {queue} has no pool; request dropped"),
                }
            })?;
            debug!("thread {thread_id} drained");
            return Ok(());
        }
        let Some(pool) = self.pools.get(queue - 1) else {
            error!("queue {queue} has no pool; its requests stay queued");
            return Ok(());
        };
        self.drain_queue(Some(&polling), queue, vring, |job, alone| {
            let inline = alone && self.inline_ok(job.peek);
            polling.dispatched(inline);
            pool.dispatch(job, inline)
        })?;
        debug!("queue {queue} drained");
        Ok(())
    }
}
