//! `/api/v1/rules` and `/api/v1/alerts` data as Prometheus 2.42 writes it (key order, omitted
//! fields, Go's number and time formats).

use std::collections::BTreeMap;

use fedstore_storage::Labels;

use super::alerting::{Alert, AlertState};
use super::group::{Group, RuleKind};
use crate::api::v1::json::{write_json_number as number, write_labels, write_str};
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

fn map_obj(out: &mut Vec<u8>, m: &BTreeMap<String, String>) {
    out.push(b'{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_str(out, v);
    }
    out.push(b'}');
}

/// Go's `time.Time{}` for never-evaluated rules.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time(out: &mut Vec<u8>, ns: i64) {
    if ns == 0 {
        write_str(out, ZERO_TIME);
    } else {
        write_str(out, &rfc3339_nanos(ns));
    }
}

/// Go `strconv.FormatFloat(v, 'e', -1, 64)` as a JSON string: `"5e+00"`, `"2.5e-01"` (the
/// alert `value`).
fn go_e(out: &mut Vec<u8>, v: f64) {
    out.push(b'"');
    crate::exposition::float::write_go_float(out, v, true);
    out.push(b'"');
}

fn alert(out: &mut Vec<u8>, a: &Alert) {
    out.extend_from_slice(b"{\"labels\":");
    write_labels(out, &a.labels);
    out.extend_from_slice(b",\"annotations\":");
    map_obj(out, &a.annotations);
    out.extend_from_slice(b",\"state\":");
    write_str(out, a.state.as_str());
    out.extend_from_slice(b",\"activeAt\":");
    time(out, a.active_at_ns);
    if a.keep_firing_since_ns != 0 {
        out.extend_from_slice(b",\"keepFiringSince\":");
        time(out, a.keep_firing_since_ns);
    }
    out.extend_from_slice(b",\"value\":");
    go_e(out, a.value);
    out.push(b'}');
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
pub fn rules(out: &mut Vec<u8>, groups: &[Group], filter: RuleFilter) {
    out.extend_from_slice(b"{\"groups\":[");
    for (gi, g) in groups.iter().enumerate() {
        if gi > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"name\":");
        write_str(out, &g.name);
        out.extend_from_slice(b",\"file\":");
        write_str(out, &g.file);
        out.extend_from_slice(b",\"rules\":[");
        let mut first = true;
        for r in &g.rules {
            let is_alert = matches!(r.kind, RuleKind::Alerting(_));
            if (filter == RuleFilter::Alert && !is_alert)
                || (filter == RuleFilter::Record && is_alert)
            {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            match &r.kind {
                RuleKind::Alerting(a) => {
                    out.extend_from_slice(b"{\"state\":");
                    write_str(out, a.state().as_str());
                    out.extend_from_slice(b",\"name\":");
                    write_str(out, &r.name);
                    out.extend_from_slice(b",\"query\":");
                    write_str(out, &r.query);
                    out.extend_from_slice(b",\"duration\":");
                    number(out, a.for_ns as f64 / 1e9);
                    out.extend_from_slice(b",\"keepFiringFor\":");
                    number(out, a.keep_firing_for_ns as f64 / 1e9);
                    out.extend_from_slice(b",\"labels\":");
                    map_obj(out, &a.labels);
                    out.extend_from_slice(b",\"annotations\":");
                    map_obj(out, &a.annotations);
                    out.extend_from_slice(b",\"alerts\":[");
                    for (i, al) in active(&a.active).into_iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        alert(out, al);
                    }
                    out.push(b']');
                }
                RuleKind::Recording { labels, .. } => {
                    out.extend_from_slice(b"{\"name\":");
                    write_str(out, &r.name);
                    out.extend_from_slice(b",\"query\":");
                    write_str(out, &r.query);
                    if !labels.is_empty() {
                        out.extend_from_slice(b",\"labels\":");
                        map_obj(out, labels);
                    }
                }
            }
            out.extend_from_slice(b",\"health\":");
            write_str(out, r.health.as_str());
            if !r.last_error.is_empty() {
                out.extend_from_slice(b",\"lastError\":");
                write_str(out, &r.last_error);
            }
            out.extend_from_slice(b",\"evaluationTime\":");
            number(out, r.eval_seconds);
            out.extend_from_slice(b",\"lastEvaluation\":");
            time(out, r.last_eval_ns);
            out.extend_from_slice(b",\"type\":");
            write_str(out, if is_alert { "alerting" } else { "recording" });
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"interval\":");
        number(out, g.interval_ns as f64 / 1e9);
        out.extend_from_slice(b",\"limit\":");
        out.extend_from_slice(g.limit.to_string().as_bytes());
        out.extend_from_slice(b",\"evaluationTime\":");
        number(out, g.eval_seconds);
        out.extend_from_slice(b",\"lastEvaluation\":");
        time(out, g.last_eval_ns);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

/// `data` of `/api/v1/alerts`: the pending and firing alerts of every rule.
pub fn alerts(out: &mut Vec<u8>, groups: &[Group]) {
    out.extend_from_slice(b"{\"alerts\":[");
    let mut first = true;
    for g in groups {
        for r in &g.rules {
            if let RuleKind::Alerting(a) = &r.kind {
                for al in active(&a.active) {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    alert(out, al);
                }
            }
        }
    }
    out.extend_from_slice(b"]}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formats() {
        let mut e = Vec::new();
        for v in [5.0, 0.25, 1234.5] {
            go_e(&mut e, v);
        }
        assert_eq!(e, br#""5e+00""2.5e-01""1.2345e+03""#);
        let mut s = Vec::new();
        for v in [2.0, 0.000123, 1.5e-7, 1e21] {
            number(&mut s, v);
            s.push(b' ');
        }
        assert_eq!(s, b"2 0.000123 1.5e-7 1e+21 ");
    }

    #[test]
    fn never_evaluated_group() {
        let g = Group::new("r.yml".into(), "g".into(), 15_000_000_000, 0, Vec::new());
        let mut out = Vec::new();
        rules(&mut out, &[g], RuleFilter::All);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"groups":[{"name":"g","file":"r.yml","rules":[],"interval":15,"limit":0,"evaluationTime":0,"lastEvaluation":"0001-01-01T00:00:00Z"}]}"#
        );
    }
}
