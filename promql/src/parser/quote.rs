//! PromQL string literals to their values: `util/strutil/quote.go` `Unquote` of Prometheus 2.42.
//!
//! The Go formatting helpers (`%q`, `%#U`, rune decoding) live with the matchers in the storage
//! crate, which prints matchers the same way; they are re-exported here for the lexer.

pub(crate) use fedstore_storage::quote::{
    RUNE_ERROR, decode_rune, go_quote, go_quote_rune, go_quote_truncated, go_unicode_format,
};

/// Unquotes a PromQL string literal (with its quotes) as `strutil.Unquote`: `"…"` and `'…'`
/// with Go escapes (`\xNN` and octal give raw bytes), backquoted strings verbatim.
///
/// The lexer has already validated the escapes, so an error here means a caller bug; it is
/// reported with Go's text `invalid syntax` anyway.
pub(crate) fn unquote(s: &[u8]) -> Result<Vec<u8>, &'static str> {
    const SYNTAX: &str = "invalid syntax";
    let n = s.len();
    if n < 2 || s[0] != s[n - 1] {
        return Err(SYNTAX);
    }
    let quote = s[0];
    let body = &s[1..n - 1];
    if quote == b'`' {
        return if body.contains(&b'`') {
            Err(SYNTAX)
        } else {
            Ok(body.to_vec())
        };
    }
    if quote != b'"' && quote != b'\'' {
        return Err(SYNTAX);
    }
    if body.contains(&b'\n') {
        return Err(SYNTAX);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c == quote {
            return Err(SYNTAX);
        }
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let esc = *body.get(i + 1).ok_or(SYNTAX)?;
        i += 2;
        match esc {
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'\\' => out.push(b'\\'),
            b'\'' | b'"' if esc == quote => out.push(esc),
            b'x' | b'u' | b'U' => {
                let digits = match esc {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let hex = body.get(i..i + digits).ok_or(SYNTAX)?;
                let mut v: u32 = 0;
                for &h in hex {
                    v = (v << 4) | char::from(h).to_digit(16).ok_or(SYNTAX)?;
                }
                i += digits;
                if esc == b'x' {
                    // A single byte, possibly not UTF-8 (Go appends byte(v)).
                    out.push(v as u8);
                } else {
                    let c = char::from_u32(v).ok_or(SYNTAX)?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            b'0'..=b'7' => {
                let mut v = u32::from(esc - b'0');
                for _ in 0..2 {
                    let d = *body.get(i).ok_or(SYNTAX)?;
                    if !(b'0'..=b'7').contains(&d) {
                        return Err(SYNTAX);
                    }
                    v = (v << 3) | u32::from(d - b'0');
                    i += 1;
                }
                out.push(u8::try_from(v).map_err(|_| SYNTAX)?);
            }
            _ => return Err(SYNTAX),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquote_matches_strutil() {
        let cases: &[(&str, Result<&[u8], &str>)] = &[
            (r#""abc""#, Ok(b"abc")),
            (r#"'a"b'"#, Ok(b"a\"b")),
            (r#""a\"b""#, Ok(b"a\"b")),
            (r#"'a\'b'"#, Ok(b"a'b")),
            ("`a\\nb`", Ok(b"a\\nb")),
            ("`a\nb`", Ok(b"a\nb")),
            (r#""\a\b\f\n\r\t\v\\""#, Ok(b"\x07\x08\x0c\n\r\t\x0b\\")),
            (r#""\x41\xff""#, Ok(b"A\xff")),
            (r#""\101\377""#, Ok(b"A\xff")),
            (r#""\xc3\xa9""#, Ok("é".as_bytes())),
            (r#""\u00e9\U0001F600""#, Ok("é\u{1F600}".as_bytes())),
            (r#""\q""#, Err("invalid syntax")),
            (r#""\'""#, Err("invalid syntax")),
            (r#""\400""#, Err("invalid syntax")),
            (r#""\uD800""#, Err("invalid syntax")),
            (r#""abc'"#, Err("invalid syntax")),
        ];
        for (input, want) in cases {
            let got = unquote(input.as_bytes());
            assert_eq!(got.as_deref().map_err(|e| *e), *want, "case {input}");
        }
    }
}
