//! The request opcodes: [`Opcode`] with its kernel numbers and names, generated
//! from one table so they cannot drift apart.

use thiserror::Error;

#[cfg(doc)]
use super::*;

/// Error of [`Opcode::try_from`]: the number names no FUSE request.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown FUSE opcode {0}")]
pub struct UnknownOpcode(pub u32);

/// Defines [`Opcode`] together with its number and name tables, so the three
/// cannot drift apart.
macro_rules! opcodes {
    ($($(#[$doc:meta])* $variant:ident = $value:literal => $name:literal,)*) => {
        /// FUSE request opcodes ([`InHeader::opcode`]).
        #[repr(u32)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Opcode {
            $($(#[$doc])* $variant = $value,)*
        }

        impl Opcode {
            /// Every opcode, in numeric order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$variant,)*];

            /// The kernel's name without the `FUSE_` prefix, e.g. `"LOOKUP"`.
            pub const fn name(&self) -> &'static str {
                match self {
                    $(Opcode::$variant => $name,)*
                }
            }
        }

        impl TryFrom<u32> for Opcode {
            type Error = UnknownOpcode;

            fn try_from(value: u32) -> Result<Self, Self::Error> {
                match value {
                    $($value => Ok(Opcode::$variant),)*
                    other => Err(UnknownOpcode(other)),
                }
            }
        }
    };
}

opcodes! {
    /// Look up a name in a directory; takes a reference on the result.
    Lookup = 1 => "LOOKUP",
    /// Drop references taken by lookups ([`ForgetIn`]); no reply.
    Forget = 2 => "FORGET",
    /// Read attributes ([`GetattrIn`]).
    Getattr = 3 => "GETATTR",
    /// Change attributes ([`SetattrIn`]).
    Setattr = 4 => "SETATTR",
    /// Read a symlink target.
    Readlink = 5 => "READLINK",
    /// Create a symlink: name and target follow.
    Symlink = 6 => "SYMLINK",
    /// Create a special or regular file ([`MknodIn`]).
    Mknod = 8 => "MKNOD",
    /// Create a directory ([`MkdirIn`]).
    Mkdir = 9 => "MKDIR",
    /// Remove a non-directory.
    Unlink = 10 => "UNLINK",
    /// Remove an empty directory.
    Rmdir = 11 => "RMDIR",
    /// Rename ([`RenameIn`]).
    Rename = 12 => "RENAME",
    /// Create a hard link ([`LinkIn`]).
    Link = 13 => "LINK",
    /// Open a file ([`OpenIn`]).
    Open = 14 => "OPEN",
    /// Read from an open file ([`ReadIn`]).
    Read = 15 => "READ",
    /// Write to an open file ([`WriteIn`]).
    Write = 16 => "WRITE",
    /// Filesystem statistics.
    Statfs = 17 => "STATFS",
    /// Close an open file ([`ReleaseIn`]).
    Release = 18 => "RELEASE",
    /// Sync an open file ([`FsyncIn`]).
    Fsync = 20 => "FSYNC",
    /// Set an extended attribute ([`SetxattrIn`]).
    Setxattr = 21 => "SETXATTR",
    /// Get an extended attribute ([`GetxattrIn`]).
    Getxattr = 22 => "GETXATTR",
    /// List extended attributes ([`GetxattrIn`]).
    Listxattr = 23 => "LISTXATTR",
    /// Remove an extended attribute.
    Removexattr = 24 => "REMOVEXATTR",
    /// Called on every close of a file descriptor ([`FlushIn`]).
    Flush = 25 => "FLUSH",
    /// Negotiate the protocol ([`InitIn`], [`InitOut`]).
    Init = 26 => "INIT",
    /// Open a directory ([`OpenIn`]).
    Opendir = 27 => "OPENDIR",
    /// Read directory entries ([`ReadIn`]).
    Readdir = 28 => "READDIR",
    /// Close a directory ([`ReleaseIn`]).
    Releasedir = 29 => "RELEASEDIR",
    /// Sync a directory ([`FsyncIn`]).
    Fsyncdir = 30 => "FSYNCDIR",
    /// Test for a lock ([`LkIn`]).
    Getlk = 31 => "GETLK",
    /// Take or release a lock without waiting ([`LkIn`]).
    Setlk = 32 => "SETLK",
    /// Take a lock, waiting for it ([`LkIn`]).
    Setlkw = 33 => "SETLKW",
    /// Check access permissions ([`AccessIn`]).
    Access = 34 => "ACCESS",
    /// Create and open a file ([`CreateIn`]).
    Create = 35 => "CREATE",
    /// Interrupt a pending request ([`InterruptIn`]).
    Interrupt = 36 => "INTERRUPT",
    /// Map a file block to a device block ([`BmapIn`]).
    Bmap = 37 => "BMAP",
    /// The mount is going away.
    Destroy = 38 => "DESTROY",
    /// Forward an ioctl ([`IoctlIn`]).
    Ioctl = 39 => "IOCTL",
    /// Poll a file for readiness ([`PollIn`]).
    Poll = 40 => "POLL",
    /// Reply to `NOTIFY_RETRIEVE` ([`NotifyRetrieveIn`]).
    NotifyReply = 41 => "NOTIFY_REPLY",
    /// Drop references of several inodes ([`BatchForgetIn`]); no reply.
    BatchForget = 42 => "BATCH_FORGET",
    /// Allocate or punch file space ([`FallocateIn`]).
    Fallocate = 43 => "FALLOCATE",
    /// Read directory entries with their attributes ([`ReadIn`]).
    Readdirplus = 44 => "READDIRPLUS",
    /// Rename with `renameat2(2)` flags ([`Rename2In`]).
    Rename2 = 45 => "RENAME2",
    /// Find data or holes ([`LseekIn`]).
    Lseek = 46 => "LSEEK",
    /// Copy a range between open files ([`CopyFileRangeIn`]).
    CopyFileRange = 47 => "COPY_FILE_RANGE",
    /// Map file ranges into the DAX window ([`SetupmappingIn`]).
    Setupmapping = 48 => "SETUPMAPPING",
    /// Unmap ranges from the DAX window ([`RemovemappingIn`]).
    Removemapping = 49 => "REMOVEMAPPING",
    /// Flush the whole filesystem ([`SyncfsIn`]).
    Syncfs = 50 => "SYNCFS",
    /// Create and open an unnamed file ([`CreateIn`]).
    Tmpfile = 51 => "TMPFILE",
    /// Read attributes the `statx(2)` way ([`StatxIn`], [`StatxOut`]).
    Statx = 52 => "STATX",
}

impl From<Opcode> for u32 {
    fn from(op: Opcode) -> u32 {
        op as u32
    }
}

impl std::fmt::Display for Opcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
