//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus 2.42 semantics
//! (`model/labels/matcher.go`): a missing label has the value `""`; regexes are fully anchored,
//! translated from Go's syntax (`regex_go`) and short-cut where a literal set or prefix will do
//! (`regex_fast`); [`select`] turns matchers into postings. The PromQL selector parser that
//! builds matchers from text lives in crate `fedstore-promql`.
//!
//! Values that are not valid UTF-8 (a PromQL `"\xff"` escape yields a raw byte in Go) are
//! accepted for `=`/`!=` as in Prometheus: since every value fedstore stores is valid UTF-8, such
//! an `=` matches nothing and such a `!=` matches everything; `value` then holds a lossy copy
//! (U+FFFD) for display only, and [`Matcher::set_matches`] is empty. For `=~`/`!~` Go rejects
//! them (`invalid UTF-8`), and so do we.

pub mod quote;
mod regex_fast;
mod regex_go;
pub mod select;

use std::fmt;
use std::sync::Arc;

use quote::go_quote;
use regex_fast::RegexMatcher;

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    /// The PromQL operator text (`=`, `!=`, `=~`, `!~`).
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    /// Whether the operator selects values that do *not* satisfy the comparison.
    pub fn is_negative(self) -> bool {
        matches!(self, MatchOp::NotEqual | MatchOp::NotRegex)
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the matcher compiled its value into.
#[derive(Debug, Clone)]
enum Compiled {
    /// `=`/`!=`: byte comparison with `value`.
    Literal,
    /// `=`/`!=` with a value that is not valid UTF-8 (its raw bytes): equal to no stored value.
    InvalidUtf8(Box<[u8]>),
    /// `=~`/`!~`.
    Regex(Arc<RegexMatcher>),
}

/// One label matcher; a missing label has the value `""`.
///
/// Build it with [`Matcher::new`] (or `fedstore_promql::parse_selector`); the public
/// fields describe it and must not be changed afterwards (the compiled form is kept beside them).
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The operator.
    pub op: MatchOp,
    /// The right-hand side as written (unescaped), the regex source for `=~`/`!~`.
    pub value: String,
    compiled: Compiled,
}

impl Matcher {
    /// A matcher; `=~`/`!~` values are compiled as Prometheus 2.42 regexes, and a bad regex
    /// gives Go's error text, e.g. ``error parsing regexp: missing closing ): `^(?:()$` ``.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, String> {
        let value: String = value.into();
        let compiled = match op {
            MatchOp::Equal | MatchOp::NotEqual => Compiled::Literal,
            MatchOp::Regex | MatchOp::NotRegex => {
                Compiled::Regex(Arc::new(RegexMatcher::new(value.as_bytes())?))
            }
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            compiled,
        })
    }

    /// A matcher from a value that may not be valid UTF-8 (what PromQL escapes can produce).
    pub fn from_bytes(op: MatchOp, name: String, value: Vec<u8>) -> Result<Matcher, String> {
        match String::from_utf8(value) {
            Ok(value) => Matcher::new(op, name, value),
            Err(e) => {
                let raw = e.into_bytes();
                let compiled = match op {
                    MatchOp::Equal | MatchOp::NotEqual => Compiled::InvalidUtf8(raw.clone().into()),
                    MatchOp::Regex | MatchOp::NotRegex => {
                        Compiled::Regex(Arc::new(RegexMatcher::new(&raw)?))
                    }
                };
                let value = String::from_utf8_lossy(&raw).into_owned();
                Ok(Matcher {
                    name,
                    op,
                    value,
                    compiled,
                })
            }
        }
    }

    /// Whether a label value `v` satisfies the matcher (`""` for a missing label).
    #[inline]
    pub fn matches(&self, v: &str) -> bool {
        match &self.compiled {
            Compiled::Literal => (v == self.value) == (self.op == MatchOp::Equal),
            Compiled::InvalidUtf8(_) => self.op == MatchOp::NotEqual,
            Compiled::Regex(re) => re.matches(v) != (self.op == MatchOp::NotRegex),
        }
    }

    /// For `=` and `=~`: every value that matches, sorted, when that set is finite and known
    /// (`=`, literal alternations like `a|b|c` up to 256 values); `None` otherwise.
    pub fn set_matches(&self) -> Option<&[String]> {
        match (&self.compiled, self.op) {
            (Compiled::Literal, MatchOp::Equal) => Some(std::slice::from_ref(&self.value)),
            (Compiled::InvalidUtf8(_), MatchOp::Equal) => Some(&[]),
            (Compiled::Regex(re), MatchOp::Regex) => re.set(),
            _ => None,
        }
    }

    /// For `!=` and `!~`: the finite set of values that do *not* match, when known (so a
    /// selection can subtract their postings); `None` otherwise.
    pub fn excluded_set(&self) -> Option<&[String]> {
        match (&self.compiled, self.op) {
            (Compiled::Literal, MatchOp::NotEqual) => Some(std::slice::from_ref(&self.value)),
            (Compiled::InvalidUtf8(_), MatchOp::NotEqual) => Some(&[]),
            (Compiled::Regex(re), MatchOp::NotRegex) => re.set(),
            _ => None,
        }
    }

    /// A literal every matching value starts with, when known and non-empty, so sorted values
    /// can be range-scanned. Always `None` for `!=` and `!~`.
    pub fn prefix(&self) -> Option<&str> {
        match (&self.compiled, self.op) {
            (Compiled::Literal, MatchOp::Equal) if !self.value.is_empty() => Some(&self.value),
            (Compiled::Regex(re), MatchOp::Regex) => re.prefix(),
            _ => None,
        }
    }

    /// Whether `""` (a missing label) matches.
    pub fn matches_empty(&self) -> bool {
        match &self.compiled {
            Compiled::Regex(re) => re.matches_empty() != (self.op == MatchOp::NotRegex),
            _ => self.matches(""),
        }
    }

    /// The value's bytes as parsed (differs from `value` only for invalid UTF-8).
    fn raw_value(&self) -> &[u8] {
        match &self.compiled {
            Compiled::InvalidUtf8(raw) => raw,
            _ => self.value.as_bytes(),
        }
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        self.name == other.name && self.op == other.op && self.raw_value() == other.raw_value()
    }
}

impl Eq for Matcher {}

/// PromQL form as Go's `Matcher.String()`: `job=~"a.*"` with `%q` escaping.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op, go_quote(self.raw_value()))
    }
}

#[cfg(test)]
mod tests;
