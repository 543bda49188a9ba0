//! Typed FUSE calls for [`FuseClient`] that change or list the namespace:
//! MKDIR, MKNOD, CREATE, SYMLINK, READLINK, LINK, UNLINK, RMDIR, RENAME,
//! RENAME2, and the directory calls OPENDIR, RELEASEDIR, READDIR and
//! READDIRPLUS.

use epochfsd::fuse::abi::{self, Opcode};
use zerocopy::IntoBytes;

use super::fuse_client::{
    decode, name_arg, parse_direntplus, parse_dirents, DirEntry, DirEntryPlus, FuseClient,
    FuseResult,
};

impl FuseClient {
    // ---- creating and removing ----

    pub fn mkdir(&mut self, parent: u64, name: &[u8], mode: u32) -> FuseResult<abi::EntryOut> {
        let arg = abi::MkdirIn { mode, umask: 0o022 };
        let n = name_arg(name);
        let body = self.call(
            Opcode::Mkdir,
            parent,
            &[arg.as_bytes(), &n],
            size_of::<abi::EntryOut>() as u32,
        )?;
        Ok(decode(&body, "MKDIR"))
    }

    pub fn mknod(
        &mut self,
        parent: u64,
        name: &[u8],
        mode: u32,
        rdev: u32,
    ) -> FuseResult<abi::EntryOut> {
        let arg = abi::MknodIn {
            mode,
            rdev,
            umask: 0o022,
            padding: 0,
        };
        let n = name_arg(name);
        let body = self.call(
            Opcode::Mknod,
            parent,
            &[arg.as_bytes(), &n],
            size_of::<abi::EntryOut>() as u32,
        )?;
        Ok(decode(&body, "MKNOD"))
    }

    /// CREATE: returns the new entry and the open handle.
    pub fn create(
        &mut self,
        parent: u64,
        name: &[u8],
        flags: u32,
        mode: u32,
    ) -> FuseResult<(abi::EntryOut, abi::OpenOut)> {
        let arg = abi::CreateIn {
            flags,
            mode,
            umask: 0o022,
            open_flags: 0,
        };
        let n = name_arg(name);
        let body = self.call(
            Opcode::Create,
            parent,
            &[arg.as_bytes(), &n],
            (size_of::<abi::EntryOut>() + size_of::<abi::OpenOut>()) as u32,
        )?;
        let entry: abi::EntryOut = decode(&body, "CREATE");
        let open: abi::OpenOut = decode(&body[size_of::<abi::EntryOut>()..], "CREATE");
        Ok((entry, open))
    }

    pub fn symlink(
        &mut self,
        parent: u64,
        name: &[u8],
        target: &[u8],
    ) -> FuseResult<abi::EntryOut> {
        let n = name_arg(name);
        let t = name_arg(target);
        let body = self.call(
            Opcode::Symlink,
            parent,
            &[&n, &t],
            size_of::<abi::EntryOut>() as u32,
        )?;
        Ok(decode(&body, "SYMLINK"))
    }

    pub fn readlink(&mut self, nodeid: u64) -> FuseResult<Vec<u8>> {
        self.call(Opcode::Readlink, nodeid, &[], 4096)
    }

    pub fn link(
        &mut self,
        oldnodeid: u64,
        newparent: u64,
        newname: &[u8],
    ) -> FuseResult<abi::EntryOut> {
        let arg = abi::LinkIn { oldnodeid };
        let n = name_arg(newname);
        let body = self.call(
            Opcode::Link,
            newparent,
            &[arg.as_bytes(), &n],
            size_of::<abi::EntryOut>() as u32,
        )?;
        Ok(decode(&body, "LINK"))
    }

    pub fn unlink(&mut self, parent: u64, name: &[u8]) -> FuseResult<()> {
        let n = name_arg(name);
        self.call(Opcode::Unlink, parent, &[&n], 0).map(|_| ())
    }

    pub fn rmdir(&mut self, parent: u64, name: &[u8]) -> FuseResult<()> {
        let n = name_arg(name);
        self.call(Opcode::Rmdir, parent, &[&n], 0).map(|_| ())
    }

    pub fn rename(
        &mut self,
        parent: u64,
        name: &[u8],
        newparent: u64,
        newname: &[u8],
    ) -> FuseResult<()> {
        let arg = abi::RenameIn { newdir: newparent };
        let mut names = name_arg(name);
        names.extend_from_slice(&name_arg(newname));
        self.call(Opcode::Rename, parent, &[arg.as_bytes(), &names], 0)
            .map(|_| ())
    }

    /// RENAME2 with `renameat2(2)` flags.
    pub fn rename2(
        &mut self,
        parent: u64,
        name: &[u8],
        newparent: u64,
        newname: &[u8],
        flags: u32,
    ) -> FuseResult<()> {
        let arg = abi::Rename2In {
            newdir: newparent,
            flags,
            padding: 0,
        };
        let mut names = name_arg(name);
        names.extend_from_slice(&name_arg(newname));
        self.call(Opcode::Rename2, parent, &[arg.as_bytes(), &names], 0)
            .map(|_| ())
    }

    // ---- directories ----

    pub fn opendir(&mut self, nodeid: u64) -> FuseResult<abi::OpenOut> {
        let arg = abi::OpenIn {
            flags: libc::O_RDONLY as u32 | libc::O_DIRECTORY as u32,
            open_flags: 0,
        };
        let body = self.call(
            Opcode::Opendir,
            nodeid,
            &[arg.as_bytes()],
            size_of::<abi::OpenOut>() as u32,
        )?;
        Ok(decode(&body, "OPENDIR"))
    }

    pub fn releasedir(&mut self, nodeid: u64, fh: u64) -> FuseResult<()> {
        let arg = abi::ReleaseIn {
            fh,
            flags: libc::O_RDONLY as u32 | libc::O_DIRECTORY as u32,
            ..Default::default()
        };
        self.call(Opcode::Releasedir, nodeid, &[arg.as_bytes()], 0)
            .map(|_| ())
    }

    /// One READDIR call of up to `size` bytes from `offset`.
    pub fn readdir(
        &mut self,
        nodeid: u64,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> FuseResult<Vec<DirEntry>> {
        let arg = abi::ReadIn {
            fh,
            offset,
            size,
            ..Default::default()
        };
        let body = self.call(Opcode::Readdir, nodeid, &[arg.as_bytes()], size)?;
        Ok(parse_dirents(&body))
    }

    /// One READDIRPLUS call of up to `size` bytes from `offset`.
    pub fn readdirplus(
        &mut self,
        nodeid: u64,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> FuseResult<Vec<DirEntryPlus>> {
        let arg = abi::ReadIn {
            fh,
            offset,
            size,
            ..Default::default()
        };
        let body = self.call(Opcode::Readdirplus, nodeid, &[arg.as_bytes()], size)?;
        Ok(parse_direntplus(&body))
    }

    /// All entries of a directory by repeated READDIR calls.
    pub fn readdir_all(&mut self, nodeid: u64, fh: u64) -> FuseResult<Vec<DirEntry>> {
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let batch = self.readdir(nodeid, fh, offset, 4096)?;
            match batch.last() {
                None => return Ok(all),
                Some(last) => offset = last.off,
            }
            all.extend(batch);
            assert!(all.len() < 1_000_000, "READDIR never ends");
        }
    }
}
