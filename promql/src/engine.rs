//! PromQL evaluation (Prometheus 2.42 `promql/engine.go`, `functions.go`): instant and range
//! queries over a [`Queryable`].
//!
//! Every node is evaluated at all steps at once, series by series (not step by step): a
//! selector reads each series once and computes its value at every step; functions,
//! aggregations and operators work on per-series step columns (`columns`). Selector and
//! range-function work is split between two threads in bounded batches (`parallel`).

mod aggregate;
mod binop;
mod columns;
mod date;
mod eval;
mod format;
mod functions;
mod histogram;
mod label_fns;
mod labels;
mod over_time;
mod parallel;
mod quantile;
mod rate;
mod selectors;
mod subquery;
#[cfg(test)]
mod tests;
mod topk;
mod windows;

use std::time::{Duration, Instant};

use crate::ast::{Expr, ValueType};
use crate::storage::Queryable;
use crate::value::{Sample, Series, Value};
use columns::{Val, is_absent};
use eval::Evaluator;

/// Engine settings (the `--query.*` flags).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `--query.lookback-delta` in ms (default 5m).
    pub lookback_ms: i64,
    /// `--query.max-samples` (default 50,000,000).
    pub max_samples: usize,
    /// `--query.timeout` (default 2m).
    pub timeout: Duration,
    /// Default subquery step in ms: the global `evaluation_interval` (default 1m).
    pub default_eval_interval_ms: i64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_eval_interval_ms: 60_000,
        }
    }
}

/// A query that failed while evaluating. `Display` is Prometheus's text; the variant picks
/// the API's `errorType`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// `execution` (422): matching errors, bad function arguments, too many samples, ...
    #[error("{0}")]
    Execution(String),
    /// `timeout` (503): `query timed out in <where>`.
    #[error("{0}")]
    Timeout(String),
    /// `canceled` (503).
    #[error("{0}")]
    Canceled(String),
    /// `internal` (500): storage errors.
    #[error("{0}")]
    Storage(String),
}

/// The PromQL engine; cheap to share between requests.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    /// An engine with `opts`.
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `expr` at `t_ms` (`/api/v1/query`). A vector's samples carry `t_ms`; a range
    /// vector comes back as a matrix of raw samples.
    pub fn instant(&self, q: &dyn Queryable, expr: &Expr, t_ms: i64) -> Result<Value, EvalError> {
        if is_parenthesised_string(expr) {
            // 2.42 wraps the step-invariant `("s")` in a `StepInvariantExpr` whose evaluation
            // only expects a matrix inside, and the query fails.
            return Err(EvalError::Execution(
                "unexpected result in StepInvariantExpr evaluation: *parser.StepInvariantExpr"
                    .into(),
            ));
        }
        let mut ev = self.evaluator(q, t_ms, t_ms, 1);
        Ok(match ev.eval(expr)? {
            Val::Scalar(s) => Value::Scalar { t_ms, v: s[0] },
            Val::Str(s) => Value::String { t_ms, s },
            Val::Vector(mut v) => {
                v.materialize();
                let samples = v
                    .labels
                    .into_iter()
                    .zip(v.vals)
                    .filter(|(_, x)| !is_absent(*x))
                    .map(|(labels, x)| Sample { labels, t_ms, v: x })
                    .collect();
                Value::Vector(samples)
            }
            Val::Matrix(m) => Value::Matrix(m),
        })
    }

    /// Evaluates `expr` (a scalar or instant vector) at `start_ms + k*step_ms <= end_ms`
    /// (`/api/v1/query_range`); the result is a matrix sorted by labels.
    pub fn range(
        &self,
        q: &dyn Queryable,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<Value, EvalError> {
        if step_ms <= 0 || end_ms < start_ms {
            return Err(EvalError::Execution(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        let ty = value_type(expr);
        if !matches!(ty, ValueType::Scalar | ValueType::Vector) {
            return Err(EvalError::Execution(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                ty.as_str()
            )));
        }
        let mut ev = self.evaluator(q, start_ms, end_ms, step_ms);
        let mut series = match ev.eval(expr)? {
            Val::Scalar(s) => vec![Series {
                labels: Default::default(),
                points: s.iter().enumerate().map(|(k, v)| (ev.ts(k), *v)).collect(),
            }],
            Val::Vector(v) => eval::to_matrix(v, start_ms, step_ms),
            _ => Vec::new(),
        };
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Value::Matrix(series))
    }

    fn evaluator<'a>(
        &'a self,
        q: &'a dyn Queryable,
        start: i64,
        end: i64,
        step: i64,
    ) -> Evaluator<'a> {
        Evaluator {
            q,
            opts: &self.opts,
            deadline: Instant::now() + self.opts.timeout,
            start,
            end,
            interval: step,
            query_start: start,
            query_end: end,
            cur: 0,
        }
    }
}

/// Whether `e` is a string literal inside one or more parentheses.
fn is_parenthesised_string(e: &Expr) -> bool {
    let mut cur = e;
    let mut parens = 0;
    while let Expr::Paren(x) = cur {
        cur = x;
        parens += 1;
    }
    parens > 0 && matches!(cur, Expr::String(_))
}

/// The type `e` evaluates to (the parser's `Expr.Type()`).
pub fn value_type(e: &Expr) -> ValueType {
    match e {
        Expr::Number(_) => ValueType::Scalar,
        Expr::String(_) => ValueType::String,
        Expr::Vector(_) | Expr::Aggregate(_) => ValueType::Vector,
        Expr::Matrix(_) | Expr::Subquery(_) => ValueType::Matrix,
        Expr::Paren(inner) => value_type(inner),
        Expr::Unary(u) => value_type(&u.expr),
        Expr::Binary(b) => {
            if value_type(&b.lhs) == ValueType::Scalar && value_type(&b.rhs) == ValueType::Scalar {
                ValueType::Scalar
            } else {
                ValueType::Vector
            }
        }
        Expr::Call(c) => match c.func.as_str() {
            "time" | "pi" | "scalar" => ValueType::Scalar,
            _ => ValueType::Vector,
        },
    }
}
