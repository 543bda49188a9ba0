//! Admission: what a request owes the SYNCFS epochs, decided when it is taken
//! off its queue.
//!
//! The device calls [`Server::admit`] with the request's header bytes at the
//! moment it pops the chain, before the request waits for a worker. A
//! request that changes data or metadata joins the current epoch there; a
//! SYNCFS closes it there. Deciding at pop time (and not when a worker gets
//! to the request) is what makes "arrived before the SYNCFS" mean what the
//! guest sees: queue order, whatever the worker scheduling.

use std::mem::size_of;

use zerocopy::FromBytes;

use super::abi::{InHeader, Opcode, ReadIn};
use super::server::Server;
use super::trace::TraceStamp;
use crate::epoch::{FlightGuard, FlightWait, OwnedEpochGuard, OwnedSyncTicket};
use crate::filesystem::FileSystem;

/// Bytes the device peeks at to admit a request.
pub const ADMISSION_HEADER_LEN: usize = size_of::<InHeader>();

/// The bytes a READ (its `size`) or WRITE (its whole length) moves, from
/// the request's first [`ADMISSION_HEADER_LEN`] bytes `header`; `peek` fills
/// a longer prefix of the request (READ's argument) and returns false if it
/// cannot. 0 for other requests or unreadable ones.
pub fn data_len(header: &[u8], peek: impl FnOnce(&mut [u8]) -> bool) -> u32 {
    let Ok((header, _)) = InHeader::read_from_prefix(header) else {
        return 0;
    };
    match Opcode::try_from(header.opcode) {
        Ok(Opcode::Write) => header.len,
        Ok(Opcode::Read) => {
            let mut buf = [0u8; size_of::<InHeader>() + size_of::<ReadIn>()];
            if !peek(&mut buf) {
                return 0;
            }
            ReadIn::read_from_prefix(&buf[size_of::<InHeader>()..]).map_or(0, |(arg, _)| arg.size)
        }
        _ => 0,
    }
}

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
}

/// The epoch bookkeeping a request carries until it is answered.
#[derive(Debug, Default)]
pub struct Admission {
    pub(crate) role: Role,
    /// Set when `--trace-epochs` is on and the request is traced.
    pub(crate) stamp: Option<TraceStamp>,
}

impl Admission {
    /// A request that owes the epochs nothing.
    pub const FREE: Admission = Admission {
        role: Role::Free,
        stamp: None,
    };
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

impl<F: FileSystem> Server<F> {
    /// Admits the request whose first bytes are `header`, popped from the
    /// queue served by `shard`. Unreadable headers are admitted as `Free`;
    /// the server rejects them later anyway.
    pub fn admit(&self, header: &[u8], shard: usize) -> Admission {
        let Ok((header, _)) = InHeader::read_from_prefix(header) else {
            return Admission::FREE;
        };
        let Ok(op) = Opcode::try_from(header.opcode) else {
            return Admission::FREE;
        };
        let role = match op {
            // Never block the queue: if every epoch slot is busy, the worker
            // closes the epoch itself.
            Opcode::Syncfs => Role::Sync(OwnedSyncTicket::try_close(self.epochs.clone())),
            op if joins_epoch(op) => Role::Member(
                OwnedEpochGuard::join(self.epochs.clone(), shard),
                self.flights.join(header.nodeid),
            ),
            // Not traced: FSYNC is not part of the SYNCFS guarantee.
            Opcode::Fsync | Opcode::Fsyncdir => {
                return Admission {
                    role: Role::Fsync(self.flights.mark(header.nodeid)),
                    stamp: None,
                }
            }
            _ => return Admission::FREE,
        };
        let stamp = self.trace.as_ref().map(|_| {
            let mut stamp = TraceStamp::new(op, shard + 1, header.unique, header.nodeid);
            stamp.epoch = match &role {
                Role::Member(guard, _) => Some(guard.epoch()),
                Role::Sync(ticket) => ticket.as_ref().map(|t| t.epoch()),
                Role::Free | Role::Fsync(_) => None,
            };
            stamp
        });
        Admission { role, stamp }
    }
}

#[cfg(test)]
mod tests {
    use zerocopy::IntoBytes;

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

    fn header(opcode: Opcode, len: u32) -> Vec<u8> {
        let h = InHeader {
            len,
            opcode: opcode as u32,
            ..Default::default()
        };
        h.as_bytes().to_vec()
    }

    #[test]
    fn data_len_is_a_writes_length_and_a_reads_size() {
        let read = ReadIn {
            size: 1 << 20,
            ..Default::default()
        };
        let read_request = [header(Opcode::Read, 80), read.as_bytes().to_vec()].concat();
        let fill = |buf: &mut [u8]| {
            buf.copy_from_slice(&read_request[..buf.len()]);
            true
        };

        assert_eq!(data_len(&header(Opcode::Write, 4200), |_| false), 4200);
        assert_eq!(
            data_len(&read_request[..ADMISSION_HEADER_LEN], fill),
            1 << 20
        );
    }

    #[test]
    fn data_len_is_zero_for_other_or_unreadable_requests() {
        assert_eq!(data_len(&header(Opcode::Getattr, 56), |_| true), 0);
        assert_eq!(data_len(&header(Opcode::Read, 80), |_| false), 0);
        assert_eq!(data_len(&[0u8; 8], |_| true), 0);
    }
}
