//! The query side of the HTTP API: the test server's storage and, as they land, the
//! `/api/v1/*` query endpoints checked against Prometheus 2.42's answers.

use crate::support::{TestServer, post, wall_ms};

/// The in-process server opens its storage as `fedstore serve` does: imported samples go
/// through the WAL, and the database answers range selects over them.
#[test]
fn test_server_storage_is_the_serve_database() {
    let srv = TestServer::start();
    let now = wall_ms();
    let body = format!("up{{job=\"a\"}} 1 {now}\nup{{job=\"b\"}} 0 {now}\n");
    let a = post(
        &format!("{}/api/v1/import/prometheus", srv.url()),
        "text/plain",
        body.as_bytes(),
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let wal = srv
        .db
        .head()
        .wal_stats()
        .expect("the test server has a WAL");
    assert!(wal.bytes_written > 0, "{wal:?}");
    let sets = vec![fedstore_promql::parse_selector("up").unwrap()];
    let got = srv.db.select_range(&sets, now - 1000, now + 1000).unwrap();
    let jobs: Vec<&str> = got.iter().map(|s| s.labels.get("job")).collect();
    assert_eq!(jobs, ["a", "b"]);
}

use crate::serve::Serve;
use crate::support::{enc, get};

/// 2023-11-14T22:13:20Z: data times in these tests.
const T0: i64 = 1_700_000_000_000;

/// A server holding `up` (two jobs), `http_requests_total` (three series, one with a
/// `Zz` label that sorts before `__name__`) and `odd` (a value needing HTML escapes), all at
/// T0 and T0 + 15 s.
fn loaded() -> TestServer {
    loaded_at(T0)
}

/// [`loaded`] with the samples at `t0` and `t0 + 15 s`.
fn loaded_at(t0: i64) -> TestServer {
    let srv = TestServer::start();
    let mut body = String::new();
    for t in [t0, t0 + 15_000] {
        body.push_str(&format!(
            "up{{job=\"b\",instance=\"x:1\"}} 1 {t}\n\
             up{{job=\"a\",instance=\"x:2\"}} 0 {t}\n\
             http_requests_total{{job=\"a\",code=\"200\"}} 10 {t}\n\
             http_requests_total{{job=\"a\",code=\"500\"}} 2 {t}\n\
             http_requests_total{{job=\"b\",code=\"200\",Zz=\"1\"}} 7 {t}\n\
             odd{{v=\"<a&b>\"}} 1 {t}\n"
        ));
    }
    let a = post(
        &format!("{}/api/v1/import/prometheus", srv.url()),
        "text/plain",
        body.as_bytes(),
    );
    assert_eq!(a.status, 204, "{}", a.text());
    srv
}

/// `GET <path>` against the server; (status, body).
fn call(srv: &TestServer, path_and_query: &str) -> (u16, String) {
    let a = get(&format!("{}{path_and_query}", srv.url()), &[]);
    (a.status, a.text())
}

/// Asserts a JSON API error: status, `errorType` and message, keys in 2.42's order.
#[track_caller]
fn assert_error(got: (u16, String), status: u16, error_type: &str, message: &str) {
    let want = format!(
        "{{\"status\":\"error\",\"errorType\":\"{error_type}\",\"error\":{}}}",
        serde_json::to_string(message)
            .unwrap()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
    );
    assert_eq!(got, (status, want));
}

#[test]
fn series_labels_and_values_as_2_42() {
    let srv = loaded();
    // Sorted by label set: `Zz` sorts before `__name__`; HTML escapes in values.
    let (status, body) = call(
        &srv,
        "/api/v1/series?match[]=http_requests_total&match[]=odd",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        concat!(
            r#"{"status":"success","data":["#,
            r#"{"Zz":"1","__name__":"http_requests_total","code":"200","job":"b"},"#,
            r#"{"__name__":"http_requests_total","code":"200","job":"a"},"#,
            r#"{"__name__":"http_requests_total","code":"500","job":"a"},"#,
            r#"{"__name__":"odd","v":"\u003ca\u0026b\u003e"}]}"#
        )
    );
    // Several match[] overlapping: each series once.
    let (_, body) = call(
        &srv,
        &format!("/api/v1/series?match[]=up&match[]={}", enc("{job=\"a\"}")),
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 4, "{body}");
    // A time range without samples selects nothing; one with samples selects.
    let (_, body) = call(
        &srv,
        &format!("/api/v1/series?match[]=up&start=0&end={}", T0 / 1000 - 60),
    );
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    let (_, body) = call(
        &srv,
        &format!(
            "/api/v1/series?match[]=up&start={}&end={}",
            T0 / 1000,
            T0 / 1000
        ),
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let (status, body) = call(&srv, "/api/v1/labels");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        r#"{"status":"success","data":["Zz","__name__","code","instance","job","v"]}"#
    );
    let (_, body) = call(&srv, "/api/v1/labels?match[]=up");
    assert_eq!(
        body,
        r#"{"status":"success","data":["__name__","instance","job"]}"#
    );
    let (_, body) = call(&srv, "/api/v1/label/job/values");
    assert_eq!(body, r#"{"status":"success","data":["a","b"]}"#);
    let (_, body) = call(&srv, "/api/v1/label/__name__/values");
    assert_eq!(
        body,
        r#"{"status":"success","data":["http_requests_total","odd","up"]}"#
    );
    let (_, body) = call(
        &srv,
        &format!("/api/v1/label/code/values?match[]={}", enc("{job=\"a\"}")),
    );
    assert_eq!(body, r#"{"status":"success","data":["200","500"]}"#);
    let (_, body) = call(&srv, "/api/v1/label/nope/values");
    assert_eq!(body, r#"{"status":"success","data":[]}"#);
    // POST form works for series and labels, the body before the URL.
    let a = post(
        &format!("{}/api/v1/labels?match[]=odd", srv.url()),
        "application/x-www-form-urlencoded",
        b"match[]=up",
    );
    assert_eq!(
        a.text(),
        r#"{"status":"success","data":["__name__","instance","job","v"]}"#
    );
    assert_eq!(a.content_type, "application/json");
}

#[test]
fn series_labels_and_values_errors_as_2_42() {
    let srv = loaded();
    let cases: [(&str, u16, &str); 10] = [
        ("/api/v1/series", 400, "no match[] parameter provided"),
        (
            "/api/v1/series?match[]=up&start=x",
            400,
            "invalid parameter \"start\": Invalid time value for 'start': cannot parse \"x\" to a valid timestamp",
        ),
        (
            "/api/v1/series?match[]=up&end=x",
            400,
            "invalid parameter \"end\": Invalid time value for 'end': cannot parse \"x\" to a valid timestamp",
        ),
        (
            "/api/v1/series?match[]=%7Ba%3D%22%22%7D",
            400,
            "invalid parameter \"match[]\": match[] must contain at least one non-empty matcher",
        ),
        (
            "/api/v1/series?match[]=up%7B",
            400,
            "invalid parameter \"match[]\": 1:4: parse error: unexpected end of input inside braces",
        ),
        (
            "/api/v1/series?match[]=up&x=%zz",
            400,
            "error parsing form values: invalid URL escape \"%zz\"",
        ),
        (
            "/api/v1/labels?match[]=up%7B",
            400,
            "1:4: parse error: unexpected end of input inside braces",
        ),
        (
            "/api/v1/labels?start=x",
            400,
            "invalid parameter \"start\": Invalid time value for 'start': cannot parse \"x\" to a valid timestamp",
        ),
        (
            "/api/v1/label/1bad/values",
            400,
            "invalid label name: \"1bad\"",
        ),
        (
            "/api/v1/label/a.b/values?start=x",
            400,
            "invalid label name: \"a.b\"",
        ),
    ];
    for (path, status, message) in cases {
        assert_error(call(&srv, path), status, "bad_data", message);
    }
    assert_error(
        call(&srv, "/api/v1/label/job/values?match[]=up%7B"),
        400,
        "bad_data",
        "1:4: parse error: unexpected end of input inside braces",
    );
}

/// A `/series` answer over what is sent whole streams in many pieces and is the same bytes
/// as the answer rendered whole (as it was before streaming), in every encoding, with and
/// without a time range (the range keeps half the series); errors found before the first
/// byte are still 2.42's. See: issue 10 (peak RSS of `/series` over 1M series).
#[test]
fn large_series_answers_stream_the_same_bytes_as_whole_ones() {
    use fedstore::api::v1::{json, streamed};
    use fedstore_storage::Labels;
    use std::io::Read as _;

    let srv = TestServer::start();
    let mut app = srv.head.appender();
    let mut all = Vec::new();
    for i in 0..30_000 {
        // Escapes of every kind in a long value, so pieces end inside varied text.
        let pad = format!(
            "{i}<&>\"\u{e9}\u{2028}\t{}",
            "x".repeat(150 + (i % 97) as usize)
        );
        let l = Labels::from_pairs([
            ("__name__", "big_series".to_owned()),
            ("i", format!("{i:06}")),
            ("pad", pad),
        ]);
        // Even series at T0, odd ones an hour later.
        let t = T0 + 3_600_000 * (i % 2);
        app.append(&l, t, 1.0).unwrap();
        all.push(l);
    }
    let other = Labels::from_pairs([("__name__", "other".to_owned())]);
    app.append(&other, T0, 1.0).unwrap();
    app.commit().unwrap();
    let render = |labels: &mut dyn Iterator<Item = &Labels>| {
        let mut b = json::SUCCESS_PREFIX.to_vec();
        b.push(b'[');
        for (k, l) in labels.enumerate() {
            if k > 0 {
                b.push(b',');
            }
            json::write_labels(&mut b, l);
        }
        b.extend_from_slice(b"]}");
        b
    };
    let whole = render(&mut all.iter());
    let even = render(&mut all.iter().step_by(2));
    assert!(whole.len() > streamed::WHOLE_BYTES + 40 * streamed::PIECE_BYTES);
    assert!(even.len() > streamed::WHOLE_BYTES);
    let m = enc("{__name__=\"big_series\"}");
    let s = T0 / 1000;
    let cases = [
        (format!("/api/v1/series?match[]={m}"), &whole),
        (
            format!("/api/v1/series?match[]={m}&start={}&end={}", s - 60, s + 60),
            &even,
        ),
    ];
    for (path, want) in cases {
        for accept in ["", "gzip", "deflate"] {
            let headers: &[(&str, &str)] = if accept.is_empty() {
                &[]
            } else {
                &[("Accept-Encoding", accept)]
            };
            let a = get(&format!("{}{path}", srv.url()), headers);
            assert_eq!(
                (
                    a.status,
                    a.content_type.as_str(),
                    a.content_encoding.as_str()
                ),
                (200, "application/json", accept),
                "{path} {accept}"
            );
            let mut body = Vec::new();
            match accept {
                "gzip" => flate2::read::GzDecoder::new(&a.body[..])
                    .read_to_end(&mut body)
                    .unwrap(),
                "deflate" => flate2::read::ZlibDecoder::new(&a.body[..])
                    .read_to_end(&mut body)
                    .unwrap(),
                _ => {
                    body = a.body;
                    0
                }
            };
            assert!(
                body == *want,
                "{path} {accept}: {} bytes streamed, {} rendered whole; first difference at {:?}",
                body.len(),
                want.len(),
                body.iter().zip(want.iter()).position(|(x, y)| x != y)
            );
        }
    }
    assert_error(
        call(
            &srv,
            &format!("/api/v1/series?match[]={}", enc("big_series{")),
        ),
        400,
        "bad_data",
        "invalid parameter \"match[]\": 1:12: parse error: unexpected end of input inside braces",
    );
}

#[test]
fn query_parameter_errors_as_2_42() {
    let srv = loaded();
    let q = enc("up");
    let cases: Vec<(String, &str)> = vec![
        (
            format!("/api/v1/query?query={q}&time=x"),
            "invalid parameter \"time\": Invalid time value for 'time': cannot parse \"x\" to a valid timestamp",
        ),
        (
            format!("/api/v1/query?query={q}&timeout=abc"),
            "invalid parameter \"timeout\": cannot parse \"abc\" to a valid duration",
        ),
        (
            format!("/api/v1/query?query={q}&time=x&timeout=abc"),
            "invalid parameter \"time\": Invalid time value for 'time': cannot parse \"x\" to a valid timestamp",
        ),
        (
            format!("/api/v1/query_range?query={q}&end=10&step=1"),
            "invalid parameter \"start\": cannot parse \"\" to a valid timestamp",
        ),
        (
            format!("/api/v1/query_range?query={q}&start=abc&end=10&step=1"),
            "invalid parameter \"start\": cannot parse \"abc\" to a valid timestamp",
        ),
        (
            format!("/api/v1/query_range?query={q}&start=10&end=x&step=1"),
            "invalid parameter \"end\": cannot parse \"x\" to a valid timestamp",
        ),
        (
            format!("/api/v1/query_range?query={q}&start=10&end=9&step=1"),
            "invalid parameter \"end\": end timestamp must not be before start time",
        ),
        (
            format!("/api/v1/query_range?query={q}&start=10&end=20"),
            "invalid parameter \"step\": cannot parse \"\" to a valid duration",
        ),
        (
            format!("/api/v1/query_range?query={q}&start=10&end=20&step=0"),
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        (
            format!("/api/v1/query_range?query={q}&start=10&end=20&step=-1s"),
            "invalid parameter \"step\": cannot parse \"-1s\" to a valid duration",
        ),
        (
            format!("/api/v1/query_range?query={q}&start=0&end=11001&step=1"),
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ),
        (
            format!("/api/v1/query_range?query={q}&start=0&end=11000&step=1&timeout=x"),
            "invalid parameter \"timeout\": cannot parse \"x\" to a valid duration",
        ),
        (
            format!("/api/v1/query_range?query={q}&start=0&end=1&step=1e30"),
            "invalid parameter \"step\": cannot parse \"1e30\" to a valid duration. It overflows int64",
        ),
        (
            format!(
                "/api/v1/query_range?query={}&start=0&end=10&step=1",
                enc("up[5m]")
            ),
            "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector",
        ),
        (
            format!(
                "/api/v1/query_range?query={}&start=0&end=10&step=1",
                enc("(\"s\")")
            ),
            "invalid expression type \"string\" for range query, must be Scalar or instant Vector",
        ),
        (
            "/api/v1/query_exemplars?query=up&start=10&end=5".to_owned(),
            "end timestamp must not be before start timestamp",
        ),
        (
            "/api/v1/query_exemplars?query=up&start=x".to_owned(),
            "invalid parameter \"start\": Invalid time value for 'start': cannot parse \"x\" to a valid timestamp",
        ),
    ];
    for (path, message) in &cases {
        assert_error(call(&srv, path), 400, "bad_data", message);
    }
}

#[test]
fn methods_paths_options_and_cors_as_2_42() {
    let srv = loaded();
    let a = get(&format!("{}/api/v1/nope", srv.url()), &[]);
    assert_eq!((a.status, a.text().as_str()), (404, "404 page not found\n"));
    assert_eq!(a.content_type, "text/plain; charset=utf-8");
    let a = post(
        &format!("{}/api/v1/label/job/values", srv.url()),
        "text/plain",
        b"",
    );
    assert_eq!((a.status, a.text().as_str()), (405, "Method Not Allowed\n"));
    let a = post(
        &format!("{}/api/v1/status/tsdb", srv.url()),
        "text/plain",
        b"",
    );
    assert_eq!(a.status, 405);
    let resp = ureq_agent()
        .options(&format!("{}/api/v1/query", srv.url()))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    // CORS only with an Origin.
    let resp = ureq_agent()
        .get(&format!("{}/api/v1/labels", srv.url()))
        .header("Origin", "http://example.com")
        .call()
        .unwrap();
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(h("access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(
        h("access-control-allow-methods").as_deref(),
        Some("GET, POST, OPTIONS")
    );
    assert_eq!(
        h("access-control-allow-headers").as_deref(),
        Some("Accept, Authorization, Content-Type, Origin")
    );
    assert_eq!(h("access-control-expose-headers").as_deref(), Some("Date"));
    assert_eq!(h("vary").as_deref(), Some("Origin"));
    let a = get(&format!("{}/api/v1/labels", srv.url()), &[]);
    assert_eq!(a.status, 200);
    let resp = ureq_agent()
        .get(&format!("{}/api/v1/labels", srv.url()))
        .call()
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    // gzip when accepted.
    let a = get(
        &format!("{}/api/v1/label/job/values", srv.url()),
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(a.content_encoding, "gzip");
    assert_eq!(
        crate::support::gunzip(&a.body),
        r#"{"status":"success","data":["a","b"]}"#
    );
}

fn ureq_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .allow_non_standard_methods(true)
        .build()
        .into()
}

#[test]
fn status_endpoints_as_2_42() {
    let srv = loaded();
    let json = |path: &str| -> serde_json::Value {
        let (status, body) = call(&srv, path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let (_, raw) = call(&srv, "/api/v1/status/buildinfo");
    assert!(
        raw.starts_with(r#"{"status":"success","data":{"version":"#),
        "{raw}"
    );
    for k in ["revision", "branch", "buildUser", "buildDate", "goVersion"] {
        assert!(
            json("/api/v1/status/buildinfo")["data"][k].is_string(),
            "{k}"
        );
    }
    let rt = json("/api/v1/status/runtimeinfo");
    let keys: Vec<&String> = rt["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 10, "{keys:?}");
    assert_eq!(rt["data"]["storageRetention"], "15d");
    assert!(json("/api/v1/status/flags")["data"].is_object());
    assert!(json("/api/v1/status/config")["data"]["yaml"].is_string());
    let tsdb = json("/api/v1/status/tsdb");
    let d = &tsdb["data"];
    assert_eq!(d["headStats"]["numSeries"], 6);
    assert_eq!(d["headStats"]["minTime"], T0);
    assert_eq!(d["headStats"]["maxTime"], T0 + 15_000);
    assert_eq!(
        d["seriesCountByMetricName"],
        serde_json::json!([
            {"name": "http_requests_total", "value": 3},
            {"name": "up", "value": 2},
            {"name": "odd", "value": 1}
        ])
    );
    assert_eq!(
        d["labelValueCountByLabelName"][0],
        serde_json::json!({"name": "__name__", "value": 3})
    );
    assert_eq!(
        d["seriesCountByLabelValuePair"][0],
        serde_json::json!({"name": "__name__=http_requests_total", "value": 3})
    );
    // memory: the bytes of the distinct values of `__name__`.
    let name_bytes = ("http_requests_total".len() + "odd".len() + "up".len()) as u64;
    assert_eq!(
        d["memoryInBytesByLabelName"][0],
        serde_json::json!({"name": "__name__", "value": name_bytes})
    );
    // The second answer comes from the kept lists: the same while nothing changed, and the
    // head's counters current after samples that add no series.
    assert_eq!(json("/api/v1/status/tsdb"), tsdb);
    let a = post(
        &format!("{}/api/v1/import/prometheus", srv.url()),
        "text/plain",
        format!("odd{{v=\"<a&b>\"}} 2 {}\n", T0 + 30_000).as_bytes(),
    );
    assert_eq!(a.status, 204, "{}", a.text());
    let again = json("/api/v1/status/tsdb");
    assert_eq!(again["data"]["headStats"]["maxTime"], T0 + 30_000);
    assert_eq!(again["data"]["headStats"]["numSeries"], 6);
    assert_eq!(
        again["data"]["seriesCountByMetricName"],
        d["seriesCountByMetricName"]
    );
}

/// `/usr/bin/promtool`, the 2.42 client the promtool tests drive.
const PROMTOOL: &str = "/usr/bin/promtool";

/// Runs `promtool query <args>`; `None` (with a loud skip) when promtool is not installed
/// outside CI. Under `CI=true` a missing promtool fails the test.
fn promtool(test: &str, args: &[&str]) -> Option<String> {
    if !std::path::Path::new(PROMTOOL).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{PROMTOOL} is required in CI"
        );
        crate::support::skip(test, &format!("{PROMTOOL} not installed"));
        return None;
    }
    let out = std::process::Command::new(PROMTOOL)
        .arg("query")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool query {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// A real client: `promtool query series` and `promtool query labels` read fedstore.
#[test]
fn promtool_series_and_labels() {
    let test = "query_api::promtool_series_and_labels";
    // promtool's default range is around now.
    let srv = loaded_at(wall_ms() - 60_000);
    let Some(out) = promtool(test, &["series", "--match=up", srv.url()]) else {
        return;
    };
    assert_eq!(
        out,
        "{__name__=\"up\", instance=\"x:1\", job=\"b\"}\n{__name__=\"up\", instance=\"x:2\", job=\"a\"}\n"
    );
    let out = promtool(test, &["labels", srv.url(), "job"]).unwrap();
    assert_eq!(out, "a\nb\n");
    let out = promtool(
        test,
        &["labels", "--match=http_requests_total", srv.url(), "code"],
    )
    .unwrap();
    assert_eq!(out, "200\n500\n");
}

/// A query answer: (status, body).
fn query(srv: &TestServer, endpoint: &str, params: &[(&str, &str)]) -> (u16, String) {
    let q: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    call(srv, &format!("/api/v1/{endpoint}?{}", q.join("&")))
}

#[test]
fn query_results_as_2_42() {
    let srv = loaded();
    let t1 = format!("{}", (T0 + 15_000) / 1000);
    let ok = |data: &str| (200, format!(r#"{{"status":"success","data":{data}}}"#));
    // Vector: sorted by labels (selector order), timestamps at the evaluation time.
    assert_eq!(
        query(&srv, "query", &[("query", "up"), ("time", &t1)]),
        ok(concat!(
            r#"{"resultType":"vector","result":["#,
            r#"{"metric":{"__name__":"up","instance":"x:1","job":"b"},"value":[1700000015,"1"]},"#,
            r#"{"metric":{"__name__":"up","instance":"x:2","job":"a"},"value":[1700000015,"0"]}]}"#
        ))
    );
    // Scalars in 'f' layout, vectors in 'e' from 1e21; JSON time shortest.
    assert_eq!(
        query(&srv, "query", &[("query", "1e21"), ("time", "100.5")]),
        ok(r#"{"resultType":"scalar","result":[100.5,"1000000000000000000000"]}"#)
    );
    assert_eq!(
        query(
            &srv,
            "query",
            &[("query", "vector(1e21)"), ("time", "100.5")]
        ),
        ok(r#"{"resultType":"vector","result":[{"metric":{},"value":[100.500,"1e+21"]}]}"#)
    );
    assert_eq!(
        query(&srv, "query", &[("query", "\"a<b\""), ("time", "100.5")]),
        ok(r#"{"resultType":"string","result":[100.5,"a\u003cb"]}"#)
    );
    assert_eq!(
        query(&srv, "query", &[("query", "time()"), ("time", "+Inf")]),
        ok(r#"{"resultType":"scalar","result":[-9223372036.854,"-9223372036.854"]}"#)
    );
    // A range vector: raw samples.
    assert_eq!(
        query(&srv, "query", &[("query", "odd[1m]"), ("time", &t1)]),
        ok(concat!(
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"odd","v":"\u003ca\u0026b\u003e"},"#,
            r#""values":[[1700000000,"1"],[1700000015,"1"]]}]}"#
        ))
    );
    // Range query: steps from start, not aligned; the step truncated to ms.
    assert_eq!(
        query(
            &srv,
            "query_range",
            &[
                ("query", "time()"),
                ("start", "100"),
                ("end", "101"),
                ("step", "0.3333")
            ]
        ),
        ok(concat!(
            r#"{"resultType":"matrix","result":[{"metric":{},"values":"#,
            r#"[[100,"100"],[100.333,"100.333"],[100.666,"100.666"],[100.999,"100.999"]]}]}"#
        ))
    );
    let t0 = format!("{}", T0 / 1000);
    assert_eq!(
        query(
            &srv,
            "query_range",
            &[
                ("query", "sum by (job) (http_requests_total)"),
                ("start", &t0),
                ("end", &t1),
                ("step", "15")
            ]
        ),
        ok(concat!(
            r#"{"resultType":"matrix","result":["#,
            r#"{"metric":{"job":"a"},"values":[[1700000000,"12"],[1700000015,"12"]]},"#,
            r#"{"metric":{"job":"b"},"values":[[1700000000,"7"],[1700000015,"7"]]}]}"#
        ))
    );
    // POST form, the body before the URL.
    let a = post(
        &format!("{}/api/v1/query?query=up&time=200", srv.url()),
        "application/x-www-form-urlencoded",
        b"query=1&time=100",
    );
    assert_eq!(
        a.text(),
        r#"{"status":"success","data":{"resultType":"scalar","result":[100,"1"]}}"#
    );
    // stats: 2.42's shape.
    let (_, body) = query(
        &srv,
        "query",
        &[("query", "up"), ("time", &t1), ("stats", "1")],
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let timings: Vec<&String> = v["data"]["stats"]["timings"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(timings.len(), 6, "{body}");
    assert!(
        body.contains(r#""samples":{"totalQueryableSamples":"#),
        "{body}"
    );
    assert!(
        v["data"]["stats"]["samples"]["totalQueryableSamples"]
            .as_u64()
            .unwrap()
            >= 2
    );
    // format_query: the parser's pretty printer.
    assert_eq!(
        query(&srv, "format_query", &[("query", "sum(rate(x[5m]))by(a)")]),
        ok(r#""sum by (a) (rate(x[5m]))""#)
    );
    // Exemplars: none kept; a query without selector is 204.
    assert_eq!(query(&srv, "query_exemplars", &[("query", "up")]), ok("[]"));
    assert_eq!(
        query(&srv, "query_exemplars", &[("query", "1")]),
        (204, String::new())
    );
}

#[test]
fn query_errors_as_2_42() {
    let srv = loaded();
    let range = |q: &str| {
        vec![
            ("query", q.to_owned()),
            ("start", "0".into()),
            ("end", "10".into()),
            ("step", "1".into()),
        ]
    };
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "query",
            vec![("query", "up(".into())],
            "invalid parameter \"query\": 1:4: parse error: unclosed left parenthesis",
        ),
        (
            "query",
            vec![],
            "invalid parameter \"query\": 1:1: parse error: no expression found in input",
        ),
        (
            "query_range",
            range("up("),
            "1:4: parse error: unclosed left parenthesis",
        ),
        (
            "query_range",
            range("up[1m]"),
            "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector",
        ),
        (
            "query_range",
            range("\"a\""),
            "invalid expression type \"string\" for range query, must be Scalar or instant Vector",
        ),
        (
            "format_query",
            vec![("query", "up(".into())],
            "invalid parameter \"query\": 1:4: parse error: unclosed left parenthesis",
        ),
        (
            "query_exemplars",
            vec![("query", "up(".into())],
            "1:4: parse error: unclosed left parenthesis",
        ),
    ];
    for (endpoint, params, message) in cases {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_error(query(&srv, endpoint, &params), 400, "bad_data", message);
    }
    // `timeout=0`: a deadline already passed, reported from execution (503).
    assert_error(
        query(&srv, "query", &[("query", "up"), ("timeout", "0")]),
        503,
        "timeout",
        "query timed out in query execution",
    );
    // Runtime errors are `execution` (422).
    let t1 = format!("{}", (T0 + 15_000) / 1000);
    assert_error(
        query(
            &srv,
            "query",
            &[("query", "http_requests_total + on(job) up"), ("time", &t1)],
        ),
        422,
        "execution",
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
    );
}

/// `--query.max-samples`: Prometheus's error, as `execution` (422).
#[test]
fn max_samples_as_2_42() {
    let srv = TestServer::start_with(crate::support::Options {
        engine: Some(fedstore_promql::EngineOptions {
            max_samples: 5,
            ..fedstore_promql::EngineOptions::default()
        }),
        ..crate::support::Options::default()
    });
    let now = wall_ms();
    let body: String = (0..5)
        .map(|i| format!("qv{{i=\"{i}\"}} 1 {now}\n"))
        .collect();
    let a = post(
        &format!("{}/api/v1/import/prometheus", srv.url()),
        "text/plain",
        body.as_bytes(),
    );
    assert_eq!(a.status, 204);
    let t = format!("{}", now / 1000 + 1);
    let (status, _) = query(&srv, "query", &[("query", "qv"), ("time", &t)]);
    assert_eq!(status, 200);
    assert_error(
        query(&srv, "query", &[("query", "sum(qv)"), ("time", &t)]),
        422,
        "execution",
        "query processing would load too many samples into memory in query execution",
    );
}

/// A real client: `promtool query instant` and `promtool query range` read fedstore.
#[test]
fn promtool_instant_and_range() {
    let test = "query_api::promtool_instant_and_range";
    let t0 = wall_ms() / 1000 * 1000 - 60_000;
    let srv = loaded_at(t0);
    let t1 = format!("{}", (t0 + 15_000) / 1000);
    let Some(out) = promtool(
        test,
        &["instant", "--time", &t1, srv.url(), "sum by (job) (up)"],
    ) else {
        return;
    };
    // Groups in order of first appearance: `instance="x:1"` (job b) sorts first.
    assert_eq!(
        out,
        format!("{{job=\"b\"}} => 1 @[{t1}]\n{{job=\"a\"}} => 0 @[{t1}]\n")
    );
    let start = format!("{}", t0 / 1000);
    let out = promtool(
        test,
        &[
            "range",
            "--start",
            &start,
            "--end",
            &t1,
            "--step",
            "15s",
            srv.url(),
            "sum(up)",
        ],
    )
    .unwrap();
    assert_eq!(out, format!("{{}} =>\n1 @[{start}]\n1 @[{t1}]\n"));
}

// ---------------------------------------------------------------------------------------
// The real binary: flags, and queries over blocks and head. Ports come from 19400-19499.

fn get_text(srv: &Serve, path: &str) -> (u16, String) {
    let a = get(&format!("{}{path}", srv.url), &[]);
    (a.status, a.text())
}

/// `serve` wires the `--query.*` flags into the engine and `status/flags`, and answers
/// queries over history that compaction moved into blocks, merged with the head.
#[test]
fn serve_answers_queries_over_blocks_and_head_with_its_flags() {
    const HOUR: i64 = 3_600_000;
    const STEP: i64 = 15_000;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = Serve::start(
        &data,
        &[
            "--storage.tsdb.min-block-duration",
            "1h",
            "--storage.tsdb.compaction-interval",
            "100ms",
            "--storage.tsdb.retention.time",
            "1y",
            "--query.lookback-delta",
            "3h",
            "--query.max-samples",
            "5000",
            "--query.timeout",
            "1m",
            "--query.max-concurrency",
            "3",
        ],
    );
    let (_, flags) = get_text(&srv, "/api/v1/status/flags");
    let flags: serde_json::Value = serde_json::from_str(&flags).unwrap();
    assert_eq!(flags["data"]["query.max-samples"], "5000", "{flags}");
    assert_eq!(flags["data"]["query.timeout"], "1m");
    assert_eq!(flags["data"]["query.max-concurrency"], "3");
    assert_eq!(flags["data"]["query.lookback-delta"], "3h");
    assert_eq!(flags["data"]["storage.tsdb.retention.time"], "1y");
    // 4h of history for 3 series ending about 1 h ago: compaction persists most of it.
    let base = (wall_ms() - 5 * HOUR).div_euclid(HOUR) * HOUR;
    let mut body = String::new();
    let mut t = base;
    while t < base + 4 * HOUR {
        for i in 0..3 {
            body.push_str(&format!("qb{{i=\"{i}\"}} {} {t}\n", (t - base) / STEP + i));
        }
        t += STEP;
    }
    let a = post(
        &format!("{}/api/v1/import/prometheus", srv.url),
        "text/plain",
        body.as_bytes(),
    );
    assert!(a.status < 300, "{}", a.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let blocks = std::fs::read_dir(&data)
            .unwrap()
            .filter(|e| {
                let n = e.as_ref().unwrap().file_name();
                fedstore_storage::testutil::is_block_dir_name(&n.to_string_lossy())
            })
            .count();
        if blocks >= 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no blocks written");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Every step of the 4h sees all three series: sum = 3 * k + 0 + 1 + 2.
    let (start, end) = (base / 1000, (base + 4 * HOUR - STEP) / 1000);
    let (status, body) = get_text(
        &srv,
        &format!("/api/v1/query_range?query=sum(qb)&start={start}&end={end}&step=15"),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let values = v["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len() as i64, 4 * HOUR / STEP);
    for (k, p) in values.iter().enumerate() {
        assert_eq!(p[1], format!("{}", 3 * k + 3), "step {k}");
    }
    // count_over_time across the block boundaries: every sample once.
    let (_, body) = get_text(
        &srv,
        &format!("/api/v1/query?query=count_over_time(qb%7Bi%3D%221%22%7D%5B4h%5D)&time={end}"),
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["data"]["result"][0]["value"][1],
        format!("{}", 4 * HOUR / STEP),
        "{body}"
    );
    // series and label values see the blocks too.
    let (_, body) = get_text(
        &srv,
        &format!("/api/v1/label/i/values?start={start}&end={}", start + 600),
    );
    assert_eq!(body, r#"{"status":"success","data":["0","1","2"]}"#);
    // The cardinality view counts each series once, though the blocks and the head each
    // hold all three.
    let (status, body) = get_text(&srv, "/api/v1/status/tsdb");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    // (The server also scrapes itself: its own series are in the lists too.)
    let entry = |list: &str, name: &str| -> serde_json::Value {
        v["data"][list]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["name"] == name))
            .map_or(serde_json::Value::Null, |e| e["value"].clone())
    };
    assert_eq!(entry("seriesCountByMetricName", "qb"), 3, "{body}");
    assert_eq!(entry("labelValueCountByLabelName", "i"), 3, "{body}");
    // --query.max-samples: a subquery of 3 series x 2880 points is over 5000.
    let (status, body) = get_text(
        &srv,
        &format!("/api/v1/query?query=count_over_time(qb%5B4h%3A5s%5D)&time={end}"),
    );
    assert_eq!(
        (status, body.as_str()),
        (
            422,
            r#"{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory in query execution"}"#
        )
    );
}

/// `format_query` answers the pretty-printed expression (it answered `""` while the printer
/// lived on another branch).
#[test]
fn format_query_prints_the_expression() {
    let srv = loaded();
    let (status, body) = call(
        &srv,
        &format!(
            "/api/v1/format_query?query={}",
            enc("sum by(job)(rate(up{job=\"a\"}[5m]))  +1")
        ),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"], "sum by (job) (rate(up{job=\"a\"}[5m])) + 1");
}

/// A query over many series past its deadline stops walking storage and answers 2.42's
/// evaluation timeout (503 `timeout`); `/api/v1/series` and label values with matchers,
/// under a tiny `--query.timeout`, stop the same way. See: issue 10.
#[test]
fn queries_over_many_series_past_their_timeout_answer_the_timeout_error() {
    let srv = crate::support::TestServer::start_with(crate::support::Options {
        engine: Some(fedstore_promql::EngineOptions {
            timeout: std::time::Duration::from_millis(20),
            ..Default::default()
        }),
        ..Default::default()
    });
    let n = 60_000;
    let mut app = srv.head.appender();
    for i in 0..n {
        let l = fedstore_storage::Labels::from_pairs([
            ("__name__", "many"),
            ("i", i.to_string().as_str()),
        ]);
        app.append(&l, T0, i as f64).unwrap();
    }
    app.commit().unwrap();
    let t = format!("{}", T0 / 1000);
    let want = r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#;
    for path in [
        format!(
            "/api/v1/query?query={}&time={t}&timeout=10ms",
            enc("count({__name__=~\"m.*\"})")
        ),
        format!("/api/v1/series?match[]={}", enc("{__name__=~\"m.*\"}")),
        format!(
            "/api/v1/label/i/values?match[]={}",
            enc("{__name__=~\"m.*\"}")
        ),
    ] {
        let (status, body) = call(&srv, &path);
        assert_eq!((status, body.as_str()), (503, want), "{path}");
    }
}
