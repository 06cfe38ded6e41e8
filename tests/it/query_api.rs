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
