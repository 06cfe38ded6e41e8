//! Rule groups (Prometheus 2.42 `rules/manager.go` `Group`): rules evaluated in order at
//! the group's slots, each rule's output appended before the next rule runs, stale markers
//! for series a rule stopped producing, and the group's schedule offset.

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use fedstore_promql::{Expr, Sample};
use fedstore_storage::{Labels, STALE_NAN_BITS};

use super::alerting::{Alert, AlertContext, AlertingRule};
use super::recording;
use super::template::QueryFn;

/// What a group needs from the node: queries, appends and notifications.
pub trait RuleEnv: Send + Sync {
    /// Instant query of `expr` at `t_ms`; scalars come back as one sample with no labels.
    fn query(&self, expr: &Expr, t_ms: i64) -> Result<Vec<Sample>, String>;
    /// Instant query of a query text (the templates' `query` function).
    fn query_text(&self, q: &str, t_ms: i64) -> Result<Vec<Sample>, String>;
    /// Appends and commits `samples`; `Err` names the first refused sample's cause.
    fn append(&self, samples: &[Sample]) -> Result<(), String>;
    /// Hands alerts of a rule with expression `expr` to the notifier.
    fn notify(&self, expr: &str, alerts: Vec<Alert>);
    /// `global.external_labels`.
    fn external_labels(&self) -> std::collections::BTreeMap<String, String>;
    /// `--web.external-url`.
    fn external_url(&self) -> String;
    /// `--rules.alert.resend-delay` in ns.
    fn resend_delay_ns(&self) -> i64;
}

/// A rule's health after its last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not evaluated yet.
    Unknown,
    /// The last evaluation succeeded.
    Ok,
    /// The last evaluation failed.
    Err,
}

impl Health {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// What a rule computes.
#[derive(Debug, Clone)]
pub enum RuleKind {
    /// `record:` with its labels.
    Recording {
        /// Output metric name.
        record: String,
        /// Labels set on every output series.
        labels: std::collections::BTreeMap<String, String>,
    },
    /// `alert:` with its state.
    Alerting(Box<AlertingRule>),
}

/// One rule of a group with its evaluation state.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's name (`record` or `alert`).
    pub name: String,
    /// The expression.
    pub expr: Expr,
    /// The expression printed back (`expr.String()`), as the API shows it.
    pub query: String,
    /// Recording or alerting.
    pub kind: RuleKind,
    /// Health after the last evaluation.
    pub health: Health,
    /// The last evaluation's error, empty when it succeeded.
    pub last_error: String,
    /// Start of the last evaluation (Unix ns), 0 before the first.
    pub last_eval_ns: i64,
    /// Duration of the last evaluation in seconds.
    pub eval_seconds: f64,
    /// Series written by the last evaluation (made stale when they vanish).
    prev_series: HashSet<Labels>,
}

impl Rule {
    /// A rule not yet evaluated.
    /// `query` is `expr` printed back (`expr.String()`).
    pub fn new(name: String, expr: Expr, query: String, kind: RuleKind) -> Self {
        Rule {
            name,
            expr,
            query,
            kind,
            health: Health::Unknown,
            last_error: String::new(),
            last_eval_ns: 0,
            eval_seconds: 0.0,
            prev_series: HashSet::new(),
        }
    }

    /// Identity across reloads (Prometheus `nameAndLabels`).
    fn key(&self) -> String {
        let labels = match &self.kind {
            RuleKind::Recording { labels, .. } => labels,
            RuleKind::Alerting(a) => &a.labels,
        };
        format!("{}{labels:?}", self.name)
    }
}

/// A group and its state.
#[derive(Debug, Clone)]
pub struct Group {
    /// The rule file (as resolved; the API's `file`).
    pub file: String,
    /// The group's name.
    pub name: String,
    /// Evaluation interval in ns.
    pub interval_ns: i64,
    /// `limit` (0: none).
    pub limit: u64,
    /// Rules in evaluation order.
    pub rules: Vec<Rule>,
    /// Start of the last evaluation (Unix ns).
    pub last_eval_ns: i64,
    /// Duration of the last evaluation in seconds.
    pub eval_seconds: f64,
    /// Evaluations done.
    pub iterations: u64,
    /// Slots skipped because an evaluation overran.
    pub iterations_missed: u64,
    /// Rule evaluations that failed.
    pub failures: u64,
    /// Series of removed or changed rules, made stale at the next evaluation.
    stale_series: Vec<Labels>,
}

/// The group's schedule offset in ns: xxhash64 of the label set `{file, name}` modulo the
/// interval (Prometheus `Group.hash` / `EvalTimestamp`).
pub fn offset_ns(file: &str, name: &str, interval_ns: i64) -> i64 {
    let mut buf = Vec::with_capacity(file.len() + name.len() + 12);
    for (k, v) in [("file", file), ("name", name)] {
        buf.extend_from_slice(k.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(v.as_bytes());
        buf.push(0xff);
    }
    let h = xxhash_rust::xxh64::xxh64(&buf, 0);
    (h % interval_ns.max(1) as u64) as i64
}

/// The group's latest slot at or before `now_ns` (Prometheus `EvalTimestamp`).
pub fn slot_at_or_before(now_ns: i64, interval_ns: i64, offset_ns: i64) -> i64 {
    let adj = now_ns - offset_ns;
    adj - adj.rem_euclid(interval_ns) + offset_ns
}

impl Group {
    /// A group not yet evaluated.
    pub fn new(file: String, name: String, interval_ns: i64, limit: u64, rules: Vec<Rule>) -> Self {
        Group {
            file,
            name,
            interval_ns,
            limit,
            rules,
            last_eval_ns: 0,
            eval_seconds: 0.0,
            iterations: 0,
            iterations_missed: 0,
            failures: 0,
            stale_series: Vec::new(),
        }
    }

    /// The schedule offset.
    pub fn offset_ns(&self) -> i64 {
        offset_ns(&self.file, &self.name, self.interval_ns)
    }

    /// Takes over the state of the group it replaces on reload (Prometheus `CopyState`):
    /// rules matched by name and labels keep their series, alerts and timings; the series of
    /// rules that are gone become stale at this group's first evaluation.
    pub fn copy_state(&mut self, old: Group) {
        self.last_eval_ns = old.last_eval_ns;
        self.eval_seconds = old.eval_seconds;
        self.iterations = old.iterations;
        self.iterations_missed = old.iterations_missed;
        self.failures = old.failures;
        let mut old_rules: Vec<Option<Rule>> = old.rules.into_iter().map(Some).collect();
        for r in &mut self.rules {
            let key = r.key();
            let Some(slot) = old_rules
                .iter_mut()
                .find(|o| o.as_ref().is_some_and(|o| o.key() == key))
            else {
                continue;
            };
            let Some(o) = slot.take() else { continue };
            r.prev_series = o.prev_series;
            r.health = o.health;
            r.last_error = o.last_error;
            r.last_eval_ns = o.last_eval_ns;
            r.eval_seconds = o.eval_seconds;
            if let (RuleKind::Alerting(new), RuleKind::Alerting(old)) = (&mut r.kind, o.kind) {
                new.active = old.active;
                new.restored = old.restored;
            }
        }
        self.stale_series = old.stale_series;
        for o in old_rules.into_iter().flatten() {
            self.stale_series.extend(o.prev_series);
        }
    }

    /// Every series the group wrote last (made stale when the group is removed).
    pub fn written_series(&self) -> Vec<Labels> {
        self.rules
            .iter()
            .flat_map(|r| r.prev_series.iter().cloned())
            .collect()
    }

    /// Evaluates every rule at `t_ns` in order (Prometheus `Group.Eval`).
    pub fn eval(&mut self, t_ns: i64, env: &Arc<dyn RuleEnv>) {
        let started = Instant::now();
        let t_ms = t_ns.div_euclid(1_000_000);
        let external_labels = env.external_labels();
        let external_url = env.external_url();
        for rule in &mut self.rules {
            let rule_started = Instant::now();
            rule.last_eval_ns = t_ns;
            let out = match env.query(&rule.expr, t_ms) {
                Err(e) => Err(e),
                Ok(result) => match &mut rule.kind {
                    RuleKind::Recording { record, labels } => {
                        recording::outputs(record, labels, self.limit, result)
                    }
                    RuleKind::Alerting(a) => {
                        let qenv = env.clone();
                        let query: QueryFn = Rc::new(move |q: &str| {
                            let rows = qenv.query_text(q, t_ms)?;
                            Ok(rows
                                .into_iter()
                                .map(|s| {
                                    let l = s
                                        .labels
                                        .iter()
                                        .map(|l| (l.name.clone(), l.value.clone()))
                                        .collect();
                                    (l, s.v)
                                })
                                .collect())
                        });
                        let ctx = AlertContext {
                            external_labels: &external_labels,
                            external_url: &external_url,
                            query: Some(query),
                        };
                        let res = a.eval(t_ns, &result, self.limit, &ctx);
                        let alerts =
                            a.alerts_to_send(t_ns, env.resend_delay_ns(), self.interval_ns);
                        if !alerts.is_empty() {
                            env.notify(&rule.query, alerts);
                        }
                        res
                    }
                },
            };
            let samples = match out {
                Ok(s) => s,
                Err(e) => {
                    rule.health = Health::Err;
                    rule.last_error = e;
                    rule.eval_seconds = rule_started.elapsed().as_secs_f64();
                    self.failures += 1;
                    continue;
                }
            };
            let samples: Vec<Sample> = samples.into_iter().map(|s| Sample { t_ms, ..s }).collect();
            let mut seen = HashSet::with_capacity(samples.len());
            for s in &samples {
                seen.insert(s.labels.clone());
            }
            let mut stale: Vec<Sample> = rule
                .prev_series
                .iter()
                .filter(|l| !seen.contains(*l))
                .map(|l| stale_sample(l, t_ms))
                .collect();
            let mut batch = samples;
            batch.append(&mut stale);
            match env.append(&batch) {
                Ok(()) => {
                    rule.health = Health::Ok;
                    rule.last_error.clear();
                }
                Err(e) => {
                    rule.health = Health::Err;
                    rule.last_error = e;
                }
            }
            rule.prev_series = seen;
            rule.eval_seconds = rule_started.elapsed().as_secs_f64();
        }
        if !self.stale_series.is_empty() {
            let stale: Vec<Sample> = std::mem::take(&mut self.stale_series)
                .iter()
                .map(|l| stale_sample(l, t_ms))
                .collect();
            let _ = env.append(&stale);
        }
        self.last_eval_ns = t_ns;
        self.iterations += 1;
        self.eval_seconds = started.elapsed().as_secs_f64();
        crate::alloc::trim_soon();
    }
}

/// A staleness marker for `labels` at `t_ms`.
pub fn stale_sample(labels: &Labels, t_ms: i64) -> Sample {
    Sample {
        labels: labels.clone(),
        t_ms,
        v: f64::from_bits(STALE_NAN_BITS),
    }
}

#[cfg(test)]
mod tests;
