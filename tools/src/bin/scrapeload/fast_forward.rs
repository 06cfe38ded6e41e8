//! The fast-forward mode of scrapeload (`--history-h`): hours of 15 s samples in minutes.
//!
//! Every server in `--only` starts at once on its own temp dir and scrapes the same targets
//! every `--interval-s / --speedup` (timeout the same), while the targets stamp their samples
//! with a clock that runs `--speedup` times faster than the wall clock and meets it when the
//! fast-forward ends ([`FastForward`]): after `history / speedup` of wall time every series
//! holds ~`history / interval` samples `--interval-s` apart in sample time, all in the past.
//! The targets answer `503` while the servers start, so the clock starts once all of them
//! are up.
//!
//! Measured per server: RSS when its head first holds every series and one (fast) interval
//! later ("loaded", as the normal mode), at each quarter of the history, and at the end
//! (taken before anything is queried); then the targets answer `503` and each server is asked
//! how many samples it holds (`count_over_time` over the history for one series and for every
//! series of two instances, its head's appended-samples counter), how many scrapes it made
//! and how long they took, what it refused, and whether its head compacted.
//!
//! Prometheus appends its `up`/`scrape_*` series at the wall clock, up to `history` ahead of
//! the targets' samples; with its default 2 h head chunk range it refuses samples more than
//! 1 h behind its newest (`out of bounds`). It is started with
//! `--storage.tsdb.min-block-duration` of at least twice the history (4 h for 2 h), which
//! also moves its head compaction from a 3 h span to 6 h. fedstore and VictoriaMetrics take
//! older samples as they are.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use fedstore_tools::dataset::{Dataset, Unit};
use fedstore_tools::http;
use fedstore_tools::procs::{self, ChildGuard};
use fedstore_tools::serve::{DatasetTargets, FastForward, Targets};

use super::{Args, Run, chart, mib, now_ms, per_series, port, rss, series_count, start};

/// One server of the fast-forward run.
struct Server {
    name: String,
    addr: SocketAddr,
    child: Option<ChildGuard>,
    pid: u32,
    log: PathBuf,
    cpu0: Option<Duration>,
    /// When the head first held every series.
    loaded_at: Option<Instant>,
    m: Measured,
}

/// What one server measured.
#[derive(Debug, Default)]
struct Measured {
    load: Option<Duration>,
    rss_first: u64,
    rss_loaded: u64,
    /// RSS at each quarter of the history (sample time), the last one being the end.
    rss_marks: Vec<u64>,
    /// `(RssAnon, RssFile + RssShmem)` at the end.
    split_end: (u64, u64),
    hwm: u64,
    series: u64,
    cpu_pct: f64,
    /// Samples of one series over the history (`count_over_time`).
    one_series: Option<f64>,
    /// Samples per series over the history for one name on one instance per target:
    /// (avg, min, series).
    instances: Option<(f64, f64, f64)>,
    /// Head appended-samples counter per head series.
    appended_per_series: Option<f64>,
    /// Scrapes per target in the window: (made, succeeded), averaged over the targets.
    scrapes: Option<(f64, f64)>,
    /// `scrape_duration_seconds` over the window: (mean, max).
    scrape_s: Option<(f64, f64)>,
    /// Samples the server counted as refused (out of bounds/order, too old).
    refused: Option<f64>,
    compactions: String,
    note: String,
    timeline: Vec<(f64, u64)>,
}

/// Runs the fast-forward comparison and prints its table.
pub(super) fn run(args: &Args, ds: &Dataset, work: &Path, hours: f64) -> Result<()> {
    ensure!(
        hours > 0.0 && args.speedup >= 1.0,
        "--history-h must be positive and --speedup at least 1"
    );
    let total = ds.total_series();
    let history_ms = (hours * 3_600_000.0).round() as i64;
    let interval_ms = (args.interval_s as f64 * 1000.0 / args.speedup).round() as u64;
    ensure!(
        interval_ms >= 100,
        "scrape interval {interval_ms} ms: lower --speedup"
    );
    let wall = Duration::from_millis((history_ms as f64 / args.speedup).round() as u64);
    let block_h = args
        .prometheus_min_block_h
        .unwrap_or_else(|| (2.0 * hours).ceil().max(2.0));
    eprintln!(
        "fast-forward: {hours} h of samples every {} s at {}x: scrape every {interval_ms} ms for {:.0} s; Prometheus min block {block_h} h",
        args.interval_s,
        args.speedup,
        wall.as_secs_f64()
    );

    let ff = Arc::new(FastForward::new(
        DatasetTargets::new(ds.clone(), args.targets, true),
        args.speedup,
    ));
    let targets = Targets::start(ff.clone(), args.port_base, args.targets)?;
    targets.set_frozen(true);
    let config = scrape_config(args, interval_ms);
    let mut servers = Vec::new();
    for name in &args.only {
        let dir = work.join(name);
        std::fs::create_dir_all(&dir)?;
        let extra = if name == "prometheus" {
            vec![format!(
                "--storage.tsdb.min-block-duration={}m",
                (block_h * 60.0).round() as u64
            )]
        } else {
            Vec::new()
        };
        let child = start(args, name, &dir, &config, &extra)?;
        servers.push(Server {
            name: name.clone(),
            addr: format!("127.0.0.1:{}", port(args, name)).parse()?,
            pid: child.pid(),
            child: Some(child),
            log: dir.join("server.log"),
            cpu0: None,
            loaded_at: None,
            m: Measured::default(),
        });
    }
    // Every server up and scraping (failed scrapes: its `up` series exist) before the clock
    // starts; Prometheus applies its targets ~5 s after it starts.
    let deadline = Instant::now() + Duration::from_secs(120);
    let report_series = 5 * args.targets as u64;
    for s in &mut servers {
        while !series_count(&s.name, s.addr).is_ok_and(|n| n >= report_series) {
            if let Some(c) = s.child.as_mut() {
                c.check_alive()?;
            }
            ensure!(
                Instant::now() < deadline,
                "{} did not answer within 120 s (see {})",
                s.name,
                s.log.display()
            );
            thread::sleep(Duration::from_millis(500));
        }
    }

    let load0 = procs::loadavg().unwrap_or(f64::NAN);
    let end_ms = ff.start(now_ms(), history_ms);
    targets.set_frozen(false);
    let t0 = Instant::now();
    let own_cpu0 = procs::cpu_time(std::process::id());
    for s in &mut servers {
        s.cpu0 = procs::cpu_time(s.pid);
    }
    watch(args, &mut servers, total, t0, wall, interval_ms)?;

    // The end: RSS before anything is asked of the servers.
    for s in &mut servers {
        if s.child.is_none() {
            continue;
        }
        let kib = rss(s.pid);
        s.m.rss_marks.push(kib);
        s.m.split_end = procs::rss_split_kib(s.pid).unwrap_or_default();
        s.m.hwm = procs::rss_kib(s.pid).map_or(0, |(_, h)| h);
        s.m.cpu_pct = procs::cpu_time(s.pid)
            .zip(s.cpu0)
            .map_or(f64::NAN, |(b, a)| {
                b.saturating_sub(a).as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0
            });
    }
    let load1 = procs::loadavg().unwrap_or(f64::NAN);
    // This process is mostly the targets rendering their bodies.
    let own_cpu = procs::cpu_time(std::process::id())
        .zip(own_cpu0)
        .map_or(f64::NAN, |(b, a)| {
            b.saturating_sub(a).as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0
        });
    targets.set_frozen(true);
    // Let scrapes in flight land and VictoriaMetrics make its last rows searchable.
    thread::sleep(Duration::from_secs(5));
    let window_s = wall.as_secs() + 1;
    for s in &mut servers {
        if s.child.is_none() {
            continue;
        }
        if let Err(e) = held(args, ds, s, hours, end_ms, window_s) {
            eprintln!("  {}: {e:#}", s.name);
            s.m.note = format!("{} {e:#}", s.m.note);
        }
        if let Some(mut c) = s.child.take() {
            c.stop(Duration::from_secs(30));
        }
    }
    drop(targets);

    println!(
        "{}",
        table(
            args,
            total,
            hours,
            interval_ms,
            wall,
            block_h,
            (load0, load1, own_cpu),
            &servers
        )
    );
    if let Some(path) = &args.chart {
        let runs: Vec<Run> = servers
            .iter()
            .map(|s| Run {
                name: s.name.clone(),
                timeline: s.m.timeline.clone(),
                ..Run::default()
            })
            .collect();
        std::fs::write(path, chart(args, total, &runs))?;
        eprintln!("chart: {}", path.display());
    }
    Ok(())
}

/// The scrape config at the fast interval, timestamps honored (every server's default,
/// written out since this mode depends on it).
fn scrape_config(args: &Args, interval_ms: u64) -> String {
    let interval = format!("{interval_ms}ms");
    fedstore_tools::serve::fedgen_scrape_config(
        args.port_base,
        args.targets,
        &interval,
        &interval,
        true,
    )
}

/// Watches the servers until the fast-forward ends: RSS every second, the load, the marks.
fn watch(
    args: &Args,
    servers: &mut [Server],
    total: u64,
    t0: Instant,
    wall: Duration,
    interval_ms: u64,
) -> Result<()> {
    let settle = Duration::from_millis(interval_ms) + Duration::from_secs(3);
    let min_avail = args.min_mem_available_mib * 1024;
    let mut next_tick = Duration::ZERO;
    let mut next_count = Duration::ZERO;
    let mut marks_done = 0u32;
    while t0.elapsed() < wall {
        let at = t0.elapsed();
        if at >= next_tick {
            next_tick = at + Duration::from_secs(1);
            for s in servers.iter_mut().filter(|s| s.child.is_some()) {
                s.m.timeline.push((at.as_secs_f64(), rss(s.pid)));
                if let Some(c) = s.child.as_mut()
                    && let Err(e) = c.check_alive()
                {
                    eprintln!("  {}: {e:#}", s.name);
                    s.m.note = format!("died: {e:#}");
                    s.child = None;
                }
            }
            if procs::mem_available_kib().is_some_and(|a| a < min_avail)
                && let Some(s) = servers
                    .iter_mut()
                    .filter(|s| s.child.is_some())
                    .max_by_key(|s| rss(s.pid))
            {
                eprintln!("  MemAvailable low: killing {}", s.name);
                if let Some(mut c) = s.child.take() {
                    c.kill();
                }
                s.m.note = format!("killed: MemAvailable < {} MiB", args.min_mem_available_mib);
            }
        }
        // Quarters of the history, the last one taken at the end.
        let quarter = wall / 4;
        while marks_done < 3 && at >= quarter * (marks_done + 1) {
            marks_done += 1;
            for s in servers.iter_mut().filter(|s| s.child.is_some()) {
                s.m.rss_marks.push(rss(s.pid));
            }
            eprintln!(
                "  {:.0}% of the history: RSS {}",
                f64::from(marks_done) * 25.0,
                servers
                    .iter()
                    .map(|s| format!("{} {} MiB", s.name, rss(s.pid) / 1024))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for s in servers.iter_mut().filter(|s| s.child.is_some()) {
            match s.loaded_at {
                None if at >= next_count => {
                    let n = series_count(&s.name, s.addr).unwrap_or(0);
                    if n >= total {
                        s.loaded_at = Some(Instant::now());
                        s.m.load = Some(at);
                        s.m.rss_first = rss(s.pid);
                        eprintln!(
                            "  {}: every series in after {:.1} s, RSS {} MiB",
                            s.name,
                            at.as_secs_f64(),
                            s.m.rss_first / 1024
                        );
                    }
                }
                Some(l) if s.m.rss_loaded == 0 && l.elapsed() >= settle => {
                    s.m.rss_loaded = rss(s.pid);
                    eprintln!("  {}: loaded, RSS {} MiB", s.name, s.m.rss_loaded / 1024);
                }
                _ => {}
            }
        }
        if at >= next_count {
            next_count = at + Duration::from_secs(2);
        }
        thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// A PromQL selector for exactly one dataset series.
fn series_selector(name: &str, labels: &[(&str, String)]) -> String {
    let mut s = format!("{{__name__={}", quote(name));
    for (k, v) in labels {
        s.push_str(&format!(",{k}={}", quote(v)));
    }
    s.push('}');
    s
}

fn quote(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An instant query at `time_ms`; the values of its vector in answer order.
fn query(addr: SocketAddr, expr: &str, time_ms: i64) -> Result<Vec<f64>> {
    // `nocache=1`: VictoriaMetrics otherwise moves a recent `time` 30 s back
    // (`-search.latencyOffset`); the others ignore it.
    let path = format!(
        "/api/v1/query?query={}&time={:.3}&nocache=1",
        http::encode_component(expr),
        time_ms as f64 / 1000.0
    );
    let (resp, body) = http::get_body(addr, &path, &[], Duration::from_secs(300))?;
    ensure!(
        resp.status == 200,
        "query {expr}: status {}: {}",
        resp.status,
        String::from_utf8_lossy(&body)
    );
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["data"]["result"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["value"][1].as_str().and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default())
}

fn first(addr: SocketAddr, expr: &str, time_ms: i64) -> Result<Option<f64>> {
    Ok(query(addr, expr, time_ms)?.first().copied())
}

/// Sum of every sample of `name` (any labels) in an exposition text.
fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        let v = rest
            .rsplit('}')
            .next()
            .and_then(|t| t.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok());
        if let Some(v) = v {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// What the server holds at the end, through its query API and `/metrics`.
fn held(
    args: &Args,
    ds: &Dataset,
    s: &mut Server,
    hours: f64,
    end_ms: i64,
    window_s: u64,
) -> Result<()> {
    let range = format!("{}s", (hours * 3600.0).round() as u64 + 3600);
    s.m.series = series_count(&s.name, s.addr)?;
    let (_, body) = http::get_body(s.addr, "/metrics", &[], Duration::from_secs(60))?;
    let text = String::from_utf8_lossy(&body);
    let (appended, refused): (&str, &[&str]) = match s.name.as_str() {
        "prometheus" => (
            "prometheus_tsdb_head_samples_appended_total",
            &[
                "prometheus_target_scrapes_sample_out_of_bounds_total",
                "prometheus_target_scrapes_sample_out_of_order_total",
                "prometheus_tsdb_out_of_bound_samples_total",
            ],
        ),
        "victoriametrics" => ("vm_rows_added_to_storage_total", &["vm_rows_ignored_total"]),
        _ => (
            "fedstore_head_samples_appended_total",
            &[
                "fedstore_head_out_of_order_samples_total",
                "fedstore_head_duplicate_samples_total",
            ],
        ),
    };
    s.m.appended_per_series = metric_sum(&text, appended).map(|a| a / s.m.series.max(1) as f64);
    let refused: Vec<f64> = refused
        .iter()
        .filter_map(|m| metric_sum(&text, m))
        .collect();
    s.m.refused = (!refused.is_empty()).then(|| refused.iter().sum());
    s.m.compactions = match s.name.as_str() {
        "prometheus" => metric_sum(&text, "prometheus_tsdb_compactions_total")
            .map_or("-".into(), |c| format!("{c:.0}")),
        "fedstore" => {
            let log = std::fs::read_to_string(&s.log).unwrap_or_default();
            log.matches("head range persisted").count().to_string()
        }
        _ => "-".into(),
    };
    for line in text.lines().filter(|l| {
        l.starts_with("fedstore_head_")
            || l.starts_with("prometheus_tsdb_head_chunks")
            || l.starts_with("prometheus_tsdb_head_samples")
            || l.starts_with("vm_rows_added")
    }) {
        eprintln!("  {}: {line}", s.name);
    }

    // Queries answer what they can; a failed one leaves its cell empty and says why.
    let mut failed = Vec::new();
    let mut ask = |expr: String| match first(s.addr, &expr, end_ms) {
        Ok(v) => v,
        Err(e) => {
            failed.push(format!("{e:#}"));
            None
        }
    };
    let node0 = ds.unit_series(Unit::Node(0));
    if let Some(one) = node0.first() {
        let sel = series_selector(&one.name, &one.labels);
        s.m.one_series = ask(format!("count_over_time({sel}[{range}])"));
        // One metric name on the first node instances, one per target (unit `u` is served
        // by target `u % targets`): label sets stay distinct once the name is dropped.
        let n = (args.targets as u32).min(ds.config().instances);
        let instances: Vec<String> = (0..n)
            .map(|i| Dataset::instance_label(Unit::Node(i)).replace('.', "\\."))
            .collect();
        let sel = format!(
            "{{__name__={},instance=~{}}}",
            quote(&one.name),
            quote(&instances.join("|"))
        );
        let per = format!("count_over_time({sel}[{range}])");
        let avg = ask(format!("avg({per})"));
        let min = ask(format!("min({per})"));
        let n = ask(format!("count({per})"));
        s.m.instances = avg.zip(min).zip(n).map(|((a, m), n)| (a, m, n));
    }
    let w = format!("{window_s}s");
    let up = r#"up{job="fedgen"}"#;
    let made = ask(format!("avg(count_over_time({up}[{w}]))"));
    let ok = ask(format!("avg(sum_over_time({up}[{w}]))"));
    s.m.scrapes = made.zip(ok);
    let d = r#"scrape_duration_seconds{job="fedgen"}"#;
    let mean = ask(format!("avg(avg_over_time({d}[{w}]))"));
    let max = ask(format!("max(max_over_time({d}[{w}]))"));
    s.m.scrape_s = mean.zip(max);
    for e in failed {
        eprintln!("  {}: {e}", s.name);
        s.m.note.push_str(&e);
    }
    Ok(())
}

type Cell = Box<dyn Fn(&Measured) -> String>;

#[allow(clippy::too_many_arguments)]
fn table(
    args: &Args,
    total: u64,
    hours: f64,
    interval_ms: u64,
    wall: Duration,
    block_h: f64,
    load: (f64, f64, f64),
    servers: &[Server],
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{total} series on {} targets, {hours} h of samples every {} s fast-forwarded {}x: every server scraped every {interval_ms} ms (timeout the same) for {:.0} s, all at once; honor_labels, honor_timestamps; Prometheus --storage.tsdb.min-block-duration={block_h}h; load average {:.1} → {:.1}; the targets (this process) used {:.0}% of one core",
        args.targets,
        args.interval_s,
        args.speedup,
        wall.as_secs_f64(),
        load.0,
        load.1,
        load.2
    );
    let _ = writeln!(out);
    let _ = write!(out, "| measure |");
    for s in servers {
        let _ = write!(out, " {} |", s.name);
    }
    let _ = write!(out, "\n|---|");
    for _ in servers {
        let _ = write!(out, "---|");
    }
    let _ = writeln!(out);
    let expected = wall.as_millis() as f64 / interval_ms as f64;
    let quarters = (1..=3)
        .map(|q| format!("{:.0}", hours * 60.0 * f64::from(q) / 4.0))
        .collect::<Vec<_>>()
        .join(", ");
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".into(), f);
    let rows: Vec<(String, Cell)> = vec![
        (
            "series in the head at the end".into(),
            Box::new(|m: &Measured| m.series.to_string()),
        ),
        (
            "every series in after (wall time)".into(),
            Box::new(|m: &Measured| {
                m.load
                    .map_or("-".into(), |d| format!("{:.1} s", d.as_secs_f64()))
            }),
        ),
        (
            "RSS after the first scrape".into(),
            Box::new(move |m: &Measured| {
                format!("{} ({})", mib(m.rss_first), per_series(m.rss_first, total))
            }),
        ),
        (
            "**RSS loaded** (one fast interval + 3 s later)".into(),
            Box::new(move |m: &Measured| {
                format!(
                    "**{}** ({})",
                    mib(m.rss_loaded),
                    per_series(m.rss_loaded, total)
                )
            }),
        ),
        (
            format!("RSS at {quarters} min of samples"),
            Box::new(|m: &Measured| {
                m.rss_marks
                    .iter()
                    .take(3)
                    .map(|k| (k / 1024).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
                    + " MiB"
            }),
        ),
        (
            format!("**RSS with {hours} h** (at the end)"),
            Box::new(move |m: &Measured| {
                m.rss_marks.get(3).map_or("-".into(), |&k| {
                    format!("**{}** ({})", mib(k), per_series(k, total))
                })
            }),
        ),
        (
            "of which anonymous / file-backed".into(),
            Box::new(|m: &Measured| {
                format!("{} / {} MiB", m.split_end.0 / 1024, m.split_end.1 / 1024)
            }),
        ),
        (
            "peak RSS (VmHWM)".into(),
            Box::new(|m: &Measured| mib(m.hwm)),
        ),
        (
            format!(
                "samples held, one series (`count_over_time`, {:.0} expected)",
                expected
            ),
            Box::new(move |m: &Measured| opt(m.one_series, &|v| format!("{v:.0}"))),
        ),
        (
            "samples held per series of one name on one instance per target: avg, min (series)"
                .into(),
            Box::new(|m: &Measured| {
                m.instances
                    .map_or("-".into(), |(a, mi, n)| format!("{a:.1}, {mi:.0} ({n:.0})"))
            }),
        ),
        (
            "head appended-samples counter per head series".into(),
            Box::new(move |m: &Measured| opt(m.appended_per_series, &|v| format!("{v:.1}"))),
        ),
        (
            "scrapes per target: made, succeeded".into(),
            Box::new(|m: &Measured| {
                m.scrapes
                    .map_or("-".into(), |(a, b)| format!("{a:.1}, {b:.1}"))
            }),
        ),
        (
            "scrape duration: mean, max".into(),
            Box::new(|m: &Measured| {
                m.scrape_s.map_or("-".into(), |(a, b)| {
                    format!("{:.0} ms, {:.0} ms", a * 1e3, b * 1e3)
                })
            }),
        ),
        (
            "CPU over the fast-forward".into(),
            Box::new(|m: &Measured| format!("{:.0}% of one core", m.cpu_pct)),
        ),
        (
            "samples refused (counters)".into(),
            Box::new(move |m: &Measured| opt(m.refused, &|v| format!("{v:.0}"))),
        ),
        (
            "head compactions during the run".into(),
            Box::new(|m: &Measured| m.compactions.clone()),
        ),
        ("note".into(), Box::new(|m: &Measured| m.note.clone())),
    ];
    for (title, f) in rows {
        let _ = write!(out, "| {title} |");
        for s in servers {
            let _ = write!(out, " {} |", f(&s.m));
        }
        let _ = writeln!(out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sum_adds_every_labelled_sample_of_one_name() {
        let text =
            "# HELP x\nx_total{type=\"a\"} 2\nx_total{type=\"b\"} 3.5\nx_total_more 9\nx 1\n";
        assert_eq!(metric_sum(text, "x_total"), Some(5.5));
        assert_eq!(metric_sum(text, "x"), Some(1.0));
        assert_eq!(metric_sum(text, "y"), None);
    }

    #[test]
    fn selectors_quote_label_values() {
        let sel = series_selector("m", &[("a", "x\"y\\z".to_string())]);
        assert_eq!(sel, r#"{__name__="m",a="x\"y\\z"}"#);
    }
}
