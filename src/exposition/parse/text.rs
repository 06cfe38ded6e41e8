//! The text format 0.0.4, following Prometheus 2.42's golex lexer (`promlex.l.go`) and
//! `PromParser.Next` byte for byte, including its quirks: the input behaves as if a newline
//! were appended; a NUL at a line start ends the input; NULs inside label values, HELP text and
//! `# ` comments are skipped; label values may hold raw newlines; the comma between labels is
//! optional and a trailing one is allowed.

use std::borrow::Cow;

use super::charclass::{LNAME, LNAME_START, NAME, NAME_START, QUOTED_STOP, TEXT_VALUE, is};
use super::error::{ParseErrorKind, Token};
use super::labels::unescape_help;
use super::number::{parse_float, parse_timestamp_digits};
use super::{Entry, LabelSpan, MetricType, Parser};

impl<'a> Parser<'a> {
    /// The byte at `i` of the input with Prometheus's appended newline: `\n` at `len`, NUL
    /// (the golex end marker) beyond.
    #[inline(always)]
    fn t_at(&self, i: usize) -> u8 {
        match self.buf.get(i) {
            Some(&c) => c,
            None if i == self.buf.len() => b'\n',
            None => 0,
        }
    }

    #[inline(always)]
    fn t_skip_ws(&self, mut i: usize) -> usize {
        while let Some(&c) = self.buf.get(i) {
            if c != b' ' && c != b'\t' {
                break;
            }
            i += 1;
        }
        i
    }

    /// Skips NULs, as golex's `next()` does in the label-value, HELP-text and comment states.
    #[inline(always)]
    fn t_skip_nul(&self, mut i: usize) -> usize {
        while self.buf.get(i) == Some(&0) {
            i += 1;
        }
        i
    }

    pub(super) fn next_text(&mut self) -> Result<Option<Entry<'a>>, super::ParseError> {
        loop {
            let start = self.pos;
            let i = self.t_skip_ws(start);
            if i >= self.buf.len() {
                self.pos = self.buf.len();
                return Ok(None);
            }
            match self.buf[i] {
                b'\n' => {
                    self.pos = i + 1;
                    self.line += 1;
                }
                // golex's `\0` rule: Prometheus stops parsing, without error.
                0 => return Ok(None),
                b'#' => return self.text_comment(i),
                c if is(c, NAME_START) => {
                    return self.text_sample(start, i).map(|s| Some(Entry::Sample(s)));
                }
                _ => {
                    return Err(self.err(ParseErrorKind::InvalidStart {
                        got: Token::Invalid,
                    }));
                }
            }
        }
    }

    /// A line from `#` at `i`: `# HELP`, `# TYPE`, or a comment.
    fn text_comment(&mut self, i: usize) -> Result<Option<Entry<'a>>, super::ParseError> {
        let c1 = self.t_at(i + 1);
        if c1 != b' ' && c1 != b'\t' {
            // `#` not followed by a blank: a comment read in the initial state, where a NUL
            // ends the input.
            let rest = &self.buf[i + 1..];
            return match memchr::memchr2(b'\n', 0, rest) {
                Some(j) if rest[j] == 0 => Ok(None),
                Some(j) => self.end_comment_line(i + 1 + j),
                None => self.end_comment_line(self.buf.len()),
            };
        }
        let mut j = i + 1;
        while matches!(self.t_at(j), b' ' | b'\t') {
            j += 1;
        }
        if self.t_at(j) == 0 {
            return Ok(None);
        }
        if let Some((kw, k)) = self.text_keyword(j) {
            return self.text_metadata(kw, k).map(Some);
        }
        let nl = memchr::memchr(b'\n', &self.buf[j..]).map_or(self.buf.len(), |n| j + n);
        self.end_comment_line(nl)
    }

    fn end_comment_line(&mut self, nl: usize) -> Result<Option<Entry<'a>>, super::ParseError> {
        self.pos = (nl + 1).min(self.buf.len());
        self.line += 1;
        Ok(Some(Entry::Comment))
    }

    /// `HELP[\t ]+` or `TYPE[\t ]+` at `j` (NULs skipped between bytes, as in the comment
    /// state); returns the keyword and the index after its blanks.
    fn text_keyword(&self, j: usize) -> Option<(Token, usize)> {
        let (tok, rest): (Token, &[u8]) = match self.t_at(j) {
            b'H' => (Token::Help, b"ELP"),
            b'T' => (Token::Type, b"YPE"),
            _ => return None,
        };
        let mut k = j + 1;
        for &want in rest {
            k = self.t_skip_nul(k);
            if self.t_at(k) != want {
                return None;
            }
            k += 1;
        }
        k = self.t_skip_nul(k);
        if !matches!(self.t_at(k), b' ' | b'\t') {
            return None;
        }
        while matches!(self.t_at(k), b' ' | b'\t') {
            k = self.t_skip_nul(k + 1);
        }
        Some((tok, k))
    }

    /// The rest of a `# HELP`/`# TYPE` line from the metric name at `k`.
    fn text_metadata(&mut self, kw: Token, k: usize) -> Result<Entry<'a>, super::ParseError> {
        if !is(self.t_at(k), NAME_START) {
            let expected = if kw == Token::Help {
                "expected metric name after HELP"
            } else {
                "expected metric name after TYPE"
            };
            return Err(self.unexpected(expected, Token::Invalid));
        }
        let mut e = k + 1;
        while is(self.t_at(e), NAME) {
            e += 1;
        }
        let name = std::str::from_utf8(&self.buf[k..e]).unwrap_or_default();
        // The text token: Prometheus drops its first byte (normally the separating blank).
        let after = self.t_at(e);
        let nl = memchr::memchr(b'\n', &self.buf[e.min(self.buf.len())..])
            .map_or(self.buf.len(), |n| e + n);
        let text: &'a [u8] = if after == b'\n' || after == 0 {
            b""
        } else {
            let mut s = e;
            if matches!(after, b' ' | b'\t') {
                // A blank-only rest is a whitespace token followed by an empty text.
                while matches!(self.t_at(s), b' ' | b'\t') {
                    s = self.t_skip_nul(s + 1);
                }
                if self.t_at(s) == b'\n' {
                    b""
                } else {
                    &self.buf[e + 1..nl]
                }
            } else {
                &self.buf[e + 1..nl]
            }
        };
        let entry = if kw == Token::Type {
            let kind = match text {
                b"counter" => MetricType::Counter,
                b"gauge" => MetricType::Gauge,
                b"histogram" => MetricType::Histogram,
                b"summary" => MetricType::Summary,
                b"untyped" => MetricType::Unknown,
                _ => return Err(self.err(ParseErrorKind::InvalidMetricType(text.to_vec()))),
            };
            Entry::Type { name, kind }
        } else {
            let help =
                std::str::from_utf8(text).map_err(|_| self.err(ParseErrorKind::InvalidHelpUtf8))?;
            let help = if help.contains('\\') {
                Cow::Owned(unescape_help(help))
            } else {
                Cow::Borrowed(help)
            };
            Entry::Help { name, help }
        };
        if after == 0 {
            // A NUL right after the name: empty text, then the lexer sees end of input.
            return Err(self.unexpected("linebreak expected after metadata", Token::Eof));
        }
        self.pos = (nl + 1).min(self.buf.len());
        self.line += 1;
        Ok(entry)
    }

    /// A sample line: `start` is the line start, `i` the metric name's first byte.
    #[inline]
    fn text_sample(
        &mut self,
        start: usize,
        i: usize,
    ) -> Result<super::Sample<'a>, super::ParseError> {
        let line = self.line;
        let mut j = i + 1;
        while j < self.buf.len() && is(self.buf[j], NAME) {
            j += 1;
        }
        let name_end = j;
        let mut series_end = name_end;
        j = self.t_skip_ws(j);
        let mut c = self.t_at(j);
        self.spans.clear();
        let mut labels_at = None;
        // Raw newlines inside label values: the line count moves on once the sample is
        // complete, so that an error anywhere in it names the line it began on.
        let mut value_newlines = 0;
        if c == b'{' {
            labels_at = Some(j);
            (j, value_newlines) = self.text_labels(j + 1)?;
            series_end = j;
            j = self.t_skip_ws(j);
            c = self.t_at(j);
            if c == b'{' {
                return Err(self.unexpected("expected value after metric", Token::BraceOpen));
            }
        }
        if !is(c, TEXT_VALUE) {
            return Err(self.unexpected("expected value after metric", Token::Invalid));
        }
        let value_start = j;
        while j < self.buf.len() && is(self.buf[j], TEXT_VALUE) {
            j += 1;
        }
        let value = parse_float(&self.buf[value_start..j]).map_err(|k| self.err(k))?;
        j = self.t_skip_ws(j);
        c = self.t_at(j);
        let timestamp_ms = if c == b'\n' {
            None
        } else if c.is_ascii_digit() {
            let ts_start = j;
            while j < self.buf.len() && self.buf[j].is_ascii_digit() {
                j += 1;
            }
            let ts = parse_timestamp_digits(&self.buf[ts_start..j]).map_err(|k| self.err(k))?;
            j = self.t_skip_ws(j);
            c = self.t_at(j);
            if c != b'\n' {
                let got = if c.is_ascii_digit() {
                    Token::Timestamp
                } else {
                    Token::Invalid
                };
                return Err(self.unexpected("expected next entry after timestamp", got));
            }
            Some(ts)
        } else {
            return Err(self.unexpected("expected timestamp or new record", Token::Invalid));
        };
        self.pos = (j + 1).min(self.buf.len());
        self.line += 1 + value_newlines;
        self.finish_sample(
            start,
            i,
            name_end,
            series_end,
            labels_at,
            value,
            timestamp_ms,
            line,
        )
    }

    /// The label block after `{` at `j - 1`; returns the index after `}` and the number of
    /// raw newlines inside its label values.
    #[inline]
    fn text_labels(&mut self, mut j: usize) -> Result<(usize, usize), super::ParseError> {
        let mut newlines = 0;
        loop {
            j = self.t_skip_ws(j);
            let c = self.t_at(j);
            if c == b'}' {
                return Ok((j + 1, newlines));
            }
            if !is(c, LNAME_START) {
                return Err(self.unexpected("expected label name", label_state_token(c)));
            }
            let name_start = j;
            j += 1;
            while j < self.buf.len() && is(self.buf[j], LNAME) {
                j += 1;
            }
            let name_end = j;
            j = self.t_skip_ws(j);
            let c = self.t_at(j);
            if c != b'=' {
                return Err(self.unexpected("expected equal", label_state_token(c)));
            }
            j += 1;
            // Blanks before the value; in this lexer state NULs after a blank are skipped.
            while matches!(self.t_at(j), b' ' | b'\t') {
                j = self.t_skip_nul(j + 1);
            }
            if self.t_at(j) != b'"' {
                return Err(self.unexpected("expected label value", Token::Invalid));
            }
            let (value_end, non_ascii, value_newlines) = self.text_quoted(j + 1)?;
            newlines += value_newlines;
            if non_ascii && std::str::from_utf8(&self.buf[j..=value_end]).is_err() {
                return Err(self.err(ParseErrorKind::InvalidLabelValueUtf8));
            }
            // The closing quote is read in the value state, which skips NULs after it; the
            // value then ends one byte before the lexer position (see `LabelIter`).
            let after = self.t_skip_nul(value_end + 1);
            let end = if after > value_end + 1 {
                after - 1
            } else {
                value_end
            };
            self.spans.push(LabelSpan {
                name_start,
                name_end,
                empty_value: end == j + 1,
            });
            j = after;
            j = self.t_skip_ws(j);
            if self.t_at(j) == b',' {
                j += 1;
            }
        }
    }

    /// Scans a quoted value from just after its opening quote; returns the index of the
    /// closing quote, whether a byte >= 0x80 occurred and how many raw newlines (allowed)
    /// the value holds.
    #[inline]
    fn text_quoted(&mut self, mut k: usize) -> Result<(usize, bool, usize), super::ParseError> {
        let mut non_ascii = false;
        let mut newlines = 0;
        let len = self.buf.len();
        loop {
            while k < len && !is(self.buf[k], QUOTED_STOP) {
                k += 1;
            }
            if k >= len {
                // The appended newline is allowed, but then the input ends unterminated.
                return Err(self.unexpected("expected label value", Token::Invalid));
            }
            match self.buf[k] {
                b'"' => return Ok((k, non_ascii, newlines)),
                b'\\' => {
                    k = self.t_skip_nul(k + 1);
                    match self.buf.get(k) {
                        None | Some(b'\n') => {
                            return Err(self.unexpected("expected label value", Token::Invalid));
                        }
                        Some(&c) => non_ascii |= c >= 0x80,
                    }
                    k += 1;
                }
                b'\n' => {
                    newlines += 1;
                    k += 1;
                }
                0 => k += 1,
                _ => {
                    non_ascii = true;
                    k += 1;
                }
            }
        }
    }
}

/// The token Prometheus's lexer returns at `c` inside braces.
fn label_state_token(c: u8) -> Token {
    match c {
        b'}' => Token::BraceClose,
        b',' => Token::Comma,
        b'=' => Token::Equal,
        c if is(c, LNAME_START) => Token::LabelName,
        _ => Token::Invalid,
    }
}
