//! The seed corpus: meaningful inputs for each target, written to
//! `fuzz/corpus/<target>/` by the `seed-corpus` binary. The fuzzer starts
//! from them; the replay test runs them.

use epochfsd::fuse::abi::*;
use zerocopy::IntoBytes;

use crate::chain::{F_INDIRECT, F_NEXT, F_WRITE, IMAGE_START, QUEUE_SIZE, TABLE_LEN};
use crate::fuse_dispatch::{request, HEADER_LEN};

/// `(target, file name, input)` for every seed.
pub fn all() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, input) in fuse_seeds() {
        out.push(("fuse_dispatch", name.to_string(), input));
    }
    for (name, input) in chain_seeds() {
        out.push(("chain", name.to_string(), input));
    }
    for (name, input) in epoch_seeds() {
        out.push(("epoch_model", name.to_string(), input));
    }
    out
}

// ---- FUSE requests ----

/// Record control byte: a 128 KiB reply buffer, request queue 1.
const BIG: u8 = 0x07 | 0x20;
/// A 4 KiB reply buffer.
const PAGE: u8 = 0x05;
/// The high-priority queue.
const HIPRIO: u8 = 0x08 | 0x07;

/// Default config byte: xattrs on, file handles preferred, cache auto.
const CONFIG: u8 = 0x01 | 0x04 | 0x40;

/// A sequence of requests in the target's record format.
struct Seq {
    bytes: Vec<u8>,
    unique: u64,
}

impl Seq {
    fn new(config: u8) -> Self {
        Seq {
            bytes: vec![config],
            unique: 100,
        }
    }

    fn raw(&mut self, ctl: u8, request: &[u8]) -> &mut Self {
        self.bytes.push(ctl);
        self.bytes
            .extend_from_slice(&(request.len() as u16).to_le_bytes());
        self.bytes.extend_from_slice(request);
        self
    }

    fn op(&mut self, ctl: u8, op: Opcode, nodeid: u64, args: &[u8]) -> &mut Self {
        self.unique += 1;
        let req = request(op, self.unique, nodeid, args);
        self.raw(ctl, &req)
    }

    fn as_user(&mut self, ctl: u8, op: Opcode, nodeid: u64, args: &[u8], uid: u32) -> &mut Self {
        self.unique += 1;
        let mut req = request(op, self.unique, nodeid, args);
        let header = InHeader {
            len: req.len() as u32,
            opcode: op as u32,
            unique: self.unique,
            nodeid,
            uid,
            gid: uid,
            pid: 42,
            ..Default::default()
        };
        req[..HEADER_LEN].copy_from_slice(header.as_bytes());
        self.raw(ctl, &req)
    }

    fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn name(n: &str) -> Vec<u8> {
    let mut v = n.as_bytes().to_vec();
    v.push(0);
    v
}

fn mkdir_args(n: &str, mode: u32) -> Vec<u8> {
    let arg = MkdirIn { mode, umask: 0o022 };
    cat(&[arg.as_bytes(), &name(n)])
}

fn create_args(n: &str, flags: u32) -> Vec<u8> {
    let arg = CreateIn {
        flags,
        mode: libc::S_IFREG | 0o644,
        umask: 0o022,
        open_flags: 0,
    };
    cat(&[arg.as_bytes(), &name(n)])
}

fn open_args(flags: u32) -> Vec<u8> {
    OpenIn {
        flags,
        open_flags: 0,
    }
    .as_bytes()
    .to_vec()
}

fn read_args(fh: u64, offset: u64, size: u32) -> Vec<u8> {
    ReadIn {
        fh,
        offset,
        size,
        ..Default::default()
    }
    .as_bytes()
    .to_vec()
}

fn write_args(fh: u64, offset: u64, data: &[u8]) -> Vec<u8> {
    let arg = WriteIn {
        fh,
        offset,
        size: data.len() as u32,
        ..Default::default()
    };
    cat(&[arg.as_bytes(), data])
}

fn release_args(fh: u64) -> Vec<u8> {
    ReleaseIn {
        fh,
        ..Default::default()
    }
    .as_bytes()
    .to_vec()
}

fn fh_args(fh: u64) -> Vec<u8> {
    FsyncIn {
        fh,
        ..Default::default()
    }
    .as_bytes()
    .to_vec()
}

const RDWR: u32 = libc::O_RDWR as u32;
const ROOT: u64 = ROOT_ID;
/// The first node id and handle the passthrough hands out.
const N2: u64 = 2;
const N3: u64 = 3;
const FH1: u64 = 1;
const FH2: u64 = 2;

fn fuse_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds = Vec::new();

    seeds.push((
        "session",
        Seq::new(CONFIG)
            .op(BIG, Opcode::Getattr, ROOT, GetattrIn::default().as_bytes())
            .op(PAGE, Opcode::Statfs, ROOT, &[])
            .op(BIG, Opcode::Lookup, ROOT, &name("missing"))
            .op(
                BIG,
                Opcode::Access,
                ROOT,
                AccessIn {
                    mask: 7,
                    padding: 0,
                }
                .as_bytes(),
            )
            .op(
                BIG,
                Opcode::Statx,
                ROOT,
                StatxIn {
                    sx_mask: 0xfff,
                    ..Default::default()
                }
                .as_bytes(),
            )
            .op(BIG, Opcode::Syncfs, ROOT, &[0u8; 8])
            .op(BIG, Opcode::Destroy, ROOT, &[])
            .done(),
    ));

    seeds.push((
        "dirs",
        Seq::new(CONFIG)
            .op(BIG, Opcode::Mkdir, ROOT, &mkdir_args("d", 0o755))
            .op(BIG, Opcode::Mkdir, N2, &mkdir_args("e", 0o700))
            .op(BIG, Opcode::Opendir, ROOT, &open_args(0))
            .op(BIG, Opcode::Readdir, ROOT, &read_args(FH1, 0, 4096))
            .op(BIG, Opcode::Readdirplus, ROOT, &read_args(FH1, 0, 4096))
            .op(0x04, Opcode::Readdirplus, ROOT, &read_args(FH1, 1, 4096))
            .op(BIG, Opcode::Fsyncdir, ROOT, &fh_args(FH1))
            .op(BIG, Opcode::Releasedir, ROOT, &release_args(FH1))
            .op(BIG, Opcode::Rmdir, N2, &name("e"))
            .op(BIG, Opcode::Rmdir, ROOT, &name("d"))
            .done(),
    ));

    seeds.push((
        "file_io",
        Seq::new(CONFIG)
            .op(BIG, Opcode::Create, ROOT, &create_args("f", RDWR))
            .op(BIG, Opcode::Write, N2, &write_args(FH1, 0, b"hello, world"))
            .op(
                BIG,
                Opcode::Write,
                N2,
                &write_args(FH1, 1 << 20, &[7u8; 600]),
            )
            .op(BIG, Opcode::Read, N2, &read_args(FH1, 0, 64))
            .op(0x02, Opcode::Read, N2, &read_args(FH1, 0, 4096))
            .op(
                BIG,
                Opcode::Lseek,
                N2,
                LseekIn {
                    fh: FH1,
                    offset: 0,
                    whence: 3,
                    padding: 0,
                }
                .as_bytes(),
            )
            .op(
                BIG,
                Opcode::Fallocate,
                N2,
                FallocateIn {
                    fh: FH1,
                    offset: 0,
                    length: 8192,
                    mode: 0,
                    padding: 0,
                }
                .as_bytes(),
            )
            .op(
                BIG,
                Opcode::Flush,
                N2,
                FlushIn {
                    fh: FH1,
                    ..Default::default()
                }
                .as_bytes(),
            )
            .op(BIG, Opcode::Fsync, N2, &fh_args(FH1))
            .op(BIG, Opcode::Release, N2, &release_args(FH1))
            .op(BIG, Opcode::Open, N2, &open_args(libc::O_RDONLY as u32))
            .op(BIG, Opcode::Read, N2, &read_args(FH2, 0, 100))
            .op(BIG, Opcode::Release, N2, &release_args(FH2))
            .op(BIG, Opcode::Unlink, ROOT, &name("f"))
            .done(),
    ));

    let setattr = SetattrIn {
        valid: 0x1 | 0x8 | 0x10 | 0x20, // mode, size, atime, mtime
        size: 4096,
        atime: 1,
        mtime: 2,
        mode: libc::S_IFREG | 0o600,
        ..Default::default()
    };
    seeds.push((
        "attrs_and_names",
        Seq::new(CONFIG)
            .op(BIG, Opcode::Create, ROOT, &create_args("a", RDWR))
            .op(BIG, Opcode::Setattr, N2, setattr.as_bytes())
            .op(BIG, Opcode::Symlink, ROOT, &cat(&[&name("l"), &name("a")]))
            .op(BIG, Opcode::Readlink, N3, &[])
            .op(
                BIG,
                Opcode::Link,
                ROOT,
                &cat(&[LinkIn { oldnodeid: N2 }.as_bytes(), &name("h")]),
            )
            .op(
                BIG,
                Opcode::Rename,
                ROOT,
                &cat(&[
                    RenameIn { newdir: ROOT }.as_bytes(),
                    &name("h"),
                    &name("h2"),
                ]),
            )
            .op(
                BIG,
                Opcode::Rename2,
                ROOT,
                &cat(&[
                    Rename2In {
                        newdir: ROOT,
                        flags: libc::RENAME_EXCHANGE,
                        padding: 0,
                    }
                    .as_bytes(),
                    &name("a"),
                    &name("l"),
                ]),
            )
            .op(
                BIG,
                Opcode::Mknod,
                ROOT,
                &cat(&[
                    MknodIn {
                        mode: libc::S_IFIFO | 0o644,
                        rdev: 0,
                        umask: 0,
                        padding: 0,
                    }
                    .as_bytes(),
                    &name("p"),
                ]),
            )
            .op(BIG, Opcode::Lookup, ROOT, &name("p"))
            .op(BIG, Opcode::Open, 5, &open_args(libc::O_RDONLY as u32))
            .op(BIG, Opcode::Lookup, ROOT, &name(".."))
            .op(BIG, Opcode::Lookup, ROOT, b"a/b\0")
            .done(),
    ));

    let setxattr = SetxattrIn {
        size: 3,
        flags: 0,
        setxattr_flags: 0,
        padding: 0,
    };
    seeds.push((
        "xattrs",
        Seq::new(CONFIG)
            .op(BIG, Opcode::Create, ROOT, &create_args("x", RDWR))
            .op(
                BIG,
                Opcode::Setxattr,
                N2,
                &cat(&[setxattr.as_bytes(), &name("user.k"), b"val"]),
            )
            .op(
                BIG,
                Opcode::Getxattr,
                N2,
                &cat(&[
                    GetxattrIn {
                        size: 0,
                        padding: 0,
                    }
                    .as_bytes(),
                    &name("user.k"),
                ]),
            )
            .op(
                BIG,
                Opcode::Getxattr,
                N2,
                &cat(&[
                    GetxattrIn {
                        size: 64,
                        padding: 0,
                    }
                    .as_bytes(),
                    &name("user.k"),
                ]),
            )
            .op(
                BIG,
                Opcode::Listxattr,
                N2,
                GetxattrIn {
                    size: 64,
                    padding: 0,
                }
                .as_bytes(),
            )
            .op(BIG, Opcode::Removexattr, N2, &name("user.k"))
            .done(),
    ));

    let lk = |type_: u32| LkIn {
        fh: FH1,
        owner: 9,
        lk: FileLock {
            start: 0,
            end: 100,
            type_,
            pid: 1,
        },
        ..Default::default()
    };
    let copy = CopyFileRangeIn {
        fh_in: FH1,
        off_in: 0,
        nodeid_out: N3,
        fh_out: FH2,
        off_out: 10,
        len: 5,
        flags: 0,
    };
    seeds.push((
        "locks_and_copies",
        Seq::new(CONFIG)
            .op(BIG, Opcode::Create, ROOT, &create_args("s", RDWR))
            .op(BIG, Opcode::Write, N2, &write_args(FH1, 0, b"0123456789"))
            .op(BIG, Opcode::Create, ROOT, &create_args("t", RDWR))
            .op(BIG, Opcode::Getlk, N2, lk(libc::F_WRLCK as u32).as_bytes())
            .op(BIG, Opcode::Setlk, N2, lk(libc::F_RDLCK as u32).as_bytes())
            .op(BIG, Opcode::Setlk, N2, lk(libc::F_UNLCK as u32).as_bytes())
            .op(BIG, Opcode::CopyFileRange, N2, copy.as_bytes())
            .op(BIG, Opcode::Ioctl, N2, IoctlIn::default().as_bytes())
            .op(BIG, Opcode::Poll, N2, PollIn::default().as_bytes())
            .op(BIG, Opcode::Tmpfile, ROOT, &create_args("tmp", RDWR))
            .done(),
    ));

    let batch = cat(&[
        BatchForgetIn { count: 2, dummy: 0 }.as_bytes(),
        ForgetOne {
            nodeid: N2,
            nlookup: 1,
        }
        .as_bytes(),
        ForgetOne {
            nodeid: N3,
            nlookup: 5,
        }
        .as_bytes(),
    ]);
    seeds.push((
        "forget_and_hiprio",
        Seq::new(CONFIG)
            .op(BIG, Opcode::Mkdir, ROOT, &mkdir_args("m", 0o755))
            .op(BIG, Opcode::Lookup, ROOT, &name("m"))
            .op(
                HIPRIO,
                Opcode::Forget,
                N2,
                ForgetIn { nlookup: 1 }.as_bytes(),
            )
            .op(HIPRIO, Opcode::BatchForget, ROOT, &batch)
            .op(
                HIPRIO,
                Opcode::Interrupt,
                ROOT,
                InterruptIn { unique: 101 }.as_bytes(),
            )
            .op(HIPRIO, Opcode::Write, N2, &write_args(FH1, 0, b"no"))
            .op(BIG, Opcode::Getattr, N2, GetattrIn::default().as_bytes())
            .done(),
    ));

    seeds.push((
        "as_user",
        Seq::new(CONFIG)
            .op(BIG, Opcode::Mkdir, ROOT, &mkdir_args("shared", 0o1777))
            .as_user(BIG, Opcode::Create, N2, &create_args("mine", RDWR), 1000)
            .as_user(BIG, Opcode::Mkdir, N2, &mkdir_args("sub", 0o2755), 1000)
            .as_user(BIG, Opcode::Unlink, ROOT, &name("shared"), 1000)
            .as_user(BIG, Opcode::Setattr, N3, setattr.as_bytes(), 1001)
            .done(),
    ));

    // Malformed: a header whose len exceeds the bytes, one shorter than the
    // header, an unknown opcode, tiny reply buffers, a second INIT.
    let mut long = request(Opcode::Lookup, 7, ROOT, &name("x"));
    long[0..4].copy_from_slice(&4000u32.to_le_bytes());
    let mut short = request(Opcode::Getattr, 8, ROOT, &[]);
    short[0..4].copy_from_slice(&8u32.to_le_bytes());
    let unknown = request(Opcode::Getattr, 9, ROOT, &[]);
    let mut unknown = unknown;
    unknown[4..8].copy_from_slice(&9999u32.to_le_bytes());
    seeds.push((
        "malformed",
        Seq::new(CONFIG)
            .raw(BIG, &long)
            .raw(BIG, &short)
            .raw(BIG, &unknown)
            .raw(BIG, &long[..20])
            .op(0x00, Opcode::Getattr, ROOT, GetattrIn::default().as_bytes())
            .op(0x01, Opcode::Getattr, ROOT, GetattrIn::default().as_bytes())
            .op(0x02, Opcode::Lookup, ROOT, &name("nope"))
            .op(0x03, Opcode::Getattr, ROOT, GetattrIn::default().as_bytes())
            .raw(BIG, &crate::fuse_dispatch::init_request())
            .done(),
    ));

    seeds.push((
        "readonly_never_handles",
        Seq::new(0x02)
            .op(BIG, Opcode::Mkdir, ROOT, &mkdir_args("ro", 0o755))
            .op(BIG, Opcode::Create, ROOT, &create_args("ro", RDWR))
            .op(BIG, Opcode::Opendir, ROOT, &open_args(0))
            .op(BIG, Opcode::Readdirplus, ROOT, &read_args(FH1, 0, 4096))
            .done(),
    ));
    seeds
}

// ---- descriptor chains ----

fn desc(addr: u64, len: u32, flags: u16, next: u16) -> [u8; 16] {
    let mut d = [0u8; 16];
    d[0..8].copy_from_slice(&addr.to_le_bytes());
    d[8..12].copy_from_slice(&len.to_le_bytes());
    d[12..14].copy_from_slice(&flags.to_le_bytes());
    d[14..16].copy_from_slice(&next.to_le_bytes());
    d
}

/// A chain input: descriptor table entries, head, memory image, ops.
fn chain_input(table: &[[u8; 16]], head: u16, image: &[u8], ops: &[(u8, u16, u16)]) -> Vec<u8> {
    assert!(table.len() <= usize::from(QUEUE_SIZE));
    let mut out = vec![0u8; TABLE_LEN];
    for (i, d) in table.iter().enumerate() {
        out[i * 16..i * 16 + 16].copy_from_slice(d);
    }
    out.extend_from_slice(&head.to_le_bytes());
    out.extend_from_slice(&(image.len() as u16).to_le_bytes());
    out.extend_from_slice(image);
    for &(kind, a, b) in ops {
        out.push(kind);
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
    }
    out
}

fn chain_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let request = request(Opcode::Getattr, 1, ROOT, GetattrIn::default().as_bytes());
    let image: Vec<u8> = request
        .iter()
        .copied()
        .chain((0..200u8).cycle().take(3000))
        .collect();
    let ops = [
        (0, 40, 0),      // read the header
        (1, 16, 0),      // 16 bytes to the file at 0
        (4, 16, 0),      // seek past the reply header
        (2, 100, 0),     // write 100 bytes
        (3, 0, 16),      // fill the header in
        (5, 5000, 100),  // zero-copy read from the file
        (0, 9999, 0),    // read too far
        (3, 65000, 100), // write_at out of range
    ];
    let a = IMAGE_START;
    vec![
        (
            "two_descriptors",
            chain_input(
                &[desc(a, 56, F_NEXT, 1), desc(0x5000, 0x1000, F_WRITE, 0)],
                0,
                &image,
                &ops,
            ),
        ),
        (
            "spans_regions",
            chain_input(
                &[
                    desc(0x2f00, 0x200, F_NEXT, 3),
                    desc(0, 0, 0, 0),
                    desc(0, 0, 0, 0),
                    desc(a, 40, F_NEXT, 4),
                    desc(0x3f00, 0x1200, F_WRITE, 0),
                ],
                0,
                &image,
                &ops,
            ),
        ),
        (
            "indirect",
            chain_input(
                &[desc(0x1000, 48, F_INDIRECT, 0)],
                0,
                &{
                    // The indirect table at 0x1000 (image offset 0xd00).
                    let mut img = image.clone();
                    img.resize(0x1000, 0);
                    let table = [
                        desc(a, 40, F_NEXT, 1),
                        desc(a + 40, 16, F_NEXT, 2),
                        desc(0x6000, 0x800, F_WRITE, 0),
                    ];
                    for (i, d) in table.iter().enumerate() {
                        let at = (0x1000 - IMAGE_START) as usize + i * 16;
                        img[at..at + 16].copy_from_slice(d);
                    }
                    img
                },
                &ops,
            ),
        ),
        (
            "loop",
            chain_input(
                &[desc(a, 40, F_NEXT, 1), desc(a, 40, F_NEXT, 0)],
                0,
                &image,
                &[(0, 40, 0), (0, 40, 0)],
            ),
        ),
        (
            "readable_after_writable",
            chain_input(
                &[desc(0x5000, 16, F_WRITE | F_NEXT, 1), desc(a, 40, 0, 0)],
                0,
                &image,
                &[],
            ),
        ),
        (
            "outside_memory",
            chain_input(
                &[desc(a, 40, F_NEXT, 1), desc(0x4000, 64, F_WRITE, 0)],
                0,
                &image,
                &[],
            ),
        ),
        (
            "aliased",
            chain_input(
                &[desc(a, 64, F_NEXT, 1), desc(a + 32, 64, F_WRITE, 0)],
                0,
                &image,
                &[(2, 64, 0), (0, 64, 0)],
            ),
        ),
    ]
}

// ---- epochs ----

fn epoch_input(config: u8, ops: &[(u8, u8, u8)]) -> Vec<u8> {
    let mut out = vec![config];
    for &(k, a, b) in ops {
        out.extend_from_slice(&[k, a, b]);
    }
    out
}

const JOIN: u8 = 0;
const LEAVE: u8 = 2;
const CLOSE: u8 = 3;
const END: u8 = 4;
const TOUCH: u8 = 5;
const TAKE: u8 = 7;
const STATS: u8 = 8;

fn epoch_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut many_closes = vec![(JOIN, 0, 0)];
    for _ in 0..20 {
        many_closes.push((CLOSE, 0, 0));
        many_closes.push((END, 0, 1));
    }
    many_closes.push((LEAVE, 0, 0));
    many_closes.push((CLOSE, 0, 1));
    vec![
        (
            "member_then_sync",
            epoch_input(
                0x81,
                &[
                    (JOIN, 1, 0),
                    (TOUCH, 0, 7),
                    (CLOSE, 0, 0),
                    (JOIN, 0, 0),
                    (LEAVE, 0, 0),
                    (TAKE, 0, 0),
                    (END, 0, 1),
                    (STATS, 0, 0),
                ],
            ),
        ),
        (
            "chained_tickets",
            epoch_input(
                0x02,
                &[
                    (JOIN, 0, 0),
                    (CLOSE, 0, 0),
                    (TOUCH, 0, 0x41),
                    (CLOSE, 0, 0),
                    (LEAVE, 0, 0),
                    (TAKE, 1, 0),
                    (END, 0, 0),
                    (TAKE, 0, 0),
                    (END, 0, 1),
                ],
            ),
        ),
        ("slots_full", epoch_input(0x03, &many_closes)),
        (
            "overflow",
            epoch_input(
                0x00,
                &[
                    (JOIN, 0, 0),
                    (TOUCH, 0, 1),
                    (TOUCH, 0, 2),
                    (TOUCH, 0, 3),
                    (CLOSE, 0, 0),
                    (LEAVE, 0, 0),
                    (TAKE, 0, 0),
                    (END, 0, 0),
                    (CLOSE, 0, 0),
                    (TAKE, 0, 0),
                    (STATS, 0, 0),
                ],
            ),
        ),
    ]
}
