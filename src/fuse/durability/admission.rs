//! Admission: what a request owes the SYNCFS epochs, decided when it is taken
//! off its queue.
//!
//! The device calls [`Server::admit`] with the request's [`RequestHead`] (the
//! header copied once, see [`super::intake`]) at the moment it pops the chain, before the request waits for a worker. A
//! request that changes data or metadata joins the current epoch there; a
//! SYNCFS closes it there. Deciding at pop time (and not when a worker gets
//! to the request) is what makes "arrived before the SYNCFS" mean what the
//! guest sees: queue order, whatever the worker scheduling.

use super::trace::TraceStamp;
use crate::epoch::{FlightGuard, FlightWait, OwnedEpochGuard, OwnedSyncTicket};
use crate::fuse::abi::Opcode;
use crate::fuse::intake::RequestHead;

/// What a request owes the epochs.
#[derive(Debug, Default)]
pub enum Role {
    /// Reads and other requests that change nothing durable.
    #[default]
    Free,
    /// A mutating request: a member of the epoch current when it was popped,
    /// and of its inode's current phase (for FSYNC).
    Member(OwnedEpochGuard, FlightGuard),
    /// An FSYNC or FSYNCDIR: the mutations on its inode to wait for first.
    Fsync(Option<FlightWait>),
    /// A SYNCFS: the epochs it must wait for. `None` when every epoch slot
    /// was busy at pop time; the worker then closes the epoch itself.
    Sync(Option<OwnedSyncTicket>),
    /// A request that arrived where it may not (anything but FORGET,
    /// BATCH_FORGET and INTERRUPT on the high-priority queue): answered
    /// with EINVAL without being executed.
    Refused,
}

/// The epoch bookkeeping a request carries until it is answered.
#[derive(Debug, Default)]
pub struct Admission {
    pub(crate) role: Role,
    /// Set when `--trace-epochs` is on and the request is traced.
    pub(crate) stamp: Option<TraceStamp>,
    /// The request (an FSYNC, FSYNCDIR or SYNCFS) had nothing earlier to
    /// wait for when it was admitted: it waits only for the host's flush.
    host_only: bool,
}

impl Admission {
    /// A request that owes the epochs nothing.
    pub const FREE: Admission = Admission {
        role: Role::Free,
        stamp: None,
        host_only: false,
    };

    /// A request with `role`, traced with `stamp`. An FSYNC with no earlier
    /// change of its inode in flight waits only for the host.
    pub(crate) fn new(role: Role, stamp: Option<TraceStamp>) -> Self {
        let host_only = matches!(role, Role::Fsync(None));
        Admission {
            role,
            stamp,
            host_only,
        }
    }

    /// Marks a SYNCFS whose covered epochs were already empty when it was
    /// admitted: it waits only for the host's flush.
    pub(crate) fn waiting_only_for_the_host(mut self) -> Self {
        self.host_only = true;
        self
    }

    /// Whether the request `head`, admitted as `self`, may wait for other
    /// requests: [`RequestHead::waits_on_others`], except an FSYNC or
    /// FSYNCDIR with no earlier change of its inode in flight and a SYNCFS
    /// whose epochs were empty at admission. Those wait only for the host's
    /// flush, as a WRITE waits for its pwrite, so the queue's thread may
    /// serve them (the rule that a request blocked in the host does not
    /// hold the queues covers them like any other); handing them to a
    /// worker would cost every fsync-per-file workload a thread switch.
    pub fn waits_on_others(&self, head: &RequestHead) -> bool {
        !self.host_only && head.waits_on_others()
    }
}

/// Does `op` change data or metadata that a SYNCFS must make durable?
pub fn joins_epoch(op: Opcode) -> bool {
    matches!(
        op,
        Opcode::Write
            | Opcode::Setattr
            | Opcode::Fallocate
            | Opcode::CopyFileRange
            | Opcode::Create
            | Opcode::Mknod
            | Opcode::Mkdir
            | Opcode::Symlink
            | Opcode::Link
            | Opcode::Unlink
            | Opcode::Rmdir
            | Opcode::Rename
            | Opcode::Rename2
            | Opcode::Tmpfile
            | Opcode::Setxattr
            | Opcode::Removexattr
            // OPEN with O_TRUNC truncates; the flags are past the header, so
            // every OPEN joins and only truncating ones record a change.
            | Opcode::Open
    )
}

/// Whether `role`, decided at admission, is one a request with opcode `op`
/// can have. Both come from the same copy of the header, so a mismatch is a
/// bug in the daemon; the server refuses such a request rather than, say,
/// let a WRITE wait for its own epoch as a SYNCFS would.
pub(crate) fn role_fits(role: &Role, op: Opcode) -> bool {
    match role {
        Role::Free | Role::Refused => true,
        Role::Member(..) => joins_epoch(op),
        Role::Fsync(_) => matches!(op, Opcode::Fsync | Opcode::Fsyncdir),
        Role::Sync(_) => op == Opcode::Syncfs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_namespace_changes_join_reads_do_not() {
        for op in [
            Opcode::Write,
            Opcode::Setattr,
            Opcode::Rename2,
            Opcode::Unlink,
        ] {
            assert!(joins_epoch(op), "{op:?}");
        }
        for op in [
            Opcode::Read,
            Opcode::Getattr,
            Opcode::Lookup,
            Opcode::Setlkw,
            Opcode::Syncfs,
        ] {
            assert!(!joins_epoch(op), "{op:?}");
        }
    }

    #[test]
    fn a_role_fits_only_the_opcodes_that_can_have_it() {
        assert!(role_fits(&Role::Fsync(None), Opcode::Fsyncdir));
        assert!(!role_fits(&Role::Fsync(None), Opcode::Write));
        assert!(!role_fits(&Role::Sync(None), Opcode::Write));
        assert!(role_fits(&Role::Sync(None), Opcode::Syncfs));
        assert!(role_fits(&Role::Free, Opcode::Write));
    }
}
