//! A request stuck in the host must hold up no other request (issue 10).
//!
//! The share is slowfs (`tests/slowfs/`), a FUSE passthrough on the host that
//! holds chosen operations the way slow storage does: the daemon's host call
//! itself blocks, below every decision the daemon makes, in a release-like
//! build without test hooks. Each check runs with the default flags and
//! with `--queue-threads 1`, with 1 and with 4 request queues:
//!
//! - a held WRITE, LOOKUP or FSYNC delays no later request, on its own queue
//!   (the request right behind it counts) or on another: a GETATTR, a WRITE
//!   to another file and a LOOKUP of another name are each answered within
//!   [`PROMPT`] of being sent, while the held one is still held;
//! - SYNCFS behind a held WRITE waits for it, and not for a WRITE admitted
//!   after it (held longer), and its reply reaches the guest while that
//!   WRITE is still in the host;
//! - a FORGET on the high-priority queue sent while a LOOKUP is held comes
//!   back at once.
//!
//! Replies are waited for as a guest does (the used ring is read after the
//! daemon signals the queue's call eventfd), so a reply the daemon puts on
//! the ring without telling the guest counts as late.
//!
//! The holds are long ([`HOLD`]) and the bound for the others generous, so
//! that a loaded two-core machine passes; the checks run one at a time.
//! Mounting needs root and /dev/fuse: without them every check fails with
//! the reason. A request never answered fails its check after the client's
//! timeout ([`REPLY_TIMEOUT`]), with the request named.

mod common;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::daemon::{DaemonProcess, TestDirs};
use common::fuse_client::{FuseClient, Pending, HIPRIO_QUEUE};
use common::slowfs::SlowFs;
use common::vmm::VmmOptions;
use epochfsd::fuse::abi::{self, Opcode, ROOT_ID};
use zerocopy::IntoBytes;

/// How long slowfs holds the chosen operation.
const HOLD: Duration = Duration::from_millis(2000);
/// How soon a request that must not wait is answered, at the latest, from
/// when it was sent.
const PROMPT: Duration = Duration::from_millis(500);
/// Slack for "held at least HOLD" (timer and scheduling granularity).
const SLACK: Duration = Duration::from_millis(100);
/// How long the client waits for any one reply before failing the test.
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// Names in the share made before it is mounted, so that the daemon's first
/// LOOKUP of each is a real LOOKUP on the host filesystem.
const FRESH: [&str; 4] = ["fresh.1", "fresh.2", "fresh.3", "fresh.4"];

/// The daemon flags under test.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// Default flags (`--queue-threads auto`: one epoll thread per two cores).
    Default,
    /// `--queue-threads 1`: one epoll thread serves every request queue.
    OneThread,
}

impl Layout {
    fn args(self) -> &'static [&'static str] {
        match self {
            Layout::Default => &[],
            Layout::OneThread => &["--queue-threads", "1"],
        }
    }
}

macro_rules! matrix {
    ($($check:ident),* $(,)?) => {
        mod default_flags_1_queue {
            $(#[test]
            fn $check() {
                super::$check(1, super::Layout::Default)
            })*
        }
        mod default_flags_4_queues {
            $(#[test]
            fn $check() {
                super::$check(4, super::Layout::Default)
            })*
        }
        mod one_queue_thread_1_queue {
            $(#[test]
            fn $check() {
                super::$check(1, super::Layout::OneThread)
            })*
        }
        mod one_queue_thread_4_queues {
            $(#[test]
            fn $check() {
                super::$check(4, super::Layout::OneThread)
            })*
        }
    };
}

matrix!(
    a_held_write_delays_no_later_request,
    a_held_lookup_delays_no_later_request,
    a_held_fsync_delays_no_later_request,
    syncfs_waits_for_a_held_earlier_write_and_not_for_a_later_one,
    forget_is_taken_while_a_lookup_is_held,
);

/// The checks time replies: one at a time, so they do not load each other.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Daemon and slowfs; dropped in field order: client, daemon, then slowfs
/// (unmounted once nothing uses it).
struct Rig {
    c: FuseClient,
    _d: DaemonProcess,
    fs: SlowFs,
    queues: usize,
}

impl Rig {
    /// slowfs with `slow_flags` over a directory holding [`FRESH`], shared by
    /// a daemon with `queues` request queues and `layout`'s flags.
    fn start(queues: usize, layout: Layout, slow_flags: &[&str]) -> Rig {
        let fs = SlowFs::mount(slow_flags, |src: &Path| {
            for name in FRESH.iter().chain(["slow.l"].iter()) {
                std::fs::write(src.join(name), b"fresh").unwrap();
            }
        });
        let mut dirs = TestDirs::new();
        dirs.share = fs.mnt.clone();
        let d = DaemonProcess::spawn(dirs, queues, layout.args());
        let mut c = common::connect(d.socket(), queues, VmmOptions::default());
        c.timeout = REPLY_TIMEOUT;
        Rig {
            c,
            _d: d,
            fs,
            queues,
        }
    }

    /// The queues to try later requests on: the held request's queue (1)
    /// first, then every other request queue.
    fn probe_queues(&self) -> Vec<usize> {
        (1..=self.queues).collect()
    }

    fn create(&mut self, name: &str) -> (u64, u64) {
        let (e, o) = self
            .c
            .create(ROOT_ID, name.as_bytes(), libc::O_RDWR as u32, 0o644)
            .unwrap_or_else(|e| panic!("CREATE {name}: errno {e}"));
        (e.nodeid, o.fh)
    }

    fn start_write(&mut self, queue: usize, nodeid: u64, fh: u64) -> Pending {
        let payload = [0x5au8; 4096];
        let arg = abi::WriteIn {
            fh,
            offset: 0,
            size: payload.len() as u32,
            ..Default::default()
        };
        self.c.start_request(
            queue,
            Opcode::Write as u32,
            nodeid,
            &[arg.as_bytes(), &payload],
            &[16, size_of::<abi::WriteOut>() as u32],
        )
    }

    fn start_getattr(&mut self, queue: usize, nodeid: u64) -> Pending {
        let arg = abi::GetattrIn::default();
        self.c.start_request(
            queue,
            Opcode::Getattr as u32,
            nodeid,
            &[arg.as_bytes()],
            &[16, size_of::<abi::AttrOut>() as u32],
        )
    }

    fn start_lookup(&mut self, queue: usize, name: &str) -> Pending {
        let mut arg = name.as_bytes().to_vec();
        arg.push(0);
        self.c.start_request(
            queue,
            Opcode::Lookup as u32,
            ROOT_ID,
            &[&arg],
            &[16, size_of::<abi::EntryOut>() as u32],
        )
    }

    fn start_fsync(&mut self, queue: usize, nodeid: u64, fh: u64) -> Pending {
        let arg = abi::FsyncIn {
            fh,
            fsync_flags: 0,
            padding: 0,
        };
        self.c.start_request(
            queue,
            Opcode::Fsync as u32,
            nodeid,
            &[arg.as_bytes()],
            &[16],
        )
    }

    fn start_syncfs(&mut self, queue: usize) -> Pending {
        let arg = abi::SyncfsIn::default();
        self.c.start_request(
            queue,
            Opcode::Syncfs as u32,
            ROOT_ID,
            &[arg.as_bytes()],
            &[16],
        )
    }

    /// Waits for `p` (failing the test after the reply timeout), checks its
    /// reply and returns its error field and reply body.
    fn finish(&mut self, p: Pending) -> (i32, Vec<u8>) {
        let len = self.c.wait_pending(&p);
        let (out, body) = self.c.finish_pending(p, len);
        (out.error, body)
    }

    /// Waits for all of `ps` at once, the way a guest does: it looks at the
    /// used rings, asks for a call, and then sleeps until the daemon signals
    /// a queue's call eventfd. Returns when each was answered (seen after
    /// such a call, since `t0`) with its error field, in the order given.
    /// Fails the test naming the requests still unanswered after the reply
    /// timeout, and at once if a reply sits on a used ring for a second
    /// without the daemon signalling its queue (a guest would not see it).
    fn finish_all(&mut self, ps: Vec<Pending>, t0: Instant) -> Vec<(Duration, i32)> {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        let mut done: Vec<Option<(Duration, i32)>> = vec![None; ps.len()];
        let mut ps: Vec<Option<Pending>> = ps.into_iter().map(Some).collect();
        let name = |p: &Pending| {
            format!(
                "{} (queue {})",
                common::fuse_client::opcode_name(p.header.opcode),
                p.queue
            )
        };
        loop {
            // Reap (and re-arm the call of each queue still waited on).
            for i in 0..ps.len() {
                let Some(p) = &ps[i] else { continue };
                if let Some(len) = self.c.vmm.wait_head(p.queue, p.head, Duration::ZERO) {
                    let at = t0.elapsed();
                    let p = ps[i].take().unwrap();
                    let (out, _) = self.c.finish_pending(p, len);
                    done[i] = Some((at, out.error));
                }
            }
            let mut queues: Vec<usize> = ps.iter().flatten().map(|p| p.queue).collect();
            if queues.is_empty() {
                break;
            }
            queues.sort_unstable();
            queues.dedup();
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the daemon did not answer {} within {REPLY_TIMEOUT:?}",
                ps.iter().flatten().map(name).collect::<Vec<_>>().join(", ")
            );
            if !self
                .c
                .vmm
                .wait_calls(&queues, left.min(Duration::from_secs(1)))
            {
                // No call for a second: is a reply there all the same?
                for p in ps.iter().flatten() {
                    if self
                        .c
                        .vmm
                        .wait_head(p.queue, p.head, Duration::ZERO)
                        .is_some()
                    {
                        panic!(
                            "the reply to {} is on the used ring but the daemon did not \
                             signal the queue for at least a second (a guest would not see it)",
                            name(p)
                        );
                    }
                }
            }
        }
        done.into_iter().map(Option::unwrap).collect()
    }
}

/// A request sent while another was held, and how it went.
#[derive(Debug)]
struct Probe {
    what: String,
    queue: usize,
    /// From sending it to its reply.
    latency: Duration,
    error: i32,
}

/// Sends one later request on a queue.
type SendProbe = fn(&mut Rig, usize, (u64, u64)) -> Pending;

/// Sends three rounds of requests: a GETATTR of `other`, then a WRITE to
/// `other`, then a LOOKUP of a name not looked up before. A round puts one
/// request on each of `queues` at once (so each is alone on its queue, as
/// a lone request a guest sends is) and waits for all of them before the
/// next round starts.
fn later_requests(rig: &mut Rig, queues: &[usize], other: (u64, u64)) -> Vec<Probe> {
    let rounds: [(&str, SendProbe); 3] = [
        ("GETATTR of another file", |r, q, o| r.start_getattr(q, o.0)),
        ("WRITE to another file", |r, q, o| {
            r.start_write(q, o.0, o.1)
        }),
        ("LOOKUP of another name", |r, q, _| {
            r.start_lookup(q, FRESH[q - 1])
        }),
    ];
    let mut probes = Vec::new();
    for (what, send) in rounds {
        let t0 = Instant::now();
        let mut sent = Vec::new();
        let mut pending = Vec::new();
        for &q in queues {
            sent.push(t0.elapsed());
            pending.push(send(rig, q, other));
        }
        let done = rig.finish_all(pending, t0);
        for ((&q, at), (answered, error)) in queues.iter().zip(sent).zip(done) {
            probes.push(Probe {
                what: what.to_string(),
                queue: q,
                latency: answered.saturating_sub(at),
                error,
            });
        }
    }
    probes
}

fn table(probes: &[Probe]) -> String {
    probes
        .iter()
        .map(|p| {
            format!(
                "\n  queue {}: {:<24} answered after {:>5} ms (error {})",
                p.queue,
                p.what,
                p.latency.as_millis(),
                p.error
            )
        })
        .collect()
}

/// Sends the held request with `send_held` on queue 1, lets the daemon take
/// it, sends the later requests and checks them; returns when the held one
/// was answered and its error field.
fn check_later_requests_not_delayed(
    rig: &mut Rig,
    held_what: &str,
    other: (u64, u64),
    send_held: impl FnOnce(&mut Rig) -> Pending,
) {
    let t0 = Instant::now();
    let held = send_held(rig);
    std::thread::sleep(Duration::from_millis(100));
    let queues = rig.probe_queues();
    let probes = later_requests(rig, &queues, other);
    let probes_done = t0.elapsed();
    let (held_at, held_err) = rig.finish_all(vec![held], t0)[0];

    eprintln!(
        "{held_what} answered after {} ms; later requests:{}",
        held_at.as_millis(),
        table(&probes)
    );
    assert_eq!(held_err, 0, "the held {held_what} failed");
    assert!(
        held_at + SLACK >= HOLD,
        "the {held_what} was answered after {held_at:?}: slowfs did not hold it for {HOLD:?}\n{}",
        rig.fs.log()
    );
    let late: Vec<&Probe> = probes
        .iter()
        .filter(|p| p.latency > PROMPT || p.error != 0)
        .collect();
    assert!(
        late.is_empty() && probes_done < held_at,
        "requests sent while a {held_what} was held in the host (for {HOLD:?}, answered after \
         {held_at:?}) waited for it or failed (bound {PROMPT:?} each):{}",
        table(&probes)
    );
}

fn a_held_write_delays_no_later_request(queues: usize, layout: Layout) {
    let _serial = serial();
    let hold = format!("slow.*:{}", HOLD.as_millis());
    let mut rig = Rig::start(queues, layout, &["--hold-write", &hold]);
    let slow = rig.create("slow.w");
    let other = rig.create("other");

    check_later_requests_not_delayed(&mut rig, "WRITE", other, |r| {
        r.start_write(1, slow.0, slow.1)
    });
}

fn a_held_lookup_delays_no_later_request(queues: usize, layout: Layout) {
    let _serial = serial();
    let hold = format!("slow.*:{}", HOLD.as_millis());
    let mut rig = Rig::start(queues, layout, &["--hold-lookup", &hold]);
    let other = rig.create("other");

    check_later_requests_not_delayed(&mut rig, "LOOKUP", other, |r| r.start_lookup(1, "slow.l"));
}

fn a_held_fsync_delays_no_later_request(queues: usize, layout: Layout) {
    let _serial = serial();
    let hold = format!("slow.*:{}", HOLD.as_millis());
    let mut rig = Rig::start(queues, layout, &["--hold-fsync", &hold]);
    let slow = rig.create("slow.f");
    let other = rig.create("other");
    let p = rig.start_write(1, slow.0, slow.1);
    assert_eq!(rig.finish(p).0, 0, "WRITE before the FSYNC");

    check_later_requests_not_delayed(&mut rig, "FSYNC", other, |r| {
        r.start_fsync(1, slow.0, slow.1)
    });
}

fn syncfs_waits_for_a_held_earlier_write_and_not_for_a_later_one(queues: usize, layout: Layout) {
    let _serial = serial();
    let later_hold = HOLD * 2;
    let hold_a = format!("slow.a:{}", HOLD.as_millis());
    let hold_c = format!("slow.c:{}", later_hold.as_millis());
    // SYNCFS's flush of a (an FSYNC in the host) takes a while too, so the
    // SYNCFS is answered while C's WRITE is already in the host: the reply
    // must reach the guest then, not when C's WRITE returns.
    let flush_hold = Duration::from_millis(500);
    let hold_flush = format!("slow.a:{}", flush_hold.as_millis());
    let mut rig = Rig::start(
        queues,
        layout,
        &[
            "--hold-write",
            &hold_a,
            "--hold-write",
            &hold_c,
            "--hold-fsync",
            &hold_flush,
        ],
    );
    let a = rig.create("slow.a");
    let c = rig.create("slow.c");
    // The first SYNCFS of a session flushes the whole host filesystem
    // (syncfs(2), which never reaches slowfs); the timed one is targeted:
    // it fsyncs the files written in its epoch.
    let warm_up = rig.start_syncfs(1);
    assert_eq!(rig.finish(warm_up).0, 0, "warm-up SYNCFS");
    let (q_sync, q_later) = if queues >= 3 { (2, 3) } else { (1, 1) };
    let gap = Duration::from_millis(300);

    let t0 = Instant::now();
    let earlier = rig.start_write(1, a.0, a.1);
    std::thread::sleep(gap);
    let sync = rig.start_syncfs(q_sync);
    std::thread::sleep(gap);
    let later = rig.start_write(q_later, c.0, c.1);
    let done = rig.finish_all(vec![earlier, sync, later], t0);
    let [(earlier_at, earlier_err), (sync_at, sync_err), (later_at, later_err)] = done[..] else {
        unreachable!()
    };

    let timeline = format!(
        "WRITE A (held {HOLD:?}) sent at 0 on queue 1, answered at {earlier_at:?}; \
         SYNCFS sent at {gap:?} on queue {q_sync}, answered at {sync_at:?}; \
         WRITE C (held {later_hold:?}) sent at {:?} on queue {q_later}, answered at {later_at:?}",
        gap * 2
    );
    eprintln!("{timeline}\n{}", rig.fs.log());
    assert_eq!(
        (earlier_err, sync_err, later_err),
        (0, 0, 0),
        "errors; {timeline}"
    );
    assert!(
        earlier_at + SLACK >= HOLD && later_at + SLACK >= gap * 2 + later_hold,
        "slowfs did not hold the WRITEs; {timeline}\n{}",
        rig.fs.log()
    );
    assert!(
        sync_at + Duration::from_millis(20) >= earlier_at,
        "SYNCFS answered before the earlier WRITE; {timeline}"
    );
    assert!(
        sync_at < earlier_at + flush_hold + PROMPT * 2 && sync_at < later_at,
        "SYNCFS waited for the WRITE admitted after it (its own flush is held {flush_hold:?}); \
         {timeline}"
    );
}

fn forget_is_taken_while_a_lookup_is_held(queues: usize, layout: Layout) {
    let _serial = serial();
    let hold = format!("slow.*:{}", HOLD.as_millis());
    let mut rig = Rig::start(queues, layout, &["--hold-lookup", &hold]);
    let entry = rig.c.lookup(ROOT_ID, FRESH[0].as_bytes()).expect("LOOKUP");

    let t0 = Instant::now();
    let held = rig.start_lookup(1, "slow.l");
    std::thread::sleep(Duration::from_millis(100));
    let arg = abi::ForgetIn { nlookup: 1 };
    let h = rig.c.header(
        Opcode::Forget as u32,
        entry.nodeid,
        size_of::<abi::ForgetIn>(),
    );
    let sent = Instant::now();
    let head = rig
        .c
        .vmm
        .submit(HIPRIO_QUEUE, &[h.as_bytes(), arg.as_bytes()], &[]);
    rig.c.vmm.kick(HIPRIO_QUEUE);
    let taken = rig.c.vmm.wait_head(HIPRIO_QUEUE, head, REPLY_TIMEOUT);
    let forget_latency = sent.elapsed();
    let (held_at, held_err) = rig.finish_all(vec![held], t0)[0];

    eprintln!(
        "FORGET returned after {} µs; held LOOKUP answered after {} ms",
        forget_latency.as_micros(),
        held_at.as_millis()
    );
    assert!(
        taken.is_some(),
        "the FORGET was never returned (waited {REPLY_TIMEOUT:?})"
    );
    assert_eq!(held_err, 0, "the held LOOKUP failed");
    assert!(
        held_at + SLACK >= HOLD,
        "slowfs did not hold the LOOKUP ({held_at:?})\n{}",
        rig.fs.log()
    );
    let forget_at = sent.duration_since(t0) + forget_latency;
    assert!(
        forget_latency < PROMPT && forget_at < held_at,
        "the FORGET sent while a LOOKUP was held came back only after {forget_latency:?} \
         (the LOOKUP was answered at {held_at:?})"
    );
    // The daemon still serves LOOKUPs after the FORGET.
    rig.c
        .lookup(ROOT_ID, FRESH[0].as_bytes())
        .expect("LOOKUP after FORGET");
}

/// The helper itself: while it holds one WRITE, it serves other operations
/// on the mount at once (it is multithreaded), and the held WRITE reaches it
/// while the writer waits (no writeback cache in the host kernel).
#[test]
fn slowfs_serves_other_operations_while_it_holds_one() {
    let _serial = serial();
    let hold = format!("slow.*:{}", HOLD.as_millis());
    let fs = SlowFs::mount(&["--hold-write", &hold], |src: &Path| {
        std::fs::write(src.join("fresh.1"), b"fresh").unwrap();
    });
    let slow = fs.mnt.join("slow.w");
    std::fs::write(&slow, b"").unwrap();
    let t0 = Instant::now();
    let writer = std::thread::spawn(move || {
        std::fs::write(&slow, b"held").unwrap();
        t0.elapsed()
    });
    std::thread::sleep(Duration::from_millis(100));

    let sent = Instant::now();
    std::fs::write(fs.mnt.join("other"), b"other").unwrap();
    std::fs::metadata(fs.mnt.join("fresh.1")).unwrap();
    let names = std::fs::read_dir(&fs.mnt).unwrap().count();
    let others = sent.elapsed();
    let held = writer.join().unwrap();

    assert_eq!(names, 3);
    assert!(
        held + SLACK >= HOLD,
        "the WRITE returned after {held:?}, not held\n{}",
        fs.log()
    );
    assert!(
        others < PROMPT,
        "other operations took {others:?} while a WRITE was held"
    );
    assert_eq!(std::fs::read(fs.src.join("slow.w")).unwrap(), b"held");
}
