//! Text-format (0.0.4) and OpenMetrics 1.0 parser for import and scrape: zero-copy over `&[u8]`,
//! accepting and rejecting exactly what Prometheus 2.42's `model/textparse` does, with its error
//! texts plus a 1-based line number.
//!
//! [`Parser::next`] yields [`Entry`]s borrowing the input; a [`Sample`] keeps its raw series bytes
//! (the scrape cache key) and unescapes label values only when asked ([`Sample::labels`]). The
//! parser allocates nothing per sample (one reused scratch vector for duplicate-name checks).

mod charclass;
mod error;
mod labels;
mod number;
mod openmetrics;
#[cfg(test)]
mod tests;
mod text;

pub use error::{ParseError, ParseErrorKind, Token, go_quote};
pub use labels::{LabelIter, exposed_labels, to_labels};

use std::borrow::Cow;

/// Which exposition format to parse; the caller chooses (a scrape by `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (Prometheus `PromParser`).
    Text,
    /// OpenMetrics 1.0 text (Prometheus `OpenMetricsParser`): single-space separators, float-
    /// second timestamps, exemplars, mandatory `# EOF`.
    OpenMetrics,
}

impl Format {
    /// The format Prometheus 2.42 picks for a response `Content-Type` (`textparse.New`):
    /// OpenMetrics for `application/openmetrics-text` (any parameters, case-insensitive media
    /// type), the text format for anything else, including a missing or invalid header.
    pub fn from_content_type(content_type: &str) -> Format {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// A metric type from a `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram` (OpenMetrics only).
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info` (OpenMetrics only).
    Info,
    /// `stateset` (OpenMetrics only).
    Stateset,
    /// `untyped` (text) or `unknown` (OpenMetrics).
    Unknown,
}

impl MetricType {
    /// The name Prometheus uses in metadata (`textparse.MetricType`): `untyped` reads as
    /// `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// One entry of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// A sample line.
    Sample(Sample<'a>),
    /// `# HELP name text`; `help` is unescaped (text: `\\`, `\n`; OpenMetrics also `\"`).
    Help {
        /// Metric name.
        name: &'a str,
        /// Unescaped help text.
        help: Cow<'a, str>,
    },
    /// `# TYPE name type`.
    Type {
        /// Metric name.
        name: &'a str,
        /// The declared type.
        kind: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics only); `unit` is not validated (invalid UTF-8 is replaced).
    Unit {
        /// Metric name.
        name: &'a str,
        /// The unit, possibly empty.
        unit: Cow<'a, str>,
    },
    /// Any other comment line (text format only).
    Comment,
}

/// One sample, borrowing the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    /// The raw `name{labels}` text as written (escapes kept; the scrape cache key).
    pub series: &'a str,
    /// The metric name (a prefix of `series`).
    pub name: &'a str,
    /// The value; any NaN is Prometheus's `NormalNaN` (bits `0x7ff8000000000001`).
    pub value: f64,
    /// The explicit timestamp in ms (OpenMetrics seconds are converted), if any.
    pub timestamp_ms: Option<i64>,
    /// 1-based line number where the sample starts.
    pub line: usize,
    /// Offset of `{` in `series`, or `series.len()` when the sample has no label block.
    labels_at: usize,
}

/// Prometheus's canonical NaN (`value.NormalNaN`); a stale marker cannot be written in text.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

impl<'a> Sample<'a> {
    /// The labels in source order (not `__name__`), values unescaped only when they contain a
    /// backslash; empty values are included (see [`to_labels`] for Prometheus's label set).
    pub fn labels(&self) -> LabelIter<'a> {
        LabelIter::new(self.series, self.labels_at)
    }
}

/// Span of one label inside the input, kept for the duplicate-name check.
#[derive(Debug, Clone, Copy)]
struct LabelSpan {
    name_start: usize,
    name_end: usize,
    empty_value: bool,
}

/// A pull parser over one exposition body.
#[derive(Debug)]
pub struct Parser<'a> {
    buf: &'a [u8],
    /// The longest valid UTF-8 prefix of `buf`, validated once so samples slice their series
    /// text from it instead of validating each line.
    text: &'a str,
    pos: usize,
    /// 1-based line number at `pos`.
    line: usize,
    format: Format,
    /// Set after the end of input or an error; `next` then returns `Ok(None)`.
    done: bool,
    /// Label spans of the current sample (reused; the parser's only allocation).
    spans: Vec<LabelSpan>,
    /// Leave the label-set checks of a sample to [`Parser::check_labels`].
    defer_checks: bool,
    /// The current sample's checks were left for [`Parser::check_labels`].
    unchecked: std::cell::Cell<bool>,
}

impl<'a> Parser<'a> {
    /// A parser over `input` in `format`.
    pub fn new(input: &'a [u8], format: Format) -> Self {
        let text = match std::str::from_utf8(input) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&input[..e.valid_up_to()]).unwrap_or_default(),
        };
        Parser {
            buf: input,
            text,
            pos: 0,
            line: 1,
            format,
            done: false,
            spans: Vec::new(),
            defer_checks: false,
            unchecked: std::cell::Cell::new(false),
        }
    }

    /// The next entry, `Ok(None)` at the end of input, or the first error. After `None` or an
    /// error every further call returns `Ok(None)`.
    #[allow(clippy::should_implement_trait)] // fallible: Result<Option<_>>, not an Iterator
    pub fn next(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        if self.done {
            return Ok(None);
        }
        let r = match self.format {
            Format::Text => self.next_text(),
            Format::OpenMetrics => self.next_openmetrics(),
        };
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r
    }

    /// Leaves the label-set checks Prometheus applies when appending (missing or invalid
    /// name, duplicate label names) to [`Parser::check_labels`], for a caller that knows most
    /// samples already passed them: a scrape whose cache holds the sample's exact series text
    /// (checked when it was added) appends by ref, as Prometheus does, and checks the rest.
    pub fn defer_label_checks(mut self) -> Self {
        self.defer_checks = true;
        self
    }

    /// The checks [`Parser::defer_label_checks`] left out, for the sample `next` returned
    /// last (call it before the next `next`): the error `next` would have returned.
    pub fn check_labels(&self, sample: &Sample<'_>) -> Result<(), ParseError> {
        if !self.unchecked.get() {
            return Ok(());
        }
        labels::check_label_set(self.buf, &self.spans, sample).map_err(|kind| ParseError {
            line: sample.line,
            kind,
        })
    }

    /// The 1-based line the parser is at.
    pub fn line(&self) -> usize {
        self.line
    }

    fn err(&self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line: self.line,
            kind,
        }
    }

    fn unexpected(&self, expected: &'static str, got: Token) -> ParseError {
        self.err(ParseErrorKind::Unexpected { expected, got })
    }

    /// Builds the sample after its line parsed; runs the label-set checks Prometheus applies
    /// when appending (missing name, invalid name, duplicate label names).
    #[allow(clippy::too_many_arguments)]
    fn finish_sample(
        &self,
        start: usize,
        name_start: usize,
        name_end: usize,
        series_end: usize,
        labels_at: Option<usize>,
        value: f64,
        timestamp_ms: Option<i64>,
        line: usize,
    ) -> Result<Sample<'a>, ParseError> {
        let series = match self.text.get(start..series_end) {
            Some(s) => s,
            // Past the valid prefix: the line's label values were validated, so this cannot
            // fail.
            None => std::str::from_utf8(&self.buf[start..series_end]).map_err(|_| ParseError {
                line,
                kind: ParseErrorKind::InvalidLabelValueUtf8,
            })?,
        };
        let value = if value.is_nan() {
            f64::from_bits(NORMAL_NAN_BITS)
        } else {
            value
        };
        let sample = Sample {
            series,
            // Prometheus's `__name__` is the series text up to the name's end: with leading
            // whitespace it includes it, and the name check below rejects it.
            name: &series[..name_end - start],
            value,
            timestamp_ms,
            line,
            labels_at: labels_at.map_or(series.len(), |a| a - start),
        };
        let needs_check = name_start != start || !labels::spans_are_simple(self.buf, &self.spans);
        self.unchecked.set(needs_check && self.defer_checks);
        if needs_check && !self.defer_checks {
            labels::check_label_set(self.buf, &self.spans, &sample)
                .map_err(|kind| ParseError { line, kind })?;
        }
        Ok(sample)
    }
}

/// Parses `data` in both formats to the end, checking the parser's invariants; panics on a
/// violation. The body of the `exposition_parse` fuzz target, also run by the unit tests.
pub fn fuzz_parse(data: &[u8]) {
    for format in [Format::Text, Format::OpenMetrics] {
        let mut p = Parser::new(data, format);
        // Every entry consumes at least one byte, so this bounds the loop.
        for _ in 0..=data.len() + 1 {
            match p.next() {
                Ok(Some(Entry::Sample(s))) => {
                    assert!(!s.name.is_empty());
                    assert!(s.series.starts_with(s.name));
                    assert!(!s.value.is_nan() || s.value.to_bits() == NORMAL_NAN_BITS);
                    assert!(s.line >= 1 && s.line <= p.line());
                    let labels: Vec<(&str, Cow<'_, str>)> = s.labels().collect();
                    let n = labels.len();
                    let set = to_labels(&s);
                    assert!(set.len() <= n + 1);
                    let mut prev: Option<&str> = None;
                    for l in set.iter() {
                        assert!(!l.value.is_empty());
                        assert!(prev.is_none_or(|p| p < l.name.as_str()), "sorted, unique");
                        prev = Some(&l.name);
                    }
                    check_round_trip(&s, &labels);
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    assert!(e.line >= 1);
                    assert!(!e.message().is_empty());
                    break;
                }
            }
        }
        assert!(matches!(p.next(), Ok(None)), "parser must stay finished");
    }
}

/// Writing a parsed sample back as text and parsing that must give the same sample (text
/// timestamps cannot be negative, so those are left out).
fn check_round_trip(s: &Sample<'_>, labels: &[(&str, Cow<'_, str>)]) {
    let mut line = Vec::new();
    let ts = s.timestamp_ms.filter(|t| *t >= 0);
    super::write::write_sample(
        &mut line,
        s.name,
        labels.iter().map(|(n, v)| (*n, v.as_ref())),
        s.value,
        ts,
    );
    let mut p = Parser::new(&line, Format::Text);
    match p.next() {
        Ok(Some(Entry::Sample(back))) => {
            assert_eq!(back.name, s.name);
            // Bits survive, except that -0 is written as `0` (Prometheus's writeFloat).
            assert!(back.value.to_bits() == s.value.to_bits() || back.value == s.value);
            assert_eq!(back.timestamp_ms, ts);
            let back_labels: Vec<(&str, Cow<'_, str>)> = back.labels().collect();
            assert_eq!(back_labels, labels);
        }
        other => panic!(
            "re-parse of {:?} gave {other:?}",
            String::from_utf8_lossy(&line)
        ),
    }
}
