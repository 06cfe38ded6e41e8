//! Unit tests of the remote-read core: negotiation, matchers and external labels, request
//! decoding, and both answers decoded with prost (the oracle).
#![expect(
    clippy::big_endian_bytes,
    reason = "frame CRCs and chunk sample counts are big-endian on the wire"
)]

use std::sync::Arc;

use fedstore_storage::{Db, DbOptions, HeadOptions, Labels};
use prost::Message as _;

use super::*;
use crate::query::storage::DbQueryable;

fn label(n: &str, v: &str) -> proto::Label {
    proto::Label {
        name: n.into(),
        value: v.into(),
    }
}

fn matcher(t: i32, n: &str, v: &str) -> proto::LabelMatcher {
    proto::LabelMatcher {
        r#type: t,
        name: n.into(),
        value: v.into(),
    }
}

fn query(start: i64, end: i64, matchers: Vec<proto::LabelMatcher>) -> proto::Query {
    proto::Query {
        start_timestamp_ms: start,
        end_timestamp_ms: end,
        matchers,
        hints: None,
    }
}

#[test]
fn negotiation() {
    // (accepted, expected)
    let cases: Vec<(Vec<i32>, Result<ResponseType, &str>)> = vec![
        (vec![], Ok(ResponseType::Samples)),
        (vec![0], Ok(ResponseType::Samples)),
        (vec![1, 0], Ok(ResponseType::StreamedXorChunks)),
        (vec![5, 0], Ok(ResponseType::Samples)),
        (vec![5, 1], Ok(ResponseType::StreamedXorChunks)),
        (
            vec![5],
            Err(
                "server does not support any of the requested response types: [5]; supported: map[SAMPLES:{} STREAMED_XOR_CHUNKS:{}]",
            ),
        ),
        (
            vec![7, -1],
            Err(
                "server does not support any of the requested response types: [7 -1]; supported: map[SAMPLES:{} STREAMED_XOR_CHUNKS:{}]",
            ),
        ),
    ];
    for (accepted, want) in cases {
        let got = negotiate(&accepted).map_err(|e| (e.status, e.message));
        let want = want.map_err(|m| (400, m.to_owned()));
        assert_eq!(got, want, "accepted {accepted:?}");
    }
}

#[test]
fn external_label_rewrite_and_merge() {
    let ext = ExternalLabels::new(&[
        ("zone".into(), "ie".into()),
        ("region".into(), "eu".into()),
        ("empty".into(), String::new()),
    ]);
    // (matcher, rewritten (op, name, value))
    let cases = vec![
        (matcher(0, "zone", "ie"), (MatchOp::Equal, "zone", "")),
        (matcher(0, "zone", "us"), (MatchOp::Equal, "zone", "us")),
        (matcher(2, "zone", "ie"), (MatchOp::Regex, "zone", "ie")),
        (matcher(1, "zone", "us"), (MatchOp::NotEqual, "zone", "us")),
        (matcher(0, "job", ""), (MatchOp::Equal, "job", "")),
        (matcher(0, "job", "x"), (MatchOp::Equal, "job", "x")),
    ];
    for (m, (op, name, value)) in cases {
        let p = plan(&query(0, 1, vec![m.clone()]), &ext).expect("plans");
        let got = &p.matchers[0];
        assert_eq!(
            (got.op, got.name.as_str(), got.value.as_str()),
            (op, name, value),
            "matcher {m:?}"
        );
    }
    let stored = Labels::from_pairs([("__name__", "cpu"), ("zone", "stored"), ("a", "1")]);
    let mut out = Vec::new();
    ext.merge(&stored, &mut out);
    assert_eq!(
        out,
        vec![
            ("__name__", "cpu"),
            ("a", "1"),
            ("region", "eu"),
            ("zone", "stored")
        ]
    );
}

#[test]
fn plan_errors_and_hints() {
    let ext = ExternalLabels::default();
    let err = plan(&query(0, 1, vec![matcher(2, "a", "(")]), &ext).expect_err("bad regex");
    assert_eq!(
        (err.status, err.message.as_str()),
        (500, "error parsing regexp: missing closing ): `^(?:()$`")
    );
    let err = plan(&query(0, 1, vec![matcher(9, "a", "b")]), &ext).expect_err("bad type");
    assert_eq!(
        (err.status, err.message.as_str()),
        (500, "invalid matcher type")
    );
    let mut q = query(10, 20, vec![]);
    let p = plan(&q, &ext).expect("plans");
    assert_eq!((p.mint_ms, p.maxt_ms), (10, 20));
    q.hints = Some(proto::ReadHints {
        start_ms: 0,
        end_ms: 500,
        step_ms: 15,
        func: "rate".into(),
        ..proto::ReadHints::default()
    });
    let p = plan(&q, &ext).expect("plans");
    assert_eq!((p.mint_ms, p.maxt_ms, p.hints.step_ms), (0, 500, 15));
    assert_eq!(p.hints.func, "rate");
}

#[test]
fn request_decoding_errors() {
    let req = proto::ReadRequest {
        queries: vec![query(1, 2, vec![matcher(0, "__name__", "up")])],
        accepted_response_types: vec![1, 0],
    }
    .encode_to_vec();
    let compress = |b: &[u8]| snap::raw::Encoder::new().compress_vec(b).expect("snappy");
    let got = decode_request(&compress(&req)).expect("decodes");
    assert_eq!(got.accepted_response_types, vec![1, 0]);
    // (case, body, message)
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage", b"garbage".to_vec(), "snappy: corrupt input"),
        ("empty", vec![], "snappy: corrupt input"),
        (
            "truncated protobuf",
            compress(&req[..req.len() - 3]),
            "unexpected EOF",
        ),
    ];
    for (case, body, want) in cases {
        let e = decode_request(&body).expect_err(case);
        assert_eq!((e.status, e.message.as_str()), (400, want), "case {case}");
    }
}

/// A database holding `{__name__="m", i="<i>"}` for i in 0..n with samples at 0, 10, ..., 90 s,
/// the last a staleness marker.
fn open_db(dir: &std::path::Path) -> Arc<Db> {
    Arc::new(Db::open(dir, HeadOptions::default(), DbOptions::default()).expect("db"))
}

fn db_with(n: usize) -> (tempfile::TempDir, Arc<Db>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_db(dir.path());
    let mut app = db.head().appender();
    for k in 0..10i64 {
        for i in 0..n {
            let v = if k == 9 {
                f64::from_bits(fedstore_storage::STALE_NAN_BITS)
            } else {
                (i as f64) + k as f64 / 10.0
            };
            let labels = Labels::from_pairs([("__name__", "m".to_owned()), ("i", i.to_string())]);
            app.append(&labels, k * 10_000, v).expect("append");
        }
    }
    app.commit().expect("commit");
    (dir, db)
}

#[test]
fn samples_answer_matches_the_prost_oracle() {
    let (_dir, db) = db_with(3);
    let src = DbQueryable::new(db);
    let ext = ExternalLabels::new(&[("zone".into(), "ie".into())]);
    let queries = vec![
        query(20_000, 40_000, vec![matcher(0, "__name__", "m")]),
        query(
            0,
            100_000,
            vec![matcher(0, "i", "1"), matcher(0, "zone", "ie")],
        ),
        query(0, 100_000, vec![matcher(0, "nope", "x")]),
    ];
    let raw = samples::encode(&src, &queries, &ext, 0).expect("encodes");
    let got = proto::ReadResponse::decode(raw.as_slice()).expect("decodes");
    let series = |i: usize, ts: &[i64]| proto::TimeSeries {
        labels: vec![
            label("__name__", "m"),
            label("i", &i.to_string()),
            label("zone", "ie"),
        ],
        samples: ts
            .iter()
            .map(|&t| {
                let k = t / 10_000;
                proto::Sample {
                    value: if k == 9 {
                        f64::from_bits(fedstore_storage::STALE_NAN_BITS)
                    } else {
                        i as f64 + k as f64 / 10.0
                    },
                    timestamp: t,
                }
            })
            .collect(),
        ..proto::TimeSeries::default()
    };
    let all: Vec<i64> = (0..10).map(|k| k * 10_000).collect();
    let want = proto::ReadResponse {
        results: vec![
            proto::QueryResult {
                timeseries: (0..3)
                    .map(|i| series(i, &[20_000, 30_000, 40_000]))
                    .collect(),
            },
            proto::QueryResult {
                timeseries: vec![series(1, &all)],
            },
            proto::QueryResult { timeseries: vec![] },
        ],
    };
    // NaN != NaN: compare the re-encoded bytes, which hold the exact bits.
    assert_eq!(got.encode_to_vec(), want.encode_to_vec());
    assert_eq!(raw, want.encode_to_vec());

    let e = samples::encode(&src, &queries, &ext, 8).expect_err("over the limit");
    assert_eq!(
        (e.status, e.message.as_str()),
        (400, "exceeded sample limit (8)")
    );
    assert!(samples::encode(&src, &queries[..1], &ext, 9).is_ok());
}

/// Splits a streamed body into its messages, checking every CRC.
fn frames(body: &[u8]) -> Vec<proto::ChunkedReadResponse> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let len = prost::encoding::decode_varint(&mut rest).expect("length") as usize;
        let (crc, tail) = rest.split_at(4);
        let (msg, tail) = tail.split_at(len);
        let want = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        assert_eq!(crc32c::crc32c(msg), want, "frame CRC");
        out.push(proto::ChunkedReadResponse::decode(msg).expect("frame decodes"));
        rest = tail;
    }
    out
}

/// The samples of an XOR chunk as Prometheus encodes it (2-byte count, then the bits).
fn chunk_samples(c: &proto::Chunk) -> Vec<(i64, u64)> {
    let n = u16::from_be_bytes([c.data[0], c.data[1]]);
    fedstore_storage::testutil::XorIter::new(&c.data[2..], n)
        .map(|(t, v)| (t, v.to_bits()))
        .collect()
}

#[test]
fn streamed_answer_frames_and_splits() {
    let (_dir, db) = db_with(2);
    let src = DbQueryable::new(db);
    let ext = ExternalLabels::new(&[("zone".into(), "ie".into())]);
    let queries = vec![
        query(15_000, 100_000, vec![matcher(0, "i", "1")]),
        query(0, 100_000, vec![matcher(2, "__name__", "m")]),
    ];
    let mut body = Vec::new();
    streamed::stream(
        &src,
        &queries,
        &ext,
        1 << 20,
        DEFAULT_CHUNK_RANGE_MS,
        &mut |b| {
            body.extend_from_slice(&b);
            true
        },
    )
    .expect("streams");
    let got = frames(&body);
    let summary: Vec<(i64, String, usize)> = got
        .iter()
        .map(|f| {
            assert_eq!(f.chunked_series.len(), 1);
            let s = &f.chunked_series[0];
            let names: Vec<String> = s
                .labels
                .iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect();
            (f.query_index, names.join(","), s.chunks.len())
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, "__name__=m,i=1,zone=ie".to_owned(), 1),
            (1, "__name__=m,i=0,zone=ie".to_owned(), 1),
            (1, "__name__=m,i=1,zone=ie".to_owned(), 1),
        ]
    );
    let c = &got[0].chunked_series[0].chunks[0];
    assert_eq!(
        (c.min_time_ms, c.max_time_ms, c.r#type),
        (20_000, 90_000, 1)
    );
    let s = chunk_samples(c);
    assert_eq!(s.len(), 8);
    assert_eq!(s[7], (90_000, fedstore_storage::STALE_NAN_BITS));

    // A frame budget smaller than one chunk: one chunk per frame, a series over several frames.
    let many: Vec<proto::Query> = vec![query(0, 100_000, vec![matcher(0, "i", "0")])];
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_db(dir.path());
    let mut app = db.head().appender();
    let labels = Labels::from_pairs([("__name__", "m"), ("i", "0")]);
    for k in 0..1000i64 {
        app.append(&labels, k * 100, (k * 7 % 13) as f64)
            .expect("append");
    }
    app.commit().expect("commit");
    let src = DbQueryable::new(db);
    let mut body = Vec::new();
    streamed::stream(
        &src,
        &many,
        &ExternalLabels::default(),
        10,
        DEFAULT_CHUNK_RANGE_MS,
        &mut |b| {
            body.extend_from_slice(&b);
            true
        },
    )
    .expect("streams");
    let got = frames(&body);
    assert!(got.len() > 1, "split over {} frames", got.len());
    let mut all = Vec::new();
    for f in &got {
        assert_eq!(f.chunked_series[0].chunks.len(), 1);
        all.extend(chunk_samples(&f.chunked_series[0].chunks[0]));
    }
    let want: Vec<(i64, u64)> = (0..1000i64)
        .map(|k| (k * 100, ((k * 7 % 13) as f64).to_bits()))
        .collect();
    assert_eq!(all, want);
}

#[test]
fn concurrency_gate() {
    let (_dir, db) = db_with(1);
    let storage: Arc<dyn fedstore_promql::Queryable> = Arc::new(DbQueryable::new(db));
    let unlimited = RemoteRead::new(
        storage.clone(),
        ReadLimits {
            concurrent_limit: 0,
            ..ReadLimits::default()
        },
    );
    assert!(unlimited.gate().is_none());
    let two = RemoteRead::new(
        storage,
        ReadLimits {
            concurrent_limit: 2,
            ..ReadLimits::default()
        },
    );
    let gate = two.gate().expect("a gate").clone();
    let a = gate.clone().try_acquire_owned().expect("first");
    let _b = gate.clone().try_acquire_owned().expect("second");
    assert!(gate.clone().try_acquire_owned().is_err(), "a third waits");
    drop(a);
    assert!(gate.try_acquire_owned().is_ok());
}
