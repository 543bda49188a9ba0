//! Host-level access to the inodes behind node ids, for tools that work
//! beside the guest's requests rather than through them.
//!
//! The crash simulation (`crate::crashsim`) must read what a request is
//! about to overwrite and, on `crash`, put the host directory back as a
//! power cut would leave it. It does so on descriptors of the host inodes
//! it is given here; it never resolves a guest name itself beyond the one
//! component a request names. A filesystem that cannot hand out such
//! descriptors does not implement this trait, and the crash simulation
//! cannot run over it.

use std::io;
use std::os::fd::OwnedFd;

use super::NodeId;

/// Descriptors of the host inodes a filesystem serves.
pub trait HostObjects {
    /// An `O_PATH | O_NOFOLLOW` descriptor of the host inode behind node
    /// `inode`, owned by the caller (it keeps the inode reachable as long
    /// as it is open).
    fn object_fd(&self, inode: NodeId) -> io::Result<OwnedFd>;
}
