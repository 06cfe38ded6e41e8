//! The queue manager of one `remote_write` entry: its shards, the watcher's way into them,
//! resharding by throughput (Prometheus 2.42 `QueueManager.calculateDesiredShards`, rewritten),
//! and the housekeeping thread that persists the acknowledged WAL position.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fedstore_storage::wal::{WalHold, WalPosition};
use parking_lot::{Mutex, RwLock};

use super::client::Endpoint;
use super::ledger::Ledger;
use super::metrics::QueueMetrics;
use super::shard::{ShardBuffer, Spread};
use crate::config::remote_write::RemoteWriteConfig;

/// How often the number of shards is reconsidered (2.42 `shardUpdateDuration`).
pub const SHARD_UPDATE: Duration = Duration::from_secs(10);
/// Weight of the newest interval in the rates (2.42 `ewmaWeight`).
const EWMA_WEIGHT: f64 = 0.2;
/// A new shard count must differ by more than this fraction (2.42 `shardToleranceFraction`).
const SHARD_TOLERANCE: f64 = 0.3;
/// How often the acknowledged position is written when it moved.
const POSITION_EVERY: Duration = Duration::from_millis(200);

/// A per-second rate smoothed over [`SHARD_UPDATE`] ticks (2.42 `ewmaRate`).
#[derive(Debug, Default)]
pub struct Ewma {
    events: AtomicU64,
    rate: Mutex<Option<f64>>,
}

impl Ewma {
    /// Counts `n` events.
    pub fn add(&self, n: u64) {
        self.events.fetch_add(n, Ordering::Relaxed);
    }

    /// Folds the events since the last tick (`interval` ago) into the rate.
    pub fn tick(&self, interval: Duration) {
        let n = self.events.swap(0, Ordering::Relaxed);
        let instant = n as f64 / interval.as_secs_f64();
        let mut r = self.rate.lock();
        match *r {
            Some(ref mut rate) => *rate += EWMA_WEIGHT * (instant - *rate),
            None if n > 0 => *r = Some(instant),
            None => {}
        }
    }

    /// The smoothed rate (0 before the first events).
    pub fn rate(&self) -> f64 {
        self.rate.lock().unwrap_or(0.0)
    }
}

/// The throughput figures resharding works from.
#[derive(Debug, Default)]
pub struct Rates {
    /// Samples handed to the shards.
    pub data_in: Ewma,
    /// Samples sent.
    pub data_out: Ewma,
    /// Samples dropped before sending.
    pub data_dropped: Ewma,
    /// Time spent sending, in ns.
    pub data_out_duration: Ewma,
    /// Unix seconds of the last successful send.
    pub last_send_secs: AtomicI64,
}

impl Rates {
    /// Records a successful send of `samples` that took `took`.
    pub fn sent(&self, samples: u64, took: Duration) {
        self.data_out.add(samples);
        self.data_out_duration.add(took.as_nanos() as u64);
        self.last_send_secs.store(unix_secs(), Ordering::Relaxed);
    }
}

fn unix_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The inputs of [`desired_shards`], in its units.
#[derive(Debug, Clone, Copy)]
pub struct ShardInputs {
    /// Samples in per second.
    pub data_in_rate: f64,
    /// Samples sent per second.
    pub data_out_rate: f64,
    /// Samples dropped per second.
    pub data_dropped_rate: f64,
    /// Seconds spent sending per second (summed over shards).
    pub data_out_duration: f64,
    /// Newest timestamp read minus newest sent, in seconds.
    pub delay_secs: f64,
    /// Shards running.
    pub current: u64,
    /// `min_shards`.
    pub min: u64,
    /// `max_shards`.
    pub max: u64,
}

/// The shard count for the observed throughput: enough shards to send what comes in plus 5%
/// of the backlog per second at the observed time per sample; unchanged within ±30%, never
/// fewer while more than 10 s behind, within `[min, max]`. Also returns the raw figure (the
/// `shards_desired` gauge).
pub fn desired_shards(i: ShardInputs) -> (u64, f64) {
    if i.data_out_rate <= 0.0 {
        return (i.current, i.current as f64);
    }
    let kept_ratio = i.data_out_rate / (i.data_dropped_rate + i.data_out_rate);
    let pending = i.delay_secs * i.data_in_rate * kept_ratio;
    let catchup = 0.05 * pending;
    let time_per_sample = i.data_out_duration / i.data_out_rate;
    let desired = time_per_sample * (i.data_in_rate * kept_ratio + catchup);
    let lower = i.current as f64 * (1.0 - SHARD_TOLERANCE);
    let upper = i.current as f64 * (1.0 + SHARD_TOLERANCE);
    let rounded = desired.ceil();
    if lower <= rounded && rounded <= upper {
        return (i.current, desired);
    }
    let mut n = rounded.max(0.0) as u64;
    if n < i.current && i.delay_secs > 10.0 {
        return (i.current, desired);
    }
    n = n.clamp(i.min.max(1), i.max.max(1));
    (n, desired)
}

struct Shards {
    buffers: Vec<Arc<ShardBuffer>>,
    threads: Vec<JoinHandle<()>>,
}

/// One running queue.
pub struct Queue {
    /// The entry it serves.
    pub cfg: RemoteWriteConfig,
    /// `remote_name`.
    pub name: String,
    /// The HTTP side.
    pub endpoint: Endpoint,
    /// Records in flight and the acknowledged position.
    pub ledger: Ledger,
    /// Its metrics.
    pub metrics: Arc<QueueMetrics>,
    /// Throughput for resharding.
    pub rates: Rates,
    /// Emptied pieces of sent batches, for the watcher to fill again.
    pub spare: Mutex<Vec<super::shard::Piece>>,
    shards: RwLock<Shards>,
    stop: AtomicBool,
    stop_signal: (Mutex<bool>, parking_lot::Condvar),
    hold: Arc<WalHold>,
    hold_name: String,
    position_file: PathBuf,
    written: Mutex<WalPosition>,
}

impl Queue {
    /// A queue for `cfg` whose acknowledged position starts at `start`; no shards yet.
    pub fn new(
        cfg: RemoteWriteConfig,
        start: WalPosition,
        hold: Arc<WalHold>,
        hold_name: String,
        position_file: PathBuf,
        metrics: Arc<QueueMetrics>,
    ) -> Result<Queue, String> {
        let endpoint = Endpoint::new(&cfg)?;
        hold.set(&hold_name, start);
        metrics
            .position_segment
            .store(start.segment, Ordering::Relaxed);
        Ok(Queue {
            name: cfg.remote_name(),
            cfg,
            endpoint,
            ledger: Ledger::new(start),
            metrics,
            rates: Rates::default(),
            spare: Mutex::new(Vec::new()),
            shards: RwLock::new(Shards {
                buffers: Vec::new(),
                threads: Vec::new(),
            }),
            stop: AtomicBool::new(false),
            stop_signal: (Mutex::new(false), parking_lot::Condvar::new()),
            hold,
            hold_name,
            position_file,
            written: Mutex::new(start),
        })
    }

    /// Whether the queue is shutting down.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps `d` unless the queue stops first (then false).
    pub fn sleep(&self, d: Duration) -> bool {
        let (m, cv) = &self.stop_signal;
        let mut stopped = m.lock();
        let until = Instant::now() + d;
        while !*stopped {
            if cv.wait_until(&mut stopped, until).timed_out() {
                break;
            }
        }
        !*stopped
    }

    /// Starts `n` shard threads (after the previous ones ended).
    pub fn start_shards(self: &Arc<Self>, n: u64) {
        let mut g = self.shards.write();
        self.spawn_shards(&mut g, n);
    }

    fn spawn_shards(self: &Arc<Self>, g: &mut Shards, n: u64) {
        for i in 0..n.max(1) {
            let buf = Arc::new(ShardBuffer::default());
            let (q, b) = (self.clone(), buf.clone());
            let t = std::thread::Builder::new()
                .name(format!("rw-shard-{i}"))
                .spawn(move || super::shard::run(q, b));
            match t {
                Ok(t) => {
                    g.buffers.push(buf);
                    g.threads.push(t);
                }
                Err(e) => tracing::error!(error = %e, "cannot start a remote-write shard"),
            }
        }
        self.metrics
            .shards
            .store(g.buffers.len() as u64, Ordering::Relaxed);
    }

    /// Hands one WAL record's samples to the shards: `fill` encodes them into `spread` (set
    /// up for the current shards, each series' samples going to the shard its hash picks)
    /// and returns the record's ledger id; the pieces are then pushed, waiting while the
    /// shards are full. The shard count cannot change in between. False when the queue
    /// stopped before all were taken.
    pub fn append(
        &self,
        spread: &mut Spread,
        samples: usize,
        fill: impl FnOnce(&mut Spread) -> u64,
    ) -> bool {
        let g = self.shards.read();
        let n = g.buffers.len();
        if n == 0 {
            return false;
        }
        let max = self.cfg.queue_config.max_samples_per_send as usize;
        spread.reset(n, samples);
        if spread.spare.len() < n {
            spread.spare.append(&mut self.spare.lock());
        }
        let id = fill(spread);
        spread.set_id(id);
        self.rates.data_in.add(spread.kept() as u64);
        let cap = self.cfg.queue_config.capacity as usize;
        let stop = || self.stopping();
        for (buf, piece) in g.buffers.iter().zip(spread.per_shard()) {
            if !piece.samples.is_empty() && !buf.push(piece, cap, max, &stop) {
                return false;
            }
        }
        true
    }

    /// Closes the shards and waits for them to send what they hold (or give up on stop).
    fn drain_shards(&self, g: &mut Shards) {
        for b in &g.buffers {
            b.close();
        }
        for t in g.threads.drain(..) {
            let _ = t.join();
        }
        g.buffers.clear();
    }

    /// Recomputes the shard count and reshards when it changed and sends succeed lately.
    fn maybe_reshard(self: &Arc<Self>) {
        let r = &self.rates;
        for e in [
            &r.data_in,
            &r.data_out,
            &r.data_dropped,
            &r.data_out_duration,
        ] {
            e.tick(SHARD_UPDATE);
        }
        let m = &self.metrics;
        let current = m.shards.load(Ordering::Relaxed);
        let q = &self.cfg.queue_config;
        let delay = (m.highest_read_ms.load(Ordering::Relaxed) as f64
            - m.highest_sent_ms.load(Ordering::Relaxed) as f64)
            / 1000.0;
        let (n, desired) = desired_shards(ShardInputs {
            data_in_rate: r.data_in.rate(),
            data_out_rate: r.data_out.rate(),
            data_dropped_rate: r.data_dropped.rate(),
            data_out_duration: r.data_out_duration.rate() / 1e9,
            delay_secs: delay.max(0.0),
            current,
            min: q.min_shards,
            max: q.max_shards,
        });
        m.shards_desired_bits
            .store(desired.to_bits(), Ordering::Relaxed);
        if n == current {
            return;
        }
        // 2.42 `shouldReshard`: not while sends have been failing.
        let min_send = unix_secs() - 2 * q.batch_send_deadline.as_std().as_secs() as i64;
        if r.last_send_secs.load(Ordering::Relaxed) < min_send {
            tracing::warn!(remote_name = %self.name, "skipping resharding: no successful send lately");
            return;
        }
        tracing::info!(remote_name = %self.name, from = current, to = n, "remote-write resharding");
        let mut g = self.shards.write();
        self.drain_shards(&mut g);
        if !self.stopping() {
            self.spawn_shards(&mut g, n);
        }
    }

    /// Writes the acknowledged position when it moved, and moves the WAL hold to it.
    pub fn persist_position(&self) {
        let pos = self.ledger.committed();
        let mut w = self.written.lock();
        if *w == pos {
            return;
        }
        match super::position::store(&self.position_file, pos) {
            Ok(()) => {
                *w = pos;
                self.hold.set(&self.hold_name, pos);
                self.metrics
                    .position_segment
                    .store(pos.segment, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(file = %self.position_file.display(), error = %e, "cannot write the remote-write position");
            }
        }
    }

    /// Housekeeping until stop: positions every 200 ms, resharding every [`SHARD_UPDATE`].
    pub fn housekeeping(self: Arc<Self>) {
        let mut next_reshard = Instant::now() + SHARD_UPDATE;
        while self.sleep(POSITION_EVERY) {
            self.persist_position();
            if Instant::now() >= next_reshard {
                next_reshard += SHARD_UPDATE;
                self.maybe_reshard();
            }
        }
    }

    /// Samples buffered in the shards.
    pub fn buffered(&self) -> usize {
        self.shards
            .read()
            .buffers
            .iter()
            .map(|b| b.buffered())
            .sum()
    }

    /// Stops sending: shards end (unsent samples stay unacknowledged, so they are resent after
    /// a restart), the final position is written.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        {
            let (m, cv) = &self.stop_signal;
            *m.lock() = true;
            cv.notify_all();
        }
        let mut g = self.shards.write();
        self.drain_shards(&mut g);
        drop(g);
        self.persist_position();
    }

    /// The hold's name (the position file's stem).
    pub fn hold_name(&self) -> &str {
        &self.hold_name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(current: u64) -> ShardInputs {
        ShardInputs {
            data_in_rate: 100_000.0,
            data_out_rate: 100_000.0,
            data_dropped_rate: 0.0,
            // 4 s of sending per second: 40 µs per sample.
            data_out_duration: 4.0,
            delay_secs: 0.0,
            current,
            min: 1,
            max: 200,
        }
    }

    #[test]
    fn desired_shards_follows_the_time_per_sample() {
        assert_eq!(desired_shards(inputs(1)).0, 4);
        // Within ±30% of the current count: unchanged.
        assert_eq!(desired_shards(inputs(5)).0, 5);
        assert_eq!(desired_shards(inputs(10)).0, 4);
        // A backlog of 93 s adds 5% of it per second: 100k/s * 93 s * 5% = 465k/s more.
        let (n, raw) = desired_shards(ShardInputs {
            delay_secs: 93.0,
            ..inputs(1)
        });
        assert!((raw - 22.6).abs() < 1e-9, "{raw}");
        assert_eq!(n, 23);
        // Far behind: never fewer shards.
        assert_eq!(
            desired_shards(ShardInputs {
                delay_secs: 11.0,
                data_in_rate: 1000.0,
                ..inputs(50)
            })
            .0,
            50
        );
        // Clamped to max and min; nothing sent yet: unchanged.
        assert_eq!(
            desired_shards(ShardInputs {
                max: 3,
                ..inputs(1)
            })
            .0,
            3
        );
        assert_eq!(
            desired_shards(ShardInputs {
                data_in_rate: 1.0,
                min: 2,
                ..inputs(10)
            })
            .0,
            2
        );
        assert_eq!(
            desired_shards(ShardInputs {
                data_out_rate: 0.0,
                ..inputs(7)
            })
            .0,
            7
        );
        // Dropped samples lower the kept ratio and the need.
        assert_eq!(
            desired_shards(ShardInputs {
                data_dropped_rate: 100_000.0,
                ..inputs(1)
            })
            .0,
            2
        );
    }

    #[test]
    fn ewma_starts_at_the_first_rate_and_smooths() {
        let e = Ewma::default();
        e.tick(Duration::from_secs(10));
        assert_eq!(e.rate(), 0.0);
        e.add(1000);
        e.tick(Duration::from_secs(10));
        assert_eq!(e.rate(), 100.0);
        e.add(2000);
        e.tick(Duration::from_secs(10));
        assert!((e.rate() - 120.0).abs() < 1e-9);
    }
}
