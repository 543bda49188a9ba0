//! Several request queues: the daemon reports them, serves them all at once,
//! and keeps the hiprio queue for FORGET.

mod common;

use std::fs;

use common::daemon::{DaemonProcess, TestDirs};
use common::fuse_client::{ChainMode, FuseClient, Pending, HIPRIO_QUEUE};
use common::vmm::{TestVmm, VmmOptions};
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
