//! SYNCFS latency through a real vhost-user connection while other queues
//! stream WRITEs, for the three ways the daemon can wait and flush:
//!
//! - `targeted` (default): wait for exactly the earlier epochs, fsync the
//!   inodes they changed;
//! - `drain`: the full-drain baseline, wait for a moment with no mutating
//!   request in flight at all, then the same targeted flush;
//! - `host`: wait for the earlier epochs, then syncfs(2) the host filesystem.
//!
//! A second table measures the flush alone while another host process keeps
//! dirtying the page cache of the same host filesystem (`--dirty-mib`).
//!
//! `cargo bench --bench syncfs_latency` prints Markdown tables;
//! `cargo test --benches` runs a short smoke version.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::daemon::{DaemonProcess, TestDirs};
use common::fuse_client::FuseClient;
use common::vmm::VmmOptions;
use epochfsd::fuse::abi::{self, Opcode, ROOT_ID};
use zerocopy::IntoBytes;

const QUEUES: usize = 4;
/// Queue that sends the timed WRITE + SYNCFS pairs.
const SYNC_QUEUE: usize = 1;
const STREAM_BLOCK: usize = 256 * 1024;
const STREAM_DEPTH: usize = 4;

struct Settings {
    samples: usize,
    interval: Duration,
    dirty_mib: u64,
}

struct Sample {
    latencies: Vec<Duration>,
    streamed_bytes: u64,
    elapsed: Duration,
}

fn write_in(fh: u64, offset: u64, size: usize) -> abi::WriteIn {
    abi::WriteIn {
        fh,
        offset,
        size: size as u32,
        ..Default::default()
    }
}

/// Streams WRITEs on queues 2..=QUEUES at STREAM_DEPTH each, and every
/// `interval` sends a 4 KiB WRITE then a SYNCFS on SYNC_QUEUE, timing the
/// SYNCFS from submission to completion.
fn stream_and_sync(c: &mut FuseClient, files: &[(u64, u64)], s: &Settings) -> Sample {
    let block = vec![0x5au8; STREAM_BLOCK];
    let small = [0xa5u8; 4096];
    let mut offsets = vec![0u64; files.len()];
    let t0 = Instant::now();
    let mut streamed = 0u64;
    let submit_stream = |c: &mut FuseClient, q: usize, offsets: &mut [u64]| {
        let (nodeid, fh) = files[q - 1];
        let off = offsets[q - 1];
        offsets[q - 1] = (off + STREAM_BLOCK as u64) % (256 << 20);
        let arg = write_in(fh, off, STREAM_BLOCK);
        c.start_request(
            q,
            Opcode::Write as u32,
            nodeid,
            &[arg.as_bytes(), &block],
            &[16, 16],
        );
    };
    for q in 2..=QUEUES {
        for _ in 0..STREAM_DEPTH {
            submit_stream(c, q, &mut offsets);
        }
    }
    let (sync_node, sync_fh) = files[0];
    let mut latencies = Vec::with_capacity(s.samples);
    let mut next_sync = Instant::now() + s.interval;
    let mut sync_started: Option<(u16, Instant)> = None;
    while latencies.len() < s.samples {
        let mut progressed = false;
        for q in 2..=QUEUES {
            while let Some(u) = c.vmm.wait_used(q, Duration::ZERO) {
                assert!(u.len >= 16, "stream WRITE failed");
                streamed += STREAM_BLOCK as u64;
                submit_stream(c, q, &mut offsets);
                progressed = true;
            }
        }
        match sync_started {
            None if Instant::now() >= next_sync => {
                let arg = write_in(sync_fh, 0, small.len());
                let w = c.start_request(
                    SYNC_QUEUE,
                    Opcode::Write as u32,
                    sync_node,
                    &[arg.as_bytes(), &small],
                    &[16, 16],
                );
                let len = c.wait_pending(&w);
                assert_eq!(c.finish_pending(w, len).0.error, 0, "timed WRITE");
                let sync = abi::SyncfsIn::default();
                let p = c.start_request(
                    SYNC_QUEUE,
                    Opcode::Syncfs as u32,
                    ROOT_ID,
                    &[sync.as_bytes()],
                    &[16],
                );
                sync_started = Some((p.head, Instant::now()));
            }
            Some((head, at)) => {
                if let Some(u) = c.vmm.wait_used(SYNC_QUEUE, Duration::ZERO) {
                    assert_eq!(u.head, head, "unexpected completion on the SYNCFS queue");
                    latencies.push(at.elapsed());
                    sync_started = None;
                    next_sync = Instant::now() + s.interval;
                    progressed = true;
                }
            }
            None => {}
        }
        if !progressed {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    // Let the stream's requests finish so the daemon is idle for the next run.
    for q in 2..=QUEUES {
        while c.vmm.in_flight(q) > 0 {
            c.vmm
                .wait_used(q, Duration::from_secs(30))
                .expect("stream drains");
        }
    }
    Sample {
        latencies,
        streamed_bytes: streamed,
        elapsed: t0.elapsed(),
    }
}

fn start(mode: &str) -> (DaemonProcess, FuseClient, Vec<(u64, u64)>) {
    let daemon = DaemonProcess::spawn(
        TestDirs::new(),
        QUEUES,
        &["--syncfs", mode, "--cache", "never", "--log-level", "warn"],
    );
    let mut c = common::connect(daemon.socket(), QUEUES, VmmOptions::default());
    c.timeout = Duration::from_secs(120);
    let files = (0..QUEUES)
        .map(|i| {
            let name = format!("f{i}");
            let (e, o) = c
                .create(ROOT_ID, name.as_bytes(), libc::O_RDWR as u32, 0o644)
                .expect("create");
            (e.nodeid, o.fh)
        })
        .collect();
    // The first SYNCFS always syncs the whole filesystem; keep it out.
    c.syncfs(ROOT_ID).expect("first SYNCFS");
    (daemon, c, files)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn latency_row(label: &str, sample: &mut Sample) -> String {
    sample.latencies.sort();
    let l = &sample.latencies;
    let mib_s = sample.streamed_bytes as f64 / (1 << 20) as f64 / sample.elapsed.as_secs_f64();
    format!(
        "| {label} | {} | {} | {} | {} | {mib_s:.0} MiB/s |",
        l.len(),
        ms(percentile(l, 0.5)),
        ms(percentile(l, 0.99)),
        ms(*l.last().unwrap_or(&Duration::ZERO))
    )
}

/// Host process that keeps `mib` MiB of the filesystem holding `dir` dirty.
fn start_dirtier(dir: &Path, mib: u64) -> Child {
    common::neighbour::start_dirtier(dir, "dirtier.bin", mib)
}

fn dirty_kib() -> u64 {
    common::neighbour::dirty_kib()
}

/// SYNCFS latency (4 KiB WRITE then SYNCFS, nothing streaming) while
/// another host process dirties the same host filesystem.
fn flush_under_host_dirtying(mode: &str, s: &Settings) -> String {
    let (d, mut c, files) = start(mode);
    let outside = d.dirs.root.path().to_path_buf();
    let mut dirtier = start_dirtier(&outside, s.dirty_mib);
    std::thread::sleep(Duration::from_secs(2));
    let (node, fh) = files[0];
    let mut latencies = Vec::with_capacity(s.samples);
    let mut dirty_seen = 0;
    for _ in 0..s.samples {
        std::thread::sleep(s.interval);
        dirty_seen = dirty_seen.max(dirty_kib());
        c.write(node, fh, 0, &[0x11; 4096]).expect("WRITE");
        let t = Instant::now();
        c.syncfs(ROOT_ID).expect("SYNCFS");
        latencies.push(t.elapsed());
    }
    let _ = dirtier.kill();
    let _ = dirtier.wait();
    latencies.sort();
    format!(
        "| {mode} | {} | {} | {} | {} | {} MiB |",
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO)),
        dirty_seen / 1024
    )
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let s = if full {
        Settings {
            samples: 40,
            interval: Duration::from_millis(100),
            dirty_mib: 2048,
        }
    } else {
        Settings {
            samples: 3,
            interval: Duration::from_millis(10),
            dirty_mib: 64,
        }
    };
    println!(
        "## SYNCFS latency while 3 other queues stream {} KiB WRITEs (depth {STREAM_DEPTH} each)\n",
        STREAM_BLOCK / 1024
    );
    println!("{QUEUES} request queues; every {:?} queue {SYNC_QUEUE} writes 4 KiB and sends SYNCFS; latency from SYNCFS submission to its completion.\n", s.interval);
    println!("| --syncfs | samples | p50 | p99 | max | stream throughput |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for mode in ["targeted", "drain", "host"] {
        let (_d, mut c, files) = start(mode);
        let mut sample = stream_and_sync(&mut c, &files, &s);
        println!("{}", latency_row(mode, &mut sample));
    }
    println!(
        "\n## SYNCFS latency while another host process dirties {} MiB on the same filesystem\n",
        s.dirty_mib
    );
    println!("Nothing streams through the daemon; every {:?} a 4 KiB WRITE then SYNCFS. `targeted` fsyncs the one file written; `host` calls syncfs(2), which also writes back the other process's dirty pages.\n", s.interval);
    println!("| --syncfs | samples | p50 | p99 | max | host Dirty: peak |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for mode in ["targeted", "host"] {
        println!("{}", flush_under_host_dirtying(mode, &s));
    }
}
