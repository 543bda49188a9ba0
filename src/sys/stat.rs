//! File status: `fstatat` on a descriptor or a directory entry, `statx`
//! with the mount id, and `fstatvfs`.

use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::{cvt, EMPTY};

/// Status of the file `fd` refers to (an `O_PATH` descriptor is fine; a
/// symlink descriptor describes the link itself).
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat64> {
    fstatat(fd, EMPTY, libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW)
}

/// Status of the entry `name` in directory `dir`, not following a symlink.
pub fn fstatat_nofollow(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<libc::stat64> {
    fstatat(dir, name, libc::AT_SYMLINK_NOFOLLOW)
}

fn fstatat(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> io::Result<libc::stat64> {
    let mut st = MaybeUninit::<libc::stat64>::uninit();
    // SAFETY: `st` is writable memory of the right size for the kernel to
    // fill; `name` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::fstatat64(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), flags) })?;
    // SAFETY: fstatat64 succeeded, so it initialised `st`.
    Ok(unsafe { st.assume_init() })
}

/// Status plus the id of the mount the file sits on.
#[derive(Clone, Copy)]
pub struct StatWithMount {
    /// The usual attributes.
    pub st: libc::stat64,
    /// Mount id (`STATX_MNT_ID`), or 0 when the kernel cannot tell (< 5.8).
    pub mnt_id: u64,
}

/// `statx` of the file `fd` refers to, converted to `stat64`, with the
/// mount id. Falls back to [`fstat`] on kernels without `statx`.
pub fn statx_with_mount(fd: BorrowedFd<'_>) -> io::Result<StatWithMount> {
    let mut stx = MaybeUninit::<libc::statx>::uninit();
    // SAFETY: `stx` is writable memory of the right size for the kernel to
    // fill; the empty path is NUL-terminated.
    let ret = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_BASIC_STATS | libc::STATX_MNT_ID,
            stx.as_mut_ptr(),
        )
    };
    match cvt(ret) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            return Ok(StatWithMount {
                st: fstat(fd)?,
                mnt_id: 0,
            });
        }
        Err(e) => return Err(e),
    }
    // SAFETY: statx succeeded, so it initialised `stx`.
    let stx = unsafe { stx.assume_init() };
    let mnt_id = if stx.stx_mask & libc::STATX_MNT_ID != 0 {
        stx.stx_mnt_id
    } else {
        0
    };
    Ok(StatWithMount {
        st: statx_to_stat64(&stx),
        mnt_id,
    })
}

/// `statx(2)` of the file `fd` refers to (not following a symlink), with
/// the caller's `mask` and `AT_STATX_*` sync bits in `sync`.
pub fn statx(fd: BorrowedFd<'_>, sync: i32, mask: u32) -> io::Result<libc::statx> {
    let sync = sync & libc::AT_STATX_SYNC_TYPE;
    let mut stx = MaybeUninit::<libc::statx>::uninit();
    // SAFETY: `stx` is writable memory of the right size for the kernel to
    // fill; the empty path is NUL-terminated.
    cvt(unsafe {
        libc::statx(
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW | sync,
            mask,
            stx.as_mut_ptr(),
        )
    })?;
    // SAFETY: statx succeeded, so it initialised `stx`.
    Ok(unsafe { stx.assume_init() })
}

/// The `stat64` view of a `statx` answer.
fn statx_to_stat64(stx: &libc::statx) -> libc::stat64 {
    // SAFETY: `stat64` is plain old data; all-zero bytes are a valid value.
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    st.st_dev = libc::makedev(stx.stx_dev_major, stx.stx_dev_minor);
    st.st_ino = stx.stx_ino;
    st.st_nlink = stx.stx_nlink.into();
    st.st_mode = stx.stx_mode.into();
    st.st_uid = stx.stx_uid;
    st.st_gid = stx.stx_gid;
    st.st_rdev = libc::makedev(stx.stx_rdev_major, stx.stx_rdev_minor);
    st.st_size = stx.stx_size.try_into().unwrap_or(i64::MAX);
    st.st_blksize = stx.stx_blksize.into();
    st.st_blocks = stx.stx_blocks.try_into().unwrap_or(i64::MAX);
    st.st_atime = stx.stx_atime.tv_sec;
    st.st_atime_nsec = stx.stx_atime.tv_nsec.into();
    st.st_mtime = stx.stx_mtime.tv_sec;
    st.st_mtime_nsec = stx.stx_mtime.tv_nsec.into();
    st.st_ctime = stx.stx_ctime.tv_sec;
    st.st_ctime_nsec = stx.stx_ctime.tv_nsec.into();
    st
}

/// `fstatvfs64(3)` (an `O_PATH` descriptor is fine).
pub fn fstatvfs(fd: BorrowedFd<'_>) -> io::Result<libc::statvfs64> {
    let mut st = MaybeUninit::<libc::statvfs64>::uninit();
    // SAFETY: `st` is writable memory of the right size to fill.
    cvt(unsafe { libc::fstatvfs64(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatvfs64 succeeded, so it initialised `st`.
    Ok(unsafe { st.assume_init() })
}

/// `f_type` of a FUSE filesystem (`FUSE_SUPER_MAGIC` of `linux/magic.h`).
pub const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;

/// The type (`f_type`, one of the `*_SUPER_MAGIC` numbers) of the
/// filesystem holding `fd`.
pub fn filesystem_type(fd: BorrowedFd<'_>) -> io::Result<i64> {
    let mut st = MaybeUninit::<libc::statfs64>::uninit();
    // SAFETY: `st` is writable memory of the right size to fill.
    cvt(unsafe { libc::fstatfs64(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatfs64 succeeded, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    // `f_type` is a `long` on 64-bit hosts and an `int` on 32-bit ones.
    #[allow(clippy::useless_conversion)]
    Ok(i64::from(st.f_type))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn filesystem_type_of_proc_is_procfs() {
        let proc = std::fs::File::open("/proc/self").unwrap();
        assert_eq!(filesystem_type(proc.as_fd()).unwrap(), 0x9fa0);
    }

    #[test]
    fn statx_matches_fstat() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), b"hello").unwrap();
        let f = tmp.as_file();
        let a = fstat(f.as_fd()).unwrap();
        let b = statx_with_mount(f.as_fd()).unwrap();
        assert_eq!(a.st_dev, b.st.st_dev);
        assert_eq!(a.st_ino, b.st.st_ino);
        assert_eq!(a.st_mode, b.st.st_mode);
        assert_eq!(a.st_size, 5);
        assert_eq!(b.st.st_size, 5);
        assert_eq!(a.st_mtime, b.st.st_mtime);
        assert_eq!(a.st_mtime_nsec, b.st.st_mtime_nsec);
        assert_eq!(b.st.st_ino, f.metadata().unwrap().ino());
        assert_ne!(b.mnt_id, 0);
    }

    #[test]
    fn fstatvfs_reports_a_block_size() {
        let tmp = tempfile::tempdir().unwrap();
        let f = std::fs::File::open(tmp.path()).unwrap();
        assert!(fstatvfs(f.as_fd()).unwrap().f_bsize > 0);
    }
}

/// The host's page cache not yet on disk in bytes (`Dirty:` plus
/// `Writeback:` of `/proc/meminfo`, read through `meminfo`, a descriptor of
/// that file), every filesystem together.
pub fn dirty_bytes(meminfo: BorrowedFd<'_>) -> io::Result<u64> {
    let mut buf = [0u8; 4096];
    let n = super::datapath::pread(meminfo, &mut buf, 0)?;
    parse_dirty_kib(&buf[..n])
        .map(|kib| kib.saturating_mul(1024))
        .ok_or_else(|| super::errno(libc::EINVAL))
}

/// `Dirty:` + `Writeback:` in KiB; `None` unless both lines are there.
fn parse_dirty_kib(meminfo: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(meminfo).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    field("Dirty:")?.checked_add(field("Writeback:")?)
}

#[cfg(test)]
mod dirty_tests {
    use super::*;

    #[test]
    fn dirty_is_parsed_from_meminfo() {
        let text = b"MemTotal:  100 kB\nDirty:      2048 kB\nWriteback: 512 kB\n";
        assert_eq!(parse_dirty_kib(text), Some(2560));
        assert_eq!(parse_dirty_kib(b"Dirty: 5 kB\n"), None);
        assert_eq!(parse_dirty_kib(b"MemTotal: 1 kB\n"), None);
        let f = std::fs::File::open("/proc/meminfo").unwrap();
        use std::os::fd::AsFd;
        dirty_bytes(f.as_fd()).unwrap();
    }
}
