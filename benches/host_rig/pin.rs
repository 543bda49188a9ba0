//! CPU placement for the rig: the client (this process) on the first CPU it
//! may use, the daemon under test on all the others, the same for both
//! daemons. Without it the scheduler moves the two between cores and the
//! run-to-run spread on a small host grows to +-30%.

use std::io;
use std::mem::MaybeUninit;

/// The CPUs the calling thread may run on.
fn allowed_cpus() -> io::Result<Vec<usize>> {
    let mut set = MaybeUninit::<libc::cpu_set_t>::zeroed();
    // SAFETY: `set` is a writable cpu_set_t of the size passed; the kernel
    // fills it.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), set.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised and then filled by a successful call.
    let set = unsafe { set.assume_init() };
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `i` is below CPU_SETSIZE, the size of `set`.
        .filter(|&i| unsafe { libc::CPU_ISSET(i, &set) })
        .collect())
}

/// Restricts the calling thread (and threads it starts later, or a child
/// it `exec`s) to `cpus`. Async-signal-safe: one syscall.
pub fn set_cpus(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: callers pass CPU numbers from `allowed_cpus`, all below
        // CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The split: `(client CPUs, daemon CPUs)`, or `None` on a single CPU.
pub fn split() -> io::Result<Option<(Vec<usize>, Vec<usize>)>> {
    let cpus = allowed_cpus()?;
    Ok(match cpus.split_first() {
        Some((&first, rest)) if !rest.is_empty() => Some((vec![first], rest.to_vec())),
        _ => None,
    })
}
