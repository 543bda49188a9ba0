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
        len: len as u32,
        error: 0,
        unique,
    };
    w.write_at(0, header.as_bytes())?;
    Ok(len)
}

/// Writes an error reply (`errno` positive).
pub(crate) fn reply_error<W: Writer>(w: &mut W, unique: u64, errno: i32) -> io::Result<usize> {
    let header = OutHeader {
        len: OUT_HEADER_LEN as u32,
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
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        atime: st.st_atime as u64,
        mtime: st.st_mtime as u64,
        ctime: st.st_ctime as u64,
        atimensec: st.st_atime_nsec as u32,
        mtimensec: st.st_mtime_nsec as u32,
        ctimensec: st.st_ctime_nsec as u32,
        mode: st.st_mode,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev as u32,
        blksize: st.st_blksize as u32,
        flags,
    }
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
        bsize: st.f_bsize as u32,
        namelen: st.f_namemax as u32,
        frsize: st.f_frsize as u32,
        ..Default::default()
    }
}
