//! Remote read against a live Prometheus 2.42, both ways:
//! - the same requests to fedstore and to a Prometheus holding the same data (remote-written to
//!   both) get the same status, headers and answer (SAMPLES decompressed, streamed frames to
//!   the byte);
//! - a second Prometheus with only `remote_read` pointing at fedstore answers PromQL instant
//!   and range queries exactly as the Prometheus that holds the data locally.

use fedstore::remote::read::ReadLimits;

use crate::prometheus::{self, Prometheus};
use crate::remote_read::{cases, external_labels, load, post_read};
use crate::support::{Options, TestServer, enc, free_port_in, get};

/// This file's port range.
const PORT_BASE: u16 = 19850;

const EXTERNAL: &str = "global:\n  external_labels:\n    zone: ie\n    region: eu\n";

/// Returns false (after a loud skip) when Prometheus is missing; under `CI=true` that fails.
fn peer(test: &str) -> bool {
    if prometheus::installed(test) {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: {} is required in CI",
        prometheus::PROMETHEUS
    );
    false
}

/// The `data` of a Prometheus API answer, failing on anything but success without warnings.
fn data(base: &str, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
    let qs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    let a = get(&format!("{base}{path}?{}", qs.join("&")), &[]);
    let v: serde_json::Value = serde_json::from_slice(&a.body).expect("JSON");
    assert_eq!(v["status"], "success", "{base}{path} {params:?}: {v}");
    assert!(v.get("warnings").is_none(), "{base}{path} {params:?}: {v}");
    v["data"].clone()
}

#[test]
fn remote_read_matches_live_prometheus() {
    const TEST: &str = "remote_read_matches_live_prometheus";
    if !peer(TEST) {
        return;
    }
    let port = free_port_in(PORT_BASE);
    // Limits low enough that the cases split frames (`sq`'s chunks are ~150 bytes) and hit
    // the sample limit (`sq` has 201 samples), the same on both sides.
    let mut local = Prometheus::spawn(
        port,
        EXTERNAL,
        &[
            "--web.enable-remote-write-receiver",
            "--storage.remote.read-max-bytes-in-frame=200",
            "--storage.remote.read-sample-limit=150",
        ],
    );
    let srv = TestServer::start_with(Options {
        external_labels: external_labels(),
        remote_read: Some(ReadLimits {
            max_bytes_in_frame: 200,
            sample_limit: 150,
            ..ReadLimits::default()
        }),
        ..Options::default()
    });
    // The same data, mostly persisted into 30 s blocks: answers read across blocks and head.
    let blocks = TestServer::start_with(Options {
        external_labels: external_labels(),
        remote_read: Some(ReadLimits {
            max_bytes_in_frame: 200,
            sample_limit: 150,
            ..ReadLimits::default()
        }),
        storage: Some(|o| o.db.min_block_duration_ms = 30_000),
        ..Options::default()
    });
    local.wait_ready(60);
    load(local.url());
    load(srv.url());
    load(blocks.url());
    blocks.db.compact().expect("compaction");
    assert!(blocks.db.blocks().len() > 1, "data went into blocks");

    let mut diffs = Vec::new();
    let servers = [("head", srv.url()), ("blocks", blocks.url())];
    for ((case, body), (layout, url)) in cases()
        .into_iter()
        .flat_map(|c| servers.iter().map(move |s| (c.clone(), *s)))
    {
        let case = format!("{case} ({layout})");
        let want = post_read(local.url(), &body);
        let got = post_read(url, &body);
        let heads = |r: &crate::remote_read::Reply| {
            (
                r.status,
                r.header("content-type").to_owned(),
                r.header("content-encoding").to_owned(),
                r.header("x-content-type-options").to_owned(),
            )
        };
        if heads(&got) != heads(&want) {
            diffs.push(format!(
                "{case}: got {:?}, Prometheus {:?}",
                heads(&got),
                heads(&want)
            ));
            continue;
        }
        let snappy = want.status == 200 && want.header("content-encoding") == "snappy";
        let (g, w) = if snappy {
            let d = |b: &[u8]| snap::raw::Decoder::new().decompress_vec(b).expect("snappy");
            (d(&got.body), d(&want.body))
        } else {
            (got.body.clone(), want.body.clone())
        };
        if g != w {
            diffs.push(format!(
                "{case}: bodies differ\n  got:  {}\n  want: {}",
                describe(&g, snappy),
                describe(&w, snappy)
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );

    // A Prometheus with no data of its own, reading fedstore, answers as `local` does. Its
    // external labels equal fedstore's, so each select gains `zone="ie", region="eu"`, which
    // fedstore turns into `zone=""` and merges back, and the reader strips again.
    // (A fedstore with the default limits: the reader selects all 201 samples of `sq`.)
    let srv = TestServer::start_with(Options {
        external_labels: external_labels(),
        ..Options::default()
    });
    load(srv.url());
    let yaml = format!(
        "{EXTERNAL}remote_read:\n  - url: {}/api/v1/read\n    read_recent: true\n",
        srv.url()
    );
    let reader_port = free_port_in(PORT_BASE);
    let mut reader = Prometheus::spawn(reader_port, &yaml, &[]);
    reader.wait_ready(60);
    let instant: &[(&str, &str)] = &[
        ("ord", "100.5"),
        ("st", "115"),
        ("st", "120"),
        ("st", "125"),
        ("count_over_time(b[20s])", "120"),
        ("b[20s] offset 10s", "120"),
        ("rate(c1[100s])", "100"),
        ("increase(c1[100s])", "100"),
        ("sum by (env) (cpu)", "100"),
        ("mem", "100"),
        ("fmt", "100"),
        ("up_l", "100"),
        ("{__name__=~\"c.*\"}", "100"),
        ("lb", "400"),
        ("lb", "400.001"),
        ("sq[10s]", "150"),
    ];
    let mut diffs = Vec::new();
    for (query, time) in instant {
        let params = [("query", *query), ("time", *time)];
        let want = data(local.url(), "/api/v1/query", &params);
        let got = data(reader.url(), "/api/v1/query", &params);
        if got != want {
            diffs.push(format!(
                "instant {query} @{time}\n  got:  {got}\n  want: {want}"
            ));
        }
    }
    let range: &[(&str, &str, &str, &str)] = &[
        ("b", "90", "210", "5"),
        ("st", "100", "200", "10"),
        ("rate(c1[30s])", "10", "100", "5"),
        ("sum(cpu) + sum(mem)", "0", "500", "50"),
        ("sq", "0", "200", "7"),
        ("max_over_time(sq[30s])", "0", "240", "15"),
    ];
    for (query, start, end, step) in range {
        let params = [
            ("query", *query),
            ("start", *start),
            ("end", *end),
            ("step", *step),
        ];
        let want = data(local.url(), "/api/v1/query_range", &params);
        let got = data(reader.url(), "/api/v1/query_range", &params);
        if got != want {
            diffs.push(format!(
                "range {query} {start}..{end}/{step}\n  got:  {got}\n  want: {want}"
            ));
        }
    }
    // A selector naming an external label keeps it: the reader adds only `region="eu"`, fedstore
    // matches `zone="ie"` as `zone=""` and merges both labels back, the reader strips `region`.
    // (The local Prometheus has no stored `zone` and answers nothing: not comparable.)
    let zone = data(
        reader.url(),
        "/api/v1/query",
        &[("query", "cpu{zone=\"ie\"}"), ("time", "100")],
    );
    let got: Vec<String> = zone["result"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|s| s["metric"].to_string())
        .collect();
    assert_eq!(
        got,
        vec![
            r#"{"__name__":"cpu","env":"dev","host":"h3","zone":"ie"}"#,
            r#"{"__name__":"cpu","env":"prod","host":"h1","zone":"ie"}"#,
            r#"{"__name__":"cpu","env":"prod","host":"h2","zone":"ie"}"#,
        ]
    );
    // Every answer compared must hold data: a reader that got nothing would match nothing.
    let ord = data(
        reader.url(),
        "/api/v1/query",
        &[("query", "ord"), ("time", "100.5")],
    );
    assert_eq!(ord["result"].as_array().map(Vec::len), Some(3), "{ord}");
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    reader.assert_alive();
    local.assert_alive();
}

/// A readable form of an answer body for failure messages: the frames of a streamed answer
/// (labels and chunk ranges, sample counts, data lengths), else the bytes.
fn describe(body: &[u8], samples: bool) -> String {
    use std::fmt::Write as _;
    if samples {
        return clip(body);
    }
    let (frames, tail) = crate::remote_read::frames(body);
    let mut s = String::new();
    for f in &frames {
        for cs in &f.chunked_series {
            let _ = write!(
                s,
                "\n    q{} {}:",
                f.query_index,
                crate::remote_read::names(&cs.labels)
            );
            for c in &cs.chunks {
                let n = crate::remote_read::chunk_samples(&c.data).len();
                let _ = write!(
                    s,
                    " [{}..{} n={n} bytes={}]",
                    c.min_time_ms,
                    c.max_time_ms,
                    c.data.len()
                );
            }
        }
    }
    let _ = write!(s, "\n    tail {tail:?}");
    s
}

fn clip(b: &[u8]) -> String {
    let s = format!("{b:?}");
    if s.len() > 600 {
        format!("{}...", &s[..600])
    } else {
        s
    }
}
