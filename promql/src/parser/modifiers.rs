//! The postfix modifiers of `generated_parser.y`: `[range]` (`matrix_selector`),
//! `[range:step]` (`subquery_expr`), `offset` (`offset_expr`, `addOffset`) and `@`
//! (`step_invariant_expr`, `setTimestamp`), with their error rules and grammar-action errors.

use super::ParseError;
use super::check::{self, Node};
use super::lexer::Kind;
use crate::ast::{AtModifier, Expr, UnaryOp};

impl super::Parser<'_> {
    /// `matrix_selector` or `subquery_expr` after `node`; `[` is next.
    pub(super) fn range_or_subquery(&mut self, node: Node) -> Result<Node, ParseError> {
        let open = self.next()?;
        let t = self.next()?;
        if t.kind != Kind::Duration {
            return Err(self.unexpected(t, "subquery selector", "duration"));
        }
        let range_ms = self.duration(t)?;
        let t = self.next()?;
        match t.kind {
            Kind::RightBracket => {
                let msg = match &node.expr {
                    Expr::Vector(vs) if vs.offset_ms != 0 => {
                        Some("no offset modifiers allowed before range")
                    }
                    // Go checks only `vs.Timestamp`: `foo @ start() [5m]` is accepted.
                    Expr::Vector(vs) if matches!(vs.at, Some(AtModifier::Timestamp(_))) => {
                        Some("no @ modifiers allowed before range")
                    }
                    Expr::Vector(_) => None,
                    _ => Some("ranges only allowed for vector selectors"),
                };
                if let Some(msg) = msg {
                    return Err(self.error_at(open.pos, msg));
                }
                Ok(check::matrix(node, range_ms, t.end))
            }
            Kind::Colon => {
                let t = self.next()?;
                let step_ms = match t.kind {
                    Kind::RightBracket => None,
                    Kind::Duration => {
                        let step = self.duration(t)?;
                        let close = self.next()?;
                        if close.kind != Kind::RightBracket {
                            return Err(self.unexpected(close, "subquery selector", "\"]\""));
                        }
                        Some(step)
                    }
                    _ => {
                        return Err(self.unexpected(t, "subquery selector", "duration or \"]\""));
                    }
                };
                Ok(check::subquery(node, range_ms, step_ms, self.last_end))
            }
            _ => Err(self.unexpected(t, "subquery or range", "\":\" or \"]\"")),
        }
    }

    /// `offset_expr` after `node`; `offset` is next.
    pub(super) fn offset(&mut self, mut node: Node) -> Result<Node, ParseError> {
        self.next()?;
        let t = self.next()?;
        let (negative, d) = match t.kind {
            Kind::Duration => (false, t),
            _ if self.is_sign(t) == Some(UnaryOp::Neg) => {
                let d = self.next()?;
                if d.kind != Kind::Duration {
                    return Err(self.unexpected(d, "offset", "duration"));
                }
                (true, d)
            }
            _ => return Err(self.unexpected(t, "offset", "duration")),
        };
        let ms = self.duration(d)?;
        let ms = if negative { -ms } else { ms };
        let slot = match &mut node.expr {
            Expr::Vector(vs) => &mut vs.offset_ms,
            Expr::Matrix(m) => &mut m.vs.offset_ms,
            Expr::Subquery(s) => &mut s.offset_ms,
            _ => {
                return Err(self.error_at(
                    node.start,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ));
            }
        };
        if *slot != 0 {
            return Err(self.error_at(node.start, "offset may not be set multiple times"));
        }
        *slot = ms;
        node.end = self.last_end;
        Ok(node)
    }

    /// `step_invariant_expr` after `node`; `@` is next.
    pub(super) fn at(&mut self, mut node: Node) -> Result<Node, ParseError> {
        const CONTEXT: &str = "@";
        const EXPECTED: &str = "timestamp";
        self.next()?;
        let t = self.next()?;
        let at = if t.kind == Kind::Number {
            self.timestamp(&node, self.number(t)?)?
        } else if let Some(sign) = self.is_sign(t) {
            let n = self.next()?;
            if n.kind != Kind::Number {
                return Err(self.unexpected(n, CONTEXT, EXPECTED));
            }
            let v = self.number(n)?;
            self.timestamp(&node, if sign == UnaryOp::Neg { -v } else { v })?
        } else if t.kind == Kind::Preprocessor {
            for want in [Kind::LeftParen, Kind::RightParen] {
                let p = self.next()?;
                if p.kind != want {
                    return Err(self.unexpected(p, CONTEXT, EXPECTED));
                }
            }
            if self.text(t).eq_ignore_ascii_case(b"start") {
                AtModifier::Start
            } else {
                AtModifier::End
            }
        } else {
            return Err(self.unexpected(t, CONTEXT, EXPECTED));
        };
        let slot = match &mut node.expr {
            Expr::Vector(vs) => &mut vs.at,
            Expr::Matrix(m) => &mut m.vs.at,
            Expr::Subquery(s) => &mut s.at,
            _ => {
                return Err(self.error_at(
                    node.start,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                ));
            }
        };
        if slot.is_some() {
            return Err(self.error_at(node.start, "@ <timestamp> may not be set multiple times"));
        }
        *slot = Some(at);
        node.end = self.last_end;
        Ok(node)
    }

    /// `setTimestamp`'s bounds check and ms rounding (`timestamp.FromFloatSeconds`).
    fn timestamp(&self, node: &Node, ts: f64) -> Result<AtModifier, ParseError> {
        // float64(math.MaxInt64) and float64(math.MinInt64), as Go compares them.
        const MAX: f64 = 9_223_372_036_854_775_807.0;
        const MIN: f64 = -9_223_372_036_854_775_808.0;
        if !ts.is_finite() || ts >= MAX || ts <= MIN {
            let shown = if ts.is_nan() {
                "NaN".to_string()
            } else if ts.is_infinite() {
                if ts > 0.0 { "+Inf" } else { "-Inf" }.to_string()
            } else {
                format!("{ts:.6}")
            };
            let msg = format!("timestamp out of bounds for @ modifier: {shown}");
            return Err(self.error_at(node.start, &msg));
        }
        Ok(AtModifier::Timestamp((ts * 1000.0).round() as i64))
    }
}
