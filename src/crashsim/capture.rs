//! Capturing: what a request is about to change is recorded in the journal
//! before its host call, and durability points commit.
//!
//! A capture that fails (the object vanished, the host refused a read) is
//! logged and skipped: the guest's request runs either way, and at worst
//! the crash keeps that change.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::host::{self, Stat};
use super::journal::{AttrImage, CommitKinds, Journal, Tombstone, BLOCK};
use super::CrashSim;
use crate::filesystem::{HostObjects, Name, NodeId};

/// What a removal does to its victim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Victim {
    /// UNLINK, RMDIR, or the target a RENAME replaces: the name goes.
    Removed,
    /// The source of a RENAME: the object lives on under another name.
    Moved,
}

fn skipped(what: &str, err: &io::Error) {
    log::debug!("crash-sim: cannot capture {what}: {err}");
}

impl CrashSim {
    fn object_stat(
        &self,
        fs: &impl HostObjects,
        inode: NodeId,
    ) -> io::Result<(std::os::fd::OwnedFd, Stat)> {
        let pin = fs.object_fd(inode)?;
        let st = host::stat(pin.as_fd())?;
        Ok((pin, st))
    }

    /// The attributes of `fd` if `epoch` has not captured them yet.
    fn attrs_needed(
        &self,
        j: &Journal<OwnedFd>,
        epoch: u64,
        fd: BorrowedFd<'_>,
        st: &Stat,
    ) -> io::Result<Option<AttrImage>> {
        let captured = j
            .objects
            .get(&st.id)
            .is_some_and(|o| o.attrs.has_epoch(epoch));
        match captured {
            true => Ok(None),
            false => self.host.attrs(fd, st).map(Some),
        }
    }

    /// Node `inode`'s data is about to change in bytes `start..end` (to the
    /// end of the file for a truncation) by a request of `epoch`.
    pub(super) fn capture_data(
        &self,
        fs: &impl HostObjects,
        inode: NodeId,
        epoch: u64,
        start: u64,
        end: u64,
    ) {
        if let Err(err) = self.try_capture_data(fs, inode, epoch, start, end) {
            skipped("a data change", &err);
        }
    }

    fn try_capture_data(
        &self,
        fs: &impl HostObjects,
        inode: NodeId,
        epoch: u64,
        start: u64,
        end: u64,
    ) -> io::Result<()> {
        let (pin, st) = self.object_stat(fs, inode)?;
        if !st.is_reg() {
            return Ok(());
        }
        let mut j = self.journal();
        // Only what exists now can be lost: bytes past the end are cut off
        // by putting the size back.
        let end = end.min(st.size);
        let mut needed = Vec::new();
        if start < end {
            let (first, last) = (start / BLOCK, (end - 1) / BLOCK);
            if (last - first + 1).saturating_mul(BLOCK) > j.limit() {
                j.note_writeback();
            } else {
                needed = (first..=last)
                    .filter(|&i| j.needs_block(st.id, i, epoch))
                    .collect();
            }
        }
        let file = match needed.is_empty() {
            true => None,
            false => Some(self.host.reopen(pin.as_fd(), libc::O_RDONLY)?),
        };
        let attrs = self.attrs_needed(&j, epoch, pin.as_fd(), &st)?;
        j.object(st.id, || Ok::<_, io::Error>((pin, false)))?;
        j.capture_size(st.id, epoch, || Ok::<_, io::Error>(st.size))?;
        if let Some(file) = file {
            for index in needed {
                let image = host::read_block(file.as_fd(), index)?;
                j.put_block(st.id, index, epoch, image);
            }
        }
        if let Some(attrs) = attrs {
            j.capture_attrs(st.id, epoch, || Ok::<_, io::Error>(attrs))?;
        }
        self.after_capture(&mut j);
        Ok(())
    }

    /// Node `inode`'s attributes are about to change.
    pub(super) fn capture_attrs(&self, fs: &impl HostObjects, inode: NodeId, epoch: u64) {
        let captured = self.object_stat(fs, inode).and_then(|(pin, st)| {
            let mut j = self.journal();
            let attrs = self.attrs_needed(&j, epoch, pin.as_fd(), &st)?;
            j.object(st.id, || Ok::<_, io::Error>((pin, st.is_dir())))?;
            if let Some(attrs) = attrs {
                j.capture_attrs(st.id, epoch, || Ok::<_, io::Error>(attrs))?;
            }
            self.after_capture(&mut j);
            Ok(())
        });
        if let Err(err) = captured {
            skipped("an attribute change", &err);
        }
    }

    /// Directory `dir`'s entries are about to change.
    pub(super) fn capture_entries(&self, fs: &impl HostObjects, dir: NodeId, epoch: u64) {
        let captured = self.object_stat(fs, dir).and_then(|(pin, st)| {
            let holding = self.holding_id;
            let mut j = self.journal();
            let needs = !j
                .objects
                .get(&st.id)
                .is_some_and(|o| o.entries.has_epoch(epoch));
            let set = match needs {
                true => Some(host::entries(pin.as_fd(), None)?),
                false => None,
            };
            let attrs = self.attrs_needed(&j, epoch, pin.as_fd(), &st)?;
            j.object(st.id, || Ok::<_, io::Error>((pin, true)))?;
            if let Some(mut set) = set {
                set.retain(|_, target| target.id != holding);
                j.capture_entries(st.id, epoch, || Ok::<_, io::Error>(set))?;
            }
            if let Some(attrs) = attrs {
                j.capture_attrs(st.id, epoch, || Ok::<_, io::Error>(attrs))?;
            }
            self.after_capture(&mut j);
            Ok(())
        });
        if let Err(err) = captured {
            skipped("a namespace change", &err);
        }
    }

    /// `name` in directory `dir` is about to be removed or moved: a file
    /// is hard-linked into the holding directory (it must be there to come
    /// back), a removed directory's attributes are kept to re-make it.
    pub(super) fn capture_victim(
        &self,
        fs: &impl HostObjects,
        dir: NodeId,
        name: Name<'_>,
        epoch: u64,
        victim: Victim,
    ) {
        let captured = fs.object_fd(dir).and_then(|dir| {
            let Some(st) = host::stat_at(dir.as_fd(), name.as_cstr())? else {
                return Ok(());
            };
            match (st.is_dir(), victim) {
                (true, Victim::Removed) => {
                    let flags =
                        libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC;
                    let pin = crate::sys::open::openat(dir.as_fd(), name.as_cstr(), flags, 0)?;
                    let attrs = self.host.attrs(pin.as_fd(), &st)?;
                    let tombstone = Tombstone { attrs, epoch, pin };
                    self.journal().bury(st.id, tombstone);
                    Ok(())
                }
                (true, Victim::Moved) => Ok(()),
                (false, _) if self.journal().is_fresh(st.id, epoch) => Ok(()),
                (false, _) => self.host.hold(dir.as_fd(), name.as_cstr(), st.id),
            }
        });
        if let Err(err) = captured {
            skipped("a removed name", &err);
        }
    }

    /// A request of `epoch` made the object `attr` describes.
    pub(super) fn note_created(&self, attr: &libc::stat64, epoch: u64) {
        let id = super::journal::ObjectId {
            dev: attr.st_dev,
            ino: attr.st_ino,
        };
        self.journal().note_created(id, epoch);
    }

    /// FSYNC (FDATASYNC with `datasync`) of node `inode` succeeded.
    pub(super) fn commit_fsync(&self, fs: &impl HostObjects, inode: NodeId, datasync: bool) {
        let kinds = CommitKinds {
            data: true,
            attrs: !datasync,
            entries: false,
        };
        self.commit_object(fs, inode, kinds);
    }

    /// FSYNCDIR of directory `inode` succeeded: its entries are durable.
    pub(super) fn commit_fsyncdir(&self, fs: &impl HostObjects, inode: NodeId) {
        let kinds = CommitKinds {
            data: false,
            attrs: true,
            entries: true,
        };
        self.commit_object(fs, inode, kinds);
    }

    fn commit_object(&self, fs: &impl HostObjects, inode: NodeId, kinds: CommitKinds) {
        self.count_point();
        match self.object_stat(fs, inode) {
            Ok((_, st)) => self.journal().commit_object(st.id, kinds),
            Err(err) => skipped("a durability point", &err),
        }
    }

    /// A SYNCFS covering the epochs up to `epoch` (all, if unknown)
    /// succeeded.
    pub(super) fn commit_syncfs(&self, epoch: Option<u64>) {
        self.count_point();
        self.journal().commit_epochs(epoch.unwrap_or(u64::MAX));
    }
}
