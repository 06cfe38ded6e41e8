//! Form decoding with Go's `url.ParseQuery` rules, so `/federate` rejects exactly what
//! Prometheus rejects (`error parsing form values: invalid URL escape "%zz"`).

use crate::exposition::parse::go_quote;

/// Decodes `application/x-www-form-urlencoded` text (a URL query or a POST body) into
/// `(key, value)` pairs in order. Like Go, a bad pair is skipped and parsing goes on, and
/// the first error is returned with whatever was decoded.
pub fn parse_query(query: &str, out: &mut Vec<(Vec<u8>, Vec<u8>)>) -> Result<(), String> {
    let mut err: Option<String> = None;
    for pair in query.split('&') {
        if pair.contains(';') {
            // Go 1.17+ overwrites any earlier error with this one.
            err = Some("invalid semicolon separator in query".to_owned());
            continue;
        }
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match (unescape(k), unescape(v)) {
            (Ok(k), Ok(v)) => out.push((k, v)),
            (Err(e), _) | (_, Err(e)) => {
                err.get_or_insert(e);
            }
        }
    }
    err.map_or(Ok(()), Err)
}

/// Go's `url.QueryUnescape`: `+` is a space, `%XX` a byte.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len()
                    || !b[i + 1].is_ascii_hexdigit()
                    || !b[i + 2].is_ascii_hexdigit()
                {
                    // Bytes, not a str slice: the escape may stop inside a multi-byte character.
                    let bad = &b[i..b.len().min(i + 3)];
                    return Err(format!("invalid URL escape {}", go_quote(bad)));
                }
                out.push(hex(b[i + 1]) << 4 | hex(b[i + 2]));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(q: &str) -> (Vec<(String, String)>, Result<(), String>) {
        let mut out = Vec::new();
        let r = parse_query(q, &mut out);
        let pairs = out
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
            .collect();
        (pairs, r)
    }

    #[test]
    fn decodes_like_go() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Result<(), &'a str>);
        let cases: &[Case] = &[
            ("match[]=up", &[("match[]", "up")], Ok(())),
            (
                "match%5B%5D=%7Bjob%3D%22a%22%7D",
                &[("match[]", "{job=\"a\"}")],
                Ok(()),
            ),
            ("a=1&&b=2+3", &[("a", "1"), ("b", "2 3")], Ok(())),
            ("a", &[("a", "")], Ok(())),
            (
                "a=%zz&b=1",
                &[("b", "1")],
                Err("invalid URL escape \"%zz\""),
            ),
            ("a=%4", &[], Err("invalid URL escape \"%4\"")),
            // The escape stops inside a two-byte character: no panic, Go's quoting.
            ("a=%\u{e9}x", &[], Err("invalid URL escape \"%\u{e9}\"")),
            ("a=%x\u{e9}", &[], Err("invalid URL escape \"%x\\xc3\"")),
            (
                "a=1;b=2&c=3",
                &[("c", "3")],
                Err("invalid semicolon separator in query"),
            ),
        ];
        for (q, want, want_err) in cases {
            let (got, err) = decode(q);
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(got, want, "case {q:?}");
            assert_eq!(err, want_err.map_err(|e| e.to_string()), "case {q:?}");
        }
    }
}
