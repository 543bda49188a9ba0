//! Draining request queues: taking chains off the virtqueues, admitting
//! them, and deciding who serves each (the queue's own thread, or a worker).
//!
//! A request thread drains its queues in passes, notifications off (with
//! EVENT_IDX). The requests of a short pass (at most [`INLINE_BATCH`]) that
//! cannot wait on other requests are served by the thread itself, one after
//! the other, which saves a hand-off per request at low depth; everything
//! else goes to the queue's workers. Serving a request itself is the only
//! thing a queue thread may block in, and [`super::standin`] makes sure
//! even that cannot hold the queues: a thread stuck in one request longer
//! than the hand-off time is replaced by a stand-in until it is back.
//!
//! The FUSE layer classifies requests ([`RequestHead`]); nothing here reads
//! a request's bytes itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, error};
use vhost_user_backend::VringT;
use virtio_queue::QueueT;
use vm_memory::{GuestAddressSpace, GuestMemoryAtomic};
use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};

use super::layout::ThreadLayout;
use super::migration::InFlight;
use super::poll::Poller;
use super::pool::QueuePool;
use super::request::{self, Chain, GuestMem, Job, Vring};
use super::standin::{StandInHost, ThreadState, Watchdog};
use super::DeviceError;
use crate::filesystem::FileSystem;
use crate::fuse::{Admission, RequestHead, Server};
use crate::transport::peek_readable;

/// Index of the high-priority queue (FORGET only).
pub(crate) const HIPRIO_QUEUE: usize = 0;

/// Most chains one pass over a request queue may find and still have the
/// quick ones served on the queue's thread, one after the other, instead
/// of waking workers. A thread wake-up costs more than a quick request, so
/// a guest keeping a few requests in flight is best served by one thread;
/// past this many the requests are piling up and go to the workers, where
/// they run in parallel. (Measurements: `docs/benchmarks.md`.)
pub(super) const INLINE_BATCH: usize = 32;

/// How long a queue thread that needed a stand-in hands every request to
/// workers, in hand-off times: on storage where requests keep blocking, a
/// stand-in (a thread start and a wake-up) for every request would cost
/// more than the worker hand-off it was meant to save; after the pause the
/// thread tries serving requests itself again.
pub(crate) const INLINE_PAUSE_HANDOFFS: u32 = 100;

/// Largest READ or WRITE (bytes moved) a thread that serves several queues
/// still serves itself: while it copies, its other queues wait, and moving
/// more takes longer than waking a worker. A thread serving one queue
/// serves any size itself (nothing else waits for it).
const SHARED_INLINE_MAX_BYTES: u32 = 64 * 1024;

/// Everything the queue threads, their stand-ins and the watchdog share.
pub(crate) struct Core<F> {
    pub(crate) server: Arc<Server<F>>,
    pub(crate) mem: GuestMemoryAtomic<GuestMem>,
    pub(crate) event_idx: AtomicBool,
    pub(crate) pools: Vec<QueuePool<F>>,
    pub(crate) layout: ThreadLayout,
    pub(crate) poller: Poller,
    /// Per epoll thread (index 0 is the high-priority thread).
    pub(crate) threads: Vec<ThreadState>,
    /// How often a stand-in checks whether its thread is back.
    pub(crate) recheck: Duration,
    /// How long a thread that needed a stand-in serves nothing itself.
    pub(crate) inline_pause: Duration,
    /// The clock of the inline pauses.
    pub(crate) started: Instant,
    /// Requests in flight, per queue (index = queue number).
    pub(crate) in_flight: Vec<Arc<InFlight>>,
    /// The VMM logs dirty pages (acked `VHOST_F_LOG_ALL`).
    pub(crate) dirty_log: Arc<AtomicBool>,
}

/// A request thread's drain in progress.
pub(crate) struct Drain<'a> {
    /// The epoll thread draining.
    pub(crate) thread: usize,
    /// The thread's watchdog, told about every request it serves itself.
    pub(crate) watchdog: &'a Watchdog,
    /// Whether any request of the current pass went to a worker.
    pub(crate) handed_off: bool,
}

impl<F: FileSystem + 'static> Core<F> {
    /// The vrings of thread `thread` (of which `vrings` is the list the
    /// epoll loop passes, in device-event order) that are request queues
    /// ready to be served, with their queue numbers.
    fn serving<'v>(
        &'v self,
        thread: usize,
        vrings: &'v [Vring],
    ) -> impl Iterator<Item = (usize, &'v Vring)> + Clone + 'v {
        vrings.iter().enumerate().filter_map(move |(event, vring)| {
            let queue = self.layout.queue(thread, u16::try_from(event).ok()?)?;
            let serving = queue != HIPRIO_QUEUE && {
                let state = vring.get_ref();
                state.is_enabled() && state.get_queue().ready()
            };
            serving.then_some((queue, vring))
        })
    }

    /// Drains every request queue of `drain.thread` in rounds until a round
    /// finds nothing, polling a while before giving up (see
    /// [`super::poll`]), and re-checks after re-enabling notifications so
    /// no kick is lost. A kick on one queue thus also serves the thread's
    /// other queues, whose kicks the guest does not send while
    /// notifications are off.
    pub(crate) fn drain_thread(
        &self,
        drain: &mut Drain,
        vrings: &[Vring],
    ) -> Result<(), DeviceError> {
        let event_idx = self.event_idx.load(Ordering::Relaxed);
        let queues = self.serving(drain.thread, vrings);
        loop {
            let mut found = false;
            loop {
                let mut popped = 0;
                for (queue, vring) in queues.clone() {
                    if event_idx {
                        vring.disable_notification().map_err(DeviceError::Queue)?;
                    }
                    popped += self.serve_pass(drain, queue, vring);
                }
                if popped == 0 {
                    break;
                }
                found = true;
            }
            if !event_idx {
                return Ok(());
            }
            let poll = found && !std::mem::take(&mut drain.handed_off);
            if poll && self.poll_for_more(drain.thread, queues.clone().map(|(_, v)| v)) {
                continue;
            }
            if !self.enable_notifications(queues.clone().map(|(_, v)| v))? {
                return Ok(());
            }
        }
    }

    /// Drains the high-priority queue `vring`, serving each request with
    /// `serve` in queue order on the calling thread (thread 0).
    pub(crate) fn drain_hiprio(
        &self,
        vring: &Vring,
        mut serve: impl FnMut(Job),
    ) -> Result<(), DeviceError> {
        let Some(state) = self.threads.first() else {
            return Ok(());
        };
        let event_idx = self.event_idx.load(Ordering::Relaxed);
        loop {
            if event_idx {
                vring.disable_notification().map_err(DeviceError::Queue)?;
            }
            self.pop_pass(state, HIPRIO_QUEUE, vring, &mut serve);
            if !event_idx || !self.enable_notification(vring)? {
                return Ok(());
            }
        }
    }

    /// Re-enables notifications on `vring` (EVENT_IDX: writes `avail_event`
    /// into the used ring, marked in the dirty log while logging); true when
    /// it got a request meanwhile.
    fn enable_notification(&self, vring: &Vring) -> Result<bool, DeviceError> {
        let more = vring.enable_notification().map_err(DeviceError::Queue)?;
        if self.dirty_log.load(Ordering::Acquire) {
            request::mark_used_ring(vring, &self.mem.memory());
        }
        Ok(more)
    }

    /// Re-enables notifications on `vrings`; true when one of them got a
    /// request meanwhile (drain again).
    fn enable_notifications<'a>(
        &self,
        vrings: impl Iterator<Item = &'a Vring>,
    ) -> Result<bool, DeviceError> {
        let mut more = false;
        for vring in vrings {
            more |= self.enable_notification(vring)?;
        }
        Ok(more)
    }

    /// Busy-polls `vrings` (notifications still off) within `thread`'s
    /// window; true when one of them has a request.
    fn poll_for_more<'a>(
        &self,
        thread: usize,
        vrings: impl IntoIterator<Item = &'a Vring> + Clone,
    ) -> bool {
        let mem = self.mem.memory();
        self.poller.poll(thread, || {
            vrings.clone().into_iter().any(|vring| {
                let state = vring.get_ref();
                let queue = state.get_queue();
                queue
                    .avail_idx(&*mem, Ordering::Acquire)
                    .is_ok_and(|avail| avail.0 != queue.next_avail())
            })
        })
    }

    /// One pass over `queue`: takes its chains off, hands those that must
    /// not or need not run here to workers, and serves the rest itself.
    /// Returns how many chains the pass found.
    fn serve_pass(&self, drain: &mut Drain, queue: usize, vring: &Vring) -> usize {
        let Some(state) = self.threads.get(drain.thread) else {
            return 0;
        };
        let shared = self.layout.shares_thread(queue);
        let paused = state.inline_paused(|| self.now_ns());
        let mut pending = state.pending();
        let popped = self.pop_pass(state, queue, vring, |job| pending.push_back(job));
        // Keep the quick requests of a short pass, in order; hand off the rest.
        for _ in 0..pending.len() {
            let Some(job) = pending.pop_front() else {
                break;
            };
            if !paused && popped <= INLINE_BATCH && runs_inline(&job, shared) {
                pending.push_back(job);
            } else {
                drain.handed_off = true;
                self.submit(job);
            }
        }
        drop(pending);
        self.run_pending(drain, state);
        popped
    }

    /// Serves the thread's pending requests one after the other, until
    /// none is left (or a stand-in took them).
    fn run_pending(&self, drain: &Drain, state: &ThreadState) {
        loop {
            let Some(job) = state.pending().pop_front() else {
                return;
            };
            let Some(pool) = self.pools.get(job.queue.wrapping_sub(1)) else {
                crate::error_limited!("queue {} has no pool; request dropped", job.queue);
                continue;
            };
            drain.watchdog.call_started(state);
            pool.run_inline(job);
            drain.watchdog.call_ended(state);
        }
    }

    /// Takes every chain `vring` holds off it and admits it, under the
    /// intake lock of `state`'s thread (so that a stand-in draining the
    /// same queue admits in queue order too); hands each to `sink`.
    /// Returns how many.
    fn pop_pass(
        &self,
        state: &ThreadState,
        queue: usize,
        vring: &Vring,
        mut sink: impl FnMut(Job),
    ) -> usize {
        let Some(in_flight) = self.in_flight.get(queue) else {
            error!("queue {queue} has no in-flight counter; not served");
            return 0;
        };
        let mem = self.mem.memory();
        let _intake = state.intake();
        let mut popped = 0;
        loop {
            let chain = vring
                .get_mut()
                .get_queue_mut()
                .pop_descriptor_chain(mem.clone());
            let Some(chain) = chain else { break };
            let (head, admission) = self.admit(queue, &mem, &chain);
            in_flight.started();
            sink(Job {
                mem: mem.clone(),
                chain,
                vring: vring.clone(),
                queue,
                head,
                admission,
            });
            popped += 1;
        }
        popped
    }

    /// Copies the request's header out of guest memory (the one time it is
    /// read) and lets the server decide what the request owes the SYNCFS
    /// epochs, now that the chain is off the queue.
    fn admit(
        &self,
        queue: usize,
        mem: &GuestMem,
        chain: &Chain,
    ) -> (Option<RequestHead>, Admission) {
        // Only a thread serving several queues cares how much a READ moves.
        let want_data_len = self.layout.shares_thread(queue);
        let head = RequestHead::read(|buf| peek_readable(mem, chain.clone(), buf), want_data_len);
        let Some(head) = head else {
            return (None, Admission::FREE);
        };
        let admission = match queue {
            HIPRIO_QUEUE => self.server.admit_high_priority(&head),
            queue => self.server.admit(&head, queue - 1),
        };
        (Some(head), admission)
    }

    /// Queues `job` for a worker of its queue.
    pub(crate) fn submit(&self, job: Job) {
        match self.pools.get(job.queue.wrapping_sub(1)) {
            Some(pool) => pool.submit(job),
            None => crate::error_limited!("queue {} has no pool; request dropped", job.queue),
        }
    }

    /// Drains `vrings` (thread `thread`'s) handing every request to a
    /// worker, until a pass finds nothing after notifications are back on.
    fn drain_to_workers(&self, thread: usize, vrings: &[Vring]) -> Result<(), DeviceError> {
        let Some(state) = self.threads.get(thread) else {
            return Ok(());
        };
        let event_idx = self.event_idx.load(Ordering::Relaxed);
        let queues = self.serving(thread, vrings);
        loop {
            for (queue, vring) in queues.clone() {
                if event_idx {
                    vring.disable_notification().map_err(DeviceError::Queue)?;
                }
                self.pop_pass(state, queue, vring, |job| self.submit(job));
            }
            if !event_idx || !self.enable_notifications(queues.clone().map(|(_, v)| v))? {
                return Ok(());
            }
        }
    }
}

/// Whether a request of a short pass may be served by the queue's thread:
/// not one that may wait on other requests (as admitted), and on a thread
/// that serves several queues not one that moves much. Unreadable requests
/// are dropped at once and may.
fn runs_inline(job: &Job, shared_thread: bool) -> bool {
    job.head.as_ref().is_none_or(|head| {
        !job.admission.waits_on_others(head)
            && (!shared_thread || head.data_len() <= SHARED_INLINE_MAX_BYTES)
    })
}

impl<F> Core<F> {
    /// Nanoseconds on the device's clock (never 0).
    fn now_ns(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).map_or(u64::MAX, |ns| ns.max(1))
    }
}

impl<F: FileSystem + 'static> StandInHost for Core<F> {
    fn threads(&self) -> &[ThreadState] {
        &self.threads
    }

    fn stood_in_for(&self, thread: usize) {
        let pause = u64::try_from(self.inline_pause.as_nanos()).unwrap_or(u64::MAX);
        if let Some(state) = self.threads.get(thread) {
            state.pause_inline(self.now_ns().saturating_add(pause));
        }
    }

    fn stand_in(&self, thread: usize, stuck: u64) {
        let Some(state) = self.threads.get(thread) else {
            return;
        };
        let stolen: Vec<Job> = state.pending().drain(..).collect();
        debug!(
            "stand-in for thread {thread}: {} waiting request(s) to workers",
            stolen.len()
        );
        stolen.into_iter().for_each(|job| self.submit(job));
        let Some(vrings) = state.vrings.get() else {
            return;
        };
        let kicks = match kick_watch(vrings) {
            Ok(kicks) => kicks,
            Err(err) => {
                error!("stand-in for thread {thread}: cannot watch its kicks: {err}");
                return;
            }
        };
        let timeout = i32::try_from(self.recheck.as_millis().max(1)).unwrap_or(i32::MAX);
        let mut events = [EpollEvent::default(); 8];
        while state.calls() == stuck {
            if let Err(err) = self.drain_to_workers(thread, vrings) {
                crate::warn_limited!("stand-in for thread {thread}: {err}");
            }
            if state.calls() != stuck {
                break;
            }
            if let Err(err) = kicks.wait(timeout, &mut events) {
                if err.kind() != std::io::ErrorKind::Interrupted {
                    error!("stand-in for thread {thread}: waiting for kicks failed: {err}");
                    return;
                }
            }
        }
    }
}

/// An epoll set that wakes on every new kick of `vrings`, edge-triggered
/// so the kicks are seen without being consumed.
fn kick_watch(vrings: &[Vring]) -> std::io::Result<Epoll> {
    use std::os::fd::AsRawFd;

    let epoll = Epoll::new()?;
    for (index, vring) in vrings.iter().enumerate() {
        let state = vring.get_ref();
        let Some(kick) = state.get_kick() else {
            continue;
        };
        let event = EpollEvent::new(EventSet::IN | EventSet::EDGE_TRIGGERED, index as u64);
        epoll.ctl(ControlOperation::Add, kick.as_raw_fd(), event)?;
    }
    Ok(epoll)
}
