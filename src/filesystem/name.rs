//! [`Name`]: a directory entry name from the guest, checked once.
//!
//! Every name a request carries (LOOKUP, CREATE, MKNOD, MKDIR, SYMLINK,
//! LINK, UNLINK, RMDIR, RENAME) is turned into a `Name` by [`Name::new`]
//! in the FUSE layer, and the [`FileSystem`](super::FileSystem) trait takes
//! only `Name`s, so no filesystem can be handed a name that was not
//! checked. A valid name is a single path component: together with `*at()`
//! calls on the parent's descriptor that do not follow the last component,
//! it cannot name anything outside its parent directory.
//!
//! Extended attribute names and symlink targets are not entry names and
//! stay plain `&CStr`.

use std::ffi::CStr;
use std::fmt;
use std::io;

/// Longest name component the daemon accepts, in bytes (the Linux
/// `NAME_MAX`); the one constant both the protocol and the filesystem use.
pub const NAME_MAX: usize = 255;

/// A checked directory entry name: not empty, no `/`, not `.` or `..`, at
/// most [`NAME_MAX`] bytes (and, being a `CStr`, no NUL).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Name<'a>(&'a CStr);

impl<'a> Name<'a> {
    /// Checks `name`, in this order (the first failing rule decides the
    /// errno):
    ///
    /// 1. longer than [`NAME_MAX`] bytes: `ENAMETOOLONG`, as a local
    ///    filesystem answers (POSIX, pjdfstest); the guest kernel lets
    ///    names up to 1024 bytes through, so the daemon must check;
    /// 2. empty, `.`, `..` or containing `/`: `EINVAL`, so a name that
    ///    could walk out of its directory never reaches the host.
    pub fn new(name: &'a CStr) -> io::Result<Self> {
        let bytes = name.to_bytes();
        let errno = if bytes.len() > NAME_MAX {
            libc::ENAMETOOLONG
        } else if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
            libc::EINVAL
        } else {
            return Ok(Name(name));
        };
        log::debug!("rejected name {name:?} from the guest");
        Err(io::Error::from_raw_os_error(errno))
    }

    /// The name as a C string, for the `*at()` calls.
    pub fn as_cstr(&self) -> &'a CStr {
        self.0
    }

    /// The name's bytes, without NUL.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0.to_bytes()
    }
}

impl<'a> TryFrom<&'a CStr> for Name<'a> {
    type Error = io::Error;

    fn try_from(name: &'a CStr) -> io::Result<Self> {
        Name::new(name)
    }
}

impl AsRef<CStr> for Name<'_> {
    fn as_ref(&self) -> &CStr {
        self.0
    }
}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn errno(name: &CStr) -> Option<i32> {
        Name::new(name).err().and_then(|e| e.raw_os_error())
    }

    #[test]
    fn ordinary_names_pass() {
        for n in [c"a", c"file.txt", c"...", c".hidden", c"a b", c"\xff\xfe"] {
            assert_eq!(Name::new(n).unwrap().as_cstr(), n);
        }
    }

    #[test]
    fn dot_dotdot_empty_and_slash_are_einval() {
        for n in [c"", c".", c"..", c"/", c"a/b", c"../etc", c"/etc", c"a/"] {
            assert_eq!(errno(n), Some(libc::EINVAL), "{n:?} accepted");
        }
    }

    #[test]
    fn name_max_bytes_pass_one_more_is_enametoolong() {
        let ok = CString::new(vec![b'x'; NAME_MAX]).unwrap();
        assert_eq!(Name::new(&ok).unwrap().as_bytes().len(), NAME_MAX);
        let long = CString::new(vec![b'x'; NAME_MAX + 1]).unwrap();
        assert_eq!(errno(&long), Some(libc::ENAMETOOLONG));
    }

    #[test]
    fn length_is_checked_before_the_component_rules() {
        let mut bytes = vec![b'x'; NAME_MAX + 1];
        bytes[3] = b'/';
        let long_with_slash = CString::new(bytes).unwrap();
        assert_eq!(errno(&long_with_slash), Some(libc::ENAMETOOLONG));
    }

    #[test]
    fn try_from_is_new() {
        assert!(Name::try_from(c"ok").is_ok());
        assert!(Name::try_from(c"..").is_err());
    }
}
