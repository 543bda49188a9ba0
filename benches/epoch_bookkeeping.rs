//! Nanoseconds of SYNCFS epoch bookkeeping per mutating request, for 1 to 16
//! threads: what admission adds to every WRITE (join the current epoch, record
//! the inode, leave; and the per-inode FSYNC phase), with no I/O at all.
//!
//! `cargo bench --bench epoch_bookkeeping` prints a Markdown table;
//! `cargo test --benches` runs a short smoke version.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use epochfsd::epoch::{EpochTracker, InodeFlights, OwnedEpochGuard, TrackerConfig};

/// What one simulated request does.
#[derive(Clone, Copy)]
enum Work {
    /// join + touch + leave through the tracker borrowed by reference.
    EpochBorrowed,
    /// The same through an `Arc` clone per request (an owned guard).
    EpochOwned,
    /// Owned epoch guard plus the per-inode FSYNC phase: all admission does.
    Admission,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::EpochBorrowed => "epoch join+touch+leave (borrowed)",
            Work::EpochOwned => "epoch join+touch+leave (owned guard)",
            Work::Admission => "owned guard + per-inode phase (full admission)",
        }
    }
}

fn run(work: Work, threads: usize, per_thread: u64) -> Duration {
    let tracker = Arc::new(EpochTracker::new(TrackerConfig::new(threads)).expect("tracker"));
    let flights = Arc::new(InodeFlights::new());
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|shard| {
            let (tracker, flights, start) = (tracker.clone(), flights.clone(), start.clone());
            thread::spawn(move || {
                // Each thread writes its own file, as parallel guests usually do.
                let inode = 1000 + shard as u64;
                start.wait();
                let t0 = thread_cpu_time();
                for _ in 0..per_thread {
                    match work {
                        Work::EpochBorrowed => {
                            let g = tracker.join(shard);
                            g.touch(black_box(inode));
                        }
                        Work::EpochOwned => {
                            let g = OwnedEpochGuard::join(tracker.clone(), shard);
                            g.touch(black_box(inode));
                        }
                        Work::Admission => {
                            let g = OwnedEpochGuard::join(tracker.clone(), shard);
                            let f = flights.join(black_box(inode));
                            g.touch(inode);
                            drop(f);
                        }
                    }
                }
                thread_cpu_time() - t0
            })
        })
        .collect();
    start.wait();
    handles
        .into_iter()
        .map(|h| h.join().expect("bench thread"))
        .sum()
}

/// CPU time of the calling thread: unlike wall time, it does not count the
/// time a thread waits for a core when there are more threads than cores.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill in.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let per_thread: u64 = if full { 2_000_000 } else { 10_000 };
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    println!("## Epoch bookkeeping per mutating request\n");
    println!("{cores} host cores; {per_thread} requests per thread; ns per request = CPU time of all threads / all requests (so threads beyond the core count do not inflate it; contention on shared cache lines and locks does).\n");
    println!("| work | 1 thread | 2 threads | 4 threads | 8 threads | 16 threads |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for work in [Work::EpochBorrowed, Work::EpochOwned, Work::Admission] {
        let cells: Vec<String> = [1, 2, 4, 8, 16]
            .iter()
            .map(|&threads| {
                let took = run(work, threads, per_thread);
                let requests = per_thread * threads as u64;
                format!("{:.1} ns", took.as_nanos() as f64 / requests as f64)
            })
            .collect();
        println!("| {} | {} |", work.name(), cells.join(" | "));
    }
}
