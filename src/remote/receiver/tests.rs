//! Receiver tests over a real head.

use std::sync::Arc;

use fedstore_storage::{Head, HeadOptions, Labels, STALE_NAN_BITS};
use prost::Message as _;

use super::*;
use crate::remote::proto::{self, TimeSeries, WriteRequest};

fn head() -> (tempfile::TempDir, Arc<Head>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = Head::open(&dir.path().join("head"), HeadOptions::default()).expect("open head");
    (dir, Arc::new(head))
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries::from_pairs(labels, samples)
}

fn body(timeseries: Vec<TimeSeries>) -> Vec<u8> {
    let req = WriteRequest {
        timeseries,
        metadata: vec![],
    };
    req.encode_snappy().expect("snappy encode")
}

/// The latest sample of the series `labels`, read back through the head's public API.
fn latest(head: &Head, labels: &[(&str, &str)]) -> Option<(i64, u64)> {
    use fedstore_storage::{LabelsRef, LatestSink, MatchOp, Matcher};
    struct One(Option<(i64, u64)>);
    impl LatestSink for One {
        fn sample(&mut self, _: &dyn LabelsRef, t_ms: i64, v: f64) -> bool {
            self.0 = Some((t_ms, v.to_bits()));
            true
        }
    }
    let set: Vec<Matcher> = labels
        .iter()
        .map(|(n, v)| Matcher::new(MatchOp::Equal, *n, *v).expect("equality matcher"))
        .collect();
    let sel = head.select(&[set]);
    assert!(sel.refs.len() <= 1, "matchers select one series at most");
    let mut sink = One(None);
    head.latest(&sel.refs, i64::MIN, i64::MAX, &mut sink);
    sink.0
}

#[test]
fn stores_samples_and_reuses_the_cache() {
    let (_d, head) = head();
    let rx = RemoteWriteReceiver::new(head.clone(), DEFAULT_MAX_DECOMPRESSED_BYTES);
    let up = [("__name__", "up"), ("job", "node")];
    let b1 = body(vec![
        series(&up, &[(1000, 1.0), (2000, 2.0)]),
        series(&[("__name__", "x")], &[(5, 0.5)]),
    ]);
    let stats = rx.ingest(&b1).expect("first batch");
    assert_eq!((stats.appended, stats.series_created), (3, 2));
    assert_eq!(rx.cache.len(), 2);
    // Same series again: served from the cache.
    let stats = rx
        .ingest(&body(vec![series(&up, &[(3000, 3.0)])]))
        .expect("second batch");
    assert_eq!((stats.appended, stats.series_created), (1, 0));
    assert_eq!(latest(&head, &up), Some((3000, 3.0f64.to_bits())));
    assert_eq!(
        latest(&head, &[("__name__", "x")]),
        Some((5, 0.5f64.to_bits()))
    );
    // The uncached path stores the same way.
    ingest(&head, &body(vec![series(&up, &[(4000, 4.0)])]), 1 << 20).expect("uncached");
    assert_eq!(latest(&head, &up), Some((4000, 4.0f64.to_bits())));
}

#[test]
fn stale_markers_are_stored_as_stale() {
    let (_d, head) = head();
    let up = [("__name__", "up")];
    let stale = f64::from_bits(STALE_NAN_BITS);
    ingest(
        &head,
        &body(vec![series(&up, &[(1000, 1.0), (2000, stale)])]),
        1 << 20,
    )
    .expect("ingest");
    // `latest` skips a series whose latest sample is a stale marker.
    assert_eq!(latest(&head, &up), None);
    ingest(&head, &body(vec![series(&up, &[(3000, 7.0)])]), 1 << 20).expect("ingest");
    assert_eq!(latest(&head, &up), Some((3000, 7.0f64.to_bits())));
}

#[test]
fn malformed_requests_store_nothing() {
    let good = series(&[("__name__", "good")], &[(1000, 1.0)]);
    let raw_good = WriteRequest {
        timeseries: vec![good.clone()],
        metadata: vec![],
    }
    .encode_to_vec();
    let mut truncated = raw_good.clone();
    truncated.pop();
    let snappy = |raw: &[u8]| snap::raw::Encoder::new().compress_vec(raw).expect("encode");
    // (case, body, status, response body)
    let cases: Vec<(&str, Vec<u8>, u16, String)> = vec![
        ("empty body", vec![], 400, "snappy: corrupt input\n".into()),
        (
            "not snappy",
            raw_good.clone(),
            400,
            "snappy: corrupt input\n".into(),
        ),
        (
            "framed snappy",
            b"\xff\x06\x00\x00sNaPpY".to_vec(),
            400,
            "snappy: corrupt input\n".into(),
        ),
        (
            "truncated protobuf",
            snappy(&truncated),
            400,
            "unexpected EOF\n".into(),
        ),
        (
            "over the limit",
            snappy(&vec![0u8; 2000]),
            413,
            "decompressed body of 2000 bytes exceeds the limit of 1024 bytes\n".into(),
        ),
        (
            "invalid label name",
            body(vec![
                good.clone(),
                series(&[("__name__", "m"), ("a-b", "x")], &[(1, 1.0)]),
            ]),
            400,
            "invalid label name \"a-b\" in series {__name__=\"m\", a-b=\"x\"}\n".into(),
        ),
        (
            "invalid metric name",
            body(vec![
                good.clone(),
                series(&[("__name__", "1m")], &[(1, 1.0)]),
            ]),
            400,
            "invalid metric name \"1m\" in series {__name__=\"1m\"}\n".into(),
        ),
        (
            "missing metric name",
            body(vec![good.clone(), series(&[("job", "j")], &[(1, 1.0)])]),
            400,
            "missing metric name (__name__ label) in series {job=\"j\"}\n".into(),
        ),
        (
            "duplicate label name",
            body(vec![
                good.clone(),
                series(&[("__name__", "m"), ("a", "1"), ("a", "2")], &[]),
            ]),
            400,
            "duplicate label name \"a\" in series {__name__=\"m\", a=\"1\", a=\"2\"}\n".into(),
        ),
    ];
    for (case, b, status, text) in cases {
        let (_d, head) = head();
        let rx = RemoteWriteReceiver::new(head.clone(), 1024);
        let err = rx.ingest(&b).expect_err(case);
        assert_eq!((err.status(), err.body()), (status, text), "case {case}");
        assert_eq!(head.num_series(), 0, "case {case}: nothing stored");
        assert_eq!(latest(&head, &[("__name__", "good")]), None, "case {case}");
    }
}

#[test]
fn empty_request_is_accepted() {
    let (_d, head) = head();
    // A snappy block of an empty WriteRequest: the header byte 0.
    assert_eq!(ingest(&head, &[0x00], 1024), Ok(AppendStats::default()));
    assert_eq!(
        ingest(&head, &body(vec![]), 1024),
        Ok(AppendStats::default())
    );
}

/// (case, batch, expected error text, series a's latest, series b's latest)
type RejectCase<'a> = (
    &'a str,
    Vec<TimeSeries>,
    Option<&'a str>,
    (i64, f64),
    (i64, f64),
);

#[test]
fn rejected_samples_are_reported_and_the_rest_kept() {
    let (_d, head) = head();
    let rx = RemoteWriteReceiver::new(head.clone(), 1 << 20);
    let a = [("__name__", "a")];
    let b = [("__name__", "b")];
    rx.ingest(&body(vec![
        series(&a, &[(2000, 1.0)]),
        series(&b, &[(2000, 1.0)]),
    ]))
    .expect("seed");

    // (case, batch, expected error text, series a's latest, series b's latest)
    let cases: Vec<RejectCase<'_>> = vec![
        (
            "out of order in a, new sample in b",
            vec![series(&a, &[(1000, 5.0)]), series(&b, &[(3000, 3.0)])],
            Some("out of order sample\n"),
            (2000, 1.0),
            (3000, 3.0),
        ),
        (
            "duplicate in b, new sample in a",
            vec![series(&b, &[(3000, 4.0)]), series(&a, &[(3000, 2.0)])],
            Some("duplicate sample for timestamp\n"),
            (3000, 2.0),
            (3000, 3.0),
        ),
        (
            "same timestamp and value is a silent no-op",
            vec![series(&b, &[(3000, 3.0)])],
            None,
            (3000, 2.0),
            (3000, 3.0),
        ),
    ];
    for (case, batch, want_err, want_a, want_b) in cases {
        let got = rx.ingest(&body(batch));
        match want_err {
            Some(text) => {
                let err = got.expect_err(case);
                assert_eq!((err.status(), err.body().as_str()), (400, text), "{case}");
                assert!(err.stored().is_some(), "{case}");
            }
            None => {
                got.expect(case);
            }
        }
        assert_eq!(
            latest(&head, &a),
            Some((want_a.0, want_a.1.to_bits())),
            "{case}: a"
        );
        assert_eq!(
            latest(&head, &b),
            Some((want_b.0, want_b.1.to_bits())),
            "{case}: b"
        );
    }
}

#[test]
fn histograms_are_refused_but_floats_kept() {
    let (_d, head) = head();
    let mut ts = series(&[("__name__", "h")], &[(1000, 1.0)]);
    ts.histograms.push(proto::Histogram {
        timestamp: 1000,
        ..proto::Histogram::default()
    });
    let err = ingest(&head, &body(vec![ts]), 1 << 20).expect_err("histograms");
    assert_eq!(err.body(), "native histograms are disabled\n");
    assert_eq!(
        latest(&head, &[("__name__", "h")]),
        Some((1000, 1.0f64.to_bits()))
    );
}

#[test]
fn empty_label_values_are_dropped() {
    let (_d, head) = head();
    ingest(
        &head,
        &body(vec![series(&[("__name__", "m"), ("e", "")], &[(1, 1.0)])]),
        1024,
    )
    .expect("ingest");
    let expected = Labels::from_pairs([("__name__", "m")]);
    assert_eq!(expected.len(), 1);
    assert_eq!(
        latest(&head, &[("__name__", "m")]),
        Some((1, 1.0f64.to_bits()))
    );
}
