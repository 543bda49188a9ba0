//! Unit tests of the command line: validation, the virtiofsd-compatible
//! flags and `-o` syntax, and the exact argv of each launcher.

use clap::Parser;

use super::*;

fn parse(args: &[&str]) -> Result<Config, ConfigError> {
    let cli = Cli::try_parse_from(std::iter::once("epochfsd").chain(args.iter().copied()))
        .expect("clap accepts the arguments");
    Config::try_from(cli)
}

#[test]
fn socket_path_and_shared_dir_make_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let config = parse(&["--socket-path", "/tmp/s", "--shared-dir", dir_arg]).unwrap();
    assert_eq!(config.socket, SocketSource::Path("/tmp/s".into()));
    assert_eq!(config.num_request_queues, 1);
}

#[test]
fn both_socket_options_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let err = parse(&["--socket-path", "/s", "--fd", "3", "--shared-dir", dir_arg]);
    assert!(matches!(err, Err(ConfigError::SocketChoice)));
}

#[test]
fn missing_shared_dir_is_rejected() {
    let err = parse(&["--socket-path", "/s", "--shared-dir", "/nonexistent/dir"]);
    assert!(matches!(err, Err(ConfigError::SharedDir { .. })));
}

#[test]
fn queue_count_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let err = parse(&[
        "--fd",
        "3",
        "--shared-dir",
        dir_arg,
        "--num-request-queues",
        "0",
    ]);
    assert!(matches!(err, Err(ConfigError::QueueCount(0))));
    let too_many = (MAX_REQUEST_QUEUES + 1).to_string();
    let err = parse(&[
        "--fd",
        "3",
        "--shared-dir",
        dir_arg,
        "--num-request-queues",
        &too_many,
    ]);
    assert!(matches!(err, Err(ConfigError::QueueCount(n)) if n == MAX_REQUEST_QUEUES + 1));
    let ok = parse(&[
        "--fd",
        "3",
        "--shared-dir",
        dir_arg,
        "--num-request-queues",
        "16",
    ]);
    assert_eq!(ok.unwrap().num_request_queues, 16);
}

#[test]
fn queue_threads_default_to_auto_and_are_bounded_by_the_queues() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let base = [
        "--fd",
        "3",
        "--shared-dir",
        dir_arg,
        "--num-request-queues=4",
    ];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let auto = crate::device::auto_request_threads(4, cores);
    assert_eq!(parse(&base).unwrap().queue_threads, auto);
    for (arg, want) in [("auto", auto), ("1", 1), ("2", 2), ("4", 4)] {
        let args = [&base[..], &["--queue-threads", arg]].concat();
        assert_eq!(parse(&args).unwrap().queue_threads, want, "{arg}");
    }
    for bad in [0, 5] {
        let n = bad.to_string();
        let args = [&base[..], &["--queue-threads", &n]].concat();
        assert!(
            matches!(
                parse(&args),
                Err(ConfigError::QueueThreads { threads, queues: 4 }) if threads == bad
            ),
            "{bad}"
        );
    }
    let words = ["epochfsd", "--fd", "3", "--queue-threads", "many"];
    assert!(Cli::try_parse_from(words).is_err());
}

#[test]
fn queue_polling_defaults_to_50_us_and_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["--fd", "3", "--shared-dir", dir.path().to_str().unwrap()];
    let micros = |us: u64| std::time::Duration::from_micros(us);
    assert_eq!(parse(&base).unwrap().queue_poll, micros(50));
    for us in ["0", "1000"] {
        let args = [&base[..], &["--queue-poll-us", us]].concat();
        assert_eq!(
            parse(&args).unwrap().queue_poll,
            micros(us.parse().unwrap())
        );
    }
    let args = [&base[..], &["--queue-poll-us", "1001"]].concat();
    assert!(matches!(parse(&args), Err(ConfigError::QueuePoll(1001))));
    let words = ["epochfsd", "--fd", "3", "--queue-poll-us", "-1"];
    assert!(Cli::try_parse_from(words).is_err());
}

#[test]
fn libvirt_style_arguments_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let config = parse(&[
        "--fd=3",
        "--shared-dir",
        dir_arg,
        "--cache",
        "never",
        "--sandbox",
        "chroot",
        "--xattr",
        "--thread-pool-size=1",
        "--announce-submounts",
        "--log-level",
        "debug",
    ])
    .unwrap();
    assert_eq!(config.cache, CacheMode::Never);
    assert_eq!(config.sandbox, SandboxMode::Chroot);
    assert!(config.xattr && config.announce_submounts);
}

#[test]
fn sandbox_defaults_to_namespace_and_accepts_all_modes() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let base = ["--fd", "3", "--shared-dir", dir_arg];
    assert_eq!(parse(&base).unwrap().sandbox, SandboxMode::Namespace);
    for (mode, want) in [
        ("namespace", SandboxMode::Namespace),
        ("chroot", SandboxMode::Chroot),
        ("none", SandboxMode::None),
    ] {
        let mut args = base.to_vec();
        args.extend(["--sandbox", mode]);
        assert_eq!(parse(&args).unwrap().sandbox, want, "{mode}");
    }
    let bad = [
        "epochfsd",
        "--fd",
        "3",
        "--shared-dir",
        dir_arg,
        "--sandbox",
        "x",
    ];
    assert!(Cli::try_parse_from(bad).is_err());
}

#[test]
fn inode_file_handles_default_to_prefer_and_accept_all_modes() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let base = ["--fd", "3", "--shared-dir", dir_arg];
    assert_eq!(
        parse(&base).unwrap().inode_file_handles,
        InodeFileHandles::Prefer
    );
    for (arg, want) in [
        ("--inode-file-handles=never", InodeFileHandles::Never),
        ("--inode-file-handles=prefer", InodeFileHandles::Prefer),
        ("--inode-file-handles=fallback", InodeFileHandles::Prefer),
        (
            "--inode-file-handles=mandatory",
            InodeFileHandles::Mandatory,
        ),
    ] {
        let mut args = base.to_vec();
        args.push(arg);
        assert_eq!(parse(&args).unwrap().inode_file_handles, want, "{arg}");
    }
}

#[test]
fn rlimit_nofile_raises_by_default_and_zero_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let base = ["--fd", "3", "--shared-dir", dir_arg];
    assert_eq!(parse(&base).unwrap().rlimit_nofile, NofileLimit::Raise);
    for (n, want) in [("0", NofileLimit::Keep), ("256", NofileLimit::Set(256))] {
        let mut args = base.to_vec();
        args.extend(["--rlimit-nofile", n]);
        assert_eq!(parse(&args).unwrap().rlimit_nofile, want);
    }
}

#[test]
fn posix_acl_implies_xattr() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let config = parse(&["--fd", "3", "--shared-dir", dir_arg, "--posix-acl"]).unwrap();
    assert!(config.posix_acl && config.xattr);
    let args = ["epochfsd", "--fd", "3", "--shared-dir", dir_arg];
    let conflicting = args.iter().chain(&["--posix-acl", "--no-xattr"]);
    assert!(Cli::try_parse_from(conflicting).is_err());
}

/// Parses a launcher's argv, given as one string with `DIR` standing for
/// the shared directory (split at spaces, as the launchers pass separate
/// words).
fn launcher(argv: &str, dir: &str) -> Config {
    let words: Vec<String> = argv.split(' ').map(|w| w.replace("DIR", dir)).collect();
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    parse(&refs).unwrap_or_else(|e| panic!("{argv}: {e}"))
}

#[test]
fn libvirt_9_old_form_maps_source_cache_and_xattr() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let c = launcher(
        "--fd=3 -o source=DIR,cache=always,xattr --thread-pool-size=4",
        d,
    );
    assert_eq!(c.socket, SocketSource::Fd(3));
    assert_eq!(c.shared_dir, dir.path().canonicalize().unwrap());
    assert_eq!(c.cache, CacheMode::Always);
    assert!(c.xattr);
    assert_eq!(c.workers_per_queue, 4);
    assert_eq!(c.sandbox, SandboxMode::Namespace);
    assert_eq!(c.log_level, log::LevelFilter::Info);
    assert!(c.notices.is_empty(), "{:?}", c.notices);
    let c = launcher(
        "--fd=3 -o source=DIR,cache=none,sandbox=chroot,no_xattr,no_flock,no_posix_lock --thread-pool-size=0 -d",
        d,
    );
    assert_eq!(c.cache, CacheMode::Never);
    assert_eq!(c.sandbox, SandboxMode::Chroot);
    assert!(!c.xattr);
    assert_eq!(c.log_level, log::LevelFilter::Debug);
    assert_eq!(c.workers_per_queue, 1, "no pool still needs a worker");
    assert!(c.notices.is_empty(), "{:?}", c.notices);
}

#[test]
fn libvirt_lock_options_are_accepted_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let c = launcher("--fd=3 -o source=DIR,xattr,flock,posix_lock", d);
    assert_eq!(c.notices, [LOCKS_NOTICE]);
}

#[test]
fn libvirt_escaped_commas_in_the_source_path_are_one_comma() {
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("a,b");
    std::fs::create_dir(&share).unwrap();
    let escaped = share.to_str().unwrap().replace(',', ",,");
    let opts = format!("source={escaped},cache=always");
    let c = parse(&["--fd=3", "-o", &opts]).unwrap();
    assert_eq!(c.shared_dir, share.canonicalize().unwrap());
    assert_eq!(c.cache, CacheMode::Always);
}

#[test]
fn libvirt_11_separate_options_form_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let c = launcher(
        "--fd=3 --shared-dir DIR --cache always --sandbox chroot --xattr --thread-pool-size=4 --rlimit-nofile=524288 --log-level debug",
        d,
    );
    assert_eq!(c.socket, SocketSource::Fd(3));
    assert_eq!(c.cache, CacheMode::Always);
    assert_eq!(c.sandbox, SandboxMode::Chroot);
    assert!(c.xattr);
    assert_eq!(c.workers_per_queue, 4);
    assert_eq!(c.rlimit_nofile, NofileLimit::Set(524288));
    assert_eq!(c.log_level, log::LevelFilter::Debug);
    let c = launcher("--fd=3 --shared-dir DIR --cache never", d);
    assert_eq!(c.cache, CacheMode::Never);
}

#[test]
fn libvirt_session_id_maps_are_kept_for_the_user_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let c = launcher(
        "--fd=3 --shared-dir DIR --uid-map=:0:1000:1: --gid-map=:0:1000:1:",
        d,
    );
    let own = IdMap {
        inside: 0,
        outside: 1000,
        count: 1,
    };
    assert_eq!((c.uid_map, c.gid_map), (vec![own], vec![own]));
    // A user with /etc/subuid ranges gets a second line per map.
    let c = launcher(
        "--fd=3 -o source=DIR --uid-map=:0:1000:1: --uid-map=:1:100000:65536: --gid-map=:0:1000:1:",
        d,
    );
    assert_eq!(c.uid_map.len(), 2);
    assert_eq!(c.uid_map[1].outside, 100000);
    let err = parse(&[
        "--fd=3",
        "--shared-dir",
        d,
        "--sandbox",
        "chroot",
        "--uid-map=:0:1000:1:",
    ]);
    assert!(matches!(err, Err(ConfigError::IdMapSandbox("chroot"))));
}

#[test]
fn kata_go_runtime_argv_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let c = launcher(
        "--syslog --cache=auto --shared-dir=DIR --fd=3 --thread-pool-size=1 --announce-submounts",
        d,
    );
    assert!(c.syslog && c.announce_submounts);
    assert_eq!((c.cache, c.workers_per_queue), (CacheMode::Auto, 1));
    assert_eq!(c.socket, SocketSource::Fd(3));
    let c = launcher(
        "--syslog --cache=auto --shared-dir=DIR --fd=3 --inode-file-handles=prefer --thread-pool-size=1 --announce-submounts",
        d,
    );
    assert_eq!(c.inode_file_handles, InodeFileHandles::Prefer);
}

#[test]
fn kata_2_compat_announce_submounts_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let c = launcher(
        "--syslog --cache=auto --shared-dir=DIR --fd=3 --thread-pool-size=1 -o announce_submounts",
        d,
    );
    assert!(c.announce_submounts && c.syslog);
    assert!(c.notices.is_empty(), "{:?}", c.notices);
}

#[test]
fn kata_runtime_rs_argv_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let c = launcher(
        "--socket-path /run/kata/vhost-fs.sock --shared-dir DIR --cache auto --sandbox none --seccomp none --inode-file-handles never --thread-pool-size=1 --announce-submounts --xattr",
        d,
    );
    assert_eq!(
        c.socket,
        SocketSource::Path("/run/kata/vhost-fs.sock".into())
    );
    assert_eq!(c.sandbox, SandboxMode::None);
    assert_eq!(c.inode_file_handles, InodeFileHandles::Never);
    assert!(c.xattr && c.announce_submounts);
    assert!(c.notices.is_empty(), "--seccomp none needs no warning");
}

#[test]
fn cloud_hypervisor_docs_argv_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let c = launcher(
        "--log-level debug --socket-path=/tmp/virtiofs --shared-dir=DIR --cache=never --thread-pool-size=4",
        d,
    );
    assert_eq!(c.socket, SocketSource::Path("/tmp/virtiofs".into()));
    assert_eq!((c.cache, c.workers_per_queue), (CacheMode::Never, 4));
    assert_eq!(c.log_level, log::LevelFilter::Debug);
}

#[test]
fn virtiofsd_defaults_hold_without_flags() {
    let dir = tempfile::tempdir().unwrap();
    let c = parse(&["--fd", "3", "--shared-dir", dir.path().to_str().unwrap()]).unwrap();
    assert!(c.announce_submounts, "on by default, as in virtiofsd");
    assert!(!c.killpriv_v2, "off by default, as in virtiofsd");
    assert!(c.readdirplus && !c.preserve_noatime && !c.allow_mmap && !c.syslog);
    assert!(c.notices.is_empty());
}

#[test]
fn paired_flags_take_the_last_one_given() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let base = ["--fd", "3", "--shared-dir", d];
    let with = |extra: &[&str]| parse(&[&base[..], extra].concat()).unwrap();
    assert!(!with(&["--no-announce-submounts"]).announce_submounts);
    assert!(with(&["--no-announce-submounts", "--announce-submounts"]).announce_submounts);
    assert!(with(&["--killpriv-v2"]).killpriv_v2);
    assert!(!with(&["--killpriv-v2", "--no-killpriv-v2"]).killpriv_v2);
    assert!(with(&["--no-killpriv-v2", "-o", "killpriv_v2"]).killpriv_v2);
    assert!(!with(&["--no-readdirplus"]).readdirplus);
    assert!(!with(&["-o", "no_readdirplus"]).readdirplus);
    assert!(with(&["--preserve-noatime", "--allow-mmap"]).allow_mmap);
    assert_eq!(
        with(&["--thread-pool-size=2", "--thread-pool-size=6"]).workers_per_queue,
        6
    );
}

#[test]
fn compat_options_may_repeat_and_later_ones_win() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let src = format!("source={d}");
    let c = parse(&[
        "--fd=3",
        "-o",
        &src,
        "-o",
        "cache=always,xattr",
        "-o",
        "cache=metadata,no_xattr,writeback,loglevel=warn,allow_direct_io",
    ])
    .unwrap();
    assert_eq!(c.cache, CacheMode::Metadata);
    assert!(!c.xattr && c.writeback && c.allow_direct_io);
    assert_eq!(c.log_level, log::LevelFilter::Warn);
    let c = parse(&["--fd=3", "-o", &src, "-o", "posix_acl"]).unwrap();
    assert!(c.posix_acl && c.xattr);
}

#[test]
fn unknown_compat_options_and_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (opts, want) in [
        ("bogus", CompatError::Unknown("bogus".into())),
        ("bogus=1", CompatError::Unknown("bogus=1".into())),
        (
            "cache=sometimes",
            CompatError::Value {
                option: "cache".into(),
                value: "sometimes".into(),
            },
        ),
    ] {
        let err = parse(&["--fd=3", "--shared-dir", d, "-o", opts]);
        assert!(
            matches!(&err, Err(ConfigError::Compat(e)) if *e == want),
            "{opts}: {err:?}"
        );
    }
}

#[test]
fn compat_split_keeps_doubled_commas() {
    assert_eq!(
        compat::split_options("source=/a,,b,,,xattr,,"),
        ["source=/a,b,", "xattr,"]
    );
    assert_eq!(compat::split_options("a,,,b"), ["a,", "b"]);
    assert_eq!(compat::split_options(""), Vec::<String>::new());
}

#[test]
fn options_that_would_change_labels_stop_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for extra in [
        &["--security-label"][..],
        &["--security-label=auto"],
        &["-o", "security_label"],
    ] {
        let args = [&["--fd=3", "--shared-dir", d][..], extra].concat();
        assert!(
            matches!(parse(&args), Err(ConfigError::Unsupported { .. })),
            "{extra:?}"
        );
    }
    let args = ["--fd=3", "--shared-dir", d, "--security-label=never"];
    assert!(parse(&args).is_ok());
}

#[test]
fn translate_rules_are_parsed_in_order_into_both_translations() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let config = parse(&[
        "--fd=3",
        "--shared-dir",
        d,
        "--translate-uid",
        "map:1000:2000:10",
        "--translate-uid=forbid-guest:0:1000",
        "--translate-gid=squash-host:0:100:65536",
    ])
    .unwrap();
    assert_eq!(config.translate_uid.to_host(1005), Ok(2005));
    assert!(config.translate_uid.to_host(5).is_err());
    assert_eq!(config.translate_uid.to_guest(2009), 1009);
    assert_eq!(config.translate_gid.to_guest(7), 100);
    assert_eq!(config.translate_gid.to_host(7), Ok(7));
    let plain = parse(&["--fd=3", "--shared-dir", d]).unwrap();
    assert!(plain.translate_uid.is_identity() && plain.translate_gid.is_identity());
}

#[test]
fn malformed_or_overlapping_translate_rules_name_the_option_and_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--translate-uid", "map:1000:2000"],
            "--translate-uid: \"map:1000:2000\": expected TYPE:SOURCE:TARGET:COUNT",
        ),
        (
            &["--translate-gid=swap:1:2:3"],
            "--translate-gid: \"swap:1:2:3\": expected TYPE:SOURCE:TARGET:COUNT",
        ),
        (
            &["--translate-uid=guest:1:2:0"],
            "--translate-uid: \"guest:1:2:0\": COUNT must be at least 1",
        ),
        (
            &[
                "--translate-uid=map:0:0:10",
                "--translate-uid=squash-guest:5:0:1",
            ],
            "--translate-uid: \"squash-guest:5:0:1\": guest ids [5, 6) overlap an earlier rule",
        ),
    ];
    for (extra, expected) in cases {
        let args = [&["--fd=3", "--shared-dir", d][..], extra].concat();
        let err = parse(&args).unwrap_err();
        assert!(matches!(err, ConfigError::Translate { .. }), "{extra:?}");
        let message = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(message.starts_with(expected), "{message}");
    }
}

#[test]
fn xattrmap_rules_are_parsed_and_imply_xattr() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for extra in [
        &["--xattrmap", ":map::user.virtiofs.:"][..],
        &["-o", "xattrmap=:map::user.virtiofs.:"],
    ] {
        let args = [&["--fd=3", "--shared-dir", d][..], extra].concat();
        let config = parse(&args).unwrap();
        assert!(config.xattr && config.xattrmap.is_some(), "{extra:?}");
    }
    let args = ["--fd=3", "--shared-dir", d, "--xattrmap", ":okay:all:::"];
    let err = parse(&args).unwrap_err();
    assert!(matches!(err, ConfigError::XattrMap(_)), "{err:?}");
    assert!(err.to_string().contains("okay"), "{err}");
}

#[test]
fn seccomp_defaults_to_kill_and_modcaps_are_parsed_without_notices() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let base = ["--fd=3", "--shared-dir", d];
    let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
    assert_eq!(with(&[]).unwrap().seccomp, SeccompMode::Kill);
    for (word, mode) in [
        ("none", SeccompMode::None),
        ("log", SeccompMode::Log),
        ("trap", SeccompMode::Trap),
    ] {
        let config = with(&["--seccomp", word]).unwrap();
        assert_eq!(config.seccomp, mode);
        assert!(config.notices.is_empty(), "{word}: {:?}", config.notices);
    }
    assert!(with(&["--modcaps=+sys_admin:-chown"])
        .unwrap()
        .notices
        .is_empty());
    assert!(with(&["-o", "modcaps=-mknod"]).unwrap().notices.is_empty());
    for bad in ["sys_admin", "+", "+nosuchcap", "+a b"] {
        assert!(
            matches!(with(&["--modcaps", bad]), Err(ConfigError::Modcaps(_))),
            "{bad}"
        );
    }
    let words = ["epochfsd", "--fd=3", "--seccomp", "allow"];
    assert!(Cli::try_parse_from(words).is_err());
}

#[test]
fn handoff_and_max_handles_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let base = ["--fd=3", "--shared-dir", d];
    let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
    let config = with(&[]).unwrap();
    assert_eq!(config.handoff, std::time::Duration::from_millis(1));
    assert_eq!(config.max_handles, super::DEFAULT_MAX_HANDLES);
    assert!(matches!(
        with(&["--handoff-us", "99"]),
        Err(ConfigError::Handoff(99))
    ));
    assert!(with(&["--handoff-us", "100"]).is_ok());
    assert!(matches!(
        with(&["--max-handles", "0"]),
        Err(ConfigError::MaxHandles(0))
    ));
}

#[test]
fn deprecated_socket_flag_is_an_alias_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let c = parse(&["--socket", "/tmp/s", "--shared-dir", d]).unwrap();
    assert_eq!(c.socket, SocketSource::Path("/tmp/s".into()));
    assert!(c.notices[0].contains("--socket is deprecated"));
    let words = ["epochfsd", "--socket=/a", "--socket-path=/b"];
    assert!(Cli::try_parse_from(words).is_err());
    let words = ["epochfsd", "--fd=3", "--socket-group=kvm"];
    assert!(
        Cli::try_parse_from(words).is_err(),
        "a group needs a socket we create"
    );
}

#[test]
fn foreground_and_print_capabilities_parse() {
    for words in [
        &["epochfsd", "-f", "--print-capabilities"][..],
        &["epochfsd", "--foreground", "--print-capabilities"],
    ] {
        let cli = Cli::try_parse_from(words).unwrap();
        assert!(cli.foreground && cli.print_capabilities);
    }
}

#[test]
fn printed_capabilities_list_separate_options_and_migration() {
    let json = capabilities_json();
    assert_eq!(
        json,
        r#"{"type":"fs","features":["separate-options","migrate-precopy"]}"#
    );
}

/// The strings of the `"features"` array of a vhost-user JSON descriptor
/// (a small scan; the file is ours and simple).
fn json_features(json: &str) -> Vec<String> {
    let start = json.find("\"features\"").expect("a features key");
    let open = start + json[start..].find('[').expect("an array");
    let close = open + json[open..].find(']').expect("a closed array");
    json[open + 1..close]
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn shipped_vhost_user_json_lists_the_printed_features() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vmm-configs/60-epochfsd.json");
    let shipped = std::fs::read_to_string(path).unwrap();
    assert_eq!(json_features(&shipped), FEATURES);
    assert_eq!(json_features(&capabilities_json()), FEATURES);
    assert!(shipped.contains("\"type\": \"fs\""), "{shipped}");
}

#[test]
fn crash_sim_options_make_a_config_with_the_default_limit() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().to_str().unwrap();
    let sock = dir.path().join("ctl.sock");
    let sock = sock.to_str().unwrap();
    let base = [
        "--socket-path",
        "/tmp/s",
        "--shared-dir",
        share,
        "--control-socket",
        sock,
    ];
    let config = parse(&[&base[..], &["--crash-sim", "random:7"]].concat()).unwrap();
    let sim = config.crash_sim.expect("crash sim on");
    assert_eq!(sim.mode, crate::crashsim::Mode::Random(7));
    assert_eq!(sim.limit, crate::crashsim::DEFAULT_LIMIT);
    let limited = [
        &base[..],
        &["--crash-sim", "drop-all", "--crash-sim-limit", "64M"],
    ]
    .concat();
    assert_eq!(parse(&limited).unwrap().crash_sim.unwrap().limit, 64 << 20);
}

#[test]
fn crash_sim_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let share = dir.path().to_str().unwrap();
    let base = ["--socket-path", "/tmp/s", "--shared-dir", share];
    let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
    assert!(matches!(
        with(&["--crash-sim", "drop-all"]),
        Err(ConfigError::CrashSimNeedsSocket)
    ));
    assert!(matches!(
        with(&["--crash-sim-limit", "1G"]),
        Err(ConfigError::CrashSimOff)
    ));
    assert!(matches!(
        with(&["--crash-sim", "all", "--control-socket", "/tmp/c"]),
        Err(ConfigError::CrashSimMode(_))
    ));
    let small = [
        "--crash-sim",
        "drop-all",
        "--control-socket",
        "/tmp/c",
        "--crash-sim-limit",
        "4K",
    ];
    assert!(matches!(with(&small), Err(ConfigError::CrashSimLimit(_))));
    assert!(with(&[]).unwrap().crash_sim.is_none());
}

#[test]
fn migration_flags_default_to_find_paths_and_abort_and_take_virtiofsds_names() {
    use crate::passthrough::{MigrationMode, MigrationOnError};
    let base = ["--socket-path", "/tmp/s", "--shared-dir", "/tmp"];
    let c = parse(&base).unwrap();
    assert_eq!(c.migration.mode, MigrationMode::FindPaths);
    assert_eq!(c.migration.on_error, MigrationOnError::Abort);
    assert!(!c.migration.verify_handles && !c.migration.confirm_paths);
    let mut args = base.to_vec();
    args.extend([
        "--migration-mode=file-handles",
        "--migration-on-error",
        "guest-error",
        "--migration-verify-handles",
        "--migration-confirm-paths",
    ]);
    let c = parse(&args).unwrap();
    assert_eq!(c.migration.mode, MigrationMode::FileHandles);
    assert_eq!(c.migration.on_error, MigrationOnError::GuestError);
    assert!(c.migration.verify_handles && c.migration.confirm_paths);
    let mut bad = vec!["epochfsd"];
    bad.extend(base);
    bad.push("--migration-mode=by-magic");
    assert!(Cli::try_parse_from(bad).is_err());
}
