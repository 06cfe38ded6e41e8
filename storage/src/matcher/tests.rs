//! Matcher API tests: operators, empty values, sets, prefixes, printing.

use super::*;

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).expect("valid test matcher")
}

#[test]
fn matches_table() {
    use MatchOp::*;
    // (op, value, label value, matches)
    let cases: &[(MatchOp, &str, &str, bool)] = &[
        (Equal, "a", "a", true),
        (Equal, "a", "ab", false),
        (Equal, "", "", true),
        (NotEqual, "a", "a", false),
        (NotEqual, "a", "", true),
        (NotEqual, "", "", false),
        (Regex, "a.*", "abc", true),
        (Regex, "a.*", "xabc", false),
        (Regex, "a.*", "a\nb", false),
        (Regex, "b", "abc", false),
        (Regex, "", "", true),
        (Regex, ".*", "", true),
        (NotRegex, "a.*", "abc", false),
        (NotRegex, "a.*", "", true),
        (NotRegex, ".+", "", true),
        (Regex, "a|b|c", "b", true),
        (Regex, "a|b|c", "d", false),
        (Regex, "(?i)foo", "FoO", true),
    ];
    for (op, value, v, want) in cases {
        let mm = m(*op, "l", value);
        assert_eq!(mm.matches(v), *want, "case {mm} on {v:?}");
        assert_eq!(
            mm.matches_empty(),
            mm.matches(""),
            "case {mm} matches_empty"
        );
    }
}

/// (op, value, set_matches, excluded_set, prefix)
type SetCase = (
    MatchOp,
    &'static str,
    Option<Vec<String>>,
    Option<Vec<String>>,
    Option<&'static str>,
);

#[test]
fn sets_and_prefixes() {
    use MatchOp::*;
    let s = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    // (op, value, set_matches, excluded_set, prefix)
    let cases: Vec<SetCase> = vec![
        (Equal, "x", s(&["x"]), None, Some("x")),
        (Equal, "", s(&[""]), None, None),
        (NotEqual, "x", None, s(&["x"]), None),
        (Regex, "c|a|b", s(&["a", "b", "c"]), None, None),
        (
            Regex,
            "job:(a|b)",
            s(&["job:a", "job:b"]),
            None,
            Some("job:"),
        ),
        (Regex, "foo", s(&["foo"]), None, Some("foo")),
        (Regex, "(?i)ab", s(&["AB", "Ab", "aB", "ab"]), None, None),
        (Regex, "a?b", s(&["ab", "b"]), None, None),
        (Regex, "x[0-2]", s(&["x0", "x1", "x2"]), None, Some("x")),
        (Regex, "", s(&[""]), None, None),
        (NotRegex, "a|b", None, s(&["a", "b"]), None),
        (Regex, "job:.*", None, None, Some("job:")),
        (Regex, "(job|jobs):x+", None, None, Some("job")),
        (Regex, ".*", None, None, None),
        (Regex, "[a-z]+", None, None, None),
        (NotRegex, "job:.*", None, None, None),
    ];
    for (op, value, set, excluded, prefix) in cases {
        let mm = m(op, "l", value);
        assert_eq!(
            mm.set_matches().map(<[String]>::to_vec),
            set,
            "case {mm} set_matches"
        );
        assert_eq!(
            mm.excluded_set().map(<[String]>::to_vec),
            excluded,
            "case {mm} excluded_set"
        );
        assert_eq!(mm.prefix(), prefix, "case {mm} prefix");
    }
    let many: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
    let big = m(Regex, "l", &many.join("|"));
    assert_eq!(big.set_matches(), None, "more than MAX_SET_MATCHES values");
    assert!(big.matches("v299") && !big.matches("v300"));
}

#[test]
fn display_is_go_string() {
    use MatchOp::*;
    let cases: &[(MatchOp, &str, &str)] = &[
        (Equal, "a", "job=\"a\""),
        (NotEqual, "a\"b\\c\nd", "job!=\"a\\\"b\\\\c\\nd\""),
        (Regex, "a.*", "job=~\"a.*\""),
        (NotRegex, "\u{a0}é\t", "job!~\"\\u00a0é\\t\""),
    ];
    for (op, value, want) in cases {
        assert_eq!(m(*op, "job", value).to_string(), *want);
    }
}

#[test]
fn regex_error_is_go_text() {
    let e = Matcher::new(MatchOp::Regex, "a", "(").expect_err("bad regex");
    assert_eq!(e, "error parsing regexp: missing closing ): `^(?:()$`");
    assert!(Matcher::new(MatchOp::Equal, "a", "(").is_ok());
}

#[test]
fn matcher_is_send_sync_clone() {
    fn assert_traits<T: Clone + Send + Sync + std::fmt::Debug>() {}
    assert_traits::<Matcher>();
    let a = m(MatchOp::Regex, "l", "a.*");
    let b = a.clone();
    assert_eq!(a, b);
    assert!(b.matches("ab"));
}

/// Differential helper, run by hand against a live Prometheus: reads `hex(pattern) hex(value)`
/// lines from `$FEDSTORE_MATCH_CORPUS` and writes `<line><TAB>true|false|ERR` lines to
/// `$FEDSTORE_MATCH_CORPUS.out` (whether `l=~"pattern"` matches the value).
#[test]
#[ignore = "needs a corpus file; see the doc comment"]
fn differential_matches() {
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
            .collect()
    };
    let path = std::env::var("FEDSTORE_MATCH_CORPUS").expect("FEDSTORE_MATCH_CORPUS set");
    let corpus = std::fs::read_to_string(&path).expect("corpus readable");
    let mut out = String::new();
    for line in corpus.lines() {
        let (p, v) = line.split_once(' ').expect("two fields");
        let pattern = String::from_utf8(hex(p)).expect("utf-8 pattern");
        let value = String::from_utf8(hex(v)).expect("utf-8 value");
        let result = match Matcher::new(MatchOp::Regex, "l", pattern) {
            Ok(m) => m.matches(&value).to_string(),
            Err(_) => "ERR".to_string(),
        };
        out.push_str(&format!("{line}\t{result}\n"));
    }
    std::fs::write(format!("{path}.out"), out).expect("output writable");
}

/// Rough per-call timings, by hand:
/// `cargo test --release -p fedstore-storage --lib matcher_timing -- --ignored --nocapture`.
#[test]
#[ignore = "timing report, run by hand in release"]
fn matcher_timing() {
    use std::hint::black_box;
    use std::time::Instant;
    let values: Vec<String> = (0..1000)
        .map(|i| format!("node-exporter-{i:04}.prod.example.com:9100"))
        .collect();
    let cases: &[(MatchOp, &str)] = &[
        (MatchOp::Equal, "node-exporter-0500.prod.example.com:9100"),
        (MatchOp::Regex, ".*"),
        (MatchOp::Regex, ".+"),
        (
            MatchOp::Regex,
            "node-exporter-0500\\.prod\\.example\\.com:9100|other",
        ),
        (MatchOp::Regex, "node-exporter-05.*"),
        (MatchOp::Regex, ".*:9100"),
        (MatchOp::Regex, ".*prod.*"),
        (MatchOp::Regex, "node-exporter-0[0-4][0-9]{2}\\..*"),
        (MatchOp::Regex, "(?i)NODE-exporter-05.*"),
    ];
    for (op, value) in cases {
        let m = m(*op, "instance", value);
        let rounds = 2000;
        let t0 = Instant::now();
        let mut hits = 0usize;
        for _ in 0..rounds {
            for v in &values {
                hits += usize::from(m.matches(black_box(v)));
            }
        }
        let ns = t0.elapsed().as_nanos() as f64 / (rounds * values.len()) as f64;
        eprintln!(
            "matches {:<55} {ns:>7.1} ns/value  ({hits} hits)",
            m.to_string()
        );
    }
}
