//! The slow host filesystem (`tests/slowfs/`) as a share for the daemon: a
//! FUSE passthrough of a scratch directory that holds chosen operations.
//!
//! Mounting needs root and /dev/fuse; without them [`SlowFs::mount`]
//! panics with the reason (a test on slow storage must fail, not skip).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long slowfs gets to mount.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(20);

/// The slowfs binary: `$SLOWFS_BIN`, or built by `tests/slowfs/build.sh`
/// (once per test process).
pub fn binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(b) = std::env::var_os("SLOWFS_BIN") {
            return Ok(PathBuf::from(b));
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slowfs/build.sh");
        let out = Command::new(&script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}):\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ))
    })
    .clone()
    .unwrap_or_else(|e| panic!("cannot build slowfs, the slow host filesystem: {e}"))
}

/// A mounted slowfs; unmounted (and its server stopped) on drop, its log
/// printed if the test is panicking.
pub struct SlowFs {
    child: Child,
    /// The directory slowfs passes through to (write here to bypass it).
    pub src: PathBuf,
    /// The mount point.
    pub mnt: PathBuf,
    log: PathBuf,
    _dir: TempDir,
}

fn mounted_fuse(mnt: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let want = mnt.to_string_lossy();
    mounts.lines().any(|l| {
        let mut f = l.split(' ');
        let (_, at, ty) = (f.next(), f.next(), f.next());
        at == Some(&*want) && ty.is_some_and(|t| t.starts_with("fuse"))
    })
}

impl SlowFs {
    /// Mounts slowfs over a fresh scratch directory with `flags` (see
    /// `slowfs --help`: `--hold-write GLOB:MS`, `--delay-us US`, ...).
    /// `populate` runs on the source directory before the mount.
    pub fn mount(flags: &[&str], populate: impl FnOnce(&Path)) -> SlowFs {
        if !Path::new("/dev/fuse").exists() {
            panic!(
                "cannot mount slowfs, the slow host filesystem these tests share: \
                 /dev/fuse does not exist (load the fuse module; see tests/slowfs/README.md)"
            );
        }
        let bin = binary();
        let dir = tempfile::Builder::new()
            .prefix("slowfs-")
            .tempdir()
            .expect("create slowfs temp dir");
        let src = dir.path().join("src");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&src).unwrap();
        std::fs::create_dir(&mnt).unwrap();
        populate(&src);
        let log = dir.path().join("slowfs.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(&bin)
            .args(flags)
            .arg(&src)
            .arg(&mnt)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start slowfs ({}): {e}", bin.display()));
        let mut fs = SlowFs {
            child,
            src,
            mnt,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + MOUNT_TIMEOUT;
        while !mounted_fuse(&fs.mnt) {
            if let Ok(Some(st)) = fs.child.try_wait() {
                panic!(
                    "cannot mount slowfs at {}: it exited ({st}); its log:\n{}",
                    fs.mnt.display(),
                    fs.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "slowfs did not mount {} within {MOUNT_TIMEOUT:?}; its log:\n{}",
                fs.mnt.display(),
                fs.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // The first access waits for the FUSE INIT exchange.
        std::fs::metadata(&fs.mnt).expect("stat the slowfs mount");
        fs
    }

    /// Its log so far (one line per held operation, start and end).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SlowFs {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.mnt.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: NUL-terminated path. A lazy unmount: the server sees the
        // connection end once nothing uses the mount any more.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- slowfs log ----\n{}---- end slowfs log ----",
                self.log()
            );
        }
    }
}
