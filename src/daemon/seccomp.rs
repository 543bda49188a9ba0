//! `--seccomp`: the system call allowlist the daemon runs under once it
//! has built its filesystem, and what the kernel does with any other call.
//!
//! The list is what the daemon's own code paths call (the `sys` wrappers,
//! the standard library's threads, memory, time and logging, and the
//! rust-vmm crates' epoll, eventfd and vhost-user socket), grouped by the
//! reason it is there, with the groups of optional features added only
//! when the feature is on: extended attributes (`--xattr`), file handles
//! (`--inode-file-handles` actually in use). Everything the daemon does
//! before the filter (parsing, binding the socket, the sandbox, dropping
//! capabilities) is not in it: `mount`, `pivot_root`, `chroot`, `capset`,
//! `setrlimit` and `execve` are refused afterwards. With `--sandbox
//! namespace` the filter is installed in the daemon forked into its pid
//! namespace, after the fork: the fork adds nothing to the list, and the
//! launcher that waits for the daemon has no filter (it only waits,
//! passes signals on and exits). The list was checked
//! against `strace -f` of the integration tests and the guest scenarios
//! (see `docs/security.md`).
//!
//! Two calls are allowed with one argument only: `prctl(PR_SET_NAME)`
//! (the standard library names each thread it starts) and
//! `unshare(CLONE_FS)` (a worker takes its own umask).
//!
//! The filter is installed on the calling thread while it is the only
//! thread of the daemon; every thread started later inherits it (the
//! kernel copies the filter on `clone`). Actions (`--seccomp`): `kill`
//! ends the whole process with SIGSYS; `log` lets the call through and the
//! kernel logs it (audit, `dmesg`); `trap` refuses the call: a SIGSYS
//! handler writes the call's number to stderr and makes the call fail
//! with `ENOSYS`, so the daemon answers that request with an error and
//! goes on (for finding a missing entry); `none` installs nothing.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::cli::SeccompMode;
use crate::sys::sigsys;

/// Why the filter could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// seccompiler refused the rules (a bug in the list).
    #[error("cannot build the seccomp filter")]
    Build(#[source] seccompiler::BackendError),
    /// The kernel refused the filter.
    #[error("cannot install the seccomp filter")]
    Install(#[source] seccompiler::Error),
    /// The SIGSYS handler of `--seccomp trap` could not be set.
    #[error("cannot install the SIGSYS handler for --seccomp trap")]
    Trap(#[source] std::io::Error),
}

/// The optional features whose calls join the list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Features {
    /// `--xattr` (or `--posix-acl`).
    pub xattr: bool,
    /// File handles are in use (`--inode-file-handles` prefer with
    /// support, or mandatory).
    pub file_handles: bool,
    /// `--crash-sim`: the control socket is served.
    pub control_socket: bool,
}

/// A group of calls and why the daemon makes them.
struct Group {
    /// Why (shown in `--log-level debug` and in the docs).
    reason: &'static str,
    calls: &'static [libc::c_long],
}

/// Calls every daemon makes, whatever its options.
const ALWAYS: &[Group] = &[
    Group {
        reason: "memory: the allocator, thread stacks, mapping guest memory",
        calls: &[
            libc::SYS_brk,
            libc::SYS_mmap,
            libc::SYS_munmap,
            libc::SYS_mremap,
            libc::SYS_mprotect,
            libc::SYS_madvise,
        ],
    },
    Group {
        reason: "threads: starting (workers, stand-ins), waiting, ending",
        calls: &[
            libc::SYS_clone,
            libc::SYS_clone3,
            libc::SYS_set_robust_list,
            libc::SYS_rseq,
            libc::SYS_futex,
            libc::SYS_sched_yield,
            libc::SYS_sched_getaffinity,
            libc::SYS_gettid,
            libc::SYS_getpid,
            libc::SYS_exit,
            libc::SYS_exit_group,
            libc::SYS_getrandom,
        ],
    },
    Group {
        reason: "signals: the signal thread's sigwait, thread stacks' guard, the trap handler",
        calls: &[
            libc::SYS_rt_sigaction,
            libc::SYS_rt_sigprocmask,
            libc::SYS_rt_sigtimedwait,
            libc::SYS_rt_sigreturn,
            libc::SYS_sigaltstack,
            libc::SYS_tgkill,
        ],
    },
    Group {
        reason: "time: timestamps, the watchdog, polling windows, test delays",
        calls: &[
            libc::SYS_clock_gettime,
            libc::SYS_clock_nanosleep,
            libc::SYS_nanosleep,
        ],
    },
    Group {
        reason: "event loops: epoll threads, kicks and call eventfds",
        calls: &[
            libc::SYS_epoll_create1,
            libc::SYS_epoll_ctl,
            libc::SYS_epoll_pwait,
            #[cfg(target_arch = "x86_64")]
            libc::SYS_epoll_wait,
            libc::SYS_eventfd2,
        ],
    },
    Group {
        reason: "vhost-user: accepting the frontend, messages with descriptors",
        calls: &[
            libc::SYS_accept4,
            libc::SYS_recvmsg,
            libc::SYS_sendmsg,
            libc::SYS_shutdown,
            libc::SYS_fcntl,
        ],
    },
    Group {
        reason: "descriptors and stderr logging",
        calls: &[
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_writev,
            libc::SYS_close,
        ],
    },
    Group {
        reason: "passthrough: resolving names and opening files",
        calls: &[
            libc::SYS_openat,
            libc::SYS_openat2,
            libc::SYS_newfstatat,
            libc::SYS_fstat,
            libc::SYS_statx,
            libc::SYS_readlinkat,
            libc::SYS_getdents64,
            libc::SYS_lseek,
        ],
    },
    Group {
        reason: "passthrough: data (READ, WRITE, COPY_FILE_RANGE, FALLOCATE)",
        calls: &[
            libc::SYS_pread64,
            libc::SYS_preadv,
            libc::SYS_pwrite64,
            libc::SYS_pwritev,
            libc::SYS_copy_file_range,
            libc::SYS_fallocate,
            libc::SYS_ftruncate,
        ],
    },
    Group {
        reason: "passthrough: changing the namespace (MKNOD, MKDIR, SYMLINK, LINK, UNLINK, RENAME)",
        calls: &[
            libc::SYS_mknodat,
            libc::SYS_mkdirat,
            libc::SYS_symlinkat,
            libc::SYS_linkat,
            libc::SYS_unlinkat,
            // glibc's renameat2() without flags makes renameat.
            #[cfg(target_arch = "x86_64")]
            libc::SYS_renameat,
            libc::SYS_renameat2,
        ],
    },
    Group {
        reason: "passthrough: attributes (SETATTR)",
        calls: &[
            libc::SYS_fchmod,
            libc::SYS_fchmodat,
            libc::SYS_fchownat,
            libc::SYS_utimensat,
        ],
    },
    Group {
        reason: "passthrough: durability (FSYNC, FSYNCDIR, SYNCFS, STATFS)",
        calls: &[
            libc::SYS_fsync,
            libc::SYS_fdatasync,
            libc::SYS_syncfs,
            libc::SYS_fstatfs,
        ],
    },
    Group {
        reason: "passthrough: acting as the guest caller (per-thread ids, groups, umask)",
        calls: &[
            libc::SYS_setresuid,
            libc::SYS_setresgid,
            libc::SYS_setgroups,
            libc::SYS_getgroups,
            libc::SYS_geteuid,
            libc::SYS_getegid,
            libc::SYS_umask,
        ],
    },
];

/// `--xattr`: through `/proc/self/fd/N` (see `sys::xattr`).
const XATTR: Group = Group {
    reason: "--xattr: GETXATTR, SETXATTR, LISTXATTR, REMOVEXATTR",
    calls: &[
        libc::SYS_getxattr,
        libc::SYS_setxattr,
        libc::SYS_listxattr,
        libc::SYS_removexattr,
    ],
};

/// File handles in use.
const FILE_HANDLES: Group = Group {
    reason: "--inode-file-handles: naming inodes by handle and opening them again",
    calls: &[libc::SYS_name_to_handle_at, libc::SYS_open_by_handle_at],
};

/// The groups for `features`.
const CONTROL_SOCKET: Group = Group {
    reason: "--crash-sim: reading commands from and answering on the control socket",
    calls: &[libc::SYS_recvfrom, libc::SYS_sendto],
};

fn groups(features: Features) -> Vec<&'static Group> {
    let mut groups: Vec<&Group> = ALWAYS.iter().collect();
    if features.xattr {
        groups.push(&XATTR);
    }
    if features.file_handles {
        groups.push(&FILE_HANDLES);
    }
    if features.control_socket {
        groups.push(&CONTROL_SOCKET);
    }
    groups
}

/// The allowed calls for `features`, each once, sorted.
pub(crate) fn allowed(features: Features) -> Vec<libc::c_long> {
    let groups = groups(features);
    let mut calls: Vec<libc::c_long> = groups
        .iter()
        .flat_map(|g| g.calls.iter().copied())
        .chain([libc::SYS_prctl, libc::SYS_unshare])
        .collect();
    calls.sort_unstable();
    calls.dedup();
    calls
}

/// What the kernel does with a call outside the list.
fn mismatch_action(mode: SeccompMode) -> Option<SeccompAction> {
    match mode {
        SeccompMode::Kill => Some(SeccompAction::KillProcess),
        SeccompMode::Log => Some(SeccompAction::Log),
        SeccompMode::Trap => Some(SeccompAction::Trap),
        SeccompMode::None => None,
    }
}

/// The only argument a call with a rule may have.
fn only_arg0(value: u64) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    let cond = SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, value)?;
    Ok(vec![SeccompRule::new(vec![cond])?])
}

/// The compiled filter for `features`, `None` for `--seccomp none`.
pub(crate) fn build(
    mode: SeccompMode,
    features: Features,
) -> Result<Option<BpfProgram>, SeccompError> {
    let Some(mismatch) = mismatch_action(mode) else {
        return Ok(None);
    };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for call in allowed(features) {
        rules.insert(call, Vec::new());
    }
    // Dword arguments: the flag values fit in 32 bits.
    let set_name = u64::try_from(libc::PR_SET_NAME).unwrap_or(u64::MAX);
    let clone_fs = u64::try_from(libc::CLONE_FS).unwrap_or(u64::MAX);
    rules.insert(
        libc::SYS_prctl,
        only_arg0(set_name).map_err(SeccompError::Build)?,
    );
    rules.insert(
        libc::SYS_unshare,
        only_arg0(clone_fs).map_err(SeccompError::Build)?,
    );
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(SeccompError::Build)?;
    let filter = SeccompFilter::new(rules, mismatch, SeccompAction::Allow, arch)
        .map_err(SeccompError::Build)?;
    BpfProgram::try_from(filter)
        .map(Some)
        .map_err(SeccompError::Build)
}

/// Installs the filter for `mode` on the calling thread (and so on every
/// thread it starts afterwards). Returns how many calls are allowed, or
/// `None` for `--seccomp none`.
pub(crate) fn install(
    mode: SeccompMode,
    features: Features,
) -> Result<Option<usize>, SeccompError> {
    let Some(program) = build(mode, features)? else {
        log::warn!("no seccomp filter (--seccomp none)");
        return Ok(None);
    };
    if mode == SeccompMode::Trap {
        sigsys::install_reporting_handler().map_err(SeccompError::Trap)?;
    }
    seccompiler::apply_filter(&program).map_err(SeccompError::Install)?;
    let count = allowed(features).len();
    for g in groups(features) {
        log::debug!("seccomp: {:?} for {}", g.calls, g.reason);
    }
    log::info!("seccomp filter installed: {count} system calls allowed, others {mode:?}");
    Ok(Some(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_features_add_their_calls_and_nothing_else_changes() {
        let base = allowed(Features::default());
        let full = allowed(Features {
            xattr: true,
            file_handles: true,
            control_socket: true,
        });
        assert!(!base.contains(&libc::SYS_setxattr));
        assert!(!base.contains(&libc::SYS_open_by_handle_at));
        assert!(!base.contains(&libc::SYS_recvfrom));
        assert!(full.contains(&libc::SYS_setxattr));
        assert!(full.contains(&libc::SYS_open_by_handle_at));
        assert!(full.contains(&libc::SYS_sendto));
        assert_eq!(full.len(), base.len() + 8);
        assert!(base.iter().all(|c| full.contains(c)));
    }

    #[test]
    fn set_up_calls_are_not_allowed_after_the_filter() {
        let full = allowed(Features {
            xattr: true,
            file_handles: true,
            control_socket: true,
        });
        for forbidden in [
            libc::SYS_mount,
            libc::SYS_pivot_root,
            libc::SYS_chroot,
            libc::SYS_capset,
            libc::SYS_setrlimit,
            libc::SYS_execve,
            libc::SYS_ptrace,
            libc::SYS_acct,
            libc::SYS_personality,
            libc::SYS_socket,
            libc::SYS_connect,
        ] {
            assert!(!full.contains(&forbidden), "{forbidden} is allowed");
        }
    }

    #[test]
    fn every_mode_but_none_compiles_a_filter() {
        for mode in [SeccompMode::Kill, SeccompMode::Log, SeccompMode::Trap] {
            let program = build(mode, Features::default()).unwrap();
            assert!(program.is_some_and(|p| !p.is_empty()), "{mode:?}");
        }
        assert!(build(SeccompMode::None, Features::default())
            .unwrap()
            .is_none());
    }
}
