//! slowfs: a FUSE passthrough filesystem for epochfsd's tests that behaves
//! like slow storage. It serves SRC at MNT and holds chosen operations for a
//! set time before doing them (`--hold OP:GLOB:MS`), optionally with a fixed
//! delay on every operation (`--delay-us`).
//!
//! Threads: one thread reads requests from /dev/fuse. An operation with no
//! delay runs on it at once; a held operation (a `--hold` rule matched) gets
//! a thread of its own, so it never holds up another; with `--delay-us` every
//! other operation runs on a pool of `--threads` workers, which sleep the
//! delay first. The kernel's writeback cache is never asked for: every WRITE
//! reaches this process while the writer waits.
//!
//! Inodes are held as O_PATH descriptors of the objects under SRC, numbered
//! as in SRC (1 is the root; a spare number where SRC's is taken), and kept
//! for slowfs's life (export support: file handles of the mount stay valid). Names for
//! the globs are the last name an inode was looked up, created or renamed
//! under (its base name).

use std::collections::{HashMap, VecDeque};
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fuser::{
    FileAttr, FileType, Filesystem, KernelConfig, MountOption, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr,
    Request, TimeOrNow,
};

const USAGE: &str = "\
usage: slowfs [OPTIONS] SRC MNT

Serves directory SRC at MNT through FUSE, holding chosen operations.

  --hold OP:GLOB:MS    hold OP on names matching GLOB for MS milliseconds
                       before doing it (repeatable; the first match counts).
                       OP: lookup getattr setattr open create read write
                       fsync flush release mkdir mknod symlink link unlink
                       rmdir rename readdir statfs xattr, or * for any.
                       GLOB: shell glob (* ? [..]) on the base name: the name
                       looked up or created for lookup/create/mkdir/unlink/...,
                       the file's last known name for read/write/fsync/...
  --hold-write GLOB:MS   same as --hold write:GLOB:MS
  --hold-lookup GLOB:MS  same as --hold lookup:GLOB:MS
  --hold-fsync GLOB:MS   same as --hold fsync:GLOB:MS
  --delay-us US        delay every operation by US microseconds (slow storage)
  --threads N          workers for delayed operations (default 16)
  --ttl-ms MS          entry and attribute timeout given to the kernel
                       (default 1000)
  --direct-io          open files with FOPEN_DIRECT_IO (no host page cache)
  --no-allow-other     do not mount with allow_other
  --no-default-permissions  let slowfs (as root: everything) decide access
  --fsname NAME        source name shown in /proc/mounts (default slowfs)
  -q, --quiet          do not log held operations
";

/// One `--hold` rule.
#[derive(Clone, Debug)]
struct Hold {
    op: String,
    glob: Vec<u8>,
    time: Duration,
}

#[derive(Clone, Debug)]
struct Config {
    src: PathBuf,
    mnt: PathBuf,
    holds: Vec<Hold>,
    delay: Duration,
    threads: usize,
    ttl: Duration,
    direct_io: bool,
    allow_other: bool,
    default_permissions: bool,
    fsname: String,
    quiet: bool,
}

fn parse_hold(op: Option<&str>, spec: &str) -> Result<Hold, String> {
    let (rest, ms) = spec
        .rsplit_once(':')
        .ok_or_else(|| format!("hold {spec:?}: expected [OP:]GLOB:MS"))?;
    let (op, glob) = match op {
        Some(op) => (op.to_string(), rest.to_string()),
        None => {
            let (op, glob) = rest
                .split_once(':')
                .ok_or_else(|| format!("hold {spec:?}: expected OP:GLOB:MS"))?;
            (op.to_string(), glob.to_string())
        }
    };
    const OPS: &[&str] = &[
        "*", "lookup", "getattr", "setattr", "open", "create", "read", "write", "fsync", "flush",
        "release", "mkdir", "mknod", "symlink", "link", "unlink", "rmdir", "rename", "readdir",
        "statfs", "xattr",
    ];
    if !OPS.contains(&op.as_str()) {
        return Err(format!("hold {spec:?}: unknown operation {op:?}"));
    }
    let ms: u64 = ms
        .parse()
        .map_err(|_| format!("hold {spec:?}: {ms:?} is not a number of milliseconds"))?;
    Ok(Hold {
        op,
        glob: glob.into_bytes(),
        time: Duration::from_millis(ms),
    })
}

fn parse_args() -> Result<Config, String> {
    let mut holds = Vec::new();
    let mut delay = Duration::ZERO;
    let mut threads = 16;
    let mut ttl = Duration::from_secs(1);
    let mut direct_io = false;
    let mut allow_other = true;
    let mut default_permissions = true;
    let mut fsname = "slowfs".to_string();
    let mut quiet = false;
    let mut positional = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "--hold" => holds.push(parse_hold(None, &value(&a)?)?),
            "--hold-write" => holds.push(parse_hold(Some("write"), &value(&a)?)?),
            "--hold-lookup" => holds.push(parse_hold(Some("lookup"), &value(&a)?)?),
            "--hold-fsync" => holds.push(parse_hold(Some("fsync"), &value(&a)?)?),
            "--delay-us" => {
                let v = value(&a)?;
                delay = Duration::from_micros(v.parse().map_err(|_| format!("--delay-us {v}"))?)
            }
            "--threads" => {
                let v = value(&a)?;
                threads = v.parse().map_err(|_| format!("--threads {v}"))?;
                if threads == 0 {
                    return Err("--threads must be at least 1".into());
                }
            }
            "--ttl-ms" => {
                let v = value(&a)?;
                ttl = Duration::from_millis(v.parse().map_err(|_| format!("--ttl-ms {v}"))?)
            }
            "--direct-io" => direct_io = true,
            "--no-allow-other" => allow_other = false,
            "--no-default-permissions" => default_permissions = false,
            "--fsname" => fsname = value(&a)?,
            "-q" | "--quiet" => quiet = true,
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ => positional.push(a),
        }
    }
    let [src, mnt]: [String; 2] = positional
        .try_into()
        .map_err(|_| "expected SRC and MNT".to_string())?;
    Ok(Config {
        src: PathBuf::from(src),
        mnt: PathBuf::from(mnt),
        holds,
        delay,
        threads,
        ttl,
        direct_io,
        allow_other,
        default_permissions,
        fsname,
        quiet,
    })
}

/// Shell glob match of `name` against `pat`: `*`, `?`, `[...]` (with `!`
/// or `^` to negate and ranges), `\` escapes.
fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let (mut star_p, mut star_n) = (usize::MAX, 0);
    while n < name.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star_p = p;
                    star_n = n;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_match(&pat[p..], name[n]) {
                        if matched {
                            p += next;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pat.len() => {
                    if pat[p + 1] == name[n] {
                        p += 2;
                        n += 1;
                        continue;
                    }
                }
                c => {
                    if c == name[n] {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
            }
        }
        if star_p == usize::MAX {
            return false;
        }
        p = star_p + 1;
        star_n += 1;
        n = star_n;
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class at the start of `pat` (`[...]`); returns
/// whether it matched and the class's length, or `None` if unterminated.
fn class_match(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < pat.len() {
        if pat[i] == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let lo = pat[i];
        if i + 2 < pat.len() && pat[i + 1] == b'-' && pat[i + 2] != b']' {
            matched |= lo <= c && c <= pat[i + 2];
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
    None
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn last_err() -> i32 {
    errno(&io::Error::last_os_error())
}

fn cstr(name: &OsStr) -> Result<CString, i32> {
    CString::new(name.as_bytes()).map_err(|_| libc::EINVAL)
}

fn proc_path(fd: RawFd) -> CString {
    CString::new(format!("/proc/self/fd/{fd}")).unwrap()
}

fn stat_fd(fd: RawFd) -> Result<libc::stat, i32> {
    // SAFETY: a zeroed stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd, NUL-terminated empty path, valid out pointer.
    let r = unsafe {
        libc::fstatat(
            fd,
            c"".as_ptr(),
            &mut st,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        Err(last_err())
    } else {
        Ok(st)
    }
}

fn open_path(dirfd: RawFd, name: &CStr) -> Result<OwnedFd, i32> {
    // SAFETY: valid dirfd and NUL-terminated name.
    let fd = unsafe {
        libc::openat(
            dirfd,
            name.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        Err(last_err())
    } else {
        // SAFETY: a fresh descriptor we own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
    } else {
        UNIX_EPOCH - Duration::new((-secs) as u64, 0) + Duration::from_nanos(nsecs as u64)
    }
}

fn kind(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

fn attr(ino: u64, st: &libc::stat) -> FileAttr {
    FileAttr {
        ino,
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        atime: time(st.st_atime, st.st_atime_nsec),
        mtime: time(st.st_mtime, st.st_mtime_nsec),
        ctime: time(st.st_ctime, st.st_ctime_nsec),
        crtime: UNIX_EPOCH,
        kind: kind(st.st_mode),
        perm: (st.st_mode & 0o7777) as u16,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev as u32,
        blksize: st.st_blksize as u32,
        flags: 0,
    }
}

/// An inode: an O_PATH descriptor of the object under SRC.
struct Node {
    fd: OwnedFd,
    /// The last base name it was seen under (what globs match).
    name: Mutex<OsString>,
}

/// Every inode looked up so far. Nodes are never dropped: with export
/// support the kernel may come back to a node it forgot (LOOKUP of "." in
/// it, to reopen a file handle), so its number must stay valid. One O_PATH
/// descriptor per inode ever seen: fine for tests. (Held, a removed file's
/// inode number cannot be reused by SRC's filesystem, so `by_key` never
/// mistakes a new file for an old one; its space comes back at exit.)
#[derive(Default)]
struct Table {
    nodes: HashMap<u64, (Arc<Node>, u64)>,
    by_key: HashMap<(u64, u64), u64>,
    next: u64,
}

/// A READDIR snapshot taken at OPENDIR.
type DirList = Vec<(u64, FileType, OsString)>;

type Job = Box<dyn FnOnce() + Send>;

/// Workers for delayed operations.
struct Pool {
    queue: Mutex<VecDeque<Job>>,
    ready: Condvar,
}

impl Pool {
    fn start(threads: usize) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        });
        for i in 0..threads {
            let p = pool.clone();
            std::thread::Builder::new()
                .name(format!("slowfs-worker-{i}"))
                .spawn(move || loop {
                    let job = {
                        let mut q = p.queue.lock().unwrap();
                        loop {
                            if let Some(j) = q.pop_front() {
                                break j;
                            }
                            q = p.ready.wait(q).unwrap();
                        }
                    };
                    job();
                })
                .expect("spawn worker");
        }
        pool
    }

    fn push(&self, job: Job) {
        self.queue.lock().unwrap().push_back(job);
        self.ready.notify_one();
    }
}

struct Inner {
    cfg: Config,
    table: Mutex<Table>,
    files: Mutex<HashMap<u64, Arc<File>>>,
    dirs: Mutex<HashMap<u64, Arc<DirList>>>,
    next_fh: AtomicU64,
    pool: Option<Arc<Pool>>,
    started: Instant,
    held: AtomicU64,
}

impl Inner {
    fn node(&self, ino: u64) -> Result<Arc<Node>, i32> {
        self.table
            .lock()
            .unwrap()
            .nodes
            .get(&ino)
            .map(|(n, _)| n.clone())
            .ok_or(libc::ESTALE)
    }

    fn name_of(&self, ino: u64) -> OsString {
        self.node(ino)
            .map(|n| n.name.lock().unwrap().clone())
            .unwrap_or_default()
    }

    fn file(&self, fh: u64) -> Result<Arc<File>, i32> {
        self.files
            .lock()
            .unwrap()
            .get(&fh)
            .cloned()
            .ok_or(libc::EBADF)
    }

    /// Looks `name` up under `parent`, counts a lookup and returns its
    /// number and attributes.
    fn lookup(&self, parent: u64, name: &OsStr) -> Result<(u64, libc::stat), i32> {
        // Never above SRC: ".." of the root is the root.
        let name = if parent == fuser::FUSE_ROOT_ID && name == ".." {
            OsStr::new(".")
        } else {
            name
        };
        let p = self.node(parent)?;
        let fd = if name == "." {
            // The node itself, whatever its type (export support reopens a
            // file handle with a LOOKUP of "." in its node).
            p.fd.try_clone().map_err(|e| errno(&e))?
        } else {
            open_path(p.fd.as_raw_fd(), &cstr(name)?)?
        };
        let st = stat_fd(fd.as_raw_fd())?;
        let key = (st.st_dev, st.st_ino);
        let mut t = self.table.lock().unwrap();
        if let Some(&ino) = t.by_key.get(&key) {
            let (n, count) = t.nodes.get_mut(&ino).unwrap();
            *count += 1;
            if name != "." && name != ".." {
                *n.name.lock().unwrap() = name.to_owned();
            }
            return Ok((ino, st));
        }
        // The node number is the inode number in SRC where it is free (so
        // that READDIR, which reports SRC's numbers, agrees with LOOKUP, as
        // reconnecting a directory's file handle needs), else a spare one.
        let ino = if st.st_ino > fuser::FUSE_ROOT_ID && !t.nodes.contains_key(&st.st_ino) {
            st.st_ino
        } else {
            t.next += 1;
            t.next
        };
        let node = Node {
            fd,
            name: Mutex::new(name.to_owned()),
        };
        t.nodes.insert(ino, (Arc::new(node), 1));
        t.by_key.insert(key, ino);
        Ok((ino, st))
    }

    fn entry(&self, parent: u64, name: &OsStr, reply: ReplyEntry) {
        match self.lookup(parent, name) {
            Ok((ino, st)) => reply.entry(&self.cfg.ttl, &attr(ino, &st), 0),
            Err(e) => reply.error(e),
        }
    }

    /// Gives a new object to the requester, as a kernel filesystem would.
    fn chown_new(&self, req_uid: u32, req_gid: u32, dirfd: RawFd, name: &CStr) {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 || (req_uid == 0 && req_gid == 0) {
            return;
        }
        // SAFETY: valid dirfd and NUL-terminated name.
        unsafe {
            libc::fchownat(
                dirfd,
                name.as_ptr(),
                req_uid,
                req_gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
    }

    fn new_fh(&self) -> u64 {
        self.next_fh.fetch_add(1, Ordering::Relaxed)
    }

    fn log(&self, msg: std::fmt::Arguments) {
        if !self.cfg.quiet {
            eprintln!(
                "slowfs {:>10.3}s {msg}",
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}

struct SlowFs(Arc<Inner>);

impl SlowFs {
    /// Runs `f` now, after a `--hold` rule's time on a thread of its own,
    /// or after `--delay-us` on a worker.
    fn go(&self, op: &'static str, name: &OsStr, f: impl FnOnce(&Inner) + Send + 'static) {
        let inner = &self.0;
        let hold = inner
            .cfg
            .holds
            .iter()
            .find(|h| (h.op == op || h.op == "*") && glob_match(&h.glob, name.as_bytes()))
            .map(|h| h.time);
        if let Some(t) = hold {
            let inner = inner.clone();
            let name = name.to_owned();
            let delay = inner.cfg.delay;
            let n = inner.held.fetch_add(1, Ordering::Relaxed) + 1;
            inner.log(format_args!("hold #{n} {op} {name:?} for {t:?}"));
            std::thread::spawn(move || {
                std::thread::sleep(t + delay);
                f(&inner);
                inner.log(format_args!("done #{n} {op} {name:?}"));
            });
        } else if let Some(pool) = &inner.pool {
            let inner = inner.clone();
            let delay = inner.cfg.delay;
            pool.push(Box::new(move || {
                std::thread::sleep(delay);
                f(&inner);
            }));
        } else {
            f(inner);
        }
    }

    fn go_ino(&self, op: &'static str, ino: u64, f: impl FnOnce(&Inner) + Send + 'static) {
        let name = if self.0.cfg.holds.is_empty() {
            OsString::new()
        } else {
            self.0.name_of(ino)
        };
        self.go(op, &name, f)
    }
}

/// A `Result<(), i32>` into an empty reply.
fn empty(reply: ReplyEmpty, r: Result<(), i32>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

fn check(r: libc::c_int) -> Result<(), i32> {
    if r < 0 {
        Err(last_err())
    } else {
        Ok(())
    }
}

fn timespec(t: Option<TimeOrNow>) -> libc::timespec {
    match t {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => {
            let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            }
        }
    }
}

impl Filesystem for SlowFs {
    fn init(&mut self, _req: &Request<'_>, config: &mut KernelConfig) -> Result<(), libc::c_int> {
        // Parallel lookups and readdirs in one directory: a held LOOKUP must
        // not hold the directory's other lookups in the kernel.
        const FUSE_PARALLEL_DIROPS: u32 = 1 << 18;
        let _ = config.add_capabilities(FUSE_PARALLEL_DIROPS);
        // File handles of the mount can be reopened after the kernel has
        // dropped the inode (it looks up "." in the node): epochfsd holds
        // inodes as file handles where the host gives them.
        const FUSE_EXPORT_SUPPORT: u32 = 1 << 4;
        let _ = config.add_capabilities(FUSE_EXPORT_SUPPORT);
        Ok(())
    }

    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let n = name.to_owned();
        self.go("lookup", name, move |fs| fs.entry(parent, &n, reply));
    }

    // FORGET: nodes are kept for slowfs's life (see `Table`), so that a
    // file handle the kernel gave out (export support) can always be
    // reopened through a LOOKUP of "." in its node.
    fn forget(&mut self, _req: &Request<'_>, _ino: u64, _nlookup: u64) {}

    fn batch_forget(&mut self, _req: &Request<'_>, _nodes: &[fuser::fuse_forget_one]) {}

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        self.go_ino("getattr", ino, move |fs| {
            match fs.node(ino).and_then(|n| stat_fd(n.fd.as_raw_fd())) {
                Ok(st) => reply.attr(&fs.cfg.ttl, &attr(ino, &st)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        self.go_ino("setattr", ino, move |fs| {
            let r = (|| -> Result<libc::stat, i32> {
                let node = fs.node(ino)?;
                let fd = node.fd.as_raw_fd();
                let path = proc_path(fd);
                if let Some(mode) = mode {
                    // SAFETY: NUL-terminated path.
                    check(unsafe { libc::chmod(path.as_ptr(), mode & 0o7777) })?;
                }
                if uid.is_some() || gid.is_some() {
                    let u = uid.unwrap_or(u32::MAX);
                    let g = gid.unwrap_or(u32::MAX);
                    // SAFETY: valid fd, empty path with AT_EMPTY_PATH.
                    check(unsafe {
                        libc::fchownat(
                            fd,
                            c"".as_ptr(),
                            u,
                            g,
                            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
                        )
                    })?;
                }
                if let Some(size) = size {
                    let open = fh.and_then(|fh| fs.file(fh).ok());
                    match open {
                        Some(f) => f.set_len(size).map_err(|e| errno(&e))?,
                        None => {
                            let f = std::fs::OpenOptions::new()
                                .write(true)
                                .open(format!("/proc/self/fd/{fd}"))
                                .map_err(|e| errno(&e))?;
                            f.set_len(size).map_err(|e| errno(&e))?;
                        }
                    }
                }
                if atime.is_some() || mtime.is_some() {
                    let times = [timespec(atime), timespec(mtime)];
                    // SAFETY: NUL-terminated path, two timespecs.
                    check(unsafe {
                        libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times.as_ptr(), 0)
                    })?;
                }
                stat_fd(fd)
            })();
            match r {
                Ok(st) => reply.attr(&fs.cfg.ttl, &attr(ino, &st)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn readlink(&mut self, _req: &Request<'_>, ino: u64, reply: ReplyData) {
        self.go_ino("getattr", ino, move |fs| {
            let r = fs.node(ino).and_then(|n| {
                let mut buf = vec![0u8; libc::PATH_MAX as usize];
                // SAFETY: valid fd, empty path, buffer of buf.len() bytes.
                let len = unsafe {
                    libc::readlinkat(
                        n.fd.as_raw_fd(),
                        c"".as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    )
                };
                if len < 0 {
                    return Err(last_err());
                }
                buf.truncate(len as usize);
                Ok(buf)
            });
            match r {
                Ok(b) => reply.data(&b),
                Err(e) => reply.error(e),
            }
        });
    }

    fn mknod(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let (n, uid, gid) = (name.to_owned(), req.uid(), req.gid());
        self.go("mknod", name, move |fs| {
            let r = (|| {
                let p = fs.node(parent)?;
                let c = cstr(&n)?;
                // SAFETY: valid dirfd and name.
                check(unsafe {
                    libc::mknodat(
                        p.fd.as_raw_fd(),
                        c.as_ptr(),
                        mode & !umask,
                        rdev as libc::dev_t,
                    )
                })?;
                fs.chown_new(uid, gid, p.fd.as_raw_fd(), &c);
                Ok(())
            })();
            match r {
                Ok(()) => fs.entry(parent, &n, reply),
                Err(e) => reply.error(e),
            }
        });
    }

    fn mkdir(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let (n, uid, gid) = (name.to_owned(), req.uid(), req.gid());
        self.go("mkdir", name, move |fs| {
            let r = (|| {
                let p = fs.node(parent)?;
                let c = cstr(&n)?;
                // SAFETY: valid dirfd and name.
                check(unsafe { libc::mkdirat(p.fd.as_raw_fd(), c.as_ptr(), mode & !umask) })?;
                fs.chown_new(uid, gid, p.fd.as_raw_fd(), &c);
                Ok(())
            })();
            match r {
                Ok(()) => fs.entry(parent, &n, reply),
                Err(e) => reply.error(e),
            }
        });
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let n = name.to_owned();
        self.go("unlink", name, move |fs| {
            let r = fs.node(parent).and_then(|p| {
                let c = cstr(&n)?;
                // SAFETY: valid dirfd and name.
                check(unsafe { libc::unlinkat(p.fd.as_raw_fd(), c.as_ptr(), 0) })
            });
            empty(reply, r)
        });
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let n = name.to_owned();
        self.go("rmdir", name, move |fs| {
            let r = fs.node(parent).and_then(|p| {
                let c = cstr(&n)?;
                // SAFETY: valid dirfd and name.
                check(unsafe { libc::unlinkat(p.fd.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) })
            });
            empty(reply, r)
        });
    }

    fn symlink(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (n, t, uid, gid) = (
            link_name.to_owned(),
            target.to_owned(),
            req.uid(),
            req.gid(),
        );
        self.go("symlink", link_name, move |fs| {
            let r = (|| {
                let p = fs.node(parent)?;
                let c = cstr(&n)?;
                let tc = cstr(t.as_os_str())?;
                // SAFETY: NUL-terminated strings, valid dirfd.
                check(unsafe { libc::symlinkat(tc.as_ptr(), p.fd.as_raw_fd(), c.as_ptr()) })?;
                fs.chown_new(uid, gid, p.fd.as_raw_fd(), &c);
                Ok(())
            })();
            match r {
                Ok(()) => fs.entry(parent, &n, reply),
                Err(e) => reply.error(e),
            }
        });
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let (n, nn) = (name.to_owned(), newname.to_owned());
        self.go("rename", name, move |fs| {
            let r = (|| {
                let p = fs.node(parent)?;
                let np = fs.node(newparent)?;
                let c = cstr(&n)?;
                let nc = cstr(&nn)?;
                // SAFETY: valid dirfds and names.
                check(unsafe {
                    libc::renameat2(
                        p.fd.as_raw_fd(),
                        c.as_ptr(),
                        np.fd.as_raw_fd(),
                        nc.as_ptr(),
                        flags,
                    )
                })?;
                // The moved inode goes by its new name now.
                if let Ok(fd) = open_path(np.fd.as_raw_fd(), &nc) {
                    if let Ok(st) = stat_fd(fd.as_raw_fd()) {
                        let t = fs.table.lock().unwrap();
                        if let Some(ino) = t.by_key.get(&(st.st_dev, st.st_ino)) {
                            *t.nodes[ino].0.name.lock().unwrap() = nn.clone();
                        }
                    }
                }
                Ok(())
            })();
            empty(reply, r)
        });
    }

    fn link(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        newparent: u64,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let nn = newname.to_owned();
        self.go("link", newname, move |fs| {
            let r = (|| {
                let node = fs.node(ino)?;
                let np = fs.node(newparent)?;
                let nc = cstr(&nn)?;
                let path = proc_path(node.fd.as_raw_fd());
                // SAFETY: NUL-terminated paths, valid dirfd.
                check(unsafe {
                    libc::linkat(
                        libc::AT_FDCWD,
                        path.as_ptr(),
                        np.fd.as_raw_fd(),
                        nc.as_ptr(),
                        libc::AT_SYMLINK_FOLLOW,
                    )
                })
            })();
            match r {
                Ok(()) => fs.entry(newparent, &nn, reply),
                Err(e) => reply.error(e),
            }
        });
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        self.go_ino("open", ino, move |fs| {
            let r = fs.node(ino).and_then(|n| {
                let path = proc_path(n.fd.as_raw_fd());
                let flags =
                    flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_NOFOLLOW);
                // SAFETY: NUL-terminated path.
                let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
                if fd < 0 {
                    return Err(last_err());
                }
                // SAFETY: a fresh descriptor we own.
                let f = unsafe { File::from_raw_fd(fd) };
                let fh = fs.new_fh();
                fs.files.lock().unwrap().insert(fh, Arc::new(f));
                Ok(fh)
            });
            match r {
                Ok(fh) => reply.opened(fh, open_flags(fs)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        self.go_ino("read", ino, move |fs| {
            let r = fs.file(fh).and_then(|f| {
                let mut buf = vec![0u8; size as usize];
                let mut done = 0;
                while done < buf.len() {
                    match f.read_at(&mut buf[done..], offset as u64 + done as u64) {
                        Ok(0) => break,
                        Ok(n) => done += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(errno(&e)),
                    }
                }
                buf.truncate(done);
                Ok(buf)
            });
            match r {
                Ok(b) => reply.data(&b),
                Err(e) => reply.error(e),
            }
        });
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let data = data.to_vec();
        self.go_ino("write", ino, move |fs| {
            let r = fs.file(fh).and_then(|f| {
                f.write_all_at(&data, offset as u64)
                    .map_err(|e| errno(&e))
                    .map(|()| data.len() as u32)
            });
            match r {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(e),
            }
        });
    }

    fn flush(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _lo: u64, reply: ReplyEmpty) {
        self.go_ino("flush", ino, move |_| reply.ok());
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.go_ino("release", ino, move |fs| {
            fs.files.lock().unwrap().remove(&fh);
            reply.ok()
        });
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, fh: u64, datasync: bool, reply: ReplyEmpty) {
        self.go_ino("fsync", ino, move |fs| {
            let r = fs.file(fh).and_then(|f| {
                if datasync {
                    f.sync_data()
                } else {
                    f.sync_all()
                }
                .map_err(|e| errno(&e))
            });
            empty(reply, r)
        });
    }

    fn opendir(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        self.go_ino("readdir", ino, move |fs| {
            let r = (|| {
                let n = fs.node(ino)?;
                let fd = n.fd.as_raw_fd();
                let st = stat_fd(fd)?;
                // SRC's inode numbers, as node numbers where they differ.
                let node_no = |ino: u64| {
                    let t = fs.table.lock().unwrap();
                    t.by_key.get(&(st.st_dev, ino)).copied().unwrap_or(ino)
                };
                let mut list: DirList = vec![
                    (ino, FileType::Directory, ".".into()),
                    // (".." is not looked at by anyone who reads numbers.)
                    (fuser::FUSE_ROOT_ID, FileType::Directory, "..".into()),
                ];
                for e in std::fs::read_dir(format!("/proc/self/fd/{fd}")).map_err(|e| errno(&e))? {
                    let e = e.map_err(|e| errno(&e))?;
                    let ft = e.file_type().map_err(|e| errno(&e))?;
                    use std::os::unix::fs::{DirEntryExt, FileTypeExt};
                    let k = if ft.is_dir() {
                        FileType::Directory
                    } else if ft.is_symlink() {
                        FileType::Symlink
                    } else if ft.is_fifo() {
                        FileType::NamedPipe
                    } else if ft.is_socket() {
                        FileType::Socket
                    } else if ft.is_char_device() {
                        FileType::CharDevice
                    } else if ft.is_block_device() {
                        FileType::BlockDevice
                    } else {
                        FileType::RegularFile
                    };
                    list.push((node_no(e.ino()), k, e.file_name()));
                }
                let fh = fs.new_fh();
                fs.dirs.lock().unwrap().insert(fh, Arc::new(list));
                Ok(fh)
            })();
            match r {
                Ok(fh) => reply.opened(fh, 0),
                Err(e) => reply.error(e),
            }
        });
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        self.go_ino("readdir", ino, move |fs| {
            let list = fs.dirs.lock().unwrap().get(&fh).cloned();
            let Some(list) = list else {
                return reply.error(libc::EBADF);
            };
            for (i, (ino, k, name)) in list.iter().enumerate().skip(offset.max(0) as usize) {
                if reply.add(*ino, i as i64 + 1, *k, name) {
                    break;
                }
            }
            reply.ok()
        });
    }

    fn releasedir(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        reply: ReplyEmpty,
    ) {
        self.0.dirs.lock().unwrap().remove(&fh);
        reply.ok()
    }

    fn fsyncdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.go_ino("fsync", ino, move |fs| {
            let r = fs.node(ino).and_then(|n| {
                let f = File::open(format!("/proc/self/fd/{}", n.fd.as_raw_fd()))
                    .map_err(|e| errno(&e))?;
                if datasync {
                    f.sync_data()
                } else {
                    f.sync_all()
                }
                .map_err(|e| errno(&e))
            });
            empty(reply, r)
        });
    }

    fn statfs(&mut self, _req: &Request<'_>, ino: u64, reply: ReplyStatfs) {
        self.go_ino("statfs", ino, move |fs| {
            let r = fs.node(ino).and_then(|n| {
                // SAFETY: zeroed statvfs is valid to overwrite.
                let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
                // SAFETY: valid fd (O_PATH works for fstatvfs) and out pointer.
                check(unsafe { libc::fstatvfs(n.fd.as_raw_fd(), &mut s) })?;
                Ok(s)
            });
            match r {
                Ok(s) => reply.statfs(
                    s.f_blocks,
                    s.f_bfree,
                    s.f_bavail,
                    s.f_files,
                    s.f_ffree,
                    s.f_bsize as u32,
                    s.f_namemax as u32,
                    s.f_frsize as u32,
                ),
                Err(e) => reply.error(e),
            }
        });
    }

    fn setxattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let (n, v) = (name.to_owned(), value.to_vec());
        self.go_ino("xattr", ino, move |fs| {
            let r = fs.node(ino).and_then(|node| {
                let c = cstr(&n)?;
                let path = proc_path(node.fd.as_raw_fd());
                // SAFETY: NUL-terminated strings, value of v.len() bytes.
                check(unsafe {
                    libc::setxattr(path.as_ptr(), c.as_ptr(), v.as_ptr().cast(), v.len(), flags)
                })
            });
            empty(reply, r)
        });
    }

    fn getxattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        name: &OsStr,
        size: u32,
        reply: ReplyXattr,
    ) {
        let n = name.to_owned();
        self.go_ino("xattr", ino, move |fs| {
            let r = fs.node(ino).and_then(|node| {
                let c = cstr(&n)?;
                let path = proc_path(node.fd.as_raw_fd());
                let mut buf = vec![0u8; size as usize];
                // SAFETY: NUL-terminated strings, buffer of buf.len() bytes.
                let len = unsafe {
                    libc::getxattr(
                        path.as_ptr(),
                        c.as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    )
                };
                if len < 0 {
                    return Err(last_err());
                }
                buf.resize(len as usize, 0);
                Ok(buf)
            });
            xattr_reply(reply, size, r)
        });
    }

    fn listxattr(&mut self, _req: &Request<'_>, ino: u64, size: u32, reply: ReplyXattr) {
        self.go_ino("xattr", ino, move |fs| {
            let r = fs.node(ino).and_then(|node| {
                let path = proc_path(node.fd.as_raw_fd());
                let mut buf = vec![0u8; size as usize];
                // SAFETY: NUL-terminated path, buffer of buf.len() bytes.
                let len =
                    unsafe { libc::listxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
                if len < 0 {
                    return Err(last_err());
                }
                buf.resize(len as usize, 0);
                Ok(buf)
            });
            xattr_reply(reply, size, r)
        });
    }

    fn removexattr(&mut self, _req: &Request<'_>, ino: u64, name: &OsStr, reply: ReplyEmpty) {
        let n = name.to_owned();
        self.go_ino("xattr", ino, move |fs| {
            let r = fs.node(ino).and_then(|node| {
                let c = cstr(&n)?;
                let path = proc_path(node.fd.as_raw_fd());
                // SAFETY: NUL-terminated strings.
                check(unsafe { libc::removexattr(path.as_ptr(), c.as_ptr()) })
            });
            empty(reply, r)
        });
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        reply.ok()
    }

    fn create(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let (n, uid, gid) = (name.to_owned(), req.uid(), req.gid());
        self.go("create", name, move |fs| {
            let r = (|| {
                let p = fs.node(parent)?;
                let c = cstr(&n)?;
                let flags =
                    (flags | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOFOLLOW) & !libc::O_NOCTTY;
                // SAFETY: valid dirfd and name.
                let fd = unsafe {
                    libc::openat(
                        p.fd.as_raw_fd(),
                        c.as_ptr(),
                        flags,
                        (mode & !umask) as libc::c_uint,
                    )
                };
                if fd < 0 {
                    return Err(last_err());
                }
                // SAFETY: a fresh descriptor we own.
                let f = unsafe { File::from_raw_fd(fd) };
                fs.chown_new(uid, gid, p.fd.as_raw_fd(), &c);
                let (ino, st) = fs.lookup(parent, &n)?;
                let fh = fs.new_fh();
                fs.files.lock().unwrap().insert(fh, Arc::new(f));
                Ok((ino, st, fh))
            })();
            match r {
                Ok((ino, st, fh)) => {
                    reply.created(&fs.cfg.ttl, &attr(ino, &st), 0, fh, open_flags(fs))
                }
                Err(e) => reply.error(e),
            }
        });
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        self.go_ino("write", ino, move |fs| {
            let r = fs.file(fh).and_then(|f| {
                // SAFETY: valid fd.
                check(unsafe { libc::fallocate(f.as_raw_fd(), mode, offset, length) })
            });
            empty(reply, r)
        });
    }
}

fn open_flags(fs: &Inner) -> u32 {
    const FOPEN_DIRECT_IO: u32 = 1 << 0;
    if fs.cfg.direct_io {
        FOPEN_DIRECT_IO
    } else {
        0
    }
}

/// With `size == 0` the kernel asks for the length only (the host call got
/// a zero-length buffer and returned the length, `r` holds that many zeros).
fn xattr_reply(reply: ReplyXattr, size: u32, r: Result<Vec<u8>, i32>) {
    match r {
        Ok(b) if size == 0 => reply.size(b.len() as u32),
        Ok(b) => reply.data(&b),
        Err(e) => reply.error(e),
    }
}

/// One descriptor per inode ever seen: raise the soft limit to the hard one.
fn raise_nofile() {
    // SAFETY: a zeroed rlimit is valid to overwrite.
    let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: valid out pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 && r.rlim_cur < r.rlim_max {
        r.rlim_cur = r.rlim_max;
        // SAFETY: valid rlimit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
    }
}

fn main() {
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("slowfs: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    raise_nofile();
    let root = match std::fs::canonicalize(&cfg.src)
        .map_err(|e| errno(&e))
        .and_then(|p| {
            let c = CString::new(p.into_os_string().into_vec()).map_err(|_| libc::EINVAL)?;
            open_path(libc::AT_FDCWD, &c)
        }) {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!(
                "slowfs: cannot open {}: {}",
                cfg.src.display(),
                io::Error::from_raw_os_error(e)
            );
            std::process::exit(1);
        }
    };
    let st = stat_fd(root.as_raw_fd()).expect("stat SRC");
    let mut table = Table {
        next: 1 << 62,
        ..Default::default()
    };
    let key = (st.st_dev, st.st_ino);
    table.by_key.insert(key, fuser::FUSE_ROOT_ID);
    table.nodes.insert(
        fuser::FUSE_ROOT_ID,
        (
            Arc::new(Node {
                fd: root,
                name: Mutex::new(OsString::new()),
            }),
            1,
        ),
    );
    let pool = (!cfg.delay.is_zero()).then(|| Pool::start(cfg.threads));
    let mut options = vec![
        MountOption::FSName(cfg.fsname.clone()),
        MountOption::Subtype("slowfs".into()),
        MountOption::RW,
        MountOption::Dev,
        MountOption::Suid,
    ];
    if cfg.allow_other {
        options.push(MountOption::AllowOther);
    }
    if cfg.default_permissions {
        options.push(MountOption::DefaultPermissions);
    }
    let mnt = cfg.mnt.clone();
    if !cfg.quiet {
        eprintln!(
            "slowfs: serving {} at {} (holds {:?}, delay {:?})",
            cfg.src.display(),
            mnt.display(),
            cfg.holds
                .iter()
                .map(|h| format!(
                    "{}:{}:{}",
                    h.op,
                    String::from_utf8_lossy(&h.glob),
                    h.time.as_millis()
                ))
                .collect::<Vec<_>>(),
            cfg.delay
        );
    }
    let fs = SlowFs(Arc::new(Inner {
        cfg,
        table: Mutex::new(table),
        files: Mutex::new(HashMap::new()),
        dirs: Mutex::new(HashMap::new()),
        next_fh: AtomicU64::new(1),
        pool,
        started: Instant::now(),
        held: AtomicU64::new(0),
    }));
    if let Err(e) = fuser::mount2(fs, &mnt, &options) {
        eprintln!("slowfs: cannot mount {}: {e}", mnt.display());
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        let m = |p: &str, n: &str| glob_match(p.as_bytes(), n.as_bytes());
        assert!(m("*", "anything"));
        assert!(m("a*", "a"));
        assert!(m("a*", "abc"));
        assert!(!m("a*", "ba"));
        assert!(m("*.slow", "x.slow"));
        assert!(!m("*.slow", "x.slow2"));
        assert!(m("f?le", "file"));
        assert!(m("[ab]*", "bx"));
        assert!(!m("[!ab]*", "bx"));
        assert!(m("[a-c]", "b"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
    }
}
