use std::time::Duration;

use fedstore_storage::is_stale_nan;

use super::*;

fn mk_head() -> (tempfile::TempDir, Head) {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(
        &dir.path().join("head"),
        fedstore_storage::HeadOptions::default(),
    )
    .unwrap();
    (dir, head)
}

fn ctx() -> SampleContext {
    SampleContext::new(Labels::from_pairs([("instance", "i:1"), ("job", "j")]))
}

/// Latest sample of the series with these labels (`job`/`instance` of [`ctx`] added).
fn latest(head: &Head, name: &str, extra: &[(&str, &str)]) -> Option<(i64, f64)> {
    let mut pairs = vec![("__name__", name), ("instance", "i:1"), ("job", "j")];
    pairs.extend_from_slice(extra);
    let want = Labels::from_pairs(pairs);
    let sel = head.select(&[vec![
        fedstore_storage::Matcher::new(fedstore_storage::MatchOp::Equal, "__name__", name).unwrap(),
    ]]);
    for r in sel.refs {
        if head.series_labels(r).as_ref() == Some(&want) {
            let mut out = Vec::new();
            head.samples(r, i64::MIN, i64::MAX, &mut out);
            return out.last().copied();
        }
    }
    None
}

fn scrape(head: &Head, st: &mut TargetState, c: &SampleContext, body: &str, t: i64) -> Outcome {
    scrape_and_report(
        head,
        st,
        c,
        Ok((body.as_bytes(), Format::Text)),
        t,
        t,
        || Duration::from_millis(3),
    )
}

#[test]
fn steady_state_and_vanishing_series() {
    let (_d, head) = mk_head();
    let c = ctx();
    let mut st = TargetState::new();
    let o = scrape(&head, &mut st, &c, "a 1\nb{x=\"y\"} 2\n", 1000);
    assert_eq!(o.error, None);
    assert_eq!(
        o.counts,
        AppendCounts {
            total: 2,
            added: 2,
            series_added: 2
        }
    );
    assert_eq!(latest(&head, "up", &[]), Some((1000, 1.0)));
    assert_eq!(latest(&head, "scrape_series_added", &[]), Some((1000, 2.0)));
    assert_eq!(
        latest(&head, "scrape_duration_seconds", &[]),
        Some((1000, 0.003))
    );
    let o = scrape(&head, &mut st, &c, "a 5\n", 2000);
    assert_eq!(o.counts.series_added, 0);
    assert_eq!(latest(&head, "a", &[]), Some((2000, 5.0)));
    let (t, v) = latest(&head, "b", &[("x", "y")]).unwrap();
    assert_eq!(t, 2000);
    assert!(is_stale_nan(v), "b vanished: stale marker");
    assert_eq!(
        latest(&head, "scrape_samples_scraped", &[]),
        Some((2000, 1.0))
    );
}

#[test]
fn failures_report_up_zero_and_mark_stale() {
    struct Case {
        name: &'static str,
        second: Result<&'static str, &'static str>,
        limit: u64,
        want_error: &'static str,
        want_total: f64,
        /// Series of the first scrape (`a`, `b`, `c`) expected stale after the failure.
        stale: [bool; 3],
    }
    let cases = [
        Case {
            name: "http error: everything stale",
            second: Err("server returned HTTP status 404 Not Found"),
            limit: 0,
            want_error: "server returned HTTP status 404 Not Found",
            want_total: 0.0,
            stale: [true, true, true],
        },
        Case {
            name: "parse error on the last line: earlier series are not marked (quirk)",
            second: Ok("a 1\nb 2\nc x\n"),
            limit: 0,
            want_error: "strconv.ParseFloat: parsing \"x\": invalid syntax",
            want_total: 2.0,
            stale: [false, false, true],
        },
        Case {
            name: "sample limit",
            second: Ok("a 1\nb 2\nc 3\n"),
            limit: 2,
            want_error: "sample limit exceeded",
            want_total: 3.0,
            stale: [false, false, true],
        },
    ];
    for case in cases {
        let (_d, head) = mk_head();
        let mut c = ctx();
        c.sample_limit = case.limit;
        let mut st = TargetState::new();
        // First scrape within limits.
        let first = if case.limit > 0 {
            "a 1\nb 2\n"
        } else {
            "a 1\nb 2\nc 3\n"
        };
        let o = scrape(&head, &mut st, &c, first, 1000);
        assert_eq!(o.error, None, "{}", case.name);
        if case.limit > 0 {
            // Make `c` known so that the failure can mark it.
            let mut c2 = c.clone();
            c2.sample_limit = 0;
            scrape(&head, &mut st, &c2, "a 1\nb 2\nc 3\n", 1500);
        }
        let body = case
            .second
            .map(|b| (b.as_bytes(), Format::Text))
            .map_err(str::to_owned);
        let o = scrape_and_report(&head, &mut st, &c, body, 2000, 2000, || Duration::ZERO);
        assert_eq!(o.error.as_deref(), Some(case.want_error), "{}", case.name);
        assert_eq!(latest(&head, "up", &[]), Some((2000, 0.0)), "{}", case.name);
        assert_eq!(
            latest(&head, "scrape_samples_scraped", &[]),
            Some((2000, case.want_total)),
            "{}",
            case.name
        );
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            let (t, v) = latest(&head, name, &[]).unwrap();
            assert_eq!(
                t == 2000 && is_stale_nan(v),
                case.stale[i],
                "{}: series {name} at {t} = {v}",
                case.name
            );
        }
    }
}

#[test]
fn failed_commit_reports_the_scrape_failed() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(
        &dir.path().join("head"),
        fedstore_storage::HeadOptions {
            wal: Some(fedstore_storage::wal::WalOptions::new(
                dir.path().join("wal"),
            )),
            ..fedstore_storage::HeadOptions::default()
        },
    )
    .unwrap();
    let c = ctx();
    let mut st = TargetState::new();
    let o = scrape(&head, &mut st, &c, "a 1\nb 2\n", 1000);
    assert_eq!(o.error, None);
    assert_eq!(latest(&head, "up", &[]), Some((1000, 1.0)));

    assert!(head.poison_wal_for_test("disk on fire"));
    let o = scrape(&head, &mut st, &c, "a 3\nb 4\nnew_series 5\n", 2000);
    let err = o.error.expect("a failed commit fails the scrape");
    assert!(
        err.starts_with("scrape commit failed: ") && err.contains("disk on fire"),
        "{err}"
    );
    assert_eq!(o.stats, AppendStats::default());
    // Nothing of the scrape was stored (the up 0 report is refused by the poisoned WAL too).
    assert_eq!(latest(&head, "a", &[]), Some((1000, 1.0)));
    assert_eq!(latest(&head, "up", &[]), Some((1000, 1.0)));
    assert_eq!(latest(&head, "new_series", &[]), None);
}

#[test]
fn labels_timestamps_and_relabeling() {
    let (_d, head) = mk_head();
    let yaml = "scrape_configs:\n- job_name: j\n  metric_relabel_configs:\n  - source_labels: [__name__]\n    regex: drop_me\n    action: drop\n";
    let cfg = crate::config::Config::parse(yaml, "t.yml").unwrap();
    let mut c = ctx();
    c.metric_relabel = cfg.scrape_configs[0].metric_relabel_configs.clone();
    let mut st = TargetState::new();
    let o = scrape(
        &head,
        &mut st,
        &c,
        "m{job=\"x\"} 1\nts 2 500\ndrop_me 3\n",
        1000,
    );
    assert_eq!(o.error, None);
    assert_eq!(o.counts.total, 3);
    assert_eq!(o.counts.added, 2, "drop_me dropped by metric relabeling");
    assert_eq!(
        latest(&head, "m", &[("exported_job", "x")]),
        Some((1000, 1.0))
    );
    assert_eq!(
        latest(&head, "ts", &[]),
        Some((500, 2.0)),
        "explicit timestamp honoured"
    );
    assert_eq!(latest(&head, "drop_me", &[]), None);
    // Explicit-timestamp series are not tracked for staleness.
    scrape(&head, &mut st, &c, "m{job=\"x\"} 1\n", 2000);
    assert_eq!(latest(&head, "ts", &[]), Some((500, 2.0)));

    let (_d, head) = mk_head();
    let mut c = ctx();
    c.honor_labels = true;
    c.honor_timestamps = false;
    let mut st = TargetState::new();
    scrape(&head, &mut st, &c, "m{job=\"x\"} 1\nts 2 500\n", 1000);
    let x = Labels::from_pairs([("__name__", "m"), ("instance", "i:1"), ("job", "x")]);
    let sel = head.select(&[vec![
        fedstore_storage::Matcher::new(fedstore_storage::MatchOp::Equal, "job", "x").unwrap(),
    ]]);
    assert_eq!(sel.refs.len(), 1);
    assert_eq!(
        head.series_labels(sel.refs[0]),
        Some(x),
        "honor_labels keeps job=x"
    );
    assert_eq!(
        latest(&head, "ts", &[]),
        Some((1000, 2.0)),
        "timestamp ignored"
    );
}

#[test]
fn end_of_run_staleness_marks_everything() {
    let (_d, head) = mk_head();
    let c = ctx();
    let mut st = TargetState::new();
    scrape(&head, &mut st, &c, "a 1\n", 1000);
    mark_all_stale(&head, &mut st, &c, 1500);
    for name in ["a", "up", "scrape_duration_seconds", "scrape_series_added"] {
        let (t, v) = latest(&head, name, &[]).unwrap();
        assert!(t == 1500 && is_stale_nan(v), "{name}");
    }
}

#[test]
fn label_checks_run_for_new_series_and_cached_ones_append_unchecked() {
    let (_d, head) = mk_head();
    let c = ctx();
    let mut st = TargetState::new();
    // Labels out of name order take the full check; a valid set is cached, then appended by
    // ref on the next scrape.
    let ok = "m{b=\"1\",a=\"2\"} 1\n";
    assert_eq!(scrape(&head, &mut st, &c, ok, 1000).error, None);
    assert_eq!(scrape(&head, &mut st, &c, ok, 2000).error, None);
    assert_eq!(
        latest(&head, "m", &[("a", "2"), ("b", "1")]),
        Some((2000, 1.0))
    );
    // A new series with a duplicate name fails the scrape with 2.42's text,
    // behind a cached one, and nothing of that scrape is stored.
    let bad = "m{b=\"1\",a=\"2\"} 3\nn{c=\"1\",c=\"2\"} 4\n";
    let o = scrape(&head, &mut st, &c, bad, 3000);
    assert_eq!(
        o.error.as_deref(),
        Some("label name \"c\" is not unique: invalid sample")
    );
    assert_eq!(
        latest(&head, "m", &[("a", "2"), ("b", "1")]),
        Some((2000, 1.0))
    );
    // An explicit empty `__name__` is caught the same way.
    let o = scrape(&head, &mut st, &c, "x{__name__=\"\",a=\"1\"} 1\n", 4000);
    assert_eq!(
        o.error.as_deref(),
        Some("missing metric name (__name__ label)")
    );
}
