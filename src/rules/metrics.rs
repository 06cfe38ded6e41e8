//! `fedstore_rule_group_*` and `fedstore_notifications_*` on `/metrics` (Prometheus's
//! `prometheus_rule_group_*` / `prometheus_notifications_*` under our prefix), labelled
//! `rule_group="<file>;<group>"` as Prometheus labels them.

use std::sync::atomic::Ordering;

use crate::exposition::write::{write_help_line, write_sample, write_type_line};

use super::service::RulesService;

/// Appends the rules' metrics.
pub fn render(rules: &RulesService, buf: &mut Vec<u8>) {
    let groups = rules.groups();
    type Getter = fn(&super::group::Group) -> f64;
    let families: [(&str, &str, &str, Getter); 7] = [
        (
            "fedstore_rule_group_last_duration_seconds",
            "gauge",
            "The duration of the last rule group evaluation.",
            |g| g.eval_seconds,
        ),
        (
            "fedstore_rule_group_interval_seconds",
            "gauge",
            "The interval of a rule group.",
            |g| g.interval_ns as f64 / 1e9,
        ),
        (
            "fedstore_rule_group_last_evaluation_timestamp_seconds",
            "gauge",
            "The timestamp of the last rule group evaluation in seconds.",
            |g| g.last_eval_ns as f64 / 1e9,
        ),
        (
            "fedstore_rule_group_iterations_total",
            "counter",
            "The number of scheduled evaluations of a rule group.",
            |g| (g.iterations + g.iterations_missed) as f64,
        ),
        (
            "fedstore_rule_group_iterations_missed_total",
            "counter",
            "The number of rule group evaluations missed due to slow rule group evaluation.",
            |g| g.iterations_missed as f64,
        ),
        (
            "fedstore_rule_evaluation_failures_total",
            "counter",
            "The number of rule evaluation failures.",
            |g| g.failures as f64,
        ),
        (
            "fedstore_rule_group_rules",
            "gauge",
            "The number of rules.",
            |g| g.rules.len() as f64,
        ),
    ];
    for (name, kind, help, get) in families {
        write_help_line(buf, name, help);
        write_type_line(buf, name, kind);
        for g in &groups {
            let key = format!("{};{}", g.file, g.name);
            write_sample(buf, name, [("rule_group", key.as_str())], get(g), None);
        }
    }
    let stats = rules.notifier().stats();
    for (name, help, v) in [
        (
            "fedstore_notifications_sent_total",
            "Total number of alerts sent.",
            stats.sent.load(Ordering::Relaxed),
        ),
        (
            "fedstore_notifications_errors_total",
            "Total number of errors sending alert notifications.",
            stats.errors.load(Ordering::Relaxed),
        ),
        (
            "fedstore_notifications_dropped_total",
            "Total number of alerts dropped due to errors or a full queue.",
            stats.dropped.load(Ordering::Relaxed),
        ),
    ] {
        write_help_line(buf, name, help);
        write_type_line(buf, name, "counter");
        write_sample(buf, name, [], v as f64, None);
    }
    let name = "fedstore_notifications_queue_length";
    write_help_line(buf, name, "The number of alert notifications in the queue.");
    write_type_line(buf, name, "gauge");
    write_sample(buf, name, [], rules.notifier().queue_len() as f64, None);
}
