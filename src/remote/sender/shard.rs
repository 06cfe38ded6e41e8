//! One shard: a bounded buffer the watcher fills and a thread that takes batches of up to
//! `max_samples_per_send` samples (or what came within `batch_send_deadline`), encodes and
//! posts them, retries per the backoff, and reports what it finished to the ledger.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::client::{Backoff, Outcome};
use super::encode::{SeriesOut, put_sample};
use super::metrics::raise;
use super::queue::Queue;

/// One sample on its way: its series, time, value, and the ledger id of its WAL record.
#[derive(Debug, Clone)]
pub struct Item {
    /// The series as sent.
    pub series: Arc<SeriesOut>,
    /// Timestamp (ms).
    pub t: i64,
    /// Value.
    pub v: f64,
    /// Ledger id of the WAL record the sample came from.
    pub id: u64,
}

/// The buffer between the watcher and one shard thread.
#[derive(Debug, Default)]
pub struct ShardBuffer {
    state: Mutex<State>,
    not_empty: Condvar,
    not_full: Condvar,
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Item>,
    closed: bool,
}

impl ShardBuffer {
    /// Appends `items`, waiting while `capacity` samples are buffered; gives up (returning
    /// false, the rest not appended) when `stop()` turns true.
    pub fn push(
        &self,
        items: &mut Vec<Item>,
        capacity: usize,
        wake_at: usize,
        stop: &dyn Fn() -> bool,
    ) -> bool {
        let mut g = self.state.lock();
        let mut rest = items.drain(..);
        loop {
            while g.items.len() < capacity {
                match rest.next() {
                    Some(it) => g.items.push_back(it),
                    None => {
                        if g.items.len() >= wake_at {
                            self.not_empty.notify_one();
                        }
                        return true;
                    }
                }
            }
            self.not_empty.notify_one();
            if stop() {
                return false;
            }
            self.not_full.wait_for(&mut g, Duration::from_millis(50));
        }
    }

    /// No more items will come: the thread sends what is left and ends.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.not_empty.notify_all();
    }

    /// Samples buffered.
    pub fn buffered(&self) -> usize {
        self.state.lock().items.len()
    }

    /// Takes up to `max` items into `out`, waiting until there are `max`, the buffer is
    /// closed, or `deadline`. Returns whether the buffer is closed.
    fn take(&self, out: &mut Vec<Item>, max: usize, deadline: Instant) -> bool {
        let mut g = self.state.lock();
        while g.items.len() < max && !g.closed {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.not_empty.wait_for(&mut g, deadline - now);
        }
        let n = g.items.len().min(max);
        out.extend(g.items.drain(..n));
        self.not_full.notify_all();
        g.closed
    }
}

/// The shard thread: runs until its buffer is closed and drained (or the queue stops).
pub fn run(queue: Arc<Queue>, buf: Arc<ShardBuffer>) {
    let cfg = &queue.cfg.queue_config;
    let max = cfg.max_samples_per_send as usize;
    let deadline = cfg.batch_send_deadline.as_std();
    let mut batch = Vec::with_capacity(max);
    let mut body = Vec::new();
    let mut snappy = snap::raw::Encoder::new();
    let mut compressed = Vec::new();
    let mut runs = Vec::new();
    loop {
        let closed = buf.take(&mut batch, max, Instant::now() + deadline);
        if batch.is_empty() {
            if closed {
                return;
            }
            continue;
        }
        if queue.stopping() {
            // Not finished: the position stays before these samples; a restart resends them.
            return;
        }
        body.clear();
        let mut highest = i64::MIN;
        for it in &batch {
            put_sample(&mut body, &it.series, it.t, it.v);
            highest = highest.max(it.t);
        }
        let len = snap::raw::max_compress_len(body.len());
        compressed.resize(len, 0);
        let n = match snappy.compress(&body, &mut compressed) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "snappy compression failed; batch dropped");
                queue
                    .metrics
                    .samples_failed_total
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                finish(&queue, &batch, &mut runs);
                batch.clear();
                continue;
            }
        };
        if send(&queue, &compressed[..n], batch.len() as u64, highest) {
            finish(&queue, &batch, &mut runs);
        } else {
            return;
        }
        batch.clear();
    }
}

/// Posts one request until it is sent or dropped (true) or the queue stops (false).
fn send(queue: &Queue, body: &[u8], samples: u64, highest: i64) -> bool {
    let cfg = &queue.cfg.queue_config;
    let m = &queue.metrics;
    let mut backoff = Backoff::new(cfg.min_backoff.as_std(), cfg.max_backoff.as_std());
    loop {
        if queue.stopping() {
            return false;
        }
        let start = Instant::now();
        match queue.endpoint.store(body) {
            Outcome::Sent => {
                let took = start.elapsed();
                m.samples_total.fetch_add(samples, Ordering::Relaxed);
                m.bytes_total
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                m.sent_batch_duration.observe(took.as_secs_f64());
                raise(&m.highest_sent_ms, highest);
                queue.rates.sent(samples, took);
                return true;
            }
            Outcome::Drop(msg) => {
                tracing::error!(remote_name = %queue.name, error = %msg, samples, "non-recoverable error; batch dropped");
                m.samples_failed_total.fetch_add(samples, Ordering::Relaxed);
                return true;
            }
            Outcome::Retry(msg, after) => {
                let sleep = backoff.step(after);
                tracing::warn!(remote_name = %queue.name, error = %msg, retry_in_ms = sleep.as_millis() as u64, "failed to send batch, retrying");
                if !queue.sleep(sleep) {
                    return false;
                }
                m.samples_retried_total
                    .fetch_add(samples, Ordering::Relaxed);
            }
        }
    }
}

/// Tells the ledger the batch's samples are finished, one call for the batch.
fn finish(queue: &Queue, batch: &[Item], runs: &mut Vec<(u64, u64)>) {
    runs.clear();
    for it in batch {
        match runs.last_mut() {
            Some((id, n)) if *id == it.id => *n += 1,
            _ => runs.push((it.id, 1)),
        }
    }
    queue.ledger.finish(runs);
}
