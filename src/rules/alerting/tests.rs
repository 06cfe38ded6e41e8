//! The alert state machine against the 2.42 timelines in prometheus-api.md §7.4 and §7.8.

use super::*;

const S: i64 = 1_000_000_000;

fn rule(for_s: i64, keep_s: i64) -> AlertingRule {
    let mut r = AlertingRule::new(
        "High".into(),
        for_s * S,
        keep_s * S,
        BTreeMap::from([("severity".to_owned(), "page".to_owned())]),
        BTreeMap::from([(
            "summary".to_owned(),
            "{{ $labels.host }} at {{ $value }}".to_owned(),
        )]),
    );
    r.restored = true;
    r
}

fn ctx() -> AlertContext<'static> {
    static EMPTY: std::sync::LazyLock<BTreeMap<String, String>> =
        std::sync::LazyLock::new(BTreeMap::new);
    AlertContext {
        external_labels: &EMPTY,
        external_url: "http://x",
        query: None,
    }
}

fn result(v: f64) -> Vec<Sample> {
    vec![Sample {
        labels: Labels::from_pairs([("__name__", "m"), ("host", "h1")]),
        t_ms: 0,
        v,
    }]
}

fn only(r: &AlertingRule) -> &Alert {
    assert_eq!(r.active.len(), 1);
    r.active.values().next().expect("one alert")
}

#[test]
fn pending_then_firing_then_resolved() {
    let mut r = rule(4, 0);
    let out = r.eval(10 * S, &result(5.0), 0, &ctx()).expect("eval");
    let a = only(&r);
    assert_eq!(a.state, AlertState::Pending);
    assert_eq!(
        a.labels,
        Labels::from_pairs([("alertname", "High"), ("host", "h1"), ("severity", "page")])
    );
    assert_eq!(a.annotations["summary"], "h1 at 5");
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].labels.get("alertstate"), "pending");
    assert_eq!(out[1].labels.get("__name__"), "ALERTS_FOR_STATE");
    assert_eq!(out[1].v, 10.0);
    assert!(
        r.alerts_to_send(10 * S, 60 * S, 2 * S).is_empty(),
        "pending is not sent"
    );

    r.eval(12 * S, &result(6.0), 0, &ctx()).expect("eval");
    assert_eq!(only(&r).state, AlertState::Pending);
    let out = r.eval(14 * S, &result(7.0), 0, &ctx()).expect("eval");
    let a = only(&r);
    assert_eq!(
        (a.state, a.fired_at_ns, a.active_at_ns),
        (AlertState::Firing, 14 * S, 10 * S)
    );
    assert_eq!(out[0].labels.get("alertstate"), "firing");
    let sent = r.alerts_to_send(14 * S, 60 * S, 2 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].valid_until_ns, 14 * S + 240 * S);
    assert!(
        r.alerts_to_send(16 * S, 60 * S, 2 * S).is_empty(),
        "resend waits 1m"
    );

    let out = r.eval(16 * S, &[], 0, &ctx()).expect("eval");
    assert!(out.is_empty());
    let a = only(&r);
    assert_eq!((a.state, a.resolved_at_ns), (AlertState::Inactive, 16 * S));
    assert_eq!(
        r.alerts_to_send(16 * S, 60 * S, 2 * S).len(),
        1,
        "resolution is sent"
    );
    // Kept for 15 minutes, then dropped.
    r.eval(16 * S + RESOLVED_RETENTION_NS, &[], 0, &ctx())
        .expect("eval");
    assert_eq!(r.active.len(), 1);
    r.eval(17 * S + RESOLVED_RETENTION_NS, &[], 0, &ctx())
        .expect("eval");
    assert!(r.active.is_empty());
}

#[test]
fn pending_alert_that_vanishes_is_deleted() {
    let mut r = rule(60, 0);
    r.eval(S, &result(1.0), 0, &ctx()).expect("eval");
    r.eval(2 * S, &[], 0, &ctx()).expect("eval");
    assert!(r.active.is_empty());
}

#[test]
fn for_zero_fires_at_once() {
    let mut r = rule(0, 0);
    r.eval(S, &result(1.0), 0, &ctx()).expect("eval");
    assert_eq!(only(&r).state, AlertState::Firing);
}

#[test]
fn keep_firing_for_holds_the_alert() {
    let mut r = rule(0, 6);
    r.eval(10 * S, &result(1.0), 0, &ctx()).expect("eval");
    for t in [12, 14] {
        let out = r.eval(t * S, &[], 0, &ctx()).expect("eval");
        assert_eq!(only(&r).state, AlertState::Firing, "t={t}");
        assert_eq!(out.len(), 2);
        assert_eq!(only(&r).keep_firing_since_ns, 12 * S);
    }
    r.eval(18 * S, &[], 0, &ctx()).expect("eval");
    let a = only(&r);
    assert_eq!((a.state, a.resolved_at_ns), (AlertState::Inactive, 18 * S));
}

#[test]
fn resolved_alert_that_returns_starts_pending_again() {
    let mut r = rule(4, 0);
    r.eval(0, &result(1.0), 0, &ctx()).expect("eval");
    r.eval(4 * S, &result(1.0), 0, &ctx()).expect("eval");
    r.eval(6 * S, &[], 0, &ctx()).expect("eval");
    r.eval(8 * S, &result(1.0), 0, &ctx()).expect("eval");
    let a = only(&r);
    assert_eq!((a.state, a.active_at_ns), (AlertState::Pending, 8 * S));
}

#[test]
fn nothing_written_before_restoration() {
    let mut r = rule(0, 0);
    r.restored = false;
    assert!(r.eval(S, &result(1.0), 0, &ctx()).expect("eval").is_empty());
    assert_eq!(r.alerts_to_send(S, 60 * S, S).len(), 1, "still notifies");
}

#[test]
fn duplicate_alert_labels_and_limit() {
    let mut r = rule(0, 0);
    let two = vec![
        Sample {
            labels: Labels::from_pairs([("__name__", "a"), ("host", "h1")]),
            t_ms: 0,
            v: 1.0,
        },
        Sample {
            labels: Labels::from_pairs([("__name__", "b"), ("host", "h1")]),
            t_ms: 0,
            v: 1.0,
        },
    ];
    assert_eq!(
        r.eval(S, &two, 0, &ctx()).expect_err("dup"),
        "vector contains metrics with the same labelset after applying alert labels"
    );
    let mut two_hosts = result(1.0);
    two_hosts.push(Sample {
        labels: Labels::from_pairs([("host", "h2")]),
        t_ms: 0,
        v: 1.0,
    });
    assert_eq!(
        r.eval(S, &two_hosts, 1, &ctx()).expect_err("limit"),
        "exceeded limit of 1 with 2 alerts"
    );
    assert!(r.active.is_empty());
}
