//! PromQL engine benches over an in-memory store (`fedstore_promql::testutil::MemStorage`), so
//! they measure evaluation only (no storage decoding):
//! - `promql/instant_sum_by_job_rate_100k`: `sum by (job) (rate(x[5m]))` at one instant over
//!   100,000 series of 15 s samples (10 jobs);
//! - `promql/range_sum_by_instance_rate_10k_1h`: the range query
//!   `sum by (instance) (rate(y[5m]))` over 1 h at 15 s (241 steps) and 10,000 series.
//!
//! Run: `cargo bench --bench promql`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fedstore_promql::ast::{AggOp, AggregateExpr, Call, Expr, MatrixSelector, VectorSelector};
use fedstore_promql::testutil::MemStorage;
use fedstore_promql::{Engine, EngineOptions, Value};
use fedstore_storage::{Labels, MatchOp, Matcher};

const STEP_MS: i64 = 15_000;

/// `n` counters named `name`, label values about as long as node-exporter's, samples every
/// 15 s over `[0, span_ms]`.
fn store(name: &str, n: usize, span_ms: i64) -> MemStorage {
    let mut st = MemStorage::new();
    for i in 0..n {
        let labels = Labels::from_pairs([
            ("__name__", name.to_owned()),
            ("job", format!("node-exporter-{}", i % 10)),
            (
                "instance",
                format!("host-{:06}.datacenter-{}.example.org:9100", i / 10, i % 7),
            ),
            (
                "mode",
                ["idle", "user", "system", "iowait"][i % 4].to_owned(),
            ),
        ]);
        let samples = (0..=span_ms / STEP_MS)
            .map(|k| (k * STEP_MS, (k as f64) * (1.0 + (i % 13) as f64)))
            .collect();
        st.add_series(labels, samples);
    }
    st.finish();
    st
}

/// `sum by (<by>) (rate(<name>[5m]))`.
fn sum_rate(name: &str, by: &str) -> Expr {
    let vs = VectorSelector {
        name: Some(name.into()),
        matchers: vec![Matcher::new(MatchOp::Equal, "__name__", name).expect("matcher")],
        offset_ms: 0,
        at: None,
    };
    Expr::Aggregate(AggregateExpr {
        op: AggOp::Sum,
        expr: Box::new(Expr::Call(Call {
            func: "rate".into(),
            args: vec![Expr::Matrix(MatrixSelector {
                vs,
                range_ms: 300_000,
            })],
        })),
        param: None,
        grouping: vec![by.into()],
        without: false,
    })
}

fn bench_instant(c: &mut Criterion) {
    let n = 100_000;
    let span = 10 * 60_000;
    let st = store("x", n, span);
    let engine = Engine::new(EngineOptions::default());
    let expr = sum_rate("x", "job");
    let mut g = c.benchmark_group("promql");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20);
    g.bench_function("instant_sum_by_job_rate_100k", |b| {
        b.iter(|| {
            let v = engine.instant(&st, &expr, span).expect("query");
            assert!(matches!(&v, Value::Vector(s) if s.len() == 10));
            black_box(v)
        })
    });
    g.finish();
}

fn bench_range(c: &mut Criterion) {
    let n = 10_000;
    let span = 65 * 60_000;
    let st = store("y", n, span);
    let engine = Engine::new(EngineOptions::default());
    let expr = sum_rate("y", "instance");
    let mut g = c.benchmark_group("promql");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("range_sum_by_instance_rate_10k_1h", |b| {
        b.iter(|| {
            let v = engine
                .range(&st, &expr, 5 * 60_000, span, STEP_MS)
                .expect("query");
            assert!(matches!(&v, Value::Matrix(s) if !s.is_empty()));
            black_box(v)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_instant, bench_range);
criterion_main!(benches);
