//! Test fixtures: a passthrough over a temporary directory, and in-memory
//! implementations of the zero-copy reader/writer and the directory sink.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;

use tempfile::TempDir;

use super::{Config, PassthroughFs};
use crate::filesystem::{
    Context, DirEntry, DirSink, Entry, FileSystem, HandleId, Name, NodeId, ZeroCopyReader,
    ZeroCopyWriter,
};

/// A directory entry name for a test; panics if `n` is not a valid name.
pub fn name(n: &CStr) -> Name<'_> {
    Name::new(n).expect("valid test name")
}

/// A root caller.
pub fn ctx() -> Context {
    Context::default()
}

/// An unprivileged guest caller with `uid` and `gid`.
pub fn caller(uid: u32, gid: u32) -> Context {
    Context {
        uid,
        gid,
        pid: 1,
        supp_group: None,
        epoch: None,
    }
}

/// A passthrough over a fresh temporary directory, default config.
pub fn new_fs() -> (TempDir, PassthroughFs) {
    new_fs_with(|_| {})
}

/// Like [`new_fs`] with the config adjusted by `f`.
pub fn new_fs_with(f: impl FnOnce(&mut Config)) -> (TempDir, PassthroughFs) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config {
        root_dir: tmp.path().to_path_buf(),
        ..Config::default()
    };
    f(&mut cfg);
    let fs = PassthroughFs::new(cfg).expect("PassthroughFs::new");
    (tmp, fs)
}

fn file_of(fd: BorrowedFd<'_>) -> io::Result<File> {
    Ok(File::from(fd.try_clone_to_owned()?))
}

/// Writes `data` at `off` through handle `h`; returns bytes written.
pub fn write_all(fs: &PassthroughFs, ino: NodeId, h: HandleId, off: u64, data: &[u8]) -> usize {
    let mut src = VecReader::new(data);
    let len = u32::try_from(data.len()).expect("small test payload");
    fs.write(&ctx(), ino, h, &mut src, len, off, false)
        .expect("write")
}

/// Reads up to `size` bytes at `off` through handle `h`.
pub fn read_all(fs: &PassthroughFs, ino: NodeId, h: HandleId, off: u64, size: u32) -> Vec<u8> {
    let mut dst = VecWriter::new(size as usize);
    fs.read(&ctx(), ino, h, &mut dst, size, off).expect("read");
    dst.data
}

/// READ destination collecting into a `Vec`, with a capacity.
pub struct VecWriter {
    pub data: Vec<u8>,
    pub cap: usize,
}

impl VecWriter {
    pub fn new(cap: usize) -> Self {
        Self {
            data: Vec::new(),
            cap,
        }
    }
}

impl ZeroCopyWriter for VecWriter {
    fn read_from_file_at(
        &mut self,
        fd: BorrowedFd<'_>,
        count: usize,
        offset: u64,
    ) -> io::Result<usize> {
        let mut buf = vec![0u8; count.min(self.available_bytes())];
        let n = file_of(fd)?.read_at(&mut buf, offset)?;
        self.data.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn available_bytes(&self) -> usize {
        self.cap - self.data.len()
    }
}

/// WRITE source over a `Vec`.
pub struct VecReader {
    pub data: Vec<u8>,
    pub pos: usize,
}

impl VecReader {
    pub fn new(data: &[u8]) -> Self {
        Self {
            data: data.to_vec(),
            pos: 0,
        }
    }
}

impl ZeroCopyReader for VecReader {
    fn write_to_file_at(
        &mut self,
        fd: BorrowedFd<'_>,
        count: usize,
        offset: Option<u64>,
    ) -> io::Result<usize> {
        let end = self.pos + count.min(self.remaining_bytes());
        let chunk = &self.data[self.pos..end];
        let mut f = file_of(fd)?;
        let n = match offset {
            Some(off) => f.write_at(chunk, off)?,
            None => f.write(chunk)?,
        };
        self.pos += n;
        Ok(n)
    }

    fn remaining_bytes(&self) -> usize {
        self.data.len() - self.pos
    }
}

/// One entry a [`VecSink`] accepted.
#[derive(Debug)]
pub struct SunkEntry {
    pub name: Vec<u8>,
    pub offset: u64,
    pub type_: u32,
    pub entry: Option<Entry>,
}

/// Directory sink that accepts at most `limit` entries.
pub struct VecSink {
    pub entries: Vec<SunkEntry>,
    pub limit: usize,
}

impl VecSink {
    pub fn new(limit: usize) -> Self {
        Self {
            entries: Vec::new(),
            limit,
        }
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<_> = self
            .entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.name).into_owned())
            .collect();
        v.sort();
        v
    }
}

impl DirSink for VecSink {
    fn add(&mut self, dirent: &DirEntry<'_>, entry: Option<&Entry>) -> io::Result<bool> {
        if self.entries.len() >= self.limit {
            return Ok(false);
        }
        self.entries.push(SunkEntry {
            name: dirent.name.to_vec(),
            offset: dirent.offset,
            type_: dirent.type_,
            entry: entry.copied(),
        });
        Ok(true)
    }
}
