//! The daemons under test (epochfsd or upstream virtiofsd as child
//! processes), what /proc says about them, the shared tree the workloads
//! use, and the host's own write ceiling.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::workloads::{MIB, RAND_FILE, SEQ_FILE, TREE_FILES};

/// Which daemon a run drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Epochfsd,
    Virtiofsd,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Epochfsd => "epochfsd",
            Kind::Virtiofsd => "virtiofsd",
        }
    }
}

/// A daemon child process serving `share` on `socket`; killed on drop.
pub struct Daemon {
    child: Child,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `bin` and waits for its socket.
    pub fn spawn(
        kind: Kind,
        bin: &Path,
        share: &Path,
        run_dir: &Path,
        queues: usize,
        extra: &[String],
        cpus: Option<&[usize]>,
    ) -> Result<Daemon, String> {
        let socket = run_dir.join(format!("{}.sock", kind.name()));
        let log = run_dir.join(format!("{}-q{queues}.log", kind.name()));
        let _ = fs::remove_file(&socket);
        let mut cmd = Command::new(bin);
        cmd.arg("--socket-path")
            .arg(&socket)
            .arg("--shared-dir")
            .arg(share);
        if kind == Kind::Epochfsd {
            cmd.arg("--num-request-queues").arg(queues.to_string());
        } else if queues != 1 {
            return Err("virtiofsd serves one request queue only".into());
        }
        cmd.args(extra);
        if let Some(cpus) = cpus {
            let cpus = cpus.to_vec();
            // SAFETY: the closure runs in the child between fork and exec
            // and only makes one syscall (sched_setaffinity) on memory
            // allocated before the fork.
            unsafe {
                cmd.pre_exec(move || crate::pin::set_cpus(&cpus));
            }
        }
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let mut d = Daemon { child, socket, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !d.socket.exists() {
            if let Ok(Some(st)) = d.child.try_wait() {
                return Err(format!("{} exited ({st}): {}", kind.name(), d.log_text()));
            }
            if Instant::now() > deadline {
                return Err(format!("{} made no socket in 20 s", kind.name()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(50));
        Ok(d)
    }

    /// The serving process: the started one, or the child it forked into
    /// its pid namespace (`--sandbox namespace`; forked right after the
    /// socket is bound, so before the pause at the end of start-up).
    pub fn pid(&self) -> u32 {
        let pid = self.child.id();
        fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(pid)
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // The daemon exits by itself when the frontend goes away; give it a
        // moment, then make sure.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU time of process `pid` (all its threads), seconds.
pub fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name "(...)": state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    ticks as f64 / hz as f64
}

/// A `Key:` line of /proc/PID/status, as a number (kB for sizes).
pub fn status_field(pid: u32, key: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn write_file(path: &Path, size: u64) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    let block: Vec<u8> = (0..MIB).map(|i| (i % 253) as u8).collect();
    for _ in 0..size / u64::from(MIB) {
        f.write_all(&block)?;
    }
    f.sync_all()
}

/// Creates the tree the workloads use under `share` (idempotent).
pub fn populate(share: &Path) -> std::io::Result<()> {
    let tree = share.join("tree");
    fs::create_dir_all(&tree)?;
    for i in 0..TREE_FILES {
        let p = tree.join(format!("f{i:04}"));
        if !p.exists() {
            File::create(p)?;
        }
    }
    let create = share.join("create");
    let _ = fs::remove_dir_all(&create);
    fs::create_dir_all(&create)?;
    for (name, size) in [("rand.dat", RAND_FILE), ("seq.dat", SEQ_FILE)] {
        let p = share.join(name);
        if fs::metadata(&p).map(|m| m.len()).ok() != Some(size) {
            write_file(&p, size)?;
        }
    }
    Ok(())
}

/// How fast this host writes 1 MiB blocks from memory into a file of the
/// share's filesystem, overwriting a file as large as the 1 MiB WRITE
/// workload's, in MiB/s.
pub fn ceiling(share: &Path, warmup: Duration, measure: Duration) -> std::io::Result<f64> {
    let path = share.join("ceiling.dat");
    write_file(&path, SEQ_FILE)?;
    let f = fs::OpenOptions::new().write(true).open(&path)?;
    let block: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    let blocks = SEQ_FILE / u64::from(MIB);
    let mut next = 0u64;
    let mut write_for = |d: Duration| -> std::io::Result<u64> {
        let end = Instant::now() + d;
        let mut n = 0;
        while Instant::now() < end {
            next = (next + 1) % blocks;
            f.write_all_at(&block, next * u64::from(MIB))?;
            n += 1;
        }
        Ok(n)
    };
    write_for(warmup)?;
    let start = Instant::now();
    let n = write_for(measure)?;
    let secs = start.elapsed().as_secs_f64();
    fs::remove_file(&path)?;
    Ok(n as f64 / secs)
}
