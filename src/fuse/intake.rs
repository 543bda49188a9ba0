//! Intake: a request as the transport takes it off a queue.
//!
//! Guest memory is shared with the guest, which may change a request while
//! the daemon looks at it. The request header is therefore copied out of
//! guest memory exactly once, when the chain is taken off its queue, into a
//! [`RequestHead`]. Everything decided about the request afterwards (its
//! SYNCFS role at admission, where it runs, which handler serves it, the
//! node id and credentials it acts with, the length its arguments are
//! checked against) reads that one copy; the server skips the header bytes
//! in guest memory instead of reading them again. A guest that rewrites the
//! header after the copy changes nothing but the bytes the daemon ignores.
//!
//! The transport asks a `RequestHead` only protocol-neutral questions
//! (how many bytes it moves, whether it may wait on other requests), so it
//! needs no FUSE opcode list of its own.

use std::mem::size_of;

use zerocopy::{FromBytes, FromZeros, IntoBytes};

use super::abi::{InHeader, Opcode, ReadIn, UnknownOpcode};

/// Bytes of a request's fixed header.
pub const HEADER_LEN: usize = size_of::<InHeader>();

/// Bytes the transport peeks at to learn what a READ moves.
const READ_PREFIX_LEN: usize = HEADER_LEN + size_of::<ReadIn>();

/// The header of one request, copied once out of guest memory.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead {
    header: InHeader,
    data_len: u32,
}

impl RequestHead {
    /// Copies the header of a request through `peek`, which fills its
    /// buffer with a prefix of the request's readable bytes (false when the
    /// request is shorter or unreadable). With `want_data_len`, a READ's
    /// size is peeked at too (a second, longer prefix), for
    /// [`RequestHead::data_len`]. `None` when not even a header is there.
    pub fn read(mut peek: impl FnMut(&mut [u8]) -> bool, want_data_len: bool) -> Option<Self> {
        let mut header = InHeader::new_zeroed();
        if !peek(header.as_mut_bytes()) {
            return None;
        }
        let data_len = match Opcode::try_from(header.opcode) {
            Ok(Opcode::Write) => header.len,
            Ok(Opcode::Read) if want_data_len => read_size(peek),
            _ => 0,
        };
        Some(RequestHead { header, data_len })
    }

    /// A head built from a header already in daemon memory (tests, fuzzing).
    pub fn from_header(header: InHeader) -> Self {
        let data_len = match Opcode::try_from(header.opcode) {
            Ok(Opcode::Write) => header.len,
            _ => 0,
        };
        RequestHead { header, data_len }
    }

    /// The request's opcode.
    pub fn opcode(&self) -> Result<Opcode, UnknownOpcode> {
        Opcode::try_from(self.header.opcode)
    }

    /// The copied header.
    pub(crate) fn header(&self) -> &InHeader {
        &self.header
    }

    /// The request's unique id (for log lines of the transport).
    pub fn unique(&self) -> u64 {
        self.header.unique
    }

    /// Bytes a WRITE (its whole length) or a READ (its size, when asked
    /// for at [`RequestHead::read`]) moves; 0 otherwise. A READ's size is a
    /// hint: the server reads the argument again, and a guest that changes
    /// it in between changes only where its own request runs.
    pub fn data_len(&self) -> u32 {
        self.data_len
    }

    /// Whether the request may, by its nature, wait for other requests or
    /// for a disk flush: SYNCFS (earlier epochs), FSYNC and FSYNCDIR
    /// (earlier mutations of the inode, then the disk), FLUSH, FALLOCATE,
    /// COPY_FILE_RANGE, SETLKW (another owner's lock), POLL, IOCTL, DESTROY.
    /// The transport never serves such a request on a thread that takes
    /// requests off queues. Unknown opcodes are answered at once and do
    /// not wait.
    pub fn waits_on_others(&self) -> bool {
        matches!(
            self.opcode(),
            Ok(Opcode::Setlkw
                | Opcode::Syncfs
                | Opcode::Fsync
                | Opcode::Fsyncdir
                | Opcode::Flush
                | Opcode::Fallocate
                | Opcode::CopyFileRange
                | Opcode::Ioctl
                | Opcode::Poll
                | Opcode::Destroy)
        )
    }

    /// Whether the request belongs on the high-priority queue (FORGET,
    /// BATCH_FORGET, INTERRUPT: the requests without a reply).
    pub fn is_high_priority(&self) -> bool {
        matches!(
            self.opcode(),
            Ok(Opcode::Forget | Opcode::BatchForget | Opcode::Interrupt)
        )
    }
}

/// A READ's `size`, from a longer prefix of the request; 0 if unreadable.
fn read_size(mut peek: impl FnMut(&mut [u8]) -> bool) -> u32 {
    let mut prefix = [0u8; READ_PREFIX_LEN];
    if !peek(&mut prefix) {
        return 0;
    }
    ReadIn::read_from_prefix(&prefix[HEADER_LEN..]).map_or(0, |(arg, _)| arg.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opcode: Opcode, len: u32) -> InHeader {
        InHeader {
            len,
            opcode: opcode as u32,
            unique: 7,
            ..Default::default()
        }
    }

    fn peeker(bytes: Vec<u8>) -> impl FnMut(&mut [u8]) -> bool {
        move |buf: &mut [u8]| match bytes.get(..buf.len()) {
            Some(prefix) => {
                buf.copy_from_slice(prefix);
                true
            }
            None => false,
        }
    }

    #[test]
    fn a_writes_data_len_is_its_length_and_a_reads_its_size() {
        let read = ReadIn {
            size: 1 << 20,
            ..Default::default()
        };
        let read_request = [header(Opcode::Read, 80).as_bytes(), read.as_bytes()].concat();
        let write = header(Opcode::Write, 4200).as_bytes().to_vec();

        let write_head = RequestHead::read(peeker(write), true).unwrap();
        let read_head = RequestHead::read(peeker(read_request.clone()), true).unwrap();
        let unasked = RequestHead::read(peeker(read_request), false).unwrap();

        assert_eq!(write_head.data_len(), 4200);
        assert_eq!(read_head.data_len(), 1 << 20);
        assert_eq!(unasked.data_len(), 0);
    }

    #[test]
    fn a_short_request_has_no_head_and_a_short_read_moves_nothing() {
        let read = header(Opcode::Read, 80).as_bytes().to_vec();

        assert!(RequestHead::read(peeker(vec![0; 8]), true).is_none());
        assert_eq!(RequestHead::read(peeker(read), true).unwrap().data_len(), 0);
    }

    #[test]
    fn the_head_keeps_the_bytes_of_the_first_read() {
        let mut bytes = header(Opcode::Write, 100).as_bytes().to_vec();
        let head = RequestHead::read(peeker(bytes.clone()), false).unwrap();
        // The guest rewrites the opcode afterwards: the copy does not change.
        bytes[4..8].copy_from_slice(&(Opcode::Syncfs as u32).to_le_bytes());

        assert_eq!(head.opcode(), Ok(Opcode::Write));
        assert_eq!(head.unique(), 7);
    }

    #[test]
    fn requests_that_wait_on_others_are_known_by_opcode() {
        let waits = |op| RequestHead::from_header(header(op, 40)).waits_on_others();

        assert!(waits(Opcode::Syncfs));
        assert!(waits(Opcode::Fsync));
        assert!(waits(Opcode::Setlkw));
        assert!(!waits(Opcode::Write));
        assert!(!waits(Opcode::Lookup));
    }

    #[test]
    fn only_replyless_requests_are_high_priority() {
        let hiprio = |op| RequestHead::from_header(header(op, 48)).is_high_priority();

        assert!(hiprio(Opcode::Forget));
        assert!(hiprio(Opcode::BatchForget));
        assert!(!hiprio(Opcode::Write));
        assert!(!hiprio(Opcode::Syncfs));
    }
}
