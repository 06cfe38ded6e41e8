//! The deterministic benchmark dataset: node-exporter-like series, Prometheus self metrics
//! and `job:`-prefixed aggregates, with values that are a pure function of (seed, series, time).
//!
//! The dataset is split into *units*: one per node instance (its node series followed by its
//! `job:` aggregates) and one per Prometheus instance. A unit is the grain for scrape targets
//! and import batches. Nothing here does I/O.

mod catalog;

pub use catalog::Kind;
use catalog::{Dim, Family};

/// Timestamps' origin for value generation: 2026-01-01T00:00:00Z in ms.
pub const ORIGIN_MS: i64 = 1_767_225_600_000;

/// Size and shape of a dataset. Defaults give ~1.01M series: 800 node instances x 1000
/// series, 10 Prometheus instances x 10000 series and 137 `job:` aggregates per node instance.
///
/// It is also the command-line flag set of `fedgen` and `peerbench` (`#[command(flatten)]`),
/// so both describe the same dataset with the same flags.
#[derive(Clone, Debug, clap::Args)]
pub struct DatasetConfig {
    /// Seed for values (label sets do not depend on it).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of `job="node"` instances.
    #[arg(long, default_value_t = 800)]
    pub instances: u32,
    /// Node series per node instance (excluding `job:` aggregates).
    #[arg(long, default_value_t = 1000)]
    pub series_per_instance: u32,
    /// Number of `job="prometheus"` instances.
    #[arg(long, default_value_t = 10)]
    pub prometheus_instances: u32,
    /// Series per Prometheus instance.
    #[arg(long, default_value_t = 10_000)]
    pub prometheus_series_per_instance: u32,
    /// `job:` aggregates per node instance, as a fraction of `series_per_instance`.
    #[arg(long, default_value_t = 0.137)]
    pub aggregated_ratio: f64,
    /// How values move with time: `synthetic` (default) or `realistic`.
    #[arg(long, value_enum, default_value_t = Values::Synthetic)]
    pub values: Values,
}

/// How sample values move with time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Values {
    /// Every series changes at every sample: counters grow at a fixed rate, gauges are
    /// two-decimal sine waves. Hard for Gorilla XOR (Prometheus 2.42 stores ~6.4 bytes per
    /// sample); the default, and what the golden files were recorded with.
    Synthetic,
    /// Shaped like node-exporter data: half the gauges never change (sizes, limits, states),
    /// the other half hold a value for 2-20 samples then step; 40% of counters are idle
    /// (errors, drops: +1 every 20-240 samples), the rest grow at their rate with +-30% jitter
    /// per interval. For storage-size comparisons against real-world figures.
    Realistic,
}

impl Default for DatasetConfig {
    fn default() -> Self {
        DatasetConfig {
            seed: 42,
            instances: 800,
            series_per_instance: 1000,
            prometheus_instances: 10,
            prometheus_series_per_instance: 10_000,
            aggregated_ratio: 0.137,
            values: Values::Synthetic,
        }
    }
}

/// One unit of the dataset (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Node instance number.
    Node(u32),
    /// Prometheus instance number.
    Prometheus(u32),
}

/// One generated series. Labels are in generation order (job, instance, dimensions), not sorted.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Metric name.
    pub name: String,
    /// Labels other than `__name__`.
    pub labels: Vec<(&'static str, String)>,
    /// Counter or gauge: decides how the value moves with time.
    pub kind: Kind,
    /// Dataset-wide unique id (`unit index << 24 | index in unit`); seeds the value.
    pub id: u64,
}

/// A `/federate` query shape of the benchmark with the number of dataset series it selects.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Short key (`all`, `all_gzip`, `seed`, `one_metric`, `one_instance`).
    pub key: &'static str,
    /// The `match[]` values of the request.
    pub selectors: Vec<String>,
    /// Whether the request asks for gzip.
    pub gzip: bool,
    /// Series of the dataset it selects (peers may add their own `up`/`scrape_*` series).
    pub series: u64,
}

/// A dataset: configuration plus the enumeration of its series.
#[derive(Clone, Debug)]
pub struct Dataset {
    cfg: DatasetConfig,
}

impl Dataset {
    /// Wraps a configuration.
    pub fn new(cfg: DatasetConfig) -> Self {
        Dataset { cfg }
    }

    /// The configuration.
    pub fn config(&self) -> &DatasetConfig {
        &self.cfg
    }

    /// All units: node instances first, then Prometheus instances.
    pub fn units(&self) -> Vec<Unit> {
        (0..self.cfg.instances)
            .map(Unit::Node)
            .chain((0..self.cfg.prometheus_instances).map(Unit::Prometheus))
            .collect()
    }

    /// `job:` aggregates per node instance.
    pub fn aggregated_per_instance(&self) -> u32 {
        (f64::from(self.cfg.series_per_instance) * self.cfg.aggregated_ratio).round() as u32
    }

    /// Total number of series in the dataset.
    pub fn total_series(&self) -> u64 {
        let node = u64::from(self.cfg.series_per_instance + self.aggregated_per_instance());
        u64::from(self.cfg.instances) * node
            + u64::from(self.cfg.prometheus_instances)
                * u64::from(self.cfg.prometheus_series_per_instance)
    }

    /// The `instance` label value of a unit.
    pub fn instance_label(unit: Unit) -> String {
        match unit {
            Unit::Node(i) => format!("host-{i:04}.dc{}.example.internal:9100", i % 3 + 1),
            Unit::Prometheus(p) => format!("prometheus-{p:02}.dc1.example.internal:9090"),
        }
    }

    fn unit_index(&self, unit: Unit) -> u64 {
        match unit {
            Unit::Node(i) => u64::from(i),
            Unit::Prometheus(p) => u64::from(self.cfg.instances) + u64::from(p),
        }
    }

    /// The series of one unit, in exposition order.
    pub fn unit_series(&self, unit: Unit) -> Vec<Series> {
        let instance = Self::instance_label(unit);
        let base_id = self.unit_index(unit) << 24;
        let mut out = Vec::new();
        match unit {
            Unit::Node(_) => {
                let want = self.cfg.series_per_instance as usize;
                let mut b = Builder::new(&mut out, want, "node", &instance, base_id);
                node_series(&mut b);
                let agg = self.aggregated_per_instance() as usize;
                let node_len = out.len();
                for k in 0..agg {
                    if node_len == 0 {
                        break;
                    }
                    let src = &out[(k * node_len / agg.max(1)).min(node_len - 1)];
                    let name = match src.kind {
                        Kind::Counter => {
                            let stem = src.name.strip_suffix("_total").unwrap_or(&src.name);
                            format!("job:{stem}:rate5m")
                        }
                        Kind::Gauge => format!("job:{}:avg5m", src.name),
                    };
                    let labels = src.labels.clone();
                    let id = base_id | (out.len() as u64);
                    out.push(Series {
                        name,
                        labels,
                        kind: Kind::Gauge,
                        id,
                    });
                }
            }
            Unit::Prometheus(_) => {
                let want = self.cfg.prometheus_series_per_instance as usize;
                let mut b = Builder::new(&mut out, want, "prometheus", &instance, base_id);
                prometheus_series(&mut b);
            }
        }
        out
    }

    /// The sample value of series `s` at `t_ms`: counters grow, gauges oscillate.
    pub fn value(&self, s: &Series, t_ms: i64) -> f64 {
        self.value_of(s.id, s.kind, is_centi(&s.name), t_ms)
    }

    /// [`Dataset::value`] from the parts that decide it; `centi` is [`is_centi`] of the name.
    pub fn value_of(&self, id: u64, kind: Kind, centi: bool, t_ms: i64) -> f64 {
        let h = splitmix64(self.cfg.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let elapsed_s = (t_ms - ORIGIN_MS) as f64 / 1000.0;
        if self.cfg.values == Values::Realistic {
            return realistic_value(h, kind, centi, t_ms);
        }
        match kind {
            Kind::Counter => {
                let base = (h % 1_000_000) as f64;
                let rate = ((h >> 20) % 1000 + 1) as f64 / 10.0;
                let v = (base + rate * elapsed_s).floor();
                if centi { v / 100.0 } else { v }
            }
            Kind::Gauge => {
                let base = (h % 100_000) as f64 / 10.0;
                let phase = ((h >> 40) % 628) as f64 / 100.0;
                let v = base * (1.0 + 0.1 * (elapsed_s / 300.0 + phase).sin());
                (v * 100.0).round() / 100.0
            }
        }
    }

    /// The benchmark's query shapes with their expected series counts.
    pub fn shapes(&self) -> Vec<Shape> {
        let total = self.total_series();
        let n_inst = u64::from(self.cfg.instances);
        let node0 = if self.cfg.instances > 0 {
            self.unit_series(Unit::Node(0))
        } else {
            Vec::new()
        };
        let one_metric = "node_filesystem_avail_bytes";
        let metric_per_inst = node0.iter().filter(|s| s.name == one_metric).count() as u64;
        let seed = u64::from(self.cfg.prometheus_instances)
            * u64::from(self.cfg.prometheus_series_per_instance)
            + n_inst * u64::from(self.aggregated_per_instance());
        let all = vec![r#"{__name__=~".+"}"#.to_string()];
        vec![
            Shape {
                key: "all",
                selectors: all.clone(),
                gzip: false,
                series: total,
            },
            Shape {
                key: "all_gzip",
                selectors: all,
                gzip: true,
                series: total,
            },
            Shape {
                key: "seed",
                selectors: vec![
                    r#"{job="prometheus"}"#.to_string(),
                    r#"{__name__=~"job:.*"}"#.to_string(),
                ],
                gzip: false,
                series: seed,
            },
            Shape {
                key: "one_metric",
                selectors: vec![one_metric.to_string()],
                gzip: false,
                series: metric_per_inst * n_inst,
            },
            Shape {
                key: "one_instance",
                selectors: vec![format!(
                    r#"{{instance="{}"}}"#,
                    Self::instance_label(Unit::Node(0))
                )],
                gzip: false,
                series: node0.len() as u64,
            },
        ]
    }
}

/// Collects series of one unit until `want` are there.
struct Builder<'a> {
    out: &'a mut Vec<Series>,
    want: usize,
    job: &'static str,
    instance: &'a str,
    base_id: u64,
}

impl<'a> Builder<'a> {
    fn new(
        out: &'a mut Vec<Series>,
        want: usize,
        job: &'static str,
        instance: &'a str,
        base_id: u64,
    ) -> Self {
        Builder {
            out,
            want,
            job,
            instance,
            base_id,
        }
    }

    fn full(&self) -> bool {
        self.out.len() >= self.want
    }

    /// Adds the cartesian product of `fam`'s dims, with `extra` labels after job/instance.
    fn family(&mut self, fam: &Family, extra: &[(&'static str, String)]) {
        let total: usize = fam.dims.iter().map(|d| d.rows.len()).product();
        for combo in 0..total {
            if self.full() {
                return;
            }
            let mut labels = vec![
                ("job", self.job.to_string()),
                ("instance", self.instance.to_string()),
            ];
            labels.extend(extra.iter().cloned());
            let mut rest = combo;
            // The last dimension varies fastest, as in a nested loop.
            let mut picks: Vec<(&Dim, usize)> = Vec::with_capacity(fam.dims.len());
            for d in fam.dims.iter().rev() {
                picks.push((d, rest % d.rows.len()));
                rest /= d.rows.len();
            }
            for (d, row) in picks.into_iter().rev() {
                for (n, v) in d.names.iter().zip(d.rows[row].iter()) {
                    labels.push((n, (*v).to_string()));
                }
            }
            let id = self.base_id | (self.out.len() as u64);
            self.out.push(Series {
                name: fam.name.to_string(),
                labels,
                kind: fam.kind,
                id,
            });
        }
    }
}

fn node_series(b: &mut Builder<'_>) {
    for fam in catalog::NODE_FAMILIES {
        b.family(fam, &[]);
    }
    for name in catalog::NODE_PLAIN_GAUGES {
        b.family(
            &Family {
                name,
                kind: Kind::Gauge,
                dims: &[],
            },
            &[],
        );
    }
    // Filler: systemd units, five states each, until the instance is full.
    let state = &catalog::SYSTEMD_UNIT_STATE;
    let mut k = 0u32;
    while !b.full() {
        let unit = format!("fedgen-app-{k:04}.service");
        b.family(state, &[("name", unit), ("type", "service".to_string())]);
        k += 1;
    }
}

fn prometheus_series(b: &mut Builder<'_>) {
    for fam in catalog::PROMETHEUS_FAMILIES {
        b.family(fam, &[]);
    }
    // Filler: per scrape job families, until the instance is full.
    let mut k = 0u32;
    while !b.full() {
        let job = format!("scrape-job-{k:04}-example-service");
        for fam in catalog::SCRAPE_JOB_FAMILIES {
            if fam.name.starts_with("net_conntrack") {
                b.family(fam, &[("dialer_name", job.clone())]);
            } else if fam.name == "prometheus_sd_discovered_targets" {
                b.family(
                    fam,
                    &[("config", job.clone()), ("name", "scrape".to_string())],
                );
            } else {
                b.family(fam, &[("scrape_job", job.clone())]);
            }
        }
        k += 1;
    }
}

/// [`Values::Realistic`]: a pure function of the series hash `h` and time, in 15 s intervals.
fn realistic_value(h: u64, kind: Kind, centi: bool, t_ms: i64) -> f64 {
    let step = (t_ms - ORIGIN_MS).div_euclid(15_000);
    let noise = |k: i64| splitmix64(h ^ (k as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    match kind {
        Kind::Gauge => {
            let base = ((h >> 8) % 1_000_000) as f64;
            if h.is_multiple_of(2) {
                return base;
            }
            // Holds for `hold` intervals, then steps by a small multiple of its unit.
            let hold = (h >> 32) % 19 + 2;
            let epoch = step.div_euclid(hold as i64);
            let unit = [1.0, 4096.0, 0.5][((h >> 40) % 3) as usize];
            base + ((noise(epoch) % 200) as f64 - 100.0) * unit
        }
        Kind::Counter => {
            let base = ((h >> 8) % 1_000_000) as f64;
            let v = if h % 5 < 2 {
                let every = (h >> 32) % 221 + 20;
                base + step.div_euclid(every as i64) as f64
            } else {
                // Per-interval increments of rate x 15 s x (0.7 .. 1.3): always growing.
                let per_step = ((h >> 32) % 100_000 + 1) as f64;
                let jitter = (noise(step) % 1000) as f64 / 1000.0 * 0.6 * per_step;
                (base + per_step * (step as f64 + 0.7) + jitter).floor()
            };
            if centi { v / 100.0 } else { v }
        }
    }
}

/// Whether a counter's value has two decimals (`*_seconds_total`) instead of being integral.
pub fn is_centi(name: &str) -> bool {
    name.ends_with("_seconds_total")
}

/// SplitMix64 finaliser: a fast, well-mixed 64-bit hash.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn small() -> Dataset {
        Dataset::new(DatasetConfig {
            seed: 7,
            instances: 3,
            series_per_instance: 700,
            prometheus_instances: 2,
            prometheus_series_per_instance: 1500,
            aggregated_ratio: 0.1,
            values: Values::Synthetic,
        })
    }

    #[test]
    fn unit_sizes_match_config() {
        let d = small();
        let cases = [
            (Unit::Node(0), 770),
            (Unit::Node(2), 770),
            (Unit::Prometheus(1), 1500),
        ];
        for (unit, want) in cases {
            assert_eq!(d.unit_series(unit).len(), want, "{unit:?}");
        }
        assert_eq!(d.total_series(), 3 * 770 + 2 * 1500);
    }

    #[test]
    fn series_are_unique_and_ids_distinct() {
        let d = small();
        let mut keys = HashSet::new();
        let mut ids = HashSet::new();
        for unit in d.units() {
            for s in d.unit_series(unit) {
                let mut labels = s.labels.clone();
                labels.sort();
                assert!(keys.insert((s.name.clone(), labels)), "duplicate {s:?}");
                assert!(ids.insert(s.id), "duplicate id {s:?}");
            }
        }
        assert_eq!(keys.len() as u64, d.total_series());
    }

    #[test]
    fn shapes_count_what_they_select() {
        let d = small();
        let all: Vec<Series> = d
            .units()
            .into_iter()
            .flat_map(|u| d.unit_series(u))
            .collect();
        let inst0 = Dataset::instance_label(Unit::Node(0));
        for shape in d.shapes() {
            let got = all
                .iter()
                .filter(|s| {
                    let job = &s.labels[0].1;
                    let inst = &s.labels[1].1;
                    match shape.key {
                        "all" | "all_gzip" => true,
                        "seed" => job == "prometheus" || s.name.starts_with("job:"),
                        "one_metric" => s.name == "node_filesystem_avail_bytes",
                        "one_instance" => *inst == inst0,
                        other => panic!("unknown shape {other}"),
                    }
                })
                .count() as u64;
            assert_eq!(got, shape.series, "shape {}", shape.key);
        }
    }

    #[test]
    fn default_dataset_has_the_issue_shapes() {
        let d = Dataset::new(DatasetConfig::default());
        let by_key = |k: &str| {
            d.shapes()
                .into_iter()
                .find(|s| s.key == k)
                .expect("shape")
                .series
        };
        assert_eq!(d.total_series(), 1_009_600);
        assert_eq!(by_key("seed"), 209_600);
        assert_eq!(by_key("one_metric"), 9_600);
        assert_eq!(by_key("one_instance"), 1_137);
    }

    #[test]
    fn values_are_deterministic_and_move() {
        let d = small();
        let series = d.unit_series(Unit::Node(1));
        let t = ORIGIN_MS + 86_400_000;
        for s in &series {
            let (a, b) = (d.value(s, t), d.value(s, t));
            assert_eq!(a.to_bits(), b.to_bits(), "{s:?}");
            assert!(a.is_finite(), "{s:?}");
            if s.kind == Kind::Counter {
                assert!(d.value(s, t + 60_000) > a, "counter must grow: {s:?}");
            }
        }
        let other = Dataset::new(DatasetConfig {
            seed: 8,
            ..small().config().clone()
        });
        let differ = series
            .iter()
            .filter(|s| other.value(s, t) != d.value(s, t))
            .count();
        assert!(differ > series.len() / 2, "seed must change values");
    }

    #[test]
    fn realistic_values_hold_step_and_grow() {
        let d = Dataset::new(DatasetConfig {
            values: Values::Realistic,
            ..small().config().clone()
        });
        let series = d.unit_series(Unit::Node(1));
        let t0 = ORIGIN_MS + 86_400_000;
        let (mut constant, mut gauges, mut idle, mut counters) = (0, 0, 0, 0);
        for s in &series {
            let v: Vec<f64> = (0..240).map(|k| d.value(s, t0 + k * 15_000)).collect();
            assert!(v.iter().all(|x| x.is_finite()), "{s:?}");
            let changes = v.windows(2).filter(|w| w[0] != w[1]).count();
            match s.kind {
                Kind::Gauge => {
                    gauges += 1;
                    constant += usize::from(changes == 0);
                    assert!(changes <= 120, "gauges hold at least 2 intervals: {s:?}");
                }
                Kind::Counter => {
                    counters += 1;
                    assert!(v.windows(2).all(|w| w[1] >= w[0]), "counter fell: {s:?}");
                    idle += usize::from(changes <= 12);
                }
            }
        }
        // About half the gauges constant, about 40% of counters idle.
        assert!(
            constant * 10 > gauges * 3 && constant * 10 < gauges * 7,
            "{constant}/{gauges}"
        );
        assert!(
            idle * 10 > counters * 2 && idle * 10 < counters * 6,
            "{idle}/{counters}"
        );
    }

    #[test]
    fn label_values_are_realistic_lengths() {
        let d = small();
        let s = &d.unit_series(Unit::Node(0))[0];
        assert_eq!(s.labels[1].1, "host-0000.dc1.example.internal:9100");
        assert!((10..=50).contains(&s.labels[1].1.len()));
    }
}
