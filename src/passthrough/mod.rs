//! The passthrough filesystem: serves a host directory to the guest.
//!
//! [`PassthroughFs`] implements [`FileSystem`] over a shared directory. It
//! owns the inode table (node id -> `O_PATH` descriptor or file handle of
//! the host inode, see `inode_file`) and the handle table (handle id ->
//! descriptor opened for I/O); the
//! operations live in one module per family and this module only wires
//! them into the trait.
//!
//! Containment does not depend on a sandbox (`--sandbox`, entered by
//! `daemon::sandbox` before this filesystem is built, is defence in depth):
//!
//! * every guest-supplied name arrives as a checked
//!   [`Name`](crate::filesystem::Name) (one component, no `/`, not
//!   `.`/`..`), so no unchecked name can reach a syscall;
//! * every name-relative call is an `*at()` call on the parent's `O_PATH`
//!   descriptor that does not follow a symlink in the last component, and
//!   name-based opens go through `openat2(RESOLVE_BENEATH |
//!   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)`;
//! * only regular files and directories are ever opened for I/O; fifos,
//!   sockets and device nodes answer `ENXIO`, symlinks `ELOOP`
//!   (CVE-2020-35517);
//! * node and handle ids are allocated by the daemon and never reused, and
//!   unknown ones answer `EBADF`.
//!
//! Requests the host checks run with the guest caller's uid/gid as the
//! calling thread's effective ids (when the daemon runs as root; see
//! `creds` for which requests switch and how supplementary groups are
//! handled). With `--translate-uid`/`--translate-gid` ([`IdTranslation`])
//! the caller's ids are translated to host ids where the trait hands a
//! request to this module (a forbidden guest id answers `EPERM`), the
//! owner a SETATTR sets likewise, and the owner of every attribute the
//! guest is shown is translated back where it is read (`entry`, GETATTR,
//! STATX). [`PassthroughFs::new`] drops the
//! daemon's supplementary groups and sets the process umask to 0: modes
//! arrive from the guest and the request's own umask is applied here.

// Guest-supplied numbers convert with `try_from` into an errno; a lossy
// `as` cast is an error here (see docs/architecture.md, "Numbers from the
// guest"). Unit tests may cast freely.
#![cfg_attr(
    not(test),
    deny(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap
    )
)]

mod attr;
mod config;
mod creds;
mod dir;
mod entries;
mod file;
mod flush;
mod handles;
pub mod id_translation;
mod inode_file;
mod inode_table;
mod lookup;
mod migration;
mod ranges;
mod restore;
mod xattr;
pub mod xattrmap;

#[cfg(test)]
mod test_util;

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::filesystem::{
    Context, DirSink, Entry, FileSystem, HandleId, HostObjects, InitOptions, Name, NodeId,
    OpenOptions, SetAttr, StateError, Whence, ZeroCopyReader, ZeroCopyWriter,
};
use crate::sys;
use crate::sys::open::ProcSelfFd;

pub use config::{CachePolicy, Config, Error, MigrationConfig, MigrationMode, MigrationOnError};
use handles::HandleTable;
pub use id_translation::{IdRule, IdRuleError, IdTranslation};
pub use inode_file::HandlePolicy;
use inode_file::{InodeFile, MountFds, PathFd};
use inode_table::{InodeKey, InodeTable, Node, ROOT};

/// What the inode table keeps per host inode.
#[derive(Debug)]
struct InodeData {
    /// The descriptor or file handle the inode is held by.
    file: InodeFile,
    /// `S_IFMT` bits of its mode (a host inode never changes type).
    file_type: u32,
}

impl InodeData {
    /// An `O_PATH | O_NOFOLLOW` descriptor of the inode for one request
    /// (opened from the file handle if the inode is held by one).
    fn fd(&self) -> io::Result<PathFd<'_>> {
        self.file.path_fd()
    }

    fn is_dir(&self) -> bool {
        self.file_type == libc::S_IFDIR
    }

    fn is_reg(&self) -> bool {
        self.file_type == libc::S_IFREG
    }
}

type Inode = Arc<Node<InodeData>>;

/// A reserved slot in the handle table.
type HandleSlot<'a> = handles::Reservation<'a, Handle>;

/// An open file or directory.
#[derive(Debug)]
struct Handle {
    /// Node id it was opened from.
    inode: NodeId,
    /// Descriptor opened for I/O.
    fd: OwnedFd,
    /// Host open flags actually used.
    flags: i32,
    /// For directories: the `getdents64` buffer (empty until the first
    /// READDIR and after the end), whose lock also serialises seek + read
    /// on the shared directory position.
    dir: Option<Mutex<Vec<u8>>>,
}

/// The passthrough [`FileSystem`].
#[derive(Debug)]
pub struct PassthroughFs {
    cfg: Config,
    inodes: InodeTable<InodeData>,
    handles: HandleTable<Handle>,
    proc: ProcSelfFd,
    /// The root opened `O_RDONLY` (syncfs refuses `O_PATH` descriptors).
    root_sync: OwnedFd,
    /// syncfs(2) of the root's filesystem makes its files durable as fsync
    /// would. Not on a FUSE filesystem: the kernel passes syncfs(2) on to
    /// virtiofs servers only, so a FUSE server never hears of it, while it
    /// does get every fsync.
    syncfs_reaches_storage: bool,
    /// `st_dev` of the root.
    root_dev: u64,
    /// Some inode the guest was shown lives on another filesystem than the
    /// root (a submount): syncfs(2) of a dirty set must then find the
    /// filesystem of each inode; until then the root's covers them all.
    other_devices: AtomicBool,
    /// Writeback cache in force (configured and negotiated at INIT).
    writeback: AtomicBool,
    /// Act as the guest caller (the daemon has CAP_SETUID/SETGID).
    switch_creds: bool,
    /// One descriptor per host mount, for opening file handles.
    mounts: MountFds,
    /// File handle policy in force (`Prefer` drops to `Never` at start
    /// when handles cannot work).
    handle_policy: HandlePolicy,
    /// `/proc/meminfo` (through the `/proc/self/fd` descriptor, so it works
    /// inside the sandbox), for the host's dirty page cache; `None` if it
    /// cannot be opened.
    meminfo: Option<OwnedFd>,
    /// Test builds: the targeted flush fails with EIO for files of this
    /// size (0: never).
    #[cfg(any(test, feature = "test-hooks"))]
    fail_flush_size: std::sync::atomic::AtomicU64,
    /// Unit tests: fsyncs of the targeted flush that succeeded.
    #[cfg(test)]
    fsyncs_done: std::sync::atomic::AtomicU64,
}

impl PassthroughFs {
    /// Opens `config.root_dir` (as `O_PATH`) and makes it node 1 (the FUSE root).
    pub fn new(config: Config) -> Result<Self, Error> {
        let proc = ProcSelfFd::open().map_err(Error::ProcSelfFd)?;
        Self::with_proc(config, proc)
    }

    /// Like [`new`](Self::new) with `/proc/self/fd` already open: inside the
    /// sandbox `/proc` is out of reach, so it is opened before entering.
    pub fn with_proc(config: Config, proc: ProcSelfFd) -> Result<Self, Error> {
        let path = config.root_dir.clone();
        let cpath = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error::InvalidPath(path.clone()))?;
        let root =
            sys::open::open_path(&cpath, libc::O_PATH | libc::O_DIRECTORY).map_err(|source| {
                Error::OpenRoot {
                    path: path.clone(),
                    source,
                }
            })?;
        let root_sync = proc
            .reopen(root.as_fd(), libc::O_RDONLY | libc::O_DIRECTORY)
            .map_err(|source| Error::OpenRoot {
                path: path.clone(),
                source,
            })?;
        let st = sys::stat::statx_with_mount(root.as_fd()).map_err(|source| Error::StatRoot {
            path: path.clone(),
            source,
        })?;
        let syncfs_reaches_storage =
            sys::stat::filesystem_type(root_sync.as_fd()).map_err(|source| Error::StatRoot {
                path: path.clone(),
                source,
            })? != sys::stat::FUSE_SUPER_MAGIC;
        let mounts = MountFds::default();
        let handle_policy =
            inode_file::probe(root.as_fd(), &root_sync, config.inode_file_handles, &mounts)
                .map_err(|source| Error::FileHandles { path, source })?;
        let inodes = InodeTable::new();
        inodes.insert_root(
            key_of(&st),
            InodeData {
                file: InodeFile::Fd(root),
                file_type: libc::S_IFDIR,
            },
        );
        sys::creds::set_umask(0);
        let switch_creds = sys::creds::geteuid() == 0 && !config.single_id_namespace;
        if switch_creds {
            creds::drop_supplementary_groups();
        }
        let handles = match config.max_handles {
            0 => HandleTable::new(),
            n => HandleTable::with_limit(n),
        };
        let meminfo = proc
            .open_meminfo()
            .map_err(|e| {
                log::warn!("/proc/meminfo: {e}; SYNCFS cannot weigh the host's dirty data")
            })
            .ok();
        Ok(Self {
            meminfo,
            cfg: config,
            inodes,
            handles,
            proc,
            root_sync,
            syncfs_reaches_storage,
            root_dev: key_of(&st).dev,
            other_devices: AtomicBool::new(false),
            writeback: AtomicBool::new(false),
            switch_creds,
            mounts,
            handle_policy,
            #[cfg(any(test, feature = "test-hooks"))]
            fail_flush_size: std::sync::atomic::AtomicU64::new(0),
            #[cfg(test)]
            fsyncs_done: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Number of inodes the guest holds references on (root included).
    pub fn inode_count(&self) -> usize {
        self.inodes.len()
    }

    /// Number of inodes held by an open descriptor (root included); the
    /// others are held by file handles.
    pub fn inode_fd_count(&self) -> usize {
        self.inodes.count_where(|d| d.file.holds_fd())
    }

    /// The file handle policy in force.
    pub fn handle_policy(&self) -> HandlePolicy {
        self.handle_policy
    }

    /// Whether the daemon makes `name_to_handle_at`/`open_by_handle_at`
    /// calls: to hold inodes, or for migration (file-handles mode,
    /// `--migration-verify-handles`). The seccomp filter allows them only
    /// then.
    pub fn uses_file_handle_calls(&self) -> bool {
        self.handle_policy != HandlePolicy::Never
            || self.cfg.migration.mode == MigrationMode::FileHandles
            || self.cfg.migration.verify_handles
    }

    /// Number of open file and directory handles.
    pub fn handle_count(&self) -> usize {
        self.handles.len()
    }

    /// The inode `id`; `EBADF` if the guest names one it does not hold.
    fn inode(&self, id: NodeId) -> io::Result<Inode> {
        self.inodes.get(id).ok_or_else(|| ebadf("node", id))
    }

    /// `name`, from the guest, in directory `parent`: not the hidden root
    /// name (`ENOENT`; the [`Name`] itself is already a checked component).
    fn guest_name<'n>(&self, parent: NodeId, name: Name<'n>) -> io::Result<Name<'n>> {
        if self.is_hidden(parent, name.as_bytes()) {
            return Err(sys::errno(libc::ENOENT));
        }
        Ok(name)
    }

    /// Whether `name` in `parent` is the hidden root name.
    fn is_hidden(&self, parent: NodeId, name: &[u8]) -> bool {
        parent == ROOT
            && self
                .cfg
                .hidden_root_name
                .as_ref()
                .is_some_and(|hidden| hidden.as_bytes() == name)
    }

    /// The open handle `id` of node `inode`; `EBADF` if there is none or it
    /// belongs to another node.
    fn handle(&self, inode: NodeId, id: HandleId) -> io::Result<Arc<Handle>> {
        self.handles
            .get(id)
            .filter(|h| h.inode == inode)
            .ok_or_else(|| ebadf("handle", id))
    }

    /// `EROFS` when the share is read-only.
    fn check_writable(&self) -> io::Result<()> {
        if self.cfg.readonly {
            Err(sys::errno(libc::EROFS))
        } else {
            Ok(())
        }
    }

    fn writeback(&self) -> bool {
        self.writeback.load(Ordering::Relaxed)
    }
}

/// The identity of the inode a `statx` answer describes.
fn key_of(st: &sys::stat::StatWithMount) -> InodeKey {
    InodeKey {
        dev: st.st.st_dev,
        ino: st.st.st_ino,
        mnt_id: st.mnt_id,
    }
}

fn ebadf(what: &str, id: impl std::fmt::Display) -> io::Error {
    log::debug!("unknown {what} {id} from the guest");
    sys::errno(libc::EBADF)
}

impl FileSystem for PassthroughFs {
    fn init(&self, options: InitOptions) -> io::Result<()> {
        let writeback = self.cfg.writeback && options.writeback;
        if self.cfg.writeback && !options.writeback {
            log::info!("guest did not accept the writeback cache");
        }
        self.writeback.store(writeback, Ordering::Relaxed);
        Ok(())
    }

    fn destroy(&self) {
        self.handles.clear();
        self.inodes.clear();
    }

    fn save_state(&self, out: &mut crate::filesystem::StateWriter) -> Result<(), StateError> {
        self.save_migration_state(out)
    }

    fn load_state(&self, input: &mut crate::filesystem::StateReader<'_>) -> Result<(), StateError> {
        self.load_migration_state(input)
    }

    fn lookup(&self, ctx: &Context, parent: NodeId, name: Name<'_>) -> io::Result<Entry> {
        self.do_lookup(&self.host_caller(ctx)?, parent, name)
    }

    fn forget(&self, inode: NodeId, count: u64) {
        self.inodes.forget(inode, count);
    }

    fn getattr(
        &self,
        _ctx: &Context,
        inode: NodeId,
        handle: Option<HandleId>,
    ) -> io::Result<(libc::stat64, Duration)> {
        self.do_getattr(inode, handle)
    }

    fn statx(
        &self,
        _ctx: &Context,
        inode: NodeId,
        handle: Option<HandleId>,
        sync: u32,
        mask: u32,
    ) -> io::Result<(libc::statx, Duration)> {
        self.do_statx(inode, handle, sync, mask)
    }

    fn setattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        attr: &SetAttr,
        handle: Option<HandleId>,
    ) -> io::Result<(libc::stat64, Duration)> {
        self.do_setattr(
            &self.host_caller(ctx)?,
            inode,
            &self.host_setattr(attr)?,
            handle,
        )
    }

    fn readlink(&self, _ctx: &Context, inode: NodeId) -> io::Result<Vec<u8>> {
        self.do_readlink(inode)
    }

    fn symlink(
        &self,
        ctx: &Context,
        target: &CStr,
        parent: NodeId,
        name: Name<'_>,
    ) -> io::Result<Entry> {
        self.do_symlink(&self.host_caller(ctx)?, target, parent, name)
    }

    fn mknod(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        mode: u32,
        rdev: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        self.do_mknod(&self.host_caller(ctx)?, parent, name, mode, rdev, umask)
    }

    fn mkdir(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        mode: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        self.do_mkdir(&self.host_caller(ctx)?, parent, name, mode, umask)
    }

    fn unlink(&self, ctx: &Context, parent: NodeId, name: Name<'_>) -> io::Result<()> {
        self.do_unlink(&self.host_caller(ctx)?, parent, name, 0)
    }

    fn rmdir(&self, ctx: &Context, parent: NodeId, name: Name<'_>) -> io::Result<()> {
        self.do_unlink(&self.host_caller(ctx)?, parent, name, libc::AT_REMOVEDIR)
    }

    fn rename(
        &self,
        ctx: &Context,
        old_parent: NodeId,
        old_name: Name<'_>,
        new_parent: NodeId,
        new_name: Name<'_>,
        flags: u32,
    ) -> io::Result<()> {
        self.do_rename(
            &self.host_caller(ctx)?,
            old_parent,
            old_name,
            new_parent,
            new_name,
            flags,
        )
    }

    fn link(
        &self,
        ctx: &Context,
        inode: NodeId,
        new_parent: NodeId,
        new_name: Name<'_>,
    ) -> io::Result<Entry> {
        self.do_link(&self.host_caller(ctx)?, inode, new_parent, new_name)
    }

    fn open(
        &self,
        ctx: &Context,
        inode: NodeId,
        flags: u32,
    ) -> io::Result<(HandleId, OpenOptions)> {
        self.do_open(&self.host_caller(ctx)?, inode, flags)
    }

    fn create(
        &self,
        ctx: &Context,
        parent: NodeId,
        name: Name<'_>,
        mode: u32,
        flags: u32,
        umask: u32,
    ) -> io::Result<(Entry, HandleId, OpenOptions)> {
        self.do_create(&self.host_caller(ctx)?, parent, name, mode, flags, umask)
    }

    fn read(
        &self,
        _ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        dest: &mut dyn ZeroCopyWriter,
        size: u32,
        offset: u64,
    ) -> io::Result<usize> {
        self.do_read(inode, handle, dest, size, offset)
    }

    fn write(
        &self,
        _ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        src: &mut dyn ZeroCopyReader,
        size: u32,
        offset: u64,
        kill_priv: bool,
    ) -> io::Result<usize> {
        self.do_write(inode, handle, src, size, offset, kill_priv)
    }

    fn flush(
        &self,
        _ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        _lock_owner: u64,
    ) -> io::Result<()> {
        // Locks stay in the guest (INIT offers no POSIX_LOCKS/FLOCK_LOCKS),
        // so no lock is held on the host to drop at close(2); just check
        // the handle.
        self.handle(inode, handle).map(drop)
    }

    fn release(
        &self,
        _ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        _flush: bool,
        _lock_owner: Option<u64>,
    ) -> io::Result<()> {
        self.do_release(inode, handle, false)
    }

    fn fsync(
        &self,
        _ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        datasync: bool,
    ) -> io::Result<()> {
        self.do_fsync(inode, handle, datasync)
    }

    fn opendir(
        &self,
        ctx: &Context,
        inode: NodeId,
        flags: u32,
    ) -> io::Result<(HandleId, OpenOptions)> {
        self.do_opendir(&self.host_caller(ctx)?, inode, flags)
    }

    fn readdir(
        &self,
        _ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        offset: u64,
        plus: bool,
        sink: &mut dyn DirSink,
    ) -> io::Result<()> {
        self.do_readdir(inode, handle, offset, plus, sink)
    }

    fn releasedir(&self, _ctx: &Context, inode: NodeId, handle: HandleId) -> io::Result<()> {
        self.do_release(inode, handle, true)
    }

    fn fsyncdir(
        &self,
        _ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        datasync: bool,
    ) -> io::Result<()> {
        self.do_fsync(inode, handle, datasync)
    }

    fn statfs(&self, _ctx: &Context, inode: NodeId) -> io::Result<libc::statvfs64> {
        self.do_statfs(inode)
    }

    fn syncfs(&self, _ctx: &Context, inode: NodeId) -> io::Result<()> {
        self.do_syncfs(inode)
    }

    fn sync_inodes(&self, _ctx: &Context, files: &[NodeId], dirs: &[NodeId]) -> io::Result<()> {
        self.do_sync_inodes(files, dirs)
    }

    fn syncfs_inodes(&self, _ctx: &Context, files: &[NodeId], dirs: &[NodeId]) -> io::Result<()> {
        self.do_syncfs_inodes(files, dirs)
    }

    fn host_dirty_bytes(&self) -> Option<u64> {
        let meminfo = self.meminfo.as_ref()?;
        sys::stat::dirty_bytes(meminfo.as_fd()).ok()
    }

    fn setxattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        name: &CStr,
        value: &[u8],
        flags: u32,
    ) -> io::Result<()> {
        self.do_setxattr(&self.host_caller(ctx)?, inode, name, value, flags)
    }

    fn getxattr(
        &self,
        ctx: &Context,
        inode: NodeId,
        name: &CStr,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        self.do_getxattr(&self.host_caller(ctx)?, inode, name, buf)
    }

    fn listxattr(&self, ctx: &Context, inode: NodeId, buf: &mut [u8]) -> io::Result<usize> {
        self.do_listxattr(&self.host_caller(ctx)?, inode, buf)
    }

    fn removexattr(&self, ctx: &Context, inode: NodeId, name: &CStr) -> io::Result<()> {
        self.do_removexattr(&self.host_caller(ctx)?, inode, name)
    }

    fn access(&self, ctx: &Context, inode: NodeId, mask: u32) -> io::Result<()> {
        self.do_access(&self.host_caller(ctx)?, inode, mask)
    }

    fn fallocate(
        &self,
        _ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        mode: u32,
        offset: u64,
        length: u64,
    ) -> io::Result<()> {
        self.do_fallocate(inode, handle, mode, offset, length)
    }

    fn lseek(
        &self,
        _ctx: &Context,
        inode: NodeId,
        handle: HandleId,
        offset: u64,
        whence: Whence,
    ) -> io::Result<u64> {
        self.do_lseek(inode, handle, offset, whence)
    }

    fn copy_file_range(
        &self,
        _ctx: &Context,
        inode_in: NodeId,
        handle_in: HandleId,
        offset_in: u64,
        inode_out: NodeId,
        handle_out: HandleId,
        offset_out: u64,
        len: u64,
        flags: u64,
    ) -> io::Result<usize> {
        self.do_copy_file_range(
            (inode_in, handle_in, offset_in),
            (inode_out, handle_out, offset_out),
            len,
            flags,
        )
    }

    fn tmpfile(
        &self,
        ctx: &Context,
        parent: NodeId,
        mode: u32,
        flags: u32,
        umask: u32,
    ) -> io::Result<(Entry, HandleId, OpenOptions)> {
        self.do_tmpfile(&self.host_caller(ctx)?, parent, mode, flags, umask)
    }
}

impl HostObjects for PassthroughFs {
    fn object_fd(&self, inode: NodeId) -> io::Result<OwnedFd> {
        let node = self.inode(inode)?;
        let fd = node.value().fd()?;
        fd.as_fd().try_clone_to_owned()
    }
}
