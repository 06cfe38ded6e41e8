//! Table-driven tests of the exposition parser: every accepted form and every error with its
//! exact Prometheus 2.42 message and line. Every table case was served to a live Prometheus
//! 2.42 scrape and its `lastError` compared (all equal; `InvalidNames` lacks the target labels
//! Prometheus appends); accepted cases were also compared via `/federate` and target metadata.
//! See `dump_cases` below and `src/exposition/README.md`.

use super::*;
use crate::exposition::float::write_float;

/// Renders every entry until the end or the first error (`line N: msg`).
fn run(format: Format, input: &[u8]) -> (Vec<String>, Option<String>) {
    let mut p = Parser::new(input, format);
    let mut out = Vec::new();
    loop {
        match p.next() {
            Ok(Some(e)) => out.push(render(&e)),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e.to_string())),
        }
    }
}

fn render(e: &Entry<'_>) -> String {
    match e {
        Entry::Sample(s) => {
            let labels: Vec<String> = s.labels().map(|(n, v)| format!("{n}={v:?}")).collect();
            let mut v = Vec::new();
            write_float(&mut v, s.value);
            let ts = s.timestamp_ms.map_or("-".to_string(), |t| t.to_string());
            format!(
                "{}{{{}}} {} {ts} @{}",
                s.name,
                labels.join(","),
                String::from_utf8(v).unwrap(),
                s.line
            )
        }
        Entry::Help { name, help } => format!("HELP {name} {help:?}"),
        Entry::Type { name, kind } => format!("TYPE {name} {}", kind.as_str()),
        Entry::Unit { name, unit } => format!("UNIT {name} {unit:?}"),
        Entry::Comment => "COMMENT".to_string(),
    }
}

struct Case {
    name: &'static str,
    input: &'static [u8],
    entries: &'static [&'static str],
    err: Option<&'static str>,
}

const fn ok(name: &'static str, input: &'static [u8], entries: &'static [&'static str]) -> Case {
    Case {
        name,
        input,
        entries,
        err: None,
    }
}

const fn bad(
    name: &'static str,
    input: &'static [u8],
    entries: &'static [&'static str],
    err: &'static str,
) -> Case {
    Case {
        name,
        input,
        entries,
        err: Some(err),
    }
}

fn check(format: Format, cases: &[Case]) {
    let mut failures = Vec::new();
    for c in cases {
        let (entries, err) = run(format, c.input);
        if entries != c.entries || err.as_deref() != c.err {
            failures.push(format!(
                "case {:?}\n  input: {:?}\n  want: {:?} {:?}\n  got:  {:?} {:?}",
                c.name,
                String::from_utf8_lossy(c.input),
                c.entries,
                c.err,
                entries,
                err
            ));
        }
        fuzz_parse(c.input);
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const TEXT_CASES: &[Case] = &[
    // --- accepted forms ---
    ok("empty input", b"", &[]),
    ok("simple", b"m 1\n", &["m{} 1 - @1"]),
    ok("missing final newline", b"m 1", &["m{} 1 - @1"]),
    ok("timestamp", b"m 1 1000\n", &["m{} 1 1000 @1"]),
    ok("timestamp leading zeros", b"m 1 0007", &["m{} 1 7 @1"]),
    ok(
        "max timestamp",
        b"m 1 9223372036854775807",
        &["m{} 1 9223372036854775807 @1"],
    ),
    ok(
        "labels",
        b"m{a=\"b\",c=\"d\"} 2 5\n",
        &["m{a=\"b\",c=\"d\"} 2 5 @1"],
    ),
    ok("trailing comma", b"m{a=\"b\",} 1", &["m{a=\"b\"} 1 - @1"]),
    ok("empty braces", b"m{} 1", &["m{} 1 - @1"]),
    ok(
        "missing comma between labels",
        b"m{a=\"b\" c=\"d\"} 1",
        &["m{a=\"b\",c=\"d\"} 1 - @1"],
    ),
    ok(
        "whitespace between all tokens",
        b"m { a = \"b\" , c\t=\t\"d\" , } \t 1 \t 2 \t\n",
        &["m{a=\"b\",c=\"d\"} 1 2 @1"],
    ),
    ok(
        "blank before brace",
        b"m {a=\"b\"} 1",
        &["m{a=\"b\"} 1 - @1"],
    ),
    ok(
        "colons and digits in names",
        b"a:b_c:9 1",
        &["a:b_c:9{} 1 - @1"],
    ),
    ok(
        "underscore label names",
        b"m{_a1=\"x\"} 1",
        &["m{_a1=\"x\"} 1 - @1"],
    ),
    ok(
        "escapes in label values",
        b"m{a=\"x\\\"y\\\\z\\nw\\q\"} 1",
        &["m{a=\"x\\\"y\\\\z\\nw\\\\q\"} 1 - @1"],
    ),
    ok(
        "raw newline inside a label value",
        b"m{a=\"x\ny\"} 1\nn 2",
        &["m{a=\"x\\ny\"} 1 - @1", "n{} 2 - @3"],
    ),
    ok(
        "tab and CR in label value",
        b"m{a=\"x\ty\rz\"} 1",
        &["m{a=\"x\\ty\\rz\"} 1 - @1"],
    ),
    ok(
        "utf8 label value",
        "m{a=\"ünï ☃\"} 1".as_bytes(),
        &["m{a=\"ünï ☃\"} 1 - @1"],
    ),
    ok("empty label value", b"m{a=\"\"} 1", &["m{a=\"\"} 1 - @1"]),
    ok("NaN", b"m NaN", &["m{} NaN - @1"]),
    ok("nan lower", b"m nan", &["m{} NaN - @1"]),
    ok("+Inf", b"m +Inf", &["m{} +Inf - @1"]),
    ok("-Inf", b"m -Inf", &["m{} -Inf - @1"]),
    ok("Inf", b"m Inf", &["m{} +Inf - @1"]),
    ok("+inf lower", b"m +inf", &["m{} +Inf - @1"]),
    ok("-infinity", b"m -infinity", &["m{} -Inf - @1"]),
    ok("Infinity", b"m Infinity", &["m{} +Inf - @1"]),
    ok(
        "float forms",
        b"a 1e3\nb .5\nc -0.25\nd +7\ne 1.e2",
        &[
            "a{} 1000 - @1",
            "b{} 0.5 - @2",
            "c{} -0.25 - @3",
            "d{} 7 - @4",
            "e{} 100 - @5",
        ],
    ),
    ok(
        "comments",
        b"# some comment\n#no blank\n#\n# \n#\tx\nm 1",
        &[
            "COMMENT",
            "COMMENT",
            "COMMENT",
            "COMMENT",
            "COMMENT",
            "m{} 1 - @6",
        ],
    ),
    ok(
        "comment at end without newline",
        b"m 1\n# bye",
        &["m{} 1 - @1", "COMMENT"],
    ),
    ok(
        "keyword-like comments",
        b"# HELP\n# HELPER x\n# TYPEx\n# help m x\n",
        &["COMMENT", "COMMENT", "COMMENT", "COMMENT"],
    ),
    ok(
        "help and type",
        b"# HELP m Some \\\\ help\\nmore \\t \"q\"\n# TYPE m counter\nm 1",
        &[
            "HELP m \"Some \\\\ help\\nmore \\\\t \\\"q\\\"\"",
            "TYPE m counter",
            "m{} 1 - @3",
        ],
    ),
    ok(
        "help with tabs",
        b"#\tHELP\tm\thelp text",
        &["HELP m \"help text\""],
    ),
    ok("help without text", b"# HELP m\n", &["HELP m \"\""]),
    ok("help blank only", b"# HELP m   \n", &["HELP m \"\""]),
    ok(
        "help keeps extra blanks",
        b"# HELP m  two\n",
        &["HELP m \" two\""],
    ),
    ok(
        "leading blanks before comment",
        b"  # TYPE m gauge\n",
        &["TYPE m gauge"],
    ),
    ok("type untyped", b"# TYPE m untyped", &["TYPE m unknown"]),
    ok(
        "types",
        b"# TYPE a gauge\n# TYPE b histogram\n# TYPE c summary\n",
        &["TYPE a gauge", "TYPE b histogram", "TYPE c summary"],
    ),
    // Prometheus drops the first byte after the name, whatever it is.
    ok(
        "type text directly after name",
        b"# TYPE m-counter\n",
        &["TYPE m counter"],
    ),
    ok("blank lines", b"\n\n  \t\nm 1\n\n", &["m{} 1 - @4"]),
    bad(
        "crlf is part of the value",
        b"m 1\r\n",
        &[],
        "line 1: strconv.ParseFloat: parsing \"1\\r\": invalid syntax",
    ),
    ok(
        "nul at line start ends input",
        b"m 1\n\0garbage {{{\n",
        &["m{} 1 - @1"],
    ),
    ok(
        "nul inside a label value is kept",
        b"m{a=\"x\0y\"} 1",
        &["m{a=\"x\\0y\"} 1 - @1"],
    ),
    ok(
        "same label name twice when one is empty",
        b"m{a=\"\",a=\"x\"} 1",
        &["m{a=\"\",a=\"x\"} 1 - @1"],
    ),
    ok(
        "many labels unsorted",
        b"m{c=\"1\",b=\"2\",a=\"3\",d=\"4\"} 1",
        &["m{c=\"1\",b=\"2\",a=\"3\",d=\"4\"} 1 - @1"],
    ),
    // --- errors ---
    bad(
        "bad start",
        b"{a=\"b\"} 1",
        &[],
        "line 1: \"INVALID\" is not a valid start token",
    ),
    bad(
        "digit start",
        b"m 1\n1m 1",
        &["m{} 1 - @1"],
        "line 2: \"INVALID\" is not a valid start token",
    ),
    bad(
        "dash start",
        b"-m 1",
        &[],
        "line 1: \"INVALID\" is not a valid start token",
    ),
    bad(
        "no value",
        b"m",
        &[],
        "line 1: expected value after metric, got \"INVALID\"",
    ),
    bad(
        "no value, blank",
        b"m \n",
        &[],
        "line 1: expected value after metric, got \"INVALID\"",
    ),
    bad(
        "no value after labels",
        b"m{a=\"b\"}\n",
        &[],
        "line 1: expected value after metric, got \"INVALID\"",
    ),
    bad(
        "second label block",
        b"m{a=\"b\"}{c=\"d\"} 1",
        &[],
        "line 1: expected value after metric, got \"BOPEN\"",
    ),
    bad(
        "bad value",
        b"m abc",
        &[],
        "line 1: strconv.ParseFloat: parsing \"abc\": invalid syntax",
    ),
    bad(
        "hex value",
        b"m 0x10",
        &[],
        "line 1: strconv.ParseFloat: parsing \"0x10\": invalid syntax",
    ),
    bad(
        "+nan value",
        b"m +NaN",
        &[],
        "line 1: strconv.ParseFloat: parsing \"+NaN\": invalid syntax",
    ),
    bad(
        "underscore value",
        b"m 1_000",
        &[],
        "line 1: unsupported character in float",
    ),
    bad(
        "hex float value",
        b"m 0x1p3",
        &[],
        "line 1: unsupported character in float",
    ),
    bad(
        "overflow value",
        b"m 1e400",
        &[],
        "line 1: strconv.ParseFloat: parsing \"1e400\": value out of range",
    ),
    bad(
        "value with brace",
        b"m 1{",
        &[],
        "line 1: expected timestamp or new record, got \"INVALID\"",
    ),
    bad(
        "equals as value",
        b"m=1 2",
        &[],
        "line 1: strconv.ParseFloat: parsing \"=1\": invalid syntax",
    ),
    bad(
        "negative timestamp",
        b"m 1 -5",
        &[],
        "line 1: expected timestamp or new record, got \"INVALID\"",
    ),
    bad(
        "float timestamp",
        b"m 1 1.5",
        &[],
        "line 1: expected next entry after timestamp, got \"INVALID\"",
    ),
    bad(
        "two timestamps",
        b"m 1 2 3",
        &[],
        "line 1: expected next entry after timestamp, got \"TIMESTAMP\"",
    ),
    bad(
        "timestamp overflow",
        b"m 1 99999999999999999999",
        &[],
        "line 1: strconv.ParseInt: parsing \"99999999999999999999\": value out of range",
    ),
    bad(
        "label name digit",
        b"m{1a=\"b\"} 1",
        &[],
        "line 1: expected label name, got \"INVALID\"",
    ),
    bad(
        "label name colon",
        b"m{a:b=\"c\"} 1",
        &[],
        "line 1: expected equal, got \"INVALID\"",
    ),
    bad(
        "lone comma",
        b"m{,} 1",
        &[],
        "line 1: expected label name, got \"COMMA\"",
    ),
    bad(
        "double comma",
        b"m{a=\"b\",,} 1",
        &[],
        "line 1: expected label name, got \"COMMA\"",
    ),
    bad(
        "leading equal",
        b"m{=\"b\"} 1",
        &[],
        "line 1: expected label name, got \"EQUAL\"",
    ),
    bad(
        "unquoted value",
        b"m{a=b} 1",
        &[],
        "line 1: expected label value, got \"INVALID\"",
    ),
    bad(
        "single quotes",
        b"m{a='b'} 1",
        &[],
        "line 1: expected label value, got \"INVALID\"",
    ),
    bad(
        "name only",
        b"m{a} 1",
        &[],
        "line 1: expected equal, got \"BCLOSE\"",
    ),
    bad(
        "two names",
        b"m{a b=\"c\"} 1",
        &[],
        "line 1: expected equal, got \"LNAME\"",
    ),
    bad(
        "name then comma",
        b"m{a,b=\"c\"} 1",
        &[],
        "line 1: expected equal, got \"COMMA\"",
    ),
    bad(
        "double equal",
        b"m{a==\"b\"} 1",
        &[],
        "line 1: expected label value, got \"INVALID\"",
    ),
    bad(
        "unterminated value",
        b"m{a=\"b} 1",
        &[],
        "line 1: expected label value, got \"INVALID\"",
    ),
    // An error names the line its sample began on, not the line the lexer reached.
    bad(
        "unterminated value over lines",
        b"m{a=\"b} 1\nn 2\no 3\n",
        &[],
        "line 1: expected label value, got \"INVALID\"",
    ),
    bad(
        "value closed by a later line's quote (issue 9)",
        b"ok 1\nok2 2\nok3 3\nbad_label{a=\"1} 1\nx{b=\"2\"} 1\n",
        &["ok{} 1 - @1", "ok2{} 2 - @2", "ok3{} 3 - @3"],
        "line 4: expected label name, got \"INVALID\"",
    ),
    ok(
        "lines count on after a value with raw newlines",
        b"m{a=\"x\ny\nz\"} 1\nn 2\no 3",
        &["m{a=\"x\\ny\\nz\"} 1 - @1", "n{} 2 - @4", "o{} 3 - @5"],
    ),
    bad(
        "unclosed braces",
        b"m{a=\"b\" 1",
        &[],
        "line 1: expected label name, got \"INVALID\"",
    ),
    bad(
        "backslash newline",
        b"m{a=\"b\\\n\"} 1",
        &[],
        "line 1: expected label value, got \"INVALID\"",
    ),
    bad(
        "invalid utf8 label value",
        b"m{a=\"\xff\"} 1",
        &[],
        "line 1: invalid UTF-8 label value",
    ),
    bad(
        "help without name",
        b"# HELP \n",
        &[],
        "line 1: expected metric name after HELP, got \"INVALID\"",
    ),
    bad(
        "type bad name",
        b"# TYPE 1m counter",
        &[],
        "line 1: expected metric name after TYPE, got \"INVALID\"",
    ),
    bad(
        "invalid help utf8",
        b"# HELP m \xff\xfe",
        &[],
        "line 1: help text is not a valid utf8 string",
    ),
    bad(
        "invalid type",
        b"# TYPE m foo",
        &[],
        "line 1: invalid metric type \"foo\"",
    ),
    bad(
        "type trailing blank",
        b"# TYPE m counter \n",
        &[],
        "line 1: invalid metric type \"counter \"",
    ),
    bad(
        "type two blanks",
        b"# TYPE m  counter",
        &[],
        "line 1: invalid metric type \" counter\"",
    ),
    bad(
        "type missing",
        b"# TYPE m\n",
        &[],
        "line 1: invalid metric type \"\"",
    ),
    bad(
        "type case",
        b"# TYPE m Counter",
        &[],
        "line 1: invalid metric type \"Counter\"",
    ),
    bad(
        "om type in text",
        b"# TYPE m info",
        &[],
        "line 1: invalid metric type \"info\"",
    ),
    bad(
        "duplicate label",
        b"m{a=\"1\",a=\"2\"} 1",
        &[],
        "line 1: label name \"a\" is not unique: invalid sample",
    ),
    bad(
        "duplicate label unsorted",
        b"m{c=\"1\",b=\"2\",c=\"3\",b=\"4\"} 1",
        &[],
        "line 1: label name \"b\" is not unique: invalid sample",
    ),
    bad(
        "duplicate label among more than fit on the stack",
        b"m{l39=\"1\",l38=\"1\",l37=\"1\",l36=\"1\",l35=\"1\",l34=\"1\",l33=\"1\",l32=\"1\",l31=\"1\",l30=\"1\",l29=\"1\",l28=\"1\",l27=\"1\",l26=\"1\",l25=\"1\",l24=\"1\",l23=\"1\",l22=\"1\",l21=\"1\",l20=\"1\",l19=\"1\",l18=\"1\",l17=\"1\",l16=\"1\",l15=\"1\",l14=\"1\",l13=\"1\",l12=\"1\",l11=\"1\",l10=\"1\",l09=\"1\",l08=\"1\",l07=\"1\",l06=\"1\",l05=\"1\",l04=\"1\",l03=\"1\",l02=\"1\",l01=\"1\",l00=\"1\",l07=\"2\"} 1",
        &[],
        "line 1: label name \"l07\" is not unique: invalid sample",
    ),
    bad(
        "explicit __name__",
        b"m{__name__=\"x\"} 1",
        &[],
        "line 1: label name \"__name__\" is not unique: invalid sample",
    ),
    bad(
        "empty __name__",
        b"m{__name__=\"\"} 1",
        &[],
        "line 1: missing metric name (__name__ label)",
    ),
    bad(
        "leading blank before name",
        b"ok 1\n  m{b=\"x\",a=\"\"} 1",
        &["ok{} 1 - @1"],
        "line 2: invalid metric name or label names: {__name__=\"  m\", b=\"x\"}",
    ),
    bad(
        "error line after comments",
        b"# HELP a x\n# TYPE a gauge\na 1\n\nb{x=\"y\" 3\n",
        &["HELP a \"x\"", "TYPE a gauge", "a{} 1 - @3"],
        "line 5: expected label name, got \"INVALID\"",
    ),
    bad(
        "error line after multi-line value",
        b"m{a=\"1\n2\n3\"} 1\nbad\n",
        &["m{a=\"1\\n2\\n3\"} 1 - @1"],
        "line 4: expected value after metric, got \"INVALID\"",
    ),
    bad(
        "nul after name",
        b"m\0 1",
        &[],
        "line 1: expected value after metric, got \"INVALID\"",
    ),
    bad(
        "nul after value",
        b"m 1\0",
        &[],
        "line 1: expected timestamp or new record, got \"INVALID\"",
    ),
    ok(
        "nul inside help keyword",
        b"# HE\0LP m x\n",
        &["HELP m \"x\""],
    ),
    ok(
        "nul after comment blank ends input",
        b"# \0HELP m x\nm 1",
        &[],
    ),
    ok("nul in hash comment ends input", b"#foo\0bar\nm 1", &[]),
    ok(
        "nul in blank comment is skipped",
        b"# foo\0bar\nm 1",
        &["COMMENT", "m{} 1 - @2"],
    ),
    ok(
        "nul after closing quote",
        b"m{a=\"b\"\0} 1",
        &["m{a=\"b\\\"\"} 1 - @1"],
    ),
    ok(
        "nuls after empty value",
        b"m{a=\"\"\0\0} 1",
        &["m{a=\"\\\"\\0\"} 1 - @1"],
    ),
    ok(
        "nul after blank before value",
        b"m{a= \0\"b\"} 1",
        &["m{a=\"b\"} 1 - @1"],
    ),
    bad(
        "nul before value",
        b"m{a=\0\"b\"} 1",
        &[],
        "line 1: expected label value, got \"INVALID\"",
    ),
    bad(
        "nul after help name",
        b"# HELP m\0\n",
        &[],
        "line 1: linebreak expected after metadata, got \"EOF\"",
    ),
    bad(
        "nul after type name",
        b"# TYPE m\0\n",
        &[],
        "line 1: invalid metric type \"\"",
    ),
    bad(
        "dangling exponent",
        b"m 1e",
        &[],
        "line 1: strconv.ParseFloat: parsing \"1e\": invalid syntax",
    ),
    bad(
        "two signs value",
        b"m +-1",
        &[],
        "line 1: strconv.ParseFloat: parsing \"+-1\": invalid syntax",
    ),
    bad(
        "comment after timestamp",
        b"m 1 2 # c",
        &[],
        "line 1: expected next entry after timestamp, got \"INVALID\"",
    ),
    bad(
        "comment after value",
        b"m 1 # c",
        &[],
        "line 1: expected timestamp or new record, got \"INVALID\"",
    ),
    bad(
        "explicit __name__ same value",
        b"m{__name__=\"m\"} 1",
        &[],
        "line 1: label name \"__name__\" is not unique: invalid sample",
    ),
    bad(
        "unicode value error quoted",
        "m ünï\u{a0}".as_bytes(),
        &[],
        "line 1: strconv.ParseFloat: parsing \"ünï\\u00a0\": invalid syntax",
    ),
];

const OPENMETRICS_CASES: &[Case] = &[
    // --- accepted forms ---
    ok("eof only", b"# EOF\n", &[]),
    ok("eof without newline", b"# EOF", &[]),
    ok("simple", b"m 1\n# EOF\n", &["m{} 1 - @1"]),
    ok("labels", b"m{a=\"b\",c=\"d\"} 2\n# EOF", &["m{a=\"b\",c=\"d\"} 2 - @1"]),
    ok("empty braces", b"m{} 1\n# EOF", &["m{} 1 - @1"]),
    ok("float seconds timestamp", b"m 1 1.5\n# EOF", &["m{} 1 1500 @1"]),
    ok("timestamp truncation", b"m 1 1520879607.7899\n# EOF", &["m{} 1 1520879607789 @1"]),
    ok("negative timestamp", b"m 1 -1\n# EOF", &["m{} 1 -1000 @1"]),
    ok("integer timestamp", b"m 1 1520430000\n# EOF", &["m{} 1 1520430000000 @1"]),
    ok(
        "exemplar skipped",
        b"foo_total 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1520879602.890\n# EOF",
        &["foo_total{} 17 1520879607789 @1"],
    ),
    ok(
        "bucket exemplar without timestamp",
        b"foo_bucket{le=\"0.5\"} 1 # {a=\"b\",c=\"d\"} 0.5\n# EOF",
        &["foo_bucket{le=\"0.5\"} 1 - @1"],
    ),
    ok("empty exemplar labels", b"a_total 1 # {} 2\n# EOF", &["a_total{} 1 - @1"]),
    ok(
        "metadata",
        b"# HELP m_seconds Help \\\"q\\\" \\\\ \\n x\n# TYPE m_seconds gauge\n# UNIT m_seconds seconds\nm_seconds 1\n# EOF",
        &[
            "HELP m_seconds \"Help \\\"q\\\" \\\\ \\n x\"",
            "TYPE m_seconds gauge",
            "UNIT m_seconds \"seconds\"",
            "m_seconds{} 1 - @4",
        ],
    ),
    ok("empty help", b"# HELP m \n# EOF", &["HELP m \"\""]),
    ok("empty unit", b"# UNIT m \n# EOF", &["UNIT m \"\""]),
    ok(
        "om types",
        b"# TYPE a info\n# TYPE b stateset\n# TYPE c gaugehistogram\n# TYPE d unknown\n# TYPE e counter\n# EOF",
        &["TYPE a info", "TYPE b stateset", "TYPE c gaugehistogram", "TYPE d unknown", "TYPE e counter"],
    ),
    ok("nan and inf", b"a NaN\nb +Inf\nc -Inf\n# EOF", &["a{} NaN - @1", "b{} +Inf - @2", "c{} -Inf - @3"]),
    ok("escapes", b"m{a=\"x\\\"y\\\\z\\n\"} 1\n# EOF", &["m{a=\"x\\\"y\\\\z\\n\"} 1 - @1"]),
    bad(
        "tab inside value token",
        b"m 1\t\n# EOF",
        &[],
        "line 1: strconv.ParseFloat: parsing \"1\\t\": invalid syntax",
    ),
    // --- errors ---
    bad("empty input", b"", &[], "line 1: data does not end with # EOF"),
    bad("no eof", b"m 1\n", &["m{} 1 - @1"], "line 2: data does not end with # EOF"),
    bad("no eof, no newline", b"m 1", &[], "line 1: data does not end with # EOF"),
    bad("data after eof", b"# EOF\nm 1\n", &[], "line 1: unexpected data after # EOF"),
    bad("blank after eof", b"# EOF\n\n", &[], "line 1: unexpected data after # EOF"),
    bad("blank line", b"m 1\n\n# EOF", &["m{} 1 - @1"], "line 2: \"INVALID\" \"\\n\" is not a valid start token"),
    bad("free comment", b"# foo\n# EOF", &[], "line 1: \"INVALID\" \"f\" is not a valid start token"),
    bad("hash without blank", b"#foo\n# EOF", &[], "line 1: \"INVALID\" \"f\" is not a valid start token"),
    bad("lone hash at end", b"#", &[], "line 1: \"INVALID\" \" \" is not a valid start token"),
    bad("leading blank", b" m 1\n# EOF", &[], "line 1: \"INVALID\" \" \" is not a valid start token"),
    bad("partial keyword", b"# HEL\n# EOF", &[], "line 1: \"INVALID\" \"\\n\" is not a valid start token"),
    bad("two blanks before value", b"m  1\n# EOF", &[], "line 1: expected value after metric, got \"INVALID\""),
    bad("tab before value", b"m\t1\n# EOF", &[], "line 1: expected value after metric, got \"INVALID\""),
    bad("name at end", b"m", &[], "line 1: expected value after metric, got \"EOF\""),
    bad("untyped not in om", b"# TYPE m untyped\n# EOF", &[], "line 1: invalid metric type \"untyped\""),
    bad("help without text", b"# HELP m\n# EOF", &[], "line 1: expected text in HELP"),
    bad("help at end", b"# HELP m x", &[], "line 1: expected text in HELP"),
    bad("help without name", b"# HELP  m x\n", &[], "line 1: expected metric name after HELP, got \"INVALID\""),
    bad("unit without name at end", b"# UNIT ", &[], "line 1: expected metric name after UNIT, got \"EOF\""),
    bad("unit not suffix", b"# UNIT m_seconds bytes\n# EOF", &[], "line 1: unit not a suffix of metric \"m_seconds\""),
    bad("unit equals name", b"# UNIT seconds seconds\n# EOF", &[], "line 1: unit not a suffix of metric \"seconds\""),
    bad("unit without underscore", b"# UNIT mseconds seconds\n# EOF", &[], "line 1: unit not a suffix of metric \"mseconds\""),
    bad("blank after comma", b"m{a=\"b\", c=\"d\"} 1\n# EOF", &[], "line 1: expected label name, got \"INVALID\""),
    bad("trailing comma", b"m{a=\"b\",} 1\n# EOF", &[], "line 1: expected label name, got \"BCLOSE\""),
    bad("leading comma", b"m{,a=\"b\"} 1\n# EOF", &[], "line 1: expected label name or left brace, got \"COMMA\""),
    bad("missing comma", b"m{a=\"b\"c=\"d\"} 1\n# EOF", &[], "line 1: expected comma, got \"LNAME\""),
    bad("blank in braces", b"m{ a=\"b\"} 1\n# EOF", &[], "line 1: expected label name or left brace, got \"INVALID\""),
    bad("equal after value", b"m{a=\"b\"=} 1\n# EOF", &[], "line 1: expected comma or left brace, got \"EQUAL\""),
    bad("raw newline in value", b"m{a=\"b\nc\"} 1\n# EOF", &[], "line 1: expected label value, got \"INVALID\""),
    bad("bad value", b"m abc\n# EOF", &[], "line 1: strconv.ParseFloat: parsing \"abc\": invalid syntax"),
    bad(
        "label block as value",
        b"m {a=\"b\"} 1\n# EOF",
        &[],
        "line 1: strconv.ParseFloat: parsing \"{a=\\\"b\\\"}\": invalid syntax",
    ),
    bad("nan timestamp", b"m 1 NaN\n# EOF", &[], "line 1: invalid timestamp"),
    bad("inf timestamp", b"m 1 +Inf\n# EOF", &[], "line 1: invalid timestamp"),
    bad("timestamp syntax", b"m 1 1x\n# EOF", &[], "line 1: strconv.ParseFloat: parsing \"1x\": invalid syntax"),
    bad("two timestamps", b"m 1 2 3\n# EOF", &[], "line 1: expected next entry after timestamp, got \"TIMESTAMP\""),
    bad("timestamp at end", b"m 1 2", &[], "line 1: expected next entry after timestamp, got \"EOF\""),
    bad("trailing blank", b"m 1 \n# EOF", &[], "line 1: expected timestamp or # symbol, got \"INVALID\""),
    bad("hash blank no brace", b"m 1 # x\n# EOF", &[], "line 1: expected timestamp or # symbol, got \"INVALID\""),
    bad("hash as timestamp", b"m 1 #\n# EOF", &[], "line 1: strconv.ParseFloat: parsing \"#\": invalid syntax"),
    bad(
        "exemplar on gauge",
        b"foo 1 # {a=\"b\"} 1\n# EOF",
        &[],
        "line 1: metric name foo does not support exemplars",
    ),
    bad(
        "exemplar without value",
        b"a_total 1 # {a=\"b\"}\n# EOF",
        &[],
        "line 1: expected value after exemplar labels, got \"INVALID\"",
    ),
    bad(
        "exemplar bad timestamp",
        b"a_total 1 # {} 2 NaN\n# EOF",
        &[],
        "line 1: invalid exemplar timestamp",
    ),
    bad(
        "exemplar extra token",
        b"a_total 1 # {} 2 3 4\n# EOF",
        &[],
        "line 1: expected next entry after exemplar timestamp, got \"TIMESTAMP\"",
    ),
    bad(
        "exemplar trailing blank",
        b"a_total 1 # {} 2 \n# EOF",
        &[],
        "line 1: expected timestamp or comment, got \"INVALID\"",
    ),
    bad("exemplar value error", b"a_total 1 # {} x\n# EOF", &[], "line 1: strconv.ParseFloat: parsing \"x\": invalid syntax"),
    bad(
        "duplicate label",
        b"m{a=\"1\",a=\"2\"} 1\n# EOF",
        &[],
        "line 1: label name \"a\" is not unique: invalid sample",
    ),
    bad("invalid utf8 label", b"m{a=\"\xc3\"} 1\n# EOF", &[], "line 1: invalid UTF-8 label value"),
    ok(
        "exemplar with timestamp",
        b"a_total 1 # {a=\"b\"} 1 2\n# EOF",
        &["a_total{} 1 - @1"],
    ),
    bad(
        "blank inside exemplar labels",
        b"a_total 1 # {a=\"b\" } 1\n# EOF",
        &[],
        "line 1: expected comma or left brace, got \"INVALID\"",
    ),
    bad("blank after eof", b"# EOF \n", &[], "line 1: unexpected data after # EOF"),
    bad(
        "exemplar after timestamp on gauge",
        b"m 1 1.5 # {a=\"b\"} 1\n# EOF",
        &[],
        "line 1: metric name m does not support exemplars",
    ),
];

#[test]
fn text_format() {
    check(Format::Text, TEXT_CASES);
}

#[test]
fn openmetrics_format() {
    check(Format::OpenMetrics, OPENMETRICS_CASES);
}

#[test]
fn nan_is_normal_nan() {
    for (format, input) in [
        (Format::Text, &b"m NaN\n"[..]),
        (Format::Text, b"m nan\n"),
        (Format::OpenMetrics, b"m NaN\n# EOF\n"),
    ] {
        let mut p = Parser::new(input, format);
        let Ok(Some(Entry::Sample(s))) = p.next() else {
            panic!("{input:?}: no sample")
        };
        assert_eq!(s.value.to_bits(), NORMAL_NAN_BITS, "{input:?}");
    }
}

#[test]
fn series_is_raw_text() {
    let cases: &[(&str, &[u8], &str)] = &[
        ("no labels", b"m 1", "m"),
        (
            "labels with escape",
            b"m{a=\"x\\\"y\"} 1 5",
            "m{a=\"x\\\"y\"}",
        ),
        ("blank before brace", b"m {a=\"b\"} 1", "m {a=\"b\"}"),
        ("blank after name", b"m  1", "m"),
    ];
    for (name, input, want) in cases {
        let mut p = Parser::new(input, Format::Text);
        let Ok(Some(Entry::Sample(s))) = p.next() else {
            panic!("case {name:?}: no sample")
        };
        assert_eq!(s.series, *want, "case {name:?}");
        assert_eq!(s.name, "m", "case {name:?}");
    }
}

#[test]
fn to_labels_cases() {
    type LabelsCase = (
        &'static str,
        &'static [u8],
        &'static [(&'static str, &'static str)],
    );
    let cases: &[LabelsCase] = &[
        ("name only", b"m 1", &[("__name__", "m")]),
        (
            "sorted",
            b"m{z=\"1\",a=\"2\"} 1",
            &[("__name__", "m"), ("a", "2"), ("z", "1")],
        ),
        (
            "empty dropped",
            b"m{a=\"\",b=\"x\"} 1",
            &[("__name__", "m"), ("b", "x")],
        ),
        // [verified 2.42] stored as `m{job=..}` without `a`.
        (
            "empty value deletes the name",
            b"m{a=\"\",a=\"x\"} 1",
            &[("__name__", "m")],
        ),
        (
            "unescaped",
            b"m{a=\"x\\ny\"} 1",
            &[("__name__", "m"), ("a", "x\ny")],
        ),
        (
            "uppercase sorts first",
            b"m{Z=\"1\"} 1",
            &[("Z", "1"), ("__name__", "m")],
        ),
    ];
    for (name, input, want) in cases {
        let mut p = Parser::new(input, Format::Text);
        let Ok(Some(Entry::Sample(s))) = p.next() else {
            panic!("case {name:?}: no sample")
        };
        let got: Vec<(String, String)> = to_labels(&s)
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want, "case {name:?}");
    }
}

#[test]
fn borrowed_unless_escaped() {
    let mut p = Parser::new(b"m{a=\"plain\",b=\"esc\\\\aped\"} 1", Format::Text);
    let Ok(Some(Entry::Sample(s))) = p.next() else {
        panic!("no sample")
    };
    let l: Vec<_> = s.labels().collect();
    assert!(matches!(l[0].1, Cow::Borrowed("plain")));
    assert!(matches!(&l[1].1, Cow::Owned(v) if v == "esc\\aped"));
}

#[test]
fn stays_done_after_error() {
    let mut p = Parser::new(b"m{ 1\nn 2\n", Format::Text);
    assert!(p.next().is_err());
    assert!(matches!(p.next(), Ok(None)));
}

#[test]
fn content_type_selects_format() {
    let cases: &[(&str, &str, Format)] = &[
        (
            "openmetrics",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::OpenMetrics,
        ),
        (
            "openmetrics upper",
            "Application/OpenMetrics-Text",
            Format::OpenMetrics,
        ),
        (
            "text",
            "text/plain; version=0.0.4; charset=utf-8",
            Format::Text,
        ),
        ("empty", "", Format::Text),
        ("garbage", "foo/bar", Format::Text),
    ];
    for (name, ct, want) in cases {
        assert_eq!(Format::from_content_type(ct), *want, "case {name:?}");
    }
}

#[test]
fn fuzz_body_survives_odd_inputs() {
    let inputs: &[&[u8]] = &[
        b"",
        b"\0",
        b"#",
        b"# ",
        b"# HELP",
        b"# HELP \0",
        b"# HELP m\0",
        b"m{",
        b"m{a=\"\\",
        b"m{a=\"\\\0",
        b"m{a=\"\0\"\0} 1",
        b"\xff\xfe",
        b"m 1 # {",
        b"a_total 1 # {a=\"\0\"} 1",
        b"# EOF\0",
        b"# E\0OF",
        b"m{a= \0\"b\"} 1",
        // Found by cargo fuzz: -0 is written as `0`, which the round trip must allow.
        b"Q -0.",
    ];
    for input in inputs {
        fuzz_parse(input);
    }
}

/// Writes every case input to `$FEDSTORE_DUMP_CASES/{text,om}_<i>.txt` plus `index.tsv`
/// (file, case name, expected message) for the differential check against a real Prometheus
/// scrape. Run: `FEDSTORE_DUMP_CASES=/tmp/cases cargo test -p fedstore --lib dump_cases -- --ignored`.
#[test]
#[ignore = "dev tool: dumps fixtures for a live Prometheus comparison"]
fn dump_cases() {
    let Ok(dir) = std::env::var("FEDSTORE_DUMP_CASES") else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    let mut index = String::new();
    for (prefix, cases) in [("text", TEXT_CASES), ("om", OPENMETRICS_CASES)] {
        for (i, c) in cases.iter().enumerate() {
            let file = format!("{prefix}_{i}.txt");
            std::fs::write(format!("{dir}/{file}"), c.input).unwrap();
            let msg = c
                .err
                .map_or(String::new(), |e| e.split_once(": ").unwrap().1.to_string());
            index.push_str(&format!("{file}\t{}\t{msg}\n", c.name));
        }
    }
    std::fs::write(format!("{dir}/index.tsv"), index).unwrap();
}

/// A stable-toolchain stand-in for the libFuzzer run: random byte edits of every table input,
/// drawn from the bytes the lexers care about, through the fuzz body.
#[test]
fn mutated_inputs_keep_invariants() {
    const ALPHABET: &[u8] = b"{}\"\\\n \t\0#=,a_:1.e+-xNIf\xff\xc3\xa9";
    let mut s: u64 = 0x0dd_ba11_cafe_f00d;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for c in TEXT_CASES.iter().chain(OPENMETRICS_CASES) {
        for _ in 0..150 {
            let mut input = c.input.to_vec();
            for _ in 0..1 + next() % 4 {
                let b = ALPHABET[(next() % ALPHABET.len() as u64) as usize];
                let at = (next() % (input.len() as u64 + 1)) as usize;
                match next() % 3 {
                    0 => input.insert(at, b),
                    1 if at < input.len() => input[at] = b,
                    _ if at < input.len() => {
                        input.remove(at);
                    }
                    _ => input.push(b),
                }
            }
            fuzz_parse(&input);
        }
    }
}
