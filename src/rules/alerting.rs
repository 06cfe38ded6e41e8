//! Alerting rules (Prometheus 2.42 `rules/alerting.go`): alerts keyed by their label set move
//! inactive -> pending -> firing with `for`, stay firing for `keep_firing_for`, are kept 15
//! minutes after resolving (so Alertmanager hears of it), and are written as `ALERTS` and
//! `ALERTS_FOR_STATE` series once the rule's `for` state has been restored.

use std::collections::{BTreeMap, HashMap};

use fedstore_promql::Sample;
use fedstore_storage::Labels;

use super::template::{QueryFn, TemplateData, expand};

/// How long resolved alerts are kept and resent (Prometheus `resolvedRetention`).
pub const RESOLVED_RETENTION_NS: i64 = 15 * 60 * 1_000_000_000;

/// `last_sent_ns` of an alert never sent (Go's zero time: before any evaluation).
pub const NEVER: i64 = i64::MIN;

/// An alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// Resolved (kept for a while to be sent as resolved).
    Inactive,
    /// Active for less than `for`.
    Pending,
    /// Active for `for` or more.
    Firing,
}

impl AlertState {
    /// The API's and `alertstate`'s spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of a rule. Times are Unix nanoseconds; 0 means unset.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// State.
    pub state: AlertState,
    /// The alert's labels: the sample's minus `__name__`, plus the rule's, plus `alertname`.
    pub labels: Labels,
    /// Expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// The sample value at the last evaluation.
    pub value: f64,
    /// When it became pending.
    pub active_at_ns: i64,
    /// When it started firing.
    pub fired_at_ns: i64,
    /// When it resolved.
    pub resolved_at_ns: i64,
    /// When it was last sent to Alertmanager ([`NEVER`] before the first send).
    pub last_sent_ns: i64,
    /// `endsAt` of the last send while unresolved.
    pub valid_until_ns: i64,
    /// The first evaluation it was missing from while `keep_firing_for` holds it firing.
    pub keep_firing_since_ns: i64,
}

impl Alert {
    /// Prometheus's `needsSending`.
    pub fn needs_sending(&self, t_ns: i64, resend_delay_ns: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        if self.resolved_at_ns != 0 && self.resolved_at_ns > self.last_sent_ns {
            return true;
        }
        self.last_sent_ns.saturating_add(resend_delay_ns) < t_ns
    }
}

/// The definition and state of an alerting rule.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    /// `alert`.
    pub name: String,
    /// `for` in ns.
    pub for_ns: i64,
    /// `keep_firing_for` in ns.
    pub keep_firing_for_ns: i64,
    /// Label templates.
    pub labels: BTreeMap<String, String>,
    /// Annotation templates.
    pub annotations: BTreeMap<String, String>,
    /// Alerts by label set.
    pub active: HashMap<Labels, Alert>,
    /// Whether `ALERTS`/`ALERTS_FOR_STATE` are written (false until the `for` state has been
    /// restored after start-up).
    pub restored: bool,
}

/// What an evaluation needs besides the query result.
pub struct AlertContext<'a> {
    /// `global.external_labels`.
    pub external_labels: &'a BTreeMap<String, String>,
    /// `--web.external-url`.
    pub external_url: &'a str,
    /// The templates' `query` function.
    pub query: Option<QueryFn>,
}

impl AlertingRule {
    /// A rule with no alerts yet.
    pub fn new(
        name: String,
        for_ns: i64,
        keep_firing_for_ns: i64,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    ) -> Self {
        AlertingRule {
            name,
            for_ns,
            keep_firing_for_ns,
            labels,
            annotations,
            active: HashMap::new(),
            restored: false,
        }
    }

    /// The rule's state: the highest of its alerts'.
    pub fn state(&self) -> AlertState {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// Applies one evaluation's result at `t_ns` and returns the `ALERTS` and
    /// `ALERTS_FOR_STATE` samples to write (none before restoration).
    pub fn eval(
        &mut self,
        t_ns: i64,
        result: &[Sample],
        limit: u64,
        ctx: &AlertContext<'_>,
    ) -> Result<Vec<Sample>, String> {
        let mut current: HashMap<Labels, Alert> = HashMap::with_capacity(result.len());
        for s in result {
            let sample_labels: BTreeMap<String, String> = s
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let data = TemplateData {
                labels: &sample_labels,
                external_labels: ctx.external_labels,
                external_url: ctx.external_url,
                value: s.v,
            };
            let exp = |text: &str| expand(&self.name, text, &data, ctx.query.clone());
            let mut pairs: BTreeMap<String, String> = sample_labels.clone();
            pairs.remove("__name__");
            for (k, v) in &self.labels {
                pairs.insert(k.clone(), exp(v));
            }
            pairs.insert("alertname".into(), self.name.clone());
            let annotations = self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), exp(v)))
                .collect();
            let labels = Labels::from_pairs(pairs);
            if current.contains_key(&labels) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            current.insert(
                labels.clone(),
                Alert {
                    state: AlertState::Pending,
                    labels,
                    annotations,
                    value: s.v,
                    active_at_ns: t_ns,
                    fired_at_ns: 0,
                    resolved_at_ns: 0,
                    last_sent_ns: NEVER,
                    valid_until_ns: 0,
                    keep_firing_since_ns: 0,
                },
            );
        }
        let in_result: std::collections::HashSet<Labels> = current.keys().cloned().collect();
        for (k, a) in current {
            match self.active.get_mut(&k) {
                Some(old) if old.state != AlertState::Inactive => {
                    old.value = a.value;
                    old.annotations = a.annotations;
                }
                _ => {
                    self.active.insert(k, a);
                }
            }
        }
        let mut out = Vec::new();
        let mut active_pending = 0u64;
        let mut remove = Vec::new();
        for (k, a) in self.active.iter_mut() {
            if !in_result.contains(k) {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && self.keep_firing_for_ns > 0 {
                    if a.keep_firing_since_ns == 0 {
                        a.keep_firing_since_ns = t_ns;
                    }
                    keep_firing = t_ns - a.keep_firing_since_ns < self.keep_firing_for_ns;
                }
                if a.state == AlertState::Pending
                    || (a.resolved_at_ns != 0 && t_ns - a.resolved_at_ns > RESOLVED_RETENTION_NS)
                {
                    remove.push(k.clone());
                }
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at_ns = t_ns;
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since_ns = 0;
            }
            active_pending += 1;
            if a.state == AlertState::Pending && t_ns - a.active_at_ns >= self.for_ns {
                a.state = AlertState::Firing;
                a.fired_at_ns = t_ns;
            }
            if self.restored {
                let t_ms = t_ns.div_euclid(1_000_000);
                out.push(Sample {
                    labels: with_name(&a.labels, "ALERTS", Some(a.state.as_str())),
                    t_ms,
                    v: 1.0,
                });
                out.push(Sample {
                    labels: with_name(&a.labels, "ALERTS_FOR_STATE", None),
                    t_ms,
                    v: a.active_at_ns.div_euclid(1_000_000_000) as f64,
                });
            }
        }
        for k in remove {
            self.active.remove(&k);
        }
        if limit > 0 && active_pending > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {active_pending} alerts"
            ));
        }
        Ok(out)
    }

    /// The alerts to send now (Prometheus `sendAlerts`), marking them sent; `endsAt` of an
    /// unresolved alert is `t + 4 * max(resend delay, interval)`.
    pub fn alerts_to_send(
        &mut self,
        t_ns: i64,
        resend_delay_ns: i64,
        interval_ns: i64,
    ) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if a.needs_sending(t_ns, resend_delay_ns) {
                a.last_sent_ns = t_ns;
                a.valid_until_ns = t_ns + 4 * resend_delay_ns.max(interval_ns);
                out.push(a.clone());
            }
        }
        out
    }
}

/// `labels` plus `__name__` and, for `ALERTS`, `alertstate`.
fn with_name(labels: &Labels, name: &str, state: Option<&str>) -> Labels {
    let mut pairs: Vec<(&str, &str)> = labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    pairs.push(("__name__", name));
    if let Some(s) = state {
        pairs.retain(|p| p.0 != "alertstate");
        pairs.push(("alertstate", s));
    }
    Labels::from_pairs(pairs)
}

#[cfg(test)]
mod tests;
