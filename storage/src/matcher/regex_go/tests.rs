//! Go-vs-Rust regex rows (crates.md §2) and translation details: for each pattern, Go's
//! verdict (error text, or the match results Go's `regexp` gives) against ours.

use super::*;
use crate::matcher::regex_fast::RegexMatcher;

/// Compiles like a Prometheus 2.42 matcher and reports matches of `values` or the error.
fn check(pattern: &str, values: &[&str]) -> Result<Vec<bool>, String> {
    let m = RegexMatcher::new(pattern.as_bytes())?;
    Ok(values.iter().map(|v| m.matches(v)).collect())
}

#[test]
fn go_semantics_rows() {
    // (pattern, values, Go's results). Rows mirror crates.md §2.
    let cases: &[(&str, &[&str], &[bool])] = &[
        (r"\d", &["3", "\u{663}"], &[true, false]),
        (r"\w", &["a", "_", "é"], &[true, true, false]),
        (
            r"\s",
            &[" ", "\t", "\n", "\x0c", "\r", "\x0b", "\u{a0}"],
            &[true, true, true, true, true, false, false],
        ),
        (r"\D", &["3", "\u{663}", "\n"], &[false, true, true]),
        (r"\W\S", &["é ", "éx"], &[false, true]),
        (r"é\b", &["é"], &[false]),
        (r"a\b", &["a"], &[true]),
        (r"\<a\>", &["<a>", "a"], &[true, false]),
        (r"\Qa.b\E", &["a.b", "axb"], &[true, false]),
        (r"a{bbb}", &["a{bbb}"], &[true]),
        (r"a{", &["a{"], &[true]),
        (r"a{,5}", &["a{,5}", "aaaaa"], &[true, false]),
        (r"a{01}", &["a{01}", "a"], &[true, false]),
        (r"x}", &["x}"], &[true]),
        (r"\101\0\012", &["A\0\n"], &[true]),
        (r"\08", &["\x008"], &[true]),
        (r"[\101-\103]", &["B", "D"], &[true, false]),
        (r"\x41\x{1F600}", &["A\u{1F600}"], &[true]),
        (r".", &["\n", "a"], &[false, true]),
        (r"(?s).", &["\n"], &[true]),
        (r"(?i)k", &["\u{212A}", "K"], &[true, true]),
        (r"(?i)straße", &["STRASSE", "STRAẞE"], &[false, true]),
        (r"a(?i)b|c", &["aB", "C"], &[true, true]),
        (r"(?i:a)b", &["Ab", "AB"], &[true, false]),
        (r"a(?i)*", &["aaa", "AAA"], &[true, false]),
        (r"(?)a", &["a"], &[true]),
        (r"(?m)^a$", &["a"], &[true]),
        (r"^a$", &["a"], &[true]),
        (
            r"\pL\p{Greek}\PN\p{^Greek}",
            &["aαxx", "aα1x"],
            &[true, false],
        ),
        (r"\p{Any}", &["\n"], &[true]),
        (r"\pC", &["\u{1}", "\u{378}"], &[true, false]),
        (
            r"[[:alpha:][:^digit:]]",
            &["b", "1", "-"],
            &[true, false, true],
        ),
        (r"[[:word:]]+", &["a_1", "é"], &[true, false]),
        (r"[\d-z]", &["-", "5", "z", "y"], &[true, true, true, false]),
        (r"[a-]", &["-", "a"], &[true, true]),
        (r"[]a]", &["]", "a"], &[true, true]),
        (r"[^\n]", &["\n", "x"], &[false, true]),
        (r"[^a]", &["\n"], &[true]),
        (r"[[:alpha]", &["[", ":"], &[true, true]),
        (r"\x{D800}|b", &["b"], &[true]),
        (
            r"[\x{D800}-\x{E000}]",
            &["\u{E000}", "\u{D7FF}"],
            &[true, false],
        ),
        (r"(?P<n>a)(?P<n>b)", &["ab"], &[true]),
        (r"(?P<1>a)", &["a"], &[true]),
        (r"^*$*", &[""], &[true]),
        (r"\b*", &[""], &[true]),
        (r"a*?b+?c??d{1,2}?", &["bcdd"], &[true]),
        (r"\z\A", &[""], &[true]),
        (r"(a{2}){500}", &[""], &[false]),
        (r"\pN{1000}", &[""], &[false]),
    ];
    for (pattern, values, want) in cases {
        match check(pattern, values) {
            Ok(got) => assert_eq!(got, *want, "case {pattern:?} on {values:?}"),
            Err(e) => panic!("case {pattern:?}: unexpected error {e}"),
        }
    }
}

#[test]
fn go_errors() {
    // (pattern, Go's error); every row was checked against Prometheus 2.42 (see the selector
    // table) or read from go1.19 regexp/syntax.
    let cases: &[(&str, &str)] = &[
        ("a**", "invalid nested repetition operator: `**`"),
        ("a++", "invalid nested repetition operator: `++`"),
        ("a*+", "invalid nested repetition operator: `*+`"),
        ("x{2}{3}", "invalid nested repetition operator: `{2}{3}`"),
        ("a*??", "invalid nested repetition operator: `*??`"),
        ("*a", "missing argument to repetition operator: `*`"),
        ("a|*", "missing argument to repetition operator: `*`"),
        ("(?i)*", "missing argument to repetition operator: `*`"),
        ("\\Q\\E*", "missing argument to repetition operator: `*`"),
        ("a{1001}", "invalid repeat count: `{1001}`"),
        ("a{2,1}", "invalid repeat count: `{2,1}`"),
        ("a{99999999999}", "invalid repeat count: `{99999999999}`"),
        ("(a{500}){3}", "invalid repeat count: `{3}`"),
        ("((a{10}){10}){11}", "invalid repeat count: `{11}`"),
        ("(?x)a", "invalid or unsupported Perl syntax: `(?x`"),
        ("(?<n>a)", "invalid or unsupported Perl syntax: `(?<`"),
        ("(?P=n)", "invalid or unsupported Perl syntax: `(?P`"),
        ("(?-)", "invalid or unsupported Perl syntax: `(?-)`"),
        ("(?i-)", "invalid or unsupported Perl syntax: `(?i-)`"),
        ("(?--i)", "invalid or unsupported Perl syntax: `(?--`"),
        ("(?P<>a)", "invalid named capture: `(?P<>`"),
        ("(?P<a-b>a)", "invalid named capture: `(?P<a-b>`"),
        ("(?P<n", "invalid named capture: `(?P<n)$`"),
        (
            r"\p{Alphabetic}",
            r"invalid character class range: `\p{Alphabetic}`",
        ),
        (r"\p{greek}", r"invalid character class range: `\p{greek}`"),
        (r"\p{Kawi}", r"invalid character class range: `\p{Kawi}`"),
        (r"\pX", r"invalid character class range: `\pX`"),
        (r"\p", r"invalid character class range: `\p)`"),
        (r"\p{", r"invalid character class range: `\p{)$`"),
        ("[z-a]", "invalid character class range: `z-a`"),
        ("[[:foo:]]", "invalid character class range: `[:foo:]`"),
        ("[a", "missing closing ]: `[a)$`"),
        ("[]", "missing closing ]: `[])$`"),
        ("(", "missing closing ): `^(?:()$`"),
        ("a\\", "missing closing ): `^(?:a\\)$`"),
        (r"\Qa.b", r"missing closing ): `^(?:\Qa.b)$`"),
        ("a)", "unexpected ): `^(?:a))$`"),
        ("a)|(b", "unexpected ): `a)|(b`"),
        (r"\C", r"invalid escape sequence: `\C`"),
        (r"\Z", r"invalid escape sequence: `\Z`"),
        (r"\e", r"invalid escape sequence: `\e`"),
        (r"\1", r"invalid escape sequence: `\1`"),
        (r"\8", r"invalid escape sequence: `\8`"),
        (r"\é", r"invalid escape sequence: `\é`"),
        (r"\xZZ", r"invalid escape sequence: `\xZZ`"),
        (r"\x{}", r"invalid escape sequence: `\x{}`"),
        (r"\x{110000}", r"invalid escape sequence: `\x{110000`"),
        (r"[\b]", r"invalid escape sequence: `\b`"),
        (r"[a-\d]", r"invalid escape sequence: `\d`"),
    ];
    for (pattern, want) in cases {
        let got = check(pattern, &[]).expect_err(pattern);
        assert_eq!(
            got,
            format!("error parsing regexp: {want}"),
            "case {pattern:?}"
        );
    }
}

#[test]
fn huge_alternation_compiles() {
    let pattern: Vec<String> = (0..20_000).map(|i| format!("value-{i}-[a-z]+")).collect();
    let m = RegexMatcher::new(pattern.join("|").as_bytes()).expect("Go accepts it");
    assert!(m.matches("value-19999-abc"));
    assert!(!m.matches("value-20000-abc"));
}

#[test]
fn translation_text() {
    let cases: &[(&str, &str)] = &[
        ("a.b", "a.b"),
        (r"a\.b", "a\\x{2E}b"),
        ("(a|b)*", "(?:(?:a|b))*"),
        ("(?i)a(?-i:b)", "(?i-msU)a(?-imsU:b)"),
        (r"\d\b", "[0-9](?-u:\\b)"),
        ("[^a-c]", "[^\\x{61}-\\x{63}]"),
    ];
    for (pattern, want) in cases {
        assert_eq!(
            translate(pattern.as_bytes()).map(|t| t.pattern).as_deref(),
            Ok(*want),
            "case {pattern:?}"
        );
    }
}

/// Go's tree-height limit (`expression nests too deeply`), at the boundaries observed with
/// Prometheus 2.42; deep accepted patterns also exercise the big-stack compile path.
#[test]
fn go_nesting_limit() {
    let nested = |open: &str, inner: &str, close: &str, n: usize| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    // (pattern, accepted by Go)
    let cases: Vec<(String, bool)> = vec![
        (nested("(", "a", ")", 998), true),
        (nested("(", "a", ")", 999), false),
        (nested("(", "ab", ")", 998), true),
        (nested("(a|", "b", ")", 499), true),
        (nested("(a|", "b", ")", 500), false),
        (nested("(x", "b", ")", 499), true),
        (nested("(x", "b", ")", 500), false),
        (nested("(?:a", "b", ")*", 499), true),
        (nested("(?:a", "b", ")*", 500), false),
        (nested("(?:", "a*", ")*", 997), true),
        (nested("(?:", "a*", ")*", 998), false),
        (nested("(?:", "(a*)", ")*", 996), true),
        (nested("(?:", "(a*)", ")*", 997), false),
        (nested("(?:a|", "b", ")", 1000), true),
        (nested("(?:", "a", ")", 30_000), true),
    ];
    for (pattern, ok) in &cases {
        let got = RegexMatcher::new(pattern.as_bytes());
        let wrapped = format!("^(?:{pattern})$");
        match (got, ok) {
            (Ok(_), true) => {}
            (Err(e), false) => assert_eq!(
                e,
                format!("error parsing regexp: expression nests too deeply: `{wrapped}`")
            ),
            (got, _) => panic!(
                "case {pattern:.40}… (len {}): {:?}",
                pattern.len(),
                got.err()
            ),
        }
    }
}

#[test]
fn deep_pattern_matches() {
    let n = 499;
    let pattern = format!("{}b{}", "(?:a".repeat(n), ")*".repeat(n));
    let m = RegexMatcher::new(pattern.as_bytes()).expect("Go accepts 499 nested stars");
    assert!(m.matches(""));
    assert!(m.matches(&"a".repeat(n)));
    assert!(!m.matches("b"));
}
