//! PromQL number literals as Prometheus 2.42 reads and prints them: `strconv.ParseInt(s, 0, 64)`
//! first (so `010` is octal 8 and `0x10` is 16), then `strconv.ParseFloat`; printing is Go's
//! `fmt.Sprint(float64)` (`%v`, the shortest `'g'` form: `1e+06`, `0.0001`, `1e-05`, `+Inf`).

/// Parses a lexed NUMBER token's text; the error is Go's text after `error parsing number: `.
pub(crate) fn parse_number(s: &str) -> Result<f64, String> {
    if let Some(n) = parse_int_base0(s) {
        return Ok(n as f64);
    }
    parse_float(s)
}

/// `strconv.ParseInt(s, 0, 64)` for an unsigned token; `None` on any error (syntax or range).
fn parse_int_base0(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (base, digits): (u32, &[u8]) = match b {
        [b'0', p, rest @ ..] if !rest.is_empty() && p.eq_ignore_ascii_case(&b'x') => (16, rest),
        [b'0', p, rest @ ..] if !rest.is_empty() && p.eq_ignore_ascii_case(&b'b') => (2, rest),
        [b'0', p, rest @ ..] if !rest.is_empty() && p.eq_ignore_ascii_case(&b'o') => (8, rest),
        [b'0', rest @ ..] => (8, rest),
        _ => (10, b),
    };
    if digits.is_empty() && base != 8 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in digits {
        // Go accepts `_` separators with a base prefix; the lexer never produces them.
        let d = char::from(c).to_digit(base)?;
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    i64::try_from(n).ok()
}

/// `strconv.ParseFloat(s, 64)` for decimal forms with an optional sign, `inf`, `infinity` and
/// `nan` in any case; the error is Go's text. Hexadecimal floats (`0x1p-2`) and `_` separators,
/// which Go also accepts, are refused: the lexer cannot produce them.
pub(crate) fn parse_go_float(s: &str) -> Result<f64, String> {
    parse_float(s)
}

fn parse_float(s: &str) -> Result<f64, String> {
    let syntax = || format!("strconv.ParseFloat: parsing {}: invalid syntax", go_q(s));
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Ok(f64::INFINITY),
        "nan" => return Ok(f64::NAN),
        "-inf" | "-infinity" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let ok_chars = s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !ok_chars || lower.starts_with("0x") {
        return Err(syntax());
    }
    let v: f64 = s.parse().map_err(|_| syntax())?;
    if v.is_infinite() {
        return Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_q(s)
        ));
    }
    Ok(v)
}

fn go_q(s: &str) -> String {
    super::quote::go_quote(s.as_bytes())
}

/// Go's `fmt.Sprint(f)` / `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn format_go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Shortest round-trip digits and the decimal exponent, from Rust's `{:e}`.
    let sci = format!("{:e}", f);
    let (mant, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    // `strconv` uses `%e` when the exponent is < -4 or >= 6 for the shortest form.
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
        return out;
    }
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_go() {
        let cases: &[(&str, f64)] = &[
            ("1", 1.0),
            ("010", 8.0),
            ("08", 8.0),
            ("0x10", 16.0),
            ("0X1f", 31.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("Inf", f64::INFINITY),
            ("99999999999999999999", 1e20),
        ];
        for (s, want) in cases {
            assert_eq!(parse_number(s), Ok(*want), "case {s}");
        }
        assert!(parse_number("NaN").unwrap().is_nan());
        assert_eq!(
            parse_number("1e"),
            Err("strconv.ParseFloat: parsing \"1e\": invalid syntax".into())
        );
        let printed: Vec<String> = [
            1.0,
            1e6,
            123456.0,
            1234567.0,
            0.0001,
            0.00001,
            -2.5,
            f64::NAN,
        ]
        .iter()
        .map(|f| format_go_float(*f))
        .collect();
        assert_eq!(
            printed,
            [
                "1",
                "1e+06",
                "123456",
                "1.234567e+06",
                "0.0001",
                "1e-05",
                "-2.5",
                "NaN"
            ]
        );
        assert_eq!(
            parse_number("1e400"),
            Err("strconv.ParseFloat: parsing \"1e400\": value out of range".into())
        );
    }
}
