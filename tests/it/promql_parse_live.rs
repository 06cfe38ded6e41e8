//! The PromQL parser against a running Prometheus 2.42: every query of
//! `promql/tests/data/parse_corpus.jsonl` plus seeded random mutations of them go to
//! `/api/v1/query` (the parse error text) and `/api/v1/format_query` (the printed form) of a
//! real Prometheus and to `fedstore_promql`; error texts and printed forms must be equal byte
//! for byte, and the recorded corpus must still be what Prometheus answers. Every valid corpus
//! query is also loaded as a recording rule: `/api/v1/rules` shows it as Go's `expr.String()`,
//! which must equal our `Display` (long expressions included, which `format_query` splits).
//!
//! `FEDSTORE_RECORD_PROMQL=1` rewrites the corpus file from Prometheus's answers (add a line
//! `{"q": "..."}` to add a query). `FEDSTORE_PROMQL_SEED` changes the mutation seed and
//! `FEDSTORE_PROMQL_MUTATIONS` their number.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::prometheus::{self, Prometheus};
use crate::support::{enc, free_port_in, get};

/// This file's port range is 19950-20049.
const PORT_BASE: u16 = 19950;
/// Mutated queries per run unless `FEDSTORE_PROMQL_MUTATIONS` is set.
const MUTATIONS: usize = 600;
/// Seed of the mutations unless `FEDSTORE_PROMQL_SEED` is set.
const DEFAULT_SEED: u64 = 0x0070_2042;
/// Fragments the mutations insert: tokens of every kind, bad ones included.
const FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "[5m]",
    "[5m:1m]",
    "[",
    "]",
    "{",
    "}",
    "{a=\"b\"}",
    "offset 5m",
    "offset -1h",
    "@ 10",
    "@ start()",
    "by (a)",
    "without (b)",
    "+",
    "-",
    "*",
    "/",
    "^",
    "%",
    "==",
    "!=",
    ">",
    "and",
    "or",
    "unless",
    "atan2",
    "bool",
    "on(a)",
    "ignoring(b)",
    "group_left",
    "group_right(c)",
    ",",
    "sum",
    "topk",
    "rate",
    "abs",
    "1",
    "0x1f",
    "\"s\"",
    "foo",
    ":",
    "5m",
    " ",
    "#",
    "\n",
    "=~",
    "!",
    "=",
    "inf",
    "by",
    "offset",
    "@",
    "start",
    "count_values",
    "1e",
];

/// What a parser answered for a query: a parse error or the `format_query` text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Error(String),
    Pretty(String),
}

fn corpus_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("promql/tests/data/parse_corpus.jsonl")
}

fn ours(q: &str) -> Outcome {
    match fedstore_promql::parse_expr(q) {
        Ok(e) => Outcome::Pretty(fedstore_promql::parser::pretty(&e)),
        Err(e) => Outcome::Error(e.0),
    }
}

fn theirs(base: &str, q: &str) -> Outcome {
    let a = get(
        &format!("{base}/api/v1/query?time=1000&query={}", enc(q)),
        &[],
    );
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    if v["status"] == "error" && v["errorType"] == "bad_data" {
        let msg = v["error"].as_str().unwrap();
        let text = msg
            .strip_prefix("invalid parameter \"query\": ")
            .unwrap_or_else(|| panic!("unexpected error for {q:?}: {msg}"));
        return Outcome::Error(text.to_owned());
    }
    let a = get(&format!("{base}/api/v1/format_query?query={}", enc(q)), &[]);
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["status"], "success", "format_query of {q:?}: {v}");
    Outcome::Pretty(v["data"].as_str().unwrap().to_owned())
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

/// Whether `ours` equals `live`, up to [`normalize_invalid_utf8`] for printed forms.
fn same(ours: &Outcome, live: &Outcome) -> bool {
    match (ours, live) {
        (Outcome::Pretty(a), Outcome::Pretty(b)) => {
            a == b || normalize_invalid_utf8(a) == normalize_invalid_utf8(b)
        }
        _ => ours == live,
    }
}

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A char-boundary position in `s`.
fn boundary(s: &str, r: u64) -> usize {
    let mut i = (r % (s.len() as u64 + 1)) as usize;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One to three random edits of `q`: insert a fragment, delete a span, or replace a span.
fn mutate(q: &str, state: &mut u64) -> String {
    let mut s = q.to_owned();
    for _ in 0..=(next(state) % 4) {
        let at = boundary(&s, next(state));
        let len = (next(state) % 6) as usize;
        let mut end = (at + len).min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let frag = FRAGMENTS[(next(state) % FRAGMENTS.len() as u64) as usize];
        match next(state) % 3 {
            0 => s.insert_str(at, frag),
            1 => s.replace_range(at..end, ""),
            _ => s.replace_range(at..end, frag),
        }
    }
    s
}

#[test]
fn promql_parse_matches_prometheus_2_42() {
    const TEST: &str = "promql_parse_matches_prometheus_2_42";
    if !prometheus::installed(TEST) {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must have {}",
            prometheus::PROMETHEUS
        );
        return;
    }
    let text = std::fs::read_to_string(corpus_path()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The recording rules: every query the corpus records as valid, evaluated hourly.
    let rule_queries: Vec<&str> = lines
        .iter()
        .filter(|l| l["pretty"].is_string())
        .map(|l| l["q"].as_str().unwrap())
        .collect();
    let rules_dir = tempfile::tempdir().unwrap();
    let rules_path = rules_dir.path().join("rules.yml");
    let mut rules = String::from("groups:\n- name: corpus\n  interval: 1h\n  rules:\n");
    for (i, q) in rule_queries.iter().enumerate() {
        // A JSON string is a valid YAML scalar.
        let _ = writeln!(rules, "  - record: corpus_{i}\n    expr: {}", json!(q));
    }
    std::fs::write(&rules_path, rules).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 15s\nrule_files:\n- {}\n",
        rules_path.display()
    );

    let port = free_port_in(PORT_BASE);
    let mut prom = Prometheus::spawn(port, &config, &[]);
    prom.wait_ready(60);
    let base = prom.url().to_owned();

    let record = std::env::var("FEDSTORE_RECORD_PROMQL").is_ok_and(|v| v == "1");
    let mut failures = String::new();
    let mut recorded = String::new();
    let mut queries = Vec::new();
    for line in &lines {
        let q = line["q"].as_str().unwrap().to_owned();
        let live = theirs(&base, &q);
        let stored = match (line["error"].as_str(), line["pretty"].as_str()) {
            (Some(e), _) => Some(Outcome::Error(e.to_owned())),
            (_, Some(p)) => Some(Outcome::Pretty(p.to_owned())),
            _ => None,
        };
        if !record && stored.as_ref() != Some(&live) {
            let _ = writeln!(
                failures,
                "recorded {q:?}: {stored:?}, Prometheus now: {live:?}"
            );
        }
        let rec = match &live {
            Outcome::Error(e) => json!({"q": q, "error": e}),
            Outcome::Pretty(p) => json!({"q": q, "pretty": p}),
        };
        recorded.push_str(&rec.to_string());
        recorded.push('\n');
        queries.push((q, live));
    }
    if record {
        std::fs::write(corpus_path(), recorded).unwrap();
    }

    let a = get(&format!("{base}/api/v1/rules"), &[]);
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    let loaded = v["data"]["groups"][0]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(loaded.len(), rule_queries.len(), "rules loaded: {v}");
    for (q, rule) in rule_queries.iter().zip(&loaded) {
        let theirs = rule["query"].as_str().unwrap();
        let ours = fedstore_promql::parse_expr(q).map(|e| e.to_string());
        let equal = match &ours {
            Ok(o) => o == theirs || normalize_invalid_utf8(o) == normalize_invalid_utf8(theirs),
            Err(_) => false,
        };
        if !equal {
            let _ = writeln!(
                failures,
                "String() of {q:?}\n  Prometheus: {theirs:?}\n  fedstore:   {ours:?}"
            );
        }
    }

    let seed = std::env::var("FEDSTORE_PROMQL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let mutations = std::env::var("FEDSTORE_PROMQL_MUTATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(MUTATIONS);
    let mut state = seed;
    let corpus_len = queries.len();
    for _ in 0..mutations {
        let src = &queries[(next(&mut state) % corpus_len as u64) as usize].0;
        let q = mutate(src, &mut state);
        let live = theirs(&base, &q);
        queries.push((q, live));
    }
    let (mut errors, mut valid) = (0, 0);
    for (q, live) in &queries {
        match live {
            Outcome::Error(_) => errors += 1,
            Outcome::Pretty(_) => valid += 1,
        }
        let got = ours(q);
        if !same(&got, live) {
            let _ = writeln!(
                failures,
                "query {q:?}\n  Prometheus: {live:?}\n  fedstore:   {got:?}"
            );
        }
    }
    prom.assert_alive();
    eprintln!(
        "{TEST}: {} queries ({errors} errors, {valid} valid; {mutations} mutations, seed {seed})",
        queries.len()
    );
    assert!(
        errors >= 150 && valid >= 150,
        "corpus too small: {errors} errors, {valid} valid"
    );
    assert!(
        failures.is_empty(),
        "differences (seed {seed}):\n{failures}"
    );
}
