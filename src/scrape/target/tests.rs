use super::*;
use crate::config::Config;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn pairs(p: &[(&str, &str)]) -> LabelPairs {
    let mut v: LabelPairs = p
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    v.sort();
    v
}

fn job(yaml: &str) -> ScrapeConfig {
    let cfg = Config::parse(yaml, "test.yml").unwrap();
    cfg.scrape_configs[0].clone()
}

#[test]
fn exported_label_conflicts() {
    let target = labels(&[("instance", "t:1"), ("job", "j")]);
    type Case<'a> = (
        &'a str,
        &'a [(&'a str, &'a str)],
        bool,
        &'a [(&'a str, &'a str)],
    );
    let cases: &[Case<'_>] = &[
        (
            "no conflict",
            &[("__name__", "m"), ("a", "1")],
            false,
            &[
                ("__name__", "m"),
                ("a", "1"),
                ("instance", "t:1"),
                ("job", "j"),
            ],
        ),
        (
            "job conflict renamed",
            &[("__name__", "m"), ("job", "x")],
            false,
            &[
                ("__name__", "m"),
                ("exported_job", "x"),
                ("instance", "t:1"),
                ("job", "j"),
            ],
        ),
        (
            "repeated prefix",
            &[("__name__", "m"), ("job", "x"), ("exported_job", "y")],
            false,
            &[
                ("__name__", "m"),
                ("exported_exported_job", "x"),
                ("exported_job", "y"),
                ("instance", "t:1"),
                ("job", "j"),
            ],
        ),
        (
            "both conflict, shorter first",
            &[("__name__", "m"), ("job", "x"), ("instance", "i")],
            false,
            &[
                ("__name__", "m"),
                ("exported_instance", "i"),
                ("exported_job", "x"),
                ("instance", "t:1"),
                ("job", "j"),
            ],
        ),
        (
            "honor labels keeps scraped",
            &[("__name__", "m"), ("job", "x")],
            true,
            &[("__name__", "m"), ("instance", "t:1"), ("job", "x")],
        ),
        // A source's /federate sends its aggregates with `instance=""`: present, so the
        // target's instance stays off (2.42 `lset.Has`), then the empty label is dropped.
        (
            "honor labels: exposed empty instance keeps the target's off",
            &[("__name__", "job:up:count"), ("job", "p"), ("instance", "")],
            true,
            &[("__name__", "job:up:count"), ("job", "p")],
        ),
        (
            "honor labels: other empty labels dropped, absent target labels added",
            &[("__name__", "m"), ("zone", ""), ("a", "1")],
            true,
            &[
                ("__name__", "m"),
                ("a", "1"),
                ("instance", "t:1"),
                ("job", "j"),
            ],
        ),
        (
            "honor labels: a name with an empty value anywhere is dropped",
            &[("__name__", "m"), ("job", ""), ("job", "x")],
            true,
            &[("__name__", "m"), ("instance", "t:1")],
        ),
        (
            "no honor: an empty exposed value is no conflict",
            &[("__name__", "m"), ("instance", ""), ("b", "")],
            false,
            &[("__name__", "m"), ("instance", "t:1"), ("job", "j")],
        ),
        (
            "no honor: an empty exposed exported_ label still takes the name",
            &[("__name__", "m"), ("job", "x"), ("exported_job", "")],
            false,
            &[
                ("__name__", "m"),
                ("exported_exported_job", "x"),
                ("instance", "t:1"),
                ("job", "j"),
            ],
        ),
    ];
    for (name, scraped, honor, want) in cases {
        let got = mutate_sample_labels(scraped, &target, *honor);
        assert_eq!(got, pairs(want), "{name}");
    }
}

#[test]
fn exported_prefix_skips_target_and_earlier_conflicts() {
    // Target has `exported_a`; scraped `a` must become `exported_exported_a`.
    let target = labels(&[("a", "T"), ("exported_a", "TT")]);
    let got = mutate_sample_labels(&[("__name__", "m"), ("a", "s")], &target, false);
    assert_eq!(
        got,
        pairs(&[
            ("__name__", "m"),
            ("a", "T"),
            ("exported_a", "TT"),
            ("exported_exported_a", "s"),
        ])
    );
}

#[test]
fn populate_labels_defaults_and_url() {
    let cfg = job(
        "scrape_configs:\n- job_name: j\n  scrape_interval: 5s\n  params:\n    match[]: ['{job=\"x\"}', 'up']\n  static_configs:\n  - targets: ['h']\n    labels: {team: a}\n",
    );
    let groups = targets_from_group(&cfg.static_configs[0], &cfg);
    let Ok(Populated::Active(t)) = &groups[0] else {
        panic!("{groups:?}")
    };
    assert_eq!(t.address, "h:80");
    assert_eq!(
        t.public,
        labels(&[("instance", "h:80"), ("job", "j"), ("team", "a")])
    );
    assert_eq!(
        t.url,
        "http://h:80/metrics?match%5B%5D=%7Bjob%3D%22x%22%7D&match%5B%5D=up"
    );
    assert_eq!(
        t.path_and_query,
        "/metrics?match%5B%5D=%7Bjob%3D%22x%22%7D&match%5B%5D=up"
    );
    assert_eq!(t.interval, Duration::from_secs(5));
    assert_eq!(t.timeout, Duration::from_secs(5));
    let d: Vec<&str> = t.discovered.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        d,
        [
            "__address__",
            "__metrics_path__",
            "__param_match[]",
            "__scheme__",
            "__scrape_interval__",
            "__scrape_timeout__",
            "job",
            "team"
        ]
    );
}

#[test]
fn populate_labels_relabeling() {
    let cfg = job(concat!(
        "scrape_configs:\n- job_name: j\n  static_configs:\n  - targets: ['a:1', 'b:2', 'c:3']\n",
        "  relabel_configs:\n",
        "  - source_labels: [__address__]\n    regex: 'c:3'\n    action: drop\n",
        "  - source_labels: [__address__]\n    target_label: __param_target\n",
        "  - target_label: __address__\n    replacement: 'exporter:9115'\n",
        "  - source_labels: [__param_target]\n    target_label: instance\n",
    ));
    let got = targets_from_group(&cfg.static_configs[0], &cfg);
    let Ok(Populated::Active(a)) = &got[0] else {
        panic!()
    };
    assert_eq!(a.url, "http://exporter:9115/metrics?target=a%3A1");
    assert_eq!(a.public.get("instance"), "a:1");
    assert!(matches!(&got[2], Ok(Populated::Dropped(l)) if l.iter().any(|(_, v)| v == "c:3")));
}

#[test]
fn populate_labels_errors() {
    let cfg = job("scrape_configs:\n- job_name: j\n  static_configs:\n  - targets: ['a:1']\n");
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        ("no address", &[], "no address"),
        (
            "timeout above interval",
            &[("__address__", "a:1"), ("__scrape_timeout__", "2m")],
            "scrape timeout cannot be greater than scrape interval (\"2m\" > \"1m\")",
        ),
        (
            "bad interval",
            &[("__address__", "a:1"), ("__scrape_interval__", "1x")],
            "error parsing scrape interval: not a valid duration string: \"1x\"",
        ),
        (
            "path in address",
            &[("__address__", "a:1/x")],
            "\"a:1/x\" is not a valid hostname",
        ),
    ];
    for (name, lset, want) in cases {
        assert_eq!(
            populate_labels(pairs(lset), &cfg),
            Err((*want).to_owned()),
            "{name}"
        );
    }
}

#[test]
fn default_ports() {
    let cases = [
        ("h", true, false),
        ("h:1", false, true),
        ("[::1]:9", false, true),
        ("[::1]", true, false),
        ("::1", false, false),
    ];
    for (addr, needs, has) in cases {
        assert_eq!(has_port(addr), has, "{addr}");
        let _ = needs;
    }
}

#[test]
fn offsets_are_stable_and_in_range() {
    let iv = Duration::from_secs(10);
    let iv_ns = 10_000_000_000u128;
    for hash in [0u64, 1, 12345, u64::MAX] {
        for now in [0u128, 1, 9_999_999_999, 123_456_789_012_345] {
            let o = offset_ns(hash, iv, 42, now).as_nanos();
            assert!(o > 0 && o <= iv_ns, "offset {o} for hash {hash} now {now}");
            // Stable phase: now + offset lands on the same point of the interval.
            let phase = (now + o) % iv_ns;
            let later = offset_ns(hash, iv, 42, now + 3_333_333_333).as_nanos();
            assert_eq!((now + 3_333_333_333 + later) % iv_ns, phase);
        }
    }
    // Different targets get different phases.
    let a = offset_ns(1, iv, 0, 0);
    let b = offset_ns(2, iv, 0, 0);
    assert_ne!(a, b);
}

#[test]
fn report_labels_ignore_honor() {
    let target = labels(&[("instance", "i"), ("job", "j")]);
    assert_eq!(
        report_labels("up", &target),
        labels(&[("__name__", "up"), ("instance", "i"), ("job", "j")])
    );
}

#[test]
fn metric_relabeling_sees_exposed_empty_labels_as_absent() {
    // Prometheus hands relabeling the label set after `labels.Builder`: no empty values, and
    // under honor_labels no target `instance` where the source exposed `instance=""`.
    let cfg = job(concat!(
        "scrape_configs:\n- job_name: j\n  honor_labels: true\n  static_configs:\n",
        "  - targets: ['t:1']\n  metric_relabel_configs:\n",
        "  - {source_labels: [instance], regex: '(.*)', target_label: instance, replacement: 'x${1}'}\n",
        "  - {source_labels: [zone], regex: '', action: keep}\n",
    ));
    let target = labels(&[("instance", "t:1"), ("job", "j")]);
    type Pairs = &'static [(&'static str, &'static str)];
    let cases: &[(Pairs, Option<Pairs>)] = &[
        (
            &[("__name__", "m"), ("instance", ""), ("zone", "")],
            Some(&[("__name__", "m"), ("instance", "x"), ("job", "j")]),
        ),
        (
            &[("__name__", "m"), ("zone", "")],
            Some(&[("__name__", "m"), ("instance", "xt:1"), ("job", "j")]),
        ),
        (&[("__name__", "m"), ("zone", "eu")], None),
    ];
    for (exposed, want) in cases {
        let got = sample_labels(exposed, &target, true, &cfg.metric_relabel_configs);
        assert_eq!(got, want.map(labels), "{exposed:?}");
    }
}
