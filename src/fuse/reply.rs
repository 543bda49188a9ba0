//! Encoding replies: the reply header, success payloads, errors, and the
//! conversions from filesystem values to ABI structs.

use std::io;
use std::mem::size_of;
use std::time::Duration;

use zerocopy::IntoBytes;

use super::abi::{Attr, EntryOut, Kstatfs, OutHeader};
use super::io::Writer;
use crate::filesystem::Entry;

/// Size of the reply header that starts every reply.
pub(crate) const OUT_HEADER_LEN: usize = size_of::<OutHeader>();

/// A length in a reply's `u32` field; `EOVERFLOW` if it does not fit
/// (replies are bounded by the guest's buffers, far below 4 GiB).
pub(crate) fn wire_len(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))
}

/// A host value in a 32-bit attribute field, saturated if it does not fit
/// (the host's `stat` fields are wider than FUSE's; the values the kernel
/// produces for these fields all fit).
fn saturating_u32<T: TryInto<u32>>(value: T) -> u32 {
    value.try_into().unwrap_or(u32::MAX)
}

/// Writes a successful reply made of `parts`; returns the reply length.
pub(crate) fn reply_ok<W: Writer>(w: &mut W, unique: u64, parts: &[&[u8]]) -> io::Result<usize> {
    w.seek_to(OUT_HEADER_LEN)?;
    for part in parts {
        w.write_all(part)?;
    }
    finish(w, unique)
}

/// Writes the header of a reply whose payload is already in place after it.
pub(crate) fn finish<W: Writer>(w: &mut W, unique: u64) -> io::Result<usize> {
    let len = w.position();
    let header = OutHeader {
        len: wire_len(len)?,
        error: 0,
        unique,
    };
    w.write_at(0, header.as_bytes())?;
    Ok(len)
}

/// Writes an error reply (`errno` positive).
pub(crate) fn reply_error<W: Writer>(w: &mut W, unique: u64, errno: i32) -> io::Result<usize> {
    let header = OutHeader {
        len: wire_len(OUT_HEADER_LEN)?,
        error: -errno,
        unique,
    };
    w.seek_to(0)?;
    w.write_all(header.as_bytes())?;
    Ok(OUT_HEADER_LEN)
}

/// Whole seconds and the nanosecond remainder of a timeout.
pub(crate) fn split_duration(d: Duration) -> (u64, u32) {
    (d.as_secs(), d.subsec_nanos())
}

/// Host attributes in the wire format.
pub(crate) fn attr_from_stat(st: &libc::stat64, flags: u32) -> Attr {
    Attr {
        ino: st.st_ino,
        // Sizes are never negative; times before 1970 are, and the wire
        // carries them as the same bits (the kernel reads them signed).
        size: st.st_size.cast_unsigned(),
        blocks: st.st_blocks.cast_unsigned(),
        atime: st.st_atime.cast_unsigned(),
        mtime: st.st_mtime.cast_unsigned(),
        ctime: st.st_ctime.cast_unsigned(),
        atimensec: saturating_u32(st.st_atime_nsec),
        mtimensec: saturating_u32(st.st_mtime_nsec),
        ctimensec: saturating_u32(st.st_ctime_nsec),
        mode: st.st_mode,
        nlink: saturating_u32(st.st_nlink),
        uid: st.st_uid,
        gid: st.st_gid,
        // The low 32 bits of glibc's 64-bit encoding are the kernel's
        // `new_encode_dev` for every device number FUSE can carry.
        rdev: low_u32(st.st_rdev),
        blksize: saturating_u32(st.st_blksize),
        flags,
    }
}

/// The low 32 bits of `value`, for wire fields that split or narrow a
/// 64-bit value by design (INIT's `flags`/`flags2`, `rdev`).
pub(crate) fn low_u32(value: u64) -> u32 {
    let [a, b, c, d, ..] = value.to_le_bytes();
    u32::from_le_bytes([a, b, c, d])
}

/// A LOOKUP-style answer in the wire format.
pub(crate) fn entry_out(entry: &Entry) -> EntryOut {
    let (entry_valid, entry_valid_nsec) = split_duration(entry.entry_timeout);
    let (attr_valid, attr_valid_nsec) = split_duration(entry.attr_timeout);
    EntryOut {
        nodeid: entry.inode.get(),
        generation: entry.generation,
        entry_valid,
        attr_valid,
        entry_valid_nsec,
        attr_valid_nsec,
        attr: attr_from_stat(&entry.attr, entry.attr_flags),
    }
}

/// Host filesystem statistics in the wire format.
pub(crate) fn kstatfs(st: &libc::statvfs64) -> Kstatfs {
    Kstatfs {
        blocks: st.f_blocks,
        bfree: st.f_bfree,
        bavail: st.f_bavail,
        files: st.f_files,
        ffree: st.f_ffree,
        bsize: saturating_u32(st.f_bsize),
        namelen: saturating_u32(st.f_namemax),
        frsize: saturating_u32(st.f_frsize),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_u32_keeps_the_low_half() {
        assert_eq!(low_u32(0x1234_5678_9abc_def0), 0x9abc_def0);
        assert_eq!(low_u32(0x1234_5678_9abc_def0 >> 32), 0x1234_5678);
    }

    #[test]
    fn times_before_1970_keep_their_bits_and_wide_fields_saturate() {
        // SAFETY: `stat64` is plain old data; all-zero bytes are a valid value.
        let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
        st.st_mtime = -1;
        st.st_nlink = u64::from(u32::MAX) + 5;
        st.st_rdev = libc::makedev(8, 1);
        let attr = attr_from_stat(&st, 0);
        assert_eq!(attr.mtime.cast_signed(), -1);
        assert_eq!(attr.nlink, u32::MAX);
        assert_eq!(attr.rdev, (8 << 8) | 1);
    }

    #[test]
    fn reply_lengths_beyond_u32_are_eoverflow() {
        assert_eq!(wire_len(16).unwrap(), 16);
        let err = wire_len(usize::MAX).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EOVERFLOW));
    }
}
