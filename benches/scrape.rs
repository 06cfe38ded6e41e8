//! Scrape bench: one 100k-series target body (text format, node-exporter-like names, ~50-byte
//! label values) parsed and appended in the steady state (every series a cache hit), stale
//! bookkeeping and the synthetic series included: the blocking part of every scrape.
//! Budget: 60 ms per scrape. Besides criterion's wall time the bench prints the thread's CPU
//! time per scrape (from `/proc/thread-self/stat`), which stays meaningful on a loaded machine.
//!
//! Run: `cargo bench --bench scrape`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fedstore::exposition::parse::Format;
use fedstore::scrape::append::{SampleContext, TargetState, scrape_and_report};
use fedstore_storage::{Head, HeadOptions, Labels};

const SERIES: usize = 100_000;

/// 100 metric families of 1000 series, each with three labels.
fn body() -> String {
    let mut s = String::with_capacity(SERIES * 130);
    for m in 0..100 {
        let _ = writeln!(s, "# HELP node_metric_{m}_total A counter.");
        let _ = writeln!(s, "# TYPE node_metric_{m}_total counter");
        for i in 0..SERIES / 100 {
            let _ = writeln!(
                s,
                "node_metric_{m}_total{{device=\"device-{i:05}-abcdefghijklmnopqrstuvwxyz012345\",mode=\"mode-{}\",cpu=\"{}\"}} {}",
                i % 7,
                i % 64,
                (i * 31 + m) as f64 * 1.5
            );
        }
    }
    s
}

fn bench_scrape(c: &mut Criterion) {
    let body = body();
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(&dir.path().join("head"), HeadOptions::default()).expect("open head");
    let ctx = SampleContext::new(Labels::from_pairs([
        ("instance", "node-exporter-0001.example.org:9100"),
        ("job", "node"),
    ]));
    let mut state = TargetState::new();
    let mut t = 1_700_000_000_000i64;
    // The first scrape creates the series and fills the cache.
    let o = scrape_and_report(
        &head,
        &mut state,
        &ctx,
        Ok((body.as_bytes(), Format::Text)),
        t,
        t,
        || Duration::ZERO,
    );
    assert_eq!(o.error, None);
    assert_eq!(o.counts.series_added, SERIES as u64);
    // CPU time per steady-state scrape, immune to other processes competing for the cores.
    if let Some(before) = thread_cpu_ms() {
        const N: i64 = 40;
        for _ in 0..N {
            t += 15_000;
            let o = scrape_and_report(
                &head,
                &mut state,
                &ctx,
                Ok((body.as_bytes(), Format::Text)),
                t,
                t,
                || Duration::ZERO,
            );
            black_box(o);
        }
        if let Some(after) = thread_cpu_ms() {
            println!(
                "scrape/parse_append_100k_steady: thread CPU time {:.1} ms per scrape (mean of {N})",
                (after - before) as f64 / N as f64
            );
        }
    }
    let mut g = c.benchmark_group("scrape");
    g.throughput(Throughput::Elements(SERIES as u64));
    g.sample_size(20);
    g.bench_function("parse_append_100k_steady", |b| {
        b.iter(|| {
            t += 15_000;
            let o = scrape_and_report(
                &head,
                &mut state,
                &ctx,
                Ok((body.as_bytes(), Format::Text)),
                t,
                t,
                || Duration::ZERO,
            );
            assert_eq!(o.counts.series_added, 0);
            black_box(o)
        })
    });
    g.finish();
}

/// User plus system CPU time of the calling thread in ms (Linux, 10 ms clock ticks).
fn thread_cpu_ms() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name in parentheses; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: i64 = f.get(11)?.parse::<i64>().ok()? + f.get(12)?.parse::<i64>().ok()?;
    Some(ticks * 10)
}

criterion_group!(benches, bench_scrape);
criterion_main!(benches);
