//! Layout checks: every struct has the kernel's size and field offsets, and
//! the opcode table matches the kernel's numbers and names.

use super::*;
use std::mem::offset_of;
use zerocopy::{FromBytes, IntoBytes};

macro_rules! assert_sizes {
    ($($ty:ty => $size:expr,)*) => {
        $(assert_eq!(size_of::<$ty>(), $size, stringify!($ty));)*
    };
}

#[test]
fn struct_sizes_match_kernel() {
    assert_sizes! {
        InHeader => 40,
        OutHeader => 16,
        Attr => 88,
        SxTime => 16,
        Statx => 256,
        Kstatfs => 80,
        FileLock => 24,
        EntryOut => 128,
        ForgetIn => 8,
        ForgetOne => 16,
        BatchForgetIn => 8,
        GetattrIn => 16,
        AttrOut => 104,
        StatxIn => 24,
        StatxOut => 288,
        MknodIn => 16,
        MkdirIn => 8,
        RenameIn => 8,
        Rename2In => 16,
        LinkIn => 8,
        SetattrIn => 88,
        OpenIn => 8,
        CreateIn => 16,
        OpenOut => 16,
        ReleaseIn => 24,
        FlushIn => 24,
        ReadIn => 40,
        WriteIn => 40,
        WriteOut => 8,
        StatfsOut => 80,
        FsyncIn => 16,
        SetxattrIn => 16,
        GetxattrIn => 8,
        GetxattrOut => 8,
        LkIn => 48,
        LkOut => 24,
        AccessIn => 8,
        InitIn => 64,
        InitOut => 64,
        InterruptIn => 8,
        BmapIn => 16,
        BmapOut => 8,
        IoctlIn => 32,
        IoctlIovec => 16,
        IoctlOut => 16,
        PollIn => 24,
        PollOut => 8,
        NotifyPollWakeupOut => 8,
        FallocateIn => 32,
        Dirent => 24,
        Direntplus => 152,
        NotifyInvalInodeOut => 24,
        NotifyInvalEntryOut => 16,
        NotifyDeleteOut => 24,
        NotifyStoreOut => 24,
        NotifyRetrieveOut => 32,
        NotifyRetrieveIn => 40,
        LseekIn => 24,
        LseekOut => 8,
        CopyFileRangeIn => 56,
        SetupmappingIn => 40,
        RemovemappingIn => 4,
        RemovemappingOne => 16,
        SyncfsIn => 8,
        Secctx => 8,
        SecctxHeader => 8,
        ExtHeader => 8,
        SuppGroups => 4,
    }
}

#[test]
fn compat_sizes_are_prefixes_of_current_structs() {
    assert!(COMPAT_ENTRY_OUT_SIZE < size_of::<EntryOut>());
    assert!(COMPAT_ATTR_OUT_SIZE < size_of::<AttrOut>());
    assert_eq!(COMPAT_MKNOD_IN_SIZE, offset_of!(MknodIn, umask));
    assert_eq!(COMPAT_WRITE_IN_SIZE, offset_of!(WriteIn, lock_owner));
    assert_eq!(COMPAT_STATFS_SIZE, offset_of!(Kstatfs, frsize));
    assert_eq!(
        COMPAT_SETXATTR_IN_SIZE,
        offset_of!(SetxattrIn, setxattr_flags)
    );
    assert_eq!(COMPAT_INIT_OUT_SIZE, offset_of!(InitOut, max_readahead));
    assert_eq!(COMPAT_22_INIT_OUT_SIZE, offset_of!(InitOut, time_gran));
}

#[test]
fn field_offsets_match_kernel() {
    assert_eq!(offset_of!(InHeader, total_extlen), 36);
    assert_eq!(offset_of!(InitIn, flags2), 16);
    assert_eq!(offset_of!(InitOut, max_pages), 28);
    assert_eq!(offset_of!(InitOut, flags2), 32);
    assert_eq!(offset_of!(InitOut, max_stack_depth), 36);
    assert_eq!(offset_of!(SetattrIn, uid), 76);
    assert_eq!(offset_of!(Statx, atime), 64);
    assert_eq!(offset_of!(Statx, rdev_major), 128);
    assert_eq!(offset_of!(StatxOut, stat), 32);
    assert_eq!(offset_of!(Direntplus, dirent), 128);
    assert_eq!(offset_of!(LkIn, lk_flags), 40);
}

#[test]
fn every_opcode_round_trips_through_u32() {
    for &op in Opcode::ALL {
        assert_eq!(Opcode::try_from(u32::from(op)), Ok(op));
    }
    assert_eq!(Opcode::ALL.len(), 50);
}

#[test]
fn numbers_without_an_opcode_are_rejected() {
    for n in 0..=64u32 {
        let known = Opcode::ALL.iter().any(|&op| op as u32 == n);
        assert_eq!(Opcode::try_from(n).is_ok(), known, "opcode {n}");
    }
    assert_eq!(Opcode::try_from(7), Err(UnknownOpcode(7)));
    assert_eq!(Opcode::try_from(9999), Err(UnknownOpcode(9999)));
    assert_eq!(UnknownOpcode(9999).to_string(), "unknown FUSE opcode 9999");
}

#[test]
fn opcode_numbers_and_names_match_kernel() {
    assert_eq!(Opcode::Lookup as u32, 1);
    assert_eq!(Opcode::Mknod as u32, 8);
    assert_eq!(Opcode::Fsync as u32, 20);
    assert_eq!(Opcode::Setupmapping as u32, 48);
    assert_eq!(Opcode::Syncfs as u32, 50);
    assert_eq!(Opcode::Statx as u32, 52);
    assert_eq!(Opcode::Lookup.name(), "LOOKUP");
    assert_eq!(Opcode::CopyFileRange.name(), "COPY_FILE_RANGE");
    assert_eq!(Opcode::Syncfs.to_string(), "SYNCFS");
}

#[test]
fn opcode_names_are_unique() {
    let mut names: Vec<_> = Opcode::ALL.iter().map(Opcode::name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Opcode::ALL.len());
}

#[test]
fn flags2_bits_sit_above_bit_31() {
    assert_eq!(init_flags::INIT_EXT, 1 << 30);
    assert_eq!(init_flags::SECURITY_CTX >> 32, 1);
    assert_eq!(init_flags::CREATE_SUPP_GROUP >> 32, 1 << 2);
    assert_eq!(init_flags::ALLOW_IDMAP >> 32, 1 << 8);
}

#[test]
fn dirent_sizes_round_up_to_eight() {
    assert_eq!(dirent_size(0), 24);
    assert_eq!(dirent_size(1), 32);
    assert_eq!(dirent_size(8), 32);
    assert_eq!(dirent_size(9), 40);
    assert_eq!(direntplus_size(1), 160);
    assert_eq!(direntplus_size(NAME_MAX), 152 + 256);
}

#[test]
fn in_header_decodes_from_native_bytes() {
    let header = InHeader {
        len: 48,
        opcode: Opcode::Syncfs as u32,
        unique: 7,
        nodeid: ROOT_ID,
        total_extlen: 1,
        ..Default::default()
    };
    let bytes = header.as_bytes().to_vec();

    let decoded = InHeader::read_from_bytes(&bytes).expect("40 bytes");

    assert_eq!(decoded.opcode, 50);
    assert_eq!(decoded.unique, 7);
    assert_eq!(decoded.nodeid, ROOT_ID);
    assert_eq!(decoded.total_extlen, 1);
}
