//! A worker pool per request queue.
//!
//! The queue's epoll thread submits jobs; workers are spawned on demand (up to
//! `max_workers`) when a job arrives and nobody is idle, and park on a condvar
//! when there is nothing to do. A request that blocks in the host (a slow
//! backing store, SETLKW, SYNCFS waiting for its epoch) occupies one worker;
//! the next job finds another worker or gets a new one. An idle daemon has no
//! workers at all until the first request arrives.
//!
//! Low depth is served without a hand-off: the chains of a short pass over
//! the queue (the caller decides what is short) run on the epoll thread
//! itself ([`QueuePool::dispatch`]), whether or not workers are busy with
//! earlier ones; only requests that cannot wait on others or on a disk
//! flush qualify (the caller decides). As soon as requests pile up they go
//! to workers, so a slow request then holds one worker and nothing else.
//!
//! Dropping the [`QueuePool`] (the device going away) closes it: parked
//! workers wake and end, busy ones end after their current job, and jobs
//! not started yet are dropped unanswered (there is no device left to
//! answer them on).

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

use log::error;

use super::request::{self, Job, WorkerBuffers};
use crate::filesystem::FileSystem;
use crate::fuse::Server;

struct PoolState {
    jobs: VecDeque<Job>,
    /// Workers parked on the condvar and not yet claimed by a submitter.
    idle: usize,
    /// Wake-ups handed out by submitters and not yet consumed by a worker.
    wakeups: usize,
    /// Workers started and not yet ended.
    workers: usize,
    /// The pool was dropped: workers end instead of taking jobs.
    closed: bool,
}

struct Shared<F> {
    state: Mutex<PoolState>,
    ready: Condvar,
    server: Arc<Server<F>>,
    queue_index: usize,
    queue_size: usize,
    max_workers: usize,
    /// The VMM logs dirty pages (a migration is under way).
    dirty_log: Arc<AtomicBool>,
}

/// The pool serving one request queue.
pub(crate) struct QueuePool<F> {
    shared: Arc<Shared<F>>,
    /// Buffers for requests served on the epoll thread (only that thread
    /// takes the lock); allocated on first use.
    inline_buffers: Mutex<Option<WorkerBuffers>>,
}

impl<F: FileSystem + 'static> QueuePool<F> {
    pub(crate) fn new(
        server: Arc<Server<F>>,
        queue_index: usize,
        queue_size: usize,
        max_workers: usize,
        dirty_log: Arc<AtomicBool>,
    ) -> Self {
        QueuePool {
            shared: Arc::new(Shared {
                state: Mutex::new(PoolState {
                    jobs: VecDeque::with_capacity(queue_size),
                    idle: 0,
                    wakeups: 0,
                    workers: 0,
                    closed: false,
                }),
                ready: Condvar::new(),
                server,
                queue_index,
                queue_size,
                max_workers: max_workers.max(1),
                dirty_log,
            }),
            inline_buffers: Mutex::new(None),
        }
    }

    /// Runs `job` on the calling (queue) thread.
    ///
    /// Busy workers do not stop a lone request from running inline: it is
    /// one the caller expects to be quick, and waking a worker for it would
    /// cost more than serving it (two thread switches on a loaded host).
    pub(crate) fn run_inline(&self, job: Job) {
        let mut slot = self
            .inline_buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let buffers = slot.get_or_insert_with(|| WorkerBuffers::new(self.shared.queue_size));
        if let Err(err) = request::run(&self.shared.server, job, buffers, &self.shared.dirty_log) {
            crate::error_limited!("queue {}: {err}", self.shared.queue_index);
        }
    }

    /// Queues `job` and makes sure a worker will run it.
    pub(crate) fn submit(&self, job: Job) {
        let mut state = self.shared.lock();
        state.jobs.push_back(job);
        if state.idle > 0 {
            state.idle -= 1;
            state.wakeups += 1;
            drop(state);
            self.shared.ready.notify_one();
        } else if state.workers < self.shared.max_workers {
            state.workers += 1;
            let worker_id = state.workers;
            drop(state);
            self.spawn_worker(worker_id);
        }
        // Otherwise every worker is busy; the first to finish takes the job.
    }

    fn spawn_worker(&self, worker_id: usize) {
        let shared = Arc::clone(&self.shared);
        let name = format!("fs-q{}-w{}", shared.queue_index, worker_id);
        let spawned = thread::Builder::new().name(name).spawn(move || {
            shared.work();
            shared.lock().workers -= 1;
        });
        if let Err(err) = spawned {
            error!("cannot start a worker thread: {err}");
            let mut state = self.shared.lock();
            state.workers -= 1;
            if state.workers == 0 {
                // Nobody would ever run the queued jobs; the spawn failure is
                // retried on the next submit.
                crate::warn_limited!("queue {} has no worker", self.shared.queue_index);
            }
        }
    }
}

/// A view of a pool's worker count that outlives the pool (tests).
#[cfg(test)]
pub(crate) struct WorkerCount<F>(Arc<Shared<F>>);

#[cfg(test)]
impl<F> WorkerCount<F> {
    /// Workers started and not yet ended.
    pub(crate) fn running(&self) -> usize {
        self.0.lock().workers
    }
}

#[cfg(test)]
impl<F> QueuePool<F> {
    /// The pool's worker count, readable after the pool is gone.
    pub(crate) fn worker_count(&self) -> WorkerCount<F> {
        WorkerCount(Arc::clone(&self.shared))
    }
}

impl<F> Drop for QueuePool<F> {
    /// Closes the pool: every worker ends once it is not inside a job.
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        drop(state);
        self.shared.ready.notify_all();
    }
}

impl<F> Shared<F> {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<F: FileSystem + 'static> Shared<F> {
    fn work(&self) {
        let mut buffers = WorkerBuffers::new(self.queue_size);
        while let Some(job) = self.next_job() {
            if let Err(err) = request::run(&self.server, job, &mut buffers, &self.dirty_log) {
                crate::error_limited!("queue {}: {err}", self.queue_index);
            }
        }
    }

    /// Blocks until a job is available; `None` once the pool is closed.
    fn next_job(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            if let Some(job) = state.jobs.pop_front() {
                return Some(job);
            }
            state.idle += 1;
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
            if state.wakeups > 0 {
                state.wakeups -= 1;
            } else {
                // A spurious wake-up: nobody claimed this worker.
                state.idle -= 1;
            }
        }
    }
}
