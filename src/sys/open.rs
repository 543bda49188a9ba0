//! Opening files: `openat`, `openat2` confined beneath a directory, and
//! re-opening an `O_PATH` descriptor through `/proc/self/fd`.
//!
//! [`open_beneath`] is the only way a guest-supplied name becomes an open
//! descriptor: it asks the kernel (`openat2` with `RESOLVE_BENEATH`,
//! `RESOLVE_NO_MAGICLINKS` and `RESOLVE_NO_SYMLINKS`) to refuse anything that
//! would leave the directory or follow a link, and falls back to `openat`
//! with `O_NOFOLLOW` on kernels without `openat2` (before 5.6).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use super::cvt;

/// `open_how` of `openat2(2)` (libc's copy is `non_exhaustive`).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Set once `openat2` answered `ENOSYS`; later calls go straight to `openat`.
static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);

/// Wraps a descriptor a syscall just returned.
fn owned(ret: libc::c_int) -> io::Result<OwnedFd> {
    let fd = cvt(ret)?;
    // SAFETY: `fd` was just returned by the kernel, is open, and nothing
    // else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Only creating opens may carry a mode (openat2 rejects one otherwise).
fn mode_for(flags: i32, mode: u32) -> u32 {
    if flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE {
        mode
    } else {
        0
    }
}

/// `openat(2)`; `O_CLOEXEC` is always added.
pub fn openat(dir: BorrowedFd<'_>, name: &CStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dir` is a
    // valid descriptor for the duration of the borrow.
    owned(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode_for(flags, mode),
        )
    })
}

/// Opens an absolute or cwd-relative path (used once, for the shared root).
pub fn open_path(path: &CStr, flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    owned(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) })
}

/// `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
/// RESOLVE_NO_SYMLINKS`; falls back to `openat` with `O_NOFOLLOW` when the
/// kernel lacks `openat2`. A trailing symlink yields `ELOOP`, except with
/// `O_PATH | O_NOFOLLOW`, which returns a descriptor for the link itself.
pub fn open_beneath(
    dir: BorrowedFd<'_>,
    name: &CStr,
    flags: i32,
    mode: u32,
) -> io::Result<OwnedFd> {
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    if !OPENAT2_MISSING.load(Ordering::Relaxed) {
        let how = OpenHow {
            // Open flags are a bit set; reinterpreting the sign bit is intended.
            flags: u64::from(flags as u32),
            mode: u64::from(mode_for(flags, mode)),
            resolve: libc::RESOLVE_BENEATH
                | libc::RESOLVE_NO_MAGICLINKS
                | libc::RESOLVE_NO_SYMLINKS,
        };
        // SAFETY: `how` is a properly initialised `open_how` whose size we
        // pass; `name` is NUL-terminated; all outlive the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                name.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match owned(ret_to_int(ret)) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                OPENAT2_MISSING.store(true, Ordering::Relaxed);
            }
            other => return other,
        }
    }
    openat(dir, name, flags, mode)
}

/// A `syscall(2)` result that is a descriptor or -1 fits in `c_int`.
fn ret_to_int(ret: libc::c_long) -> libc::c_int {
    libc::c_int::try_from(ret).unwrap_or(-1)
}

/// `N` or `/proc/self/fd/N` for a descriptor, NUL-terminated, on the stack.
pub struct ProcFdName {
    buf: [u8; 40],
    len: usize,
}

impl ProcFdName {
    const PREFIX: &'static [u8] = b"/proc/self/fd/";

    fn build(fd: RawFd, absolute: bool) -> Self {
        let mut buf = [0u8; 40];
        let mut len = 0;
        if absolute {
            buf[..Self::PREFIX.len()].copy_from_slice(Self::PREFIX);
            len = Self::PREFIX.len();
        }
        let mut digits = [0u8; 12];
        let mut n = fd.unsigned_abs();
        let mut count = 0;
        loop {
            // `n % 10` is a single decimal digit.
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for d in digits[..count].iter().rev() {
            buf[len] = *d;
            len += 1;
        }
        // buf[len] is already 0: the terminating NUL.
        Self { buf, len: len + 1 }
    }

    /// The descriptor number alone, for `*at(proc_self_fd, name, ...)`.
    pub fn relative(fd: BorrowedFd<'_>) -> Self {
        Self::build(fd.as_raw_fd(), false)
    }

    /// `/proc/self/fd/N`, for calls that have no `*at` form.
    pub fn absolute(fd: BorrowedFd<'_>) -> Self {
        Self::build(fd.as_raw_fd(), true)
    }

    /// The name as a C string.
    pub fn as_cstr(&self) -> &CStr {
        // SAFETY: `build` writes ASCII digits (and the ASCII prefix), no NUL,
        // followed by exactly one NUL at `len - 1`.
        unsafe { CStr::from_bytes_with_nul_unchecked(&self.buf[..self.len]) }
    }
}

/// The daemon's `/proc/self/fd` directory, opened once so that re-opening
/// an `O_PATH` descriptor does not depend on `/proc` staying mounted at
/// that path (inside the sandbox there is no `/proc` at all).
#[derive(Debug)]
pub struct ProcSelfFd {
    dir: OwnedFd,
    /// The process's working directory is `dir` ([`Self::make_cwd`]).
    is_cwd: bool,
    /// `meminfo` of the same procfs, opened beforehand when `..` cannot
    /// leave `dir` (see [`Self::open_meminfo`]).
    meminfo: Option<OwnedFd>,
}

impl ProcSelfFd {
    /// Opens `/proc/self/fd` (`O_PATH`).
    pub fn open() -> io::Result<Self> {
        let dir = open_path(c"/proc/self/fd", libc::O_PATH | libc::O_DIRECTORY)?;
        Ok(Self {
            dir,
            is_cwd: false,
            meminfo: None,
        })
    }

    /// Opens `path` (`O_PATH`), which must be the daemon's own `fd`
    /// directory of some procfs, bind-mounted there alone by the sandbox
    /// (so `..` does not leave it); `meminfo` is that procfs's `meminfo`,
    /// opened before.
    pub fn open_at_path(path: &CStr, meminfo: Option<OwnedFd>) -> io::Result<Self> {
        let dir = open_path(path, libc::O_PATH | libc::O_DIRECTORY)?;
        Ok(Self {
            dir,
            is_cwd: false,
            meminfo,
        })
    }

    /// `/proc/meminfo` (read-only): a copy of the descriptor kept by
    /// [`Self::open_at_path`], else `../../meminfo` from the `fd`
    /// directory.
    pub fn open_meminfo(&self) -> io::Result<OwnedFd> {
        match &self.meminfo {
            Some(fd) => fd.try_clone(),
            None => openat(self.dir.as_fd(), c"../../meminfo", libc::O_RDONLY, 0),
        }
    }

    /// Makes this directory the working directory of the calling thread's
    /// filesystem context (the whole process unless it was unshared), so
    /// that [`Self::path_of`] can name a descriptor without `/proc` being
    /// reachable from the root. Called once the process is sandboxed; the
    /// daemon resolves no other relative path after that.
    pub fn make_cwd(&mut self) -> io::Result<()> {
        super::confine::fchdir(self.dir.as_fd())?;
        self.is_cwd = true;
        Ok(())
    }

    /// A path naming the file `fd` refers to, for the syscalls that have
    /// neither a descriptor nor an `*at` form (the xattr family): `N`
    /// relative to the working directory after [`Self::make_cwd`], else
    /// `/proc/self/fd/N`.
    pub fn path_of(&self, fd: BorrowedFd<'_>) -> ProcFdName {
        if self.is_cwd {
            ProcFdName::relative(fd)
        } else {
            ProcFdName::absolute(fd)
        }
    }

    /// Opens the file `fd` refers to again, with new `flags` (the magic
    /// link is followed, so `O_NOFOLLOW` and `O_CREAT` must not be given;
    /// they are removed). `O_CLOEXEC` is always added.
    pub fn reopen(&self, fd: BorrowedFd<'_>, flags: i32) -> io::Result<OwnedFd> {
        let name = ProcFdName::relative(fd);
        let flags = flags & !(libc::O_NOFOLLOW | libc::O_CREAT | libc::O_EXCL);
        openat(self.dir.as_fd(), name.as_cstr(), flags, 0)
    }

    /// A second handle on the same directory, in the same state (for a
    /// second owner, such as the crash simulation beside the filesystem).
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            dir: self.dir.try_clone()?,
            is_cwd: self.is_cwd,
            meminfo: self.meminfo.as_ref().map(OwnedFd::try_clone).transpose()?,
        })
    }

    /// Where the file `fd` refers to is now, as the kernel names it: the
    /// target of its `/proc/self/fd` link, an absolute path in the
    /// daemon's own root (inside the sandbox, the share), with
    /// `" (deleted)"` appended once the file has no name left.
    pub fn current_path(&self, fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
        let name = ProcFdName::relative(fd);
        let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
        // SAFETY: `name` is NUL-terminated; `buf` is writable for its whole
        // length, which is what we pass; both outlive the call.
        let n = unsafe {
            libc::readlinkat(
                self.dir.as_raw_fd(),
                name.as_cstr().as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        if n >= buf.len() {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        buf.truncate(n);
        Ok(buf)
    }

    /// The directory itself, for the `*at` helpers in sibling modules.
    pub fn dir(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn dir_fd(path: &std::path::Path) -> OwnedFd {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        open_path(&c, libc::O_PATH | libc::O_DIRECTORY).unwrap()
    }

    #[test]
    fn proc_fd_name_formats_numbers() {
        assert_eq!(ProcFdName::build(0, false).as_cstr(), c"0");
        assert_eq!(ProcFdName::build(1234, false).as_cstr(), c"1234");
        assert_eq!(
            ProcFdName::build(i32::MAX, true).as_cstr(),
            c"/proc/self/fd/2147483647"
        );
    }

    #[test]
    fn open_beneath_refuses_trailing_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        symlink("/etc", tmp.path().join("l")).unwrap();
        let dir = dir_fd(tmp.path());
        let err = open_beneath(dir.as_fd(), c"l", libc::O_RDONLY, 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn open_beneath_refuses_dotdot() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("d")).unwrap();
        let dir = dir_fd(&tmp.path().join("d"));
        let err = open_beneath(dir.as_fd(), c"..", libc::O_PATH, 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EXDEV));
    }

    #[test]
    fn open_beneath_with_o_path_returns_the_link_itself() {
        let tmp = tempfile::tempdir().unwrap();
        symlink("/etc", tmp.path().join("l")).unwrap();
        let dir = dir_fd(tmp.path());
        let fd = open_beneath(dir.as_fd(), c"l", libc::O_PATH, 0).unwrap();
        let st = crate::sys::stat::fstat(fd.as_fd()).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
    }

    #[test]
    fn reopen_gives_a_readable_descriptor() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("f"), b"abc").unwrap();
        let dir = dir_fd(tmp.path());
        let path_fd = open_beneath(dir.as_fd(), c"f", libc::O_PATH, 0).unwrap();
        let proc = ProcSelfFd::open().unwrap();
        let fd = proc.reopen(path_fd.as_fd(), libc::O_RDONLY).unwrap();
        let mut f = fs::File::from(fd);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s).unwrap();
        assert_eq!(s, "abc");
    }
}
