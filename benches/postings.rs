//! Selection benches on the 1M-series node-exporter-like set (`testutil::NodeSetSpec::million`):
//! `select` for the federation shapes, and `select` + `latest` through a no-op sink.
//!
//! Run: `cargo bench --bench postings`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fedstore_promql::parse_selector;
use fedstore_storage::testutil::NodeSetSpec;
use fedstore_storage::{Head, HeadOptions, LabelsRef, LatestSink, Matcher};

/// Counts samples; reads the metric name so the label view is exercised.
struct CountSink(usize);

impl LatestSink for CountSink {
    fn sample(&mut self, labels: &dyn LabelsRef, _t_ms: i64, _v: f64) -> bool {
        self.0 += usize::from(!labels.metric_name().is_empty());
        true
    }
}

fn sets(selectors: &[&str]) -> Vec<Vec<Matcher>> {
    selectors
        .iter()
        .map(|s| parse_selector(s).expect("valid selector"))
        .collect()
}

fn bench_select(c: &mut Criterion) {
    let spec = NodeSetSpec::million();
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(&dir.path().join("head"), HeadOptions::default()).expect("open head");
    spec.load(&head, 1_000, 2_000);
    let one_name = format!("{{__name__=\"{}\"}}", NodeSetSpec::metric(42));
    let one_instance = format!("{{instance=\"{}\"}}", NodeSetSpec::instance(500));
    let union_a = format!("{{job=\"node\",__name__=\"{}\"}}", NodeSetSpec::metric(1));
    let union_b = format!("{{__name__=\"{}\"}}", NodeSetSpec::metric(2));
    let shapes: Vec<(&str, Vec<Vec<Matcher>>)> = vec![
        ("all", sets(&["{__name__=~\".+\"}"])),
        ("one_name_10k", sets(&[&one_name])),
        ("one_instance_1k", sets(&[&one_instance])),
        ("job_prefix_regex", sets(&["{__name__=~\"job:.*\"}"])),
        ("job_eq_union_2_names", sets(&[&union_a, &union_b])),
    ];
    let mut g = c.benchmark_group("select");
    for (name, s) in &shapes {
        let n = head.select(s).refs.len();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(*name, |b| b.iter(|| black_box(head.select(black_box(s)))));
    }
    g.finish();
    let mut g = c.benchmark_group("select_latest");
    for (name, s) in &shapes {
        let n = head.select(s).refs.len();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(*name, |b| {
            b.iter(|| {
                let sel = head.select(s);
                let mut sink = CountSink(0);
                head.latest(&sel.refs, 0, 2_000, &mut sink);
                black_box(sink.0)
            })
        });
    }
    g.finish();
    let all = head.select(&shapes[0].1);
    let mut g = c.benchmark_group("latest");
    g.throughput(Throughput::Elements(all.refs.len() as u64));
    g.bench_function("all_1m_noop_sink", |b| {
        b.iter(|| {
            let mut sink = CountSink(0);
            head.latest(&all.refs, 0, 2_000, &mut sink);
            black_box(sink.0)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_select
}
criterion_main!(benches);
