//! PromQL evaluation (Prometheus 2.42 `promql/engine.go`, `functions.go`): instant and range
//! queries over a [`Queryable`].

use std::time::Duration;

use crate::ast::Expr;
use crate::storage::Queryable;
use crate::value::Value;

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
    pub fn instant(
        &self,
        _q: &dyn Queryable,
        _expr: &Expr,
        _t_ms: i64,
    ) -> Result<Value, EvalError> {
        Err(EvalError::Execution("not implemented yet".into()))
    }

    /// Evaluates `expr` (a scalar or instant vector) at `start_ms + k*step_ms <= end_ms`
    /// (`/api/v1/query_range`); the result is a matrix sorted by labels.
    pub fn range(
        &self,
        _q: &dyn Queryable,
        _expr: &Expr,
        _start_ms: i64,
        _end_ms: i64,
        _step_ms: i64,
    ) -> Result<Value, EvalError> {
        Err(EvalError::Execution("not implemented yet".into()))
    }
}
