//! Text-format (0.0.4) writing primitives for `/federate` and `/metrics`: the federate hot path.
//!
//! Everything appends into a caller's `Vec<u8>` and never allocates on its own. Escaping follows
//! prometheus/common v0.39.0 `expfmt/text_create.go`: label values escape `\`, newline and `"`;
//! HELP text escapes `\` and newline only; nothing else (tabs, CR, invalid UTF-8) is touched.

use super::float::{write_float, write_i64};

/// Appends `v` with label-value escaping: `\` → `\\`, newline → `\n`, `"` → `\"`.
#[inline]
pub fn write_label_value(buf: &mut Vec<u8>, v: &str) {
    let mut rest = v.as_bytes();
    while let Some(i) = memchr::memchr3(b'\\', b'\n', b'"', rest) {
        buf.extend_from_slice(&rest[..i]);
        buf.extend_from_slice(match rest[i] {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            _ => b"\\\"",
        });
        rest = &rest[i + 1..];
    }
    buf.extend_from_slice(rest);
}

/// Appends HELP text with HELP escaping: `\` → `\\`, newline → `\n` (a `"` stays as is).
#[inline]
pub fn write_help(buf: &mut Vec<u8>, help: &str) {
    let mut rest = help.as_bytes();
    while let Some(i) = memchr::memchr2(b'\\', b'\n', rest) {
        buf.extend_from_slice(&rest[..i]);
        buf.extend_from_slice(if rest[i] == b'\\' { b"\\\\" } else { b"\\n" });
        rest = &rest[i + 1..];
    }
    buf.extend_from_slice(rest);
}

/// Appends `# HELP <name> <escaped help>\n`.
pub fn write_help_line(buf: &mut Vec<u8>, name: &str, help: &str) {
    buf.extend_from_slice(b"# HELP ");
    buf.extend_from_slice(name.as_bytes());
    buf.push(b' ');
    write_help(buf, help);
    buf.push(b'\n');
}

/// Appends `# TYPE <name> <kind>\n`; `kind` is one of `counter`, `gauge`, `summary`,
/// `untyped`, `histogram` (federation always writes `untyped` for float series).
pub fn write_type_line(buf: &mut Vec<u8>, name: &str, kind: &str) {
    buf.extend_from_slice(b"# TYPE ");
    buf.extend_from_slice(name.as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(kind.as_bytes());
    buf.push(b'\n');
}

/// Writes one sample line incrementally: `name{l1="v1",l2="v2"} value [ts]\n`.
///
/// Labels are written in call order, names raw, values escaped; no braces when no label is
/// added (Prometheus `writeLabelPairs`). Use it where the labels come from a callback, e.g.
/// `LabelsRef::for_each`; [`write_sample`] is the one-call form.
pub struct SampleLine<'b> {
    buf: &'b mut Vec<u8>,
    has_labels: bool,
}

impl<'b> SampleLine<'b> {
    /// Starts a line with the metric name (written raw).
    #[inline]
    pub fn new(buf: &'b mut Vec<u8>, name: &str) -> Self {
        buf.extend_from_slice(name.as_bytes());
        SampleLine {
            buf,
            has_labels: false,
        }
    }

    /// Appends `name="escaped value"` (with `{` or `,` before it).
    #[inline]
    pub fn label(&mut self, name: &str, value: &str) {
        self.buf.push(if self.has_labels { b',' } else { b'{' });
        self.has_labels = true;
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"=\"");
        write_label_value(self.buf, value);
        self.buf.push(b'"');
    }

    /// Whether any label has been written.
    #[inline]
    pub fn has_labels(&self) -> bool {
        self.has_labels
    }

    /// Closes the label block, writes ` value`, then ` ts` when given, then the newline.
    #[inline]
    pub fn finish(self, value: f64, timestamp_ms: Option<i64>) {
        if self.has_labels {
            self.buf.push(b'}');
        }
        self.buf.push(b' ');
        write_float(self.buf, value);
        if let Some(ts) = timestamp_ms {
            self.buf.push(b' ');
            write_i64(self.buf, ts);
        }
        self.buf.push(b'\n');
    }
}

/// Appends one sample line `name{l1="v1",...} value [ts]\n`, labels in the given order.
#[inline]
pub fn write_sample<'l>(
    buf: &mut Vec<u8>,
    name: &str,
    labels: impl IntoIterator<Item = (&'l str, &'l str)>,
    value: f64,
    timestamp_ms: Option<i64>,
) {
    let mut line = SampleLine::new(buf, name);
    for (n, v) in labels {
        line.label(n, v);
    }
    line.finish(value, timestamp_ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        f(&mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn label_value_escaping() {
        let cases: &[(&str, &str, &str)] = &[
            ("plain", "abc", "abc"),
            ("empty", "", ""),
            ("backslash", r"a\b", r"a\\b"),
            ("newline", "a\nb", r"a\nb"),
            ("quote", "a\"b", r#"a\"b"#),
            ("all three, verified 2.42", "a\\b\"c\nd", r#"a\\b\"c\nd"#),
            ("tab and cr untouched", "a\tb\rc", "a\tb\rc"),
            ("unicode untouched", "ünïcødé ☃", "ünïcødé ☃"),
            ("escape at ends", "\"x\\", r#"\"x\\"#),
            ("only specials", "\n\n\"", r#"\n\n\""#),
            ("escaped-looking text", r"\n", r"\\n"),
        ];
        for (name, input, want) in cases {
            assert_eq!(s(|b| write_label_value(b, input)), *want, "case {name:?}");
        }
    }

    #[test]
    fn help_escaping() {
        let cases: &[(&str, &str, &str)] = &[
            ("plain", "Total requests.", "Total requests."),
            ("quote kept", "say \"hi\"", "say \"hi\""),
            ("backslash", r"C:\dir", r"C:\\dir"),
            ("newline", "two\nlines", r"two\nlines"),
        ];
        for (name, input, want) in cases {
            assert_eq!(s(|b| write_help(b, input)), *want, "case {name:?}");
        }
        assert_eq!(s(|b| write_help_line(b, "m", "a\\b")), "# HELP m a\\\\b\n");
        assert_eq!(
            s(|b| write_type_line(b, "m", "untyped")),
            "# TYPE m untyped\n"
        );
    }

    #[test]
    fn sample_lines() {
        let cases: &[(&str, &str, &[(&str, &str)], f64, Option<i64>, &str)] = &[
            (
                "no labels, with ts",
                "up",
                &[],
                1.0,
                Some(6_000_000),
                "up 1 6000000\n",
            ),
            ("no labels, no ts", "up", &[], 0.0, None, "up 0\n"),
            (
                "federate fixture",
                "test_metric1",
                &[("foo", "bar"), ("instance", "i")],
                10000.0,
                Some(6_000_000),
                "test_metric1{foo=\"bar\",instance=\"i\"} 10000 6000000\n",
            ),
            (
                "empty instance value is written",
                "test_metric_without_labels",
                &[("instance", "")],
                1001.0,
                Some(6_000_000),
                "test_metric_without_labels{instance=\"\"} 1001 6000000\n",
            ),
            (
                "escaped value and float",
                "fmt_test",
                &[("e", "a\\b\"c\nd")],
                1e6,
                Some(-1),
                "fmt_test{e=\"a\\\\b\\\"c\\nd\"} 1e+06 -1\n",
            ),
            (
                "nan",
                "m",
                &[("a", "b")],
                f64::NAN,
                None,
                "m{a=\"b\"} NaN\n",
            ),
        ];
        for (name, metric, labels, v, ts, want) in cases {
            let got = s(|b| write_sample(b, metric, labels.iter().copied(), *v, *ts));
            assert_eq!(got, *want, "case {name:?}");
        }
    }

    #[test]
    fn sample_line_incremental() {
        let got = s(|b| {
            let mut l = SampleLine::new(b, "m");
            assert!(!l.has_labels());
            l.label("a", "1");
            l.label("zone", "ie");
            assert!(l.has_labels());
            l.finish(-2.5e-7, Some(5));
        });
        assert_eq!(got, "m{a=\"1\",zone=\"ie\"} -2.5e-07 5\n");
    }

    #[test]
    fn appends_without_clearing() {
        let mut b = b"prefix\n".to_vec();
        write_sample(&mut b, "x", [], 1.5, None);
        assert_eq!(b, b"prefix\nx 1.5\n");
    }
}
