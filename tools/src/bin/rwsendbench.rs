//! rwsendbench: the remote-write sender against a real VictoriaMetrics on loopback.
//!
//! `--mode throughput` (default): fedstore starts with a `remote_write` to a VictoriaMetrics
//! that is not running yet, `--series` x `--rounds` samples are written into fedstore (its WAL),
//! then VictoriaMetrics starts and the time until fedstore's
//! `fedstore_remote_storage_samples_total` reaches the total is the sender's throughput
//! (WAL read, relabel, encode, snappy, HTTP, VictoriaMetrics' ingestion). Repeated `--runs`
//! times; the median is printed.
//!
//! `--mode outage`: fedstore ingests one round per second while VictoriaMetrics is stopped
//! for `--outage-secs` seconds, fedstore is killed with SIGKILL halfway through the outage and
//! restarted; at the end fedstore's and VictoriaMetrics' sample counts must be equal (exit 1
//! otherwise).
//!
//! Example: `cargo run --release -p fedstore-tools --bin rwsendbench -- --fedstore
//! target/release/fedstore --series 20000 --rounds 100 --runs 3`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use fedstore_tools::procs::{ChildGuard, cpu_time, loadavg, threads_cpu_time};
use fedstore_tools::remote_write::{agent, encode_labels, encode_series, post};

#[derive(Parser, Debug)]
#[command(about = "remote_write sender throughput and outage check against VictoriaMetrics")]
struct Args {
    /// `throughput` or `outage`.
    #[arg(long, default_value = "throughput")]
    mode: String,
    /// The fedstore binary.
    #[arg(long, default_value = "target/release/fedstore")]
    fedstore: PathBuf,
    /// The VictoriaMetrics binary.
    #[arg(long, default_value = "/usr/bin/victoria-metrics")]
    vm: PathBuf,
    /// Series.
    #[arg(long, default_value_t = 20_000)]
    series: usize,
    /// Samples per series (throughput mode).
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    /// Measured runs (throughput mode).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// queue_config.min_shards.
    #[arg(long, default_value_t = 8)]
    min_shards: u64,
    /// queue_config.max_shards.
    #[arg(long, default_value_t = 64)]
    max_shards: u64,
    /// queue_config.max_samples_per_send.
    #[arg(long, default_value_t = 5000)]
    max_samples_per_send: u64,
    /// queue_config.capacity.
    #[arg(long, default_value_t = 20_000)]
    capacity: u64,
    /// Receiver outage (outage mode).
    #[arg(long, default_value_t = 60)]
    outage_secs: u64,
    /// VictoriaMetrics listens on this port and fedstore on the next one (0: any free ports).
    #[arg(long, default_value_t = 0)]
    port_base: u16,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The ports of VictoriaMetrics and fedstore.
fn ports(args: &Args) -> Result<(u16, u16)> {
    if args.port_base == 0 {
        return Ok((free_port()?, free_port()?));
    }
    Ok((args.port_base, args.port_base + 1))
}

fn up(url: &str) -> bool {
    ureq::get(url).call().is_ok_and(|r| r.status() == 200)
}

fn wait(secs: u64, what: &str, mut ok: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        if Instant::now() > deadline {
            bail!("timed out after {secs}s waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

struct Vm {
    guard: ChildGuard,
    url: String,
}

fn start_vm(bin: &Path, dir: &Path, port: u16) -> Result<Vm> {
    let mut cmd = Command::new(bin);
    cmd.arg(format!("-storageDataPath={}", dir.join("vm").display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .args([
            "-retentionPeriod=100y",
            "-search.disableCache",
            "-search.latencyOffset=0s",
            "-dedup.minScrapeInterval=1ms",
        ]);
    let guard = ChildGuard::spawn("victoria-metrics", cmd, &dir.join(format!("vm.log.{port}")))?;
    let url = format!("http://127.0.0.1:{port}");
    wait(60, "VictoriaMetrics", || up(&format!("{url}/health")))?;
    Ok(Vm { guard, url })
}

struct Fedstore {
    guard: ChildGuard,
    url: String,
}

fn start_fedstore(args: &Args, dir: &Path, vm_port: u16, port: u16) -> Result<Fedstore> {
    let cfg = dir.join("fedstore.yml");
    std::fs::write(
        &cfg,
        format!(
            "remote_write:\n  - url: http://127.0.0.1:{vm_port}/api/v1/write\n    name: vm\n    queue_config:\n      min_shards: {}\n      max_shards: {}\n      max_samples_per_send: {}\n      capacity: {}\n      batch_send_deadline: 1s\n      min_backoff: 10ms\n      max_backoff: 100ms\n",
            args.min_shards, args.max_shards, args.max_samples_per_send, args.capacity
        ),
    )?;
    let mut cmd = Command::new(&args.fedstore);
    cmd.args(["serve", "--web.listen-address"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--storage.tsdb.path")
        .arg(dir.join("fedstore"))
        .arg("--config.file")
        .arg(&cfg)
        .args([
            "--query.lookback-delta",
            "1d",
            "--storage.wal.fsync",
            "never",
        ]);
    let mut guard = ChildGuard::spawn("fedstore", cmd, &dir.join(format!("fedstore.log.{port}")))
        .with_context(|| format!("starting {}", args.fedstore.display()))?;
    let url = format!("http://127.0.0.1:{port}");
    wait(120, "fedstore", || {
        guard.check_alive().is_ok() && up(&format!("{url}/-/ready"))
    })?;
    Ok(Fedstore { guard, url })
}

fn metric(base: &str, name: &str) -> f64 {
    let Ok(mut r) = ureq::get(&format!("{base}/metrics")).call() else {
        return f64::NAN;
    };
    let text = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .unwrap_or_default();
    let prefix = format!("{name}{{remote_name=\"vm\",");
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// `sum(count_over_time(bench_rw[100y]))` from a Prometheus-compatible API.
fn count(base: &str) -> Result<f64> {
    let q = fedstore_tools::http::encode_component("sum(count_over_time(bench_rw[3650d]))");
    let mut r = ureq::get(&format!("{base}/api/v1/query?query={q}")).call()?;
    let v: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string()?)?;
    Ok(v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0))
}

/// The labels of every series, encoded once.
fn labels(series: usize) -> Vec<Vec<u8>> {
    (0..series)
        .map(|i| {
            let mut out = Vec::new();
            let inst = format!("host-{}", i / 100);
            let id = (i % 100).to_string();
            encode_labels(
                [
                    ("__name__", "bench_rw"),
                    ("id", id.as_str()),
                    ("instance", inst.as_str()),
                    ("job", "node"),
                ],
                &mut out,
            );
            out
        })
        .collect()
}

/// Writes one sample per series at `t` into fedstore.
fn write_round(base: &str, labels: &[Vec<u8>], t: i64, round: usize) -> Result<()> {
    let a = agent();
    let mut enc = snap::raw::Encoder::new();
    let (mut pb, mut scratch) = (Vec::new(), Vec::new());
    for chunk in labels.chunks(5000) {
        pb.clear();
        for (i, l) in chunk.iter().enumerate() {
            encode_series(l, &[(t, (round * 7 + i) as f64)], &mut scratch, &mut pb);
        }
        post(&a, &format!("{base}/api/v1/write"), &pb, &mut enc)?;
    }
    Ok(())
}

fn throughput(args: &Args) -> Result<()> {
    let labels = labels(args.series);
    let total = (args.series * args.rounds) as f64;
    let mut rates = Vec::new();
    let mut fs_cpus = Vec::new();
    let mut snd_cpus = Vec::new();
    for run in 0..args.runs {
        let dir = tempfile::tempdir()?;
        let (vm_port, fs_port) = ports(args)?;
        let fs = start_fedstore(args, dir.path(), vm_port, fs_port)?;
        let t0 = now_ms() - args.rounds as i64 * 10_000;
        for r in 0..args.rounds {
            write_round(&fs.url, &labels, t0 + r as i64 * 10_000, r)?;
        }
        let vm = start_vm(&args.vm, dir.path(), vm_port)?;
        let cpu = |pid| cpu_time(pid).unwrap_or_default().as_secs_f64();
        let (fs_pid, vm_pid) = (fs.guard.pid(), vm.guard.pid());
        let sender_cpu = || {
            threads_cpu_time(fs_pid, "rw-")
                .unwrap_or_default()
                .as_secs_f64()
        };
        let (fs_cpu0, vm_cpu0, sender_cpu0) = (cpu(fs_pid), cpu(vm_pid), sender_cpu());
        let start = Instant::now();
        // When the count passed each tenth of the total: shows the start-up and the last
        // partial batches (which wait for batch_send_deadline) apart from the steady rate.
        let mut tenths = Vec::new();
        wait(600, "all samples sent", || {
            let sent = metric(&fs.url, "fedstore_remote_storage_samples_total");
            while tenths.len() < 10 && sent >= total * (tenths.len() + 1) as f64 / 10.0 {
                tenths.push(start.elapsed().as_secs_f64());
            }
            sent >= total
        })?;
        let secs = start.elapsed().as_secs_f64();
        let steady = total * 0.8 / (tenths[8] - tenths[0]);
        println!(
            "run {run}: seconds at each tenth sent: {}; 10%..90% at {steady:.0} samples/s",
            tenths
                .iter()
                .map(|t| format!("{t:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let (fs_cpu, vm_cpu) = (cpu(fs_pid) - fs_cpu0, cpu(vm_pid) - vm_cpu0);
        let snd_cpu = sender_cpu() - sender_cpu0;
        let rate = total / secs;
        let per_m = 1e6 / total;
        println!(
            "run {run}: CPU while sending: fedstore {fs_cpu:.2}s ({:.3}s per 1M samples; its rw-* sender threads {:.3}s per 1M), VictoriaMetrics {vm_cpu:.2}s ({:.3}s per 1M); load average {:.2}",
            fs_cpu * per_m,
            snd_cpu * per_m,
            vm_cpu * per_m,
            loadavg().unwrap_or(f64::NAN)
        );
        fs_cpus.push(fs_cpu * per_m);
        snd_cpus.push(snd_cpu * per_m);
        let shards = metric(&fs.url, "fedstore_remote_storage_shards");
        let _ = ureq::get(&format!("{}/internal/force_flush", vm.url)).call();
        std::thread::sleep(Duration::from_secs(2));
        let in_vm = count(&vm.url)?;
        println!(
            "run {run}: {total} samples in {secs:.2}s = {rate:.0} samples/s (shards {shards}); VictoriaMetrics holds {in_vm}"
        );
        if in_vm != total {
            bail!("VictoriaMetrics holds {in_vm} samples, want {total}");
        }
        rates.push(rate);
        drop(fs);
        drop(vm);
    }
    rates.sort_by(f64::total_cmp);
    fs_cpus.sort_by(f64::total_cmp);
    snd_cpus.sort_by(f64::total_cmp);
    println!(
        "median fedstore CPU while sending: {:.3}s per 1M samples (sender threads {:.3}s)",
        fs_cpus[fs_cpus.len() / 2],
        snd_cpus[snd_cpus.len() / 2]
    );
    println!(
        "median of {} runs: {:.0} samples/s ({} series x {} samples, min_shards {}, max_samples_per_send {})",
        rates.len(),
        rates[rates.len() / 2],
        args.series,
        args.rounds,
        args.min_shards,
        args.max_samples_per_send
    );
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn outage(args: &Args) -> Result<()> {
    let labels = labels(args.series);
    let dir = tempfile::tempdir()?;
    let (vm_port, fs_port) = ports(args)?;
    let mut vm = Some(start_vm(&args.vm, dir.path(), vm_port)?);
    let mut fs = start_fedstore(args, dir.path(), vm_port, fs_port)?;
    let t0 = now_ms() - 3_600_000;
    let mut round = 0usize;
    let mut ingest_for = |fs: &Fedstore, secs: u64| -> Result<()> {
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            write_round(&fs.url, &labels, t0 + round as i64 * 1000, round)?;
            round += 1;
            std::thread::sleep(Duration::from_millis(1000));
        }
        Ok(())
    };
    ingest_for(&fs, 5)?;
    println!("stopping VictoriaMetrics for {}s", args.outage_secs);
    if let Some(mut v) = vm.take() {
        v.guard.stop(Duration::from_secs(30));
    }
    ingest_for(&fs, args.outage_secs / 2)?;
    println!("kill -9 fedstore");
    fs.guard.kill();
    fs = start_fedstore(args, dir.path(), vm_port, fs_port)?;
    ingest_for(&fs, args.outage_secs / 2)?;
    println!("VictoriaMetrics back");
    let v = start_vm(&args.vm, dir.path(), vm_port)?;
    ingest_for(&fs, 5)?;
    let want = count(&fs.url)?;
    let vm_url = v.url.clone();
    let res = wait(300, "VictoriaMetrics to hold what fedstore holds", || {
        let _ = ureq::get(&format!("{vm_url}/internal/force_flush")).call();
        count(&vm_url).is_ok_and(|c| c >= want)
    });
    std::thread::sleep(Duration::from_secs(2));
    let _ = ureq::get(&format!("{vm_url}/internal/force_flush")).call();
    let got = count(&vm_url)?;
    println!(
        "fedstore holds {want} samples, VictoriaMetrics {got} ({} rounds of {} series)",
        round, args.series
    );
    res?;
    if got != want {
        bail!("VictoriaMetrics holds {got} samples, fedstore {want}");
    }
    println!("ok: every sample arrived once");
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    fedstore_tools::procs::install_signal_handler()?;
    match args.mode.as_str() {
        "throughput" => throughput(&args),
        "outage" => outage(&args),
        m => bail!("--mode {m:?}: want throughput or outage"),
    }
}
