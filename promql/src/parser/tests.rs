//! The parser against answers recorded from Prometheus 2.42 (`tests/data/parse_corpus.jsonl`,
//! written by `tests/it/promql_parse_live.rs` with `FEDSTORE_RECORD_PROMQL=1`): every error text
//! byte for byte, and `format_query`'s output for every expression that parses.

use super::*;

/// One recorded query: `error` (the parse error) or `pretty` (`/api/v1/format_query`).
struct Recorded {
    q: String,
    error: Option<String>,
    pretty: Option<String>,
}

fn corpus() -> Vec<Recorded> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/parse_corpus.jsonl");
    std::fs::read_to_string(path)
        .expect("corpus file")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("corpus line is JSON");
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
            Recorded {
                q: s("q").expect("q"),
                error: s("error"),
                pretty: s("pretty"),
            }
        })
        .collect()
}

/// What our parser answers, in the corpus's terms.
fn ours(q: &str) -> (Option<String>, Option<String>) {
    match parse_expr(q) {
        Ok(e) => (None, Some(pretty(&e))),
        Err(e) => (Some(e.0), None),
    }
}

/// Prometheus's string literals are Go strings and may hold bytes that are not UTF-8
/// (`"\xff"`); the AST holds Rust strings, so such bytes print as U+FFFD. This documented
/// deviation (string literals only, not matchers) is the one difference tolerated: runs of
/// escaped non-ASCII bytes and of U+FFFD compare equal.
fn normalize_invalid_utf8(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut in_run = false;
    while i < b.len() {
        let escaped = b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && b.get(i + 2).is_some_and(|c| b"89abcdef".contains(c))
            && b.get(i + 3).is_some_and(|c| c.is_ascii_hexdigit());
        if escaped || s[i..].starts_with('\u{FFFD}') {
            if !in_run {
                out.push('\u{FFFD}');
            }
            in_run = true;
            i += if escaped { 4 } else { '\u{FFFD}'.len_utf8() };
            continue;
        }
        in_run = false;
        let c = s[i..].chars().next().expect("i is a char boundary");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[test]
fn recorded_2_42_corpus() {
    let corpus = corpus();
    let errors = corpus.iter().filter(|r| r.error.is_some()).count();
    assert!(
        errors >= 150 && corpus.len() - errors >= 150,
        "corpus too small"
    );
    let mut failures = Vec::new();
    for r in &corpus {
        let got = ours(&r.q);
        let want = (r.error.clone(), r.pretty.clone());
        let deviation = r.pretty.is_some()
            && got.1.as_deref().map(normalize_invalid_utf8)
                == r.pretty.as_deref().map(normalize_invalid_utf8);
        if got != want && !deviation {
            failures.push(format!(
                "query {:?}\n  want error={:?} pretty={:?}\n  got  error={:?} pretty={:?}",
                r.q, r.error, r.pretty, got.0, got.1
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
}

#[test]
fn display_round_trips() {
    for r in corpus().iter().filter(|r| r.pretty.is_some()) {
        let e = parse_expr(&r.q).expect("parses");
        let printed = e.to_string();
        if printed.contains('\u{FFFD}') {
            // A string literal that was not UTF-8 (see normalize_invalid_utf8).
            continue;
        }
        let again = parse_expr(&printed).unwrap_or_else(|err| panic!("{printed:?}: {err}"));
        assert_eq!(again.to_string(), printed, "query {:?}", r.q);
    }
}

/// Parse times, printed (not asserted): the selectors `/federate` parses per request (the same
/// loop as the timing report the selector parser had in the storage crate) and some queries.
/// `cargo test --release -p fedstore-promql --lib parse_timing -- --ignored --nocapture`.
#[test]
#[ignore = "timing report, run by hand in release"]
fn parse_timing() {
    use std::hint::black_box;
    use std::time::Instant;
    let selectors = [
        "up",
        "{job=\"node\",instance=~\"node-exporter-05.*\",mode!=\"idle\"}",
        "node_cpu_seconds_total{cpu=~\"0|1|2|3\",mode!~\"idle|iowait\"}",
    ];
    for s in selectors {
        let rounds = 20_000;
        let t0 = Instant::now();
        for _ in 0..rounds {
            black_box(parse_selector(black_box(s)).expect("valid"));
        }
        let us = t0.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
        eprintln!("parse_selector {s:<60} {us:>7.2} µs");
    }
    let queries = [
        "sum by (job) (rate({__name__=~\"node_metric_00.*\"}[5m]))",
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        "topk(10, count by (__name__) ({__name__=~\".+\"}))",
    ];
    for q in queries {
        let rounds = 20_000;
        let t0 = Instant::now();
        for _ in 0..rounds {
            black_box(parse_expr(black_box(q)).expect("valid"));
        }
        let us = t0.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
        eprintln!("parse_expr {q:<90} {us:>7.2} µs");
    }
}

/// Parsing, printing and dropping the deepest accepted trees fits in a 2 MiB thread stack
/// (Rust's default for spawned threads) in release builds, where one level takes about 2 KB
/// (debug builds take about 12 KB, so the test gives them 8 MiB); one level more is refused
/// with an error, not a crash.
#[test]
fn nesting_limit() {
    use expr::MAX_DEPTH;
    let n = MAX_DEPTH as usize;
    let deep_parens = |levels: usize| format!("{}foo{}", "(".repeat(levels), ")".repeat(levels));
    let deep_pow = |levels: usize| vec!["2"; levels + 1].join(" ^ ");
    let deep_sum = |levels: usize| vec!["foo"; levels + 1].join(" + ");
    let deep_neg = |levels: usize| format!("{}foo", "-".repeat(levels));
    let deep_subquery = |levels: usize| format!("foo{}", "[5m:1m]".repeat(levels));
    let cases: Vec<(String, String)> = vec![
        (deep_parens(n - 1), deep_parens(n)),
        (deep_pow(n - 1), deep_pow(n + 1)),
        (deep_sum(n - 1), deep_sum(n)),
        (deep_neg(n - 1), deep_neg(n)),
    ];
    // Subqueries of subqueries are a type error, reported only if nothing else is wrong.
    let sub_ok_depth = deep_subquery(n - 1);
    let sub_too_deep = deep_subquery(n);
    std::thread::Builder::new()
        .stack_size(if cfg!(debug_assertions) {
            8 << 20
        } else {
            2 << 20
        })
        .spawn(move || {
            for (ok, too_deep) in &cases {
                let e = parse_expr(ok).unwrap_or_else(|e| panic!("{}...: {e}", &ok[..20]));
                assert!(!pretty(&e).is_empty());
                drop(e);
                let err = parse_expr(too_deep).expect_err("deeper than the limit");
                assert!(err.0.contains("nests more than"), "{err}");
            }
            let err = parse_expr(&sub_ok_depth).expect_err("type error");
            assert!(err.0.contains("subquery is only allowed"), "{err}");
            let err = parse_expr(&sub_too_deep).expect_err("deeper than the limit");
            assert!(err.0.contains("nests more than"), "{err}");
        })
        .expect("spawn")
        .join()
        .expect("no stack overflow");
}
