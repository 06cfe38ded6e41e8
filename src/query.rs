//! Running PromQL for the HTTP API: the engine with the `--query.*` settings, a queue of at
//! most `--query.max-concurrency` queries, and the threads they run on (never the HTTP
//! workers: evaluation walks storage).

pub mod storage;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fedstore_promql::{Engine, EngineOptions, EvalError};
use tokio::sync::Semaphore;

use crate::pool::WorkPool;

/// Default `--query.max-concurrency` (Prometheus's).
pub const DEFAULT_MAX_CONCURRENCY: usize = 20;

/// Why a query did not produce a result; maps onto the API's `errorType`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryFailure {
    /// The deadline passed while waiting for a slot (`query timed out in query queue`).
    QueueTimeout,
    /// The deadline passed while evaluating (`query timed out in query execution`).
    ExecTimeout,
    /// The engine failed.
    Eval(EvalError),
    /// The evaluation thread panicked.
    Panicked,
}

impl QueryFailure {
    /// The API error for this failure (type and Prometheus's text).
    pub fn api_error(&self) -> crate::api::ApiError {
        use crate::api::ApiError;
        match self {
            QueryFailure::QueueTimeout => {
                ApiError::json("timeout", "query timed out in query queue")
            }
            QueryFailure::ExecTimeout => {
                ApiError::json("timeout", "query timed out in query execution")
            }
            QueryFailure::Eval(e) => {
                let kind = match e {
                    EvalError::Execution(_) => "execution",
                    EvalError::Timeout(_) => "timeout",
                    EvalError::Canceled(_) => "canceled",
                    EvalError::Storage(_) => "internal",
                };
                ApiError::json(kind, e.to_string())
            }
            QueryFailure::Panicked => ApiError::json("internal", "query evaluation panicked"),
        }
    }
}

/// The query side of the server: engine, queue and threads.
pub struct QueryService {
    engine: Engine,
    slots: Arc<Semaphore>,
    max_concurrency: usize,
    pool: WorkPool,
}

impl QueryService {
    /// A service evaluating with `opts`, at most `max_concurrency` queries at once (more
    /// wait in line until their deadline).
    pub fn new(opts: EngineOptions, max_concurrency: usize) -> Self {
        let n = max_concurrency.max(1);
        QueryService {
            engine: Engine::new(opts),
            slots: Arc::new(Semaphore::new(n)),
            max_concurrency: n,
            pool: WorkPool::new("query", n),
        }
    }

    /// The engine (and through it the `--query.*` options).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// `--query.max-concurrency`.
    pub fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    /// The deadline of a query starting now: `--query.timeout`, or the request's `timeout`
    /// when shorter.
    pub fn deadline(&self, request_timeout: Option<Duration>) -> Instant {
        let t = self.engine.options().timeout;
        Instant::now() + request_timeout.map_or(t, |r| r.min(t))
    }

    /// Runs `job` (with the engine) on a query thread once a slot is free, both before
    /// `deadline`. A job that outlives its deadline keeps its slot until it ends, so the
    /// limit holds for real work, not only for waiting answers.
    pub async fn run<T: Send + 'static>(
        &self,
        deadline: Instant,
        job: impl FnOnce(&Engine) -> Result<T, EvalError> + Send + 'static,
    ) -> Result<T, QueryFailure> {
        let deadline = tokio::time::Instant::from_std(deadline);
        let permit = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| QueryFailure::QueueTimeout)?
            .map_err(|_| QueryFailure::QueueTimeout)?;
        if tokio::time::Instant::now() >= deadline {
            return Err(QueryFailure::QueueTimeout);
        }
        let engine = self.engine.clone();
        let running = self.pool.run(move || {
            let out = job(&engine);
            drop(permit);
            out
        });
        match tokio::time::timeout_at(deadline, running).await {
            Err(_) => Err(QueryFailure::ExecTimeout),
            Ok(Err(_)) => Err(QueryFailure::Panicked),
            Ok(Ok(r)) => r.map_err(QueryFailure::Eval),
        }
    }
}
