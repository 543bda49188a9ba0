//! The open file limit (`RLIMIT_NOFILE`).
//!
//! By default the daemon raises its limit as far as the system lets it,
//! up to one million descriptors, like virtiofsd: every inode held by
//! descriptor and every file the guest opens costs one. An operator can
//! set an exact limit instead (`--rlimit-nofile N`), lower or higher.

use std::io;

/// Most descriptors the default raise asks for.
pub const DEFAULT_MAX: u64 = 1_000_000;

/// Soft and hard `RLIMIT_NOFILE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nofile {
    /// The limit in force.
    pub soft: u64,
    /// The most the soft limit may be raised to without privileges.
    pub hard: u64,
}

/// The current limit.
pub fn get_nofile() -> io::Result<Nofile> {
    let mut rlim = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rlim` is a writable rlimit64 for the kernel to fill.
    super::cvt(unsafe { libc::getrlimit64(libc::RLIMIT_NOFILE, &mut rlim) })?;
    Ok(Nofile {
        soft: rlim.rlim_cur,
        hard: rlim.rlim_max,
    })
}

/// Sets the limit (raising `hard` needs `CAP_SYS_RESOURCE`).
pub fn set_nofile(limit: Nofile) -> io::Result<()> {
    let rlim = libc::rlimit64 {
        rlim_cur: limit.soft,
        rlim_max: limit.hard,
    };
    // SAFETY: `rlim` is a valid rlimit64 value.
    super::cvt(unsafe { libc::setrlimit64(libc::RLIMIT_NOFILE, &rlim) }).map(drop)
}

/// `/proc/sys/fs/nr_open`: the most any process may have (hard ceiling).
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Raises the limit to `min(DEFAULT_MAX, nr_open)`, never lowering it: the
/// hard limit too when privileged, otherwise the soft limit up to the hard
/// one. Returns the limit in force afterwards.
pub fn raise_nofile() -> io::Result<Nofile> {
    let cur = get_nofile()?;
    let want = nr_open().unwrap_or(DEFAULT_MAX).min(DEFAULT_MAX);
    if cur.soft >= want {
        return Ok(cur);
    }
    let raised = Nofile {
        soft: want,
        hard: cur.hard.max(want),
    };
    if set_nofile(raised).is_ok() {
        return Ok(raised);
    }
    let soft_only = Nofile {
        soft: cur.hard,
        ..cur
    };
    set_nofile(soft_only)?;
    Ok(soft_only)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_never_lowers_and_stays_within_the_hard_limit() {
        let before = get_nofile().unwrap();
        let after = raise_nofile().unwrap();
        assert!(after.soft >= before.soft);
        assert!(after.soft <= after.hard);
        assert_eq!(get_nofile().unwrap(), after);
    }
}
