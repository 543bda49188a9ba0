//! Directory listing with `getdents64(2)` into a caller-owned buffer, and a
//! safe parser for the records it returns.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::cvt_size;

/// One record of a `getdents64` buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dirent<'a> {
    /// Inode number.
    pub ino: u64,
    /// Cookie of the *next* record, for `lseek(fd, off, SEEK_SET)`.
    pub off: u64,
    /// `DT_*` type.
    pub type_: u8,
    /// Name (the kernel NUL-terminates it inside the record).
    pub name: &'a CStr,
}

/// Offset of `d_name` in `struct linux_dirent64`.
const NAME_OFFSET: usize = 19;

/// Reads directory records from the position of `fd` into `buf` (its whole
/// length is used; it is not resized). Returns the number of bytes filled;
/// 0 means end of directory. Parse them with [`DirentIter`].
pub fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes for the whole call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            fd.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    cvt_size(ret as isize)
}

/// Iterates over the records `getdents64` wrote. A malformed record ends
/// the iteration instead of panicking.
#[derive(Debug, Clone)]
pub struct DirentIter<'a> {
    buf: &'a [u8],
}

impl<'a> DirentIter<'a> {
    /// Parses `buf`, the filled part of a `getdents64` buffer.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
}

fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    let bytes = buf.get(at..at + 8)?;
    Some(u64::from_ne_bytes(bytes.try_into().ok()?))
}

impl<'a> Iterator for DirentIter<'a> {
    type Item = Dirent<'a>;

    fn next(&mut self) -> Option<Dirent<'a>> {
        let buf = self.buf;
        let ino = u64_at(buf, 0)?;
        let off = u64_at(buf, 8)?;
        let reclen = usize::from(u16::from_ne_bytes([*buf.get(16)?, *buf.get(17)?]));
        let type_ = *buf.get(18)?;
        let Some(record) = buf.get(..reclen).filter(|_| reclen > NAME_OFFSET) else {
            self.buf = &[];
            return None;
        };
        let Ok(name) = CStr::from_bytes_until_nul(&record[NAME_OFFSET..]) else {
            self.buf = &[];
            return None;
        };
        self.buf = &buf[reclen..];
        Some(Dirent {
            ino,
            off,
            type_,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn record(ino: u64, off: u64, type_: u8, name: &[u8]) -> Vec<u8> {
        let reclen = (NAME_OFFSET + name.len() + 1).next_multiple_of(8);
        let mut r = Vec::new();
        r.extend_from_slice(&ino.to_ne_bytes());
        r.extend_from_slice(&off.to_ne_bytes());
        r.extend_from_slice(&(reclen as u16).to_ne_bytes());
        r.push(type_);
        r.extend_from_slice(name);
        r.resize(reclen, 0);
        r
    }

    #[test]
    fn parses_consecutive_records() {
        let mut buf = record(5, 1, libc::DT_DIR, b".");
        buf.extend(record(7, 2, libc::DT_REG, b"a-longer-name"));
        let all: Vec<_> = DirentIter::new(&buf).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].name, c".");
        assert_eq!(all[1].ino, 7);
        assert_eq!(all[1].off, 2);
        assert_eq!(all[1].type_, libc::DT_REG);
        assert_eq!(all[1].name, c"a-longer-name");
    }

    #[test]
    fn malformed_records_end_iteration() {
        let mut buf = record(5, 1, libc::DT_DIR, b"x");
        buf[16] = 200; // reclen past the end
        assert_eq!(DirentIter::new(&buf).count(), 0);
        let mut buf = record(5, 1, libc::DT_DIR, b"x");
        buf[16] = 3; // reclen shorter than the header
        buf[17] = 0;
        assert_eq!(DirentIter::new(&buf).count(), 0);
        assert_eq!(DirentIter::new(&buf[..10]).count(), 0);
        let mut buf = record(5, 1, libc::DT_DIR, b"1234");
        buf.truncate(NAME_OFFSET + 4); // no NUL inside the record
        buf[16] = (NAME_OFFSET + 4) as u8;
        assert_eq!(DirentIter::new(&buf).count(), 0);
    }

    #[test]
    fn lists_a_real_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("file"), b"").unwrap();
        let dir = std::fs::File::open(tmp.path()).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = getdents64(dir.as_fd(), &mut buf).unwrap();
        let mut names: Vec<_> = DirentIter::new(&buf[..n])
            .map(|d| d.name.to_bytes().to_vec())
            .collect();
        names.sort();
        assert_eq!(names, vec![b".".to_vec(), b"..".to_vec(), b"file".to_vec()]);
        assert_eq!(getdents64(dir.as_fd(), &mut buf).unwrap(), 0);
    }
}
