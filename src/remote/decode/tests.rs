//! Decoder tests: table cases, and randomized agreement with prost (the oracle).

use prost::Message as _;

use super::*;
use crate::remote::proto::{
    BucketSpan, Exemplar, Histogram, HistogramCount, Label, MetricMetadata, Sample, TimeSeries,
    WriteRequest,
};

/// xorshift64*: deterministic randomness without a dependency.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn label(n: &str, v: &str) -> Label {
    Label {
        name: n.into(),
        value: v.into(),
    }
}

fn random_string(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &["", "a", "node_cpu", "__name__", "é", "job", "xxx"];
    let mut s = String::new();
    for _ in 0..rng.below(4) {
        s.push_str(PIECES[rng.below(PIECES.len() as u64) as usize]);
    }
    if rng.below(10) == 0 {
        s.push_str(&"v".repeat(200));
    }
    s
}

fn random_request(rng: &mut Rng) -> WriteRequest {
    let mut req = WriteRequest::default();
    for _ in 0..rng.below(5) {
        let mut ts = TimeSeries::default();
        for _ in 0..rng.below(5) {
            ts.labels
                .push(label(&random_string(rng), &random_string(rng)));
        }
        for _ in 0..rng.below(4) {
            let v = match rng.below(4) {
                0 => f64::from_bits(fedstore_storage::STALE_NAN_BITS),
                1 => f64::NAN,
                _ => rng.next() as f64 / 7.0,
            };
            ts.samples.push(Sample {
                value: v,
                timestamp: rng.next() as i64 >> rng.below(64),
            });
        }
        if rng.below(4) == 0 {
            ts.exemplars.push(Exemplar {
                labels: vec![label("trace_id", &random_string(rng))],
                value: 1.5,
                timestamp: -5,
            });
        }
        if rng.below(4) == 0 {
            ts.histograms.push(Histogram {
                count: Some(HistogramCount::CountInt(rng.below(100))),
                sum: 2.0,
                schema: -(rng.below(4) as i32),
                positive_spans: vec![BucketSpan {
                    offset: -1,
                    length: 2,
                }],
                positive_deltas: vec![1, -1],
                negative_counts: vec![0.5; rng.below(3) as usize],
                timestamp: 7,
                ..Histogram::default()
            });
        }
        req.timeseries.push(ts);
    }
    if rng.below(4) == 0 {
        req.metadata.push(MetricMetadata {
            r#type: 2,
            metric_family_name: "up".into(),
            help: random_string(rng),
            unit: String::new(),
        });
    }
    req
}

/// Mutates an encoding: flip, insert, delete or truncate bytes.
fn mutate(rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..=rng.below(3) {
        match rng.below(5) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(b.len() as u64 + 1) as usize;
                const INTERESTING: &[u8] = &[0x00, 0x03, 0x04, 0x07, 0x0b, 0x0c, 0x80, 0xff];
                b.insert(i, INTERESTING[rng.below(INTERESTING.len() as u64) as usize]);
            }
            2 if !b.is_empty() => {
                let i = rng.below(b.len() as u64) as usize;
                b.remove(i);
            }
            3 => {
                let n = rng.below(b.len() as u64 + 1) as usize;
                b.truncate(n);
            }
            _ if !b.is_empty() => {
                let i = rng.below(b.len() as u64) as usize;
                b[i] = rng.next() as u8;
            }
            _ => {}
        }
    }
    b
}

#[test]
fn random_requests_decode_like_prost() {
    let mut rng = Rng::new(1);
    for _ in 0..3000 {
        let req = random_request(&mut rng);
        let data = req.encode_to_vec();
        assert!(must_match_prost(&data), "valid request rejected: {req:?}");
    }
}

#[test]
fn mutated_requests_are_accepted_or_rejected_like_prost() {
    let mut rng = Rng::new(2);
    let mut accepted = 0;
    let mut rejected = 0;
    for _ in 0..30_000 {
        let valid = random_request(&mut rng).encode_to_vec();
        let data = mutate(&mut rng, valid);
        if must_match_prost(&data) {
            accepted += 1;
        } else {
            rejected += 1;
        }
    }
    // Both outcomes must be exercised for the comparison to mean anything.
    assert!(
        accepted > 1000 && rejected > 1000,
        "accepted {accepted}, rejected {rejected}"
    );
}

#[test]
fn random_bytes_are_accepted_or_rejected_like_prost() {
    let mut rng = Rng::new(3);
    for _ in 0..30_000 {
        let n = rng.below(24) as usize;
        let data: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        must_match_prost(&data);
    }
}

#[test]
fn decode_errors() {
    // (case, input, expected error text)
    // 101 nested start-group keys of unknown field 5.
    let deep_group = vec![0x2b; 101];
    let cases: &[(&str, Vec<u8>, &str)] = &[
        ("truncated length", vec![0x0a, 0x05, 0x0a], "unexpected EOF"),
        ("truncated varint", vec![0x0a, 0x80], "unexpected EOF"),
        (
            "tag zero",
            vec![0x02, 0x00],
            "proto: WriteRequest: illegal tag 0 (wire type 2)",
        ),
        ("wire type 7", vec![0x0f], "proto: illegal wireType 7"),
        (
            "end group at top",
            vec![0x0c],
            "proto: WriteRequest: wiretype end group for non-group",
        ),
        (
            "timeseries as varint",
            vec![0x08, 0x01],
            "proto: wrong wireType = 0 for field Timeseries",
        ),
        (
            "sample value as varint",
            vec![0x0a, 0x04, 0x12, 0x02, 0x08, 0x01],
            "proto: wrong wireType = 0 for field Value",
        ),
        (
            "label name not utf-8",
            vec![0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0xff],
            "proto: invalid UTF-8 in string field Name",
        ),
        (
            "11-byte varint",
            [vec![0x10], vec![0xff; 10], vec![0x01]].concat(),
            "proto: integer overflow",
        ),
        (
            "mismatched end group",
            vec![0x13, 0x1c],
            "proto: unexpected end of group",
        ),
        (
            "groups too deep",
            deep_group,
            "proto: recursion limit reached",
        ),
    ];
    for (case, input, want) in cases {
        let mut view = WriteRequestView::default();
        let err = view.decode(input).expect_err(case);
        assert_eq!(err.to_string(), *want, "case {case}");
        must_match_prost(input);
    }
}

#[test]
fn decodes_labels_samples_and_stale_markers() {
    let stale = f64::from_bits(fedstore_storage::STALE_NAN_BITS);
    let req = WriteRequest {
        timeseries: vec![
            TimeSeries {
                labels: vec![label("__name__", "up"), label("job", "node")],
                samples: vec![
                    Sample {
                        value: 1.0,
                        timestamp: 1000,
                    },
                    Sample {
                        value: stale,
                        timestamp: -2000,
                    },
                ],
                ..TimeSeries::default()
            },
            TimeSeries {
                labels: vec![label("__name__", "x")],
                ..TimeSeries::default()
            },
        ],
        metadata: vec![],
    };
    let data = req.encode_to_vec();
    let mut view = WriteRequestView::default();
    view.decode(&data).expect("valid request");
    assert_eq!(view.series.len(), 2);
    let s0 = view.series[0];
    assert_eq!(
        view.labels_of(&s0),
        &[
            LabelView {
                name: "__name__",
                value: "up"
            },
            LabelView {
                name: "job",
                value: "node"
            }
        ]
    );
    let samples = view.samples_of(&s0);
    assert_eq!((samples[0].t_ms, samples[0].v), (1000, 1.0));
    assert_eq!(samples[1].t_ms, -2000);
    assert_eq!(samples[1].v.to_bits(), fedstore_storage::STALE_NAN_BITS);
    assert!(view.samples_of(&view.series[1]).is_empty());
}

#[test]
fn raw_label_run_is_set_only_when_contiguous() {
    // Labels first (what senders do): the run covers exactly the label fields.
    let ts = TimeSeries {
        labels: vec![label("__name__", "up"), label("a", "b")],
        samples: vec![Sample {
            value: 1.0,
            timestamp: 1,
        }],
        ..TimeSeries::default()
    };
    let data = WriteRequest {
        timeseries: vec![ts.clone()],
        metadata: vec![],
    }
    .encode_to_vec();
    let mut view = WriteRequestView::default();
    view.decode(&data).expect("valid");
    let labels_only = TimeSeries {
        labels: ts.labels.clone(),
        ..TimeSeries::default()
    };
    assert_eq!(
        view.series[0].labels_raw,
        labels_only.encode_to_vec().as_slice()
    );

    // A sample between two labels: no run.
    let mut interleaved = Vec::new();
    prost::encoding::message::encode(1, &ts.labels[0], &mut interleaved);
    prost::encoding::message::encode(2, &ts.samples[0], &mut interleaved);
    prost::encoding::message::encode(1, &ts.labels[1], &mut interleaved);
    let mut data = Vec::new();
    prost::encoding::bytes::encode(1, &interleaved, &mut data);
    let mut view = WriteRequestView::default();
    view.decode(&data).expect("valid");
    assert!(view.series[0].labels_raw.is_empty());
    assert_eq!(view.labels.len(), 2);
    must_match_prost(&data);
}

#[test]
fn recycle_keeps_allocations() {
    let data = random_request(&mut Rng::new(9)).encode_to_vec();
    let mut view = WriteRequestView::default();
    view.decode(&data).expect("valid");
    view.labels.reserve(100);
    let cap = view.labels.capacity();
    let again: WriteRequestView<'static> = view.recycle();
    assert_eq!(again.labels.capacity(), cap);
    assert!(again.labels.is_empty() && again.series.is_empty());
}
