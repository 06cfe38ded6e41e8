//! Prometheus text exposition (format 0.0.4) writing for generated datasets.
//!
//! No `# TYPE`/`# HELP` lines are written: a target body mixes units, and untyped samples are
//! what `/federate` re-exports anyway. Values use Rust's shortest round-trip form, which every
//! Prometheus-compatible parser accepts.

use std::io::Write;

use crate::dataset::{self, Dataset, Kind, Series, Unit};

/// Appends `v` escaped as a label value (`\` -> `\\`, `"` -> `\"`, newline -> `\n`).
pub fn write_label_value(out: &mut Vec<u8>, v: &str) {
    for &b in v.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// Appends `name{l1="v1",...}` for a series (labels in the series' order).
pub fn write_series_prefix(out: &mut Vec<u8>, s: &Series) {
    out.extend_from_slice(s.name.as_bytes());
    if !s.labels.is_empty() {
        out.push(b'{');
        for (i, (n, v)) in s.labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b"=\"");
            write_label_value(out, v);
            out.push(b'"');
        }
        out.push(b'}');
    }
}

/// Appends a sample value: `NaN`, `+Inf`, `-Inf` or the shortest round-trip decimal.
pub fn write_value(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{v}");
    }
}

/// Appends ` <value>[ <ts>]\n` after a prefix written by [`write_series_prefix`].
pub fn write_sample_tail(out: &mut Vec<u8>, v: f64, ts_ms: Option<i64>) {
    out.push(b' ');
    write_value(out, v);
    if let Some(ts) = ts_ms {
        let _ = write!(out, " {ts}");
    }
    out.push(b'\n');
}

/// Appends every series of `unit` with its value at `t_ms`; with `timestamps` each line
/// carries `t_ms` explicitly. Returns the number of samples written.
pub fn write_unit(
    ds: &Dataset,
    unit: Unit,
    t_ms: i64,
    timestamps: bool,
    out: &mut Vec<u8>,
) -> usize {
    let series = ds.unit_series(unit);
    for s in &series {
        write_series_prefix(out, s);
        write_sample_tail(out, ds.value(s, t_ms), timestamps.then_some(t_ms));
    }
    series.len()
}

/// Pre-rendered `name{labels}` prefixes of many series, for re-rendering values cheaply.
#[derive(Default)]
pub struct Prefixes {
    text: Vec<u8>,
    /// Per series in order: end offset in `text` and what its value depends on.
    ends: Vec<PrefixEnd>,
}

struct PrefixEnd {
    end: usize,
    id: u64,
    kind: Kind,
    centi: bool,
}

impl Prefixes {
    /// Renders the prefixes of all series of `units`.
    pub fn new(ds: &Dataset, units: &[Unit]) -> Self {
        let mut p = Prefixes::default();
        for &u in units {
            for s in ds.unit_series(u) {
                write_series_prefix(&mut p.text, &s);
                let centi = dataset::is_centi(&s.name);
                p.ends.push(PrefixEnd {
                    end: p.text.len(),
                    id: s.id,
                    kind: s.kind,
                    centi,
                });
            }
        }
        p
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no series.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Renders one exposition body with values at `t_ms`.
    pub fn render(&self, ds: &Dataset, t_ms: i64, timestamps: bool, out: &mut Vec<u8>) {
        out.reserve(self.text.len() + self.ends.len() * 24);
        let mut start = 0;
        for e in &self.ends {
            out.extend_from_slice(&self.text[start..e.end]);
            let v = ds.value_of(e.id, e.kind, e.centi, t_ms);
            write_sample_tail(out, v, timestamps.then_some(t_ms));
            start = e.end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetConfig;

    #[test]
    fn label_values_are_escaped() {
        let cases = [
            ("plain", "plain"),
            ("a\\b", "a\\\\b"),
            ("say \"hi\"", "say \\\"hi\\\""),
            ("two\nlines", "two\\nlines"),
            ("ünï", "ünï"),
        ];
        for (input, want) in cases {
            let mut out = Vec::new();
            write_label_value(&mut out, input);
            assert_eq!(String::from_utf8(out).unwrap(), want, "case {input:?}");
        }
    }

    #[test]
    fn values_are_formatted() {
        let cases = [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (1.5, "1.5"),
            (1e21, "1000000000000000000000"),
            (0.0001, "0.0001"),
        ];
        for (v, want) in cases {
            let mut out = Vec::new();
            write_value(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), want, "case {v}");
        }
    }

    #[test]
    fn sample_line_shape() {
        let s = Series {
            name: "m".into(),
            labels: vec![("job", "node".into()), ("x", "a\"b".into())],
            kind: Kind::Gauge,
            id: 1,
        };
        let mut out = Vec::new();
        write_series_prefix(&mut out, &s);
        write_sample_tail(&mut out, 2.0, Some(1000));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "m{job=\"node\",x=\"a\\\"b\"} 2 1000\n"
        );
    }

    #[test]
    fn prefixes_render_equals_write_unit() {
        let ds = Dataset::new(DatasetConfig {
            instances: 2,
            series_per_instance: 600,
            prometheus_instances: 1,
            prometheus_series_per_instance: 800,
            ..DatasetConfig::default()
        });
        let units = ds.units();
        let t = crate::dataset::ORIGIN_MS + 5_000;
        for ts in [false, true] {
            let mut direct = Vec::new();
            let mut n = 0;
            for &u in &units {
                n += write_unit(&ds, u, t, ts, &mut direct);
            }
            let p = Prefixes::new(&ds, &units);
            let mut rendered = Vec::new();
            p.render(&ds, t, ts, &mut rendered);
            assert_eq!(direct, rendered);
            assert_eq!(p.len(), n);
            assert_eq!(direct.iter().filter(|&&b| b == b'\n').count(), n);
        }
    }
}
