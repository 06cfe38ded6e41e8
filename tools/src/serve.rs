//! Scrape targets on loopback: N listeners on consecutive ports, each answering every GET
//! with a body from a [`BodySource`]. One thread per listener, one per connection.
//! [`FastForward`] wraps a source in a clock that runs faster than the wall clock, so that
//! hours of samples can be scraped in minutes.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::dataset::{Dataset, Unit};
use crate::expo::Prefixes;

/// Produces the exposition body of target `target` at `now_ms`.
pub trait BodySource: Send + Sync + 'static {
    /// Appends the body to `out`.
    fn body(&self, target: usize, now_ms: i64, out: &mut Vec<u8>);
}

/// A dataset split into targets: unit `u` belongs to target `u % targets`.
pub struct DatasetTargets {
    ds: Dataset,
    targets: Vec<Prefixes>,
    timestamps: bool,
}

impl DatasetTargets {
    /// Pre-renders the label prefixes of every target.
    pub fn new(ds: Dataset, targets: usize, timestamps: bool) -> Self {
        let units = ds.units();
        let targets = (0..targets.max(1))
            .map(|t| {
                let mine: Vec<Unit> = units
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % targets.max(1) == t)
                    .map(|(_, u)| *u)
                    .collect();
                Prefixes::new(&ds, &mine)
            })
            .collect();
        DatasetTargets {
            ds,
            targets,
            timestamps,
        }
    }

    /// Series served by each target.
    pub fn series_per_target(&self) -> Vec<usize> {
        self.targets.iter().map(Prefixes::len).collect()
    }
}

impl BodySource for DatasetTargets {
    fn body(&self, target: usize, now_ms: i64, out: &mut Vec<u8>) {
        if let Some(p) = self.targets.get(target) {
            p.render(&self.ds, now_ms, self.timestamps, out);
        }
    }
}

/// A source whose samples are stamped by a simulated clock running `speedup` times faster
/// than the wall clock and meeting it at the end of the fast-forward:
/// `sim(t) = end + (t - end) * speedup`. Started at `start` with `end = start + history /
/// speedup`, the first scrape is stamped ~`history` in the past and every later one ~`15 s`
/// of sample time apart when scraped every `15 s / speedup`; every stamp up to `end` is in the
/// past. Values stay the inner source's function of (series, stamp), so counters still grow.
pub struct FastForward<S> {
    inner: S,
    speedup: f64,
    /// Wall time in ms at which the simulated clock meets it (set by [`FastForward::start`]).
    end_ms: AtomicI64,
}

impl<S> FastForward<S> {
    /// Wraps `inner`; until [`FastForward::start`] the clock is the wall clock.
    pub fn new(inner: S, speedup: f64) -> Self {
        FastForward {
            inner,
            speedup: speedup.max(1.0),
            end_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// Starts the fast-forward at wall time `now_ms` so that `history_ms` of sample time pass
    /// by the end; returns the end (wall ms).
    pub fn start(&self, now_ms: i64, history_ms: i64) -> i64 {
        let end = now_ms + (history_ms as f64 / self.speedup).round() as i64;
        self.end_ms.store(end, Ordering::SeqCst);
        end
    }

    /// The simulated time at wall time `now_ms`.
    pub fn sim_ms(&self, now_ms: i64) -> i64 {
        let end = self.end_ms.load(Ordering::SeqCst);
        if end == i64::MIN {
            return now_ms;
        }
        end - ((end - now_ms) as f64 * self.speedup).round() as i64
    }
}

impl<S: BodySource> BodySource for FastForward<S> {
    fn body(&self, target: usize, now_ms: i64, out: &mut Vec<u8>) {
        self.inner.body(target, self.sim_ms(now_ms), out);
    }
}

/// A fixed body, the same for every target.
pub struct StaticBody(pub Vec<u8>);

impl BodySource for StaticBody {
    fn body(&self, _target: usize, _now_ms: i64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

/// Running targets; they stop accepting when this is dropped.
pub struct Targets {
    stop: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
    /// Bodies served so far (all targets).
    pub scrapes: Arc<AtomicU64>,
    /// First port.
    pub port_base: u16,
    /// Number of targets (ports `port_base..port_base + n`).
    pub n: usize,
}

impl Targets {
    /// Binds `127.0.0.1:port_base + t` for every target and starts serving.
    pub fn start(source: Arc<dyn BodySource>, port_base: u16, n: usize) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = Arc::new(AtomicU64::new(0));
        // Built first so that a failed bind below stops the listeners already started.
        let mut targets = Targets {
            stop,
            frozen: Arc::new(AtomicBool::new(false)),
            threads: Vec::with_capacity(n),
            scrapes,
            port_base,
            n,
        };
        for t in 0..n {
            let port = port_base + u16::try_from(t).context("too many targets")?;
            let listener = TcpListener::bind(("127.0.0.1", port))
                .with_context(|| format!("binding 127.0.0.1:{port}"))?;
            listener.set_nonblocking(true)?;
            let ctx = Ctx {
                target: t,
                source: source.clone(),
                stop: targets.stop.clone(),
                frozen: targets.frozen.clone(),
                scrapes: targets.scrapes.clone(),
            };
            targets
                .threads
                .push(thread::spawn(move || accept_loop(listener, ctx)));
        }
        Ok(targets)
    }

    /// While frozen, every request gets an empty `503` (a failed scrape): scrapers stop
    /// ingesting, and samples with explicit timestamps get no stale markers.
    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }

    /// `127.0.0.1:port` of every target.
    pub fn addresses(&self) -> Vec<String> {
        (0..self.n)
            .map(|t| format!("127.0.0.1:{}", self.port_base as usize + t))
            .collect()
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Joining releases the ports before a caller binds them again.
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What a listener thread needs.
struct Ctx {
    target: usize,
    source: Arc<dyn BodySource>,
    stop: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    scrapes: Arc<AtomicU64>,
}

fn accept_loop(listener: TcpListener, ctx: Ctx) {
    let ctx = Arc::new(ctx);
    while !ctx.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let ctx = ctx.clone();
                thread::spawn(move || {
                    let frozen = ctx.frozen.load(Ordering::SeqCst);
                    if handle(stream, ctx.target, ctx.source.as_ref(), frozen).is_ok() && !frozen {
                        ctx.scrapes.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn handle(
    stream: TcpStream,
    target: usize,
    source: &dyn BodySource,
    frozen: bool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(&stream);
    let mut line = String::new();
    // Request line and headers; the path does not matter.
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    if frozen {
        let mut w = &stream;
        w.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return w.flush();
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut body = Vec::new();
    source.body(target, now_ms, &mut body);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut w = &stream;
    w.write_all(head.as_bytes())?;
    w.write_all(&body)?;
    w.flush()
}

/// The scrape configuration the harnesses give every server for the targets of [`serve`]:
/// one job `fedgen` over `targets` loopback ports from `first_port`, `honor_labels` (the
/// dataset carries its own `job` and `instance`), and `honor_timestamps: true` written out when
/// a harness depends on the targets' stamps (it is Prometheus's default).
pub fn fedgen_scrape_config(
    first_port: u16,
    targets: usize,
    interval: &str,
    timeout: &str,
    honor_timestamps: bool,
) -> String {
    let targets: Vec<String> = (0..targets)
        .map(|t| format!("'127.0.0.1:{}'", first_port as usize + t))
        .collect();
    let honor = if honor_timestamps {
        "    honor_timestamps: true\n"
    } else {
        ""
    };
    format!(
        "global:\n  scrape_interval: {interval}\n  scrape_timeout: {timeout}\nscrape_configs:\n  - job_name: fedgen\n    honor_labels: true\n{honor}    static_configs:\n      - targets: [{}]\n",
        targets.join(", "),
    )
}

/// [`fedgen_scrape_config`] every `interval_s` seconds, with the scrape timeout at the
/// interval but at most `max_timeout_s` (the harnesses that scrape at whole seconds).
pub fn fedgen_scrape_config_secs(
    first_port: u16,
    targets: usize,
    interval_s: u64,
    max_timeout_s: u64,
    honor_timestamps: bool,
) -> String {
    fedgen_scrape_config(
        first_port,
        targets,
        &format!("{interval_s}s"),
        &format!("{}s", interval_s.min(max_timeout_s)),
        honor_timestamps,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetConfig;

    #[test]
    fn scrape_config_in_seconds_caps_the_timeout() {
        assert_eq!(
            fedgen_scrape_config_secs(19000, 2, 15, 10, false),
            fedgen_scrape_config(19000, 2, "15s", "10s", false)
        );
        let short = fedgen_scrape_config_secs(19000, 1, 5, 10, true);
        assert!(
            short.contains("scrape_interval: 5s\n  scrape_timeout: 5s\n"),
            "{short}"
        );
        assert!(short.contains("honor_timestamps: true") && short.contains("'127.0.0.1:19000'"));
    }
    use crate::http;

    /// `(timestamp, value)` of every sample line of an exposition body.
    fn samples(body: &[u8]) -> Vec<(String, i64, f64)> {
        String::from_utf8_lossy(body)
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let end = l.rfind('}').unwrap();
                let mut rest = l[end + 1..].split_whitespace();
                let v = rest.next().unwrap().parse().unwrap();
                let t = rest.next().unwrap().parse().unwrap();
                (l[..=end].to_string(), t, v)
            })
            .collect()
    }

    #[test]
    fn fast_forward_stamps_the_past_at_speed_and_keeps_values() {
        let ds = Dataset::new(DatasetConfig {
            instances: 2,
            series_per_instance: 300,
            prometheus_instances: 1,
            prometheus_series_per_instance: 200,
            ..DatasetConfig::default()
        });
        let ff = FastForward::new(DatasetTargets::new(ds.clone(), 2, true), 6.0);
        let start = 1_800_000_000_000;
        // Before the start the clock is the wall clock.
        assert_eq!(ff.sim_ms(start), start);
        let two_hours = 7_200_000;
        let end = ff.start(start, two_hours);
        assert_eq!(end, start + 1_200_000);
        assert_eq!(ff.sim_ms(start), start + 1_200_000 - two_hours);
        assert_eq!(ff.sim_ms(end), end);
        // 2.5 s of wall time between scrapes are 15 s of samples.
        assert_eq!(ff.sim_ms(start + 2_500) - ff.sim_ms(start), 15_000);

        let mut first = Vec::new();
        ff.body(0, start, &mut first);
        let mut later = Vec::new();
        ff.body(0, start + 2_500, &mut later);
        let (a, b) = (samples(&first), samples(&later));
        assert_eq!(a.len(), b.len());
        assert!(!a.is_empty());
        // The same body the plain source renders at the simulated time: values are the
        // dataset's function of (series, stamp).
        let mut direct = Vec::new();
        DatasetTargets::new(ds, 2, true).body(0, end - two_hours, &mut direct);
        assert_eq!(first, direct);
        let mut grew = 0;
        for ((sa, ta, va), (sb, tb, vb)) in a.iter().zip(&b) {
            assert_eq!(sa, sb);
            assert_eq!((*ta, *tb), (end - two_hours, end - two_hours + 15_000));
            assert!(*tb < end, "every stamp is in the past of the end");
            if sa.split('{').next().is_some_and(|n| n.ends_with("_total")) {
                assert!(vb >= va, "counter {sa} went from {va} to {vb}");
                grew += usize::from(vb > va);
            }
        }
        assert!(grew > 0, "no counter moved over 15 s of sample time");
    }

    #[test]
    fn targets_serve_their_share_of_the_dataset() {
        let ds = Dataset::new(DatasetConfig {
            instances: 5,
            series_per_instance: 600,
            prometheus_instances: 2,
            prometheus_series_per_instance: 700,
            ..DatasetConfig::default()
        });
        let total = ds.total_series();
        let src = Arc::new(DatasetTargets::new(ds, 3, false));
        let per = src.series_per_target();
        assert_eq!(per.iter().sum::<usize>() as u64, total);
        // Ports from the tools' range, kept clear of peerbench's defaults.
        let targets = Targets::start(src, 19_495, 3).unwrap();
        let mut seen = 0;
        for (t, addr) in targets.addresses().iter().enumerate() {
            let mut c = http::LineCounter::default();
            let resp = http::get(
                addr.parse().unwrap(),
                "/metrics",
                &[],
                Duration::from_secs(5),
                &mut |b| c.feed(b),
            )
            .unwrap();
            assert_eq!(resp.status, 200);
            assert_eq!(c.samples as usize, per[t], "target {t}");
            seen += c.samples;
        }
        assert_eq!(seen, total);
        targets.set_frozen(true);
        let addr = targets.addresses()[0].parse().unwrap();
        let resp = http::get(addr, "/metrics", &[], Duration::from_secs(5), &mut |_| {}).unwrap();
        assert_eq!((resp.status, resp.body_bytes), (503, 0));
        targets.set_frozen(false);
        let resp = http::get(addr, "/metrics", &[], Duration::from_secs(5), &mut |_| {}).unwrap();
        assert_eq!(resp.status, 200);
    }
}
