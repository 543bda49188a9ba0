//! Several request queues: the daemon reports them, serves them all at once,
//! and keeps the hiprio queue for FORGET, whether the request queues have an
//! epoll thread each or share fewer (`--queue-threads`).

mod common;

use std::fs;
use std::process::{Command, Stdio};

use common::daemon::{DaemonProcess, TestDirs};
use common::fuse_client::{ChainMode, FuseClient, Pending, HIPRIO_QUEUE};
use common::vmm::{TestVmm, VmmOptions};
use epochfsd::fuse::abi::InHeader;
use epochfsd::fuse::abi::{self, Opcode, ROOT_ID};
use vhost::vhost_user::VhostUserFrontend;
use zerocopy::{FromBytes, IntoBytes};

const REQUEST_QUEUES: usize = 4;

fn start() -> (DaemonProcess, FuseClient) {
    common::start(REQUEST_QUEUES, &[])
}

fn out_header() -> Vec<u32> {
    vec![size_of::<abi::OutHeader>() as u32, 4096]
}

#[test]
fn get_queue_num_is_request_queues_plus_hiprio() {
    let d = DaemonProcess::spawn(TestDirs::new(), REQUEST_QUEUES, &[]);
    let mut vmm = TestVmm::connect(d.socket(), REQUEST_QUEUES + 1, VmmOptions::default());

    let n = vmm.frontend().get_queue_num().unwrap();

    assert_eq!(n, 5);
}

#[test]
fn getattr_is_answered_on_every_request_queue() {
    let (_d, mut c) = start();

    for q in 1..=REQUEST_QUEUES {
        let (out, body) = c.request(
            q,
            Opcode::Getattr as u32,
            ROOT_ID,
            &[abi::GetattrIn::default().as_bytes()],
            4096,
        );

        assert_eq!(out.error, 0, "queue {q}");
        let (attr, _) = abi::AttrOut::read_from_prefix(&body).unwrap();
        assert_eq!(attr.attr.mode & libc::S_IFMT, libc::S_IFDIR, "queue {q}");
    }
}

#[test]
fn requests_outstanding_on_all_queues_are_all_answered() {
    let (_d, mut c) = start();
    let getattr = abi::GetattrIn::default();
    let mut pending: Vec<Pending> = Vec::new();

    for _ in 0..32 {
        for q in 1..=REQUEST_QUEUES {
            pending.push(c.start_request(
                q,
                Opcode::Getattr as u32,
                ROOT_ID,
                &[getattr.as_bytes()],
                &out_header(),
            ));
        }
    }
    let mut answered = 0;
    for p in pending {
        let used = c.wait_pending(&p);
        let (out, _) = c.finish_pending(p, used);
        assert_eq!(out.error, 0);
        answered += 1;
    }

    assert_eq!(answered, 32 * REQUEST_QUEUES);
}

#[test]
fn parallel_writes_on_each_queue_land_in_host_files() {
    let (d, mut c) = start();
    let mut files = Vec::new();
    for q in 1..=REQUEST_QUEUES {
        let name = format!("q{q}");
        let (e, o) = c
            .create(ROOT_ID, name.as_bytes(), libc::O_RDWR as u32, 0o644)
            .unwrap();
        files.push((q, name, e.nodeid, o.fh));
    }
    let chunk = 64 * 1024;
    let rounds = 8u64;

    let mut pending = Vec::new();
    for r in 0..rounds {
        for (q, _, nodeid, fh) in &files {
            let data = vec![*q as u8 + r as u8; chunk];
            let arg = abi::WriteIn {
                fh: *fh,
                offset: r * chunk as u64,
                size: chunk as u32,
                ..Default::default()
            };
            let mut args: Vec<&[u8]> = vec![arg.as_bytes()];
            args.extend(data.chunks(4096));
            pending.push(c.start_request(
                *q,
                Opcode::Write as u32,
                *nodeid,
                &args,
                &[16, size_of::<abi::WriteOut>() as u32],
            ));
        }
    }
    for p in pending {
        let used = c.wait_pending(&p);
        let (out, body) = c.finish_pending(p, used);
        assert_eq!(out.error, 0);
        let (w, _) = abi::WriteOut::read_from_prefix(&body).unwrap();
        assert_eq!(w.size as usize, chunk);
    }

    for (q, name, _, _) in &files {
        let host = fs::read(d.share().join(name)).unwrap();
        assert_eq!(host.len(), chunk * rounds as usize, "{name}");
        for r in 0..rounds as usize {
            let want = *q as u8 + r as u8;
            assert!(
                host[r * chunk..(r + 1) * chunk].iter().all(|&b| b == want),
                "{name} chunk {r}"
            );
        }
    }
}

#[test]
fn hiprio_forget_is_consumed_and_request_queues_keep_working() {
    let (d, mut c) = start();
    fs::write(d.share().join("f"), b"x").unwrap();
    c.queue = 3;
    let e = c.lookup(ROOT_ID, b"f").unwrap();

    let used = c.forget(e.nodeid, 1);

    assert_eq!(used, Some(0), "FORGET not returned on queue {HIPRIO_QUEUE}");
    for q in 1..=REQUEST_QUEUES {
        c.queue = q;
        assert!(c.getattr(ROOT_ID).is_ok(), "queue {q} after FORGET");
    }
}

#[test]
fn many_forgets_on_hiprio_queue_are_all_returned() {
    let (d, mut c) = start();
    let mut nodes = Vec::new();
    for i in 0..50 {
        let name = format!("f{i}");
        fs::write(d.share().join(&name), b"").unwrap();
        nodes.push(c.lookup(ROOT_ID, name.as_bytes()).unwrap().nodeid);
    }

    let returned = nodes.iter().filter(|&&n| c.forget(n, 1) == Some(0)).count();

    assert_eq!(returned, 50);
}

#[test]
fn one_queue_daemon_reports_two_queues() {
    let d = DaemonProcess::spawn(TestDirs::new(), 1, &[]);
    let mut vmm = TestVmm::connect(d.socket(), 2, VmmOptions::default());

    let n = vmm.frontend().get_queue_num().unwrap();

    assert_eq!(n, 2);
}

#[test]
fn hundreds_of_outstanding_requests_on_one_queue_are_all_answered() {
    let (_d, mut c) = start();
    // One ring slot per request, as a guest with indirect descriptors uses.
    c.mode = ChainMode::Indirect;
    let getattr = abi::GetattrIn::default();

    let pending: Vec<Pending> = (0..500)
        .map(|_| {
            c.start_request(
                2,
                Opcode::Getattr as u32,
                ROOT_ID,
                &[getattr.as_bytes()],
                &out_header(),
            )
        })
        .collect();

    let ok = pending
        .into_iter()
        .filter(|p| {
            let used = c.wait_pending(p);
            used as usize == size_of::<abi::OutHeader>() + size_of::<abi::AttrOut>()
        })
        .count();
    assert_eq!(ok, 500);
}

/// The request thread counts the sharing tests run with: all queues on one
/// thread, and two queues per thread.
const SHARED_THREADS: [&str; 2] = ["1", "2"];

fn start_with_threads(threads: &str) -> (DaemonProcess, FuseClient) {
    common::start(REQUEST_QUEUES, &["--queue-threads", threads])
}

/// Places `per_queue` GETATTRs on every request queue without a kick, then
/// kicks all the queues one after the other, so the daemon finds every queue
/// busy at once.
fn getattrs_on_all_queues_at_once(c: &mut FuseClient, per_queue: usize) -> Vec<Pending> {
    let getattr = abi::GetattrIn::default();
    let mut pending = Vec::new();
    for queue in 1..=REQUEST_QUEUES {
        for _ in 0..per_queue {
            let header: InHeader = c.header(Opcode::Getattr as u32, ROOT_ID, size_of_val(&getattr));
            let readable = [header.as_bytes(), getattr.as_bytes()];
            let head = c.vmm.submit(queue, &readable, &out_header());
            pending.push(Pending {
                queue,
                head,
                header,
            });
        }
    }
    (1..=REQUEST_QUEUES).for_each(|q| c.vmm.kick(q));
    pending
}

#[test]
fn every_queue_is_served_by_one_or_two_request_threads() {
    for threads in SHARED_THREADS {
        let (d, mut c) = start_with_threads(threads);

        for q in 1..=REQUEST_QUEUES {
            c.queue = q;
            assert!(c.getattr(ROOT_ID).is_ok(), "queue {q}, {threads} thread(s)");
        }
        fs::write(d.share().join("f"), b"x").unwrap();
        let e = c.lookup(ROOT_ID, b"f").unwrap();
        assert_eq!(
            c.forget(e.nodeid, 1),
            Some(0),
            "FORGET, {threads} thread(s)"
        );
    }
}

#[test]
fn requests_on_a_shared_thread_are_admitted_for_their_own_queue() {
    for threads in SHARED_THREADS {
        let trace_dir = tempfile::tempdir().unwrap();
        let trace = trace_dir.path().join("epochs.jsonl");
        let trace_arg = trace.display().to_string();
        let args = ["--queue-threads", threads, "--trace-epochs", &trace_arg];
        let (_d, mut c) = common::start(REQUEST_QUEUES, &args);
        let (e, o) = c.create(ROOT_ID, b"f", libc::O_RDWR as u32, 0o644).unwrap();

        for q in 1..=REQUEST_QUEUES {
            c.queue = q;
            assert_eq!(c.write(e.nodeid, o.fh, q as u64, b"x"), Ok(1));
        }

        // The trace names the queue the device admitted each WRITE for (its
        // SYNCFS epoch shard + 1).
        let text = fs::read_to_string(&trace).unwrap();
        let writes: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("{\"op\":\"WRITE\""))
            .collect();
        assert_eq!(writes.len(), REQUEST_QUEUES, "{text}");
        for (line, q) in writes.iter().zip(1..) {
            let want = format!(",\"queue\":{q},");
            assert!(line.contains(&want), "{threads} thread(s): {line}");
        }
    }
}

#[test]
fn the_thread_layout_is_logged_at_start() {
    let (d, _c) = start_with_threads("2");

    let log = d.log();

    assert!(
        log.contains(
            "epoll threads: thread 0: queue 0; thread 1: queues 1, 3; thread 2: queues 2, 4"
        ),
        "no layout in the log:\n{log}"
    );
}

#[test]
fn requests_in_flight_on_all_queues_at_once_are_all_answered_on_shared_threads() {
    // 8 per queue are served inline, 48 per queue go to the workers.
    for (threads, per_queue) in SHARED_THREADS.into_iter().flat_map(|t| [(t, 8), (t, 48)]) {
        let (_d, mut c) = start_with_threads(threads);

        let pending = getattrs_on_all_queues_at_once(&mut c, per_queue);

        let mut answered = [0usize; REQUEST_QUEUES + 1];
        for p in pending {
            let queue = p.queue;
            let used = c.wait_pending(&p);
            let (out, _) = c.finish_pending(p, used);
            assert_eq!(out.error, 0, "queue {queue}, {threads} thread(s)");
            answered[queue] += 1;
        }
        assert_eq!(
            answered[1..],
            [per_queue; REQUEST_QUEUES],
            "{threads} thread(s), {per_queue} per queue"
        );
    }
}

#[test]
fn a_kick_on_one_queue_drains_the_other_queues_of_its_thread() {
    // The guest does not kick a queue whose notifications the daemon has
    // turned off while it drains; a thread serving several queues looks at
    // all of them whenever it wakes, so requests placed on queues 2..4 with
    // no kick at all are answered once queue 1 is kicked.
    let (_d, mut c) = start_with_threads("1");
    let getattr = abi::GetattrIn::default();
    let mut pending = Vec::new();
    for queue in 1..=REQUEST_QUEUES {
        let header: InHeader = c.header(Opcode::Getattr as u32, ROOT_ID, size_of_val(&getattr));
        let readable = [header.as_bytes(), getattr.as_bytes()];
        let head = c.vmm.submit(queue, &readable, &out_header());
        pending.push(Pending {
            queue,
            head,
            header,
        });
    }

    c.vmm.kick(1);

    for p in pending {
        let queue = p.queue;
        let used = c.wait_pending(&p);
        let (out, _) = c.finish_pending(p, used);
        assert_eq!(out.error, 0, "queue {queue}");
    }
}

#[test]
fn large_reads_on_every_queue_of_one_thread_are_all_answered() {
    let (d, mut c) = start_with_threads("1");
    let size = 256 * 1024;
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    fs::write(d.share().join("big"), &data).unwrap();
    let e = c.lookup(ROOT_ID, b"big").unwrap();
    let fh = c.open(e.nodeid, libc::O_RDONLY as u32).unwrap().fh;
    let arg = abi::ReadIn {
        fh,
        size: size as u32,
        ..Default::default()
    };
    let reply = [size_of::<abi::OutHeader>() as u32, size as u32];

    // Too large to be served inline on a shared thread: each goes to its
    // queue's workers.
    let pending: Vec<Pending> = (1..=REQUEST_QUEUES)
        .map(|q| c.start_request(q, Opcode::Read as u32, e.nodeid, &[arg.as_bytes()], &reply))
        .collect();

    for p in pending {
        let used = c.wait_pending(&p);
        let (out, body) = c.finish_pending(p, used);
        assert_eq!(out.error, 0);
        assert!(body == data, "READ returned other bytes");
    }
}

#[test]
fn a_thread_per_queue_still_serves_every_queue() {
    let (_d, mut c) = start_with_threads("4");

    let pending = getattrs_on_all_queues_at_once(&mut c, 8);

    for p in pending {
        let used = c.wait_pending(&p);
        assert_eq!(c.finish_pending(p, used).0.error, 0);
    }
}

#[test]
fn queue_threads_outside_one_to_the_queue_count_are_refused() {
    let dirs = common::daemon::TestDirs::new();
    for threads in ["0", "5", "many"] {
        let args = dirs.args(REQUEST_QUEUES, &["--queue-threads", threads]);

        let out = Command::new(env!("CARGO_BIN_EXE_epochfsd"))
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .expect("run epochfsd");

        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--queue-threads {threads} accepted");
        assert!(stderr.contains("--queue-threads"), "{threads}: {stderr}");
        assert!(!dirs.socket.exists(), "{threads}: socket created");
    }
}
