//! Running PromQL for the HTTP API: the engine with the `--query.*` settings, a queue of at
//! most `--query.max-concurrency` queries, and the threads they run on (never the HTTP
//! workers: evaluation walks storage).

pub mod storage;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fedstore_promql::{Engine, EngineOptions, EvalError};
use fedstore_storage::{Cancel, Stop};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api::peer::{self, PeerSocket};
use crate::limits::{DEFAULT_MAX_QUEUE, Gate};
use crate::metrics::Metrics;
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
    /// Every slot was busy and the line was full (`--query.max-queue`): 503.
    QueueFull(usize),
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
            QueryFailure::QueueFull(max) => ApiError::Json {
                error_type: "unavailable",
                message: format!(
                    "too many concurrent queries: all slots busy and {max} already waiting (--query.max-queue); retry later"
                ),
                status: actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }
}

/// The query side of the server: engine, queue and threads.
pub struct QueryService {
    engine: Engine,
    slots: Arc<Semaphore>,
    gate: Gate,
    /// Where queue refusals are counted; `None`: not counted.
    metrics: Option<Arc<Metrics>>,
    max_concurrency: usize,
    pool: WorkPool,
}

impl QueryService {
    /// A service evaluating with `opts`, at most `max_concurrency` queries at once (more
    /// wait in line until their deadline).
    pub fn new(opts: EngineOptions, max_concurrency: usize) -> Self {
        let n = max_concurrency.max(1);
        let slots = Arc::new(Semaphore::new(n));
        QueryService {
            engine: Engine::new(opts),
            gate: Gate::new(slots.clone(), DEFAULT_MAX_QUEUE),
            metrics: None,
            slots,
            max_concurrency: n,
            pool: WorkPool::new("query", n),
        }
    }

    /// Runs evaluation on threads `nice` steps below the caller's priority (see
    /// [`WorkPool::with_nice`]).
    pub fn with_nice(mut self, nice: i32) -> Self {
        self.pool = WorkPool::with_nice("query", self.max_concurrency, nice);
        self
    }

    /// Lets at most `max_queue` queries wait for a slot (more are refused with 503, counted
    /// in `metrics`).
    pub fn with_queue(mut self, max_queue: usize, metrics: Arc<Metrics>) -> Self {
        self.gate = Gate::new(self.slots.clone(), max_queue);
        self.metrics = Some(metrics);
        self
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

    /// Runs `job` (with the engine and the query's stop signal) on a query thread once a
    /// slot is free, both before `deadline`. The signal stops at the deadline, when `peer`
    /// (the request's client) closes its connection, and when this future is dropped (at
    /// shutdown), so storage walks end at their next check and the slot is freed; a job that
    /// does not check keeps its slot until it ends.
    pub async fn run<T: Send + 'static>(
        &self,
        deadline: Instant,
        peer: Option<PeerSocket>,
        job: impl FnOnce(&Engine, &Cancel) -> Result<T, EvalError> + Send + 'static,
    ) -> Result<T, QueryFailure> {
        let cancel = Cancel::new(Some(deadline));
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let permit = self.enter(deadline, peer.as_ref(), &cancel).await?;
        let deadline = tokio::time::Instant::from_std(deadline);
        let engine = self.engine.clone();
        let job_cancel = cancel.clone();
        let running = self.pool.run(move || {
            let out = job(&engine, &job_cancel);
            drop(permit);
            crate::alloc::trim_soon();
            out
        });
        tokio::pin!(running);
        let watched = peer::watch(&mut running, peer.as_ref(), &cancel, || self.abandoned());
        match tokio::time::timeout_at(deadline, watched).await {
            Ok(Err(_)) => Err(QueryFailure::Panicked),
            Ok(Ok(r)) => r.map_err(QueryFailure::Eval),
            Err(_) => {
                // The job sees the same deadline at its next check and answers with 2.42's
                // `query timed out in expression evaluation`; one that does not check in
                // time gets the execution step's text.
                match tokio::time::timeout(STOP_GRACE, &mut running).await {
                    Ok(Ok(Err(e @ EvalError::Timeout(_)))) => Err(QueryFailure::Eval(e)),
                    _ => Err(QueryFailure::ExecTimeout),
                }
            }
        }
    }

    /// Starts `job` (with the query's stop signal) on a query thread once a slot is free
    /// before `deadline`, for an answer streamed while it is produced: unlike
    /// [`QueryService::run`] nothing waits for the job, which sends its output through its
    /// own channel and keeps the slot until it returns. The returned guard raises the stop
    /// signal when dropped: keep it with the response body, so that a client hanging up
    /// stops the walk at its next check.
    pub async fn spawn(
        &self,
        deadline: Instant,
        peer: Option<&PeerSocket>,
        job: impl FnOnce(&Cancel) + Send + 'static,
    ) -> Result<CancelOnDrop, QueryFailure> {
        let cancel = Cancel::new(Some(deadline));
        let guard = CancelOnDrop(cancel.clone());
        let permit = self.enter(deadline, peer, &cancel).await?;
        self.pool.spawn(move || {
            job(&cancel);
            drop(permit);
            crate::alloc::trim_soon();
        });
        Ok(guard)
    }

    /// Waits for a slot until `deadline`: `QueueTimeout` past it, `QueueFull` (counted) when
    /// the line is full, canceled when `peer` (the client) leaves meanwhile.
    async fn enter(
        &self,
        deadline: Instant,
        peer: Option<&PeerSocket>,
        cancel: &Cancel,
    ) -> Result<OwnedSemaphorePermit, QueryFailure> {
        let deadline = tokio::time::Instant::from_std(deadline);
        let entered = peer::watch(self.gate.enter(), peer, cancel, || self.abandoned());
        let permit = tokio::time::timeout_at(deadline, entered)
            .await
            .map_err(|_| QueryFailure::QueueTimeout)?
            .map_err(|full| {
                if let Some(m) = &self.metrics {
                    m.refusals.count("/api/v1/query", "queue_full");
                }
                QueryFailure::QueueFull(full.max_waiting)
            })?;
        match cancel.stopped() {
            None => Ok(permit),
            Some(Stop::Timeout) => Err(QueryFailure::QueueTimeout),
            // 2.42's text for a context canceled while waiting for a slot.
            Some(_) => Err(QueryFailure::Eval(EvalError::Canceled(
                "query was canceled in query queue".to_owned(),
            ))),
        }
    }

    /// Counts a query stopped because its client left.
    pub fn abandoned(&self) {
        if let Some(m) = &self.metrics {
            m.queries_abandoned.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How long a query past its deadline is given to stop at a check and say so.
pub const STOP_GRACE: Duration = Duration::from_secs(1);

/// Raises its signal when dropped: when [`QueryService::run`] returns or its future is
/// dropped (a request abandoned by the server).
pub struct CancelOnDrop(pub Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The engine's error for a storage error of a walk outside PromQL (series, labels,
/// status): a stop keeps its reason (503 `timeout` or `canceled`).
pub fn eval_error(e: fedstore_storage::Error) -> EvalError {
    storage::storage_error(e).into_eval()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_is_refused_and_counted() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let metrics = Arc::new(Metrics::default());
            let svc = Arc::new(
                QueryService::new(EngineOptions::default(), 1).with_queue(0, metrics.clone()),
            );
            let (started_tx, started_rx) = tokio::sync::oneshot::channel();
            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
            let s = svc.clone();
            let first = tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(60);
                s.run(deadline, None, move |_, _| {
                    let _ = started_tx.send(());
                    let _ = release_rx.recv();
                    Ok(1)
                })
                .await
            });
            started_rx.await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            let second = svc.run(deadline, None, |_, _| Ok(2)).await;
            assert_eq!(second, Err(QueryFailure::QueueFull(0)));
            let e = QueryFailure::QueueFull(0).api_error();
            assert_eq!(
                actix_web::ResponseError::status_code(&e),
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE
            );
            assert_eq!(metrics.refusals.get("/api/v1/query", "queue_full"), 1);
            release_tx.send(()).unwrap();
            assert_eq!(first.await.unwrap(), Ok(1));
            // The slot is free again.
            assert_eq!(svc.run(deadline, None, |_, _| Ok(3)).await, Ok(3));
        });
    }

    /// A query past its deadline stops at its next check and answers 2.42's evaluation
    /// timeout; one whose client went away (its future dropped) is canceled.
    #[test]
    fn a_job_stops_at_its_deadline_or_when_its_client_goes() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let svc = Arc::new(QueryService::new(EngineOptions::default(), 2));
            // A walk that only ends when told to: the answer is the check's error.
            let walk = |cancel: &Cancel| loop {
                if let Err(e) = cancel.check() {
                    return e;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            let deadline = Instant::now() + Duration::from_millis(50);
            let got = svc
                .run(deadline, None, move |_, cancel| {
                    Err::<(), _>(eval_error(walk(cancel)))
                })
                .await;
            assert_eq!(
                got,
                Err(QueryFailure::Eval(EvalError::Timeout(
                    "query timed out in expression evaluation".into()
                )))
            );
            let e = got.unwrap_err().api_error();
            assert_eq!(
                actix_web::ResponseError::status_code(&e),
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE
            );
            // The client goes away: the request's future is dropped mid-walk.
            let (started_tx, started_rx) = tokio::sync::oneshot::channel();
            let (seen_tx, seen_rx) = std::sync::mpsc::channel();
            let s = svc.clone();
            let request = tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(600);
                s.run(deadline, None, move |_, cancel| {
                    let _ = started_tx.send(());
                    let e = walk(cancel);
                    let _ = seen_tx.send(e.to_string());
                    Err::<(), _>(eval_error(e))
                })
                .await
            });
            started_rx.await.unwrap();
            request.abort();
            let seen = tokio::task::spawn_blocking(move || seen_rx.recv().unwrap())
                .await
                .unwrap();
            assert_eq!(seen, "query stopped: canceled");
        });
    }
}
