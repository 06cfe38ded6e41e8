//! The differential test's dataset: a few hundred deterministic series over 2 h 40 m that
//! exercise what PromQL treats specially (counter resets, classic histograms, gaps longer than
//! the lookback, irregular and sparse timestamps, awkward label values, NaN and infinities),
//! written once as OpenMetrics for `promtool tsdb create-blocks-from openmetrics` and once as
//! text format with millisecond timestamps for `POST /api/v1/import/prometheus`.

use std::fmt::Write as _;

/// First sample time: 2026-01-01T00:00:00Z in ms (fixed, so `hour()`, `day_of_week()` and
/// friends answer the same on every run).
pub const T0_MS: i64 = 1_767_225_600_000;
/// Time covered by the samples (kept under 3 h so fedstore's head does not compact it).
pub const SPAN_MS: i64 = 2 * 3_600_000 + 40 * 60_000;
/// Regular scrape interval.
pub const STEP_MS: i64 = 15_000;

/// One series: labels sorted by name (including `__name__`) and its samples in time order.
#[derive(Clone, Debug)]
pub struct SeriesData {
    /// Label pairs sorted by name.
    pub labels: Vec<(String, String)>,
    /// `(ms, value)` in strictly increasing time order.
    pub samples: Vec<(i64, f64)>,
}

impl SeriesData {
    /// The metric name.
    pub fn name(&self) -> &str {
        self.labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A small deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One element of `xs` (non-empty).
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// A value as a function of the sample's index.
type ValueAt = Box<dyn Fn(usize) -> f64>;

fn series(name: &str, labels: &[(&str, &str)], samples: Vec<(i64, f64)>) -> SeriesData {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    l.push(("__name__".to_owned(), name.to_owned()));
    l.sort();
    SeriesData { labels: l, samples }
}

/// Regular timestamps from `from` to `to` (exclusive) every `step` ms, offset by `T0_MS`.
fn grid(from: i64, to: i64, step: i64) -> impl Iterator<Item = i64> {
    (0..)
        .map(move |k| from + k * step)
        .take_while(move |t| *t < to)
        .map(|t| T0_MS + t)
}

/// A counter: increments in `0..max_inc` per sample, resets to a small value at `resets`
/// (ms after T0).
fn counter(
    rng: &mut Rng,
    times: &[i64],
    max_inc: u64,
    resets: &[i64],
    centi: bool,
) -> Vec<(i64, f64)> {
    let mut v = rng.below(1000) as f64;
    let mut out = Vec::with_capacity(times.len());
    let mut prev_t = T0_MS;
    for &t in times {
        if resets.iter().any(|r| prev_t < T0_MS + r && T0_MS + r <= t) {
            v = rng.below(5) as f64;
        } else {
            v += rng.below(max_inc) as f64;
        }
        prev_t = t;
        out.push((t, if centi { v / 100.0 } else { v }));
    }
    out
}

/// A gauge: a sine wave around `base` with noise, rounded to two decimals.
fn gauge(rng: &mut Rng, times: &[i64], base: f64, amp: f64) -> Vec<(i64, f64)> {
    let phase = rng.unit() * std::f64::consts::TAU;
    times
        .iter()
        .map(|&t| {
            let x = (t - T0_MS) as f64 / 600_000.0 + phase;
            let v = base + amp * x.sin() + (rng.unit() - 0.5) * amp * 0.1;
            (t, (v * 100.0).round() / 100.0)
        })
        .collect()
}

/// Timestamps on the 15 s grid moved by up to +-7 s, each chosen so that the seconds text
/// promtool parses (`float64(s) * 1000` truncated) gives back exactly this millisecond.
fn jittered(rng: &mut Rng, step: i64) -> Vec<i64> {
    let mut out: Vec<i64> = Vec::new();
    for t in grid(0, SPAN_MS, step) {
        let mut t = t + rng.below(14_001) as i64 - 7_000;
        while om_ms(&om_seconds(t)) != t {
            t += 1;
        }
        if out.last().is_none_or(|&p| p < t) && (T0_MS..T0_MS + SPAN_MS).contains(&t) {
            out.push(t);
        }
    }
    out
}

/// Seconds text of a millisecond timestamp as OpenMetrics wants it.
pub fn om_seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// What promtool reads back from [`om_seconds`] (Go: `int64(parseFloat(s) * 1000)`).
fn om_ms(s: &str) -> i64 {
    (s.parse::<f64>().unwrap_or(0.0) * 1000.0) as i64
}

/// Builds the whole dataset (the same on every call).
pub fn build() -> Vec<SeriesData> {
    let mut rng = Rng::new(20_260_101);
    let mut out = Vec::new();
    let regular: Vec<i64> = grid(0, SPAN_MS, STEP_MS).collect();

    // Request counters: three jobs, two instances, methods and codes; every fifth resets
    // once, every seventh twice.
    let mut k = 0;
    for job in ["api", "web", "batch"] {
        for inst in ["10.0.0.1:8080", "10.0.0.2:8080"] {
            for method in ["GET", "POST"] {
                for code in ["200", "404", "500"] {
                    let resets: Vec<i64> = match k % 35 {
                        x if x % 5 == 0 => vec![(40 + k % 50) * 60_000],
                        x if x % 7 == 0 => vec![30 * 60_000, (90 + k % 30) * 60_000],
                        _ => vec![],
                    };
                    let max = if code == "200" { 60 } else { 4 };
                    let s = counter(&mut rng, &regular, max, &resets, false);
                    out.push(series(
                        "http_requests_total",
                        &[
                            ("job", job),
                            ("instance", inst),
                            ("method", method),
                            ("code", code),
                        ],
                        s,
                    ));
                    k += 1;
                }
            }
        }
    }

    // CPU seconds in hundredths, four modes on two CPUs of four nodes.
    let nodes = ["node-a:9100", "node-b:9100", "node-c:9100", "node-d:9100"];
    for inst in nodes {
        for cpu in ["0", "1"] {
            for mode in ["idle", "user", "system", "iowait"] {
                let s = counter(&mut rng, &regular, 1500, &[], true);
                out.push(series(
                    "node_cpu_seconds_total",
                    &[
                        ("job", "node"),
                        ("instance", inst),
                        ("cpu", cpu),
                        ("mode", mode),
                    ],
                    s,
                ));
            }
        }
        let mem = gauge(&mut rng, &regular, 4.0e9, 5.0e8);
        out.push(series(
            "node_memory_free_bytes",
            &[("job", "node"), ("instance", inst)],
            mem,
        ));
        let load = gauge(&mut rng, &regular, 1.5, 1.2);
        out.push(series(
            "node_load1",
            &[("job", "node"), ("instance", inst)],
            load,
        ));
    }

    // Temperatures around zero (negative values for abs/sgn/clamp/floor/round).
    for sensor in ["a", "b", "c", "d", "e", "f"] {
        let base = rng.below(20) as f64 - 10.0;
        let s = gauge(&mut rng, &regular, base, 8.0);
        out.push(series(
            "temperature_celsius",
            &[
                ("job", "sensors"),
                ("instance", "sensor-host:9000"),
                ("sensor", sensor),
            ],
            s,
        ));
    }

    // Classic histograms with `le` buckets, `_sum` and `_count`; one instance resets.
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ];
    for job in ["api", "web"] {
        for inst in ["10.0.0.1:8080", "10.0.0.2:8080"] {
            let reset = (job == "web" && inst.starts_with("10.0.0.2")).then_some(70 * 60_000);
            let (mut counts, mut sum) = (vec![0f64; les.len()], 0f64);
            let mut rows: Vec<Vec<(i64, f64)>> = vec![Vec::new(); les.len() + 2];
            for &t in &regular {
                if reset.is_some_and(|r| t == T0_MS + r) {
                    counts.iter_mut().for_each(|c| *c = 0.0);
                    sum = 0.0;
                }
                let n = rng.below(40);
                for _ in 0..n {
                    // Latencies spread over the buckets, skewed low.
                    let x = rng.unit().powi(3) * 12.0;
                    sum += x;
                    for (i, le) in les.iter().enumerate() {
                        let bound = if *le == "+Inf" {
                            f64::INFINITY
                        } else {
                            le.parse().unwrap_or(0.0)
                        };
                        if x <= bound {
                            counts[i] += 1.0;
                        }
                    }
                }
                for (i, c) in counts.iter().enumerate() {
                    rows[i].push((t, *c));
                }
                rows[les.len()].push((t, (sum * 1000.0).round() / 1000.0));
                rows[les.len() + 1].push((t, counts[les.len() - 1]));
            }
            for (i, le) in les.iter().enumerate() {
                out.push(series(
                    "http_request_duration_seconds_bucket",
                    &[("job", job), ("instance", inst), ("le", le)],
                    rows[i].clone(),
                ));
            }
            out.push(series(
                "http_request_duration_seconds_sum",
                &[("job", job), ("instance", inst)],
                rows[les.len()].clone(),
            ));
            out.push(series(
                "http_request_duration_seconds_count",
                &[("job", job), ("instance", inst)],
                rows[les.len() + 1].clone(),
            ));
        }
    }

    // Summary-like quantile gauges.
    for inst in ["10.0.0.1:8080", "10.0.0.2:8080"] {
        for q in ["0.5", "0.9", "0.99"] {
            let base: f64 = q.parse::<f64>().unwrap_or(0.5) * 0.4;
            let s = gauge(&mut rng, &regular, base, base / 3.0);
            out.push(series(
                "rpc_latency_seconds",
                &[("job", "api"), ("instance", inst), ("quantile", q)],
                s,
            ));
        }
    }

    // Gaps longer than the 5 m lookback (staleness by absence), late starters, early enders.
    for (i, inst) in ["flaky-1:80", "flaky-2:80", "flaky-3:80"]
        .iter()
        .enumerate()
    {
        let gap_from = (20 + 35 * i as i64) * 60_000;
        let gap_to = gap_from + (4 + 4 * i as i64) * 60_000;
        let times: Vec<i64> = regular
            .iter()
            .copied()
            .filter(|t| !(T0_MS + gap_from..T0_MS + gap_to).contains(t))
            .collect();
        let s = gauge(&mut rng, &times, 50.0, 20.0);
        out.push(series(
            "flaky_gauge",
            &[("job", "flaky"), ("instance", inst)],
            s,
        ));
    }
    let late: Vec<i64> = regular
        .iter()
        .copied()
        .filter(|t| *t >= T0_MS + 3_600_000)
        .collect();
    let s = counter(&mut rng, &late, 20, &[], false);
    out.push(series(
        "late_starter_total",
        &[("job", "flaky"), ("instance", "flaky-1:80")],
        s,
    ));
    let early: Vec<i64> = regular
        .iter()
        .copied()
        .filter(|t| *t < T0_MS + 3_600_000)
        .collect();
    let s = counter(&mut rng, &early, 20, &[], false);
    out.push(series(
        "early_ender_total",
        &[("job", "flaky"), ("instance", "flaky-1:80")],
        s,
    ));

    // Irregular timestamps: jittered 15 s, sparse 60 s, dense 10 s.
    for (inst, step) in [
        ("irr-1:80", 15_000),
        ("irr-2:80", 60_000),
        ("irr-3:80", 10_000),
    ] {
        let times = jittered(&mut rng, step);
        let c = counter(&mut rng, &times, 30, &[80 * 60_000], false);
        out.push(series(
            "irregular_total",
            &[("job", "irregular"), ("instance", inst)],
            c,
        ));
        let g = gauge(&mut rng, &times, 10.0, 10.0);
        out.push(series(
            "irregular_gauge",
            &[("job", "irregular"), ("instance", inst)],
            g,
        ));
    }

    // Awkward label names and values.
    let awkward = [
        ("plain", "x"),
        ("quote", "say \"hi\""),
        ("backslash", "C:\\path\\to"),
        ("newline", "line1\nline2"),
        ("unicode", "ünïcödé ✓ 日本"),
        ("braces", "{a=\"b\"},c"),
        ("space", " leading and trailing "),
        (
            "long",
            "a-very-long-label-value-that-goes-on-and-on-0123456789-abcdefghijklmnopqrstuvwxyz",
        ),
    ];
    for (kind, value) in awkward {
        let s = gauge(&mut rng, &regular, 5.0, 2.0);
        out.push(series(
            "awkward_labels",
            &[
                ("job", "weird"),
                ("kind", kind),
                ("value", value),
                ("_underscore", "u"),
                ("UPPER", "U"),
            ],
            s,
        ));
    }

    // Special floats.
    let cycle = [
        1.0,
        f64::NAN,
        3.0,
        f64::INFINITY,
        -2.0,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
    ];
    let specials: [(&str, ValueAt); 8] = [
        ("nan", Box::new(|_| f64::NAN)),
        ("inf", Box::new(|_| f64::INFINITY)),
        ("neg_inf", Box::new(|_| f64::NEG_INFINITY)),
        ("neg_zero", Box::new(|_| -0.0)),
        ("huge", Box::new(|i| 1.7e308 - i as f64 * 1e300)),
        ("tiny", Box::new(|i| 5e-324 * (i % 3) as f64)),
        ("mixed", Box::new(move |i| cycle[i % cycle.len()])),
        (
            "sometimes_nan",
            Box::new(|i| if i % 9 == 4 { f64::NAN } else { i as f64 }),
        ),
    ];
    for (kind, f) in &specials {
        let s = regular
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, f(i)))
            .collect();
        out.push(series(
            "special_values",
            &[("job", "special"), ("kind", kind)],
            s,
        ));
    }

    // Recording-rule style names with colons.
    for job in ["api", "web", "batch"] {
        let s = gauge(&mut rng, &regular, 100.0, 40.0);
        out.push(series("job:http_requests:rate5m", &[("job", job)], s));
    }

    // A series without labels, for scalar() and vector matching against nothing.
    let s = gauge(&mut rng, &regular, 3.0, 1.0);
    out.push(series("single_gauge", &[], s));

    // `up` for every job/instance above; some targets flap.
    let targets = [
        ("api", "10.0.0.1:8080"),
        ("api", "10.0.0.2:8080"),
        ("web", "10.0.0.1:8080"),
        ("web", "10.0.0.2:8080"),
        ("batch", "10.0.0.1:8080"),
        ("batch", "10.0.0.2:8080"),
        ("node", "node-a:9100"),
        ("node", "node-b:9100"),
        ("node", "node-c:9100"),
        ("node", "node-d:9100"),
    ];
    for (i, (job, inst)) in targets.iter().enumerate() {
        let s = regular
            .iter()
            .enumerate()
            .map(|(k, &t)| (t, if i % 4 == 1 && k % 50 < 6 { 0.0 } else { 1.0 }))
            .collect();
        out.push(series("up", &[("job", job), ("instance", inst)], s));
    }

    // Info-style series for label_replace/label_join and group_left.
    for (inst, version) in [
        ("10.0.0.1:8080", "v1.2.3"),
        ("10.0.0.2:8080", "v1.3.0-rc.1"),
    ] {
        let s = regular.iter().map(|&t| (t, 1.0)).collect();
        out.push(series(
            "build_info",
            &[("job", "api"), ("instance", inst), ("version", version)],
            s,
        ));
    }

    // Many-to-one matching: limits per namespace, usage per pod.
    for ns in ["default", "kube-system", "monitoring"] {
        for res in ["cpu", "memory"] {
            let base = if res == "cpu" { 4.0 } else { 8.0e9 };
            let s = gauge(&mut rng, &regular, base, base / 10.0);
            out.push(series(
                "ns_limit",
                &[("namespace", ns), ("resource", res)],
                s,
            ));
            for pod in ["pod-0", "pod-1", "pod-2"] {
                let s = gauge(&mut rng, &regular, base / 5.0, base / 20.0);
                out.push(series(
                    "ns_usage",
                    &[("namespace", ns), ("pod", pod), ("resource", res)],
                    s,
                ));
            }
        }
    }

    // Bulk: 10 x 10 item counters for aggregations over many series.
    for inst in 0..10 {
        for shard in 0..10 {
            let (i, sh) = (format!("app-{inst}:7000"), format!("{shard}"));
            let s = counter(&mut rng, &regular, 100 + 50 * shard, &[], false);
            out.push(series(
                "app_items_total",
                &[("job", "app"), ("instance", &i), ("shard", &sh)],
                s,
            ));
        }
    }
    out
}

/// Escapes a label value for the text formats (`\\`, `\"`, `\n`).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `name{a="x",...}` for the text formats.
fn series_text(s: &SeriesData) -> String {
    let mut out = s.name().to_owned();
    let rest: Vec<String> = s
        .labels
        .iter()
        .filter(|(n, _)| n != "__name__")
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if !rest.is_empty() {
        let _ = write!(out, "{{{}}}", rest.join(","));
    }
    out
}

/// A float as both text formats write it.
fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:?}")
    }
}

/// The dataset as OpenMetrics (timestamps in seconds), ending in `# EOF`.
pub fn openmetrics(data: &[SeriesData]) -> String {
    let mut out = String::new();
    for s in data {
        let key = series_text(s);
        for &(t, v) in &s.samples {
            let _ = writeln!(out, "{key} {} {}", value_text(v), om_seconds(t));
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The dataset as text format with millisecond timestamps (the import endpoint's body).
pub fn import_text(data: &[SeriesData]) -> String {
    let mut out = String::new();
    for s in data {
        let key = series_text(s);
        for &(t, v) in &s.samples {
            let _ = writeln!(out, "{key} {} {t}", value_text(v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_is_deterministic_and_well_formed() {
        let (a, b) = (build(), build());
        assert_eq!(openmetrics(&a), openmetrics(&b));
        assert!(a.len() >= 250, "{} series", a.len());
        let mut keys: Vec<&Vec<(String, String)>> = a.iter().map(|s| &s.labels).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), a.len(), "series are distinct");
        for s in &a {
            assert!(
                s.samples.windows(2).all(|w| w[0].0 < w[1].0),
                "{:?}",
                s.labels
            );
            assert!(
                s.samples
                    .iter()
                    .all(|(t, _)| (T0_MS..T0_MS + SPAN_MS).contains(t))
            );
        }
    }

    #[test]
    fn jittered_timestamps_survive_the_seconds_text() {
        let mut rng = Rng::new(1);
        for t in jittered(&mut rng, 15_000) {
            assert_eq!(om_ms(&om_seconds(t)), t);
        }
    }
}
