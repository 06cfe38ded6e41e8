//! rwload: a remote-write load generator measuring sustained ingestion (samples/s).
//!
//! Builds node-exporter-like series (sorted labels, ~8 per series, as Prometheus sends them),
//! pre-encodes every request of every round (snappy `WriteRequest`, one sample per series per
//! round, `--batch` samples per request) so the measured phase only sends, then has `--senders`
//! threads POST them round after round to each `--target` in turn. Round 0 creates the series;
//! later rounds are steady-state appends; both rates are reported.
//!
//! Example: `rwload --target fedstore=http://127.0.0.1:19431/api/v1/write --series 1000000`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;

/// Metric families of a node exporter with how many series each has per host, and the
/// label that tells those series apart.
const FAMILIES: &[(&str, usize, &str)] = &[
    ("node_cpu_seconds_total", 128, "cpu"),
    ("node_cpu_guest_seconds_total", 32, "cpu"),
    ("node_disk_read_bytes_total", 16, "device"),
    ("node_disk_written_bytes_total", 16, "device"),
    ("node_disk_io_time_seconds_total", 16, "device"),
    ("node_disk_reads_completed_total", 16, "device"),
    ("node_disk_writes_completed_total", 16, "device"),
    ("node_filesystem_avail_bytes", 24, "mountpoint"),
    ("node_filesystem_size_bytes", 24, "mountpoint"),
    ("node_filesystem_files_free", 24, "mountpoint"),
    ("node_network_receive_bytes_total", 24, "device"),
    ("node_network_transmit_bytes_total", 24, "device"),
    ("node_network_receive_packets_total", 24, "device"),
    ("node_network_transmit_packets_total", 24, "device"),
    ("node_network_receive_errs_total", 24, "device"),
    ("node_memory_MemAvailable_bytes", 1, ""),
    ("node_memory_MemFree_bytes", 1, ""),
    ("node_memory_Cached_bytes", 1, ""),
    ("node_load1", 1, ""),
    ("node_load5", 1, ""),
    ("node_load15", 1, ""),
    ("node_netstat_Tcp_ActiveOpens", 1, ""),
    ("node_interrupts_total", 250, "devices"),
    ("node_softnet_processed_total", 32, "cpu"),
    ("node_schedstat_running_seconds_total", 32, "cpu"),
    ("node_hwmon_temp_celsius", 24, "sensor"),
    ("node_vmstat_pgfault", 1, ""),
    ("node_boot_time_seconds", 1, ""),
    ("up", 1, ""),
    ("scrape_duration_seconds", 1, ""),
];

const CPU_MODES: &[&str] = &[
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];

#[derive(Parser, Debug)]
#[command(about = "Remote-write load generator: sustained samples/s against one or more receivers")]
struct Args {
    /// A receiver as NAME=URL (e.g. fedstore=http://127.0.0.1:19431/api/v1/write); repeatable,
    /// measured one after the other with the same data.
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    /// Active series.
    #[arg(long, default_value_t = 1_000_000)]
    series: usize,
    /// Samples per request (Prometheus's `max_samples_per_send`).
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Rounds: each sends one sample for every series.
    #[arg(long, default_value_t = 6)]
    rounds: usize,
    /// Concurrent senders (Prometheus's remote-write shards).
    #[arg(long, default_value_t = 8)]
    senders: usize,
    /// Milliseconds between the timestamps of consecutive rounds (the scrape interval).
    #[arg(long, default_value_t = 15_000)]
    interval_ms: i64,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
}

/// Counters of one measured phase.
#[derive(Default)]
struct Phase {
    ok_samples: AtomicU64,
    failed_samples: AtomicU64,
    requests: AtomicU64,
    errors_4xx: AtomicU64,
    errors_5xx: AtomicU64,
    errors_io: AtomicU64,
    latencies_us: parking_free::Latencies,
}

/// Lock-free enough latency recording: one vector per sender, merged at the end.
mod parking_free {
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct Latencies(Mutex<Vec<u64>>);

    impl Latencies {
        pub fn extend(&self, v: &[u64]) {
            if let Ok(mut all) = self.0.lock() {
                all.extend_from_slice(v);
            }
        }
        pub fn percentiles(&self) -> (u64, u64, u64) {
            let Ok(mut all) = self.0.lock() else {
                return (0, 0, 0);
            };
            if all.is_empty() {
                return (0, 0, 0);
            }
            all.sort_unstable();
            let at = |q: f64| all[((all.len() - 1) as f64 * q) as usize];
            (at(0.5), at(0.99), *all.last().unwrap_or(&0))
        }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.batch == 0 || args.series == 0 || args.rounds == 0 || args.senders == 0 {
        bail!("--series, --batch, --rounds and --senders must be positive");
    }
    let targets: Vec<(String, String)> = args
        .targets
        .iter()
        .map(|t| {
            t.split_once('=')
                .map(|(n, u)| (n.to_string(), u.to_string()))
                .with_context(|| format!("--target {t:?} is not NAME=URL"))
        })
        .collect::<Result<_>>()?;

    let t0 = Instant::now();
    let labels = build_labels(args.series);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("clock before 1970")?
        .as_millis() as i64;
    // Rounds end at "now" so every receiver accepts them as recent.
    let start_ms = now_ms - args.interval_ms * args.rounds as i64;
    let requests = Arc::new(encode_rounds(&labels, &args, start_ms));
    drop(labels);
    let (raw_bytes, wire_bytes) = requests
        .iter()
        .flatten()
        .fold((0usize, 0usize), |(r, w), q| {
            (r + q.raw_len, w + q.body.len())
        });
    eprintln!(
        "generated {} rounds x {} requests in {:.1}s: {:.0} MiB protobuf, {:.0} MiB snappy ({:.1} bytes/sample on the wire)",
        args.rounds,
        requests[0].len(),
        t0.elapsed().as_secs_f64(),
        raw_bytes as f64 / (1 << 20) as f64,
        wire_bytes as f64 / (1 << 20) as f64,
        wire_bytes as f64 / (args.series * args.rounds) as f64,
    );

    println!(
        "target\tphase\tsamples\tfailed\trequests\t4xx\t5xx\tio_err\tseconds\tsamples_per_s\tp50_ms\tp99_ms\tmax_ms"
    );
    for (name, url) in &targets {
        // Round 0 creates the series; the rest is the steady state.
        let phases = [
            ("create(round 0)", 0..1),
            ("steady(rounds 1..)", 1..args.rounds),
        ];
        for (phase_name, rounds) in phases {
            if rounds.is_empty() {
                continue;
            }
            let phase = Arc::new(Phase::default());
            let t = Instant::now();
            send_rounds(url, &requests, rounds, &args, &phase);
            let secs = t.elapsed().as_secs_f64();
            let (p50, p99, max) = phase.latencies_us.percentiles();
            let ok = phase.ok_samples.load(Ordering::Relaxed);
            println!(
                "{name}\t{phase_name}\t{ok}\t{}\t{}\t{}\t{}\t{}\t{secs:.2}\t{:.0}\t{:.1}\t{:.1}\t{:.1}",
                phase.failed_samples.load(Ordering::Relaxed),
                phase.requests.load(Ordering::Relaxed),
                phase.errors_4xx.load(Ordering::Relaxed),
                phase.errors_5xx.load(Ordering::Relaxed),
                phase.errors_io.load(Ordering::Relaxed),
                ok as f64 / secs,
                p50 as f64 / 1000.0,
                p99 as f64 / 1000.0,
                max as f64 / 1000.0,
            );
        }
    }
    Ok(())
}

/// One pre-encoded request.
struct Request {
    /// Snappy block of the `WriteRequest`.
    body: Vec<u8>,
    /// Samples it carries.
    samples: usize,
    /// Protobuf size before snappy.
    raw_len: usize,
}

/// The encoded `Label` fields (field 1 of `TimeSeries`) of every series, sorted by name.
fn build_labels(series: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(series);
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(10);
    'hosts: for host in 0.. {
        for &(name, count, key) in FAMILIES {
            for i in 0..count {
                if out.len() == series {
                    break 'hosts;
                }
                pairs.clear();
                pairs.push(("__name__".into(), name.into()));
                pairs.push((
                    "instance".into(),
                    format!("node-{host:06}.dc{}.example.net:9100", host % 4),
                ));
                pairs.push(("job".into(), "node".into()));
                pairs.push(("env".into(), "production".into()));
                pairs.push(("region".into(), format!("eu-west-{}", host % 3)));
                match key {
                    "" => {}
                    "cpu" if name == "node_cpu_seconds_total" => {
                        pairs.push(("cpu".into(), (i / CPU_MODES.len()).to_string()));
                        pairs.push(("mode".into(), CPU_MODES[i % CPU_MODES.len()].into()));
                    }
                    "mountpoint" => {
                        pairs.push(("mountpoint".into(), format!("/srv/volume{i}")));
                        pairs.push(("device".into(), format!("/dev/mapper/vg0-lv{i}")));
                        pairs.push(("fstype".into(), "ext4".into()));
                    }
                    "device" => pairs.push(("device".into(), format!("eth{i}"))),
                    _ => pairs.push((key.into(), i.to_string())),
                }
                pairs.sort();
                let mut enc = Vec::with_capacity(200);
                for (n, v) in &pairs {
                    let mut label = Vec::with_capacity(n.len() + v.len() + 4);
                    put_bytes(&mut label, 1, n.as_bytes());
                    put_bytes(&mut label, 2, v.as_bytes());
                    put_bytes(&mut enc, 1, &label);
                }
                out.push(enc);
            }
        }
    }
    out
}

/// Encodes every request of every round, in parallel. `result[round][batch]`.
fn encode_rounds(labels: &[Vec<u8>], args: &Args, start_ms: i64) -> Vec<Vec<Request>> {
    let batches: Vec<&[Vec<u8>]> = labels.chunks(args.batch).collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    (0..args.rounds)
        .map(|round| {
            let t_ms = start_ms + args.interval_ms * (round as i64 + 1);
            let next = AtomicUsize::new(0);
            let mut out: Vec<Option<Request>> = (0..batches.len()).map(|_| None).collect();
            let slots: Vec<std::sync::Mutex<&mut Option<Request>>> =
                out.iter_mut().map(std::sync::Mutex::new).collect();
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        let mut enc = snap::raw::Encoder::new();
                        let mut raw = Vec::new();
                        loop {
                            let b = next.fetch_add(1, Ordering::Relaxed);
                            if b >= batches.len() {
                                break;
                            }
                            raw.clear();
                            for (i, l) in batches[b].iter().enumerate() {
                                let idx = b * args.batch + i;
                                // Counter-like values that move every round.
                                let v = (idx % 1000) as f64 * 1.5 + round as f64 * 15.0;
                                encode_series(&mut raw, l, t_ms, v);
                            }
                            let body = enc.compress_vec(&raw).expect("snappy can encode any input");
                            let req = Request {
                                body,
                                samples: batches[b].len(),
                                raw_len: raw.len(),
                            };
                            if let Ok(mut slot) = slots[b].lock() {
                                **slot = Some(req);
                            }
                        }
                    });
                }
            });
            drop(slots);
            out.into_iter().flatten().collect()
        })
        .collect()
}

/// Appends one `TimeSeries` field (labels + one sample) to a `WriteRequest` body.
fn encode_series(out: &mut Vec<u8>, labels: &[u8], t_ms: i64, v: f64) {
    let mut sample = [0u8; 20];
    sample[0] = 0x09; // value: field 1, fixed64
    sample[1..9].copy_from_slice(&v.to_bits().to_le_bytes());
    sample[9] = 0x10; // timestamp: field 2, varint
    let n = 10 + write_varint(&mut sample[10..], t_ms as u64);
    let ts_len = labels.len() + 1 + varint_len(n as u64) + n;
    out.push(0x0a);
    push_varint(out, ts_len as u64);
    out.extend_from_slice(labels);
    out.push(0x12);
    push_varint(out, n as u64);
    out.extend_from_slice(&sample[..n]);
}

fn put_bytes(out: &mut Vec<u8>, field: u8, b: &[u8]) {
    out.push(field << 3 | 2);
    push_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn push_varint(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; 10];
    let n = write_varint(&mut buf, v);
    out.extend_from_slice(&buf[..n]);
}

fn write_varint(out: &mut [u8], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    i + 1
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Sends `rounds` of `requests` to `url` with `args.senders` threads, round after round.
fn send_rounds(
    url: &str,
    requests: &Arc<Vec<Vec<Request>>>,
    rounds: std::ops::Range<usize>,
    args: &Args,
    phase: &Arc<Phase>,
) {
    let per_round = requests[0].len();
    let first = rounds.start * per_round;
    let jobs = rounds.len() * per_round;
    let next = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..args.senders {
            let next = next.clone();
            s.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(args.timeout_s)))
                    .build()
                    .into();
                let mut lat = Vec::new();
                loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    if j >= jobs {
                        break;
                    }
                    let j = first + j;
                    let req = &requests[j / per_round][j % per_round];
                    let t = Instant::now();
                    let res = agent
                        .post(url)
                        .header("Content-Encoding", "snappy")
                        .header("Content-Type", "application/x-protobuf")
                        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                        .send(&req.body[..]);
                    lat.push(t.elapsed().as_micros() as u64);
                    phase.requests.fetch_add(1, Ordering::Relaxed);
                    let n = req.samples as u64;
                    match res {
                        Ok(mut resp) => {
                            let status = resp.status().as_u16();
                            // Drain the body so the connection is reused.
                            let _ = resp.body_mut().read_to_vec();
                            if (200..300).contains(&status) {
                                phase.ok_samples.fetch_add(n, Ordering::Relaxed);
                            } else {
                                phase.failed_samples.fetch_add(n, Ordering::Relaxed);
                                let c = if status < 500 {
                                    &phase.errors_4xx
                                } else {
                                    &phase.errors_5xx
                                };
                                c.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            phase.failed_samples.fetch_add(n, Ordering::Relaxed);
                            phase.errors_io.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                phase.latencies_us.extend(&lat);
            });
        }
    });
}
