//! Who requests act as (credentials, supplementary group, umask), when
//! setuid/setgid are cleared (FUSE_HANDLE_KILLPRIV_V2), what INIT offers,
//! and what each cache and mode option (--cache, --writeback, --readonly,
//! --allow-direct-io) changes in the replies and on the host.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::daemon::DaemonProcess;
use common::fuse_client::FuseClient;
use common::fuse_client_ext::supp_group_ext;
use epochfsd::fuse::abi::{self, fattr, fopen, init_flags, open_in_flags, write_flags, ROOT_ID};

const RDWR: u32 = libc::O_RDWR as u32;
const DAY: u64 = 86400;

fn start() -> (DaemonProcess, FuseClient) {
    common::start(1, &[])
}

fn mode_of(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

// ---- INIT ----

fn init_flags_with(args: &[&str]) -> u64 {
    let (_d, c) = common::start(1, args);
    let out = c.init_out.unwrap();
    u64::from(out.flags) | (u64::from(out.flags2) << 32)
}

#[test]
fn init_offers_killpriv_v2_only_with_killpriv_v2() {
    let v2 = init_flags::HANDLE_KILLPRIV_V2;
    assert_eq!(
        init_flags_with(&[]) & v2,
        0,
        "off by default, as in virtiofsd"
    );
    assert_ne!(init_flags_with(&["--killpriv-v2"]) & v2, 0);
    assert_eq!(
        init_flags_with(&["--killpriv-v2", "--no-killpriv-v2"]) & v2,
        0
    );
    assert_ne!(init_flags_with(&["-o", "killpriv_v2"]) & v2, 0);
}

#[test]
fn init_offers_readdirplus_unless_no_readdirplus() {
    let plus = init_flags::DO_READDIRPLUS | init_flags::READDIRPLUS_AUTO;
    assert_eq!(init_flags_with(&[]) & plus, plus);
    assert_eq!(init_flags_with(&["--no-readdirplus"]) & plus, 0);
    assert_eq!(init_flags_with(&["-o", "no_readdirplus"]) & plus, 0);
}

#[test]
fn init_offers_direct_io_mmap_only_with_allow_mmap() {
    let mmap = init_flags::DIRECT_IO_ALLOW_MMAP;
    assert_eq!(init_flags_with(&["--cache", "never"]) & mmap, 0);
    assert_ne!(
        init_flags_with(&["--cache", "never", "--allow-mmap"]) & mmap,
        0
    );
}

#[test]
fn init_offers_dont_mask_setxattr_ext_and_supp_group() {
    let flags = init_flags_with(&[]);

    for (flag, name) in [
        (init_flags::DONT_MASK, "DONT_MASK"),
        (init_flags::SETXATTR_EXT, "SETXATTR_EXT"),
        (init_flags::CREATE_SUPP_GROUP, "CREATE_SUPP_GROUP"),
    ] {
        assert_ne!(flags & flag, 0, "{name} not offered");
    }
}

#[test]
fn init_leaves_posix_and_flock_locks_and_acls_to_the_guest() {
    let (_d, c) = start();
    let out = c.init_out.unwrap();
    let flags = u64::from(out.flags) | (u64::from(out.flags2) << 32);

    assert_eq!(flags & init_flags::POSIX_LOCKS, 0);
    assert_eq!(flags & init_flags::FLOCK_LOCKS, 0);
    assert_eq!(flags & init_flags::POSIX_ACL, 0);
}

// ---- credentials ----

#[test]
fn files_are_created_as_the_guest_caller() {
    if !is_root() {
        return;
    }
    let (d, mut c) = start();
    set_mode(d.share(), 0o777);
    (c.uid, c.gid) = (1000, 1001);

    let (e, _) = c.create(ROOT_ID, b"f", RDWR, 0o644).unwrap();
    let dir = c.mkdir(ROOT_ID, b"d", 0o755).unwrap();
    let link = c.symlink(ROOT_ID, b"l", b"target").unwrap();

    for (name, attr) in [("f", e.attr), ("d", dir.attr), ("l", link.attr)] {
        let host = fs::symlink_metadata(d.share().join(name)).unwrap();
        assert_eq!((host.uid(), host.gid()), (1000, 1001), "{name} on the host");
        assert_eq!((attr.uid, attr.gid), (1000, 1001), "{name} in the reply");
    }
}

#[test]
fn host_checks_the_parent_directory_for_the_caller() {
    if !is_root() {
        return;
    }
    let (d, mut c) = start();
    set_mode(d.share(), 0o755);
    (c.uid, c.gid) = (1000, 1000);

    let r = c.create(ROOT_ID, b"f", RDWR, 0o644);

    assert_eq!(r.unwrap_err(), libc::EACCES);
    assert!(!d.share().join("f").exists());
    // The worker is root again afterwards.
    (c.uid, c.gid) = (0, 0);
    let (e, _) = c.create(ROOT_ID, b"g", RDWR, 0o644).unwrap();
    assert_eq!(e.attr.uid, 0);
}

#[test]
fn supplementary_group_extension_grants_group_access() {
    if !is_root() {
        return;
    }
    let (d, mut c) = start();
    let shared = d.share().join("team");
    fs::create_dir(&shared).unwrap();
    chown(&shared, 0, 2000);
    set_mode(&shared, 0o770);
    let read_only = d.share().join("ro-team");
    fs::create_dir(&read_only).unwrap();
    chown(&read_only, 0, 2000);
    set_mode(&read_only, 0o750);
    let team = c.lookup(ROOT_ID, b"team").unwrap().nodeid;
    let ro_team = c.lookup(ROOT_ID, b"ro-team").unwrap().nodeid;
    (c.uid, c.gid) = (1000, 1000);

    let with = c.mkdir_ext(team, b"b", 0o755, 0, &supp_group_ext(2000));
    // Without the extension (older guests) the guest has still checked the
    // caller's groups; the host call is retried with the parent's group.
    let without = c.mkdir_ext(team, b"a", 0o755, 0, &[]);
    // Group members may not write here: refused either way.
    let ro_with = c.mkdir_ext(ro_team, b"x", 0o755, 0, &supp_group_ext(2000));
    let ro_without = c.mkdir_ext(ro_team, b"y", 0o755, 0, &[]);

    let b = with.unwrap();
    assert_eq!((b.attr.uid, b.attr.gid), (1000, 1000));
    assert!(shared.join("b").is_dir());
    let a = without.unwrap();
    assert_eq!((a.attr.uid, a.attr.gid), (1000, 1000));
    assert_eq!(ro_with.unwrap_err(), libc::EACCES);
    assert_eq!(ro_without.unwrap_err(), libc::EACCES);
    assert_eq!(fs::read_dir(&read_only).unwrap().count(), 0);
}

#[test]
fn setgid_survives_creation_only_for_group_members() {
    if !is_root() {
        return;
    }
    let (d, mut c) = start();
    let sgid_dir = d.share().join("sgid");
    fs::create_dir(&sgid_dir).unwrap();
    chown(&sgid_dir, 0, 2000);
    set_mode(&sgid_dir, 0o2777);
    let dir = c.lookup(ROOT_ID, b"sgid").unwrap().nodeid;
    (c.uid, c.gid) = (1000, 1000);

    let (outsider, _) = c.create_ext(dir, b"x", RDWR, 0o2755, 0, &[]).unwrap();
    let (member, _) = c
        .create_ext(dir, b"y", RDWR, 0o2755, 0, &supp_group_ext(2000))
        .unwrap();

    assert_eq!(outsider.attr.gid, 2000, "inherits the directory's group");
    assert_eq!(mode_of(&sgid_dir.join("x")), 0o755, "setgid stripped");
    assert_eq!(member.attr.gid, 2000);
    assert_eq!(mode_of(&sgid_dir.join("y")), 0o2755, "setgid kept");
}

#[test]
fn malformed_extension_is_einval() {
    let (d, mut c) = start();
    let mut ext = supp_group_ext(5);
    ext[0] = 64; // longer than the block

    let r = c.mkdir_ext(ROOT_ID, b"d", 0o755, 0, &ext);

    assert_eq!(r.unwrap_err(), libc::EINVAL);
    assert!(!d.share().join("d").exists());
}

#[test]
fn umask_from_the_request_is_applied() {
    let (d, mut c) = start();

    c.create_ext(ROOT_ID, b"f", RDWR, 0o666, 0o027, &[])
        .unwrap();
    c.mkdir_ext(ROOT_ID, b"d", 0o777, 0o077, &[]).unwrap();

    assert_eq!(mode_of(&d.share().join("f")), 0o640);
    assert_eq!(mode_of(&d.share().join("d")), 0o700);
}

// ---- killpriv ----

/// A daemon that handles FUSE_HANDLE_KILLPRIV_V2 (`--killpriv-v2`).
fn start_killpriv() -> (DaemonProcess, FuseClient) {
    common::start(1, &["--killpriv-v2"])
}

#[test]
fn kill_suidgid_flags_are_ignored_without_killpriv_v2() {
    let (d, mut c) = start();
    let (n, p) = suid_file(&d, &mut c, 0o6755);
    let fh = c.open(n, RDWR).unwrap().fh;

    c.write_flags(n, fh, 0, b"x", write_flags::WRITE_KILL_SUIDGID)
        .unwrap();

    assert_eq!(
        mode_of(&p),
        0o6755,
        "not negotiated: the guest clears them itself"
    );
}

fn suid_file(d: &DaemonProcess, c: &mut FuseClient, mode: u32) -> (u64, std::path::PathBuf) {
    let p = d.share().join("suid");
    fs::write(&p, b"0123456789").unwrap();
    set_mode(&p, mode);
    (c.lookup(ROOT_ID, b"suid").unwrap().nodeid, p)
}

#[test]
fn write_with_kill_suidgid_clears_setuid_and_setgid() {
    let (d, mut c) = start_killpriv();
    let (n, p) = suid_file(&d, &mut c, 0o6755);
    let fh = c.open(n, RDWR).unwrap().fh;

    c.write_flags(n, fh, 0, b"x", 0).unwrap();
    let kept = mode_of(&p);
    c.write_flags(n, fh, 0, b"x", write_flags::WRITE_KILL_SUIDGID)
        .unwrap();

    assert_eq!(kept, 0o6755, "a privileged writer keeps the bits");
    assert_eq!(mode_of(&p), 0o755);
}

#[test]
fn truncate_with_kill_suidgid_clears_setuid() {
    let (d, mut c) = start_killpriv();
    let (n, p) = suid_file(&d, &mut c, 0o4755);
    let arg = abi::SetattrIn {
        valid: fattr::FATTR_SIZE | fattr::FATTR_KILL_SUIDGID,
        size: 2,
        ..Default::default()
    };

    c.setattr(n, &arg).unwrap();

    assert_eq!(mode_of(&p), 0o755);
    assert_eq!(fs::metadata(&p).unwrap().len(), 2);
}

#[test]
fn setgid_without_group_exec_is_not_killed() {
    let (d, mut c) = start_killpriv();
    let (n, p) = suid_file(&d, &mut c, 0o2745);
    let fh = c.open(n, RDWR).unwrap().fh;

    c.write_flags(n, fh, 0, b"x", write_flags::WRITE_KILL_SUIDGID)
        .unwrap();

    assert_eq!(mode_of(&p), 0o2745);
}

#[test]
fn chown_clears_setuid() {
    if !is_root() {
        return;
    }
    let (d, mut c) = start_killpriv();
    let (n, p) = suid_file(&d, &mut c, 0o4755);
    let arg = abi::SetattrIn {
        valid: fattr::FATTR_UID | fattr::FATTR_KILL_SUIDGID,
        uid: 1234,
        ..Default::default()
    };

    c.setattr(n, &arg).unwrap();

    assert_eq!(mode_of(&p), 0o755);
    assert_eq!(fs::metadata(&p).unwrap().uid(), 1234);
}

#[test]
fn truncating_open_with_kill_flag_clears_setuid() {
    let (d, mut c) = start_killpriv();
    let (n, p) = suid_file(&d, &mut c, 0o4755);
    let trunc = RDWR | libc::O_TRUNC as u32;

    let o = c
        .open_with(n, trunc, open_in_flags::OPEN_KILL_SUIDGID)
        .unwrap();

    assert_ne!(o.fh, 0);
    assert_eq!(mode_of(&p), 0o755);
    assert_eq!(fs::metadata(&p).unwrap().len(), 0);
}

// ---- open flags ----

#[test]
fn append_handle_writes_at_the_end() {
    let (d, mut c) = start();
    fs::write(d.share().join("f"), b"abc").unwrap();
    let n = c.lookup(ROOT_ID, b"f").unwrap().nodeid;
    let fh = c
        .open(n, (libc::O_WRONLY | libc::O_APPEND) as u32)
        .unwrap()
        .fh;

    c.write(n, fh, 0, b"def").unwrap();

    assert_eq!(fs::read(d.share().join("f")).unwrap(), b"abcdef");
}

/// The `flags:` line of the daemon's fdinfo for its descriptor of `file`.
fn host_open_flags(d: &DaemonProcess, file: &Path) -> Vec<i32> {
    let fds = Path::new("/proc")
        .join(d.server_pid().to_string())
        .join("fd");
    let want = fs::metadata(file).unwrap();
    let mut found = Vec::new();
    for fd in fs::read_dir(&fds).unwrap().flatten() {
        // Compared by inode: inside the sandbox the link text is the path
        // from the daemon's root, not the host path.
        let same =
            fs::metadata(fd.path()).is_ok_and(|m| (m.dev(), m.ino()) == (want.dev(), want.ino()));
        if !same {
            continue;
        }
        let info = fds.with_file_name("fdinfo").join(fd.file_name());
        let text = fs::read_to_string(info).unwrap_or_default();
        let flags = text
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|v| i32::from_str_radix(v.trim(), 8).unwrap());
        found.extend(flags);
    }
    found
}

#[test]
fn o_direct_is_dropped_unless_allowed() {
    for (args, honoured) in [(&[][..], false), (&["--allow-direct-io"][..], true)] {
        let (d, mut c) = common::start(1, args);
        let p = d.share().join("f");
        fs::write(&p, vec![0u8; 4096]).unwrap();
        let n = c.lookup(ROOT_ID, b"f").unwrap().nodeid;

        let o = c.open(n, (libc::O_RDONLY | libc::O_DIRECT) as u32).unwrap();

        let flags = host_open_flags(&d, &p.canonicalize().unwrap());
        let io_fds: Vec<_> = flags.iter().filter(|f| *f & libc::O_PATH == 0).collect();
        assert_eq!(io_fds.len(), 1, "one descriptor opened for I/O: {flags:?}");
        assert_eq!(*io_fds[0] & libc::O_DIRECT != 0, honoured, "{args:?}");
        assert_eq!(o.open_flags & fopen::DIRECT_IO != 0, honoured, "{args:?}");
    }
}

// ---- cache and mode options ----

#[test]
fn cache_options_set_timeouts_and_open_flags() {
    // (option, entry/attr timeout, DIRECT_IO, KEEP_CACHE, CACHE_DIR)
    for (mode, timeout, direct, keep, cache_dir) in [
        ("never", 0, true, false, false),
        ("metadata", DAY, true, false, false),
        ("auto", 1, false, false, false),
        ("always", DAY, false, true, true),
    ] {
        let (d, mut c) = common::start(1, &["--cache", mode]);
        fs::write(d.share().join("f"), b"x").unwrap();

        let e = c.lookup(ROOT_ID, b"f").unwrap();
        let attr = c.getattr(e.nodeid).unwrap();
        let o = c.open(e.nodeid, RDWR).unwrap();
        let dir = c.opendir(ROOT_ID).unwrap();

        assert_eq!(
            (e.entry_valid, e.attr_valid, attr.attr_valid),
            (timeout, timeout, timeout),
            "{mode}"
        );
        assert_eq!(
            o.open_flags & fopen::DIRECT_IO != 0,
            direct,
            "{mode} DIRECT_IO"
        );
        assert_eq!(
            o.open_flags & fopen::KEEP_CACHE != 0,
            keep,
            "{mode} KEEP_CACHE"
        );
        assert_eq!(
            dir.open_flags & fopen::CACHE_DIR != 0,
            cache_dir,
            "{mode} CACHE_DIR"
        );
    }
}

#[test]
fn writeback_is_offered_only_with_the_option() {
    let (_d, plain) = start();
    let (_w, wb) = common::start(1, &["--writeback"]);

    let offered =
        |c: &FuseClient| u64::from(c.init_out.unwrap().flags) & init_flags::WRITEBACK_CACHE;

    assert_eq!(offered(&plain), 0);
    assert_ne!(offered(&wb), 0);
}

#[test]
fn readonly_refuses_every_change_and_allows_reading() {
    let (d, mut c) = common::start(1, &["--readonly"]);
    fs::write(d.share().join("f"), b"data").unwrap();
    let n = c.lookup(ROOT_ID, b"f").unwrap().nodeid;

    let create = c.create(ROOT_ID, b"g", RDWR, 0o644).map(drop);
    let mkdir = c.mkdir(ROOT_ID, b"d", 0o755).map(drop);
    let open_rw = c.open(n, RDWR).map(drop);
    let chmod = c.chmod(n, 0o600).map(drop);
    let unlink = c.unlink(ROOT_ID, b"f");
    let ro = c.open(n, libc::O_RDONLY as u32).unwrap();
    let data = c.read(n, ro.fh, 0, 10).unwrap();

    for (what, r) in [
        ("create", create),
        ("mkdir", mkdir),
        ("open", open_rw),
        ("chmod", chmod),
        ("unlink", unlink),
    ] {
        assert_eq!(r, Err(libc::EROFS), "{what}");
    }
    assert_eq!(data, b"data");
    assert_eq!(fs::read(d.share().join("f")).unwrap(), b"data");
}

// ---- POSIX ACLs ----

/// A POSIX ACL in the kernel's xattr encoding: version 2, then
/// (tag, perm, id) entries sorted by tag.
fn acl_xattr(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

#[test]
fn posix_acl_is_offered_only_with_the_option() {
    let (_d, c) = common::start(1, &["--posix-acl"]);

    let flags = u64::from(c.init_out.unwrap().flags);

    assert_ne!(flags & init_flags::POSIX_ACL, 0);
}

#[test]
fn default_acl_replaces_the_umask_for_new_files() {
    let (d, mut c) = common::start(1, &["--posix-acl"]);
    fs::create_dir(d.share().join("acl")).unwrap();
    fs::create_dir(d.share().join("plain")).unwrap();
    let acl_dir = c.lookup(ROOT_ID, b"acl").unwrap().nodeid;
    let plain_dir = c.lookup(ROOT_ID, b"plain").unwrap().nodeid;
    let undefined = u32::MAX;
    let default_acl = acl_xattr(&[
        (0x01, 7, undefined), // user::rwx
        (0x02, 6, 1234),      // user:1234:rw-
        (0x04, 5, undefined), // group::r-x
        (0x10, 7, undefined), // mask::rwx
        (0x20, 5, undefined), // other::r-x
    ]);

    c.setxattr(acl_dir, b"system.posix_acl_default", &default_acl, 0, 0)
        .unwrap();
    c.create_ext(acl_dir, b"f", RDWR, 0o666, 0o077, &[])
        .unwrap();
    c.create_ext(plain_dir, b"f", RDWR, 0o666, 0o077, &[])
        .unwrap();

    // Under the default ACL the umask is ignored: user rw, mask rw, other r.
    assert_eq!(mode_of(&d.share().join("acl/f")), 0o664);
    assert_eq!(mode_of(&d.share().join("plain/f")), 0o600);
    let inherited = c.lookup(acl_dir, b"f").unwrap().nodeid;
    let access = c
        .getxattr(inherited, b"system.posix_acl_access", 256)
        .unwrap();
    assert!(access.len() > 4, "the new file inherited an access ACL");
}
