//! Request parameters as Go's `Request.FormValue` reads them, and Prometheus's `parseTime` /
//! `parseDuration` (`web/api/v1/api.go`) with their error texts.

use actix_web::HttpRequest;
use actix_web::http::{Method, header};

use crate::api::form::parse_query;

/// The form of one request: a urlencoded POST body first, then the URL query, so the body's
/// value wins and, per key, the first value wins (Go `FormValue`).
#[derive(Debug, Default)]
pub struct Form {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Form {
    /// Decodes the body (POST/PUT/PATCH with `application/x-www-form-urlencoded`) and the
    /// URL query. Like `FormValue`, bad pairs are skipped silently.
    pub fn parse(req: &HttpRequest, body: &[u8]) -> Form {
        let mut pairs = Vec::new();
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let has_body = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
        if has_body && is_form {
            let _ = parse_query(&String::from_utf8_lossy(body), &mut pairs);
        }
        let _ = parse_query(req.query_string(), &mut pairs);
        Form { pairs }
    }

    /// [`Form::parse`], failing as Go's `ParseForm` does on a bad escape or separator
    /// (`error parsing form values: invalid URL escape "%zz"`), for the endpoints that check.
    pub fn parse_checked(req: &HttpRequest, body: &[u8]) -> Result<Form, String> {
        let mut pairs = Vec::new();
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let has_body = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
        let mut result = Ok(());
        if has_body && is_form {
            result = parse_query(&String::from_utf8_lossy(body), &mut pairs);
        }
        let url = parse_query(req.query_string(), &mut pairs);
        result
            .and(url)
            .map_err(|e| format!("error parsing form values: {e}"))?;
        Ok(Form { pairs })
    }

    /// The first value of `key`, `""` when absent (Go `FormValue`).
    pub fn value(&self, key: &str) -> String {
        self.pairs
            .iter()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    }

    /// Every value of `key`, body values first.
    pub fn values(&self, key: &str) -> Vec<&[u8]> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// Prometheus's `MinTime` in ms (`-292273086-05-16T16:47:06Z`): the default `start`.
pub const MIN_TIME_MS: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// Prometheus's `MaxTime` in ms (`292277025-08-18T07:12:54.999999999Z`): the default `end`.
pub const MAX_TIME_MS: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;
const MIN_TIME_TEXT: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_TEXT: &str = "292277025-08-18T07:12:54.999999999Z";

/// Go turns a non-finite or out-of-range float into `math.MinInt64` seconds; the API then
/// answers at this time (seen as `-9223372036.854` in a 2.42 scalar).
const OVERFLOW_TIME_MS: i64 = i64::MIN / 1_000_000;

/// Prometheus `parseTime`: float seconds (fraction rounded to ms), RFC 3339 (sub-ms digits
/// dropped) or the `minTime`/`maxTime` texts. The error is `cannot parse "<s>" to a valid
/// timestamp`, which callers wrap per endpoint.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Some(f) = parse_go_float(s) {
        if !f.is_finite() || f.abs() >= 9.2e18 {
            return Ok(OVERFLOW_TIME_MS);
        }
        let secs = f.trunc();
        // Go rounds the fraction half away from zero, as f64::round does.
        let ms = ((f - secs) * 1000.0).round();
        return Ok((secs as i64).saturating_mul(1000).saturating_add(ms as i64));
    }
    if let Some(ms) = parse_rfc3339_ms(s) {
        return Ok(ms);
    }
    match s {
        MIN_TIME_TEXT => Ok(MIN_TIME_MS),
        MAX_TIME_TEXT => Ok(MAX_TIME_MS),
        _ => Err(format!("cannot parse {s:?} to a valid timestamp")),
    }
}

/// Prometheus `parseDuration`: float seconds or a Prometheus duration (`1m30s`), in ns.
pub fn parse_duration_ns(s: &str) -> Result<i64, String> {
    if let Some(f) = parse_go_float(s) {
        let ns = f * 1e9;
        if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(if ns.is_nan() { i64::MIN } else { ns as i64 });
    }
    crate::config::duration::Duration::parse(s)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .and_then(|ms| ms.checked_mul(1_000_000))
        .ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

/// Go `strconv.ParseFloat(s, 64)` for the forms an API client sends: decimal with optional
/// sign, fraction and exponent, `Inf`/`Infinity`/`NaN` in any case. (Go's hex floats and
/// underscores are not accepted here.)
fn parse_go_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        if lower == "nan" && body.len() != s.len() {
            return None;
        }
        return s.parse::<f64>().ok();
    }
    // Rust accepts exactly Go's decimal grammar once the words above are set aside, except
    // that both reject an empty string and neither takes `_` without a base prefix.
    if body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        s.parse::<f64>().ok()
    } else {
        None
    }
}

/// Go `time.Parse(time.RFC3339Nano, s)` to ms since the epoch (sub-ms digits truncated).
fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 9 {
            return None;
        }
        for k in 0..3 {
            ms = ms * 10
                + b.get(start + k)
                    .filter(|_| start + k < i)
                    .map_or(0, |d| i64::from(d - b'0'));
        }
    }
    let offset_s = match &b[i..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let h = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let m = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_s;
    Some(secs * 1000 + ms)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_prometheus_parses_them() {
        let cases: [(&str, Result<i64, ()>); 17] = [
            ("100", Ok(100_000)),
            ("100.5", Ok(100_500)),
            ("100.0005", Ok(100_001)),
            ("100.0004", Ok(100_000)),
            ("1e2", Ok(100_000)),
            ("-1.5", Ok(-1_500)),
            ("+Inf", Ok(OVERFLOW_TIME_MS)),
            ("NaN", Ok(OVERFLOW_TIME_MS)),
            ("0x64", Err(())),
            ("1970-01-01T00:01:40.123Z", Ok(100_123)),
            ("1970-01-01T00:01:40.1239Z", Ok(100_123)),
            ("1970-01-01T01:01:40+01:00", Ok(100_000)),
            ("2026-12-07T01:10:24Z", Ok(1_796_605_824_000)),
            ("-292273086-05-16T16:47:06Z", Ok(MIN_TIME_MS)),
            ("292277025-08-18T07:12:54.999999999Z", Ok(MAX_TIME_MS)),
            ("292277025-08-18T07:12:55.999999999Z", Err(())),
            ("", Err(())),
        ];
        for (s, want) in cases {
            assert_eq!(parse_time(s).map_err(|_| ()), want, "{s:?}");
        }
        assert_eq!(
            parse_time("x").unwrap_err(),
            "cannot parse \"x\" to a valid timestamp"
        );
        assert_eq!(MIN_TIME_MS, -9_223_309_901_257_974_000);
        assert_eq!(MAX_TIME_MS, 9_223_309_901_257_974_999);
    }

    #[test]
    fn durations_as_prometheus_parses_them() {
        assert_eq!(parse_duration_ns("15"), Ok(15_000_000_000));
        assert_eq!(parse_duration_ns("0.3333"), Ok(333_300_000));
        assert_eq!(parse_duration_ns("1m30s"), Ok(90_000_000_000));
        assert_eq!(
            parse_duration_ns("1e30").unwrap_err(),
            "cannot parse \"1e30\" to a valid duration. It overflows int64"
        );
        assert_eq!(
            parse_duration_ns("abc").unwrap_err(),
            "cannot parse \"abc\" to a valid duration"
        );
    }
}
