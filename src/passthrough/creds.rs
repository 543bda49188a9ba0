//! Acting as the guest caller while creating inodes.
//!
//! [`CredGuard`] switches the calling worker thread's effective uid and gid
//! (and, for FUSE_CREATE_SUPP_GROUP, one supplementary group) to the guest
//! caller's and restores root on drop. The switch uses the raw per-thread
//! syscalls of [`crate::sys::creds`], never glibc's process-wide wrappers.
//! While switched, the thread has no effective capabilities, so the host
//! decides ownership, setgid inheritance and setgid stripping of the new
//! inode, and checks the parent directory's permissions, as it would for
//! that user.
//!
//! Which requests switch: those that create an inode (MKDIR, MKNOD,
//! SYMLINK, CREATE, TMPFILE), where the caller's identity decides the
//! result. Other requests run as the daemon: the guest kernel has already
//! checked their permissions (virtio-fs always mounts with
//! `default_permissions`) with the caller's full group list, which the
//! request header does not carry; re-checking on the host with the uid and
//! one gid alone would refuse access granted through a supplementary group.
//! A guest can claim any uid in its headers, so a host re-check would add
//! no protection either. Where the host's answer depends on the caller
//! beyond permissions (clearing setuid/setgid on write, truncate and
//! chown), the guest says so with FUSE_HANDLE_KILLPRIV_V2 flags and the
//! daemon acts on them.
//!
//! The daemon drops its own supplementary groups at start
//! ([`drop_supplementary_groups`]), so a thread acting as a guest user is
//! never a member of root's groups (CVE-2022-0358). When the daemon does
//! not run as root it cannot switch, and new inodes belong to its user.

use std::io;

use crate::filesystem::Context;
use crate::sys::creds::{set_thread_egid, set_thread_euid, set_thread_groups, thread_eids};

use super::PassthroughFs;

/// Restores the thread's effective ids (and empty group list) when dropped.
#[derive(Debug)]
pub(super) struct CredGuard {
    old_uid: u32,
    old_gid: u32,
    groups_set: bool,
}

impl CredGuard {
    /// Switches to `uid`/`gid`, with `supp_group` as the only supplementary
    /// group. Groups and gid first: once the uid is not 0 the thread may no
    /// longer change them.
    fn switch(uid: u32, gid: u32, supp_group: Option<u32>) -> io::Result<Self> {
        let (old_uid, old_gid) = thread_eids();
        let mut guard = Self {
            old_uid,
            old_gid,
            groups_set: false,
        };
        // On error `guard` drops and undoes whatever already took effect.
        if let Some(group) = supp_group {
            set_thread_groups(&[group])?;
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
            log::error!("cannot restore euid {}: {e}", self.old_uid);
        }
        if let Err(e) = set_thread_egid(self.old_gid) {
            log::error!("cannot restore egid {}: {e}", self.old_gid);
        }
        if self.groups_set {
            if let Err(e) = set_thread_groups(&[]) {
                log::error!("cannot drop the supplementary group again: {e}");
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

    /// Acts as the caller of `ctx` until the guard drops; `None` when no
    /// switch is needed (the caller is root) or possible (the daemon is not).
    pub(super) fn as_caller(&self, ctx: &Context) -> io::Result<Option<CredGuard>> {
        if !self.switch_creds || (ctx.uid == 0 && ctx.gid == 0) {
            return Ok(None);
        }
        CredGuard::switch(ctx.uid, ctx.gid, ctx.supp_group).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_restores_root_and_groups() {
        if crate::sys::creds::geteuid() != 0 {
            return;
        }
        let (inside, groups_inside, after, groups_after) = std::thread::spawn(|| {
            let guard = CredGuard::switch(1000, 1001, Some(1002)).unwrap();
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
}
