//! Moving the daemon's state the way QEMU does during a live migration:
//! SET_DEVICE_STATE_FD with a pipe, then CHECK_DEVICE_STATE.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

use vhost::vhost_user::message::{VhostTransferStateDirection, VhostTransferStatePhase};
use vhost::vhost_user::VhostUserFrontend;

use super::vmm::TestVmm;

fn pipe() -> (File, File) {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and nothing else owns them.
    unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
}

/// The source side: stops the queues, has the daemon write its state into
/// a pipe, reads it to the end and asks CHECK_DEVICE_STATE. `Err` carries
/// the step that failed.
pub fn save_state(vmm: &mut TestVmm) -> Result<Vec<u8>, String> {
    vmm.stop_queues();
    let (mut read_end, write_end) = pipe();
    let channel = vmm
        .frontend()
        .set_device_state_fd(
            VhostTransferStateDirection::SAVE,
            VhostTransferStatePhase::STOPPED,
            OwnedFd::from(write_end),
        )
        .map_err(|e| format!("SET_DEVICE_STATE_FD: {e}"))?;
    let mut bytes = Vec::new();
    match channel {
        Some(mut file) => file.read_to_end(&mut bytes),
        None => read_end.read_to_end(&mut bytes),
    }
    .map_err(|e| format!("reading the state: {e}"))?;
    vmm.frontend()
        .check_device_state()
        .map_err(|e| format!("CHECK_DEVICE_STATE: {e}"))?;
    Ok(bytes)
}

/// The destination side: hands the daemon a pipe holding `state` and asks
/// CHECK_DEVICE_STATE whether it took it.
pub fn load_state(vmm: &mut TestVmm, state: &[u8]) -> Result<(), String> {
    let (read_end, mut write_end) = pipe();
    let mut channel = vmm
        .frontend()
        .set_device_state_fd(
            VhostTransferStateDirection::LOAD,
            VhostTransferStatePhase::STOPPED,
            OwnedFd::from(read_end),
        )
        .map_err(|e| format!("SET_DEVICE_STATE_FD: {e}"))?;
    let sink = match channel {
        Some(ref mut file) => file,
        None => &mut write_end,
    };
    // The daemon reads on a thread of its own, so a state larger than the
    // pipe does not block here.
    let written = sink.write_all(state);
    drop(write_end);
    drop(channel);
    written.map_err(|e| format!("writing the state: {e}"))?;
    vmm.frontend()
        .check_device_state()
        .map_err(|e| format!("CHECK_DEVICE_STATE: {e}"))
}
