//! Prometheus durations (`model.Duration`): `1h30m`, `15s`, `0`; parsed and printed exactly as
//! prometheus/common v0.39.0 `model.ParseDuration` / `Duration.String` do.
//! Units in fixed order `y w d h m s ms`, each at most once, integers only, no sign, no spaces.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};

const MS_PER_SECOND: u64 = 1000;
const MS_PER_MINUTE: u64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: u64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: u64 = 24 * MS_PER_HOUR;
const MS_PER_WEEK: u64 = 7 * MS_PER_DAY;
const MS_PER_YEAR: u64 = 365 * MS_PER_DAY;

/// The largest duration Prometheus accepts: Go's `time.Duration` is an `int64` of nanoseconds.
pub const MAX_DURATION_MS: u64 = i64::MAX as u64 / 1_000_000;

/// Units in the only order `ParseDuration` accepts them.
const UNITS: [(&str, u64); 7] = [
    ("y", MS_PER_YEAR),
    ("w", MS_PER_WEEK),
    ("d", MS_PER_DAY),
    ("h", MS_PER_HOUR),
    ("m", MS_PER_MINUTE),
    ("s", MS_PER_SECOND),
    ("ms", 1),
];

/// A non-negative duration with millisecond resolution, as Prometheus's `model.Duration`.
///
/// `Display` prints Prometheus's form (`1h30m`, `90d`, `0s`); `FromStr` and `Deserialize` accept
/// exactly what `model.ParseDuration` accepts, with its error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    ms: u64,
}

/// Why a duration string was rejected; `Display` is Prometheus's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The input was the empty string.
    #[error("empty duration string")]
    Empty,
    /// The input does not have the `1y2w3d4h5m6s7ms` shape.
    #[error("not a valid duration string: {0:?}")]
    Invalid(String),
    /// The duration is longer than Go's `time.Duration` (about 292 years).
    #[error("duration out of range")]
    OutOfRange,
}

impl Duration {
    /// The zero duration (Prometheus uses it for "not set").
    pub const ZERO: Duration = Duration { ms: 0 };

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Duration {
        Duration { ms }
    }

    /// A duration of `s` seconds.
    pub const fn from_secs(s: u64) -> Duration {
        Duration {
            ms: s * MS_PER_SECOND,
        }
    }

    /// The length in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.ms
    }

    /// The length in (fractional) seconds, e.g. for `X-Prometheus-Scrape-Timeout-Seconds`.
    pub fn as_secs_f64(self) -> f64 {
        self.ms as f64 / 1000.0
    }

    /// Whether this is the zero duration.
    pub const fn is_zero(self) -> bool {
        self.ms == 0
    }

    /// The same length as a [`std::time::Duration`].
    pub const fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.ms)
    }

    /// Parses `s` as Prometheus's `model.ParseDuration`.
    pub fn parse(s: &str) -> Result<Duration, DurationError> {
        match s {
            "0" => return Ok(Duration::ZERO),
            "" => return Err(DurationError::Empty),
            _ => {}
        }
        let invalid = || DurationError::Invalid(s.to_owned());
        let bytes = s.as_bytes();
        let mut pos = 0;
        let mut next_unit = 0;
        // Nanoseconds in u128 so that overflow can be detected the way Go's int64 does.
        let mut total_ns: u128 = 0;
        let mut out_of_range = false;
        while pos < bytes.len() {
            let digits_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            if pos == digits_start {
                return Err(invalid());
            }
            let digits = &s[digits_start..pos];
            let rest = &s[pos..];
            // `ms` must be tried before `m`; the fixed order enforces "each unit at most once".
            let (idx, (name, mult)) = UNITS
                .iter()
                .enumerate()
                .skip(next_unit)
                .filter(|(_, (name, _))| rest.starts_with(name))
                .max_by_key(|(_, (name, _))| name.len())
                .ok_or_else(invalid)?;
            // `1m5` style leftovers or a unit letter followed by more letters are rejected below
            // by the next loop iteration (no digits) or here (`mx`).
            pos += name.len();
            next_unit = idx + 1;
            // Go's strconv.Atoi saturates on overflow, which then fails the range check.
            let n: u128 = digits.parse().unwrap_or(u128::MAX / 4);
            total_ns = total_ns.saturating_add(n.saturating_mul(u128::from(*mult) * 1_000_000));
            if total_ns > i64::MAX as u128 {
                out_of_range = true;
            }
        }
        if out_of_range {
            return Err(DurationError::OutOfRange);
        }
        Ok(Duration {
            ms: (total_ns / 1_000_000) as u64,
        })
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.as_std()
    }
}

impl fmt::Display for Duration {
    /// Prometheus's `Duration.String`: largest unit first; years and weeks only when exact.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.ms;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (name, mult) in UNITS {
            let exact_only = name == "y" || name == "w";
            if exact_only && !ms.is_multiple_of(mult) {
                continue;
            }
            let v = ms / mult;
            if v > 0 {
                write!(f, "{v}{name}")?;
                ms -= v * mult;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like 15s or 1h30m")
            }
            // The error is raised inside the visitor so that serde_yaml_ng attaches the
            // position of the scalar itself.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            // go-yaml v2 hands any scalar to a string field as its text (`scrape_interval: 0`).
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                self.visit_str(&v.to_string())
            }
            // `key:` with no value is Go's zero value: "unset".
            fn visit_unit<E: de::Error>(self) -> Result<Duration, E> {
                Ok(Duration::ZERO)
            }
            fn visit_none<E: de::Error>(self) -> Result<Duration, E> {
                Ok(Duration::ZERO)
            }
        }
        d.deserialize_any(DurationVisitor)
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        const MIN: u64 = 60_000;
        let cases: &[(&str, Result<u64, DurationError>)] = &[
            ("0", Ok(0)),
            ("0s", Ok(0)),
            ("15s", Ok(15_000)),
            ("1m", Ok(MIN)),
            ("90m", Ok(90 * MIN)),
            ("1h30m", Ok(90 * MIN)),
            ("1y", Ok(365 * 24 * 60 * MIN)),
            ("2w", Ok(14 * 24 * 60 * MIN)),
            ("1d", Ok(24 * 60 * MIN)),
            ("500ms", Ok(500)),
            ("1m500ms", Ok(MIN + 500)),
            (
                "1y2w3d4h5m6s7ms",
                Ok(((((365 + 17) * 24 + 4) * 60 + 5) * 60 + 6) * 1000 + 7),
            ),
            ("", Err(DurationError::Empty)),
            ("1m1h", Err(DurationError::Invalid("1m1h".into()))),
            ("1.5h", Err(DurationError::Invalid("1.5h".into()))),
            ("15x", Err(DurationError::Invalid("15x".into()))),
            ("15", Err(DurationError::Invalid("15".into()))),
            ("s", Err(DurationError::Invalid("s".into()))),
            ("-1s", Err(DurationError::Invalid("-1s".into()))),
            ("1s ", Err(DurationError::Invalid("1s ".into()))),
            (" 1s", Err(DurationError::Invalid(" 1s".into()))),
            ("1h 30m", Err(DurationError::Invalid("1h 30m".into()))),
            ("1m1m", Err(DurationError::Invalid("1m1m".into()))),
            ("1ms1s", Err(DurationError::Invalid("1ms1s".into()))),
            ("1H", Err(DurationError::Invalid("1H".into()))),
            ("1min", Err(DurationError::Invalid("1min".into()))),
            ("+1s", Err(DurationError::Invalid("+1s".into()))),
            ("00", Err(DurationError::Invalid("00".into()))),
            ("01s", Ok(1000)),
            ("292y", Ok(292 * 365 * 24 * 60 * MIN)),
            ("293y", Err(DurationError::OutOfRange)),
            ("99999999999999999999999s", Err(DurationError::OutOfRange)),
            ("106751d23h47m16s854ms", Ok(MAX_DURATION_MS)),
            ("106751d23h47m16s855ms", Err(DurationError::OutOfRange)),
        ];
        for (input, want) in cases {
            let got = Duration::parse(input).map(Duration::as_millis);
            assert_eq!(&got, want, "input {input:?}");
        }
    }

    #[test]
    fn display_table() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (1, "1ms"),
            (15_000, "15s"),
            (60_000, "1m"),
            (90 * 60_000, "1h30m"),
            (24 * 3_600_000, "1d"),
            (7 * 24 * 3_600_000, "1w"),
            (90 * 24 * 3_600_000, "90d"),
            (84 * 24 * 3_600_000, "12w"),
            (365 * 24 * 3_600_000, "1y"),
            (366 * 24 * 3_600_000, "366d"),
            (3_600_000 + 1, "1h1ms"),
            (61_500, "1m1s500ms"),
        ];
        for (ms, want) in cases {
            assert_eq!(Duration::from_millis(*ms).to_string(), *want, "{ms} ms");
        }
    }

    #[test]
    fn display_round_trips_through_parse() {
        for ms in [
            1,
            999,
            1000,
            59_999,
            3_600_000,
            86_400_000 * 400 + 7,
            MAX_DURATION_MS,
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(Duration::parse(&d.to_string()), Ok(d), "{ms} ms");
        }
    }
}
