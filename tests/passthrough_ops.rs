//! The less common operations a Linux 6.12 guest sends (STATX, TMPFILE,
//! MKNOD kinds, RENAME2 flags, extended attributes, FALLOCATE modes,
//! SEEK_DATA/SEEK_HOLE, COPY_FILE_RANGE, FSYNCDIR, ACCESS, IOCTL, POLL,
//! locks, SETATTR variants), through a real vhost-user connection, with
//! the effect checked on the host.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use common::daemon::DaemonProcess;
use common::fuse_client::FuseClient;
use epochfsd::fuse::abi::{self, fattr, lk_flags, setxattr_flags, Opcode, ROOT_ID};

const RDWR: u32 = libc::O_RDWR as u32;

fn start() -> (DaemonProcess, FuseClient) {
    common::start(1, &[])
}

fn mode_of(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode()
}

/// A file `name` in the share with `data`, looked up and opened O_RDWR.
fn open_file(d: &DaemonProcess, c: &mut FuseClient, name: &str, data: &[u8]) -> (u64, u64) {
    fs::write(d.share().join(name), data).unwrap();
    let e = c.lookup(ROOT_ID, name.as_bytes()).unwrap();
    let o = c.open(e.nodeid, RDWR).unwrap();
    (e.nodeid, o.fh)
}

// ---- names ----

#[test]
fn mknod_creates_socket_and_regular_file() {
    let (d, mut c) = start();

    let s = c
        .mknod(ROOT_ID, b"sock", libc::S_IFSOCK | 0o644, 0)
        .unwrap();
    let r = c.mknod(ROOT_ID, b"reg", libc::S_IFREG | 0o644, 0).unwrap();

    assert_eq!(s.attr.mode & libc::S_IFMT, libc::S_IFSOCK);
    assert!(fs::symlink_metadata(d.share().join("sock"))
        .unwrap()
        .file_type()
        .is_socket());
    assert_eq!(r.attr.mode, libc::S_IFREG | 0o644);
    assert!(fs::metadata(d.share().join("reg")).unwrap().is_file());
}

#[test]
fn mknod_device_node_is_created_but_never_opened() {
    let (d, mut c) = start();
    // MKDEV(1, 3) (/dev/null) in the kernel's 32-bit encoding.
    let rdev = (1 << 8) | 3;

    let e = match c.mknod(ROOT_ID, b"null", libc::S_IFCHR | 0o666, rdev) {
        Err(libc::EPERM) => return, // the host forbids device nodes here
        other => other.unwrap(),
    };

    let host = fs::symlink_metadata(d.share().join("null")).unwrap();
    assert!(host.file_type().is_char_device());
    assert_eq!(host.rdev(), libc::makedev(1, 3));
    assert_eq!(c.open(e.nodeid, RDWR).unwrap_err(), libc::ENXIO);
}

#[test]
fn rename2_with_whiteout_is_einval() {
    let (d, mut c) = start();
    fs::write(d.share().join("a"), b"").unwrap();

    let r = c.rename2(ROOT_ID, b"a", ROOT_ID, b"b", libc::RENAME_WHITEOUT);

    assert_eq!(r, Err(libc::EINVAL));
    assert!(d.share().join("a").exists());
}

#[test]
fn rename2_exchange_swaps_a_file_and_a_directory() {
    let (d, mut c) = start();
    fs::write(d.share().join("f"), b"file").unwrap();
    fs::create_dir(d.share().join("dir")).unwrap();

    c.rename2(ROOT_ID, b"f", ROOT_ID, b"dir", libc::RENAME_EXCHANGE)
        .unwrap();

    assert!(d.share().join("f").is_dir());
    assert_eq!(fs::read(d.share().join("dir")).unwrap(), b"file");
}

#[test]
fn tmpfile_is_unnamed_until_linked() {
    let (d, mut c) = start();

    let (e, o) = c.tmpfile(ROOT_ID, RDWR, 0o600).unwrap();
    c.write(e.nodeid, o.fh, 0, b"anonymous").unwrap();
    let listed = fs::read_dir(d.share()).unwrap().count();
    let linked = c.link(e.nodeid, ROOT_ID, b"named").unwrap();

    assert_eq!(listed, 0, "an O_TMPFILE file has no name");
    assert_eq!(e.attr.nlink, 0);
    assert_eq!(linked.nodeid, e.nodeid);
    assert_eq!(fs::read(d.share().join("named")).unwrap(), b"anonymous");
    assert_eq!(mode_of(&d.share().join("named")) & 0o777, 0o600);
}

// ---- attributes ----

#[test]
fn statx_reports_host_attributes_and_birth_time() {
    let (d, mut c) = start();
    fs::write(d.share().join("f"), [1u8; 1234]).unwrap();
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    let mask = libc::STATX_BASIC_STATS | libc::STATX_BTIME;

    let out = c.statx(e.nodeid, mask, None).unwrap();

    let host = fs::metadata(d.share().join("f")).unwrap();
    assert_eq!(out.stat.size, 1234);
    assert_eq!(out.stat.ino, host.ino());
    assert_eq!(u32::from(out.stat.mode), host.mode());
    assert_eq!(
        out.stat.mask & libc::STATX_BASIC_STATS,
        libc::STATX_BASIC_STATS
    );
    if let Ok(created) = host.created() {
        let secs = created
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_ne!(out.stat.mask & libc::STATX_BTIME, 0);
        assert_eq!(out.stat.btime.tv_sec as u64, secs);
    }
}

#[test]
fn statx_through_a_handle_and_on_a_bad_node() {
    let (d, mut c) = start();
    let (node, fh) = open_file(&d, &mut c, "f", b"abc");

    let by_fh = c.statx(node, libc::STATX_SIZE, Some(fh)).unwrap();
    let bad = c.statx(987_654, libc::STATX_SIZE, None);

    assert_eq!(by_fh.stat.size, 3);
    assert_eq!(bad.unwrap_err(), libc::EBADF);
}

#[test]
fn setattr_chown_changes_host_owner() {
    let (d, mut c) = start();
    fs::write(d.share().join("f"), b"").unwrap();
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    let arg = abi::SetattrIn {
        valid: fattr::FATTR_UID | fattr::FATTR_GID,
        uid: 4321,
        gid: 8765,
        ..Default::default()
    };

    let out = c.setattr(e.nodeid, &arg).unwrap();

    let host = fs::metadata(d.share().join("f")).unwrap();
    assert_eq!((host.uid(), host.gid()), (4321, 8765));
    assert_eq!((out.attr.uid, out.attr.gid), (4321, 8765));
}

#[test]
fn setattr_size_through_handle_is_ftruncate() {
    let (d, mut c) = start();
    let (node, fh) = open_file(&d, &mut c, "f", b"0123456789");
    let arg = abi::SetattrIn {
        valid: fattr::FATTR_SIZE | fattr::FATTR_FH,
        fh,
        size: 3,
        ..Default::default()
    };

    c.setattr(node, &arg).unwrap();
    let bad_fh = c.setattr(node, &abi::SetattrIn { fh: fh + 99, ..arg });

    assert_eq!(fs::read(d.share().join("f")).unwrap(), b"012");
    assert_eq!(bad_fh.unwrap_err(), libc::EBADF);
}

#[test]
fn setattr_mtime_now_keeps_atime_omitted() {
    let (d, mut c) = start();
    fs::write(d.share().join("f"), b"").unwrap();
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    c.utimes(e.nodeid, (1_000, 5), (2_000, 6)).unwrap();
    let arg = abi::SetattrIn {
        valid: fattr::FATTR_MTIME | fattr::FATTR_MTIME_NOW,
        ..Default::default()
    };

    c.setattr(e.nodeid, &arg).unwrap();

    let host = fs::metadata(d.share().join("f")).unwrap();
    assert_eq!(
        (host.atime(), host.atime_nsec()),
        (1_000, 5),
        "atime omitted"
    );
    assert!(host.mtime() > 1_600_000_000, "mtime set to now");
}

#[test]
fn setattr_atime_only_leaves_mtime() {
    let (d, mut c) = start();
    fs::write(d.share().join("f"), b"").unwrap();
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    c.utimes(e.nodeid, (1_000, 0), (2_000, 0)).unwrap();
    let arg = abi::SetattrIn {
        valid: fattr::FATTR_ATIME,
        atime: 3_000,
        atimensec: 7,
        ..Default::default()
    };

    c.setattr(e.nodeid, &arg).unwrap();

    let host = fs::metadata(d.share().join("f")).unwrap();
    assert_eq!((host.atime(), host.atime_nsec()), (3_000, 7));
    assert_eq!(host.mtime(), 2_000);
}

// ---- extended attributes ----

#[test]
fn xattrs_are_enosys_without_the_option() {
    let (_d, mut c) = start();

    let get = c.getxattr(ROOT_ID, b"user.x", 0);
    let set = c.setxattr(ROOT_ID, b"user.x", b"v", 0, 0);

    assert_eq!(
        (get.unwrap_err(), set.unwrap_err()),
        (libc::ENOSYS, libc::ENOSYS)
    );
}

#[test]
fn xattrs_round_trip_with_the_option() {
    let (d, mut c) = common::start(1, &["--xattr"]);
    fs::write(d.share().join("f"), b"").unwrap();
    let n = c.lookup(ROOT_ID, b"f").unwrap().nodeid;

    c.setxattr(n, b"user.k", b"value", 0, 0).unwrap();
    let size = c.getxattr(n, b"user.k", 0).unwrap();
    let value = c.getxattr(n, b"user.k", 64).unwrap();
    let small = c.getxattr(n, b"user.k", 2);
    let create_again = c.setxattr(n, b"user.k", b"x", libc::XATTR_CREATE as u32, 0);
    let replace_missing = c.setxattr(n, b"user.none", b"x", libc::XATTR_REPLACE as u32, 0);
    let list = c.listxattr(n, 256).unwrap();
    c.removexattr(n, b"user.k").unwrap();
    let gone = c.getxattr(n, b"user.k", 64);

    assert_eq!(u32::from_le_bytes(size[..4].try_into().unwrap()), 5);
    assert_eq!(value, b"value");
    assert_eq!(small.unwrap_err(), libc::ERANGE);
    assert_eq!(create_again.unwrap_err(), libc::EEXIST);
    assert_eq!(replace_missing.unwrap_err(), libc::ENODATA);
    assert!(list.split(|&b| b == 0).any(|name| name == b"user.k"));
    assert_eq!(gone.unwrap_err(), libc::ENODATA);
    assert!(xattr_absent(&d.share().join("f"), "user.k"));
}

#[test]
fn xattrmap_stores_guest_trusted_attributes_under_a_user_prefix() {
    // What an unprivileged or container deployment uses: guest root's
    // trusted.* attributes (overlayfs in the guest) kept as user.* ones.
    let (d, mut c) = common::start(1, &["--xattrmap", ":map:trusted.:user.virtiofs.:"]);
    let path = d.share().join("f");
    fs::write(&path, b"").unwrap();
    let n = c.lookup(ROOT_ID, b"f").unwrap().nodeid;

    c.setxattr(n, b"trusted.overlay.opaque", b"y", 0, 0)
        .unwrap();
    let value = c.getxattr(n, b"trusted.overlay.opaque", 64).unwrap();
    let list = c.listxattr(n, 256).unwrap();
    let direct = c.setxattr(n, b"user.virtiofs.forged", b"x", 0, 0);

    assert_eq!(value, b"y");
    assert!(!xattr_absent(&path, "user.virtiofs.trusted.overlay.opaque"));
    assert!(xattr_absent(&path, "trusted.overlay.opaque"));
    let names: Vec<&[u8]> = list.split(|&b| b == 0).filter(|b| !b.is_empty()).collect();
    assert_eq!(names, [&b"trusted.overlay.opaque"[..]]);
    assert_eq!(direct.unwrap_err(), libc::EPERM);
}

fn xattr_absent(p: &Path, name: &str) -> bool {
    let path = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    // SAFETY: both strings are NUL-terminated; a null buffer of size 0
    // asks for the length only.
    let r = unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
    r < 0
}

#[test]
fn setxattr_acl_kill_sgid_clears_setgid() {
    let (d, mut c) = common::start(1, &["--xattr"]);
    let p = d.share().join("f");
    fs::write(&p, b"").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o2775)).unwrap();
    let n = c.lookup(ROOT_ID, b"f").unwrap().nodeid;

    c.setxattr(
        n,
        b"user.acl",
        b"x",
        0,
        setxattr_flags::SETXATTR_ACL_KILL_SGID,
    )
    .unwrap();

    assert_eq!(mode_of(&p) & 0o7777, 0o775);
}

// ---- ranges ----

#[test]
fn fallocate_modes_act_on_the_host_file() {
    let (d, mut c) = start();
    let (node, fh) = open_file(&d, &mut c, "f", &[0xaa; 16384]);
    let p = d.share().join("f");

    c.fallocate(node, fh, 0, 16384, 4096).unwrap();
    let extended = fs::metadata(&p).unwrap().len();
    c.fallocate(node, fh, libc::FALLOC_FL_KEEP_SIZE as u32, 20480, 65536)
        .unwrap();
    let kept = fs::metadata(&p).unwrap().len();
    let punch = (libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE) as u32;
    c.fallocate(node, fh, punch, 4096, 4096).unwrap();
    let bogus = c.fallocate(node, fh, 0x8000_0000, 0, 4096);

    let data = fs::read(&p).unwrap();
    assert_eq!(extended, 20480);
    assert_eq!(kept, 20480, "KEEP_SIZE leaves the size");
    assert!(data[4096..8192].iter().all(|&b| b == 0), "hole punched");
    assert!(data[..4096].iter().all(|&b| b == 0xaa));
    assert!(bogus.is_err());
}

#[test]
fn lseek_finds_data_and_holes() {
    let (d, mut c) = start();
    let (node, fh) = open_file(&d, &mut c, "f", b"");
    c.write(node, fh, 0, &[1u8; 4096]).unwrap();
    c.write(node, fh, 1 << 20, &[2u8; 4096]).unwrap();

    let hole = c.lseek(node, fh, 0, libc::SEEK_HOLE).unwrap();
    let data = c.lseek(node, fh, 8192, libc::SEEK_DATA).unwrap();
    let end = c.lseek(node, fh, 0, libc::SEEK_END).unwrap();
    let past = c.lseek(node, fh, 2 << 20, libc::SEEK_DATA);
    let bad = c.lseek(node, fh, 0, 42);

    assert!((4096..1 << 20).contains(&hole), "hole at {hole}");
    assert_eq!(data, 1 << 20);
    assert_eq!(end, (1 << 20) + 4096);
    assert_eq!(past.unwrap_err(), libc::ENXIO);
    assert_eq!(bad.unwrap_err(), libc::EINVAL);
}

#[test]
fn copy_file_range_copies_on_the_host() {
    let (d, mut c) = start();
    let (a, fa) = open_file(&d, &mut c, "a", b"0123456789");
    let (b, fb) = open_file(&d, &mut c, "b", b"");

    let n = c.copy_file_range((a, fa, 3), (b, fb, 2), 4).unwrap();

    assert_eq!(n, 4);
    assert_eq!(fs::read(d.share().join("b")).unwrap(), b"\0\x003456");
}

// ---- misc ----

#[test]
fn fsyncdir_on_directory_handle_succeeds() {
    let (_d, mut c) = start();
    let o = c.opendir(ROOT_ID).unwrap();
    let arg = abi::FsyncIn {
        fh: o.fh,
        ..Default::default()
    };

    let r = c.call(
        Opcode::Fsyncdir,
        ROOT_ID,
        &[zerocopy::IntoBytes::as_bytes(&arg)],
        0,
    );

    assert_eq!(r, Ok(vec![]));
}

#[test]
fn access_checks_the_callers_permissions() {
    let (d, mut c) = start();
    let p = d.share().join("f");
    fs::write(&p, b"").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    let n = c.lookup(ROOT_ID, b"f").unwrap().nodeid;
    (c.uid, c.gid) = (1000, 1000);

    let read = c.access(n, libc::R_OK as u32);
    let write = c.access(n, libc::W_OK as u32);
    let exec = c.access(n, libc::X_OK as u32);

    assert_eq!(
        (read, write, exec),
        (Ok(()), Err(libc::EACCES), Err(libc::EACCES))
    );
}

#[test]
fn ioctl_is_enotty_and_poll_enosys_like_a_plain_file() {
    let (d, mut c) = start();
    let (node, fh) = open_file(&d, &mut c, "f", b"x");

    // FS_IOC_GETFLAGS
    let ioctl = c.ioctl(node, fh, 0x8008_6601, 8);
    let poll = c.poll(node, fh, libc::POLLIN as u32);

    assert_eq!(ioctl.unwrap_err(), libc::ENOTTY);
    assert_eq!(
        poll.unwrap_err(),
        libc::ENOSYS,
        "ENOSYS: the guest treats the file as always ready"
    );
}

#[test]
fn lock_requests_are_left_to_the_guest() {
    let (d, mut c) = start();
    let (node, fh) = open_file(&d, &mut c, "f", b"x");
    let lk = abi::FileLock {
        start: 0,
        end: u64::MAX,
        type_: libc::F_WRLCK as u32,
        pid: 1,
    };

    let getlk = c.lock_op(Opcode::Getlk, node, fh, lk, 0);
    let setlk = c.lock_op(Opcode::Setlk, node, fh, lk, 0);
    let flock = c.lock_op(Opcode::Setlkw, node, fh, lk, lk_flags::LK_FLOCK);

    // INIT does not offer POSIX_LOCKS/FLOCK_LOCKS, so a guest keeps locks
    // itself and never sends these; if one does, it learns they are not
    // served rather than getting a lock that does not exist.
    assert_eq!(getlk.unwrap_err(), libc::ENOSYS);
    assert_eq!(setlk.unwrap_err(), libc::ENOSYS);
    assert_eq!(flock.unwrap_err(), libc::ENOSYS);
}
