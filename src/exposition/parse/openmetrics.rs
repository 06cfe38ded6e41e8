//! OpenMetrics 1.0 text, following Prometheus 2.42's `openmetricslex.l.go` and
//! `OpenMetricsParser.Next`: single spaces as separators, no blank lines or free comments,
//! timestamps in float seconds (truncated to ms), exemplars (` # {..} v [ts]`) validated and
//! skipped, and a mandatory final `# EOF`.

use std::borrow::Cow;

use super::charclass::{LNAME, LNAME_START, NAME, NAME_START, OM_VALUE, is};
use super::error::{ParseError, ParseErrorKind, Token};
use super::labels::unescape_label_value;
use super::number::{parse_float, seconds_to_ms};
use super::{Entry, LabelSpan, MetricType, Parser, Sample};

/// What the lexer finds after a value or timestamp.
enum AfterValue {
    Eof,
    Linebreak,
    /// ` # {`; the index after the `{`.
    Exemplar(usize),
    /// ` <token>`: start and end of the token text.
    Timestamp(usize, usize),
    Invalid,
}

/// Result of lexing a label value.
enum ValueToken {
    Eof,
    /// A quoted value; index of the closing quote.
    Quoted(usize),
    /// ` <token>` (only in exemplar label state).
    Value,
    Invalid,
}

impl<'a> Parser<'a> {
    /// The byte at `i`, or NUL past the end (golex's `next()` at end of input).
    #[inline(always)]
    fn om_at(&self, i: usize) -> u8 {
        self.buf.get(i).copied().unwrap_or(0)
    }

    /// Prometheus's `cur()` for the start-token error: a space past the end.
    fn om_cur(&self, i: usize) -> u8 {
        self.buf.get(i).copied().unwrap_or(b' ')
    }

    fn om_skip_nul(&self, mut i: usize) -> usize {
        while self.buf.get(i) == Some(&0) {
            i += 1;
        }
        i
    }

    fn om_bad_start(&self, i: usize) -> ParseError {
        self.err(ParseErrorKind::InvalidStartOpenMetrics {
            got: Token::Invalid,
            byte: self.om_cur(i),
        })
    }

    pub(super) fn next_openmetrics(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        let start = self.pos;
        let Some(&c) = self.buf.get(start) else {
            return Err(self.err(ParseErrorKind::MissingEof));
        };
        if is(c, NAME_START) {
            return self.om_sample(start).map(|s| Some(Entry::Sample(s)));
        }
        if c != b'#' {
            return Err(self.om_bad_start(start));
        }
        if self.om_at(start + 1) != b' ' {
            return Err(self.om_bad_start(start + 1));
        }
        let j = start + 2;
        let (kw, rest): (Option<Token>, &[u8]) = match self.om_at(j) {
            b'E' => (None, b"OF"),
            b'H' => (Some(Token::Help), b"ELP "),
            b'T' => (Some(Token::Type), b"YPE "),
            b'U' => (Some(Token::Unit), b"NIT "),
            _ => return Err(self.om_bad_start(j)),
        };
        // In the comment state the lexer skips NULs between bytes.
        let mut k = j + 1;
        for &want in rest {
            k = self.om_skip_nul(k);
            if self.om_at(k) != want {
                return Err(self.om_bad_start(k));
            }
            k += 1;
        }
        k = self.om_skip_nul(k);
        match kw {
            None => {
                if self.buf.get(k) == Some(&b'\n') {
                    k += 1;
                }
                if k < self.buf.len() {
                    return Err(self.err(ParseErrorKind::DataAfterEof));
                }
                self.pos = self.buf.len();
                Ok(None)
            }
            Some(kw) => self.om_metadata(kw, k).map(Some),
        }
    }

    fn om_metadata(&mut self, kw: Token, k: usize) -> Result<Entry<'a>, ParseError> {
        let expected = match kw {
            Token::Help => "expected metric name after HELP",
            Token::Type => "expected metric name after TYPE",
            _ => "expected metric name after UNIT",
        };
        let Some(&c) = self.buf.get(k) else {
            return Err(self.unexpected(expected, Token::Eof));
        };
        if !is(c, NAME_START) {
            return Err(self.unexpected(expected, Token::Invalid));
        }
        let mut e = k + 1;
        while e < self.buf.len() && is(self.buf[e], NAME) {
            e += 1;
        }
        let name = std::str::from_utf8(&self.buf[k..e]).unwrap_or_default();
        let no_text = || self.err(ParseErrorKind::ExpectedText { after: kw });
        if self.buf.get(e) != Some(&b' ') {
            return Err(no_text());
        }
        let Some(n) = memchr::memchr(b'\n', &self.buf[e + 1..]) else {
            return Err(no_text());
        };
        let nl = e + 1 + n;
        let text: &'a [u8] = &self.buf[e + 1..nl];
        let entry = match kw {
            Token::Type => {
                let kind = match text {
                    b"counter" => MetricType::Counter,
                    b"gauge" => MetricType::Gauge,
                    b"histogram" => MetricType::Histogram,
                    b"gaugehistogram" => MetricType::GaugeHistogram,
                    b"summary" => MetricType::Summary,
                    b"info" => MetricType::Info,
                    b"stateset" => MetricType::Stateset,
                    b"unknown" => MetricType::Unknown,
                    _ => return Err(self.err(ParseErrorKind::InvalidMetricType(text.to_vec()))),
                };
                Entry::Type { name, kind }
            }
            Token::Help => {
                let help = std::str::from_utf8(text)
                    .map_err(|_| self.err(ParseErrorKind::InvalidHelpUtf8))?;
                // OpenMetrics HELP uses label-value escaping (`\"` too).
                let help = if help.contains('\\') {
                    Cow::Owned(unescape_label_value(help))
                } else {
                    Cow::Borrowed(help)
                };
                Entry::Help { name, help }
            }
            _ => {
                if !unit_is_suffix(name.as_bytes(), text) {
                    return Err(self.err(ParseErrorKind::UnitNotSuffix {
                        metric: name.to_string(),
                    }));
                }
                Entry::Unit {
                    name,
                    unit: String::from_utf8_lossy(text),
                }
            }
        };
        self.pos = nl + 1;
        self.line += 1;
        Ok(entry)
    }

    fn om_sample(&mut self, start: usize) -> Result<Sample<'a>, ParseError> {
        let line = self.line;
        let len = self.buf.len();
        let mut j = start + 1;
        while j < len && is(self.buf[j], NAME) {
            j += 1;
        }
        let name_end = j;
        let mut series_end = j;
        self.spans.clear();
        let mut labels_at = None;
        let value_expected = "expected value after metric";
        if j >= len {
            return Err(self.unexpected(value_expected, Token::Eof));
        }
        if self.buf[j] == b'{' {
            labels_at = Some(j);
            j = self.om_labels(j + 1, false)?;
            series_end = j;
            match self.buf.get(j) {
                None => return Err(self.unexpected(value_expected, Token::Eof)),
                Some(b'{') => return Err(self.unexpected(value_expected, Token::BraceOpen)),
                Some(_) => {}
            }
        }
        if self.buf[j] != b' ' || !is(self.om_at(j + 1), OM_VALUE) {
            return Err(self.unexpected(value_expected, Token::Invalid));
        }
        let value_start = j + 1;
        j = value_start;
        while j < len && is(self.buf[j], OM_VALUE) {
            j += 1;
        }
        let value = parse_float(&self.buf[value_start..j]).map_err(|k| self.err(k))?;
        let name = &self.buf[start..name_end];
        let mut timestamp_ms = None;
        let end = match self.om_after_value(j) {
            AfterValue::Eof => return Err(self.err(ParseErrorKind::MissingEof)),
            AfterValue::Linebreak => j + 1,
            AfterValue::Exemplar(k) => self.om_exemplar(name, k)?,
            AfterValue::Timestamp(s, e) => {
                let ts = parse_float(&self.buf[s..e]).map_err(|k| self.err(k))?;
                if !ts.is_finite() {
                    return Err(self.err(ParseErrorKind::InvalidTimestamp));
                }
                timestamp_ms = Some(seconds_to_ms(ts));
                let expected = "expected next entry after timestamp";
                match self.om_after_value(e) {
                    AfterValue::Linebreak => e + 1,
                    AfterValue::Exemplar(k) => self.om_exemplar(name, k)?,
                    AfterValue::Eof => return Err(self.unexpected(expected, Token::Eof)),
                    AfterValue::Timestamp(..) => {
                        return Err(self.unexpected(expected, Token::Timestamp));
                    }
                    AfterValue::Invalid => return Err(self.unexpected(expected, Token::Invalid)),
                }
            }
            AfterValue::Invalid => {
                return Err(self.unexpected("expected timestamp or # symbol", Token::Invalid));
            }
        };
        self.pos = end;
        self.line += 1;
        self.finish_sample(
            start,
            start,
            name_end,
            series_end,
            labels_at,
            value,
            timestamp_ms,
            line,
        )
    }

    /// The lexer's timestamp state at `j`.
    fn om_after_value(&self, j: usize) -> AfterValue {
        let Some(&c) = self.buf.get(j) else {
            return AfterValue::Eof;
        };
        match c {
            b'\n' => AfterValue::Linebreak,
            b' ' => {
                let c2 = self.om_at(j + 1);
                let mut e = if c2 == b'#' {
                    if self.om_at(j + 2) == b' ' {
                        // ` # ` must continue with `{`: golex does not back off to ` #`.
                        return if self.om_at(j + 3) == b'{' {
                            AfterValue::Exemplar(j + 4)
                        } else {
                            AfterValue::Invalid
                        };
                    }
                    j + 2
                } else if is(c2, OM_VALUE) {
                    j + 2
                } else {
                    return AfterValue::Invalid;
                };
                while e < self.buf.len() && is(self.buf[e], OM_VALUE) {
                    e += 1;
                }
                AfterValue::Timestamp(j + 1, e)
            }
            _ => AfterValue::Invalid,
        }
    }

    /// An exemplar after ` # {` (`k` after the brace), validated and skipped; returns the
    /// index after the line's newline.
    fn om_exemplar(&mut self, name: &[u8], k: usize) -> Result<usize, ParseError> {
        if !name.ends_with(b"_total") && !name.ends_with(b"_bucket") {
            return Err(self.err(ParseErrorKind::ExemplarNotSupported {
                metric: String::from_utf8_lossy(name).into_owned(),
            }));
        }
        let mut j = self.om_labels(k, true)?;
        let got = match self.om_label_value(j, true) {
            ValueToken::Value => Token::Value,
            ValueToken::Eof => Token::Eof,
            ValueToken::Quoted(_) => Token::LabelValue,
            ValueToken::Invalid => Token::Invalid,
        };
        if got != Token::Value {
            return Err(self.unexpected("expected value after exemplar labels", got));
        }
        let value_start = j + 1;
        j = value_start;
        while j < self.buf.len() && is(self.buf[j], OM_VALUE) {
            j += 1;
        }
        parse_float(&self.buf[value_start..j]).map_err(|k| self.err(k))?;
        let Some(&c) = self.buf.get(j) else {
            return Err(self.err(ParseErrorKind::MissingEof));
        };
        if c == b'\n' {
            return Ok(j + 1);
        }
        if c != b' ' || !is(self.om_at(j + 1), OM_VALUE) {
            return Err(self.unexpected("expected timestamp or comment", Token::Invalid));
        }
        let ts_start = j + 1;
        j = ts_start;
        while j < self.buf.len() && is(self.buf[j], OM_VALUE) {
            j += 1;
        }
        let ts = parse_float(&self.buf[ts_start..j]).map_err(|k| self.err(k))?;
        if !ts.is_finite() {
            return Err(self.err(ParseErrorKind::InvalidExemplarTimestamp));
        }
        let expected = "expected next entry after exemplar timestamp";
        match self.buf.get(j) {
            Some(b'\n') => Ok(j + 1),
            None => Err(self.unexpected(expected, Token::Eof)),
            Some(b' ') if is(self.om_at(j + 1), OM_VALUE) => {
                Err(self.unexpected(expected, Token::Timestamp))
            }
            Some(_) => Err(self.unexpected(expected, Token::Invalid)),
        }
    }

    /// A label block after `{` (Prometheus `parseLVals`); returns the index after `}`.
    /// Exemplar labels are lexed in the exemplar states and not recorded.
    fn om_labels(&mut self, mut j: usize, exemplar: bool) -> Result<usize, ParseError> {
        let mut first = true;
        loop {
            match self.om_label_token(j) {
                Token::BraceClose => return Ok(j + 1),
                Token::Comma => {
                    if first {
                        return Err(
                            self.unexpected("expected label name or left brace", Token::Comma)
                        );
                    }
                    j += 1;
                    let t = self.om_label_token(j);
                    if t != Token::LabelName {
                        return Err(self.unexpected("expected label name", t));
                    }
                }
                Token::LabelName => {
                    if !first {
                        return Err(self.unexpected("expected comma", Token::LabelName));
                    }
                }
                t => {
                    let expected = if first {
                        "expected label name or left brace"
                    } else {
                        "expected comma or left brace"
                    };
                    return Err(self.unexpected(expected, t));
                }
            }
            first = false;
            let name_start = j;
            j += 1;
            while j < self.buf.len() && is(self.buf[j], LNAME) {
                j += 1;
            }
            let name_end = j;
            let t = self.om_label_token(j);
            if t != Token::Equal {
                return Err(self.unexpected("expected equal", t));
            }
            j += 1;
            let open = j;
            let close = match self.om_label_value(j, exemplar) {
                ValueToken::Quoted(close) => close,
                ValueToken::Eof => return Err(self.unexpected("expected label value", Token::Eof)),
                ValueToken::Value => {
                    return Err(self.unexpected("expected label value", Token::Value));
                }
                ValueToken::Invalid => {
                    return Err(self.unexpected("expected label value", Token::Invalid));
                }
            };
            if !self.buf[j..=close].is_ascii() && std::str::from_utf8(&self.buf[j..=close]).is_err()
            {
                return Err(self.err(ParseErrorKind::InvalidLabelValueUtf8));
            }
            j = close + 1;
            if !exemplar {
                // Sample label values skip NULs after the closing quote, and the value then
                // ends one byte before the lexer position (see `LabelIter`).
                let after = self.om_skip_nul(j);
                let end = if after > j { after - 1 } else { close };
                self.spans.push(LabelSpan {
                    name_start,
                    name_end,
                    empty_value: end == open + 1,
                });
                j = after;
            }
        }
    }

    fn om_label_token(&self, j: usize) -> Token {
        match self.buf.get(j) {
            None => Token::Eof,
            Some(b'}') => Token::BraceClose,
            Some(b',') => Token::Comma,
            Some(b'=') => Token::Equal,
            Some(&c) if is(c, LNAME_START) => Token::LabelName,
            Some(_) => Token::Invalid,
        }
    }

    /// The label-value state at `j`: a quoted value without raw newlines. Sample label values
    /// skip NULs (golex `next()`); exemplar ones reject them and also lex ` <value>` tokens.
    fn om_label_value(&self, j: usize, exemplar: bool) -> ValueToken {
        let Some(&c) = self.buf.get(j) else {
            return ValueToken::Eof;
        };
        if exemplar && c == b' ' {
            return if is(self.om_at(j + 1), OM_VALUE) {
                ValueToken::Value
            } else {
                ValueToken::Invalid
            };
        }
        if c != b'"' {
            return ValueToken::Invalid;
        }
        let mut k = j + 1;
        loop {
            if !exemplar {
                k = self.om_skip_nul(k);
            }
            match self.om_at(k) {
                b'"' => return ValueToken::Quoted(k),
                b'\\' => {
                    k += 1;
                    if !exemplar {
                        k = self.om_skip_nul(k);
                    }
                    if matches!(self.om_at(k), b'\n' | 0) {
                        return ValueToken::Invalid;
                    }
                    k += 1;
                }
                b'\n' | 0 => return ValueToken::Invalid,
                _ => k += 1,
            }
        }
    }
}

/// Prometheus's UNIT check: an empty unit, or a suffix of the name preceded by `_`.
fn unit_is_suffix(name: &[u8], unit: &[u8]) -> bool {
    unit.is_empty()
        || (name.len() > unit.len()
            && name.ends_with(unit)
            && name[name.len() - unit.len() - 1] == b'_')
}
