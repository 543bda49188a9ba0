//! Files: OPEN, CREATE, TMPFILE, READ, WRITE, FLUSH, RELEASE and FSYNC.
//!
//! A file is opened by re-opening its node's `O_PATH` descriptor through
//! `/proc/self/fd` with the guest's flags, never by name, and only if it
//! is a regular file or a directory: a fifo, socket or device node answers
//! `ENXIO` (no device behind it is offered to the guest, CVE-2020-35517),
//! a symlink `ELOOP`. READ and WRITE move data between the guest's buffers
//! and the descriptor directly, without an intermediate buffer.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use crate::filesystem::{
    Context, Entry, HandleId, Name, NodeId, OpenOptions, ZeroCopyReader, ZeroCopyWriter,
};
use crate::sys;

use super::{Handle, HandleSlot, Inode, PassthroughFs};

/// Guest open flags passed on to the host.
const OPEN_FLAGS_KEPT: i32 = libc::O_ACCMODE
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_DSYNC
    | libc::O_SYNC
    | libc::O_DIRECT
    | libc::O_LARGEFILE
    | libc::O_DIRECTORY
    | libc::O_NOATIME;

/// A READ or WRITE size as a byte count; `EINVAL` where it does not fit
/// (never on the 64-bit hosts the daemon runs on).
fn byte_count(size: u32) -> io::Result<usize> {
    usize::try_from(size).map_err(|_| sys::errno(libc::EINVAL))
}

impl PassthroughFs {
    /// Host flags for opening with the guest's `flags`. Only the status
    /// flags in [`OPEN_FLAGS_KEPT`] survive: creation and link-following
    /// flags go (the node already exists, and the `/proc` magic link must
    /// be followed), so do kernel-internal bits `openat2` would refuse;
    /// `O_DIRECT` goes unless allowed, `O_NOATIME` unless preserved. With the writeback cache `O_WRONLY`
    /// becomes `O_RDWR` (the guest reads pages to fill partial writes) and
    /// `O_APPEND` goes (the guest computes the append offset itself).
    fn host_open_flags(&self, flags: u32) -> i32 {
        // The guest's open flags are the same Linux bits as ours.
        let mut f = flags.cast_signed() & OPEN_FLAGS_KEPT;
        if !self.cfg.allow_direct_io {
            f &= !libc::O_DIRECT;
        }
        if !self.cfg.preserve_noatime {
            // The host refuses O_NOATIME to callers that do not own the
            // file (the daemon, when it does not run as root); virtiofsd
            // drops it too unless --preserve-noatime.
            f &= !libc::O_NOATIME;
        }
        if self.writeback() {
            if f & libc::O_ACCMODE == libc::O_WRONLY {
                f = (f & !libc::O_ACCMODE) | libc::O_RDWR;
            }
            f &= !libc::O_APPEND;
        }
        f
    }

    /// FOPEN_* answer for a file opened with host `flags`.
    fn file_open_options(&self, flags: i32) -> OpenOptions {
        use super::CachePolicy;
        let policy = self.cfg.cache;
        OpenOptions {
            direct_io: matches!(policy, CachePolicy::Never | CachePolicy::Metadata)
                || (self.cfg.allow_direct_io && flags & libc::O_DIRECT != 0),
            keep_cache: policy == CachePolicy::Always,
            ..OpenOptions::default()
        }
    }

    /// `EROFS` for a read-only share if `flags` would change the file.
    fn check_open_writable(&self, flags: u32) -> io::Result<()> {
        let f = flags.cast_signed();
        if f & libc::O_ACCMODE != libc::O_RDONLY || f & libc::O_TRUNC != 0 {
            self.check_writable()?;
        }
        Ok(())
    }

    /// Opens `node` for I/O with host `flags`, as the caller of `ctx`; only
    /// regular files and directories qualify.
    pub(super) fn open_node(&self, ctx: &Context, node: &Inode, flags: i32) -> io::Result<OwnedFd> {
        let data = node.value();
        if !(data.is_reg() || data.is_dir()) {
            let errno = if data.file_type == libc::S_IFLNK {
                libc::ELOOP
            } else {
                libc::ENXIO
            };
            log::debug!(
                "refusing to open node {} of type {:o}",
                node.id(),
                data.file_type
            );
            return Err(sys::errno(errno));
        }
        let path = data.fd()?;
        self.as_caller_on(ctx, path.as_fd(), || self.proc.reopen(path.as_fd(), flags))
    }

    /// Opens the file `node` with host flags `host` for a guest open with
    /// `guest_flags`. When the writeback cache widened write-only to
    /// read-write, the caller may lack read permission the daemon needs:
    /// the guest's own access mode is checked as the caller first and the
    /// wider descriptor is then opened as the daemon.
    fn open_file(
        &self,
        ctx: &Context,
        node: &Inode,
        guest_flags: u32,
        host: i32,
    ) -> io::Result<OwnedFd> {
        let guest_access = guest_flags.cast_signed() & libc::O_ACCMODE;
        let widened = host & libc::O_ACCMODE != guest_access;
        if !widened || !self.switches_for(ctx) {
            return self.open_node(ctx, node, host);
        }
        drop(self.open_node(ctx, node, (host & !libc::O_ACCMODE) | guest_access)?);
        self.open_node(&super::creds::DAEMON, node, host)
    }

    fn insert_file(
        &self,
        slot: HandleSlot<'_>,
        inode: NodeId,
        fd: OwnedFd,
        flags: i32,
    ) -> HandleId {
        slot.insert(Handle {
            inode,
            fd,
            flags,
            dir: None,
        })
    }

    /// OPEN.
    pub(super) fn do_open(
        &self,
        ctx: &Context,
        inode: NodeId,
        flags: u32,
    ) -> io::Result<(HandleId, OpenOptions)> {
        self.check_open_writable(flags)?;
        let node = self.inode(inode)?;
        let slot = self.handle_slot()?;
        let host = self.host_open_flags(flags);
        let fd = self.open_file(ctx, &node, flags, host)?;
        Ok((
            self.insert_file(slot, inode, fd, host),
            self.file_open_options(host),
        ))
    }

    /// CREATE: creates `name` exclusively as the caller; if it exists and
    /// the guest did not ask for `O_EXCL`, opens the existing node instead
    /// (through the node, so a fifo or device there is refused).
    pub(super) fn do_create(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        mode: u32,
        flags: u32,
        umask: u32,
    ) -> io::Result<(Entry, HandleId, OpenOptions)> {
        self.check_writable()?;
        let parent = self.inode(parent)?;
        let name = self.guest_name(parent.id(), name)?;
        let slot = self.handle_slot()?;
        let host = self.host_open_flags(flags);
        // Resolved before the switch: opening a file handle needs
        // CAP_DAC_READ_SEARCH, which the caller's ids do not have.
        let dir = parent.value().fd()?;
        let mode = self.creation_mode(mode, umask)?;
        let created = self.as_caller_on(ctx, dir.as_fd(), || {
            sys::open::open_beneath(
                dir.as_fd(),
                name.as_cstr(),
                host | libc::O_CREAT | libc::O_EXCL,
                mode,
            )
        });
        let (entry, fd) = match created {
            Ok(fd) => {
                let path_fd = self.proc.reopen(fd.as_fd(), libc::O_PATH)?;
                (self.entry_from_fd(path_fd, parent.key().mnt_id)?, fd)
            }
            Err(e)
                if e.raw_os_error() == Some(libc::EEXIST)
                    && flags.cast_signed() & libc::O_EXCL == 0 =>
            {
                let entry = self.lookup_in(&parent, name)?;
                let opened = self
                    .inode(entry.inode)
                    .and_then(|node| self.open_file(ctx, &node, flags, host));
                match opened {
                    Ok(fd) => (entry, fd),
                    Err(e) => {
                        self.inodes.forget(entry.inode, 1);
                        return Err(e);
                    }
                }
            }
            Err(e) => return Err(e),
        };
        let handle = self.insert_file(slot, entry.inode, fd, host);
        Ok((entry, handle, self.file_open_options(host)))
    }

    /// TMPFILE: an unnamed regular file in `parent` (`O_TMPFILE`).
    pub(super) fn do_tmpfile(
        &self,
        ctx: &Context,
        parent: NodeId,
        mode: u32,
        flags: u32,
        umask: u32,
    ) -> io::Result<(Entry, HandleId, OpenOptions)> {
        self.check_writable()?;
        let parent = self.inode(parent)?;
        let slot = self.handle_slot()?;
        let host = self.host_open_flags(flags) & !libc::O_DIRECTORY;
        // Resolved before the switch: opening a file handle needs
        // CAP_DAC_READ_SEARCH, which the caller's ids do not have.
        let dir = parent.value().fd()?;
        let mode = self.creation_mode(mode, umask)?;
        let fd = self.as_caller_on(ctx, dir.as_fd(), || {
            sys::open::openat(dir.as_fd(), c".", host | libc::O_TMPFILE, mode)
        })?;
        let path_fd = self.proc.reopen(fd.as_fd(), libc::O_PATH)?;
        let entry = self.entry_from_fd(path_fd, parent.key().mnt_id)?;
        let handle = self.insert_file(slot, entry.inode, fd, host);
        Ok((entry, handle, self.file_open_options(host)))
    }

    /// A slot for a new handle; `EMFILE` once the guest holds
    /// `--max-handles` of them.
    pub(super) fn handle_slot(&self) -> io::Result<HandleSlot<'_>> {
        self.handles.reserve().ok_or_else(|| {
            crate::warn_limited!(
                "the guest holds {} open handles (--max-handles); refusing another with EMFILE",
                self.handles.len()
            );
            sys::errno(libc::EMFILE)
        })
    }

    /// A file (not directory) handle of `inode`.
    pub(super) fn file_handle(&self, inode: NodeId, handle: HandleId) -> io::Result<Arc<Handle>> {
        let h = self.handle(inode, handle)?;
        if h.dir.is_some() {
            return Err(sys::errno(libc::EISDIR));
        }
        Ok(h)
    }

    /// READ: straight from the host file into the guest's buffers.
    pub(super) fn do_read(
        &self,
        inode: NodeId,
        handle: HandleId,
        dest: &mut dyn ZeroCopyWriter,
        size: u32,
        offset: u64,
    ) -> io::Result<usize> {
        let h = self.file_handle(inode, handle)?;
        dest.read_from_file_at(h.fd.as_fd(), byte_count(size)?, offset)
    }

    /// WRITE: straight from the guest's buffers into the host file. An
    /// `O_APPEND` handle (no writeback cache) writes at the file's end.
    pub(super) fn do_write(
        &self,
        inode: NodeId,
        handle: HandleId,
        src: &mut dyn ZeroCopyReader,
        size: u32,
        offset: u64,
        kill_priv: bool,
    ) -> io::Result<usize> {
        self.check_writable()?;
        let h = self.file_handle(inode, handle)?;
        if kill_priv {
            self.kill_privs(h.fd.as_fd())?;
        }
        let offset = (h.flags & libc::O_APPEND == 0).then_some(offset);
        src.write_to_file_at(h.fd.as_fd(), byte_count(size)?, offset)
    }

    /// RELEASE / RELEASEDIR: drops the handle (the descriptor closes when
    /// the last in-flight request using it finishes).
    pub(super) fn do_release(&self, inode: NodeId, handle: HandleId, dir: bool) -> io::Result<()> {
        self.handles
            .remove_if(handle, |h| h.inode == inode && h.dir.is_some() == dir)
            .map(drop)
            .ok_or_else(|| sys::errno(libc::EBADF))
    }

    /// FSYNC / FSYNCDIR on the handle's descriptor.
    pub(super) fn do_fsync(
        &self,
        inode: NodeId,
        handle: HandleId,
        datasync: bool,
    ) -> io::Result<()> {
        let h = self.handle(inode, handle)?;
        if datasync {
            sys::datapath::fdatasync(h.fd.as_fd())
        } else {
            sys::datapath::fsync(h.fd.as_fd())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::super::CachePolicy;
    use crate::filesystem::{FileSystem, HandleId, InitOptions, NodeId};
    use std::os::unix::fs::PermissionsExt;

    const RDWR: u32 = libc::O_RDWR as u32;

    #[test]
    fn create_write_read_truncate() {
        let (tmp, fs) = new_fs();
        let (e, h, opts) = fs
            .create(
                &ctx(),
                NodeId::ROOT,
                name(c"f"),
                libc::S_IFREG | 0o666,
                RDWR,
                0o022,
            )
            .unwrap();
        assert_eq!(e.attr.st_mode, libc::S_IFREG | 0o644);
        assert!(!opts.direct_io && !opts.keep_cache);
        assert_eq!(write_all(&fs, e.inode, h, 0, b"hello world"), 11);
        assert_eq!(read_all(&fs, e.inode, h, 6, 100), b"world");
        assert_eq!(read_all(&fs, e.inode, h, 100, 10), b"");
        let attr = crate::filesystem::SetAttr {
            valid: crate::filesystem::SetAttrValid {
                size: true,
                ..Default::default()
            },
            size: 5,
            ..Default::default()
        };
        fs.setattr(&ctx(), e.inode, &attr, None).unwrap();
        assert_eq!(read_all(&fs, e.inode, h, 0, 100), b"hello");
        fs.flush(&ctx(), e.inode, h, 0).unwrap();
        fs.fsync(&ctx(), e.inode, h, true).unwrap();
        fs.fsync(&ctx(), e.inode, h, false).unwrap();
        fs.release(&ctx(), e.inode, h, false, None).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("f")).unwrap(), b"hello");
        let err = fs.release(&ctx(), e.inode, h, false, None).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn creation_and_internal_flags_are_not_passed_on() {
        let (_tmp, fs) = new_fs();
        let guest = (libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW) as u32
            | libc::O_PATH as u32
            | libc::O_DIRECT as u32
            | 0x20;
        assert_eq!(fs.host_open_flags(guest), libc::O_RDWR);
        let (_tmp, fs) = new_fs_with(|c| c.allow_direct_io = true);
        let host = fs.host_open_flags((libc::O_RDONLY | libc::O_DIRECT) as u32);
        assert_eq!(host, libc::O_DIRECT);
    }

    #[test]
    fn bogus_handles_are_ebadf() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        let (h, _) = fs.open(&ctx(), e.inode, RDWR).unwrap();
        let mut dst = VecWriter::new(10);
        let (other, none) = (HandleId::from_raw(h.get() + 1), HandleId::from_raw(0));
        for (ino, handle) in [(e.inode, other), (NodeId::ROOT, h), (e.inode, none)] {
            let err = fs.read(&ctx(), ino, handle, &mut dst, 10, 0).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        }
        let err = fs
            .open(&ctx(), NodeId::from_raw(777_777), RDWR)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn create_existing_without_excl_opens_it() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"old").unwrap();
        let (e, h, _) = fs
            .create(&ctx(), NodeId::ROOT, name(c"f"), 0o644, RDWR, 0)
            .unwrap();
        assert_eq!(read_all(&fs, e.inode, h, 0, 10), b"old");
        let excl = RDWR | libc::O_EXCL as u32;
        let err = fs
            .create(&ctx(), NodeId::ROOT, name(c"f"), 0o644, excl, 0)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
    }

    #[test]
    fn fifos_are_never_opened() {
        let (tmp, fs) = new_fs();
        let p = fs
            .mknod(
                &ctx(),
                NodeId::ROOT,
                name(c"p"),
                libc::S_IFIFO | 0o666,
                0,
                0,
            )
            .unwrap();
        for flags in [libc::O_RDONLY, libc::O_WRONLY, libc::O_RDWR] {
            let err = fs.open(&ctx(), p.inode, flags as u32).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENXIO));
        }
        // CREATE over an existing fifo must not open it either (it would block).
        let err = fs
            .create(&ctx(), NodeId::ROOT, name(c"p"), 0o644, RDWR, 0)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENXIO));
        assert_eq!(fs.inodes.get(p.inode).unwrap().refcount(), 1);
        let _ = tmp;
    }

    #[test]
    fn device_nodes_are_never_opened() {
        let (_tmp, fs) = new_fs();
        // MKDEV(1, 3) is /dev/null, in FUSE's 32-bit encoding.
        let rdev = (1 << 8) | 3;
        let dev = match fs.mknod(
            &ctx(),
            NodeId::ROOT,
            name(c"null"),
            libc::S_IFCHR | 0o666,
            rdev,
            0,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => return, // host forbids
            other => other.unwrap(),
        };
        assert_eq!(dev.attr.st_rdev, libc::makedev(1, 3));
        let err = fs.open(&ctx(), dev.inode, RDWR).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENXIO));
        let err = fs.opendir(&ctx(), dev.inode, 0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
    }

    #[test]
    fn append_without_writeback_writes_at_end() {
        let (tmp, fs) = new_fs();
        std::fs::write(tmp.path().join("f"), b"abc").unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        let (h, _) = fs
            .open(&ctx(), e.inode, (libc::O_WRONLY | libc::O_APPEND) as u32)
            .unwrap();
        write_all(&fs, e.inode, h, 0, b"def");
        assert_eq!(std::fs::read(tmp.path().join("f")).unwrap(), b"abcdef");
    }

    #[test]
    fn writeback_turns_wronly_into_rdwr_and_drops_append() {
        let (tmp, fs) = new_fs_with(|c| c.writeback = true);
        fs.init(InitOptions {
            writeback: true,
            ..Default::default()
        })
        .unwrap();
        std::fs::write(tmp.path().join("f"), b"abc").unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        let (h, _) = fs
            .open(&ctx(), e.inode, (libc::O_WRONLY | libc::O_APPEND) as u32)
            .unwrap();
        let handle = fs.handles.get(h).unwrap();
        assert_eq!(handle.flags & libc::O_ACCMODE, libc::O_RDWR);
        assert_eq!(handle.flags & libc::O_APPEND, 0);
        write_all(&fs, e.inode, h, 1, b"X");
        assert_eq!(read_all(&fs, e.inode, h, 0, 10), b"aXc");
    }

    #[test]
    fn cache_policy_sets_open_options() {
        for (policy, direct, keep) in [
            (CachePolicy::Never, true, false),
            (CachePolicy::Metadata, true, false),
            (CachePolicy::Auto, false, false),
            (CachePolicy::Always, false, true),
        ] {
            let (tmp, fs) = new_fs_with(|c| c.cache = policy);
            std::fs::write(tmp.path().join("f"), b"").unwrap();
            let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
            let (_, o) = fs.open(&ctx(), e.inode, 0).unwrap();
            assert_eq!((o.direct_io, o.keep_cache), (direct, keep), "{policy:?}");
        }
    }

    #[test]
    fn readonly_refuses_writable_opens() {
        let (tmp, fs) = new_fs_with(|c| c.readonly = true);
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        for flags in [libc::O_WRONLY, libc::O_RDWR, libc::O_RDONLY | libc::O_TRUNC] {
            let err = fs.open(&ctx(), e.inode, flags as u32).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EROFS));
        }
        fs.open(&ctx(), e.inode, 0).unwrap();
        let err = fs
            .create(&ctx(), NodeId::ROOT, name(c"g"), 0o644, RDWR, 0)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    }

    #[test]
    fn write_with_kill_priv_clears_setuid() {
        let (tmp, fs) = new_fs();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        let (h, _) = fs.open(&ctx(), e.inode, RDWR).unwrap();
        let mut src = VecReader::new(b"x");
        fs.write(&ctx(), e.inode, h, &mut src, 1, 0, true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o755);
    }

    #[test]
    fn tmpfile_is_unnamed_and_writable() {
        let (tmp, fs) = new_fs();
        let (e, h, _) = match fs.tmpfile(&ctx(), NodeId::ROOT, 0o600, RDWR, 0) {
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return,
            other => other.unwrap(),
        };
        assert_eq!(e.attr.st_nlink, 0);
        write_all(&fs, e.inode, h, 0, b"tmp");
        assert_eq!(read_all(&fs, e.inode, h, 0, 10), b"tmp");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
        let named = fs
            .link(&ctx(), e.inode, NodeId::ROOT, name(c"named"))
            .unwrap();
        assert_eq!(named.inode, e.inode);
        assert_eq!(std::fs::read(tmp.path().join("named")).unwrap(), b"tmp");
    }
}
