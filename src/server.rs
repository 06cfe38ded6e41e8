//! actix-web wiring: shared state, routes, and [`run`] on an already bound listener (so tests
//! can bind `127.0.0.1:0` and learn the port before the server starts).

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use fedstore_storage::wal::{FsyncMode, WalOptions};
use fedstore_storage::{Db, DbOptions, Head, HeadOptions};
use parking_lot::RwLock;
use tokio::sync::Semaphore;

use crate::api;
use crate::config::ExternalLabels;
use crate::limits::{Gate, RequestLimit};
use crate::metrics::Metrics;
use crate::pool::WorkPool;
use crate::query::storage::DbQueryable;
use crate::query::{DEFAULT_MAX_CONCURRENCY, QueryService};
use crate::remote::read::{ReadLimits, RemoteRead};
use crate::remote::{DEFAULT_MAX_DECOMPRESSED_BYTES, RemoteWriteReceiver};
use fedstore_promql::EngineOptions;

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

/// Default `--web.max-connections` (Prometheus's).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Default `--query.lookback-delta`: 5 minutes, as Prometheus.
pub const DEFAULT_LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Where and how a node keeps its data: `fedstore serve` fills this from its flags, the
/// in-process test server from a temporary directory; both open it with [`open_storage`].
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// `--storage.tsdb.path`: blocks, `wal/`, `chunks_head/` and `head/` live here.
    pub path: PathBuf,
    /// `--storage.tsdb.head-shards`; `None`: from the core count.
    pub head_shards: Option<usize>,
    /// `--storage.wal.fsync`.
    pub wal_fsync: FsyncMode,
    /// Block ranges, retention, compaction interval, head series gc.
    pub db: DbOptions,
    /// Where the head reports its start-up progress (`/-/ready`, `fedstore_head_replay_*`).
    pub progress: Option<Arc<fedstore_storage::StartupProgress>>,
    /// `--storage.remote.max-wal-lag-segments`: how far a remote-write queue may lag before
    /// checkpoints stop waiting for it.
    pub remote_max_wal_lag_segments: u64,
}

impl StorageOptions {
    /// Defaults of `fedstore serve` for data under `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StorageOptions {
            path: path.into(),
            head_shards: None,
            wal_fsync: FsyncMode::default(),
            db: DbOptions::default(),
            progress: None,
            remote_max_wal_lag_segments: fedstore_storage::wal::DEFAULT_MAX_LAG_SEGMENTS,
        }
    }
}

/// Opens the database under `opts.path` (creating it; the head rebuilt from its WAL) and
/// starts its background compaction, which stops when the last `Arc<Db>` is dropped.
pub fn open_storage(opts: &StorageOptions) -> Result<Arc<Db>, fedstore_storage::Error> {
    let mut head = HeadOptions::default();
    if let Some(n) = opts.head_shards {
        head.shards = n.max(1);
    }
    // The WAL is the source of truth: the head is rebuilt from it at start-up.
    head.wal = Some(WalOptions::new(opts.path.join("wal")).with_fsync(opts.wal_fsync));
    head.progress.clone_from(&opts.progress);
    let db = Arc::new(Db::open(&opts.path, head, opts.db.clone())?);
    // Before the first checkpoint can run: what remote-write queues had not sent stays.
    db.head()
        .wal_hold()
        .set_max_lag_segments(opts.remote_max_wal_lag_segments);
    crate::remote::sender::preload_holds(db.head(), &opts.path);
    db.start_compaction()?;
    Ok(db)
}

/// Everything the handlers share.
pub struct AppState {
    /// The storage: head and blocks.
    pub db: Arc<Db>,
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
    /// Recording and alerting rules; `None` until `serve` starts them.
    pub rules: Option<Arc<crate::rules::service::RulesService>>,
    /// The PromQL engine (`--query.*`), its queue and threads.
    pub query: QueryService,
    /// Every flag and its value, for `/api/v1/status/flags` (names without `--`).
    pub flags: Vec<(String, String)>,
    /// The built-in configuration's YAML (`/api/v1/status/config` without `--config.file`).
    pub config_yaml: String,
    /// When the server started (ms since the epoch).
    pub start_time_ms: i64,
    /// Remote read (`POST /api/v1/read`): its storage and limits.
    pub remote_read: Arc<RemoteRead>,
    /// The line in front of [`Self::federate_slots`]: a federate finding it full gets a 503.
    pub federate_gate: Gate,
    /// `--web.federate.max-series`: most series one `/federate` answer may have (422 above).
    pub federate_max_series: Option<usize>,
    /// `--web.import.max-*-per-request`.
    pub import_limit: RequestLimit,
    /// `--web.max-connections`: most simultaneous connections (0: no limit).
    pub max_connections: usize,
    /// `--web.config.file`: TLS, basic auth, headers; `None`: plain HTTP to anyone.
    pub web_config: Option<Arc<crate::web_config::WebConfig>>,
    /// How the head's start-up went (`fedstore_head_replay_*` on `/metrics`); `None` in tests.
    pub startup: Option<Arc<fedstore_storage::StartupProgress>>,
    /// The remote-write sender (`remote_write` in the configuration); `None` in tests.
    pub remote_sender: Option<Arc<crate::remote::sender::RemoteWriteSender>>,
    /// Label name and value answers kept while the indexes are unchanged.
    pub index_answers: crate::api::v1::index_answers::IndexAnswers,
}

impl AppState {
    /// State over `db` with defaults: no external labels, 5m lookback, wall clock, one render
    /// thread per core and two federate answers in flight per core.
    pub fn new(db: Arc<Db>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let head = db.head().clone();
        let db_for_read = db.clone();
        let federate_slots = Arc::new(Semaphore::new(cores.max(2) * 2));
        let metrics = Arc::new(Metrics::default());
        AppState {
            db,
            external_labels: RwLock::new(Arc::new(ExternalLabels::new(&[]))),
            lookback_ms: DEFAULT_LOOKBACK_MS,
            clock: system_clock(),
            render_pool: WorkPool::new("render", cores.max(2)),
            ingest_pool: WorkPool::new("ingest", cores),
            federate_gate: Gate::new(federate_slots.clone(), crate::limits::DEFAULT_MAX_QUEUE),
            federate_slots,
            federate_max_series: None,
            import_limit: RequestLimit::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            web_config: None,
            scrape: None,
            config_file: None,
            enable_lifecycle: false,
            remote_write: Arc::new(RemoteWriteReceiver::new(
                head.clone(),
                DEFAULT_MAX_DECOMPRESSED_BYTES,
            )),
            metrics: metrics.clone(),
            rules: None,
            query: QueryService::new(EngineOptions::default(), DEFAULT_MAX_CONCURRENCY)
                .with_queue(crate::limits::DEFAULT_MAX_QUEUE, metrics),
            flags: Vec::new(),
            config_yaml: String::new(),
            start_time_ms: system_clock()(),
            remote_read: Arc::new(RemoteRead::new(
                Arc::new(DbQueryable::new(db_for_read)),
                ReadLimits::default(),
            )),
            startup: None,
            remote_sender: None,
            index_answers: Default::default(),
        }
    }

    /// The head alone: `/federate`, scraping and ingestion read and write only the head.
    pub fn head(&self) -> &Arc<Head> {
        self.db.head()
    }
}

/// Workers and connections per worker whose product is exactly `max_connections`: the most
/// workers (at most `cores`) that divide it. The accept loop hands a connection to any
/// worker under its limit, so the total is enforced exactly, as one `LimitListener` would.
fn connection_split(max_connections: usize, cores: usize) -> (usize, usize) {
    let workers = (1..=cores.max(1).min(max_connections))
        .rev()
        .find(|w| max_connections.is_multiple_of(*w))
        .unwrap_or(1);
    (workers, max_connections / workers)
}

/// Serves the API on `listener` until `shutdown` resolves, then stops gracefully.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // Queries, remote reads and rule groups ask it to give their freed heap back.
    crate::alloc::spawn_trimmer();
    let remote_write = web::Data::from(state.remote_write.clone());
    let max_connections = state.max_connections;
    let web_config = state.web_config.clone();
    // The file is followed on disk (certificates, client CA, users, headers), as
    // exporter-toolkit re-reads it per handshake and per request.
    let live = web_config.map(|w| Arc::new(crate::web_config::reload::Live::new(w)));
    let tls = match &live {
        Some(l) if l.current().is_ok_and(|w| w.tls_server_config.is_some()) => Some(
            crate::web_config::tls_live::live_server_config(l.clone())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        ),
        _ => None,
    };
    let guard = live
        .and_then(crate::web_config::auth::WebGuard::new)
        .map(web::Data::new);
    let data = web::Data::from(state);
    let mut server = HttpServer::new(move || {
        let mut app = App::new();
        if let Some(g) = &guard {
            app = app.app_data(g.clone());
        }
        app.app_data(data.clone())
            .app_data(remote_write.clone())
            .wrap(actix_web::middleware::from_fn(
                api::v1::respond::api_wrapper,
            ))
            // Outermost: nothing is answered before the credentials are checked.
            .wrap(actix_web::middleware::Condition::new(
                guard.is_some(),
                actix_web::middleware::from_fn(crate::web_config::auth::guard),
            ))
            .configure(api::routes)
            .default_service(web::to(api::v1::respond::not_found))
    })
    .on_connect(api::peer::on_connect)
    .disable_signals();
    if max_connections > 0 {
        // actix counts per worker; like Prometheus's LimitListener, connections over the
        // limit wait in the listen backlog rather than being refused.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (workers, per_worker) = connection_split(max_connections, cores);
        server = server.workers(workers).max_connections(per_worker);
    }
    let server = match tls {
        Some(cfg) => server.listen_rustls_0_23(listener, cfg)?,
        None => server.listen(listener)?,
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn connection_split_is_exact() {
        for (max, cores, want) in [
            (512, 2, (2, 256)),
            (512, 6, (4, 128)),
            (3, 2, (1, 3)),
            (1, 8, (1, 1)),
            (6, 4, (3, 2)),
        ] {
            assert_eq!(
                super::connection_split(max, cores),
                want,
                "{max} on {cores}"
            );
        }
    }
}
