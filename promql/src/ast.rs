//! The PromQL expression tree (Prometheus 2.42 `promql/parser/ast.go`).
//!
//! Times and durations are milliseconds. The tree is what the parser produced after its
//! checks (`checkAST`): types are consistent, so the engine may rely on them.

use fedstore_storage::Matcher;

/// The type an expression evaluates to (`parser.ValueType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// A float (`scalar`).
    Scalar,
    /// A string literal (`string`).
    String,
    /// An instant vector (`vector`).
    Vector,
    /// A range vector (`matrix`).
    Matrix,
}

impl ValueType {
    /// The name Prometheus uses in messages: `scalar`, `string`, `instant vector`,
    /// `range vector`.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Scalar => "scalar",
            ValueType::String => "string",
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
        }
    }
}

/// A PromQL expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A number literal, e.g. `1`, `0x10`, `Inf`.
    Number(f64),
    /// A string literal (unescaped).
    String(String),
    /// An instant-vector selector `name{matchers} offset o @ t`.
    Vector(VectorSelector),
    /// A range-vector selector `selector[range]` (offset and `@` live on the selector).
    Matrix(MatrixSelector),
    /// A subquery `expr[range:step] offset o @ t`.
    Subquery(SubqueryExpr),
    /// `( expr )`.
    Paren(Box<Expr>),
    /// `-expr` or `+expr`.
    Unary(UnaryExpr),
    /// `lhs op lhs` with its modifiers.
    Binary(BinaryExpr),
    /// `op by/without (labels) (param, expr)`.
    Aggregate(AggregateExpr),
    /// `func(args)`.
    Call(Call),
}

/// The `@` modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtModifier {
    /// `@ <seconds>`, rounded to ms.
    Timestamp(i64),
    /// `@ start()`: the query's start.
    Start,
    /// `@ end()`: the query's end.
    End,
}

/// An instant-vector selector.
#[derive(Debug, Clone)]
pub struct VectorSelector {
    /// The metric name as written before the braces, if any.
    pub name: Option<String>,
    /// All matchers, including `__name__="<name>"` when a name was written (source order,
    /// the name's matcher last, as `ParseMetricSelector` returns them).
    pub matchers: Vec<Matcher>,
    /// `offset` in ms (negative allowed), 0 when absent.
    pub offset_ms: i64,
    /// The `@` modifier, if any.
    pub at: Option<AtModifier>,
}

/// `selector[range]`.
#[derive(Debug, Clone)]
pub struct MatrixSelector {
    /// The selector, carrying offset and `@`.
    pub vs: VectorSelector,
    /// The range in ms (> 0).
    pub range_ms: i64,
}

/// `expr[range:step]`.
#[derive(Debug, Clone)]
pub struct SubqueryExpr {
    /// The inner expression (an instant vector).
    pub expr: Box<Expr>,
    /// The range in ms (> 0).
    pub range_ms: i64,
    /// The step in ms; `None` when omitted (the engine uses the evaluation interval).
    pub step_ms: Option<i64>,
    /// `offset` in ms, 0 when absent.
    pub offset_ms: i64,
    /// The `@` modifier, if any.
    pub at: Option<AtModifier>,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `+`
    Plus,
}

/// `-expr` / `+expr`.
#[derive(Debug, Clone)]
pub struct UnaryExpr {
    /// The operator.
    pub op: UnaryOp,
    /// The operand.
    pub expr: Box<Expr>,
}

/// Binary operators, in Prometheus's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `>`
    Gtr,
    /// `<`
    Lss,
    /// `>=`
    Gte,
    /// `<=`
    Lte,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Atan2 => "atan2",
            BinOp::Eql => "==",
            BinOp::Neq => "!=",
            BinOp::Gtr => ">",
            BinOp::Lss => "<",
            BinOp::Gte => ">=",
            BinOp::Lte => "<=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::Unless => "unless",
        }
    }

    /// `== != > < >= <=`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eql | BinOp::Neq | BinOp::Gtr | BinOp::Lss | BinOp::Gte | BinOp::Lte
        )
    }

    /// `and or unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
}

/// Matching cardinality (`parser.VectorMatchCardinality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// No group modifier.
    OneToOne,
    /// `group_left`.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// `on`/`ignoring` and `group_left`/`group_right` of a vector-vector operation.
#[derive(Debug, Clone)]
pub struct VectorMatching {
    /// The cardinality.
    pub card: Cardinality,
    /// The `on(...)`/`ignoring(...)` label names as written.
    pub labels: Vec<String>,
    /// `true` for `on`, `false` for `ignoring` (or no clause).
    pub on: bool,
    /// The `group_left(...)`/`group_right(...)` label names.
    pub include: Vec<String>,
}

/// `lhs op rhs`.
#[derive(Debug, Clone)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinOp,
    /// Left operand.
    pub lhs: Box<Expr>,
    /// Right operand.
    pub rhs: Box<Expr>,
    /// The `bool` modifier.
    pub return_bool: bool,
    /// Present when both sides are instant vectors.
    pub matching: Option<VectorMatching>,
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `count`
    Count,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk` (parameter k)
    Topk,
    /// `bottomk` (parameter k)
    Bottomk,
    /// `quantile` (parameter φ)
    Quantile,
    /// `count_values` (parameter: label name string)
    CountValues,
}

impl AggOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Avg => "avg",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::Count => "count",
            AggOp::Group => "group",
            AggOp::Stddev => "stddev",
            AggOp::Stdvar => "stdvar",
            AggOp::Topk => "topk",
            AggOp::Bottomk => "bottomk",
            AggOp::Quantile => "quantile",
            AggOp::CountValues => "count_values",
        }
    }
}

/// `op by/without (grouping) (param, expr)`.
#[derive(Debug, Clone)]
pub struct AggregateExpr {
    /// The operator.
    pub op: AggOp,
    /// The aggregated expression.
    pub expr: Box<Expr>,
    /// The parameter of `topk`, `bottomk`, `quantile`, `count_values`.
    pub param: Option<Box<Expr>>,
    /// The `by`/`without` label names as written.
    pub grouping: Vec<String>,
    /// `true` for `without`.
    pub without: bool,
}

/// A function call. `func` is the 2.42 function name (`rate`, `label_replace`, ...); the
/// parser has checked the argument count and types.
#[derive(Debug, Clone)]
pub struct Call {
    /// The function's name.
    pub func: String,
    /// The arguments.
    pub args: Vec<Expr>,
}

impl Expr {
    /// The type the expression evaluates to (Go's `Expr.Type()`).
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Number(_) => ValueType::Scalar,
            Expr::String(_) => ValueType::String,
            Expr::Vector(_) | Expr::Aggregate(_) => ValueType::Vector,
            Expr::Matrix(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Paren(e) => e.value_type(),
            Expr::Unary(u) => u.expr.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => crate::parser::functions::lookup(&c.func)
                .map_or(ValueType::Vector, |f| f.return_type),
        }
    }
}
