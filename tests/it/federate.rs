//! `/federate` end to end: Prometheus 2.42's `web/federate_test.go` scenarios, errors,
//! encodings and large answers.

use fedstore_storage::{Labels, STALE_NAN_BITS};

use crate::support::{Options, TestServer, assert_text_eq, federate, get, gunzip, post};

const MIN: i64 = 60_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// The fixture of Prometheus's `TestFederation` (`load 1m` series, now = 101m, lookback 5m).
fn prometheus_fixture(opts: Options) -> TestServer {
    let srv = TestServer::start_with(Options {
        now_ms: Some(101 * MIN),
        ..opts
    });
    let mut app = srv.head.appender();
    // (labels, value of the i-th sample, index of the last sample)
    type Fixture = Vec<(Labels, Box<dyn Fn(i64) -> f64>, i64)>;
    let series: Fixture = vec![
        (
            labels(&[
                ("__name__", "test_metric1"),
                ("foo", "bar"),
                ("instance", "i"),
            ]),
            Box::new(|i| (i * 100) as f64),
            100,
        ),
        (
            labels(&[
                ("__name__", "test_metric1"),
                ("foo", "boo"),
                ("instance", "i"),
            ]),
            Box::new(|_| 1.0),
            100,
        ),
        (
            labels(&[
                ("__name__", "test_metric2"),
                ("foo", "boo"),
                ("instance", "i"),
            ]),
            Box::new(|_| 1.0),
            100,
        ),
        (
            labels(&[("__name__", "test_metric_without_labels")]),
            Box::new(|i| (1 + i * 10) as f64),
            100,
        ),
        (
            labels(&[("__name__", "test_metric_stale")]),
            Box::new(|i| (1 + i * 10) as f64),
            99,
        ),
        (
            labels(&[("__name__", "test_metric_old")]),
            Box::new(|i| (1 + i * 10) as f64),
            98,
        ),
    ];
    for (l, f, last) in &series {
        for i in 0..=*last {
            app.append(l, i * MIN, f(i)).unwrap();
        }
    }
    app.append(&series[4].0, 100 * MIN, f64::from_bits(STALE_NAN_BITS))
        .unwrap();
    let stats = app.commit().unwrap();
    assert_eq!(stats.appended, 101 * 4 + 100 + 99 + 1);
    srv
}

const M1: &str = "# TYPE test_metric1 untyped\ntest_metric1{foo=\"bar\",instance=\"i\"} 10000 6000000\ntest_metric1{foo=\"boo\",instance=\"i\"} 1 6000000\n";
const M2: &str =
    "# TYPE test_metric2 untyped\ntest_metric2{foo=\"boo\",instance=\"i\"} 1 6000000\n";
const OLD: &str = "# TYPE test_metric_old untyped\ntest_metric_old{instance=\"\"} 981 5880000\n";
const BARE: &str = "# TYPE test_metric_without_labels untyped\ntest_metric_without_labels{instance=\"\"} 1001 6000000\n";

#[test]
fn prometheus_federation_scenarios() {
    let srv = prometheus_fixture(Options::default());
    let all = format!("{M1}{M2}{OLD}{BARE}");
    let cases: Vec<(&str, Vec<&str>, u16, String)> = vec![
        ("match nothing", vec!["does_not_match_anything"], 200, String::new()),
        ("invalid params from the beginning", vec!["-not-a-valid-metric-name"], 400, "1:1: parse error: unexpected <op:->\n".into()),
        ("invalid params somewhere in the middle", vec!["not-a-valid-metric-name"], 400, "1:4: parse error: unexpected <op:->\n".into()),
        ("test_metric1", vec!["test_metric1"], 200, M1.into()),
        ("test_metric2", vec!["test_metric2"], 200, M2.into()),
        ("test_metric_without_labels", vec!["test_metric_without_labels"], 200, BARE.into()),
        ("test_stale_metric", vec!["test_metric_stale"], 200, String::new()),
        ("test_old_metric", vec!["test_metric_old"], 200, OLD.into()),
        ("{foo='boo'}", vec!["{foo='boo'}"], 200,
            "# TYPE test_metric1 untyped\ntest_metric1{foo=\"boo\",instance=\"i\"} 1 6000000\n# TYPE test_metric2 untyped\ntest_metric2{foo=\"boo\",instance=\"i\"} 1 6000000\n".into()),
        ("two matchers", vec!["test_metric1", "test_metric2"], 200, format!("{M1}{M2}")),
        ("two matchers with overlap", vec!["{__name__=~'test_metric1'}", "{foo='bar'}"], 200, M1.into()),
        ("everything", vec!["{__name__=~'.+'}"], 200, all.clone()),
        ("empty label value matches everything that doesn't have that label", vec!["{foo='',__name__=~'.+'}"], 200, format!("{OLD}{BARE}")),
        ("empty label value for a label that doesn't exist at all, matches everything", vec!["{bar='',__name__=~'.+'}"], 200, all),
    ];
    for (name, matches, status, body) in cases {
        let a = federate(&srv, &matches);
        assert_eq!(a.status, status, "case {name}: {}", a.text());
        assert_text_eq(&a.text(), &body, name);
        if status == 200 {
            assert_eq!(
                a.content_type, "text/plain; version=0.0.4; charset=utf-8",
                "case {name}"
            );
        } else {
            assert_eq!(a.content_type, "text/plain; charset=utf-8", "case {name}");
        }
    }
}

#[test]
fn external_labels_are_added_if_not_already_present() {
    let ext = vec![
        ("foo".to_owned(), "baz".to_owned()),
        ("zone".to_owned(), "ie".to_owned()),
    ];
    let srv = prometheus_fixture(Options {
        external_labels: ext,
        ..Options::default()
    });
    let want = "# TYPE test_metric1 untyped\n\
        test_metric1{foo=\"bar\",instance=\"i\",zone=\"ie\"} 10000 6000000\n\
        test_metric1{foo=\"boo\",instance=\"i\",zone=\"ie\"} 1 6000000\n\
        # TYPE test_metric2 untyped\n\
        test_metric2{foo=\"boo\",instance=\"i\",zone=\"ie\"} 1 6000000\n\
        # TYPE test_metric_old untyped\n\
        test_metric_old{foo=\"baz\",instance=\"\",zone=\"ie\"} 981 5880000\n\
        # TYPE test_metric_without_labels untyped\n\
        test_metric_without_labels{foo=\"baz\",instance=\"\",zone=\"ie\"} 1001 6000000\n";
    assert_text_eq(
        &federate(&srv, &["{__name__=~'.+'}"]).text(),
        want,
        "external labels",
    );
}

#[test]
fn instance_is_an_external_label() {
    let ext = vec![("instance".to_owned(), "baz".to_owned())];
    let srv = prometheus_fixture(Options {
        external_labels: ext,
        ..Options::default()
    });
    let want = format!(
        "{M1}{M2}# TYPE test_metric_old untyped\ntest_metric_old{{instance=\"baz\"}} 981 5880000\n\
         # TYPE test_metric_without_labels untyped\ntest_metric_without_labels{{instance=\"baz\"}} 1001 6000000\n"
    );
    assert_text_eq(
        &federate(&srv, &["{__name__=~'.+'}"]).text(),
        &want,
        "instance external",
    );
}

#[test]
fn federate_issue_3_no_match_is_a_clear_400() {
    let srv = prometheus_fixture(Options::default());
    let a = get(&format!("{}/federate", srv.url()), &[]);
    assert_eq!(a.status, 400);
    assert!(
        a.text().contains("match[]"),
        "body names match[]: {}",
        a.text()
    );
}

#[test]
fn bad_form_encoding_is_rejected_like_go() {
    let srv = prometheus_fixture(Options::default());
    let a = get(&format!("{}/federate?match[]=%zz", srv.url()), &[]);
    assert_eq!(a.status, 400);
    assert_eq!(
        a.text(),
        "error parsing form values: invalid URL escape \"%zz\"\n"
    );
}

#[test]
fn post_form_and_gzip() {
    let srv = prometheus_fixture(Options::default());
    let a = post(
        &format!("{}/federate", srv.url()),
        "application/x-www-form-urlencoded",
        b"match[]=test_metric1&match[]=test_metric2",
    );
    assert_eq!(a.status, 200);
    assert_text_eq(&a.text(), &format!("{M1}{M2}"), "POST form");

    let url = format!("{}/federate?match[]=test_metric1", srv.url());
    let a = get(&url, &[("Accept-Encoding", "gzip")]);
    assert_eq!(a.content_encoding, "gzip");
    assert_text_eq(&gunzip(&a.body), M1, "gzip body");

    // Error bodies are compressed too, as Prometheus's compression handler does.
    let a = get(
        &format!("{}/federate?match[]={{", srv.url()),
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(a.status, 400);
    assert_eq!(
        gunzip(&a.body),
        "1:2: parse error: unexpected end of input inside braces\n"
    );
}

#[test]
fn large_answers_stream_in_order_across_segments() {
    // Enough series for several render segments, families spanning segment boundaries.
    let now = 10 * MIN;
    let srv = TestServer::start_with(Options {
        now_ms: Some(now),
        ..Options::default()
    });
    let mut app = srv.head.appender();
    let mut want = String::new();
    let names = ["a_metric", "b_metric", "c:job:rate5m"];
    let per_name = 40_000;
    for name in names {
        want.push_str(&format!("# TYPE {name} untyped\n"));
        let mut lines: Vec<(String, String)> = Vec::new();
        for i in 0..per_name {
            let inst = format!("host-{i:06}");
            app.append(
                &labels(&[("__name__", name), ("instance", &inst)]),
                now - 1000,
                i as f64,
            )
            .unwrap();
            lines.push((
                inst.clone(),
                format!("{name}{{instance=\"{inst}\"}} {i} {}\n", now - 1000),
            ));
        }
        lines.sort();
        for (_, l) in lines {
            want.push_str(&l);
        }
    }
    app.commit().unwrap();
    let a = federate(&srv, &["{__name__=~'.+'}"]);
    assert_eq!(a.status, 200);
    assert_text_eq(&a.text(), &want, "large answer");
    let url = format!(
        "{}/federate?match[]={}",
        srv.url(),
        crate::support::enc("{__name__=~'.+'}")
    );
    let gz = get(&url, &[("Accept-Encoding", "gzip")]);
    assert_text_eq(&gunzip(&gz.body), &want, "large gzip answer");
}

#[test]
fn concurrent_large_federates_all_complete() {
    // More concurrent full answers than render threads and federate slots, each spanning many
    // segments: every one must finish, byte-identical (a hang here once held 3 of 10).
    let now = 10 * MIN;
    let srv = TestServer::start_with(Options {
        now_ms: Some(now),
        ..Options::default()
    });
    let mut app = srv.head.appender();
    for m in 0..20 {
        let name = format!("metric_{m:02}");
        for i in 0..5_000 {
            let inst = format!("host-{i:05}");
            app.append(
                &labels(&[("__name__", &name), ("instance", &inst)]),
                now - 1000,
                i as f64,
            )
            .unwrap();
        }
    }
    app.commit().unwrap();
    let want = federate(&srv, &["{__name__=~'.+'}"]);
    assert_eq!(want.status, 200);
    assert_eq!(
        want.text().lines().filter(|l| !l.starts_with('#')).count(),
        100_000
    );
    let url = format!(
        "{}/federate?match[]={}",
        srv.url(),
        crate::support::enc("{__name__=~'.+'}")
    );
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..10 {
        let (url, tx) = (url.clone(), tx.clone());
        std::thread::spawn(move || {
            let headers: &[(&str, &str)] = if i % 2 == 0 {
                &[]
            } else {
                &[("Accept-Encoding", "gzip")]
            };
            let a = get(&url, headers);
            let body = if i % 2 == 0 {
                a.text()
            } else {
                gunzip(&a.body)
            };
            let _ = tx.send((i, a.status, body));
        });
    }
    drop(tx);
    for _ in 0..10 {
        let (i, status, body) = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("every concurrent federate answers within 120 s");
        assert_eq!(status, 200, "request {i}");
        assert!(
            body == want.text(),
            "request {i}: body differs ({} bytes vs {})",
            body.len(),
            want.text().len()
        );
    }
}

/// A label value left open on line 4 is closed by the quote of a later line; the error that
/// follows names line 4, where the sample began, with Prometheus's message text, and nothing
/// of the body is stored.
#[test]
fn import_error_names_the_line_the_sample_began_on() {
    let srv = TestServer::start();
    let body = "ok1 1\nok2 2\nok3 3\nbad_label{a=\"1} 1\nnext{b=\"2\"} 1\nlast 5\n";
    let a = post(
        &format!("{}/api/v1/import/prometheus", srv.url()),
        "text/plain",
        body.as_bytes(),
    );
    assert_eq!(a.status, 400);
    assert_eq!(a.text(), "line 4: expected label name, got \"INVALID\"\n");
    let stored = federate(&srv, &["{__name__=~\"ok.*\"}"]);
    assert_eq!(stored.status, 200);
    assert_eq!(stored.text(), "");
}
