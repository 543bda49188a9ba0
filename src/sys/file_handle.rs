//! File handles: `name_to_handle_at(2)` and `open_by_handle_at(2)`.
//!
//! A file handle names an inode of a mounted filesystem without keeping
//! it open: the daemon can forget the descriptor and get one back later
//! from the handle plus any non-`O_PATH` descriptor on the same mount (the
//! kernel refuses `O_PATH` mount descriptors with `EBADF`). Opening by
//! handle needs `CAP_DAC_READ_SEARCH`; a handle whose inode was freed
//! answers `ESTALE`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{cvt, EMPTY};

/// Largest handle the kernel hands out (`MAX_HANDLE_SZ`).
pub const MAX_HANDLE_SZ: usize = 128;

/// `struct file_handle` with room for the largest handle, for the calls.
#[repr(C)]
#[derive(Clone)]
struct RawHandle {
    handle_bytes: u32,
    handle_type: i32,
    f_handle: [u8; MAX_HANDLE_SZ],
}

/// An opaque file handle, stored at its real size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHandle {
    handle_type: i32,
    bytes: Box<[u8]>,
}

impl FileHandle {
    /// Size of the opaque part in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the opaque part is empty (some filesystems use none).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The filesystem's handle type.
    pub fn handle_type(&self) -> i32 {
        self.handle_type
    }

    /// The opaque part.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// A handle from its two parts (as [`handle_type`](Self::handle_type)
    /// and [`bytes`](Self::bytes) gave them, e.g. on another daemon);
    /// `None` if the opaque part is longer than the kernel allows.
    pub fn from_parts(handle_type: i32, bytes: &[u8]) -> Option<Self> {
        (bytes.len() <= MAX_HANDLE_SZ).then(|| Self {
            handle_type,
            bytes: bytes.into(),
        })
    }

    fn to_raw(&self) -> RawHandle {
        let mut raw = RawHandle {
            // `bytes` came from the kernel, at most MAX_HANDLE_SZ long.
            handle_bytes: self.bytes.len() as u32,
            handle_type: self.handle_type,
            f_handle: [0; MAX_HANDLE_SZ],
        };
        raw.f_handle[..self.bytes.len()].copy_from_slice(&self.bytes);
        raw
    }
}

/// A handle as the kernel returned it, on the stack (no allocation): for
/// comparing with a stored [`FileHandle`] or making one.
#[derive(Clone)]
pub struct HandleBuf(RawHandle);

impl HandleBuf {
    fn bytes(&self) -> &[u8] {
        &self.0.f_handle[..(self.0.handle_bytes as usize).min(MAX_HANDLE_SZ)]
    }

    /// Whether `stored` is this handle.
    pub fn is(&self, stored: &FileHandle) -> bool {
        stored.handle_type == self.0.handle_type && *stored.bytes == *self.bytes()
    }

    /// The handle, stored at its real size.
    pub fn to_handle(&self) -> FileHandle {
        FileHandle {
            handle_type: self.0.handle_type,
            bytes: self.bytes().into(),
        }
    }
}

impl std::fmt::Debug for HandleBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandleBuf")
            .field("handle_type", &self.0.handle_type)
            .field("bytes", &self.bytes())
            .finish()
    }
}

/// The handle of the file `fd` refers to (an `O_PATH` descriptor is fine;
/// a symlink descriptor names the link), and the id of the mount it was
/// reached through. `EOPNOTSUPP` if the filesystem has no handles.
pub fn name_to_handle(fd: BorrowedFd<'_>) -> io::Result<(FileHandle, u64)> {
    name_to_handle_buf(fd).map(|(buf, mount_id)| (buf.to_handle(), mount_id))
}

/// [`name_to_handle`] without allocating.
pub fn name_to_handle_buf(fd: BorrowedFd<'_>) -> io::Result<(HandleBuf, u64)> {
    let mut raw = RawHandle {
        handle_bytes: MAX_HANDLE_SZ as u32,
        handle_type: 0,
        f_handle: [0; MAX_HANDLE_SZ],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `raw` is a `struct file_handle` whose `handle_bytes` states
    // the room behind it; `mount_id` is a writable int; the empty path is
    // NUL-terminated. All outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            &mut raw as *mut RawHandle,
            &mut mount_id as *mut libc::c_int,
            libc::AT_EMPTY_PATH,
        )
    };
    cvt(i32::try_from(ret).unwrap_or(-1))?;
    // Mount ids are non-negative.
    Ok((HandleBuf(raw), u64::from(mount_id.unsigned_abs())))
}

/// Opens the inode `handle` names, on the mount `mount_fd` is on, with
/// `flags` (`O_CLOEXEC` is added). Symlinks are never followed.
pub fn open_by_handle(
    mount_fd: BorrowedFd<'_>,
    handle: &FileHandle,
    flags: i32,
) -> io::Result<OwnedFd> {
    let mut raw = handle.to_raw();
    // SAFETY: `raw` is a valid `struct file_handle` with `handle_bytes`
    // bytes of opaque data; it outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount_fd.as_raw_fd(),
            &mut raw as *mut RawHandle,
            flags | libc::O_CLOEXEC,
        )
    };
    let fd = cvt(i32::try_from(ret).unwrap_or(-1))?;
    // SAFETY: the kernel just returned `fd`; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::open::{open_beneath, open_path};
    use std::ffi::CString;
    use std::os::fd::AsFd;

    fn open_dir(path: &std::path::Path, flags: i32) -> OwnedFd {
        let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        open_path(&c, flags | libc::O_DIRECTORY).unwrap()
    }

    #[test]
    fn handle_reopens_the_same_inode_after_rename() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let dir = open_dir(tmp.path(), libc::O_PATH);
        let f = open_beneath(dir.as_fd(), c"f", libc::O_PATH, 0).unwrap();
        let (handle, mnt) = name_to_handle(f.as_fd()).unwrap();
        assert!(!handle.is_empty());
        assert_eq!(
            mnt,
            crate::sys::stat::statx_with_mount(f.as_fd())
                .unwrap()
                .mnt_id
        );
        std::fs::rename(tmp.path().join("f"), tmp.path().join("g")).unwrap();
        let mount = open_dir(tmp.path(), libc::O_RDONLY);
        let again = open_by_handle(mount.as_fd(), &handle, libc::O_PATH).unwrap();
        let a = crate::sys::stat::fstat(f.as_fd()).unwrap();
        let b = crate::sys::stat::fstat(again.as_fd()).unwrap();
        assert_eq!((a.st_dev, a.st_ino), (b.st_dev, b.st_ino));
    }

    #[test]
    fn symlink_handle_opens_the_link_itself() {
        let tmp = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", tmp.path().join("l")).unwrap();
        let dir = open_dir(tmp.path(), libc::O_PATH);
        let l = open_beneath(dir.as_fd(), c"l", libc::O_PATH, 0).unwrap();
        let (handle, _) = name_to_handle(l.as_fd()).unwrap();
        let mount = open_dir(tmp.path(), libc::O_RDONLY);
        let again = open_by_handle(mount.as_fd(), &handle, libc::O_PATH).unwrap();
        let st = crate::sys::stat::fstat(again.as_fd()).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
    }

    #[test]
    fn o_path_mount_descriptor_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = open_dir(tmp.path(), libc::O_PATH);
        let (handle, _) = name_to_handle(dir.as_fd()).unwrap();
        let err = open_by_handle(dir.as_fd(), &handle, libc::O_PATH).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn handle_of_a_removed_file_is_stale_or_gone() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let dir = open_dir(tmp.path(), libc::O_PATH);
        let (handle, _) = {
            let f = open_beneath(dir.as_fd(), c"f", libc::O_PATH, 0).unwrap();
            name_to_handle(f.as_fd()).unwrap()
        };
        std::fs::remove_file(tmp.path().join("f")).unwrap();
        // Recreate and drop caches of the name; the old handle must not
        // name the new file.
        std::fs::write(tmp.path().join("f"), b"y").unwrap();
        let mount = open_dir(tmp.path(), libc::O_RDONLY);
        let new = std::fs::symlink_metadata(tmp.path().join("f")).unwrap();
        match open_by_handle(mount.as_fd(), &handle, libc::O_PATH) {
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ESTALE)),
            Ok(fd) => {
                use std::os::unix::fs::MetadataExt;
                let st = crate::sys::stat::fstat(fd.as_fd()).unwrap();
                assert!(st.st_nlink == 0 || st.st_ino != new.ino());
            }
        }
    }
}
