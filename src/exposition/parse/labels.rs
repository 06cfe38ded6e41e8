//! Labels of a parsed sample: lazy iteration with unescaping, conversion to a storage label
//! set, and the label-set checks Prometheus 2.42 applies to a scraped sample.
//!
//! Prometheus's scrape builds the label set with `labels.Builder`, which deletes every label
//! whose name has an empty value anywhere in the sample; the TSDB then rejects duplicate names
//! (`tsdb/head_append.go`). We apply both here, without target labels (the scraper's part).

use std::borrow::Cow;

use fedstore_storage::{Labels, METRIC_NAME_LABEL};

use super::charclass::{LNAME, is};
use super::error::{ParseErrorKind, go_quote};
use super::{LabelSpan, Sample};

/// Iterator over a sample's `(name, value)` pairs in source order; values are unescaped
/// (`\"`, `\\`, `\n`) only when they contain a backslash.
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    series: &'a str,
    pos: usize,
}

impl<'a> LabelIter<'a> {
    pub(super) fn new(series: &'a str, labels_at: usize) -> Self {
        // Skip the `{`; with no label block, start at the end.
        LabelIter {
            series,
            pos: (labels_at + 1).min(series.len()),
        }
    }
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        // The parser validated the syntax; NULs may sit where Prometheus's lexer skips them.
        let b = self.series.as_bytes();
        let mut i = self.pos;
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b',' | 0) {
            i += 1;
        }
        if i >= b.len() || b[i] == b'}' {
            self.pos = b.len();
            return None;
        }
        let name_start = i;
        while i < b.len() && is(b[i], LNAME) {
            i += 1;
        }
        let name_end = i;
        while i < b.len() && matches!(b[i], b' ' | b'\t') {
            i += 1;
        }
        i += 1; // '='
        while i < b.len() && matches!(b[i], b' ' | b'\t' | 0) {
            i += 1;
        }
        i += 1; // opening '"'
        let value_start = i;
        let mut escaped = false;
        loop {
            match b.get(i) {
                None => {
                    self.pos = b.len();
                    return None;
                }
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    i += 1;
                    while b.get(i) == Some(&0) {
                        i += 1;
                    }
                    i += 1;
                }
                Some(_) => i += 1,
            }
        }
        // Prometheus takes the value as ending one byte before the lexer's position, which is
        // past any NULs skipped after the closing quote: `"b"\0` reads as `b"` [verified 2.42].
        let mut after = i + 1;
        while b.get(after) == Some(&0) {
            after += 1;
        }
        let value_end = if after > i + 1 { after - 1 } else { i };
        self.pos = after;
        let name = self.series.get(name_start..name_end)?;
        let raw = self.series.get(value_start..value_end)?;
        let value = if escaped {
            Cow::Owned(unescape_label_value(raw))
        } else {
            Cow::Borrowed(raw)
        };
        Some((name, value))
    }
}

/// Prometheus `lvalReplacer`: `\"` → `"`, `\\` → `\`, `\n` → newline; other `\x` stay as is.
pub(super) fn unescape_label_value(s: &str) -> String {
    unescape(s, true)
}

/// Prometheus `helpReplacer` (text format): `\\` → `\`, `\n` → newline only.
pub(super) fn unescape_help(s: &str) -> String {
    unescape(s, false)
}

fn unescape(s: &str, quote: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                Some('n') => {
                    out.push('\n');
                    chars.next();
                }
                Some('"') if quote => {
                    out.push('"');
                    chars.next();
                }
                _ => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The label set of a sample as the parser read it (Prometheus's `p.Metric(&lset)`):
/// `__name__` first, then the labels in exposition order, unescaped, **empty values kept**.
/// A scrape needs them: an exposed label with an empty value is present for `honor_labels`
/// (`lset.Has`), though it is dropped from what is stored.
pub fn exposed_labels<'a>(sample: &Sample<'a>) -> Vec<(&'a str, Cow<'a, str>)> {
    std::iter::once((METRIC_NAME_LABEL, Cow::Borrowed(sample.name)))
        .chain(sample.labels())
        .collect()
}

/// The storage label set of a sample as a Prometheus 2.42 scrape stores it: `__name__` plus its
/// labels, sorted, and every label whose name has an empty value anywhere in the sample dropped
/// (`labels.Builder` deletes by name: `m{a="",a="x"}` is stored as `m` [verified 2.42]).
/// Duplicate names were already rejected by the parser.
pub fn to_labels(sample: &Sample<'_>) -> Labels {
    let mut pairs = exposed_labels(sample);
    if pairs.iter().any(|(_, v)| v.is_empty()) {
        let deleted: Vec<&str> = pairs
            .iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(n, _)| *n)
            .collect();
        pairs.retain(|(n, _)| !deleted.contains(n));
    }
    Labels::from_pairs(pairs)
}

/// True when no label check can fail: names strictly increasing (so no duplicates) and none is
/// `__name__`. The common case, O(n).
#[inline]
pub(super) fn spans_are_simple(buf: &[u8], spans: &[LabelSpan]) -> bool {
    let mut prev: &[u8] = b"";
    for (i, s) in spans.iter().enumerate() {
        let name = &buf[s.name_start..s.name_end];
        if (i > 0 && name <= prev) || name == METRIC_NAME_LABEL.as_bytes() {
            return false;
        }
        prev = name;
    }
    true
}

/// The checks of Prometheus's scrape append, in its order: `__name__` removed by an explicit
/// empty `__name__` → missing name; a name with leading whitespace → invalid names; then
/// duplicate label names among the names that `labels.Builder` keeps.
pub(super) fn check_label_set(
    buf: &[u8],
    spans: &[LabelSpan],
    sample: &Sample<'_>,
) -> Result<(), ParseErrorKind> {
    // Every scraped sample whose labels are not written in name order comes here (most
    // exporters' are not), so the names sit on the stack unless there are very many.
    const ON_STACK: usize = 32;
    let pairs = spans
        .iter()
        .map(|s| (&buf[s.name_start..s.name_end], s.empty_value))
        .chain(std::iter::once((METRIC_NAME_LABEL.as_bytes(), false)));
    let n = spans.len() + 1;
    let mut stack = [(&b""[..], false); ON_STACK];
    let mut heap = Vec::new();
    let names: &mut [(&[u8], bool)] = if n <= ON_STACK {
        for (slot, p) in stack.iter_mut().zip(pairs) {
            *slot = p;
        }
        &mut stack[..n]
    } else {
        heap.extend(pairs);
        &mut heap
    };
    let deleted =
        |names: &[(&[u8], bool)], n: &[u8]| names.iter().any(|(m, empty)| *empty && *m == n);
    if deleted(names, METRIC_NAME_LABEL.as_bytes()) {
        return Err(ParseErrorKind::MissingMetricName);
    }
    if sample.name.starts_with([' ', '\t']) {
        return Err(ParseErrorKind::InvalidNames {
            labels: go_label_set_string(sample),
        });
    }
    names.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for w in names.windows(2) {
        if w[0].0 == w[1].0 && !deleted(names, w[0].0) {
            return Err(ParseErrorKind::DuplicateLabel {
                name: String::from_utf8_lossy(w[0].0).into_owned(),
            });
        }
    }
    Ok(())
}

/// Go `labels.Labels.String()` of the sample's label set: sorted, `name="quoted"` joined by
/// `, `, labels with empty values left out.
fn go_label_set_string(sample: &Sample<'_>) -> String {
    let mut pairs: Vec<(&str, Cow<'_, str>)> =
        std::iter::once((METRIC_NAME_LABEL, Cow::Borrowed(sample.name)))
            .chain(sample.labels())
            .collect();
    let deleted: Vec<&str> = pairs
        .iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(n, _)| *n)
        .collect();
    pairs.retain(|(n, _)| !deleted.contains(n));
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let inner: Vec<String> = pairs
        .iter()
        .map(|(n, v)| format!("{n}={}", go_quote(v.as_bytes())))
        .collect();
    format!("{{{}}}", inner.join(", "))
}
