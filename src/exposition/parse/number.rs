//! Sample values and timestamps as Prometheus 2.42 reads them: its `parseFloat` (Go
//! `strconv.ParseFloat` minus `p`/`P`/`_`) and `strconv.ParseInt(s, 10, 64)`.
//!
//! The common shapes (`123`, `0.5`, `1.2345e+06`) take an exact fast path (Clinger: a mantissa
//! below 2^53 times a power of ten up to 10^22 is correctly rounded by one multiply or divide).

use super::error::ParseErrorKind;

/// Exact powers of ten representable in an f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Prometheus `parseFloat`: rejects `p`, `P`, `_`; otherwise Go `strconv.ParseFloat(s, 64)`
/// (`NaN`, `Inf`, `+inf`, `-Infinity` case-insensitive; overflow is an error).
#[inline]
pub(crate) fn parse_float(s: &[u8]) -> Result<f64, ParseErrorKind> {
    if let Some(v) = fast_float(s) {
        return Ok(v);
    }
    slow_float(s)
}

/// `[+-]?digits[.digits][e[+-]digits]` with a mantissa < 2^53 and |exponent| <= 22.
#[inline]
fn fast_float(s: &[u8]) -> Option<f64> {
    let mut i = 0;
    let neg = match s.first()? {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut mant: u64 = 0;
    let mut nd = 0u32; // significant digits taken into `mant`
    let mut any_digit = false;
    let mut exp: i32 = 0;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        any_digit = true;
        if mant != 0 || c != b'0' {
            nd += 1;
            if nd > 19 {
                return None;
            }
        }
        mant = mant * 10 + u64::from(c - b'0');
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&c) = s.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            any_digit = true;
            if mant != 0 || c != b'0' {
                nd += 1;
                if nd > 19 {
                    return None;
                }
            }
            mant = mant * 10 + u64::from(c - b'0');
            exp -= 1;
            i += 1;
        }
    }
    if !any_digit {
        return None;
    }
    if let Some(&c) = s.get(i)
        && (c == b'e' || c == b'E')
    {
        i += 1;
        let eneg = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i32 = 0;
        while let Some(&c) = s.get(i) {
            if !c.is_ascii_digit() || e > 10_000 {
                break;
            }
            e = e * 10 + i32::from(c - b'0');
            i += 1;
        }
        if i == start {
            return None;
        }
        exp += if eneg { -e } else { e };
    }
    if i != s.len() || mant > (1u64 << 53) {
        return None;
    }
    let m = mant as f64;
    let v = if mant == 0 {
        0.0
    } else if (0..=22).contains(&exp) {
        m * POW10[exp as usize]
    } else if (-22..0).contains(&exp) {
        m / POW10[(-exp) as usize]
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

#[cold]
fn slow_float(s: &[u8]) -> Result<f64, ParseErrorKind> {
    if s.iter().any(|&c| c == b'p' || c == b'P' || c == b'_') {
        return Err(ParseErrorKind::UnsupportedFloatChar);
    }
    if let Some(v) = go_special(s) {
        return Ok(v);
    }
    let syntax = || ParseErrorKind::FloatSyntax(s.to_vec());
    // Only Go's decimal grammar is left; Rust's grammar for these characters is the same, and
    // the character check keeps Rust's own `inf`/`nan` spellings (e.g. `+nan`) out.
    if !s
        .iter()
        .all(|&c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return Err(syntax());
    }
    let text = std::str::from_utf8(s).map_err(|_| syntax())?;
    let v: f64 = text.parse().map_err(|_| syntax())?;
    if v.is_infinite() {
        return Err(ParseErrorKind::FloatRange(s.to_vec()));
    }
    Ok(v)
}

/// Go `strconv.special`: `[+-]?(inf|infinity)` or `nan` (no sign), case-insensitive, whole input.
fn go_special(s: &[u8]) -> Option<f64> {
    let (sign, rest) = match s.first()? {
        b'+' => (1.0, &s[1..]),
        b'-' => (-1.0, &s[1..]),
        _ => {
            if s.eq_ignore_ascii_case(b"nan") {
                return Some(f64::NAN);
            }
            (1.0, s)
        }
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(sign * f64::INFINITY);
    }
    None
}

/// Go `strconv.ParseInt(s, 10, 64)` for a non-empty run of ASCII digits (the text lexer's
/// timestamp token); the only possible error is overflow.
#[inline]
pub(crate) fn parse_timestamp_digits(s: &[u8]) -> Result<i64, ParseErrorKind> {
    let mut v: i64 = 0;
    for &c in s {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
            .ok_or_else(|| ParseErrorKind::TimestampRange(s.to_vec()))?;
    }
    Ok(v)
}

/// Go's `int64(seconds * 1000)` on amd64: truncation, and `math.MinInt64` when out of range.
pub(crate) fn seconds_to_ms(seconds: f64) -> i64 {
    let ms = seconds * 1000.0;
    // 2^63 is exact as an f64; [-2^63, 2^63) converts without overflow.
    let limit = i64::MAX as f64;
    if (-limit..limit).contains(&ms) {
        ms as i64
    } else {
        i64::MIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats() {
        enum W {
            V(f64),
            Nan,
            Syntax,
            Range,
            Unsupported,
        }
        let cases: &[(&str, &str, W)] = &[
            ("int", "123", W::V(123.0)),
            ("zero", "0", W::V(0.0)),
            ("neg zero", "-0", W::V(-0.0)),
            ("plus sign", "+5", W::V(5.0)),
            ("decimal", "0.5", W::V(0.5)),
            ("leading dot", ".5", W::V(0.5)),
            ("trailing dot", "5.", W::V(5.0)),
            ("exp", "1.2345e+06", W::V(1_234_500.0)),
            ("exp upper", "1E3", W::V(1000.0)),
            ("neg exp", "2.5e-07", W::V(2.5e-7)),
            ("dot exp", "1.e5", W::V(1e5)),
            ("long", "0.30000000000000004", W::V(0.1 + 0.2)),
            (
                "many digits",
                "123456789012345678901234567890",
                W::V(1.2345678901234568e29),
            ),
            ("max", "1.7976931348623157e308", W::V(f64::MAX)),
            ("subnormal", "5e-324", W::V(5e-324)),
            ("underflow is zero", "1e-400", W::V(0.0)),
            ("zero big exp", "0e99999", W::V(0.0)),
            ("leading zeros", "007", W::V(7.0)),
            ("NaN", "NaN", W::Nan),
            ("nan", "nan", W::Nan),
            ("nAn", "nAn", W::Nan),
            ("+Inf", "+Inf", W::V(f64::INFINITY)),
            ("-Inf", "-Inf", W::V(f64::NEG_INFINITY)),
            ("Inf", "Inf", W::V(f64::INFINITY)),
            ("inf", "inf", W::V(f64::INFINITY)),
            ("-infinity", "-infinity", W::V(f64::NEG_INFINITY)),
            ("INFINITY", "INFINITY", W::V(f64::INFINITY)),
            ("+nan rejected", "+nan", W::Syntax),
            ("-NaN rejected", "-NaN", W::Syntax),
            ("infin", "infin", W::Syntax),
            ("infx", "infx", W::Syntax),
            ("word", "abc", W::Syntax),
            ("empty", "", W::Syntax),
            ("dot", ".", W::Syntax),
            ("sign only", "-", W::Syntax),
            ("e only", "e5", W::Syntax),
            ("dangling e", "1e", W::Syntax),
            ("dangling e sign", "1e+", W::Syntax),
            ("two dots", "1.2.3", W::Syntax),
            ("two signs", "+-1", W::Syntax),
            ("hex", "0x10", W::Syntax),
            ("hex float", "0x1p-2", W::Unsupported),
            ("underscore", "1_000", W::Unsupported),
            ("P", "1P", W::Unsupported),
            ("overflow", "1e400", W::Range),
            ("neg overflow", "-1e400", W::Range),
            ("huge exponent", "1e99999999999999999999", W::Range),
            ("trailing junk", "1x", W::Syntax),
            ("space", "1 ", W::Syntax),
        ];
        for (name, input, want) in cases {
            let got = parse_float(input.as_bytes());
            match (want, &got) {
                (W::V(v), Ok(g)) => {
                    assert_eq!(g.to_bits(), v.to_bits(), "case {name:?}: got {g:e}")
                }
                (W::Nan, Ok(g)) => assert!(g.is_nan(), "case {name:?}"),
                (W::Syntax, Err(ParseErrorKind::FloatSyntax(s))) => {
                    assert_eq!(s, input.as_bytes(), "case {name:?}")
                }
                (W::Range, Err(ParseErrorKind::FloatRange(_))) => {}
                (W::Unsupported, Err(ParseErrorKind::UnsupportedFloatChar)) => {}
                _ => panic!("case {name:?}: unexpected {got:?}"),
            }
        }
    }

    #[test]
    fn fast_path_agrees_with_std() {
        let mut s: u64 = 0x1234_5678_9abc_def1;
        for _ in 0..100_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let text = match s % 3 {
                0 => format!("{}", (s >> 8) % 100_000_000),
                1 => format!("{}.{}", (s >> 8) % 100_000, (s >> 40) % 1000),
                _ => format!("{}e{}", (s >> 8) % 1_000_000, ((s >> 50) % 40) as i64 - 20),
            };
            let want: f64 = text.parse().unwrap();
            let got = parse_float(text.as_bytes()).unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{text}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp_digits(b"0"), Ok(0));
        assert_eq!(parse_timestamp_digits(b"0001"), Ok(1));
        assert_eq!(parse_timestamp_digits(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(
            parse_timestamp_digits(b"9223372036854775808")
                .unwrap_err()
                .to_string(),
            r#"strconv.ParseInt: parsing "9223372036854775808": value out of range"#
        );
        let ms_cases: &[(&str, f64, i64)] = &[
            ("seconds", 1.5, 1500),
            ("truncates", 1.0009, 1000),
            ("negative truncates toward zero", -1.0009, -1000),
            ("overflow", 1e300, i64::MIN),
            ("negative overflow", -1e300, i64::MIN),
        ];
        for (name, s, want) in ms_cases {
            assert_eq!(seconds_to_ms(*s), *want, "case {name:?}");
        }
    }
}
