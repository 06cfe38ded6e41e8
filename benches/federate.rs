//! The federate hot path on the 1M-series node-exporter-like set: selection plus rendering
//! through the `/federate` renderer (text and gzip), on one thread. The HTTP-level numbers
//! against Prometheus come from `tools/` (`peerbench`); this isolates the CPU work per series.
//!
//! Run: `cargo bench --bench federate`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fedstore::api::federate::render::{Encoding, ExternalLabels, Piece, Renderer};
use fedstore_storage::testutil::NodeSetSpec;
use fedstore_storage::{Head, HeadOptions, Matcher, parse_selector};

fn render(head: &Head, sets: &[Vec<Matcher>], ext: &ExternalLabels, enc: Encoding) -> usize {
    let sel = head.select(sets);
    let mut bytes = 0usize;
    let mut r = Renderer::new(ext, enc, |p| {
        if let Piece::Chunk(b) | Piece::First { bytes: b, .. } = p {
            bytes += b.len();
        }
        true
    });
    head.latest(&sel.refs, 0, 2_000, &mut r);
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
    let mut g = c.benchmark_group("federate_render");
    g.sample_size(10);
    for (name, sets) in &shapes {
        let n = head.select(sets).refs.len();
        g.throughput(Throughput::Elements(n as u64));
        for (enc_name, enc) in [("text", Encoding::Identity), ("gzip", Encoding::Gzip)] {
            g.bench_function(format!("{name}/{enc_name}"), |b| {
                b.iter(|| black_box(render(&head, sets, &ext, enc)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_federate);
criterion_main!(benches);
