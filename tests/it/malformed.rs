//! Malformed requests for every endpoint family not in tests/it/limits.rs's table (which has
//! `/federate`, `/api/v1/federate/count`, remote write and read, import, query, query_range
//! and series): the rest of the query API, the rules API, `/-/reload`, the admin paths,
//! methods and oversized bodies. Each case must get its 4xx (or, for a reload whose file is
//! broken, Prometheus's 500), the query API's answers must be JSON errors, nothing may be
//! stored, and the server must keep serving.

use crate::support::{Options, TestServer, get};

/// (method, path with query, content type, body, status, text the answer must contain)
type Case<'a> = (&'a str, &'a str, &'a str, Vec<u8>, u16, &'a str);

fn run(srv: &TestServer, cases: Vec<Case<'_>>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for (method, path, ct, body, want, text) in cases {
        let url = format!("{}{path}", srv.url());
        let resp = match method {
            "GET" => agent.get(&url).call(),
            "DELETE" => agent.delete(&url).call(),
            "PUT" => agent.put(&url).header("Content-Type", ct).send(&body[..]),
            _ => agent.post(&url).header("Content-Type", ct).send(&body[..]),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let answer = resp.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(status, want, "{method} {path}: {answer}");
        assert!(
            answer.contains(text),
            "{method} {path}: {answer:?} lacks {text:?}"
        );
        // The query API answers JSON errors; remote write/read and import answer plain
        // text, as Prometheus's `http.Error`.
        let plain = ["/api/v1/write", "/api/v1/read", "/api/v1/import"]
            .iter()
            .any(|p| path.starts_with(p));
        if path.starts_with("/api/v1/") && !plain && status == 400 {
            let v: serde_json::Value = serde_json::from_str(&answer)
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {answer}"));
            assert_eq!(v["status"], "error", "{method} {path}");
            assert_eq!(v["errorType"], "bad_data", "{method} {path}");
        }
        assert_eq!(srv.head.num_series(), 0, "{method} {path}: nothing stored");
        let h = get(&format!("{}/-/healthy", srv.url()), &[]);
        assert_eq!(h.status, 200, "{method} {path}: server still serving");
    }
}

#[test]
fn query_rules_and_admin_api_refuse_malformed_requests() {
    let srv = TestServer::start();
    let form = "application/x-www-form-urlencoded";
    // A form body far over any sane query: refused whole, not parsed.
    let huge_form = {
        let mut b = b"query=".to_vec();
        b.resize(64 << 20, b'a');
        b
    };
    let cases: Vec<Case<'_>> = vec![
        // Instant queries.
        (
            "GET",
            "/api/v1/query",
            "",
            vec![],
            400,
            "invalid parameter \\\"query\\\"",
        ),
        (
            "GET",
            "/api/v1/query?query=up&time=yesterday",
            "",
            vec![],
            400,
            "invalid parameter \\\"time\\\"",
        ),
        (
            "GET",
            "/api/v1/query?query=up&timeout=never",
            "",
            vec![],
            400,
            "invalid parameter \\\"timeout\\\"",
        ),
        (
            "GET",
            "/api/v1/query?query=%ff%fe",
            "",
            vec![],
            400,
            "bad_data",
        ),
        (
            "POST",
            "/api/v1/query",
            form,
            b"query=rate(up[5m]".to_vec(),
            400,
            "parse error",
        ),
        (
            "POST",
            "/api/v1/query",
            form,
            b"query=%zz".to_vec(),
            400,
            "bad_data",
        ),
        ("POST", "/api/v1/query", form, huge_form, 413, ""),
        // Range queries.
        (
            "GET",
            "/api/v1/query_range?query=up&start=10&end=1&step=1",
            "",
            vec![],
            400,
            "end timestamp must not be before start time",
        ),
        (
            "GET",
            "/api/v1/query_range?query=up&start=1&end=10&step=0",
            "",
            vec![],
            400,
            "zero or negative query resolution step",
        ),
        (
            "GET",
            "/api/v1/query_range?query=up&start=0&end=100000000&step=1",
            "",
            vec![],
            400,
            "exceeded maximum resolution of 11,000 points per timeseries",
        ),
        (
            "GET",
            "/api/v1/query_range?query=up[5m]&start=1&end=10&step=1",
            "",
            vec![],
            400,
            "invalid expression type \\\"range vector\\\" for range query",
        ),
        (
            "GET",
            "/api/v1/query_range?query=up&start=1&end=10",
            "",
            vec![],
            400,
            "invalid parameter \\\"step\\\"",
        ),
        // Other query endpoints.
        (
            "GET",
            "/api/v1/format_query?query=sum(",
            "",
            vec![],
            400,
            "parse error",
        ),
        (
            "GET",
            "/api/v1/query_exemplars?query=up&start=x&end=1",
            "",
            vec![],
            400,
            "bad_data",
        ),
        (
            "GET",
            "/api/v1/query_exemplars?query=up{&start=1&end=2",
            "",
            vec![],
            400,
            "parse error",
        ),
        (
            "GET",
            "/api/v1/series?match[]=up&start=nope",
            "",
            vec![],
            400,
            "invalid parameter \\\"start\\\"",
        ),
        (
            "GET",
            "/api/v1/series?match[]=%7Ba%3D%22%22%7D",
            "",
            vec![],
            400,
            "bad_data",
        ),
        (
            "GET",
            "/api/v1/labels?match[]=up%7B",
            "",
            vec![],
            400,
            "bad_data",
        ),
        (
            "GET",
            "/api/v1/labels?start=x",
            "",
            vec![],
            400,
            "invalid parameter \\\"start\\\"",
        ),
        (
            "GET",
            "/api/v1/label/0bad/values",
            "",
            vec![],
            400,
            "invalid label name",
        ),
        (
            "GET",
            "/api/v1/label/job/values?match[]=%7B",
            "",
            vec![],
            400,
            "bad_data",
        ),
        (
            "GET",
            "/api/v1/metadata?limit=lots",
            "",
            vec![],
            400,
            "limit must be a number",
        ),
        // `{}` parses (2.42's ParseMetricSelector returns no matchers): the series API
        // refuses it, /federate answers an empty 200, as Prometheus.
        (
            "GET",
            "/api/v1/series?match[]=%7B%7D",
            "",
            vec![],
            400,
            "match[] must contain at least one non-empty matcher",
        ),
        ("GET", "/federate?match[]=%7B%7D", "", vec![], 200, ""),
        // Rules API.
        (
            "GET",
            "/api/v1/rules?type=bogus",
            "",
            vec![],
            400,
            "not supported value",
        ),
        ("POST", "/api/v1/rules", form, vec![], 405, ""),
        ("DELETE", "/api/v1/alerts", "", vec![], 405, ""),
        // Methods the endpoints do not answer.
        ("DELETE", "/api/v1/query?query=up", "", vec![], 405, ""),
        (
            "PUT",
            "/api/v1/write",
            "application/x-protobuf",
            vec![],
            405,
            "",
        ),
        ("GET", "/api/v1/read", "", vec![], 405, ""),
        ("GET", "/api/v1/import/prometheus", "", vec![], 405, ""),
        ("POST", "/api/v1/status/config", form, vec![], 405, ""),
        // Remote write and read with empty or wrongly encoded bodies.
        (
            "POST",
            "/api/v1/write",
            "application/x-protobuf",
            vec![],
            400,
            "",
        ),
        (
            "POST",
            "/api/v1/read",
            "application/x-protobuf",
            vec![],
            400,
            "",
        ),
        (
            "POST",
            "/api/v1/read",
            "application/x-protobuf",
            snap::raw::Encoder::new()
                .compress_vec(b"\x0a\x03\x08\x01\x10")
                .unwrap(),
            400,
            "",
        ),
        // Admin: fedstore has no TSDB admin API (Prometheus without --web.enable-admin-api
        // answers 503 `admin APIs disabled`); the paths are unknown and change nothing.
        (
            "POST",
            "/api/v1/admin/tsdb/delete_series?match[]=up",
            form,
            vec![],
            404,
            "",
        ),
        (
            "POST",
            "/api/v1/admin/tsdb/clean_tombstones",
            form,
            vec![],
            404,
            "",
        ),
        ("POST", "/api/v1/admin/tsdb/snapshot", form, vec![], 404, ""),
    ];
    run(&srv, cases);
}

#[test]
fn reload_refuses_broken_files_and_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    let good = "global:\n  external_labels: {dc: a}\n";
    std::fs::write(&cfg, good).unwrap();
    let path = cfg.clone();
    let srv = TestServer::start_with(Options {
        state: Some(Box::new(move |s: &mut fedstore::server::AppState| {
            s.config_file = Some(path);
            s.enable_lifecycle = true;
        })),
        ..Options::default()
    });
    let files: [(&str, &str); 4] = [
        ("scrape_configs: [oops\n", "couldn't load configuration"),
        ("unknown_section: 1\n", "unknown_section"),
        (
            "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
            "found multiple scrape configs with job name",
        ),
        (
            "global:\n  scrape_interval: -1s\n",
            "couldn't load configuration",
        ),
    ];
    for (yaml, text) in files {
        std::fs::write(&cfg, yaml).unwrap();
        run(
            &srv,
            vec![
                (
                    "POST",
                    "/-/reload",
                    "",
                    vec![],
                    500,
                    "failed to reload config",
                ),
                ("PUT", "/-/reload", "", vec![], 500, text),
            ],
        );
    }
    std::fs::write(&cfg, good).unwrap();
    run(
        &srv,
        vec![
            (
                "GET",
                "/-/reload",
                "",
                vec![],
                405,
                "Only POST or PUT requests allowed",
            ),
            ("POST", "/-/reload", "", vec![], 200, ""),
        ],
    );
    // Without --web.enable-lifecycle: 403 and the file is not read.
    let off = TestServer::start();
    run(
        &off,
        vec![(
            "POST",
            "/-/reload",
            "",
            vec![],
            403,
            "Lifecycle API is not enabled.",
        )],
    );
}
