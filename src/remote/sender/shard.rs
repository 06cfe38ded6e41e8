//! One shard: a bounded buffer the watcher fills with samples already encoded as `TimeSeries`
//! fields ([`Piece`]s), and a thread that takes batches of up to `max_samples_per_send`
//! samples (or what came within `batch_send_deadline`), joins them into one `WriteRequest`,
//! compresses and posts it, retries per the backoff, and reports what it finished to the
//! ledger.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::client::{Backoff, Outcome};
use super::encode::{MAX_SAMPLE_OVERHEAD, SeriesOut, put_sample};
use super::metrics::raise;
use super::queue::Queue;

/// Samples of one WAL record bound for one shard, encoded: the watcher encodes each sample
/// once, and the shard only concatenates pieces, so nothing is kept or moved per sample.
#[derive(Debug, Default)]
pub struct Piece {
    /// `TimeSeries` fields (field 1 of `WriteRequest`), one per sample.
    pub bytes: Vec<u8>,
    /// Per sample: where its field ends in `bytes`, and its timestamp (ms).
    pub samples: Vec<(u32, i64)>,
    /// Ledger id of the WAL record the samples came from.
    pub id: u64,
}

impl Piece {
    /// Splits off the first `k` samples (fewer than it holds) as a piece of their own.
    fn split_front(&mut self, k: usize) -> Piece {
        let cut = self.samples[k - 1].0;
        let front = Piece {
            bytes: self.bytes[..cut as usize].to_vec(),
            samples: self.samples[..k].to_vec(),
            id: self.id,
        };
        self.bytes.drain(..cut as usize);
        self.samples.drain(..k);
        for s in &mut self.samples {
            s.0 -= cut;
        }
        front
    }
}

/// Byte buffers of sent pieces kept for the watcher to fill again, at most this many.
pub const MAX_SPARE_BUFFERS: usize = 128;

/// The pieces of one WAL record under construction, one per shard.
#[derive(Debug, Default)]
pub struct Spread {
    pieces: Vec<Piece>,
    /// Samples a new piece is sized for: the record's share per shard and some.
    expect: usize,
    kept: usize,
    /// Empty buffers to fill (taken from the shards' sent pieces).
    pub spare: Vec<Piece>,
}

impl Spread {
    /// Starts a record of `samples` samples for `shards` shards.
    pub fn reset(&mut self, shards: usize, samples: usize) {
        self.pieces.resize_with(shards, Piece::default);
        self.pieces.truncate(shards);
        for p in &mut self.pieces {
            // Left over only when a stopping queue refused them.
            p.bytes.clear();
            p.samples.clear();
        }
        let share = samples / shards.max(1);
        self.expect = share + share / 4 + 16;
        self.kept = 0;
    }

    /// Encodes one sample into the piece of its series' shard.
    pub fn add(&mut self, series: &SeriesOut, t: i64, v: f64) {
        let n = self.pieces.len() as u64;
        let piece = &mut self.pieces[(series.hash % n) as usize];
        if piece.samples.is_empty() && piece.bytes.capacity() == 0 {
            if let Some(spare) = self.spare.pop() {
                *piece = spare;
            }
            piece
                .bytes
                .reserve(self.expect * (series.labels.len() + MAX_SAMPLE_OVERHEAD));
            piece.samples.reserve(self.expect);
        }
        put_sample(&mut piece.bytes, series, t, v);
        piece.samples.push((piece.bytes.len() as u32, t));
        self.kept += 1;
    }

    /// Samples added since [`Spread::reset`].
    pub fn kept(&self) -> usize {
        self.kept
    }

    /// Marks every piece as coming from ledger record `id`.
    pub fn set_id(&mut self, id: u64) {
        for p in &mut self.pieces {
            p.id = id;
        }
    }

    /// The piece of each shard, to be handed over (a taken piece is left empty).
    pub fn per_shard(&mut self) -> impl Iterator<Item = &mut Piece> {
        self.pieces.iter_mut()
    }
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
    pieces: VecDeque<Piece>,
    /// Samples in `pieces`.
    samples: usize,
    closed: bool,
}

impl ShardBuffer {
    /// Appends `piece` (leaving it empty), waiting while `capacity` samples or more are
    /// buffered (so a shard holds at most `capacity` plus one record's share); gives up (returning false, the piece not appended) when `stop()` turns true.
    pub fn push(
        &self,
        piece: &mut Piece,
        capacity: usize,
        wake_at: usize,
        stop: &dyn Fn() -> bool,
    ) -> bool {
        let mut g = self.state.lock();
        while g.samples >= capacity {
            self.not_empty.notify_one();
            if stop() {
                return false;
            }
            self.not_full.wait_for(&mut g, Duration::from_millis(50));
        }
        g.samples += piece.samples.len();
        g.pieces.push_back(std::mem::take(piece));
        if g.samples >= wake_at {
            self.not_empty.notify_one();
        }
        true
    }

    /// No more items will come: the thread sends what is left and ends.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.not_empty.notify_all();
    }

    /// Samples buffered.
    pub fn buffered(&self) -> usize {
        self.state.lock().samples
    }

    /// Takes pieces of up to `max` samples in all into `out`, the last one split off the
    /// front of a buffered piece when a whole one does not fit, waiting until `max` samples
    /// are buffered, the buffer is closed, or `deadline`. Returns whether the buffer is closed.
    fn take(&self, out: &mut Vec<Piece>, max: usize, deadline: Instant) -> bool {
        let mut g = self.state.lock();
        while g.samples < max && !g.closed {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.not_empty.wait_for(&mut g, deadline - now);
        }
        let mut taken = 0;
        while taken < max {
            let Some(p) = g.pieces.front_mut() else {
                break;
            };
            let room = max - taken;
            if p.samples.len() > room {
                out.push(p.split_front(room));
                taken += room;
                break;
            }
            taken += p.samples.len();
            out.push(g.pieces.pop_front().expect("front exists"));
        }
        g.samples -= taken;
        self.not_full.notify_all();
        g.closed
    }
}

/// The shard thread: runs until its buffer is closed and drained (or the queue stops).
pub fn run(queue: Arc<Queue>, buf: Arc<ShardBuffer>) {
    let cfg = &queue.cfg.queue_config;
    let max = cfg.max_samples_per_send as usize;
    let deadline = cfg.batch_send_deadline.as_std();
    let mut batch: Vec<Piece> = Vec::new();
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
        let mut samples = 0u64;
        for p in &batch {
            body.extend_from_slice(&p.bytes);
            highest = p.samples.iter().fold(highest, |h, s| h.max(s.1));
            samples += p.samples.len() as u64;
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
                    .fetch_add(samples, Ordering::Relaxed);
                finish(&queue, &batch, &mut runs);
                recycle(&queue, &mut batch);
                continue;
            }
        };
        if send(&queue, &compressed[..n], samples, highest) {
            finish(&queue, &batch, &mut runs);
        } else {
            return;
        }
        recycle(&queue, &mut batch);
    }
}

/// Hands the batch's byte buffers back for the watcher to reuse, and empties the batch.
fn recycle(queue: &Queue, batch: &mut Vec<Piece>) {
    let mut spare = queue.spare.lock();
    for mut p in batch.drain(..) {
        if spare.len() >= MAX_SPARE_BUFFERS {
            break;
        }
        p.bytes.clear();
        p.samples.clear();
        spare.push(p);
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
fn finish(queue: &Queue, batch: &[Piece], runs: &mut Vec<(u64, u64)>) {
    runs.clear();
    for p in batch {
        match runs.last_mut() {
            Some((id, n)) if *id == p.id => *n += p.samples.len() as u64,
            _ => runs.push((p.id, p.samples.len() as u64)),
        }
    }
    queue.ledger.finish(runs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::proto::WriteRequest;
    use prost::Message as _;

    fn timestamps(pieces: &[Piece]) -> Vec<i64> {
        let body: Vec<u8> = pieces.iter().flat_map(|p| p.bytes.clone()).collect();
        let req = WriteRequest::decode(body.as_slice()).expect("decodes");
        req.timeseries
            .iter()
            .map(|t| t.samples[0].timestamp)
            .collect()
    }

    #[test]
    fn batches_hold_exactly_max_samples_splitting_pieces() {
        let a = SeriesOut::new(&[("__name__".into(), "a".into())]);
        let buf = ShardBuffer::default();
        let mut spread = Spread::default();
        let no_stop = || false;
        // Two records of 5 and 4 samples, all for the one shard.
        for (id, ts) in [(7u64, 0..5i64), (8, 5..9)] {
            spread.reset(1, ts.clone().count());
            for t in ts {
                spread.add(&a, t, 1.0);
            }
            spread.set_id(id);
            let piece = spread.per_shard().next().unwrap();
            assert!(buf.push(piece, 100, 3, &no_stop));
            assert!(piece.samples.is_empty(), "taken");
        }
        assert_eq!(buf.buffered(), 9);
        let soon = || Instant::now() + Duration::from_millis(10);
        let mut out = Vec::new();
        let mut batches = Vec::new();
        while buf.buffered() > 0 {
            buf.take(&mut out, 3, soon());
            let ids: Vec<(u64, usize)> = out.iter().map(|p| (p.id, p.samples.len())).collect();
            batches.push((timestamps(&out), ids));
            out.clear();
        }
        assert_eq!(
            batches,
            [
                (vec![0, 1, 2], vec![(7, 3)]),
                (vec![3, 4, 5], vec![(7, 2), (8, 1)]),
                (vec![6, 7, 8], vec![(8, 3)]),
            ]
        );
        buf.close();
        assert!(buf.take(&mut out, 3, soon()), "closed");
        assert!(out.is_empty());
    }
}
