//! Allocation rig: heap allocations per request in steady state.
//!
//! The daemon runs on threads of this process (through the library API) and
//! a counting global allocator counts every allocation made by any thread
//! except the load generator's own (it marks itself), so the count is the
//! daemon's alone. Each workload runs with the host rig's engine, first to
//! warm up (workers started, buffers grown), then over a measured window.
//! The warm-up is 3 s: workers start on demand, and with 1 s a queue could
//! still be starting the last workers its load calls for inside the
//! window (seen once: 25 allocations over 6,159 1 MiB READs on 4 queues,
//! a few thread spawns; none with 3 s).
//!
//! ```text
//! cargo bench --bench alloc_rig -- [--secs SECS] [--warmup SECS]
//! ```
//!
//! Prints one JSON object per line (`"kind":"alloc"`) and a table on stderr.
//! A benchmark, not a test: it reports, it does not assert.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "host_rig/engine.rs"]
#[allow(dead_code)]
mod engine;
#[path = "host_rig/pin.rs"]
#[allow(dead_code)]
mod pin;
#[path = "host_rig/target.rs"]
#[allow(dead_code)]
mod target;
#[path = "host_rig/workloads.rs"]
#[allow(dead_code)]
mod workloads;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::daemon::{DaemonThread, TestDirs};
use common::fuse_client::FuseClient;
use common::vmm::{TestVmm, VmmOptions};
use engine::{RunSpec, Workload};
use epochfsd::fuse::abi::ROOT_ID;
use workloads::{CreateUnlink, FileIo, LookupGetattr, Targets, MIB, PAGE, RAND_FILE, SEQ_FILE};

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the load generator's thread, whose allocations do not count.
    static CLIENT: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if !CLIENT.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the bookkeeping (an atomic and a const thread-local) does not
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn targets(c: &mut FuseClient) -> Targets {
    let mut look = |name: &[u8]| c.lookup(ROOT_ID, name).expect("LOOKUP").nodeid;
    let (tree_dir, create_dir) = (look(b"tree"), look(b"create"));
    let (rand, seq) = (look(b"rand.dat"), look(b"seq.dat"));
    let rw = libc::O_RDWR as u32;
    let rand_fh = c.open(rand, rw).expect("OPEN").fh;
    let seq_fh = c.open(seq, rw).expect("OPEN").fh;
    Targets {
        tree_dir,
        create_dir,
        rand: (rand, rand_fh),
        seq: (seq, seq_fh),
    }
}

fn main() {
    CLIENT.with(|c| c.set(true));
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // Without `--bench` (`cargo test --all-targets`): a short smoke run.
    let (mut warmup, mut measure) = if argv.iter().any(|a| a == "--bench") {
        (Duration::from_secs(3), Duration::from_secs(1))
    } else {
        (Duration::from_millis(200), Duration::from_millis(200))
    };
    let mut args = argv.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--secs" => {
                let v = args.next().and_then(|v| v.parse::<f64>().ok());
                measure = Duration::from_secs_f64(v.unwrap_or(1.0));
            }
            "--warmup" => {
                let v = args.next().and_then(|v| v.parse::<f64>().ok());
                warmup = Duration::from_secs_f64(v.unwrap_or(3.0));
            }
            _ => {
                eprintln!("alloc_rig: unknown argument {a}");
                std::process::exit(2);
            }
        }
    }
    let dirs = TestDirs::new();
    target::populate(&dirs.share).expect("populate the share");
    for (queues, depth) in [(1, 1), (1, 4), (4, 1)] {
        run(&dirs, queues, depth, warmup, measure);
    }
}

fn run(dirs: &TestDirs, queues: usize, depth: usize, warmup: Duration, measure: Duration) {
    let daemon_dirs = TestDirs::new();
    std::fs::remove_dir(&daemon_dirs.share).expect("remove empty share");
    std::os::unix::fs::symlink(&dirs.share, &daemon_dirs.share).expect("link share");
    let daemon = DaemonThread::spawn(daemon_dirs, queues, &["--log-level", "warn"]);
    let opts = VmmOptions {
        region_size: 256 << 20,
        ..Default::default()
    };
    let vmm = TestVmm::connect(daemon.socket(), queues + 1, opts);
    let mut c = FuseClient::new(vmm);
    c.init().expect("INIT");
    let t = targets(&mut c);
    // Steady state for LOOKUP: every name of the tree known to the daemon.
    for i in 0..workloads::TREE_FILES {
        c.lookup(t.tree_dir, format!("f{i:04}").as_bytes())
            .expect("LOOKUP");
    }
    let mut work: Vec<(Box<dyn Workload>, u64)> = vec![
        (
            Box::new(LookupGetattr {
                dir: t.tree_dir,
                rng: 7,
            }),
            2,
        ),
        (
            Box::new(FileIo::new(false, true, PAGE, t.rand, RAND_FILE)),
            1,
        ),
        (
            Box::new(FileIo::new(true, true, PAGE, t.rand, RAND_FILE)),
            1,
        ),
        (Box::new(FileIo::new(false, false, MIB, t.seq, SEQ_FILE)), 1),
        (Box::new(FileIo::new(true, false, MIB, t.seq, SEQ_FILE)), 1),
        // CREATE, RELEASE, UNLINK and FORGET: not in the zero goal (a new
        // inode needs a table entry), reported for reference.
        (Box::new(CreateUnlink { dir: t.create_dir }), 4),
    ];
    for (w, requests_per_op) in work.iter_mut() {
        let mut snap = [0u64; 2];
        let mut on_window = |open: bool| {
            snap[usize::from(!open)] = ALLOCS.load(Ordering::SeqCst);
        };
        let spec = RunSpec {
            queues,
            depth,
            warmup,
            measure,
            on_window: &mut on_window,
        };
        let m = engine::run(&mut c.vmm, w.as_mut(), spec).expect("run");
        let requests = m.ops * *requests_per_op;
        let allocs = snap[1] - snap[0];
        let per = allocs as f64 / requests.max(1) as f64;
        println!(
            "{{\"kind\":\"alloc\",\"queues\":{queues},\"depth\":{depth},\"workload\":\"{}\",\
             \"requests\":{requests},\"allocations\":{allocs},\"per_request\":{per:.4}}}",
            w.name()
        );
        eprintln!(
            "q{queues} d{depth:<2} {:<20} {requests:>8} requests {allocs:>8} allocations {per:>8.4} per request",
            w.name()
        );
    }
    drop(c);
    let _ = daemon.join(Duration::from_secs(2));
}
