//! peerbench: `/federate` latency, bytes and memory of fedstore, Prometheus 2.42 and
//! VictoriaMetrics 1.79 on the same fedgen dataset, printed as one markdown table.
//!
//! Servers run one after another (never two at once: a 2-core machine), each with a temp data
//! dir on 127.0.0.1. Peers scrape `fedgen` targets served by this process; fedstore is loaded
//! through `POST /api/v1/import/prometheus` with explicit timestamps. Every wait has a timeout
//! and every child is killed on exit, error and Ctrl-C.

use std::fmt::Write as _;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use clap::{Parser, ValueEnum};
use fedstore_tools::dataset::{Dataset, DatasetConfig, Shape};
use fedstore_tools::expo;
use fedstore_tools::http::{self, LineCounter};
use fedstore_tools::procs::{self, ChildGuard};
use fedstore_tools::serve::{DatasetTargets, Targets};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Server {
    Prometheus,
    Victoriametrics,
    Fedstore,
}

#[derive(Parser, Debug)]
#[command(about = "Compare /federate of fedstore, Prometheus 2.42 and VictoriaMetrics 1.79")]
struct Args {
    /// Servers to run, in this order (comma-separated).
    #[arg(long, value_delimiter = ',', default_values = ["prometheus", "victoriametrics", "fedstore"])]
    only: Vec<Server>,
    /// Timed repetitions per query shape (after one warm-up request).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Concurrent full federates for the peak-RSS measurement (0 to skip).
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Ports: Prometheus = base, VictoriaMetrics = base+1, fedstore = base+2, targets from base+10.
    #[arg(long, default_value_t = 19440)]
    port_base: u16,
    /// Scrape targets serving the dataset (at most 50).
    #[arg(long, default_value_t = 30)]
    targets: usize,
    /// Scrape interval of the peers, seconds.
    #[arg(long, default_value_t = 30)]
    scrape_interval_s: u64,
    /// Lookback delta of every server (Prometheus duration). Targets stop answering once a
    /// peer is loaded, so all measurements must end within it.
    #[arg(long, default_value = "15m")]
    lookback: String,
    /// Give up loading a server after this many seconds.
    #[arg(long, default_value_t = 900)]
    load_timeout_s: u64,
    /// Abort a server's concurrent phase if MemAvailable drops below this (MiB).
    #[arg(long, default_value_t = 3072)]
    min_mem_available_mib: u64,
    /// Load fedstore by scraping the targets (`--config.file`, like the peers) instead of
    /// `POST /api/v1/import/prometheus`.
    #[arg(long)]
    fedstore_scrape: bool,
    /// fedstore binary.
    #[arg(long, default_value = "target/release/fedstore")]
    fedstore_bin: PathBuf,
    /// Prometheus binary.
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus_bin: PathBuf,
    /// VictoriaMetrics binary.
    #[arg(long, default_value = "/usr/bin/victoria-metrics")]
    vm_bin: PathBuf,
    /// Where temp data dirs and logs go (a fresh sub-directory is made and removed).
    #[arg(long, default_value = "/tmp")]
    work_dir: PathBuf,
    /// Keep data dirs and logs.
    #[arg(long)]
    keep: bool,
    /// Also write the table to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The dataset (fedgen's flags).
    #[command(flatten)]
    dataset: DatasetConfig,
}

/// One timed request.
#[derive(Clone, Debug, Default)]
struct Sample {
    elapsed: Duration,
    /// Server CPU time (user + system) used during the request.
    cpu: Duration,
    bytes: u64,
    series: u64,
}

#[derive(Debug, Default)]
struct ShapeResult {
    samples: Vec<Sample>,
    error: Option<String>,
}

#[derive(Debug, Default)]
struct RunResult {
    label: String,
    error: Option<String>,
    load: Option<Duration>,
    rss_after_load_kib: Option<u64>,
    shapes: Vec<(Shape, ShapeResult)>,
    conc_wall: Option<Duration>,
    conc_cpu: Option<Duration>,
    conc_median: Option<Duration>,
    conc_peak_kib: Option<u64>,
    conc_note: Option<String>,
    hwm_kib: Option<u64>,
    /// 1-minute load average when the server started and when it was stopped.
    loadavg: (Option<f64>, Option<f64>),
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.targets > 0 && args.targets <= 50,
        "--targets must be 1..=50"
    );
    procs::install_signal_handler()?;
    let ds = Dataset::new(args.dataset.clone());
    let work = args
        .work_dir
        .join(format!("peerbench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    eprintln!(
        "dataset: {} series; work dir {}",
        ds.total_series(),
        work.display()
    );

    // Targets only when a scraping peer runs.
    let targets = if args.fedstore_scrape || args.only.iter().any(|s| *s != Server::Fedstore) {
        let started = Instant::now();
        // Explicit timestamps: when the targets freeze, scrapers write no stale markers.
        let src = Arc::new(DatasetTargets::new(ds.clone(), args.targets, true));
        let t = Targets::start(src, args.port_base + 10, args.targets)?;
        eprintln!("targets ready in {:.1}s", started.elapsed().as_secs_f64());
        Some(t)
    } else {
        None
    };

    let mut results = Vec::new();
    for &server in &args.only {
        let dir = work.join(format!("{server:?}").to_lowercase());
        std::fs::create_dir_all(&dir)?;
        let mut r = RunResult {
            label: server_label(&args, server),
            ..RunResult::default()
        };
        eprintln!("=== {}", r.label);
        if let Some(t) = &targets {
            t.set_frozen(false);
        }
        if let Err(e) = run_server(&args, &ds, server, &dir, targets.as_ref(), &mut r) {
            eprintln!("{}: {e:#}", r.label);
            r.error = Some(format!("{e:#}"));
        }
        results.push(r);
    }
    if !args.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    let table = render_table(&args, &ds, &results);
    println!("{table}");
    if let Some(out) = &args.out {
        std::fs::write(out, &table)?;
    }
    Ok(())
}

fn server_label(args: &Args, server: Server) -> String {
    match server {
        Server::Prometheus => {
            let out = Command::new(&args.prometheus_bin).arg("--version").output();
            let text = out
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            let v = text.split_whitespace().nth(2).unwrap_or("?").to_string();
            format!("Prometheus {v}")
        }
        Server::Victoriametrics => {
            let out = Command::new("dpkg-query")
                .args(["-W", "-f=${Version}", "victoria-metrics"])
                .output();
            let v = out
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            format!("VictoriaMetrics {}", if v.is_empty() { "?" } else { &v })
        }
        Server::Fedstore => {
            // The binary may be older than HEAD: name it by its own version and build time.
            let ver = Command::new(&args.fedstore_bin).arg("--version").output();
            let ver = ver
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            let built = Command::new("date")
                .arg("-u")
                .arg("-r")
                .arg(&args.fedstore_bin)
                .arg("+%Y-%m-%dT%H:%MZ")
                .output();
            let built = built
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            if ver.is_empty() {
                "fedstore (not built)".to_string()
            } else {
                format!("{ver} (built {built})")
            }
        }
    }
}

fn port_of(args: &Args, server: Server) -> u16 {
    args.port_base
        + match server {
            Server::Prometheus => 0,
            Server::Victoriametrics => 1,
            Server::Fedstore => 2,
        }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn scrape_config(args: &Args) -> String {
    fedstore_tools::serve::fedgen_scrape_config_secs(
        args.port_base + 10,
        args.targets,
        args.scrape_interval_s,
        25,
        true,
    )
}

fn start_server(args: &Args, server: Server, dir: &Path) -> Result<ChildGuard> {
    let port = port_of(args, server);
    let listen = format!("127.0.0.1:{port}");
    let data = dir.join("data");
    let log = dir.join("server.log");
    let cmd = match server {
        Server::Prometheus => {
            std::fs::write(dir.join("prometheus.yml"), scrape_config(args))?;
            let mut c = Command::new(&args.prometheus_bin);
            c.arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={listen}"))
            .arg(format!("--query.lookback-delta={}", args.lookback));
            c
        }
        Server::Victoriametrics => {
            std::fs::write(dir.join("scrape.yml"), scrape_config(args))?;
            let mut c = Command::new(&args.vm_bin);
            c.arg(format!(
                "-promscrape.config={}",
                dir.join("scrape.yml").display()
            ))
            .arg(format!("-storageDataPath={}", data.display()))
            .arg(format!("-httpListenAddr={listen}"))
            .arg(format!("-search.maxLookback={}", args.lookback))
            .arg("-promscrape.noStaleMarkers")
            .arg("-search.maxFederateSeries=10000000")
            // Defaults (30s per query, 4 concurrent, 10s queue) would turn slow or
            // concurrent full federates into errors; the others have no such limits.
            .arg("-search.maxQueryDuration=10m")
            .arg("-search.maxConcurrentRequests=16")
            .arg("-search.maxQueueDuration=10m")
            .arg("-promscrape.suppressScrapeErrors");
            c
        }
        Server::Fedstore => {
            ensure!(
                args.fedstore_bin.exists(),
                "{} not built (cargo build --release -p fedstore)",
                args.fedstore_bin.display()
            );
            let help = Command::new(&args.fedstore_bin)
                .args(["serve", "--help"])
                .output()?;
            let help = String::from_utf8_lossy(&help.stdout);
            let mut c = Command::new(&args.fedstore_bin);
            c.arg("serve")
                .arg("--web.listen-address")
                .arg(&listen)
                .arg("--storage.tsdb.path")
                .arg(&data);
            if args.fedstore_scrape {
                std::fs::write(dir.join("fedstore.yml"), scrape_config(args))?;
                c.arg(format!(
                    "--config.file={}",
                    dir.join("fedstore.yml").display()
                ));
            }
            if help.contains("query.lookback-delta") {
                c.arg(format!("--query.lookback-delta={}", args.lookback));
            }
            c
        }
    };
    ChildGuard::spawn(&format!("{server:?}"), cmd, &log)
}

fn run_server(
    args: &Args,
    ds: &Dataset,
    server: Server,
    dir: &Path,
    targets: Option<&Targets>,
    r: &mut RunResult,
) -> Result<()> {
    r.loadavg.0 = procs::loadavg();
    let mut child = start_server(args, server, dir)?;
    let pid = child.pid();
    let addr: SocketAddr = format!("127.0.0.1:{}", port_of(args, server)).parse()?;
    let log = dir.join("server.log");
    let ready_paths: &[&str] = match server {
        Server::Prometheus => &["/-/ready"],
        Server::Victoriametrics => &["/health"],
        Server::Fedstore => &["/-/ready", "/-/healthy", "/federate"],
    };
    procs::wait_until(
        &mut child,
        &log,
        Duration::from_secs(120),
        "server ready",
        || {
            Ok(ready_paths.iter().any(|p| {
                http::get(addr, p, &[], Duration::from_secs(5), &mut |_| {})
                    .is_ok_and(|r| r.status == 200)
            }))
        },
    )?;

    let started = Instant::now();
    let total = ds.total_series();
    let timeout = Duration::from_secs(args.load_timeout_s);
    match server {
        Server::Prometheus => procs::wait_until(&mut child, &log, timeout, "head series", || {
            let (_, body) = http::get_body(addr, "/metrics", &[], Duration::from_secs(30))?;
            let text = String::from_utf8_lossy(&body);
            let n = text
                .lines()
                .find_map(|l| l.strip_prefix("prometheus_tsdb_head_series "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            eprintln!("  prometheus_tsdb_head_series {n}");
            Ok(n as u64 >= total)
        })?,
        Server::Victoriametrics => {
            procs::wait_until(&mut child, &log, timeout, "series count", || {
                let (_, body) =
                    http::get_body(addr, "/api/v1/series/count", &[], Duration::from_secs(30))?;
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let n = v["data"][0].as_u64().unwrap_or(0);
                eprintln!("  /api/v1/series/count {n}");
                Ok(n >= total)
            })?
        }
        // Scraping: /federate is the only "loaded" signal fedstore surely has.
        Server::Fedstore if args.fedstore_scrape => {
            let all = vec![r#"{__name__=~".+"}"#.to_string()];
            procs::wait_until(&mut child, &log, timeout, "scraped series", || {
                Ok(timed_federate(addr, pid, &all, false)?.series >= total)
            })?
        }
        Server::Fedstore => import_fedstore(ds, addr)?,
    }
    r.rss_after_load_kib = procs::rss_kib(pid).map(|m| m.0);
    // The data is only "in" once /federate returns all of it (VictoriaMetrics makes
    // samples searchable with a delay).
    let all = vec![r#"{__name__=~".+"}"#.to_string()];
    procs::wait_until(&mut child, &log, timeout, "all series federated", || {
        let s = timed_federate(addr, pid, &all, false)?;
        eprintln!(
            "  federated {} series in {:.2}s",
            s.series,
            s.elapsed.as_secs_f64()
        );
        Ok(s.series >= total)
    })?;
    r.load = Some(started.elapsed());
    // Measure an idle server: the peers stop ingesting (fedstore was loaded by import).
    if let Some(t) = targets {
        t.set_frozen(true);
    }
    eprintln!(
        "  loaded in {:.1}s, RSS {:?} KiB",
        started.elapsed().as_secs_f64(),
        r.rss_after_load_kib
    );

    for shape in ds.shapes() {
        let mut res = ShapeResult::default();
        for i in 0..=args.reps {
            match timed_federate(addr, pid, &shape.selectors, shape.gzip) {
                // The first request warms caches and is not counted.
                Ok(s) if i > 0 => res.samples.push(s),
                Ok(_) => {}
                Err(e) => {
                    res.error = Some(format!("{e:#}"));
                    break;
                }
            }
        }
        if let Some(m) = median(&res.samples) {
            eprintln!(
                "  {:<13} median {:.3}s  cpu {:.3}s  {} series  {} bytes",
                shape.key,
                m.elapsed.as_secs_f64(),
                m.cpu.as_secs_f64(),
                m.series,
                m.bytes
            );
        }
        r.shapes.push((shape, res));
        child.check_alive()?;
    }

    if args.concurrency > 0 {
        concurrent_phase(args, addr, pid, &all, r);
    }
    r.hwm_kib = procs::rss_kib(pid).map(|m| m.1);
    r.loadavg.1 = procs::loadavg();
    child.check_alive()?;
    child.stop(Duration::from_secs(30));
    Ok(())
}

/// Loads the dataset into fedstore through the import endpoint, 20 units per request.
fn import_fedstore(ds: &Dataset, addr: SocketAddr) -> Result<()> {
    let t = now_ms();
    let url = format!("http://{addr}/api/v1/import/prometheus");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let units = ds.units();
    let mut body = Vec::with_capacity(8 << 20);
    for batch in units.chunks(20) {
        body.clear();
        for &u in batch {
            expo::write_unit(ds, u, t, true, &mut body);
        }
        agent
            .post(&url)
            .content_type("text/plain")
            .send(&body[..])
            .with_context(|| format!("POST {url}"))?;
    }
    Ok(())
}

/// One `/federate` request: time to the last byte, bytes as sent, sample lines.
fn timed_federate(addr: SocketAddr, pid: u32, selectors: &[String], gzip: bool) -> Result<Sample> {
    let path = http::federate_path(selectors);
    let cpu0 = procs::cpu_time(pid).unwrap_or_default();
    let timeout = Duration::from_secs(300);
    if gzip {
        let (resp, body) = http::get_body(addr, &path, &[("Accept-Encoding", "gzip")], timeout)?;
        ensure!(
            resp.status == 200,
            "status {}: {}",
            resp.status,
            String::from_utf8_lossy(&body[..body.len().min(300)]).trim()
        );
        ensure!(
            resp.header("content-encoding") == Some("gzip"),
            "response not gzip-encoded"
        );
        let cpu = procs::cpu_time(pid)
            .unwrap_or_default()
            .saturating_sub(cpu0);
        let mut c = LineCounter::default();
        let mut dec = flate2::read::MultiGzDecoder::new(&body[..]);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = dec.read(&mut buf)?;
            if n == 0 {
                break;
            }
            c.feed(&buf[..n]);
        }
        Ok(Sample {
            elapsed: resp.elapsed,
            cpu,
            bytes: resp.body_bytes,
            series: c.samples,
        })
    } else {
        let mut c = LineCounter::default();
        let mut head = Vec::new();
        let resp = http::get(addr, &path, &[], timeout, &mut |b| {
            if head.len() < 300 {
                head.extend_from_slice(&b[..b.len().min(300 - head.len())]);
            }
            c.feed(b)
        })?;
        ensure!(
            resp.status == 200,
            "status {}: {}",
            resp.status,
            String::from_utf8_lossy(&head).trim()
        );
        let cpu = procs::cpu_time(pid)
            .unwrap_or_default()
            .saturating_sub(cpu0);
        Ok(Sample {
            elapsed: resp.elapsed,
            cpu,
            bytes: resp.body_bytes,
            series: c.samples,
        })
    }
}

fn concurrent_phase(args: &Args, addr: SocketAddr, pid: u32, all: &[String], r: &mut RunResult) {
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let low_mem = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, peak, low_mem) = (done.clone(), peak.clone(), low_mem.clone());
        let min_avail = args.min_mem_available_mib * 1024;
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if let Some((rss, _)) = procs::rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::SeqCst);
                }
                if procs::mem_available_kib().is_some_and(|a| a < min_avail) {
                    // Protect the shared machine: kill the server under test.
                    low_mem.store(true, Ordering::SeqCst);
                    let _ = Command::new("kill")
                        .arg("-KILL")
                        .arg(pid.to_string())
                        .status();
                    return;
                }
                thread::sleep(Duration::from_millis(25));
            }
        })
    };
    let started = Instant::now();
    let cpu0 = procs::cpu_time(pid);
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let sel = all.to_vec();
            thread::spawn(move || timed_federate(addr, pid, &sel, false))
        })
        .collect();
    let mut times = Vec::new();
    let mut errors = Vec::new();
    for w in workers {
        match w.join() {
            Ok(Ok(s)) => times.push(s),
            Ok(Err(e)) => errors.push(format!("{e:#}")),
            Err(_) => errors.push("worker panicked".to_string()),
        }
    }
    r.conc_wall = Some(started.elapsed());
    r.conc_cpu = procs::cpu_time(pid)
        .zip(cpu0)
        .map(|(b, a)| b.saturating_sub(a));
    done.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    r.conc_peak_kib = Some(peak.load(Ordering::SeqCst));
    r.conc_median = median(&times).map(|s| s.elapsed);
    if low_mem.load(Ordering::SeqCst) {
        r.conc_note = Some(format!(
            "aborted: MemAvailable < {} MiB",
            args.min_mem_available_mib
        ));
    } else if !errors.is_empty() {
        r.conc_note = Some(format!(
            "{} of {} failed: {}",
            errors.len(),
            args.concurrency,
            errors[0]
        ));
    }
    eprintln!(
        "  {}x concurrent: wall {:.1}s, peak RSS {} MiB{}",
        args.concurrency,
        started.elapsed().as_secs_f64(),
        peak.load(Ordering::SeqCst) / 1024,
        r.conc_note
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    );
}

/// Median of the server CPU times (independent of the elapsed-time median).
fn median_cpu(samples: &[Sample]) -> Duration {
    let mut v: Vec<Duration> = samples.iter().map(|s| s.cpu).collect();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn median(samples: &[Sample]) -> Option<Sample> {
    let mut v = samples.to_vec();
    v.sort_by_key(|s| s.elapsed);
    v.get(v.len() / 2).cloned()
}

fn fmt_dur(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.0} ms", s * 1000.0)
    }
}

fn fmt_kib(k: u64) -> String {
    let mib = k as f64 / 1024.0;
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

fn fmt_bytes(b: u64) -> String {
    if b >= 1_000_000 {
        format!("{:.1} MB", b as f64 / 1e6)
    } else {
        format!("{:.1} kB", b as f64 / 1e3)
    }
}

fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn shape_title(shape: &Shape) -> String {
    let sel = shape
        .selectors
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(" + ");
    match shape.key {
        "all" => format!("all {sel}"),
        "all_gzip" => format!("all, gzip {sel}"),
        "seed" => format!("seed selectors {sel}"),
        "one_metric" => format!("one metric {sel}"),
        "one_instance" => format!("one instance {sel}"),
        _ => sel,
    }
}

fn render_table(args: &Args, ds: &Dataset, results: &[RunResult]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "dataset: {} series ({} node instances x {} + {} job: aggregates, {} prometheus instances x {}), seed {}; {} targets, scrape interval {}s, lookback {}; {} timed requests per shape after 1 warm-up; {} concurrent full federates",
        fmt_count(ds.total_series()),
        args.dataset.instances,
        args.dataset.series_per_instance,
        ds.aggregated_per_instance(),
        args.dataset.prometheus_instances,
        args.dataset.prometheus_series_per_instance,
        args.dataset.seed,
        args.targets,
        args.scrape_interval_s,
        args.lookback,
        args.reps,
        args.concurrency,
    );
    let _ = writeln!(t);
    let _ = write!(t, "| measure |");
    for r in results {
        let _ = write!(t, " {} |", r.label);
    }
    let _ = writeln!(t);
    let _ = writeln!(t, "|---|{}", "---|".repeat(results.len()));
    let first_row = std::cell::Cell::new(true);
    let row = |t: &mut String, name: &str, f: &dyn Fn(&RunResult) -> String| {
        let _ = write!(t, "| {name} |");
        for r in results {
            // A server's error is shown once, in the first row it leaves empty.
            let cell = match (&r.error, f(r)) {
                (Some(e), c) if c.is_empty() && first_row.get() => {
                    format!(
                        "error: {}",
                        e.replace('|', "/").lines().next().unwrap_or("")
                    )
                }
                (_, c) if c.is_empty() => "—".to_string(),
                (_, c) => c,
            };
            let _ = write!(t, " {cell} |");
        }
        let _ = writeln!(t);
        first_row.set(false);
    };
    row(&mut t, "load until all series federate", &|r| {
        r.load.map(fmt_dur).unwrap_or_default()
    });
    row(&mut t, "RSS after load", &|r| {
        r.rss_after_load_kib.map(fmt_kib).unwrap_or_default()
    });
    for shape in ds.shapes() {
        row(&mut t, &shape_title(&shape), &|r| {
            let Some((_, res)) = r.shapes.iter().find(|(s, _)| s.key == shape.key) else {
                return String::new();
            };
            if let Some(e) = &res.error {
                return format!("error: {}", e.replace('|', "/"));
            }
            let Some(m) = median(&res.samples) else {
                return String::new();
            };
            let min = res
                .samples
                .iter()
                .map(|s| s.elapsed)
                .min()
                .unwrap_or_default();
            let max = res
                .samples
                .iter()
                .map(|s| s.elapsed)
                .max()
                .unwrap_or_default();
            format!(
                "**{}** ({}–{}) · cpu {} · {} series · {}",
                fmt_dur(m.elapsed),
                fmt_dur(min),
                fmt_dur(max),
                fmt_dur(median_cpu(&res.samples)),
                fmt_count(m.series),
                fmt_bytes(m.bytes)
            )
        });
    }
    row(
        &mut t,
        &format!(
            "{}x concurrent all: wall · median request · server cpu",
            args.concurrency
        ),
        &|r| match (r.conc_wall, r.conc_median) {
            (Some(w), Some(m)) => format!(
                "{} · {} · cpu {}",
                fmt_dur(w),
                fmt_dur(m),
                r.conc_cpu.map(fmt_dur).unwrap_or_default()
            ),
            (Some(w), None) => fmt_dur(w),
            _ => String::new(),
        },
    );
    row(
        &mut t,
        &format!("peak RSS during {}x concurrent all", args.concurrency),
        &|r| {
            let peak = r.conc_peak_kib.map(fmt_kib).unwrap_or_default();
            match &r.conc_note {
                Some(n) => format!("{peak} ({n})"),
                None => peak,
            }
        },
    );
    row(&mut t, "VmHWM at the end", &|r| {
        r.hwm_kib.map(fmt_kib).unwrap_or_default()
    });
    row(
        &mut t,
        "machine load average (1 min) at start → end",
        &|r| match r.loadavg {
            (Some(a), Some(b)) => format!("{a:.1} → {b:.1}"),
            (Some(a), None) => format!("{a:.1} → ?"),
            _ => String::new(),
        },
    );
    t
}
