//! fedstore's own metrics, served at `GET /metrics` in the text format and named as Prometheus
//! names its own (`prometheus_tsdb_head_series` -> `fedstore_head_series`).
//!
//! Counters are plain atomics bumped on the request paths; gauges are read from the head and
//! `/proc` when scraped. Rendering uses the same exposition writer as `/federate`.

use std::sync::atomic::{AtomicU64, Ordering};

use fedstore_storage::{AppendStats, Head};

use crate::exposition::float::write_float;
use crate::exposition::write::{write_help_line, write_sample, write_type_line};

/// Where appended samples came from (the `source` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `POST /api/v1/import/prometheus`.
    Import = 0,
    /// `POST /api/v1/write`.
    RemoteWrite = 1,
    /// Scrape loops.
    Scrape = 2,
}

const SOURCES: [&str; 3] = ["import", "remote_write", "scrape"];

/// Upper bounds (seconds) of request-duration histograms: Prometheus's default buckets.
const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A histogram with fixed buckets, updated lock-free.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    count: AtomicU64,
    /// Sum as f64 bits, updated with a CAS loop.
    sum_bits: AtomicU64,
}

impl Histogram {
    /// Records one observation in seconds.
    pub fn observe(&self, secs: f64) {
        if let Some(i) = DURATION_BUCKETS.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some((f64::from_bits(b) + secs).to_bits())
            });
    }

    /// Renders the histogram's `_bucket`, `_sum` and `_count` lines.
    pub(crate) fn write(&self, buf: &mut Vec<u8>, name: &str, labels: &[(&str, &str)]) {
        let mut cumulative = 0u64;
        let mut le = Vec::with_capacity(24);
        for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            le.clear();
            write_float(&mut le, *bound);
            let le = std::str::from_utf8(&le).unwrap_or("+Inf");
            write_sample(
                buf,
                &format!("{name}_bucket"),
                labels.iter().copied().chain([("le", le)]),
                cumulative as f64,
                None,
            );
        }
        let count = self.count.load(Ordering::Relaxed) as f64;
        write_sample(
            buf,
            &format!("{name}_bucket"),
            labels.iter().copied().chain([("le", "+Inf")]),
            count,
            None,
        );
        let sum = f64::from_bits(self.sum_bits.load(Ordering::Relaxed));
        write_sample(
            buf,
            &format!("{name}_sum"),
            labels.iter().copied(),
            sum,
            None,
        );
        write_sample(
            buf,
            &format!("{name}_count"),
            labels.iter().copied(),
            count,
            None,
        );
    }
}

/// Counters of the server.
#[derive(Debug, Default)]
pub struct Metrics {
    appended: [AtomicU64; 3],
    out_of_order: [AtomicU64; 3],
    duplicate: [AtomicU64; 3],
    out_of_bounds: [AtomicU64; 3],
    /// `/federate` answers by status class.
    federate_ok: AtomicU64,
    federate_bad_request: AtomicU64,
    /// Federate bodies whose client hung up before the end.
    pub federate_aborted: AtomicU64,
    /// Queries (and series, labels, status walks) stopped because their client went away.
    pub queries_abandoned: AtomicU64,
    /// Time from request to the last byte of a `/federate` answer.
    pub federate_duration: Histogram,
    scrapes_ok: AtomicU64,
    scrapes_failed: AtomicU64,
    /// Time of each scrape: request, parse, append and report.
    pub scrape_duration: Histogram,
    /// Requests refused by a limit (`fedstore_http_refusals_total`).
    pub refusals: crate::limits::Refusals,
}

impl Metrics {
    /// Counts what a commit from `source` did.
    pub fn record_append(&self, source: Source, stats: &AppendStats) {
        let i = source as usize;
        self.appended[i].fetch_add(stats.appended, Ordering::Relaxed);
        self.out_of_order[i].fetch_add(stats.out_of_order, Ordering::Relaxed);
        self.duplicate[i].fetch_add(stats.duplicate, Ordering::Relaxed);
        self.out_of_bounds[i].fetch_add(stats.out_of_bounds, Ordering::Relaxed);
    }

    /// Counts one `/federate` request by its status.
    pub fn record_federate(&self, ok: bool) {
        if ok {
            self.federate_ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.federate_bad_request.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one finished scrape and its duration in seconds.
    pub fn record_scrape(&self, ok: bool, secs: f64) {
        let c = if ok {
            &self.scrapes_ok
        } else {
            &self.scrapes_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
        self.scrape_duration.observe(secs);
    }

    /// Renders every metric in text format 0.0.4.
    pub fn render(&self, head: &Head, buf: &mut Vec<u8>) {
        family(
            buf,
            "fedstore_build_info",
            "gauge",
            "A metric with a constant '1' value labeled by the fedstore version.",
        );
        write_sample(
            buf,
            "fedstore_build_info",
            [("version", env!("CARGO_PKG_VERSION"))],
            1.0,
            None,
        );

        family(
            buf,
            "fedstore_head_series",
            "gauge",
            "Total number of series in the head block.",
        );
        write_sample(
            buf,
            "fedstore_head_series",
            [],
            head.num_series() as f64,
            None,
        );
        family(
            buf,
            "fedstore_head_series_removed_total",
            "counter",
            "Head series garbage collected (all samples persisted, none recent) since start.",
        );
        write_sample(
            buf,
            "fedstore_head_series_removed_total",
            [],
            head.series_removed_total() as f64,
            None,
        );
        let per_source: [(&str, &str, &[AtomicU64; 3]); 4] = [
            (
                "fedstore_head_samples_appended_total",
                "Total number of appended samples, by source.",
                &self.appended,
            ),
            (
                "fedstore_head_out_of_order_samples_total",
                "Samples refused as older than their series' latest sample, by source.",
                &self.out_of_order,
            ),
            (
                "fedstore_head_duplicate_samples_total",
                "Samples refused as a different value at an existing timestamp, by source.",
                &self.duplicate,
            ),
            (
                "fedstore_head_out_of_bounds_samples_total",
                "Samples refused as older than the head's floor (their range is already in a block), by source.",
                &self.out_of_bounds,
            ),
        ];
        for (name, help, values) in per_source {
            family(buf, name, "counter", help);
            self.per_source(buf, name, values);
        }

        self.wal_metrics(head, buf);
        chunk_file_metrics(head, buf);

        family(
            buf,
            "fedstore_federate_requests_total",
            "counter",
            "Federation requests, by HTTP status code.",
        );
        let ok = self.federate_ok.load(Ordering::Relaxed) as f64;
        let bad = self.federate_bad_request.load(Ordering::Relaxed) as f64;
        write_sample(
            buf,
            "fedstore_federate_requests_total",
            [("code", "200")],
            ok,
            None,
        );
        write_sample(
            buf,
            "fedstore_federate_requests_total",
            [("code", "400")],
            bad,
            None,
        );
        family(
            buf,
            "fedstore_federate_aborted_total",
            "counter",
            "Federation answers cut short because the client went away.",
        );
        let aborted = self.federate_aborted.load(Ordering::Relaxed) as f64;
        write_sample(buf, "fedstore_federate_aborted_total", [], aborted, None);
        family(
            buf,
            "fedstore_queries_abandoned_total",
            "counter",
            "Queries stopped because their client went away before the answer.",
        );
        let abandoned = self.queries_abandoned.load(Ordering::Relaxed) as f64;
        write_sample(buf, "fedstore_queries_abandoned_total", [], abandoned, None);
        family(
            buf,
            "fedstore_federate_request_duration_seconds",
            "histogram",
            "Time from a federation request to the last byte of its answer.",
        );
        self.federate_duration
            .write(buf, "fedstore_federate_request_duration_seconds", &[]);

        family(
            buf,
            "fedstore_scrapes_total",
            "counter",
            "Scrapes of targets, by result.",
        );
        let ok = self.scrapes_ok.load(Ordering::Relaxed) as f64;
        let failed = self.scrapes_failed.load(Ordering::Relaxed) as f64;
        write_sample(
            buf,
            "fedstore_scrapes_total",
            [("result", "success")],
            ok,
            None,
        );
        write_sample(
            buf,
            "fedstore_scrapes_total",
            [("result", "failure")],
            failed,
            None,
        );
        family(
            buf,
            "fedstore_scrape_duration_seconds",
            "histogram",
            "Time of a scrape: request, parse, append and report.",
        );
        self.scrape_duration
            .write(buf, "fedstore_scrape_duration_seconds", &[]);

        process_metrics(buf);
        self.refusals.render(buf);
    }

    fn wal_metrics(&self, head: &Head, buf: &mut Vec<u8>) {
        let Some(w) = head.wal_stats() else { return };
        unlabelled(
            buf,
            &[
                (
                    "fedstore_wal_bytes_written_total",
                    "counter",
                    "Bytes appended to WAL segments since start.",
                    w.bytes_written as f64,
                ),
                (
                    "fedstore_wal_fsyncs_total",
                    "counter",
                    "WAL fsyncs since start (a group commit shares one).",
                    w.fsyncs as f64,
                ),
                (
                    "fedstore_wal_fsync_seconds_total",
                    "counter",
                    "Time spent in WAL fsyncs since start.",
                    w.fsync_seconds,
                ),
                (
                    "fedstore_wal_poisoned",
                    "gauge",
                    "1 when a failed WAL write or fsync stopped all writes (restart to recover).",
                    f64::from(u8::from(w.poisoned)),
                ),
            ],
        );
    }

    fn per_source(&self, buf: &mut Vec<u8>, name: &str, values: &[AtomicU64; 3]) {
        for (i, source) in SOURCES.iter().enumerate() {
            let v = values[i].load(Ordering::Relaxed) as f64;
            write_sample(buf, name, [("source", *source)], v, None);
        }
    }
}

/// The head's chunk files (sealed chunks on disk, read through memory maps).
fn chunk_file_metrics(head: &Head, buf: &mut Vec<u8>) {
    let c = head.chunk_file_stats();
    let metrics = [
        (
            "fedstore_head_chunk_files",
            "gauge",
            "Head chunk files on disk (<storage.tsdb.path>/chunks_head).",
            c.files as f64,
        ),
        (
            "fedstore_head_chunk_file_bytes",
            "gauge",
            "Bytes in the head chunk files on disk.",
            c.disk_bytes as f64,
        ),
        (
            "fedstore_head_chunks_sealed_total",
            "counter",
            "Full head chunks moved out of memory into the chunk files since start.",
            c.chunks_written as f64,
        ),
        (
            "fedstore_head_chunk_bytes_written_total",
            "counter",
            "Bytes written to head chunk files since start.",
            c.bytes_written as f64,
        ),
        (
            "fedstore_head_chunk_pending_bytes",
            "gauge",
            "Sealed chunk bytes still in memory, waiting to be written (grows while writes fail).",
            c.pending_bytes as f64,
        ),
        (
            "fedstore_head_chunk_write_errors_total",
            "counter",
            "Failed head chunk file creations or writes (the chunks stay in memory and are retried).",
            c.write_errors as f64,
        ),
    ];
    unlabelled(buf, &metrics);
}

/// Writes metrics without labels: `(name, type, help, value)` each, family lines included.
fn unlabelled(buf: &mut Vec<u8>, metrics: &[(&str, &str, &str, f64)]) {
    for &(name, kind, help, v) in metrics {
        family(buf, name, kind, help);
        write_sample(buf, name, [], v, None);
    }
}

fn family(buf: &mut Vec<u8>, name: &str, kind: &str, help: &str) {
    write_help_line(buf, name, help);
    write_type_line(buf, name, kind);
}

/// `process_*` metrics from `/proc/self`, as client_golang's process collector names them.
fn process_metrics(buf: &mut Vec<u8>) {
    let page = 4096.0;
    let ticks = 100.0; // USER_HZ on Linux
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the parenthesised command name (which may contain spaces).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(vec![], |(_, r)| r.split_whitespace().collect());
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        if let (Some(utime), Some(stime)) = (field(11), field(12)) {
            family(
                buf,
                "process_cpu_seconds_total",
                "counter",
                "Total user and system CPU time spent in seconds.",
            );
            write_sample(
                buf,
                "process_cpu_seconds_total",
                [],
                (utime + stime) / ticks,
                None,
            );
        }
        if let Some(vsize) = field(20) {
            family(
                buf,
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
            );
            write_sample(buf, "process_virtual_memory_bytes", [], vsize, None);
        }
        if let Some(rss) = field(21) {
            family(
                buf,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            write_sample(buf, "process_resident_memory_bytes", [], rss * page, None);
        }
        if let (Some(start), Some(boot)) = (field(19), boot_time()) {
            family(
                buf,
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
            );
            write_sample(
                buf,
                "process_start_time_seconds",
                [],
                boot + start / ticks,
                None,
            );
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        family(
            buf,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        );
        write_sample(buf, "process_open_fds", [], fds.count() as f64, None);
    }
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::parse::{Entry, Format, Parser};

    #[test]
    fn renders_parseable_text_with_counts() {
        let dir = tempfile::tempdir().unwrap();
        let head = Head::open(&dir.path().join("head"), Default::default()).unwrap();
        let m = Metrics::default();
        m.record_append(
            Source::RemoteWrite,
            &AppendStats {
                appended: 7,
                out_of_order: 2,
                out_of_bounds: 3,
                ..Default::default()
            },
        );
        m.record_federate(true);
        m.federate_duration.observe(0.03);
        let mut buf = Vec::new();
        m.render(&head, &mut buf);
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(
            text.contains("fedstore_head_samples_appended_total{source=\"remote_write\"} 7\n"),
            "{text}"
        );
        assert!(
            text.contains("fedstore_head_out_of_order_samples_total{source=\"remote_write\"} 2\n")
        );
        assert!(
            text.contains("fedstore_head_out_of_bounds_samples_total{source=\"remote_write\"} 3\n")
        );
        assert!(
            text.contains("fedstore_federate_request_duration_seconds_bucket{le=\"0.05\"} 1\n")
        );
        assert!(
            text.contains("fedstore_federate_request_duration_seconds_bucket{le=\"0.025\"} 0\n")
        );
        assert!(text.contains("process_resident_memory_bytes "));
        assert!(text.contains("fedstore_head_series_removed_total 0\n"));
        // Our own parser (Prometheus's rules) must accept every line.
        let mut p = Parser::new(&buf, Format::Text);
        let mut samples = 0;
        while let Some(e) = p.next().unwrap() {
            samples += usize::from(matches!(e, Entry::Sample(_)));
        }
        assert!(samples > 20, "{samples} samples");
    }

    #[test]
    fn wal_counters_follow_commits() {
        let dir = tempfile::tempdir().unwrap();
        let opts = fedstore_storage::HeadOptions {
            wal: Some(fedstore_storage::wal::WalOptions::new(
                dir.path().join("wal"),
            )),
            ..Default::default()
        };
        let head = Head::open(&dir.path().join("head"), opts).unwrap();
        let mut app = head.appender();
        let labels = fedstore_storage::Labels::from_pairs([("__name__", "m")]);
        app.append(&labels, 1, 1.0).unwrap();
        app.commit().unwrap();
        let mut buf = Vec::new();
        Metrics::default().render(&head, &mut buf);
        let text = String::from_utf8(buf).unwrap();
        let value = |name: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap();
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert!(value("fedstore_wal_fsyncs_total") >= 1.0, "{text}");
        assert!(value("fedstore_wal_bytes_written_total") > 0.0, "{text}");
        assert_eq!(value("fedstore_wal_poisoned"), 0.0);
    }
}
