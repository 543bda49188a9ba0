//! Directory entries: create, remove, rename and link names relative to a
//! directory descriptor. No call here follows a symlink in the last
//! component.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::open::{ProcFdName, ProcSelfFd};
use super::{cvt, cvt_size, EMPTY};

/// `mkdirat(2)`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) }).map(drop)
}

/// `mknodat(2)`; `mode` carries the file type.
pub fn mknodat(dir: BorrowedFd<'_>, name: &CStr, mode: u32, rdev: u64) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode, rdev) }).map(drop)
}

/// `symlinkat(2)`: creates `name` in `dir` holding `target` verbatim.
pub fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated and outlive the call.
    cvt(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// `unlinkat(2)`; `flags` is 0 or `AT_REMOVEDIR`.
pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// `renameat2(2)` with `RENAME_*` flags.
pub fn renameat2(
    old_dir: BorrowedFd<'_>,
    old_name: &CStr,
    new_dir: BorrowedFd<'_>,
    new_name: &CStr,
    flags: u32,
) -> io::Result<()> {
    // SAFETY: both names are NUL-terminated and outlive the call.
    cvt(unsafe {
        libc::renameat2(
            old_dir.as_raw_fd(),
            old_name.as_ptr(),
            new_dir.as_raw_fd(),
            new_name.as_ptr(),
            flags,
        )
    })
    .map(drop)
}

/// `linkat(2)` of `old_name` in `old_dir` as `new_name` in `new_dir`,
/// not following a symlink.
pub fn linkat(
    old_dir: BorrowedFd<'_>,
    old_name: &CStr,
    new_dir: BorrowedFd<'_>,
    new_name: &CStr,
) -> io::Result<()> {
    // SAFETY: both names are NUL-terminated and outlive the call.
    cvt(unsafe {
        libc::linkat(
            old_dir.as_raw_fd(),
            old_name.as_ptr(),
            new_dir.as_raw_fd(),
            new_name.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// Creates `new_name` in `new_dir` as a hard link to the file `fd` refers
/// to (an `O_PATH` descriptor), through its `/proc/self/fd` entry, which
/// needs no `CAP_DAC_READ_SEARCH` unlike `AT_EMPTY_PATH`.
pub fn link_fd(
    proc: &ProcSelfFd,
    fd: BorrowedFd<'_>,
    new_dir: BorrowedFd<'_>,
    new_name: &CStr,
) -> io::Result<()> {
    let old = ProcFdName::relative(fd);
    // SAFETY: both names are NUL-terminated and outlive the call.
    cvt(unsafe {
        libc::linkat(
            proc.dir().as_raw_fd(),
            old.as_cstr().as_ptr(),
            new_dir.as_raw_fd(),
            new_name.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    })
    .map(drop)
}

/// Target of the symlink `fd` refers to (an `O_PATH | O_NOFOLLOW`
/// descriptor of the link), verbatim.
pub fn readlink_fd(fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: `buf` is writable for `buf.len()` bytes; the empty path is
    // NUL-terminated.
    let len = cvt_size(unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    })?;
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::open::{open_beneath, open_path};
    use std::ffi::CString;
    use std::os::fd::{AsFd, OwnedFd};

    fn dir_fd(path: &std::path::Path) -> OwnedFd {
        let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        open_path(&c, libc::O_PATH | libc::O_DIRECTORY).unwrap()
    }

    #[test]
    fn symlink_target_is_stored_verbatim() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = dir_fd(tmp.path());
        symlinkat(c"../../etc", dir.as_fd(), c"l").unwrap();
        let l = open_beneath(dir.as_fd(), c"l", libc::O_PATH, 0).unwrap();
        assert_eq!(readlink_fd(l.as_fd()).unwrap(), b"../../etc");
    }

    #[test]
    fn rename_noreplace_refuses_existing_target() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = dir_fd(tmp.path());
        mkdirat(dir.as_fd(), c"a", 0o755).unwrap();
        mkdirat(dir.as_fd(), c"b", 0o755).unwrap();
        let err =
            renameat2(dir.as_fd(), c"a", dir.as_fd(), c"b", libc::RENAME_NOREPLACE).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
        unlinkat(dir.as_fd(), c"b", libc::AT_REMOVEDIR).unwrap();
        renameat2(dir.as_fd(), c"a", dir.as_fd(), c"b", libc::RENAME_NOREPLACE).unwrap();
        assert!(tmp.path().join("b").is_dir());
    }

    #[test]
    fn link_fd_creates_a_second_name() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let dir = dir_fd(tmp.path());
        let f = open_beneath(dir.as_fd(), c"f", libc::O_PATH, 0).unwrap();
        let proc = ProcSelfFd::open().unwrap();
        link_fd(&proc, f.as_fd(), dir.as_fd(), c"g").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("g")).unwrap(), b"x");
    }

    #[test]
    fn mknodat_creates_a_fifo() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = dir_fd(tmp.path());
        mknodat(dir.as_fd(), c"p", libc::S_IFIFO | 0o600, 0).unwrap();
        use std::os::unix::fs::FileTypeExt;
        let meta = std::fs::symlink_metadata(tmp.path().join("p")).unwrap();
        assert!(meta.file_type().is_fifo());
    }
}
