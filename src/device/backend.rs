//! The `VhostUserBackend` implementation for virtio-fs.
//!
//! It owns features, queue layout, config space and event handling, and
//! nothing else: requests go to the per-queue pools, FORGETs on the
//! high-priority queue are served inline. Which epoll thread serves which
//! queue is the [`ThreadLayout`]'s business.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::{debug, error};
use vhost::vhost_user::message::{
    VhostTransferStateDirection, VhostTransferStatePhase, VhostUserProtocolFeatures,
    VhostUserVirtioFeatures,
};
use vhost_user_backend::bitmap::BitmapMmapRegion;
use vhost_user_backend::VhostUserBackend;
use virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;
use virtio_bindings::virtio_ring::{VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC};
use vm_memory::GuestMemoryAtomic;
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::event::{
    new_event_consumer_and_notifier, EventConsumer, EventFlag, EventNotifier,
};

use super::config_space;
use super::drain::{Core, Drain, HIPRIO_QUEUE};
use super::layout::ThreadLayout;
use super::migration::{InFlight, Transfer, DRAIN_TIMEOUT};
use super::poll::Poller;
use super::pool::QueuePool;
use super::request::{self, GuestMem, Vring, WorkerBuffers};
use super::standin::{ThreadState, Watchdog};
use super::DeviceError;
use crate::filesystem::FileSystem;
use crate::fuse::Server;

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
    /// Longest a queue thread may be inside one request it serves itself
    /// before a stand-in takes its queues over (see [`super::standin`]).
    pub handoff: Duration,
}

/// A virtio-fs device serving one FUSE server.
pub struct FsBackend<F> {
    core: Arc<Core<F>>,
    options: DeviceOptions,
    hiprio_buffers: Mutex<WorkerBuffers>,
    watchdog: Watchdog,
    /// The migration state transfer under way.
    transfer: Transfer,
    /// The VMM acked `VHOST_F_LOG_ALL`: mark what the daemon writes into
    /// guest memory in the dirty log.
    dirty_log: Arc<AtomicBool>,
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
        let dirty_log = Arc::new(AtomicBool::new(false));
        let pools = (0..options.num_request_queues)
            .map(|i| {
                QueuePool::new(
                    Arc::clone(&server),
                    i + 1,
                    MAX_QUEUE_SIZE,
                    options.workers_per_queue,
                    Arc::clone(&dirty_log),
                )
            })
            .collect();
        let threads = layout.threads();
        let look_every = (options.handoff / 2).max(Duration::from_micros(50));
        let core = Arc::new(Core {
            server,
            mem,
            event_idx: AtomicBool::new(false),
            pools,
            poller: Poller::new(options.poll, threads),
            threads: (0..threads).map(|_| ThreadState::default()).collect(),
            layout,
            recheck: look_every,
            inline_pause: options.handoff * super::drain::INLINE_PAUSE_HANDOFFS,
            started: std::time::Instant::now(),
            in_flight: (0..=options.num_request_queues)
                .map(|_| Arc::new(InFlight::default()))
                .collect(),
        });
        let watchdog = Watchdog::start(Arc::clone(&core), look_every);
        Ok(FsBackend {
            core,
            options,
            hiprio_buffers: Mutex::new(WorkerBuffers::new(MAX_QUEUE_SIZE)),
            watchdog,
            transfer: Transfer::default(),
            dirty_log,
        })
    }

    /// Which epoll thread serves which queue.
    pub fn layout(&self) -> &ThreadLayout {
        &self.core.layout
    }

    /// Serves the high-priority queue on its own thread: every request
    /// there is a FORGET (or refused at once), none can block in the host.
    fn serve_hiprio(&self, vring: &Vring) -> Result<(), DeviceError> {
        let mut buffers = self
            .hiprio_buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut result = Ok(());
        self.core.drain_hiprio(vring, |job| {
            if let Err(err) = request::run(&self.core.server, job, &mut buffers, &self.dirty_log) {
                result = Err(err);
            }
        })?;
        result
    }
}

#[cfg(test)]
impl<F> FsBackend<F> {
    /// The state the device's threads share, for tests that watch it.
    pub(super) fn core(&self) -> &Arc<Core<F>> {
        &self.core
    }
}

impl<F: FileSystem + 'static> VhostUserBackend for FsBackend<F> {
    type Bitmap = BitmapMmapRegion;
    type Vring = Vring;

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
            | VhostUserVirtioFeatures::LOG_ALL.bits()
    }

    fn acked_features(&self, features: u64) {
        let log = features & VhostUserVirtioFeatures::LOG_ALL.bits() != 0;
        if self.dirty_log.swap(log, Ordering::AcqRel) != log {
            log::info!("dirty page logging {}", if log { "on" } else { "off" });
        }
    }

    fn protocol_features(&self) -> VhostUserProtocolFeatures {
        let mut features = VhostUserProtocolFeatures::MQ
            | VhostUserProtocolFeatures::REPLY_ACK
            | VhostUserProtocolFeatures::CONFIGURE_MEM_SLOTS
            | VhostUserProtocolFeatures::DEVICE_STATE
            | VhostUserProtocolFeatures::LOG_SHMFD;
        if self.options.tag.is_some() {
            features |= VhostUserProtocolFeatures::CONFIG;
        }
        features
    }

    fn set_event_idx(&self, enabled: bool) {
        self.core.event_idx.store(enabled, Ordering::Relaxed);
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

    fn set_device_state_fd(
        &self,
        direction: VhostTransferStateDirection,
        phase: VhostTransferStatePhase,
        file: File,
    ) -> io::Result<Option<File>> {
        self.transfer.start(
            &self.core.server,
            &self.core.in_flight,
            direction,
            phase,
            file,
        )?;
        Ok(None)
    }

    fn check_device_state(&self) -> io::Result<()> {
        self.transfer.check()
    }

    fn stop_vring(&self, queue_index: u32) -> io::Result<()> {
        // GET_VRING_BASE: the VMM reads the ring indexes next (to migrate
        // them, or to restart the device), so every request popped from
        // this queue must have its answer on the used ring first.
        let in_flight = usize::try_from(queue_index)
            .ok()
            .and_then(|q| self.core.in_flight.get(q));
        match in_flight {
            Some(q) if !q.wait_idle(DRAIN_TIMEOUT) => Err(io::Error::other(format!(
                "queue {queue_index}: requests still in flight after {DRAIN_TIMEOUT:?}"
            ))),
            _ => Ok(()),
        }
    }

    fn queues_per_thread(&self) -> Vec<u64> {
        self.core.layout.masks()
    }

    fn handle_event(
        &self,
        device_event: u16,
        evset: EventSet,
        vrings: &[Vring],
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
            self.core.layout.queue(thread_id, device_event),
            vrings.get(usize::from(device_event)),
        ) else {
            return Err(unknown.into());
        };
        if queue == HIPRIO_QUEUE {
            return Ok(self.serve_hiprio(vring)?);
        }
        if let Some(state) = self.core.threads.get(thread_id) {
            // The epoll loop hands every event the same vrings.
            state.vrings.get_or_init(|| vrings.to_vec());
        }
        let mut drain = Drain {
            thread: thread_id,
            watchdog: &self.watchdog,
            handed_off: false,
        };
        self.core.poller.woke(thread_id);
        let drained = self.core.drain_thread(&mut drain, vrings);
        self.core.poller.sleeping(thread_id);
        debug!("thread {thread_id} drained");
        Ok(drained?)
    }
}
