//! soak: fedstore under sustained mixed load, watching memory and every answer.
//!
//! Starts `fedstore serve` on a temporary data dir, remote-writes `--series` series once,
//! then for `--duration-s` runs at the same time:
//! - `--federates` threads each fetching the full `/federate` (every series) in a loop;
//! - `--senders` remote-write threads at `--rate` samples/s in total (each owns a slice of the
//!   series and sends its rounds in time order, so nothing is out of order). A round's samples
//!   carry the wall-clock time it starts at, so the data stays inside `/federate`'s and the
//!   queries' lookback however far the achieved rate falls short of `--rate` (with timestamps
//!   a fixed step apart, a short rate let them fall minutes behind: federates then answered
//!   nothing and looked fast);
//! - `--queriers` threads running instant queries over the written data.
//!
//! Records fedstore's RSS (and its heap / mapped-file split) every second and checks that its
//! level (the median of each later minute) stays within 10% of the level over the second half
//! of the first minute (`--baseline-s`), counts every answer by endpoint and status (5xx other than the
//! documented 503 refusals are failures), and at the end checks that every sample whose
//! request was acknowledged (2xx) is stored: `sum(count_over_time(...))` over the whole run
//! against the acknowledged count. Exits non-zero when a check fails. Also prints the CPU
//! (in cores) fedstore's thread groups and this tool used over the soak: on a small machine
//! the tool's own senders and federate readers take a share of the same cores.
//!
//! Example (the full scale):
//! `soak --series 1000000 --rate 1000000 --duration-s 600 --federates 20`

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail, ensure};
use clap::Parser;
use fedstore_tools::procs::{self, ChildGuard};
use fedstore_tools::remote_write::{encode_labels, encode_series};

#[derive(Parser, Debug)]
#[command(
    about = "Soak: full federates + remote write + queries against one fedstore, RSS and statuses"
)]
struct Args {
    /// Series written before the run and kept written during it.
    #[arg(long, default_value_t = 1_000_000)]
    series: usize,
    /// Remote-write samples per second during the run (all senders together).
    #[arg(long, default_value_t = 1_000_000)]
    rate: u64,
    /// Samples per series written before the run, on average, spaced as `--rate` would space
    /// them and ending now: the head starts the run in the state the asked rate reaches after
    /// a chunk's life (120 samples), even when this machine cannot write that fast with the
    /// federates running. Series get from half to one and a half times this many (spread by
    /// series index), so their open chunks start the run part-filled at every stage, as a
    /// running server's are (its series were created at different times). With every series
    /// given the same count, all open chunks were cut together and filled in step: the heap
    /// rose and fell with that one cycle, and the baseline minute landed in its first fill.
    #[arg(long, default_value_t = 120)]
    preload_rounds: i64,
    /// Length of the run in seconds (after the initial load).
    #[arg(long, default_value_t = 600)]
    duration_s: u64,
    /// RSS baseline: the value this many seconds into the run.
    #[arg(long, default_value_t = 60)]
    baseline_s: u64,
    /// Concurrent full federates.
    #[arg(long, default_value_t = 20)]
    federates: usize,
    /// Concurrent remote-write senders. Each waits for its request's answer (the WAL's
    /// group fsync) before sending the next.
    #[arg(long, default_value_t = 4)]
    senders: usize,
    /// Concurrent query threads.
    #[arg(long, default_value_t = 2)]
    queriers: usize,
    /// Samples per remote-write request.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// fedstore's port.
    #[arg(long, default_value_t = 19470)]
    port: u16,
    /// fedstore binary.
    #[arg(long, default_value = "target/release/fedstore")]
    fedstore_bin: PathBuf,
    /// Extra arguments for `fedstore serve` (repeatable), e.g. `--arg=--web.federate.max-queue=8`.
    #[arg(long = "arg")]
    extra: Vec<String>,
}

/// fedstore's memory at one moment, KiB.
#[derive(Clone, Copy)]
struct RssSample {
    /// Seconds since the soak started.
    t: f64,
    kib: u64,
    /// Heap and other anonymous memory.
    anon: u64,
    /// Mapped file pages (chunk files read by queries; the kernel can drop them).
    file: u64,
}

/// Median of `field` over the samples taken in `[from, to)` seconds; `None` when none were.
fn window_median(
    rss: &[RssSample],
    from: f64,
    to: f64,
    field: fn(&RssSample) -> u64,
) -> Option<u64> {
    let mut v: Vec<u64> = rss
        .iter()
        .filter(|s| s.t >= from && s.t < to)
        .map(field)
        .collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// RSS level per minute: the median of each 60-second window from `baseline_s / 2` on (the
/// first window is the baseline, the second half of the first minute). A median, not one
/// sample, because queries and federates allocate for their answers and free them: RSS
/// swings by their size from one second to the next, and growth is the level climbing, not
/// a swing. Windows are `(start s, total, heap, mapped file)` in KiB.
fn rss_levels(rss: &[RssSample], baseline_s: f64) -> Vec<(f64, u64, u64, u64)> {
    let end = rss.last().map_or(0.0, |s| s.t);
    let mut out = Vec::new();
    let mut from = baseline_s / 2.0;
    let mut len = baseline_s / 2.0;
    while from + len <= end + 1.0 {
        if let (Some(k), Some(a), Some(f)) = (
            window_median(rss, from, from + len, |s| s.kib),
            window_median(rss, from, from + len, |s| s.anon),
            window_median(rss, from, from + len, |s| s.file),
        ) {
            out.push((from, k, a, f));
        }
        from += len;
        len = 60.0;
    }
    out
}

/// Answers counted by (endpoint, status); status 0 is a transport error.
#[derive(Default)]
struct Statuses(Mutex<BTreeMap<(&'static str, u16), u64>>);

impl Statuses {
    fn add(&self, endpoint: &'static str, status: u16) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry((endpoint, status)).or_default() += 1;
        }
    }
    fn snapshot(&self) -> BTreeMap<(&'static str, u16), u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// Shared state of the run.
struct Run {
    addr: SocketAddr,
    write_url: String,
    stop: AtomicBool,
    statuses: Statuses,
    /// Samples in acknowledged (2xx) remote-write requests, initial load included.
    acked: AtomicU64,
    /// Samples in requests that failed (not acknowledged; may or may not be stored).
    unacked: AtomicU64,
    federate_series: AtomicU64,
    /// Per full (200) federate answer: milliseconds and series lines.
    federate_ms: Mutex<Vec<(u64, u64)>>,
}

/// The label bytes of series `i` (node-exporter-like, sorted, as Prometheus sends them).
fn labels_of(i: usize) -> Vec<u8> {
    let host = i / 1000;
    let mut out = Vec::with_capacity(128);
    encode_labels(
        [
            ("__name__", "soak_metric"),
            ("cpu", &(i % 1000).to_string()),
            ("instance", &format!("host-{host:05}.soak.example:9100")),
            ("job", "soak"),
            ("mode", ["idle", "user", "system", "iowait"][i % 4]),
        ],
        &mut out,
    );
    out
}

/// CPU seconds used so far by fedstore's thread groups, by the whole fedstore process and
/// by this tool (whose federate readers and remote-write senders share the machine with the
/// server under test).
struct CpuSplit {
    /// Per prefix of [`CpuSplit::GROUPS`].
    groups: [f64; 5],
    fedstore: f64,
    tool: f64,
}

impl CpuSplit {
    /// fedstore's thread-name prefixes: HTTP workers, the read pools (lowered priority), the
    /// ingest pool.
    const GROUPS: [&'static str; 5] = ["actix-rt", "render", "query", "ingest", "remote-read"];

    fn read(pid: u32) -> Self {
        let secs = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64());
        CpuSplit {
            groups: Self::GROUPS.map(|g| secs(procs::threads_cpu_time(pid, g))),
            fedstore: secs(procs::cpu_time(pid)),
            tool: secs(procs::cpu_time(std::process::id())),
        }
    }

    /// `fedstore 1.62 (actix-rt 0.61, render 0.48, ...), this tool 0.31` over `elapsed` s.
    fn cores_since(&self, before: &CpuSplit, elapsed: f64) -> String {
        let cores = |now: f64, then: f64| (now - then) / elapsed.max(1e-9);
        let groups: Vec<String> = Self::GROUPS
            .iter()
            .zip(self.groups.iter().zip(&before.groups))
            .map(|(g, (&now, &then))| format!("{g} {:.2}", cores(now, then)))
            .collect();
        format!(
            "fedstore {:.2} ({}), this tool {:.2}",
            cores(self.fedstore, before.fedstore),
            groups.join(", "),
            cores(self.tool, before.tool)
        )
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Posts one request; returns the status (0 on a transport error).
fn post(agent: &ureq::Agent, url: &str, pb: &[u8], enc: &mut snap::raw::Encoder) -> u16 {
    let Ok(body) = enc.compress_vec(pb) else {
        return 0;
    };
    match agent
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .send(&body[..])
    {
        Ok(mut r) => {
            let _ = r.body_mut().read_to_vec();
            r.status().as_u16()
        }
        Err(_) => 0,
    }
}

/// Samples series `i` gets before the run: from `mean / 2` to `mean / 2 + mean - 1`, spread
/// over the series (a multiplier coprime with most means scatters neighbours).
fn preload_count(i: usize, mean: i64) -> i64 {
    (mean / 2 + (i as i64).wrapping_mul(7919).rem_euclid(mean)).max(1)
}

/// Sends series `ids` with one sample each at `t` (value `round + i`: a counter), in
/// requests of `batch` samples. Returns false when a request was not acknowledged.
#[allow(clippy::too_many_arguments)]
fn send_round(
    run: &Run,
    agent: &ureq::Agent,
    labels: &[Vec<u8>],
    ids: &[usize],
    batch: usize,
    t: i64,
    round: i64,
    enc: &mut snap::raw::Encoder,
) -> bool {
    let mut pb = Vec::with_capacity(batch * 160);
    let mut scratch = Vec::new();
    let mut ok = true;
    for chunk in ids.chunks(batch) {
        pb.clear();
        for &i in chunk {
            let v = round as f64 + i as f64;
            encode_series(&labels[i], &[(t, v)], &mut scratch, &mut pb);
        }
        let status = post(agent, &run.write_url, &pb, enc);
        run.statuses.add("remote_write", status);
        if status / 100 == 2 {
            run.acked.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        } else {
            run.unacked.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            ok = false;
        }
    }
    ok
}

fn federate_loop(run: &Run) {
    let path = fedstore_tools::http::federate_path(&["{job=\"soak\"}".to_owned()]);
    while !run.stop.load(Ordering::Relaxed) {
        let mut lines = fedstore_tools::http::LineCounter::default();
        let started = Instant::now();
        match fedstore_tools::http::get(run.addr, &path, &[], Duration::from_secs(300), &mut |b| {
            lines.feed(b)
        }) {
            Ok(r) => {
                run.statuses.add("federate", r.status);
                if r.status == 200 {
                    run.federate_series
                        .fetch_add(lines.samples, Ordering::Relaxed);
                    if let Ok(mut v) = run.federate_ms.lock() {
                        v.push((started.elapsed().as_millis() as u64, lines.samples));
                    }
                } else {
                    // A refusal (503 when the queue is full): back off a little.
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            Err(_) => run.statuses.add("federate", 0),
        }
    }
}

fn query_loop(run: &Run, n: usize) {
    let queries = [
        "sum(rate(soak_metric[1m]))",
        "count by (mode) (soak_metric)",
        "topk(5, soak_metric)",
        "max_over_time(soak_metric{instance=\"host-00000.soak.example:9100\"}[5m])",
    ];
    let mut i = n;
    while !run.stop.load(Ordering::Relaxed) {
        let q = queries[i % queries.len()];
        i += 1;
        let path = format!(
            "/api/v1/query?query={}",
            fedstore_tools::http::encode_component(q)
        );
        // Longer than the server's `--query.timeout` (2 m): its documented 503 must arrive
        // before this client gives up (at 120 s the two raced, and the client lost once).
        match fedstore_tools::http::get(run.addr, &path, &[], Duration::from_secs(180), &mut |_| {})
        {
            Ok(r) => run.statuses.add("query", r.status),
            Err(_) => run.statuses.add("query", 0),
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.series > 0 && args.rate > 0 && args.batch > 0 && args.senders > 0,
        "--series, --rate, --batch and --senders must be positive"
    );
    ensure!(
        args.fedstore_bin.exists(),
        "{} not built (cargo build --release)",
        args.fedstore_bin.display()
    );
    procs::install_signal_handler()?;
    let dir = tempfile::tempdir()?;
    let addr: SocketAddr = format!("127.0.0.1:{}", args.port).parse()?;
    let log = dir.path().join("fedstore.log");
    let mut cmd = Command::new(&args.fedstore_bin);
    cmd.arg("serve")
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .args(&args.extra);
    let mut child = ChildGuard::spawn("fedstore", cmd, &log)?;
    procs::wait_until(
        &mut child,
        &log,
        Duration::from_secs(120),
        "fedstore ready",
        || {
            Ok(fedstore_tools::http::get(
                addr,
                "/-/ready",
                &[],
                Duration::from_secs(5),
                &mut |_| {},
            )
            .is_ok_and(|r| r.status == 200))
        },
    )?;
    let pid = child.pid();
    let run = Arc::new(Run {
        addr,
        write_url: format!("http://{addr}/api/v1/write"),
        stop: AtomicBool::new(false),
        statuses: Statuses::default(),
        acked: AtomicU64::new(0),
        unacked: AtomicU64::new(0),
        federate_series: AtomicU64::new(0),
        federate_ms: Mutex::new(Vec::new()),
    });
    eprintln!("encoding labels of {} series ...", args.series);
    let labels: Arc<Vec<Vec<u8>>> = Arc::new((0..args.series).map(labels_of).collect());

    // Rounds: a series gets one sample per round, at the wall-clock time the round starts
    // (at least a millisecond after the sender's previous round). In the preload, series `i`
    // joins at the round that leaves it `preload_count(i)` samples, and the rounds end now.
    let mean = args.preload_rounds.max(1);
    let rounds = (mean / 2 + mean - 1).max(1);
    let spacing_ms = ((args.series as f64 / args.rate as f64) * 1000.0).max(1.0) as i64;
    let t0 = now_ms();
    let first_t = t0 - (rounds - 1) * spacing_ms;
    let preloaded: u64 = (0..args.series)
        .map(|i| preload_count(i, mean) as u64)
        .sum();
    eprintln!(
        "initial load: {preloaded} samples over {rounds} rounds {spacing_ms} ms apart, \
         {} to {} for each of {} series ...",
        mean / 2,
        mean / 2 + mean - 1,
        args.series
    );
    let load_start = Instant::now();
    let per = args.series.div_ceil(args.senders);
    std::thread::scope(|s| {
        for k in 0..args.senders {
            let (run, labels) = (&run, &labels);
            let range = (k * per).min(args.series)..((k + 1) * per).min(args.series);
            let batch = args.batch;
            s.spawn(move || {
                let agent = fedstore_tools::remote_write::agent();
                let mut enc = snap::raw::Encoder::new();
                let mut ids = Vec::with_capacity(range.len());
                for round in 0..rounds {
                    ids.clear();
                    ids.extend(
                        range
                            .clone()
                            .filter(|&i| round >= rounds - preload_count(i, mean)),
                    );
                    let t = first_t + round * spacing_ms;
                    send_round(run, &agent, labels, &ids, batch, t, round, &mut enc);
                }
            });
        }
    });
    eprintln!(
        "loaded in {:.1}s; soak for {}s: {} federates, {} senders at {} samples/s, {} queriers",
        load_start.elapsed().as_secs_f64(),
        args.duration_s,
        args.federates,
        args.senders,
        args.rate,
        args.queriers
    );

    let rss: Arc<Mutex<Vec<RssSample>>> = Arc::new(Mutex::new(Vec::new()));
    let cpu_before = CpuSplit::read(pid);
    let started = Instant::now();
    let end = started + Duration::from_secs(args.duration_s);
    let last_t = Arc::new(AtomicU64::new(t0 as u64));
    std::thread::scope(|s| -> Result<()> {
        for _ in 0..args.federates {
            let run = &run;
            s.spawn(move || federate_loop(run));
        }
        for n in 0..args.queriers {
            let run = &run;
            s.spawn(move || query_loop(run, n));
        }
        for k in 0..args.senders {
            let (run, labels, last_t) = (&run, &labels, &last_t);
            let range = (k * per).min(args.series)..((k + 1) * per).min(args.series);
            let per_sender_rate = (args.rate as f64 / args.senders as f64).max(1.0);
            let batch = args.batch;
            s.spawn(move || {
                let agent = fedstore_tools::remote_write::agent();
                let mut enc = snap::raw::Encoder::new();
                let ids: Vec<usize> = range.clone().collect();
                let mut round: i64 = rounds;
                let mut t = t0;
                let mut sent: f64 = 0.0;
                let begin = Instant::now();
                while Instant::now() < end && !run.stop.load(Ordering::Relaxed) {
                    t = now_ms().max(t + 1);
                    send_round(run, &agent, labels, &ids, batch, t, round, &mut enc);
                    last_t.fetch_max(t as u64, Ordering::Relaxed);
                    sent += range.len() as f64;
                    round += 1;
                    // Pace to the rate: sleep while ahead of it.
                    let due = Duration::from_secs_f64(sent / per_sender_rate);
                    if let Some(ahead) = due.checked_sub(begin.elapsed()) {
                        std::thread::sleep(
                            ahead.min(end.saturating_duration_since(Instant::now())),
                        );
                    }
                }
            });
        }
        // RSS every second, in this thread.
        while Instant::now() < end {
            if let Some((kib, _)) = procs::rss_kib(pid)
                && let Some((anon, file)) = procs::rss_split_kib(pid)
                && let Ok(mut v) = rss.lock()
            {
                v.push(RssSample {
                    t: started.elapsed().as_secs_f64(),
                    kib,
                    anon,
                    file,
                });
            }
            if child.check_alive().is_err() {
                run.stop.store(true, Ordering::Relaxed);
                bail!("fedstore exited during the soak; see {}", log.display());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        run.stop.store(true, Ordering::Relaxed);
        Ok(())
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = CpuSplit::read(pid);

    // Every acknowledged sample must be stored.
    let acked = run.acked.load(Ordering::Relaxed);
    let unacked = run.unacked.load(Ordering::Relaxed);
    let at_ms = last_t.load(Ordering::Relaxed) as i64 + 1;
    let window_s = ((at_ms - first_t) / 1000 + 60).max(60);
    let q = format!("sum(count_over_time(soak_metric[{window_s}s]))");
    let path = format!(
        "/api/v1/query?query={}&time={}",
        fedstore_tools::http::encode_component(&q),
        at_ms as f64 / 1000.0
    );
    let (resp, body) = fedstore_tools::http::get_body(addr, &path, &[], Duration::from_secs(600))
        .context("verification query")?;
    ensure!(
        resp.status == 200,
        "verification query: {}",
        String::from_utf8_lossy(&body)
    );
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    let stored: u64 = v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(0, |f| f as u64);

    // Report.
    let rss = rss.lock().map(|v| v.clone()).unwrap_or_default();
    let levels = rss_levels(&rss, args.baseline_s as f64);
    let statuses = run.statuses.snapshot();
    let fed_ms = run
        .federate_ms
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    let fewest_series = fed_ms.iter().map(|&(_, n)| n).min().unwrap_or(0);
    let mut fed_ms: Vec<u64> = fed_ms.into_iter().map(|(ms, _)| ms).collect();
    fed_ms.sort_unstable();
    let median = fed_ms.get(fed_ms.len() / 2).copied().unwrap_or(0);
    let written_rate = (acked.saturating_sub(preloaded)) as f64 / elapsed;
    println!("## soak: {} series, {:.0} s", args.series, elapsed);
    println!();
    println!(
        "remote write: {:.0} samples/s achieved (asked {}), {} acknowledged samples, {} not acknowledged",
        written_rate, args.rate, acked, unacked
    );
    println!(
        "federates: {} full answers, median {} ms, {} series lines in total, fewest in one answer {}",
        fed_ms.len(),
        median,
        run.federate_series.load(Ordering::Relaxed),
        fewest_series
    );
    println!(
        "CPU over the soak, in cores of {}: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_after.cores_since(&cpu_before, elapsed)
    );
    let mut failed = Vec::new();
    if !fed_ms.is_empty() && fewest_series < args.series as u64 {
        failed.push(format!(
            "a full federate answered {fewest_series} series of {} (every series has a sample in the lookback)",
            args.series
        ));
    }
    match levels.split_first() {
        Some((&(_, b, b_anon, b_file), later)) if !later.is_empty() => {
            let pct = |k: u64, b: u64| (k as f64 / b as f64 - 1.0) * 100.0;
            println!(
                "RSS level (median per minute) at the baseline: {} MiB ({} MiB heap, {} MiB mapped chunk pages)",
                b / 1024,
                b_anon / 1024,
                b_file / 1024
            );
            for &(t, k, a, f) in later {
                println!(
                    "  minute from {:>4.0} s: {:>6} MiB {:+6.1}% (heap {:+6.1}%, mapped {} MiB)",
                    t,
                    k / 1024,
                    pct(k, b),
                    pct(a, b_anon),
                    f / 1024
                );
            }
            let peak = rss.iter().map(|s| s.kib).max().unwrap_or(0);
            println!("highest single sample: {} MiB", peak / 1024);
            if let Some(&(t, k, _, _)) = later.iter().max_by_key(|l| l.1)
                && pct(k, b) > 10.0
            {
                failed.push(format!(
                    "RSS level grew {:.1}% over its baseline (minute from {t:.0} s)",
                    pct(k, b)
                ));
            }
        }
        _ => println!("RSS: the run was shorter than --baseline-s plus a minute"),
    }
    println!();
    println!("| endpoint | status | answers |");
    println!("|---|---|---|");
    for ((endpoint, status), n) in &statuses {
        let s = if *status == 0 {
            "transport error".to_owned()
        } else {
            status.to_string()
        };
        println!("| {endpoint} | {s} | {n} |");
        if (*status >= 500 && *status != 503) || *status == 0 {
            failed.push(format!("{n} answers {s} from {endpoint}"));
        }
    }
    println!();
    println!(
        "verification: {stored} samples stored (sum(count_over_time) at the last timestamp), {acked} acknowledged"
    );
    if stored < acked {
        failed.push(format!("{} acknowledged samples missing", acked - stored));
    }
    if stored > acked + unacked {
        failed.push(format!("{stored} stored but only {} sent", acked + unacked));
    }
    for (name, field) in [
        (
            "rss_series_kib",
            (|s: &RssSample| s.kib) as fn(&RssSample) -> u64,
        ),
        ("anon_series_kib", |s| s.anon),
        ("file_series_kib", |s| s.file),
    ] {
        let v: Vec<String> = rss.iter().map(|s| field(s).to_string()).collect();
        println!("{name}: {}", v.join(","));
    }
    if failed.is_empty() {
        println!("\nPASS");
        Ok(())
    } else {
        for f in &failed {
            println!("FAIL: {f}");
        }
        bail!("{} checks failed", failed.len())
    }
}
