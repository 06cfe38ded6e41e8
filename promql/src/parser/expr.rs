//! The expression grammar of `generated_parser.y`: precedence climbing for binary operators,
//! unary operators at the precedence of `*`, and the postfix modifiers `[range]`,
//! `[range:step]`, `offset` and `@`, which bind to the nearest operand as Go's shift choices do.
//!
//! Error order follows the yacc parser: an error of a grammar action is raised when the rule
//! is reduced, which for most rules is before the next token is read (so before that token's
//! lexer error), and for `sum(...)` without a modifier after it.

use fedstore_storage::{METRIC_NAME_LABEL, MatchOp, Matcher};

use super::check::{self, Node};
use super::duration::parse_duration;
use super::lexer::{Kind, Token};
use super::number::parse_number;
use super::quote::{go_quote, unquote};
use super::{ParseError, Parser, functions};
use crate::ast::{
    AggOp, BinOp, Cardinality, Expr, UnaryOp, ValueType, VectorMatching, VectorSelector,
};

/// Parses a whole expression (`START_EXPRESSION expr EOF`) and type-checks it.
pub(super) fn parse(input: &[u8]) -> Result<Expr, ParseError> {
    let mut p = Parser::new(input);
    let t = p.peek()?;
    if t.kind == Kind::Eof {
        return Err(p.error_at(0, "no expression found in input"));
    }
    let node = p.expr(0)?;
    let t = p.next()?;
    if t.kind != Kind::Eof {
        return Err(p.unexpected_here(t));
    }
    if let Some((pos, msg)) = node.check {
        return Err(p.error_at(pos, &msg));
    }
    Ok(node.expr)
}

/// Binding power of a binary operator (`%left`/`%right` order in the grammar).
fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 1,
        BinOp::And | BinOp::Unless => 2,
        BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte => 3,
        BinOp::Add | BinOp::Sub => 4,
        BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Atan2 => 5,
        BinOp::Pow => 6,
    }
}

/// The deepest expression tree accepted, and the deepest nesting of the parser's own recursion.
/// Prometheus has no limit (Go stacks grow); every walk of our tree (printing, dropping,
/// evaluation) recurses, so a deeper query is refused rather than allowed to overflow a
/// thread's stack and abort the server. Real queries nest a few dozen levels; at the limit a
/// release build parses in about 0.5 MB of stack (1,088 levels fit in 2 MiB).
pub(super) const MAX_DEPTH: u32 = 256;

/// The precedence of unary `+`/`-` (`%prec MUL`): only `^` binds tighter.
const UNARY_OPERAND_PRECEDENCE: u8 = 6;

/// Go's `isLabel`.
fn is_label(s: &[u8]) -> bool {
    match s.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphabetic() || *first == b'_')
                && rest.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        }
        None => false,
    }
}

impl Parser<'_> {
    fn is_word(&self, t: Token, kind: Kind, word: &str) -> bool {
        t.kind == kind && self.text(t).eq_ignore_ascii_case(word.as_bytes())
    }

    pub(super) fn is_keyword(&self, t: Token, word: &str) -> bool {
        self.is_word(t, Kind::Keyword, word)
    }

    pub(super) fn is_sign(&self, t: Token) -> Option<UnaryOp> {
        match (t.kind, self.text(t)) {
            (Kind::Op, b"+") => Some(UnaryOp::Plus),
            (Kind::Op, b"-") => Some(UnaryOp::Neg),
            _ => None,
        }
    }

    fn binop(&self, t: Token) -> Option<BinOp> {
        if t.kind == Kind::Neq {
            return Some(BinOp::Neq);
        }
        if t.kind != Kind::Op {
            return None;
        }
        let w = self.text(t).to_ascii_lowercase();
        Some(match w.as_slice() {
            b"+" => BinOp::Add,
            b"-" => BinOp::Sub,
            b"*" => BinOp::Mul,
            b"/" => BinOp::Div,
            b"%" => BinOp::Mod,
            b"^" => BinOp::Pow,
            b"atan2" => BinOp::Atan2,
            b"==" => BinOp::Eql,
            b">" => BinOp::Gtr,
            b"<" => BinOp::Lss,
            b">=" => BinOp::Gte,
            b"<=" => BinOp::Lte,
            b"and" => BinOp::And,
            b"or" => BinOp::Or,
            b"unless" => BinOp::Unless,
            _ => return None,
        })
    }

    fn aggop(&self, t: Token) -> Option<AggOp> {
        if t.kind != Kind::Aggr {
            return None;
        }
        let w = self.text(t).to_ascii_lowercase();
        Some(match w.as_slice() {
            b"sum" => AggOp::Sum,
            b"avg" => AggOp::Avg,
            b"min" => AggOp::Min,
            b"max" => AggOp::Max,
            b"count" => AggOp::Count,
            b"group" => AggOp::Group,
            b"stddev" => AggOp::Stddev,
            b"stdvar" => AggOp::Stdvar,
            b"topk" => AggOp::Topk,
            b"bottomk" => AggOp::Bottomk,
            b"quantile" => AggOp::Quantile,
            b"count_values" => AggOp::CountValues,
            _ => return None,
        })
    }

    /// Whether `t` can begin an expression (the tokens the grammar shifts there).
    pub(super) fn starts_expr(&self, t: Token) -> bool {
        matches!(
            t.kind,
            Kind::Number | Kind::Str | Kind::LeftBrace | Kind::LeftParen | Kind::MetricIdent
        ) || t.is_metric_name
            || self.is_sign(t).is_some()
    }

    /// `maybe_label`: identifiers and every keyword but `without`.
    fn is_maybe_label(&self, t: Token) -> bool {
        match t.kind {
            Kind::Ident | Kind::MetricIdent | Kind::Aggr | Kind::Preprocessor => true,
            Kind::Keyword => !self.is_keyword(t, "without"),
            Kind::Op => self.text(t)[0].is_ascii_alphabetic(),
            _ => false,
        }
    }

    /// `expr` with operators of at least `min_prec`.
    pub(super) fn expr(&mut self, min_prec: u8) -> Result<Node, ParseError> {
        self.nesting += 1;
        let r = self.expr_nested(min_prec);
        self.nesting -= 1;
        r
    }

    /// Refuses a tree deeper than [`MAX_DEPTH`] (a fedstore limit, see there).
    pub(super) fn check_depth(&self, depth: u32, pos: usize) -> Result<(), ParseError> {
        if depth > MAX_DEPTH || self.nesting > MAX_DEPTH {
            let msg = format!("expression nests more than {MAX_DEPTH} levels deep");
            return Err(self.error_at(pos, &msg));
        }
        Ok(())
    }

    fn expr_nested(&mut self, min_prec: u8) -> Result<Node, ParseError> {
        let t = self.peek()?;
        self.check_depth(0, t.pos)?;
        let mut lhs = self.unary()?;
        loop {
            let t = self.peek()?;
            let Some(op) = self.binop(t) else {
                return Ok(lhs);
            };
            let prec = precedence(op);
            if prec < min_prec {
                return Ok(lhs);
            }
            self.next()?;
            let (return_bool, matching) = self.bin_modifiers()?;
            let rhs_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs = self.expr(rhs_min)?;
            lhs = check::binary(self.input, op, lhs, rhs, return_bool, matching);
            self.check_depth(lhs.depth, lhs.start)?;
        }
    }

    /// `bool`, `on`/`ignoring (..)`, `group_left`/`group_right [(..)]`.
    fn bin_modifiers(&mut self) -> Result<(bool, VectorMatching), ParseError> {
        let mut return_bool = false;
        let t = self.peek()?;
        if self.is_keyword(t, "bool") {
            self.next()?;
            return_bool = true;
        }
        let mut vm = VectorMatching {
            card: Cardinality::OneToOne,
            labels: Vec::new(),
            on: false,
            include: Vec::new(),
        };
        let t = self.peek()?;
        let on = self.is_keyword(t, "on");
        if on || self.is_keyword(t, "ignoring") {
            self.next()?;
            vm.on = on;
            vm.labels = self.grouping_labels()?;
            let t = self.peek()?;
            let left = self.is_keyword(t, "group_left");
            if left || self.is_keyword(t, "group_right") {
                self.next()?;
                vm.card = if left {
                    Cardinality::ManyToOne
                } else {
                    Cardinality::OneToMany
                };
                // Go shifts a `(` here rather than ending the modifier: it is the label list.
                // This state has an `error` rule, so yacc takes no default reduction: a token
                // that cannot start the right operand is an error here.
                let n = self.peek()?;
                if n.kind == Kind::LeftParen {
                    vm.include = self.grouping_labels()?;
                } else if !self.starts_expr(n) {
                    self.next()?;
                    return Err(self.unexpected(n, "grouping opts", "\"(\""));
                }
            }
        }
        Ok((return_bool, vm))
    }

    /// `grouping_labels`: `(a, b, ...)`.
    fn grouping_labels(&mut self) -> Result<Vec<String>, ParseError> {
        const CONTEXT: &str = "grouping opts";
        let t = self.next()?;
        if t.kind != Kind::LeftParen {
            return Err(self.unexpected(t, CONTEXT, "\"(\""));
        }
        let mut labels = Vec::new();
        let mut t = self.next()?;
        if t.kind == Kind::RightParen {
            return Ok(labels);
        }
        loop {
            if !self.is_maybe_label(t) || !is_label(self.text(t)) {
                return Err(self.unexpected(t, CONTEXT, "label"));
            }
            labels.push(self.text_str(t));
            let sep = self.next()?;
            match sep.kind {
                Kind::RightParen => return Ok(labels),
                Kind::Comma => {
                    t = self.next()?;
                    if t.kind == Kind::RightParen {
                        return Ok(labels);
                    }
                }
                _ => return Err(self.unexpected(sep, CONTEXT, "\",\" or \")\"")),
            }
        }
    }

    /// `unary_expr` or an operand with its postfix modifiers.
    fn unary(&mut self) -> Result<Node, ParseError> {
        let t = self.peek()?;
        let Some(op) = self.is_sign(t) else {
            return self.postfix();
        };
        self.next()?;
        let operand = self.expr(UNARY_OPERAND_PRECEDENCE)?;
        // A number literal absorbs the sign (`-1` is a literal, `-(1)` is not).
        if let Expr::Number(v) = operand.expr {
            let v = if op == UnaryOp::Neg { -v } else { v };
            return Ok(Node {
                expr: Expr::Number(v),
                start: t.pos,
                end: operand.end,
                check: None,
                vtype: ValueType::Scalar,
                depth: 1,
            });
        }
        Ok(check::unary(t.pos, op, operand))
    }

    /// An operand followed by any `[..]`, `offset` and `@` modifiers.
    fn postfix(&mut self) -> Result<Node, ParseError> {
        let mut node = self.primary()?;
        loop {
            let t = self.peek()?;
            node = match t.kind {
                Kind::LeftBracket => self.range_or_subquery(node)?,
                Kind::Keyword if self.is_keyword(t, "offset") => self.offset(node)?,
                Kind::At => self.at(node)?,
                _ => return Ok(node),
            };
            self.check_depth(node.depth, node.start)?;
        }
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        let t = self.peek()?;
        match t.kind {
            Kind::Number => {
                self.next()?;
                let v = self.number(t)?;
                Ok(Node::leaf(Expr::Number(v), t))
            }
            Kind::Str => {
                self.next()?;
                let raw = self.text(t);
                let value = unquote(raw).map_err(|e| {
                    let msg = format!("error unquoting string {}: {e}", go_quote(raw));
                    self.error_at(t.pos, &msg)
                })?;
                let s = String::from_utf8_lossy(&value).into_owned();
                Ok(Node::leaf(Expr::String(s), t))
            }
            Kind::LeftParen => {
                self.next()?;
                let inner = self.expr(0)?;
                let close = self.next()?;
                if close.kind != Kind::RightParen {
                    return Err(self.unexpected_here(close));
                }
                Ok(Node {
                    start: t.pos,
                    end: close.end,
                    check: inner.check,
                    vtype: inner.vtype,
                    depth: inner.depth + 1,
                    expr: Expr::Paren(Box::new(inner.expr)),
                })
            }
            Kind::LeftBrace => self.selector(None),
            Kind::Ident => {
                self.next()?;
                if self.peek()?.kind == Kind::LeftParen {
                    self.call(t)
                } else {
                    self.selector(Some(t))
                }
            }
            Kind::Aggr => {
                self.next()?;
                let n = self.peek()?;
                if n.kind == Kind::LeftParen
                    || self.is_keyword(n, "by")
                    || self.is_keyword(n, "without")
                {
                    self.aggregate(t)
                } else {
                    self.selector(Some(t))
                }
            }
            _ if t.is_metric_name => {
                self.next()?;
                self.selector(Some(t))
            }
            _ => {
                self.next()?;
                Err(self.unexpected_here(t))
            }
        }
    }

    /// `p.number`: the value of a NUMBER token.
    pub(super) fn number(&self, t: Token) -> Result<f64, ParseError> {
        let text = String::from_utf8_lossy(self.text(t));
        parse_number(&text).map_err(|e| self.error_at(t.pos, &format!("error parsing number: {e}")))
    }

    /// `parseDuration` of a DURATION token, in ms.
    pub(super) fn duration(&self, t: Token) -> Result<i64, ParseError> {
        let text = String::from_utf8_lossy(self.text(t));
        match parse_duration(&text) {
            Ok(0) => Err(self.error_at(t.pos, "duration must be greater than 0")),
            Ok(ms) => Ok(ms),
            Err(e) => Err(self.error_at(t.pos, &e)),
        }
    }

    /// `vector_selector`: the name (already consumed) and an optional `{...}`.
    fn selector(&mut self, name: Option<Token>) -> Result<Node, ParseError> {
        let mut matchers = Vec::new();
        let mut start = name.map(|t| t.pos);
        if self.peek()?.kind == Kind::LeftBrace {
            let brace = self.next()?;
            start.get_or_insert(brace.pos);
            matchers = self.label_matchers()?;
        }
        let name = name.map(|t| self.text_str(t));
        if let Some(n) = &name {
            let m = Matcher::new(MatchOp::Equal, METRIC_NAME_LABEL, n.clone())
                .expect("an equality matcher always compiles");
            matchers.push(m);
        }
        let vs = VectorSelector {
            name,
            matchers,
            offset_ms: 0,
            at: None,
        };
        let start = start.expect("a selector has a name or a brace");
        Ok(check::vector_selector(vs, start, self.last_end))
    }

    /// `function_call`: the name is consumed, `(` is next.
    fn call(&mut self, name: Token) -> Result<Node, ParseError> {
        let args = self.call_body()?;
        let fname = self.text_str(name);
        let Some(def) = functions::lookup(&fname) else {
            let msg = format!("unknown function with name {}", go_quote(fname.as_bytes()));
            return Err(self.error_at(name.pos, &msg));
        };
        Ok(check::call(def, args, name.pos, self.last_end))
    }

    /// `function_call_body`: `( args )`, for calls and aggregations.
    fn call_body(&mut self) -> Result<Vec<Node>, ParseError> {
        let open = self.next()?;
        if open.kind != Kind::LeftParen {
            return Err(self.unexpected_here(open));
        }
        let mut args = Vec::new();
        if self.peek()?.kind == Kind::RightParen {
            self.next()?;
            return Ok(args);
        }
        loop {
            args.push(self.expr(0)?);
            let t = self.next()?;
            match t.kind {
                Kind::RightParen => return Ok(args),
                Kind::Comma => {
                    let n = self.peek()?;
                    if !self.starts_expr(n) {
                        return Err(self
                            .error_at(t.pos, "trailing commas not allowed in function call args"));
                    }
                }
                _ => return Err(self.unexpected_here(t)),
            }
        }
    }

    /// `aggregate_expr`; the operator is consumed.
    fn aggregate(&mut self, op_tok: Token) -> Result<Node, ParseError> {
        self.aggregations += 1;
        let r = self.aggregate_inner(op_tok);
        self.aggregations -= 1;
        r
    }

    fn aggregate_inner(&mut self, op_tok: Token) -> Result<Node, ParseError> {
        let op = self
            .aggop(op_tok)
            .expect("caller checked the aggregation keyword");
        let mut grouping = self.aggregate_modifier()?;
        let args = self.call_body()?;
        if grouping.is_none() {
            grouping = self.aggregate_modifier()?;
        }
        let (labels, without) = grouping.unwrap_or_default();
        let nargs = args.len();
        if nargs == 0 {
            return Err(self.error_at(op_tok.pos, "no arguments for aggregate expression provided"));
        }
        let want = if matches!(
            op,
            AggOp::Topk | AggOp::Bottomk | AggOp::Quantile | AggOp::CountValues
        ) {
            2
        } else {
            1
        };
        if nargs != want {
            let msg = format!(
                "wrong number of arguments for aggregate expression provided, expected {want}, got {nargs}"
            );
            return Err(self.error_at(op_tok.pos, &msg));
        }
        Ok(check::aggregate(
            op,
            args,
            labels,
            without,
            op_tok.pos,
            self.last_end,
        ))
    }

    /// An optional `by (..)` / `without (..)`.
    fn aggregate_modifier(&mut self) -> Result<Option<(Vec<String>, bool)>, ParseError> {
        let t = self.peek()?;
        let without = self.is_keyword(t, "without");
        if !without && !self.is_keyword(t, "by") {
            return Ok(None);
        }
        self.next()?;
        Ok(Some((self.grouping_labels()?, without)))
    }
}

impl Node {
    fn leaf(expr: Expr, t: Token) -> Node {
        Node {
            vtype: expr.value_type(),
            expr,
            start: t.pos,
            end: t.end,
            check: None,
            depth: 1,
        }
    }
}
