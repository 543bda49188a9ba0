//! Data-path helpers: moving bytes (`pread`, `pwrite`, and the vectored
//! `preadv`/`pwritev` over guest memory), durability (`fsync`, `fdatasync`,
//! `syncfs`, `sync_file_range`), space (`fallocate`), positions (`lseek`) and
//! `copy_file_range`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::{cvt, cvt_off, cvt_size, errno};

fn to_off(value: u64) -> io::Result<i64> {
    i64::try_from(value).map_err(|_| errno(libc::EINVAL))
}

/// `pwrite(2)` of `buf` at `offset`, or `write(2)` at the file position
/// when `offset` is `None`; returns the bytes written.
pub fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], offset: Option<u64>) -> io::Result<usize> {
    let ret = match offset {
        // SAFETY: `buf` is valid for reads of its length and `fd` is open.
        Some(off) => unsafe {
            libc::pwrite64(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), to_off(off)?)
        },
        // SAFETY: as above.
        None => unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) },
    };
    cvt_size(ret)
}

/// `pread(2)` into `buf` from `offset`; returns the bytes read.
pub fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length and `fd` is open.
    cvt_size(unsafe {
        libc::pread64(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            to_off(offset)?,
        )
    })
}

/// `pwritev(2)` of `iovs` at `offset`, or `writev(2)` at the file position
/// when `offset` is `None`; returns the bytes written.
///
/// # Safety
///
/// Every iovec must point to memory valid for reads of `iov_len` bytes for
/// the duration of the call (guest memory may change under it; the kernel
/// copies whatever is there).
pub unsafe fn pwritev(
    fd: BorrowedFd<'_>,
    iovs: &[libc::iovec],
    offset: Option<u64>,
) -> io::Result<usize> {
    let count = iov_count(iovs)?;
    let ret = match offset {
        // SAFETY: the caller guarantees the iovecs; `fd` is open.
        Some(off) => unsafe { libc::pwritev(fd.as_raw_fd(), iovs.as_ptr(), count, to_off(off)?) },
        // SAFETY: as above.
        None => unsafe { libc::writev(fd.as_raw_fd(), iovs.as_ptr(), count) },
    };
    cvt_size(ret)
}

/// `preadv(2)` into `iovs` from `offset`; returns the bytes read.
///
/// # Safety
///
/// Every iovec must point to memory valid for writes of `iov_len` bytes for
/// the duration of the call, that nothing in this process reads or writes
/// meanwhile as a Rust reference (guest memory qualifies: it is only ever
/// accessed through raw pointers and volatile copies).
pub unsafe fn preadv(fd: BorrowedFd<'_>, iovs: &[libc::iovec], offset: u64) -> io::Result<usize> {
    if iovs.is_empty() {
        return Ok(0);
    }
    let count = iov_count(iovs)?;
    // SAFETY: the caller guarantees the iovecs; `fd` is open.
    cvt_size(unsafe { libc::preadv(fd.as_raw_fd(), iovs.as_ptr(), count, to_off(offset)?) })
}

/// The iovec count as the syscalls take it.
fn iov_count(iovs: &[libc::iovec]) -> io::Result<libc::c_int> {
    libc::c_int::try_from(iovs.len()).map_err(|_| errno(libc::EINVAL))
}

/// `fsync(2)`.
pub fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on a borrowed descriptor.
    cvt(unsafe { libc::fsync(fd.as_raw_fd()) }).map(drop)
}

/// `fdatasync(2)`.
pub fn fdatasync(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on a borrowed descriptor.
    cvt(unsafe { libc::fdatasync(fd.as_raw_fd()) }).map(drop)
}

/// `syncfs(2)`: flushes the whole filesystem holding `fd` (which must not
/// be an `O_PATH` descriptor).
pub fn syncfs(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall on a borrowed descriptor.
    cvt(unsafe { libc::syncfs(fd.as_raw_fd()) }).map(drop)
}

/// `sync_file_range(2)` of the whole file with `flags` (e.g.
/// `SYNC_FILE_RANGE_WRITE` to start write-back of its dirty pages without
/// waiting). Makes nothing durable by itself: no metadata, no cache flush.
pub fn sync_file_range(fd: BorrowedFd<'_>, flags: u32) -> io::Result<()> {
    // SAFETY: plain syscall on a borrowed descriptor.
    cvt(unsafe { libc::sync_file_range(fd.as_raw_fd(), 0, 0, flags) }).map(drop)
}

/// `fallocate(2)`.
pub fn fallocate(fd: BorrowedFd<'_>, mode: i32, offset: u64, len: u64) -> io::Result<()> {
    let (offset, len) = (to_off(offset)?, to_off(len)?);
    // SAFETY: plain syscall on a borrowed descriptor.
    cvt(unsafe { libc::fallocate64(fd.as_raw_fd(), mode, offset, len) }).map(drop)
}

/// `lseek(2)`; `whence` is one of the `SEEK_*` constants. The offset is
/// reinterpreted as signed (SEEK_CUR/SEEK_END may move backwards).
pub fn lseek(fd: BorrowedFd<'_>, offset: u64, whence: i32) -> io::Result<u64> {
    // Two's-complement reinterpretation is the FUSE protocol's intent.
    let offset = offset as i64;
    // SAFETY: plain syscall on a borrowed descriptor.
    cvt_off(unsafe { libc::lseek64(fd.as_raw_fd(), offset, whence) })
}

/// `copy_file_range(2)` between explicit offsets; returns bytes copied.
pub fn copy_file_range(
    fd_in: BorrowedFd<'_>,
    off_in: u64,
    fd_out: BorrowedFd<'_>,
    off_out: u64,
    len: usize,
    flags: u32,
) -> io::Result<usize> {
    let mut off_in = to_off(off_in)?;
    let mut off_out = to_off(off_out)?;
    // SAFETY: both offsets are valid `loff_t` locations that outlive the
    // call; descriptors are borrowed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_copy_file_range,
            fd_in.as_raw_fd(),
            &mut off_in as *mut i64,
            fd_out.as_raw_fd(),
            &mut off_out as *mut i64,
            len,
            flags,
        )
    };
    cvt_size(ret as isize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn lseek_data_and_end() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(b"0123456789").unwrap();
        let fd = tmp.as_file().as_fd();
        assert_eq!(lseek(fd, 0, libc::SEEK_END).unwrap(), 10);
        assert_eq!(lseek(fd, 3, libc::SEEK_DATA).unwrap(), 3);
        assert_eq!(lseek(fd, 0, libc::SEEK_HOLE).unwrap(), 10);
    }

    #[test]
    fn fallocate_extends_and_syncs() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let fd = tmp.as_file().as_fd();
        fallocate(fd, 0, 0, 4096).unwrap();
        assert_eq!(tmp.as_file().metadata().unwrap().len(), 4096);
        sync_file_range(fd, libc::SYNC_FILE_RANGE_WRITE).unwrap();
        fsync(fd).unwrap();
        fdatasync(fd).unwrap();
        syncfs(fd).unwrap();
    }

    #[test]
    fn offsets_beyond_off_t_are_rejected() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let err = fallocate(tmp.as_file().as_fd(), 0, u64::MAX, 1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn copy_file_range_copies_bytes() {
        let mut a = tempfile::NamedTempFile::new().unwrap();
        a.write_all(b"hello world").unwrap();
        let b = tempfile::NamedTempFile::new().unwrap();
        let n = copy_file_range(a.as_file().as_fd(), 6, b.as_file().as_fd(), 0, 5, 0).unwrap();
        assert_eq!(n, 5);
        assert_eq!(std::fs::read(b.path()).unwrap(), b"world");
    }
}
