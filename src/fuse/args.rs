//! Decoding request arguments: fixed structs and NUL-terminated strings out
//! of the argument bytes that follow the request header.
//!
//! Everything here treats its input as hostile: short input, missing NULs and
//! names that could walk out of a directory all become `EINVAL`; a name
//! longer than NAME_MAX is `ENAMETOOLONG`, as on a local filesystem.

use std::ffi::CStr;
use std::io;

use zerocopy::{FromBytes, Immutable, KnownLayout};

use super::abi::NAME_MAX;

fn einval() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

/// The argument bytes of one request, consumed front to back.
pub(crate) struct Args<'a> {
    buf: &'a [u8],
}

impl<'a> Args<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Args { buf }
    }

    /// Reads a fixed-size argument struct.
    pub(crate) fn obj<T: FromBytes + KnownLayout + Immutable>(&mut self) -> io::Result<T> {
        let (value, rest) = T::read_from_prefix(self.buf).map_err(|_| einval())?;
        self.buf = rest;
        Ok(value)
    }

    /// Reads a NUL-terminated string of any content (symlink targets, xattr
    /// names).
    pub(crate) fn cstr(&mut self) -> io::Result<&'a CStr> {
        let s = CStr::from_bytes_until_nul(self.buf).map_err(|_| einval())?;
        self.buf = &self.buf[s.to_bytes_with_nul().len()..];
        Ok(s)
    }

    /// Reads a directory entry name and checks it names exactly one entry of
    /// the directory: not empty, no `/`, not `.` or `..`, at most NAME_MAX.
    pub(crate) fn name(&mut self) -> io::Result<&'a CStr> {
        let name = self.cstr()?;
        validate_name(name.to_bytes())?;
        Ok(name)
    }

    /// Reads the request's last argument as a name: the NUL must be the final
    /// byte, so a name with an embedded NUL cannot pass for a shorter one.
    pub(crate) fn final_name(&mut self) -> io::Result<&'a CStr> {
        let name = self.name()?;
        self.expect_end()?;
        Ok(name)
    }

    /// Reads the request's last argument as a string of any content.
    pub(crate) fn final_cstr(&mut self) -> io::Result<&'a CStr> {
        let s = self.cstr()?;
        self.expect_end()?;
        Ok(s)
    }

    fn expect_end(&self) -> io::Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(einval())
        }
    }

    /// The bytes not consumed yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }
}

/// Rejects names that are not a single, plain directory entry.
pub fn validate_name(name: &[u8]) -> io::Result<()> {
    if name.len() > NAME_MAX {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    let bad = name.is_empty()
        || name == b"."
        || name == b".."
        || name.contains(&b'/')
        || name.contains(&0);
    if bad {
        Err(einval())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass() {
        assert!(validate_name(b"file.txt").is_ok());
        assert!(validate_name(b"...").is_ok());
        assert!(validate_name(&[b'a'; 255]).is_ok());
    }

    #[test]
    fn overlong_names_are_too_long_not_invalid() {
        assert_eq!(
            validate_name(&[b'a'; 256]).unwrap_err().raw_os_error(),
            Some(libc::ENAMETOOLONG)
        );
    }

    #[test]
    fn escaping_names_are_rejected() {
        for name in [&b""[..], b".", b"..", b"a/b", b"/etc", b"../x"] {
            assert_eq!(
                validate_name(name).unwrap_err().raw_os_error(),
                Some(libc::EINVAL),
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn name_without_nul_is_rejected() {
        let mut args = Args::new(b"abc");
        assert!(args.name().is_err());
    }

    #[test]
    fn final_name_rejects_embedded_nul() {
        assert!(Args::new(b"a\0b\0").final_name().is_err());
        assert_eq!(Args::new(b"a\0").final_name().unwrap().to_bytes(), b"a");
    }

    #[test]
    fn two_names_in_a_row() {
        let mut args = Args::new(b"old\0new\0");
        assert_eq!(args.name().unwrap().to_bytes(), b"old");
        assert_eq!(args.name().unwrap().to_bytes(), b"new");
        assert!(args.rest().is_empty());
    }
}
