//! Scrape targets on loopback: N listeners on consecutive ports, each answering every GET
//! with a body from a [`BodySource`]. One thread per listener, one per connection.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetConfig;
    use crate::http;

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
