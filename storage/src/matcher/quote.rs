//! Go string and rune formatting, byte for byte as Go does it: `%q`, `%.10q`, `%#U` and
//! `utf8.DecodeRune`, which appear in matcher texts, regex errors and PromQL parse errors.
//!
//! Everything here works on bytes: Go strings may hold invalid UTF-8 (e.g. after a `\xff`
//! escape). The PromQL parser (crate `fedstore-promql`) uses these too, so they are public.

use std::sync::LazyLock;

/// Go's `utf8.RuneError` (U+FFFD), returned for every invalid byte.
pub const RUNE_ERROR: char = '\u{FFFD}';

/// Decodes the first rune of `b` as Go's `utf8.DecodeRune`: an invalid or truncated sequence
/// gives `(RUNE_ERROR, 1)`; an empty input gives `None`.
pub fn decode_rune(b: &[u8]) -> Option<(char, usize)> {
    let first = *b.first()?;
    let n = match first {
        0x00..=0x7f => return Some((char::from(first), 1)),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Some((RUNE_ERROR, 1)),
    };
    match b.get(..n).map(std::str::from_utf8) {
        Some(Ok(s)) => s.chars().next().map(|c| (c, n)),
        _ => Some((RUNE_ERROR, 1)),
    }
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and ASCII space.
pub fn is_print(c: char) -> bool {
    static PRINT: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^[\p{L}\p{M}\p{N}\p{P}\p{S}]$").expect("static class regex is valid")
    });
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let mut buf = [0u8; 4];
    PRINT.is_match(c.encode_utf8(&mut buf))
}

/// Appends `c` escaped as Go's `appendEscapedRune` does inside `quote`-delimited output.
fn push_escaped_rune(out: &mut String, c: char, quote: char) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if c < ' ' || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `%q` of a string (`strconv.Quote`); invalid UTF-8 bytes become `\xNN`.
pub fn go_quote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut rest = s;
    while let Some((c, n)) = decode_rune(rest) {
        if c == RUNE_ERROR && n == 1 {
            out.push_str(&format!("\\x{:02x}", rest[0]));
        } else {
            push_escaped_rune(&mut out, c, '"');
        }
        rest = &rest[n..];
    }
    out.push('"');
    out
}

/// Go's `%.Nq` of a string: the first `n` runes (an invalid byte counts as one), quoted.
pub fn go_quote_truncated(s: &[u8], n: usize) -> String {
    let mut rest = s;
    let mut end = 0;
    for _ in 0..n {
        match decode_rune(rest) {
            Some((_, w)) => {
                end += w;
                rest = &rest[w..];
            }
            None => break,
        }
    }
    go_quote(&s[..end])
}

/// Go's `%q` of a rune (`strconv.QuoteRune`); `None` (Go's `eof`, -1) prints as `'�'`.
pub fn go_quote_rune(c: Option<char>) -> String {
    let mut out = String::from("'");
    push_escaped_rune(&mut out, c.unwrap_or(RUNE_ERROR), '\'');
    out.push('\'');
    out
}

/// Go's `%#U` of a rune: `U+0071 'q'`, without the quoted rune when it is not printable.
pub fn go_unicode_format(c: char) -> String {
    if is_print(c) {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_matches_go() {
        let cases: &[(&[u8], &str)] = &[
            (b"\"bar\"", r#""\"bar\"""#),
            (b"a\\b", r#""a\\b""#),
            (b"\n\t\x07\x00\x7f", r#""\n\t\a\x00\x7f""#),
            (b"\xff", r#""\xff""#),
            (
                "ü\u{a0}\u{1F600}\u{FFFD}".as_bytes(),
                "\"ü\\u00a0\u{1F600}\u{FFFD}\"",
            ),
            (b"'", r#""'""#),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), *want, "case {input:?}");
        }
        assert_eq!(
            go_quote_truncated(b"\"abcdefghijk\"", 10),
            r#""\"abcdefghi""#
        );
        assert_eq!(go_quote_rune(Some('\'')), r"'\''");
        assert_eq!(go_quote_rune(Some('"')), "'\"'");
        assert_eq!(go_quote_rune(None), "'\u{FFFD}'");
        assert_eq!(go_unicode_format('q'), "U+0071 'q'");
        assert_eq!(go_unicode_format('\n'), "U+000A");
        assert_eq!(go_unicode_format('\u{1F600}'), "U+1F600 '\u{1F600}'");
    }

    #[test]
    fn decode_rune_matches_go() {
        type Case = (&'static [u8], Option<(char, usize)>);
        let cases: &[Case] = &[
            (b"", None),
            (b"a", Some(('a', 1))),
            ("é".as_bytes(), Some(('é', 2))),
            (b"\xff", Some((RUNE_ERROR, 1))),
            (b"\xc3", Some((RUNE_ERROR, 1))),
            (b"\xed\xa0\x80", Some((RUNE_ERROR, 1))), // surrogate
            (b"\xc0\x80", Some((RUNE_ERROR, 1))),     // overlong
            ("\u{FFFD}".as_bytes(), Some((RUNE_ERROR, 3))),
        ];
        for (input, want) in cases {
            assert_eq!(decode_rune(input), *want, "case {input:?}");
        }
    }
}
