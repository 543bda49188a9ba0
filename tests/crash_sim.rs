//! `--crash-sim drop-all`: after `crash` on the control socket every file
//! and directory is as of its last durability point (FSYNC, FDATASYNC,
//! FSYNCDIR, SYNCFS), checked on the exact host tree. What the share held
//! before the daemon started counts as durable.

mod common;
#[path = "crash_sim/harness.rs"]
mod harness;

use std::collections::BTreeMap;

use epochfsd::fuse::abi::ROOT_ID;
use harness::{create, dir, file, fsyncdir, mkdir, open_rw, put, start, tree, Node};

/// The tree the tests start from: `old` (content "old"), `keep` and an
/// empty directory `d`.
fn populate(root: &std::path::Path) {
    put(root, "old", b"old");
    put(root, "keep", b"keep");
    mkdir(root, "d");
}

fn start_tree() -> BTreeMap<String, Node> {
    BTreeMap::from([
        ("old".into(), file(b"old")),
        ("keep".into(), file(b"keep")),
        ("d".into(), dir()),
    ])
}

#[test]
fn without_a_durability_point_every_change_is_undone() {
    let mut sim = start("drop-all", 1, &[], populate);
    let c = &mut sim.client;
    let (old, fh) = open_rw(c, ROOT_ID, b"old");
    c.write(old, fh, 0, b"NEW DATA, longer than before")
        .unwrap();
    let (new, nfh) = create(c, ROOT_ID, b"new");
    c.write(new, nfh, 0, b"new file").unwrap();
    let sub = c.mkdir(ROOT_ID, b"sub", 0o755).unwrap().nodeid;
    create(c, sub, b"inner");
    c.unlink(ROOT_ID, b"keep").unwrap();
    c.rmdir(ROOT_ID, b"d").unwrap();
    c.chmod(old, 0o600).unwrap();

    let (share, reply, _d) = sim.crash();

    assert_eq!(tree(&share), start_tree(), "crash reply {reply}");
}

#[test]
fn fsync_keeps_the_data_and_attributes_of_its_file_only() {
    let mut sim = start("drop-all", 1, &[], populate);
    let c = &mut sim.client;
    let (old, fh) = open_rw(c, ROOT_ID, b"old");
    c.write(old, fh, 0, b"synced").unwrap();
    c.chmod(old, 0o600).unwrap();
    c.fsync(old, fh, false).unwrap();
    let (keep, kfh) = open_rw(c, ROOT_ID, b"keep");
    c.write(keep, kfh, 0, b"not synced").unwrap();
    // Written after the FSYNC: not covered by it.
    c.write(old, fh, 6, b" and more").unwrap();

    let (share, _, _d) = sim.crash();

    let mut expected = start_tree();
    expected.insert(
        "old".into(),
        Node::File {
            data: b"synced".to_vec(),
            mode: 0o600,
        },
    );
    assert_eq!(tree(&share), expected);
}

#[test]
fn fdatasync_keeps_data_and_size_but_not_attributes() {
    let mut sim = start("drop-all", 1, &[], populate);
    let c = &mut sim.client;
    let (old, fh) = open_rw(c, ROOT_ID, b"old");
    c.write(old, fh, 0, b"data synced").unwrap();
    c.chmod(old, 0o600).unwrap();
    c.fsync(old, fh, true).unwrap();

    let (share, _, _d) = sim.crash();

    let mut expected = start_tree();
    expected.insert("old".into(), file(b"data synced"));
    assert_eq!(tree(&share), expected);
}

#[test]
fn a_new_file_needs_fsync_and_fsyncdir_to_survive() {
    let mut sim = start("drop-all", 1, &[], populate);
    let c = &mut sim.client;
    let (a, afh) = create(c, ROOT_ID, b"a");
    c.write(a, afh, 0, b"file a").unwrap();
    c.fsync(a, afh, false).unwrap();
    let (b, bfh) = create(c, ROOT_ID, b"b");
    c.write(b, bfh, 0, b"file b").unwrap();
    fsyncdir(c, ROOT_ID);
    // Named after the FSYNCDIR: gone.
    create(c, ROOT_ID, b"late");

    let (share, _, _d) = sim.crash();

    let mut expected = start_tree();
    expected.insert("a".into(), file(b"file a"));
    // Its name is durable, its data is not.
    expected.insert("b".into(), file(b""));
    assert_eq!(tree(&share), expected);
}

#[test]
fn an_unsynced_rename_over_a_file_is_undone() {
    let mut sim = start("drop-all", 1, &[], populate);
    let c = &mut sim.client;
    c.rename(ROOT_ID, b"keep", ROOT_ID, b"old").unwrap();
    let d = c.lookup(ROOT_ID, b"d").unwrap().nodeid;
    c.rename(ROOT_ID, b"old", d, b"moved").unwrap();

    let (share, _, _d) = sim.crash();

    assert_eq!(tree(&share), start_tree());
}

#[test]
fn fsyncdir_makes_a_rename_durable_in_that_directory() {
    let mut sim = start("drop-all", 1, &[], populate);
    let c = &mut sim.client;
    let (tmp, fh) = create(c, ROOT_ID, b"old.tmp");
    c.write(tmp, fh, 0, b"replacement").unwrap();
    c.fsync(tmp, fh, false).unwrap();
    c.rename(ROOT_ID, b"old.tmp", ROOT_ID, b"old").unwrap();
    fsyncdir(c, ROOT_ID);

    let (share, _, _d) = sim.crash();

    let mut expected = start_tree();
    expected.insert("old".into(), file(b"replacement"));
    assert_eq!(tree(&share), expected);
}

#[test]
fn syncfs_keeps_everything_before_it_and_nothing_after() {
    let mut sim = start("drop-all", 1, &[], populate);
    let c = &mut sim.client;
    let (old, fh) = open_rw(c, ROOT_ID, b"old");
    c.write(old, fh, 0, b"before").unwrap();
    let sub = c.mkdir(ROOT_ID, b"sub", 0o755).unwrap().nodeid;
    let (f, ffh) = create(c, sub, b"f");
    c.write(f, ffh, 0, b"in sub").unwrap();
    c.unlink(ROOT_ID, b"keep").unwrap();
    c.syncfs(ROOT_ID).unwrap();
    c.write(old, fh, 0, b"AFTER!").unwrap();
    c.write(f, ffh, 0, b"AFTER!").unwrap();
    c.rmdir(ROOT_ID, b"d").unwrap();
    create(c, ROOT_ID, b"late");

    let (share, _, _d) = sim.crash();

    let expected = BTreeMap::from([
        ("old".into(), file(b"before")),
        ("d".into(), dir()),
        ("sub".into(), dir()),
        ("sub/f".into(), file(b"in sub")),
    ]);
    assert_eq!(tree(&share), expected);
}

#[test]
fn a_truncation_comes_back_with_the_old_blocks() {
    let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let content = big.clone();
    let mut sim = start("drop-all", 1, &[], move |root| put(root, "big", &content));
    let c = &mut sim.client;
    let big_node = c.lookup(ROOT_ID, b"big").unwrap().nodeid;
    c.truncate(big_node, 5000).unwrap();
    let fh = c.open(big_node, harness::RDWR).unwrap().fh;
    c.write(big_node, fh, 4000, &[0xee; 9000]).unwrap();

    let (share, _, _d) = sim.crash();

    assert_eq!(tree(&share), BTreeMap::from([("big".into(), file(&big))]));
}

#[test]
fn the_holding_directory_is_invisible_and_gone_after_the_crash() {
    let mut sim = start("drop-all", 1, &[], populate);
    let c = &mut sim.client;
    let hidden = b".epochfsd-crash-sim";
    assert_eq!(c.lookup(ROOT_ID, hidden).err(), Some(libc::ENOENT));
    assert_eq!(c.mkdir(ROOT_ID, hidden, 0o755).err(), Some(libc::ENOENT));
    let fh = c.opendir(ROOT_ID).unwrap().fh;
    let listed: Vec<Vec<u8>> = c
        .readdir_all(ROOT_ID, fh)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(!listed.contains(&hidden.to_vec()), "listed: {listed:?}");
    assert!(sim.daemon.share().join(".epochfsd-crash-sim").is_dir());

    let (share, _, _d) = sim.crash();

    assert_eq!(tree(&share), start_tree());
}

#[test]
fn status_counts_pending_changes_and_durability_points() {
    let mut sim = start("drop-all", 1, &[], populate);
    let (old, fh) = open_rw(&mut sim.client, ROOT_ID, b"old");
    sim.client.write(old, fh, 0, b"x").unwrap();
    assert!(sim.status_field("pending_changes") > 0);
    assert_eq!(sim.status_field("durability_points"), 0);

    sim.client.fsync(old, fh, false).unwrap();
    sim.client.syncfs(ROOT_ID).unwrap();

    assert_eq!(sim.status_field("durability_points"), 2);
    assert_eq!(sim.status_field("pending_changes"), 0);
    assert_eq!(sim.status_field("pending_bytes"), 0);
    assert_eq!(sim.status_field("implicit_writebacks"), 0);
    let reply = sim.command("reboot");
    assert!(reply.starts_with("{\"error\":"), "{reply}");
}

#[test]
fn extended_attributes_go_back_unless_fsync_made_them_durable() {
    let mut sim = start("drop-all", 1, &["--xattr"], |root| {
        populate(root);
        harness::set_host_xattr(&root.join("old"), "user.x", b"before");
        harness::set_host_xattr(&root.join("keep"), "user.x", b"before");
    });
    let c = &mut sim.client;
    let old = c.lookup(ROOT_ID, b"old").unwrap().nodeid;
    c.setxattr(old, b"user.x", b"after", 0, 0).unwrap();
    c.setxattr(old, b"user.new", b"added", 0, 0).unwrap();
    let (keep, kfh) = open_rw(c, ROOT_ID, b"keep");
    c.removexattr(keep, b"user.x").unwrap();
    c.setxattr(keep, b"user.new", b"synced", 0, 0).unwrap();
    c.fsync(keep, kfh, false).unwrap();

    let (share, _, _d) = sim.crash();

    let x = |name: &str, attr: &str| harness::host_xattr(&share.join(name), attr);
    assert_eq!(x("old", "user.x").as_deref(), Some(&b"before"[..]));
    assert_eq!(x("old", "user.new"), None);
    assert_eq!(x("keep", "user.x"), None);
    assert_eq!(x("keep", "user.new").as_deref(), Some(&b"synced"[..]));
}

#[test]
fn a_file_made_and_removed_between_durability_points_is_not_kept_aside() {
    let mut sim = start("drop-all", 1, &[], populate);
    let holding = sim.daemon.share().join(".epochfsd-crash-sim");
    let c = &mut sim.client;
    for i in 0..20 {
        let name = format!("tmp{i}");
        create(c, ROOT_ID, name.as_bytes());
        c.unlink(ROOT_ID, name.as_bytes()).unwrap();
    }
    assert_eq!(std::fs::read_dir(&holding).unwrap().count(), 0);
    let (g, gfh) = create(c, ROOT_ID, b"g");
    c.write(g, gfh, 0, b"made durable").unwrap();
    c.syncfs(ROOT_ID).unwrap();
    c.unlink(ROOT_ID, b"g").unwrap();
    assert_eq!(std::fs::read_dir(&holding).unwrap().count(), 1);

    let (share, _, _d) = sim.crash();

    let mut expected = start_tree();
    expected.insert("g".into(), file(b"made durable"));
    assert_eq!(tree(&share), expected);
}
