//! Prometheus durations (`model.ParseDuration` and `model.Duration.String` of
//! prometheus/common v0.39, used by Prometheus 2.42): integer amounts with the units
//! `y w d h m s ms`, largest first, each at most once (`1h30m`, `90s`, `1y2w`).

/// Units in the order a duration must use them, with their length in ms.
const UNITS: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a duration as `model.ParseDuration` into milliseconds; `"0"` is allowed without a
/// unit. Errors are Go's texts: `not a valid duration string: "1x"`, `duration out of range`,
/// `empty duration string`.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || {
        format!(
            "not a valid duration string: {}",
            super::quote::go_quote(s.as_bytes())
        )
    };
    let b = s.as_bytes();
    let mut i = 0;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    let mut overflow = false;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        let digits = &s[start..i];
        // The unit: `ms` must be tried before `m`.
        let rest = &s[i..];
        let unit = if rest.starts_with("ms") {
            6
        } else {
            match rest.as_bytes().first() {
                Some(b'y') => 0,
                Some(b'w') => 1,
                Some(b'd') => 2,
                Some(b'h') => 3,
                Some(b'm') => 4,
                Some(b's') => 5,
                _ => return Err(invalid()),
            }
        };
        if unit < next_unit {
            return Err(invalid());
        }
        next_unit = unit + 1;
        i += UNITS[unit].0.len();
        let mult = UNITS[unit].1;
        // Go's strconv.Atoi saturates on overflow (its error is ignored).
        let n: i64 = digits.parse().unwrap_or(i64::MAX);
        if n > i64::MAX / 1_000_000 / mult {
            overflow = true;
        }
        total = total.wrapping_add(n.wrapping_mul(mult));
        // Go keeps nanoseconds in an int64.
        if !(0..=i64::MAX / 1_000_000).contains(&total) {
            overflow = true;
        }
    }
    if overflow {
        return Err("duration out of range".into());
    }
    Ok(total)
}

/// The HTTP API's duration parameters (`step`, `timeout`; `web/api/v1/api.go` `parseDuration`):
/// float seconds (`15`, `1.5`, `1e3`) or a Prometheus duration (`5m`), in **nanoseconds** as
/// Go's `time.Duration`. The error is the text the API puts after `invalid parameter "step": `.
pub fn parse_api_duration_ns(s: &str) -> Result<i64, String> {
    // float64(math.MaxInt64) and float64(math.MinInt64).
    const MAX: f64 = 9_223_372_036_854_775_807.0;
    const MIN: f64 = -9_223_372_036_854_775_808.0;
    let quoted = super::quote::go_quote(s.as_bytes());
    if let Ok(d) = super::number::parse_go_float(s) {
        let ns = d * 1e9;
        if !ns.is_nan() && !(MIN..=MAX).contains(&ns) {
            return Err(format!(
                "cannot parse {quoted} to a valid duration. It overflows int64"
            ));
        }
        // Go converts NaN to math.MinInt64 on amd64.
        return Ok(if ns.is_nan() { i64::MIN } else { ns as i64 });
    }
    match parse_duration(s) {
        Ok(ms) => Ok(ms * 1_000_000),
        Err(_) => Err(format!("cannot parse {quoted} to a valid duration")),
    }
}

/// `model.Duration.String()`: `0s`, `5m`, `1h30m`, `1d12h`; years and weeks only when they
/// divide the rest exactly (`90d`, not `12w6d`).
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    for (i, (unit, mult)) in UNITS.iter().enumerate() {
        let exact_only = i < 2;
        if exact_only && rest % mult != 0 {
            continue;
        }
        let v = rest / mult;
        if v > 0 {
            out.push_str(&v.to_string());
            out.push_str(unit);
            rest -= v * mult;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format() {
        let cases: &[(&str, i64)] = &[
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("1y", 31_536_000_000),
            ("2w1d", 15 * 86_400_000),
            ("100ms", 100),
            ("1m30s500ms", 90_500),
            ("0s", 0),
            ("0", 0),
        ];
        for (s, want) in cases {
            assert_eq!(parse_duration(s), Ok(*want), "case {s}");
        }
        for bad in ["1h5d", "5", "1ss", "m", "1mm", "1x"] {
            assert_eq!(
                parse_duration(bad),
                Err(format!("not a valid duration string: \"{bad}\"")),
                "case {bad}"
            );
        }
        let printed: Vec<String> = [
            300_000,
            5_400_000,
            90 * 86_400_000,
            14 * 86_400_000,
            1500,
            0,
        ]
        .iter()
        .map(|ms| format_duration(*ms))
        .collect();
        assert_eq!(printed, ["5m", "1h30m", "90d", "2w", "1s500ms", "0s"]);
    }

    #[test]
    fn api_durations() {
        assert_eq!(parse_api_duration_ns("15"), Ok(15_000_000_000));
        assert_eq!(parse_api_duration_ns("0.0001"), Ok(100_000));
        assert_eq!(parse_api_duration_ns("1e3"), Ok(1_000_000_000_000));
        assert_eq!(parse_api_duration_ns("5m"), Ok(300_000_000_000));
        assert_eq!(parse_api_duration_ns("-1"), Ok(-1_000_000_000));
        assert_eq!(
            parse_api_duration_ns("1e10"),
            Err("cannot parse \"1e10\" to a valid duration. It overflows int64".into())
        );
        assert_eq!(
            parse_api_duration_ns("5x"),
            Err("cannot parse \"5x\" to a valid duration".into())
        );
    }
}
