//! UTC timestamps as Go prints them: RFC 3339 with nanoseconds (`time.RFC3339Nano`, trailing
//! zeros dropped) for the API's times, milliseconds for Alertmanager. The one civil-date
//! conversion of the server.

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn date_time(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Go `time.Time.Format(time.RFC3339Nano)` in UTC: fraction only when non-zero, trailing
/// zeros dropped (`2026-12-07T01:11:32.767717555Z`).
pub fn rfc3339_utc(secs: i64, nanos: u32) -> String {
    let mut s = date_time(secs);
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// RFC 3339 of a nanosecond Unix time.
pub fn rfc3339_nanos(unix_ns: i64) -> String {
    rfc3339_utc(
        unix_ns.div_euclid(1_000_000_000),
        unix_ns.rem_euclid(1_000_000_000) as u32,
    )
}

/// Go's `strfmt.DateTime` as Alertmanager's client sends it: milliseconds, always three
/// digits (`2026-12-07T01:15:32.767Z`).
pub fn rfc3339_millis(unix_ms: i64) -> String {
    format!(
        "{}.{:03}Z",
        date_time(unix_ms.div_euclid(1000)),
        unix_ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339_utc(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nanos(1_796_605_892_767_717_555),
            "2026-12-07T01:11:32.767717555Z"
        );
        assert_eq!(
            rfc3339_utc(951_782_400, 500_000_000),
            "2000-02-29T00:00:00.5Z"
        );
        assert_eq!(
            rfc3339_millis(1_796_606_132_767),
            "2026-12-07T01:15:32.767Z"
        );
        assert_eq!(rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
    }
}
