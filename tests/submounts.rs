//! Host mounts inside the share: `--announce-submounts` (the default) flags their roots
//! with FUSE_ATTR_SUBMOUNT, and inode identity includes the mount id, so
//! the same host inode seen through two mounts is two guest inodes.
//!
//! The tests mount a tmpfs and a bind mount beneath a temporary share
//! (the suite runs as root) and unmount them when done.

mod common;

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};

use common::daemon::{DaemonProcess, TestDirs};
use common::fuse_client::FuseClient;
use common::vmm::VmmOptions;
use epochfsd::fuse::abi::{attr_flags::ATTR_SUBMOUNT, init_flags, ROOT_ID};

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

/// A mount that is detached on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path) -> Mount {
        let target = cpath(at);
        // SAFETY: NUL-terminated strings; a null data pointer is allowed.
        let rc = unsafe {
            libc::mount(
                c"none".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "mount tmpfs: {}", std::io::Error::last_os_error());
        Mount(at.to_path_buf())
    }

    fn bind(from: &Path, at: &Path) -> Mount {
        let (source, target) = (cpath(from), cpath(at));
        // SAFETY: NUL-terminated strings; no data for a bind mount.
        let rc = unsafe {
            libc::mount(
                source.as_ptr(),
                target.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "bind mount: {}", std::io::Error::last_os_error());
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let target = cpath(&self.0);
        // SAFETY: NUL-terminated path.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

/// A share with `plain/`, a tmpfs on `sub/` (holding `inner/` and `f`),
/// and `orig/` bind-mounted on `bound/`.
/// Bind the result as `let (_d, c, _m)`: locals drop in reverse, so the
/// mounts go before the daemon removes the temporary directory.
fn setup(args: &[&str]) -> (DaemonProcess, FuseClient, Vec<Mount>) {
    let dirs = TestDirs::new();
    let share = dirs.share.clone();
    for d in ["plain", "sub", "orig", "bound"] {
        fs::create_dir(share.join(d)).unwrap();
    }
    fs::write(share.join("orig/f"), b"x").unwrap();
    let mut mounts = vec![Mount::tmpfs(&share.join("sub"))];
    fs::create_dir(share.join("sub/inner")).unwrap();
    fs::write(share.join("sub/f"), b"on tmpfs").unwrap();
    mounts.push(Mount::bind(&share.join("orig"), &share.join("bound")));
    let d = DaemonProcess::spawn(dirs, 1, args);
    let c = common::connect(d.socket(), 1, VmmOptions::default());
    (d, c, mounts)
}

#[test]
fn submount_roots_are_flagged_by_default() {
    submount_roots_are_flagged(&[]);
}

#[test]
fn submount_roots_are_flagged_with_announce_submounts() {
    submount_roots_are_flagged(&["--announce-submounts"]);
}

#[test]
fn submount_roots_are_flagged_with_compat_announce_submounts() {
    submount_roots_are_flagged(&["--no-announce-submounts", "-o", "announce_submounts"]);
}

fn submount_roots_are_flagged(args: &[&str]) {
    let (_d, mut c, _m) = setup(args);
    let init = c.init_out.unwrap();
    assert_ne!(init.flags & init_flags::SUBMOUNTS as u32, 0);

    let sub = c.lookup(ROOT_ID, b"sub").unwrap();
    let bound = c.lookup(ROOT_ID, b"bound").unwrap();
    let plain = c.lookup(ROOT_ID, b"plain").unwrap();
    let inner = c.lookup(sub.nodeid, b"inner").unwrap();
    let f = c.lookup(sub.nodeid, b"f").unwrap();

    assert_ne!(sub.attr.flags & ATTR_SUBMOUNT, 0, "tmpfs root");
    assert_ne!(bound.attr.flags & ATTR_SUBMOUNT, 0, "bind mount root");
    assert_eq!(plain.attr.flags & ATTR_SUBMOUNT, 0);
    assert_eq!(inner.attr.flags & ATTR_SUBMOUNT, 0, "same mount as parent");
    assert_eq!(f.attr.flags & ATTR_SUBMOUNT, 0, "not a directory");
    let o = c.open(f.nodeid, libc::O_RDONLY as u32).unwrap();
    assert_eq!(c.read(f.nodeid, o.fh, 0, 100).unwrap(), b"on tmpfs");
}

#[test]
fn submounts_are_not_flagged_with_no_announce_submounts() {
    let (_d, mut c, _m) = setup(&["--no-announce-submounts"]);
    let init = c.init_out.unwrap();
    assert_eq!(init.flags & init_flags::SUBMOUNTS as u32, 0);

    let sub = c.lookup(ROOT_ID, b"sub").unwrap();

    assert_eq!(sub.attr.flags & ATTR_SUBMOUNT, 0);
}

fn same_inode_through_two_mounts_is_two_nodes(args: &[&str]) {
    let (_d, mut c, _m) = setup(args);
    let orig = c.lookup(ROOT_ID, b"orig").unwrap().nodeid;
    let bound = c.lookup(ROOT_ID, b"bound").unwrap().nodeid;

    let a = c.lookup(orig, b"f").unwrap();
    let b = c.lookup(bound, b"f").unwrap();

    assert_eq!(a.attr.ino, b.attr.ino, "one host inode");
    assert_ne!(a.nodeid, b.nodeid, "two mounts, two guest inodes");
    // Each is usable on its own mount.
    for e in [a, b] {
        let o = c.open(e.nodeid, libc::O_RDONLY as u32).unwrap();
        assert_eq!(c.read(e.nodeid, o.fh, 0, 10).unwrap(), b"x");
    }
}

#[test]
fn same_inode_through_two_mounts_is_two_nodes_with_file_handles() {
    same_inode_through_two_mounts_is_two_nodes(&["--inode-file-handles", "prefer"]);
}

#[test]
fn same_inode_through_two_mounts_is_two_nodes_without_file_handles() {
    same_inode_through_two_mounts_is_two_nodes(&["--inode-file-handles", "never"]);
}
