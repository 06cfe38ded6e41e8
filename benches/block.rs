//! Block benches: compaction of a head range into a block (node-exporter-like series, 120
//! samples each, 15 s apart, counter-like values) and a range select over the block, plus a
//! one-shot report of bytes per sample on disk and compaction time.
//!
//! Run: `cargo bench --bench block` (100k series). The full-size report (1M series x 120
//! samples): `FEDSTORE_BLOCK_SERIES=1m cargo bench --bench block -- report`.
//! `FEDSTORE_BLOCK_JITTER=1` adds 0-4 ms scrape jitter to timestamps; `FEDSTORE_BLOCK_UNIFORM=1`
//! uses uniform increments (a worst case) instead of steady rates.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fedstore_promql::parse_selector;
use fedstore_storage::testutil::Block;
use fedstore_storage::testutil::compact_head;
use fedstore_storage::testutil::{NodeSetSpec, counter_step, mix};
use fedstore_storage::{Head, HeadOptions, SeriesRef};

const SAMPLES: i64 = 120;
const STEP_MS: i64 = 15_000;

fn spec() -> NodeSetSpec {
    match std::env::var("FEDSTORE_BLOCK_SERIES").as_deref() {
        Ok("1m") => NodeSetSpec::million(),
        _ => NodeSetSpec {
            instances: 100,
            metrics: 100,
            series_per_metric: 10,
            aggregated: 100,
        },
    }
}

/// The value of series `i` after its next increment.
fn value(i: u64, k: u64, acc: &mut u64, uniform: bool) -> f64 {
    *acc += counter_step(i, k, uniform);
    if i % 4 == 3 {
        *acc as f64 / 100.0
    } else {
        *acc as f64
    }
}

/// A head holding `SAMPLES` samples of every series of `spec`.
fn loaded_head(dir: &std::path::Path, spec: &NodeSetSpec) -> Head {
    let head = Head::open(&dir.join("head"), HeadOptions::default()).expect("open head");
    let (refs, _) = spec.load(&head, 0, 10_000);
    let jitter = std::env::var("FEDSTORE_BLOCK_JITTER").is_ok();
    let uniform = std::env::var("FEDSTORE_BLOCK_UNIFORM").is_ok();
    let mut acc = vec![0u64; refs.len()];
    for k in 1..SAMPLES {
        for (chunk_start, chunk) in refs
            .chunks(10_000)
            .enumerate()
            .map(|(c, r)| (c * 10_000, r))
        {
            let mut app = head.appender();
            for (j, &r) in chunk.iter().enumerate() {
                let i = (chunk_start + j) as u64;
                let t = k * STEP_MS
                    + if jitter {
                        (mix(i, k as u64) % 5) as i64
                    } else {
                        0
                    };
                app.append_ref(r, t, value(i, k as u64, &mut acc[i as usize], uniform))
                    .expect("known ref");
            }
            app.commit().expect("commit");
        }
    }
    let _: &[SeriesRef] = &refs;
    head
}

fn bench_block(c: &mut Criterion) {
    let spec = spec();
    let dir = tempfile::tempdir().expect("tempdir");
    let t0 = Instant::now();
    let head = loaded_head(dir.path(), &spec);
    let load = t0.elapsed();
    let maxt = SAMPLES * STEP_MS;
    let blocks = dir.path().join("blocks");
    std::fs::create_dir_all(&blocks).expect("mkdir");
    let t0 = Instant::now();
    let meta = compact_head(&head, &blocks, 0, maxt)
        .expect("compact")
        .expect("a block");
    let took = t0.elapsed();
    let block = Block::open(&blocks.join(&meta.ulid)).expect("open block");
    let bytes = block.size_bytes();
    let chunk_bytes: u64 = std::fs::read_dir(blocks.join(&meta.ulid).join("chunks"))
        .expect("chunks dir")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum();
    eprintln!(
        "block report: {} series, {} samples; head load {:.1?}; compaction {:.2?}; \
         block {} bytes = {:.3} bytes/sample ({:.3} of it chunks, index {} bytes)",
        meta.stats.num_series,
        meta.stats.num_samples,
        load,
        took,
        bytes,
        bytes as f64 / meta.stats.num_samples as f64,
        chunk_bytes as f64 / meta.stats.num_samples as f64,
        bytes - chunk_bytes
    );
    let mut g = c.benchmark_group("block");
    g.sample_size(10);
    g.throughput(Throughput::Elements(meta.stats.num_samples));
    g.bench_function("compact_head_range", |b| {
        b.iter(|| {
            let out = tempfile::tempdir_in(dir.path()).expect("tempdir");
            black_box(compact_head(&head, out.path(), 0, maxt).expect("compact"))
        })
    });
    let sets = vec![parse_selector("{__name__=~\"node_metric_00.*\"}").expect("selector")];
    g.throughput(Throughput::Elements(
        block.select(&sets).expect("select").len(),
    ));
    g.bench_function("block_select_and_read_series", |b| {
        b.iter(|| {
            let mut cache = fedstore_storage::testutil::PageCache::new().expect("cache");
            let mut out = Vec::new();
            for id in block.select(&sets).expect("select") {
                out.clear();
                block
                    .samples(id, 0, maxt, &mut cache, &mut out)
                    .expect("read");
                black_box(&out);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_block);
criterion_main!(benches);
