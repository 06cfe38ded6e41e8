//! rrbench: remote read (`POST /api/v1/read`) of fedstore against Prometheus 2.42, same data,
//! same run.
//!
//! Starts `fedstore serve` and `prometheus --web.enable-remote-write-receiver` on loopback,
//! remote-writes `--series` series of `--hours` of samples every 15 s into both, then times
//! whole answers (request sent to last body byte) of two reads, each as SAMPLES and as
//! STREAMED_XOR_CHUNKS: every series over the whole range, and every series over the last
//! 5 minutes (what a Prometheus `remote_read` sends for an instant query). Prints medians over
//! `--rounds` and the ratio Prometheus / fedstore.
//!
//! Example: `cargo build --release -p fedstore -p fedstore-tools && target/release/rrbench`.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use fedstore_tools::procs::ChildGuard;

#[derive(Parser, Debug)]
#[command(about = "Remote read: fedstore vs Prometheus on the same data")]
struct Args {
    /// The fedstore binary.
    #[arg(long, default_value = "target/release/fedstore")]
    fedstore: PathBuf,
    /// The Prometheus binary.
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus: PathBuf,
    /// Number of series.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Hours of samples per series, one every 15 s.
    #[arg(long, default_value_t = 2)]
    hours: i64,
    /// Timed repetitions of each read.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// First of the two loopback ports used.
    #[arg(long, default_value_t = 19890)]
    port: u16,
}

const STEP_MS: i64 = 15_000;
const METRIC: &str = "rr_bench_metric";

fn main() -> Result<()> {
    let args = Args::parse();
    fedstore_tools::procs::install_signal_handler()?;
    let dir = tempfile_dir()?;
    let (fs_port, prom_port) = (args.port, args.port + 1);
    let mut fs = ChildGuard::spawn(
        "fedstore",
        {
            let mut c = Command::new(&args.fedstore);
            c.arg("serve")
                .arg(format!("--storage.tsdb.path={}", dir.join("fs").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{fs_port}"))
                .arg("--storage.wal.fsync=never");
            c
        },
        &dir.join("fedstore.log"),
    )?;
    std::fs::write(dir.join("prom.yml"), "global: {}\n")?;
    let mut prom = ChildGuard::spawn(
        "prometheus",
        {
            let mut c = Command::new(&args.prometheus);
            c.arg(format!("--config.file={}", dir.join("prom.yml").display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("prom").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
                .arg("--web.enable-remote-write-receiver");
            c
        },
        &dir.join("prometheus.log"),
    )?;
    let targets = [
        ("fedstore", format!("http://127.0.0.1:{fs_port}")),
        ("prometheus", format!("http://127.0.0.1:{prom_port}")),
    ];
    for (name, url) in &targets {
        wait_ready(url).with_context(|| format!("{name} not ready"))?;
    }
    let end = now_ms() / STEP_MS * STEP_MS;
    let start = end - args.hours * 3_600_000 + STEP_MS;
    let t0 = Instant::now();
    let requests = write_requests(args.series, start, end);
    for (name, url) in &targets {
        for body in &requests {
            post(&format!("{url}/api/v1/write"), body)
                .with_context(|| format!("remote write to {name}"))?;
        }
    }
    let samples = args.series as i64 * ((end - start) / STEP_MS + 1);
    println!(
        "loaded {} series, {samples} samples into both in {:.1}s",
        args.series,
        t0.elapsed().as_secs_f64()
    );
    let reads = [
        ("all series, whole range", start, end),
        ("all series, last 5m", end - 300_000, end),
    ];
    println!(
        "\n| read | answer | fedstore median | Prometheus median | Prometheus / fedstore | bytes (fedstore / Prometheus) |"
    );
    println!("|---|---|---|---|---|---|");
    for (what, from, to) in reads {
        for (mode, accepted) in [("SAMPLES", 0u8), ("STREAMED_XOR_CHUNKS", 1u8)] {
            let body = read_request(from, to, accepted);
            let mut medians = Vec::new();
            let mut sizes = Vec::new();
            for (name, url) in &targets {
                let mut times = Vec::new();
                let mut size = 0;
                for _ in 0..args.rounds {
                    let t = Instant::now();
                    size = post(&format!("{url}/api/v1/read"), &body)
                        .with_context(|| format!("remote read from {name}"))?;
                    times.push(t.elapsed());
                }
                times.sort();
                medians.push(times[times.len() / 2]);
                sizes.push(size);
            }
            println!(
                "| {what} | {mode} | {:.1} ms | {:.1} ms | {:.1}x | {} / {} |",
                medians[0].as_secs_f64() * 1e3,
                medians[1].as_secs_f64() * 1e3,
                medians[1].as_secs_f64() / medians[0].as_secs_f64(),
                sizes[0],
                sizes[1]
            );
        }
    }
    fs.check_alive()?;
    prom.check_alive()?;
    fs.stop(Duration::from_secs(5));
    prom.stop(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A fresh directory under the system temp dir.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("rrbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn wait_ready(url: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if ureq::get(&format!("{url}/-/ready")).call().is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{url}/-/ready did not answer within 60s")
}

/// POSTs a snappy protobuf body; returns the answer's length; fails on a non-2xx status.
fn post(url: &str, body: &[u8]) -> Result<usize> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    let resp = agent
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .send(body)
        .map_err(|e| anyhow::anyhow!("{url}: {e:?}"))?;
    let status = resp.status().as_u16();
    let mut out = Vec::new();
    resp.into_body()
        .into_reader()
        .read_to_end(&mut out)
        .map_err(|e| anyhow::anyhow!("{url}: reading the answer ({status}): {e:?}"))?;
    if !(200..300).contains(&status) {
        bail!("{url}: {status} {}", String::from_utf8_lossy(&out));
    }
    Ok(out.len())
}

/// Snappy `WriteRequest`s of 200 series x 15 minutes each, in time order (Prometheus refuses
/// samples more than an hour older than its newest). Values move like node-exporter counters.
fn write_requests(series: usize, start: i64, end: i64) -> Vec<Vec<u8>> {
    const SLAB_MS: i64 = 15 * 60_000;
    let labels: Vec<Vec<u8>> = (0..series)
        .map(|i| {
            let mut ts = Vec::new();
            for (name, value) in [
                ("__name__", METRIC.to_owned()),
                ("instance", format!("host-{:04}.example.org:9100", i / 100)),
                ("job", "node".to_owned()),
                ("series", format!("s{i:06}")),
            ] {
                let mut label = Vec::new();
                put_bytes(&mut label, 1, name.as_bytes());
                put_bytes(&mut label, 2, value.as_bytes());
                put_bytes(&mut ts, 1, &label);
            }
            ts
        })
        .collect();
    let value = |i: usize, t: i64| {
        let k = ((t - start) / STEP_MS) as usize;
        (i * 7919 % 100_000) as f64 + ((k * 31 + i) % 17) as f64 * 0.25 * k as f64
    };
    let mut out = Vec::new();
    let mut slab = start;
    while slab <= end {
        let slab_end = (slab + SLAB_MS - 1).min(end);
        for group in (0..series).collect::<Vec<_>>().chunks(200) {
            let mut raw = Vec::new();
            for &i in group {
                let mut ts = labels[i].clone();
                let mut t = slab;
                while t <= slab_end {
                    let mut sample = Vec::with_capacity(20);
                    sample.push(0x09);
                    sample.extend_from_slice(&value(i, t).to_bits().to_le_bytes());
                    sample.push(0x10);
                    put_varint(&mut sample, t as u64);
                    put_bytes(&mut ts, 2, &sample);
                    t += STEP_MS;
                }
                put_bytes(&mut raw, 1, &ts);
            }
            out.push(
                snap::raw::Encoder::new()
                    .compress_vec(&raw)
                    .expect("snappy can encode any input"),
            );
        }
        slab += SLAB_MS;
    }
    out
}

/// A snappy `ReadRequest` of `{__name__="rr_bench_metric"}` over `[from, to]` with hints, as
/// Prometheus's client sends it, accepting `accepted`.
fn read_request(from: i64, to: i64, accepted: u8) -> Vec<u8> {
    let mut matcher = Vec::new();
    put_bytes(&mut matcher, 2, b"__name__");
    put_bytes(&mut matcher, 3, METRIC.as_bytes());
    let mut hints = Vec::new();
    hints.push(3 << 3);
    put_varint(&mut hints, from as u64);
    hints.push(4 << 3);
    put_varint(&mut hints, to as u64);
    let mut query = Vec::new();
    query.push(1 << 3);
    put_varint(&mut query, from as u64);
    query.push(2 << 3);
    put_varint(&mut query, to as u64);
    put_bytes(&mut query, 3, &matcher);
    put_bytes(&mut query, 4, &hints);
    let mut req = Vec::new();
    put_bytes(&mut req, 1, &query);
    req.push(2 << 3);
    req.push(accepted);
    snap::raw::Encoder::new()
        .compress_vec(&req)
        .expect("snappy can encode any input")
}

fn put_bytes(out: &mut Vec<u8>, field: u8, b: &[u8]) {
    out.push(field << 3 | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
