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
        if got != (r.error.clone(), r.pretty.clone()) {
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
        let again = parse_expr(&printed).unwrap_or_else(|err| panic!("{printed:?}: {err}"));
        assert_eq!(again.to_string(), printed, "query {:?}", r.q);
    }
}
