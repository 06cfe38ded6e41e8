//! `POST /api/v1/write` end to end: remote write in, `/federate` out.

use fedstore::remote::proto::{TimeSeries, WriteRequest};

use crate::support::{self, Options, TestServer};

/// "Now" of every server here; samples sit just before it (inside the lookback).
const NOW_MS: i64 = 1_700_000_000_000;

fn start() -> TestServer {
    TestServer::start_with(Options {
        now_ms: Some(NOW_MS),
        ..Options::default()
    })
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries::from_pairs(labels, samples)
}

fn snappy(timeseries: Vec<TimeSeries>) -> Vec<u8> {
    let req = WriteRequest {
        timeseries,
        metadata: vec![],
    };
    req.encode_snappy().expect("snappy encode")
}

fn write(srv: &TestServer, body: &[u8]) -> support::Answer {
    // Prometheus's client headers; the receiver checks none of them.
    support::post(
        &format!("{}/api/v1/write", srv.url()),
        "application/x-protobuf",
        body,
    )
}

fn federate_text(srv: &TestServer, selector: &str) -> String {
    let a = support::federate(srv, &[selector]);
    assert_eq!(a.status, 200, "federate {selector}: {}", a.text());
    a.text()
}

#[test]
fn samples_written_are_federated() {
    let srv = start();
    let body = snappy(vec![
        series(
            &[("__name__", "rw_up"), ("job", "a")],
            &[(NOW_MS - 2000, 1.0), (NOW_MS - 1000, 2.0)],
        ),
        series(
            &[("__name__", "rw_up"), ("job", "b")],
            &[(NOW_MS - 1000, 0.5)],
        ),
    ]);
    let a = write(&srv, &body);
    assert_eq!((a.status, a.text()), (204, String::new()));
    let text = federate_text(&srv, "{__name__=\"rw_up\"}");
    let t = NOW_MS - 1000;
    assert!(
        text.contains(&format!("rw_up{{job=\"a\",instance=\"\"}} 2 {t}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("rw_up{{job=\"b\",instance=\"\"}} 0.5 {t}\n")),
        "{text}"
    );
}

#[test]
fn stale_marker_hides_the_series() {
    let srv = start();
    let stale = f64::from_bits(fedstore_storage::STALE_NAN_BITS);
    let labels = [("__name__", "rw_stale"), ("job", "a")];
    let a = write(
        &srv,
        &snappy(vec![series(
            &labels,
            &[(NOW_MS - 2000, 1.0), (NOW_MS - 1000, stale)],
        )]),
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let text = federate_text(&srv, "rw_stale");
    assert!(
        !text.contains("rw_stale{"),
        "stale series federated: {text}"
    );
}

#[test]
fn bad_requests_are_plain_text_errors_and_store_nothing() {
    let srv = start();
    let good = series(&[("__name__", "rw_bad")], &[(NOW_MS - 1000, 1.0)]);
    // A header announcing 64 MiB: refused from the header alone.
    let oversized = vec![0x80, 0x80, 0x80, 0x20, 0x00];
    // (case, body, status, response body)
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("empty", vec![], 400, "snappy: corrupt input\n"),
        (
            "not snappy",
            b"hello".to_vec(),
            400,
            "snappy: corrupt input\n",
        ),
        (
            "not protobuf",
            snap::raw::Encoder::new()
                .compress_vec(&[0x0a, 0x05])
                .expect("encode"),
            400,
            "unexpected EOF\n",
        ),
        (
            "invalid label name",
            snappy(vec![
                good.clone(),
                series(&[("__name__", "m"), ("a-b", "x")], &[(NOW_MS, 1.0)]),
            ]),
            400,
            "invalid label name \"a-b\" in series {__name__=\"m\", a-b=\"x\"}\n",
        ),
        (
            "too large",
            oversized,
            413,
            "decompressed body of 67108864 bytes exceeds the limit of 33554432 bytes\n",
        ),
    ];
    for (case, body, status, text) in cases {
        let a = write(&srv, &body);
        assert_eq!((a.status, a.text().as_str()), (status, text), "case {case}");
        assert_eq!(a.content_type, "text/plain; charset=utf-8", "case {case}");
    }
    let text = federate_text(&srv, "rw_bad");
    assert!(
        !text.contains("rw_bad{"),
        "a refused request stored samples: {text}"
    );
}

#[test]
fn out_of_order_is_reported_and_the_rest_kept() {
    let srv = start();
    let a_labels = [("__name__", "rw_ooo"), ("job", "a")];
    let b_labels = [("__name__", "rw_ooo"), ("job", "b")];
    let seed = snappy(vec![
        series(&a_labels, &[(NOW_MS - 2000, 1.0)]),
        series(&b_labels, &[(NOW_MS - 2000, 1.0)]),
    ]);
    assert_eq!(write(&srv, &seed).status, 204);
    let batch = snappy(vec![
        series(&a_labels, &[(NOW_MS - 3000, 9.0)]),
        series(&b_labels, &[(NOW_MS - 1000, 3.0)]),
    ]);
    let a = write(&srv, &batch);
    assert_eq!(
        (a.status, a.text().as_str()),
        (400, "out of order sample\n")
    );
    let text = federate_text(&srv, "rw_ooo");
    let (t_old, t_new) = (NOW_MS - 2000, NOW_MS - 1000);
    assert!(
        text.contains(&format!("rw_ooo{{job=\"a\",instance=\"\"}} 1 {t_old}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("rw_ooo{{job=\"b\",instance=\"\"}} 3 {t_new}\n")),
        "{text}"
    );
    let dup = snappy(vec![series(&b_labels, &[(NOW_MS - 1000, 4.0)])]);
    let a = write(&srv, &dup);
    assert_eq!(
        (a.status, a.text().as_str()),
        (400, "duplicate sample for timestamp\n")
    );
}
