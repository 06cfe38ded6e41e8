//! PromQL instant-vector selectors: parser, label matchers and their regex fast paths.
//!
//! [`parse_selector`] is Prometheus 2.42's `parser.ParseMetricSelector`, error messages included
//! (`1:7: parse error: unexpected end of input inside braces`); [`Matcher`] is its
//! `labels.Matcher` with Go regex semantics and literal/set/prefix shortcuts for selection.

mod lexer;
pub mod matcher;
mod quote;
mod regex_fast;
mod regex_go;
pub mod select;
mod selector;

pub use matcher::{MatchOp, Matcher};
pub use regex_fast::MAX_SET_MATCHES;

/// An invalid selector; `Display` is Prometheus's text, e.g.
/// `1:11: parse error: unexpected end of input inside braces`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// Parses an instant-vector selector as Prometheus's `parser.ParseMetricSelector` does: the
/// matchers inside braces in source order, then `__name__="<name>"` when a metric name precedes
/// the braces.
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>, SelectorError> {
    selector::parse(input.as_bytes())
}

/// [`parse_selector`] for raw bytes that may not be UTF-8 (a percent-decoded `match[]`): an
/// invalid byte in a string gives Prometheus's `invalid UTF-8 rune` error at that string, one
/// elsewhere an `unexpected character` error, exactly as Go's lexer does.
pub fn parse_selector_bytes(input: &[u8]) -> Result<Vec<Matcher>, SelectorError> {
    selector::parse(input)
}
