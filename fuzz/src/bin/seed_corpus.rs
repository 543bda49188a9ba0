//! Writes the seed corpus to `fuzz/corpus/<target>/seed-<name>` (run from
//! `fuzz/`: `cargo run --bin seed-corpus`). Files the fuzzer added are kept.

use std::fs;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, name, input) in epochfsd_fuzz::seeds::all() {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(format!("seed-{name}")), input)?;
    }
    Ok(())
}
