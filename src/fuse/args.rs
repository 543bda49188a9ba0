//! Decoding request arguments: fixed structs and NUL-terminated strings out
//! of the argument bytes that follow the request header.
//!
//! Everything here treats its input as hostile: short input and missing
//! NULs become `EINVAL`; directory entry names are checked by
//! [`Name::new`], the one place that decides which names are valid and
//! with which errno.

use std::ffi::CStr;
use std::io;

use zerocopy::{FromBytes, Immutable, KnownLayout};

use crate::filesystem::Name;

fn einval() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

/// A length or size the guest sent, as a `usize`; `EINVAL` where it does
/// not fit (never on the 64-bit hosts the daemon runs on).
pub(crate) fn guest_len(n: u32) -> io::Result<usize> {
    usize::try_from(n).map_err(|_| einval())
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
    /// the directory (see [`Name::new`]).
    pub(crate) fn name(&mut self) -> io::Result<Name<'a>> {
        Name::new(self.cstr()?)
    }

    /// Reads the request's last argument as a name: the NUL must be the final
    /// byte, so a name with an embedded NUL cannot pass for a shorter one.
    pub(crate) fn final_name(&mut self) -> io::Result<Name<'a>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_without_nul_is_rejected() {
        let mut args = Args::new(b"abc");
        assert!(args.name().is_err());
    }

    #[test]
    fn final_name_rejects_embedded_nul() {
        assert!(Args::new(b"a\0b\0").final_name().is_err());
        assert_eq!(Args::new(b"a\0").final_name().unwrap().as_bytes(), b"a");
    }

    #[test]
    fn names_are_checked_with_the_name_rules() {
        let errno = |buf: &[u8]| Args::new(buf).final_name().unwrap_err().raw_os_error();
        assert_eq!(errno(b"..\0"), Some(libc::EINVAL));
        assert_eq!(errno(b"a/b\0"), Some(libc::EINVAL));
        let mut long = vec![b'x'; crate::filesystem::NAME_MAX + 1];
        long.push(0);
        assert_eq!(errno(&long), Some(libc::ENAMETOOLONG));
    }

    #[test]
    fn two_names_in_a_row() {
        let mut args = Args::new(b"old\0new\0");
        assert_eq!(args.name().unwrap().as_bytes(), b"old");
        assert_eq!(args.name().unwrap().as_bytes(), b"new");
        assert!(args.rest().is_empty());
    }
}
