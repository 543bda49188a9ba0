//! Acting as the guest caller.
//!
//! [`CredGuard`] switches the calling worker thread's effective uid, gid and
//! supplementary groups to the guest caller's and restores the daemon's on
//! drop. The switch uses the raw per-thread syscalls of
//! [`crate::sys::creds`], never glibc's process-wide wrappers. While
//! switched, the thread has no effective capabilities, so the host decides
//! ownership, setgid inheritance and stripping, sticky-directory rules and
//! permission checks as it would for that user.
//!
//! Which requests switch: every one whose host syscall checks the caller,
//! around that syscall only: LOOKUP, OPEN, OPENDIR, CREATE, MKNOD, MKDIR,
//! SYMLINK, TMPFILE, LINK, UNLINK, RMDIR, RENAME, SETATTR and the xattr
//! requests. Requests on an already open handle (READ, WRITE, FALLOCATE,
//! FSYNC, READDIR, ...) and reads of attributes (GETATTR, STATX, READLINK,
//! STATFS) are not checked by the host kernel, so they run as the daemon;
//! so do the daemon's own steps (opening file handles needs
//! CAP_DAC_READ_SEARCH, clearing setuid/setgid on the guest's
//! FUSE_HANDLE_KILLPRIV_V2 request).
//!
//! Supplementary groups: the request header carries the caller's uid and
//! gid but not its group list; FUSE_CREATE_SUPP_GROUP adds one group to
//! inode-creating requests. The guest kernel has already checked every
//! request with the full list (virtio-fs always mounts with
//! `default_permissions`), so when the host refuses a switched call with
//! `EACCES`/`EPERM` the call is tried once more with the groups of the
//! inodes it involves (and a new group a chown asks for) added: those are
//! the only groups the guest's decision can have rested on. A refusal on
//! the second try is the host's own (for instance
//! `fs.protected_hardlinks`, an ACL the guest does not see) and goes to
//! the guest. The retry costs nothing on the common path.
//!
//! The daemon drops its own supplementary groups at start
//! ([`drop_supplementary_groups`]), so a thread acting as a guest user is
//! never a member of root's groups (CVE-2022-0358). Guest root (uid and
//! gid 0) runs as the daemon. When the daemon does not run as root it
//! cannot switch, and every request runs as its user.

use std::io;
use std::os::fd::BorrowedFd;

use crate::filesystem::{Context, SetAttr};
use crate::sys::creds::{set_thread_egid, set_thread_euid, set_thread_groups, thread_eids};

use super::PassthroughFs;

/// A context that never switches: for steps the daemon takes on its own
/// behalf (guest root runs the same way).
pub(super) const DAEMON: Context = Context {
    uid: 0,
    gid: 0,
    pid: 0,
    supp_group: None,
    epoch: None,
};

/// Restores the thread's effective ids (and empty group list) when dropped.
#[derive(Debug)]
pub(super) struct CredGuard {
    old_uid: u32,
    old_gid: u32,
    groups_set: bool,
}

impl CredGuard {
    /// Switches to `uid`/`gid` with `groups` as supplementary groups.
    /// Groups and gid first: once the uid is not 0 the thread may no
    /// longer change them.
    fn switch(uid: u32, gid: u32, groups: &[u32]) -> io::Result<Self> {
        let (old_uid, old_gid) = thread_eids();
        let mut guard = Self {
            old_uid,
            old_gid,
            groups_set: false,
        };
        // On error `guard` drops and undoes whatever already took effect.
        if !groups.is_empty() {
            set_thread_groups(groups)?;
            guard.groups_set = true;
        }
        set_thread_egid(gid)?;
        set_thread_euid(uid)?;
        Ok(guard)
    }
}

impl Drop for CredGuard {
    fn drop(&mut self) {
        // uid first: regaining root restores the right to change the rest.
        if let Err(e) = set_thread_euid(self.old_uid) {
            crate::error_limited!("cannot restore euid {}: {e}", self.old_uid);
        }
        if let Err(e) = set_thread_egid(self.old_gid) {
            crate::error_limited!("cannot restore egid {}: {e}", self.old_gid);
        }
        if self.groups_set {
            if let Err(e) = set_thread_groups(&[]) {
                crate::error_limited!("cannot drop the supplementary groups again: {e}");
            }
        }
    }
}

/// Drops the daemon's supplementary groups (all threads). Called once when
/// the filesystem is built, if the daemon runs as root.
pub(super) fn drop_supplementary_groups() {
    if let Err(e) = crate::sys::creds::drop_process_groups() {
        log::warn!("cannot drop supplementary groups: {e}");
    }
}

thread_local! {
    /// Whether this thread has its own filesystem context (own umask).
    static OWN_FS_CONTEXT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Sets the calling thread's umask, first giving the thread its own
/// filesystem context so other workers keep theirs.
fn set_thread_umask(umask: u32) -> io::Result<()> {
    if !OWN_FS_CONTEXT.get() {
        crate::sys::creds::unshare_fs()?;
        OWN_FS_CONTEXT.set(true);
    }
    crate::sys::creds::set_umask(umask & 0o777);
    Ok(())
}

impl PassthroughFs {
    /// The permission bits to create an inode with, for a guest `mode` and
    /// `umask`. Without POSIX ACLs the umask is applied here. With them it
    /// becomes the thread's umask and the host kernel applies it, or, under
    /// a directory with a default ACL, applies the ACL instead, as a local
    /// filesystem does. Call on the thread that creates the inode, right
    /// before doing so.
    pub(super) fn creation_mode(&self, mode: u32, umask: u32) -> io::Result<u32> {
        if self.cfg.posix_acl {
            set_thread_umask(umask)?;
            Ok(mode & 0o7777)
        } else {
            Ok(mode & 0o7777 & !umask)
        }
    }

    /// Whether requests from `ctx` run with switched credentials.
    pub(super) fn switches_for(&self, ctx: &Context) -> bool {
        self.switch_creds && !(ctx.uid == 0 && ctx.gid == 0)
    }

    /// Runs `op` as the caller of `ctx` (as the daemon when no switch is
    /// needed or possible). If the host refuses with `EACCES`/`EPERM`,
    /// `vouch` names the groups of the inodes involved and `op` runs once
    /// more with them as supplementary groups (see the module doc). `op`
    /// must be safe to repeat after a refusal, as single syscalls are.
    pub(super) fn as_caller<T>(
        &self,
        ctx: &Context,
        vouch: impl FnOnce(&mut GroupList),
        mut op: impl FnMut() -> io::Result<T>,
    ) -> io::Result<T> {
        if !self.switches_for(ctx) {
            return op();
        }
        let mut groups = GroupList::default();
        if let Some(group) = ctx.supp_group {
            groups.push(group);
        }
        groups.remove(ctx.gid);
        let first = {
            let _caller = CredGuard::switch(ctx.uid, ctx.gid, groups.as_slice())?;
            op()
        };
        let refused = match first {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => e,
            done => return done,
        };
        let known = groups.len();
        vouch(&mut groups);
        groups.remove(ctx.gid);
        // Nothing new to add: the second try would be refused alike.
        if groups.len() <= known {
            return Err(refused);
        }
        let _caller = CredGuard::switch(ctx.uid, ctx.gid, groups.as_slice())?;
        op()
    }

    /// [`as_caller`](Self::as_caller) for a call on the one inode `fd`
    /// (the object, or the directory a name is resolved in): its group is
    /// the one vouched for.
    pub(super) fn as_caller_on<T>(
        &self,
        ctx: &Context,
        fd: BorrowedFd<'_>,
        op: impl FnMut() -> io::Result<T>,
    ) -> io::Result<T> {
        self.as_caller(ctx, |g| g.push_owner_of(fd), op)
    }
}

impl PassthroughFs {
    /// The caller of `ctx` in host ids (`--translate-uid`/`--translate-gid`):
    /// `EPERM` for a guest id a `forbid-guest` rule covers. A forbidden
    /// FUSE_CREATE_SUPP_GROUP group is left out rather than failing the
    /// request: it could only have granted more.
    pub(super) fn host_caller(&self, ctx: &Context) -> io::Result<Context> {
        let (uids, gids) = (&self.cfg.uids, &self.cfg.gids);
        if uids.is_identity() && gids.is_identity() {
            return Ok(*ctx);
        }
        Ok(Context {
            uid: uids
                .to_host(ctx.uid)
                .map_err(|_| forbidden("uid", ctx.uid))?,
            gid: gids
                .to_host(ctx.gid)
                .map_err(|_| forbidden("gid", ctx.gid))?,
            supp_group: ctx.supp_group.and_then(|g| gids.to_host(g).ok()),
            ..*ctx
        })
    }

    /// A SETATTR's new owner and group in host ids; `EPERM` for a
    /// forbidden one.
    pub(super) fn host_setattr(&self, attr: &SetAttr) -> io::Result<SetAttr> {
        let mut host = *attr;
        if attr.valid.uid {
            host.uid = self
                .cfg
                .uids
                .to_host(attr.uid)
                .map_err(|_| forbidden("uid", attr.uid))?;
        }
        if attr.valid.gid {
            host.gid = self
                .cfg
                .gids
                .to_host(attr.gid)
                .map_err(|_| forbidden("gid", attr.gid))?;
        }
        Ok(host)
    }

    /// Host attributes `st` as the guest is to see them (owner and group
    /// translated back).
    pub(super) fn guest_view(&self, mut st: libc::stat64) -> libc::stat64 {
        st.st_uid = self.cfg.uids.to_guest(st.st_uid);
        st.st_gid = self.cfg.gids.to_guest(st.st_gid);
        st
    }

    /// [`guest_view`](Self::guest_view) for a `statx` answer.
    pub(super) fn guest_view_statx(&self, mut stx: libc::statx) -> libc::statx {
        stx.stx_uid = self.cfg.uids.to_guest(stx.stx_uid);
        stx.stx_gid = self.cfg.gids.to_guest(stx.stx_gid);
        stx
    }
}

/// The answer to a guest id a `forbid-guest` rule covers.
fn forbidden(kind: &str, id: u32) -> io::Error {
    log::debug!("guest {kind} {id} is forbidden by --translate-{kind}");
    crate::sys::errno(libc::EPERM)
}

/// Most groups one request can vouch for: a few inodes and a new group.
const MAX_GROUPS: usize = 6;

/// Supplementary groups for one switched call, without allocating.
#[derive(Debug, Default)]
pub(super) struct GroupList {
    gids: [u32; MAX_GROUPS],
    len: usize,
}

impl GroupList {
    /// Adds `gid` unless it is already there (or the list is full).
    pub(super) fn push(&mut self, gid: u32) {
        if self.len < MAX_GROUPS && !self.as_slice().contains(&gid) {
            self.gids[self.len] = gid;
            self.len += 1;
        }
    }

    /// Adds the group owning the inode `fd` refers to; an inode that cannot
    /// be read adds nothing (the retry then does not happen).
    pub(super) fn push_owner_of(&mut self, fd: BorrowedFd<'_>) {
        if let Ok(st) = crate::sys::stat::fstat(fd) {
            self.push(st.st_gid);
        }
    }

    /// Removes `gid` (the caller's own group needs no listing).
    fn remove(&mut self, gid: u32) {
        if let Some(at) = self.as_slice().iter().position(|&g| g == gid) {
            self.gids.copy_within(at + 1..self.len, at);
            self.len -= 1;
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn as_slice(&self) -> &[u32] {
        &self.gids[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::filesystem::{FileSystem, InitOptions, NodeId, SetAttr, SetAttrValid};
    use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
    use std::path::Path;

    fn is_root() -> bool {
        crate::sys::creds::geteuid() == 0
    }

    /// A file with `mode`, owned by `uid:gid`.
    fn file(path: &Path, mode: u32, uid: u32, gid: u32) {
        std::fs::write(path, b"data").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        chown(path, Some(uid), Some(gid)).unwrap();
    }

    /// A share whose root every test user may search and write.
    fn open_share() -> (tempfile::TempDir, PassthroughFs) {
        let (tmp, fs) = new_fs();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        (tmp, fs)
    }

    fn errno<T: std::fmt::Debug>(r: io::Result<T>) -> Option<i32> {
        r.unwrap_err().raw_os_error()
    }

    /// The thread is back to the daemon's ids with no groups.
    fn assert_restored() {
        assert_eq!(thread_eids(), (0, 0));
        assert!(crate::sys::creds::thread_groups().unwrap().is_empty());
    }

    #[test]
    fn guard_restores_root_and_groups() {
        if !is_root() {
            return;
        }
        let (inside, groups_inside, after, groups_after) = std::thread::spawn(|| {
            let guard = CredGuard::switch(1000, 1001, &[1002]).unwrap();
            let inside = thread_eids();
            let groups = crate::sys::creds::thread_groups().unwrap();
            drop(guard);
            let after = thread_eids();
            let groups_after = crate::sys::creds::thread_groups().unwrap();
            (inside, groups, after, groups_after)
        })
        .join()
        .unwrap();
        assert_eq!(inside, (1000, 1001));
        assert_eq!(groups_inside, [1002]);
        assert_eq!(after, (0, 0));
        assert!(groups_after.is_empty());
    }

    #[test]
    fn group_list_dedups_and_removes() {
        let mut g = GroupList::default();
        for gid in [5, 6, 5, 7] {
            g.push(gid);
        }
        assert_eq!(g.as_slice(), [5, 6, 7]);
        g.remove(6);
        assert_eq!(g.as_slice(), [5, 7]);
        for gid in 10..20 {
            g.push(gid);
        }
        assert_eq!(g.len(), MAX_GROUPS);
    }

    #[test]
    fn open_and_lookup_are_checked_as_the_caller() {
        if !is_root() {
            return;
        }
        let (tmp, fs) = open_share();
        file(&tmp.path().join("private"), 0o600, 0, 0);
        std::fs::create_dir(tmp.path().join("closed")).unwrap();
        std::fs::set_permissions(tmp.path().join("closed"), PermissionsExt::from_mode(0o700))
            .unwrap();
        file(&tmp.path().join("closed/f"), 0o644, 0, 0);
        let user = caller(1000, 1000);
        let e = fs.lookup(&user, NodeId::ROOT, name(c"private")).unwrap();
        let rdonly = libc::O_RDONLY as u32;
        assert_eq!(errno(fs.open(&user, e.inode, rdonly)), Some(libc::EACCES));
        assert_restored();
        let d = fs.lookup(&user, NodeId::ROOT, name(c"closed")).unwrap();
        assert_eq!(
            errno(fs.lookup(&user, d.inode, name(c"f"))),
            Some(libc::EACCES)
        );
        assert_eq!(
            errno(fs.opendir(&user, d.inode, rdonly)),
            Some(libc::EACCES)
        );
        assert_restored();
        // The daemon's own view is unchanged.
        fs.open(&ctx(), e.inode, rdonly).unwrap();
        fs.lookup(&ctx(), d.inode, name(c"f")).unwrap();
    }

    #[test]
    fn access_through_a_supplementary_group_is_granted_on_retry() {
        if !is_root() {
            return;
        }
        let (tmp, fs) = open_share();
        // Readable by group 2000 only: the guest granted it because the
        // caller (gid 1000) is in 2000, which the header does not say.
        file(&tmp.path().join("shared"), 0o640, 0, 2000);
        file(&tmp.path().join("nogroup"), 0o600, 0, 2000);
        let user = caller(1000, 1000);
        let e = fs.lookup(&user, NodeId::ROOT, name(c"shared")).unwrap();
        fs.open(&user, e.inode, libc::O_RDONLY as u32).unwrap();
        assert_restored();
        // No group bits: the retry changes nothing.
        let e = fs.lookup(&user, NodeId::ROOT, name(c"nogroup")).unwrap();
        let r = fs.open(&user, e.inode, libc::O_RDONLY as u32);
        assert_eq!(errno(r), Some(libc::EACCES));
        assert_restored();
    }

    #[test]
    fn chgrp_to_a_vouched_group_and_chown_rules() {
        if !is_root() {
            return;
        }
        let (tmp, fs) = open_share();
        file(&tmp.path().join("mine"), 0o644, 1000, 1000);
        let user = caller(1000, 1000);
        let e = fs.lookup(&user, NodeId::ROOT, name(c"mine")).unwrap();
        let mut attr = SetAttr {
            valid: SetAttrValid {
                gid: true,
                ..Default::default()
            },
            gid: 3000,
            ..Default::default()
        };
        let (st, _) = fs.setattr(&user, e.inode, &attr, None).unwrap();
        assert_eq!(st.st_gid, 3000);
        // Giving the file away is refused by the host, as locally.
        attr.valid = SetAttrValid {
            uid: true,
            ..Default::default()
        };
        attr.uid = 1001;
        let r = fs.setattr(&user, e.inode, &attr, None);
        assert_eq!(errno(r), Some(libc::EPERM));
        // Another user may not change its mode.
        attr.valid = SetAttrValid {
            mode: true,
            ..Default::default()
        };
        attr.mode = 0o777;
        let r = fs.setattr(&caller(1001, 1001), e.inode, &attr, None);
        assert_eq!(errno(r), Some(libc::EPERM));
        assert_restored();
        let meta = std::fs::metadata(tmp.path().join("mine")).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o777),
            (1000, 3000, 0o644)
        );
    }

    #[test]
    fn sticky_directory_rules_are_the_hosts() {
        if !is_root() {
            return;
        }
        let (tmp, fs) = open_share();
        let dir = tmp.path().join("tmp");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o1777)).unwrap();
        file(&dir.join("theirs"), 0o644, 1001, 1001);
        let user = caller(1000, 1000);
        let d = fs.lookup(&user, NodeId::ROOT, name(c"tmp")).unwrap();
        let r = fs.unlink(&user, d.inode, name(c"theirs"));
        assert_eq!(errno(r), Some(libc::EPERM));
        let r = fs.rename(&user, d.inode, name(c"theirs"), d.inode, name(c"moved"), 0);
        assert_eq!(errno(r), Some(libc::EPERM));
        fs.unlink(&caller(1001, 1001), d.inode, name(c"theirs"))
            .unwrap();
        assert_restored();
        assert!(!dir.join("theirs").exists());
    }

    #[test]
    fn writeback_write_only_open_checks_the_guests_access_mode() {
        if !is_root() {
            return;
        }
        let (tmp, fs) = new_fs_with(|c| c.writeback = true);
        std::fs::set_permissions(tmp.path(), PermissionsExt::from_mode(0o777)).unwrap();
        fs.init(InitOptions {
            writeback: true,
            ..InitOptions::default()
        })
        .unwrap();
        file(&tmp.path().join("wo"), 0o200, 1000, 1000);
        let user = caller(1000, 1000);
        let e = fs.lookup(&user, NodeId::ROOT, name(c"wo")).unwrap();
        // Widened to O_RDWR for the page cache, yet the caller may write.
        fs.open(&user, e.inode, libc::O_WRONLY as u32).unwrap();
        let r = fs.open(&user, e.inode, libc::O_RDONLY as u32);
        assert_eq!(errno(r), Some(libc::EACCES));
        let r = fs.open(&caller(1001, 1001), e.inode, libc::O_WRONLY as u32);
        assert_eq!(errno(r), Some(libc::EACCES));
        assert_restored();
    }

    /// A share translating ids 1000..1010 to host 2000..2010 both ways
    /// (uids and gids) and forbidding guest uid 1500.
    fn translated_share() -> (tempfile::TempDir, PassthroughFs) {
        let rules = |forbid: bool| {
            let mut rules = vec!["map:1000:2000:10".parse().unwrap()];
            if forbid {
                rules.push("forbid-guest:1500:1".parse().unwrap());
            }
            super::super::IdTranslation::new(&rules).unwrap()
        };
        let (tmp, fs) = new_fs_with(|c| {
            c.uids = rules(true);
            c.gids = rules(false);
        });
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        (tmp, fs)
    }

    #[test]
    fn translated_callers_create_as_host_ids_and_see_guest_ids() {
        if !is_root() {
            return;
        }
        let (tmp, fs) = translated_share();
        let user = caller(1000, 1001);
        let e = fs
            .mkdir(&user, NodeId::ROOT, name(c"d"), 0o755, 0o022)
            .unwrap();
        assert_eq!((e.attr.st_uid, e.attr.st_gid), (1000, 1001));
        let meta = std::fs::metadata(tmp.path().join("d")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (2000, 2001));
        // Host owners: inside the rule translated back, outside unchanged.
        file(&tmp.path().join("theirs"), 0o644, 2005, 3000);
        let e = fs.lookup(&user, NodeId::ROOT, name(c"theirs")).unwrap();
        assert_eq!((e.attr.st_uid, e.attr.st_gid), (1005, 3000));
        let (st, _) = fs.getattr(&user, e.inode, None).unwrap();
        assert_eq!((st.st_uid, st.st_gid), (1005, 3000));
        let (stx, _) = fs.statx(&user, e.inode, None, 0, 0).unwrap();
        assert_eq!((stx.stx_uid, stx.stx_gid), (1005, 3000));
        // A chown by guest root names guest ids.
        let attr = SetAttr {
            valid: crate::filesystem::SetAttrValid {
                uid: true,
                gid: true,
                ..Default::default()
            },
            uid: 1009,
            gid: 77,
            ..Default::default()
        };
        let (st, _) = fs.setattr(&ctx(), e.inode, &attr, None).unwrap();
        assert_eq!((st.st_uid, st.st_gid), (1009, 77));
        let meta = std::fs::metadata(tmp.path().join("theirs")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (2009, 77));
        assert_restored();
    }

    #[test]
    fn forbidden_guest_ids_are_refused_with_eperm() {
        if !is_root() {
            return;
        }
        let (tmp, fs) = translated_share();
        file(&tmp.path().join("f"), 0o644, 0, 0);
        let banned = caller(1500, 1500);
        let r = fs.mknod(
            &banned,
            NodeId::ROOT,
            name(c"n"),
            libc::S_IFREG | 0o644,
            0,
            0,
        );
        assert_eq!(errno(r), Some(libc::EPERM));
        assert_eq!(
            errno(fs.lookup(&banned, NodeId::ROOT, name(c"f"))),
            Some(libc::EPERM)
        );
        assert!(!tmp.path().join("n").exists());
        // Nor may anyone give a file to a forbidden uid.
        let e = fs.lookup(&ctx(), NodeId::ROOT, name(c"f")).unwrap();
        let attr = SetAttr {
            valid: crate::filesystem::SetAttrValid {
                uid: true,
                ..Default::default()
            },
            uid: 1500,
            ..Default::default()
        };
        assert_eq!(
            errno(fs.setattr(&ctx(), e.inode, &attr, None)),
            Some(libc::EPERM)
        );
        // The gid 1500 is not forbidden: gids have their own rules.
        fs.mknod(
            &caller(1000, 1500),
            NodeId::ROOT,
            name(c"n"),
            libc::S_IFREG | 0o644,
            0,
            0,
        )
        .unwrap();
        let meta = std::fs::metadata(tmp.path().join("n")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (2000, 1500));
    }
}
