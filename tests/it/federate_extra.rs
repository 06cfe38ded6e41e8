//! fedstore's own `/federate` extensions: `shard`/`shards`, `/api/v1/federate/count`, and
//! `metadata=true` with scraped TYPE/HELP.

use std::collections::BTreeSet;

use fedstore_storage::Labels;

use crate::scrape::{Fixture, ScrapeServer, wait_for};
use crate::support::{TestServer, enc, get, gunzip};

const NOW: i64 = 1_000_000;

/// 6000 series over 7 names (more than one render segment, so the streamed path runs), one
/// stale series (no sample in the lookback window).
fn server() -> TestServer {
    let srv = TestServer::start_with(crate::support::Options {
        now_ms: Some(NOW),
        ..Default::default()
    });
    let mut app = srv.head.appender();
    for i in 0..6000 {
        let l = Labels::from_pairs([
            ("__name__", format!("m{}", i % 7)),
            ("job", if i % 2 == 0 { "a" } else { "b" }.to_owned()),
            ("i", i.to_string()),
        ]);
        app.append(&l, NOW - 1000, f64::from(i)).unwrap();
    }
    let old = Labels::from_pairs([("__name__", "m0"), ("job", "a"), ("i", "old")]);
    app.append(&old, NOW - 3_600_000, 1.0).unwrap();
    app.commit().unwrap();
    srv
}

fn query(matches: &[&str], extra: &str) -> String {
    let mut q: Vec<String> = matches
        .iter()
        .map(|m| format!("match[]={}", enc(m)))
        .collect();
    if !extra.is_empty() {
        q.push(extra.to_owned());
    }
    q.join("&")
}

/// Sample lines of a federate answer (gzip-encoded when `gzip`).
fn lines(srv: &TestServer, matches: &[&str], extra: &str, gzip: bool) -> Vec<String> {
    let headers: &[(&str, &str)] = if gzip {
        &[("Accept-Encoding", "gzip")]
    } else {
        &[]
    };
    let a = get(
        &format!("{}/federate?{}", srv.url(), query(matches, extra)),
        headers,
    );
    assert_eq!(
        a.status,
        200,
        "{extra}: {}",
        String::from_utf8_lossy(&a.body)
    );
    let text = if gzip { gunzip(&a.body) } else { a.text() };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn shards_partition_the_answer_exactly() {
    let srv = server();
    let selections: &[&[&str]] = &[
        &[r#"{__name__=~"m.*"}"#],        // streamed on the render pool
        &[r#"{job="a"}"#],                // rendered inline
        &["m1", r#"{job="b",i=~"1.*"}"#], // overlapping selectors
    ];
    for sel in selections {
        let whole = lines(&srv, sel, "", false);
        assert!(!whole.is_empty(), "{sel:?}");
        let whole_set: BTreeSet<_> = whole.iter().cloned().collect();
        assert_eq!(whole_set.len(), whole.len(), "{sel:?}: duplicates");
        for n in [1u64, 2, 3, 7] {
            let mut union = Vec::new();
            for i in 0..n {
                let part = lines(&srv, sel, &format!("shard={i}&shards={n}"), i % 2 == 1);
                if n > 1 && whole.len() > 100 {
                    assert!(
                        !part.is_empty() && part.len() < whole.len(),
                        "{sel:?} shard {i}/{n}: {} of {}",
                        part.len(),
                        whole.len()
                    );
                }
                union.extend(part);
            }
            let union_set: BTreeSet<_> = union.iter().cloned().collect();
            assert_eq!(
                union.len(),
                union_set.len(),
                "{sel:?} n={n}: a series in two shards"
            );
            assert_eq!(union_set, whole_set, "{sel:?} n={n}: union differs");
        }
    }
    // The split is a property of the series, not of the request: one series lands in the same
    // shard whatever else is selected.
    let one = lines(&srv, &[r#"m3{i="10"}"#], "", false);
    let owner: Vec<u64> = (0..5)
        .filter(|i| {
            !lines(
                &srv,
                &[r#"{__name__=~"m.*"}"#],
                &format!("shard={i}&shards=5"),
                false,
            )
            .iter()
            .all(|l| l != &one[0])
        })
        .collect();
    let direct: Vec<u64> = (0..5)
        .filter(|i| {
            !lines(
                &srv,
                &[r#"m3{i="10"}"#],
                &format!("shard={i}&shards=5"),
                false,
            )
            .is_empty()
        })
        .collect();
    assert_eq!(owner.len(), 1);
    assert_eq!(owner, direct);
}

#[test]
fn bad_shard_parameters_are_400_and_the_server_keeps_serving() {
    let srv = server();
    let cases: &[(&str, &str)] = &[
        ("shard=1", "must be given together"),
        ("shards=3", "must be given together"),
        ("shard=3&shards=3", "must be below shards=3"),
        ("shard=0&shards=0", "invalid shards=0"),
        ("shard=a&shards=2", "invalid shard=\"a\""),
        ("shard=0&shards=1e3", "invalid shards=\"1e3\""),
        ("metadata=maybe", "invalid metadata"),
    ];
    for (extra, want) in cases {
        for path in ["federate", "api/v1/federate/count"] {
            let a = get(
                &format!("{}/{path}?{}", srv.url(), query(&["m1"], extra)),
                &[],
            );
            assert_eq!(a.status, 400, "{path} {extra}");
            let msg = match serde_json::from_slice::<serde_json::Value>(&a.body) {
                Ok(v) => v["error"].as_str().unwrap().to_owned(),
                Err(_) => a.text(),
            };
            assert!(msg.contains(want), "{path} {extra}: {msg}");
        }
    }
    assert_eq!(lines(&srv, &["m1"], "", false).len(), 6000 / 7);
}

#[test]
fn count_matches_what_federate_answers() {
    let srv = server();
    let sels = [r#"{job="a"}"#, "m0", r#"{__name__=~"m[12]"}"#, "absent"];
    let a = get(
        &format!("{}/api/v1/federate/count?{}", srv.url(), query(&sels, "")),
        &[],
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.content_type, "application/json");
    let v: serde_json::Value = serde_json::from_str(&a.text()).unwrap();
    assert_eq!(v["status"], "success");
    let matches = v["data"]["matches"].as_array().unwrap();
    assert_eq!(matches.len(), sels.len());
    for (m, sel) in matches.iter().zip(sels) {
        assert_eq!(m["match"], sel);
        let want = lines(&srv, &[sel], "", false).len();
        assert_eq!(m["series"].as_u64().unwrap() as usize, want, "{sel}");
    }
    let total = v["data"]["series"].as_u64().unwrap() as usize;
    assert_eq!(total, lines(&srv, &sels, "", false).len());
    // The stale series is selected but outside the lookback window: not counted.
    assert_eq!(matches[1]["series"], 6000 / 7 + 1);
    // Per shard, too.
    let mut sum = 0;
    for i in 0..3 {
        let a = get(
            &format!(
                "{}/api/v1/federate/count?{}",
                srv.url(),
                query(&sels, &format!("shard={i}&shards=3"))
            ),
            &[],
        );
        let v: serde_json::Value = serde_json::from_str(&a.text()).unwrap();
        sum += v["data"]["series"].as_u64().unwrap() as usize;
    }
    assert_eq!(sum, total);
    let a = get(&format!("{}/api/v1/federate/count", srv.url()), &[]);
    assert_eq!(a.status, 400);
    assert!(a.text().contains("no match[] parameter"), "{}", a.text());
}

#[test]
fn metadata_parameter_federates_scraped_type_and_help() {
    let fx = Fixture::start();
    fx.set_body(
        "/metrics",
        "# HELP reqs_total Requests \\\\ served.\n# TYPE reqs_total counter\nreqs_total{code=\"200\"} 5\n\
         # TYPE temp gauge\ntemp 21.5\n\
         # HELP lat Latency.\n# TYPE lat histogram\nlat_bucket{le=\"+Inf\"} 1\nlat_sum 2\nlat_count 1\n\
         plain 1\n",
    );
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: m\n    static_configs:\n      - targets: ['{}']\n",
        fx.addr
    );
    let srv = ScrapeServer::start(&yaml);
    let sel = r#"{job="m",__name__!~"scrape_.*|up"}"#;
    let url = |extra: &str| format!("{}/federate?{}", srv.url(), query(&[sel], extra));
    let with = wait_for(10, "scraped metadata", || {
        let t = get(&url("metadata=true"), &[]).text();
        t.contains("# TYPE temp gauge").then_some(t)
    });
    let headers: Vec<&str> = with.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(
        headers,
        [
            "# TYPE lat_bucket untyped",
            "# TYPE lat_count untyped",
            "# TYPE lat_sum untyped",
            "# TYPE plain untyped",
            "# HELP reqs_total Requests \\\\ served.",
            "# TYPE reqs_total counter",
            "# TYPE temp gauge",
        ]
    );
    // Off by default: Prometheus's bytes, and the same samples either way.
    let without = get(&url(""), &[]).text();
    assert!(
        !without.contains("# HELP") && !without.contains("counter"),
        "{without}"
    );
    let samples = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
            .collect()
    };
    assert_eq!(samples(&with), samples(&without));
    // gzip: the same text.
    let gz = get(&url("metadata=true"), &[("Accept-Encoding", "gzip")]);
    assert_eq!(samples(&gunzip(&gz.body)), samples(&with));
    assert!(gunzip(&gz.body).contains("# TYPE reqs_total counter"));
}
