//! The PromQL parser (Prometheus 2.42 `promql/parser`): text to [`Expr`] with the generated
//! parser's error texts and positions, and printing an expression back (`format_query`).
//!
//! A hand-written recursive descent over a lazy lexer. Go's yacc parser keeps only the first
//! error, so this one stops at the first error, produced at the same token, with the same text,
//! in the same order (syntax errors, errors of grammar actions, then `checkAST`'s type errors).

mod check;
pub mod duration;
mod expr;
pub mod functions;
pub mod fuzz;
mod lexer;
mod modifiers;
mod number;
pub mod pretty;
mod printer;
mod quote;
mod selector;

use fedstore_storage::Matcher;

use crate::ast::Expr;
use lexer::{Kind, LexError, Lexer, Token};

pub use duration::{format_duration, parse_api_duration_ns, parse_duration};
pub use number::format_go_float;
pub use pretty::pretty;

/// A parse error; `Display` is Prometheus's text, e.g.
/// `1:5: parse error: unclosed left parenthesis`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Parses a PromQL expression (`parser.ParseExpr`, `checkAST` included).
pub fn parse_expr(input: &str) -> Result<Expr, ParseError> {
    expr::parse(input.as_bytes())
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

/// `ParseErr.Error()`: `<line>:<col>: parse error: <msg>` with a 1-based byte column.
fn parse_error(input: &[u8], pos: usize, msg: &str) -> ParseError {
    if pos > input.len() {
        return ParseError(format!("invalid position: parse error: {msg}"));
    }
    let before = &input[..pos];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let last_newline = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(-1, |i| i as isize);
    let col = pos as isize - last_newline;
    ParseError(format!("{line}:{col}: parse error: {msg}"))
}

/// The token stream with one token of lookahead, shared by the selector and expression
/// grammars.
struct Parser<'a> {
    input: &'a [u8],
    lexer: Lexer<'a>,
    peeked: Option<Token>,
    /// End of the last consumed token (Go's `lastClosing`, as far as positions need it).
    last_end: usize,
    /// How many aggregations enclose the current point: their `aggregate_op error` rule is then
    /// what Go's error recovery finds first.
    aggregations: usize,
    /// How deep the expression grammar's recursion is (see `expr::MAX_DEPTH`).
    nesting: u32,
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8]) -> Self {
        Parser {
            input,
            lexer: Lexer::new(input),
            peeked: None,
            last_end: 0,
            aggregations: 0,
            nesting: 0,
        }
    }

    fn lex(&mut self) -> Result<Token, ParseError> {
        self.lexer
            .next_token()
            .map_err(|LexError { pos, msg }| parse_error(self.input, pos, &msg))
    }

    /// Consumes the next token.
    fn next(&mut self) -> Result<Token, ParseError> {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lex()?,
        };
        if t.kind != Kind::Eof {
            self.last_end = t.end;
        }
        Ok(t)
    }

    /// The next token, not consumed (Go's parser reading its lookahead).
    fn peek(&mut self) -> Result<Token, ParseError> {
        match self.peeked {
            Some(t) => Ok(t),
            None => {
                let t = self.lex()?;
                self.peeked = Some(t);
                Ok(t)
            }
        }
    }

    fn text(&self, t: Token) -> &'a [u8] {
        t.val(self.input)
    }

    fn text_str(&self, t: Token) -> String {
        String::from_utf8_lossy(t.val(self.input)).into_owned()
    }

    fn error_at(&self, pos: usize, msg: &str) -> ParseError {
        parse_error(self.input, pos, msg)
    }

    /// `p.unexpected(context, expected)` for the offending token `t`.
    fn unexpected(&self, t: Token, context: &str, expected: &str) -> ParseError {
        let mut msg = format!("unexpected {}", t.desc(self.input));
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        self.error_at(t.pos, &msg)
    }

    /// A syntax error with no rule of its own: the enclosing aggregation's, or the top level's.
    fn unexpected_here(&self, t: Token) -> ParseError {
        if self.aggregations > 0 {
            self.unexpected(t, "aggregation", "")
        } else {
            self.unexpected(t, "", "")
        }
    }
}

#[cfg(test)]
mod tests;
