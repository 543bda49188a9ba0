//! Replays every file of `corpus/<target>/` and `regressions/<target>/`
//! through its target without the fuzzer: the seeds and what the fuzzer kept
//! stay valid, and every crash once found stays fixed.

use std::fs;
use std::path::Path;

fn replay(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut count = 0;
    for (target, run) in epochfsd_fuzz::TARGETS {
        let Ok(entries) = fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.expect("entry").path()).collect();
        paths.sort();
        for path in paths {
            let input = fs::read(&path).expect("read input");
            eprintln!("{}", path.display());
            run(&input);
            count += 1;
        }
    }
    count
}

#[test]
fn every_corpus_input_runs_clean() {
    assert!(replay("corpus") > 0, "no corpus found");
}

#[test]
fn every_regression_input_runs_clean() {
    replay("regressions");
}

#[test]
fn the_seeds_match_the_committed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, name, input) in epochfsd_fuzz::seeds::all() {
        let path = root.join(target).join(format!("seed-{name}"));
        let committed = fs::read(&path).unwrap_or_default();
        assert!(
            committed == input,
            "{} is stale: run `cargo run --bin seed-corpus` in fuzz/",
            path.display()
        );
    }
}
