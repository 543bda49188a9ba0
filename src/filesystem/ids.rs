//! [`NodeId`] and [`HandleId`]: the two kinds of number the guest holds.
//!
//! Both travel as plain `u64` in FUSE requests and replies; keeping them
//! apart in the types means a handle can never be passed where a node id
//! belongs (every handle-taking method also takes a node id). The FUSE
//! layer wraps the wire values of a request with `from_raw` and unwraps
//! the ids of a reply with `get`; a filesystem wraps the ids it allocates.
//! Neither type says the id is valid: it comes from the guest, and the
//! filesystem must look it up.

use std::fmt;

/// A FUSE node id: names one inode for as long as the guest holds a lookup
/// reference on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct NodeId(u64);

impl NodeId {
    /// The root of the shared directory, fixed by the FUSE protocol.
    pub const ROOT: NodeId = NodeId(1);

    /// No node: the id of a negative entry (FUSE node id 0).
    pub const NONE: NodeId = NodeId(0);

    /// The node id a request or the filesystem's own counter carries.
    pub const fn from_raw(id: u64) -> Self {
        NodeId(id)
    }

    /// The number on the wire.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A handle of an open file or directory, as the filesystem returned it
/// from OPEN, CREATE, TMPFILE or OPENDIR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct HandleId(u64);

impl HandleId {
    /// The handle a request or the filesystem's own counter carries.
    pub const fn from_raw(id: u64) -> Self {
        HandleId(id)
    }

    /// The number on the wire.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for HandleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_the_wire_value() {
        assert_eq!(NodeId::from_raw(42).get(), 42);
        assert_eq!(HandleId::from_raw(u64::MAX).get(), u64::MAX);
    }

    #[test]
    fn root_is_node_one_and_none_is_zero() {
        assert_eq!(NodeId::ROOT.get(), 1);
        assert_eq!(NodeId::NONE.get(), 0);
    }

    #[test]
    fn ids_display_as_their_number() {
        assert_eq!(NodeId::from_raw(7).to_string(), "7");
        assert_eq!(HandleId::from_raw(9).to_string(), "9");
    }
}
