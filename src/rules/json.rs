//! `/api/v1/rules` and `/api/v1/alerts` data as Prometheus 2.42 writes it (key order, omitted
//! fields, Go's number and time formats).

use std::collections::BTreeMap;

use fedstore_storage::Labels;

use super::alerting::{Alert, AlertState};
use super::group::{Group, RuleKind};
use crate::api::v1::json::write_str as string;
use crate::time::rfc3339_nanos;

/// Which rules `/api/v1/rules?type=` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleFilter {
    /// No `type`.
    All,
    /// `type=alert`.
    Alert,
    /// `type=record`.
    Record,
}

/// Go's `encoding/json` float: shortest digits, exponent form below 1e-6 or from 1e21.
fn number(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push('0');
    } else if v != 0.0 && (v.abs() < 1e-6 || v.abs() >= 1e21) {
        out.push_str(&format!("{v:e}"));
    } else {
        out.push_str(&format!("{v}"));
    }
}

fn push_str(out: &mut String, s: &str) {
    let mut b = Vec::with_capacity(s.len() + 2);
    string(&mut b, s);
    out.push_str(&String::from_utf8_lossy(&b));
}

fn labels_obj(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, &l.name);
        out.push(':');
        push_str(out, &l.value);
    }
    out.push('}');
}

fn map_obj(out: &mut String, m: &BTreeMap<String, String>) {
    out.push('{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, k);
        out.push(':');
        push_str(out, v);
    }
    out.push('}');
}

/// Go's `time.Time{}` for never-evaluated rules.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time(out: &mut String, ns: i64) {
    if ns == 0 {
        push_str(out, ZERO_TIME);
    } else {
        push_str(out, &rfc3339_nanos(ns));
    }
}

/// Go `strconv.FormatFloat(v, 'e', -1, 64)`: `5e+00`, `2.5e-01` (the alert `value`).
pub fn go_e(v: f64) -> String {
    let mut b = Vec::with_capacity(24);
    crate::exposition::float::write_go_float(&mut b, v, true);
    String::from_utf8_lossy(&b).into_owned()
}

fn alert(out: &mut String, a: &Alert) {
    out.push_str("{\"labels\":");
    labels_obj(out, &a.labels);
    out.push_str(",\"annotations\":");
    map_obj(out, &a.annotations);
    out.push_str(",\"state\":");
    push_str(out, a.state.as_str());
    out.push_str(",\"activeAt\":");
    time(out, a.active_at_ns);
    if a.keep_firing_since_ns != 0 {
        out.push_str(",\"keepFiringSince\":");
        time(out, a.keep_firing_since_ns);
    }
    out.push_str(",\"value\":");
    push_str(out, &go_e(a.value));
    out.push('}');
}

fn active(alerts: &std::collections::HashMap<Labels, Alert>) -> Vec<&Alert> {
    let mut v: Vec<&Alert> = alerts
        .values()
        .filter(|a| a.state != AlertState::Inactive)
        .collect();
    v.sort_by(|a, b| a.labels.cmp(&b.labels));
    v
}

/// `data` of `/api/v1/rules`.
pub fn rules(groups: &[Group], filter: RuleFilter) -> String {
    let mut out = String::from("{\"groups\":[");
    for (gi, g) in groups.iter().enumerate() {
        if gi > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        push_str(&mut out, &g.name);
        out.push_str(",\"file\":");
        push_str(&mut out, &g.file);
        out.push_str(",\"rules\":[");
        let mut first = true;
        for r in &g.rules {
            let is_alert = matches!(r.kind, RuleKind::Alerting(_));
            if (filter == RuleFilter::Alert && !is_alert)
                || (filter == RuleFilter::Record && is_alert)
            {
                continue;
            }
            if !first {
                out.push(',');
            }
            first = false;
            match &r.kind {
                RuleKind::Alerting(a) => {
                    out.push_str("{\"state\":");
                    push_str(&mut out, a.state().as_str());
                    out.push_str(",\"name\":");
                    push_str(&mut out, &r.name);
                    out.push_str(",\"query\":");
                    push_str(&mut out, &r.query);
                    out.push_str(",\"duration\":");
                    number(&mut out, a.for_ns as f64 / 1e9);
                    out.push_str(",\"keepFiringFor\":");
                    number(&mut out, a.keep_firing_for_ns as f64 / 1e9);
                    out.push_str(",\"labels\":");
                    map_obj(&mut out, &a.labels);
                    out.push_str(",\"annotations\":");
                    map_obj(&mut out, &a.annotations);
                    out.push_str(",\"alerts\":[");
                    for (i, al) in active(&a.active).into_iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        alert(&mut out, al);
                    }
                    out.push(']');
                }
                RuleKind::Recording { labels, .. } => {
                    out.push_str("{\"name\":");
                    push_str(&mut out, &r.name);
                    out.push_str(",\"query\":");
                    push_str(&mut out, &r.query);
                    if !labels.is_empty() {
                        out.push_str(",\"labels\":");
                        map_obj(&mut out, labels);
                    }
                }
            }
            out.push_str(",\"health\":");
            push_str(&mut out, r.health.as_str());
            if !r.last_error.is_empty() {
                out.push_str(",\"lastError\":");
                push_str(&mut out, &r.last_error);
            }
            out.push_str(",\"evaluationTime\":");
            number(&mut out, r.eval_seconds);
            out.push_str(",\"lastEvaluation\":");
            time(&mut out, r.last_eval_ns);
            out.push_str(",\"type\":");
            push_str(&mut out, if is_alert { "alerting" } else { "recording" });
            out.push('}');
        }
        out.push_str("],\"interval\":");
        number(&mut out, g.interval_ns as f64 / 1e9);
        out.push_str(",\"limit\":");
        out.push_str(&g.limit.to_string());
        out.push_str(",\"evaluationTime\":");
        number(&mut out, g.eval_seconds);
        out.push_str(",\"lastEvaluation\":");
        time(&mut out, g.last_eval_ns);
        out.push('}');
    }
    out.push_str("]}");
    out
}

/// `data` of `/api/v1/alerts`: the pending and firing alerts of every rule.
pub fn alerts(groups: &[Group]) -> String {
    let mut out = String::from("{\"alerts\":[");
    let mut first = true;
    for g in groups {
        for r in &g.rules {
            if let RuleKind::Alerting(a) = &r.kind {
                for al in active(&a.active) {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    alert(&mut out, al);
                }
            }
        }
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formats() {
        assert_eq!(go_e(5.0), "5e+00");
        assert_eq!(go_e(0.25), "2.5e-01");
        assert_eq!(go_e(1234.5), "1.2345e+03");
        let mut s = String::new();
        number(&mut s, 2.0);
        s.push(' ');
        number(&mut s, 0.000123);
        s.push(' ');
        number(&mut s, 1.5e-7);
        assert_eq!(s, "2 0.000123 1.5e-7");
    }

    #[test]
    fn never_evaluated_group() {
        let g = Group::new("r.yml".into(), "g".into(), 15_000_000_000, 0, Vec::new());
        assert_eq!(
            rules(&[g], RuleFilter::All),
            r#"{"groups":[{"name":"g","file":"r.yml","rules":[],"interval":15,"limit":0,"evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z"}]}"#
        );
    }
}
