//! `pretty(expr)`: Prometheus 2.42's `expr.Pretty(0)` (`promql/parser/prettier.go`), what
//! `/api/v1/format_query` returns: an expression longer than 100 characters is split, one
//! operand or argument per line, indented by two spaces per level.

use super::printer::{agg_op_str, matching_str, subquery_suffix};
use crate::ast::{Expr, UnaryOp};

/// Go's `maxCharactersPerLine`.
const MAX_CHARACTERS_PER_LINE: usize = 100;

/// Formats `expr` as `format_query` does.
pub fn pretty(expr: &Expr) -> String {
    pretty_at(expr, 0)
}

fn indent(level: usize) -> String {
    "  ".repeat(level)
}

fn pretty_at(e: &Expr, level: usize) -> String {
    let flat = e.to_string();
    let split = flat.len() > MAX_CHARACTERS_PER_LINE;
    let ind = indent(level);
    match e {
        Expr::Aggregate(a) if split => {
            let mut s = format!("{ind}{}(\n", agg_op_str(a));
            if let Some(p) = &a.param {
                s.push_str(&pretty_at(p, level + 1));
                s.push_str(",\n");
            }
            s.push_str(&pretty_at(&a.expr, level + 1));
            s.push('\n');
            s.push_str(&ind);
            s.push(')');
            s
        }
        Expr::Binary(b) if split => format!(
            "{}\n{ind}{}{}{}\n{}",
            pretty_at(&b.lhs, level + 1),
            b.op.as_str(),
            if b.return_bool { " bool" } else { "" },
            matching_str(b),
            pretty_at(&b.rhs, level + 1)
        ),
        Expr::Call(c) if split => {
            let args: Vec<String> = c.args.iter().map(|a| pretty_at(a, level + 1)).collect();
            format!("{ind}{}(\n{}\n{ind})", c.func, args.join(",\n"))
        }
        Expr::Paren(inner) if split => {
            format!("{ind}(\n{}\n{ind})", pretty_at(inner, level + 1))
        }
        // Go prints an unsplit subquery without indentation.
        Expr::Subquery(_) if !split => flat,
        Expr::Subquery(s) => format!("{}{}", pretty_at(&s.expr, level), subquery_suffix(s)),
        Expr::Unary(u) => {
            let child = pretty_at(&u.expr, level);
            let op = if u.op == UnaryOp::Neg { "-" } else { "+" };
            format!("{ind}{op}{}", child.trim())
        }
        _ => format!("{ind}{flat}"),
    }
}
