//! Append benches: `append_ref` + `commit` into existing series in batches of 2000 (the
//! scrape/remote-write steady state), and `append` by label set (lookup, no creation).
//!
//! Run: `cargo bench --bench append`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fedstore_storage::testutil::NodeSetSpec;
use fedstore_storage::{Head, HeadOptions};

const BATCH: usize = 2_000;

fn bench_append(c: &mut Criterion) {
    let spec = NodeSetSpec {
        instances: 100,
        metrics: 100,
        series_per_metric: 10,
        aggregated: 0,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(&dir.path().join("head"), HeadOptions::default()).expect("open head");
    let (refs, _) = spec.load(&head, 0, BATCH);
    let labels = spec.labels();
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut t = 0i64;
    let mut start = 0usize;
    g.bench_function("append_ref_commit_batch_2000", |b| {
        b.iter(|| {
            t += 15_000;
            let mut app = head.appender();
            for &r in &refs[start..start + BATCH] {
                app.append_ref(r, t, t as f64).expect("known ref");
            }
            start = (start + BATCH) % (refs.len() - BATCH);
            black_box(app.commit().expect("commit"))
        })
    });
    g.bench_function("append_labels_commit_batch_2000", |b| {
        b.iter(|| {
            t += 15_000;
            let mut app = head.appender();
            for l in &labels[start..start + BATCH] {
                app.append(l, t, 1.0).expect("valid labels");
            }
            start = (start + BATCH) % (labels.len() - BATCH);
            black_box(app.commit().expect("commit"))
        })
    });
    g.finish();
}

criterion_group!(benches, bench_append);
criterion_main!(benches);
