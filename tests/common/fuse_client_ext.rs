//! More typed FUSE calls for [`FuseClient`]: STATX, extended attributes,
//! ACCESS, locks, FALLOCATE, LSEEK, COPY_FILE_RANGE, TMPFILE, IOCTL, POLL,
//! and requests that carry extensions or extra open flags, encoded as a
//! Linux 6.12 guest sends them.

use epochfsd::fuse::abi::{self, Opcode};
use zerocopy::{FromBytes, IntoBytes};

use super::fuse_client::{FuseClient, FuseResult};

fn cstring(s: &[u8]) -> Vec<u8> {
    let mut v = s.to_vec();
    v.push(0);
    v
}

fn decode<T: FromBytes>(body: &[u8], what: &str) -> T {
    match T::read_from_prefix(body) {
        Ok((t, _)) => t,
        Err(_) => panic!("{what}: reply body of {} bytes is too short", body.len()),
    }
}

/// A FUSE_EXT_GROUPS extension naming `group`, as the guest appends it.
pub fn supp_group_ext(group: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&abi::ext_type::EXT_GROUPS.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&group.to_le_bytes());
    v
}

impl FuseClient {
    /// Like `call`, with an extension block after the arguments
    /// (`total_extlen` set accordingly).
    pub fn call_ext(
        &mut self,
        opcode: Opcode,
        nodeid: u64,
        args: &[&[u8]],
        ext: &[u8],
        reply_len: u32,
    ) -> FuseResult<Vec<u8>> {
        assert_eq!(ext.len() % 8, 0, "extensions are 8-byte aligned");
        let args_len: usize = args.iter().map(|a| a.len()).sum();
        let mut h = self.header(opcode as u32, nodeid, args_len + ext.len());
        h.total_extlen = (ext.len() / 8) as u16;
        let mut readable: Vec<&[u8]> = vec![h.as_bytes()];
        readable.extend(args.iter().copied().filter(|a| !a.is_empty()));
        if !ext.is_empty() {
            readable.push(ext);
        }
        let queue = self.queue;
        let head = self.vmm.submit(queue, &readable, &[16, reply_len.max(1)]);
        let c = self.finish(queue, head);
        let (out, body) = self.check_reply(&h, &c);
        if out.error != 0 {
            Err(-out.error)
        } else {
            Ok(body)
        }
    }

    /// STATX with `mask` (`STATX_*`) and `AT_STATX_*` flags.
    pub fn statx(&mut self, nodeid: u64, mask: u32, fh: Option<u64>) -> FuseResult<abi::StatxOut> {
        let arg = abi::StatxIn {
            getattr_flags: if fh.is_some() {
                abi::getattr_flags::GETATTR_FH
            } else {
                0
            },
            fh: fh.unwrap_or(0),
            sx_mask: mask,
            ..Default::default()
        };
        let body = self.call(
            Opcode::Statx,
            nodeid,
            &[arg.as_bytes()],
            size_of::<abi::StatxOut>() as u32,
        )?;
        Ok(decode(&body, "STATX"))
    }

    /// SETXATTR in the FUSE_SETXATTR_EXT layout (16-byte header).
    pub fn setxattr(
        &mut self,
        nodeid: u64,
        name: &[u8],
        value: &[u8],
        flags: u32,
        setxattr_flags: u32,
    ) -> FuseResult<()> {
        let arg = abi::SetxattrIn {
            size: value.len() as u32,
            flags,
            setxattr_flags,
            padding: 0,
        };
        let n = cstring(name);
        self.call(Opcode::Setxattr, nodeid, &[arg.as_bytes(), &n, value], 0)
            .map(drop)
    }

    /// GETXATTR; `size` 0 asks for the length (returned as 4 LE bytes).
    pub fn getxattr(&mut self, nodeid: u64, name: &[u8], size: u32) -> FuseResult<Vec<u8>> {
        let arg = abi::GetxattrIn { size, padding: 0 };
        let n = cstring(name);
        self.call(Opcode::Getxattr, nodeid, &[arg.as_bytes(), &n], size.max(8))
    }

    /// LISTXATTR into a buffer of `size` bytes.
    pub fn listxattr(&mut self, nodeid: u64, size: u32) -> FuseResult<Vec<u8>> {
        let arg = abi::GetxattrIn { size, padding: 0 };
        self.call(Opcode::Listxattr, nodeid, &[arg.as_bytes()], size.max(8))
    }

    pub fn removexattr(&mut self, nodeid: u64, name: &[u8]) -> FuseResult<()> {
        let n = cstring(name);
        self.call(Opcode::Removexattr, nodeid, &[&n], 0).map(drop)
    }

    pub fn access(&mut self, nodeid: u64, mask: u32) -> FuseResult<()> {
        let arg = abi::AccessIn { mask, padding: 0 };
        self.call(Opcode::Access, nodeid, &[arg.as_bytes()], 0)
            .map(drop)
    }

    /// GETLK / SETLK / SETLKW with one lock range.
    pub fn lock_op(
        &mut self,
        op: Opcode,
        nodeid: u64,
        fh: u64,
        lk: abi::FileLock,
        lk_flags: u32,
    ) -> FuseResult<Vec<u8>> {
        let arg = abi::LkIn {
            fh,
            owner: 0x1234,
            lk,
            lk_flags,
            padding: 0,
        };
        self.call(
            op,
            nodeid,
            &[arg.as_bytes()],
            size_of::<abi::LkOut>() as u32,
        )
    }

    pub fn fallocate(
        &mut self,
        nodeid: u64,
        fh: u64,
        mode: u32,
        offset: u64,
        length: u64,
    ) -> FuseResult<()> {
        let arg = abi::FallocateIn {
            fh,
            offset,
            length,
            mode,
            padding: 0,
        };
        self.call(Opcode::Fallocate, nodeid, &[arg.as_bytes()], 0)
            .map(drop)
    }

    pub fn lseek(&mut self, nodeid: u64, fh: u64, offset: u64, whence: i32) -> FuseResult<u64> {
        let arg = abi::LseekIn {
            fh,
            offset,
            whence: whence as u32,
            padding: 0,
        };
        let body = self.call(
            Opcode::Lseek,
            nodeid,
            &[arg.as_bytes()],
            size_of::<abi::LseekOut>() as u32,
        )?;
        Ok(decode::<abi::LseekOut>(&body, "LSEEK").offset)
    }

    /// COPY_FILE_RANGE from (`in_node`, `fh_in`, `off_in`) to the `out`
    /// triple; returns the bytes copied.
    pub fn copy_file_range(
        &mut self,
        (in_node, fh_in, off_in): (u64, u64, u64),
        (nodeid_out, fh_out, off_out): (u64, u64, u64),
        len: u64,
    ) -> FuseResult<u32> {
        let arg = abi::CopyFileRangeIn {
            fh_in,
            off_in,
            nodeid_out,
            fh_out,
            off_out,
            len,
            flags: 0,
        };
        let body = self.call(
            Opcode::CopyFileRange,
            in_node,
            &[arg.as_bytes()],
            size_of::<abi::WriteOut>() as u32,
        )?;
        Ok(decode::<abi::WriteOut>(&body, "COPY_FILE_RANGE").size)
    }

    /// TMPFILE in `parent`: the unnamed entry and its open handle.
    pub fn tmpfile(
        &mut self,
        parent: u64,
        flags: u32,
        mode: u32,
    ) -> FuseResult<(abi::EntryOut, abi::OpenOut)> {
        let arg = abi::CreateIn {
            flags,
            mode,
            umask: 0o022,
            open_flags: 0,
        };
        let body = self.call(
            Opcode::Tmpfile,
            parent,
            &[arg.as_bytes()],
            (size_of::<abi::EntryOut>() + size_of::<abi::OpenOut>()) as u32,
        )?;
        let entry: abi::EntryOut = decode(&body, "TMPFILE");
        let open: abi::OpenOut = decode(&body[size_of::<abi::EntryOut>()..], "TMPFILE");
        Ok((entry, open))
    }

    /// OPEN with explicit `open_flags` (FUSE_OPEN_KILL_SUIDGID).
    pub fn open_with(
        &mut self,
        nodeid: u64,
        flags: u32,
        open_flags: u32,
    ) -> FuseResult<abi::OpenOut> {
        let arg = abi::OpenIn { flags, open_flags };
        let body = self.call(
            Opcode::Open,
            nodeid,
            &[arg.as_bytes()],
            size_of::<abi::OpenOut>() as u32,
        )?;
        Ok(decode(&body, "OPEN"))
    }

    /// MKDIR with an explicit umask and an optional extension block.
    pub fn mkdir_ext(
        &mut self,
        parent: u64,
        name: &[u8],
        mode: u32,
        umask: u32,
        ext: &[u8],
    ) -> FuseResult<abi::EntryOut> {
        let arg = abi::MkdirIn { mode, umask };
        let n = cstring(name);
        let body = self.call_ext(
            Opcode::Mkdir,
            parent,
            &[arg.as_bytes(), &n],
            ext,
            size_of::<abi::EntryOut>() as u32,
        )?;
        Ok(decode(&body, "MKDIR"))
    }

    /// CREATE with an explicit umask and an optional extension block.
    pub fn create_ext(
        &mut self,
        parent: u64,
        name: &[u8],
        flags: u32,
        mode: u32,
        umask: u32,
        ext: &[u8],
    ) -> FuseResult<(abi::EntryOut, abi::OpenOut)> {
        let arg = abi::CreateIn {
            flags,
            mode,
            umask,
            open_flags: 0,
        };
        let n = cstring(name);
        let body = self.call_ext(
            Opcode::Create,
            parent,
            &[arg.as_bytes(), &n],
            ext,
            (size_of::<abi::EntryOut>() + size_of::<abi::OpenOut>()) as u32,
        )?;
        let entry: abi::EntryOut = decode(&body, "CREATE");
        let open: abi::OpenOut = decode(&body[size_of::<abi::EntryOut>()..], "CREATE");
        Ok((entry, open))
    }

    /// WRITE at `offset` with `write_flags` (FUSE_WRITE_KILL_SUIDGID).
    pub fn write_flags(
        &mut self,
        nodeid: u64,
        fh: u64,
        offset: u64,
        data: &[u8],
        write_flags: u32,
    ) -> FuseResult<u32> {
        let arg = abi::WriteIn {
            fh,
            offset,
            size: data.len() as u32,
            write_flags,
            ..Default::default()
        };
        let body = self.call(
            Opcode::Write,
            nodeid,
            &[arg.as_bytes(), data],
            size_of::<abi::WriteOut>() as u32,
        )?;
        Ok(decode::<abi::WriteOut>(&body, "WRITE").size)
    }

    /// IOCTL `cmd` on an open file, with no input and `out_size` output.
    pub fn ioctl(&mut self, nodeid: u64, fh: u64, cmd: u32, out_size: u32) -> FuseResult<Vec<u8>> {
        let arg = abi::IoctlIn {
            fh,
            cmd,
            out_size,
            ..Default::default()
        };
        self.call(Opcode::Ioctl, nodeid, &[arg.as_bytes()], 64 + out_size)
    }

    /// POLL on an open file.
    pub fn poll(&mut self, nodeid: u64, fh: u64, events: u32) -> FuseResult<Vec<u8>> {
        let arg = abi::PollIn {
            fh,
            events,
            ..Default::default()
        };
        self.call(
            Opcode::Poll,
            nodeid,
            &[arg.as_bytes()],
            size_of::<abi::PollOut>() as u32,
        )
    }
}
