//! SYNCFS flush cost against the number of dirty files, through a real
//! vhost-user connection (the test frontend of `tests/common/`), for several
//! daemons side by side on the same host filesystem:
//!
//! - `targeted`: epochfsd as built (its default `--syncfs targeted`);
//! - `before` (with `--before PATH`): another epochfsd binary, same flags,
//!   for an interleaved A/B of two builds;
//! - `host`: epochfsd `--syncfs host` (syncfs(2) of the host filesystem);
//! - `virtiofsd` (with `--virtiofsd PATH`): upstream virtiofsd, which always
//!   calls syncfs(2).
//!
//! Every daemon serves its own directory under `--dir` (so all of them use
//! the same host filesystem), with one request queue. One sample: CREATE N
//! files in a new directory, WRITE `size` bytes to each (128 KiB WRITEs),
//! RELEASE, then time one SYNCFS from submission to reply. Samples are
//! interleaved: each round runs every daemon once, in a rotated order, so
//! that a change in the machine's load hits all of them alike. Optionally a
//! host neighbour (`dd` writing `--neighbour-mib` MiB to the same filesystem
//! over and over, never syncing) runs during a second pass; its samples wait
//! until the host has at least half that much dirty before the SYNCFS.
//!
//! `cargo bench --bench syncfs_flush_cost -- [--dir DIR] [--counts 1,10,100]
//! [--sizes 4k,1m] [--reps R] [--neighbour alone,neighbour] [--neighbour-mib M]
//! [--max-bytes B] [--before PATH] [--virtiofsd PATH] [--json FILE]`
//! prints a Markdown table (median and range over the rounds, ratio to
//! `host`) and writes one JSON line per sample to `--json`.
//! `cargo test --benches` runs a short smoke version (two counts, 4 KiB).

#[path = "../tests/common/mod.rs"]
mod common;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fuse_client::FuseClient;
use common::vmm::VmmOptions;
use epochfsd::fuse::abi::ROOT_ID;

const CHUNK: usize = 128 * 1024;

struct Options {
    dir: PathBuf,
    counts: Vec<usize>,
    sizes: Vec<usize>,
    reps: usize,
    passes: Vec<bool>,
    neighbour_mib: u64,
    max_bytes: u64,
    before: Option<PathBuf>,
    virtiofsd: Option<PathBuf>,
    json: Option<PathBuf>,
    modes: Option<Vec<String>>,
    fsync_files: usize,
}

fn parse_size(s: &str) -> usize {
    let s = s.trim().to_ascii_lowercase();
    let (num, mul) = match s.strip_suffix('k') {
        Some(n) => (n, 1024),
        None => match s.strip_suffix('m') {
            Some(n) => (n, 1 << 20),
            None => (s.as_str(), 1),
        },
    };
    num.parse::<usize>().expect("size") * mul
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let mut o = Options {
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench/flush-cost"),
        counts: if full {
            vec![1, 10, 100, 1000, 10000]
        } else {
            vec![1, 10]
        },
        sizes: if full {
            vec![4096, 1 << 20]
        } else {
            vec![4096]
        },
        reps: if full { 3 } else { 1 },
        passes: vec![false],
        neighbour_mib: 2048,
        max_bytes: 1 << 30,
        before: None,
        virtiofsd: None,
        json: None,
        modes: None,
        fsync_files: if full { 300 } else { 0 },
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--dir" => o.dir = val().into(),
            "--counts" => o.counts = val().split(',').map(|v| v.parse().unwrap()).collect(),
            "--sizes" => o.sizes = val().split(',').map(parse_size).collect(),
            "--reps" => o.reps = val().parse().unwrap(),
            "--neighbour" => {
                o.passes = val()
                    .split(',')
                    .map(|p| match p {
                        "alone" => false,
                        "neighbour" => true,
                        _ => panic!("--neighbour takes alone,neighbour"),
                    })
                    .collect()
            }
            "--neighbour-mib" => o.neighbour_mib = val().parse().unwrap(),
            "--max-bytes" => o.max_bytes = parse_size(&val()) as u64,
            "--before" => o.before = Some(val().into()),
            "--virtiofsd" => o.virtiofsd = Some(val().into()),
            "--json" => o.json = Some(val().into()),
            "--modes" => o.modes = Some(val().split(',').map(String::from).collect()),
            "--fsync-files" => o.fsync_files = val().parse().unwrap(),
            _ => panic!("unknown argument {a}"),
        }
    }
    o
}

/// One daemon under test: a child process serving `share`.
struct Daemon {
    label: String,
    child: Child,
    share: PathBuf,
    client: FuseClient,
    log: PathBuf,
    /// epochfsd's `(targeted, by cost, fallback)` flush counters as last
    /// read.
    counters: (u64, u64, u64),
}

impl Daemon {
    /// An epochfsd with the cost-chosen flush (its report says which ran).
    fn chooses_flush(&self) -> bool {
        self.label == "targeted" || self.label == "before"
    }

    fn spawn(label: &str, bin: &Path, args: &[&str], root: &Path) -> Daemon {
        let run = root.join(label);
        let _ = std::fs::remove_dir_all(&run);
        let share = run.join("share");
        std::fs::create_dir_all(&share).unwrap();
        let socket = run.join("vhost.sock");
        let log = run.join("daemon.log");
        let out = File::create(&log).unwrap();
        let child = Command::new(bin)
            .arg("--socket-path")
            .arg(&socket)
            .arg("--shared-dir")
            .arg(&share)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "{label} did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        let opts = VmmOptions {
            socket_timeout: Duration::from_secs(60),
            ..VmmOptions::default()
        };
        let mut client = common::connect(&socket, 1, opts);
        client.timeout = Duration::from_secs(600);
        // epochfsd's first SYNCFS always syncs the whole filesystem (it
        // cannot know what was written before it started); keep it out.
        client.syncfs(ROOT_ID).expect("first SYNCFS");
        Daemon {
            label: label.to_string(),
            child,
            share,
            client,
            log,
            counters: (0, 0, 0),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Host process that keeps `mib` MiB of the filesystem holding `dir` dirty.
fn start_neighbour(dir: &Path, mib: u64) -> Child {
    common::neighbour::start_dirtier(dir, "neighbour.bin", mib)
}

fn dirty_kib() -> u64 {
    common::neighbour::dirty_kib()
}

struct SampleResult {
    sync: Duration,
    dirty_kib: u64,
}

/// "syncfs(2) 5/5", "fsync 3/3", "fallback 5/5" or "fsync 2, syncfs(2) 3
/// of 5": which flush the rounds of a row ran ("fallback": the dirty set
/// was unknown, e.g. past its bound, so syncfs(2) of the whole filesystem).
fn path_summary(paths: &[&str]) -> String {
    let n = paths.len();
    let count = |what: &str| paths.iter().filter(|p| **p == what).count();
    let (fsync, syncfs, fallback) = (count("fsync"), count("syncfs"), count("fallback"));
    match (fsync, syncfs, fallback) {
        (f, 0, 0) if f == n => format!("fsync {f}/{f}"),
        (0, s, 0) if s == n => format!("syncfs(2) {s}/{s}"),
        (0, 0, b) if b == n => format!("fallback {b}/{b}"),
        (f, s, b) => format!("fsync {f}, syncfs(2) {s}, fallback {b} of {n}"),
    }
}

/// The `(targeted, by cost, host fallbacks)` counters of the last SYNCFS
/// report in an epochfsd log ("N host fallbacks, ... N targeted, N
/// syncfs(2) by cost").
fn flush_counters(log: &str) -> Option<(u64, u64, u64)> {
    let line = log.lines().rev().find(|l| l.contains("syncfs: "))?;
    let number_before = |what: &str| -> Option<u64> {
        let head = &line[..line.find(what)?];
        head.rsplit(", ").next()?.trim().parse().ok()
    };
    Some((
        number_before(" targeted,")?,
        number_before(" syncfs(2) by cost")?,
        number_before(" host fallbacks")?,
    ))
}

/// Which flush an epochfsd daemon ran for its last SYNCFS: asks for its
/// report (SIGUSR1) and compares the counters with `before`. Returns the
/// path ("fsync" or "syncfs") and the new counters.
fn last_flush(d: &Daemon, before: (u64, u64, u64)) -> (Option<&'static str>, (u64, u64, u64)) {
    let Ok(pid) = i32::try_from(d.child.id()) else {
        return (None, before);
    };
    let reports = |log: &str| log.matches("syncfs: ").count();
    let seen = reports(&std::fs::read_to_string(&d.log).unwrap_or_default());
    // SAFETY: kill(2) with a pid of our own child and a valid signal.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let log = std::fs::read_to_string(&d.log).unwrap_or_default();
        if reports(&log) > seen {
            if let Some(now) = flush_counters(&log) {
                let path = if now.0 > before.0 {
                    Some("fsync")
                } else if now.1 > before.1 {
                    Some("syncfs")
                } else if now.2 > before.2 {
                    Some("fallback")
                } else {
                    None
                };
                return (path, now);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (None, before)
}

/// Creates `n` files of `size` bytes in a new directory, then times one
/// SYNCFS. Cleans up afterwards (FORGET, then removal on the host).
fn sample(d: &mut Daemon, tag: &str, n: usize, size: usize, want_dirty_kib: u64) -> SampleResult {
    let c = &mut d.client;
    let name = format!("s-{tag}");
    let dir = c.mkdir(ROOT_ID, name.as_bytes(), 0o755).expect("MKDIR");
    let data = vec![0x5au8; CHUNK.min(size)];
    let mut nodes = Vec::with_capacity(n + 1);
    for i in 0..n {
        let fname = format!("f{i}");
        let (e, o) = c
            .create(dir.nodeid, fname.as_bytes(), libc::O_RDWR as u32, 0o644)
            .expect("CREATE");
        let mut off = 0;
        while off < size {
            let len = data.len().min(size - off);
            c.write(e.nodeid, o.fh, off as u64, &data[..len])
                .expect("WRITE");
            off += len;
        }
        c.release(e.nodeid, o.fh, libc::O_RDWR as u32)
            .expect("RELEASE");
        nodes.push((e.nodeid, 1));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while want_dirty_kib > 0 && dirty_kib() < want_dirty_kib && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let dirty = dirty_kib();
    let t = Instant::now();
    c.syncfs(ROOT_ID).expect("SYNCFS");
    let sync = t.elapsed();
    nodes.push((dir.nodeid, 1));
    for chunk in nodes.chunks(512) {
        c.batch_forget(chunk);
    }
    let _ = std::fs::remove_dir_all(d.share.join(&name));
    SampleResult {
        sync,
        dirty_kib: dirty,
    }
}

/// fs_mark -S 1 on the host side: CREATE, WRITE 4 KiB, FSYNC, RELEASE per
/// file, `n` files; returns files per second.
fn fsync_rate(d: &mut Daemon, tag: &str, n: usize) -> f64 {
    let c = &mut d.client;
    let name = format!("fsync-{tag}");
    let dir = c.mkdir(ROOT_ID, name.as_bytes(), 0o755).expect("MKDIR");
    let data = [0x5au8; 4096];
    let mut nodes = Vec::with_capacity(n + 1);
    let t = Instant::now();
    for i in 0..n {
        let (e, o) = c
            .create(
                dir.nodeid,
                format!("f{i}").as_bytes(),
                libc::O_RDWR as u32,
                0o644,
            )
            .expect("CREATE");
        c.write(e.nodeid, o.fh, 0, &data).expect("WRITE");
        c.fsync(e.nodeid, o.fh, false).expect("FSYNC");
        c.release(e.nodeid, o.fh, libc::O_RDWR as u32)
            .expect("RELEASE");
        nodes.push((e.nodeid, 1));
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    nodes.push((dir.nodeid, 1));
    for chunk in nodes.chunks(512) {
        c.batch_forget(chunk);
    }
    let _ = std::fs::remove_dir_all(d.share.join(&name));
    rate
}

/// The FSYNC-per-file table: every daemon, interleaved, `reps` rounds.
fn fsync_table(o: &Options, daemons: &mut [Daemon]) {
    println!(
        "\n## FSYNC per file (CREATE, WRITE 4 KiB, FSYNC, RELEASE; {} files per run, {} rounds)\n",
        o.fsync_files, o.reps
    );
    println!("| daemon | files/s median (range) |");
    println!("| --- | ---: |");
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); daemons.len()];
    for rep in 0..o.reps {
        for k in 0..daemons.len() {
            let i = (k + rep) % daemons.len();
            let r = fsync_rate(&mut daemons[i], &format!("{rep}"), o.fsync_files);
            rates[i].push(r);
        }
    }
    for (d, r) in daemons.iter().zip(rates.iter_mut()) {
        let m = median(r);
        println!(
            "| {} | {m:.0} ({:.0}..{:.0}) |",
            d.label,
            r[0],
            r[r.len() - 1]
        );
    }
    println!();
}

fn fmt_ms(d: f64) -> String {
    if d >= 100.0 {
        format!("{d:.0}")
    } else if d >= 10.0 {
        format!("{d:.1}")
    } else {
        format!("{d:.2}")
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn size_label(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{} MiB", size >> 20)
    } else {
        format!("{} KiB", size >> 10)
    }
}

fn main() {
    let o = options();
    std::fs::create_dir_all(&o.dir).unwrap();
    let epochfsd = PathBuf::from(env!("CARGO_BIN_EXE_epochfsd"));
    // Info: SIGUSR1's SYNCFS report (which flush ran) goes to the log.
    let common_args = ["--cache", "never", "--log-level", "info"];
    let mut specs: Vec<(String, PathBuf, Vec<&str>)> = vec![(
        "targeted".into(),
        epochfsd.clone(),
        [&["--syncfs", "targeted"][..], &common_args].concat(),
    )];
    if let Some(b) = &o.before {
        specs.push((
            "before".into(),
            b.clone(),
            [&["--syncfs", "targeted"][..], &common_args].concat(),
        ));
    }
    specs.push((
        "host".into(),
        epochfsd.clone(),
        [&["--syncfs", "host"][..], &common_args].concat(),
    ));
    if let Some(v) = &o.virtiofsd {
        specs.push((
            "virtiofsd".into(),
            v.clone(),
            vec!["--sandbox", "none", "--cache", "never"],
        ));
    }
    if let Some(modes) = &o.modes {
        specs.retain(|(l, _, _)| modes.contains(l));
    }
    let fs_type = Command::new("df")
        .args(["-PT"])
        .arg(&o.dir)
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .nth(1)
                .and_then(|l| l.split_whitespace().nth(1).map(String::from))
        })
        .unwrap_or_else(|| "?".into());
    let mut json = o
        .json
        .as_ref()
        .map(|p| File::create(p).expect("create --json file"));
    let labels: Vec<String> = specs.iter().map(|s| s.0.clone()).collect();
    println!(
        "## SYNCFS flush cost ({fs_type} at {}, {} rounds, load before {})\n",
        o.dir.display(),
        o.reps,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for &neighbour in &o.passes {
        let mut daemons: Vec<Daemon> = specs
            .iter()
            .map(|(l, b, a)| Daemon::spawn(l, b, a, &o.dir))
            .collect();
        if !neighbour && o.fsync_files > 0 {
            fsync_table(&o, &mut daemons);
        }
        print!("| host | files | size |");
        for l in &labels {
            print!(" {l} ms |");
        }
        for l in labels.iter().filter(|l| *l != "host") {
            print!(" {l} vs host |");
        }
        let choosers: Vec<usize> = (0..daemons.len())
            .filter(|&i| daemons[i].chooses_flush())
            .collect();
        for &i in &choosers {
            print!(" {} flush |", daemons[i].label);
        }
        println!();
        print!("| --- | ---: | ---: |");
        for _ in 0..labels.len() * 2 - usize::from(labels.iter().any(|l| l == "host")) {
            print!(" ---: |");
        }
        for _ in &choosers {
            print!(" --- |");
        }
        println!();
        let mut nb = neighbour.then(|| start_neighbour(&o.dir, o.neighbour_mib));
        if nb.is_some() {
            std::thread::sleep(Duration::from_secs(2));
        }
        let want_dirty = if neighbour { o.neighbour_mib * 512 } else { 0 };
        for &size in &o.sizes {
            for &n in &o.counts {
                if (n * size) as u64 > o.max_bytes {
                    continue;
                }
                let mut times: Vec<Vec<f64>> = vec![Vec::new(); daemons.len()];
                let mut paths: Vec<Vec<&str>> = vec![Vec::new(); daemons.len()];
                for rep in 0..o.reps {
                    for k in 0..daemons.len() {
                        let i = (k + rep) % daemons.len();
                        if !neighbour {
                            // Start from a clean filesystem.
                            // SAFETY: sync(2) has no arguments.
                            unsafe { libc::sync() };
                        }
                        let d = &mut daemons[i];
                        let tag = format!("{n}-{size}-{rep}");
                        let r = sample(d, &tag, n, size, want_dirty);
                        let ms = r.sync.as_secs_f64() * 1e3;
                        times[i].push(ms);
                        let path = if d.chooses_flush() {
                            let (path, counters) = last_flush(d, d.counters);
                            d.counters = counters;
                            path.unwrap_or("?")
                        } else {
                            "-"
                        };
                        paths[i].push(path);
                        if let Some(j) = json.as_mut() {
                            writeln!(
                                j,
                                "{{\"fs\":\"{fs_type}\",\"neighbour\":{neighbour},\"files\":{n},\"size\":{size},\"daemon\":\"{}\",\"rep\":{rep},\"syncfs_ms\":{ms:.3},\"dirty_kib\":{},\"flush\":\"{path}\"}}",
                                d.label, r.dirty_kib
                            )
                            .unwrap();
                        }
                    }
                }
                let meds: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
                print!(
                    "| {} | {n} | {} |",
                    if neighbour { "neighbour" } else { "alone" },
                    size_label(size)
                );
                for (i, t) in times.iter().enumerate() {
                    let (lo, hi) = (t[0], t[t.len() - 1]);
                    if t.len() > 1 {
                        print!(" {} ({}..{}) |", fmt_ms(meds[i]), fmt_ms(lo), fmt_ms(hi));
                    } else {
                        print!(" {} |", fmt_ms(meds[i]));
                    }
                }
                if let Some(h) = labels.iter().position(|l| l == "host") {
                    for (i, l) in labels.iter().enumerate() {
                        if l != "host" {
                            // Speed relative to syncfs(2): > 1 is faster.
                            print!(" {:.2}x |", meds[h] / meds[i].max(1e-6));
                        }
                    }
                }
                for &i in &choosers {
                    print!(" {} |", path_summary(&paths[i]));
                }
                println!();
            }
        }
        if let Some(mut c) = nb.take() {
            let _ = c.kill();
            let _ = c.wait();
            let _ = std::fs::remove_file(o.dir.join("neighbour.bin"));
        }
        for d in &daemons {
            let log = std::fs::read_to_string(&d.log).unwrap_or_default();
            if log.contains("ERROR") || log.contains("panicked") {
                eprintln!("{} log:\n{log}", d.label);
            }
        }
        daemons.clear();
        println!();
    }
}
