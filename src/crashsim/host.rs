//! Host reads and writes of the crash simulation, on descriptors: what a
//! request is about to change (sizes, blocks, attributes, entry sets) and
//! the few namespace operations the restore needs.
//!
//! Everything goes through `crate::sys`; names come from the host (a
//! directory listing) or from the guest after the passthrough checked
//! them, and every call is relative to a directory descriptor.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::journal::{AttrImage, EntrySet, EntryTarget, ObjectId, Xattrs, BLOCK};
use crate::sys;
use crate::sys::attr::TimeUpdate;
use crate::sys::dirent::DirentIter;
use crate::sys::open::ProcSelfFd;

/// What `fstat` says about an object, in the journal's terms.
#[derive(Debug, Clone)]
pub struct Stat {
    /// Device and inode.
    pub id: ObjectId,
    /// `S_IFMT` bits.
    pub file_type: u32,
    /// Size in bytes.
    pub size: u64,
    /// Attributes.
    pub attrs: AttrImage,
}

impl Stat {
    fn of(st: &libc::stat64) -> Stat {
        let nsec = |n: i64| u32::try_from(n).unwrap_or(0);
        Stat {
            id: ObjectId {
                dev: st.st_dev,
                ino: st.st_ino,
            },
            file_type: st.st_mode & libc::S_IFMT,
            size: u64::try_from(st.st_size).unwrap_or(0),
            attrs: AttrImage {
                mode: st.st_mode & !libc::S_IFMT,
                uid: st.st_uid,
                gid: st.st_gid,
                atime: (st.st_atime, nsec(st.st_atime_nsec)),
                mtime: (st.st_mtime, nsec(st.st_mtime_nsec)),
                xattrs: None,
            },
        }
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.file_type == libc::S_IFDIR
    }

    /// A regular file.
    pub fn is_reg(&self) -> bool {
        self.file_type == libc::S_IFREG
    }

    /// A symbolic link (no attributes of its own to put back).
    pub fn is_symlink(&self) -> bool {
        self.file_type == libc::S_IFLNK
    }
}

/// `fstat` of an (`O_PATH`) descriptor.
pub fn stat(fd: BorrowedFd<'_>) -> io::Result<Stat> {
    sys::stat::fstat(fd).map(|st| Stat::of(&st))
}

/// `fstatat` of `name` in `dir`, not following a symlink; `None` if there
/// is no such entry.
pub fn stat_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<Stat>> {
    match sys::stat::fstatat_nofollow(dir, name) {
        Ok(st) => Ok(Some(Stat::of(&st))),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens directory `dir` (an `O_PATH` descriptor) for listing.
fn open_dir(dir: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    sys::open::openat(
        dir,
        c".",
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        0,
    )
}

/// The entries of directory `dir` (without `.`, `..` and `hidden`).
pub fn entries(dir: BorrowedFd<'_>, hidden: Option<&CStr>) -> io::Result<EntrySet> {
    let dev = stat(dir)?.id.dev;
    let listing = open_dir(dir)?;
    let mut buf = vec![0u8; 32 * 1024];
    let mut set = EntrySet::new();
    loop {
        let len = sys::dirent::getdents64(listing.as_fd(), &mut buf)?;
        if len == 0 {
            return Ok(set);
        }
        for d in DirentIter::new(&buf[..len]) {
            let name = d.name;
            if matches!(name.to_bytes(), b"." | b"..") || Some(name) == hidden {
                continue;
            }
            let target = match d.type_ {
                libc::DT_UNKNOWN => match stat_at(listing.as_fd(), name)? {
                    Some(st) => EntryTarget {
                        id: st.id,
                        is_dir: st.is_dir(),
                    },
                    None => continue,
                },
                t => EntryTarget {
                    id: ObjectId { dev, ino: d.ino },
                    is_dir: t == libc::DT_DIR,
                },
            };
            set.insert(name.to_owned(), target);
        }
    }
}

/// Block `index` of the file `file` (opened for reading): up to
/// [`BLOCK`] bytes, fewer at the end of the file.
pub fn read_block(file: BorrowedFd<'_>, index: u64) -> io::Result<Box<[u8]>> {
    let mut buf = vec![0u8; BLOCK as usize];
    let mut filled = 0;
    while filled < buf.len() {
        let n = sys::datapath::pread(file, &mut buf[filled..], index * BLOCK + filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf.into_boxed_slice())
}

/// The name an object has in the holding directory.
pub fn holding_name(id: ObjectId) -> CString {
    // Digits and a dash: never a NUL.
    CString::new(format!("{}-{}", id.dev, id.ino)).unwrap_or_default()
}

/// The host operations of a restore, with the descriptors they need.
#[derive(Debug)]
pub struct Host {
    /// `/proc/self/fd`, for re-opening `O_PATH` descriptors and naming them
    /// to the xattr calls.
    pub proc: ProcSelfFd,
    /// The holding directory (`O_PATH`).
    pub holding: OwnedFd,
    /// Extended attributes are served (`--xattr`), so they are captured and
    /// put back; otherwise their calls are not even allowed (seccomp).
    pub xattr: bool,
}

impl Host {
    /// The attributes of `fd` (whose `fstat` is `st`), extended ones
    /// included when they are served (not for symlinks).
    pub fn attrs(&self, fd: BorrowedFd<'_>, st: &Stat) -> io::Result<AttrImage> {
        let mut attrs = st.attrs.clone();
        if self.xattr && !st.is_symlink() {
            attrs.xattrs = Some(self.xattrs(fd)?);
        }
        Ok(attrs)
    }

    fn xattrs(&self, fd: BorrowedFd<'_>) -> io::Result<Xattrs> {
        let names = read_sized(|buf| sys::xattr::listxattr(&self.proc, fd, buf))?;
        let mut out = Xattrs::new();
        for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
            let name = CString::new(name).map_err(|_| sys::errno(libc::EINVAL))?;
            match read_sized(|buf| sys::xattr::getxattr(&self.proc, fd, &name, buf)) {
                Ok(value) => out.push((name, value.into_boxed_slice())),
                // Removed meanwhile.
                Err(e) if e.raw_os_error() == Some(libc::ENODATA) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Makes the extended attributes of `fd` exactly `wanted`.
    fn set_xattrs(&self, fd: BorrowedFd<'_>, wanted: &Xattrs) -> io::Result<()> {
        for (name, _) in self.xattrs(fd)? {
            if !wanted.iter().any(|(n, _)| *n == name) {
                sys::xattr::removexattr(&self.proc, fd, &name)?;
            }
        }
        for (name, value) in wanted {
            sys::xattr::setxattr(&self.proc, fd, name, value, 0)?;
        }
        Ok(())
    }

    /// Opens `fd` (`O_PATH`) again with `flags`.
    pub fn reopen(&self, fd: BorrowedFd<'_>, flags: i32) -> io::Result<OwnedFd> {
        self.proc.reopen(fd, flags | libc::O_CLOEXEC)
    }

    /// Hard-links `name` in `dir` into the holding directory as `id`
    /// (already there: fine).
    pub fn hold(&self, dir: BorrowedFd<'_>, name: &CStr, id: ObjectId) -> io::Result<()> {
        let held = holding_name(id);
        match sys::namei::linkat(dir, name, self.holding.as_fd(), &held) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => Err(e),
            _ => Ok(()),
        }
    }

    /// Moves `name` in `dir` into the holding directory as `id`, or drops
    /// the name if `id` is held there already.
    pub fn detach(&self, dir: BorrowedFd<'_>, name: &CStr, id: ObjectId) -> io::Result<()> {
        let held = holding_name(id);
        if stat_at(self.holding.as_fd(), &held)?.is_some() {
            return sys::namei::unlinkat(dir, name, 0);
        }
        sys::namei::renameat2(dir, name, self.holding.as_fd(), &held, 0)
    }

    /// Puts held object `target` back as `name` in `dir`: a directory is
    /// moved, anything else linked. `Ok(false)` if it is not held.
    pub fn attach(
        &self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        target: EntryTarget,
    ) -> io::Result<bool> {
        let held = holding_name(target.id);
        if stat_at(self.holding.as_fd(), &held)?.is_none() {
            return Ok(false);
        }
        if target.is_dir {
            sys::namei::renameat2(self.holding.as_fd(), &held, dir, name, 0)?;
        } else {
            sys::namei::linkat(self.holding.as_fd(), &held, dir, name)?;
        }
        Ok(true)
    }

    /// Writes `image` at block `index` of `file` (opened for writing).
    pub fn write_block(file: BorrowedFd<'_>, index: u64, image: &[u8]) -> io::Result<()> {
        let mut done = 0;
        while done < image.len() {
            let at = index * BLOCK + done as u64;
            done += sys::datapath::pwrite(file, &image[done..], Some(at))?;
        }
        Ok(())
    }

    /// Puts back extended attributes, owner, mode and times of the object
    /// `fd` (`O_PATH`), times last (the others change them).
    pub fn set_attrs(&self, fd: BorrowedFd<'_>, attrs: &AttrImage) -> io::Result<()> {
        if let (true, Some(xattrs)) = (self.xattr, &attrs.xattrs) {
            self.set_xattrs(fd, xattrs)?;
        }
        sys::attr::chown_fd(fd, Some(attrs.uid), Some(attrs.gid))?;
        sys::attr::chmod_fd(&self.proc, fd, attrs.mode)?;
        let time = |(sec, nsec): (i64, u32)| TimeUpdate::Set(sec, nsec);
        sys::attr::utimens_fd(&self.proc, fd, time(attrs.atime), time(attrs.mtime))
    }
}

/// Removes everything in directory `dir` (an `O_PATH` descriptor).
pub fn empty_tree(dir: BorrowedFd<'_>) -> io::Result<()> {
    for (name, target) in entries(dir, None)? {
        if target.is_dir {
            let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC;
            let sub = sys::open::openat(dir, &name, flags, 0)?;
            empty_tree(sub.as_fd())?;
            sys::namei::unlinkat(dir, &name, libc::AT_REMOVEDIR)?;
        } else {
            sys::namei::unlinkat(dir, &name, 0)?;
        }
    }
    Ok(())
}

/// Reads a value whose size is asked first with an empty buffer (the xattr
/// calls); retries if it grew in between.
fn read_sized(mut call: impl FnMut(&mut [u8]) -> io::Result<usize>) -> io::Result<Vec<u8>> {
    loop {
        let size = call(&mut [])?;
        let mut buf = vec![0u8; size];
        match call(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}
