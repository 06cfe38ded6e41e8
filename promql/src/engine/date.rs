//! The date functions (`day_of_week`, `hour`, ...) over Unix seconds in UTC, as Go's `time`
//! package computes them (proleptic Gregorian calendar, any year).

/// The civil date of a day count since 1970-01-01: `(year, month 1..=12, day 1..=31)`.
fn civil(days: i64) -> (i64, i64, i64) {
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn day_of_year(y: i64, m: i64, d: i64) -> i64 {
    (1..m).map(|mm| days_in(y, mm)).sum::<i64>() + d
}

/// Go's `float64` to `int64` conversion on amd64 (what the 2.42 binary runs): NaN and values
/// outside the `int64` range become `i64::MIN` (Rust's `as` saturates, and maps NaN to 0).
pub(crate) fn go_f64_to_i64(x: f64) -> i64 {
    // 2^63 as f64; everything at or above it, and below -2^63, is out of range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if x.is_nan() || !(-LIMIT..LIMIT).contains(&x) {
        i64::MIN
    } else {
        x as i64
    }
}

/// Seconds from Go's absolute zero (Jan 1 of year -292277022399) to the Unix epoch
/// (`unixToInternal - absoluteToInternal` of Go's `time` package before 1.23).
const UNIX_TO_ABSOLUTE: i64 = 62_135_596_800 + 9_223_371_966_579_724_800;

/// Go's `Time.abs()` for `time.Unix(s, 0).UTC()`: seconds since the absolute zero, computed
/// with the same wrapping `int64` addition, so times far outside the calendar land where
/// Go's do (`year(vector(NaN))` is 292277026596 in 2.42).
fn absolute(s: i64) -> u64 {
    s.wrapping_add(UNIX_TO_ABSOLUTE) as u64
}

/// The civil date of absolute seconds `abs`: `(year, month, day)`.
fn civil_abs(abs: u64) -> (i64, i64, i64) {
    // The absolute zero is a day boundary, so whole days since it map onto Unix days.
    let days = (abs / 86_400) as i64 - UNIX_TO_ABSOLUTE / 86_400;
    civil(days)
}

/// The function called `name`, over Unix seconds.
pub(crate) fn by_name(name: &str) -> fn(i64) -> f64 {
    match name {
        "days_in_month" => |s| {
            let (y, m, _) = civil_abs(absolute(s));
            days_in(y, m) as f64
        },
        "day_of_month" => |s| civil_abs(absolute(s)).2 as f64,
        // Jan 1 of the absolute zero year was a Monday (Go's `absWeekday`).
        "day_of_week" => |s| ((absolute(s).wrapping_add(86_400) % 604_800) / 86_400) as f64,
        "day_of_year" => |s| {
            let (y, m, d) = civil_abs(absolute(s));
            day_of_year(y, m, d) as f64
        },
        "hour" => |s| ((absolute(s) % 86_400) / 3600) as f64,
        "minute" => |s| ((absolute(s) % 3600) / 60) as f64,
        "month" => |s| civil_abs(absolute(s)).1 as f64,
        _ => |s| civil_abs(absolute(s)).0 as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(name: &str, x: f64) -> f64 {
        by_name(name)(go_f64_to_i64(x))
    }

    #[test]
    fn ordinary_times() {
        // 2026-12-07 03:41:05 UTC, a Monday, day 341.
        let t = 1_796_614_865.0;
        assert_eq!(at("year", t), 2026.0);
        assert_eq!(at("month", t), 12.0);
        assert_eq!(at("day_of_month", t), 7.0);
        assert_eq!(at("day_of_week", t), 1.0);
        assert_eq!(at("day_of_year", t), 341.0);
        assert_eq!(at("days_in_month", t), 31.0);
        assert_eq!(at("hour", t), 3.0);
        assert_eq!(at("minute", t), 41.0);
        // Before 1970 and on a leap day.
        assert_eq!(at("year", -1.0), 1969.0);
        assert_eq!(at("day_of_week", -1.0), 3.0);
        assert_eq!(at("hour", -1.0), 23.0);
        assert_eq!(at("days_in_month", 951_782_400.0), 29.0);
    }

    #[test]
    fn nan_and_infinities_as_the_2_42_binary() {
        // Values the 2.42 binary answered for `year(special_values{kind="nan"})` etc.
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300] {
            assert_eq!(at("year", x), 292_277_026_596.0, "{x}");
            assert_eq!(at("month", x), 12.0);
            assert_eq!(at("day_of_month", x), 4.0);
            assert_eq!(at("day_of_week", x), 0.0);
            assert_eq!(at("day_of_year", x), 339.0);
            assert_eq!(at("hour", x), 15.0);
            assert_eq!(at("minute", x), 30.0);
        }
    }
}
