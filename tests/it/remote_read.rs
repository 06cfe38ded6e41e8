//! `POST /api/v1/read` against the real server: every case of prometheus-api.md §6 and rows
//! 58-60 of §8, with requests built and answers decoded by prost (the oracle client). The same
//! requests go to a live Prometheus 2.42 in `remote_read_live.rs`.
#![expect(
    clippy::big_endian_bytes,
    reason = "frame CRCs and chunk sample counts are big-endian on the wire"
)]

use std::io::Read as _;

use fedstore::remote::proto::{
    ChunkedReadResponse, Label, LabelMatcher, Query, ReadHints, ReadRequest, ReadResponse, Sample,
    TimeSeries, WriteRequest,
};
use fedstore::remote::read::ReadLimits;
use prost::Message as _;

use crate::support::{Options, TestServer};

/// Prometheus's staleness marker.
pub const STALE: u64 = 0x7ff0_0000_0000_0002;

/// An HTTP answer with all its headers.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of header `name` (lower-case), `""` if absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The SAMPLES answer, snappy-decoded.
    pub fn samples(&self) -> ReadResponse {
        assert_eq!(self.status, 200, "body: {}", self.text());
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&self.body)
            .expect("snappy body");
        ReadResponse::decode(raw.as_slice()).expect("ReadResponse")
    }
}

/// `POST url` with `body` and the headers Prometheus's remote-read client sends.
pub fn post_read(url: &str, body: &[u8]) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent
        .post(format!("{url}/api/v1/read"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Read-Version", "0.1.0")
        .send(body)
        .expect("request");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let mut body = Vec::new();
    resp.into_body()
        .into_reader()
        .read_to_end(&mut body)
        .expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

/// A snappy-compressed request.
pub fn body(req: &ReadRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .expect("snappy")
}

/// A snappy block of raw (possibly malformed) protobuf bytes.
pub fn snappy_raw(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).expect("snappy")
}

/// `POST /api/v1/read` of `req`.
pub fn read(url: &str, req: &ReadRequest) -> Reply {
    post_read(url, &body(req))
}

/// A matcher: `op` is `=`, `!=`, `=~` or `!~`.
pub fn m(name: &str, op: &str, value: &str) -> LabelMatcher {
    let t = match op {
        "=" => 0,
        "!=" => 1,
        "=~" => 2,
        _ => 3,
    };
    LabelMatcher {
        r#type: t,
        name: name.into(),
        value: value.into(),
    }
}

/// A query over `[start_ms, end_ms]` without hints.
pub fn q(start_ms: i64, end_ms: i64, matchers: Vec<LabelMatcher>) -> Query {
    Query {
        start_timestamp_ms: start_ms,
        end_timestamp_ms: end_ms,
        matchers,
        hints: None,
    }
}

/// A request of `queries` accepting `accepted`.
pub fn req(queries: Vec<Query>, accepted: &[i32]) -> ReadRequest {
    ReadRequest {
        queries,
        accepted_response_types: accepted.to_vec(),
    }
}

fn ts(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect(),
        samples: samples
            .iter()
            .map(|&(t, v)| Sample {
                value: v,
                timestamp: t,
            })
            .collect(),
        ..TimeSeries::default()
    }
}

/// The part of dataset D (prometheus-api.md §8) remote read needs, in write order, times in ms.
pub fn dataset() -> Vec<TimeSeries> {
    let s = 1000;
    let mut d = vec![
        ts(&[("__name__", "ord"), ("k", "z")], &[(100 * s, 1.0)]),
        ts(&[("__name__", "ord"), ("k", "a")], &[(100 * s, 2.0)]),
        ts(&[("__name__", "ord"), ("k", "m")], &[(100 * s, 3.0)]),
        ts(
            &[("__name__", "st")],
            &[
                (100 * s, 1.0),
                (110 * s, 2.0),
                (120 * s, f64::from_bits(STALE)),
                (200 * s, 3.0),
            ],
        ),
        ts(
            &[("__name__", "b")],
            &(0..=10)
                .map(|i| ((100 + 10 * i) * s, i as f64))
                .collect::<Vec<_>>(),
        ),
        ts(&[("__name__", "lb")], &[(100 * s, 7.0)]),
        ts(
            &[("__name__", "c1"), ("job", "j"), ("i", "1")],
            &[10.0, 20.0, 30.0, 40.0, 50.0, 5.0, 15.0, 25.0, 35.0, 45.0]
                .iter()
                .enumerate()
                .map(|(k, &v)| ((10 + 10 * k as i64) * s, v))
                .collect::<Vec<_>>(),
        ),
        ts(&[("__name__", "fmt"), ("k", "negzero")], &[(100 * s, -0.0)]),
        ts(&[("__name__", "fmt"), ("k", "big")], &[(100 * s, 1e21)]),
        ts(&[("__name__", "up_l"), ("Zz", "a")], &[(100 * s, 1.0)]),
        ts(&[("__name__", "up_l"), ("aa", "a")], &[(100 * s, 2.0)]),
        ts(
            &[("__name__", "sq")],
            &(0..=200).map(|t| (t * s, t as f64)).collect::<Vec<_>>(),
        ),
    ];
    for (env, host, v) in [("prod", "h1", 1.0), ("prod", "h2", 2.0), ("dev", "h3", 3.0)] {
        d.push(ts(
            &[("__name__", "cpu"), ("env", env), ("host", host)],
            &[(100 * s, v)],
        ));
    }
    for (env, host, job, v) in [
        ("prod", "h1", "x", 10.0),
        ("prod", "h2", "x", 20.0),
        ("dev", "h3", "x", 30.0),
        ("dev", "h4", "y", f64::NAN),
    ] {
        d.push(ts(
            &[
                ("__name__", "mem"),
                ("env", env),
                ("host", host),
                ("job", job),
            ],
            &[(100 * s, v)],
        ));
    }
    d
}

/// Remote-writes the dataset to `base` (`/api/v1/write`), one series per request so each
/// series is created in dataset order.
pub fn load(base: &str) {
    for series in dataset() {
        let raw = WriteRequest {
            timeseries: vec![series],
            metadata: vec![],
        }
        .encode_to_vec();
        let compressed = snap::raw::Encoder::new()
            .compress_vec(&raw)
            .expect("snappy");
        let a = crate::support::post(
            &format!("{base}/api/v1/write"),
            "application/x-protobuf",
            &compressed,
        );
        assert_eq!(a.status, 204, "remote write to {base}: {}", a.text());
    }
}

/// The external labels of the serving node in every case.
pub fn external_labels() -> Vec<(String, String)> {
    vec![
        ("zone".to_owned(), "ie".to_owned()),
        ("region".to_owned(), "eu".to_owned()),
    ]
}

/// A server holding the dataset, with the external labels and `limits`.
fn server(limits: ReadLimits) -> TestServer {
    let srv = TestServer::start_with(Options {
        external_labels: external_labels(),
        remote_read: Some(limits),
        ..Options::default()
    });
    load(srv.url());
    srv
}

/// Splits a streamed body into its messages, checking every frame's CRC32-Castagnoli; returns
/// the messages and the bytes after the last whole frame (an appended error text).
pub fn frames(body: &[u8]) -> (Vec<ChunkedReadResponse>, String) {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let mut probe = rest;
        let Ok(len) = prost::encoding::decode_varint(&mut probe) else {
            break;
        };
        let len = len as usize;
        if probe.len() < 4 + len {
            break;
        }
        let crc = u32::from_be_bytes([probe[0], probe[1], probe[2], probe[3]]);
        let msg = &probe[4..4 + len];
        if crc32c::crc32c(msg) != crc {
            break;
        }
        out.push(ChunkedReadResponse::decode(msg).expect("frame decodes"));
        rest = &probe[4 + len..];
    }
    (out, String::from_utf8_lossy(rest).into_owned())
}

/// `name=value,...` of a label list.
pub fn names(labels: &[Label]) -> String {
    let v: Vec<String> = labels
        .iter()
        .map(|l| format!("{}={}", l.name, l.value))
        .collect();
    v.join(",")
}

/// The samples of a Prometheus XOR chunk (2-byte big-endian count, then the bits).
pub fn chunk_samples(data: &[u8]) -> Vec<(i64, u64)> {
    let n = u16::from_be_bytes([data[0], data[1]]);
    fedstore_storage::testutil::XorIter::new(&data[2..], n)
        .map(|(t, v)| (t, v.to_bits()))
        .collect()
}

/// Every request the differential test replays against Prometheus: (case, body).
pub fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let name = |n: &str| m("__name__", "=", n);
    let all = 0..=300_000i64;
    let (s, e) = (*all.start(), *all.end());
    let with_hints = |start: i64, end: i64| Query {
        hints: Some(ReadHints {
            start_ms: start,
            end_ms: end,
            ..ReadHints::default()
        }),
        ..q(110_000, 120_000, vec![name("b")])
    };
    let mut truncated = req(vec![q(s, e, vec![name("st")])], &[]).encode_to_vec();
    truncated.truncate(truncated.len() - 2);
    vec![
        (
            "row 58: st",
            body(&req(vec![q(s, e, vec![name("st")])], &[])),
        ),
        (
            "row 59: zone=ie",
            body(&req(
                vec![q(s, e, vec![name("cpu"), m("zone", "=", "ie")])],
                &[],
            )),
        ),
        (
            "row 59: zone=~ie",
            body(&req(
                vec![q(s, e, vec![name("cpu"), m("zone", "=~", "ie")])],
                &[],
            )),
        ),
        (
            "row 59: zone!=us",
            body(&req(
                vec![q(s, e, vec![name("cpu"), m("zone", "!=", "us")])],
                &[],
            )),
        ),
        (
            "row 59: zone=us",
            body(&req(
                vec![q(s, e, vec![name("cpu"), m("zone", "=", "us")])],
                &[],
            )),
        ),
        (
            "row 60: streamed",
            body(&req(
                vec![
                    q(s, e, vec![m("__name__", "=~", "ord|st")]),
                    q(s, e, vec![name("lb")]),
                ],
                &[1, 0],
            )),
        ),
        (
            "negotiation [5]",
            body(&req(vec![q(s, e, vec![name("lb")])], &[5])),
        ),
        (
            "negotiation [5,0]",
            body(&req(vec![q(s, e, vec![name("lb")])], &[5, 0])),
        ),
        (
            "empty result",
            body(&req(vec![q(s, e, vec![name("nope")])], &[])),
        ),
        ("zero queries", body(&req(vec![], &[]))),
        ("zero queries streamed", body(&req(vec![], &[1]))),
        ("hints wider", body(&req(vec![with_hints(0, 300_000)], &[]))),
        ("hints zero", body(&req(vec![with_hints(0, 0)], &[]))),
        (
            "bad regex",
            body(&req(vec![q(s, e, vec![m("__name__", "=~", "(")])], &[])),
        ),
        (
            "bad regex streamed",
            body(&req(vec![q(s, e, vec![m("__name__", "=~", "(")])], &[1])),
        ),
        (
            "bad regex after frames",
            body(&req(
                vec![
                    q(s, e, vec![name("lb")]),
                    q(s, e, vec![m("__name__", "=~", "(")]),
                ],
                &[1],
            )),
        ),
        (
            "foo=\"\" alone",
            body(&req(vec![q(s, e, vec![m("foo", "=", "")])], &[])),
        ),
        ("no matchers", body(&req(vec![q(s, e, vec![])], &[]))),
        ("snappy garbage", b"garbage".to_vec()),
        (
            "truncated protobuf",
            snap::raw::Encoder::new()
                .compress_vec(&truncated)
                .expect("snappy"),
        ),
        ("wrong wire type", snappy_raw(b"\x08\x01")),
        ("illegal tag 0", snappy_raw(b"\x00")),
        ("matcher wrong wire type", snappy_raw(b"\x0a\x02\x18\x01")),
        (
            "invalid UTF-8 name",
            snappy_raw(b"\x0a\x0b\x1a\x09\x12\x01\xff\x1a\x04\x08\x00\x10\x01"),
        ),
        (
            "unknown field skipped",
            snappy_raw(b"\x0a\x02\x48\x01\x38\x05"),
        ),
        ("packed accepted types", snappy_raw(b"\x12\x02\x01\x00")),
        (
            "negative zero",
            body(&req(vec![q(s, e, vec![name("fmt")])], &[])),
        ),
        (
            "b cut to [150000, 160000]",
            body(&req(vec![q(150_000, 160_000, vec![name("b")])], &[1])),
        ),
        (
            "up_l order",
            body(&req(vec![q(s, e, vec![name("up_l")])], &[1])),
        ),
        (
            "sq samples",
            body(&req(vec![q(s, e, vec![name("sq")])], &[])),
        ),
        (
            "sq streamed",
            body(&req(vec![q(s, e, vec![name("sq")])], &[1])),
        ),
        (
            "sq part streamed",
            body(&req(vec![q(50_000, 150_000, vec![name("sq")])], &[1])),
        ),
        (
            "SAMPLES series order",
            body(&req(
                vec![q(s, e, vec![m("__name__", "=~", "ord|mem|cpu")])],
                &[],
            )),
        ),
        (
            "mem NaN",
            body(&req(vec![q(s, e, vec![name("mem")])], &[0])),
        ),
    ]
}

#[test]
fn remote_read_cases_of_the_reference() {
    let srv = server(ReadLimits::default());
    let url = srv.url();
    let by_name = |case: &str| -> Reply {
        let (_, b) = cases()
            .into_iter()
            .find(|(n, _)| *n == case)
            .expect("case exists");
        post_read(url, &b)
    };

    // Row 58: one series with the external labels, the staleness marker bit-exact.
    let r = by_name("row 58: st");
    assert_eq!(r.header("content-type"), "application/x-protobuf");
    assert_eq!(r.header("content-encoding"), "snappy");
    let res = r.samples();
    assert_eq!(res.results.len(), 1);
    let series = &res.results[0].timeseries;
    assert_eq!(series.len(), 1);
    assert_eq!(names(&series[0].labels), "__name__=st,region=eu,zone=ie");
    let got: Vec<(i64, u64)> = series[0]
        .samples
        .iter()
        .map(|s| (s.timestamp, s.value.to_bits()))
        .collect();
    assert_eq!(
        got,
        vec![
            (100_000, 1f64.to_bits()),
            (110_000, 2f64.to_bits()),
            (120_000, STALE),
            (200_000, 3f64.to_bits())
        ]
    );

    // Row 59: an `=` matcher on an external label with its value matches everything; others
    // are passed through (stored series lack the label).
    for (case, want) in [
        ("row 59: zone=ie", 3),
        ("row 59: zone=~ie", 0),
        ("row 59: zone!=us", 3),
        ("row 59: zone=us", 0),
    ] {
        let n = by_name(case).samples().results[0].timeseries.len();
        assert_eq!(n, want, "case {case}");
    }

    // Row 60: one series per frame, sorted, then the second query; CRCs valid; no snappy.
    let r = by_name("row 60: streamed");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"
    );
    assert_eq!(r.header("content-encoding"), "");
    let (fr, tail) = frames(&r.body);
    assert_eq!(tail, "");
    let got: Vec<(i64, String)> = fr
        .iter()
        .map(|f| {
            assert_eq!(f.chunked_series.len(), 1);
            (f.query_index, names(&f.chunked_series[0].labels))
        })
        .collect();
    let want: Vec<(i64, String)> = [
        (0, "__name__=ord,k=a,region=eu,zone=ie"),
        (0, "__name__=ord,k=m,region=eu,zone=ie"),
        (0, "__name__=ord,k=z,region=eu,zone=ie"),
        (0, "__name__=st,region=eu,zone=ie"),
        (1, "__name__=lb,region=eu,zone=ie"),
    ]
    .iter()
    .map(|(i, s)| (*i, (*s).to_owned()))
    .collect();
    assert_eq!(got, want);
    let st = &fr[3].chunked_series[0].chunks;
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].r#type, 1, "XOR");
    assert_eq!(chunk_samples(&st[0].data)[2], (120_000, STALE));

    // Negotiation.
    let r = by_name("negotiation [5]");
    assert_eq!(
        (r.status, r.header("content-type")),
        (400, "text/plain; charset=utf-8")
    );
    assert_eq!(
        r.text(),
        "server does not support any of the requested response types: [5]; supported: map[SAMPLES:{} STREAMED_XOR_CHUNKS:{}]\n"
    );
    assert_eq!(r.header("x-content-type-options"), "nosniff");
    let r = by_name("negotiation [5,0]");
    assert_eq!(r.samples().results[0].timeseries.len(), 1);

    // Empty answers: 4 bytes for one empty result, 1 byte for no queries, nothing streamed.
    let r = by_name("empty result");
    assert_eq!((r.status, r.body.len()), (200, 4));
    assert_eq!(r.samples().results.len(), 1);
    assert_eq!(by_name("zero queries").body.len(), 1);
    let r = by_name("zero queries streamed");
    assert_eq!((r.status, r.body.len()), (200, 0));

    // Hints replace the query range.
    let b = |r: Reply| -> Vec<i64> {
        let res = r.samples();
        res.results[0]
            .timeseries
            .iter()
            .flat_map(|s| s.samples.iter().map(|x| x.timestamp))
            .collect()
    };
    assert_eq!(b(by_name("hints wider")).len(), 11);
    assert_eq!(b(by_name("hints zero")), Vec::<i64>::new());

    // A bad regex is a 500; in SAMPLES mode `Content-Encoding: snappy` stays on the text.
    let regex_err = "error parsing regexp: missing closing ): `^(?:()$`\n";
    let r = by_name("bad regex");
    assert_eq!((r.status, r.text().as_str()), (500, regex_err));
    assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(r.header("content-encoding"), "snappy");
    let r = by_name("bad regex streamed");
    assert_eq!((r.status, r.text().as_str()), (500, regex_err));
    assert_eq!(r.header("content-encoding"), "");
    let r = by_name("bad regex after frames");
    assert_eq!(r.status, 200);
    let (fr, tail) = frames(&r.body);
    assert_eq!(fr.len(), 1);
    assert_eq!(tail, regex_err);

    // No "one non-empty matcher" rule; no matchers select nothing.
    let n = by_name("foo=\"\" alone").samples().results[0]
        .timeseries
        .len();
    assert_eq!(n, dataset().len());
    assert_eq!(
        by_name("no matchers").samples().results[0].timeseries.len(),
        0
    );

    // Decoding errors.
    let r = by_name("snappy garbage");
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "snappy: corrupt input\n")
    );
    let r = by_name("truncated protobuf");
    assert_eq!((r.status, r.text().as_str()), (400, "unexpected EOF\n"));

    // -0 goes out as an absent field and reads back as +0.
    let res = by_name("negative zero").samples();
    let negzero = res.results[0]
        .timeseries
        .iter()
        .find(|s| names(&s.labels).contains("k=negzero"))
        .expect("negzero series");
    assert_eq!(negzero.samples[0].value.to_bits(), 0);

    // A chunk is cut to the range.
    let (fr, _) = frames(&by_name("b cut to [150000, 160000]").body);
    let c = &fr[0].chunked_series[0].chunks;
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].min_time_ms, c[0].max_time_ms), (150_000, 160_000));
    assert_eq!(chunk_samples(&c[0].data).len(), 2);

    // `labels.Compare` order: `Zz` sorts before `__name__`.
    let (fr, _) = frames(&by_name("up_l order").body);
    let got: Vec<String> = fr
        .iter()
        .map(|f| names(&f.chunked_series[0].labels))
        .collect();
    assert_eq!(
        got,
        vec![
            "Zz=a,__name__=up_l,region=eu,zone=ie",
            "__name__=up_l,aa=a,region=eu,zone=ie"
        ]
    );
}

#[test]
fn remote_read_limits() {
    let srv = server(ReadLimits {
        sample_limit: 3,
        max_bytes_in_frame: 1,
        ..ReadLimits::default()
    });
    // SAMPLES: at most 3 samples per query; `st` has 4.
    let r = read(
        srv.url(),
        &req(vec![q(0, 300_000, vec![m("__name__", "=", "st")])], &[]),
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "exceeded sample limit (3)\n")
    );
    assert_eq!(r.header("content-encoding"), "snappy");
    // Counted per query: two queries of 3 samples each pass.
    let three = q(0, 110_000, vec![m("__name__", "=", "b")]);
    let r = read(srv.url(), &req(vec![three.clone(), three], &[]));
    assert_eq!(r.samples().results.len(), 2);
    // Streamed answers ignore the sample limit; a 1-byte frame budget puts each chunk of `sq`
    // (201 samples at 1 s: two chunks) in its own frame.
    let r = read(
        srv.url(),
        &req(vec![q(0, 300_000, vec![m("__name__", "=", "sq")])], &[1]),
    );
    let (fr, tail) = frames(&r.body);
    assert_eq!(tail, "");
    assert_eq!(fr.len(), 2);
    let mut all = Vec::new();
    for f in &fr {
        assert_eq!(f.chunked_series[0].chunks.len(), 1);
        all.extend(chunk_samples(&f.chunked_series[0].chunks[0].data));
    }
    let want: Vec<(i64, u64)> = (0..=200)
        .map(|t| (t * 1000, (t as f64).to_bits()))
        .collect();
    assert_eq!(all, want);
}

#[test]
fn remote_read_other_methods_are_405() {
    let srv = TestServer::start();
    let a = crate::support::get(&format!("{}/api/v1/read", srv.url()), &[]);
    assert_eq!((a.status, a.text().as_str()), (405, "Method Not Allowed\n"));
}
