//! querybench: the query API's speed (issue 10) for fedstore, Prometheus 2.42 and
//! VictoriaMetrics 1.79 on the same samples, as one markdown table with ratios and an SVG chart.
//!
//! The dataset is the storage crate's node-exporter-like set (`NodeSetSpec`: instances x 100
//! metric names `node_metric_NNN_total` x 10 series, plus `job:` aggregates) and one classic
//! histogram per instance (`node_request_duration_seconds_bucket`, 12 `le` buckets), 2 h of 15 s
//! samples ending when the tool starts, loaded into every server by remote write (30-minute
//! windows in time order, series-major inside a window, so Prometheus's appendable window
//! accepts everything). Servers run one after the other with fresh data dirs.
//!
//! Every measurement is the median of `--reps` timed requests after one warm-up; the peak RSS
//! growth of the server during a row's requests is polled every 5 ms from `/proc`. A server that
//! does not answer a query API (404) gets `-` in its cells.
//!
//! With `--interleave` all servers are loaded at once and each row's timed requests go to
//! them in turn (one request per server per round) instead of one server after the other.
//!
//! With `--keep-dir` the loaded data dirs stay there and a later run with the same dataset
//! reuses them (the servers restart on their data instead of being loaded again), so a new
//! fedstore build meets the same loaded peers.
//!
//! Example (the 50k-series run): `target/release/querybench --series 50000`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use clap::{Parser, ValueEnum};
use fedstore_storage::testutil::{NodeSetSpec, mix};
use fedstore_tools::http;
use fedstore_tools::procs::{self, ChildGuard};
use fedstore_tools::remote_write;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Server {
    Fedstore,
    Prometheus,
    Victoriametrics,
}

impl Server {
    /// Every server, in the tables' column order.
    const ALL: [Server; 3] = [
        Server::Fedstore,
        Server::Prometheus,
        Server::Victoriametrics,
    ];

    fn label(self) -> &'static str {
        match self {
            Server::Fedstore => "fedstore",
            Server::Prometheus => "Prometheus 2.42",
            Server::Victoriametrics => "VictoriaMetrics 1.79",
        }
    }
}

#[derive(Parser, Debug)]
#[command(about = "Query API speed: fedstore vs Prometheus 2.42 vs VictoriaMetrics 1.79")]
struct Args {
    /// Servers to run, in this order (comma-separated).
    #[arg(long, value_delimiter = ',', default_values = ["fedstore", "prometheus", "victoriametrics"])]
    only: Vec<Server>,
    /// Node series (rounded to whole instances of 1,000); the histogram and `job:` series come on top.
    #[arg(long, default_value_t = 1_000_000)]
    series: usize,
    /// Samples per series (480 = 2 h at 15 s).
    #[arg(long, default_value_t = 480)]
    samples: usize,
    /// Timed repetitions per row (after one warm-up).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Samples per remote-write request (about).
    #[arg(long, default_value_t = 60_000)]
    request_samples: usize,
    /// Concurrent remote-write senders.
    #[arg(long, default_value_t = 2)]
    senders: usize,
    /// Ports: fedstore = base, Prometheus = base+1, VictoriaMetrics = base+2.
    #[arg(long, default_value_t = 19360)]
    port_base: u16,
    /// fedstore binary.
    #[arg(long, default_value = "target/release/fedstore")]
    fedstore_bin: PathBuf,
    /// Prometheus binary.
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus_bin: PathBuf,
    /// VictoriaMetrics binary.
    #[arg(long, default_value = "/usr/bin/victoria-metrics")]
    vm_bin: PathBuf,
    /// Where temp data dirs go (a fresh sub-directory is made and removed).
    #[arg(long, default_value = "/tmp")]
    work_dir: PathBuf,
    /// Also write the markdown table to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the chart here.
    #[arg(long, default_value = "docs/img/querybench.svg")]
    svg: PathBuf,
    /// After its rows, keep each server running (loaded) this many seconds, with every row's
    /// request printed, so it can be profiled; stop earlier by removing the printed file.
    #[arg(long, default_value_t = 0)]
    hold_secs: u64,
    /// Before fedstore's rows, wait until its data directory holds this many blocks (with
    /// `--samples` over 3 h of data, its compaction cuts 2 h blocks within a minute), so the
    /// rows read head and blocks.
    #[arg(long, default_value_t = 0)]
    blocks: usize,
    /// Keep every server of `--only` loaded at once (each on its own data dir) and time each
    /// row's requests in turn across them, so the shared machine's noise falls on all alike
    /// (needs the memory of all three: ~2 GiB at 200k series). `--hold-secs` is ignored.
    #[arg(long)]
    interleave: bool,
    /// Keep the loaded data dirs here (not removed at the end) and reuse the ones a previous
    /// run with the same `--series` and `--samples` loaded.
    #[arg(long)]
    keep_dir: Option<PathBuf>,
    /// Timed repetitions for a row whose warm-up took under a second on every server (cheap
    /// rows are the noisiest); 0 = `--reps`.
    #[arg(long, default_value_t = 0)]
    fast_reps: usize,
    /// Seconds to wait after a server is loaded (or restarted on kept data) before its rows.
    /// fedstore's start on kept data reads its head chunk files through their mappings, and
    /// those pages stay in its RSS until the first compaction round (a minute) releases them:
    /// rows run before that find the chunks already mapped, so their RSS growth leaves out
    /// what a query maps (70 s measures that, as a server up for a while would show).
    #[arg(long, default_value_t = 0)]
    settle_secs: u64,
    /// Only these rows, by key (comma-separated: `empty`, `rate_sum`, `rate_sum_names`,
    /// `count_by_name`, `topk_count`, `range_rate`, `range_histogram`, `series`,
    /// `label_values`, `status_tsdb`); all when not given.
    #[arg(long, value_delimiter = ',')]
    rows: Vec<String>,
}

/// The histogram's metric name and buckets.
const HISTOGRAM: &str = "node_request_duration_seconds_bucket";
const LES: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];
/// The metric of the range row (~10 series per instance).
const ONE_METRIC: &str = "node_metric_001_total";
const STEP_MS: i64 = 15_000;

/// One row of the table: an API request relative to the data's end time.
struct Row {
    key: &'static str,
    title: String,
    /// Path and query string given the data's last timestamp in ms.
    path: Box<dyn Fn(i64) -> String + Send + Sync>,
}

/// The key of the row that asks each server for nothing (its health check): the HTTP round
/// trip the other rows' times include, so that a sub-millisecond row can be compared on what
/// lies above it ([`render_beyond_empty`]).
const EMPTY_ROW: &str = "empty";

impl Row {
    /// The row's request to `server`: the same for all but [`EMPTY_ROW`], whose path is each
    /// server's own health endpoint.
    fn path_for(&self, server: Server, end_ms: i64) -> String {
        match (self.key, server) {
            (EMPTY_ROW, Server::Victoriametrics) => "/health".into(),
            _ => (self.path)(end_ms),
        }
    }
}

fn rows() -> Vec<Row> {
    let enc = http::encode_component;
    let secs = |ms: i64| format!("{}.{:03}", ms / 1000, ms % 1000);
    let instant = move |q: &'static str| {
        move |end: i64| format!("/api/v1/query?query={}&time={}", enc(q), secs(end))
    };
    let instant_owned = move |q: String| {
        move |end: i64| format!("/api/v1/query?query={}&time={}", enc(&q), secs(end))
    };
    let range = move |q: String, span_ms: i64, step: &'static str| {
        move |end: i64| {
            format!(
                "/api/v1/query_range?query={}&start={}&end={}&step={step}",
                enc(&q),
                secs(end - span_ms),
                secs(end)
            )
        }
    };
    let all = r#"{__name__=~".+"}"#;
    vec![
        Row {
            key: EMPTY_ROW,
            title: "empty request (`/-/healthy`; VictoriaMetrics `/health`)".into(),
            path: Box::new(|_| "/-/healthy".into()),
        },
        Row {
            key: "rate_sum",
            title: r#"instant `sum by (job) (rate({__name__=~"node_metric_00.*"}[5m]))`"#.into(),
            path: Box::new(instant(
                r#"sum by (job) (rate({__name__=~"node_metric_00.*"}[5m]))"#,
            )),
        },
        Row {
            key: "rate_sum_names",
            title: "the same as one sum per name (`sum by (job) (rate(node_metric_000_total[5m])) + ...`, 9 names)".into(),
            path: Box::new(instant_owned(rate_sum_per_name())),
        },
        Row {
            key: "count_by_name",
            title: r#"instant `count by (__name__) ({__name__=~".+"})`"#.into(),
            path: Box::new(instant(r#"count by (__name__) ({__name__=~".+"})"#)),
        },
        Row {
            key: "topk_count",
            title: r#"instant `topk(10, count by (__name__) ({__name__=~".+"}))`"#.into(),
            path: Box::new(instant(
                r#"topk(10, count by (__name__) ({__name__=~".+"}))"#,
            )),
        },
        Row {
            key: "range_rate",
            title: format!("range 1 h / 15 s `sum by (instance) (rate({ONE_METRIC}[5m]))`"),
            path: Box::new(range(
                format!("sum by (instance) (rate({ONE_METRIC}[5m]))"),
                3_600_000,
                "15",
            )),
        },
        Row {
            key: "range_histogram",
            title: format!(
                "range 2 h / 60 s `histogram_quantile(0.99, sum by (le) (rate({HISTOGRAM}[5m])))`"
            ),
            path: Box::new(range(
                format!("histogram_quantile(0.99, sum by (le) (rate({HISTOGRAM}[5m])))"),
                7_200_000 - STEP_MS,
                "60",
            )),
        },
        Row {
            key: "series",
            title: r#"`/api/v1/series?match[]={__name__=~".+"}` (2 h)"#.into(),
            path: Box::new(move |end: i64| {
                format!(
                    "/api/v1/series?match%5B%5D={}&start={}&end={}",
                    enc(all),
                    secs(end - 7_200_000),
                    secs(end)
                )
            }),
        },
        Row {
            key: "label_values",
            title: "`/api/v1/label/instance/values`".into(),
            path: Box::new(|_| "/api/v1/label/instance/values".into()),
        },
        Row {
            key: "status_tsdb",
            title: "`/api/v1/status/tsdb`".into(),
            path: Box::new(|_| "/api/v1/status/tsdb".into()),
        },
    ]
}

/// `rate` over `{__name__=~"node_metric_00.*"}` gives series that differ only in the dropped
/// metric name, which Prometheus 2.42 refuses ("vector cannot contain metrics with the same
/// labelset"); this is the sum the issue's row means, written so every server can answer it:
/// one `sum by (job) (rate(...))` per name matched by the regex, added up.
fn rate_sum_per_name() -> String {
    (0..10)
        .map(NodeSetSpec::metric)
        .filter(|m| m.starts_with("node_metric_00"))
        .map(|m| format!("sum by (job) (rate({m}[5m]))"))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// One row's measurement on one server.
#[derive(Clone, Debug, Default)]
struct Cell {
    median: Option<Duration>,
    /// Peak RSS above the RSS before the row's first request, KiB.
    rss_growth_kib: u64,
    bytes: u64,
    /// Series in the answer (queries) or `None` (other endpoints).
    series: Option<usize>,
    note: Option<String>,
    /// The error text of a non-200 answer.
    error_text: Option<String>,
}

#[derive(Debug, Default)]
struct Run {
    load: Option<Duration>,
    rss_after_load_kib: u64,
    cells: Vec<Cell>,
    error: Option<String>,
}

/// The dataset: node series from `NodeSetSpec`, then the histogram buckets.
struct Data {
    spec: NodeSetSpec,
    /// Pre-encoded labels of every series, concatenated; `offsets[i]..offsets[i + 1]`.
    labels: Vec<u8>,
    offsets: Vec<usize>,
    /// Index of the first histogram series.
    first_bucket: usize,
    end_ms: i64,
    samples: usize,
}

impl Data {
    fn new(series: usize, samples: usize) -> Data {
        let instances = (series / 1000).max(1);
        let spec = NodeSetSpec {
            instances,
            metrics: 100,
            series_per_metric: 10,
            aggregated: instances,
        };
        let (mut labels, mut offsets) = (Vec::new(), vec![0]);
        spec.for_each(|l| {
            remote_write::encode_labels(
                l.iter().map(|x| (x.name.as_str(), x.value.as_str())),
                &mut labels,
            );
            offsets.push(labels.len());
        });
        let first_bucket = offsets.len() - 1;
        for i in 0..instances {
            let inst = NodeSetSpec::instance(i);
            for le in LES {
                let pairs = [
                    ("__name__", HISTOGRAM),
                    ("instance", inst.as_str()),
                    ("job", "node"),
                    ("le", le),
                ];
                remote_write::encode_labels(pairs, &mut labels);
                offsets.push(labels.len());
            }
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Data {
            spec,
            labels,
            offsets,
            first_bucket,
            end_ms: now - now % STEP_MS,
            samples,
        }
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn labels(&self, i: usize) -> &[u8] {
        &self.labels[self.offsets[i]..self.offsets[i + 1]]
    }

    fn time(&self, k: usize) -> i64 {
        self.end_ms - STEP_MS * (self.samples - 1 - k) as i64
    }

    /// Sample `k` of series `i`: counters grow by a per-series rate with jitter below it;
    /// buckets are cumulative over `le` and over time.
    fn value(&self, i: usize, k: usize) -> f64 {
        let k = k as u64;
        if i >= self.first_bucket {
            let (inst, b) = (
                (i - self.first_bucket) / LES.len(),
                (i - self.first_bucket) % LES.len(),
            );
            let per_step = 50 + mix(inst as u64, 1) % 200;
            let total = per_step * k + mix(inst as u64, k) % per_step;
            // Share of observations at or below bucket b: rising to 1 at +Inf.
            let share = ((b + 1) as f64 / LES.len() as f64).powf(0.5);
            return (total as f64 * share).floor();
        }
        let i = i as u64;
        let rate = 1 + mix(i, 1) % 1000;
        ((mix(i, 0) % 100_000) + rate * k + mix(i, k) % rate) as f64
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.reps > 0 && args.senders > 0,
        "positive --reps and --senders"
    );
    procs::install_signal_handler()?;
    let t = Instant::now();
    let mut data = Arc::new(Data::new(args.series, args.samples));
    eprintln!(
        "{} series ({} node instances) x {} samples, labels encoded in {:.1}s",
        data.len(),
        data.spec.instances,
        args.samples,
        t.elapsed().as_secs_f64()
    );
    let work = match &args.keep_dir {
        Some(dir) => dir.clone(),
        None => args
            .work_dir
            .join(format!("querybench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work)?;
    if args.keep_dir.is_some() {
        Arc::get_mut(&mut data)
            .context("dataset shared before use")?
            .end_ms = kept_end_ms(&work, &args)?;
    }
    let mut rows = rows();
    if !args.rows.is_empty() {
        for key in &args.rows {
            ensure!(rows.iter().any(|r| r.key == key), "--rows: no row `{key}`");
        }
        rows.retain(|r| args.rows.iter().any(|k| k == r.key));
    }
    let mut runs = Vec::new();
    if args.interleave {
        runs = run_interleaved(&args, &data, &rows, &work);
    }
    for &server in args.only.iter().filter(|_| !args.interleave) {
        eprintln!("=== {}", server.label());
        let dir = work.join(format!("{server:?}").to_lowercase());
        std::fs::create_dir_all(&dir)?;
        let mut run = Run::default();
        if let Err(e) = run_server(&args, &data, &rows, server, &dir, &mut run) {
            eprintln!("{}: {e:#}", server.label());
            run.error = Some(format!("{e:#}"));
        }
        if args.keep_dir.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        runs.push((server, run));
    }
    if args.keep_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    let table = render_table(&args, &data, &rows, &runs);
    println!("{table}");
    if let Some(out) = &args.out {
        std::fs::write(out, &table)?;
    }
    if let Some(parent) = args.svg.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.svg, render_svg(&data, &rows, &runs))?;
    eprintln!("chart written to {}", args.svg.display());
    Ok(())
}

fn run_server(
    args: &Args,
    data: &Arc<Data>,
    rows: &[Row],
    server: Server,
    dir: &Path,
    run: &mut Run,
) -> Result<()> {
    let mut live = prepare(args, data, server, dir, run)?;
    for row in rows {
        let cell = if live.api {
            measure(
                args,
                live.addr,
                live.child.pid(),
                &row.path_for(server, data.end_ms),
            )
        } else {
            Cell {
                note: Some("no query API".into()),
                ..Cell::default()
            }
        };
        print_cell(row, &cell);
        run.cells.push(cell);
        live.child
            .check_alive()
            .with_context(|| format!("see {}", live.log.display()))?;
    }
    if args.hold_secs > 0 {
        hold(args, server, live.addr, live.child.pid(), rows, data, dir)?;
    }
    live.child.stop(Duration::from_secs(60));
    Ok(())
}

/// A started and loaded server.
struct Live {
    child: ChildGuard,
    addr: SocketAddr,
    log: PathBuf,
    /// Whether it answers the query API (not 404).
    api: bool,
}

fn print_cell(row: &Row, cell: &Cell) {
    eprintln!(
        "  {:16} {:>10} series {:>8} bytes {:>11} RSS +{} MiB {}",
        row.key,
        cell.median.map_or("-".into(), fmt_dur),
        cell.series.map_or("-".into(), |s| s.to_string()),
        cell.bytes,
        cell.rss_growth_kib / 1024,
        cell.note.as_deref().unwrap_or("")
    );
}

/// Every server of `--only` started and loaded, each with its own data dir under `work`, then
/// every row measured on all of them at once, request by request in turn
/// ([`measure_interleaved`]).
fn run_interleaved(args: &Args, data: &Arc<Data>, rows: &[Row], work: &Path) -> Vec<(Server, Run)> {
    let mut runs: Vec<(Server, Run)> = Vec::new();
    let mut lives: Vec<(usize, Live)> = Vec::new();
    for &server in &args.only {
        eprintln!("=== {} (loading)", server.label());
        let dir = work.join(format!("{server:?}").to_lowercase());
        let mut run = Run::default();
        match std::fs::create_dir_all(&dir)
            .map_err(anyhow::Error::from)
            .and_then(|()| prepare(args, data, server, &dir, &mut run))
        {
            Ok(live) if live.api => lives.push((runs.len(), live)),
            Ok(_) => {}
            Err(e) => {
                eprintln!("{}: {e:#}", server.label());
                run.error = Some(format!("{e:#}"));
            }
        }
        runs.push((server, run));
    }
    eprintln!("=== rows, requests interleaved across the loaded servers");
    for row in rows {
        let targets: Vec<Target> = lives
            .iter()
            .map(|(k, l)| Target {
                addr: l.addr,
                pid: l.child.pid(),
                path: row.path_for(runs[*k].0, data.end_ms),
            })
            .collect();
        let cells = measure_interleaved(args, &targets);
        for ((k, _), cell) in lives.iter().zip(cells) {
            eprintln!("  {}:", runs[*k].0.label());
            print_cell(row, &cell);
            runs[*k].1.cells.push(cell);
        }
        for (k, run) in runs.iter_mut().enumerate() {
            if !lives.iter().any(|(i, _)| *i == k) {
                run.1.cells.push(Cell {
                    note: Some("no query API".into()),
                    ..Cell::default()
                });
            }
        }
    }
    for (_, mut live) in lives {
        live.child.stop(Duration::from_secs(60));
    }
    runs
}

/// The data's end time of a kept work dir (written by the run that loaded it), or now's
/// (written for the runs to come) when the dir is new. A dir loaded with another dataset is
/// refused rather than mixed.
fn kept_end_ms(work: &Path, args: &Args) -> Result<i64> {
    let path = work.join("dataset");
    let want = format!("series {} samples {}", args.series, args.samples);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let (shape, end) = text
            .trim()
            .rsplit_once(" end_ms ")
            .with_context(|| format!("{}: unreadable", path.display()))?;
        ensure!(
            shape == want,
            "{} holds `{shape}`, this run asks for `{want}`: use another --keep-dir",
            path.display()
        );
        return end
            .parse()
            .with_context(|| format!("{}: bad end_ms", path.display()));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let end = now - now % STEP_MS;
    std::fs::write(&path, format!("{want} end_ms {end}\n"))?;
    Ok(end)
}

/// Starts `server` on its data dir under `dir`, loads the samples (unless `--keep-dir` holds
/// them from an earlier run) and waits until they answer; `run` gets the load time and the RSS
/// after it.
fn prepare(
    args: &Args,
    data: &Arc<Data>,
    server: Server,
    dir: &Path,
    run: &mut Run,
) -> Result<Live> {
    let port = args.port_base
        + match server {
            Server::Fedstore => 0,
            Server::Prometheus => 1,
            Server::Victoriametrics => 2,
        };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let log = dir.join("server.log");
    let mut child = start(args, server, dir, port, &log)?;
    procs::wait_until(&mut child, &log, Duration::from_secs(600), "ready", || {
        let path = if server == Server::Victoriametrics {
            "/health"
        } else {
            "/-/ready"
        };
        Ok(
            http::get(addr, path, &[], Duration::from_secs(5), &mut |_| {})
                .is_ok_and(|r| r.status == 200),
        )
    })?;
    let t = Instant::now();
    let loaded_flag = dir.join("loaded");
    let reuse = args.keep_dir.is_some() && loaded_flag.exists();
    if reuse {
        eprintln!("  reusing the samples loaded before in {}", dir.display());
    } else {
        // All three take Prometheus remote write at the same path.
        load(args, data, &format!("http://{addr}/api/v1/write"))?;
    }
    if server == Server::Victoriametrics {
        // Make everything searchable now rather than within a second or two.
        let _ = http::get(
            addr,
            "/internal/force_flush",
            &[],
            Duration::from_secs(60),
            &mut |_| {},
        );
    }
    // Wait until the histogram's newest samples answer (the last series loaded).
    let probe = format!(
        "/api/v1/query?query={}&time={}",
        http::encode_component(&format!("count({HISTOGRAM})")),
        data.end_ms / 1000
    );
    let want = (data.len() - data.first_bucket) as f64;
    let mut api = true;
    procs::wait_until(
        &mut child,
        &log,
        Duration::from_secs(300),
        "loaded samples to answer",
        || {
            let (resp, body) = http::get_body(addr, &probe, &[], Duration::from_secs(60))?;
            if resp.status == 404 {
                api = false;
                return Ok(true);
            }
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let n = v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok());
            Ok(n == Some(want))
        },
    )?;
    if !reuse {
        run.load = Some(t.elapsed());
        if args.keep_dir.is_some() {
            std::fs::write(&loaded_flag, "")?;
        }
    }
    if server == Server::Fedstore && args.blocks > 0 {
        let data_dir = dir.join("data");
        procs::wait_until(
            &mut child,
            &log,
            Duration::from_secs(600),
            "blocks to be written",
            || Ok(count_blocks(&data_dir) >= args.blocks),
        )?;
        eprintln!("  {} blocks written", count_blocks(&data_dir));
    }
    if args.settle_secs > 0 {
        eprintln!("  settling for {} s", args.settle_secs);
        thread::sleep(Duration::from_secs(args.settle_secs));
    }
    thread::sleep(Duration::from_secs(3));
    run.rss_after_load_kib = procs::rss_kib(child.pid()).map_or(0, |m| m.0);
    eprintln!(
        "  {} in {:.1}s, RSS {} MiB{}",
        if reuse { "answering" } else { "loaded" },
        t.elapsed().as_secs_f64(),
        run.rss_after_load_kib / 1024,
        if api { "" } else { "; no query API (404)" }
    );
    Ok(Live {
        child,
        addr,
        log,
        api,
    })
}

/// Block directories (26-character ULID names) in a fedstore data directory.
fn count_blocks(data: &Path) -> usize {
    std::fs::read_dir(data).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.file_name().len() == 26 && e.path().is_dir())
            .count()
    })
}

/// Keeps the loaded server up for `--hold-secs` (or until the printed file is removed),
/// printing what to profile and every row's request.
fn hold(
    args: &Args,
    server: Server,
    addr: SocketAddr,
    pid: u32,
    rows: &[Row],
    data: &Data,
    dir: &Path,
) -> Result<()> {
    let flag = dir.join("holding");
    std::fs::write(&flag, "remove this file to stop holding\n")?;
    eprintln!(
        "  holding {addr} (pid {pid}) for {} s; rm {} to go on; rows:",
        args.hold_secs,
        flag.display()
    );
    for row in rows {
        eprintln!(
            "    {:16} http://{addr}{}",
            row.key,
            row.path_for(server, data.end_ms)
        );
    }
    let until = Instant::now() + Duration::from_secs(args.hold_secs);
    while Instant::now() < until && flag.exists() {
        thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn start(args: &Args, server: Server, dir: &Path, port: u16, log: &Path) -> Result<ChildGuard> {
    let listen = format!("127.0.0.1:{port}");
    let data = dir.join("data");
    let empty = dir.join("empty.yml");
    std::fs::write(
        &empty,
        "global:\n  scrape_interval: 15s\nscrape_configs: []\n",
    )?;
    let cmd = match server {
        Server::Fedstore => {
            ensure!(
                args.fedstore_bin.exists(),
                "{} not built (cargo build --release)",
                args.fedstore_bin.display()
            );
            let mut c = Command::new(&args.fedstore_bin);
            c.arg("serve")
                .arg(format!("--config.file={}", empty.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg(format!("--web.listen-address={listen}"));
            c
        }
        Server::Prometheus => {
            let mut c = Command::new(&args.prometheus_bin);
            c.arg(format!("--config.file={}", empty.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg(format!("--web.listen-address={listen}"))
                .arg("--web.enable-remote-write-receiver");
            c
        }
        Server::Victoriametrics => {
            let mut c = Command::new(&args.vm_bin);
            c.arg(format!("-storageDataPath={}", data.display()))
                .arg(format!("-httpListenAddr={listen}"))
                // Prometheus's lookback, no answer cache, no latency offset, and limits that
                // let 1M-series answers through (the others have none).
                .arg("-search.maxStalenessInterval=5m")
                .arg("-search.disableCache")
                .arg("-search.latencyOffset=0s")
                .arg("-search.maxUniqueTimeseries=100000000")
                .arg("-search.maxSeries=100000000")
                .arg("-search.maxSamplesPerQuery=10000000000")
                .arg("-search.maxQueryDuration=10m")
                .arg("-search.maxConcurrentRequests=16")
                .arg("-search.maxQueueDuration=10m");
            c
        }
    };
    ChildGuard::spawn(server.label(), cmd, log)
}

/// Sends every sample by remote write: 30-minute windows in time order, series-major inside.
fn load(args: &Args, data: &Arc<Data>, url: &str) -> Result<()> {
    let window = (1_800_000 / STEP_MS) as usize;
    let n = data.len();
    let t = Instant::now();
    for w0 in (0..data.samples).step_by(window) {
        let w1 = (w0 + window).min(data.samples);
        let per_req = (args.request_samples / (w1 - w0)).max(1);
        let next = AtomicUsize::new(0);
        let results: Vec<Result<()>> = thread::scope(|sc| {
            let handles: Vec<_> = (0..args.senders)
                .map(|_| {
                    sc.spawn(|| -> Result<()> {
                        let agent = remote_write::agent();
                        let mut enc = snap::raw::Encoder::new();
                        let (mut pb, mut scratch, mut samples) =
                            (Vec::new(), Vec::new(), Vec::new());
                        loop {
                            let a = next.fetch_add(1, Ordering::Relaxed) * per_req;
                            if a >= n {
                                return Ok(());
                            }
                            pb.clear();
                            for i in a..(a + per_req).min(n) {
                                samples.clear();
                                samples.extend((w0..w1).map(|k| (data.time(k), data.value(i, k))));
                                remote_write::encode_series(
                                    data.labels(i),
                                    &samples,
                                    &mut scratch,
                                    &mut pb,
                                );
                            }
                            remote_write::post(&agent, url, &pb, &mut enc)?;
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("sender panicked")))
                })
                .collect()
        });
        for r in results {
            r?;
        }
    }
    let total = (n * data.samples) as f64;
    eprintln!(
        "  sent {total} samples in {:.1}s ({:.0}/s)",
        t.elapsed().as_secs_f64(),
        total / t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Times `path` `--reps` times after a warm-up while a thread polls the server's RSS.
fn measure(args: &Args, addr: SocketAddr, pid: u32, path: &str) -> Cell {
    let target = Target {
        addr,
        pid,
        path: path.to_owned(),
    };
    measure_interleaved(args, &[target])
        .pop()
        .unwrap_or_default()
}

/// One server a row's requests go to.
struct Target {
    addr: SocketAddr,
    pid: u32,
    /// The row's request for this server ([`Row::path_for`]).
    path: String,
}

/// One row on several loaded servers: a warm-up on each, then `--reps` rounds of one timed
/// request per server in turn, so the machine's noise falls on all of them alike. One thread
/// polls every server's RSS during the row.
fn measure_interleaved(args: &Args, targets: &[Target]) -> Vec<Cell> {
    let pids: Vec<u32> = targets.iter().map(|t| t.pid).collect();
    let bases: Vec<u64> = pids
        .iter()
        .map(|&p| procs::rss_kib(p).map_or(0, |m| m.0))
        .collect();
    let peaks: Arc<Vec<AtomicU64>> = Arc::new(bases.iter().map(|&b| AtomicU64::new(b)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (peaks, stop, pids) = (peaks.clone(), stop.clone(), pids.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for (k, &pid) in pids.iter().enumerate() {
                    if let Some((rss, _)) = procs::rss_kib(pid) {
                        peaks[k].fetch_max(rss, Ordering::Relaxed);
                    }
                }
                thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let mut cells = vec![Cell::default(); targets.len()];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); targets.len()];
    let mut failed = vec![false; targets.len()];
    let mut reps = args.reps;
    let mut rep = 0;
    while rep <= reps {
        let mut slowest = Duration::ZERO;
        // Rotate who goes first, so no server always follows the same one.
        for j in 0..targets.len() {
            let k = (j + rep) % targets.len();
            let (addr, path) = (targets[k].addr, targets[k].path.as_str());
            if failed[k] {
                continue;
            }
            match request(addr, path, &mut cells[k]) {
                Some(elapsed) if rep > 0 => times[k].push(elapsed),
                Some(elapsed) => {
                    // The warm-up pays what a server computes once and keeps (fedstore's
                    // block cardinality for `status/tsdb`): printed, not in the median.
                    eprintln!("  warm-up {} {addr}{path}", fmt_dur(elapsed));
                    slowest = slowest.max(elapsed);
                }
                None => failed[k] = true,
            }
        }
        if rep == 0 && slowest < Duration::from_secs(1) {
            reps = reps.max(args.fast_reps);
        }
        rep += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = poller.join();
    for (k, cell) in cells.iter_mut().enumerate() {
        times[k].sort();
        cell.median = times[k].get(times[k].len() / 2).copied();
        cell.rss_growth_kib = peaks[k].load(Ordering::Relaxed).saturating_sub(bases[k]);
    }
    cells
}

/// One request of a row: its time (an error answer is timed too: the server did the work,
/// and the cell is marked), `None` when the request failed.
fn request(addr: SocketAddr, path: &str, cell: &mut Cell) -> Option<Duration> {
    let mut body = Vec::new();
    let keep = path.starts_with("/api/v1/query");
    let r = http::get(addr, path, &[], Duration::from_secs(600), &mut |b| {
        if keep {
            body.extend_from_slice(b);
        }
    });
    match r {
        Ok(resp) if resp.status == 200 => {
            cell.bytes = resp.body_bytes;
            if keep {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                cell.series = v["data"]["result"].as_array().map(Vec::len);
            }
            Some(resp.elapsed)
        }
        Ok(resp) => {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            cell.note = Some(format!(
                "HTTP {} {}",
                resp.status,
                v["errorType"].as_str().unwrap_or("")
            ));
            cell.error_text = v["error"].as_str().map(str::to_owned);
            Some(resp.elapsed)
        }
        Err(e) => {
            cell.note = Some(format!("{e}"));
            None
        }
    }
}

/// "5 runs", or "5 runs (15 for rows under a second)" with `--fast-reps`.
fn reps_text(args: &Args) -> String {
    if args.fast_reps > args.reps {
        format!(
            "{} runs ({} for rows under a second)",
            args.reps, args.fast_reps
        )
    } else {
        format!("{} runs", args.reps)
    }
}

fn fmt_dur(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn cell_of(runs: &[(Server, Run)], server: Server, row: usize) -> Option<&Cell> {
    runs.iter().find(|(s, _)| *s == server)?.1.cells.get(row)
}

/// `other / fedstore` as "N.Nx" (how many times faster fedstore is).
fn ratio(runs: &[(Server, Run)], other: Server, row: usize) -> String {
    let f = cell_of(runs, Server::Fedstore, row).and_then(|c| c.median);
    let o = cell_of(runs, other, row).and_then(|c| c.median);
    times_text(f, o)
}

/// `o / f` as "N.Nx", two significant digits below 0.1x (a slow row is not "0.0x").
fn times_text(f: Option<Duration>, o: Option<Duration>) -> String {
    match (f, o) {
        (Some(f), Some(o)) if f.as_nanos() > 0 => {
            let r = o.as_secs_f64() / f.as_secs_f64();
            if r < 0.1 {
                format!("{r:.3}x")
            } else {
                format!("{r:.1}x")
            }
        }
        _ => "-".into(),
    }
}

/// Rows every server answers within [`BEYOND_EMPTY_UNDER`]: what each took beyond its own
/// empty request (the connection, HTTP parsing and answer every row pays), and the ratios of
/// those. A row of a few hundred microseconds is mostly that round trip, so its plain ratio
/// says little about the work.
fn render_beyond_empty(t: &mut String, rows: &[Row], runs: &[(Server, Run)]) {
    const BEYOND_EMPTY_UNDER: Duration = Duration::from_millis(5);
    let Some(empty) = rows.iter().position(|r| r.key == EMPTY_ROW) else {
        return;
    };
    let median = |s: Server, i: usize| cell_of(runs, s, i).and_then(|c| c.median);
    let beyond = |s: Server, i: usize| Some(median(s, i)?.saturating_sub(median(s, empty)?));
    let servers = Server::ALL;
    let small: Vec<usize> = (0..rows.len())
        .filter(|&i| i != empty)
        .filter(|&i| {
            servers
                .iter()
                .filter_map(|&s| median(s, i))
                .all(|m| m < BEYOND_EMPTY_UNDER)
        })
        .filter(|&i| median(Server::Fedstore, i).is_some())
        .collect();
    if small.is_empty() {
        return;
    }
    let _ = writeln!(
        t,
        "Beyond each server's empty request (rows under {} ms everywhere):\n",
        BEYOND_EMPTY_UNDER.as_millis()
    );
    let _ = writeln!(
        t,
        "| request | fedstore | Prometheus 2.42 | VictoriaMetrics 1.79 | vs Prometheus | vs VictoriaMetrics |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|");
    for i in small {
        let text = |s: Server| {
            beyond(s, i).map_or("-".into(), |d| format!("+{:.0} µs", d.as_secs_f64() * 1e6))
        };
        let f = beyond(Server::Fedstore, i);
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} |",
            rows[i].title,
            text(Server::Fedstore),
            text(Server::Prometheus),
            text(Server::Victoriametrics),
            times_text(f, beyond(Server::Prometheus, i)),
            times_text(f, beyond(Server::Victoriametrics, i)),
        );
    }
    let _ = writeln!(t);
}

fn render_table(args: &Args, data: &Data, rows: &[Row], runs: &[(Server, Run)]) -> String {
    let servers = Server::ALL;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{} series ({} node instances x 1,000, {} `job:` series, {} histogram buckets) x {} samples at 15 s; median of {}; load average at the end {:.1}.\n",
        data.len(),
        data.spec.instances,
        data.spec.aggregated,
        data.len() - data.first_bucket,
        data.samples,
        reps_text(args),
        procs::loadavg().unwrap_or(f64::NAN)
    );
    let _ = writeln!(
        t,
        "| request | fedstore | Prometheus 2.42 | VictoriaMetrics 1.79 | vs Prometheus | vs VictoriaMetrics | series | peak RSS growth (fedstore / Prometheus / VM) |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|---|---|");
    for (i, row) in rows.iter().enumerate() {
        let cell = |s: Server| -> String {
            match cell_of(runs, s, i) {
                Some(c) => match (c.median, &c.note) {
                    (Some(m), Some(n)) => format!("{} ({n})", fmt_dur(m)),
                    (Some(m), None) => fmt_dur(m),
                    (None, Some(n)) => n.clone(),
                    _ => "-".into(),
                },
                None => "-".into(),
            }
        };
        let series: Vec<String> = servers
            .iter()
            .filter_map(|s| cell_of(runs, *s, i).and_then(|c| c.series))
            .map(|n| n.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let rss: Vec<String> = servers
            .iter()
            .map(|s| {
                cell_of(runs, *s, i)
                    .filter(|c| c.median.is_some())
                    .map_or("-".into(), |c| format!("{} MiB", c.rss_growth_kib / 1024))
            })
            .collect();
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.title,
            cell(Server::Fedstore),
            cell(Server::Prometheus),
            cell(Server::Victoriametrics),
            ratio(runs, Server::Prometheus, i),
            ratio(runs, Server::Victoriametrics, i),
            if series.is_empty() {
                "-".into()
            } else {
                series.join(" / ")
            },
            rss.join(" / ")
        );
    }
    let _ = writeln!(t);
    render_beyond_empty(&mut t, rows, runs);
    for (i, row) in rows.iter().enumerate() {
        for (s, r) in runs {
            if let Some(e) = r.cells.get(i).and_then(|c| c.error_text.as_ref()) {
                let _ = writeln!(
                    t,
                    "- {} answered `{}` with an error: {e}",
                    s.label(),
                    row.key
                );
            }
        }
    }
    for (s, r) in runs {
        let _ = writeln!(
            t,
            "- {}: loaded in {}, RSS after load {} MiB{}",
            s.label(),
            r.load.map_or("-".into(), fmt_dur),
            r.rss_after_load_kib / 1024,
            r.error
                .as_ref()
                .map_or(String::new(), |e| format!("; error: {e}"))
        );
    }
    t
}

/// A horizontal grouped bar chart of the medians on a log scale.
fn render_svg(data: &Data, rows: &[Row], runs: &[(Server, Run)]) -> String {
    let servers = [
        (Server::Fedstore, "#2b8a3e"),
        (Server::Prometheus, "#e8590c"),
        (Server::Victoriametrics, "#5f3dc4"),
    ];
    let (left, width, bar, gap) = (330.0, 560.0, 12.0, 14.0);
    let group = bar * 3.0 + gap;
    let top = 60.0;
    let height = top + group * rows.len() as f64 + 40.0;
    // Log scale from 0.1 ms to the largest median rounded up to a power of ten.
    let max_ms = runs
        .iter()
        .flat_map(|(_, r)| r.cells.iter().filter_map(|c| c.median))
        .map(|d| d.as_secs_f64() * 1000.0)
        .fold(1.0, f64::max);
    let (lo, hi) = (-1.0f64, max_ms.log10().ceil().max(1.0));
    let x = |ms: f64| left + width * ((ms.max(0.1).log10() - lo) / (hi - lo));
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="12">"#,
        left + width + 80.0
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">Query API, median latency (log scale), {} series x {} samples</text>"#,
        data.len(),
        data.samples
    );
    for (k, (srv, color)) in servers.iter().enumerate() {
        let lx = left + k as f64 * 180.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="32" width="12" height="12" fill="{color}"/><text x="{}" y="43">{}</text>"#,
            lx + 16.0,
            srv.label()
        );
    }
    let mut p = lo;
    while p <= hi {
        let ms = 10f64.powf(p);
        let gx = x(ms);
        let label = if ms >= 1000.0 {
            format!("{} s", ms / 1000.0)
        } else {
            format!("{ms} ms")
        };
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{top}" x2="{gx:.1}" y2="{}" stroke="#ddd"/><text x="{gx:.1}" y="{}" text-anchor="middle" fill="#555">{label}</text>"##,
            height - 35.0,
            height - 20.0
        );
        p += 1.0;
    }
    for (i, row) in rows.iter().enumerate() {
        let gy = top + i as f64 * group;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            gy + bar * 1.5 + 4.0,
            // Cut before escaping, so no entity is cut in half.
            xml_escape(
                &row.title
                    .replace('`', "")
                    .chars()
                    .take(52)
                    .collect::<String>()
            )
        );
        for (k, (srv, color)) in servers.iter().enumerate() {
            let y = gy + k as f64 * bar;
            match cell_of(runs, *srv, i).and_then(|c| c.median) {
                Some(m) => {
                    let ms = m.as_secs_f64() * 1000.0;
                    let _ = writeln!(
                        s,
                        r#"<rect x="{left}" y="{y:.1}" width="{:.1}" height="{}" fill="{color}"/><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
                        (x(ms) - left).max(1.0),
                        bar - 2.0,
                        x(ms) + 4.0,
                        y + bar - 3.0,
                        fmt_dur(m)
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        r##"<text x="{}" y="{:.1}" font-size="10" fill="#999">{}: -</text>"##,
                        left + 4.0,
                        y + bar - 3.0,
                        srv.label()
                    );
                }
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_values_are_counters_and_buckets_cumulative() {
        let d = Data::new(2000, 20);
        assert_eq!(d.len(), 2 * 1000 + 2 + 2 * LES.len());
        for i in [0, 1, 999, 1500] {
            assert!(
                (1..20).all(|k| d.value(i, k) >= d.value(i, k - 1)),
                "series {i}"
            );
        }
        let b0 = d.first_bucket;
        for k in 0..20 {
            let row: Vec<f64> = (0..LES.len()).map(|b| d.value(b0 + b, k)).collect();
            assert!(
                row.windows(2).all(|w| w[0] <= w[1]),
                "buckets at {k}: {row:?}"
            );
        }
        assert_eq!(d.time(19), d.end_ms);
        assert_eq!(d.time(0), d.end_ms - 19 * STEP_MS);
    }

    #[test]
    fn per_name_sum_covers_the_regex() {
        let q = rate_sum_per_name();
        assert_eq!(q.matches("rate(node_metric_00").count(), 9, "{q}");
        assert!(!q.contains("node:metric_003"), "{q}");
    }

    #[test]
    fn table_and_chart_show_ratios() {
        let d = Data::new(1000, 4);
        let rows = rows();
        let mk = |ms: u64| Run {
            cells: (0..rows.len())
                .map(|_| Cell {
                    median: Some(Duration::from_millis(ms)),
                    series: Some(3),
                    ..Cell::default()
                })
                .collect(),
            ..Run::default()
        };
        let runs = vec![
            (Server::Fedstore, mk(10)),
            (Server::Prometheus, mk(100)),
            (Server::Victoriametrics, mk(20)),
        ];
        let args = Args::parse_from(["querybench"]);
        let t = render_table(&args, &d, &rows, &runs);
        assert!(
            t.contains("| 10 ms | 100 ms | 20 ms | 10.0x | 2.0x | 3 |"),
            "{t}"
        );
        let svg = render_svg(&d, &rows, &runs);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 3 + 3 * rows.len());
    }

    #[test]
    fn rows_under_5_ms_are_also_compared_beyond_the_empty_request() {
        let rows = rows();
        let one = rows.iter().position(|r| r.key == "label_values").unwrap();
        let mk = |empty_us: u64, one_us: u64| Run {
            cells: rows
                .iter()
                .enumerate()
                .map(|(i, r)| Cell {
                    median: Some(Duration::from_micros(match i {
                        _ if r.key == EMPTY_ROW => empty_us,
                        _ if i == one => one_us,
                        _ => 10_000,
                    })),
                    ..Cell::default()
                })
                .collect(),
            ..Run::default()
        };
        let runs = vec![
            (Server::Fedstore, mk(300, 400)),
            (Server::Prometheus, mk(350, 850)),
            (Server::Victoriametrics, mk(200, 400)),
        ];
        let mut t = String::new();
        render_beyond_empty(&mut t, &rows, &runs);
        assert!(
            t.contains("| +100 µs | +500 µs | +200 µs | 5.0x | 2.0x |"),
            "{t}"
        );
        assert_eq!(t.matches("| `/").count(), 1, "only the sub-5 ms row: {t}");
        assert_eq!(
            rows[0].path_for(Server::Victoriametrics, 0),
            "/health",
            "each server's own empty request"
        );
    }
}
