//! Migration state of the passthrough filesystem: what the destination
//! does with it.
//!
//! Loading happens in two steps. First every saved inode is found again
//! (by path or by file handle, as `--migration-mode` says) and every open
//! handle reopened, without touching the tables; an inode found to be a
//! different one (another inode number or type, or with
//! `--migration-verify-handles` another file handle) counts as not found,
//! so the guest never reaches a different file under an old node id. Only
//! when that succeeded (or `--migration-on-error=guest-error` turned the
//! failures into nodes that answer `EIO`) are the tables filled, so an
//! aborted load leaves the daemon as it was. Opening only reads the share:
//! nothing on it changes (`O_TRUNC`, `O_CREAT` and `O_EXCL` are dropped
//! from the reopened handles' flags).

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

use super::inode_file::{self, InodeFile};
use super::inode_table::InodeKey;
use super::migration::{
    open_relative, parse_handle, relative_to, FORMAT, HANDLE_RECORD, MIN_NODE_RECORD,
};
use super::{key_of, Handle, InodeData, MigrationMode, MigrationOnError, PassthroughFs, ROOT};
use crate::filesystem::{HandleId, NodeId, StateError, StateReader};
use crate::sys;
use crate::sys::file_handle::FileHandle;

/// One saved node as read from the state.
struct SavedNode<'a> {
    id: u64,
    refcount: u64,
    file_type: u32,
    ino: u64,
    path: Option<&'a [u8]>,
    handle: Option<FileHandle>,
}

impl SavedNode<'_> {
    fn describe(&self) -> String {
        match self.path {
            Some(p) => format!("inode {} ({})", self.id, String::from_utf8_lossy(p)),
            None => format!("inode {} (no path)", self.id),
        }
    }
}

/// A node ready to go into the table.
struct Found {
    id: u64,
    key: Option<InodeKey>,
    refcount: u64,
    data: InodeData,
}

impl PassthroughFs {
    /// Reads the passthrough section and fills the tables from it.
    pub(super) fn load_migration_state(
        &self,
        input: &mut StateReader<'_>,
    ) -> Result<(), StateError> {
        let version = input.u32("passthrough format")?;
        if version != FORMAT {
            return Err(StateError::Version {
                what: "passthrough",
                found: version,
                supported: FORMAT,
            });
        }
        if self.inodes.len() != 1 || self.handles.len() != 0 {
            return Err(StateError::Refused(
                "this daemon already serves a guest; a state can only be loaded before".into(),
            ));
        }
        let root_refcount = self.check_root(input)?;
        let next_node = input.u64("next node id")?;
        let count = input.count("node count", MIN_NODE_RECORD)?;
        let saved_nodes = (0..count)
            .map(|_| read_node(input))
            .collect::<Result<Vec<_>, _>>()?;
        let next_handle = input.u64("next handle id")?;
        let saved_handles = read_handles(input)?;
        input.finish()?;
        let opened: HashSet<u64> = saved_handles.iter().map(|h| h.inode).collect();
        let mut found = Vec::with_capacity(count);
        let mut lost = 0usize;
        for saved in &saved_nodes {
            let node = self.find(saved, opened.contains(&saved.id))?;
            lost += usize::from(node.key.is_none());
            found.push(node);
        }
        let handles = self.reopen_handles(&saved_handles, &found)?;
        let (nodes, open) = (found.len(), handles.len());
        self.install(root_refcount, next_node, found, next_handle, handles)?;
        log::info!(
            "migration state loaded: {} inodes ({lost} not found or removed), {open} open handles",
            nodes + 1
        );
        Ok(())
    }

    /// Reads the saved root and checks it is this share's root; returns
    /// its lookup count.
    fn check_root(&self, input: &mut StateReader<'_>) -> Result<u64, StateError> {
        let ino = input.u64("root inode")?;
        let handle = parse_handle(input.opt_bytes("root handle")?)?;
        let refcount = input.u64("root lookup count")?;
        let root = self.inode(ROOT).map_err(host("the share root"))?;
        let fd = root.value().fd().map_err(host("the share root"))?;
        let st = sys::stat::fstat(fd.as_fd()).map_err(host("the share root"))?;
        let same_handle = match &handle {
            Some(saved) if self.cfg.migration.verify_handles => {
                sys::file_handle::name_to_handle(fd.as_fd()).is_ok_and(|(here, _)| *saved == here)
            }
            _ => true,
        };
        if st.st_ino != ino || !same_handle {
            return Err(StateError::Refused(format!(
                "the state was saved from a different shared directory (root inode {ino}, \
                 here {})",
                st.st_ino
            )));
        }
        Ok(refcount)
    }

    /// Finds the inode of `saved` again, or makes a lost node of it
    /// (guest-error) or fails (abort). An inode that had no name left at
    /// save time and no open handle (the guest removed it and has not sent
    /// FORGET yet) is gone on the source too: it answers `ESTALE` here,
    /// whatever `--migration-on-error` says, as it would have there.
    fn find(&self, saved: &SavedNode<'_>, has_handles: bool) -> Result<Found, StateError> {
        match self.locate(saved, has_handles) {
            Ok(fd) => {
                let st = sys::stat::statx_with_mount(fd.as_fd()).map_err(host("a found inode"))?;
                let named = inode_file::name(fd.as_fd(), self.handle_policy);
                let file = inode_file::hold_named(
                    fd,
                    named.as_ref(),
                    saved.file_type,
                    self.handle_policy,
                    &self.mounts,
                    &self.proc,
                )
                .map_err(host("a found inode"))?;
                Ok(Found {
                    id: saved.id,
                    key: Some(key_of(&st)),
                    refcount: saved.refcount,
                    data: InodeData {
                        file,
                        file_type: saved.file_type,
                    },
                })
            }
            Err(reason) if saved.path.is_none() && !has_handles => {
                log::debug!("migration: {} was removed ({reason})", saved.describe());
                Ok(lost_node(saved, libc::ESTALE))
            }
            Err(reason) => self.not_found(saved, &reason),
        }
    }

    fn not_found(&self, saved: &SavedNode<'_>, reason: &str) -> Result<Found, StateError> {
        let what = format!("{} cannot be found again: {reason}", saved.describe());
        match self.cfg.migration.on_error {
            MigrationOnError::Abort => Err(StateError::Refused(what)),
            MigrationOnError::GuestError => {
                log::warn!("migration: {what}; the guest gets EIO on it");
                Ok(lost_node(saved, libc::EIO))
            }
        }
    }

    /// An `O_PATH` descriptor of the saved inode, checked to be the same
    /// inode, or why there is none.
    fn locate(&self, saved: &SavedNode<'_>, has_handles: bool) -> Result<OwnedFd, String> {
        let by_handle = || -> Result<OwnedFd, String> {
            let handle = saved.handle.as_ref().ok_or("no file handle was saved")?;
            let fd = sys::file_handle::open_by_handle(self.root_sync.as_fd(), handle, libc::O_PATH)
                .map_err(|e| format!("by file handle: {e}"))?;
            self.beneath_share(&fd, has_handles)?;
            self.same_inode(saved, fd, false)
        };
        let by_path = || -> Result<OwnedFd, String> {
            let path = saved.path.ok_or("it had no path (unlinked)")?;
            let root = self.inode(ROOT).map_err(|e| e.to_string())?;
            let root_fd = root.value().fd().map_err(|e| e.to_string())?;
            let fd = open_relative(root_fd.as_fd(), path).map_err(|e| format!("by path: {e}"))?;
            self.same_inode(saved, fd, self.cfg.migration.verify_handles)
        };
        match self.cfg.migration.mode {
            MigrationMode::FindPaths => by_path(),
            // Inodes of other mounts have no handle the share's mount
            // opens: those fall back to their path, checked the same way.
            MigrationMode::FileHandles => by_handle()
                .or_else(|first| by_path().map_err(|second| format!("{first}; {second}"))),
        }
    }

    /// Fails unless `fd` (opened by file handle) is beneath the share: a
    /// handle names an inode anywhere on its filesystem, and neither the
    /// state nor the host's renames may take the guest outside the share.
    /// A file with a name must be reachable by that name beneath the share
    /// (what the kernel prints for an inode outside the daemon's mount
    /// cannot be trusted to show it); an unlinked one has none, and is
    /// taken only when the guest has it open (`has_handles`): the guest
    /// was reading it on the source already.
    fn beneath_share(&self, fd: &OwnedFd, has_handles: bool) -> Result<(), String> {
        let st = sys::stat::fstat(fd.as_fd()).map_err(|e| e.to_string())?;
        if st.st_nlink == 0 {
            return if has_handles {
                Ok(())
            } else {
                Err("it is unlinked and not open".into())
            };
        }
        let root = self.inode(ROOT).map_err(|e| e.to_string())?;
        let root_fd = root.value().fd().map_err(|e| e.to_string())?;
        let prefix = self
            .proc
            .current_path(root_fd.as_fd())
            .map_err(|e| e.to_string())?;
        let full = self
            .proc
            .current_path(fd.as_fd())
            .map_err(|e| e.to_string())?;
        let outside = || {
            format!(
                "its file handle leads outside the shared directory (to {})",
                String::from_utf8_lossy(&full)
            )
        };
        let rel = relative_to(&full, &prefix).ok_or_else(outside)?;
        let by_name = open_relative(root_fd.as_fd(), rel).map_err(|_| outside())?;
        let named = sys::stat::fstat(by_name.as_fd()).map_err(|e| e.to_string())?;
        if (named.st_dev, named.st_ino) == (st.st_dev, st.st_ino) {
            Ok(())
        } else {
            Err(outside())
        }
    }

    /// `fd` if it is the inode `saved` describes (inode number and type,
    /// and the file handle when `verify_handle`).
    fn same_inode(
        &self,
        saved: &SavedNode<'_>,
        fd: OwnedFd,
        verify_handle: bool,
    ) -> Result<OwnedFd, String> {
        let st = sys::stat::fstat(fd.as_fd()).map_err(|e| e.to_string())?;
        let file_type = st.st_mode & libc::S_IFMT;
        if st.st_ino != saved.ino || file_type != saved.file_type {
            return Err(format!(
                "found inode {} of type {file_type:o}, saved was inode {} of type {:o}",
                st.st_ino, saved.ino, saved.file_type
            ));
        }
        if verify_handle {
            let here = sys::file_handle::name_to_handle(fd.as_fd())
                .map_err(|e| format!("no file handle to verify: {e}"))?;
            if saved.handle.as_ref() != Some(&here.0) {
                return Err("the file handle differs (another file with that number)".into());
            }
        }
        Ok(fd)
    }

    /// Reopens each saved handle on its (found) node.
    fn reopen_handles(
        &self,
        saved: &[SavedHandle],
        nodes: &[Found],
    ) -> Result<Vec<(u64, Handle)>, StateError> {
        let by_id: HashMap<u64, &InodeData> = nodes.iter().map(|n| (n.id, &n.data)).collect();
        let mut out = Vec::with_capacity(saved.len());
        for &SavedHandle { id, inode, flags } in saved {
            match self.reopen(&by_id, inode, flags) {
                Ok(handle) => out.push((id, handle)),
                Err(e) if self.cfg.migration.on_error == MigrationOnError::GuestError => {
                    log::warn!("migration: handle {id} of inode {inode} not reopened ({e}); the guest gets EBADF on it");
                }
                Err(e) => {
                    return Err(StateError::Refused(format!(
                        "handle {id} of inode {inode} cannot be reopened: {e}"
                    )))
                }
            }
        }
        Ok(out)
    }

    fn reopen(
        &self,
        nodes: &HashMap<u64, &InodeData>,
        inode: u64,
        flags: i32,
    ) -> io::Result<Handle> {
        let root = self.inode(ROOT)?;
        let data = if inode == ROOT.get() {
            root.value()
        } else {
            *nodes.get(&inode).ok_or_else(|| sys::errno(libc::EBADF))?
        };
        let path_fd = data.fd()?;
        // Reopening must change nothing on the share.
        let reopen_flags =
            flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_TMPFILE);
        let fd = self.proc.reopen(path_fd.as_fd(), reopen_flags)?;
        Ok(Handle {
            inode: NodeId::from_raw(inode),
            fd,
            flags,
            dir: data.is_dir().then(|| Mutex::new(Vec::new())),
        })
    }

    /// Fills the tables; nothing can fail here except a duplicate id.
    fn install(
        &self,
        root_refcount: u64,
        next_node: u64,
        nodes: Vec<Found>,
        next_handle: u64,
        handles: Vec<(u64, Handle)>,
    ) -> Result<(), StateError> {
        let duplicate = |what, id| StateError::Invalid { what, value: id };
        // Checked before anything is installed, so a refusal changes nothing.
        let mut ids: Vec<u64> = nodes.iter().map(|n| n.id).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(duplicate("node id (twice)", w[0]));
        }
        if let Some(&root) = ids.iter().find(|&&id| id == ROOT.get() || id == 0) {
            return Err(duplicate("node id", root));
        }
        let mut hids: Vec<u64> = handles.iter().map(|h| h.0).collect();
        hids.sort_unstable();
        if hids.first() == Some(&0) {
            return Err(duplicate("handle id", 0));
        }
        if let Some(w) = hids.windows(2).find(|w| w[0] == w[1]) {
            return Err(duplicate("handle id (twice)", w[0]));
        }
        self.inodes.set_root_refcount(root_refcount);
        for n in nodes {
            self.note_device(n.key.map(|k| k.dev));
            self.inodes
                .restore(NodeId::from_raw(n.id), n.key, n.refcount, n.data);
        }
        self.inodes.raise_next_id(next_node);
        for (id, handle) in handles {
            self.handles.restore(HandleId::from_raw(id), handle);
        }
        self.handles.raise_next_id(next_handle);
        Ok(())
    }
}

/// One saved open handle.
struct SavedHandle {
    id: u64,
    inode: u64,
    flags: i32,
}

fn read_handles(input: &mut StateReader<'_>) -> Result<Vec<SavedHandle>, StateError> {
    let count = input.count("handle count", HANDLE_RECORD)?;
    (0..count)
        .map(|_| {
            Ok(SavedHandle {
                id: input.u64("handle id")?,
                inode: input.u64("handle node")?,
                flags: input.i32("handle flags")?,
            })
        })
        .collect()
}

/// A node that stands for no inode here and answers `errno` on every use.
fn lost_node(saved: &SavedNode<'_>, errno: i32) -> Found {
    Found {
        id: saved.id,
        key: None,
        refcount: saved.refcount,
        data: InodeData {
            file: InodeFile::Lost(errno),
            file_type: saved.file_type,
        },
    }
}

fn read_node<'a>(input: &mut StateReader<'a>) -> Result<SavedNode<'a>, StateError> {
    Ok(SavedNode {
        id: input.u64("node id")?,
        refcount: input.u64("node lookup count")?,
        file_type: input.u32("node type")?,
        ino: input.u64("node inode number")?,
        path: input.opt_bytes("node path")?,
        handle: parse_handle(input.opt_bytes("node handle")?)?,
    })
}

/// Turns a host error on the destination into a refusal naming `what`.
fn host(what: &'static str) -> impl Fn(io::Error) -> StateError {
    move |e| StateError::Refused(format!("{what}: {e}"))
}
