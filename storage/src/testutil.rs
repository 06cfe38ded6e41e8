//! Data generators shared by tests, benches and tools (node-exporter-like series sets).
//!
//! Shape of [`NodeSetSpec`]: `instances` scrape targets (job `node`) each expose `metrics`
//! metric names (`node_metric_NNN_total`-style, a few with `:`), each with `series_per_metric`
//! label combinations (`mode`/`device`), so one name has `instances * series_per_metric` series
//! and one instance `metrics * series_per_metric`. Every series carries ~10 labels with heavy
//! value reuse (`env`, `region`, `cluster`, `team`, `os`, `dc`), values 10-50 bytes. On top,
//! `aggregated` recording-rule series `job:<metric>:rate5m{job, cluster, rule_group=<~50 B>}`.
//! The default (`NodeSetSpec::million()`) is 1000 x 100 x 10 = 1M series + 1k aggregated.
//!
//! This module is also the crate's one door for code that is not the server: it re-exports the
//! engine internals that benches, integration tests, tools and fuzz targets reach into (block
//! files, head compaction, chunk decoding, the WAL record decoder). It exists only with the
//! `testutil` feature, so the server cannot depend on any of it by accident.

pub use crate::block::chunks::PageCache;
pub use crate::block::{Block, is_block_dir_name};
pub use crate::chunks::XorIter;
pub use crate::compact::compact_head;
pub use crate::wal::fuzz::fuzz_decode as fuzz_wal_decode;

use crate::head::{AppendStats, Head};
use crate::labels::Labels;
use crate::series::SeriesRef;

/// A node-exporter-like series set; see the module docs for its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSetSpec {
    /// Scrape targets (`instance` values).
    pub instances: usize,
    /// Metric names per instance.
    pub metrics: usize,
    /// Label combinations per metric and instance.
    pub series_per_metric: usize,
    /// `job:`-prefixed aggregated series.
    pub aggregated: usize,
}

impl NodeSetSpec {
    /// 1000 instances x 100 metrics x 10 series (1M) plus 1000 aggregated series.
    pub fn million() -> Self {
        NodeSetSpec {
            instances: 1000,
            metrics: 100,
            series_per_metric: 10,
            aggregated: 1000,
        }
    }

    /// A small set for unit tests: 10 x 8 x 3 plus 6 aggregated.
    pub fn small() -> Self {
        NodeSetSpec {
            instances: 10,
            metrics: 8,
            series_per_metric: 3,
            aggregated: 6,
        }
    }

    /// Total number of series.
    pub fn total(&self) -> usize {
        self.instances * self.metrics * self.series_per_metric + self.aggregated
    }

    /// The `i`-th instance label value.
    pub fn instance(i: usize) -> String {
        format!(
            "ip-10-{}-{}-{}.eu-west-1.compute.internal:9100",
            i / 65536,
            (i / 256) % 256,
            i % 256
        )
    }

    /// The `m`-th metric name; every 7th has a `:` (as recording rules write them).
    pub fn metric(m: usize) -> String {
        if m % 7 == 3 {
            format!("node:metric_{m:03}:sum")
        } else {
            format!("node_metric_{m:03}_total")
        }
    }

    /// Calls `f` with every series' labels, instance by instance, then the aggregated ones.
    pub fn for_each(&self, mut f: impl FnMut(&Labels)) {
        const MODES: [&str; 8] = [
            "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
        ];
        const ENVS: [&str; 3] = ["production", "staging", "development"];
        const REGIONS: [&str; 4] = ["eu-west-1", "us-east-1", "ap-southeast-2", "sa-east-1"];
        const OSES: [&str; 2] = ["linux-5.15.0-1051-aws", "linux-6.1.0-13-amd64"];
        let metrics: Vec<String> = (0..self.metrics).map(Self::metric).collect();
        for i in 0..self.instances {
            let instance = Self::instance(i);
            let env = ENVS[i % ENVS.len()];
            let region = REGIONS[(i / 3) % REGIONS.len()];
            let cluster = format!("k8s-{region}-cluster-{:02}", i % 16);
            let team = format!(
                "team-{}",
                ["storage", "compute", "network", "platform", "ml"][i % 5]
            );
            let dc = format!("{region}{}", ["a", "b", "c"][i % 3]);
            let os = OSES[i % 2];
            for name in &metrics {
                for s in 0..self.series_per_metric {
                    let mode = MODES[s % MODES.len()];
                    let device = format!("nvme{}n1", s / MODES.len());
                    f(&Labels::from_pairs([
                        ("__name__", name.as_str()),
                        ("instance", instance.as_str()),
                        ("job", "node"),
                        ("env", env),
                        ("region", region),
                        ("cluster", cluster.as_str()),
                        ("team", team.as_str()),
                        ("availability_zone", dc.as_str()),
                        ("os", os),
                        ("mode", mode),
                        ("device", device.as_str()),
                    ]));
                }
            }
        }
        for a in 0..self.aggregated {
            let metric = Self::metric(a % self.metrics.max(1));
            let name = format!("job:{}:rate5m", metric.replace(':', "_"));
            let cluster = format!("k8s-cluster-{:02}", a / self.metrics.max(1));
            let group = format!("recording-rules/node-exporter/aggregations-{:08}", a % 97);
            f(&Labels::from_pairs([
                ("__name__", name.as_str()),
                ("job", "node"),
                ("cluster", cluster.as_str()),
                ("rule_group", group.as_str()),
            ]));
        }
    }

    /// All series' labels (allocates; prefer [`NodeSetSpec::for_each`] for big sets).
    pub fn labels(&self) -> Vec<Labels> {
        let mut v = Vec::with_capacity(self.total());
        self.for_each(|l| v.push(l.clone()));
        v
    }

    /// Appends one sample per series (`t_ms`, value = series number) in commits of `batch`;
    /// returns the refs in generation order and the summed stats.
    pub fn load(&self, head: &Head, t_ms: i64, batch: usize) -> (Vec<SeriesRef>, AppendStats) {
        let mut refs = Vec::with_capacity(self.total());
        let mut total = AppendStats::default();
        let mut app = head.appender();
        let mut in_batch = 0;
        self.for_each(|l| {
            let r = app
                .append(l, t_ms, refs.len() as f64)
                .expect("generated labels are valid");
            refs.push(r);
            in_batch += 1;
            if in_batch == batch {
                let a = std::mem::replace(&mut app, head.appender());
                add_stats(&mut total, a.commit().expect("commit"));
                in_batch = 0;
            }
        });
        add_stats(&mut total, app.commit().expect("commit"));
        (refs, total)
    }
}

/// Adds `b` into `a`.
pub fn add_stats(a: &mut AppendStats, b: AppendStats) {
    a.appended += b.appended;
    a.out_of_order += b.out_of_order;
    a.duplicate += b.duplicate;
    a.out_of_bounds += b.out_of_bounds;
    a.series_created += b.series_created;
}

/// Shorthand for a label set in tests: `must_labels(&[("__name__", "up"), ("job", "x")])`.
pub fn must_labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Matchers from `(name, op, value)` triples, `op` one of `=`, `!=`, `=~`, `!~` (the PromQL
/// selector parser lives in crate `fedstore-promql`, which depends on this one).
pub fn must_matchers(triples: &[(&str, &str, &str)]) -> Vec<crate::Matcher> {
    use crate::MatchOp;
    triples
        .iter()
        .map(|&(name, op, value)| {
            let op = match op {
                "=" => MatchOp::Equal,
                "!=" => MatchOp::NotEqual,
                "=~" => MatchOp::Regex,
                "!~" => MatchOp::NotRegex,
                other => panic!("unknown match operator {other:?}"),
            };
            crate::Matcher::new(op, name, value).expect("valid matcher")
        })
        .collect()
}

/// A cheap deterministic hash of (series, step).
pub fn mix(i: u64, k: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    x ^= x >> 31;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^ (x >> 29)
}

/// One counter increment of series `i` at scrape `k` (block size benches and tests), by series kind (`i % 4`): 0 error
/// counters (+1 on 5% of scrapes); 1 request counters at a rate of 10..10 000 per scrape
/// (log-spread over series), ± its square root (a Poisson-like spread); 2 byte counters at
/// 1e3..1e6 per scrape ± 1%; 3 CPU seconds in hundredths, 0..1 500 per scrape ± 5. With
/// `uniform` (a worst case with no steady rate): increments uniform in [0, 100), [0, 10 000)
/// and [0, 1 500). Kind 3's values are hundredths (`acc / 100.0`, as parsed from text).
pub fn counter_step(i: u64, k: u64, uniform: bool) -> u64 {
    let h = mix(i, k);
    let rate = |lo: f64| 10f64.powf(lo + (mix(i, 0) % 300) as f64 / 100.0);
    let around = |mean: u64, spread: u64| (mean + h % (2 * spread + 1)).saturating_sub(spread);
    match (i % 4, uniform) {
        (0, _) => u64::from(h.is_multiple_of(20)),
        (1, true) => h % 100,
        (2, true) => h % 10_000,
        (_, true) => h % 1_500,
        (1, false) => {
            let r = rate(1.0);
            around(r as u64, r.sqrt() as u64)
        }
        (2, false) => {
            let r = rate(3.0);
            around(r as u64, (r / 100.0) as u64)
        }
        _ => around(mix(i, 0) % 1_500, 5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_is_as_documented() {
        let spec = NodeSetSpec::small();
        let all = spec.labels();
        assert_eq!(all.len(), spec.total());
        let mut uniq = all.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), all.len(), "series are distinct");
        assert!(all.iter().all(|l| l.validate().is_ok()));
        assert_eq!(all[0].len(), 11);
        let name0 = NodeSetSpec::metric(0);
        let per_name = all.iter().filter(|l| l.get("__name__") == name0).count();
        assert_eq!(per_name, spec.instances * spec.series_per_metric);
        let agg = all
            .iter()
            .filter(|l| l.get("__name__").starts_with("job:"))
            .count();
        assert_eq!(agg, spec.aggregated);
    }
}
