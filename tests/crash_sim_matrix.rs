//! Every mode against every durability point: one workload (rewrite and
//! chmod a durable file, create a new one), one point (none, FSYNC,
//! FDATASYNC, FSYNCDIR, SYNCFS), a crash, and the exact tree for
//! `drop-all` and `keep-metadata`; for `random:SEED` what the point made
//! durable must be there, whatever else the draw kept.

mod common;
#[path = "crash_sim/harness.rs"]
mod harness;

use std::collections::BTreeMap;

use epochfsd::fuse::abi::ROOT_ID;
use harness::{create, fsyncdir, open_rw, put, start, tree, Node};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Point {
    Nothing,
    Fsync,
    Fdatasync,
    Fsyncdir,
    Syncfs,
}

const POINTS: [Point; 5] = [
    Point::Nothing,
    Point::Fsync,
    Point::Fdatasync,
    Point::Fsyncdir,
    Point::Syncfs,
];

fn f(data: &[u8], mode: u32) -> Node {
    Node::File {
        data: data.to_vec(),
        mode,
    }
}

/// Runs the workload with `point` in `mode`; the tree after the crash.
fn crash_after(mode: &str, point: Point) -> BTreeMap<String, Node> {
    crash_after_with(mode, point, &[])
}

/// [`crash_after`] with more daemon arguments.
fn crash_after_with(mode: &str, point: Point, extra: &[&str]) -> BTreeMap<String, Node> {
    let mut sim = start(mode, 1, extra, |root| put(root, "f", b"old"));
    let c = &mut sim.client;
    let (node, fh) = open_rw(c, ROOT_ID, b"f");
    c.write(node, fh, 0, b"new data").unwrap();
    c.chmod(node, 0o600).unwrap();
    let (n, nfh) = create(c, ROOT_ID, b"n");
    c.write(n, nfh, 0, b"n data").unwrap();
    match point {
        Point::Nothing => {}
        Point::Fsync => c.fsync(node, fh, false).unwrap(),
        Point::Fdatasync => c.fsync(node, fh, true).unwrap(),
        Point::Fsyncdir => fsyncdir(c, ROOT_ID),
        Point::Syncfs => c.syncfs(ROOT_ID).unwrap(),
    }
    let (share, _, _d) = sim.crash();
    tree(&share)
}

/// What `point` makes durable, in every mode.
fn durable(point: Point) -> Vec<(&'static str, Node)> {
    match point {
        Point::Nothing => vec![],
        Point::Fsync => vec![("f", f(b"new data", 0o600))],
        Point::Fdatasync => vec![],
        Point::Fsyncdir => vec![],
        Point::Syncfs => vec![("f", f(b"new data", 0o600)), ("n", f(b"n data", 0o644))],
    }
}

fn drop_all_model(point: Point) -> BTreeMap<String, Node> {
    let entries: Vec<(&str, Node)> = match point {
        Point::Nothing => vec![("f", f(b"old", 0o644))],
        Point::Fsync => vec![("f", f(b"new data", 0o600))],
        Point::Fdatasync => vec![("f", f(b"new data", 0o644))],
        Point::Fsyncdir => vec![("f", f(b"old", 0o644)), ("n", f(b"", 0o644))],
        Point::Syncfs => durable(point),
    };
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn keep_metadata_model(point: Point) -> BTreeMap<String, Node> {
    let f_data: &[u8] = match point {
        Point::Fsync | Point::Fdatasync | Point::Syncfs => b"new data",
        Point::Nothing | Point::Fsyncdir => b"old",
    };
    let n_data: &[u8] = if point == Point::Syncfs {
        b"n data"
    } else {
        b""
    };
    BTreeMap::from([
        ("f".to_string(), f(f_data, 0o600)),
        ("n".to_string(), f(n_data, 0o644)),
    ])
}

#[test]
fn drop_all_after_each_durability_point() {
    for point in POINTS {
        assert_eq!(
            crash_after("drop-all", point),
            drop_all_model(point),
            "{point:?}"
        );
    }
}

#[test]
fn keep_metadata_after_each_durability_point() {
    for point in POINTS {
        assert_eq!(
            crash_after("keep-metadata", point),
            keep_metadata_model(point),
            "{point:?}"
        );
    }
}

#[test]
fn random_keeps_what_each_durability_point_made_durable() {
    for seed in 1..=4 {
        for point in POINTS {
            let got = crash_after(&format!("random:{seed}"), point);
            for (name, node) in durable(point) {
                assert_eq!(
                    got.get(name),
                    Some(&node),
                    "seed {seed}, {point:?}: {got:?}"
                );
            }
            // Its one block and its size are drawn apart: old or new block
            // ("old" put back over "new data" leaves "old data"), old or
            // new size (3 or 8 bytes).
            let Some(Node::File { data, .. }) = got.get("f") else {
                panic!("seed {seed}, {point:?}: f is gone: {got:?}");
            };
            let states: [&[u8]; 4] = [b"old", b"old data", b"new", b"new data"];
            assert!(
                states.contains(&&data[..]),
                "seed {seed}, {point:?}: f = {data:?}"
            );
        }
    }
}

#[test]
fn drop_all_is_the_same_with_other_flush_inode_sandbox_and_cache_settings() {
    let variants: [&[&str]; 5] = [
        &["--syncfs", "host"],
        &["--syncfs", "drain"],
        &["--inode-file-handles", "never"],
        &["--sandbox", "none", "--xattr"],
        &["--cache", "always", "--writeback"],
    ];
    for extra in variants {
        for point in POINTS {
            assert_eq!(
                crash_after_with("drop-all", point, extra),
                drop_all_model(point),
                "{extra:?} {point:?}"
            );
        }
    }
}
