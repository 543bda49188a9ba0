//! The crash itself: puts back, in the host directory, every pending change
//! the mode drops.
//!
//! Order matters. Names first, in two passes over the directories whose
//! entries go back: (1) every entry that is not in the durable set is moved
//! into the holding directory (named by its inode; a second name of a file
//! already held is just removed), so nothing is in the way; (2) every
//! durable entry missing now is brought back from there (a directory moved,
//! anything else hard-linked; a removed directory made again). Then file
//! data (blocks, then the size, which cuts what was appended), then
//! attributes last, since the steps before change times.
//!
//! For each slot the journal holds images in capture order, the first the
//! durable state; the mode decides per image whether its change is dropped,
//! and the slot goes back to the first dropped image (everything after it
//! was made on top of it, so it goes too).

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::host::{self, Host};
use super::journal::{AttrImage, EntrySet, Images, Journal, ObjectId, ObjectRecord, Tombstone};
use super::mode::{ChangeKind, Mode};
use crate::sys;

/// What a crash did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Pending changes dropped (put back).
    pub dropped: u64,
    /// Pending changes kept.
    pub kept: u64,
    /// Host operations that failed while putting things back (logged).
    pub errors: u64,
}

impl Restored {
    /// One JSON object, no newline.
    pub fn to_json(&self, mode: Mode) -> String {
        format!(
            "{{\"crashed\":true,\"mode\":\"{mode}\",\"dropped\":{},\"kept\":{},\"errors\":{}}}",
            self.dropped, self.kept, self.errors
        )
    }

    fn failed(&mut self, what: &str, err: &io::Error) {
        log::warn!("crash-sim: cannot {what}: {err}");
        self.errors += 1;
    }
}

/// The image `slot` goes back to, if the mode drops one of its changes;
/// counts kept and dropped changes.
fn pick<'a, T>(
    images: &'a Images<T>,
    kind: ChangeKind,
    mode: Mode,
    r: &mut Restored,
) -> Option<&'a T> {
    let first_dropped = images.0.iter().position(|t| mode.drops(kind, t.seq));
    let n = images.0.len() as u64;
    match first_dropped {
        Some(at) => {
            r.kept += at as u64;
            r.dropped += n - at as u64;
            Some(&images.0[at].value)
        }
        None => {
            r.kept += n;
            None
        }
    }
}

/// What goes back for one object.
struct Plan<'a> {
    id: ObjectId,
    record: &'a ObjectRecord<OwnedFd>,
    size: Option<u64>,
    blocks: Vec<(u64, &'a [u8])>,
    attrs: Option<&'a AttrImage>,
    entries: Option<&'a EntrySet>,
}

fn plan<'a>(
    id: ObjectId,
    record: &'a ObjectRecord<OwnedFd>,
    mode: Mode,
    r: &mut Restored,
) -> Plan<'a> {
    let blocks = record
        .blocks
        .iter()
        .filter_map(|(&i, images)| pick(images, ChangeKind::Data, mode, r).map(|b| (i, &**b)))
        .collect();
    Plan {
        id,
        record,
        size: pick(&record.size, ChangeKind::Data, mode, r).copied(),
        blocks,
        attrs: pick(&record.attrs, ChangeKind::Attrs, mode, r),
        entries: pick(&record.entries, ChangeKind::Entries, mode, r),
    }
}

/// Applies the crash of `mode` to what `journal` holds.
pub fn run(host: &Host, journal: Journal<OwnedFd>, mode: Mode) -> Restored {
    let mut r = Restored::default();
    let mut ids: Vec<&ObjectId> = journal.objects.keys().collect();
    // A fixed order, so that the same journal always restores the same way.
    ids.sort_by_key(|id| journal.objects[id].size.0.first().map_or(0, |t| t.seq));
    let plans: Vec<Plan<'_>> = ids
        .into_iter()
        .map(|id| plan(*id, &journal.objects[id], mode, &mut r))
        .collect();
    let mut names = Names {
        host,
        tombstones: &journal.tombstones,
        remade: HashMap::new(),
        r: &mut r,
    };
    names.detach_all(&plans);
    names.attach_all(&plans);
    let remade = std::mem::take(&mut names.remade);
    for p in &plans {
        restore_data(host, p, &mut r);
    }
    for p in &plans {
        if let Some(attrs) = p.attrs {
            let fd = remade.get(&p.id).unwrap_or(&p.record.pin);
            restore_attrs(host, fd.as_fd(), attrs, &mut r);
        }
    }
    for (id, fd) in &remade {
        if let Some(t) = journal.tombstones.get(id) {
            restore_attrs(host, fd.as_fd(), &t.attrs, &mut r);
        }
    }
    r
}

/// The namespace passes.
struct Names<'a> {
    host: &'a Host,
    tombstones: &'a HashMap<ObjectId, Tombstone<OwnedFd>>,
    /// Removed directories made again, by their old identity.
    remade: HashMap<ObjectId, OwnedFd>,
    r: &'a mut Restored,
}

impl Names<'_> {
    /// The directory `p` is now, or `None` if it was removed and not (yet)
    /// made again.
    fn dir_of<'p>(&'p self, p: &'p Plan<'_>) -> Option<BorrowedFd<'p>> {
        match self.remade.get(&p.id) {
            Some(fd) => Some(fd.as_fd()),
            None if self.tombstones.contains_key(&p.id) => None,
            None => Some(p.record.pin.as_fd()),
        }
    }

    /// Pass 1: every name not in the durable set goes to the holding
    /// directory.
    fn detach_all(&mut self, plans: &[Plan<'_>]) {
        let holding = match host::stat(self.host.holding.as_fd()) {
            Ok(st) => st.id,
            Err(e) => return self.r.failed("stat the holding directory", &e),
        };
        for p in plans {
            let dir = self.dir_of(p).map(|d| d.try_clone_to_owned());
            let (Some(durable), Some(dir)) = (p.entries, dir) else {
                continue;
            };
            let dir = match dir {
                Ok(dir) => dir,
                Err(e) => {
                    self.r.failed("reach a directory", &e);
                    continue;
                }
            };
            let dir = dir.as_fd();
            let now = match host::entries(dir, None) {
                Ok(now) => now,
                Err(e) => {
                    self.r.failed("list a directory", &e);
                    continue;
                }
            };
            for (name, target) in now {
                let stays = durable.get(&name).is_some_and(|d| d.id == target.id);
                if stays || target.id == holding {
                    continue;
                }
                if let Err(e) = self.host.detach(dir, &name, target.id) {
                    self.r.failed("move a name aside", &e);
                }
            }
        }
    }

    /// Pass 2: every durable name missing now comes back. A directory that
    /// was removed is made again first (by its parent's pass), so the
    /// passes repeat until nothing more can be done.
    fn attach_all(&mut self, plans: &[Plan<'_>]) {
        let mut done = vec![false; plans.len()];
        loop {
            let mut progress = false;
            for (i, p) in plans.iter().enumerate() {
                let Some(durable) = p.entries else {
                    continue;
                };
                if done[i] {
                    continue;
                }
                let Some(dir) = self.dir_of(p).map(|d| d.try_clone_to_owned()) else {
                    continue;
                };
                match dir {
                    Ok(dir) => self.attach(dir.as_fd(), durable),
                    Err(e) => self.r.failed("reach a directory", &e),
                }
                done[i] = true;
                progress = true;
            }
            if !progress {
                return;
            }
        }
    }

    fn attach(&mut self, dir: BorrowedFd<'_>, durable: &EntrySet) {
        for (name, target) in durable {
            match host::stat_at(dir, name) {
                Ok(Some(st)) if st.id == target.id => continue,
                Ok(_) => {}
                Err(e) => {
                    self.r.failed("stat a name", &e);
                    continue;
                }
            }
            // A removed directory is gone for good: whatever the holding
            // directory has under its inode number is a later object that
            // reused the number (ext4 hands it out again at once).
            if self.tombstones.contains_key(&target.id) {
                self.remake_or_give_up(dir, name, target.id);
                continue;
            }
            match self.host.attach(dir, name, *target) {
                Ok(true) => {}
                Ok(false) => self.remake_or_give_up(dir, name, target.id),
                Err(e) => self.r.failed("bring a name back", &e),
            }
        }
    }

    /// A durable name whose object is not held: a removed directory is
    /// made again; anything else lives on elsewhere (a change the mode
    /// kept moved it) and is left there.
    fn remake_or_give_up(&mut self, dir: BorrowedFd<'_>, name: &CStr, id: ObjectId) {
        let Some(tombstone) = self.tombstones.get(&id) else {
            log::debug!("crash-sim: {name:?} stays where a kept change put it");
            return;
        };
        if self.remade.contains_key(&id) {
            return;
        }
        let made = sys::namei::mkdirat(dir, name, tombstone.attrs.mode).and_then(|()| {
            let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            sys::open::openat(dir, name, flags, 0)
        });
        match made {
            Ok(fd) => {
                self.remade.insert(id, fd);
            }
            Err(e) => self.r.failed("make a removed directory again", &e),
        }
    }
}

/// Puts back the blocks, then the size, of a regular file.
fn restore_data(host: &Host, p: &Plan<'_>, r: &mut Restored) {
    if p.record.is_dir || (p.blocks.is_empty() && p.size.is_none()) {
        return;
    }
    // Writing changes the times; a mode that keeps the attributes keeps
    // the ones the file has now.
    let kept_times = match p.attrs {
        Some(_) => None,
        None => host::stat(p.record.pin.as_fd()).ok().map(|st| st.attrs),
    };
    let file = match host.reopen(p.record.pin.as_fd(), libc::O_WRONLY) {
        Ok(file) => file,
        Err(e) => return r.failed("open a file to put its data back", &e),
    };
    for (index, image) in &p.blocks {
        if let Err(e) = Host::write_block(file.as_fd(), *index, image) {
            r.failed("put a block back", &e);
        }
    }
    if let Some(size) = p.size {
        if let Err(e) = sys::attr::ftruncate(file.as_fd(), size) {
            r.failed("put a size back", &e);
        }
    }
    if let Some(attrs) = kept_times {
        let time = |(sec, nsec): (i64, u32)| sys::attr::TimeUpdate::Set(sec, nsec);
        if let Err(e) = sys::attr::futimens(file.as_fd(), time(attrs.atime), time(attrs.mtime)) {
            r.failed("keep the times of a file", &e);
        }
    }
}

fn restore_attrs(host: &Host, fd: BorrowedFd<'_>, attrs: &AttrImage, r: &mut Restored) {
    match host::stat(fd) {
        Ok(st) if st.is_symlink() => {}
        Ok(_) => {
            if let Err(e) = host.set_attrs(fd, attrs) {
                r.failed("put attributes back", &e);
            }
        }
        Err(e) => r.failed("stat an object", &e),
    }
}
