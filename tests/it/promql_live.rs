//! PromQL exactness against a live Prometheus 2.42 on identical data: the dataset
//! ([`dataset`]) goes into Prometheus as blocks (`promtool tsdb create-blocks-from openmetrics`)
//! and into fedstore through `POST /api/v1/import/prometheus`; every query of the corpus
//! (`tests/data/promql/*.promql`, expanded, plus [`random`] expressions) runs on both as an
//! instant query at several times and as a range query, and the answers are compared
//! ([`compare`]). Differences are printed in blocks, the first difference of each with context.
//!
//! `harness_detects_a_planted_difference` proves the harness on two Prometheus servers whose
//! data differ in one sample; `promtool_queries_fedstore` runs the real client against fedstore.
//! With `CI=true` a missing Prometheus or promtool fails the tests instead of skipping them.
//!
//! Ports come from 19900-19999.

mod compare;
mod corpus;
mod dataset;
mod random;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fedstore_tools::procs::ChildGuard;

use crate::prometheus::{PROMETHEUS, PROMTOOL, Prometheus};
use compare::{Client, Mode};
use corpus::Query;
use dataset::{SPAN_MS, T0_MS};

/// Seed of the random expressions.
const RANDOM_SEED: u64 = 0x5EED_2420;
/// Number of random expressions.
const RANDOM_COUNT: usize = 300;

fn free_port() -> u16 {
    crate::support::free_port_in(19900)
}

/// Instant query times: early, off the 15 s grid, and near the end (inside the blocks).
fn instant_times() -> [i64; 3] {
    [
        T0_MS + 30 * 60_000,
        T0_MS + 75 * 60_000 + 7_123,
        T0_MS + SPAN_MS - 2 * 60_000,
    ]
}

/// The range query: 2 h 20 m at a 70 s step (not a multiple of the scrape interval).
fn range_mode() -> Mode {
    Mode::Range(T0_MS + 10 * 60_000, T0_MS + SPAN_MS - 10 * 60_000, 70_000)
}

fn all_modes() -> Vec<Mode> {
    let mut m: Vec<Mode> = instant_times().iter().map(|t| Mode::Instant(*t)).collect();
    m.push(range_mode());
    m
}

/// The whole corpus: the expanded files, then the random expressions.
fn full_corpus() -> Vec<Query> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/promql");
    let mut q = corpus::load_dir(&dir).unwrap_or_else(|e| panic!("corpus: {e}"));
    q.extend(random::queries(RANDOM_SEED, RANDOM_COUNT));
    q
}

/// Whether Prometheus and promtool are installed; with `CI=true` their absence fails.
#[track_caller]
fn peers_present(test: &str) -> bool {
    use fedstore_tools::skips::peer_installed;
    peer_installed(test, PROMETHEUS) && peer_installed(test, PROMTOOL)
}

/// A Prometheus serving `data` from blocks, ready.
fn prometheus_with(data: &[dataset::SeriesData]) -> Prometheus {
    let port = free_port();
    let mut p = Prometheus::spawn_with_blocks(
        port,
        "global:\n  scrape_interval: 15s\nscrape_configs: []\n",
        &[],
        &dataset::openmetrics(data),
    );
    p.wait_ready(60);
    p
}

/// A `fedstore serve` child (the real binary) on its own data dir, stopped on drop.
struct Fedstore {
    guard: ChildGuard,
    url: String,
    dir: tempfile::TempDir,
}

impl Fedstore {
    /// Starts the binary with an empty scrape config and waits for `/-/ready`.
    fn start() -> Fedstore {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("empty.yml");
        std::fs::write(
            &cfg,
            "global:\n  scrape_interval: 15s\nscrape_configs: []\n",
        )
        .unwrap();
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedstore"));
        cmd.arg("serve")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let guard = ChildGuard::spawn("fedstore", cmd, &dir.path().join("log")).unwrap();
        let mut f = Fedstore {
            guard,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Err(e) = f.guard.check_alive() {
                panic!("{e}\n{}", f.log());
            }
            if ureq::get(&format!("{}/-/ready", f.url)).call().is_ok() {
                return f;
            }
            assert!(Instant::now() < deadline, "fedstore not ready\n{}", f.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Imports the dataset (one request per ~2 MB of text, series kept whole).
    fn import(&self, data: &[dataset::SeriesData]) {
        let url = format!("{}/api/v1/import/prometheus", self.url);
        for chunk in data.chunks(20) {
            let a =
                crate::support::post(&url, "text/plain", dataset::import_text(chunk).as_bytes());
            assert_eq!(a.status, 204, "import: {}\n{}", a.text(), self.log());
        }
        let metrics = crate::support::get(&format!("{}/metrics", self.url), &[]).text();
        let series = metrics
            .lines()
            .find_map(|l| l.strip_prefix("fedstore_head_series "))
            .and_then(|v| v.trim().parse::<f64>().ok());
        assert_eq!(
            series,
            Some(data.len() as f64),
            "head series after the import"
        );
    }

    /// Whether fedstore answers the query API (it did not before issue 10's API landed).
    fn has_query_api(&self) -> bool {
        let a = crate::support::get(&format!("{}/api/v1/query?query=1&time=1", self.url), &[]);
        a.status != 404
    }
}

/// Runs every query in every mode against both servers (4 client threads) and returns the
/// difference blocks in corpus order.
fn run_corpus(
    queries: &[Query],
    modes: &[Mode],
    want: &str,
    got: &str,
    names: (&str, &str),
) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let diffs: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let (w, g) = (Client::new(want), Client::new(got));
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(q) = queries.get(i) else { return };
                    for &m in modes {
                        let (a, b) = (w.run(&q.expr, m), g.run(&q.expr, m));
                        if let Some(d) = compare::diff(q, m, &a, &b, names) {
                            diffs.lock().unwrap().push((i, d));
                            // One block per query: the first mode that differs.
                            break;
                        }
                    }
                }
            });
        }
    });
    let mut d = diffs.into_inner().unwrap();
    d.sort_by_key(|(i, _)| *i);
    d.into_iter().map(|(_, s)| s).collect()
}

/// Fails with the first `shown` difference blocks and a count by corpus file.
#[track_caller]
fn assert_no_diffs(diffs: &[String], total: usize, names: (&str, &str)) {
    if diffs.is_empty() {
        return;
    }
    let mut by_file: std::collections::BTreeMap<String, usize> = Default::default();
    for d in diffs {
        let origin = d
            .trim_start_matches("--- ")
            .split([':', ' ', '('])
            .next()
            .unwrap_or("")
            .to_owned();
        *by_file.entry(origin).or_default() += 1;
    }
    // `PROMQL_LIVE_SHOW=n` prints more blocks (all of them with a large n).
    let shown = std::env::var("PROMQL_LIVE_SHOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    panic!(
        "{} of {total} queries differ between {} and {} (by source: {by_file:?}); first {}:\n{}",
        diffs.len(),
        names.0,
        names.1,
        shown.min(diffs.len()),
        diffs
            .iter()
            .take(shown)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn corpus_covers_the_language() {
    let q = full_corpus();
    let files = q.iter().filter(|q| !q.origin.starts_with("random")).count();
    assert!(files >= 1500, "only {files} queries from the corpus files");
    let text: String = q
        .iter()
        .map(|q| q.expr.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    // Every function and aggregation of Prometheus 2.42 (promql/parser/functions.go, lex.go).
    let words = [
        "abs(",
        "absent(",
        "absent_over_time(",
        "acos(",
        "acosh(",
        "asin(",
        "asinh(",
        "atan(",
        "atanh(",
        "avg_over_time(",
        "ceil(",
        "changes(",
        "clamp(",
        "clamp_max(",
        "clamp_min(",
        "cos(",
        "cosh(",
        "count_over_time(",
        "days_in_month(",
        "day_of_month(",
        "day_of_week(",
        "day_of_year(",
        "deg(",
        "delta(",
        "deriv(",
        "exp(",
        "floor(",
        "histogram_count(",
        "histogram_sum(",
        "histogram_fraction(",
        "histogram_quantile(",
        "holt_winters(",
        "hour(",
        "idelta(",
        "increase(",
        "irate(",
        "label_replace(",
        "label_join(",
        "last_over_time(",
        "ln(",
        "log10(",
        "log2(",
        "max_over_time(",
        "min_over_time(",
        "minute(",
        "month(",
        "pi(",
        "predict_linear(",
        "present_over_time(",
        "quantile_over_time(",
        "rad(",
        "rate(",
        "resets(",
        "round(",
        "scalar(",
        "sgn(",
        "sin(",
        "sinh(",
        "sort(",
        "sort_desc(",
        "sqrt(",
        "stddev_over_time(",
        "stdvar_over_time(",
        "sum_over_time(",
        "tan(",
        "tanh(",
        "time(",
        "timestamp(",
        "vector(",
        "year(",
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        " by ",
        "without",
        " + ",
        " - ",
        " * ",
        " / ",
        " % ",
        " ^ ",
        " atan2 ",
        " == ",
        " != ",
        " > ",
        " < ",
        " >= ",
        " <= ",
        " bool ",
        " and ",
        " or ",
        " unless ",
        " on",
        " ignoring",
        "group_left",
        "group_right",
        " offset ",
        " offset -",
        "@ start()",
        "@ end()",
        "@ 1",
        ":]",
        "[5m:1m]",
    ];
    let missing: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !text.contains(w))
        .collect();
    assert!(missing.is_empty(), "corpus never uses {missing:?}");
    assert!(
        q.iter().filter(|q| q.must_fail).count() >= 60,
        "too few error cases"
    );
}

#[test]
fn promql_matches_prometheus() {
    let test = "promql_live::promql_matches_prometheus";
    if !peers_present(test) {
        return;
    }
    let data = dataset::build();
    let fed = Fedstore::start();
    fed.import(&data);
    if !fed.has_query_api() {
        crate::support::skip(
            test,
            "fedstore does not answer /api/v1/query yet (issue 10)",
        );
        return;
    }
    let prom = prometheus_with(&data);
    let queries = full_corpus();
    let t = Instant::now();
    let names = ("prometheus", "fedstore");
    let diffs = run_corpus(&queries, &all_modes(), prom.url(), &fed.url, names);
    eprintln!(
        "{} queries x {} modes in {:.1}s",
        queries.len(),
        all_modes().len(),
        t.elapsed().as_secs_f64()
    );
    assert_no_diffs(&diffs, queries.len(), names);
}

/// Two Prometheus servers, the second with one sample of one series changed: every query that
/// can see the planted sample must be reported, and nothing else (no false positives between
/// two servers on the same data, so the comparison is deterministic).
#[test]
fn harness_detects_a_planted_difference() {
    if !peers_present("promql_live::harness_detects_a_planted_difference") {
        return;
    }
    let data = dataset::build();
    let mut planted = data.clone();
    let target = planted
        .iter_mut()
        .find(|s| {
            s.name() == "temperature_celsius"
                && s.labels.iter().any(|(n, v)| n == "sensor" && v == "c")
        })
        .expect("temperature_celsius{sensor=\"c\"}");
    // The sample just before the first instant query time, so both instant and range see it.
    let at = instant_times()[0];
    let slot = target
        .samples
        .iter()
        .rposition(|(t, _)| *t <= at)
        .expect("sample");
    target.samples[slot].1 += 1000.0;
    let (a, b) = (prometheus_with(&data), prometheus_with(&planted));
    // Every third query of the corpus (CI time), at the first time and as a range.
    let queries: Vec<Query> = full_corpus().into_iter().step_by(3).collect();
    let modes = [Mode::Instant(at), range_mode()];
    let diffs = run_corpus(&queries, &modes, a.url(), b.url(), ("clean", "planted"));
    // Queries that cannot see temperature_celsius must agree.
    let blind: Vec<&String> = diffs
        .iter()
        .filter(|d| {
            !d.contains("temperature_celsius") && !d.contains("__name__") && !d.contains("sensor")
        })
        .collect();
    assert!(
        blind.is_empty(),
        "differences where the planted sample is invisible:\n{}",
        blind
            .iter()
            .take(10)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The plain selector and its max must be flagged, with the planted value in the block.
    for must in ["temperature_celsius", "max(temperature_celsius)"] {
        let q = Query {
            expr: must.into(),
            origin: "planted".into(),
            must_fail: false,
            loose_error_text: false,
        };
        let d = run_corpus(
            std::slice::from_ref(&q),
            &[Mode::Instant(at)],
            a.url(),
            b.url(),
            ("clean", "planted"),
        );
        assert_eq!(d.len(), 1, "{must}: planted difference not reported");
        eprintln!("{}", d[0]);
    }
    // The promtool cases look at later times than the planted sample: they must agree.
    assert_promtool_agrees(a.url(), b.url());
    assert!(
        diffs.len() >= 10,
        "only {} corpus queries saw the planted sample",
        diffs.len()
    );
    eprintln!(
        "planted difference seen by {} of {} queries; first:\n{}",
        diffs.len(),
        queries.len(),
        diffs[0]
    );
}

/// Runs `promtool query instant|range|series|labels` against both servers (the one under test
/// second) and fails on the first output or exit status that differs.
#[track_caller]
fn assert_promtool_agrees(want_url: &str, got_url: &str) {
    let t = |ms: i64| format!("{}", ms / 1000);
    let (t1, start, end) = (
        t(instant_times()[1]),
        t(T0_MS + 3_600_000),
        t(T0_MS + 5_400_000),
    );
    let cases: Vec<Vec<String>> = vec![
        vec![
            "instant".into(),
            "URL".into(),
            "sort(sum by (job) (rate(http_requests_total[5m])))".into(),
            format!("--time={t1}"),
        ],
        vec![
            "instant".into(),
            "URL".into(),
            "sum(up)".into(),
            format!("--time={t1}"),
        ],
        vec![
            "instant".into(),
            "URL".into(),
            "temperature_celsius{sensor=\"a\"}[2m]".into(),
            format!("--time={t1}"),
        ],
        vec![
            "range".into(),
            "URL".into(),
            "sum by (job) (rate(http_requests_total[5m]))".into(),
            format!("--start={start}"),
            format!("--end={end}"),
            "--step=5m".into(),
        ],
        vec![
            "series".into(),
            "URL".into(),
            "--match=up".into(),
            "--match=build_info".into(),
            format!("--start={start}"),
            format!("--end={end}"),
        ],
        vec![
            "labels".into(),
            "URL".into(),
            "job".into(),
            format!("--start={start}"),
            format!("--end={end}"),
        ],
        vec![
            "labels".into(),
            "URL".into(),
            "__name__".into(),
            format!("--start={start}"),
            format!("--end={end}"),
        ],
        vec![
            "instant".into(),
            "URL".into(),
            "rate(".into(),
            format!("--time={t1}"),
        ],
    ];
    let run = |url: &str, args: &[String]| -> (bool, String) {
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if a == "URL" {
                    url.to_owned()
                } else {
                    a.clone()
                }
            })
            .collect();
        let out = Command::new(PROMTOOL)
            .arg("query")
            .args(&args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text.replace(url, "URL"))
    };
    for case in &cases {
        let (ok_p, want) = run(want_url, case);
        let (ok_f, got) = run(got_url, case);
        assert!(
            !want.trim().is_empty(),
            "promtool printed nothing for {case:?}"
        );
        assert_eq!(ok_f, ok_p, "exit status of promtool query {case:?}");
        crate::support::assert_text_eq(&got, &want, &format!("promtool query {case:?}"));
    }
}

/// `promtool query instant|range|series|labels` print the same against fedstore as against
/// Prometheus on the same data.
#[test]
fn promtool_queries_fedstore() {
    let test = "promql_live::promtool_queries_fedstore";
    if !peers_present(test) {
        return;
    }
    let data = dataset::build();
    let fed = Fedstore::start();
    fed.import(&data);
    if !fed.has_query_api() {
        crate::support::skip(
            test,
            "fedstore does not answer /api/v1/query yet (issue 10)",
        );
        return;
    }
    let prom = prometheus_with(&data);
    assert_promtool_agrees(prom.url(), &fed.url);
}

/// The harness against a real, non-exact implementation: VictoriaMetrics 1.79 (MetricsQL is
/// not PromQL) on the same data must be reported as different on many queries. Manual
/// (`cargo test --test it victoriametrics -- --ignored --nocapture`): it prints the blocks.
#[test]
#[ignore = "manual: shows how the harness reports a non-exact implementation"]
fn harness_reports_victoriametrics_differences() {
    const VM: &str = "/usr/bin/victoria-metrics";
    let test = "promql_live::harness_reports_victoriametrics_differences";
    if !peers_present(test) || !fedstore_tools::skips::peer_installed(test, VM) {
        return;
    }
    let data = dataset::build();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(VM);
    cmd.arg(format!(
        "-storageDataPath={}",
        dir.path().join("data").display()
    ))
    .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
    .args([
        "-retentionPeriod=100y",
        "-search.maxStalenessInterval=5m",
        "-search.disableCache",
        "-search.latencyOffset=0s",
    ]);
    let _vm = ChildGuard::spawn("victoria-metrics", cmd, &dir.path().join("log")).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while ureq::get(&format!("{url}/health")).call().is_err() {
        assert!(Instant::now() < deadline, "VictoriaMetrics not ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let a = crate::support::post(
        &format!("{url}/api/v1/import/prometheus"),
        "text/plain",
        dataset::import_text(&data).as_bytes(),
    );
    assert_eq!(a.status / 100, 2, "import: {}", a.text());
    let _ = crate::support::get(&format!("{url}/internal/force_flush"), &[]);
    std::thread::sleep(Duration::from_secs(2));
    let prom = prometheus_with(&data);
    let queries = full_corpus();
    let names = ("prometheus", "victoriametrics");
    let diffs = run_corpus(&queries, &all_modes(), prom.url(), &url, names);
    for d in diffs.iter().take(60) {
        eprintln!("{d}");
    }
    eprintln!("{} of {} queries differ", diffs.len(), queries.len());
    assert!(
        diffs.len() > queries.len() / 20,
        "VictoriaMetrics matched Prometheus almost everywhere"
    );
}
