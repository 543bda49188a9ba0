//! Live migration of the back-end state: one daemon saves it the way QEMU
//! asks a migration source to (queues stopped, SET_DEVICE_STATE_FD, read
//! to the end, CHECK_DEVICE_STATE), a second daemon on the same shared
//! directory loads it, and the guest's node ids and open handles go on
//! working there. Also: what each `--migration-*` option does to a file
//! that moved on the host meanwhile, and states a destination must refuse.

mod common;

use std::fs;
use std::time::Duration;

use common::daemon::{DaemonProcess, TestDirs};
use common::fuse_client::FuseClient;
use common::migration::{load_state, save_state};
use common::vmm::{TestVmm, VmmOptions};
use epochfsd::fuse::abi::ROOT_ID;

const RDWR: u32 = libc::O_RDWR as u32;

/// A source daemon with a client that did INIT.
fn source(queues: usize, extra: &[&str]) -> (DaemonProcess, FuseClient) {
    common::start(queues, extra)
}

/// A destination daemon on `share`, connected but not initialised (the
/// guest does not INIT again after a migration).
fn destination(
    share: &std::path::Path,
    queues: usize,
    extra: &[&str],
) -> (DaemonProcess, FuseClient) {
    let mut dirs = TestDirs::new();
    dirs.share = share.to_path_buf();
    let daemon = DaemonProcess::spawn(dirs, queues, extra);
    let vmm = TestVmm::connect(daemon.socket(), queues + 1, VmmOptions::default());
    (daemon, FuseClient::new(vmm))
}

/// What the guest holds on the source before the move.
struct Held {
    dir: u64,
    file: u64,
    fh: u64,
    dir_fh: u64,
}

/// Looks up `dir/sub/file` (twice for the file), opens it read-write,
/// writes through it and opens `dir` as a directory.
fn hold_files(d: &DaemonProcess, c: &mut FuseClient) -> Held {
    fs::create_dir_all(d.share().join("dir/sub")).unwrap();
    fs::write(d.share().join("dir/sub/file"), b"before the move").unwrap();
    let dir = c.lookup(ROOT_ID, b"dir").unwrap().nodeid;
    let sub = c.lookup(dir, b"sub").unwrap().nodeid;
    let file = c.lookup(sub, b"file").unwrap().nodeid;
    assert_eq!(c.lookup(sub, b"file").unwrap().nodeid, file);
    let fh = c.open(file, RDWR).unwrap().fh;
    assert_eq!(c.write(file, fh, 0, b"BEFORE").unwrap(), 6);
    let dir_fh = c.opendir(dir).unwrap().fh;
    Held {
        dir,
        file,
        fh,
        dir_fh,
    }
}

fn migrate(
    src: &mut FuseClient,
    share: &std::path::Path,
    queues: usize,
    extra: &[&str],
) -> (DaemonProcess, FuseClient) {
    let state = save_state(&mut src.vmm).expect("save on the source");
    let (d, mut c) = destination(share, queues, extra);
    load_state(&mut c.vmm, &state).unwrap_or_else(|e| panic!("load: {e}\n{}", d.log()));
    (d, c)
}

fn continues_on_the_destination(queues: usize, extra: &[&str]) {
    let (src_daemon, mut src) = source(queues, extra);
    let held = hold_files(&src_daemon, &mut src);
    let share = src_daemon.share().to_path_buf();

    let (_dst_daemon, mut dst) = migrate(&mut src, &share, queues, extra);

    assert_eq!(
        dst.read(held.file, held.fh, 0, 64).unwrap(),
        b"BEFORE the move"
    );
    assert_eq!(dst.write(held.file, held.fh, 15, b", after").unwrap(), 7);
    assert_eq!(
        fs::read(share.join("dir/sub/file")).unwrap(),
        b"BEFORE the move, after"
    );
    assert_eq!(dst.getattr(held.file).unwrap().attr.size, 22);
    let sub = dst.lookup(held.dir, b"sub").unwrap().nodeid;
    assert_eq!(
        dst.lookup(sub, b"file").unwrap().nodeid,
        held.file,
        "same node id"
    );
    let names: Vec<Vec<u8>> = dst
        .readdir_all(held.dir, held.dir_fh)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(names.contains(&b"sub".to_vec()), "{names:?}");
    let new = dst
        .create(held.dir, b"new", RDWR, libc::S_IFREG | 0o644)
        .unwrap();
    assert!(
        new.0.nodeid > held.file,
        "new ids do not collide with migrated ones"
    );
    assert!(new.1.fh > held.dir_fh, "new handles do not collide either");
    dst.release(held.file, held.fh, RDWR).unwrap();
    dst.releasedir(held.dir, held.dir_fh).unwrap();
}

#[test]
fn lookups_handles_and_io_continue_on_the_destination_find_paths() {
    continues_on_the_destination(1, &["--sandbox", "none", "--inode-file-handles", "never"]);
}

#[test]
fn lookups_handles_and_io_continue_on_the_destination_file_handles_in_the_sandbox() {
    continues_on_the_destination(4, &["--migration-mode", "file-handles"]);
}

#[test]
fn lookups_handles_and_io_continue_with_verified_handles_and_confirmed_paths() {
    continues_on_the_destination(
        2,
        &["--migration-verify-handles", "--migration-confirm-paths"],
    );
}

/// Saves with `held` open, renames `dir/sub/file` on the host, and loads
/// into a destination started with `extra`.
fn load_after_rename(
    extra: &[&str],
) -> (
    Held,
    DaemonProcess,
    FuseClient,
    Result<(), String>,
    DaemonProcess,
) {
    let (src_daemon, mut src) = source(1, extra);
    let held = hold_files(&src_daemon, &mut src);
    let share = src_daemon.share().to_path_buf();
    let state = save_state(&mut src.vmm).expect("save");
    fs::rename(share.join("dir/sub/file"), share.join("dir/moved")).unwrap();
    let (d, mut c) = destination(&share, 1, extra);
    let loaded = load_state(&mut c.vmm, &state);
    (held, d, c, loaded, src_daemon)
}

#[test]
fn a_file_renamed_between_save_and_load_is_found_by_its_handle() {
    let (held, d, mut c, loaded, _src) = load_after_rename(&["--migration-mode", "file-handles"]);
    loaded.unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert_eq!(
        c.read(held.file, held.fh, 0, 64).unwrap(),
        b"BEFORE the move"
    );
    assert_eq!(c.lookup(held.dir, b"moved").unwrap().nodeid, held.file);
}

#[test]
fn a_file_renamed_between_save_and_load_fails_the_load_in_find_paths_mode() {
    let (_held, d, _c, loaded, _src) = load_after_rename(&["--migration-on-error", "abort"]);
    let err = loaded.expect_err("the load must fail");
    assert!(err.contains("CHECK_DEVICE_STATE"), "{err}");
    std::thread::sleep(Duration::from_millis(100));
    let log = d.log();
    assert!(
        log.contains("cannot be found again") && log.contains("dir/sub/file"),
        "the daemon's log names the file:\n{log}"
    );
}

#[test]
fn a_file_renamed_between_save_and_load_answers_eio_with_guest_error() {
    let (held, d, mut c, loaded, _src) =
        load_after_rename(&["--migration-on-error", "guest-error"]);
    loaded.unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert_eq!(
        c.getattr(held.file).err(),
        Some(libc::EIO),
        "never another file"
    );
    assert_eq!(c.read(held.file, held.fh, 0, 8).err(), Some(libc::EBADF));
    assert!(c.getattr(held.dir).is_ok(), "the other inodes were found");
}

#[test]
fn a_file_replaced_under_its_name_is_not_taken_for_the_old_one() {
    let (src_daemon, mut src) = source(1, &["--sandbox", "none"]);
    hold_files(&src_daemon, &mut src);
    let share = src_daemon.share().to_path_buf();
    let state = save_state(&mut src.vmm).expect("save");
    fs::rename(share.join("dir/sub/file"), share.join("dir/old")).unwrap();
    fs::write(share.join("dir/sub/file"), b"an impostor").unwrap();
    let (_d, mut c) = destination(&share, 1, &["--sandbox", "none"]);
    let err = load_state(&mut c.vmm, &state).expect_err("another inode under the name");
    assert!(err.contains("CHECK_DEVICE_STATE"), "{err}");
}

#[test]
fn an_unlinked_open_file_moves_with_file_handles() {
    let extra = ["--migration-mode", "file-handles"];
    let (src_daemon, mut src) = source(1, &extra);
    let held = hold_files(&src_daemon, &mut src);
    let share = src_daemon.share().to_path_buf();
    fs::remove_file(share.join("dir/sub/file")).unwrap();
    let (d, mut c) = migrate(&mut src, &share, 1, &extra);
    assert_eq!(
        c.read(held.file, held.fh, 0, 64).unwrap(),
        b"BEFORE the move"
    );
    assert_eq!(c.write(held.file, held.fh, 0, b"still").unwrap(), 5);
    drop(d);
}

#[test]
fn corrupt_truncated_or_foreign_states_are_refused_and_change_nothing() {
    let (src_daemon, mut src) = source(1, &[]);
    let held = hold_files(&src_daemon, &mut src);
    let share = src_daemon.share().to_path_buf();
    let state = save_state(&mut src.vmm).expect("save");
    let (d, mut c) = destination(&share, 1, &[]);

    let mut flipped = state.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let mut longer = state.clone();
    longer.extend_from_slice(b"junk");
    for (what, bad) in [
        ("truncated", &state[..state.len() / 2]),
        ("one byte short", &state[..state.len() - 1]),
        ("flipped byte", &flipped[..]),
        ("bytes appended", &longer[..]),
        ("empty", &[][..]),
        ("another program's", &b"QEVM\x00\x00\x00\x03 not ours"[..]),
    ] {
        let result = load_state(&mut c.vmm, bad);
        assert!(result.is_err(), "{what} state was accepted");
    }
    std::thread::sleep(Duration::from_millis(100));
    let log = d.log();
    for reason in ["truncated", "checksum", "unexpected bytes", "magic"] {
        assert!(log.contains(reason), "no {reason:?} in the log:\n{log}");
    }
    load_state(&mut c.vmm, &state).expect("the good state still loads");
    assert_eq!(c.read(held.file, held.fh, 0, 6).unwrap(), b"BEFORE");
}

#[test]
fn a_state_from_another_shared_directory_is_refused() {
    let (src_daemon, mut src) = source(1, &[]);
    hold_files(&src_daemon, &mut src);
    let state = save_state(&mut src.vmm).expect("save");
    let other = TestDirs::new();
    let (d, mut c) = destination(&other.share, 1, &[]);
    assert!(load_state(&mut c.vmm, &state).is_err());
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        d.log().contains("different shared directory"),
        "{}",
        d.log()
    );
}

#[test]
fn a_destination_without_the_sources_options_refuses_the_session() {
    let (src_daemon, mut src) = source(1, &["--writeback"]);
    hold_files(&src_daemon, &mut src);
    let share = src_daemon.share().to_path_buf();
    let state = save_state(&mut src.vmm).expect("save");
    let (d, mut c) = destination(&share, 1, &[]);
    assert!(load_state(&mut c.vmm, &state).is_err());
    std::thread::sleep(Duration::from_millis(100));
    assert!(d.log().contains("does not offer"), "{}", d.log());
}

#[test]
fn a_daemon_that_already_serves_a_guest_refuses_a_state() {
    let (src_daemon, mut src) = source(1, &[]);
    hold_files(&src_daemon, &mut src);
    let share = src_daemon.share().to_path_buf();
    let state = save_state(&mut src.vmm).expect("save");
    let (_d, mut c) = destination(&share, 1, &[]);
    c.init().unwrap();
    c.lookup(ROOT_ID, b"dir").unwrap();
    assert!(load_state(&mut c.vmm, &state).is_err());
}

#[test]
fn check_without_a_transfer_fails() {
    let (_d, mut c) = source(1, &[]);
    use vhost::vhost_user::VhostUserFrontend;
    assert!(c.vmm.frontend().check_device_state().is_err());
}
