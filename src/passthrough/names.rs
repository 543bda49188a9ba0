//! Validation of names that come from the guest.
//!
//! Every name a request carries passes through [`check_name`] before any
//! syscall sees it: together with `*at()` calls on the parent's `O_PATH`
//! descriptor and `O_NOFOLLOW`/`RESOLVE_BENEATH`, a single valid component
//! cannot name anything outside its parent directory.

use std::ffi::CStr;
use std::io;

/// Longest name component Linux filesystems accept (`NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Accepts `name` if it is a single path component: not empty, no `/`,
/// not `.` or `..` (a `CStr` cannot hold NUL): anything else is `EINVAL`,
/// so a hostile name never reaches the host. A name longer than
/// [`NAME_MAX`] bytes is `ENAMETOOLONG`, the errno POSIX (and pjdfstest)
/// expect; the guest kernel lets names up to 1024 bytes through.
pub fn check_name(name: &CStr) -> io::Result<&CStr> {
    let bytes = name.to_bytes();
    let errno = if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
        libc::EINVAL
    } else if bytes.len() > NAME_MAX {
        libc::ENAMETOOLONG
    } else {
        return Ok(name);
    };
    log::debug!("rejected name {name:?} from the guest");
    Err(io::Error::from_raw_os_error(errno))
}

/// True if `name` is `..` (answered specially at the root).
pub fn is_dotdot(name: &CStr) -> bool {
    name.to_bytes() == b".."
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn errno(name: &CStr) -> Option<i32> {
        check_name(name).err().and_then(|e| e.raw_os_error())
    }

    fn einval(name: &CStr) -> bool {
        errno(name) == Some(libc::EINVAL)
    }

    #[test]
    fn ordinary_names_pass() {
        for n in [c"a", c"file.txt", c"...", c".hidden", c"a b", c"\xff\xfe"] {
            assert_eq!(check_name(n).unwrap(), n);
        }
    }

    #[test]
    fn dot_dotdot_empty_and_slash_are_einval() {
        for n in [c"", c".", c"..", c"/", c"a/b", c"../etc", c"/etc", c"a/"] {
            assert!(einval(n), "{n:?} accepted");
        }
    }

    #[test]
    fn names_longer_than_name_max_are_enametoolong() {
        let ok = CString::new(vec![b'x'; NAME_MAX]).unwrap();
        assert!(check_name(&ok).is_ok());
        let long = CString::new(vec![b'x'; NAME_MAX + 1]).unwrap();
        assert_eq!(errno(&long), Some(libc::ENAMETOOLONG));
    }

    #[test]
    fn dotdot_is_recognised() {
        assert!(is_dotdot(c".."));
        assert!(!is_dotdot(c"..."));
        assert!(!is_dotdot(c"."));
    }
}
