//! Building tree nodes with `checkAST`'s type checks (Prometheus 2.42 `parse.go`).
//!
//! Go type-checks the finished tree only when parsing found no error, and reports the first
//! error of its walk. Each [`Node`] carries the first error of that walk over its subtree,
//! computed bottom-up as the node is built, so no second pass is needed.

use fedstore_storage::METRIC_NAME_LABEL;

use super::functions::FunctionDef;
use super::quote::go_quote;
use crate::ast::{
    AggOp, AggregateExpr, BinOp, BinaryExpr, Call, Cardinality, Expr, MatrixSelector, SubqueryExpr,
    UnaryExpr, UnaryOp, ValueType, VectorMatching, VectorSelector,
};

/// A parsed expression with its byte range and the first type error inside it.
#[derive(Debug)]
pub(super) struct Node {
    pub expr: Expr,
    /// Byte offset of the first token (Go's `PositionRange().Start`).
    pub start: usize,
    /// Byte offset past the last token (Go's `PositionRange().End`).
    pub end: usize,
    /// `checkAST`'s first error in this subtree: position and message.
    pub check: Option<(usize, String)>,
    /// The expression's type, kept so no check walks the subtree again.
    pub vtype: ValueType,
    /// Levels of the tree under and including this node (see `MAX_DEPTH`).
    pub depth: u32,
}

/// `ValueType`'s own string (`vector`, `matrix`...), which one message prints undocumented.
fn raw_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
        ValueType::Vector => "vector",
        ValueType::Matrix => "matrix",
    }
}

/// `p.expectType`: the node's own errors first, then its type.
fn expect_type(node: &Node, want: ValueType, context: &str) -> Option<(usize, String)> {
    node.check.clone().or_else(|| {
        let got = node.vtype;
        (got != want).then(|| {
            let msg = format!(
                "expected type {} in {context}, got {}",
                want.as_str(),
                got.as_str()
            );
            (node.start, msg)
        })
    })
}

pub(super) fn vector_selector(vs: VectorSelector, start: usize, end: usize) -> Node {
    let check = match &vs.name {
        Some(name) => {
            let earlier = &vs.matchers[..vs.matchers.len() - 1];
            earlier
                .iter()
                .find(|m| m.name == METRIC_NAME_LABEL)
                .map(|m| {
                    let msg = format!(
                        "metric name must not be set twice: {} or {}",
                        go_quote(name.as_bytes()),
                        go_quote(m.value.as_bytes())
                    );
                    (start, msg)
                })
        }
        None => (!vs.matchers.iter().any(|m| !m.matches(""))).then(|| {
            let msg = "vector selector must contain at least one non-empty matcher";
            (start, msg.to_string())
        }),
    };
    Node {
        expr: Expr::Vector(vs),
        start,
        end,
        check,
        vtype: ValueType::Vector,
        depth: 1,
    }
}

/// A range selector over `node`, which the caller has checked is a plain selector.
pub(super) fn matrix(node: Node, range_ms: i64, end: usize) -> Node {
    let Expr::Vector(vs) = node.expr else {
        unreachable!("matrix() is called on vector selectors only");
    };
    Node {
        expr: Expr::Matrix(MatrixSelector { vs, range_ms }),
        start: node.start,
        end,
        check: node.check,
        vtype: ValueType::Matrix,
        depth: node.depth + 1,
    }
}

pub(super) fn subquery(node: Node, range_ms: i64, step_ms: Option<i64>, end: usize) -> Node {
    let check = node.check.clone().or_else(|| {
        let t = node.vtype;
        (t != ValueType::Vector).then(|| {
            let msg = format!(
                "subquery is only allowed on instant vector, got {} instead",
                raw_name(t)
            );
            (node.start, msg)
        })
    });
    Node {
        expr: Expr::Subquery(SubqueryExpr {
            expr: Box::new(node.expr),
            range_ms,
            step_ms,
            offset_ms: 0,
            at: None,
        }),
        start: node.start,
        end,
        check,
        vtype: ValueType::Matrix,
        depth: node.depth + 1,
    }
}

pub(super) fn unary(start: usize, op: UnaryOp, operand: Node) -> Node {
    let check = operand.check.clone().or_else(|| {
        let t = operand.vtype;
        (t != ValueType::Scalar && t != ValueType::Vector).then(|| {
            let msg = format!(
                "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                go_quote(t.as_str().as_bytes())
            );
            (start, msg)
        })
    });
    Node {
        expr: Expr::Unary(UnaryExpr {
            op,
            expr: Box::new(operand.expr),
        }),
        start,
        end: operand.end,
        check,
        vtype: operand.vtype,
        depth: operand.depth + 1,
    }
}

pub(super) fn call(def: &FunctionDef, args: Vec<Node>, start: usize, end: usize) -> Node {
    let name = go_quote(def.name.as_bytes());
    let nargs = def.arg_types.len();
    let got = args.len();
    let count = if def.variadic == 0 {
        (nargs != got).then(|| format!("expected {nargs} argument(s) in call to {name}, got {got}"))
    } else {
        let min = nargs - 1;
        let max = min + def.variadic.max(0) as usize;
        if min > got {
            Some(format!(
                "expected at least {min} argument(s) in call to {name}, got {got}"
            ))
        } else if def.variadic > 0 && max < got {
            Some(format!(
                "expected at most {max} argument(s) in call to {name}, got {got}"
            ))
        } else {
            None
        }
    };
    let mut check = count.map(|m| (start, m));
    if check.is_none() {
        let context = format!("call to function {name}");
        for (i, arg) in args.iter().enumerate() {
            let want = match def.arg_types.get(i) {
                Some(t) => *t,
                None if def.variadic == 0 => break,
                None => def.arg_types[nargs - 1],
            };
            check = expect_type(arg, want, &context);
            if check.is_some() {
                break;
            }
        }
    }
    let depth = 1 + args.iter().map(|a| a.depth).max().unwrap_or(0);
    Node {
        vtype: def.return_type,
        depth,
        expr: Expr::Call(Call {
            func: def.name.to_string(),
            args: args.into_iter().map(|a| a.expr).collect(),
        }),
        start,
        end,
        check,
    }
}

pub(super) fn aggregate(
    op: AggOp,
    mut args: Vec<Node>,
    grouping: Vec<String>,
    without: bool,
    start: usize,
    end: usize,
) -> Node {
    let expr = args.pop().expect("the parser checked the argument count");
    let param = args.pop();
    let mut check = expect_type(&expr, ValueType::Vector, "aggregation expression");
    if check.is_none() {
        let want = match op {
            AggOp::Topk | AggOp::Bottomk | AggOp::Quantile => Some(ValueType::Scalar),
            AggOp::CountValues => Some(ValueType::String),
            _ => None,
        };
        if let (Some(want), Some(p)) = (want, &param) {
            check = expect_type(p, want, "aggregation parameter");
        }
    }
    let depth = 1 + expr.depth.max(param.as_ref().map_or(0, |p| p.depth));
    Node {
        vtype: ValueType::Vector,
        depth,
        expr: Expr::Aggregate(AggregateExpr {
            op,
            expr: Box::new(expr.expr),
            param: param.map(|p| Box::new(p.expr)),
            grouping,
            without,
        }),
        start,
        end,
        check,
    }
}

/// A binary expression; applies `checkAST`'s changes to the matching (set operators are
/// many-to-many, no matching unless both sides are instant vectors).
pub(super) fn binary(
    input: &[u8],
    op: BinOp,
    lhs: Node,
    rhs: Node,
    return_bool: bool,
    mut vm: VectorMatching,
) -> Node {
    let lt = lhs.vtype;
    let rt = rhs.vtype;
    let start = lhs.start;
    let mut own = None;
    // Go's opRange: the operator's start, found by skipping spaces after the left operand.
    let op_pos = || {
        let mut i = lhs.end;
        while i < input.len() && matches!(input[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    };
    let mut add = |pos: usize, msg: String| {
        if own.is_none() {
            own = Some((pos, msg));
        }
    };
    if return_bool && !op.is_comparison() {
        add(
            op_pos(),
            "bool modifier can only be used on comparison operators".into(),
        );
    }
    if op.is_comparison() && !return_bool && lt == ValueType::Scalar && rt == ValueType::Scalar {
        add(
            op_pos(),
            "comparisons between scalars must use BOOL modifier".into(),
        );
    }
    if op.is_set() && vm.card == Cardinality::OneToOne {
        vm.card = Cardinality::ManyToMany;
    }
    if vm.on {
        for l1 in &vm.labels {
            if vm.include.contains(l1) {
                let msg = format!(
                    "label {} must not occur in ON and GROUP clause at once",
                    go_quote(l1.as_bytes())
                );
                add(op_pos(), msg);
            }
        }
    }
    let operand_ok = |t: ValueType| t == ValueType::Scalar || t == ValueType::Vector;
    let types_msg = "binary expression must contain only scalar and instant vector types";
    if !operand_ok(lt) {
        add(lhs.start, types_msg.into());
    }
    if !operand_ok(rt) {
        add(rhs.start, types_msg.into());
    }
    let op_q = go_quote(op.as_str().as_bytes());
    let matching = if lt != ValueType::Vector || rt != ValueType::Vector {
        if !vm.labels.is_empty() {
            add(
                start,
                "vector matching only allowed between instant vectors".into(),
            );
        }
        None
    } else {
        if op.is_set() {
            if matches!(vm.card, Cardinality::OneToMany | Cardinality::ManyToOne) {
                add(start, format!("no grouping allowed for {op_q} operation"));
            }
            if vm.card != Cardinality::ManyToMany {
                add(start, "set operations must always be many-to-many".into());
            }
        }
        Some(vm)
    };
    if (lt == ValueType::Scalar || rt == ValueType::Scalar) && op.is_set() {
        add(
            start,
            format!("set operator {op_q} not allowed in binary scalar expression"),
        );
    }
    let check = lhs.check.or(rhs.check).or(own);
    let vtype = if lt == ValueType::Scalar && rt == ValueType::Scalar {
        ValueType::Scalar
    } else {
        ValueType::Vector
    };
    Node {
        vtype,
        depth: 1 + lhs.depth.max(rhs.depth),
        expr: Expr::Binary(BinaryExpr {
            op,
            lhs: Box::new(lhs.expr),
            rhs: Box::new(rhs.expr),
            return_bool,
            matching,
        }),
        start,
        end: rhs.end,
        check,
    }
}
