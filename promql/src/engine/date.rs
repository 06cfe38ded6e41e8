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

/// The function called `name`, over Unix seconds.
pub(crate) fn by_name(name: &str) -> fn(i64) -> f64 {
    match name {
        "days_in_month" => |s| {
            let (y, m, _) = civil(s.div_euclid(86_400));
            days_in(y, m) as f64
        },
        "day_of_month" => |s| civil(s.div_euclid(86_400)).2 as f64,
        "day_of_week" => |s| (s.div_euclid(86_400) + 4).rem_euclid(7) as f64,
        "day_of_year" => |s| {
            let (y, m, d) = civil(s.div_euclid(86_400));
            day_of_year(y, m, d) as f64
        },
        "hour" => |s| (s.rem_euclid(86_400) / 3600) as f64,
        "minute" => |s| (s.rem_euclid(3600) / 60) as f64,
        "month" => |s| civil(s.div_euclid(86_400)).1 as f64,
        _ => |s| civil(s.div_euclid(86_400)).0 as f64,
    }
}
