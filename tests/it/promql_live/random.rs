//! A seeded generator of well-typed PromQL expressions over the dataset's metrics: nested
//! functions, aggregations, binary operators with matching modifiers, offsets, `@` and
//! subqueries. Matching errors (many-to-many, duplicate series) arise on their own and are
//! compared like any other answer.

use super::corpus::Query;
use super::dataset::Rng;

const COUNTERS: &[&str] = &[
    "http_requests_total",
    "http_requests_total{job=\"api\"}",
    "http_requests_total{code=~\"5..\"}",
    "node_cpu_seconds_total{mode!=\"idle\"}",
    "app_items_total",
    "irregular_total",
    "http_request_duration_seconds_count",
    "late_starter_total",
];
const GAUGES: &[&str] = &[
    "node_load1",
    "temperature_celsius",
    "flaky_gauge",
    "irregular_gauge",
    "special_values",
    "up",
    "node_memory_free_bytes",
    "rpc_latency_seconds",
    "ns_usage",
    "single_gauge",
];
const RANGES: &[&str] = &["1m", "2m", "5m", "90s", "10m", "30s"];
const LABELS: &[&str] = &[
    "job",
    "instance",
    "code",
    "mode",
    "le",
    "namespace",
    "resource",
];
const AGGS: &[&str] = &[
    "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
];
const RANGE_FNS: &[&str] = &[
    "rate", "irate", "increase", "delta", "idelta", "deriv", "changes", "resets",
];
const OVER_TIME: &[&str] = &[
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "stddev_over_time",
    "last_over_time",
    "present_over_time",
];
const SIMPLE_FNS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "exp",
    "sqrt",
    "ln",
    "sgn",
    "round",
    "timestamp",
    "log2",
];
const ARITH: &[&str] = &["+", "-", "*", "/", "%", "^", "atan2"];
const CMP: &[&str] = &["==", "!=", ">", "<", ">=", "<="];
const SET: &[&str] = &["and", "or", "unless"];

/// `n` random queries from `seed`.
pub fn queries(seed: u64, n: usize) -> Vec<Query> {
    let mut g = Gen {
        rng: Rng::new(seed),
    };
    (0..n)
        .map(|i| Query {
            expr: if i % 5 == 4 { g.scalar(2) } else { g.vector(3) },
            origin: format!("random(seed {seed})#{i}"),
            must_fail: false,
            loose_error_text: false,
        })
        .collect()
}

struct Gen {
    rng: Rng,
}

impl Gen {
    fn chance(&mut self, percent: u64) -> bool {
        self.rng.below(100) < percent
    }

    fn modifiers(&mut self) -> String {
        const OFFSETS: [&str; 4] = [" offset 5m", " offset -2m", " offset 1h", " offset 37s"];
        const ATS: [&str; 4] = [" @ 1767229200", " @ start()", " @ end()", " @ 1767231000.5"];
        let mut m = String::new();
        if self.chance(15) {
            m.push_str(OFFSETS[self.rng.below(4) as usize]);
        }
        if self.chance(10) {
            m.push_str(ATS[self.rng.below(4) as usize]);
        }
        m
    }

    fn selector(&mut self, counter: bool) -> String {
        let base = if counter {
            self.rng.pick(COUNTERS)
        } else {
            self.rng.pick(GAUGES)
        };
        format!("{base}{}", self.modifiers())
    }

    fn range_selector(&mut self, counter: bool) -> String {
        let base = if counter {
            self.rng.pick(COUNTERS)
        } else {
            self.rng.pick(GAUGES)
        };
        let r = self.rng.pick(RANGES);
        format!("{base}[{r}]{}", self.modifiers())
    }

    fn grouping(&mut self) -> String {
        if self.chance(30) {
            return String::new();
        }
        let n = 1 + self.rng.below(2) as usize;
        let mut labels: Vec<&str> = (0..n).map(|_| *self.rng.pick(LABELS)).collect();
        labels.dedup();
        let kw = if self.chance(70) { "by" } else { "without" };
        format!(" {kw} ({})", labels.join(", "))
    }

    fn matching(&mut self) -> String {
        match self.rng.below(6) {
            0 => " on (job, instance)".into(),
            1 => " ignoring (code)".into(),
            2 => " on (instance) group_left".into(),
            3 => " ignoring (mode, cpu) group_left (job)".into(),
            _ => String::new(),
        }
    }

    fn scalar(&mut self, depth: u32) -> String {
        if depth == 0 {
            return self.number();
        }
        match self.rng.below(6) {
            0 => format!("scalar({})", self.vector(depth - 1)),
            1 => "time()".into(),
            2 => format!(
                "({} {} {})",
                self.scalar(depth - 1),
                self.rng.pick(ARITH),
                self.scalar(depth - 1)
            ),
            3 => format!(
                "{} {} bool {}",
                self.number(),
                self.rng.pick(CMP),
                self.number()
            ),
            4 => format!("-{}", self.scalar(depth - 1)),
            _ => self.number(),
        }
    }

    fn number(&mut self) -> String {
        self.rng
            .pick(&[
                "0", "1", "2", "0.5", "-1", "3.14", "1e3", "Inf", "-Inf", "NaN", "0x10", "100",
            ])
            .to_string()
    }

    fn vector(&mut self, depth: u32) -> String {
        if depth == 0 {
            return match self.rng.below(3) {
                0 => self.selector(true),
                _ => self.selector(false),
            };
        }
        let d = depth - 1;
        match self.rng.below(16) {
            0 | 1 => format!(
                "{}({})",
                self.rng.pick(RANGE_FNS),
                self.range_selector(true)
            ),
            2 => format!(
                "{}({})",
                self.rng.pick(OVER_TIME),
                self.range_selector(false)
            ),
            3 => {
                let (agg, g) = (self.rng.pick(AGGS), self.grouping());
                format!("{agg}{g} ({})", self.vector(d))
            }
            4 => {
                let (agg, g) = (
                    self.rng.pick(&["topk", "bottomk", "quantile"]),
                    self.grouping(),
                );
                let p = if *agg == "quantile" {
                    self.rng.pick(&["0.5", "0.9", "0", "1", "-1", "2"])
                } else {
                    self.rng.pick(&["1", "2", "5"])
                };
                format!("{agg}{g} ({p}, {})", self.vector(d))
            }
            5 | 6 => {
                let (l, m, r) = (self.vector(d), self.matching(), self.vector(d));
                let op = self.rng.pick(ARITH);
                format!("({l}) {op}{m} ({r})")
            }
            7 => {
                let (l, r) = (self.vector(d), self.vector(d));
                let op = self.rng.pick(CMP);
                let b = if self.chance(50) { " bool" } else { "" };
                format!("({l}) {op}{b} ({r})")
            }
            8 => {
                let (l, r) = (self.vector(d), self.vector(d));
                let op = self.rng.pick(SET);
                let m = if self.chance(30) { " on (job)" } else { "" };
                format!("({l}) {op}{m} ({r})")
            }
            9 => {
                let (v, s) = (self.vector(d), self.scalar(d.min(1)));
                let op = self.rng.pick(ARITH);
                if self.chance(50) {
                    format!("({v}) {op} {s}")
                } else {
                    format!("{s} {op} ({v})")
                }
            }
            10 => format!("{}({})", self.rng.pick(SIMPLE_FNS), self.vector(d)),
            11 => {
                let f = self.rng.pick(OVER_TIME);
                let r = self.rng.pick(&["10m", "5m", "30m"]);
                let step = self.rng.pick(&["", "1m", "45s", "2m"]);
                format!("{f}(({})[{r}:{step}]){}", self.vector(d), self.modifiers())
            }
            12 => format!(
                "label_replace({}, \"dst\", \"$1-x\", \"{}\", \"(.*)\")",
                self.vector(d),
                self.rng.pick(LABELS)
            ),
            13 => format!(
                "histogram_quantile({}, sum by (le{}) (rate(http_request_duration_seconds_bucket[{}])))",
                self.rng.pick(&["0.5", "0.9", "0.99", "0", "1", "1.5"]),
                self.rng.pick(&["", ", job", ", instance"]),
                self.rng.pick(RANGES)
            ),
            14 => format!(
                "clamp({}, {}, {})",
                self.vector(d),
                self.rng.pick(&["-1", "0"]),
                self.rng.pick(&["1", "10", "-5"])
            ),
            _ => format!("-({})", self.vector(d)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_seeded() {
        let (a, b, c) = (queries(7, 50), queries(7, 50), queries(8, 50));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut distinct: Vec<&str> = a.iter().map(|q| q.expr.as_str()).collect();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 40, "{distinct:?}");
    }
}
