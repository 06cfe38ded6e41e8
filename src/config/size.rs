//! Byte sizes as Prometheus writes them (`body_size_limit: 10MB`): alecthomas/units
//! `ParseBase2Bytes`, where `KB` and `KiB` both mean 1024, fractions and sums (`1.5MB`,
//! `1GB512MB`) are allowed and a bare number other than `0` is an error.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A byte count; zero or negative means "no limit" where used as a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize {
    bytes: i64,
}

/// Unit suffixes with their multipliers: first the `iB` map, then the legacy `B` map, both
/// base 2, exactly as `ParseBase2Bytes` tries them.
const UNIT_MAPS: [&[(&str, f64)]; 2] = [
    &[
        ("B", 1.0),
        ("KiB", 1024.0),
        ("MiB", 1_048_576.0),
        ("GiB", 1_073_741_824.0),
        ("TiB", 1_099_511_627_776.0),
        ("PiB", 1_125_899_906_842_624.0),
        ("EiB", 1_152_921_504_606_846_976.0),
    ],
    &[
        ("B", 1.0),
        ("KB", 1024.0),
        ("MB", 1_048_576.0),
        ("GB", 1_073_741_824.0),
        ("TB", 1_099_511_627_776.0),
        ("PB", 1_125_899_906_842_624.0),
        ("EB", 1_152_921_504_606_846_976.0),
    ],
];

impl ByteSize {
    /// A size of `bytes` bytes.
    pub const fn from_bytes(bytes: i64) -> ByteSize {
        ByteSize { bytes }
    }

    /// The size in bytes (may be zero or negative).
    pub const fn bytes(self) -> i64 {
        self.bytes
    }

    /// As a limit: `None` when zero or negative (Prometheus: no limit).
    pub fn limit(self) -> Option<u64> {
        u64::try_from(self.bytes).ok().filter(|&b| b > 0)
    }

    /// Parses `s` as `units.ParseBase2Bytes`, with its error messages.
    pub fn parse(s: &str) -> Result<ByteSize, String> {
        let first = parse_unit(s, UNIT_MAPS[0]);
        match first {
            Ok(b) => Ok(ByteSize { bytes: b }),
            Err(_) => parse_unit(s, UNIT_MAPS[1]).map(|bytes| ByteSize { bytes }),
        }
    }
}

/// alecthomas/units `ParseUnit`: `[-+]?([0-9]*(\.[0-9]*)?[a-zA-Z]+)+`, summed as float64.
fn parse_unit(orig: &str, units: &[(&str, f64)]) -> Result<i64, String> {
    let invalid = || format!("units: invalid {orig}");
    let mut s = orig;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let (int_part, rest) = leading_int(s).ok_or_else(invalid)?;
        let pre = rest.len() != s.len();
        s = rest;
        let mut g = int_part as f64;
        let mut post = false;
        if let Some(rest) = s.strip_prefix('.') {
            let (frac, after) = leading_int(rest).ok_or_else(invalid)?;
            let digits = rest.len() - after.len();
            post = digits > 0;
            g += frac as f64 / 10f64.powi(digits as i32);
            s = after;
        }
        if !pre && !post {
            return Err(invalid());
        }
        let unit_len = s
            .bytes()
            .position(|c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let mult = units
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, m)| *m)
            .ok_or_else(|| format!("units: unknown unit {unit} in {orig}"))?;
        total += g * mult;
    }
    if neg {
        total = -total;
    }
    // Go compares against float64(-1<<63) and float64(1<<63-1), both exactly 2^63 in magnitude.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..=LIMIT).contains(&total) {
        return Err("units: overflow parsing unit".to_owned());
    }
    Ok(total as i64)
}

/// Go's `leadingInt`: the leading digits and the rest; `None` on overflow.
fn leading_int(s: &str) -> Option<(i64, &str)> {
    let mut x: i64 = 0;
    let end = s
        .bytes()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(s.len());
    for c in s[..end].bytes() {
        if x >= (i64::MAX - 10) / 10 {
            return None;
        }
        x = x * 10 + i64::from(c - b'0');
    }
    Some((x, &s[end..]))
}

impl fmt::Display for ByteSize {
    /// `Base2Bytes.String`: `10MiB`, `1GiB512MiB`, `0B`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PREFIXES: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];
        let mut n = self.bytes;
        let mut parts: Vec<String> = Vec::new();
        for (i, p) in PREFIXES.iter().enumerate() {
            if n % 1024 != 0 || (i == 0 && n == 0) {
                let suffix = if i == 0 { "B" } else { "iB" };
                parts.push(format!("{}{p}{suffix}", n % 1024));
            }
            n /= 1024;
            if n == 0 {
                break;
            }
        }
        parts.reverse();
        f.write_str(&parts.concat())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size like 10MB")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_unit<E: de::Error>(self) -> Result<ByteSize, E> {
                Ok(ByteSize::default())
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("0", Ok(0)),
            ("0B", Ok(0)),
            ("100B", Ok(100)),
            ("1KB", Ok(1024)),
            ("1KiB", Ok(1024)),
            ("10MB", Ok(10 << 20)),
            ("10MiB", Ok(10 << 20)),
            ("1GB", Ok(1 << 30)),
            ("1.5MB", Ok(3 << 19)),
            ("1GB512MB", Ok((1 << 30) + (512 << 20))),
            ("-1MB", Ok(-(1 << 20))),
            (".5KB", Ok(512)),
            ("10", Err("units: unknown unit  in 10")),
            ("10kB", Err("units: unknown unit kB in 10kB")),
            ("10mb", Err("units: unknown unit mb in 10mb")),
            ("", Err("units: invalid ")),
            ("MB", Err("units: invalid MB")),
            (".MB", Err("units: invalid .MB")),
            ("10 MB", Err("units: unknown unit  MB in 10 MB")),
        ];
        for (input, want) in cases {
            let got = ByteSize::parse(input).map(ByteSize::bytes);
            assert_eq!(got, want.map_err(str::to_owned), "{input:?}");
        }
    }

    #[test]
    fn display_and_limit() {
        let cases: &[(i64, &str, Option<u64>)] = &[
            (0, "0B", None),
            (-5, "-5B", None),
            (100, "100B", Some(100)),
            (10 << 20, "10MiB", Some(10 << 20)),
            (
                (1 << 30) + (512 << 20),
                "1GiB512MiB",
                Some((1 << 30) + (512 << 20)),
            ),
            (1025, "1KiB1B", Some(1025)),
        ];
        for (bytes, text, limit) in cases {
            let b = ByteSize::from_bytes(*bytes);
            assert_eq!(b.to_string(), *text, "{bytes}");
            assert_eq!(b.limit(), *limit, "{bytes}");
        }
    }
}
