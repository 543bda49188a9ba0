//! Whether an unprivileged user may create a user namespace on this host
//! (tests of unprivileged sandboxes skip when the host forbids it).

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Whether `/bin/true`, run as `uid`/`gid`, can `unshare(CLONE_NEWUSER)`.
pub fn user_namespaces_allowed_for(uid: u32, gid: u32) -> bool {
    let mut probe = Command::new("/bin/true");
    probe.uid(uid).gid(gid);
    // SAFETY: the closure runs in the forked child before exec and only
    // makes one syscall.
    unsafe {
        probe.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWUSER) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    probe.status().is_ok_and(|st| st.success())
}
