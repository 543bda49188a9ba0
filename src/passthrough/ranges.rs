//! Offsets and ranges of open files: LSEEK, FALLOCATE, COPY_FILE_RANGE.

use std::io;
use std::os::fd::AsFd;

use crate::filesystem::{HandleId, NodeId, Whence};
use crate::sys;

use super::PassthroughFs;

/// Largest COPY_FILE_RANGE answer (it is reported in 32 bits).
const MAX_COPY: u64 = (u32::MAX as u64) & !0xfff;

impl PassthroughFs {
    /// LSEEK (including SEEK_DATA / SEEK_HOLE).
    pub(super) fn do_lseek(
        &self,
        inode: NodeId,
        handle: HandleId,
        offset: u64,
        whence: Whence,
    ) -> io::Result<u64> {
        let h = self.file_handle(inode, handle)?;
        let whence = match whence {
            Whence::Set => libc::SEEK_SET,
            Whence::Cur => libc::SEEK_CUR,
            Whence::End => libc::SEEK_END,
            Whence::Data => libc::SEEK_DATA,
            Whence::Hole => libc::SEEK_HOLE,
        };
        sys::datapath::lseek(h.fd.as_fd(), offset, whence)
    }

    /// FALLOCATE with the guest's mode bits.
    pub(super) fn do_fallocate(
        &self,
        inode: NodeId,
        handle: HandleId,
        mode: u32,
        offset: u64,
        length: u64,
    ) -> io::Result<()> {
        self.check_writable()?;
        let h = self.file_handle(inode, handle)?;
        let mode = i32::try_from(mode).map_err(|_| sys::errno(libc::EOPNOTSUPP))?;
        sys::datapath::fallocate(h.fd.as_fd(), mode, offset, length)
    }

    /// COPY_FILE_RANGE between two handles: `(inode, handle, offset)`.
    pub(super) fn do_copy_file_range(
        &self,
        (inode_in, handle_in, off_in): (NodeId, HandleId, u64),
        (inode_out, handle_out, off_out): (NodeId, HandleId, u64),
        len: u64,
        flags: u64,
    ) -> io::Result<usize> {
        self.check_writable()?;
        let src = self.file_handle(inode_in, handle_in)?;
        let dst = self.file_handle(inode_out, handle_out)?;
        let flags = u32::try_from(flags).map_err(|_| sys::errno(libc::EINVAL))?;
        let len = usize::try_from(len.min(MAX_COPY)).unwrap_or(usize::MAX);
        sys::datapath::copy_file_range(src.fd.as_fd(), off_in, dst.fd.as_fd(), off_out, len, flags)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use crate::filesystem::{FileSystem, NodeId, Whence};

    const RDWR: u32 = libc::O_RDWR as u32;

    #[test]
    fn lseek_fallocate_and_copy_file_range() {
        let (_tmp, fs) = new_fs();
        let (a, ha, _) = fs
            .create(&ctx(), NodeId::ROOT, name(c"a"), 0o644, RDWR, 0)
            .unwrap();
        let (b, hb, _) = fs
            .create(&ctx(), NodeId::ROOT, name(c"b"), 0o644, RDWR, 0)
            .unwrap();
        write_all(&fs, a.inode, ha, 0, b"0123456789");
        let end = fs.lseek(&ctx(), a.inode, ha, 0, Whence::End);
        assert_eq!(end.unwrap(), 10);
        fs.fallocate(&ctx(), b.inode, hb, 0, 0, 8192).unwrap();
        let (st, _) = fs.getattr(&ctx(), b.inode, Some(hb)).unwrap();
        assert_eq!(st.st_size, 8192);
        let n = fs
            .copy_file_range(&ctx(), a.inode, ha, 2, b.inode, hb, 0, 3, 0)
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(read_all(&fs, b.inode, hb, 0, 3), b"234");
    }
}
