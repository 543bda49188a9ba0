//! Request extensions: the blocks a guest appends after a request's
//! arguments (`InHeader::total_extlen` counts them in 8-byte units).
//!
//! The only one the daemon uses is FUSE_EXT_GROUPS (negotiated with
//! FUSE_CREATE_SUPP_GROUP): on a request that creates an inode, the guest
//! names the parent directory's group when the caller is a member of it
//! only through a supplementary group. Unknown extensions are skipped; a
//! malformed extension block makes the request fail with `EINVAL`.

use std::io;
use std::mem::size_of;

use zerocopy::FromBytes;

use crate::fuse::abi::{ext_type, ExtHeader, SuppGroups};
use crate::fuse::args::guest_len;

fn einval() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

/// Splits a request's argument block into the arguments proper and the
/// extension block of `total_extlen` 8-byte units at its end.
pub(crate) fn split_extensions(args: &[u8], total_extlen: u16) -> io::Result<(&[u8], &[u8])> {
    let ext_len = usize::from(total_extlen) * 8;
    let split = args.len().checked_sub(ext_len).ok_or_else(einval)?;
    Ok(args.split_at(split))
}

/// The supplementary group carried by an FUSE_EXT_GROUPS extension in
/// `ext`, if any.
pub(crate) fn supp_group(mut ext: &[u8]) -> io::Result<Option<u32>> {
    let mut found = None;
    while !ext.is_empty() {
        let (header, _) = ExtHeader::read_from_prefix(ext).map_err(|_| einval())?;
        let size = guest_len(header.size)?;
        if size < size_of::<ExtHeader>() || !size.is_multiple_of(8) || size > ext.len() {
            return Err(einval());
        }
        let body = &ext[size_of::<ExtHeader>()..size];
        if header.type_ == ext_type::EXT_GROUPS {
            found = first_group(body)?;
        }
        ext = &ext[size..];
    }
    Ok(found)
}

/// The first group of a [`SuppGroups`] body (the guest sends exactly one).
fn first_group(body: &[u8]) -> io::Result<Option<u32>> {
    let (groups, rest) = SuppGroups::read_from_prefix(body).map_err(|_| einval())?;
    if groups.nr_groups == 0 {
        return Ok(None);
    }
    let (group, _) = u32::read_from_prefix(rest).map_err(|_| einval())?;
    Ok(Some(group))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups_ext(groups: &[u32]) -> Vec<u8> {
        let body = 4 + 4 * groups.len();
        let size = (8 + body).div_ceil(8) * 8;
        let mut v = Vec::new();
        v.extend_from_slice(&(size as u32).to_le_bytes());
        v.extend_from_slice(&ext_type::EXT_GROUPS.to_le_bytes());
        v.extend_from_slice(&(groups.len() as u32).to_le_bytes());
        for g in groups {
            v.extend_from_slice(&g.to_le_bytes());
        }
        v.resize(size, 0);
        v
    }

    #[test]
    fn extension_block_is_split_off_the_end() {
        let args = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let (a, e) = split_extensions(&args, 1).unwrap();
        assert_eq!((a, e), (&args[..2], &args[2..]));
        assert_eq!(split_extensions(&args, 0).unwrap().1, &[] as &[u8]);
        assert!(split_extensions(&args, 2).is_err());
    }

    #[test]
    fn the_group_is_found_among_other_extensions() {
        let mut ext = vec![16, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        ext.extend(groups_ext(&[1234]));
        assert_eq!(supp_group(&ext).unwrap(), Some(1234));
        assert_eq!(supp_group(&[]).unwrap(), None);
        assert_eq!(supp_group(&groups_ext(&[])).unwrap(), None);
    }

    #[test]
    fn malformed_extensions_are_rejected() {
        let mut bad_size = groups_ext(&[1]);
        bad_size[0] = 12;
        assert!(supp_group(&bad_size).is_err());
        let mut too_long = groups_ext(&[1]);
        too_long[0] = 64;
        assert!(supp_group(&too_long).is_err());
        assert!(supp_group(&[8, 0, 0, 0]).is_err());
        let mut zero = groups_ext(&[1]);
        zero[0] = 0;
        assert!(supp_group(&zero).is_err());
    }
}
