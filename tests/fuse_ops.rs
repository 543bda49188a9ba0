//! Every FUSE operation the daemon implements, driven through a real
//! vhost-user connection against a temporary share, with the effect checked
//! on the host side too.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use common::daemon::DaemonProcess;
use common::fuse_client::{ChainMode, FuseClient};
use epochfsd::fuse::abi::{init_flags, ROOT_ID};

const RDWR: u32 = libc::O_RDWR as u32;

fn start() -> (DaemonProcess, FuseClient) {
    common::start(1, &[])
}

fn host_write(share: &Path, name: &str, data: &[u8]) {
    fs::write(share.join(name), data).unwrap();
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
}

fn names(entries: impl IntoIterator<Item = Vec<u8>>) -> Vec<String> {
    let mut v: Vec<String> = entries
        .into_iter()
        .map(|n| String::from_utf8(n).unwrap())
        .filter(|n| n != "." && n != "..")
        .collect();
    v.sort();
    v
}

// ---- session ----

#[test]
fn init_reply_speaks_7_41_and_only_offered_flags() {
    let (_d, client) = start();

    let init = client.init_out.unwrap();

    assert_eq!((init.major, init.minor), (7, 41));
    let flags = u64::from(init.flags) | (u64::from(init.flags2) << 32);
    let extra = flags & !common::fuse_client::GUEST_INIT_FLAGS;
    assert_eq!(
        extra, 0,
        "daemon enabled flags the guest never offered: {extra:#x}"
    );
}

#[test]
fn init_with_max_pages_allows_one_mib_requests() {
    let (_d, client) = start();

    let init = client.init_out.unwrap();

    let flags = u64::from(init.flags) | (u64::from(init.flags2) << 32);
    assert_ne!(flags & init_flags::MAX_PAGES, 0, "MAX_PAGES not accepted");
    assert!(init.max_pages >= 256, "max_pages {}", init.max_pages);
    assert!(init.max_write >= 1 << 20, "max_write {}", init.max_write);
}

#[test]
fn destroy_is_answered() {
    let (_d, mut c) = start();

    let r = c.destroy();

    assert_eq!(r, Ok(()));
}

// ---- lookup and attributes ----

#[test]
fn getattr_root_reports_a_directory() {
    let (_d, mut c) = start();

    let attr = c.getattr(ROOT_ID).unwrap();

    assert_eq!(attr.attr.mode & libc::S_IFMT, libc::S_IFDIR);
}

#[test]
fn lookup_existing_file_returns_its_host_attributes() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"hello");

    let e = c.lookup(ROOT_ID, b"f").unwrap();

    let meta = fs::metadata(d.share().join("f")).unwrap();
    assert_ne!(e.nodeid, 0);
    assert_eq!(e.attr.size, 5);
    assert_eq!(e.attr.mode, meta.mode());
    assert_eq!(e.attr.ino, meta.ino());
}

#[test]
fn lookup_missing_name_is_enoent_or_negative_entry() {
    let (_d, mut c) = start();

    let r = c.lookup(ROOT_ID, b"missing");

    match r {
        Err(e) => assert_eq!(e, libc::ENOENT),
        Ok(e) => assert_eq!(e.nodeid, 0, "missing name resolved to a node"),
    }
}

#[test]
fn lookup_twice_returns_same_nodeid() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"");

    let a = c.lookup(ROOT_ID, b"f").unwrap();
    let b = c.lookup(ROOT_ID, b"f").unwrap();

    assert_eq!(a.nodeid, b.nodeid);
    assert_eq!(a.generation, b.generation);
}

#[test]
fn getattr_file_matches_host_metadata() {
    let (d, mut c) = start();
    host_write(d.share(), "f", &[1u8; 12345]);
    let e = c.lookup(ROOT_ID, b"f").unwrap();

    let a = c.getattr(e.nodeid).unwrap();

    let meta = fs::metadata(d.share().join("f")).unwrap();
    assert_eq!(a.attr.size, 12345);
    assert_eq!(a.attr.ino, meta.ino());
    assert_eq!(a.attr.nlink, 1);
    assert_eq!(a.attr.mtime as i64, meta.mtime());
}

#[test]
fn getattr_through_handle_reports_the_open_file() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"abc");
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    let o = c.open(e.nodeid, RDWR).unwrap();

    let a = c.getattr_fh(e.nodeid, o.fh).unwrap();

    assert_eq!(a.attr.size, 3);
}

#[test]
fn setattr_truncate_changes_host_file_size() {
    let (d, mut c) = start();
    host_write(d.share(), "f", &[9u8; 1000]);
    let e = c.lookup(ROOT_ID, b"f").unwrap();

    let a = c.truncate(e.nodeid, 10).unwrap();

    assert_eq!(a.attr.size, 10);
    assert_eq!(fs::metadata(d.share().join("f")).unwrap().len(), 10);
}

#[test]
fn setattr_chmod_changes_host_mode() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"");
    let e = c.lookup(ROOT_ID, b"f").unwrap();

    let a = c.chmod(e.nodeid, 0o600).unwrap();

    assert_eq!(a.attr.mode & 0o7777, 0o600);
    let mode = fs::metadata(d.share().join("f"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
}

#[test]
fn setattr_utimes_changes_host_times() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"");
    let e = c.lookup(ROOT_ID, b"f").unwrap();

    let a = c
        .utimes(e.nodeid, (1_000_000_000, 5), (1_200_000_000, 7))
        .unwrap();

    assert_eq!((a.attr.atime, a.attr.mtime), (1_000_000_000, 1_200_000_000));
    let meta = fs::metadata(d.share().join("f")).unwrap();
    assert_eq!(meta.atime(), 1_000_000_000);
    assert_eq!(meta.mtime(), 1_200_000_000);
    assert_eq!(meta.mtime_nsec(), 7);
}

#[test]
fn statfs_reports_the_host_filesystem() {
    let (d, mut c) = start();

    let st = c.statfs(ROOT_ID).unwrap().st;

    let host = host_statvfs(d.share());
    assert_eq!(st.blocks, host.f_blocks);
    assert_eq!(u64::from(st.bsize), host.f_bsize);
    assert_eq!(u64::from(st.namelen), host.f_namemax);
}

fn host_statvfs(p: &Path) -> libc::statvfs {
    let path = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: all-zero is a valid statvfs.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` is writable.
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
    st
}

// ---- creating things ----

#[test]
fn mkdir_creates_host_directory() {
    let (d, mut c) = start();

    let e = c.mkdir(ROOT_ID, b"dir", 0o755).unwrap();

    assert_eq!(e.attr.mode & libc::S_IFMT, libc::S_IFDIR);
    assert!(d.share().join("dir").is_dir());
}

#[test]
fn mkdir_existing_name_is_eexist() {
    let (d, mut c) = start();
    fs::create_dir(d.share().join("dir")).unwrap();

    let r = c.mkdir(ROOT_ID, b"dir", 0o755);

    assert_eq!(r.err(), Some(libc::EEXIST));
}

#[test]
fn create_makes_host_file_and_returns_handle() {
    let (d, mut c) = start();

    let (e, o) = c.create(ROOT_ID, b"new", RDWR, 0o644).unwrap();

    assert_ne!(e.nodeid, 0);
    assert_eq!(e.attr.mode & libc::S_IFMT, libc::S_IFREG);
    let meta = fs::metadata(d.share().join("new")).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.ino(), e.attr.ino);
    c.release(e.nodeid, o.fh, RDWR).unwrap();
}

#[test]
fn create_exclusive_on_existing_file_is_eexist() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"");

    let r = c.create(ROOT_ID, b"f", RDWR | libc::O_EXCL as u32, 0o644);

    assert_eq!(r.err(), Some(libc::EEXIST));
}

#[test]
fn symlink_creates_host_symlink() {
    let (d, mut c) = start();

    let e = c.symlink(ROOT_ID, b"link", b"target/path").unwrap();

    assert_eq!(e.attr.mode & libc::S_IFMT, libc::S_IFLNK);
    let t = fs::read_link(d.share().join("link")).unwrap();
    assert_eq!(t, Path::new("target/path"));
}

#[test]
fn readlink_returns_host_symlink_target() {
    let (d, mut c) = start();
    std::os::unix::fs::symlink("some/where", d.share().join("l")).unwrap();
    let e = c.lookup(ROOT_ID, b"l").unwrap();

    let t = c.readlink(e.nodeid).unwrap();

    assert_eq!(t, b"some/where");
}

#[test]
fn link_creates_second_host_name() {
    let (d, mut c) = start();
    host_write(d.share(), "a", b"x");
    let a = c.lookup(ROOT_ID, b"a").unwrap();

    let b = c.link(a.nodeid, ROOT_ID, b"b").unwrap();

    assert_eq!(b.attr.ino, a.attr.ino);
    assert_eq!(b.attr.nlink, 2);
    let meta = fs::metadata(d.share().join("b")).unwrap();
    assert_eq!(meta.ino(), a.attr.ino);
}

#[test]
fn mknod_creates_host_fifo() {
    let (d, mut c) = start();

    let e = c.mknod(ROOT_ID, b"fifo", libc::S_IFIFO | 0o644, 0).unwrap();

    assert_eq!(e.attr.mode & libc::S_IFMT, libc::S_IFIFO);
    let ft = fs::symlink_metadata(d.share().join("fifo"))
        .unwrap()
        .file_type();
    assert!(ft.is_fifo());
}

// ---- removing and renaming ----

#[test]
fn unlink_removes_host_file() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"");

    c.unlink(ROOT_ID, b"f").unwrap();

    assert!(!d.share().join("f").exists());
}

#[test]
fn unlink_missing_name_is_enoent() {
    let (_d, mut c) = start();

    let r = c.unlink(ROOT_ID, b"missing");

    assert_eq!(r, Err(libc::ENOENT));
}

#[test]
fn rmdir_removes_host_directory() {
    let (d, mut c) = start();
    fs::create_dir(d.share().join("dir")).unwrap();

    c.rmdir(ROOT_ID, b"dir").unwrap();

    assert!(!d.share().join("dir").exists());
}

#[test]
fn rmdir_non_empty_directory_is_enotempty() {
    let (d, mut c) = start();
    fs::create_dir(d.share().join("dir")).unwrap();
    host_write(d.share(), "dir/f", b"");

    let r = c.rmdir(ROOT_ID, b"dir");

    assert_eq!(r, Err(libc::ENOTEMPTY));
}

#[test]
fn rename_moves_host_file_between_directories() {
    let (d, mut c) = start();
    host_write(d.share(), "a", b"data");
    let dir = c.mkdir(ROOT_ID, b"dir", 0o755).unwrap();

    c.rename(ROOT_ID, b"a", dir.nodeid, b"b").unwrap();

    assert!(!d.share().join("a").exists());
    assert_eq!(fs::read(d.share().join("dir/b")).unwrap(), b"data");
}

#[test]
fn rename2_noreplace_onto_existing_name_is_eexist() {
    let (d, mut c) = start();
    host_write(d.share(), "a", b"a");
    host_write(d.share(), "b", b"b");

    let r = c.rename2(ROOT_ID, b"a", ROOT_ID, b"b", libc::RENAME_NOREPLACE);

    assert_eq!(r, Err(libc::EEXIST));
    assert_eq!(fs::read(d.share().join("b")).unwrap(), b"b");
}

#[test]
fn rename2_exchange_swaps_host_files() {
    let (d, mut c) = start();
    host_write(d.share(), "a", b"A");
    host_write(d.share(), "b", b"B");

    c.rename2(ROOT_ID, b"a", ROOT_ID, b"b", libc::RENAME_EXCHANGE)
        .unwrap();

    assert_eq!(fs::read(d.share().join("a")).unwrap(), b"B");
    assert_eq!(fs::read(d.share().join("b")).unwrap(), b"A");
}

// ---- file I/O ----

#[test]
fn open_existing_file_returns_handle() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"");
    let e = c.lookup(ROOT_ID, b"f").unwrap();

    let o = c.open(e.nodeid, libc::O_RDONLY as u32);

    assert!(o.is_ok(), "OPEN failed: {o:?}");
}

#[test]
fn open_with_o_trunc_empties_host_file() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"old contents");
    let e = c.lookup(ROOT_ID, b"f").unwrap();

    c.open(e.nodeid, RDWR | libc::O_TRUNC as u32).unwrap();

    assert_eq!(fs::metadata(d.share().join("f")).unwrap().len(), 0);
}

#[test]
fn write_lands_in_host_file() {
    let (d, mut c) = start();
    let (e, o) = c.create(ROOT_ID, b"f", RDWR, 0o644).unwrap();

    let n = c.write(e.nodeid, o.fh, 0, b"written via fuse").unwrap();

    assert_eq!(n, 16);
    assert_eq!(fs::read(d.share().join("f")).unwrap(), b"written via fuse");
}

#[test]
fn write_at_offset_extends_host_file() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"0123");
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    let o = c.open(e.nodeid, RDWR).unwrap();

    c.write(e.nodeid, o.fh, 8, b"xy").unwrap();

    assert_eq!(
        fs::read(d.share().join("f")).unwrap(),
        b"0123\0\0\0\0xy".to_vec()
    );
}

#[test]
fn write_split_over_page_descriptors_lands_intact() {
    let (d, mut c) = start();
    let (e, o) = c.create(ROOT_ID, b"f", RDWR, 0o644).unwrap();
    let data = pattern(256 * 1024 + 100);

    let n = c.write_segmented(e.nodeid, o.fh, 0, &data, 4096).unwrap();

    assert_eq!(n as usize, data.len());
    assert_eq!(fs::read(d.share().join("f")).unwrap(), data);
}

#[test]
fn write_through_indirect_descriptors_lands_intact() {
    let (d, mut c) = start();
    let (e, o) = c.create(ROOT_ID, b"f", RDWR, 0o644).unwrap();
    let data = pattern(64 * 1024);
    c.mode = ChainMode::Indirect;

    let n = c.write_segmented(e.nodeid, o.fh, 0, &data, 4096).unwrap();

    assert_eq!(n as usize, data.len());
    assert_eq!(fs::read(d.share().join("f")).unwrap(), data);
}

#[test]
fn one_mib_write_lands_intact() {
    let (d, mut c) = start();
    let (e, o) = c.create(ROOT_ID, b"f", RDWR, 0o644).unwrap();
    let data = pattern(1 << 20);

    let n = c.write_segmented(e.nodeid, o.fh, 0, &data, 4096).unwrap();

    assert_eq!(n, 1 << 20);
    assert_eq!(fs::read(d.share().join("f")).unwrap(), data);
}

#[test]
fn read_returns_host_file_contents() {
    let (d, mut c) = start();
    let data = pattern(100_000);
    host_write(d.share(), "f", &data);
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    let o = c.open(e.nodeid, libc::O_RDONLY as u32).unwrap();

    let got = c.read(e.nodeid, o.fh, 1000, 50_000).unwrap();

    assert_eq!(got, &data[1000..51_000]);
}

#[test]
fn read_past_end_of_file_is_short() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"short");
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    let o = c.open(e.nodeid, libc::O_RDONLY as u32).unwrap();

    let got = c.read(e.nodeid, o.fh, 2, 4096).unwrap();

    assert_eq!(got, b"ort");
}

#[test]
fn one_mib_read_returns_host_file_contents() {
    let (d, mut c) = start();
    let data = pattern(1 << 20);
    host_write(d.share(), "f", &data);
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    let o = c.open(e.nodeid, libc::O_RDONLY as u32).unwrap();

    let got = c.read(e.nodeid, o.fh, 0, 1 << 20).unwrap();

    assert!(got == data, "1 MiB READ returned different bytes");
}

#[test]
fn flush_on_open_handle_succeeds() {
    let (_d, mut c) = start();
    let (e, o) = c.create(ROOT_ID, b"f", RDWR, 0o644).unwrap();

    let r = c.flush(e.nodeid, o.fh);

    assert_eq!(r, Ok(()));
}

#[test]
fn release_on_open_handle_succeeds() {
    let (_d, mut c) = start();
    let (e, o) = c.create(ROOT_ID, b"f", RDWR, 0o644).unwrap();

    let r = c.release(e.nodeid, o.fh, RDWR);

    assert_eq!(r, Ok(()));
}

#[test]
fn fsync_on_open_handle_succeeds() {
    let (_d, mut c) = start();
    let (e, o) = c.create(ROOT_ID, b"f", RDWR, 0o644).unwrap();
    c.write(e.nodeid, o.fh, 0, b"data").unwrap();

    let full = c.fsync(e.nodeid, o.fh, false);
    let data_only = c.fsync(e.nodeid, o.fh, true);

    assert_eq!((full, data_only), (Ok(()), Ok(())));
}

#[test]
fn syncfs_succeeds() {
    let (_d, mut c) = start();
    let (e, o) = c.create(ROOT_ID, b"f", RDWR, 0o644).unwrap();
    c.write(e.nodeid, o.fh, 0, b"data").unwrap();

    let r = c.syncfs(ROOT_ID);

    assert_eq!(
        r,
        Ok(()),
        "SYNCFS must never fail (ENOSYS disables it for good)"
    );
}

// ---- directories ----

#[test]
fn readdir_lists_host_entries() {
    let (d, mut c) = start();
    host_write(d.share(), "one", b"");
    host_write(d.share(), "two", b"");
    fs::create_dir(d.share().join("three")).unwrap();
    let o = c.opendir(ROOT_ID).unwrap();

    let entries = c.readdir_all(ROOT_ID, o.fh).unwrap();

    assert_eq!(
        names(entries.into_iter().map(|e| e.name)),
        ["one", "three", "two"]
    );
}

#[test]
fn readdir_in_small_batches_lists_every_entry_once() {
    let (d, mut c) = start();
    let want: Vec<String> = (0..200).map(|i| format!("file-{i:03}")).collect();
    for n in &want {
        host_write(d.share(), n, b"");
    }
    let o = c.opendir(ROOT_ID).unwrap();

    let mut got = Vec::new();
    let mut off = 0;
    loop {
        let batch = c.readdir(ROOT_ID, o.fh, off, 512).unwrap();
        let Some(last) = batch.last() else { break };
        off = last.off;
        got.extend(batch.into_iter().map(|e| e.name));
        assert!(got.len() < 1000, "READDIR does not terminate");
    }

    assert_eq!(names(got), want);
}

#[test]
fn readdirplus_returns_entries_with_attributes() {
    let (d, mut c) = start();
    host_write(d.share(), "f", &[0u8; 777]);
    let o = c.opendir(ROOT_ID).unwrap();

    let entries = c.readdirplus(ROOT_ID, o.fh, 0, 64 * 1024).unwrap();

    let f = entries
        .iter()
        .find(|e| e.dirent.name == b"f")
        .expect("f listed");
    assert_ne!(f.entry.nodeid, 0);
    assert_eq!(f.entry.attr.size, 777);
    assert_eq!(
        f.entry.attr.ino,
        fs::metadata(d.share().join("f")).unwrap().ino()
    );
}

#[test]
fn releasedir_on_open_directory_succeeds() {
    let (_d, mut c) = start();
    let o = c.opendir(ROOT_ID).unwrap();

    let r = c.releasedir(ROOT_ID, o.fh);

    assert_eq!(r, Ok(()));
}

// ---- forgetting ----

#[test]
fn forget_on_hiprio_queue_is_returned_without_reply() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"");
    let e = c.lookup(ROOT_ID, b"f").unwrap();

    let used = c.forget(e.nodeid, 1);

    assert_eq!(
        used,
        Some(0),
        "FORGET buffer not returned, or a reply written"
    );
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn name_is_found_again_after_forget() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"x");
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    c.forget(e.nodeid, 1).unwrap();

    let again = c.lookup(ROOT_ID, b"f").unwrap();

    assert_eq!(again.attr.size, 1);
}

#[test]
fn batch_forget_is_returned_without_reply() {
    let (d, mut c) = start();
    host_write(d.share(), "a", b"");
    host_write(d.share(), "b", b"");
    let a = c.lookup(ROOT_ID, b"a").unwrap();
    let b = c.lookup(ROOT_ID, b"b").unwrap();

    let used = c.batch_forget(&[(a.nodeid, 1), (b.nodeid, 1)]);

    assert_eq!(used, Some(0));
    assert!(c.getattr(ROOT_ID).is_ok());
}

#[test]
fn file_created_on_host_after_mount_is_visible() {
    let (d, mut c) = start();
    c.getattr(ROOT_ID).unwrap();
    host_write(d.share(), "late", b"late");

    let e = c.lookup(ROOT_ID, b"late").unwrap();

    assert_eq!(e.attr.size, 4);
}

#[test]
fn symlink_pointing_outside_share_is_not_followed_by_lookup() {
    let (d, mut c) = start();
    std::os::unix::fs::symlink("/etc", d.share().join("escape")).unwrap();

    let e = c.lookup(ROOT_ID, b"escape").unwrap();

    assert_eq!(e.attr.mode & libc::S_IFMT, libc::S_IFLNK);
}

#[test]
fn write_then_read_back_with_cache_never() {
    let (d, mut c) = common::start(1, &["--cache", "never"]);
    let (e, o) = c.create(ROOT_ID, b"f", RDWR, 0o644).unwrap();
    let data = pattern(300_000);
    c.write_segmented(e.nodeid, o.fh, 0, &data, 4096).unwrap();

    let got = c.read(e.nodeid, o.fh, 0, 300_000).unwrap();

    assert!(got == data, "READ after WRITE returned different bytes");
    assert_eq!(fs::read(d.share().join("f")).unwrap(), data);
}

#[test]
fn lookup_in_subdirectory_finds_nested_file() {
    let (d, mut c) = start();
    fs::create_dir_all(d.share().join("a/b")).unwrap();
    host_write(d.share(), "a/b/f", b"nested");
    let a = c.lookup(ROOT_ID, b"a").unwrap();
    let b = c.lookup(a.nodeid, b"b").unwrap();

    let f = c.lookup(b.nodeid, b"f").unwrap();

    assert_eq!(f.attr.size, 6);
}

#[test]
fn open_handle_still_reads_after_host_unlink() {
    let (d, mut c) = start();
    host_write(d.share(), "f", b"still here");
    let e = c.lookup(ROOT_ID, b"f").unwrap();
    let o = c.open(e.nodeid, libc::O_RDONLY as u32).unwrap();
    fs::remove_file(d.share().join("f")).unwrap();

    let got = c.read(e.nodeid, o.fh, 0, 100).unwrap();

    assert_eq!(got, b"still here");
}

#[test]
fn readdir_of_subdirectory_lists_its_entries() {
    let (d, mut c) = start();
    fs::create_dir(d.share().join("sub")).unwrap();
    host_write(d.share(), "sub/x", b"");
    host_write(d.share(), "other", b"");
    let sub = c.lookup(ROOT_ID, b"sub").unwrap();
    let o = c.opendir(sub.nodeid).unwrap();

    let entries = c.readdir_all(sub.nodeid, o.fh).unwrap();

    assert_eq!(names(entries.into_iter().map(|e| e.name)), ["x"]);
}
