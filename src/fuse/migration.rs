//! Migration state of a FUSE session: the framing of the whole state and
//! the session's own part.
//!
//! The bytes a migration source hands the VMM (and the destination gets
//! back) are:
//!
//! | field | size |
//! |---|---|
//! | magic `EPOCHFSD` | 8 |
//! | format version ([`FORMAT`]) | 4 |
//! | body length | 8 |
//! | body | body length |
//! | FNV-1a 64 of the body | 8 |
//!
//! The body holds two sections: the session (whether INIT happened, the
//! INIT flags both sides agreed on, the `max_write` the guest was told)
//! and the filesystem's own (see `FileSystem::save_state`). A stream that
//! is cut short, has bytes appended, fails the checksum or comes from
//! another format version is refused with a message that says which; so
//! is a session the destination cannot serve (a flag it does not offer, a
//! smaller `max_write`). A refused load changes nothing.
//!
//! What SYNCFS owes does not travel: the queues are stopped before the
//! state is saved, so no epoch has a member in flight, but the dirty sets
//! name the source's writes; the destination's first SYNCFS flushes the
//! whole host filesystem instead (syncfs(2)), later ones are targeted
//! again.

use std::sync::atomic::Ordering;

use super::abi::init_flags as flags;
use super::server::Server;
use crate::filesystem::{FileSystem, InitOptions, StateError, StateReader, StateWriter};

/// First bytes of every state.
const MAGIC: &[u8; 8] = b"EPOCHFSD";

/// Version of the framing and session section.
pub const FORMAT: u32 = 1;

/// FNV-1a, 64 bits: catches a corrupted byte; the stream's authenticity
/// is the VMM's business (it carries the state in its own stream).
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The session state read from a stream, not applied yet.
struct Session {
    initialized: bool,
    negotiated: u64,
    max_write: u32,
}

impl<F: FileSystem> Server<F> {
    /// The whole migration state of this session (call with the queues
    /// stopped and no request in flight).
    pub fn save_state(&self) -> Result<Vec<u8>, StateError> {
        let mut body = StateWriter::new();
        body.section(|s| {
            s.u8(u8::from(self.initialized.load(Ordering::Acquire)));
            s.u64(self.negotiated.load(Ordering::Acquire));
            s.u32(self.options.max_write);
        });
        let mut saved = Ok(());
        body.section(|s| saved = self.fs.save_state(s));
        saved?;
        let body = body.into_bytes();
        let mut out = StateWriter::new();
        for &b in MAGIC {
            out.u8(b);
        }
        out.u32(FORMAT);
        out.u64(body.len() as u64);
        let mut out = out.into_bytes();
        out.extend_from_slice(&body);
        out.extend_from_slice(&checksum(&body).to_le_bytes());
        Ok(out)
    }

    /// Takes over the session a source saved with
    /// [`save_state`](Self::save_state) (call before the queues start).
    pub fn load_state(&self, bytes: &[u8]) -> Result<(), StateError> {
        let body = unframe(bytes)?;
        let mut body = StateReader::new(body);
        let session = read_session(&mut body.section("session")?)?;
        self.check_session(&session)?;
        let mut fs = body.section("filesystem")?;
        body.finish()?;
        self.fs.load_state(&mut fs)?;
        fs.finish()?;
        self.negotiated.store(session.negotiated, Ordering::Release);
        if session.initialized {
            let agreed = session.negotiated;
            self.fs
                .init(InitOptions {
                    readdirplus: agreed & flags::DO_READDIRPLUS != 0,
                    writeback: agreed & flags::WRITEBACK_CACHE != 0,
                    dont_mask: agreed & flags::DONT_MASK != 0,
                })
                .map_err(|e| StateError::Refused(format!("the filesystem refused INIT: {e}")))?;
        }
        self.initialized
            .store(session.initialized, Ordering::Release);
        self.durability.forget_history();
        log::info!(
            "migrated FUSE session taken over: flags {:#x}, max_write {}",
            session.negotiated,
            session.max_write
        );
        Ok(())
    }

    /// Refuses a session this server could not have negotiated.
    fn check_session(&self, session: &Session) -> Result<(), StateError> {
        let missing = session.negotiated & !self.offered_flags();
        if missing != 0 {
            return Err(StateError::Refused(format!(
                "the guest agreed on INIT flags {missing:#x} that this daemon does not offer \
                 (start it with the source's options)"
            )));
        }
        if session.max_write > self.options.max_write {
            return Err(StateError::Refused(format!(
                "the guest was told max_write {}, this daemon allows {}",
                session.max_write, self.options.max_write
            )));
        }
        Ok(())
    }
}

/// The body of a framed state, after every check of the frame.
fn unframe(bytes: &[u8]) -> Result<&[u8], StateError> {
    let mut r = StateReader::new(bytes);
    let mut magic = [0u8; 8];
    for b in &mut magic {
        *b = r.u8("magic")?;
    }
    if &magic != MAGIC {
        return Err(StateError::Refused(
            "not an epochfsd migration state (wrong magic)".into(),
        ));
    }
    let version = r.u32("format version")?;
    if version != FORMAT {
        return Err(StateError::Version {
            what: "epochfsd state",
            found: version,
            supported: FORMAT,
        });
    }
    let len = r.u64("body length")?;
    let header = bytes.len() - r.remaining();
    let body_len = usize::try_from(len).map_err(|_| StateError::Truncated { what: "body" })?;
    let end = header
        .checked_add(body_len)
        .filter(|&end| end <= bytes.len())
        .ok_or(StateError::Truncated { what: "body" })?;
    let body = &bytes[header..end];
    let mut tail = StateReader::new(&bytes[end..]);
    let sum = tail.u64("checksum")?;
    tail.finish()?;
    if sum != checksum(body) {
        return Err(StateError::Refused(
            "the state is corrupt (checksum mismatch)".into(),
        ));
    }
    Ok(body)
}

fn read_session(r: &mut StateReader<'_>) -> Result<Session, StateError> {
    let session = Session {
        initialized: r.bool("session initialized")?,
        negotiated: r.u64("session INIT flags")?,
        max_write: r.u32("session max_write")?,
    };
    r.finish()?;
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&FORMAT.to_le_bytes());
        v.extend_from_slice(&(body.len() as u64).to_le_bytes());
        v.extend_from_slice(body);
        v.extend_from_slice(&checksum(body).to_le_bytes());
        v
    }

    #[test]
    fn a_frame_gives_back_its_body() {
        assert_eq!(unframe(&framed(b"body")).unwrap(), b"body");
    }

    #[test]
    fn every_cut_of_a_frame_is_refused() {
        let whole = framed(b"some body bytes");
        for cut in 0..whole.len() {
            assert!(unframe(&whole[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_body_byte_fails_the_checksum() {
        let mut whole = framed(b"some body bytes");
        whole[22] ^= 1;
        let err = unframe(&whole).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
    }

    #[test]
    fn another_version_is_refused_with_both_numbers() {
        let mut whole = framed(b"x");
        whole[8..12].copy_from_slice(&7u32.to_le_bytes());
        let err = unframe(&whole).unwrap_err().to_string();
        assert!(
            err.contains("version 7") && err.contains("reads 1"),
            "{err}"
        );
    }

    #[test]
    fn appended_bytes_are_refused() {
        let mut whole = framed(b"x");
        whole.push(0);
        assert!(matches!(
            unframe(&whole),
            Err(StateError::Trailing { count: 1 })
        ));
    }

    #[test]
    fn another_magic_is_refused() {
        let mut whole = framed(b"x");
        whole[0] = b'X';
        assert!(unframe(&whole).unwrap_err().to_string().contains("magic"));
    }
}
