//! Target 1: FUSE decode and dispatch on a real passthrough filesystem.
//!
//! The input is a sequence of requests, each served the way the device
//! serves a chain: the header is copied once ([`RequestHead::read`]), the
//! request is admitted ([`Server::admit`], or
//! [`Server::admit_high_priority`] for the high-priority queue), then
//! [`Server::handle`] runs it over a [`SliceReader`] and a [`VecWriter`].
//! The harness sends a valid INIT first so later requests get past the
//! session check.
//!
//! # Input format
//!
//! ```text
//! input   := config:u8 record*
//! record  := ctl:u8 len:u16le bytes[len]      (the last one may be cut short)
//! config  bit 0: xattrs on; bit 1: read-only; bits 2-3: file handle policy
//!         (never, prefer, mandatory, prefer); bit 4: writeback offered;
//!         bits 5-6: cache policy
//! ctl     bits 0-2: reply buffer size (see REPLY_CAPACITY);
//!         bit 3: popped from the high-priority queue;
//!         bit 4: the transport peeks at a READ's size;
//!         bits 5-6: the request queue (epoch shard) it came from
//! bytes   the request: header (40 bytes, `len` need not match) and arguments
//! ```
//!
//! # What is checked
//!
//! * nothing panics (debug assertions are on in fuzzing builds);
//! * every reply is well formed: its header's `len` equals the length the
//!   server returned, which is what it wrote, the error is 0 or a negated
//!   errno, `unique` is echoed, an error reply is a bare header, and a
//!   request without reply writes nothing;
//! * nothing appears outside the shared directory: the directory holding the
//!   share and the one above it still hold exactly what they held before;
//! * no descriptor into the share is left open once the server is dropped.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use epochfsd::fuse::abi::{InHeader, InitIn, Opcode, OutHeader, ROOT_ID};
use epochfsd::fuse::io::mem::{SliceReader, VecWriter};
use epochfsd::fuse::{Outcome, RequestHead, Scratch, Server, ServerError, ServerOptions};
use epochfsd::passthrough::{CachePolicy, Config, HandlePolicy, PassthroughFs};
use zerocopy::{FromBytes, IntoBytes};

use crate::Bytes;

/// Reply buffer sizes selected by the low bits of a record's control byte:
/// none, less than a reply header, exactly one, small, a page, 16 KiB, and
/// the 128 KiB a READ of 32 pages needs.
pub const REPLY_CAPACITY: [usize; 8] = [0, 15, 16, 40, 120, 4096, 16 << 10, (128 << 10) + 16];

/// Bytes of a request header.
pub const HEADER_LEN: usize = size_of::<InHeader>();

const OUT_HEADER_LEN: usize = size_of::<OutHeader>();

/// FALLOCATE and COPY_FILE_RANGE lengths above this are not executed unless
/// the share is on a size-limited filesystem (`EPOCHFSD_FUZZ_DIR`): a guest
/// may ask for terabytes, and the fuzzer must not fill the host's disk.
const UNBOUNDED_MAX_LEN: u64 = 16 << 20;

/// Where the shares live: `$EPOCHFSD_FUZZ_DIR` (which `scripts/fuzz.sh`
/// mounts as a small tmpfs) or the system's temporary directory.
fn parent() -> &'static (PathBuf, bool) {
    static PARENT: OnceLock<(PathBuf, bool)> = OnceLock::new();
    PARENT.get_or_init(|| match std::env::var_os("EPOCHFSD_FUZZ_DIR") {
        Some(dir) => (PathBuf::from(dir), true),
        None => (std::env::temp_dir(), false),
    })
}

/// Runs one input.
///
/// Each run gets a fresh `TOP/outer/share` (`TOP` a new temporary
/// directory, removed at the end): the share is the filesystem's root, and
/// `TOP` and `outer` must hold nothing but the way down to it afterwards.
pub fn run(data: &[u8]) {
    let (parent, bounded) = parent();
    let top = tempfile::Builder::new()
        .prefix("epochfsd-fuzz-")
        .tempdir_in(parent)
        .expect("create the fuzzing directory");
    // The passthrough sets the process umask to 0; keep other users out of
    // the directories above the share all the same.
    fs::set_permissions(top.path(), fs::Permissions::from_mode(0o700))
        .expect("restrict the fuzzing directory");
    let outer = top.path().join("outer");
    let share = outer.join("share");
    fs::create_dir(&outer).expect("create outer directory");
    fs::create_dir(&share).expect("create share");
    {
        let mut input = Bytes::new(data);
        let config = input.u8();
        let fs = PassthroughFs::new(fs_config(&share, config)).expect("passthrough over share");
        let options = ServerOptions {
            epoch_shards: 4,
            writeback: config & 0x10 != 0,
            ..ServerOptions::default()
        };
        let server = Server::new(fs, options);
        let mut scratch = Scratch::default();
        let init = init_request();
        serve(&server, &mut scratch, 0x07, &init, *bounded);
        while !input.is_empty() {
            let ctl = input.u8();
            let len = usize::from(input.u16());
            let request = input.take(len);
            serve(&server, &mut scratch, ctl, request, *bounded);
        }
        assert_eq!(
            entries(top.path()),
            ["outer"],
            "something escaped the share"
        );
        assert_eq!(entries(&outer), ["share"], "something escaped the share");
    }
    let leaked = fds_into(&share);
    assert!(leaked.is_empty(), "descriptors leaked: {leaked:?}");
    remove_tree(top.path());
}

fn fs_config(share: &Path, config: u8) -> Config {
    Config {
        root_dir: share.to_path_buf(),
        xattr: config & 0x01 != 0,
        readonly: config & 0x02 != 0,
        inode_file_handles: match (config >> 2) & 3 {
            0 => HandlePolicy::Never,
            2 => HandlePolicy::Mandatory,
            _ => HandlePolicy::Prefer,
        },
        writeback: config & 0x10 != 0,
        cache: match (config >> 5) & 3 {
            0 => CachePolicy::Never,
            1 => CachePolicy::Metadata,
            2 => CachePolicy::Auto,
            _ => CachePolicy::Always,
        },
        ..Config::default()
    }
}

/// A valid INIT offering every flag, as the first request of every run.
pub fn init_request() -> Vec<u8> {
    let init = InitIn {
        major: 7,
        minor: 41,
        max_readahead: 128 << 10,
        flags: u32::MAX,
        flags2: u32::MAX,
        ..Default::default()
    };
    request(Opcode::Init, 1, ROOT_ID, init.as_bytes())
}

/// A request with a header whose `len` matches `args`, as root.
pub fn request(op: Opcode, unique: u64, nodeid: u64, args: &[u8]) -> Vec<u8> {
    let header = InHeader {
        len: (HEADER_LEN + args.len()) as u32,
        opcode: op as u32,
        unique,
        nodeid,
        ..Default::default()
    };
    [header.as_bytes(), args].concat()
}

/// Serves one request as the device does, and checks the reply.
fn serve(
    server: &Server<PassthroughFs>,
    scratch: &mut Scratch,
    ctl: u8,
    bytes: &[u8],
    bounded: bool,
) {
    let want_data_len = ctl & 0x10 != 0;
    // The device drops a chain shorter than a header without a reply.
    let Some(head) = RequestHead::read(|buf| peek(bytes, buf), want_data_len) else {
        return;
    };
    if !executable(&head, bytes, bounded) {
        return;
    }
    let hiprio = ctl & 0x08 != 0;
    let admission = if hiprio {
        server.admit_high_priority(&head)
    } else {
        server.admit(&head, usize::from((ctl >> 5) & 3))
    };
    let capacity = REPLY_CAPACITY[usize::from(ctl & 7)];
    let mut reader = SliceReader::new(bytes);
    let mut writer = VecWriter::new(capacity);
    let outcome = server.handle(&head, &mut reader, &mut writer, scratch, admission);
    check_reply(&head, &outcome, &writer, capacity);
}

fn peek(bytes: &[u8], buf: &mut [u8]) -> bool {
    match bytes.get(..buf.len()) {
        Some(prefix) => {
            buf.copy_from_slice(prefix);
            true
        }
        None => false,
    }
}

/// Whether the harness can run this request on its one thread.
///
/// SETLKW waits for another lock owner to let go: the device serves it on a
/// worker while other threads go on; here nothing else would ever run.
/// Huge FALLOCATE and COPY_FILE_RANGE lengths are skipped outside a
/// size-limited share (see [`UNBOUNDED_MAX_LEN`]).
fn executable(head: &RequestHead, bytes: &[u8], bounded: bool) -> bool {
    let args = &bytes[HEADER_LEN..];
    let u64_at = |offset: usize| {
        args.get(offset..offset + 8)
            .and_then(|b| u64::read_from_bytes(b).ok())
    };
    match head.opcode() {
        Ok(Opcode::Setlkw) => false,
        Ok(Opcode::Fallocate) if !bounded => u64_at(16).is_none_or(|n| n <= UNBOUNDED_MAX_LEN),
        Ok(Opcode::CopyFileRange) if !bounded => u64_at(40).is_none_or(|n| n <= UNBOUNDED_MAX_LEN),
        _ => true,
    }
}

fn check_reply(
    head: &RequestHead,
    outcome: &Result<Outcome, ServerError>,
    writer: &VecWriter,
    capacity: usize,
) {
    let written = writer.written();
    match outcome {
        Ok(Outcome::NoReply) => {
            assert!(head.is_high_priority(), "no reply to {:?}", head.opcode());
            assert!(
                written.is_empty(),
                "a request without reply wrote {written:?}"
            );
        }
        Ok(Outcome::Replied(len)) => {
            let len = *len;
            assert!(
                len >= OUT_HEADER_LEN && len <= capacity,
                "reply of {len} bytes in {capacity}"
            );
            let (out, _) =
                OutHeader::read_from_prefix(written).expect("a reply header was written");
            assert_eq!(out.len as usize, len, "reply header len vs reply length");
            assert_eq!(out.unique, head.unique(), "reply unique");
            assert!(
                out.error <= 0 && out.error > -4096,
                "reply error {} is no negated errno",
                out.error
            );
            if out.error != 0 {
                assert_eq!(len, OUT_HEADER_LEN, "an error reply carries a payload");
            } else {
                assert_eq!(written.len(), len, "bytes written vs reply length");
            }
        }
        Err(ServerError::NoRoomForReply { capacity: c, .. }) => {
            assert_eq!(*c, capacity);
            assert!(
                capacity < OUT_HEADER_LEN,
                "dropped a request with {capacity} bytes of room"
            );
        }
        Err(ServerError::ShortHeader(err)) => {
            panic!("a request of at least a header was refused as short: {err}")
        }
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read a fuzzing directory")
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The process's descriptors that still point into `dir` (other threads'
/// descriptors, such as a test runner's, point elsewhere).
fn fds_into(dir: &Path) -> Vec<PathBuf> {
    let Ok(fds) = fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    fds.filter_map(|fd| fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .collect()
}

/// Removes what a run left in the share, even where it took every
/// permission away (the harness runs as root, but be thorough).
fn remove_tree(path: &Path) {
    match fs::remove_dir_all(path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(_) => {
            let _ = std::process::Command::new("chmod")
                .args(["-R", "u+rwx"])
                .arg(path)
                .status();
            let _ = fs::remove_dir_all(path);
        }
    }
}
