//! Migration state rig: size of the back-end state and the time to save and
//! load it when the guest knows many inodes, for epochfsd and (if given)
//! upstream virtiofsd, through the test frontend of `tests/common/`.
//!
//! ```text
//! cargo bench --bench migration_state -- [--inodes N] [--virtiofsd PATH]
//!     [--epochfsd-args "..."] [--virtiofsd-args "..."]
//! ```
//!
//! The share gets N files in directories of 1,000; the client looks every
//! one up (so the daemon holds N + N/1000 + 1 inodes), turns dirty logging
//! on as QEMU does, and then, as a migration source's VMM: stops the
//! queues, SET_DEVICE_STATE_FD (save), reads the pipe to its end and asks
//! CHECK_DEVICE_STATE; a second daemon on the same share gets the bytes
//! (SET_DEVICE_STATE_FD load, CHECK_DEVICE_STATE). Save is timed from the
//! first message to the end of the state, load from the first message to
//! the check's answer. The check that the move worked: a LOOKUP on the
//! destination answers the node id the source gave. Without `--bench`
//! (`cargo test --all-targets`): 1,000 inodes, epochfsd only.
//!
//! Prints one JSON object per daemon (`"kind":"migration_state"`) and a
//! table on stderr. A benchmark, not a test: it reports.

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

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::fuse_client::FuseClient;
use common::migration::{load_state, save_state};
use common::vmm::{TestVmm, VmmOptions};
use epochfsd::fuse::abi::ROOT_ID;
use target::{Daemon, Kind};

struct Options {
    inodes: usize,
    virtiofsd: Option<PathBuf>,
    epochfsd_args: Vec<String>,
    virtiofsd_args: Vec<String>,
}

fn options() -> Options {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let bench = argv.iter().any(|a| a == "--bench");
    let mut o = Options {
        inodes: if bench { 100_000 } else { 1_000 },
        virtiofsd: None,
        epochfsd_args: Vec::new(),
        virtiofsd_args: vec!["--sandbox".into(), "none".into()],
    };
    let mut args = argv.into_iter();
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        match a.as_str() {
            "--bench" => {}
            "--inodes" => o.inodes = val().parse().unwrap_or(o.inodes),
            "--virtiofsd" => o.virtiofsd = Some(val().into()),
            "--epochfsd-args" => o.epochfsd_args = split(&val()),
            "--virtiofsd-args" => o.virtiofsd_args = split(&val()),
            _ => {
                eprintln!("migration_state: unknown argument {a}");
                std::process::exit(2);
            }
        }
    }
    o
}

fn split(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// N files in directories of 1,000 under `share`.
fn populate(share: &Path, n: usize) {
    for i in 0..n {
        let dir = share.join(format!("d{}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&dir).expect("create a directory");
        }
        std::fs::write(dir.join(format!("f{i}")), b"x").expect("create a file");
    }
}

fn connect(run_dir: &Path, kind: Kind) -> FuseClient {
    let socket = run_dir.join(format!("{}.sock", kind.name()));
    FuseClient::new(TestVmm::connect(&socket, 2, VmmOptions::default()))
}

/// Looks every file up; returns the node id of the last one and its path.
fn lookup_all(c: &mut FuseClient, n: usize) -> (u64, String, String) {
    let mut last = (0, String::new(), String::new());
    let mut dir = 0;
    for i in 0..n {
        let dname = format!("d{}", i / 1000);
        if i % 1000 == 0 {
            dir = c
                .lookup(ROOT_ID, dname.as_bytes())
                .expect("lookup dir")
                .nodeid;
        }
        let fname = format!("f{i}");
        let node = c.lookup(dir, fname.as_bytes()).expect("lookup file").nodeid;
        last = (node, dname, fname);
    }
    last
}

fn run(o: &Options, kind: Kind, bin: &Path, extra: &[String]) -> Result<(), String> {
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let share = root.path().join("share");
    std::fs::create_dir(&share).map_err(|e| e.to_string())?;
    populate(&share, o.inodes);
    let (src_dir, dst_dir) = (root.path().join("src"), root.path().join("dst"));
    for d in [&src_dir, &dst_dir] {
        std::fs::create_dir(d).map_err(|e| e.to_string())?;
    }
    let _src = Daemon::spawn(kind, bin, &share, &src_dir, 1, extra, None)?;
    let mut src = connect(&src_dir, kind);
    src.timeout = Duration::from_secs(120);
    src.init().map_err(|e| format!("INIT: errno {e}"))?;
    let (node, dname, fname) = lookup_all(&mut src, o.inodes);
    let _log = common::dirty_log::DirtyLog::start(&mut src.vmm);

    let started = Instant::now();
    let state = save_state(&mut src.vmm)?;
    let save = started.elapsed();

    let _dst = Daemon::spawn(kind, bin, &share, &dst_dir, 1, extra, None)?;
    let mut dst = connect(&dst_dir, kind);
    dst.timeout = Duration::from_secs(120);
    let started = Instant::now();
    load_state(&mut dst.vmm, &state)?;
    let load = started.elapsed();

    let dir = dst
        .lookup(ROOT_ID, dname.as_bytes())
        .map_err(|e| format!("lookup: {e}"))?;
    let found = dst
        .lookup(dir.nodeid, fname.as_bytes())
        .map_err(|e| format!("lookup: {e}"))?;
    if found.nodeid != node {
        return Err(format!(
            "node {} on the destination, {node} on the source",
            found.nodeid
        ));
    }
    let inodes = o.inodes + o.inodes.div_ceil(1000) + 1;
    println!(
        "{{\"kind\":\"migration_state\",\"daemon\":\"{}\",\"inodes\":{inodes},\"bytes\":{},\"save_ms\":{:.1},\"load_ms\":{:.1}}}",
        kind.name(),
        state.len(),
        save.as_secs_f64() * 1e3,
        load.as_secs_f64() * 1e3
    );
    eprintln!(
        "{:<10} {inodes:>8} inodes  state {:>10} bytes ({:.1} per inode)  save {:>8.1} ms  load {:>8.1} ms",
        kind.name(),
        state.len(),
        state.len() as f64 / inodes as f64,
        save.as_secs_f64() * 1e3,
        load.as_secs_f64() * 1e3
    );
    Ok(())
}

fn main() {
    let o = options();
    let epochfsd = PathBuf::from(env!("CARGO_BIN_EXE_epochfsd"));
    let mut failed = false;
    if let Err(e) = run(&o, Kind::Epochfsd, &epochfsd, &o.epochfsd_args) {
        eprintln!("migration_state: epochfsd: {e}");
        failed = true;
    }
    if let Some(v) = &o.virtiofsd {
        if let Err(e) = run(&o, Kind::Virtiofsd, v, &o.virtiofsd_args) {
            eprintln!("migration_state: virtiofsd: {e}");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
