//! Migration state of the passthrough filesystem: what the source writes.
//!
//! The section (format version [`FORMAT`]) holds, in this order:
//!
//! * the share root: its inode number, its file handle if it has one, and
//!   its lookup count (a destination on another shared directory is
//!   refused by comparing the first two);
//! * every other known node: id, lookup count, file type, inode number,
//!   path relative to the share (none for an inode without a name), file
//!   handle (none where the filesystem gives none);
//! * every open handle: id, node id, the host open flags in force;
//! * the next node and handle ids, so ids stay unique across the move.
//!
//! Paths are asked of the kernel (the `/proc/self/fd` link of the node's
//! descriptor), so they are current at the moment of saving, which happens
//! with the queues stopped; they are relative to the share root as the
//! daemon sees it, so they mean the same with and without a sandbox.
//! Nothing else travels: handles are reopened and positions do not matter
//! (every FUSE READ and WRITE carries its offset; directory offsets are
//! the host filesystem's cookies, valid on any descriptor of it).
//! [`super::restore`] reads the section back.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::inode_file::InodeFile;
use super::{Inode, PassthroughFs, ROOT};
use crate::filesystem::{StateError, StateWriter};
use crate::sys;
use crate::sys::file_handle::FileHandle;

/// Version of the passthrough section.
pub(super) const FORMAT: u32 = 1;

/// Bytes a saved node takes at least (for the reader's count check).
pub(super) const MIN_NODE_RECORD: usize = 8 + 8 + 4 + 8 + 1 + 1;

/// Bytes a saved handle takes.
pub(super) const HANDLE_RECORD: usize = 8 + 8 + 4;

/// Writes `handle` as one optional byte string: type, then opaque bytes.
pub(super) fn put_handle(out: &mut StateWriter, handle: Option<&FileHandle>) {
    let bytes = handle.map(|h| {
        let mut v = h.handle_type().to_le_bytes().to_vec();
        v.extend_from_slice(h.bytes());
        v
    });
    out.opt_bytes(bytes.as_deref());
}

/// Reads what [`put_handle`] wrote.
pub(super) fn parse_handle(bytes: Option<&[u8]>) -> Result<Option<FileHandle>, StateError> {
    let Some(bytes) = bytes else {
        return Ok(None);
    };
    let invalid = || StateError::Invalid {
        what: "file handle length",
        value: bytes.len() as u64,
    };
    let (ty, opaque) = bytes.split_first_chunk::<4>().ok_or_else(invalid)?;
    FileHandle::from_parts(i32::from_le_bytes(*ty), opaque)
        .map(Some)
        .ok_or_else(invalid)
}

/// Opens `path` (relative to the share, `/`-separated) beneath `root` one
/// component at a time, following no symlink and refusing `.` and `..`,
/// as an `O_PATH` descriptor.
pub(super) fn open_relative(root: BorrowedFd<'_>, path: &[u8]) -> io::Result<OwnedFd> {
    let mut at: Option<OwnedFd> = None;
    for component in path.split(|&b| b == b'/') {
        if component.is_empty() || component == b"." || component == b".." {
            return Err(sys::errno(libc::EINVAL));
        }
        let name = std::ffi::CString::new(component).map_err(|_| sys::errno(libc::EINVAL))?;
        let dir = at.as_ref().map_or(root, |fd| fd.as_fd());
        at = Some(sys::open::open_beneath(dir, &name, libc::O_PATH, 0)?);
    }
    at.ok_or_else(|| sys::errno(libc::EINVAL))
}

/// What the source knows of one inode.
struct Identity {
    ino: u64,
    path: Option<Vec<u8>>,
    handle: Option<FileHandle>,
}

impl PassthroughFs {
    /// Writes the passthrough section (see the module doc).
    pub(super) fn save_migration_state(&self, out: &mut StateWriter) -> Result<(), StateError> {
        let root = self.inode(ROOT).map_err(refused("the share root"))?;
        let root_fd = root.value().fd().map_err(refused("the share root"))?;
        let prefix = self
            .proc
            .current_path(root_fd.as_fd())
            .map_err(refused("the share root's path"))?;
        let root_id = self.identity(&root, &prefix, true);
        out.u32(FORMAT);
        out.u64(root_id.ino);
        put_handle(out, root_id.handle.as_ref());
        out.u64(root.refcount());
        let nodes: Vec<Inode> = self
            .inodes
            .snapshot()
            .into_iter()
            .filter(|n| n.id() != ROOT)
            .collect();
        out.u64(self.inodes.next_id());
        out.u64(nodes.len() as u64);
        let mut unnamed = 0usize;
        for node in &nodes {
            let id = self.identity(node, &prefix, false);
            unnamed += usize::from(id.path.is_none());
            out.u64(node.id().get());
            out.u64(node.refcount());
            out.u32(node.value().file_type);
            out.u64(id.ino);
            out.opt_bytes(id.path.as_deref());
            put_handle(out, id.handle.as_ref());
        }
        let handles = self.handles.snapshot();
        out.u64(self.handles.next_id());
        out.u64(handles.len() as u64);
        for (id, handle) in &handles {
            out.u64(id.get());
            out.u64(handle.inode.get());
            out.i32(handle.flags);
        }
        log::info!(
            "migration state saved: {} inodes ({unnamed} without a path), {} open handles",
            nodes.len() + 1,
            handles.len()
        );
        Ok(())
    }

    /// The identity of `node` as a destination can check it. A node whose
    /// inode cannot be reached any more is written with neither path nor
    /// handle (the destination then treats it as not found).
    fn identity(&self, node: &Inode, prefix: &[u8], is_root: bool) -> Identity {
        let lost = Identity {
            ino: 0,
            path: None,
            handle: None,
        };
        if matches!(node.value().file, InodeFile::Lost) {
            return lost;
        }
        let Ok(fd) = node.value().fd() else {
            return lost;
        };
        let Ok(st) = sys::stat::fstat(fd.as_fd()) else {
            return lost;
        };
        let handle = match &node.value().file {
            InodeFile::Handle { handle, .. } => Some(handle.clone()),
            _ if self.uses_file_handle_calls() => sys::file_handle::name_to_handle(fd.as_fd())
                .ok()
                .map(|(h, _)| h),
            _ => None,
        };
        let path = if is_root {
            Some(Vec::new())
        } else {
            self.path_of(fd.as_fd(), prefix, st.st_nlink, st.st_ino)
        };
        Identity {
            ino: st.st_ino,
            path,
            handle,
        }
    }

    /// The path of `fd` relative to the share (whose own path is
    /// `prefix`), or `None` when it has no name (`nlink` 0) or is no longer
    /// beneath the share. With `--migration-confirm-paths` the path is
    /// resolved again and must lead to inode `ino`.
    fn path_of(&self, fd: BorrowedFd<'_>, prefix: &[u8], nlink: u64, ino: u64) -> Option<Vec<u8>> {
        if nlink == 0 {
            return None;
        }
        let full = self.proc.current_path(fd).ok()?;
        let rel = relative_to(&full, prefix)?.to_vec();
        if self.cfg.migration.confirm_paths {
            let root = self.inode(ROOT).ok()?;
            let root_fd = root.value().fd().ok()?;
            let found = open_relative(root_fd.as_fd(), &rel).ok()?;
            let st = sys::stat::fstat(found.as_fd()).ok()?;
            if st.st_ino != ino {
                log::warn!(
                    "migration: {} now leads to another inode; not saving the path",
                    String::from_utf8_lossy(&rel)
                );
                return None;
            }
        }
        Some(rel)
    }
}

/// `full` relative to the directory `prefix` (both absolute, as the
/// kernel prints them), or `None` if it is not beneath it.
fn relative_to<'a>(full: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let rest = if prefix == b"/" {
        full.strip_prefix(b"/")?
    } else {
        full.strip_prefix(prefix)?.strip_prefix(b"/")?
    };
    (!rest.is_empty()).then_some(rest)
}

/// Turns a host error while saving into a refusal naming `what`.
fn refused(what: &'static str) -> impl Fn(io::Error) -> StateError {
    move |e| StateError::Refused(format!("cannot save migration state: {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_relative_to_the_share() {
        assert_eq!(
            relative_to(b"/srv/share/a/b", b"/srv/share"),
            Some(&b"a/b"[..])
        );
        assert_eq!(relative_to(b"/a/b", b"/"), Some(&b"a/b"[..]));
        assert_eq!(relative_to(b"/srv/shared/a", b"/srv/share"), None);
        assert_eq!(relative_to(b"/srv/share", b"/srv/share"), None);
        assert_eq!(relative_to(b"/elsewhere", b"/srv/share"), None);
    }

    #[test]
    fn a_handle_survives_the_codec() {
        let handle = FileHandle::from_parts(-3, &[1, 2, 3, 4, 5]).unwrap();
        let mut w = StateWriter::new();
        put_handle(&mut w, Some(&handle));
        put_handle(&mut w, None);
        let bytes = w.into_bytes();
        let mut r = crate::filesystem::StateReader::new(&bytes);
        assert_eq!(
            parse_handle(r.opt_bytes("h").unwrap()).unwrap(),
            Some(handle)
        );
        assert_eq!(parse_handle(r.opt_bytes("h").unwrap()).unwrap(), None);
    }

    #[test]
    fn a_handle_too_short_for_its_type_is_refused() {
        assert!(parse_handle(Some(&[1, 2])).is_err());
    }

    #[test]
    fn relative_paths_refuse_dot_dot_and_empty_components() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let root = sys::open::open_path(
            &std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap(),
            libc::O_PATH | libc::O_DIRECTORY,
        )
        .unwrap();
        assert!(open_relative(root.as_fd(), b"a").is_ok());
        for bad in [&b"../a"[..], b"a/..", b"a//", b"", b"./a"] {
            assert!(open_relative(root.as_fd(), bad).is_err(), "{bad:?}");
        }
    }
}
