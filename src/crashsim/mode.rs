//! What a crash keeps: the `--crash-sim MODE` values, and the small
//! deterministic generator `random:SEED` draws from.

use std::fmt;
use std::str::FromStr;

/// Which pending (not yet durable) changes a crash drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every pending change is lost: the strict worst case.
    DropAll,
    /// Namespace and attribute changes survive; pending file data and
    /// size changes are lost (delayed allocation).
    KeepMetadata,
    /// Each pending change is kept or dropped independently, file data at
    /// 4 KiB granularity, deterministically from the seed.
    Random(u64),
}

/// An unknown `--crash-sim` value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown crash-sim mode {0:?} (expected drop-all, keep-metadata or random:SEED)")]
pub struct ModeError(pub String);

impl FromStr for Mode {
    type Err = ModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "drop-all" => Ok(Mode::DropAll),
            "keep-metadata" => Ok(Mode::KeepMetadata),
            _ => s
                .strip_prefix("random:")
                .and_then(|seed| seed.parse().ok())
                .map(Mode::Random)
                .ok_or_else(|| ModeError(s.to_string())),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::DropAll => f.write_str("drop-all"),
            Mode::KeepMetadata => f.write_str("keep-metadata"),
            Mode::Random(seed) => write!(f, "random:{seed}"),
        }
    }
}

/// The kind of pending change, for deciding what a mode keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// File data or size.
    Data,
    /// Mode, owner, times.
    Attrs,
    /// A directory's entries.
    Entries,
}

impl Mode {
    /// Whether the change numbered `seq` (capture order), of `kind`, is
    /// dropped by a crash in this mode.
    pub fn drops(self, kind: ChangeKind, seq: u64) -> bool {
        match self {
            Mode::DropAll => true,
            Mode::KeepMetadata => kind == ChangeKind::Data,
            Mode::Random(seed) => splitmix64(seed ^ seq.wrapping_mul(GOLDEN_GAMMA)) & 1 == 1,
        }
    }
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// One step of SplitMix64 (Steele, Lea, Flood 2014): a well-mixed 64-bit
/// value from any 64-bit input, so that each change's draw depends only on
/// the seed and the change's number, not on the order they are visited.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_modes_parse_and_print_back() {
        for s in ["drop-all", "keep-metadata", "random:42"] {
            assert_eq!(s.parse::<Mode>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn unknown_modes_and_bad_seeds_are_errors() {
        for s in ["", "drop", "random", "random:", "random:x", "random:-1"] {
            assert_eq!(s.parse::<Mode>(), Err(ModeError(s.to_string())), "{s}");
        }
    }

    #[test]
    fn keep_metadata_drops_only_data() {
        let m = Mode::KeepMetadata;
        assert!(m.drops(ChangeKind::Data, 1));
        assert!(!m.drops(ChangeKind::Attrs, 1));
        assert!(!m.drops(ChangeKind::Entries, 1));
    }

    #[test]
    fn random_draws_repeat_for_a_seed_and_differ_across_seeds() {
        let draws = |seed| -> Vec<bool> {
            (0..256)
                .map(|seq| Mode::Random(seed).drops(ChangeKind::Data, seq))
                .collect()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        let dropped = draws(7).iter().filter(|d| **d).count();
        assert!((64..192).contains(&dropped), "{dropped} of 256 dropped");
    }
}
