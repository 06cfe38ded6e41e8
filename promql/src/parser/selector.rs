//! The metric-selector parser: Prometheus 2.42 `parser.ParseMetricSelector` (grammar start
//! symbol `START_METRIC_SELECTOR vector_selector`, no `checkAST`).
//!
//! A hand-written recursive descent over the lazy [`Lexer`] that reports the first error at the
//! same token, with the same text, as the generated yacc parser and its `error` productions do.

use fedstore_storage::{METRIC_NAME_LABEL, MatchOp, Matcher};

use super::lexer::{Kind, Token};
use super::quote::{go_quote, unquote};
use super::{ParseError, Parser};

impl Parser<'_> {
    fn vector_selector(&mut self) -> Result<Vec<Matcher>, ParseError> {
        let mut t = self.next()?;
        let mut name = None;
        if t.is_metric_name {
            name = Some(t);
            t = self.next()?;
        }
        let mut matchers = Vec::new();
        if t.kind == Kind::LeftBrace {
            matchers = self.label_matchers()?;
            t = self.next()?;
        } else if name.is_none() {
            return Err(self.unexpected(t, "", ""));
        }
        if t.kind != Kind::Eof {
            return Err(self.unexpected(t, "", ""));
        }
        if let Some(n) = name {
            let value = String::from_utf8_lossy(n.val(self.input)).into_owned();
            let m = Matcher::new(MatchOp::Equal, METRIC_NAME_LABEL, value)
                .map_err(|e| self.error_at(n.pos, &e))?;
            matchers.push(m);
        }
        Ok(matchers)
    }

    /// The matchers after `{`, up to and including `}`.
    pub(super) fn label_matchers(&mut self) -> Result<Vec<Matcher>, ParseError> {
        const CONTEXT: &str = "label matching";
        let mut matchers = Vec::new();
        let mut t = self.next()?;
        if t.kind == Kind::RightBrace {
            return Ok(matchers);
        }
        loop {
            if t.kind != Kind::Ident {
                return Err(self.unexpected(t, CONTEXT, "identifier or \"}\""));
            }
            let label = t;
            t = self.next()?;
            let op = match t.kind {
                Kind::Eql => MatchOp::Equal,
                Kind::Neq => MatchOp::NotEqual,
                Kind::EqlRegex => MatchOp::Regex,
                Kind::NeqRegex => MatchOp::NotRegex,
                _ => return Err(self.unexpected(t, CONTEXT, "label matching operator")),
            };
            let value = self.next()?;
            if value.kind != Kind::Str {
                return Err(self.unexpected(value, CONTEXT, "string"));
            }
            // The grammar reduces `IDENTIFIER match_op STRING` before reading the next token,
            // so a bad regex is reported before any later syntax error.
            matchers.push(self.label_matcher(label, op, value)?);
            t = self.next()?;
            match t.kind {
                Kind::RightBrace => return Ok(matchers),
                Kind::Comma => {
                    t = self.next()?;
                    if t.kind == Kind::RightBrace {
                        return Ok(matchers);
                    }
                }
                _ => return Err(self.unexpected(t, CONTEXT, "\",\" or \"}\"")),
            }
        }
    }

    /// `newLabelMatcher`: unquote, compile; errors are reported at the label name.
    fn label_matcher(
        &self,
        label: Token,
        op: MatchOp,
        value: Token,
    ) -> Result<Matcher, ParseError> {
        let raw = value.val(self.input);
        let unquoted = unquote(raw).map_err(|e| {
            let msg = format!("error unquoting string {}: {e}", go_quote(raw));
            self.error_at(value.pos, &msg)
        })?;
        let name = String::from_utf8_lossy(label.val(self.input)).into_owned();
        Matcher::from_bytes(op, name, unquoted).map_err(|e| self.error_at(label.pos, &e))
    }
}

/// Parses a selector given as bytes (e.g. percent-decoded from a URL).
pub(crate) fn parse(input: &[u8]) -> Result<Vec<Matcher>, ParseError> {
    Parser::new(input).vector_selector()
}

#[cfg(test)]
mod tests;
