//! Extended attributes of the file an `O_PATH` descriptor refers to,
//! through its `/proc/self/fd/N` entry named by
//! [`ProcSelfFd::path_of`] (there is no descriptor-relative form before
//! Linux 6.13, and `f*xattr` refuse `O_PATH` descriptors). The magic link
//! resolves to the very inode the descriptor holds, even for a symlink.
//!
//! An empty `buf` asks only for the size, as in the syscalls.

use std::ffi::CStr;
use std::io;
use std::os::fd::BorrowedFd;

use super::open::ProcSelfFd;
use super::{cvt, cvt_size};

/// `getxattr(2)`; returns the value length.
pub fn getxattr(
    proc: &ProcSelfFd,
    fd: BorrowedFd<'_>,
    name: &CStr,
    buf: &mut [u8],
) -> io::Result<usize> {
    let path = proc.path_of(fd);
    // SAFETY: strings are NUL-terminated; `buf` is writable for its length
    // (a zero length makes the kernel write nothing).
    cvt_size(unsafe {
        libc::getxattr(
            path.as_cstr().as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    })
}

/// `listxattr(2)`; returns the length of the NUL-separated list.
pub fn listxattr(proc: &ProcSelfFd, fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    let path = proc.path_of(fd);
    // SAFETY: the path is NUL-terminated; `buf` is writable for its length.
    cvt_size(unsafe {
        libc::listxattr(path.as_cstr().as_ptr(), buf.as_mut_ptr().cast(), buf.len())
    })
}

/// `setxattr(2)`; `flags` is 0, `XATTR_CREATE` or `XATTR_REPLACE`.
pub fn setxattr(
    proc: &ProcSelfFd,
    fd: BorrowedFd<'_>,
    name: &CStr,
    value: &[u8],
    flags: i32,
) -> io::Result<()> {
    let path = proc.path_of(fd);
    // SAFETY: strings are NUL-terminated; `value` is readable for its length.
    cvt(unsafe {
        libc::setxattr(
            path.as_cstr().as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            flags,
        )
    })
    .map(drop)
}

/// `removexattr(2)`.
pub fn removexattr(proc: &ProcSelfFd, fd: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let path = proc.path_of(fd);
    // SAFETY: both strings are NUL-terminated and outlive the call.
    cvt(unsafe { libc::removexattr(path.as_cstr().as_ptr(), name.as_ptr()) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn user_xattr_round_trip() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let fd = tmp.as_file().as_fd();
        let proc = &ProcSelfFd::open().unwrap();
        match setxattr(proc, fd, c"user.test", b"value", 0) {
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return,
            other => other.unwrap(),
        }
        assert_eq!(getxattr(proc, fd, c"user.test", &mut []).unwrap(), 5);
        let mut buf = [0u8; 16];
        let n = getxattr(proc, fd, c"user.test", &mut buf).unwrap();
        assert_eq!(&buf[..n], b"value");
        let mut list = [0u8; 256];
        let n = listxattr(proc, fd, &mut list).unwrap();
        assert!(list[..n].split(|&b| b == 0).any(|n| n == b"user.test"));
        removexattr(proc, fd, c"user.test").unwrap();
        let err = getxattr(proc, fd, c"user.test", &mut buf).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENODATA));
    }
}
