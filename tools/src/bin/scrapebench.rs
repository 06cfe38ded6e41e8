//! scrapebench: the CPU cost of scraping (issue "Ingest": 1M series over 100 targets every
//! 15 s in at most 40% of one core), fedstore vs Prometheus 2.42 in the same run.
//!
//! Starts `fedgen serve` (the default 1.01M-series dataset) as a child, then for each server in
//! turn: writes a config with one job of all targets (`scrape_interval`, `honor_labels: true`),
//! starts the server on a temp dir, waits until every target is up and the head holds every
//! series, lets one more interval pass, then reads the server's CPU time (utime + stime from
//! `/proc/<pid>/stat`) over `--intervals` scrape intervals and prints it as % of one core, with
//! RSS and the load average. Nothing polls the server during the measured window. Every wait
//! is bounded; children are killed on exit, error and Ctrl-C.
//!
//! Ports: targets `--port-base ..+targets`, fedstore `--server-port`, Prometheus
//! `--server-port + 1` (the default 98 targets keep everything inside 19300-19399).
//!
//! Example: `target/release/scrapebench` or `scrapebench --only fedstore --intervals 8`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use fedstore_tools::dataset::{Dataset, DatasetConfig};
use fedstore_tools::http;
use fedstore_tools::procs::{self, ChildGuard};

#[derive(Parser, Debug)]
#[command(about = "Scrape CPU cost of fedstore and Prometheus 2.42 on the fedgen targets")]
struct Args {
    /// Servers to measure, in order: fedstore, prometheus.
    #[arg(long, value_delimiter = ',', default_value = "fedstore,prometheus")]
    only: Vec<String>,
    /// Scrape targets served by `fedgen serve`.
    #[arg(long, default_value_t = 98)]
    targets: usize,
    /// First target port.
    #[arg(long, default_value_t = 19300)]
    port_base: u16,
    /// fedstore's port; Prometheus uses the next one.
    #[arg(long, default_value_t = 19398)]
    server_port: u16,
    /// Scrape interval in seconds.
    #[arg(long, default_value_t = 15)]
    interval_s: u64,
    /// Measured scrape intervals.
    #[arg(long, default_value_t = 4)]
    intervals: u32,
    /// Longest wait for all targets up and all series in the head, in seconds.
    #[arg(long, default_value_t = 300)]
    load_timeout_s: u64,
    /// node instances of the dataset (fedgen's default: 800).
    #[arg(long, default_value_t = 800)]
    instances: u32,
    /// Series per Prometheus-like instance of the dataset (fedgen's default: 10000).
    #[arg(long, default_value_t = 10_000)]
    prometheus_series_per_instance: u32,
    /// The fedstore binary.
    #[arg(long, default_value = "target/release/fedstore")]
    fedstore_bin: PathBuf,
    /// The fedgen binary.
    #[arg(long, default_value = "target/release/fedgen")]
    fedgen_bin: PathBuf,
    /// The Prometheus binary.
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus_bin: PathBuf,
    /// Parent of the temp work dir.
    #[arg(long, default_value = "/tmp")]
    work_dir: PathBuf,
}

/// What one server measured.
#[derive(Debug, Default)]
struct Measured {
    name: String,
    head_series: u64,
    fill: Duration,
    cpu: Duration,
    wall: Duration,
    rss_kib: u64,
    /// Samples appended in the window; `None` when the server does not export the counter.
    appended: Option<f64>,
    /// Successful scrapes in the window; `None` when the server does not export the counter.
    scrapes: Option<f64>,
    load: (f64, f64),
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.targets > 0 && args.intervals > 0,
        "--targets and --intervals must be positive"
    );
    procs::install_signal_handler()?;
    let ds = Dataset::new(DatasetConfig {
        instances: args.instances,
        prometheus_series_per_instance: args.prometheus_series_per_instance,
        ..DatasetConfig::default()
    });
    let total = ds.total_series();
    let work = args
        .work_dir
        .join(format!("scrapebench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    eprintln!(
        "dataset {total} series on {} targets; work dir {}",
        args.targets,
        work.display()
    );

    let mut fedgen_cmd = Command::new(&args.fedgen_bin);
    fedgen_cmd
        .arg("--instances")
        .arg(args.instances.to_string())
        .arg("--prometheus-series-per-instance")
        .arg(args.prometheus_series_per_instance.to_string())
        .arg("serve")
        .arg("--port-base")
        .arg(args.port_base.to_string())
        .arg("--targets")
        .arg(args.targets.to_string());
    let fedgen_log = work.join("fedgen.log");
    let mut fedgen = ChildGuard::spawn("fedgen", fedgen_cmd, &fedgen_log)?;
    let last_target: SocketAddr =
        format!("127.0.0.1:{}", args.port_base as usize + args.targets - 1).parse()?;
    procs::wait_until(
        &mut fedgen,
        &fedgen_log,
        Duration::from_secs(120),
        "targets",
        || Ok(std::net::TcpStream::connect_timeout(&last_target, Duration::from_secs(1)).is_ok()),
    )?;

    let config = scrape_config(&args);
    let mut results = Vec::new();
    for name in &args.only {
        let dir = work.join(name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("config.yml"), &config)?;
        match measure(&args, name, &dir, total) {
            Ok(m) => results.push(m),
            Err(e) => eprintln!("{name}: {e:#}"),
        }
        fedgen.check_alive()?;
    }
    drop(fedgen);
    let _ = std::fs::remove_dir_all(&work);

    println!(
        "| server | head series | all up + loaded after | successful scrapes in window | samples appended in window | CPU over {} x {}s | % of one core | CPU per sample | RSS | load avg (start/end) |",
        args.intervals, args.interval_s
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for m in &results {
        println!(
            "| {} | {} | {:.0} s | {} | {} | {:.2} s / {:.1} s | **{:.1}%** | {:.2} µs | {:.0} MiB | {:.2} / {:.2} |",
            m.name,
            m.head_series,
            m.fill.as_secs_f64(),
            count(m.scrapes),
            count(m.appended),
            m.cpu.as_secs_f64(),
            m.wall.as_secs_f64(),
            100.0 * m.cpu.as_secs_f64() / m.wall.as_secs_f64(),
            // Without an appended-samples counter: successful scrapes x series per target.
            m.cpu.as_secs_f64() * 1e6
                / match (m.appended, m.scrapes) {
                    (Some(a), _) if a > 0.0 => a,
                    (_, Some(n)) if n > 0.0 => n * m.head_series as f64 / args.targets as f64,
                    _ => f64::NAN,
                },
            m.rss_kib as f64 / 1024.0,
            m.load.0,
            m.load.1
        );
    }
    Ok(())
}

/// One job of every target; `honor_labels` keeps the dataset's own `job`/`instance`.
fn scrape_config(args: &Args) -> String {
    fedstore_tools::serve::fedgen_scrape_config_secs(
        args.port_base,
        args.targets,
        args.interval_s,
        10,
        false,
    )
}

fn measure(args: &Args, name: &str, dir: &Path, total: u64) -> Result<Measured> {
    let load0 = procs::loadavg().unwrap_or(f64::NAN);
    let (port, cmd, series_metric, appended_metric, scrapes_metric) = match name {
        "fedstore" => {
            ensure!(
                args.fedstore_bin.exists(),
                "{} not built",
                args.fedstore_bin.display()
            );
            let mut c = Command::new(&args.fedstore_bin);
            c.arg("serve")
                .arg(format!(
                    "--config.file={}",
                    dir.join("config.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!(
                    "--web.listen-address=127.0.0.1:{}",
                    args.server_port
                ));
            (
                args.server_port,
                c,
                "fedstore_head_series",
                "fedstore_head_samples_appended_total",
                "fedstore_scrapes_total{result=\"success\"}",
            )
        }
        "prometheus" => {
            let port = args.server_port + 1;
            let mut c = Command::new(&args.prometheus_bin);
            c.arg(format!(
                "--config.file={}",
                dir.join("config.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
            (
                port,
                c,
                "prometheus_tsdb_head_series",
                "prometheus_tsdb_head_samples_appended_total",
                "prometheus_target_interval_length_seconds_count",
            )
        }
        other => bail!("unknown server {other:?} (fedstore, prometheus)"),
    };
    let log = dir.join("server.log");
    let started = Instant::now();
    let mut child = ChildGuard::spawn(name, cmd, &log)?;
    let pid = child.pid();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    procs::wait_until(&mut child, &log, Duration::from_secs(120), "ready", || {
        Ok(
            http::get(addr, "/-/ready", &[], Duration::from_secs(5), &mut |_| {})
                .is_ok_and(|r| r.status == 200),
        )
    })?;
    let mut head_series = 0;
    procs::wait_until(
        &mut child,
        &log,
        Duration::from_secs(args.load_timeout_s),
        "all targets up and all series in the head",
        || {
            let up = targets_up(addr)?;
            head_series = metric(addr, series_metric)? as u64;
            eprintln!(
                "  {name}: {up}/{} targets up, {series_metric} {head_series}",
                args.targets
            );
            Ok(up == args.targets && head_series >= total)
        },
    )?;
    let fill = started.elapsed();
    // One more interval so that every target is past its first scrape.
    thread::sleep(Duration::from_secs(args.interval_s));
    child.check_alive()?;
    // Read outside the window: polling /metrics costs the server CPU.
    let appended0 = metric_sum(addr, appended_metric)?;
    let scrapes0 = metric_sum(addr, scrapes_metric)?;
    let cpu0 = procs::cpu_time(pid).context("reading /proc stat")?;
    let t0 = Instant::now();
    thread::sleep(Duration::from_secs(
        args.interval_s * u64::from(args.intervals),
    ));
    let cpu1 = procs::cpu_time(pid).context("reading /proc stat")?;
    let wall = t0.elapsed();
    let appended = metric_sum(addr, appended_metric)?
        .zip(appended0)
        .map(|(b, a)| b - a);
    let scrapes = metric_sum(addr, scrapes_metric)?
        .zip(scrapes0)
        .map(|(b, a)| b - a);
    let rss_kib = procs::rss_kib(pid).map_or(0, |m| m.0);
    child.check_alive()?;
    let m = Measured {
        name: name.to_string(),
        head_series,
        fill,
        cpu: cpu1.saturating_sub(cpu0),
        appended,
        scrapes,
        wall,
        rss_kib,
        load: (load0, procs::loadavg().unwrap_or(f64::NAN)),
    };
    eprintln!(
        "  {name}: {:.2}s CPU in {:.1}s = {:.1}% of one core, RSS {} MiB, load {:.2}/{:.2}",
        m.cpu.as_secs_f64(),
        wall.as_secs_f64(),
        100.0 * m.cpu.as_secs_f64() / wall.as_secs_f64(),
        rss_kib / 1024,
        m.load.0,
        m.load.1
    );
    child.stop(Duration::from_secs(60));
    Ok(m)
}

/// Active targets whose health is `up`.
fn targets_up(addr: SocketAddr) -> Result<usize> {
    let (_, body) = http::get_body(addr, "/api/v1/targets", &[], Duration::from_secs(30))?;
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["data"]["activeTargets"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|t| t["health"] == "up").count()))
}

/// The value of an unlabelled sample on `/metrics`.
fn metric(addr: SocketAddr, name: &str) -> Result<f64> {
    let (_, body) = http::get_body(addr, "/metrics", &[], Duration::from_secs(30))?;
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("{name} not on /metrics"))
}

/// `n` as an integer, or why there is none.
fn count(n: Option<f64>) -> String {
    match n {
        Some(n) if n > 0.0 => format!("{n:.0}"),
        Some(_) => "0 (not counted)".to_string(),
        None => "n/a (not exported)".to_string(),
    }
}

/// The sum of every sample of metric `name` (any labels, or the labels given in `name`) on
/// `/metrics`; `None` when no line has it.
fn metric_sum(addr: SocketAddr, name: &str) -> Result<Option<f64>> {
    let (_, body) = http::get_body(addr, "/metrics", &[], Duration::from_secs(30))?;
    Ok(sum_samples(&String::from_utf8_lossy(&body), name))
}

fn sum_samples(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = match rest.as_bytes().first() {
                Some(b' ') => rest,
                Some(b'{') => &rest[rest.rfind('}')? + 1..],
                _ => return None,
            };
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_samples_by_name_and_labels() {
        let text = "# HELP x y\n\
                    fedstore_scrapes_total{result=\"success\"} 392\n\
                    fedstore_scrapes_total{result=\"failure\"} 3\n\
                    fedstore_scrapes_total_other 7\n\
                    prometheus_tsdb_head_samples_appended_total 4040360\n\
                    p_count{interval=\"15s\"} 2\n\
                    p_count{interval=\"30s\"} 5 1700000000000\n";
        for (name, want) in [
            ("fedstore_scrapes_total", Some(395.0)),
            ("fedstore_scrapes_total{result=\"success\"}", Some(392.0)),
            (
                "prometheus_tsdb_head_samples_appended_total",
                Some(4_040_360.0),
            ),
            ("p_count", Some(7.0)),
            ("missing_total", None),
        ] {
            assert_eq!(sum_samples(text, name), want, "{name}");
        }
    }

    #[test]
    fn config_lists_every_target_once() {
        let args = Args::parse_from(["scrapebench", "--targets", "3", "--port-base", "19300"]);
        let cfg = scrape_config(&args);
        assert!(cfg.contains("scrape_interval: 15s"), "{cfg}");
        assert!(cfg.contains("honor_labels: true"), "{cfg}");
        assert!(
            cfg.contains("targets: ['127.0.0.1:19300', '127.0.0.1:19301', '127.0.0.1:19302']"),
            "{cfg}"
        );
    }
}
