//! The federate hot path on the 1M-series node-exporter-like set: selection plus rendering
//! through the `/federate` renderer (text and gzip), on one thread. The HTTP-level numbers
//! against Prometheus come from `tools/` (`peerbench`); this isolates the CPU work per series.
//!
//! `*/text_generic` feeds the renderer label strings only (no symbol ids), which disables its
//! prefix-reuse fast path: the difference is what that path buys.
//!
//! Run: `cargo bench --bench federate`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fedstore::api::federate::render::{Encoding, Piece, Renderer};
use fedstore::config::ExternalLabels;
use fedstore_promql::parse_selector;
use fedstore_storage::testutil::NodeSetSpec;
use fedstore_storage::{Head, HeadOptions, LabelsRef, LatestSink, Matcher};

/// Hides the symbol ids of a label set (see the module docs).
struct Generic<'a>(&'a dyn LabelsRef);

impl LabelsRef for Generic<'_> {
    fn metric_name(&self) -> &str {
        self.0.metric_name()
    }
    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        self.0.for_each(f)
    }
}

struct GenericSink<'s>(&'s mut dyn LatestSink);

impl LatestSink for GenericSink<'_> {
    fn sample(&mut self, labels: &dyn LabelsRef, t_ms: i64, v: f64) -> bool {
        self.0.sample(&Generic(labels), t_ms, v)
    }
}

fn render(
    head: &Head,
    sets: &[Vec<Matcher>],
    ext: &ExternalLabels,
    enc: Encoding,
    generic: bool,
) -> usize {
    let sel = head.select(sets);
    let mut bytes = 0usize;
    let mut r = Renderer::new(ext, enc, |p| {
        if let Piece::Chunk(b) | Piece::First { bytes: b, .. } = p {
            bytes += b.len();
        }
        true
    });
    if generic {
        head.latest(&sel.refs, 0, 2_000, &mut GenericSink(&mut r));
    } else {
        head.latest(&sel.refs, 0, 2_000, &mut r);
    }
    r.finish();
    bytes
}

fn bench_federate(c: &mut Criterion) {
    let spec = NodeSetSpec::million();
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(&dir.path().join("head"), HeadOptions::default()).expect("open head");
    spec.load(&head, 1_000, 2_000);
    let ext = ExternalLabels::new(&[("zone".to_owned(), "eu-west-1".to_owned())]);
    let one_name = format!("{{__name__=\"{}\"}}", NodeSetSpec::metric(42));
    let shapes: Vec<(&str, Vec<Vec<Matcher>>)> = vec![
        (
            "all",
            vec![parse_selector("{__name__=~\".+\"}").expect("valid")],
        ),
        (
            "one_name_10k",
            vec![parse_selector(&one_name).expect("valid")],
        ),
    ];
    let variants = [
        ("text", Encoding::Identity, false),
        ("text_generic", Encoding::Identity, true),
        ("gzip", Encoding::Gzip, false),
    ];
    let mut g = c.benchmark_group("federate_render");
    g.sample_size(10);
    for (name, sets) in &shapes {
        let n = head.select(sets).refs.len();
        g.throughput(Throughput::Elements(n as u64));
        for (variant, enc, generic) in variants {
            g.bench_function(format!("{name}/{variant}"), |b| {
                b.iter(|| black_box(render(&head, sets, &ext, enc, generic)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_federate);
criterion_main!(benches);
