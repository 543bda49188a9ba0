//! The vhost-user listening socket and its file on the host.
//!
//! The socket is bound before the sandbox is entered, and its file must
//! later be removed without resolving the host path again: inside the
//! sandbox that path would name a file in the shared directory (a guest's
//! file at `share/<socket path>`). So the listener carries no path (vhost's
//! `Listener::new` would remove its path when dropped), and [`SocketFile`]
//! keeps a descriptor of the socket's directory plus the identity of the
//! file bound there, and removes it with `unlinkat` only if the name still
//! refers to that file.
//!
//! The file is created with mode 0600 whatever the umask (the umask is
//! set to 0177 around `bind`, so there is no moment in which another
//! user could connect and play the VMM); `--socket-group` then gives it
//! to that group with mode 0660.
//!
//! The daemon serves one connection, so the file is removed as soon as the
//! frontend has connected (or at exit if none did), and the directory
//! descriptor is closed with it.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use vhost::vhost_user::Listener;

use crate::cli::SocketSource;
use crate::sys;

/// Why the listening socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The path names no file (`/`, `..`) or contains a NUL byte.
    #[error("{0:?} is not a usable socket path")]
    BadPath(PathBuf),
    /// The directory that should hold the socket cannot be opened.
    #[error("cannot open the socket's directory {path:?}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A stale socket file cannot be removed.
    #[error("cannot remove the stale socket {path:?}")]
    Stale {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `--socket-group` names no group.
    #[error("--socket-group {0:?}: no such group")]
    NoGroup(String),
    /// The group could not be looked up or given the socket.
    #[error("cannot give the socket {path:?} to group {group:?}")]
    Group {
        /// The socket path.
        path: PathBuf,
        /// The group asked for.
        group: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `bind`/`listen` failed, or the bound file cannot be found again.
    #[error("cannot listen on {path:?}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// The socket file the daemon created, removed once by [`SocketFile::remove`]
/// (or on drop).
#[derive(Debug)]
pub(crate) struct SocketFile {
    bound: Mutex<Option<Bound>>,
}

/// Where the socket file is and which inode it is.
#[derive(Debug)]
struct Bound {
    /// `O_PATH` descriptor of the directory holding it.
    dir: OwnedFd,
    /// Its name in that directory.
    name: CString,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Removes the socket file if its name still refers to the socket this
    /// daemon bound, and closes the directory descriptor. Later calls do
    /// nothing.
    pub(crate) fn remove(&self) {
        let bound = self
            .bound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(b) = bound {
            b.remove();
        }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        self.remove();
    }
}

impl Bound {
    fn is_ours(&self) -> bool {
        matches!(sys::stat::fstatat_nofollow(self.dir.as_fd(), &self.name),
            Ok(st) if st.st_dev == self.dev && st.st_ino == self.ino)
    }

    fn remove(self) {
        match sys::stat::fstatat_nofollow(self.dir.as_fd(), &self.name) {
            Ok(st) if st.st_dev == self.dev && st.st_ino == self.ino => {}
            // Already removed (by the daemon, when this is the launcher
            // of a pid namespace).
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                log::debug!("socket file {:?} already removed", self.name);
                return;
            }
            _ => {
                log::warn!("socket file {:?} was replaced; leaving it", self.name);
                return;
            }
        }
        match sys::namei::unlinkat(self.dir.as_fd(), &self.name, 0) {
            Ok(()) => log::debug!("removed socket file {:?}", self.name),
            Err(e) => log::warn!("cannot remove socket file {:?}: {e}", self.name),
        }
    }
}

/// The listener for `source`, and the file to remove later (none for an
/// inherited descriptor).
pub(crate) fn listen(
    source: &SocketSource,
    group: Option<&str>,
) -> Result<(Listener, SocketFile), SocketError> {
    match source {
        SocketSource::Path(path) => {
            let (listener, file) = bind(path)?;
            if let Some(group) = group {
                give_to_group(&file, path, group)?;
            }
            Ok((Listener::from(listener), file))
        }
        SocketSource::Fd(fd) => {
            let none = SocketFile {
                bound: Mutex::new(None),
            };
            // SAFETY: the operator passed this descriptor to us as an
            // already listening socket (`--fd`); nothing else in the
            // process owns it.
            Ok((unsafe { Listener::from_raw_fd(*fd) }, none))
        }
    }
}

/// Binds a listening socket at `path` (replacing a stale socket, never
/// another kind of file) and records where it is.
fn bind(path: &Path) -> Result<(UnixListener, SocketFile), SocketError> {
    let bad_path = || SocketError::BadPath(path.to_path_buf());
    let name = path.file_name().ok_or_else(bad_path)?;
    let name = CString::new(name.as_bytes()).map_err(|_| bad_path())?;
    let dir_path = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = open_dir(dir_path).map_err(|source| SocketError::Directory {
        path: dir_path.to_path_buf(),
        source,
    })?;
    remove_stale(&dir, &name).map_err(|source| SocketError::Stale {
        path: path.to_path_buf(),
        source,
    })?;
    let bind_error = |source| SocketError::Bind {
        path: path.to_path_buf(),
        source,
    };
    // Only the daemon's user may connect, from the first moment on.
    let umask = sys::creds::set_umask(0o177);
    let bound = UnixListener::bind(path);
    sys::creds::set_umask(umask);
    let listener = bound.map_err(bind_error)?;
    let st = sys::stat::fstatat_nofollow(dir.as_fd(), &name).map_err(bind_error)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(bind_error(sys::errno(libc::ENOTSOCK)));
    }
    let bound = Bound {
        dir,
        name,
        dev: st.st_dev,
        ino: st.st_ino,
    };
    Ok((
        listener,
        SocketFile {
            bound: Mutex::new(Some(bound)),
        },
    ))
}

/// `--socket-group`: the socket file goes to `group`, mode 0660.
fn give_to_group(file: &SocketFile, path: &Path, group: &str) -> Result<(), SocketError> {
    let error = |source| SocketError::Group {
        path: path.to_path_buf(),
        group: group.to_string(),
        source,
    };
    let gid = sys::creds::group_id(group)
        .map_err(error)?
        .ok_or_else(|| SocketError::NoGroup(group.to_string()))?;
    let bound = file.bound.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(b) = bound.as_ref() else {
        return Ok(());
    };
    if !b.is_ours() {
        return Err(error(sys::errno(libc::ENOTSOCK)));
    }
    sys::attr::chgrp_at(b.dir.as_fd(), &b.name, gid).map_err(error)?;
    sys::attr::chmod_at(b.dir.as_fd(), &b.name, 0o660).map_err(error)?;
    log::info!("socket {path:?} given to group {group} ({gid}), mode 0660");
    Ok(())
}

fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c =
        CString::new(OsStr::as_bytes(path.as_os_str())).map_err(|_| sys::errno(libc::EINVAL))?;
    sys::open::open_path(&c, libc::O_PATH | libc::O_DIRECTORY)
}

/// Removes `name` in `dir` if it is a socket (left over by an earlier run).
fn remove_stale(dir: &OwnedFd, name: &CString) -> io::Result<()> {
    match sys::stat::fstatat_nofollow(dir.as_fd(), name) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFSOCK => {
            log::info!("removing stale socket {name:?}");
            sys::namei::unlinkat(dir.as_fd(), name, 0)
        }
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn the_socket_file_is_removed_once() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s");
        let (_listener, file) = bind(&path).unwrap();
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket());
        file.remove();
        assert!(!path.exists());
        file.remove();
    }

    #[test]
    fn a_replaced_socket_file_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s");
        let (_listener, file) = bind(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"not ours").unwrap();
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), b"not ours");
    }

    #[test]
    fn a_stale_socket_is_replaced_but_a_regular_file_is_not() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s");
        drop(UnixListener::bind(&path).unwrap());
        let (_listener, file) = bind(&path).unwrap();
        drop(file);
        std::fs::write(&path, b"data").unwrap();
        assert!(matches!(bind(&path), Err(SocketError::Bind { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
    }

    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn the_socket_is_0600_even_with_an_open_umask() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s");
        let inner = path.clone();
        // A thread with its own umask, so the other tests keep theirs.
        let (_listener, _file) = std::thread::spawn(move || {
            sys::creds::unshare_fs().unwrap();
            sys::creds::set_umask(0);
            bind(&inner).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(mode_of(&path), 0o600);
    }

    #[test]
    fn a_socket_group_gets_the_socket_with_mode_0660() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s");
        let source = SocketSource::Path(path.clone());
        let (_listener, _file) = listen(&source, Some("65534")).unwrap();
        assert_eq!(mode_of(&path), 0o660);
        assert_eq!(std::fs::metadata(&path).unwrap().gid(), 65534);
    }

    #[test]
    fn an_unknown_socket_group_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let source = SocketSource::Path(tmp.path().join("s"));
        let err = listen(&source, Some("no-such-group-epochfsd"));
        assert!(matches!(err, Err(SocketError::NoGroup(_))));
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        assert!(matches!(bind(Path::new("/")), Err(SocketError::BadPath(_))));
    }
}
