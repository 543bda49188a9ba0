//! The FUSE wire format, protocol 7.41 (Linux 6.12 `include/uapi/linux/fuse.h`).
//!
//! This module owns the byte layout of FUSE messages and nothing else: the
//! fixed-size request and reply structs, the opcode numbers and the flag
//! constants. It holds no logic and does no I/O; decoding a request, checking
//! its lengths and encoding a reply belong to the rest of [`crate::fuse`].
//!
//! # Conventions
//!
//! * Kernel `struct fuse_foo_bar` is `FooBar` here, with the
//!   kernel's field names (`type` is spelled `type_`). Fields the kernel leaves
//!   unused or reserves for alignment are kept, so every struct is exactly as
//!   large as its C counterpart and has no implicit padding.
//! * Every struct derives the `zerocopy` traits, so it is read from and written
//!   to byte buffers without `unsafe`. Trailing variable-length parts (names,
//!   data, group lists) are not part of the structs: they follow them on the
//!   wire.
//! * Kernel `#define` groups become modules of constants, typed like the
//!   field they go in, with the `FUSE_` (and `FOPEN_`) prefix dropped:
//!   `FUSE_GETATTR_FH` is [`getattr_flags::GETATTR_FH`], `FATTR_MODE` stays
//!   [`fattr::FATTR_MODE`].
//! * Integers are in native byte order. virtio-fs carries FUSE messages in the
//!   guest's byte order, so the daemon assumes guest and host agree on it.

mod flags;
#[cfg(test)]
mod layout_tests;
mod notify;
mod opcode;
mod replies;
mod requests;
mod structs;

pub use flags::*;
pub use notify::*;
pub use opcode::*;
pub use replies::*;
pub use requests::*;
pub use structs::*;

/// Major protocol version this daemon speaks.
pub const KERNEL_VERSION: u32 = 7;

/// Minor protocol version this daemon speaks (Linux 6.12).
pub const KERNEL_MINOR_VERSION: u32 = 41;

/// Node id of the root directory of the mount.
pub const ROOT_ID: u64 = 1;

/// Longest name component the daemon accepts (the filesystem layer's
/// constant, which [`crate::filesystem::Name`] enforces).
pub use crate::filesystem::NAME_MAX;

/// Smallest read buffer a `/dev/fuse` server must offer the kernel.
pub const MIN_READ_BUFFER: usize = 8192;

/// Bit set in [`InHeader::unique`] when the kernel resends a request after
/// `NOTIFY_RESEND`.
pub const UNIQUE_RESEND: u64 = 1 << 63;

/// Value of [`InHeader::uid`] and [`InHeader::gid`] when the caller's ids have
/// no mapping (idmapped mounts: requests that do not create an inode).
pub const INVALID_UIDGID: u32 = u32::MAX;

/// Most iovecs (input plus output) an unrestricted ioctl reply may ask for.
pub const IOCTL_MAX_IOV: usize = 256;

/// Size of [`EntryOut`] before protocol 7.9.
pub const COMPAT_ENTRY_OUT_SIZE: usize = 120;
/// Size of [`AttrOut`] before protocol 7.9.
pub const COMPAT_ATTR_OUT_SIZE: usize = 96;
/// Size of [`MknodIn`] before protocol 7.12 (no `umask`).
pub const COMPAT_MKNOD_IN_SIZE: usize = 8;
/// Size of [`WriteIn`] before protocol 7.9.
pub const COMPAT_WRITE_IN_SIZE: usize = 24;
/// Size of [`StatfsOut`] before protocol 7.4.
pub const COMPAT_STATFS_SIZE: usize = 48;
/// Size of [`SetxattrIn`] unless [`init_flags::SETXATTR_EXT`] was negotiated.
pub const COMPAT_SETXATTR_IN_SIZE: usize = 8;
/// Size of [`InitOut`] before protocol 7.5.
pub const COMPAT_INIT_OUT_SIZE: usize = 8;
/// Size of [`InitOut`] before protocol 7.23.
pub const COMPAT_22_INIT_OUT_SIZE: usize = 24;

/// Offset of the name in a directory entry: the size of [`Dirent`].
pub const NAME_OFFSET: usize = size_of::<Dirent>();
/// Offset of the name in a `READDIRPLUS` entry: the size of [`Direntplus`].
pub const NAME_OFFSET_DIRENTPLUS: usize = size_of::<Direntplus>();

/// Rounds `len` up to the 8-byte alignment of directory records.
const fn rec_align(len: usize) -> usize {
    (len + 7) & !7
}

/// Bytes one `READDIR` record takes: a [`Dirent`], the name, padding to 8.
pub const fn dirent_size(namelen: usize) -> usize {
    rec_align(NAME_OFFSET + namelen)
}

/// Bytes one `READDIRPLUS` record takes: a [`Direntplus`], the name, padding
/// to 8.
pub const fn direntplus_size(namelen: usize) -> usize {
    rec_align(NAME_OFFSET_DIRENTPLUS + namelen)
}
