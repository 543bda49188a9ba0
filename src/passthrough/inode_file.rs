//! How the daemon holds on to a host inode: an `O_PATH` descriptor, or a
//! file handle plus the descriptor of its mount (`--inode-file-handles`).
//!
//! With file handles a known inode costs no descriptor: one is opened
//! with `open_by_handle_at` for the duration of a request ([`PathFd`]) and
//! closed when the request is done, so a guest that walks millions of
//! files does not need millions of descriptors. The root inode and one
//! descriptor per mount ([`MountFds`]) stay open for the daemon's life.
//!
//! Policy ([`HandlePolicy`]): `Never` keeps an `O_PATH` descriptor per
//! inode; `Prefer` uses a handle when the host filesystem gives one and
//! falls back to a descriptor otherwise; `Mandatory` fails the lookup
//! instead of falling back.
//!
//! A handle is only ever made by the daemon from a descriptor it obtained
//! beneath the share; the guest sees node ids, never handles.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, PoisonError, RwLock};

use crate::sys;
use crate::sys::file_handle::{FileHandle, HandleBuf};
use crate::sys::open::ProcSelfFd;

/// When inodes are held as file handles instead of descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HandlePolicy {
    /// Always an `O_PATH` descriptor.
    Never,
    /// A file handle where the host filesystem supports it.
    #[default]
    Prefer,
    /// Always a file handle; inodes without one cannot be looked up.
    Mandatory,
}

/// The daemon's hold on one host inode.
#[derive(Debug)]
pub enum InodeFile {
    /// An `O_PATH | O_NOFOLLOW` descriptor.
    Fd(OwnedFd),
    /// A file handle, opened on demand on its mount.
    Handle {
        /// The handle.
        handle: FileHandle,
        /// A descriptor on the mount the handle belongs to.
        mount: Arc<OwnedFd>,
    },
    /// A node a migration brought over whose inode could not be found
    /// again on this host (`--migration-on-error=guest-error`): every use
    /// answers `EIO`, never another file.
    Lost,
}

/// An `O_PATH` descriptor of an inode for the length of one request:
/// borrowed from the inode, or opened from its handle and closed on drop.
#[derive(Debug)]
pub enum PathFd<'a> {
    /// The inode's own descriptor.
    Borrowed(BorrowedFd<'a>),
    /// Opened by handle for this request.
    Owned(OwnedFd),
}

impl AsFd for PathFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Borrowed(fd) => *fd,
            Self::Owned(fd) => fd.as_fd(),
        }
    }
}

impl InodeFile {
    /// An `O_PATH` descriptor of the inode. With a handle this opens one
    /// (`ESTALE` once the inode is gone, `EMFILE` when out of descriptors).
    pub fn path_fd(&self) -> io::Result<PathFd<'_>> {
        match self {
            Self::Fd(fd) => Ok(PathFd::Borrowed(fd.as_fd())),
            Self::Handle { handle, mount } => {
                sys::file_handle::open_by_handle(mount.as_fd(), handle, libc::O_PATH)
                    .map(PathFd::Owned)
            }
            Self::Lost => Err(sys::errno(libc::EIO)),
        }
    }

    /// Whether this hold keeps a descriptor open.
    pub fn holds_fd(&self) -> bool {
        matches!(self, Self::Fd(_))
    }
}

/// One open, non-`O_PATH` descriptor per host mount seen beneath the
/// share, keyed by mount id, for `open_by_handle_at`. Read-locked on the
/// way to a new inode, write-locked only the first time a mount is seen.
#[derive(Debug, Default)]
pub struct MountFds {
    map: RwLock<HashMap<u64, Arc<OwnedFd>>>,
}

impl MountFds {
    /// Records `fd` as the descriptor of mount `mount_id`.
    pub fn insert(&self, mount_id: u64, fd: OwnedFd) -> Arc<OwnedFd> {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(map.entry(mount_id).or_insert_with(|| Arc::new(fd)))
    }

    /// The descriptor of mount `mount_id`, opening one from `fd` (an
    /// `O_PATH` descriptor of a file on that mount) the first time. Only
    /// directories and regular files are ever opened for this.
    pub fn get_or_open(
        &self,
        mount_id: u64,
        fd: BorrowedFd<'_>,
        file_type: u32,
        proc: &ProcSelfFd,
    ) -> io::Result<Arc<OwnedFd>> {
        if let Some(m) = self
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&mount_id)
        {
            return Ok(Arc::clone(m));
        }
        let flags = match file_type {
            libc::S_IFDIR => libc::O_RDONLY | libc::O_DIRECTORY,
            libc::S_IFREG => libc::O_RDONLY | libc::O_NONBLOCK,
            _ => return Err(sys::errno(libc::EOPNOTSUPP)),
        };
        let opened = proc.reopen(fd, flags)?;
        log::debug!("mount {mount_id}: keeping a descriptor for file handles");
        Ok(self.insert(mount_id, opened))
    }

    /// Number of mounts known.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The handle a freshly looked-up inode would be held by, with its mount
/// id, or the errno of the failed attempt.
pub type Named = Result<(HandleBuf, u64), i32>;

/// The handle of the inode `fd` refers to, when `policy` holds inodes by
/// handle (`None` under `Never`).
pub fn name(fd: BorrowedFd<'_>, policy: HandlePolicy) -> Option<Named> {
    (policy != HandlePolicy::Never).then(|| {
        sys::file_handle::name_to_handle_buf(fd).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    })
}

/// Makes the hold for a freshly looked-up inode `fd` of type `file_type`
/// under `policy`: the descriptor itself, or a handle (the descriptor is
/// then closed).
#[cfg(test)]
pub fn hold(
    fd: OwnedFd,
    file_type: u32,
    policy: HandlePolicy,
    mounts: &MountFds,
    proc: &ProcSelfFd,
) -> io::Result<InodeFile> {
    let named = name(fd.as_fd(), policy);
    hold_named(fd, named.as_ref(), file_type, policy, mounts, proc)
}

/// [`hold`] with the handle already asked for (`named`, from [`name`]).
pub fn hold_named(
    fd: OwnedFd,
    named: Option<&Named>,
    file_type: u32,
    policy: HandlePolicy,
    mounts: &MountFds,
    proc: &ProcSelfFd,
) -> io::Result<InodeFile> {
    let Some(named) = named else {
        return Ok(InodeFile::Fd(fd));
    };
    let made = match named {
        Ok((handle, mount_id)) => mounts
            .get_or_open(*mount_id, fd.as_fd(), file_type, proc)
            .map(|mount| InodeFile::Handle {
                handle: handle.to_handle(),
                mount,
            }),
        Err(errno) => Err(io::Error::from_raw_os_error(*errno)),
    };
    match made {
        Ok(file) => Ok(file),
        Err(e) if policy == HandlePolicy::Prefer => {
            log::trace!("no file handle ({e}); keeping a descriptor");
            Ok(InodeFile::Fd(fd))
        }
        Err(e) => Err(e),
    }
}

/// Checks at start that handles work for the share's root under `policy`
/// (the filesystem gives handles and the daemon may open them, which needs
/// `CAP_DAC_READ_SEARCH`). Returns the policy to use: `Prefer` becomes
/// `Never` when handles cannot work; `Mandatory` fails.
pub fn probe(
    root: BorrowedFd<'_>,
    root_rd: &OwnedFd,
    policy: HandlePolicy,
    mounts: &MountFds,
) -> io::Result<HandlePolicy> {
    if policy == HandlePolicy::Never {
        return Ok(policy);
    }
    let tried = sys::file_handle::name_to_handle(root).and_then(|(handle, mount_id)| {
        let mount = mounts.insert(mount_id, root_rd.try_clone()?);
        sys::file_handle::open_by_handle(mount.as_fd(), &handle, libc::O_PATH).map(drop)
    });
    match tried {
        Ok(()) => Ok(policy),
        Err(e) if policy == HandlePolicy::Prefer => {
            log::warn!("file handles unusable for the share ({e}); keeping a descriptor per inode");
            Ok(HandlePolicy::Never)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn open(path: &std::path::Path, flags: i32) -> OwnedFd {
        let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        sys::open::open_path(&c, flags).unwrap()
    }

    fn setup() -> (tempfile::TempDir, MountFds, ProcSelfFd) {
        let tmp = tempfile::tempdir().unwrap();
        let mounts = MountFds::default();
        let proc = ProcSelfFd::open().unwrap();
        (tmp, mounts, proc)
    }

    #[test]
    fn never_keeps_the_descriptor() {
        let (tmp, mounts, proc) = setup();
        let fd = open(tmp.path(), libc::O_PATH);
        let file = hold(fd, libc::S_IFDIR, HandlePolicy::Never, &mounts, &proc).unwrap();
        assert!(file.holds_fd());
        assert_eq!(mounts.len(), 0);
    }

    #[test]
    fn prefer_holds_a_handle_that_reopens_the_inode() {
        let (tmp, mounts, proc) = setup();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let fd = open(&tmp.path().join("f"), libc::O_PATH);
        let want = sys::stat::fstat(fd.as_fd()).unwrap();
        let file = hold(fd, libc::S_IFREG, HandlePolicy::Prefer, &mounts, &proc).unwrap();
        assert!(!file.holds_fd());
        assert_eq!(mounts.len(), 1);
        let again = file.path_fd().unwrap();
        assert!(matches!(again, PathFd::Owned(_)));
        let st = sys::stat::fstat(again.as_fd()).unwrap();
        assert_eq!((st.st_dev, st.st_ino), (want.st_dev, want.st_ino));
    }

    #[test]
    fn mount_descriptor_is_not_taken_from_special_files() {
        let (tmp, mounts, proc) = setup();
        let p = tmp.path().join("p");
        let c = CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let fd = open(&p, libc::O_PATH);
        // Prefer falls back to the descriptor without opening the fifo
        // (an open for reading would block).
        let file = hold(fd, libc::S_IFIFO, HandlePolicy::Prefer, &mounts, &proc).unwrap();
        assert!(file.holds_fd());
        let fd = open(&p, libc::O_PATH);
        let err = hold(fd, libc::S_IFIFO, HandlePolicy::Mandatory, &mounts, &proc).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EOPNOTSUPP));
    }

    #[test]
    fn probe_accepts_handles_as_root_and_records_the_mount() {
        let (tmp, mounts, _proc) = setup();
        let root = open(tmp.path(), libc::O_PATH | libc::O_DIRECTORY);
        let rd = open(tmp.path(), libc::O_RDONLY | libc::O_DIRECTORY);
        let policy = probe(root.as_fd(), &rd, HandlePolicy::Prefer, &mounts).unwrap();
        // The test suite runs as root (CAP_DAC_READ_SEARCH) on ext4.
        assert_eq!(policy, HandlePolicy::Prefer);
        assert_eq!(mounts.len(), 1);
    }
}
