//! Host rig: drives epochfsd and upstream virtiofsd over a real vhost-user
//! socket with memfd guest memory (the test frontend of `tests/common/`)
//! and measures throughput, latency and daemon CPU time per operation.
//!
//! ```text
//! cargo bench --bench host_rig -- [--epochfsd PATH] [--virtiofsd PATH]
//!     [--dir DIR] [--warmup SECS] [--secs SECS] [--reps N] [--quick] [--only SUBSTR]
//!     [--daemons epochfsd,virtiofsd] [--epochfsd-args "..."] [--virtiofsd-args "..."]
//!     [--configs QxD,...] [--no-pin] [--scatter-pages]
//! ```
//!
//! `--scatter-pages` lays the payload pages of READ and WRITE out in reverse
//! order, so none follows the previous one in guest memory (by default a
//! buffer's pages are consecutive, and the daemon moves them with one iovec).
//!
//! Unless `--no-pin`, the rig runs on the first CPU it may use and each
//! daemon on the others (see `pin`), for both daemons alike.
//!
//! `--configs 4x1,1x4` keeps only those queues x depth configurations of each
//! daemon (by default all of them run).
//!
//! Every configuration runs `--reps` times (default 3), the daemons taking
//! turns, and each row reports the repetition with the median ops/s, so that
//! drifting background load hits both daemons alike.
//!
//! Each result is one JSON object per line on stdout (`"kind"`: `row`,
//! `rss`, `ceiling`), a readable table goes to stderr. `scripts/bench.sh`
//! turns the lines into `docs/benchmarks.md`.

#[path = "../../tests/common/mod.rs"]
mod common;
mod engine;
mod pin;
mod target;
mod workloads;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::fuse_client::FuseClient;
use common::vmm::VmmOptions;
use engine::{Measured, RunSpec, Workload};
use epochfsd::fuse::abi::ROOT_ID;
use target::{Daemon, Kind};
use workloads::{CreateUnlink, FileIo, LookupGetattr, Targets, MIB, PAGE, RAND_FILE, SEQ_FILE};

struct Options {
    epochfsd: PathBuf,
    virtiofsd: PathBuf,
    dir: Option<PathBuf>,
    warmup: Duration,
    measure: Duration,
    quick: bool,
    reps: usize,
    only: Option<String>,
    daemons: Vec<Kind>,
    epochfsd_args: Vec<String>,
    virtiofsd_args: Vec<String>,
    configs: Option<Vec<(usize, usize)>>,
    pin: bool,
    /// CPUs each daemon is started on (set in `main` when pinning).
    daemon_cpus: Option<Vec<usize>>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        epochfsd: PathBuf::from(env!("CARGO_BIN_EXE_epochfsd")),
        virtiofsd: std::env::var_os("VIRTIOFSD_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/tmp/virtiofsd-ref/bin/virtiofsd".into()),
        dir: None,
        warmup: Duration::from_millis(500),
        measure: Duration::from_secs(2),
        quick: false,
        reps: 3,
        only: None,
        daemons: vec![Kind::Virtiofsd, Kind::Epochfsd],
        epochfsd_args: Vec::new(),
        virtiofsd_args: vec!["--sandbox".into(), "none".into()],
        configs: None,
        pin: true,
        daemon_cpus: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if !argv.iter().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs benchmarks without `--bench`: a
        // short smoke run of epochfsd alone, so the rig itself is tested
        // without needing virtiofsd or minutes of CPU.
        o.quick = true;
        o.reps = 1;
        o.warmup = Duration::from_millis(50);
        o.measure = Duration::from_millis(200);
        o.daemons = vec![Kind::Epochfsd];
    }
    let mut args = argv.into_iter();
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        let secs = |v: String| {
            v.parse::<f64>()
                .map(Duration::from_secs_f64)
                .map_err(|e| e.to_string())
        };
        match a.as_str() {
            "--bench" => {} // added by `cargo bench`
            "--epochfsd" => o.epochfsd = val()?.into(),
            "--virtiofsd" => o.virtiofsd = val()?.into(),
            "--dir" => o.dir = Some(val()?.into()),
            "--warmup" => o.warmup = secs(val()?)?,
            "--secs" => o.measure = secs(val()?)?,
            "--quick" => o.quick = true,
            "--reps" => o.reps = val()?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--only" => o.only = Some(val()?),
            "--daemons" => {
                o.daemons = val()?
                    .split(',')
                    .map(|d| match d {
                        "epochfsd" => Ok(Kind::Epochfsd),
                        "virtiofsd" => Ok(Kind::Virtiofsd),
                        _ => Err(format!("unknown daemon {d}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--epochfsd-args" => o.epochfsd_args = split(&val()?),
            "--virtiofsd-args" => o.virtiofsd_args = split(&val()?),
            "--configs" => o.configs = Some(parse_configs(&val()?)?),
            "--no-pin" => o.pin = false,
            "--scatter-pages" => workloads::SCATTER_PAGES.store(true, Ordering::Relaxed),
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(o)
}

fn split(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// `4x1,1x16` -> `[(4, 1), (1, 16)]`.
fn parse_configs(s: &str) -> Result<Vec<(usize, usize)>, String> {
    s.split(',')
        .map(|c| {
            let (q, d) = c
                .split_once('x')
                .ok_or(format!("--configs: {c:?} is not QxD"))?;
            let n = |v: &str| v.parse().map_err(|e| format!("--configs {c:?}: {e}"));
            Ok((n(q)?, n(d)?))
        })
        .collect()
}

/// Moves the rig to its CPU and returns the daemons' CPUs (`None`: not
/// pinned, said on stderr and in the output).
fn pin_client() -> Option<Vec<usize>> {
    let placed = pin::split().and_then(|split| match split {
        Some((client, daemon)) => pin::set_cpus(&client).map(|()| Some((client, daemon))),
        None => Ok(None),
    });
    match placed {
        Ok(Some((client, daemon))) => {
            eprintln!("host_rig: rig on CPU {client:?}, daemons on CPUs {daemon:?}");
            println!("{{\"kind\":\"pin\",\"client\":{client:?},\"daemon\":{daemon:?}}}");
            Some(daemon)
        }
        Ok(None) => {
            eprintln!("host_rig: one CPU, nothing pinned");
            None
        }
        Err(e) => {
            eprintln!("host_rig: cannot pin ({e}); running unpinned");
            None
        }
    }
}

/// (queues, depth per queue) for each daemon.
fn configs(kind: Kind, quick: bool) -> Vec<(usize, usize)> {
    match (kind, quick) {
        (Kind::Virtiofsd, false) => vec![(1, 1), (1, 4), (1, 16)],
        (Kind::Virtiofsd, true) => vec![(1, 1), (1, 4)],
        (Kind::Epochfsd, false) => vec![(1, 1), (1, 4), (1, 16), (4, 1), (4, 4)],
        (Kind::Epochfsd, true) => vec![(1, 1), (1, 4), (4, 1)],
    }
}

fn workloads(t: &Targets) -> Vec<Box<dyn Workload>> {
    vec![
        Box::new(LookupGetattr {
            dir: t.tree_dir,
            rng: 0x1234_5678_9abc_def1,
        }),
        Box::new(FileIo::new(false, true, PAGE, t.rand, RAND_FILE)),
        Box::new(FileIo::new(true, true, PAGE, t.rand, RAND_FILE)),
        Box::new(FileIo::new(false, false, MIB, t.seq, SEQ_FILE)),
        Box::new(FileIo::new(true, false, MIB, t.seq, SEQ_FILE)),
        Box::new(CreateUnlink { dir: t.create_dir }),
    ]
}

fn open_targets(c: &mut FuseClient) -> Result<Targets, String> {
    let e = |what: &str, errno: i32| format!("{what}: errno {errno}");
    let mut look = |name: &[u8]| {
        c.lookup(ROOT_ID, name)
            .map(|e| e.nodeid)
            .map_err(|n| e("LOOKUP", n))
    };
    let (tree_dir, create_dir) = (look(b"tree")?, look(b"create")?);
    let (rand, seq) = (look(b"rand.dat")?, look(b"seq.dat")?);
    let rw = libc::O_RDWR as u32;
    let rand_fh = c.open(rand, rw).map_err(|n| e("OPEN", n))?.fh;
    let seq_fh = c.open(seq, rw).map_err(|n| e("OPEN", n))?.fh;
    Ok(Targets {
        tree_dir,
        create_dir,
        rand: (rand, rand_fh),
        seq: (seq, seq_fh),
    })
}

fn run_config(
    rows: &mut Vec<Row>,
    o: &Options,
    kind: Kind,
    share: &Path,
    run_dir: &Path,
    queues: usize,
    depth: usize,
) -> Result<(), String> {
    let (bin, extra) = match kind {
        Kind::Epochfsd => (&o.epochfsd, &o.epochfsd_args),
        Kind::Virtiofsd => (&o.virtiofsd, &o.virtiofsd_args),
    };
    let daemon = Daemon::spawn(
        kind,
        bin,
        share,
        run_dir,
        queues,
        extra,
        o.daemon_cpus.as_deref(),
    )?;
    let pid = daemon.pid();
    let opts = VmmOptions {
        region_size: 256 << 20,
        ..Default::default()
    };
    let mut client = common::connect(&daemon.socket, queues, opts);
    std::thread::sleep(Duration::from_millis(200));
    println!(
        "{{\"kind\":\"rss\",\"daemon\":\"{}\",\"queues\":{queues},\"depth\":{depth},\"rss_kib\":{},\"threads\":{}}}",
        kind.name(),
        target::status_field(pid, "VmRSS"),
        target::status_field(pid, "Threads"),
    );
    let t = open_targets(&mut client)?;
    for mut w in workloads(&t) {
        if o.only.as_deref().is_some_and(|s| !w.name().contains(s)) {
            continue;
        }
        let mut cpu = [0.0f64; 2];
        let mut on_window = |open: bool| cpu[usize::from(!open)] = target::cpu_secs(pid);
        let spec = RunSpec {
            queues,
            depth,
            warmup: o.warmup,
            measure: o.measure,
            on_window: &mut on_window,
        };
        let m = engine::run(&mut client.vmm, w.as_mut(), spec)
            .map_err(|e| format!("{} {}: {e}\n{}", kind.name(), w.name(), daemon.log_text()))?;
        rows.push(Row::new(
            kind,
            queues,
            depth,
            w.as_ref(),
            &m,
            cpu[1] - cpu[0],
        ));
    }
    println!(
        "{{\"kind\":\"rss_after\",\"daemon\":\"{}\",\"queues\":{queues},\"depth\":{depth},\"rss_kib\":{},\"threads\":{}}}",
        kind.name(),
        target::status_field(pid, "VmRSS"),
        target::status_field(pid, "Threads"),
    );
    drop(client);
    drop(daemon);
    Ok(())
}

/// One measured row.
struct Row {
    kind: Kind,
    queues: usize,
    depth: usize,
    workload: &'static str,
    ops: u64,
    ops_s: f64,
    mib_s: f64,
    p50: f64,
    p99: f64,
    cpu_us: f64,
}

impl Row {
    fn new(
        kind: Kind,
        queues: usize,
        depth: usize,
        w: &dyn Workload,
        m: &Measured,
        cpu: f64,
    ) -> Row {
        let ops_s = m.ops_per_sec();
        Row {
            kind,
            queues,
            depth,
            workload: w.name(),
            ops: m.ops,
            ops_s,
            mib_s: ops_s * w.bytes_per_op() as f64 / f64::from(MIB),
            p50: m.percentile_us(50.0),
            p99: m.percentile_us(99.0),
            cpu_us: if m.ops > 0 {
                cpu * 1e6 / m.ops as f64
            } else {
                0.0
            },
        }
    }

    fn key(&self) -> (Kind, usize, usize, &'static str) {
        (self.kind, self.queues, self.depth, self.workload)
    }

    fn print(&self, reps: usize) {
        let (kind, queues, depth, workload) = self.key();
        let (ops_s, mib_s, p50, p99, cpu_us) =
            (self.ops_s, self.mib_s, self.p50, self.p99, self.cpu_us);
        println!(
            "{{\"kind\":\"row\",\"daemon\":\"{}\",\"queues\":{queues},\"depth\":{depth},\"workload\":\"{workload}\",\
             \"ops\":{},\"reps\":{reps},\"ops_s\":{ops_s:.1},\"mib_s\":{mib_s:.2},\"p50_us\":{p50:.2},\"p99_us\":{p99:.2},\
             \"cpu_us_per_op\":{cpu_us:.2}}}",
            kind.name(),
            self.ops
        );
        eprintln!(
            "{:<9} q{queues} d{depth:<2} {workload:<20} {ops_s:>10.0} ops/s {mib_s:>8.1} MiB/s p50 {p50:>8.1} us p99 {p99:>8.1} us cpu {cpu_us:>6.2} us/op",
            kind.name()
        );
    }
}

/// Prints, per configuration and workload, the repetition with the median ops/s.
fn print_medians(mut rows: Vec<Row>) {
    let mut keys = Vec::new();
    for r in &rows {
        if !keys.contains(&r.key()) {
            keys.push(r.key());
        }
    }
    for key in keys {
        let mut same: Vec<&mut Row> = rows.iter_mut().filter(|r| r.key() == key).collect();
        same.sort_by(|a, b| a.ops_s.total_cmp(&b.ops_s));
        let reps = same.len();
        same[reps / 2].print(reps);
    }
}

fn main() {
    let mut o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("host_rig: {e}");
            std::process::exit(2);
        }
    };
    if o.pin {
        o.daemon_cpus = pin_client();
    }
    let tmp = o.dir.is_none().then(|| {
        tempfile::Builder::new()
            .prefix("epochfsd-bench-")
            .tempdir()
            .expect("create a scratch directory")
    });
    let root = o.dir.clone().unwrap_or_else(|| {
        tmp.as_ref()
            .map(|t| t.path().to_path_buf())
            .unwrap_or_default()
    });
    let share = root.join("share");
    if let Err(e) = std::fs::create_dir_all(&share).and_then(|_| target::populate(&share)) {
        eprintln!("host_rig: preparing {}: {e}", share.display());
        drop(tmp);
        std::process::exit(1);
    }
    match target::ceiling(&share, o.warmup, o.measure) {
        Ok(v) => {
            println!("{{\"kind\":\"ceiling\",\"mib_s\":{v:.1}}}");
            eprintln!("ceiling: host writes 1 MiB blocks at {v:.0} MiB/s");
        }
        Err(e) => eprintln!("host_rig: ceiling: {e}"),
    }
    let mut failed = false;
    let mut rows = Vec::new();
    for rep in 0..o.reps.max(1) {
        eprintln!("host_rig: repetition {}", rep + 1);
        for &kind in &o.daemons {
            let wanted = |c: &(usize, usize)| o.configs.as_ref().is_none_or(|w| w.contains(c));
            for (queues, depth) in configs(kind, o.quick).into_iter().filter(wanted) {
                if let Err(e) = run_config(&mut rows, &o, kind, &share, &root, queues, depth) {
                    eprintln!("host_rig: {e}");
                    failed = true;
                }
            }
        }
    }
    eprintln!("host_rig: medians of {} repetitions", o.reps.max(1));
    print_medians(rows);
    // A ceiling is an upper bound: measure again after the daemons and keep
    // the higher figure, so a burst of background load at one moment does not
    // understate it.
    match target::ceiling(&share, o.warmup, o.measure) {
        Ok(v) => {
            println!("{{\"kind\":\"ceiling\",\"mib_s\":{v:.1}}}");
            eprintln!("ceiling (again): host writes 1 MiB blocks at {v:.0} MiB/s");
        }
        Err(e) => eprintln!("host_rig: ceiling: {e}"),
    }
    // `exit` runs no destructors: remove the scratch directory (its files
    // are hundreds of MiB) first.
    drop(tmp);
    std::process::exit(i32::from(failed));
}
