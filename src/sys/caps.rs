//! Capabilities of the calling thread: the effective, permitted and
//! inheritable sets (`capget`/`capset`, version 3), the bounding set
//! (`PR_CAPBSET_READ`/`PR_CAPBSET_DROP`) and the ambient set
//! (`PR_CAP_AMBIENT_CLEAR_ALL`).
//!
//! All of these belong to one thread; threads started afterwards inherit
//! them. Sets are bit masks of capability numbers (`1 << CAP_CHOWN`, ...).

use std::io;

use super::cvt;

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const VERSION_3: u32 = 0x2008_0522;

/// Highest capability number the bounding-set loop tries (the kernel
/// answers `EINVAL` past its own last one).
const MAX_CAP: u32 = 63;

#[repr(C)]
struct Header {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The three per-thread sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    /// What the thread may use now.
    pub effective: u64,
    /// What it may make effective.
    pub permitted: u64,
    /// What `execve` may pass on.
    pub inheritable: u64,
}

fn join(words: [Data; 2], pick: fn(&Data) -> u32) -> u64 {
    u64::from(pick(&words[0])) | (u64::from(pick(&words[1])) << 32)
}

fn split(set: u64) -> [u32; 2] {
    // Each half fits its word: the mask and shift keep 32 bits.
    [(set & 0xffff_ffff) as u32, (set >> 32) as u32]
}

/// The calling thread's sets.
pub fn get() -> io::Result<CapSets> {
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: `header` and the two-word `data` array are valid for the
    // version-3 layout the kernel reads and writes.
    let ret = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(CapSets {
        effective: join(data, |d| d.effective),
        permitted: join(data, |d| d.permitted),
        inheritable: join(data, |d| d.inheritable),
    })
}

/// Sets the calling thread's sets (only ever lowering without
/// `CAP_SETPCAP`).
pub fn set(sets: CapSets) -> io::Result<()> {
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let (e, p, i) = (
        split(sets.effective),
        split(sets.permitted),
        split(sets.inheritable),
    );
    let data = [
        Data {
            effective: e[0],
            permitted: p[0],
            inheritable: i[0],
        },
        Data {
            effective: e[1],
            permitted: p[1],
            inheritable: i[1],
        },
    ];
    // SAFETY: `header` and the two-word `data` array have the version-3
    // layout; the kernel only reads `data`.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Whether `cap` is in the calling thread's bounding set.
pub fn in_bounding_set(cap: u32) -> io::Result<bool> {
    let unused: libc::c_ulong = 0;
    // SAFETY: PR_CAPBSET_READ takes plain integers.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAPBSET_READ,
            libc::c_ulong::from(cap),
            unused,
            unused,
            unused,
        )
    };
    cvt(ret).map(|r| r == 1)
}

/// The calling thread's bounding set.
pub fn bounding_set() -> io::Result<u64> {
    let mut set = 0;
    for cap in 0..=MAX_CAP {
        match in_bounding_set(cap) {
            Ok(true) => set |= 1 << cap,
            Ok(false) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(set)
}

/// Removes every capability not in `keep` from the calling thread's
/// bounding set (needs `CAP_SETPCAP`).
pub fn limit_bounding_set(keep: u64) -> io::Result<()> {
    let unused: libc::c_ulong = 0;
    for cap in 0..=MAX_CAP {
        if keep & (1 << cap) != 0 {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes plain integers.
        let ret = unsafe {
            libc::prctl(
                libc::PR_CAPBSET_DROP,
                libc::c_ulong::from(cap),
                unused,
                unused,
                unused,
            )
        };
        match cvt(ret) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Empties the calling thread's ambient set.
pub fn clear_ambient() -> io::Result<()> {
    let unused: libc::c_ulong = 0;
    // SAFETY: PR_CAP_AMBIENT takes plain integers.
    cvt(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            unused,
            unused,
            unused,
        )
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_split_and_join_losslessly() {
        let set = (1u64 << 40) | (1 << 31) | 1;
        let [lo, hi] = split(set);
        let data = [
            Data {
                effective: lo,
                ..Data::default()
            },
            Data {
                effective: hi,
                ..Data::default()
            },
        ];
        assert_eq!(join(data, |d| d.effective), set);
    }

    #[test]
    fn a_thread_can_lower_its_own_sets_without_touching_others() {
        let before = get().unwrap();
        let (inside, bounding) = std::thread::spawn(|| {
            let lowered = CapSets {
                effective: 0,
                permitted: 0,
                inheritable: 0,
            };
            set(lowered).unwrap();
            (get().unwrap(), bounding_set().unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(inside, CapSets::default());
        assert_ne!(bounding, 0, "the bounding set is separate");
        assert_eq!(get().unwrap(), before);
    }
}
