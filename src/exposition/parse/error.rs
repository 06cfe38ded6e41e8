//! Parse errors with Prometheus 2.42's exact messages, plus Go's `strconv.Quote` used in them.
//!
//! [`ParseError`]'s `Display` is `line N: <message>`; [`ParseError::message`] is the bare text
//! Prometheus reports (a scrape's `lastError`), e.g. `expected equal, got "INVALID"`.

use std::fmt;

/// A lexer token, named as Prometheus's `textparse` names it in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// No token matched (`INVALID`).
    Invalid,
    /// End of input (`EOF`).
    Eof,
    /// A newline (`LINEBREAK`).
    Linebreak,
    /// `# HELP ` (`HELP`).
    Help,
    /// `# TYPE ` (`TYPE`).
    Type,
    /// `# UNIT ` (`UNIT`, OpenMetrics).
    Unit,
    /// A metric name (`MNAME`).
    MetricName,
    /// `{` (`BOPEN`).
    BraceOpen,
    /// `}` (`BCLOSE`).
    BraceClose,
    /// A label name (`LNAME`).
    LabelName,
    /// A quoted label value (`LVALUE`).
    LabelValue,
    /// `,` (`COMMA`).
    Comma,
    /// `=` (`EQUAL`).
    Equal,
    /// A timestamp (`TIMESTAMP`).
    Timestamp,
    /// A sample value (`VALUE`).
    Value,
}

impl Token {
    /// Prometheus's name of the token (`token.String()` in `model/textparse/promparse.go`).
    pub fn as_str(self) -> &'static str {
        match self {
            Token::Invalid => "INVALID",
            Token::Eof => "EOF",
            Token::Linebreak => "LINEBREAK",
            Token::Help => "HELP",
            Token::Type => "TYPE",
            Token::Unit => "UNIT",
            Token::MetricName => "MNAME",
            Token::BraceOpen => "BOPEN",
            Token::BraceClose => "BCLOSE",
            Token::LabelName => "LNAME",
            Token::LabelValue => "LVALUE",
            Token::Comma => "COMMA",
            Token::Equal => "EQUAL",
            Token::Timestamp => "TIMESTAMP",
            Token::Value => "VALUE",
        }
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong; `Display` is Prometheus 2.42's message, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// `<expected>, got "<TOKEN>"` (Prometheus `parseError`).
    #[error("{expected}, got \"{got}\"")]
    Unexpected {
        /// What the parser expected, e.g. `expected label name`.
        expected: &'static str,
        /// The token found instead.
        got: Token,
    },
    /// Text format: a line starts with something that is no entry.
    #[error("\"{got}\" is not a valid start token")]
    InvalidStart {
        /// The token found.
        got: Token,
    },
    /// OpenMetrics: a line starts with something that is no entry; `byte` is where the lexer
    /// stopped, printed as Go's `%q` of `string(byte)`.
    #[error("\"{got}\" {} is not a valid start token", go_quote_byte_as_rune(*.byte))]
    InvalidStartOpenMetrics {
        /// The token found.
        got: Token,
        /// The byte the lexer stopped at (a space at end of input, as Prometheus's `cur()`).
        byte: u8,
    },
    /// `expected text in HELP|TYPE|UNIT`.
    #[error("expected text in {after}")]
    ExpectedText {
        /// The metadata keyword.
        after: Token,
    },
    /// `# TYPE` with an unknown type; the text is printed Go-quoted.
    #[error("invalid metric type {}", go_quote(.0))]
    InvalidMetricType(Vec<u8>),
    /// HELP text that is not UTF-8.
    #[error("help text is not a valid utf8 string")]
    InvalidHelpUtf8,
    /// A label value that is not UTF-8.
    #[error("invalid UTF-8 label value")]
    InvalidLabelValueUtf8,
    /// A value or OpenMetrics timestamp containing `p`, `P` or `_` (Prometheus `parseFloat`).
    #[error("unsupported character in float")]
    UnsupportedFloatChar,
    /// Go `strconv.ParseFloat` syntax error on the given text.
    #[error("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(.0))]
    FloatSyntax(Vec<u8>),
    /// Go `strconv.ParseFloat` overflow on the given text.
    #[error("strconv.ParseFloat: parsing {}: value out of range", go_quote(.0))]
    FloatRange(Vec<u8>),
    /// Go `strconv.ParseInt` overflow of a text-format timestamp.
    #[error("strconv.ParseInt: parsing {}: value out of range", go_quote(.0))]
    TimestampRange(Vec<u8>),
    /// OpenMetrics sample timestamp is NaN or infinite.
    #[error("invalid timestamp")]
    InvalidTimestamp,
    /// OpenMetrics exemplar timestamp is NaN or infinite.
    #[error("invalid exemplar timestamp")]
    InvalidExemplarTimestamp,
    /// OpenMetrics input without the final `# EOF`.
    #[error("data does not end with # EOF")]
    MissingEof,
    /// OpenMetrics input with bytes after `# EOF`.
    #[error("unexpected data after # EOF")]
    DataAfterEof,
    /// OpenMetrics `# UNIT` that is not a `_`-separated suffix of the metric name.
    #[error("unit not a suffix of metric {}", go_quote(.metric.as_bytes()))]
    UnitNotSuffix {
        /// The metric name of the UNIT line.
        metric: String,
    },
    /// OpenMetrics exemplar on a metric whose name ends in neither `_total` nor `_bucket`.
    #[error("metric name {metric} does not support exemplars")]
    ExemplarNotSupported {
        /// The metric name.
        metric: String,
    },
    /// One label name twice in a sample (the TSDB's `label name "x" is not unique`).
    #[error("label name \"{name}\" is not unique: invalid sample")]
    DuplicateLabel {
        /// The repeated name (the smallest one, if several).
        name: String,
    },
    /// The sample's `__name__` is removed by an explicit empty `__name__=""` label.
    #[error("missing metric name (__name__ label)")]
    MissingMetricName,
    /// A sample line with whitespace before the metric name: Prometheus keeps the whitespace in
    /// `__name__` and the scrape fails on the invalid name. `labels` is Go's `Labels.String()` of
    /// the parsed labels (a scrape adds its target labels to this text).
    #[error("invalid metric name or label names: {labels}")]
    InvalidNames {
        /// The label set as Prometheus prints it: `{__name__=" m", a="b"}`.
        labels: String,
    },
}

/// A parse error: the 1-based line the failing entry began on (a label value may span lines:
/// the error names where its sample started, not where the lexer stopped) and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number where the failing entry began.
    pub line: usize,
    /// The error itself.
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// Prometheus's text of the error, without the line number (a scrape's `lastError`).
    pub fn message(&self) -> String {
        self.kind.to_string()
    }
}

/// Go's `strconv.Quote` of a byte string: `"…"` with Go escapes; invalid UTF-8 bytes as `\xNN`.
pub fn go_quote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_go_escaped(&mut out, c);
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of `string(b)` for a byte `b`: the byte as a code point U+0000..U+00FF.
fn go_quote_byte_as_rune(b: u8) -> String {
    let mut out = String::from("\"");
    push_go_escaped(&mut out, char::from(b));
    out.push('"');
    out
}

fn push_go_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if is_go_print(c) => out.push(c),
        c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Approximates Go's `unicode.IsPrint`: exact for ASCII and Latin-1; beyond that it treats
/// controls, white space other than U+0020, the common format characters and private-use
/// code points as unprintable (Go also escapes unassigned code points, which std cannot see).
fn is_go_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(u,
        0xad
        | 0x600..=0x605
        | 0x61c
        | 0x6dd
        | 0x70f
        | 0x180e
        | 0x200b..=0x200f
        | 0x202a..=0x202e
        | 0x2060..=0x2064
        | 0x2066..=0x206f
        | 0xe000..=0xf8ff
        | 0xfeff
        | 0xfff9..=0xfffb
        | 0xfffe..=0xffff
        | 0xf0000..=0x10ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_cases() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("plain", b"abc", r#""abc""#),
            ("empty", b"", r#""""#),
            ("quote and backslash", b"a\"b\\c", r#""a\"b\\c""#),
            ("controls", b"\x07\x08\x0c\n\r\t\x0b", r#""\a\b\f\n\r\t\v""#),
            ("nul and del", b"\x00\x7f", r#""\x00\x7f""#),
            ("invalid utf8", b"a\xffb", r#""a\xffb""#),
            ("truncated sequence", b"\xe2\x82a", r#""\xe2\x82a""#),
            ("unicode printable", "ü☃".as_bytes(), "\"ü☃\""),
            ("nbsp escaped", "\u{a0}".as_bytes(), r#""\u00a0""#),
            ("zero width space", "\u{200b}".as_bytes(), r#""\u200b""#),
            ("counter", b"counter ", r#""counter ""#),
        ];
        for (name, input, want) in cases {
            assert_eq!(go_quote(input), *want, "case {name:?}");
        }
    }

    #[test]
    fn messages() {
        let cases: &[(&str, ParseErrorKind, &str)] = &[
            (
                "unexpected",
                ParseErrorKind::Unexpected {
                    expected: "expected equal",
                    got: Token::Invalid,
                },
                r#"expected equal, got "INVALID""#,
            ),
            (
                "start",
                ParseErrorKind::InvalidStart {
                    got: Token::Invalid,
                },
                r#""INVALID" is not a valid start token"#,
            ),
            (
                "om start newline",
                ParseErrorKind::InvalidStartOpenMetrics {
                    got: Token::Invalid,
                    byte: b'\n',
                },
                r#""INVALID" "\n" is not a valid start token"#,
            ),
            (
                "om start latin1",
                ParseErrorKind::InvalidStartOpenMetrics {
                    got: Token::Invalid,
                    byte: 0xc3,
                },
                "\"INVALID\" \"Ã\" is not a valid start token",
            ),
            (
                "float",
                ParseErrorKind::FloatSyntax(b"abc".to_vec()),
                r#"strconv.ParseFloat: parsing "abc": invalid syntax"#,
            ),
            (
                "type",
                ParseErrorKind::InvalidMetricType(b"foo".to_vec()),
                r#"invalid metric type "foo""#,
            ),
            (
                "dup",
                ParseErrorKind::DuplicateLabel { name: "x".into() },
                r#"label name "x" is not unique: invalid sample"#,
            ),
        ];
        for (name, kind, want) in cases {
            assert_eq!(kind.to_string(), *want, "case {name:?}");
        }
        let e = ParseError {
            line: 12,
            kind: ParseErrorKind::Unexpected {
                expected: "expected equal",
                got: Token::Invalid,
            },
        };
        assert_eq!(e.to_string(), r#"line 12: expected equal, got "INVALID""#);
        assert_eq!(e.message(), r#"expected equal, got "INVALID""#);
    }
}
