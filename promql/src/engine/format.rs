//! Go's float formatting where Prometheus puts numbers into messages and labels: `%f`, `%v`
//! and `strconv.FormatFloat(v, 'f', -1, 64)`.

/// Go `%f` (6 decimals; `NaN`, `+Inf`, `-Inf`).
pub(crate) fn go_f(v: f64) -> String {
    match special(v) {
        Some(s) => s.into(),
        None => format!("{v:.6}"),
    }
}

/// Go `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
pub(crate) fn go_format_f(v: f64) -> String {
    match special(v) {
        Some(s) => s.into(),
        None => format!("{v}"),
    }
}

/// Go `%v` of a float64 (`%g` with the shortest round-trip digits: exponent form when the
/// exponent is < -4 or >= 6, strconv's rule for the shortest form).
pub(crate) fn go_v(v: f64) -> String {
    if let Some(s) = special(v) {
        return s.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = v.abs().log10().floor() as i32;
    if (-4..6).contains(&exp) {
        return format!("{v}");
    }
    // Rust's `{:e}` gives the shortest digits as `1.5e20`; Go writes `1.5e+20`, `1e-05`.
    let s = format!("{v:e}");
    let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match e.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', e),
    };
    let digits = if digits.len() < 2 {
        format!("0{digits}")
    } else {
        digits.to_owned()
    };
    format!("{mant}e{sign}{digits}")
}

fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}
