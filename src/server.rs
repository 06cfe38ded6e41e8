//! actix-web wiring: shared state, routes, and [`run`] on an already bound listener (so tests
//! can bind `127.0.0.1:0` and learn the port before the server starts).

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use fedstore_storage::Head;
use parking_lot::RwLock;
use tokio::sync::Semaphore;

use crate::api;
use crate::api::federate::render::ExternalLabels;
use crate::metrics::Metrics;
use crate::pool::WorkPool;
use crate::remote::{DEFAULT_MAX_DECOMPRESSED_BYTES, RemoteWriteReceiver};

/// Milliseconds since the Unix epoch; injected so tests control "now".
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    })
}

/// Default `--query.lookback-delta`: 5 minutes, as Prometheus.
pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Everything the handlers share.
pub struct AppState {
    /// The storage.
    pub head: Arc<Head>,
    /// External labels as `/federate` applies them; replaced on config reload.
    pub external_labels: RwLock<Arc<ExternalLabels>>,
    /// `--query.lookback-delta` in ms.
    pub lookback_ms: i64,
    /// Source of "now".
    pub clock: Clock,
    /// Threads that render federate answers.
    pub render_pool: WorkPool,
    /// Threads that decode and append remote writes and imports (one per core).
    pub ingest_pool: WorkPool,
    /// Concurrent federate answers allowed; more wait in line.
    pub federate_slots: Arc<Semaphore>,
    /// The scrape manager (`/api/v1/targets`, reload); `None` when not scraping.
    pub scrape: Option<crate::scrape::ScrapeManager>,
    /// `--config.file`, re-read on reload; `None`: the built-in configuration.
    pub config_file: Option<std::path::PathBuf>,
    /// `--web.enable-lifecycle`: whether `POST /-/reload` is allowed.
    pub enable_lifecycle: bool,
    /// The remote-write receiver (`POST /api/v1/write`).
    pub remote_write: Arc<RemoteWriteReceiver>,
    /// fedstore's own metrics (`GET /metrics`).
    pub metrics: Arc<Metrics>,
    /// How the head's start-up went (`fedstore_head_replay_*` on `/metrics`); `None` in tests.
    pub startup: Option<Arc<fedstore_storage::head::StartupProgress>>,
}

impl AppState {
    /// State over `head` with defaults: no external labels, 5m lookback, wall clock, one render
    /// thread per core and two federate answers in flight per core.
    pub fn new(head: Arc<Head>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        AppState {
            head: head.clone(),
            external_labels: RwLock::new(Arc::new(ExternalLabels::new(&[]))),
            lookback_ms: DEFAULT_LOOKBACK_MS,
            clock: system_clock(),
            render_pool: WorkPool::new("render", cores.max(2)),
            ingest_pool: WorkPool::new("ingest", cores),
            federate_slots: Arc::new(Semaphore::new(cores.max(2) * 2)),
            scrape: None,
            config_file: None,
            enable_lifecycle: false,
            remote_write: Arc::new(RemoteWriteReceiver::new(
                head.clone(),
                DEFAULT_MAX_DECOMPRESSED_BYTES,
            )),
            metrics: Arc::new(Metrics::default()),
            startup: None,
        }
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then stops gracefully.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let remote_write = web::Data::from(state.remote_write.clone());
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(remote_write.clone())
            .configure(api::routes)
    })
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::select! {
        res = server => res,
        () = shutdown => {
            handle.stop(true).await;
            Ok(())
        }
    }
}
