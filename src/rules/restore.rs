//! Restoring alerts' `for` state after a restart (Prometheus 2.42 `Group.RestoreForState`):
//! an alert active again shortly after start-up takes back its `activeAt` from the last
//! `ALERTS_FOR_STATE` sample within `--rules.alert.for-outage-tolerance`, shifted by the
//! downtime, or to fire a grace period from now.

use std::sync::Arc;

use fedstore_promql::Queryable;
use fedstore_promql::storage::SelectHints;
use fedstore_storage::{MatchOp, Matcher, is_stale_nan};

use super::alerting::AlertingRule;

/// Restores `for` state from storage.
pub struct Restorer {
    /// Storage holding `ALERTS_FOR_STATE`.
    pub storage: Arc<dyn Queryable>,
    /// `--rules.alert.for-outage-tolerance` in ns (default 1h).
    pub outage_tolerance_ns: i64,
    /// `--rules.alert.for-grace-period` in ns (default 10m).
    pub grace_ns: i64,
}

const NS_PER_S: i64 = 1_000_000_000;

impl Restorer {
    /// Restores the active alerts of `rule` at `now_ns`.
    pub fn restore(&self, rule: &mut AlertingRule, now_ns: i64, _interval_ns: i64) {
        if rule.for_ns < self.grace_ns {
            return;
        }
        let maxt = now_ns.div_euclid(1_000_000);
        let mint = (now_ns - self.outage_tolerance_ns).div_euclid(1_000_000);
        for a in rule.active.values_mut() {
            let mut matchers = Vec::with_capacity(a.labels.len() + 1);
            let mut ok = true;
            let name = std::iter::once(("__name__", "ALERTS_FOR_STATE"));
            for (n, v) in name.chain(a.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()))) {
                match Matcher::new(MatchOp::Equal, n, v) {
                    Ok(m) => matchers.push(m),
                    Err(_) => ok = false,
                }
            }
            if !ok {
                continue;
            }
            let hints = SelectHints {
                start_ms: mint,
                end_ms: maxt,
                ..Default::default()
            };
            let Ok(set) = self.storage.select(&matchers, mint, maxt, &hints) else {
                continue;
            };
            let mut samples = Vec::new();
            let found =
                (0..set.len()).find(|&i| set.labels(i).is_ok_and(|l| l.len() == matchers.len()));
            let Some(i) = found else { continue };
            if set.samples(i, &mut samples).is_err() {
                continue;
            }
            let Some(&(t, v)) = samples.last() else {
                continue;
            };
            if is_stale_nan(v) {
                continue;
            }
            let down_at = t.div_euclid(1000) * NS_PER_S;
            let mut active_at = (v as i64) * NS_PER_S;
            let remaining = rule.for_ns - (down_at - active_at);
            if remaining <= 0 {
                // It was firing when the node went down; the next evaluation decides.
            } else if remaining < self.grace_ns {
                active_at = now_ns + self.grace_ns - rule.for_ns;
            } else {
                active_at += now_ns - down_at;
            }
            a.active_at_ns = active_at;
        }
    }
}
