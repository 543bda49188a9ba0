//! Containment: every way a guest could try to reach outside the shared
//! directory, sent as raw FUSE requests over a real vhost-user connection.
//!
//! Each test checks the errno the daemon answers AND that nothing outside
//! the share changed: a sibling directory `outside/` (a secret file, a
//! subdirectory, a file the share hard-links to) and the directory holding
//! the share are snapshotted before and compared after.
//!
//! The suite runs once per daemon variant (see [`variants!`]): without a
//! `--sandbox` option (the default, `namespace`), with `--sandbox
//! namespace`, `--sandbox chroot`, `--sandbox none`, and `--sandbox none
//! --inode-file-handles never` (inodes held by descriptor instead of file
//! handle). The `none` variants show containment that does not depend on
//! the sandbox; the others that the sandbox changes none of the answers.
//! `tests/sandbox.rs` checks the sandbox itself.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::daemon::{DaemonProcess, TestDirs};
use common::fuse_client::FuseClient;
use common::vmm::VmmOptions;
use epochfsd::fuse::abi::ROOT_ID;

const SECRET: &[u8] = b"outside secret";
const RDWR: u32 = libc::O_RDWR as u32;
const RDONLY: u32 = libc::O_RDONLY as u32;

/// What a path outside the share looks like, down to contents.
#[derive(Debug, PartialEq, Eq)]
struct Item {
    mode: u32,
    uid: u32,
    nlink: u64,
    size: u64,
    mtime: (i64, i64),
    content: Vec<u8>,
}

type Snapshot = BTreeMap<PathBuf, Item>;

fn snap_into(path: &Path, rel: &Path, ignore: &[&str], out: &mut Snapshot) {
    let meta = fs::symlink_metadata(path).unwrap();
    let skip_attrs = ignore.iter().any(|i| rel == Path::new(i));
    let content = if meta.file_type().is_symlink() {
        fs::read_link(path)
            .unwrap()
            .into_os_string()
            .into_encoded_bytes()
    } else if meta.is_file() && !skip_attrs {
        fs::read(path).unwrap()
    } else {
        Vec::new()
    };
    let item = if skip_attrs {
        Item {
            mode: meta.mode() & libc::S_IFMT,
            uid: 0,
            nlink: 0,
            size: 0,
            mtime: (0, 0),
            content,
        }
    } else {
        Item {
            mode: meta.mode(),
            uid: meta.uid(),
            nlink: meta.nlink(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            content,
        }
    };
    out.insert(rel.to_path_buf(), item);
    if meta.is_dir() {
        for e in fs::read_dir(path).unwrap() {
            let e = e.unwrap();
            snap_into(&e.path(), &rel.join(e.file_name()), ignore, out);
        }
    }
}

/// A daemon, a client, and the `outside/` directory next to the share.
struct Env {
    d: DaemonProcess,
    c: FuseClient,
    /// `<tmp>/outside`: must never change.
    outside: PathBuf,
    /// Paths (relative to `<tmp>`) whose attributes and contents may
    /// change (an inode the share hard-links to).
    ignore: Vec<&'static str>,
    before: Snapshot,
}

impl Env {
    fn new(args: &[&str]) -> Env {
        let dirs = TestDirs::new();
        let outside = dirs.root.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), SECRET).unwrap();
        fs::create_dir(outside.join("dir")).unwrap();
        fs::write(outside.join("dir/file"), b"inner").unwrap();
        fs::set_permissions(outside.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
        let d = DaemonProcess::spawn(dirs, 1, args);
        let c = common::connect(d.socket(), 1, VmmOptions::default());
        let mut env = Env {
            d,
            c,
            outside,
            ignore: Vec::new(),
            before: Snapshot::new(),
        };
        env.before = env.snapshot();
        env
    }

    fn share(&self) -> PathBuf {
        self.d.share().to_path_buf()
    }

    /// Everything under `<tmp>` except the share, the socket and the log.
    fn snapshot(&self) -> Snapshot {
        let root = self.d.dirs.root.path();
        let mut out = Snapshot::new();
        for e in fs::read_dir(root).unwrap() {
            let e = e.unwrap();
            let name = e.file_name();
            if ["share", "vhost.sock", "daemon.log"].contains(&name.to_str().unwrap()) {
                continue;
            }
            snap_into(&e.path(), Path::new(&name), &self.ignore, &mut out);
        }
        out
    }

    /// A hard link `share/name` to a new file `outside/linked`, whose
    /// contents may change from then on (it is shared on purpose).
    fn hard_link_from_outside(&mut self, name: &str) {
        fs::write(self.outside.join("linked"), b"linked").unwrap();
        fs::hard_link(self.outside.join("linked"), self.share().join(name)).unwrap();
        self.ignore.push("outside/linked");
        self.before = self.snapshot();
    }

    fn assert_outside_unchanged(&mut self) {
        let after = self.snapshot();
        assert_eq!(self.before, after, "something outside the share changed");
        assert!(
            self.c.getattr(ROOT_ID).is_ok(),
            "daemon stopped serving; log:\n{}",
            self.d.log()
        );
        assert!(self.d.is_running(), "daemon exited");
    }
}

fn assert_errno<T: std::fmt::Debug>(r: Result<T, i32>, allowed: &[i32], what: &str) {
    match r {
        Err(e) if allowed.contains(&e) => {}
        other => panic!("{what}: expected one of {allowed:?}, got {other:?}"),
    }
}

/// Names no request may use: more than one component, `.`/`..`, empty,
/// too long.
fn hostile_names() -> Vec<(Vec<u8>, &'static [i32])> {
    const INVAL: &[i32] = &[libc::EINVAL];
    const LONG: &[i32] = &[libc::ENAMETOOLONG, libc::EINVAL];
    vec![
        (b"a/b".to_vec(), INVAL),
        (b"../outside/secret".to_vec(), INVAL),
        (b"../outside/new".to_vec(), INVAL),
        (b"/etc/passwd".to_vec(), INVAL),
        (b"..".to_vec(), INVAL),
        (b".".to_vec(), INVAL),
        (b"".to_vec(), INVAL),
        (b"new\0../../outside/x".to_vec(), INVAL),
        (vec![b'x'; 256], LONG),
        (vec![b'x'; 4000], LONG),
    ]
}

// ---- names ----

fn hostile_names_are_refused_by_every_request_taking_a_name(args: &[&str]) {
    let mut env = Env::new(args);
    fs::create_dir(env.share().join("sub")).unwrap();
    fs::write(env.share().join("f"), b"f").unwrap();
    let sub = env.c.lookup(ROOT_ID, b"sub").unwrap().nodeid;
    let f = env.c.lookup(ROOT_ID, b"f").unwrap().nodeid;
    for (name, errs) in hostile_names() {
        let shown = String::from_utf8_lossy(&name[..name.len().min(24)]).into_owned();
        for parent in [ROOT_ID, sub] {
            if parent == ROOT_ID && name == b".." {
                continue; // `..` of the root is the root: see its own test.
            }
            let c = &mut env.c;
            assert_errno(c.lookup(parent, &name), errs, &format!("LOOKUP {shown}"));
            assert_errno(
                c.mkdir(parent, &name, 0o755),
                errs,
                &format!("MKDIR {shown}"),
            );
            let mknod = c.mknod(parent, &name, libc::S_IFREG | 0o644, 0);
            assert_errno(mknod, errs, &format!("MKNOD {shown}"));
            let create = c.create(parent, &name, RDWR, 0o644);
            assert_errno(create, errs, &format!("CREATE {shown}"));
            let sl = c.symlink(parent, &name, b"target");
            assert_errno(sl, errs, &format!("SYMLINK {shown}"));
            assert_errno(c.unlink(parent, &name), errs, &format!("UNLINK {shown}"));
            assert_errno(c.rmdir(parent, &name), errs, &format!("RMDIR {shown}"));
            let from = c.rename(parent, &name, ROOT_ID, b"dst");
            assert_errno(from, errs, &format!("RENAME from {shown}"));
            let to = c.rename(ROOT_ID, b"f", parent, &name);
            assert_errno(to, errs, &format!("RENAME to {shown}"));
            assert_errno(c.link(f, parent, &name), errs, &format!("LINK {shown}"));
        }
    }
    assert!(env.share().join("f").exists(), "f was moved");
    assert_eq!(fs::read_dir(env.share().join("sub")).unwrap().count(), 0);
    env.assert_outside_unchanged();
}

fn dotdot_of_the_root_is_the_root(args: &[&str]) {
    let mut env = Env::new(args);
    let root = env.c.getattr(ROOT_ID).unwrap();

    let r = env.c.lookup(ROOT_ID, b"..");

    // The protocol layer refuses `..` outright (a 6.12 guest resolves it
    // itself); if it ever answers, the answer must be the root.
    match r {
        Err(e) => assert_eq!(e, libc::EINVAL),
        Ok(e) => {
            assert_eq!(e.nodeid, ROOT_ID);
            assert_eq!(e.attr.ino, root.attr.ino);
        }
    }
    // `..` twice, from a subdirectory, does not climb either.
    fs::create_dir(env.share().join("sub")).unwrap();
    let sub = env.c.lookup(ROOT_ID, b"sub").unwrap().nodeid;
    assert_errno(
        env.c.lookup(sub, b".."),
        &[libc::EINVAL],
        "LOOKUP .. in sub",
    );
    let r = env.c.create(ROOT_ID, b"..", RDWR, 0o644);
    assert_errno(r, &[libc::EINVAL], "CREATE ..");
    env.assert_outside_unchanged();
}

// ---- symlinks ----

/// Symlinks in the share pointing out: absolute, relative, and a chain.
fn make_escaping_links(env: &Env) {
    let share = env.share();
    symlink(&env.outside, share.join("abs")).unwrap();
    symlink("../outside", share.join("rel")).unwrap();
    symlink(env.outside.join("secret"), share.join("abs-secret")).unwrap();
    symlink("chain2", share.join("chain1")).unwrap();
    symlink("../outside/secret", share.join("chain2")).unwrap();
    fs::create_dir(share.join("d")).unwrap();
    symlink("../../outside", share.join("d/up")).unwrap();
}

fn lookups_through_symlinks_do_not_leave_the_share(args: &[&str]) {
    let mut env = Env::new(args);
    make_escaping_links(&env);
    let d = env.c.lookup(ROOT_ID, b"d").unwrap().nodeid;
    for (parent, link) in [
        (ROOT_ID, &b"abs"[..]),
        (ROOT_ID, b"rel"),
        (ROOT_ID, b"chain1"),
        (d, b"up"),
    ] {
        let e = env.c.lookup(parent, link).unwrap();
        assert_eq!(e.attr.mode & libc::S_IFMT, libc::S_IFLNK, "link itself");
        for child in [&b"secret"[..], b"dir", b"new"] {
            let r = env.c.lookup(e.nodeid, child);
            assert_errno(r, &[libc::ENOTDIR], "LOOKUP under a symlink");
        }
        let r = env.c.opendir(e.nodeid);
        assert_errno(r, &[libc::ENOTDIR, libc::ELOOP], "OPENDIR of a symlink");
    }
    env.assert_outside_unchanged();
}

fn symlinks_to_outside_files_are_never_opened(args: &[&str]) {
    let mut env = Env::new(args);
    make_escaping_links(&env);
    for link in [&b"abs-secret"[..], b"chain1", b"chain2"] {
        let e = env.c.lookup(ROOT_ID, link).unwrap();
        for flags in [RDONLY, RDWR, RDWR | libc::O_TRUNC as u32] {
            let r = env.c.open(e.nodeid, flags);
            assert_errno(r, &[libc::ELOOP], "OPEN of a symlink");
        }
        // Attribute changes act on the link or fail, never on the target.
        let r = env.c.truncate(e.nodeid, 0);
        assert!(r.is_err(), "truncate of a symlink node answered {r:?}");
        let _ = env.c.chmod(e.nodeid, 0o777);
        let _ = env.c.utimes(e.nodeid, (1, 0), (1, 0));
    }
    // Opening by name through CREATE without O_EXCL finds the link and
    // refuses it instead of following it.
    let r = env.c.create(ROOT_ID, b"abs-secret", RDWR, 0o644);
    assert_errno(r, &[libc::ELOOP, libc::EEXIST], "CREATE over a symlink");
    env.assert_outside_unchanged();
}

fn create_in_a_symlinked_directory_is_refused(args: &[&str]) {
    let mut env = Env::new(args);
    make_escaping_links(&env);
    for link in [&b"abs"[..], b"rel"] {
        let l = env.c.lookup(ROOT_ID, link).unwrap().nodeid;
        let c = &mut env.c;
        assert_errno(
            c.create(l, b"evil", RDWR, 0o644),
            &[libc::ENOTDIR],
            "CREATE",
        );
        assert_errno(c.mkdir(l, b"evil", 0o755), &[libc::ENOTDIR], "MKDIR");
        let r = c.mknod(l, b"evil", libc::S_IFREG | 0o644, 0);
        assert_errno(r, &[libc::ENOTDIR], "MKNOD");
        assert_errno(c.symlink(l, b"evil", b"x"), &[libc::ENOTDIR], "SYMLINK");
        assert_errno(c.unlink(l, b"secret"), &[libc::ENOTDIR], "UNLINK");
        assert_errno(c.rmdir(l, b"dir"), &[libc::ENOTDIR], "RMDIR");
    }
    env.assert_outside_unchanged();
}

fn symlink_targets_are_stored_verbatim_and_not_followed(args: &[&str]) {
    let mut env = Env::new(args);
    let abs = env.outside.join("secret");
    let targets: Vec<Vec<u8>> = vec![
        abs.as_os_str().as_encoded_bytes().to_vec(),
        b"../outside/secret".to_vec(),
        b"../../../../../../etc/shadow".to_vec(),
        b"/proc/self/root/etc".to_vec(),
    ];
    for (i, target) in targets.iter().enumerate() {
        let name = format!("l{i}");
        let e = env.c.symlink(ROOT_ID, name.as_bytes(), target).unwrap();
        assert_eq!(e.attr.mode & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(&env.c.readlink(e.nodeid).unwrap(), target);
        let host = fs::read_link(env.share().join(&name)).unwrap();
        assert_eq!(host.as_os_str().as_encoded_bytes(), &target[..]);
        assert_errno(env.c.open(e.nodeid, RDWR), &[libc::ELOOP], "OPEN");
        let r = env.c.lookup(e.nodeid, b"x");
        assert_errno(r, &[libc::ENOTDIR], "LOOKUP under");
    }
    env.assert_outside_unchanged();
}

// ---- rename and link ----

fn rename_and_link_with_forged_or_escaping_parents_are_refused(args: &[&str]) {
    let mut env = Env::new(args);
    make_escaping_links(&env);
    fs::write(env.share().join("f"), b"f").unwrap();
    let f = env.c.lookup(ROOT_ID, b"f").unwrap().nodeid;
    let abs = env.c.lookup(ROOT_ID, b"abs").unwrap().nodeid;
    let forged = [0, 2, 999_999, u64::MAX, 1 << 63];
    let c = &mut env.c;
    for bad in forged {
        if bad == f {
            continue;
        }
        let r = c.rename(ROOT_ID, b"f", bad, b"moved");
        assert_errno(
            r,
            &[libc::EBADF, libc::ENOENT, libc::ESTALE],
            "RENAME to forged",
        );
        let r = c.rename(bad, b"secret", ROOT_ID, b"stolen");
        assert_errno(
            r,
            &[libc::EBADF, libc::ENOENT, libc::ESTALE],
            "RENAME from forged",
        );
        let r = c.link(f, bad, b"linked");
        assert_errno(
            r,
            &[libc::EBADF, libc::ENOENT, libc::ESTALE],
            "LINK into forged",
        );
        let r = c.link(bad, ROOT_ID, b"stolen");
        assert_errno(
            r,
            &[libc::EBADF, libc::ENOENT, libc::ESTALE],
            "LINK of forged",
        );
    }
    // A symlink to outside as the new parent: not a directory.
    assert_errno(
        c.rename(ROOT_ID, b"f", abs, b"moved"),
        &[libc::ENOTDIR],
        "RENAME",
    );
    assert_errno(
        c.rename(abs, b"secret", ROOT_ID, b"x"),
        &[libc::ENOTDIR],
        "RENAME",
    );
    assert_errno(c.link(f, abs, b"linked"), &[libc::ENOTDIR], "LINK");
    // A file as the new parent.
    assert_errno(c.rename(ROOT_ID, b"f", f, b"x"), &[libc::ENOTDIR], "RENAME");
    // RENAME_EXCHANGE with a symlink swaps the links, not their targets.
    c.rename2(ROOT_ID, b"f", ROOT_ID, b"abs", libc::RENAME_EXCHANGE)
        .unwrap();
    assert!(fs::symlink_metadata(env.share().join("f"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(env.share().join("abs")).unwrap(), b"f");
    env.assert_outside_unchanged();
}

fn hard_link_to_an_outside_file_changes_only_that_inode(args: &[&str]) {
    let mut env = Env::new(args);
    env.hard_link_from_outside("hl");
    let e = env.c.lookup(ROOT_ID, b"hl").unwrap();
    assert_eq!(e.attr.nlink, 2);
    // The daemon serves the inode (it is in the share by one of its names).
    let o = env.c.open(e.nodeid, RDWR).unwrap();
    assert_eq!(env.c.read(e.nodeid, o.fh, 0, 100).unwrap(), b"linked");
    env.c.write(e.nodeid, o.fh, 0, b"LINKED").unwrap();
    env.c.release(e.nodeid, o.fh, RDWR).unwrap();
    // New names for it stay in the share; removing names there leaves the
    // outside name alone.
    env.c.link(e.nodeid, ROOT_ID, b"hl2").unwrap();
    env.c.rename(ROOT_ID, b"hl2", ROOT_ID, b"hl3").unwrap();
    env.c.unlink(ROOT_ID, b"hl3").unwrap();
    env.c.unlink(ROOT_ID, b"hl").unwrap();
    assert_eq!(fs::read(env.outside.join("linked")).unwrap(), b"LINKED");
    assert_eq!(fs::metadata(env.outside.join("linked")).unwrap().nlink(), 1);
    env.assert_outside_unchanged();
}

// ---- special files ----

/// Runs `f` and fails the test if it takes longer than a few seconds (an
/// open of a fifo that blocked in the daemon would hang the reply).
fn promptly<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let r = f();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{what} took {:?}",
        start.elapsed()
    );
    r
}

fn fifos_sockets_and_devices_are_never_opened(args: &[&str]) {
    let mut env = Env::new(args);
    let share = env.share();
    let fifo = std::ffi::CString::new(share.join("fifo").as_os_str().as_encoded_bytes()).unwrap();
    let null = std::ffi::CString::new(share.join("null").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: NUL-terminated paths; plain syscalls on a test directory.
    unsafe {
        assert_eq!(libc::mkfifo(fifo.as_ptr(), 0o666), 0);
        assert_eq!(
            libc::mknod(null.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)),
            0
        );
    }
    let _sock = std::os::unix::net::UnixListener::bind(share.join("sock")).unwrap();
    // The guest makes its own device node too (allowed for root on the
    // host, but it must never be opened).
    let zero = env
        .c
        .mknod(ROOT_ID, b"zero", libc::S_IFCHR | 0o666, (1 << 8) | 5);
    let mut names = vec![&b"fifo"[..], b"null", b"sock"];
    if zero.is_ok() {
        names.push(b"zero");
    }
    for name in names {
        let e = env.c.lookup(ROOT_ID, name).unwrap();
        for flags in [
            RDONLY,
            RDWR,
            libc::O_WRONLY as u32,
            RDONLY | libc::O_NONBLOCK as u32,
        ] {
            let r = promptly("OPEN", || env.c.open(e.nodeid, flags));
            assert_errno(r, &[libc::ENXIO], "OPEN of a special file");
        }
        let r = promptly("CREATE", || env.c.create(ROOT_ID, name, RDWR, 0o644));
        assert_errno(
            r,
            &[libc::ENXIO, libc::EEXIST],
            "CREATE over a special file",
        );
        let r = promptly("OPENDIR", || env.c.opendir(e.nodeid));
        assert_errno(
            r,
            &[libc::ENOTDIR, libc::ENXIO],
            "OPENDIR of a special file",
        );
        let r = promptly("truncate", || env.c.truncate(e.nodeid, 0));
        assert!(r.is_err(), "truncate of a special file answered {r:?}");
    }
    env.assert_outside_unchanged();
}

// ---- forged and stale ids ----

fn forged_and_stale_node_ids_and_handles_are_refused(args: &[&str]) {
    let mut env = Env::new(args);
    fs::write(env.share().join("f"), b"data").unwrap();
    fs::create_dir(env.share().join("d")).unwrap();
    let stale_errs = &[libc::EBADF, libc::ENOENT, libc::ESTALE][..];
    let c = &mut env.c;
    let f = c.lookup(ROOT_ID, b"f").unwrap().nodeid;
    let d = c.lookup(ROOT_ID, b"d").unwrap().nodeid;
    let fh = c.open(f, RDWR).unwrap().fh;
    let dh = c.opendir(d).unwrap().fh;
    for bad in [0, 999_999, u64::MAX, 1 << 63] {
        assert_errno(c.getattr(bad), stale_errs, "GETATTR forged");
        assert_errno(c.lookup(bad, b"f"), stale_errs, "LOOKUP forged");
        assert_errno(c.open(bad, RDONLY), stale_errs, "OPEN forged");
        assert_errno(
            c.create(bad, b"x", RDWR, 0o644),
            stale_errs,
            "CREATE forged",
        );
        assert_errno(c.readlink(bad), stale_errs, "READLINK forged");
        assert_errno(c.read(f, bad, 0, 10), stale_errs, "READ forged fh");
        assert_errno(c.write(f, bad, 0, b"x"), stale_errs, "WRITE forged fh");
        assert_errno(c.release(f, bad, 0), stale_errs, "RELEASE forged fh");
        assert_errno(c.getattr_fh(f, bad), stale_errs, "GETATTR forged fh");
        assert_eq!(c.forget(bad, 1), Some(0), "FORGET of a forged id");
    }
    // A handle used with another node, a directory handle used for I/O.
    assert_errno(c.read(d, fh, 0, 10), stale_errs, "READ fh of another node");
    assert_errno(
        c.read(f, dh, 0, 10),
        stale_errs,
        "READ with a directory handle",
    );
    let r = c.write(d, dh, 0, b"x");
    assert_errno(
        r,
        &[libc::EBADF, libc::EISDIR],
        "WRITE with a directory handle",
    );
    // Released handles and forgotten nodes are gone for good.
    c.release(f, fh, RDWR).unwrap();
    assert_errno(c.read(f, fh, 0, 10), stale_errs, "READ released fh");
    assert_errno(c.release(f, fh, RDWR), stale_errs, "RELEASE twice");
    c.forget(f, 1);
    assert_errno(c.getattr(f), stale_errs, "GETATTR forgotten");
    assert_errno(c.open(f, RDONLY), stale_errs, "OPEN forgotten");
    // A fresh lookup gives a new id, not the old one.
    let again = c.lookup(ROOT_ID, b"f").unwrap().nodeid;
    assert_ne!(again, f);
    assert_eq!(fs::read(env.share().join("f")).unwrap(), b"data");
    env.assert_outside_unchanged();
}

fn lookup_counts_are_honoured_by_forget_and_batch_forget(args: &[&str]) {
    let mut env = Env::new(args);
    fs::write(env.share().join("f"), b"data").unwrap();
    fs::write(env.share().join("g"), b"data").unwrap();
    let c = &mut env.c;
    let f = c.lookup(ROOT_ID, b"f").unwrap().nodeid;
    assert_eq!(c.lookup(ROOT_ID, b"f").unwrap().nodeid, f);
    assert_eq!(c.lookup(ROOT_ID, b"f").unwrap().nodeid, f);
    let g = c.lookup(ROOT_ID, b"g").unwrap().nodeid;
    c.forget(f, 2);
    assert!(c.getattr(f).is_ok(), "one lookup of f is left");
    c.batch_forget(&[(g, 1), (f, 1)]);
    assert_errno(c.getattr(f), &[libc::EBADF], "GETATTR of forgotten f");
    assert_errno(c.getattr(g), &[libc::EBADF], "GETATTR of forgotten g");
    assert!(c.getattr(ROOT_ID).is_ok());
    env.assert_outside_unchanged();
}

// ---- host-side races ----

fn directory_swapped_for_a_symlink_after_lookup_stays_contained(args: &[&str]) {
    let mut env = Env::new(args);
    let share = env.share();
    fs::create_dir(share.join("d")).unwrap();
    fs::write(share.join("d/inner"), b"inner").unwrap();
    let d = env.c.lookup(ROOT_ID, b"d").unwrap().nodeid;
    // The host swaps the directory for a symlink to the outside.
    fs::rename(share.join("d"), share.join("d.old")).unwrap();
    symlink(&env.outside, share.join("d")).unwrap();

    // The node still names the directory it was looked up as.
    let (created, o) = env.c.create(d, b"x", RDWR, 0o644).unwrap();
    env.c.write(created.nodeid, o.fh, 0, b"x").unwrap();
    env.c.release(created.nodeid, o.fh, RDWR).unwrap();
    assert!(share.join("d.old/x").exists());
    let dh = env.c.opendir(d).unwrap().fh;
    let names: Vec<Vec<u8>> = env
        .c
        .readdir_all(d, dh)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(names.contains(&b"inner".to_vec()));
    assert!(!names.contains(&b"secret".to_vec()), "listed the outside");
    assert_errno(env.c.lookup(d, b"secret"), &[libc::ENOENT], "LOOKUP");
    // Looking the name up again finds the symlink, which is not entered.
    let l = env.c.lookup(ROOT_ID, b"d").unwrap();
    assert_eq!(l.attr.mode & libc::S_IFMT, libc::S_IFLNK);
    assert_errno(
        env.c.create(l.nodeid, b"y", RDWR, 0o644),
        &[libc::ENOTDIR],
        "CREATE",
    );
    env.assert_outside_unchanged();
}

fn file_swapped_for_a_symlink_after_lookup_never_reads_the_outside(args: &[&str]) {
    let mut env = Env::new(args);
    let share = env.share();
    fs::write(share.join("f"), b"share data").unwrap();
    fs::write(share.join("g"), b"share data").unwrap();
    let f = env.c.lookup(ROOT_ID, b"f").unwrap().nodeid;
    let g = env.c.lookup(ROOT_ID, b"g").unwrap().nodeid;
    // `f` moved aside, `g` removed; both names become symlinks out.
    fs::rename(share.join("f"), share.join("f.old")).unwrap();
    fs::remove_file(share.join("g")).unwrap();
    symlink(env.outside.join("secret"), share.join("f")).unwrap();
    symlink(env.outside.join("secret"), share.join("g")).unwrap();

    let o = env.c.open(f, RDWR).unwrap();
    assert_eq!(env.c.read(f, o.fh, 0, 100).unwrap(), b"share data");
    env.c.write(f, o.fh, 0, b"SHARE").unwrap();
    env.c.release(f, o.fh, RDWR).unwrap();
    match env.c.open(g, RDWR) {
        // The removed inode is gone (file handle) ...
        Err(e) => assert_eq!(e, libc::ESTALE, "OPEN of a removed inode"),
        // ... or still held (descriptor): its own data, never the target.
        Ok(o) => {
            let data = env.c.read(g, o.fh, 0, 100).unwrap();
            assert_eq!(data, b"share data");
            env.c.release(g, o.fh, RDWR).unwrap();
        }
    }
    assert_eq!(fs::read(share.join("f.old")).unwrap(), b"SHARE data");
    env.assert_outside_unchanged();
}

/// One `#[test]` per behaviour and daemon variant.
macro_rules! variants {
    ($($name:ident),* $(,)?) => {
        mod sandbox_default {
            $( #[test] fn $name() { super::$name(&[]) } )*
        }
        mod sandbox_namespace {
            $( #[test] fn $name() { super::$name(&["--sandbox", "namespace"]) } )*
        }
        mod sandbox_chroot {
            $( #[test] fn $name() { super::$name(&["--sandbox", "chroot"]) } )*
        }
        mod sandbox_none {
            $( #[test] fn $name() { super::$name(&["--sandbox", "none"]) } )*
        }
        mod sandbox_none_without_file_handles {
            $( #[test] fn $name() {
                super::$name(&["--sandbox", "none", "--inode-file-handles", "never"])
            } )*
        }
    };
}

variants!(
    hostile_names_are_refused_by_every_request_taking_a_name,
    dotdot_of_the_root_is_the_root,
    lookups_through_symlinks_do_not_leave_the_share,
    symlinks_to_outside_files_are_never_opened,
    create_in_a_symlinked_directory_is_refused,
    symlink_targets_are_stored_verbatim_and_not_followed,
    rename_and_link_with_forged_or_escaping_parents_are_refused,
    hard_link_to_an_outside_file_changes_only_that_inode,
    fifos_sockets_and_devices_are_never_opened,
    forged_and_stale_node_ids_and_handles_are_refused,
    lookup_counts_are_honoured_by_forget_and_batch_forget,
    directory_swapped_for_a_symlink_after_lookup_stays_contained,
    file_swapped_for_a_symlink_after_lookup_never_reads_the_outside,
);
