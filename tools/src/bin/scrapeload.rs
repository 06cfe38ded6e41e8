//! scrapeload: memory and `/federate` speed of a node that is scraping (issue 13), fedstore
//! against VictoriaMetrics 1.79 and Prometheus 2.42 on the same targets in one run.
//!
//! Serves the fedgen dataset (default 1,009,600 series) from `--targets` (10) in-process
//! loopback targets that stamp every sample with the scrape time, and for each server in
//! turn: starts it on a temp dir scraping every target (`honor_labels: true`,
//! `--interval-s`), waits until its head holds every series (RSS "after the first scrape"),
//! waits one more interval (RSS "loaded": every series now has a second sample), then:
//!
//! - **steady**: `--steady-intervals` intervals untouched; RSS at the end of each and the
//!   server's CPU over the window (the scrape cost, as % of one core); the scrape durations
//!   every target reported in the last interval (`scrape_duration_seconds`, via `/federate`);
//! - **federate while scraping** (servers in `--federate`): `--reps` full
//!   `/federate?match[]={__name__=~".+"}`, identity then gzip, after one warm-up each;
//! - **concurrent**: `--concurrency` clients federating everything back to back for one
//!   interval and 2 s, so every target is scraped once meanwhile: peak RSS (sampled every
//!   25 ms), requests completed, and the scrape durations of the scrapes in that window;
//! - **idle**: the targets answer `503` (samples carry timestamps, so no stale markers), one
//!   interval later the same timed federates again.
//!
//! Prints one markdown table and writes an SVG chart of RSS over time (`--chart`). Ports:
//! targets `--port-base`.., fedstore `--server-port`, VictoriaMetrics +1, Prometheus +2.
//! Children are killed on exit, error and Ctrl-C; the machine's MemAvailable is watched.
//!
//! **Fast-forward** (`--history-h 2 --speedup 6`, module `fast_forward`): instead of the
//! above, all servers scrape the targets at once every `--interval-s / --speedup` while the
//! targets' clock runs `--speedup` times faster and ends at the real now, so each series gets
//! `--history-h` hours of `--interval-s` samples; RSS right after loading and with the
//! history, and the samples each server really holds.
//!
//! Example (1M series, all three):
//! `target/release/scrapeload --chart docs/img/scrapeload.svg`; a quick fedstore-only run:
//! `target/release/scrapeload --only fedstore --instances 80 --prometheus-series-per-instance 1000`;
//! 2 h of samples at 200k series: `target/release/scrapeload --history-h 2 --speedup 12
//! --instances 160 --prometheus-series-per-instance 2000`.

// A crate root looks for its modules beside it; this one keeps them in its own folder.
#[path = "scrapeload/fast_forward.rs"]
mod fast_forward;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail, ensure};
use clap::Parser;
use fedstore_tools::dataset::{Dataset, DatasetConfig};
use fedstore_tools::http;
use fedstore_tools::procs::{self, ChildGuard};
use fedstore_tools::serve::{DatasetTargets, Targets};

#[derive(Parser, Debug)]
#[command(
    about = "RSS and /federate speed while scraping: fedstore vs VictoriaMetrics vs Prometheus"
)]
struct Args {
    /// Servers, in order: fedstore, victoriametrics, prometheus.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fedstore,victoriametrics,prometheus"
    )]
    only: Vec<String>,
    /// Servers whose full federates are timed (a peer takes 5-7 s and GiBs per 1M-series
    /// answer; see docs/benchmarks.md for those).
    #[arg(long, value_delimiter = ',', default_value = "fedstore")]
    federate: Vec<String>,
    /// Scrape targets.
    #[arg(long, default_value_t = 10)]
    targets: usize,
    /// First target port.
    #[arg(long, default_value_t = 19460)]
    port_base: u16,
    /// fedstore's port; VictoriaMetrics +1, Prometheus +2.
    #[arg(long, default_value_t = 19475)]
    server_port: u16,
    /// Scrape interval in seconds.
    #[arg(long, default_value_t = 15)]
    interval_s: u64,
    /// Steady intervals watched after loading.
    #[arg(long, default_value_t = 4)]
    steady_intervals: u32,
    /// Timed federates per shape (after one warm-up).
    #[arg(long, default_value_t = 7)]
    reps: usize,
    /// Concurrent full-federate clients.
    #[arg(long, default_value_t = 10)]
    concurrency: usize,
    /// Nice value of those clients' threads. They stand for global servers on other
    /// machines, but here they read 113 MB per answer on the same cores as the server under
    /// test and its scrapes: at 0 their reading competes with the scrapes the run watches.
    #[arg(long, default_value_t = 0)]
    client_nice: i32,
    /// Longest wait for every series, in seconds.
    #[arg(long, default_value_t = 300)]
    load_timeout_s: u64,
    /// Kill the server under test when MemAvailable falls below this (MiB).
    #[arg(long, default_value_t = 3072)]
    min_mem_available_mib: u64,
    /// Fast-forward mode: give every series this many hours of samples (see the module docs).
    #[arg(long)]
    history_h: Option<f64>,
    /// Fast-forward: how many times faster than the wall clock the targets' clock runs (the
    /// scrape interval is `--interval-s` divided by it).
    #[arg(long, default_value_t = 6.0)]
    speedup: f64,
    /// Fast-forward: Prometheus's `--storage.tsdb.min-block-duration` in hours (its head
    /// refuses samples more than half of it behind its newest); default twice the history,
    /// at least 2.
    #[arg(long)]
    prometheus_min_block_h: Option<f64>,
    /// Write an SVG chart of RSS over time here.
    #[arg(long)]
    chart: Option<PathBuf>,
    #[command(flatten)]
    dataset: DatasetConfig,
    /// The fedstore binary.
    #[arg(long, default_value = "target/release/fedstore")]
    fedstore_bin: PathBuf,
    /// Extra arguments for `fedstore serve` (repeatable), e.g. `--arg=--storage.read-nice=0`.
    #[arg(long = "arg")]
    fedstore_extra: Vec<String>,
    /// The VictoriaMetrics binary.
    #[arg(long, default_value = "/usr/bin/victoria-metrics")]
    vm_bin: PathBuf,
    /// The Prometheus binary.
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus_bin: PathBuf,
    /// Parent of the temp work dir.
    #[arg(long, default_value = "/tmp")]
    work_dir: PathBuf,
}

/// What one server measured; times are medians.
#[derive(Debug, Default)]
struct Run {
    name: String,
    load: Duration,
    series: u64,
    rss_first: u64,
    rss_loaded: u64,
    steady_rss: Vec<u64>,
    steady_cpu_pct: f64,
    scrape_before: Vec<f64>,
    scrape_during: Vec<f64>,
    fed: Option<Duration>,
    fed_gzip: Option<Duration>,
    fed_idle: Option<Duration>,
    fed_idle_gzip: Option<Duration>,
    conc_done: usize,
    conc_median: Option<Duration>,
    conc_peak: u64,
    conc_rss_before: u64,
    note: String,
    load_avg: (f64, f64),
    /// (seconds since start, RSS KiB) every second.
    timeline: Vec<(f64, u64)>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.targets > 0 && args.reps > 0,
        "--targets and --reps must be positive"
    );
    procs::install_signal_handler()?;
    let ds = Dataset::new(args.dataset.clone());
    let total = ds.total_series();
    let work = args
        .work_dir
        .join(format!("scrapeload-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    eprintln!(
        "dataset {total} series on {} targets; work dir {}",
        args.targets,
        work.display()
    );
    if let Some(hours) = args.history_h {
        let result = fast_forward::run(&args, &ds, &work, hours);
        let _ = std::fs::remove_dir_all(&work);
        return result;
    }
    let source = Arc::new(DatasetTargets::new(ds.clone(), args.targets, true));
    let targets = Targets::start(source, args.port_base, args.targets)?;
    let mut runs = Vec::new();
    for name in &args.only {
        let dir = work.join(name);
        std::fs::create_dir_all(&dir)?;
        targets.set_frozen(false);
        let mut r = Run {
            name: name.clone(),
            ..Run::default()
        };
        if let Err(e) = run_server(&args, name, &dir, total, &targets, &mut r) {
            eprintln!("{name}: {e:#}");
            r.note = format!("failed: {e:#}");
        }
        runs.push(r);
    }
    drop(targets);
    println!("{}", table(&args, total, &runs));
    if let Some(path) = &args.chart {
        std::fs::write(path, chart(&args, total, &runs))?;
        eprintln!("chart: {}", path.display());
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn scrape_config(args: &Args) -> String {
    fedstore_tools::serve::fedgen_scrape_config_secs(
        args.port_base,
        args.targets,
        args.interval_s,
        10,
        false,
    )
}

fn port(args: &Args, name: &str) -> u16 {
    match name {
        "victoriametrics" => args.server_port + 1,
        "prometheus" => args.server_port + 2,
        _ => args.server_port,
    }
}

/// Starts server `name` on `dir` with scrape config `config` and `extra` arguments.
fn start(
    args: &Args,
    name: &str,
    dir: &Path,
    scrape_yml: &str,
    extra: &[String],
) -> Result<ChildGuard> {
    let listen = format!("127.0.0.1:{}", port(args, name));
    let config = dir.join("scrape.yml");
    std::fs::write(&config, scrape_yml)?;
    let data = dir.join("data");
    let mut cmd = match name {
        "fedstore" => {
            let mut c = Command::new(&args.fedstore_bin);
            c.arg("serve")
                .arg("--web.listen-address")
                .arg(&listen)
                .arg("--storage.tsdb.path")
                .arg(&data)
                .arg(format!("--config.file={}", config.display()))
                .args(&args.fedstore_extra);
            c
        }
        "victoriametrics" => {
            let mut c = Command::new(&args.vm_bin);
            c.arg(format!("-promscrape.config={}", config.display()))
                .arg(format!("-storageDataPath={}", data.display()))
                .arg(format!("-httpListenAddr={listen}"))
                .arg("-search.maxFederateSeries=10000000")
                .arg("-search.maxQueryDuration=10m")
                .arg("-search.maxConcurrentRequests=16")
                .arg("-search.maxQueueDuration=10m")
                .arg("-promscrape.suppressScrapeErrors");
            c
        }
        "prometheus" => {
            let mut c = Command::new(&args.prometheus_bin);
            c.arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg(format!("--web.listen-address={listen}"));
            c
        }
        other => bail!("unknown server {other:?} (fedstore, victoriametrics, prometheus)"),
    };
    cmd.args(extra);
    ChildGuard::spawn(name, cmd, &dir.join("server.log"))
}

/// The head's series count as the server reports it.
fn series_count(name: &str, addr: SocketAddr) -> Result<u64> {
    if name == "victoriametrics" {
        let (_, body) = http::get_body(addr, "/api/v1/series/count", &[], Duration::from_secs(30))?;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        return Ok(v["data"][0].as_u64().unwrap_or(0));
    }
    let metric = if name == "fedstore" {
        "fedstore_head_series "
    } else {
        "prometheus_tsdb_head_series "
    };
    let (_, body) = http::get_body(addr, "/metrics", &[], Duration::from_secs(30))?;
    let text = String::from_utf8_lossy(&body);
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(metric))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

fn rss(pid: u32) -> u64 {
    procs::rss_kib(pid).map_or(0, |(r, _)| r)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Latest `scrape_duration_seconds` per target: (sample timestamp ms, seconds).
fn scrape_durations(addr: SocketAddr) -> Result<HashMap<String, (i64, f64)>> {
    let path = http::federate_path(&[r#"{__name__="scrape_duration_seconds"}"#.to_string()]);
    let (_, body) = http::get_body(addr, &path, &[], Duration::from_secs(60))?;
    let text = String::from_utf8_lossy(&body);
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(end) = line.rfind('}') else { continue };
        let mut rest = line[end + 1..].split_whitespace();
        let v = rest.next().and_then(|v| v.parse::<f64>().ok());
        let t = rest.next().and_then(|t| t.parse::<i64>().ok());
        if let (Some(v), Some(t)) = (v, t) {
            out.insert(line[..=end].to_string(), (t, v));
        }
    }
    Ok(out)
}

/// Scrape durations newer than `after_ms`.
fn durations_after(addr: SocketAddr, after_ms: i64) -> Vec<f64> {
    scrape_durations(addr)
        .map(|m| {
            m.values()
                .filter(|(t, _)| *t > after_ms)
                .map(|(_, v)| *v)
                .collect()
        })
        .unwrap_or_default()
}

/// One full federate: time to the last byte.
fn federate(addr: SocketAddr, gzip: bool) -> Result<Duration> {
    let path = http::federate_path(&[r#"{__name__=~".+"}"#.to_string()]);
    let headers: &[(&str, &str)] = if gzip {
        &[("Accept-Encoding", "gzip")]
    } else {
        &[]
    };
    let r = http::get(addr, &path, headers, Duration::from_secs(600), &mut |_| {})?;
    ensure!(r.status == 200, "federate status {}", r.status);
    Ok(r.elapsed)
}

fn timed(addr: SocketAddr, gzip: bool, reps: usize) -> Result<Duration> {
    federate(addr, gzip)?;
    let mut v = (0..reps)
        .map(|_| federate(addr, gzip))
        .collect::<Result<Vec<_>>>()?;
    v.sort();
    Ok(v[v.len() / 2])
}

fn run_server(
    args: &Args,
    name: &str,
    dir: &Path,
    total: u64,
    targets: &Targets,
    r: &mut Run,
) -> Result<()> {
    let addr: SocketAddr = format!("127.0.0.1:{}", port(args, name)).parse()?;
    let interval = Duration::from_secs(args.interval_s);
    let log = dir.join("server.log");
    let load0 = procs::loadavg().unwrap_or(f64::NAN);
    let started = Instant::now();
    let mut child = start(args, name, dir, &scrape_config(args), &[])?;
    let pid = child.pid();

    // RSS every second for the chart, every 25 ms while `fast` is set (the concurrent
    // phase); the server is killed if the machine runs short of memory.
    let stop = Arc::new(AtomicBool::new(false));
    let fast = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let low_mem = Arc::new(AtomicBool::new(false));
    let timeline = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (stop, fast, peak, low_mem, timeline) = (
            stop.clone(),
            fast.clone(),
            peak.clone(),
            low_mem.clone(),
            timeline.clone(),
        );
        let min_avail = args.min_mem_available_mib * 1024;
        thread::spawn(move || {
            let mut last = Instant::now() - Duration::from_secs(1);
            while !stop.load(Ordering::SeqCst) {
                let kib = rss(pid);
                if fast.load(Ordering::SeqCst) {
                    peak.fetch_max(kib, Ordering::SeqCst);
                }
                if last.elapsed() >= Duration::from_secs(1) {
                    last = Instant::now();
                    if let Ok(mut t) = timeline.lock() {
                        t.push((started.elapsed().as_secs_f64(), kib));
                    }
                }
                if procs::mem_available_kib().is_some_and(|a| a < min_avail) {
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
    let result = measure(
        args, name, addr, pid, total, targets, interval, &mut child, &log, r, &fast, &peak,
    );
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    r.timeline = timeline.lock().map(|t| t.clone()).unwrap_or_default();
    r.load_avg = (load0, procs::loadavg().unwrap_or(f64::NAN));
    if low_mem.load(Ordering::SeqCst) {
        r.note = format!("killed: MemAvailable < {} MiB", args.min_mem_available_mib);
    }
    child.stop(Duration::from_secs(20));
    result
}

#[allow(clippy::too_many_arguments)]
fn measure(
    args: &Args,
    name: &str,
    addr: SocketAddr,
    pid: u32,
    total: u64,
    targets: &Targets,
    interval: Duration,
    child: &mut ChildGuard,
    log: &Path,
    r: &mut Run,
    fast: &AtomicBool,
    peak: &AtomicU64,
) -> Result<()> {
    let spawned = Instant::now();
    procs::wait_until(
        child,
        log,
        Duration::from_secs(args.load_timeout_s),
        "every series",
        || {
            let n = series_count(name, addr)?;
            eprintln!("  {name}: {n} series");
            Ok(n >= total)
        },
    )?;
    r.load = spawned.elapsed();
    r.rss_first = rss(pid);
    // One more interval: every series gets its second sample (and its first history).
    thread::sleep(interval + Duration::from_secs(3));
    r.rss_loaded = rss(pid);
    r.series = series_count(name, addr)?;
    eprintln!(
        "  {name}: loaded in {:.1} s, RSS {} MiB after the first scrape, {} MiB after the second",
        r.load.as_secs_f64(),
        r.rss_first / 1024,
        r.rss_loaded / 1024
    );

    let cpu0 = procs::cpu_time(pid);
    let t0 = Instant::now();
    let mut window_start = now_ms();
    for k in 0..args.steady_intervals {
        if k + 1 == args.steady_intervals {
            window_start = now_ms();
        }
        thread::sleep(interval);
        child.check_alive()?;
        r.steady_rss.push(rss(pid));
    }
    let cpu = procs::cpu_time(pid)
        .zip(cpu0)
        .map(|(b, a)| b.saturating_sub(a));
    r.steady_cpu_pct = cpu.map_or(f64::NAN, |c| {
        c.as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0
    });
    r.scrape_before = durations_after(addr, window_start);
    eprintln!(
        "  {name}: steady RSS {:?} MiB, cpu {:.1}%",
        r.steady_rss.iter().map(|k| k / 1024).collect::<Vec<_>>(),
        r.steady_cpu_pct
    );

    let do_federate = args.federate.iter().any(|f| f == name);
    if do_federate {
        r.fed = Some(timed(addr, false, args.reps)?);
        r.fed_gzip = Some(timed(addr, true, args.reps)?);
        eprintln!(
            "  {name}: federate while scraping {:?} / gzip {:?}",
            r.fed, r.fed_gzip
        );

        r.conc_rss_before = rss(pid);
        peak.store(r.conc_rss_before, Ordering::SeqCst);
        fast.store(true, Ordering::SeqCst);
        let window = now_ms();
        let until = Instant::now() + interval + Duration::from_secs(2);
        let times = Arc::new(Mutex::new(Vec::new()));
        let client_nice = args.client_nice;
        let workers: Vec<_> = (0..args.concurrency)
            .map(|_| {
                let times = times.clone();
                thread::spawn(move || {
                    if client_nice != 0
                        && let Err(e) = procs::renice_this_thread(client_nice)
                    {
                        eprintln!("  federate client: {e}");
                        return;
                    }
                    while Instant::now() < until {
                        match federate(addr, false) {
                            Ok(d) => {
                                if let Ok(mut t) = times.lock() {
                                    t.push(d);
                                }
                            }
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        fast.store(false, Ordering::SeqCst);
        r.conc_peak = peak.load(Ordering::SeqCst);
        let mut t = times.lock().map(|t| t.clone()).unwrap_or_default();
        t.sort();
        r.conc_done = t.len();
        r.conc_median = t.get(t.len() / 2).copied();
        r.scrape_during = durations_after(addr, window);
        eprintln!(
            "  {name}: {} concurrent federates, peak RSS {} MiB",
            r.conc_done,
            r.conc_peak / 1024
        );

        targets.set_frozen(true);
        thread::sleep(interval + Duration::from_secs(2));
        r.fed_idle = Some(timed(addr, false, args.reps)?);
        r.fed_idle_gzip = Some(timed(addr, true, args.reps)?);
        targets.set_frozen(false);
        eprintln!(
            "  {name}: idle federate {:?} / gzip {:?}",
            r.fed_idle, r.fed_idle_gzip
        );
    }
    Ok(())
}

fn mib(kib: u64) -> String {
    format!("{} MiB", kib / 1024)
}

fn per_series(kib: u64, total: u64) -> String {
    format!("{:.0} B/series", kib as f64 * 1024.0 / total.max(1) as f64)
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| {
        format!("**{:.0} ms**", d.as_secs_f64() * 1e3)
    })
}

fn spread(v: &[f64]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    format!(
        "median {:.0} ms (max {:.0} ms, n={})",
        s[s.len() / 2] * 1e3,
        s[s.len() - 1] * 1e3,
        s.len()
    )
}

/// How one table row renders a run.
type Cell = Box<dyn Fn(&Run) -> String>;

fn table(args: &Args, total: u64, runs: &[Run]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{total} series on {} targets, scrape interval {} s, honor_labels; {} steady intervals; {} timed federates after 1 warm-up; {} concurrent federate clients for one interval",
        args.targets, args.interval_s, args.steady_intervals, args.reps, args.concurrency
    );
    let _ = writeln!(out);
    let _ = write!(out, "| measure |");
    for r in runs {
        let _ = write!(out, " {} |", r.name);
    }
    let _ = write!(out, "\n|---|");
    for _ in runs {
        let _ = write!(out, "---|");
    }
    let _ = writeln!(out);
    let rows: Vec<(&str, Cell)> = vec![
        (
            "series in the head",
            Box::new(|r: &Run| r.series.to_string()),
        ),
        (
            "load until every series is in",
            Box::new(|r: &Run| format!("{:.1} s", r.load.as_secs_f64())),
        ),
        (
            "RSS after the first scrape",
            Box::new(move |r: &Run| {
                format!("{} ({})", mib(r.rss_first), per_series(r.rss_first, total))
            }),
        ),
        (
            "**RSS loaded** (after the second scrape)",
            Box::new(move |r: &Run| {
                format!(
                    "**{}** ({})",
                    mib(r.rss_loaded),
                    per_series(r.rss_loaded, total)
                )
            }),
        ),
        (
            "RSS at the end of each steady interval",
            Box::new(|r: &Run| {
                r.steady_rss
                    .iter()
                    .map(|k| (k / 1024).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
                    + " MiB"
            }),
        ),
        (
            "scrape CPU over the steady intervals",
            Box::new(|r: &Run| format!("{:.1}% of one core", r.steady_cpu_pct)),
        ),
        (
            "scrape durations, last steady interval",
            Box::new(|r: &Run| spread(&r.scrape_before)),
        ),
        (
            "full federate while scraping",
            Box::new(|r: &Run| ms(r.fed)),
        ),
        (
            "full federate while scraping, gzip",
            Box::new(|r: &Run| ms(r.fed_gzip)),
        ),
        ("full federate idle", Box::new(|r: &Run| ms(r.fed_idle))),
        (
            "full federate idle, gzip",
            Box::new(|r: &Run| ms(r.fed_idle_gzip)),
        ),
        (
            "concurrent federates: done, median",
            Box::new(|r: &Run| {
                if r.conc_done == 0 {
                    "-".into()
                } else {
                    format!("{} · {}", r.conc_done, ms(r.conc_median))
                }
            }),
        ),
        (
            "peak RSS during them (before)",
            Box::new(|r: &Run| {
                if r.conc_peak == 0 {
                    "-".into()
                } else {
                    format!(
                        "{} (+{} MiB)",
                        mib(r.conc_peak),
                        r.conc_peak.saturating_sub(r.conc_rss_before) / 1024
                    )
                }
            }),
        ),
        (
            "scrape durations during them",
            Box::new(|r: &Run| spread(&r.scrape_during)),
        ),
        (
            "load average start → end",
            Box::new(|r: &Run| format!("{:.1} → {:.1}", r.load_avg.0, r.load_avg.1)),
        ),
        ("note", Box::new(|r: &Run| r.note.clone())),
    ];
    for (title, f) in rows {
        let _ = write!(out, "| {title} |");
        for r in runs {
            let _ = write!(out, " {} |", f(r));
        }
        let _ = writeln!(out);
    }
    out
}

/// RSS over time, one line per server, as a small self-contained SVG.
fn chart(args: &Args, total: u64, runs: &[Run]) -> String {
    let (w, h, pad) = (720.0, 360.0, 50.0);
    let max_t = runs
        .iter()
        .flat_map(|r| r.timeline.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let max_mib = runs
        .iter()
        .flat_map(|r| r.timeline.iter().map(|p| p.1 as f64 / 1024.0))
        .fold(64.0f64, f64::max)
        * 1.1;
    let colors = ["#d62728", "#1f77b4", "#ff7f0e", "#2ca02c"];
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{pad}" y="20">RSS while scraping {total} series from {} targets every {} s (scrapeload)</text>"#,
        args.targets, args.interval_s
    );
    let x = |t: f64| pad + t / max_t * (w - 2.0 * pad);
    let y = |m: f64| h - pad - m / max_mib * (h - 2.0 * pad);
    let _ = writeln!(
        s,
        r#"<line x1="{pad}" y1="{}" x2="{}" y2="{}" stroke="black"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{}" stroke="black"/>"#,
        h - pad,
        w - pad,
        h - pad,
        h - pad
    );
    let step = if max_mib > 2000.0 {
        500.0
    } else if max_mib > 500.0 {
        200.0
    } else {
        50.0
    };
    let mut m = 0.0;
    while m <= max_mib {
        let _ = writeln!(
            s,
            r##"<text x="5" y="{:.0}">{m:.0} MiB</text><line x1="{pad}" y1="{:.0}" x2="{}" y2="{:.0}" stroke="#ddd"/>"##,
            y(m) + 4.0,
            y(m),
            w - pad,
            y(m)
        );
        m += step;
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}">seconds since the server started ({max_t:.0} s)</text>"#,
        w / 2.0 - 100.0,
        h - 15.0
    );
    for (i, r) in runs.iter().enumerate() {
        let c = colors[i % colors.len()];
        let pts: Vec<String> = r
            .timeline
            .iter()
            .map(|&(t, k)| format!("{:.1},{:.1}", x(t), y(k as f64 / 1024.0)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" fill="{c}">{}</text>"#,
            w - pad - 120.0,
            pad + 16.0 * i as f64,
            r.name
        );
    }
    s.push_str("</svg>\n");
    s
}
