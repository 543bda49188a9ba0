//! `--uid-map` / `--gid-map` values: one range of ids mapped into the
//! daemon's user namespace, written as virtiofsd and libvirt write it,
//! `:namespace_id:host_id:count:`. The first character is the delimiter
//! (any character that is not a letter or digit) and must also end the
//! value.

use std::fmt;
use std::str::FromStr;

/// One line of a user namespace's `uid_map` or `gid_map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    /// First id inside the namespace.
    pub inside: u32,
    /// First id on the host it stands for.
    pub outside: u32,
    /// How many consecutive ids.
    pub count: u32,
}

/// Why an id map value is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdMapError {
    /// Empty, or not starting and ending with the same non-alphanumeric character.
    #[error("expected :namespace_id:host_id:count: (any non-alphanumeric delimiter)")]
    Delimiter,
    /// Not exactly three fields.
    #[error("expected three fields, namespace_id, host_id and count")]
    FieldCount,
    /// A field is not a 32-bit id.
    #[error("{0:?} is not a number between 0 and 4294967295")]
    Number(String),
    /// A zero count, or a range past the last id.
    #[error("the count must be at least 1 and the ranges must end below 4294967296")]
    Range,
}

impl FromStr for IdMap {
    type Err = IdMapError;

    fn from_str(s: &str) -> Result<Self, IdMapError> {
        let delimiter = s.chars().next().ok_or(IdMapError::Delimiter)?;
        if delimiter.is_alphanumeric() || s.len() < 2 || !s.ends_with(delimiter) {
            return Err(IdMapError::Delimiter);
        }
        let inner = &s[delimiter.len_utf8()..s.len() - delimiter.len_utf8()];
        let fields: Vec<&str> = inner.split(delimiter).collect();
        let [inside, outside, count] = fields[..] else {
            return Err(IdMapError::FieldCount);
        };
        let number = |f: &str| f.parse::<u32>().map_err(|_| IdMapError::Number(f.into()));
        let map = IdMap {
            inside: number(inside)?,
            outside: number(outside)?,
            count: number(count)?,
        };
        let end_ok = |base: u32| u64::from(base) + u64::from(map.count) <= 1 << 32;
        if map.count == 0 || !end_ok(map.inside) || !end_ok(map.outside) {
            return Err(IdMapError::Range);
        }
        Ok(map)
    }
}

impl fmt::Display for IdMap {
    /// The line as `/proc/PID/uid_map` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.inside, self.outside, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libvirt_session_maps_parse() {
        let map: IdMap = ":0:1000:1:".parse().unwrap();
        assert_eq!(
            map,
            IdMap {
                inside: 0,
                outside: 1000,
                count: 1
            }
        );
        assert_eq!(map.to_string(), "0 1000 1");
        let sub: IdMap = ":1:100000:65536:".parse().unwrap();
        assert_eq!((sub.inside, sub.outside, sub.count), (1, 100000, 65536));
    }

    #[test]
    fn any_non_alphanumeric_delimiter_is_accepted() {
        let map: IdMap = "/0/1000/1/".parse().unwrap();
        assert_eq!(map.outside, 1000);
    }

    #[test]
    fn malformed_maps_are_refused() {
        for (bad, want) in [
            ("", IdMapError::Delimiter),
            ("0:1000:1", IdMapError::Delimiter),
            (":0:1000:1", IdMapError::Delimiter),
            (":0:1000:", IdMapError::FieldCount),
            (":0:1000:1:2:", IdMapError::FieldCount),
            (":0:x:1:", IdMapError::Number("x".into())),
            (":0:-1:1:", IdMapError::Number("-1".into())),
            (":0:1000:0:", IdMapError::Range),
            (":4294967295:0:2:", IdMapError::Range),
        ] {
            assert_eq!(bad.parse::<IdMap>(), Err(want), "{bad:?}");
        }
    }
}
