//! Translating uids or gids between the guest's view and the host's
//! (virtiofsd's `--translate-uid` / `--translate-gid`).
//!
//! An [`IdTranslation`] holds the rules for one kind of id (uids or gids)
//! in two independent directions: guest to host (the caller of a request,
//! the new owner of a chown) and host to guest (the owner of every
//! attribute the guest is shown). An id no rule covers passes unchanged in
//! either direction. A rule, [`IdRule`], is written `TYPE:SOURCE:TARGET:COUNT`:
//!
//! | TYPE | guest to host | host to guest |
//! |---|---|---|
//! | `guest` | guest `[SOURCE, SOURCE+COUNT)` become host `[TARGET, ...)` | - |
//! | `host` | - | host `[SOURCE, SOURCE+COUNT)` become guest `[TARGET, ...)` |
//! | `map` | guest `[SOURCE, ...)` become host `[TARGET, ...)` | and back |
//! | `squash-guest` | guest `[SOURCE, SOURCE+COUNT)` all become host `TARGET` | - |
//! | `squash-host` | - | host `[SOURCE, SOURCE+COUNT)` all become guest `TARGET` |
//! | `forbid-guest:SOURCE:COUNT` | a request from those guest ids fails (`EPERM`) | - |
//!
//! Within one direction no two rules may cover the same id, so that which
//! rule applies never depends on their order; a translation with
//! overlapping ranges is refused when it is built. A range must lie within
//! the 32-bit ids (`SOURCE + COUNT` at most 2^32) and hold at least one id.
//! TYPE may be written in any case.

use std::fmt;
use std::str::FromStr;

/// The six kinds of rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// Guest ids to a host range.
    Guest,
    /// Host ids to a guest range.
    Host,
    /// Both directions, one range onto the other.
    Map,
    /// A guest range onto one host id.
    SquashGuest,
    /// A host range onto one guest id.
    SquashHost,
    /// A guest range whose requests fail.
    ForbidGuest,
}

impl RuleKind {
    fn name(self) -> &'static str {
        match self {
            Self::Guest => "guest",
            Self::Host => "host",
            Self::Map => "map",
            Self::SquashGuest => "squash-guest",
            Self::SquashHost => "squash-host",
            Self::ForbidGuest => "forbid-guest",
        }
    }
}

/// One `TYPE:SOURCE:TARGET:COUNT` rule (`forbid-guest:SOURCE:COUNT` has no
/// target; it is 0 here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRule {
    /// What the rule does.
    pub kind: RuleKind,
    /// First id of the source range.
    pub source: u32,
    /// First id of the target range, or the one target id of a squash.
    pub target: u32,
    /// Ids in the source range.
    pub count: u32,
}

/// Why a rule does not parse or a set of rules cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdRuleError {
    /// Not `TYPE:SOURCE:TARGET:COUNT` with a known type and numbers.
    #[error("expected TYPE:SOURCE:TARGET:COUNT (TYPE: guest, host, map, squash-guest, squash-host) or forbid-guest:SOURCE:COUNT")]
    Syntax,
    /// A count of zero.
    #[error("COUNT must be at least 1")]
    Empty,
    /// A range that runs past the largest id.
    #[error("the range runs past id {max}", max = u32::MAX)]
    PastLastId,
    /// Two rules cover the same id in one direction.
    #[error("{direction} ids [{start}, {end}) overlap an earlier rule")]
    Overlap {
        /// `guest` (guest-to-host rules) or `host` (host-to-guest rules).
        direction: &'static str,
        /// First id of the overlapping range.
        start: u32,
        /// One past its last id.
        end: u64,
    },
}

impl FromStr for IdRule {
    type Err = IdRuleError;

    fn from_str(text: &str) -> Result<Self, IdRuleError> {
        let mut fields = text.split(':');
        // virtiofsd takes the type in any case.
        let kind = match fields.next().map(str::to_ascii_lowercase).as_deref() {
            Some("guest") => RuleKind::Guest,
            Some("host") => RuleKind::Host,
            Some("map") => RuleKind::Map,
            Some("squash-guest") => RuleKind::SquashGuest,
            Some("squash-host") => RuleKind::SquashHost,
            Some("forbid-guest") => RuleKind::ForbidGuest,
            _ => return Err(IdRuleError::Syntax),
        };
        let numbers = fields
            .map(|f| f.parse::<u32>().map_err(|_| IdRuleError::Syntax))
            .collect::<Result<Vec<_>, _>>()?;
        let (source, target, count) = match (kind, numbers.as_slice()) {
            (RuleKind::ForbidGuest, &[source, count]) => (source, 0, count),
            (RuleKind::ForbidGuest, _) => return Err(IdRuleError::Syntax),
            (_, &[source, target, count]) => (source, target, count),
            _ => return Err(IdRuleError::Syntax),
        };
        let rule = Self {
            kind,
            source,
            target,
            count,
        };
        rule.check_ranges()?;
        Ok(rule)
    }
}

impl fmt::Display for IdRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RuleKind::ForbidGuest => write!(f, "forbid-guest:{}:{}", self.source, self.count),
            kind => write!(
                f,
                "{}:{}:{}:{}",
                kind.name(),
                self.source,
                self.target,
                self.count
            ),
        }
    }
}

impl IdRule {
    /// The source range holds an id and, like a target range, ends within
    /// the 32-bit ids.
    fn check_ranges(&self) -> Result<(), IdRuleError> {
        if self.count == 0 {
            return Err(IdRuleError::Empty);
        }
        let fits = |start: u32| u64::from(start) + u64::from(self.count) <= 1 << 32;
        let target_is_range = matches!(self.kind, RuleKind::Guest | RuleKind::Host | RuleKind::Map);
        if !fits(self.source) || (target_is_range && !fits(self.target)) {
            return Err(IdRuleError::PastLastId);
        }
        Ok(())
    }
}

/// Where the ids of one source range go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// 1:1 onto the range starting here.
    Range(u32),
    /// All onto this one id.
    Squash(u32),
    /// Nowhere: the request fails.
    Forbid,
}

/// One source range `[start, start + count)` of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    count: u32,
    to: Target,
}

impl Span {
    fn end(&self) -> u64 {
        u64::from(self.start) + u64::from(self.count)
    }

    /// Where `id` goes, if this span covers it.
    fn apply(&self, id: u32) -> Option<Result<u32, Forbidden>> {
        let offset = id.checked_sub(self.start).filter(|&o| o < self.count)?;
        Some(match self.to {
            // `check_ranges` keeps `base + offset` within u32.
            Target::Range(base) => Ok(base.wrapping_add(offset)),
            Target::Squash(to) => Ok(to),
            Target::Forbid => Err(Forbidden),
        })
    }
}

/// A guest id a `forbid-guest` rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forbidden;

/// The rules for one kind of id, by direction. The default translates
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdTranslation {
    to_host: Vec<Span>,
    to_guest: Vec<Span>,
}

impl IdTranslation {
    /// The translation `rules` describe, or why they conflict.
    pub fn new(rules: &[IdRule]) -> Result<Self, IdRuleError> {
        let mut translation = Self::default();
        for rule in rules {
            translation.add(rule)?;
        }
        Ok(translation)
    }

    /// Whether no rule is set (every id passes unchanged).
    pub fn is_identity(&self) -> bool {
        self.to_host.is_empty() && self.to_guest.is_empty()
    }

    /// The host id for the guest's `id`, or [`Forbidden`].
    pub fn to_host(&self, id: u32) -> Result<u32, Forbidden> {
        self.to_host
            .iter()
            .find_map(|span| span.apply(id))
            .unwrap_or(Ok(id))
    }

    /// The id the guest is shown for the host's `id`.
    pub fn to_guest(&self, id: u32) -> u32 {
        let found = self.to_guest.iter().find_map(|span| span.apply(id));
        // No host-to-guest rule forbids.
        found.and_then(Result::ok).unwrap_or(id)
    }

    /// Adds `rule`, unless it covers an id an earlier rule of the same
    /// direction covers.
    pub fn add(&mut self, rule: &IdRule) -> Result<(), IdRuleError> {
        rule.check_ranges()?;
        let span = |to| Span {
            start: rule.source,
            count: rule.count,
            to,
        };
        match rule.kind {
            RuleKind::Guest => push(&mut self.to_host, "guest", span(Target::Range(rule.target))),
            RuleKind::SquashGuest => push(
                &mut self.to_host,
                "guest",
                span(Target::Squash(rule.target)),
            ),
            RuleKind::ForbidGuest => push(&mut self.to_host, "guest", span(Target::Forbid)),
            RuleKind::Host => push(&mut self.to_guest, "host", span(Target::Range(rule.target))),
            RuleKind::SquashHost => push(
                &mut self.to_guest,
                "host",
                span(Target::Squash(rule.target)),
            ),
            RuleKind::Map => {
                let back = Span {
                    start: rule.target,
                    count: rule.count,
                    to: Target::Range(rule.source),
                };
                // Check both before adding either.
                check_free(&self.to_host, "guest", &span(Target::Forbid))?;
                check_free(&self.to_guest, "host", &back)?;
                push(&mut self.to_host, "guest", span(Target::Range(rule.target)))?;
                push(&mut self.to_guest, "host", back)
            }
        }
    }
}

/// Adds `span` to `spans` unless it overlaps one of them.
fn push(spans: &mut Vec<Span>, direction: &'static str, span: Span) -> Result<(), IdRuleError> {
    check_free(spans, direction, &span)?;
    spans.push(span);
    Ok(())
}

fn check_free(spans: &[Span], direction: &'static str, span: &Span) -> Result<(), IdRuleError> {
    let overlaps = |s: &Span| u64::from(s.start) < span.end() && u64::from(span.start) < s.end();
    if spans.iter().any(overlaps) {
        return Err(IdRuleError::Overlap {
            direction,
            start: span.start,
            end: span.end(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> IdRule {
        text.parse().unwrap()
    }

    fn translation(rules: &[&str]) -> Result<IdTranslation, IdRuleError> {
        IdTranslation::new(&rules.iter().map(|r| rule(r)).collect::<Vec<_>>())
    }

    #[test]
    fn rules_parse_in_every_form_and_print_back() {
        for text in [
            "guest:1000:2000:10",
            "host:0:1:1",
            "map:1000:2000:10",
            "squash-guest:0:1000:4294967295",
            "squash-host:1:0:4294967295",
            "forbid-guest:0:4294967295",
        ] {
            assert_eq!(rule(text).to_string(), text);
        }
        assert_eq!(
            rule("forbid-guest:5:3"),
            IdRule {
                kind: RuleKind::ForbidGuest,
                source: 5,
                target: 0,
                count: 3
            }
        );
    }

    #[test]
    fn malformed_rules_are_refused() {
        for text in [
            "",
            "map",
            "map:1:2",
            "map:1:2:3:4",
            "swap:1:2:3",
            "map:-1:2:3",
            "map:a:2:3",
            "map:1::3",
            "forbid-guest:1:2:3",
            "forbid-guest:1",
            "map:4294967296:0:1",
        ] {
            assert_eq!(text.parse::<IdRule>(), Err(IdRuleError::Syntax), "{text}");
        }
        assert_eq!("map:1:2:0".parse::<IdRule>(), Err(IdRuleError::Empty));
        assert_eq!(
            "guest:1:4294967295:2".parse::<IdRule>(),
            Err(IdRuleError::PastLastId)
        );
        assert_eq!(
            "forbid-guest:2001:4294967295".parse::<IdRule>(),
            Err(IdRuleError::PastLastId)
        );
        // A squash's target is one id, not a range.
        rule("squash-guest:0:4294967295:10");
        assert_eq!(rule("Squash-Guest:1:2:3").kind, RuleKind::SquashGuest);
    }

    #[test]
    fn map_translates_both_ways_and_leaves_other_ids() {
        let t = translation(&["map:1000:2000:10"]).unwrap();
        assert_eq!(t.to_host(1000), Ok(2000));
        assert_eq!(t.to_host(1009), Ok(2009));
        assert_eq!(t.to_host(1010), Ok(1010));
        assert_eq!(t.to_host(999), Ok(999));
        assert_eq!(t.to_guest(2005), 1005);
        assert_eq!(t.to_guest(2010), 2010);
        assert_eq!(t.to_guest(1005), 1005);
    }

    #[test]
    fn one_way_rules_touch_one_direction() {
        let t = translation(&["guest:0:100000:65536", "host:100000:0:65536"]).unwrap();
        assert_eq!(t.to_host(0), Ok(100_000));
        assert_eq!(t.to_guest(100_001), 1);
        let t = translation(&["guest:5:50:1"]).unwrap();
        assert_eq!(t.to_host(5), Ok(50));
        assert_eq!(t.to_guest(50), 50);
        let t = translation(&["host:50:5:1"]).unwrap();
        assert_eq!(t.to_guest(50), 5);
        assert_eq!(t.to_host(5), Ok(5));
    }

    #[test]
    fn squashes_and_forbids() {
        let t = translation(&[
            "squash-guest:0:1000:1000",
            "forbid-guest:1000:10",
            "squash-host:0:65534:4294967295",
        ])
        .unwrap();
        assert_eq!(t.to_host(0), Ok(1000));
        assert_eq!(t.to_host(999), Ok(1000));
        assert_eq!(t.to_host(1000), Err(Forbidden));
        assert_eq!(t.to_host(1009), Err(Forbidden));
        assert_eq!(t.to_host(1010), Ok(1010));
        assert_eq!(t.to_guest(0), 65534);
        assert_eq!(t.to_guest(4_294_967_294), 65534);
        assert_eq!(t.to_guest(u32::MAX), u32::MAX);
    }

    #[test]
    fn ranges_reaching_the_last_id_work() {
        let t = translation(&["forbid-guest:1:4294967295"]).unwrap();
        assert_eq!(t.to_host(u32::MAX), Err(Forbidden));
        assert_eq!(t.to_host(0), Ok(0));
        let t = translation(&["map:4294967290:10:6"]).unwrap();
        assert_eq!(t.to_host(u32::MAX), Ok(15));
        assert_eq!(t.to_guest(15), u32::MAX);
    }

    #[test]
    fn overlapping_rules_in_one_direction_are_refused() {
        let err = translation(&["map:1000:2000:10", "forbid-guest:1009:1"]).unwrap_err();
        assert_eq!(
            err,
            IdRuleError::Overlap {
                direction: "guest",
                start: 1009,
                end: 1010
            }
        );
        let err = translation(&["squash-host:0:0:100", "map:1000:50:1"]).unwrap_err();
        assert!(matches!(
            err,
            IdRuleError::Overlap {
                direction: "host",
                ..
            }
        ));
        // Adjacent ranges and the same range in the two directions are fine.
        translation(&["map:0:0:10", "forbid-guest:10:5", "squash-host:10:0:5"]).unwrap();
        translation(&["guest:0:100:10", "host:0:100:10"]).unwrap();
    }

    #[test]
    fn no_rules_is_the_identity() {
        let t = IdTranslation::default();
        assert!(t.is_identity());
        assert_eq!(t.to_host(1234), Ok(1234));
        assert_eq!(t.to_guest(1234), 1234);
        assert!(!translation(&["host:1:2:3"]).unwrap().is_identity());
    }
}
