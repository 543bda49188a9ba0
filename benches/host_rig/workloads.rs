//! The rig's workloads: metadata (LOOKUP+GETATTR, CREATE+UNLINK) and data
//! (4 KiB random and 1 MiB sequential READ and WRITE).

use epochfsd::fuse::abi::{
    AttrOut, CreateIn, EntryOut, ForgetIn, GetattrIn, Opcode, OpenOut, ReadIn, ReleaseIn, WriteIn,
    WriteOut,
};
use std::sync::atomic::{AtomicBool, Ordering};

use vm_memory::GuestAddress;
use zerocopy::{FromBytes, IntoBytes};

use crate::common::vmm::TestVmm;
use crate::engine::{prepare, SlotState, Step, Workload};

pub const PAGE: u32 = 4096;
/// Files in the LOOKUP tree.
pub const TREE_FILES: usize = 1000;
/// Size of the file for 4 KiB random I/O.
pub const RAND_FILE: u64 = 64 << 20;
/// Size of the file for 1 MiB sequential I/O.
pub const SEQ_FILE: u64 = 256 << 20;
pub const MIB: u32 = 1 << 20;

/// Node ids and handles the workloads use, set up through a FUSE client.
#[derive(Clone, Copy, Debug)]
pub struct Targets {
    pub tree_dir: u64,
    pub create_dir: u64,
    pub rand: (u64, u64),
    pub seq: (u64, u64),
}

fn rng_next(state: &mut u64) -> u64 {
    // xorshift64*
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn buf(vmm: &mut TestVmm, len: u32) -> (GuestAddress, u32) {
    (vmm.alloc(u64::from(len)), len)
}

/// Lay payload pages out in reverse order (`--scatter-pages`), so that no
/// descriptor's page follows the previous one in memory, as in a guest whose
/// buffer pages are scattered. By default the pages of a buffer are
/// consecutive, as in a guest buffer backed by a huge page.
pub static SCATTER_PAGES: AtomicBool = AtomicBool::new(false);

/// `len` bytes at `base` as page-sized descriptors, as guest pages.
fn pages(base: GuestAddress, len: u32) -> Vec<(GuestAddress, u32)> {
    let n = len / PAGE;
    let scatter = SCATTER_PAGES.load(Ordering::Relaxed);
    (0..n)
        .map(|i| if scatter { n - 1 - i } else { i })
        .map(|i| (GuestAddress(base.0 + u64::from(i * PAGE)), PAGE))
        .collect()
}

fn read_obj<T: FromBytes>(vmm: &TestVmm, at: GuestAddress) -> Result<T, String> {
    let bytes = vmm.read_guest(at, size_of::<T>());
    T::read_from_bytes(&bytes).map_err(|_| "short reply".to_string())
}

/// LOOKUP of a random name in a directory of [`TREE_FILES`] files, then
/// GETATTR of the node it returned.
pub struct LookupGetattr {
    pub dir: u64,
    pub rng: u64,
}

impl Workload for LookupGetattr {
    fn name(&self) -> &'static str {
        "lookup+getattr"
    }
    fn bytes_per_op(&self) -> u64 {
        0
    }
    fn prepare(&mut self, vmm: &mut TestVmm, queue: usize, _slot: usize) -> Vec<Step> {
        let name = buf(vmm, 6); // "f0123\0"
        let entry = buf(vmm, size_of::<EntryOut>() as u32);
        let get = buf(vmm, size_of::<GetattrIn>() as u32);
        vmm.write_guest(get.0, GetattrIn::default().as_bytes());
        let attr = buf(vmm, size_of::<AttrOut>() as u32);
        vec![
            prepare(vmm, queue, Opcode::Lookup as u32, vec![name], vec![entry]),
            prepare(vmm, queue, Opcode::Getattr as u32, vec![get], vec![attr]),
        ]
    }
    fn fill(&mut self, vmm: &TestVmm, slot: &mut SlotState, index: usize, step: &Step) -> u64 {
        if index == 1 {
            return slot.nodeid;
        }
        let i = rng_next(&mut self.rng) % TREE_FILES as u64;
        vmm.write_guest(step.args[0].0, format!("f{i:04}\0").as_bytes());
        self.dir
    }
    fn check(
        &mut self,
        vmm: &TestVmm,
        slot: &mut SlotState,
        index: usize,
        step: &Step,
    ) -> Result<(), String> {
        if index == 0 {
            let e: EntryOut = read_obj(vmm, step.reply[0].0)?;
            slot.nodeid = e.nodeid;
        }
        Ok(())
    }
}

/// READ or WRITE of `bs` bytes: random aligned offsets, or sequential ones.
pub struct FileIo {
    pub write: bool,
    pub random: bool,
    pub bs: u32,
    pub file: (u64, u64),
    pub file_size: u64,
    pub rng: u64,
    pub next: u64,
    /// One payload shared by every WRITE slot (the device only reads it).
    pub payload: Option<GuestAddress>,
}

impl FileIo {
    pub fn new(write: bool, random: bool, bs: u32, file: (u64, u64), file_size: u64) -> FileIo {
        FileIo {
            write,
            random,
            bs,
            file,
            file_size,
            rng: 0x9e37_79b9_7f4a_7c15,
            next: 0,
            payload: None,
        }
    }
}

impl Workload for FileIo {
    fn name(&self) -> &'static str {
        match (self.write, self.random) {
            (false, true) => "read 4k random",
            (true, true) => "write 4k random",
            (false, false) => "read 1m sequential",
            (true, false) => "write 1m sequential",
        }
    }
    fn bytes_per_op(&self) -> u64 {
        u64::from(self.bs)
    }
    fn prepare(&mut self, vmm: &mut TestVmm, queue: usize, _slot: usize) -> Vec<Step> {
        if self.write {
            let payload = match self.payload {
                Some(p) => p,
                None => {
                    let p = vmm.alloc(u64::from(self.bs));
                    let data: Vec<u8> = (0..self.bs).map(|i| (i % 251) as u8).collect();
                    vmm.write_guest(p, &data);
                    self.payload = Some(p);
                    p
                }
            };
            let arg = buf(vmm, size_of::<WriteIn>() as u32);
            let mut args = vec![arg];
            args.extend(pages(payload, self.bs));
            let out = buf(vmm, size_of::<WriteOut>() as u32);
            vec![prepare(vmm, queue, Opcode::Write as u32, args, vec![out])]
        } else {
            let arg = buf(vmm, size_of::<ReadIn>() as u32);
            let data = vmm.alloc(u64::from(self.bs));
            vec![prepare(
                vmm,
                queue,
                Opcode::Read as u32,
                vec![arg],
                pages(data, self.bs),
            )]
        }
    }
    fn fill(&mut self, vmm: &TestVmm, _slot: &mut SlotState, _index: usize, step: &Step) -> u64 {
        let blocks = self.file_size / u64::from(self.bs);
        let block = if self.random {
            rng_next(&mut self.rng) % blocks
        } else {
            self.next = (self.next + 1) % blocks;
            self.next
        };
        let offset = block * u64::from(self.bs);
        let (nodeid, fh) = self.file;
        if self.write {
            let arg = WriteIn {
                fh,
                offset,
                size: self.bs,
                ..Default::default()
            };
            vmm.write_guest(step.args[0].0, arg.as_bytes());
        } else {
            let arg = ReadIn {
                fh,
                offset,
                size: self.bs,
                ..Default::default()
            };
            vmm.write_guest(step.args[0].0, arg.as_bytes());
        }
        nodeid
    }
    fn check(
        &mut self,
        vmm: &TestVmm,
        _slot: &mut SlotState,
        _index: usize,
        step: &Step,
    ) -> Result<(), String> {
        if self.write {
            let w: WriteOut = read_obj(vmm, step.reply[0].0)?;
            if w.size != self.bs {
                return Err(format!("short WRITE: {} bytes", w.size));
            }
        }
        Ok(())
    }
}

/// CREATE of a file, RELEASE of its handle, UNLINK, and the FORGET a guest
/// sends when it drops the inode.
pub struct CreateUnlink {
    pub dir: u64,
}

impl Workload for CreateUnlink {
    fn name(&self) -> &'static str {
        "create+unlink"
    }
    fn bytes_per_op(&self) -> u64 {
        0
    }
    fn prepare(&mut self, vmm: &mut TestVmm, queue: usize, slot: usize) -> Vec<Step> {
        let name_bytes = format!("c{queue:02}-{slot:04}\0");
        let name = buf(vmm, name_bytes.len() as u32);
        vmm.write_guest(name.0, name_bytes.as_bytes());
        let create = buf(vmm, size_of::<CreateIn>() as u32);
        let arg = CreateIn {
            flags: libc::O_RDWR as u32,
            mode: libc::S_IFREG | 0o644,
            umask: 0o022,
            open_flags: 0,
        };
        vmm.write_guest(create.0, arg.as_bytes());
        let entry = buf(vmm, size_of::<EntryOut>() as u32);
        let open = buf(vmm, size_of::<OpenOut>() as u32);
        let release = buf(vmm, size_of::<ReleaseIn>() as u32);
        let forget = buf(vmm, size_of::<ForgetIn>() as u32);
        vmm.write_guest(forget.0, ForgetIn { nlookup: 1 }.as_bytes());
        vec![
            prepare(
                vmm,
                queue,
                Opcode::Create as u32,
                vec![create, name],
                vec![entry, open],
            ),
            prepare(vmm, queue, Opcode::Release as u32, vec![release], vec![]),
            prepare(vmm, queue, Opcode::Unlink as u32, vec![name], vec![]),
            prepare(vmm, 0, Opcode::Forget as u32, vec![forget], vec![]),
        ]
    }
    fn fill(&mut self, vmm: &TestVmm, slot: &mut SlotState, index: usize, step: &Step) -> u64 {
        match index {
            1 => {
                let arg = ReleaseIn {
                    fh: slot.fh,
                    flags: libc::O_RDWR as u32,
                    ..Default::default()
                };
                vmm.write_guest(step.args[0].0, arg.as_bytes());
                slot.nodeid
            }
            3 => slot.nodeid,
            _ => self.dir,
        }
    }
    fn check(
        &mut self,
        vmm: &TestVmm,
        slot: &mut SlotState,
        index: usize,
        step: &Step,
    ) -> Result<(), String> {
        if index == 0 {
            let e: EntryOut = read_obj(vmm, step.reply[0].0)?;
            let o: OpenOut = read_obj(vmm, step.reply[1].0)?;
            slot.nodeid = e.nodeid;
            slot.fh = o.fh;
        }
        Ok(())
    }
}
