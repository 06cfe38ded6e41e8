//! The PromQL parser (Prometheus 2.42 `promql/parser`): text to [`Expr`] with the generated
//! parser's error texts and positions, and printing an expression back (`format_query`).

mod lexer;
mod quote;
mod selector;

use fedstore_storage::Matcher;

use crate::ast::Expr;

/// A parse error; `Display` is Prometheus's text, e.g.
/// `1:5: parse error: unclosed left parenthesis`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Parses a PromQL expression (`parser.ParseExpr`, `checkAST` included).
pub fn parse_expr(_input: &str) -> Result<Expr, ParseError> {
    Err(ParseError("not implemented yet".into()))
}

/// Parses an instant-vector selector as Prometheus's `parser.ParseMetricSelector` does: the
/// matchers inside braces in source order, then `__name__="<name>"` when a metric name precedes
/// the braces. Errors are 2.42's, e.g. `1:11: parse error: unexpected end of input inside braces`.
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    selector::parse(input.as_bytes())
}

/// [`parse_selector`] for raw bytes that may not be UTF-8 (a percent-decoded `match[]`): an
/// invalid byte in a string gives Prometheus's `invalid UTF-8 rune` error at that string, one
/// elsewhere an `unexpected character` error, exactly as Go's lexer does.
pub fn parse_selector_bytes(input: &[u8]) -> Result<Vec<Matcher>, ParseError> {
    selector::parse(input)
}
