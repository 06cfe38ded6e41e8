//! The `fedstore_remote_storage_*` metrics of one queue, named as Prometheus 2.42 names its
//! `prometheus_remote_storage_*` ones and labelled `remote_name` and `url`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::exposition::write::{write_help_line, write_sample, write_type_line};
use crate::metrics::Histogram;

/// Counters and gauges of one queue.
#[derive(Debug, Default)]
pub struct QueueMetrics {
    /// Samples the receiver accepted.
    pub samples_total: AtomicU64,
    /// Samples dropped after a non-retryable answer (4xx).
    pub samples_failed_total: AtomicU64,
    /// Samples resent after a retryable failure.
    pub samples_retried_total: AtomicU64,
    /// Samples read from the WAL but not sent: dropped by relabeling, unknown series ref.
    pub samples_dropped_total: AtomicU64,
    /// Compressed bytes the receiver accepted.
    pub bytes_total: AtomicU64,
    /// Shards running.
    pub shards: AtomicU64,
    /// Shards wanted by the last reshard computation (f64 bits).
    pub shards_desired_bits: AtomicU64,
    /// Newest sample timestamp the receiver accepted (ms).
    pub highest_sent_ms: AtomicU64,
    /// Newest sample timestamp read from the WAL (ms).
    pub highest_read_ms: AtomicU64,
    /// Duration of successful requests.
    pub sent_batch_duration: Histogram,
    /// Segment the committed position is in.
    pub position_segment: AtomicU64,
}

/// Raises `cell` to `v` (ms timestamps stored as u64; negative ones count as 0).
pub fn raise(cell: &AtomicU64, v: i64) {
    cell.fetch_max(v.max(0) as u64, Ordering::Relaxed);
}

/// The static values of a queue rendered next to its metrics.
pub struct QueueView<'a> {
    /// `remote_name` label.
    pub name: &'a str,
    /// `url` label.
    pub url: &'a str,
    /// The counters.
    pub m: &'a QueueMetrics,
    /// `queue_config.min_shards` / `max_shards` / `capacity`.
    pub min_shards: u64,
    /// `queue_config.max_shards`.
    pub max_shards: u64,
    /// `queue_config.capacity`.
    pub capacity: u64,
    /// Samples read from the WAL and not yet finished.
    pub pending: u64,
    /// Samples a checkpoint deleted before this queue read them.
    pub wal_dropped: u64,
}

/// Renders every queue's metrics, one family at a time.
pub fn render(queues: &[QueueView<'_>], buf: &mut Vec<u8>) {
    if queues.is_empty() {
        return;
    }
    let highest_in = queues
        .iter()
        .map(|q| q.m.highest_read_ms.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let name = "fedstore_remote_storage_highest_timestamp_in_seconds";
    write_help_line(
        buf,
        name,
        "Highest timestamp read from the WAL by any remote-write queue, in seconds since epoch.",
    );
    write_type_line(buf, name, "gauge");
    write_sample(
        buf,
        name,
        std::iter::empty(),
        highest_in as f64 / 1000.0,
        None,
    );

    type Get = fn(&QueueView<'_>) -> f64;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
    let _ = load;
    let families: [(&str, &str, &str, Get); 14] = [
        (
            "samples_total",
            "counter",
            "Samples the receiver accepted.",
            |q| q.m.samples_total.load(Ordering::Relaxed) as f64,
        ),
        (
            "samples_failed_total",
            "counter",
            "Samples dropped after a non-retryable answer (4xx, or 429 without retry_on_http_429).",
            |q| q.m.samples_failed_total.load(Ordering::Relaxed) as f64,
        ),
        (
            "samples_retried_total",
            "counter",
            "Samples resent after a retryable failure (network error, 5xx, 429 with retry_on_http_429).",
            |q| q.m.samples_retried_total.load(Ordering::Relaxed) as f64,
        ),
        (
            "samples_dropped_total",
            "counter",
            "Samples read from the WAL but not sent: dropped by write_relabel_configs or of an unknown series ref.",
            |q| q.m.samples_dropped_total.load(Ordering::Relaxed) as f64,
        ),
        (
            "samples_wal_lag_dropped_total",
            "counter",
            "Samples WAL checkpoints deleted before this queue read them (it lagged past --storage.remote.max-wal-lag-segments).",
            |q| q.wal_dropped as f64,
        ),
        (
            "bytes_total",
            "counter",
            "Compressed request bytes the receiver accepted.",
            |q| q.m.bytes_total.load(Ordering::Relaxed) as f64,
        ),
        (
            "samples_pending",
            "gauge",
            "Samples read from the WAL and not yet sent.",
            |q| q.pending as f64,
        ),
        ("shards", "gauge", "Shards sending in parallel.", |q| {
            q.m.shards.load(Ordering::Relaxed) as f64
        }),
        (
            "shards_desired",
            "gauge",
            "Shards the throughput calls for.",
            |q| f64::from_bits(q.m.shards_desired_bits.load(Ordering::Relaxed)),
        ),
        ("shards_min", "gauge", "queue_config.min_shards.", |q| {
            q.min_shards as f64
        }),
        ("shards_max", "gauge", "queue_config.max_shards.", |q| {
            q.max_shards as f64
        }),
        ("shard_capacity", "gauge", "queue_config.capacity.", |q| {
            q.capacity as f64
        }),
        (
            "queue_highest_sent_timestamp_seconds",
            "gauge",
            "Newest sample timestamp the receiver accepted, in seconds since epoch.",
            |q| q.m.highest_sent_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        ),
        (
            "wal_position_segment",
            "gauge",
            "WAL segment of the position every sample before which is acknowledged.",
            |q| q.m.position_segment.load(Ordering::Relaxed) as f64,
        ),
    ];
    for (suffix, kind, help, get) in families {
        let name = format!("fedstore_remote_storage_{suffix}");
        write_help_line(buf, &name, help);
        write_type_line(buf, &name, kind);
        for q in queues {
            write_sample(
                buf,
                &name,
                [("remote_name", q.name), ("url", q.url)],
                get(q),
                None,
            );
        }
    }
    let name = "fedstore_remote_storage_sent_batch_duration_seconds";
    write_help_line(buf, name, "Duration of successful remote-write requests.");
    write_type_line(buf, name, "histogram");
    for q in queues {
        q.m.sent_batch_duration
            .write(buf, name, &[("remote_name", q.name), ("url", q.url)]);
    }
}
