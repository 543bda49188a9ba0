//! `--translate-uid` / `--translate-gid` through the real binary and a real
//! vhost-user connection: the guest caller's ids become host ids for what
//! it creates and for the owner it sets, host owners are shown to the guest
//! translated back, ids no rule covers pass unchanged, and a
//! `forbid-guest` id is refused with EPERM. Needs root (the daemon acts as
//! other users); as any other user each test returns at once.

mod common;

use std::fs;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};

use common::daemon::DaemonProcess;
use common::fuse_client::FuseClient;
use epochfsd::fuse::abi::{self, fattr, ROOT_ID};

/// Guest ids 1000..1010 are host ids 2000..2010 (uids and gids), guest
/// uid 1500 and gid 1600 are forbidden.
const RULES: &[&str] = &[
    "--translate-uid",
    "map:1000:2000:10",
    "--translate-uid=forbid-guest:1500:1",
    "--translate-gid",
    "map:1000:2000:10",
    "--translate-gid=forbid-guest:1600:1",
];

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// The daemon with [`RULES`] over a share everyone may write, and a client
/// that sends as guest uid 1000, gid 1001.
fn start() -> (DaemonProcess, FuseClient) {
    let (d, mut c) = common::start(1, RULES);
    fs::set_permissions(d.share(), fs::Permissions::from_mode(0o777)).unwrap();
    c.uid = 1000;
    c.gid = 1001;
    (d, c)
}

fn owner(attr: &abi::Attr) -> (u32, u32) {
    (attr.uid, attr.gid)
}

fn host_owner(path: &std::path::Path) -> (u32, u32) {
    let meta = fs::symlink_metadata(path).unwrap();
    (meta.uid(), meta.gid())
}

#[test]
fn what_a_translated_guest_user_creates_belongs_to_the_host_ids() {
    if !is_root() {
        return;
    }
    let (d, mut c) = start();

    let dir = c.mkdir(ROOT_ID, b"dir", 0o755).unwrap();
    let (file, _) = c
        .create(dir.nodeid, b"file", libc::O_RDWR as u32, 0o644)
        .unwrap();

    assert_eq!(host_owner(&d.share().join("dir")), (2000, 2001));
    assert_eq!(host_owner(&d.share().join("dir/file")), (2000, 2001));
    assert_eq!(owner(&dir.attr), (1000, 1001));
    assert_eq!(owner(&file.attr), (1000, 1001));
    assert_eq!(owner(&c.getattr(file.nodeid).unwrap().attr), (1000, 1001));
}

#[test]
fn host_owners_are_shown_translated_back_and_other_ids_unchanged() {
    if !is_root() {
        return;
    }
    let (d, mut c) = start();
    let mapped = d.share().join("mapped");
    let other = d.share().join("other");
    fs::write(&mapped, b"").unwrap();
    fs::write(&other, b"").unwrap();
    chown(&mapped, Some(2005), Some(2009)).unwrap();
    chown(&other, Some(3000), Some(1005)).unwrap();

    let m = c.lookup(ROOT_ID, b"mapped").unwrap();
    let o = c.lookup(ROOT_ID, b"other").unwrap();

    assert_eq!(owner(&m.attr), (1005, 1009));
    assert_eq!(owner(&c.getattr(m.nodeid).unwrap().attr), (1005, 1009));
    let stx = c.statx(m.nodeid, libc::STATX_BASIC_STATS, None).unwrap();
    assert_eq!((stx.stat.uid, stx.stat.gid), (1005, 1009));
    // 3000 has no rule; host gid 1005 is not in the host range 2000..2010.
    assert_eq!(owner(&o.attr), (3000, 1005));
    let dh = c.opendir(ROOT_ID).unwrap();
    let listed = c.readdirplus(ROOT_ID, dh.fh, 0, 4096).unwrap();
    let plus = |name: &[u8]| {
        let e = listed.iter().find(|e| e.dirent.name == name).unwrap();
        owner(&e.entry.attr)
    };
    assert_eq!(plus(b"mapped"), (1005, 1009));
    assert_eq!(plus(b"other"), (3000, 1005));
}

#[test]
fn a_chown_names_guest_ids_and_an_untranslated_caller_passes_unchanged() {
    if !is_root() {
        return;
    }
    let (d, mut c) = start();
    let path = d.share().join("f");
    fs::write(&path, b"").unwrap();
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    let chown_to = |uid, gid| abi::SetattrIn {
        valid: fattr::FATTR_UID | fattr::FATTR_GID,
        uid,
        gid,
        ..Default::default()
    };

    c.uid = 0;
    c.gid = 0;
    let out = c.setattr(e.nodeid, &chown_to(1003, 4000)).unwrap();

    assert_eq!(host_owner(&path), (2003, 4000));
    assert_eq!(owner(&out.attr), (1003, 4000));
    // A caller no rule covers creates with its own ids.
    c.uid = 4001;
    c.gid = 4002;
    c.mkdir(ROOT_ID, b"plain", 0o755).unwrap();
    assert_eq!(host_owner(&d.share().join("plain")), (4001, 4002));
}

#[test]
fn forbidden_guest_ids_get_eperm() {
    if !is_root() {
        return;
    }
    let (d, mut c) = start();
    fs::write(d.share().join("f"), b"").unwrap();
    let e = c.lookup(ROOT_ID, b"f").unwrap();

    c.uid = 1500;
    assert_eq!(c.mkdir(ROOT_ID, b"by-uid", 0o755).unwrap_err(), libc::EPERM);
    assert_eq!(c.lookup(ROOT_ID, b"f").unwrap_err(), libc::EPERM);
    c.uid = 1000;
    c.gid = 1600;
    assert_eq!(c.mkdir(ROOT_ID, b"by-gid", 0o755).unwrap_err(), libc::EPERM);
    c.uid = 0;
    c.gid = 0;
    let give = abi::SetattrIn {
        valid: fattr::FATTR_UID,
        uid: 1500,
        ..Default::default()
    };
    assert_eq!(c.setattr(e.nodeid, &give).unwrap_err(), libc::EPERM);

    assert!(!d.share().join("by-uid").exists());
    assert!(!d.share().join("by-gid").exists());
    assert_eq!(host_owner(&d.share().join("f")), (0, 0));
}
