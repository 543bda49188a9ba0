//! `--xattrmap`: rules that rename extended attributes between the guest's
//! view and the host's, in virtiofsd's rule language, so that an operator
//! can switch daemons without rewriting them.
//!
//! A rule is `<sep>type<sep>scope<sep>key<sep>prepend<sep>`, where `<sep>`
//! is the rule's first non-blank character; rules follow one another,
//! optionally separated by white space. `type` is `prefix`, `ok`, `bad`,
//! `unsupported` or `map`; `scope` is `client`, `server` or `all`.
//!
//! * A name from the guest (GETXATTR, SETXATTR, REMOVEXATTR) is matched
//!   against the `key` of the `client` rules, in order; the first rule whose
//!   key is a prefix of the name decides: `prefix` sends `prepend` + name to
//!   the host, `ok` the name unchanged, `bad` refuses it (`EPERM`; a
//!   GETXATTR answers `ENODATA`, as if it were absent), `unsupported`
//!   answers `EOPNOTSUPP`. A name no rule matches is refused like `bad`.
//! * A name from the host (LISTXATTR) is matched against the `prepend` of
//!   the `server` rules: `prefix` strips `prepend`, `ok` keeps the name,
//!   `bad` and `unsupported` hide it, as does matching no rule.
//! * `map<sep>KEY<sep>PREPEND` is shorthand, allowed once and last: names
//!   starting with KEY (every name, if KEY is empty) are stored under
//!   PREPEND; with a KEY, host names starting with KEY are hidden, the
//!   guest cannot reach PREPEND names directly, and everything else passes
//!   unchanged; with an empty KEY, host names without PREPEND are hidden.
//!
//! Pure data: parsing and name translation, no system calls.

use std::ffi::{CStr, CString};
use std::fmt;
use std::str::FromStr;

/// Why a `--xattrmap` string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XattrMapError {
    /// A rule ended before its five separators.
    #[error("rule {rule}: expected <sep>type<sep>scope<sep>key<sep>prepend<sep>")]
    Incomplete { rule: usize },
    /// An unknown rule type.
    #[error("rule {rule}: unknown type {found:?} (prefix, ok, bad, unsupported, map)")]
    Type { rule: usize, found: String },
    /// An unknown scope.
    #[error("rule {rule}: unknown scope {found:?} (client, server, all)")]
    Scope { rule: usize, found: String },
    /// `map` not last.
    #[error("rule {rule}: a map rule must be the last rule")]
    MapNotLast { rule: usize },
    /// A key or prefix holding a NUL byte.
    #[error("rule {rule}: a key or prefix holds a NUL byte")]
    Nul { rule: usize },
    /// No rule at all.
    #[error("no rule")]
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Prefix,
    Ok,
    Bad,
    Unsupported,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    action: Action,
    client: bool,
    server: bool,
    key: Vec<u8>,
    prepend: Vec<u8>,
}

/// The parsed rules, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XattrMap {
    rules: Vec<Rule>,
}

/// What happens to a name the guest sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToHost {
    /// Use this name on the host.
    Name(CString),
    /// Refused by a `bad` rule or by no rule (`EPERM`; GETXATTR: `ENODATA`).
    Denied,
    /// Refused by an `unsupported` rule (`EOPNOTSUPP`).
    Unsupported,
}

impl XattrMap {
    /// The host name for the guest's `name`.
    pub fn to_host(&self, name: &CStr) -> ToHost {
        let bytes = name.to_bytes();
        let Some(rule) = self
            .rules
            .iter()
            .find(|r| r.client && bytes.starts_with(&r.key))
        else {
            return ToHost::Denied;
        };
        match rule.action {
            Action::Ok => ToHost::Name(name.to_owned()),
            Action::Prefix => {
                let mut joined = rule.prepend.clone();
                joined.extend_from_slice(bytes);
                // Neither part holds a NUL (checked at parse time and by
                // CStr), so this cannot fail; refuse rather than panic.
                CString::new(joined).map_or(ToHost::Denied, ToHost::Name)
            }
            Action::Bad => ToHost::Denied,
            Action::Unsupported => ToHost::Unsupported,
        }
    }

    /// The guest's name for the host's `name`, or `None` to hide it.
    pub fn to_guest<'a>(&self, name: &'a [u8]) -> Option<&'a [u8]> {
        let rule = self
            .rules
            .iter()
            .find(|r| r.server && name.starts_with(&r.prepend))?;
        match rule.action {
            Action::Ok => Some(name),
            // A name that is nothing but the prefix would become empty.
            Action::Prefix => Some(&name[rule.prepend.len()..]).filter(|n| !n.is_empty()),
            Action::Bad | Action::Unsupported => None,
        }
    }

    /// Rewrites a host LISTXATTR answer (NUL-terminated names) into the
    /// guest's names, dropping hidden ones.
    pub fn list_to_guest(&self, host_list: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(host_list.len());
        for name in host_list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            if let Some(shown) = self.to_guest(name) {
                out.extend_from_slice(shown);
                out.push(0);
            }
        }
        out
    }
}

impl FromStr for XattrMap {
    type Err = XattrMapError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut rules = Vec::new();
        let mut rest = s.trim_start();
        let mut index = 0;
        let mut saw_map = false;
        while !rest.is_empty() {
            index += 1;
            if saw_map {
                return Err(XattrMapError::MapNotLast { rule: index - 1 });
            }
            let (fields, after) = split_rule(rest, index)?;
            saw_map = push_rule(&mut rules, fields, index)?;
            rest = after.trim_start();
        }
        if rules.is_empty() {
            return Err(XattrMapError::Empty);
        }
        Ok(Self { rules })
    }
}

/// The fields of one rule: `type`, then `scope`, `key`, `prepend` (a
/// `map` rule has only `key` and `prepend`: `scope` is `None`).
struct Fields<'a> {
    kind: &'a str,
    scope: Option<&'a str>,
    key: &'a str,
    prepend: &'a str,
}

/// Splits the rule at the start of `s` into its fields and what follows it.
fn split_rule(s: &str, rule: usize) -> Result<(Fields<'_>, &str), XattrMapError> {
    let incomplete = || XattrMapError::Incomplete { rule };
    let sep = s.chars().next().ok_or_else(incomplete)?;
    let mut rest = &s[sep.len_utf8()..];
    let mut next = || {
        let end = rest.find(sep).ok_or_else(incomplete)?;
        let field = &rest[..end];
        rest = &rest[end + sep.len_utf8()..];
        Ok::<_, XattrMapError>(field)
    };
    let kind = next()?;
    let scope = if kind == "map" { None } else { Some(next()?) };
    let key = next()?;
    let prepend = next()?;
    let fields = Fields {
        kind,
        scope,
        key,
        prepend,
    };
    Ok((fields, rest))
}

/// Adds the rule(s) of `fields`; true for a `map` rule.
fn push_rule(rules: &mut Vec<Rule>, f: Fields<'_>, rule: usize) -> Result<bool, XattrMapError> {
    if f.key.contains('\0') || f.prepend.contains('\0') {
        return Err(XattrMapError::Nul { rule });
    }
    let Some(scope) = f.scope else {
        expand_map(rules, f.key.as_bytes(), f.prepend.as_bytes());
        return Ok(true);
    };
    let action = match f.kind {
        "prefix" => Action::Prefix,
        "ok" => Action::Ok,
        "bad" => Action::Bad,
        "unsupported" => Action::Unsupported,
        other => {
            return Err(XattrMapError::Type {
                rule,
                found: other.to_string(),
            })
        }
    };
    let (client, server) = match scope {
        "client" => (true, false),
        "server" => (false, true),
        "all" => (true, true),
        other => {
            return Err(XattrMapError::Scope {
                rule,
                found: other.to_string(),
            })
        }
    };
    rules.push(Rule {
        action,
        client,
        server,
        key: f.key.as_bytes().to_vec(),
        prepend: f.prepend.as_bytes().to_vec(),
    });
    Ok(false)
}

fn expand_map(rules: &mut Vec<Rule>, key: &[u8], prepend: &[u8]) {
    let rule = |action, client, server, key: &[u8], prepend: &[u8]| Rule {
        action,
        client,
        server,
        key: key.to_vec(),
        prepend: prepend.to_vec(),
    };
    rules.push(rule(Action::Prefix, true, true, key, prepend));
    if key.is_empty() {
        rules.push(rule(Action::Bad, true, true, b"", b""));
        return;
    }
    // Host names that look like guest names of the mapped kind are hidden,
    rules.push(rule(Action::Bad, false, true, b"", key));
    // the guest cannot reach the stored names directly,
    rules.push(rule(Action::Bad, true, false, prepend, b""));
    // and everything else passes.
    rules.push(rule(Action::Ok, true, true, b"", b""));
}

impl fmt::Display for XattrMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} xattr mapping rule(s)", self.rules.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(s: &str) -> XattrMap {
        s.parse().unwrap()
    }

    fn host(m: &XattrMap, name: &str) -> ToHost {
        m.to_host(&CString::new(name).unwrap())
    }

    fn named(s: &str) -> ToHost {
        ToHost::Name(CString::new(s).unwrap())
    }

    #[test]
    fn prefix_everything_and_hide_the_rest() {
        let m = map(":prefix:all::user.virtiofs.::bad:all:::");
        assert_eq!(host(&m, "trusted.x"), named("user.virtiofs.trusted.x"));
        assert_eq!(
            m.to_guest(b"user.virtiofs.trusted.x"),
            Some(&b"trusted.x"[..])
        );
        assert_eq!(m.to_guest(b"user.host"), None);
    }

    #[test]
    fn four_rules_with_another_separator_and_newlines() {
        let m = map(
            "/prefix/all/trusted./user.virtiofs./\n /bad/server//trusted./\n \
             /bad/client/user.virtiofs.//\n /ok/all///",
        );
        assert_eq!(host(&m, "trusted.a"), named("user.virtiofs.trusted.a"));
        assert_eq!(host(&m, "user.virtiofs.x"), ToHost::Denied);
        assert_eq!(host(&m, "user.plain"), named("user.plain"));
        assert_eq!(
            m.to_guest(b"user.virtiofs.trusted.a"),
            Some(&b"trusted.a"[..])
        );
        assert_eq!(m.to_guest(b"trusted.host"), None);
        assert_eq!(m.to_guest(b"user.plain"), Some(&b"user.plain"[..]));
    }

    #[test]
    fn map_with_a_key_expands_to_four_rules() {
        let m = map(":map:trusted.:user.virtiofs.:");
        assert_eq!(m.rules.len(), 4);
        assert_eq!(host(&m, "trusted.a"), named("user.virtiofs.trusted.a"));
        assert_eq!(host(&m, "user.virtiofs.a"), ToHost::Denied);
        assert_eq!(host(&m, "security.selinux"), named("security.selinux"));
        assert_eq!(m.to_guest(b"trusted.host"), None);
        assert_eq!(
            m.to_guest(b"user.virtiofs.trusted.a"),
            Some(&b"trusted.a"[..])
        );
        assert_eq!(m.to_guest(b"user.other"), Some(&b"user.other"[..]));
    }

    #[test]
    fn map_without_a_key_prefixes_every_name() {
        let m = map(":map::user.virtiofs.:");
        assert_eq!(
            host(&m, "security.selinux"),
            named("user.virtiofs.security.selinux")
        );
        assert_eq!(m.to_guest(b"security.selinux"), None);
    }

    #[test]
    fn unsupported_and_unmatched_names() {
        let m = map("/unsupported/all/security.selinux/security.selinux//ok/client/user.//");
        assert_eq!(host(&m, "security.selinux"), ToHost::Unsupported);
        assert_eq!(host(&m, "user.a"), named("user.a"));
        assert_eq!(host(&m, "trusted.a"), ToHost::Denied, "no rule matches");
        assert_eq!(m.to_guest(b"security.selinux"), None);
        assert_eq!(m.to_guest(b"user.a"), None, "no server rule");
    }

    #[test]
    fn lists_are_rewritten_and_filtered() {
        let m = map(":prefix:all::user.virtiofs.::bad:all:::");
        let list = b"user.virtiofs.a\0user.host\0user.virtiofs.b.c\0";
        assert_eq!(m.list_to_guest(list), b"a\0b.c\0");
        assert_eq!(m.list_to_guest(b""), b"");
    }

    #[test]
    fn malformed_rule_sets_are_refused() {
        for (bad, want) in [
            ("", XattrMapError::Empty),
            ("   ", XattrMapError::Empty),
            (":prefix:all:a", XattrMapError::Incomplete { rule: 1 }),
            (":ok:all::", XattrMapError::Incomplete { rule: 1 }),
            (":map:a:", XattrMapError::Incomplete { rule: 1 }),
            (
                ":okay:all:::",
                XattrMapError::Type {
                    rule: 1,
                    found: "okay".into(),
                },
            ),
            (
                ":ok:both:::",
                XattrMapError::Scope {
                    rule: 1,
                    found: "both".into(),
                },
            ),
            (":map:a:b::ok:all:::", XattrMapError::MapNotLast { rule: 1 }),
        ] {
            assert_eq!(bad.parse::<XattrMap>(), Err(want), "{bad:?}");
        }
    }
}
