//! Text-format (0.0.4) writing primitives for `/federate` and `/metrics`: the federate hot path.
//!
//! Everything appends into a caller's `Vec<u8>` and never allocates on its own. Escaping follows
//! prometheus/common v0.39.0 `expfmt/text_create.go`: label values escape `\`, newline and `"`;
//! HELP text escapes `\` and newline only; nothing else (tabs, CR, invalid UTF-8) is touched.

use super::float::{write_float, write_i64};

/// Appends `v` with label-value escaping: `\` → `\\`, newline → `\n`, `"` → `\"`.
#[inline]
pub fn write_label_value(buf: &mut Vec<u8>, v: &str) {
    let bytes = v.as_bytes();
    if bytes.len() <= 64 && !has_label_escape(bytes) {
        // Typical label values are short and clean: one scan, one copy, no memchr setup.
        buf.extend_from_slice(bytes);
        return;
    }
    let mut rest = bytes;
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

/// Whether `b` holds `\\`, newline or `"`: eight bytes at a time (SWAR zero-byte test).
#[inline]
fn has_label_escape(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        if has_zero(x ^ (ONES * u64::from(b'\\')))
            || has_zero(x ^ (ONES * u64::from(b'\n')))
            || has_zero(x ^ (ONES * u64::from(b'"')))
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&c| c == b'\\' || c == b'\n' || c == b'"')
}

/// Appends `<sep>name="escaped value"`: one label pair of a sample line, `sep` being `{` before
/// the first pair and `,` before the others. Every label pair the server writes comes from
/// here, including the federate renderer's cached prefixes.
#[inline]
pub fn write_label_pair(buf: &mut Vec<u8>, sep: u8, name: &str, value: &str) {
    buf.push(sep);
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"=\"");
    write_label_value(buf, value);
    buf.push(b'"');
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
        let sep = if self.has_labels { b',' } else { b'{' };
        self.has_labels = true;
        write_label_pair(self.buf, sep, name, value);
    }

    /// Whether any label has been written.
    #[inline]
    pub fn has_labels(&self) -> bool {
        self.has_labels
    }

    /// Closes the label block, writes ` value`, then ` ts` when given, then the newline.
    #[inline]
    pub fn finish(mut self, value: f64, timestamp_ms: Option<i64>) {
        self.finish_series();
        write_sample_suffix(self.buf, value, timestamp_ms);
    }

    /// Closes the label block and stops: the buffer then ends with the series text
    /// `name{...}` (for a per-series cache; finish lines with [`write_sample_suffix`]).
    #[inline]
    pub fn finish_series(&mut self) {
        if self.has_labels {
            self.buf.push(b'}');
            self.has_labels = false;
        }
    }
}

/// Appends ` value[ ts]\n`: the end of a sample line whose `name{labels}` part the caller
/// already wrote, e.g. copied from a per-series cache of the rendered label block (the label
/// block of a series never changes, so federation can render it once and reuse it).
#[inline]
pub fn write_sample_suffix(buf: &mut Vec<u8>, value: f64, timestamp_ms: Option<i64>) {
    buf.push(b' ');
    write_float(buf, value);
    if let Some(ts) = timestamp_ms {
        buf.push(b' ');
        write_i64(buf, ts);
    }
    buf.push(b'\n');
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
    fn escape_detection_every_position() {
        for len in 0..40 {
            for pos in 0..len {
                for special in [b'\\', b'\n', b'"'] {
                    let mut v = vec![b'a'; len];
                    v[pos] = special;
                    assert!(has_label_escape(&v), "len {len} pos {pos} {special}");
                }
            }
            // Bytes near the specials (and high bytes) must not trigger it.
            let v: Vec<u8> = (0..len)
                .map(|i| [b'[', b']', b'!', b'#', 0x0b, 0xdc][i % 6])
                .collect();
            assert!(!has_label_escape(&v), "len {len}");
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
        type LineCase = (
            &'static str,
            &'static str,
            &'static [(&'static str, &'static str)],
            f64,
            Option<i64>,
            &'static str,
        );
        let cases: &[LineCase] = &[
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
    fn cached_prefix_plus_suffix_equals_full_line() {
        let labels = [("a", "x\"y"), ("instance", "")];
        let full = s(|b| write_sample(b, "m", labels, 1e-5, Some(7)));
        let prefix = s(|b| {
            let mut l = SampleLine::new(b, "m");
            for (n, v) in labels {
                l.label(n, v);
            }
            l.finish_series();
        });
        assert_eq!(prefix, "m{a=\"x\\\"y\",instance=\"\"}");
        let mut b = prefix.into_bytes();
        write_sample_suffix(&mut b, 1e-5, Some(7));
        assert_eq!(String::from_utf8(b).unwrap(), full);
        assert_eq!(s(|b| write_sample_suffix(b, 2.0, None)), " 2\n");
    }

    #[test]
    fn appends_without_clearing() {
        let mut b = b"prefix\n".to_vec();
        write_sample(&mut b, "x", [], 1.5, None);
        assert_eq!(b, b"prefix\nx 1.5\n");
    }
}
