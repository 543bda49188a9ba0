//! READDIR and READDIRPLUS: directory entries packed into the reply buffer.

use std::io;
use std::mem::size_of;

use zerocopy::IntoBytes;

use crate::filesystem::{DirEntry, DirSink, Entry, FileSystem, HandleId};
use crate::fuse::abi::{dirent_size, direntplus_size, Dirent, EntryOut, ReadIn};
use crate::fuse::args::{guest_len, Args};
use crate::fuse::io::Writer;
use crate::fuse::reply::{entry_out, finish, wire_len, OUT_HEADER_LEN};
use crate::fuse::server::{Request, Server};

/// Zero bytes for padding names to 8-byte alignment.
const PADDING: [u8; 8] = [0; 8];

/// Packs entries into the reply until `limit` bytes of payload are used.
struct DirWriter<'w, W> {
    w: &'w mut W,
    used: usize,
    limit: usize,
}

impl<W: Writer> DirSink for DirWriter<'_, W> {
    fn add(&mut self, dirent: &DirEntry<'_>, entry: Option<&Entry>) -> io::Result<bool> {
        let name_len = dirent.name.len();
        let size = match entry {
            Some(_) => direntplus_size(name_len),
            None => dirent_size(name_len),
        };
        if self.used + size > self.limit {
            return Ok(false);
        }
        if let Some(entry) = entry {
            let out: EntryOut = entry_out(entry);
            self.w.write_all(out.as_bytes())?;
        }
        let header = Dirent {
            ino: dirent.ino,
            off: dirent.offset,
            namelen: wire_len(name_len)?,
            type_: dirent.type_,
        };
        self.w.write_all(header.as_bytes())?;
        self.w.write_all(dirent.name)?;
        let entry_len = size_of::<Dirent>() + name_len;
        let pad = size - entry_len - entry.map_or(0, |_| size_of::<EntryOut>());
        self.w.write_all(&PADDING[..pad])?;
        self.used += size;
        Ok(true)
    }
}

impl<F: FileSystem> Server<F> {
    pub(crate) fn do_readdir<W: Writer>(
        &self,
        req: &Request,
        mut args: Args<'_>,
        w: &mut W,
        plus: bool,
    ) -> io::Result<usize> {
        let read: ReadIn = args.obj()?;
        w.seek_to(OUT_HEADER_LEN)?;
        let limit = guest_len(read.size)?.min(w.available_bytes());
        let mut sink = DirWriter { w, used: 0, limit };
        self.fs.readdir(
            &req.ctx,
            req.node(),
            HandleId::from_raw(read.fh),
            read.offset,
            plus,
            &mut sink,
        )?;
        finish(w, req.unique)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuse::io::mem::VecWriter;

    #[test]
    fn entries_are_padded_and_stop_at_the_limit() {
        let mut w = VecWriter::new(1024);
        let mut sink = DirWriter {
            w: &mut w,
            used: 0,
            limit: 72,
        };
        let dirent = |name: &'static [u8]| DirEntry {
            ino: 5,
            offset: 1,
            type_: 8,
            name,
        };
        assert!(sink.add(&dirent(b"abc"), None).unwrap());
        assert!(sink.add(&dirent(b"abcdefghi"), None).unwrap());
        assert!(!sink.add(&dirent(b"x"), None).unwrap());
        assert_eq!(sink.used, 32 + 40);
        assert_eq!(w.written().len(), 72);
    }
}
