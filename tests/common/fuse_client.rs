//! `FuseClient`: encodes FUSE requests the way a Linux 6.12 virtio-fs guest
//! does and decodes the replies, over a [`TestVmm`].
//!
//! Chain shape, as the guest builds it: one readable descriptor for the
//! `InHeader`, one per request argument, then one writable descriptor for the
//! `OutHeader` and one for the reply body. Every method waits for its reply
//! with [`FuseClient::timeout`] and panics if none comes: a hung daemon fails
//! the test instead of hanging it.
//!
//! This file holds the transport, the session, lookups, attributes and file
//! I/O; namespace and directory calls are in `fuse_client_namespace`, the
//! rarer operations in `fuse_client_ext`.

use std::time::Duration;

use epochfsd::fuse::abi::{self, init_flags, InHeader, Opcode, OutHeader};
use zerocopy::{FromBytes, IntoBytes};

use super::vmm::{RawDesc, TestVmm};

/// The hiprio queue (FORGET only).
pub const HIPRIO_QUEUE: usize = 0;
/// Default time to wait for any reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a 6.12 guest asks for in INIT (plus DO_READDIRPLUS so READDIRPLUS
/// can be exercised directly).
pub const GUEST_INIT_FLAGS: u64 = init_flags::ASYNC_READ
    | init_flags::POSIX_LOCKS
    | init_flags::ATOMIC_O_TRUNC
    | init_flags::EXPORT_SUPPORT
    | init_flags::BIG_WRITES
    | init_flags::DONT_MASK
    | init_flags::FLOCK_LOCKS
    | init_flags::HAS_IOCTL_DIR
    | init_flags::AUTO_INVAL_DATA
    | init_flags::DO_READDIRPLUS
    | init_flags::READDIRPLUS_AUTO
    | init_flags::ASYNC_DIO
    | init_flags::WRITEBACK_CACHE
    | init_flags::NO_OPEN_SUPPORT
    | init_flags::PARALLEL_DIROPS
    | init_flags::HANDLE_KILLPRIV
    | init_flags::POSIX_ACL
    | init_flags::ABORT_ERROR
    | init_flags::MAX_PAGES
    | init_flags::CACHE_SYMLINKS
    | init_flags::NO_OPENDIR_SUPPORT
    | init_flags::EXPLICIT_INVAL_DATA
    | init_flags::MAP_ALIGNMENT
    | init_flags::SUBMOUNTS
    | init_flags::HANDLE_KILLPRIV_V2
    | init_flags::SETXATTR_EXT
    | init_flags::INIT_EXT
    | init_flags::SECURITY_CTX
    | init_flags::HAS_INODE_DAX
    | init_flags::CREATE_SUPP_GROUP
    | init_flags::HAS_EXPIRE_ONLY
    | init_flags::DIRECT_IO_ALLOW_MMAP
    | init_flags::NO_EXPORT_SUPPORT
    | init_flags::HAS_RESEND
    | init_flags::ALLOW_IDMAP;

/// Readahead the guest announces (bytes).
pub const GUEST_MAX_READAHEAD: u32 = 128 * 1024;

/// How a client lays its chains out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainMode {
    /// Descriptors straight in the ring's table.
    Direct,
    /// One ring descriptor pointing at an indirect table.
    Indirect,
}

/// A finished request, undecoded.
#[derive(Debug)]
pub struct Completion {
    pub head: u16,
    /// Length the daemon put in the used ring.
    pub used_len: u32,
    /// All writable bytes of the chain.
    pub reply: Vec<u8>,
}

impl Completion {
    /// The reply header, if the daemon wrote at least one.
    pub fn header(&self) -> Option<OutHeader> {
        if self.used_len < size_of::<OutHeader>() as u32 {
            return None;
        }
        OutHeader::read_from_prefix(&self.reply)
            .ok()
            .map(|(h, _)| h)
    }
}

/// A request placed on a queue and not yet collected.
#[derive(Debug)]
pub struct Pending {
    pub queue: usize,
    pub head: u16,
    pub header: InHeader,
}

/// `"LOOKUP"` for 1, `"opcode 9999"` for unknown numbers.
pub fn opcode_name(opcode: u32) -> String {
    Opcode::try_from(opcode)
        .map(|o| o.name().to_string())
        .unwrap_or_else(|_| format!("opcode {opcode}"))
}

/// A READDIR record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: u64,
    pub off: u64,
    pub type_: u32,
    pub name: Vec<u8>,
}

/// A READDIRPLUS record.
#[derive(Clone, Debug)]
pub struct DirEntryPlus {
    pub entry: abi::EntryOut,
    pub dirent: DirEntry,
}

/// Result of a FUSE call: the decoded reply or a positive errno.
pub type FuseResult<T> = Result<T, i32>;

/// A FUSE "guest" over a [`TestVmm`].
pub struct FuseClient {
    pub vmm: TestVmm,
    /// Queue used by the typed methods (1 = first request queue).
    pub queue: usize,
    /// How chains are laid out.
    pub mode: ChainMode,
    /// Wait for each reply at most this long.
    pub timeout: Duration,
    /// Credentials put in every request header.
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
    unique: u64,
    /// The daemon's INIT reply, once [`init`](Self::init) succeeded.
    pub init_out: Option<abi::InitOut>,
}

pub(super) fn name_arg(name: &[u8]) -> Vec<u8> {
    let mut v = name.to_vec();
    v.push(0);
    v
}

pub(super) fn decode<T: FromBytes>(body: &[u8], what: &str) -> T {
    match T::read_from_prefix(body) {
        Ok((t, _)) => t,
        Err(_) => panic!(
            "{what}: reply body of {} bytes is shorter than {}",
            body.len(),
            size_of::<T>()
        ),
    }
}

impl FuseClient {
    /// A client sending as the test process's uid/gid on request queue 1.
    pub fn new(vmm: TestVmm) -> FuseClient {
        // SAFETY: getuid/getgid/getpid cannot fail and touch no memory.
        let (uid, gid, pid) = unsafe { (libc::getuid(), libc::getgid(), libc::getpid()) };
        FuseClient {
            vmm,
            queue: 1,
            mode: ChainMode::Direct,
            timeout: REPLY_TIMEOUT,
            uid,
            gid,
            pid: pid as u32,
            unique: 0,
            init_out: None,
        }
    }

    /// The next `unique` value (never zero, even, as the kernel's are).
    pub fn next_unique(&mut self) -> u64 {
        self.unique += 2;
        self.unique
    }

    /// A header for `opcode` on `nodeid` whose `len` covers `args_len` bytes
    /// of arguments.
    pub fn header(&mut self, opcode: u32, nodeid: u64, args_len: usize) -> InHeader {
        InHeader {
            len: (size_of::<InHeader>() + args_len) as u32,
            opcode,
            unique: self.next_unique(),
            nodeid,
            uid: self.uid,
            gid: self.gid,
            pid: self.pid,
            total_extlen: 0,
            padding: 0,
        }
    }

    /// Places `readable` and `writable_lens` on `queue` (in the client's
    /// [`ChainMode`]), kicks and waits for the used entry; panics on timeout.
    pub fn roundtrip(
        &mut self,
        queue: usize,
        readable: &[&[u8]],
        writable_lens: &[u32],
    ) -> Completion {
        let head = match self.mode {
            ChainMode::Direct => self.vmm.submit(queue, readable, writable_lens),
            ChainMode::Indirect => self.vmm.submit_indirect(queue, readable, writable_lens),
        };
        self.finish(queue, head)
    }

    /// Kicks `queue` and waits for `head`; panics on timeout.
    pub fn finish(&mut self, queue: usize, head: u16) -> Completion {
        self.vmm.kick(queue);
        let used_len = self
            .vmm
            .wait_head(queue, head, self.timeout)
            .unwrap_or_else(|| {
                panic!(
                    "daemon did not complete head {head} on queue {queue} within {:?}",
                    self.timeout
                )
            });
        Completion {
            head,
            used_len,
            reply: self.vmm.read_reply(queue, head),
        }
    }

    /// Places raw descriptors on `queue`, kicks and waits up to `timeout`.
    /// `None` means the daemon did not complete the chain.
    pub fn raw_roundtrip(
        &mut self,
        queue: usize,
        descs: &[RawDesc],
        timeout: Duration,
    ) -> Option<u32> {
        let head = self.vmm.submit_raw(queue, descs);
        self.vmm.kick(queue);
        self.vmm.wait_head(queue, head, timeout)
    }

    /// Sends one request (header built here, `args` as separate readable
    /// descriptors, empty ones skipped) and returns the reply header and body.
    /// `reply_len` is the size of the writable body buffer (0: header only).
    ///
    /// Panics if the daemon does not answer or answers inconsistently
    /// (used length different from the header's `len`, wrong `unique`).
    pub fn request(
        &mut self,
        queue: usize,
        opcode: u32,
        nodeid: u64,
        args: &[&[u8]],
        reply_len: u32,
    ) -> (OutHeader, Vec<u8>) {
        let mut writable = vec![size_of::<OutHeader>() as u32];
        if reply_len > 0 {
            writable.push(reply_len);
        }
        let p = self.start_request(queue, opcode, nodeid, args, &writable);
        let used_len = self.wait_pending(&p);
        self.finish_pending(p, used_len)
    }

    /// Places a request on `queue` and kicks, without waiting: `args` are
    /// readable descriptors after the header (empty ones skipped),
    /// `writable_lens` the writable ones (the first should hold the
    /// `OutHeader`).
    pub fn start_request(
        &mut self,
        queue: usize,
        opcode: u32,
        nodeid: u64,
        args: &[&[u8]],
        writable_lens: &[u32],
    ) -> Pending {
        let args_len: usize = args.iter().map(|a| a.len()).sum();
        let header = self.header(opcode, nodeid, args_len);
        let mut readable: Vec<&[u8]> = Vec::with_capacity(args.len() + 1);
        readable.push(header.as_bytes());
        readable.extend(args.iter().copied().filter(|a| !a.is_empty()));
        let head = match self.mode {
            ChainMode::Direct => self.vmm.submit(queue, &readable, writable_lens),
            ChainMode::Indirect => self.vmm.submit_indirect(queue, &readable, writable_lens),
        };
        self.vmm.kick(queue);
        Pending {
            queue,
            head,
            header,
        }
    }

    /// Waits for a started request and returns its used length; panics on
    /// timeout. Allocates nothing large (the reply stays in guest memory).
    pub fn wait_pending(&mut self, p: &Pending) -> u32 {
        self.vmm
            .wait_head(p.queue, p.head, self.timeout)
            .unwrap_or_else(|| {
                panic!(
                    "daemon did not answer {} (unique {}) on queue {} within {:?}",
                    opcode_name(p.header.opcode),
                    p.header.unique,
                    p.queue,
                    self.timeout
                )
            })
    }

    /// Reads and validates the reply of a completed request.
    pub fn finish_pending(&mut self, p: Pending, used_len: u32) -> (OutHeader, Vec<u8>) {
        let c = Completion {
            head: p.head,
            used_len,
            reply: self.vmm.read_reply(p.queue, p.head),
        };
        self.check_reply(&p.header, &c)
    }

    /// Validates a completion against its request header and splits it.
    pub fn check_reply(&self, h: &InHeader, c: &Completion) -> (OutHeader, Vec<u8>) {
        let op = opcode_name(h.opcode);
        let out = c.header().unwrap_or_else(|| {
            panic!(
                "{op}: used length {} is too short for a reply header",
                c.used_len
            )
        });
        assert_eq!(out.unique, h.unique, "{op}: reply carries the wrong unique");
        assert_eq!(
            out.len, c.used_len,
            "{op}: reply header len {} differs from used length {}",
            out.len, c.used_len
        );
        assert!(
            out.len as usize <= c.reply.len(),
            "{op}: reply len {} exceeds the {} writable bytes",
            out.len,
            c.reply.len()
        );
        if out.error != 0 {
            assert_eq!(
                out.len as usize,
                size_of::<OutHeader>(),
                "{op}: an error reply must be a bare header"
            );
            assert!(
                out.error < 0 && out.error > -4096,
                "{op}: error {} is not a negated errno",
                out.error
            );
        }
        let body = c.reply[size_of::<OutHeader>()..out.len as usize].to_vec();
        (out, body)
    }

    /// [`request`](Self::request) on the client's queue, turned into a result.
    pub fn call(
        &mut self,
        opcode: Opcode,
        nodeid: u64,
        args: &[&[u8]],
        reply_len: u32,
    ) -> FuseResult<Vec<u8>> {
        let (out, body) = self.request(self.queue, opcode as u32, nodeid, args, reply_len);
        if out.error != 0 {
            Err(-out.error)
        } else {
            Ok(body)
        }
    }

    // ---- session ----

    /// INIT as a 6.12 guest sends it.
    pub fn init(&mut self) -> FuseResult<abi::InitOut> {
        self.init_with(GUEST_INIT_FLAGS, GUEST_MAX_READAHEAD)
    }

    /// INIT with explicit flags.
    pub fn init_with(&mut self, flags: u64, max_readahead: u32) -> FuseResult<abi::InitOut> {
        let arg = abi::InitIn {
            major: abi::KERNEL_VERSION,
            minor: abi::KERNEL_MINOR_VERSION,
            max_readahead,
            flags: flags as u32,
            flags2: (flags >> 32) as u32,
            ..Default::default()
        };
        let body = self.call(
            Opcode::Init,
            0,
            &[arg.as_bytes()],
            size_of::<abi::InitOut>() as u32,
        )?;
        let out: abi::InitOut = decode(&body, "INIT");
        self.init_out = Some(out);
        Ok(out)
    }

    /// DESTROY.
    pub fn destroy(&mut self) -> FuseResult<()> {
        self.call(Opcode::Destroy, 0, &[], 0).map(|_| ())
    }

    // ---- names ----

    pub fn lookup(&mut self, parent: u64, name: &[u8]) -> FuseResult<abi::EntryOut> {
        let n = name_arg(name);
        let body = self.call(
            Opcode::Lookup,
            parent,
            &[&n],
            size_of::<abi::EntryOut>() as u32,
        )?;
        Ok(decode(&body, "LOOKUP"))
    }

    /// FORGET on the hiprio queue. There is no reply; returns the used length
    /// the daemon gave the buffer back with, or `None` if it never did.
    pub fn forget(&mut self, nodeid: u64, nlookup: u64) -> Option<u32> {
        let arg = abi::ForgetIn { nlookup };
        let h = self.header(Opcode::Forget as u32, nodeid, size_of::<abi::ForgetIn>());
        let head = self
            .vmm
            .submit(HIPRIO_QUEUE, &[h.as_bytes(), arg.as_bytes()], &[]);
        self.vmm.kick(HIPRIO_QUEUE);
        self.vmm.wait_head(HIPRIO_QUEUE, head, self.timeout)
    }

    /// BATCH_FORGET on the hiprio queue (a 6.12 guest never sends it; other
    /// FUSE clients do). Returns the used length, `None` if never returned.
    pub fn batch_forget(&mut self, items: &[(u64, u64)]) -> Option<u32> {
        let arg = abi::BatchForgetIn {
            count: items.len() as u32,
            dummy: 0,
        };
        let mut one = Vec::new();
        for &(nodeid, nlookup) in items {
            one.extend_from_slice(abi::ForgetOne { nodeid, nlookup }.as_bytes());
        }
        let h = self.header(
            Opcode::BatchForget as u32,
            0,
            size_of::<abi::BatchForgetIn>() + one.len(),
        );
        let head = self
            .vmm
            .submit(HIPRIO_QUEUE, &[h.as_bytes(), arg.as_bytes(), &one], &[]);
        self.vmm.kick(HIPRIO_QUEUE);
        self.vmm.wait_head(HIPRIO_QUEUE, head, self.timeout)
    }

    // ---- attributes ----

    pub fn getattr(&mut self, nodeid: u64) -> FuseResult<abi::AttrOut> {
        let arg = abi::GetattrIn::default();
        let body = self.call(
            Opcode::Getattr,
            nodeid,
            &[arg.as_bytes()],
            size_of::<abi::AttrOut>() as u32,
        )?;
        Ok(decode(&body, "GETATTR"))
    }

    /// GETATTR through an open handle (GETATTR_FH).
    pub fn getattr_fh(&mut self, nodeid: u64, fh: u64) -> FuseResult<abi::AttrOut> {
        let arg = abi::GetattrIn {
            getattr_flags: abi::getattr_flags::GETATTR_FH,
            dummy: 0,
            fh,
        };
        let body = self.call(
            Opcode::Getattr,
            nodeid,
            &[arg.as_bytes()],
            size_of::<abi::AttrOut>() as u32,
        )?;
        Ok(decode(&body, "GETATTR"))
    }

    pub fn setattr(&mut self, nodeid: u64, arg: &abi::SetattrIn) -> FuseResult<abi::AttrOut> {
        let body = self.call(
            Opcode::Setattr,
            nodeid,
            &[arg.as_bytes()],
            size_of::<abi::AttrOut>() as u32,
        )?;
        Ok(decode(&body, "SETATTR"))
    }

    pub fn truncate(&mut self, nodeid: u64, size: u64) -> FuseResult<abi::AttrOut> {
        self.setattr(
            nodeid,
            &abi::SetattrIn {
                valid: abi::fattr::FATTR_SIZE,
                size,
                ..Default::default()
            },
        )
    }

    pub fn chmod(&mut self, nodeid: u64, mode: u32) -> FuseResult<abi::AttrOut> {
        self.setattr(
            nodeid,
            &abi::SetattrIn {
                valid: abi::fattr::FATTR_MODE,
                mode,
                ..Default::default()
            },
        )
    }

    /// Sets atime and mtime (seconds, nanoseconds).
    pub fn utimes(
        &mut self,
        nodeid: u64,
        atime: (u64, u32),
        mtime: (u64, u32),
    ) -> FuseResult<abi::AttrOut> {
        self.setattr(
            nodeid,
            &abi::SetattrIn {
                valid: abi::fattr::FATTR_ATIME | abi::fattr::FATTR_MTIME,
                atime: atime.0,
                atimensec: atime.1,
                mtime: mtime.0,
                mtimensec: mtime.1,
                ..Default::default()
            },
        )
    }

    pub fn statfs(&mut self, nodeid: u64) -> FuseResult<abi::StatfsOut> {
        let body = self.call(
            Opcode::Statfs,
            nodeid,
            &[],
            size_of::<abi::StatfsOut>() as u32,
        )?;
        Ok(decode(&body, "STATFS"))
    }

    // ---- files ----

    pub fn open(&mut self, nodeid: u64, flags: u32) -> FuseResult<abi::OpenOut> {
        let arg = abi::OpenIn {
            flags,
            open_flags: 0,
        };
        let body = self.call(
            Opcode::Open,
            nodeid,
            &[arg.as_bytes()],
            size_of::<abi::OpenOut>() as u32,
        )?;
        Ok(decode(&body, "OPEN"))
    }

    /// READ of up to `size` bytes into one writable descriptor.
    pub fn read(&mut self, nodeid: u64, fh: u64, offset: u64, size: u32) -> FuseResult<Vec<u8>> {
        let arg = abi::ReadIn {
            fh,
            offset,
            size,
            ..Default::default()
        };
        self.call(Opcode::Read, nodeid, &[arg.as_bytes()], size)
    }

    /// WRITE of `data` in one readable descriptor; returns bytes written.
    pub fn write(&mut self, nodeid: u64, fh: u64, offset: u64, data: &[u8]) -> FuseResult<u32> {
        let arg = abi::WriteIn {
            fh,
            offset,
            size: data.len() as u32,
            ..Default::default()
        };
        let body = self.call(
            Opcode::Write,
            nodeid,
            &[arg.as_bytes(), data],
            size_of::<abi::WriteOut>() as u32,
        )?;
        let out: abi::WriteOut = decode(&body, "WRITE");
        Ok(out.size)
    }

    /// WRITE with the data split into `seg`-byte descriptors, as a guest
    /// sends page-cache pages; returns bytes written.
    pub fn write_segmented(
        &mut self,
        nodeid: u64,
        fh: u64,
        offset: u64,
        data: &[u8],
        seg: usize,
    ) -> FuseResult<u32> {
        let arg = abi::WriteIn {
            fh,
            offset,
            size: data.len() as u32,
            ..Default::default()
        };
        let mut args: Vec<&[u8]> = vec![arg.as_bytes()];
        args.extend(data.chunks(seg));
        let body = self.call(
            Opcode::Write,
            nodeid,
            &args,
            size_of::<abi::WriteOut>() as u32,
        )?;
        let out: abi::WriteOut = decode(&body, "WRITE");
        Ok(out.size)
    }

    pub fn flush(&mut self, nodeid: u64, fh: u64) -> FuseResult<()> {
        let arg = abi::FlushIn {
            fh,
            ..Default::default()
        };
        self.call(Opcode::Flush, nodeid, &[arg.as_bytes()], 0)
            .map(|_| ())
    }

    pub fn release(&mut self, nodeid: u64, fh: u64, flags: u32) -> FuseResult<()> {
        let arg = abi::ReleaseIn {
            fh,
            flags,
            ..Default::default()
        };
        self.call(Opcode::Release, nodeid, &[arg.as_bytes()], 0)
            .map(|_| ())
    }

    pub fn fsync(&mut self, nodeid: u64, fh: u64, datasync: bool) -> FuseResult<()> {
        let arg = abi::FsyncIn {
            fh,
            fsync_flags: if datasync {
                abi::fsync_flags::FSYNC_FDATASYNC
            } else {
                0
            },
            padding: 0,
        };
        self.call(Opcode::Fsync, nodeid, &[arg.as_bytes()], 0)
            .map(|_| ())
    }

    pub fn syncfs(&mut self, nodeid: u64) -> FuseResult<()> {
        let arg = abi::SyncfsIn::default();
        self.call(Opcode::Syncfs, nodeid, &[arg.as_bytes()], 0)
            .map(|_| ())
    }
}

/// Decodes READDIR records; panics on a malformed record.
pub fn parse_dirents(mut body: &[u8]) -> Vec<DirEntry> {
    let mut v = Vec::new();
    while !body.is_empty() {
        let d: abi::Dirent = decode(body, "READDIR record");
        let namelen = d.namelen as usize;
        let rec = abi::dirent_size(namelen);
        assert!(
            rec <= body.len(),
            "READDIR record of {rec} bytes overruns the {} left",
            body.len()
        );
        v.push(DirEntry {
            ino: d.ino,
            off: d.off,
            type_: d.type_,
            name: body[abi::NAME_OFFSET..abi::NAME_OFFSET + namelen].to_vec(),
        });
        body = &body[rec..];
    }
    v
}

/// Decodes READDIRPLUS records; panics on a malformed record.
pub fn parse_direntplus(mut body: &[u8]) -> Vec<DirEntryPlus> {
    let mut v = Vec::new();
    while !body.is_empty() {
        let d: abi::Direntplus = decode(body, "READDIRPLUS record");
        let namelen = d.dirent.namelen as usize;
        let rec = abi::direntplus_size(namelen);
        assert!(
            rec <= body.len(),
            "READDIRPLUS record of {rec} bytes overruns the {} left",
            body.len()
        );
        let off = abi::NAME_OFFSET_DIRENTPLUS;
        v.push(DirEntryPlus {
            entry: d.entry_out,
            dirent: DirEntry {
                ino: d.dirent.ino,
                off: d.dirent.off,
                type_: d.dirent.type_,
                name: body[off..off + namelen].to_vec(),
            },
        });
        body = &body[rec..];
    }
    v
}
