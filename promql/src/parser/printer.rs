//! `Expr`'s `Display`: Prometheus 2.42's `expr.String()` (`promql/parser/printer.go`), the
//! canonical text used for rule `query` fields and by `format_query` for short expressions.

use std::fmt::{self, Display, Formatter, Write};

use fedstore_storage::{METRIC_NAME_LABEL, MatchOp};

use super::duration::format_duration;
use super::number::format_go_float;
use super::quote::go_quote;
use crate::ast::{
    AggregateExpr, AtModifier, BinaryExpr, Call, Cardinality, Expr, MatrixSelector, SubqueryExpr,
    VectorSelector,
};

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(v) => f.write_str(&format_go_float(*v)),
            Expr::String(s) => f.write_str(&go_quote(s.as_bytes())),
            Expr::Vector(vs) => write_selector(f, vs, true),
            Expr::Matrix(m) => write_matrix(f, m),
            Expr::Subquery(s) => {
                write!(f, "{}", s.expr)?;
                f.write_str(&subquery_suffix(s))
            }
            Expr::Paren(e) => write!(f, "({e})"),
            Expr::Unary(u) => {
                let op = match u.op {
                    crate::ast::UnaryOp::Neg => "-",
                    crate::ast::UnaryOp::Plus => "+",
                };
                write!(f, "{op}{}", u.expr)
            }
            Expr::Binary(b) => write!(
                f,
                "{} {}{}{} {}",
                b.lhs,
                b.op.as_str(),
                if b.return_bool { " bool" } else { "" },
                matching_str(b),
                b.rhs
            ),
            Expr::Aggregate(a) => {
                f.write_str(&agg_op_str(a))?;
                f.write_char('(')?;
                if let Some(p) = &a.param {
                    write!(f, "{p}, ")?;
                }
                write!(f, "{})", a.expr)
            }
            Expr::Call(c) => write_call(f, c),
        }
    }
}

fn write_call(f: &mut Formatter<'_>, c: &Call) -> fmt::Result {
    write!(f, "{}(", c.func)?;
    for (i, a) in c.args.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{a}")?;
    }
    f.write_char(')')
}

/// `getAggOpStr`: `sum`, `sum by (a) `, `sum without (a) ` (with the trailing space).
pub(super) fn agg_op_str(a: &AggregateExpr) -> String {
    let mut s = a.op.as_str().to_string();
    if a.without {
        s.push_str(&format!(" without ({}) ", a.grouping.join(", ")));
    } else if !a.grouping.is_empty() {
        s.push_str(&format!(" by ({}) ", a.grouping.join(", ")));
    }
    s
}

/// `getMatchingStr`: ` on (a)`, ` ignoring (a) group_left (b)`, or nothing.
pub(super) fn matching_str(b: &BinaryExpr) -> String {
    let Some(vm) = &b.matching else {
        return String::new();
    };
    if vm.labels.is_empty() && !vm.on {
        return String::new();
    }
    let tag = if vm.on { "on" } else { "ignoring" };
    let mut s = format!(" {tag} ({})", vm.labels.join(", "));
    match vm.card {
        Cardinality::ManyToOne => s.push_str(&format!(" group_left ({})", vm.include.join(", "))),
        Cardinality::OneToMany => s.push_str(&format!(" group_right ({})", vm.include.join(", "))),
        _ => {}
    }
    s
}

fn offset_str(offset_ms: i64) -> String {
    match offset_ms {
        0 => String::new(),
        o if o > 0 => format!(" offset {}", format_duration(o)),
        o => format!(" offset -{}", format_duration(-o)),
    }
}

fn at_str(at: Option<AtModifier>) -> String {
    match at {
        None => String::new(),
        Some(AtModifier::Timestamp(ms)) => format!(" @ {:.3}", ms as f64 / 1000.0),
        Some(AtModifier::Start) => " @ start()".into(),
        Some(AtModifier::End) => " @ end()".into(),
    }
}

fn write_selector(f: &mut Formatter<'_>, vs: &VectorSelector, modifiers: bool) -> fmt::Result {
    let name = vs.name.as_deref().unwrap_or("");
    let mut labels: Vec<String> = vs
        .matchers
        .iter()
        .filter(|m| !(m.name == METRIC_NAME_LABEL && m.op == MatchOp::Equal && m.value == name))
        .map(|m| m.to_string())
        .collect();
    f.write_str(name)?;
    if !labels.is_empty() {
        labels.sort();
        write!(f, "{{{}}}", labels.join(","))?;
    }
    if modifiers {
        f.write_str(&at_str(vs.at))?;
        f.write_str(&offset_str(vs.offset_ms))?;
    }
    Ok(())
}

fn write_matrix(f: &mut Formatter<'_>, m: &MatrixSelector) -> fmt::Result {
    write_selector(f, &m.vs, false)?;
    write!(
        f,
        "[{}]{}{}",
        format_duration(m.range_ms),
        at_str(m.vs.at),
        offset_str(m.vs.offset_ms)
    )
}

/// `getSubqueryTimeSuffix`: `[5m:1m] @ 10.000 offset 1m`.
pub(super) fn subquery_suffix(s: &SubqueryExpr) -> String {
    let step = s.step_ms.map(format_duration).unwrap_or_default();
    format!(
        "[{}:{}]{}{}",
        format_duration(s.range_ms),
        step,
        at_str(s.at),
        offset_str(s.offset_ms)
    )
}
