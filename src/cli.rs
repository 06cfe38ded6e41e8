//! Command line: `fedstore serve` and `fedstore import`, with Prometheus's flag names.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fedstore_storage::Head;

use crate::config::ExternalLabels;
use crate::server::{self, AppState};

/// fedstore: a Prometheus-compatible storage node built for federation.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long = "log.level", default_value = "info", global = true)]
    pub log_level: String,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Load text-format files into a running server (`POST /api/v1/import/prometheus`).
    Import(ImportArgs),
    /// Cut a corrupt WAL at its first bad record so `serve` can start (the rest is lost).
    Repair(RepairArgs),
    /// Check rule or configuration files (as `promtool check`).
    #[command(subcommand)]
    Check(crate::check_cli::CheckCommand),
}

/// Flags of `fedstore repair`.
#[derive(Debug, clap::Args)]
pub struct RepairArgs {
    /// Base path for metrics storage (the WAL is `<path>/wal`).
    #[arg(long = "storage.tsdb.path", default_value = "data")]
    pub storage_path: PathBuf,
}

/// Flags of `fedstore serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Prometheus configuration file (YAML). Without it, an embedded default scrapes fedstore itself.
    #[arg(long = "config.file")]
    pub config_file: Option<PathBuf>,
    /// Base path for metrics storage.
    #[arg(long = "storage.tsdb.path", default_value = "data")]
    pub storage_path: PathBuf,
    /// Address to listen on for the API and federation.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9090")]
    pub listen_address: String,
    /// The maximum lookback duration for retrieving metrics (Prometheus duration, e.g. 5m).
    #[arg(long = "query.lookback-delta", default_value = "5m", value_parser = parse_duration_ms)]
    pub lookback_delta_ms: i64,
    /// Maximum time a query may take before being aborted (Prometheus duration).
    #[arg(long = "query.timeout", default_value = "2m", value_parser = parse_duration_ms)]
    pub query_timeout_ms: i64,
    /// Maximum number of samples a single query can load into memory (Prometheus's limit
    /// counts selected, intermediate and output samples).
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    pub query_max_samples: usize,
    /// Maximum number of queries executed concurrently; more wait in line.
    #[arg(long = "query.max-concurrency", default_value_t = crate::query::DEFAULT_MAX_CONCURRENCY)]
    pub query_max_concurrency: usize,
    /// Number of head shards (each with its own lock); default from the core count.
    #[arg(long = "storage.tsdb.head-shards")]
    pub head_shards: Option<usize>,
    /// Enable reload via HTTP request (`POST /-/reload`).
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,
    /// When WAL writes are fsynced before a write is acknowledged: always, group (default: one
    /// fsync covers the commits of a few ms), never, or an interval like 100ms.
    #[arg(long = "storage.wal.fsync", default_value = "group")]
    pub wal_fsync: fedstore_storage::wal::FsyncMode,
    /// Path to a configuration file that can enable TLS or authentication (exporter-toolkit
    /// format, as Prometheus).
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,
    /// Maximum number of simultaneous connections (Prometheus's flag; 0: no limit). More
    /// wait in the listen backlog.
    #[arg(long = "web.max-connections", default_value_t = crate::server::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Most series one `/federate` answer may have; over it the request is refused with 422
    /// before anything is sent. Unset: no limit.
    #[arg(long = "web.federate.max-series")]
    pub federate_max_series: Option<usize>,
    /// How many nice steps below scrapes and ingest the threads that render federates and
    /// evaluate queries run (0: the same priority). Scrapes then keep their pace while
    /// federates and queries fill the cores; a read alone on the machine is not slowed.
    #[arg(long = "storage.read-nice", default_value_t = crate::pool::DEFAULT_READ_NICE,
          value_parser = clap::value_parser!(i32).range(0..=19))]
    pub read_nice: i32,
    /// Federate requests that may wait for a slot when all are busy; more get 503.
    #[arg(long = "web.federate.max-queue", default_value_t = crate::limits::DEFAULT_MAX_QUEUE)]
    pub federate_max_queue: usize,
    /// Queries that may wait for a slot (`--query.max-concurrency`); more get 503.
    #[arg(long = "query.max-queue", default_value_t = crate::limits::DEFAULT_MAX_QUEUE)]
    pub query_max_queue: usize,
    /// Most series in one remote-write request (413 above, nothing stored). Unset: no limit.
    #[arg(long = "web.remote-write.max-series-per-request")]
    pub remote_write_max_series: Option<usize>,
    /// Most samples in one remote-write request (413 above, nothing stored). Unset: no limit.
    #[arg(long = "web.remote-write.max-samples-per-request")]
    pub remote_write_max_samples: Option<usize>,
    /// Most series in one import request (413 above, nothing stored). Unset: no limit.
    #[arg(long = "web.import.max-series-per-request")]
    pub import_max_series: Option<usize>,
    /// Most samples in one import request (413 above, nothing stored). Unset: no limit.
    #[arg(long = "web.import.max-samples-per-request")]
    pub import_max_samples: Option<usize>,
    /// Largest remote-write body accepted, decompressed (Prometheus size units, e.g. 32MiB).
    #[arg(long = "web.remote-write.max-bytes", default_value = "32MiB", value_parser = parse_bytes)]
    pub remote_write_max_bytes: u64,
    /// WAL segments a remote_write queue may lag behind the one being written before WAL
    /// checkpoints stop waiting for it (its unsent samples are then dropped and counted).
    #[arg(long = "storage.remote.max-wal-lag-segments", default_value_t = fedstore_storage::wal::DEFAULT_MAX_LAG_SEGMENTS)]
    pub remote_max_wal_lag_segments: u64,
    /// How long to keep samples: blocks ending this long before the newest block's end are
    /// deleted (Prometheus duration).
    #[arg(long = "storage.tsdb.retention.time", default_value = "15d", value_parser = parse_duration_ms)]
    pub retention_time_ms: i64,
    /// Most bytes of blocks, WAL and head chunk files to keep, oldest blocks deleted first (Prometheus size
    /// units, e.g. 512MB); unset: no size limit.
    #[arg(long = "storage.tsdb.retention.size", value_parser = parse_bytes)]
    pub retention_size_bytes: Option<u64>,
    /// Time range of the head persisted as one block.
    #[arg(long = "storage.tsdb.min-block-duration", default_value = "2h", value_parser = parse_duration_ms)]
    pub min_block_duration_ms: i64,
    /// Longest block compaction merges into; default 10% of the retention time, at most 31d.
    #[arg(long = "storage.tsdb.max-block-duration", value_parser = parse_duration_ms)]
    pub max_block_duration_ms: Option<i64>,
    /// The URL under which fedstore is reached from outside (alerts' generatorURL,
    /// `$externalURL`); default `http://<hostname>:<port>`.
    #[arg(long = "web.external-url", default_value = "")]
    pub external_url: String,
    /// Minimum time to wait before resending an alert to Alertmanager.
    #[arg(long = "rules.alert.resend-delay", default_value = "1m", value_parser = parse_duration_ms)]
    pub resend_delay_ms: i64,
    /// Max time to tolerate an outage for restoring the "for" state of an alert.
    #[arg(long = "rules.alert.for-outage-tolerance", default_value = "1h", value_parser = parse_duration_ms)]
    pub for_outage_tolerance_ms: i64,
    /// Minimum duration between an alert and its restored "for" state (only for alerts with
    /// a longer "for").
    #[arg(long = "rules.alert.for-grace-period", default_value = "10m", value_parser = parse_duration_ms)]
    pub for_grace_period_ms: i64,
    /// Most samples one remote-read query may return in the SAMPLES answer; 0: no limit
    /// (ignored for streamed answers, as in Prometheus).
    #[arg(long = "storage.remote.read-sample-limit", default_value = "5e7", value_parser = parse_count)]
    pub remote_read_sample_limit: usize,
    /// Most remote-read requests served at once (more wait); 0: no limit.
    #[arg(long = "storage.remote.read-concurrent-limit", default_value = "10", value_parser = parse_count)]
    pub remote_read_concurrent_limit: usize,
    /// Chunk bytes per frame of a streamed remote-read answer (labels count against it).
    #[arg(long = "storage.remote.read-max-bytes-in-frame", default_value = "1048576", value_parser = parse_count)]
    pub remote_read_max_bytes_in_frame: usize,
    /// Time between background compaction rounds (fedstore only; Prometheus uses 1m).
    #[arg(long = "storage.tsdb.compaction-interval", default_value = "1m", value_parser = parse_duration_ms)]
    pub compaction_interval_ms: i64,
    /// Time between head snapshots while running (a graceful stop always writes one; one is
    /// also written after every 128 MiB of WAL); a restart loads the newest and replays only
    /// the WAL after it. 0s: only at stop.
    #[arg(long = "storage.tsdb.head-snapshot-interval", default_value = "5m", value_parser = parse_duration_ms)]
    pub head_snapshot_interval_ms: i64,
}

/// Flags of `fedstore import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Text-format files (0.0.4), with or without timestamps.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Base URL of the fedstore server to load into.
    #[arg(long = "url", default_value = "http://127.0.0.1:9090")]
    pub url: String,
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let size = crate::config::size::ByteSize::parse(s)?;
    size.limit()
        .ok_or_else(|| format!("{s:?} is not a positive size"))
}

/// A non-negative count, also in the float form Prometheus's defaults use (`5e7`).
fn parse_count(s: &str) -> Result<usize, String> {
    if let Ok(n) = s.parse::<usize>() {
        return Ok(n);
    }
    match s.parse::<f64>() {
        Ok(f) if f >= 0.0 && f.fract() == 0.0 && f <= usize::MAX as f64 => Ok(f as usize),
        _ => Err(format!("{s:?} is not a non-negative whole number")),
    }
}

fn parse_duration_ms(s: &str) -> Result<i64, String> {
    crate::config::duration::Duration::parse(s)
        .map(|d| d.as_millis() as i64)
        .map_err(|e| e.to_string())
}

/// Entry point of the `fedstore` binary.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(&cli.log_level)?;
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Import(args) => crate::import_cli::run(&args.files, &args.url),
        Command::Repair(args) => repair(&args),
        Command::Check(cmd) => crate::check_cli::run(&cmd),
    }
}

fn init_logging(level: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .with_context(|| format!("--log.level: invalid level {level:?}"))?;
    // Colours only on a terminal: log files and journald get plain key=value lines.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A failed log write (stderr on a full disk) must not panic the logging thread:
        // tracing's internal-error report uses `eprintln!`, which panics when stderr fails.
        .log_internal_errors(false)
        .init();
    Ok(())
}

fn repair(args: &RepairArgs) -> anyhow::Result<()> {
    let dir = args.storage_path.join("wal");
    let report = fedstore_storage::wal::repair(&dir)
        .map_err(|e| anyhow::anyhow!("repairing {}: {e}", dir.display()))?;
    match (report.cut_at, &report.reason) {
        (Some((segment, offset)), reason) => tracing::warn!(
            segment,
            offset,
            reason = ?reason,
            bytes_dropped = report.bytes_dropped,
            segments_removed = report.segments_removed,
            "WAL cut at its first bad record"
        ),
        (None, _) => tracing::info!(wal = %dir.display(), "WAL is intact; nothing to repair"),
    }
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = match &args.config_file {
        Some(path) => crate::config::Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => crate::config::Config::default_for(&args.listen_address),
    };
    std::fs::create_dir_all(&args.storage_path).with_context(|| {
        format!(
            "creating --storage.tsdb.path {}",
            args.storage_path.display()
        )
    })?;
    // Listen before the head opens: while it loads, /-/ready answers 503 and /metrics shows
    // the replay's progress (api/starting.rs); the API takes the same socket over after.
    let listener = TcpListener::bind(&args.listen_address).with_context(|| {
        format!(
            "--web.listen-address: cannot listen on {}",
            args.listen_address
        )
    })?;
    let web_config = match &args.web_config_file {
        Some(p) => Some(Arc::new(
            crate::web_config::WebConfig::load(p)
                .with_context(|| format!("--web.config.file {}", p.display()))?,
        )),
        None => None,
    };
    let progress = Arc::new(fedstore_storage::StartupProgress::new());
    // The start-up server speaks plain HTTP without auth: with a web config, connections
    // wait in the backlog until the real server (behind TLS and auth) takes the socket.
    let starting = match web_config {
        Some(_) => None,
        None => Some(
            crate::api::starting::StartingServer::start(
                listener.try_clone().context("cloning the listener")?,
                progress.clone(),
            )
            .context("starting the HTTP server")?,
        ),
    };
    tracing::info!(address = %listener.local_addr()?, "listening; opening the head (/-/ready answers 503 until done)");
    let storage = server::StorageOptions {
        path: args.storage_path.clone(),
        head_shards: args.head_shards,
        wal_fsync: args.wal_fsync,
        progress: Some(progress.clone()),
        remote_max_wal_lag_segments: args.remote_max_wal_lag_segments,
        db: fedstore_storage::DbOptions {
            min_block_duration_ms: args.min_block_duration_ms.max(1),
            max_block_duration_ms: args.max_block_duration_ms,
            retention: fedstore_storage::Retention {
                time_ms: args.retention_time_ms,
                size_bytes: args.retention_size_bytes.unwrap_or(0),
            },
            compaction_interval: std::time::Duration::from_millis(
                args.compaction_interval_ms.max(1) as u64,
            ),
            head_gc_keep_ms: args.lookback_delta_ms,
        },
    };
    // The Db owns the head and the blocks; it lives as long as the server (the state holds
    // it), since dropping it stops the background compaction.
    let db = server::open_storage(&storage)
        .with_context(|| format!("opening {}", args.storage_path.display()))?;
    if let Some(s) = starting {
        s.stop();
    }
    let head: Arc<Head> = db.head().clone();
    let ticker = (args.head_snapshot_interval_ms > 0)
        .then(|| {
            fedstore_storage::SnapshotTicker::start(
                Arc::downgrade(&head),
                std::time::Duration::from_millis(args.head_snapshot_interval_ms as u64),
                // Or after a quarter segment's worth of writes: bounds a crash's replay. A
                // quarter since WAL format 2 packs 1.5-10x more samples in a byte.
                fedstore_storage::wal::DEFAULT_SEGMENT_BYTES / 4,
            )
        })
        .transpose()
        .context("starting head snapshots")?;
    let mut state = AppState::new(db.clone());
    state.startup = Some(progress);
    state.lookback_ms = args.lookback_delta_ms;
    state.query = crate::query::QueryService::new(
        fedstore_promql::EngineOptions {
            lookback_ms: args.lookback_delta_ms,
            max_samples: args.query_max_samples,
            timeout: std::time::Duration::from_millis(args.query_timeout_ms.max(0) as u64),
            default_eval_interval_ms: config.global.evaluation_interval.as_millis() as i64,
        },
        args.query_max_concurrency,
    )
    .with_queue(args.query_max_queue, state.metrics.clone())
    .with_nice(args.read_nice);
    state.render_pool =
        crate::pool::WorkPool::with_nice("render", state.render_pool.threads(), args.read_nice);
    state.max_connections = args.max_connections;
    state.web_config = web_config;
    state.federate_max_series = args.federate_max_series;
    state.federate_gate =
        crate::limits::Gate::new(state.federate_slots.clone(), args.federate_max_queue);
    state.import_limit = crate::limits::RequestLimit {
        max_series: args.import_max_series,
        max_samples: args.import_max_samples,
    };
    state.flags = flag_values(&args);
    state.remote_read = Arc::new(
        crate::remote::read::RemoteRead::new(
            Arc::new(crate::query::storage::DbQueryable::new(db.clone())),
            crate::remote::read::ReadLimits {
                sample_limit: args.remote_read_sample_limit,
                concurrent_limit: args.remote_read_concurrent_limit,
                max_bytes_in_frame: args.remote_read_max_bytes_in_frame,
                chunk_range_ms: args.min_block_duration_ms.max(1),
            },
        )
        .with_nice(args.read_nice),
    );
    state.remote_write = Arc::new(
        crate::remote::RemoteWriteReceiver::new(
            head.clone(),
            usize::try_from(args.remote_write_max_bytes).unwrap_or(usize::MAX),
        )
        .with_limit(crate::limits::RequestLimit {
            max_series: args.remote_write_max_series,
            max_samples: args.remote_write_max_samples,
        }),
    );
    *state.external_labels.get_mut() = Arc::new(ExternalLabels::new(config.external_labels()));
    // The built-in configuration scrapes the address actually bound (port 0 resolved).
    let config = match &args.config_file {
        Some(_) => config,
        None => {
            let addr = listener.local_addr()?.to_string();
            state.config_yaml = crate::config::DEFAULT_CONFIG
                .replace("localhost:9090", &crate::config::self_scrape_target(&addr));
            crate::config::Config::default_for(&addr)
        }
    };
    let scrape = crate::scrape::ScrapeManager::new(head, 2, state.metrics.clone())
        .context("starting the scrape runtime")?;
    scrape
        .apply_config(&config)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    state.scrape = Some(scrape.clone());
    let port = listener.local_addr()?.port();
    let rules_opts = crate::rules::service::RulesOptions {
        external_url: if args.external_url.is_empty() {
            format!("http://{}:{port}", crate::scrape::manager::hostname())
        } else {
            args.external_url.trim_end_matches('/').to_owned()
        },
        resend_delay_ms: args.resend_delay_ms,
        outage_tolerance_ms: args.for_outage_tolerance_ms,
        grace_period_ms: args.for_grace_period_ms,
    };
    let rules = crate::rules::service::RulesService::start(
        db.clone(),
        state.query.engine().clone(),
        &config,
        &rules_opts,
    )
    .map_err(|e| anyhow::anyhow!("loading rules: {}", e.replace('\n', "; ")))?;
    state.rules = Some(rules.clone());
    let sender = Arc::new(crate::remote::sender::RemoteWriteSender::new(
        db.head().clone(),
        &args.storage_path,
    ));
    sender
        .apply_config(&config)
        .map_err(|e| anyhow::anyhow!("remote_write: {e}"))?;
    state.remote_sender = Some(sender.clone());
    state.config_file.clone_from(&args.config_file);
    state.enable_lifecycle = args.enable_lifecycle;
    tracing::info!(
        address = %listener.local_addr()?,
        storage = %args.storage_path.display(),
        "fedstore listening"
    );
    let state = Arc::new(state);
    let reload_state = state.clone();
    let served = actix_web::rt::System::new().block_on(async move {
        actix_web::rt::spawn(crate::api::lifecycle::reload_on_sighup(reload_state));
        server::run(listener, state, shutdown_signal()).await
    });
    scrape.stop();
    rules.stop();
    sender.stop();
    served?;
    // Acknowledged writes are already durable; this syncs what `never`/interval modes buffered.
    db.head()
        .flush_wal()
        .context("flushing the WAL at shutdown")?;
    drop(ticker);
    // The next start loads it instead of replaying the whole WAL; without it, it replays.
    if let Err(e) = db.head().write_snapshot() {
        tracing::warn!(error = %e, "no head snapshot at shutdown; the next start replays the WAL");
    }
    tracing::info!("fedstore stopped");
    Ok(())
}

/// Every `serve` flag and its value as given or defaulted (`/api/v1/status/flags`).
fn flag_values(args: &ServeArgs) -> Vec<(String, String)> {
    let ms = |v: i64| crate::api::v1::status::format_duration_ms(v);
    let path = |p: &std::path::Path| p.display().to_string();
    let opt = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
    let mut flags = vec![
        (
            "config.file",
            args.config_file.as_deref().map(path).unwrap_or_default(),
        ),
        ("storage.tsdb.path", path(&args.storage_path)),
        ("web.listen-address", args.listen_address.clone()),
        ("query.lookback-delta", ms(args.lookback_delta_ms)),
        ("query.timeout", ms(args.query_timeout_ms)),
        ("query.max-samples", args.query_max_samples.to_string()),
        (
            "query.max-concurrency",
            args.query_max_concurrency.to_string(),
        ),
        (
            "storage.tsdb.head-shards",
            args.head_shards.map(|n| n.to_string()).unwrap_or_default(),
        ),
        ("web.enable-lifecycle", args.enable_lifecycle.to_string()),
        ("web.max-connections", args.max_connections.to_string()),
        (
            "web.config.file",
            args.web_config_file
                .as_deref()
                .map(path)
                .unwrap_or_default(),
        ),
        ("web.federate.max-series", opt(args.federate_max_series)),
        (
            "web.federate.max-queue",
            args.federate_max_queue.to_string(),
        ),
        ("query.max-queue", args.query_max_queue.to_string()),
        ("storage.read-nice", args.read_nice.to_string()),
        (
            "storage.remote.max-wal-lag-segments",
            args.remote_max_wal_lag_segments.to_string(),
        ),
        (
            "web.remote-write.max-series-per-request",
            opt(args.remote_write_max_series),
        ),
        (
            "web.remote-write.max-samples-per-request",
            opt(args.remote_write_max_samples),
        ),
        (
            "web.import.max-series-per-request",
            opt(args.import_max_series),
        ),
        (
            "web.import.max-samples-per-request",
            opt(args.import_max_samples),
        ),
        ("storage.wal.fsync", format!("{:?}", args.wal_fsync)),
        (
            "web.remote-write.max-bytes",
            args.remote_write_max_bytes.to_string(),
        ),
        (
            "storage.remote.read-sample-limit",
            args.remote_read_sample_limit.to_string(),
        ),
        (
            "storage.remote.read-concurrent-limit",
            args.remote_read_concurrent_limit.to_string(),
        ),
        (
            "storage.remote.read-max-bytes-in-frame",
            args.remote_read_max_bytes_in_frame.to_string(),
        ),
        ("storage.tsdb.retention.time", ms(args.retention_time_ms)),
        (
            "storage.tsdb.retention.size",
            args.retention_size_bytes
                .map(|n| n.to_string())
                .unwrap_or_else(|| "0B".into()),
        ),
        (
            "storage.tsdb.min-block-duration",
            ms(args.min_block_duration_ms),
        ),
        (
            "storage.tsdb.max-block-duration",
            args.max_block_duration_ms.map(ms).unwrap_or_default(),
        ),
        (
            "storage.tsdb.compaction-interval",
            ms(args.compaction_interval_ms),
        ),
    ];
    flags.sort();
    flags.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_as_prometheus_writes_them() {
        // (input, expected)
        let cases = [
            ("0", Ok(0)),
            ("10", Ok(10)),
            ("5e7", Ok(50_000_000)),
            ("1048576", Ok(1_048_576)),
            ("1.5", Err(())),
            ("-1", Err(())),
            ("x", Err(())),
        ];
        for (input, want) in cases {
            assert_eq!(parse_count(input).map_err(|_| ()), want, "input {input}");
        }
    }
}
