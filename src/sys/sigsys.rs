//! SIGSYS, the signal of a call the seccomp filter traps (`--seccomp
//! trap`): a handler that names the refused call on stderr and makes it
//! fail with `ENOSYS` instead of ending the process.
//!
//! The handler runs on the thread that made the call, inside that call's
//! place: it only formats into a stack buffer, `write`s it (both are
//! async-signal-safe) and sets the call's return register.

use std::io;

/// The start of the kernel's `siginfo_t` for SIGSYS (`_sigsys` in
/// `<asm-generic/siginfo.h>`, 64-bit layout): signal, errno, code, the
/// union after 4 bytes of padding, and in it the address of the call,
/// its number and its architecture.
#[repr(C)]
#[allow(dead_code)] // the kernel's layout: only `syscall` is read
struct SigsysInfo {
    signo: libc::c_int,
    errno: libc::c_int,
    code: libc::c_int,
    _pad: libc::c_int,
    call_addr: *mut libc::c_void,
    syscall: libc::c_int,
    arch: libc::c_uint,
}

const PREFIX: &[u8] = b"epochfsd: seccomp: refused system call ";

/// Writes `PREFIX`, `nr` in decimal and a newline to stderr, without
/// allocating.
fn report(nr: libc::c_int) {
    let mut buf = [0u8; 64];
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut len = PREFIX.len();
    let mut digits = [0u8; 12];
    let mut n = nr.unsigned_abs();
    let mut d = 0;
    loop {
        // `n % 10` is a digit, so the cast cannot truncate.
        digits[d] = b'0' + (n % 10) as u8;
        d += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    while d > 0 {
        d -= 1;
        buf[len] = digits[d];
        len += 1;
    }
    buf[len] = b'\n';
    len += 1;
    // SAFETY: `buf` is readable for `len` bytes; write is async-signal-safe.
    unsafe { libc::write(libc::STDERR_FILENO, buf.as_ptr().cast(), len) };
}

/// Makes the trapped call return `-ENOSYS` to its caller.
///
/// # Safety
///
/// `context` must be the `ucontext_t` the kernel passed to the handler.
unsafe fn fail_call(context: *mut libc::c_void) {
    let uc = context.cast::<libc::ucontext_t>();
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller passes the kernel's ucontext; RAX holds the
    // return value of the call when the handler returns.
    unsafe {
        (*uc).uc_mcontext.gregs[libc::REG_RAX as usize] = -libc::greg_t::from(libc::ENOSYS);
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above; x0 holds the return value.
    unsafe {
        (*uc).uc_mcontext.regs[0] = (-i64::from(libc::ENOSYS)) as u64;
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = uc;
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + libc::SIGSYS) };
    }
}

extern "C" fn on_sigsys(
    _signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: for SIGSYS raised by seccomp, the kernel fills `info` with
    // the `_sigsys` layout `SigsysInfo` describes.
    let nr = unsafe { (*info.cast::<SigsysInfo>()).syscall };
    report(nr);
    // SAFETY: `context` is the ucontext the kernel passed with the signal.
    unsafe { fail_call(context) };
}

/// Installs the SIGSYS handler (process-wide).
pub fn install_reporting_handler() -> io::Result<()> {
    // SAFETY: an all-zero sigaction is a valid value to fill in.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = on_sigsys;
    action.sa_sigaction = handler as libc::sighandler_t;
    action.sa_flags = libc::SA_SIGINFO;
    // SAFETY: `action` is initialized; the old action is not needed. The
    // handler only does async-signal-safe work.
    super::cvt(unsafe { libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) }).map(drop)
}

/// A call no filter list contains, harmless when allowed:
/// `personality(0xffffffff)` only reads the execution domain. The
/// `--test-forbidden-syscall` hook makes it to show the filter's action.
#[cfg(feature = "test-hooks")]
pub fn forbidden_call() -> io::Result<()> {
    // SAFETY: personality with 0xffffffff only queries; no pointers.
    let ret = unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffff_u32 as libc::c_long) };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sigsys_layout_puts_the_call_number_after_the_address() {
        assert_eq!(std::mem::offset_of!(SigsysInfo, call_addr), 16);
        assert_eq!(std::mem::offset_of!(SigsysInfo, syscall), 24);
        assert_eq!(std::mem::offset_of!(SigsysInfo, arch), 28);
    }
}
