//! Limits that fail cleanly (422/503/413 with a message naming the limit, nothing stored,
//! counted on `/metrics`), and a table of malformed requests per endpoint: each is a 400 or
//! 413, stores nothing, and the server keeps serving.

use std::sync::Arc;

use fedstore::limits::{Gate, RequestLimit};
use fedstore::remote::RemoteWriteReceiver;
use fedstore::server::AppState;
use fedstore_storage::Labels;

use crate::remote_write::{series, snappy};
use crate::support::{Options, TestServer, enc, get, gunzip, post};

const NOW: i64 = 1_700_000_000_000;

fn start(state: fn(&mut AppState)) -> TestServer {
    TestServer::start_with(Options {
        now_ms: Some(NOW),
        state: Some(Box::new(state)),
        ..Options::default()
    })
}

fn load(srv: &TestServer, n: usize) {
    let mut app = srv.head.appender();
    for i in 0..n {
        let l = Labels::from_pairs([("__name__", format!("m{}", i % 3)), ("i", i.to_string())]);
        app.append(&l, NOW - 1000, 1.0).unwrap();
    }
    app.commit().unwrap();
}

/// The value of `fedstore_http_refusals_total{handler,reason}` on `/metrics`, 0 if absent.
fn refusals(srv: &TestServer, handler: &str, reason: &str) -> u64 {
    let text = get(&format!("{}/metrics", srv.url()), &[]).text();
    let prefix =
        format!("fedstore_http_refusals_total{{handler=\"{handler}\",reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.parse().unwrap())
}

fn healthy(srv: &TestServer) {
    assert_eq!(get(&format!("{}/-/healthy", srv.url()), &[]).status, 200);
}

#[test]
fn federate_over_max_series_is_422_before_any_byte() {
    let srv = start(|s| s.federate_max_series = Some(100));
    load(&srv, 3000);
    let url =
        |sel: &str, extra: &str| format!("{}/federate?match[]={}{extra}", srv.url(), enc(sel));
    // (selector, extra parameters, selected series)
    let over: &[(&str, &str, usize)] = &[
        (r#"{__name__=~"m.*"}"#, "", 3000), // selected on the render pool
        ("m1", "", 1000),                   // selected inline
        (r#"{__name__=~"m.*"}"#, "&shard=0&shards=2", 0), // still over after sharding
    ];
    for (i, &(sel, extra, n)) in over.iter().enumerate() {
        for gzip in [false, true] {
            let h: &[(&str, &str)] = if gzip {
                &[("Accept-Encoding", "gzip")]
            } else {
                &[]
            };
            let a = get(&url(sel, extra), h);
            assert_eq!(a.status, 422, "{sel}{extra}");
            let text = if gzip { gunzip(&a.body) } else { a.text() };
            assert!(
                text.contains(
                    "over the limit of 100 series per answer (--web.federate.max-series)"
                ),
                "{text}"
            );
            if n > 0 {
                assert!(
                    text.starts_with(&format!("federate answer would have {n} series")),
                    "{text}"
                );
            }
            assert_eq!(
                refusals(&srv, "/federate", "too_many_series"),
                (2 * i + usize::from(gzip) + 1) as u64
            );
        }
    }
    // Under the limit: answered.
    let a = get(&url(r#"m1{i=~"1.."}"#, ""), &[]);
    assert_eq!(a.status, 200);
    let want = (100..200).filter(|i| i % 3 == 1).count();
    assert_eq!(
        a.text().lines().filter(|l| !l.starts_with('#')).count(),
        want
    );
}

#[test]
fn federate_with_a_full_queue_is_503_and_counted() {
    // No slot ever frees and nobody may wait: every federate is refused.
    let srv = start(|s| {
        s.federate_slots = Arc::new(tokio::sync::Semaphore::new(0));
        s.federate_gate = Gate::new(s.federate_slots.clone(), 0);
    });
    load(&srv, 10);
    for i in 1..=3 {
        let a = get(&format!("{}/federate?match[]=m1", srv.url()), &[]);
        assert_eq!(a.status, 503);
        assert!(
            a.text().contains("too many concurrent federate requests"),
            "{}",
            a.text()
        );
        assert_eq!(refusals(&srv, "/federate", "queue_full"), i);
    }
    healthy(&srv);
}

#[test]
fn remote_write_and_import_limits_refuse_whole_requests() {
    let srv = start(|s| {
        s.remote_write = Arc::new(
            RemoteWriteReceiver::new(s.head().clone(), 1 << 20).with_limit(RequestLimit {
                max_series: Some(2),
                max_samples: Some(4),
            }),
        );
        s.import_limit = RequestLimit {
            max_series: Some(2),
            max_samples: Some(4),
        };
    });
    let t = NOW - 1000;
    let s = |name: &str, n: usize| {
        let samples: Vec<(i64, f64)> = (0..n).map(|k| (t + k as i64, 1.0)).collect();
        series(&[("__name__", name)], &samples)
    };
    let write = |body: Vec<u8>| {
        post(
            &format!("{}/api/v1/write", srv.url()),
            "application/x-protobuf",
            &body,
        )
    };
    let import = |body: &str| {
        post(
            &format!("{}/api/v1/import/prometheus", srv.url()),
            "text/plain",
            body.as_bytes(),
        )
    };
    // (remote-write series, import text, want, message)
    let cases: Vec<(Vec<_>, String, u16, &str)> = vec![
        (
            vec![s("a", 1), s("b", 1), s("c", 1)],
            "a 1\nb 1\nc 1\n".into(),
            413,
            "request has 3 series, over the limit of 2",
        ),
        (
            vec![s("a", 5)],
            "a 1 1\na 2 2\na 3 3\na 4 4\na 5 5\n".into(),
            413,
            "request has 5 samples, over the limit of 4",
        ),
    ];
    for (i, (ts, text, want, msg)) in cases.into_iter().enumerate() {
        let a = write(snappy(ts));
        assert_eq!(a.status, want, "write case {i}: {}", a.text());
        assert!(
            a.text().contains(msg) && a.text().contains("web.remote-write."),
            "{}",
            a.text()
        );
        let a = import(&text);
        assert_eq!(a.status, want, "import case {i}: {}", a.text());
        assert!(
            a.text().contains(msg) && a.text().contains("web.import."),
            "{}",
            a.text()
        );
        assert_eq!(srv.head.num_series(), 0, "case {i}: nothing stored");
    }
    assert_eq!(
        refusals(&srv, "/api/v1/write", "too_many_series_or_samples"),
        2
    );
    assert_eq!(
        refusals(
            &srv,
            "/api/v1/import/prometheus",
            "too_many_series_or_samples"
        ),
        2
    );
    // At the limit: stored.
    assert_eq!(write(snappy(vec![s("a", 2), s("b", 2)])).status, 204);
    assert_eq!(import("c 1\nd 1\n").status, 204);
    assert_eq!(srv.head.num_series(), 4);
}

#[test]
fn malformed_requests_per_endpoint_store_nothing_and_the_server_keeps_serving() {
    let srv = start(|s| {
        s.remote_write = Arc::new(RemoteWriteReceiver::new(s.head().clone(), 1 << 10));
    });
    let big = vec![b'x'; 4 << 10];
    let bad_snappy = b"\x0a\xfe\xff\xff not snappy".to_vec();
    // Snappy header announcing 1 MiB: over the 1 KiB limit before anything is read.
    let announces_1mib = vec![0x80, 0x80, 0x40, 0x00];
    // (method, path with query, content type, body, status)
    type Case<'a> = (&'a str, &'a str, &'a str, Vec<u8>, u16);
    let cases: Vec<Case<'_>> = vec![
        ("GET", "/federate", "", vec![], 400),
        ("GET", "/federate?match[]=%zz", "", vec![], 400),
        ("GET", "/federate?match[]=%7B", "", vec![], 400),
        (
            "GET",
            "/federate?match[]=up&shard=1&shards=1",
            "",
            vec![],
            400,
        ),
        (
            "POST",
            "/federate",
            "application/x-www-form-urlencoded",
            b"match[]=%".to_vec(),
            400,
        ),
        (
            "GET",
            "/api/v1/federate/count?match[]=a%7Bb%3D~%22(%22%7D",
            "",
            vec![],
            400,
        ),
        (
            "POST",
            "/api/v1/write",
            "application/x-protobuf",
            bad_snappy,
            400,
        ),
        (
            "POST",
            "/api/v1/write",
            "application/x-protobuf",
            announces_1mib,
            413,
        ),
        (
            "POST",
            "/api/v1/write",
            "application/x-protobuf",
            snap::raw::Encoder::new().compress_vec(&big).unwrap(),
            413,
        ),
        (
            "POST",
            "/api/v1/write",
            "application/x-protobuf",
            snap::raw::Encoder::new()
                .compress_vec(b"\x0a\x05junk")
                .unwrap(),
            400,
        ),
        (
            "POST",
            "/api/v1/write",
            "application/x-protobuf",
            snappy(vec![series(&[("no_name", "x")], &[(NOW, 1.0)])]),
            400,
        ),
        (
            "POST",
            "/api/v1/import/prometheus",
            "text/plain",
            b"ok 1\nbad{ 1\n".to_vec(),
            400,
        ),
        (
            "POST",
            "/api/v1/import/prometheus",
            "text/plain",
            b"ok{a=\"1\",a=\"2\"} 1\n".to_vec(),
            400,
        ),
        ("GET", "/api/v1/query?query=sum(", "", vec![], 400),
        (
            "GET",
            "/api/v1/query_range?query=up&start=x&end=1&step=1",
            "",
            vec![],
            400,
        ),
        ("GET", "/api/v1/series", "", vec![], 400),
        (
            "POST",
            "/api/v1/read",
            "application/x-protobuf",
            b"garbage".to_vec(),
            400,
        ),
    ];
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    for (method, path, ct, body, want) in cases {
        let url = format!("{}{path}", srv.url());
        let resp = if method == "GET" {
            agent.get(&url).call()
        } else {
            agent.post(&url).header("Content-Type", ct).send(&body[..])
        };
        let status = resp.unwrap().status().as_u16();
        assert_eq!(status, want, "{method} {path}");
        assert_eq!(srv.head.num_series(), 0, "{method} {path}: nothing stored");
        healthy(&srv);
    }
}

/// `--web.max-connections`: with the limit reached, a further connection is not served (it
/// waits in the listen backlog, as behind Prometheus's `LimitListener`) until one closes.
#[test]
fn max_connections_makes_further_connections_wait() {
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;
    use std::time::Duration;
    const MAX: usize = 3;
    let srv = start(|s| s.max_connections = MAX);
    let addr = srv.url().trim_start_matches("http://").to_owned();
    let request = format!("GET /-/healthy HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    // Sends the request and reads an answer, or times out.
    let ask = |c: &mut TcpStream, wait: Duration| -> Option<String> {
        c.set_read_timeout(Some(wait)).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut buf = [0u8; 1024];
        match c.read(&mut buf) {
            Ok(n) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            _ => None,
        }
    };
    let mut held: Vec<TcpStream> = (0..MAX)
        .map(|i| {
            let mut c = TcpStream::connect(&addr).unwrap();
            let a = ask(&mut c, Duration::from_secs(10));
            assert!(
                a.as_deref().is_some_and(|a| a.starts_with("HTTP/1.1 200")),
                "connection {i}: {a:?}"
            );
            c
        })
        .collect();
    let mut extra = TcpStream::connect(&addr).unwrap();
    assert_eq!(
        ask(&mut extra, Duration::from_millis(1500)),
        None,
        "connection {} over the limit was served",
        MAX + 1
    );
    // One held connection closes: the waiting one is accepted and its request answered.
    drop(held.pop());
    extra
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = extra.read(&mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // The held ones are still served.
    for c in &mut held {
        assert!(ask(c, Duration::from_secs(10)).is_some());
    }
}
