//! Acting as the guest caller while creating files.
//!
//! [`CredGuard`] switches the calling thread's filesystem uid/gid to the
//! guest caller's and restores them on drop, so new inodes get the guest
//! caller's ownership and the host checks the parent directory's
//! permissions for that caller. When the daemon is not root it cannot
//! switch, and new files belong to the daemon's user.

use std::io;

use crate::filesystem::Context;
use crate::sys::creds::{set_fsgid, set_fsuid};

use super::PassthroughFs;

/// Restores the thread's filesystem ids when dropped.
#[derive(Debug)]
pub(super) struct CredGuard {
    old_uid: u32,
    old_gid: u32,
}

impl CredGuard {
    /// Switches to `uid`/`gid` (gid first: after the uid changes away from
    /// root the thread may lose the right to change its gid).
    fn switch(uid: u32, gid: u32) -> io::Result<Self> {
        let old_gid = set_fsgid(gid)?;
        match set_fsuid(uid) {
            Ok(old_uid) => Ok(Self { old_uid, old_gid }),
            Err(e) => {
                // Undo the gid switch; it succeeded, so this one can too.
                let _ = set_fsgid(old_gid);
                Err(e)
            }
        }
    }
}

impl Drop for CredGuard {
    fn drop(&mut self) {
        // uid first: regaining root restores the right to change the gid.
        if let Err(e) = set_fsuid(self.old_uid) {
            log::error!("cannot restore fsuid {}: {e}", self.old_uid);
        }
        if let Err(e) = set_fsgid(self.old_gid) {
            log::error!("cannot restore fsgid {}: {e}", self.old_gid);
        }
    }
}

impl PassthroughFs {
    /// Acts as the caller of `ctx` until the guard drops; `None` when no
    /// switch is needed or possible.
    pub(super) fn as_caller(&self, ctx: &Context) -> io::Result<Option<CredGuard>> {
        if !self.switch_creds || (ctx.uid == 0 && ctx.gid == 0) {
            return Ok(None);
        }
        CredGuard::switch(ctx.uid, ctx.gid).map(Some)
    }
}
