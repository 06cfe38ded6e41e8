//! durabench: durability numbers (issue "Durable storage"), fedstore vs Prometheus 2.42 in
//! the same run, both loaded the same way (remote write, explicit timestamps, `--step-s`
//! apart, ending now).
//!
//! Per server, one after the other:
//! - **replay**: load `--replay-series` x `--replay-samples` into a fresh data dir, stop it with
//!   SIGTERM (a clean stop) or SIGKILL (`kill -9`, a crash), restart it and time start-up until
//!   `/-/ready` answers and until the head series count is back (polled every 100 ms); once per
//!   `--replay-stops` mode, each on a fresh load.
//! - **rss**: load `--rss-series` x `--rss-samples` (480 = 2 h of 15 s samples) into a fresh
//!   data dir; RSS of the idle server after load, per series (raw and minus the empty server).
//! - **disk**: stop it, restart it on the same dir with `--storage.tsdb.min-block-duration`
//!   lowered to `--block-m` minutes so the replayed head is compacted into blocks; once the
//!   set of blocks is stable, bytes per sample = block bytes / `stats.numSamples` of every
//!   `<path>/<ULID>/meta.json`.
//!
//! Series are the fedgen dataset's (first N of its units), labels sorted as Prometheus sends
//! them; requests are snappy `WriteRequest`s of `--request-samples` samples, series-major within
//! 30-minute windows so every sample stays inside Prometheus's appendable window.
//!
//! Ports: fedstore `--port`, Prometheus `--port + 1` (default 19390/19391).
//!
//! Example: `target/release/durabench --only fedstore --replay-series 100000`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use fedstore_tools::dataset::{Dataset, DatasetConfig};
use fedstore_tools::http;
use fedstore_tools::procs::{self, ChildGuard};
use fedstore_tools::remote_write;

#[derive(Parser, Debug, Clone)]
#[command(about = "WAL replay time, RSS per series and bytes per sample: fedstore vs Prometheus")]
struct Args {
    /// Servers, in order: fedstore, prometheus.
    #[arg(long, value_delimiter = ',', default_value = "fedstore,prometheus")]
    only: Vec<String>,
    /// Phases: replay, rss, disk (disk needs rss).
    #[arg(long, value_delimiter = ',', default_value = "replay,rss,disk")]
    phases: Vec<String>,
    /// How the replay phase stops the loaded server: `term` (SIGTERM, clean), `kill` (SIGKILL).
    #[arg(long, value_delimiter = ',', default_value = "term,kill")]
    replay_stops: Vec<String>,
    /// Series of the replay phase.
    #[arg(long, default_value_t = 1_009_600)]
    replay_series: usize,
    /// Samples per series of the replay phase.
    #[arg(long, default_value_t = 120)]
    replay_samples: usize,
    /// Series of the RSS phase.
    #[arg(long, default_value_t = 100_000)]
    rss_series: usize,
    /// Samples per series of the RSS phase (480 = 2 h at 15 s).
    #[arg(long, default_value_t = 480)]
    rss_samples: usize,
    /// Seconds between samples.
    #[arg(long, default_value_t = 15)]
    step_s: i64,
    /// Samples per remote-write request (about).
    #[arg(long, default_value_t = 60_000)]
    request_samples: usize,
    /// Concurrent senders.
    #[arg(long, default_value_t = 2)]
    senders: usize,
    /// min-block-duration of the disk phase, minutes.
    #[arg(long, default_value_t = 30)]
    block_m: u64,
    /// fedstore's port; Prometheus uses the next one.
    #[arg(long, default_value_t = 19390)]
    port: u16,
    /// The fedstore binary.
    #[arg(long, default_value = "target/release/fedstore")]
    fedstore_bin: PathBuf,
    /// The Prometheus binary.
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus_bin: PathBuf,
    /// Parent of the temp work dir.
    #[arg(long, default_value = "/tmp")]
    work_dir: PathBuf,
    /// The dataset (`--values realistic` for node-exporter-like values).
    #[command(flatten)]
    dataset: DatasetConfig,
}

/// One series: sorted `(name, value)` labels with `__name__`, and how to get its values.
struct SeriesDef {
    labels: Vec<(String, String)>,
    series: fedstore_tools::dataset::Series,
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.senders > 0 && args.request_samples > 0,
        "positive --senders/--request-samples"
    );
    procs::install_signal_handler()?;
    let ds = Dataset::new(args.dataset.clone());
    let want = args.replay_series.max(args.rss_series);
    let t = Instant::now();
    let defs = Arc::new(build_series(&ds, want)?);
    eprintln!(
        "{} series built in {:.1}s",
        defs.len(),
        t.elapsed().as_secs_f64()
    );
    let work = args
        .work_dir
        .join(format!("durabench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let mut report = Vec::new();
    for name in &args.only {
        if let Err(e) = run_server(&args, &ds, &defs, name, &work, &mut report) {
            eprintln!("{name}: {e:#}");
            report.push(format!("| {name} | error | {e:#} |"));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    for line in &report {
        println!("{line}");
    }
    Ok(())
}

fn build_series(ds: &Dataset, n: usize) -> Result<Vec<SeriesDef>> {
    let mut out = Vec::with_capacity(n);
    for unit in ds.units() {
        for s in ds.unit_series(unit) {
            if out.len() == n {
                return Ok(out);
            }
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect();
            labels.push(("__name__".to_string(), s.name.clone()));
            labels.sort();
            out.push(SeriesDef { labels, series: s });
        }
    }
    ensure!(out.len() == n, "the dataset has only {} series", out.len());
    Ok(out)
}

fn run_server(
    args: &Args,
    ds: &Dataset,
    defs: &Arc<Vec<SeriesDef>>,
    name: &str,
    work: &Path,
    report: &mut Vec<String>,
) -> Result<()> {
    ensure!(
        name == "fedstore" || name == "prometheus",
        "unknown server {name:?}"
    );
    let phase = |p: &str| args.phases.iter().any(|x| x == p);
    if phase("replay") {
        for stop in &args.replay_stops {
            ensure!(
                stop == "term" || stop == "kill",
                "unknown --replay-stops mode {stop:?}"
            );
            replay_once(args, ds, defs, name, work, stop == "kill", report)?;
        }
    }
    if phase("rss") {
        let dir = work.join(format!("{name}-rss"));
        std::fs::create_dir_all(&dir)?;
        let load0 = procs::loadavg().unwrap_or(f64::NAN);
        let mut s = Server::start(args, name, &dir, None)?;
        s.wait_ready(Duration::from_secs(120))?;
        thread::sleep(Duration::from_secs(2));
        let empty = s.rss_kib();
        load(args, ds, defs, s.addr, args.rss_series, args.rss_samples)?;
        s.wait_series(args.rss_series as u64, Duration::from_secs(300))?;
        thread::sleep(Duration::from_secs(5));
        let rss = s.rss_kib();
        let hwm = procs::rss_kib(s.child.pid()).map_or(0, |m| m.1);
        let (anon, file) = procs::rss_split_kib(s.child.pid()).unwrap_or((0, 0));
        let threads = procs::threads(s.child.pid()).unwrap_or(0);
        s.child.stop(Duration::from_secs(300));
        let n = args.rss_series as f64;
        let line = format!(
            "| {name} | rss {} x {} | RSS {} MiB (anon {} MiB, file {} MiB; empty {} MiB, peak {} MiB; {threads} threads) | **{:.0} B/series** ({:.0} B/series above empty) | load {:.2} / {:.2} |",
            args.rss_series,
            args.rss_samples,
            rss / 1024,
            anon / 1024,
            file / 1024,
            empty / 1024,
            hwm / 1024,
            rss as f64 * 1024.0 / n,
            (rss.saturating_sub(empty)) as f64 * 1024.0 / n,
            load0,
            procs::loadavg().unwrap_or(f64::NAN)
        );
        eprintln!("{line}");
        report.push(line);
        if phase("disk") {
            let load0 = procs::loadavg().unwrap_or(f64::NAN);
            let t = Instant::now();
            let mut s = Server::start(args, name, &dir, Some(args.block_m))?;
            s.wait_ready(Duration::from_secs(600))?;
            let (blocks, bytes, chunk_bytes, samples, series) = s.wait_blocks(&dir.join("data"))?;
            s.child.stop(Duration::from_secs(300));
            let line = format!(
                "| {name} | disk, min-block-duration {}m | {blocks} blocks after {:.0} s: {} bytes ({} in chunks/), {samples} samples, {series} block series | **{:.2} bytes/sample** ({:.2} in chunks/) | load {:.2} / {:.2} |",
                args.block_m,
                t.elapsed().as_secs_f64(),
                bytes,
                chunk_bytes,
                bytes as f64 / samples.max(1) as f64,
                chunk_bytes as f64 / samples.max(1) as f64,
                load0,
                procs::loadavg().unwrap_or(f64::NAN)
            );
            eprintln!("{line}");
            report.push(line);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// One replay measurement: load, stop (SIGTERM, or SIGKILL with `kill`), restart, time it.
fn replay_once(
    args: &Args,
    ds: &Dataset,
    defs: &Arc<Vec<SeriesDef>>,
    name: &str,
    work: &Path,
    kill: bool,
    report: &mut Vec<String>,
) -> Result<()> {
    let how = if kill { "SIGKILL" } else { "SIGTERM" };
    let dir = work.join(format!(
        "{name}-replay-{}",
        if kill { "kill" } else { "term" }
    ));
    std::fs::create_dir_all(&dir)?;
    let load0 = procs::loadavg().unwrap_or(f64::NAN);
    let mut s = Server::start(args, name, &dir, None)?;
    s.wait_ready(Duration::from_secs(120))?;
    let t = Instant::now();
    load(
        args,
        ds,
        defs,
        s.addr,
        args.replay_series,
        args.replay_samples,
    )?;
    s.wait_series(args.replay_series as u64, Duration::from_secs(300))?;
    let load_s = t.elapsed().as_secs_f64();
    let rss_loaded = s.rss_kib();
    let t = Instant::now();
    if kill {
        s.child.kill();
    } else {
        s.child.stop(Duration::from_secs(300));
    }
    let stop_s = t.elapsed().as_secs_f64();
    let data_dir = dir_bytes(&dir.join("data"));
    let data_parts = dir_parts(&dir.join("data"));
    let t = Instant::now();
    let mut s = Server::start(args, name, &dir, None)?;
    s.wait_ready(Duration::from_secs(600))?;
    let ready = t.elapsed();
    s.wait_series(args.replay_series as u64, Duration::from_secs(600))?;
    let back = t.elapsed();
    let rss_replayed = s.rss_kib();
    let cpu = procs::cpu_time(s.child.pid()).unwrap_or_default();
    s.child.stop(Duration::from_secs(300));
    let line = format!(
        "| {name} | replay {} x {}, {how} | loaded in {load_s:.0} s, RSS {} MiB; {how} stop {stop_s:.1} s; data dir {} MiB ({data_parts}) | restart: **ready {:.1} s**, series back {:.1} s, CPU {:.1} s, RSS {} MiB | load {:.2} / {:.2} |",
        args.replay_series,
        args.replay_samples,
        rss_loaded / 1024,
        data_dir >> 20,
        ready.as_secs_f64(),
        back.as_secs_f64(),
        cpu.as_secs_f64(),
        rss_replayed / 1024,
        load0,
        procs::loadavg().unwrap_or(f64::NAN)
    );
    eprintln!("{line}");
    report.push(line);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A server under test.
struct Server {
    child: ChildGuard,
    addr: SocketAddr,
    log: PathBuf,
    series_metric: &'static str,
}

impl Server {
    fn start(args: &Args, name: &str, dir: &Path, block_m: Option<u64>) -> Result<Server> {
        let data = dir.join("data");
        let (port, mut cmd, series_metric) = if name == "fedstore" {
            let mut c = Command::new(&args.fedstore_bin);
            c.arg("serve")
                // An empty config: no self-scrape adding series.
                .arg(format!(
                    "--config.file={}",
                    write_empty_config(dir)?.display()
                ));
            (args.port, c, "fedstore_head_series")
        } else {
            let mut c = Command::new(&args.prometheus_bin);
            c.arg(format!(
                "--config.file={}",
                write_empty_config(dir)?.display()
            ))
            .arg("--web.enable-remote-write-receiver");
            (args.port + 1, c, "prometheus_tsdb_head_series")
        };
        cmd.arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        if let Some(m) = block_m {
            cmd.arg(format!("--storage.tsdb.min-block-duration={m}m"));
            if name == "fedstore" {
                cmd.arg("--storage.tsdb.compaction-interval=5s");
            }
        }
        let log = dir.join(format!("server-{}.log", now_ms()));
        let child = ChildGuard::spawn(name, cmd, &log)?;
        Ok(Server {
            child,
            addr: format!("127.0.0.1:{port}").parse()?,
            log,
            series_metric,
        })
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let addr = self.addr;
        self.wait(timeout, "/-/ready", Duration::from_millis(100), || {
            Ok(
                http::get(addr, "/-/ready", &[], Duration::from_secs(5), &mut |_| {})
                    .is_ok_and(|r| r.status == 200),
            )
        })
    }

    fn wait_series(&mut self, n: u64, timeout: Duration) -> Result<()> {
        let (addr, m) = (self.addr, self.series_metric);
        self.wait(timeout, m, Duration::from_millis(100), || {
            Ok(metric(addr, m)? as u64 >= n)
        })
    }

    /// Waits until at least one block exists and the set of blocks has not changed for 20 s
    /// (at most 5 min); returns what [`blocks`] does.
    fn wait_blocks(&mut self, data: &Path) -> Result<(usize, u64, u64, u64, u64)> {
        let mut last = (0, 0, 0, 0, 0);
        let mut stable_since = Instant::now();
        let data = data.to_path_buf();
        self.wait(
            Duration::from_secs(300),
            "stable blocks",
            Duration::from_secs(2),
            || {
                let now = blocks(&data)?;
                if now != last {
                    eprintln!("  blocks {now:?}");
                    last = now;
                    stable_since = Instant::now();
                }
                Ok(last.0 > 0 && stable_since.elapsed() >= Duration::from_secs(20))
            },
        )?;
        Ok(last)
    }

    fn wait(
        &mut self,
        timeout: Duration,
        what: &str,
        poll: Duration,
        mut check: impl FnMut() -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.child
                .check_alive()
                .with_context(|| format!("see {}", self.log.display()))?;
            if let Ok(true) = check() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("timed out after {}s waiting for {what}", timeout.as_secs());
            }
            thread::sleep(poll);
        }
    }

    fn rss_kib(&self) -> u64 {
        procs::rss_kib(self.child.pid()).map_or(0, |m| m.0)
    }
}

fn write_empty_config(dir: &Path) -> Result<PathBuf> {
    let p = dir.join("empty.yml");
    std::fs::write(&p, "global:\n  scrape_interval: 15s\nscrape_configs: []\n")?;
    Ok(p)
}

/// Sends `series` x `samples` (ending now, `--step-s` apart) by remote write: 30-minute
/// windows in time order, series-major inside a window.
fn load(
    args: &Args,
    ds: &Dataset,
    defs: &Arc<Vec<SeriesDef>>,
    addr: SocketAddr,
    series: usize,
    samples: usize,
) -> Result<()> {
    let step_ms = args.step_s * 1000;
    let start_ms = now_ms() - step_ms * samples as i64;
    let window = (1_800_000 / step_ms).max(1) as usize;
    let url = format!("http://{addr}/api/v1/write");
    let t = Instant::now();
    for w0 in (0..samples).step_by(window) {
        let w1 = (w0 + window).min(samples);
        let per_req = (args.request_samples / (w1 - w0)).max(1);
        let batches: Vec<(usize, usize)> = (0..series)
            .step_by(per_req)
            .map(|a| (a, (a + per_req).min(series)))
            .collect();
        let next = AtomicUsize::new(0);
        let errors: Vec<Result<()>> = thread::scope(|sc| {
            let handles: Vec<_> = (0..args.senders)
                .map(|_| {
                    sc.spawn(|| -> Result<()> {
                        let agent = remote_write::agent();
                        let mut pb = Vec::new();
                        let mut enc = snap::raw::Encoder::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&(a, b)) = batches.get(i) else {
                                return Ok(());
                            };
                            pb.clear();
                            for d in &defs[a..b] {
                                encode_series(ds, d, start_ms, step_ms, w0..w1, &mut pb);
                            }
                            remote_write::post(&agent, &url, &pb, &mut enc)?;
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
        for e in errors {
            e?;
        }
    }
    let n = (series * samples) as f64;
    eprintln!(
        "  sent {series} x {samples} = {n} samples in {:.1}s ({:.0} samples/s)",
        t.elapsed().as_secs_f64(),
        n / t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Appends one `TimeSeries` (field 1 of `WriteRequest`) with samples `range` of `d`.
fn encode_series(
    ds: &Dataset,
    d: &SeriesDef,
    start_ms: i64,
    step_ms: i64,
    range: std::ops::Range<usize>,
    out: &mut Vec<u8>,
) {
    let mut labels = Vec::with_capacity(512);
    remote_write::encode_labels(
        d.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        &mut labels,
    );
    let samples: Vec<(i64, f64)> = range
        .map(|i| {
            let t = start_ms + step_ms * i as i64;
            (t, ds.value(&d.series, t))
        })
        .collect();
    remote_write::encode_series(&labels, &samples, &mut Vec::new(), out);
}

/// (blocks, bytes, bytes under `chunks/`, samples, series) of every `<ULID>/meta.json`
/// under `data`.
fn blocks(data: &Path) -> Result<(usize, u64, u64, u64, u64)> {
    let mut r = (0, 0, 0, 0, 0);
    for e in std::fs::read_dir(data)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        let meta = e.path().join("meta.json");
        if name.len() != 26 || !meta.exists() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta)?)?;
        r.0 += 1;
        r.1 += dir_bytes(&e.path());
        r.2 += dir_bytes(&e.path().join("chunks"));
        r.3 += v["stats"]["numSamples"].as_u64().unwrap_or(0);
        r.4 += v["stats"]["numSeries"].as_u64().unwrap_or(0);
    }
    Ok(r)
}

/// What the parts of a data dir weigh, in MiB: per top-level entry (`wal`, `chunks_head`,
/// `head` with its `snapshot.*` files apart, blocks together as `blocks`), file lengths and,
/// in brackets, allocated blocks when they differ (sparse or preallocated files), e.g.
/// `wal 830, chunks_head 650, head 32 [20], snapshot 80`.
fn dir_parts(data: &Path) -> String {
    let mut parts: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let mut add = |part: &str, p: &Path| {
        let e = parts.entry(part.to_owned()).or_default();
        e.0 += dir_bytes(p);
        e.1 += dir_allocated(p);
    };
    let Ok(rd) = std::fs::read_dir(data) else {
        return "no data dir".to_owned();
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "head" {
            for f in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
                let is_snapshot = f.file_name().to_string_lossy().starts_with("snapshot");
                add(if is_snapshot { "snapshot" } else { "head" }, &f.path());
            }
        } else if name.len() == 26 && e.path().join("meta.json").exists() {
            add("blocks", &e.path());
        } else {
            add(&name, &e.path());
        }
    }
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    parts
        .iter()
        .filter(|(_, (len, _))| *len > 0)
        .map(|(name, &(len, alloc))| {
            if mib(len.abs_diff(alloc)) >= 1.0 {
                format!("{name} {:.0} [{:.0}]", mib(len), mib(alloc))
            } else {
                format!("{name} {:.0}", mib(len))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bytes allocated on disk to `path` (a file, or a directory recursively): `st_blocks` x 512.
fn dir_allocated(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else {
        return 0;
    };
    if !m.is_dir() {
        return m.blocks() * 512;
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| dir_allocated(&e.path()))
        .sum()
}

/// Bytes of all files under `dir` (or of `dir` itself if it is a file), recursively.
fn dir_bytes(dir: &Path) -> u64 {
    if let Ok(m) = std::fs::metadata(dir)
        && !m.is_dir()
    {
        return m.len();
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_series_encoding_is_well_formed() {
        let ds = Dataset::new(DatasetConfig::default());
        let defs = build_series(&ds, 3).expect("series");
        assert_eq!(defs[0].labels[0].0, "__name__");
        assert!(defs[0].labels.windows(2).all(|w| w[0].0 < w[1].0));
        let mut out = Vec::new();
        encode_series(&ds, &defs[0], 1_000_000, 15_000, 0..2, &mut out);
        // WriteRequest.timeseries: tag 0x0a, length, then the TimeSeries.
        assert_eq!(out[0], 0x0a);
        let mut len = 0usize;
        let mut shift = 0;
        let mut i = 1;
        loop {
            len |= usize::from(out[i] & 0x7f) << shift;
            shift += 7;
            i += 1;
            if out[i - 1] < 0x80 {
                break;
            }
        }
        assert_eq!(i + len, out.len());
        // Walk the TimeSeries: labels (0x0a) then exactly two samples (0x12) of 13 bytes
        // (value tag + 8 bytes + timestamp tag + 3-byte varint of 1_000_000 / 1_015_000).
        let body = &out[i..];
        let (mut p, mut labels, mut samples) = (0, 0, 0);
        while p < body.len() {
            let tag = body[p];
            let l = usize::from(body[p + 1]);
            assert!(l < 0x80, "short fields in this test");
            match tag {
                0x0a => labels += 1,
                0x12 => {
                    assert_eq!(l, 13);
                    samples += 1;
                }
                t => panic!("unexpected tag {t:#x}"),
            }
            p += 2 + l;
        }
        assert_eq!(p, body.len());
        assert_eq!(labels, defs[0].labels.len());
        assert_eq!(samples, 2);
    }
}
