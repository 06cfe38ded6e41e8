//! Head tests: append rules, select semantics and order, latest edges, a model-based check.

use std::collections::BTreeMap;

use super::*;
use crate::error::AppendError;
use crate::matcher::MatchOp;
use crate::testutil::{NodeSetSpec, must_labels};
use crate::{STALE_NAN_BITS, is_stale_nan};

fn head() -> (tempfile::TempDir, Head) {
    let dir = tempfile::tempdir().unwrap();
    let opts = HeadOptions {
        shards: 4,
        ..HeadOptions::default()
    };
    let h = Head::open(&dir.path().join("head"), opts).unwrap();
    (dir, h)
}

fn m(name: &str, op: &str, value: &str) -> Matcher {
    let op = match op {
        "=" => MatchOp::Equal,
        "!=" => MatchOp::NotEqual,
        "=~" => MatchOp::Regex,
        "!~" => MatchOp::NotRegex,
        _ => panic!("bad op {op}"),
    };
    Matcher::new(op, name, value).unwrap()
}

/// Renders selection + latest as `labels t v` lines.
struct Collect(Vec<String>);

impl LatestSink for Collect {
    fn sample(&mut self, labels: &dyn LabelsRef, t_ms: i64, v: f64) -> bool {
        let mut s = String::new();
        labels.for_each(&mut |n, v| s.push_str(&format!("{n}={v},")));
        assert_eq!(
            labels.metric_name(),
            s.split(',')
                .find_map(|p| p.strip_prefix("__name__="))
                .unwrap_or("")
        );
        self.0.push(format!("{s} {t_ms} {v}"));
        true
    }
}

fn render(h: &Head, sel: &Selection, mint: i64, maxt: i64) -> Vec<String> {
    let mut c = Collect(Vec::new());
    assert!(h.latest(&sel.refs, mint, maxt, &mut c));
    c.0
}

fn names_of(h: &Head, sel: &Selection) -> Vec<String> {
    sel.refs
        .iter()
        .map(|&r| {
            let l = h.series_labels(r).unwrap();
            l.iter()
                .map(|l| format!("{}={}", l.name, l.value))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn append_rules() {
    let stale = f64::from_bits(STALE_NAN_BITS);
    let nan2 = f64::from_bits(0x7ff8_0000_0000_0001);
    // (batches of (t, v)) -> stats per batch, then the stored samples.
    type Case = (
        &'static str,
        Vec<Vec<(i64, f64)>>,
        Vec<(u64, u64, u64)>,
        Vec<(i64, u64)>,
    );
    let cases: Vec<Case> = vec![
        (
            "in order",
            vec![vec![(1, 1.0), (2, 2.0)]],
            vec![(2, 0, 0)],
            vec![(1, 1f64.to_bits()), (2, 2f64.to_bits())],
        ),
        (
            "ooo in later batch",
            vec![vec![(10, 1.0)], vec![(5, 2.0)]],
            vec![(1, 0, 0), (0, 1, 0)],
            vec![(10, 1f64.to_bits())],
        ),
        (
            "ooo within batch",
            vec![vec![(10, 1.0), (5, 2.0), (11, 3.0)]],
            vec![(2, 1, 0)],
            vec![(10, 1f64.to_bits()), (11, 3f64.to_bits())],
        ),
        (
            "duplicate",
            vec![vec![(10, 1.0)], vec![(10, 2.0)]],
            vec![(1, 0, 0), (0, 0, 1)],
            vec![(10, 1f64.to_bits())],
        ),
        (
            "identical is silent",
            vec![vec![(10, 1.0)], vec![(10, 1.0)]],
            vec![(1, 0, 0), (0, 0, 0)],
            vec![(10, 1f64.to_bits())],
        ),
        (
            "-0 vs 0 is a duplicate",
            vec![vec![(10, 0.0), (10, -0.0)]],
            vec![(1, 0, 1)],
            vec![(10, 0f64.to_bits())],
        ),
        (
            "stale stored",
            vec![vec![(10, 1.0), (20, stale)]],
            vec![(2, 0, 0)],
            vec![(10, 1f64.to_bits()), (20, STALE_NAN_BITS)],
        ),
        (
            "stale vs NaN by bits",
            vec![vec![(10, stale)], vec![(10, nan2)]],
            vec![(1, 0, 0), (0, 0, 1)],
            vec![(10, STALE_NAN_BITS)],
        ),
        (
            "identical stale",
            vec![vec![(10, stale), (10, stale)]],
            vec![(1, 0, 0)],
            vec![(10, STALE_NAN_BITS)],
        ),
    ];
    for (name, batches, want_stats, want_samples) in cases {
        let (_d, h) = head();
        let lset = must_labels(&[("__name__", "m"), ("job", "j")]);
        let mut r = SeriesRef(u32::MAX);
        for (i, batch) in batches.iter().enumerate() {
            let mut app = h.appender();
            for &(t, v) in batch {
                r = app.append(&lset, t, v).unwrap();
            }
            let st = app.commit().unwrap();
            let want = want_stats[i];
            assert_eq!(
                (st.appended, st.out_of_order, st.duplicate),
                want,
                "{name}: batch {i}"
            );
            assert_eq!(
                st.series_created,
                u64::from(i == 0),
                "{name}: batch {i} created"
            );
        }
        let mut got = Vec::new();
        h.samples(r, i64::MIN, i64::MAX, &mut got);
        let got: Vec<(i64, u64)> = got.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want_samples, "{name}: stored samples");
        assert_eq!(h.num_series(), 1, "{name}");
    }
}

#[test]
fn append_ref_new_series_and_errors() {
    let (_d, h) = head();
    let mut app = h.appender();
    let a = app
        .append(&must_labels(&[("__name__", "a")]), 1, 1.0)
        .unwrap();
    let a2 = app
        .append(&must_labels(&[("__name__", "a")]), 2, 2.0)
        .unwrap();
    assert_eq!(a, a2, "same labels, same ref within a batch");
    app.append_ref(a, 3, 3.0).unwrap();
    assert!(matches!(
        app.append_ref(SeriesRef(9999), 1, 1.0),
        Err(AppendError::UnknownRef(9999))
    ));
    let st = app.commit().unwrap();
    assert_eq!((st.appended, st.series_created), (3, 1));
    assert_eq!(h.num_samples(), 3);
    let mut app = h.appender();
    app.append_ref(a, 4, 4.0).unwrap();
    assert_eq!(app.commit().unwrap().appended, 1);
    let invalid = [
        (
            vec![("__name__", "a"), ("b", "1"), ("b", "2")],
            r#"label name "b" is not unique: invalid sample"#,
        ),
        (vec![("__name__", "0a")], r#"invalid metric name "0a""#),
        (
            vec![("__name__", "a"), ("x-y", "1")],
            r#"invalid label name "x-y""#,
        ),
    ];
    let mut app = h.appender();
    for (pairs, want) in invalid {
        match app.append(&must_labels(&pairs), 1, 1.0) {
            Err(AppendError::InvalidLabels(msg)) => assert!(msg.contains(want), "{msg}"),
            other => panic!("{pairs:?}: {other:?}"),
        }
    }
    assert_eq!(app.commit().unwrap(), AppendStats::default());
    assert_eq!(h.num_series(), 1);
}

#[test]
fn rollback_leaves_nothing() {
    let (_d, h) = head();
    let mut app = h.appender();
    let r = app
        .append(&must_labels(&[("__name__", "a"), ("x", "1")]), 1, 1.0)
        .unwrap();
    app.rollback();
    assert_eq!(h.num_series(), 0);
    assert_eq!(h.num_samples(), 0);
    assert!(h.label_names().is_empty());
    assert!(h.select(&[vec![m("__name__", "=", "a")]]).refs.is_empty());
    let mut got = Vec::new();
    h.samples(r, i64::MIN, i64::MAX, &mut got);
    assert!(got.is_empty());
    // The same series later, through its labels or through the old ref, becomes visible.
    let mut app = h.appender();
    app.append_ref(r, 5, 5.0).unwrap();
    let st = app.commit().unwrap();
    assert_eq!((st.appended, st.series_created), (1, 1));
    assert_eq!(h.select(&[vec![m("__name__", "=", "a")]]).refs, vec![r]);
}

/// The series used by the select tests (ref order = insertion order here).
fn select_fixture() -> (tempfile::TempDir, Head) {
    let (d, h) = head();
    let series: &[&[(&str, &str)]] = &[
        &[
            ("__name__", "test_metric1"),
            ("foo", "bar"),
            ("instance", "i"),
        ],
        &[
            ("__name__", "test_metric1"),
            ("foo", "boo"),
            ("instance", "i"),
        ],
        &[
            ("__name__", "test_metric2"),
            ("foo", "boo"),
            ("instance", "i"),
        ],
        &[("__name__", "test_metric_without_labels")],
        &[("__name__", "test_metric_old")],
        &[("__name__", "a:b"), ("Zed", "1"), ("job", "x")],
        &[("__name__", "a:b"), ("Abc", "2"), ("job", "x")],
        &[("__name__", "a:b"), ("job", "y")],
        &[("__name__", "B_upper"), ("job", "x")],
        &[("job", "nameless")],
    ];
    let mut app = h.appender();
    for s in series {
        app.append(&must_labels(s), 100, 1.0).unwrap();
    }
    app.commit().unwrap();
    (d, h)
}

#[test]
fn select_semantics() {
    let (_d, h) = select_fixture();
    // (name, sets, expected series in order)
    type Case = (&'static str, Vec<Vec<Matcher>>, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        ("no sets", vec![], vec![]),
        ("{} selects nothing", vec![vec![]], vec![]),
        (
            "{} in a union",
            vec![vec![], vec![m("__name__", "=", "test_metric2")]],
            vec!["__name__=test_metric2,foo=boo,instance=i"],
        ),
        (
            "eq",
            vec![vec![m("__name__", "=", "test_metric1")]],
            vec![
                "__name__=test_metric1,foo=bar,instance=i",
                "__name__=test_metric1,foo=boo,instance=i",
            ],
        ),
        (
            "eq unknown value",
            vec![vec![m("__name__", "=", "nope")]],
            vec![],
        ),
        ("eq unknown name", vec![vec![m("nope", "=", "x")]], vec![]),
        (
            "foo=boo across names",
            vec![vec![m("foo", "=", "boo")]],
            vec![
                "__name__=test_metric1,foo=boo,instance=i",
                "__name__=test_metric2,foo=boo,instance=i",
            ],
        ),
        (
            "neq matches series lacking the label",
            vec![vec![m("foo", "!=", "boo"), m("instance", "!=", "zzz")]],
            vec![
                "__name__=B_upper,job=x",
                "Abc=2,__name__=a:b,job=x",
                "Zed=1,__name__=a:b,job=x",
                "__name__=a:b,job=y",
                "__name__=test_metric1,foo=bar,instance=i",
                "__name__=test_metric_old",
                "__name__=test_metric_without_labels",
            ],
        ),
        (
            "foo='' = lacking foo",
            vec![vec![m("foo", "=", ""), m("job", "=", "x")]],
            vec![
                "__name__=B_upper,job=x",
                "Abc=2,__name__=a:b,job=x",
                "Zed=1,__name__=a:b,job=x",
            ],
        ),
        (
            "bar='' on unknown label = everything with job=y",
            vec![vec![m("bar", "=", ""), m("job", "=", "y")]],
            vec!["__name__=a:b,job=y"],
        ),
        (
            "foo!='' = has foo",
            vec![vec![m("foo", "!=", ""), m("foo", "!=", "bar")]],
            vec![
                "__name__=test_metric1,foo=boo,instance=i",
                "__name__=test_metric2,foo=boo,instance=i",
            ],
        ),
        (
            "overlapping union, no duplicates",
            vec![
                vec![m("__name__", "=", "test_metric1")],
                vec![m("foo", "=", "bar")],
                vec![m("foo", "=", "bar")],
            ],
            vec![
                "__name__=test_metric1,foo=bar,instance=i",
                "__name__=test_metric1,foo=boo,instance=i",
            ],
        ),
        (
            "contradiction",
            vec![vec![m("job", "=", "x"), m("job", "=", "y")]],
            vec![],
        ),
        (
            "regex all names",
            vec![vec![m("__name__", "=~", ".+")]],
            vec![
                "__name__=B_upper,job=x",
                "Abc=2,__name__=a:b,job=x",
                "Zed=1,__name__=a:b,job=x",
                "__name__=a:b,job=y",
                "__name__=test_metric1,foo=bar,instance=i",
                "__name__=test_metric1,foo=boo,instance=i",
                "__name__=test_metric2,foo=boo,instance=i",
                "__name__=test_metric_old",
                "__name__=test_metric_without_labels",
            ],
        ),
        (
            "regex alternation",
            vec![vec![m("__name__", "=~", "test_metric2|B_upper")]],
            vec![
                "__name__=B_upper,job=x",
                "__name__=test_metric2,foo=boo,instance=i",
            ],
        ),
        (
            "regex matching empty",
            vec![vec![m("foo", "=~", "bar|"), m("__name__", "=~", "test.*")]],
            vec![
                "__name__=test_metric1,foo=bar,instance=i",
                "__name__=test_metric_old",
                "__name__=test_metric_without_labels",
            ],
        ),
        (
            "not regex",
            vec![vec![
                m("job", "!~", "x|nameless"),
                m("__name__", "!~", "test.*"),
            ]],
            vec!["__name__=a:b,job=y"],
        ),
        (
            "a!~'.*' selects nothing",
            vec![vec![m("job", "!~", ".*")]],
            vec![],
        ),
        (
            "a=~'.*' alone",
            vec![vec![
                m("job", "=~", ".*"),
                m("__name__", "=", "test_metric_old"),
            ]],
            vec!["__name__=test_metric_old"],
        ),
    ];
    for (name, sets, want) in cases {
        let sel = h.select(&sets);
        assert_eq!(names_of(&h, &sel), want, "case {name}");
    }
}

#[test]
fn latest_lookback_edges() {
    let (_d, h) = head();
    let l = |s: &str| must_labels(&[("__name__", s)]);
    let stale = f64::from_bits(STALE_NAN_BITS);
    let mut app = h.appender();
    for t in [100, 200, 300] {
        app.append(&l("regular"), t, t as f64).unwrap();
        app.append(&l("ends_stale"), t, if t == 300 { stale } else { 1.0 })
            .unwrap();
        app.append(&l("nan"), t, f64::NAN).unwrap();
    }
    app.commit().unwrap();
    let sel = h.select(&[
        vec![m("__name__", "=", "regular")],
        vec![m("__name__", "=", "ends_stale")],
        vec![m("__name__", "=", "nan")],
    ]);
    let cases = [
        (
            "maxt == t included",
            250,
            300,
            vec!["__name__=nan, 300 NaN", "__name__=regular, 300 300"],
        ),
        (
            "mint == t included",
            300,
            400,
            vec!["__name__=nan, 300 NaN", "__name__=regular, 300 300"],
        ),
        ("too old", 301, 400, vec![]),
        (
            "falls back to chunks",
            0,
            250,
            vec![
                "__name__=ends_stale, 200 1",
                "__name__=nan, 200 NaN",
                "__name__=regular, 200 200",
            ],
        ),
        (
            "fallback exact",
            200,
            200,
            vec![
                "__name__=ends_stale, 200 1",
                "__name__=nan, 200 NaN",
                "__name__=regular, 200 200",
            ],
        ),
        ("fallback out of window", 150, 199, vec![]),
        (
            "fallback finds first",
            100,
            150,
            vec![
                "__name__=ends_stale, 100 1",
                "__name__=nan, 100 NaN",
                "__name__=regular, 100 100",
            ],
        ),
        ("before everything", 0, 99, vec![]),
    ];
    for (name, mint, maxt, want) in cases {
        assert_eq!(render(&h, &sel, mint, maxt), want, "case {name}");
    }
    // A sink can stop the walk.
    struct StopAfterOne(usize);
    impl LatestSink for StopAfterOne {
        fn sample(&mut self, _: &dyn LabelsRef, _: i64, _: f64) -> bool {
            self.0 += 1;
            false
        }
    }
    let mut s = StopAfterOne(0);
    assert!(!h.latest(&sel.refs, 0, 1000, &mut s));
    assert_eq!(s.0, 1);
}

#[test]
fn order_with_uppercase_and_colons() {
    let (_d, h) = head();
    // Inserted in scrambled order and over several commits (exercises merge and insertion).
    let series: Vec<Vec<(&str, &str)>> = vec![
        vec![("__name__", "m"), ("b", "2")],
        vec![("__name__", "m"), ("Z", "1")],
        vec![("__name__", "m:x"), ("a", "1")],
        vec![("__name__", "m"), ("a", "9")],
        vec![("__name__", "M"), ("a", "1")],
        vec![("__name__", "m"), ("a", "10")],
        vec![("__name__", "m"), ("a", "1"), ("b", "1")],
        vec![("__name__", "m"), ("a", "1")],
        vec![("__name__", "m_"), ("a", "1")],
        vec![("__name__", "m"), ("A", "1"), ("a", "1")],
    ];
    for chunk in series.chunks(3) {
        let mut app = h.appender();
        for s in chunk {
            app.append(&must_labels(s), 1, 1.0).unwrap();
        }
        app.commit().unwrap();
    }
    let sel = h.select(&[vec![m("a", "!=", "zzz")]]);
    assert_eq!(
        names_of(&h, &sel),
        [
            "__name__=M,a=1",
            "A=1,__name__=m,a=1",
            "Z=1,__name__=m",
            "__name__=m,a=1",
            "__name__=m,a=1,b=1",
            "__name__=m,a=10",
            "__name__=m,a=9",
            "__name__=m,b=2",
            "__name__=m:x,a=1",
            "__name__=m_,a=1",
        ]
    );
    assert_eq!(h.label_names(), ["A", "Z", "__name__", "a", "b"]);
    assert_eq!(h.label_values("a"), ["1", "10", "9"]);
    assert!(h.label_values("nope").is_empty());
}

#[test]
fn concurrent_appenders() {
    let (_d, h) = head();
    let spec = NodeSetSpec::small();
    let all = spec.labels();
    std::thread::scope(|s| {
        for part in 0..4 {
            let (h, all) = (&h, &all);
            s.spawn(move || {
                // Every thread appends every series (same samples): one wins creation.
                for chunk in all.chunks(50) {
                    let mut app = h.appender();
                    for l in chunk {
                        app.append(l, 1000 + part, 1.0).unwrap();
                    }
                    app.commit().unwrap();
                }
            });
        }
    });
    assert_eq!(h.num_series(), spec.total());
    let sel = h.select(&[vec![m("job", "=", "node")]]);
    assert_eq!(sel.refs.len(), spec.total());
    let rendered = render(&h, &sel, 0, 2000);
    assert_eq!(rendered.len(), spec.total());
}

#[test]
fn order_matches_brute_force_on_node_set() {
    let (_d, h) = head();
    let spec = NodeSetSpec::small();
    // Several commits in scrape order exercise merging into existing name orders.
    spec.load(&h, 1_000, 37);
    let all = spec.labels();
    let inst = NodeSetSpec::instance(3);
    let selectors: Vec<Vec<Vec<Matcher>>> = vec![
        vec![vec![m("__name__", "=~", ".+")]],
        vec![vec![m("instance", "=", &inst)]],
        vec![vec![m("mode", "!=", "idle"), m("__name__", "!~", "job:.*")]],
        vec![
            vec![m("__name__", "=~", "job:.*")],
            vec![m("instance", "=", &inst)],
        ],
        vec![vec![m("device", "=", "nvme0n1"), m("env", "=", "staging")]],
        vec![vec![
            m("__name__", "=", &NodeSetSpec::metric(2)),
            m("instance", "=~", ".*1:9100"),
        ]],
    ];
    for sets in selectors {
        let mut want: Vec<&Labels> = all
            .iter()
            .filter(|l| {
                sets.iter()
                    .any(|set| set.iter().all(|mm| mm.matches(l.get(&mm.name))))
            })
            .collect();
        want.sort_by(|a, b| {
            a.get("__name__").cmp(b.get("__name__")).then_with(|| {
                let pa = a.iter().map(|l| (&l.name, &l.value));
                let pb = b.iter().map(|l| (&l.name, &l.value));
                pa.cmp(pb)
            })
        });
        let got: Vec<Labels> = h
            .select(&sets)
            .refs
            .iter()
            .map(|&r| h.series_labels(r).unwrap())
            .collect();
        let want: Vec<Labels> = want.into_iter().cloned().collect();
        assert_eq!(got.len(), want.len(), "{sets:?}");
        assert!(got == want, "{sets:?}: order differs");
    }
}

#[test]
fn latest_falls_back_across_sealed_chunks_and_runs_in_parallel() {
    let (_d, h) = head();
    let mut app = h.appender();
    let mut refs = Vec::new();
    for s in 0..50 {
        let l = must_labels(&[("__name__", "m"), ("s", &format!("{s:02}"))]);
        for t in 0..300 {
            refs.push(app.append(&l, t * 10, (s * 1000 + t) as f64).unwrap());
        }
    }
    app.commit().unwrap();
    let sel = h.select(&[vec![m("__name__", "=", "m")]]);
    assert_eq!(sel.refs.len(), 50);
    let cases = [(0, 2990, 299), (0, 1234, 123), (0, 5, 0), (1000, 1005, 100)];
    for (mint, maxt, want_t) in cases {
        let got = render(&h, &sel, mint, maxt);
        assert_eq!(got.len(), 50, "[{mint}, {maxt}]");
        assert!(
            got[7].ends_with(&format!(" {} {}", want_t * 10, 7 * 1000 + want_t)),
            "{}",
            got[7]
        );
        let mut out = Vec::new();
        h.samples(sel.refs[7], mint, maxt, &mut out);
        assert_eq!(
            out.len() as i64,
            want_t - mint / 10 + 1,
            "samples [{mint}, {maxt}]"
        );
    }
    // Two threads render halves of one selection while a third appends.
    let (a, b) = sel.refs.split_at(25);
    let (ra, rb) = std::thread::scope(|s| {
        let w = s.spawn(|| {
            for t in 300..400 {
                let mut app = h.appender();
                for &r in &sel.refs {
                    app.append_ref(r, t * 10, 1.0).unwrap();
                }
                app.commit().unwrap();
            }
        });
        let ha = s.spawn(|| render(&h, &Selection { refs: a.to_vec() }, 0, 2990));
        let hb = s.spawn(|| render(&h, &Selection { refs: b.to_vec() }, 0, 2990));
        w.join().unwrap();
        (ha.join().unwrap(), hb.join().unwrap())
    });
    assert_eq!(ra.len() + rb.len(), 50);
    assert!(ra.iter().chain(&rb).all(|l| l.contains(" 2990 ")));
}

/// A tiny deterministic PRNG (xorshift64*), so the model test needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A label set in the model: (name, value) pairs in name order.
type Key = Vec<(String, String)>;

#[test]
fn model_based_select_and_latest() {
    let names = ["a", "b", "B", "a:x", "ab"];
    let label_names = ["Up", "__name__", "foo", "job", "zz"];
    let values = ["", "1", "10", "2", "x", "X"];
    for seed in 1..=12u64 {
        let (_d, h) = head();
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // Model: labels -> samples (t, bits) accepted by the rules.
        let mut model: BTreeMap<Key, Vec<(i64, u64)>> = BTreeMap::new();
        for _batch in 0..20 {
            let mut app = h.appender();
            let mut pending: Vec<(Key, i64, f64)> = Vec::new();
            for _ in 0..rng.below(40) {
                let mut pairs = vec![(
                    "__name__".to_owned(),
                    names[rng.below(names.len())].to_owned(),
                )];
                for ln in label_names.iter().filter(|n| **n != "__name__") {
                    let v = values[rng.below(values.len())];
                    if !v.is_empty() {
                        pairs.push((ln.to_string(), v.to_owned()));
                    }
                }
                let lset = Labels::from_pairs(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())));
                let key: Vec<(String, String)> = lset
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect();
                let t = rng.below(50) as i64 * 10;
                let v = match rng.below(10) {
                    0 => f64::from_bits(STALE_NAN_BITS),
                    1 => 1.0,
                    _ => rng.below(3) as f64,
                };
                app.append(&lset, t, v).unwrap();
                pending.push((key, t, v));
            }
            if rng.below(5) == 0 {
                app.rollback();
                continue;
            }
            app.commit().unwrap();
            for (key, t, v) in pending {
                let s = model.entry(key).or_default();
                match s.last() {
                    Some(&(lt, _)) if t <= lt => {}
                    _ => s.push((t, v.to_bits())),
                }
            }
        }
        assert_eq!(h.num_series(), model.len(), "seed {seed}");
        let ops = ["=", "!=", "=~", "!~"];
        for _q in 0..30 {
            let mut sets = Vec::new();
            for _ in 0..1 + rng.below(2) {
                let mut set = Vec::new();
                for _ in 0..1 + rng.below(3) {
                    let op = ops[rng.below(4)];
                    let val = if op.ends_with('~') {
                        ["1.*", "x|X", ".*", "a|", "1|10", ".+"][rng.below(6)].to_owned()
                    } else {
                        values[rng.below(values.len())].to_owned()
                    };
                    let name = label_names[rng.below(label_names.len())];
                    set.push(m(name, op, &val));
                }
                sets.push(set);
            }
            let (mint, maxt) = (rng.below(500) as i64, rng.below(500) as i64 + 10);
            let mut want = Vec::new();
            for (key, samples) in &model {
                let name = key
                    .iter()
                    .find(|(n, _)| n == "__name__")
                    .map_or("", |(_, v)| v);
                let get = |ln: &str| {
                    key.iter()
                        .find(|(n, _)| n == ln)
                        .map_or("", |(_, v)| v.as_str())
                };
                let selected = sets
                    .iter()
                    .any(|set| !set.is_empty() && set.iter().all(|mm| mm.matches(get(&mm.name))));
                if !selected || name.is_empty() {
                    continue;
                }
                let Some(&(t, bits)) = samples.iter().rev().find(|(t, _)| *t <= maxt) else {
                    continue;
                };
                if t < mint || is_stale_nan(f64::from_bits(bits)) {
                    continue;
                }
                let ls: String = key.iter().map(|(n, v)| format!("{n}={v},")).collect();
                want.push((name.to_owned(), ls, t, f64::from_bits(bits)));
            }
            // Name groups in byte order, then label order: the BTreeMap's key order is the
            // label-set order, so a stable sort by name yields federation order.
            want.sort_by(|a, b| a.0.cmp(&b.0));
            let want: Vec<String> = want
                .into_iter()
                .map(|(_, ls, t, v)| format!("{ls} {t} {v}"))
                .collect();
            let sel = h.select(&sets);
            let mut dedup = sel.refs.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(dedup.len(), sel.refs.len(), "seed {seed}: duplicates");
            assert_eq!(
                render(&h, &sel, mint, maxt),
                want,
                "seed {seed}: {sets:?} [{mint}, {maxt}]"
            );
        }
    }
}

/// Resident set size of this process in bytes (Linux), 0 elsewhere.
/// Small selections (under 1/8 of the head) take the grouping path, and one metric's series
/// its single-name shortcut: all of a name, most of it (filtered walk of its order), a few
/// (rank sort), and several names. Each must come out in federation order.
#[test]
fn small_selections_keep_federation_order() {
    let (_d, h) = head();
    let mut app = h.appender();
    let mut model: BTreeMap<Vec<(String, String)>, ()> = BTreeMap::new();
    // Values inserted in a scrambled order, so insertion order is not label order.
    for k in 0..30u32 {
        let i = (k * 7) % 30;
        for n in 0..40 {
            let pairs = [
                ("__name__", format!("m{n:02}")),
                ("i", i.to_string()),
                ("j", format!("v{}", 29 - i)),
            ];
            let l = Labels::from_pairs(pairs.iter().map(|(a, b)| (*a, b.clone())));
            app.append(&l, 1_000, f64::from(i)).unwrap();
            model.insert(
                pairs
                    .iter()
                    .map(|(a, b)| ((*a).to_owned(), b.clone()))
                    .collect(),
                (),
            );
        }
    }
    app.commit().unwrap();
    let cases: Vec<(Vec<Matcher>, usize)> = vec![
        (vec![m("__name__", "=", "m07")], 30),
        (vec![m("__name__", "=", "m07"), m("i", "!=", "5")], 29),
        (vec![m("__name__", "=", "m07"), m("i", "=~", "3|17|4")], 3),
        (vec![m("i", "=", "4")], 40),
        (
            vec![m("__name__", "=~", "m1.|m03"), m("i", "=~", "2|21")],
            22,
        ),
    ];
    for (set, n) in cases {
        let want: Vec<String> = model
            .keys()
            .filter(|key| {
                set.iter().all(|mm| {
                    mm.matches(
                        key.iter()
                            .find(|(k, _)| *k == mm.name)
                            .map_or("", |(_, v)| v),
                    )
                })
            })
            .map(|key| {
                key.iter()
                    .map(|(a, b)| format!("{a}={b}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        assert_eq!(want.len(), n, "{set:?}");
        let sel = h.select(std::slice::from_ref(&set));
        assert_eq!(names_of(&h, &sel), want, "{set:?}");
    }
}

/// The grouping path orders names by a 16-byte prefix first: names that share it, or where
/// one is a prefix of another, must still come out in byte order.
#[test]
fn small_selections_order_names_sharing_long_prefixes() {
    let (_d, h) = head();
    let names = [
        "node_filesystem_avail_bytes",
        "node_filesystem_avail",
        "node_filesystem_availX",
        "node_filesystem_",
        "node_filesystem_free_bytes",
        "b",
        "a_very_long_metric_name_prefix_10",
        "a_very_long_metric_name_prefix_1",
        "a_very_long_metric_name_prefix_2",
    ];
    let mut app = h.appender();
    for i in 0..40 {
        for name in names {
            let l = Labels::from_pairs([("__name__", name.to_owned()), ("i", i.to_string())]);
            app.append(&l, 1_000, 1.0).unwrap();
        }
    }
    // Filler, so the selections stay under 1/8 of the head.
    for k in 0..1_000 {
        let l = Labels::from_pairs([("__name__", "zz".to_owned()), ("k", k.to_string())]);
        app.append(&l, 1_000, 1.0).unwrap();
    }
    app.commit().unwrap();
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    let cases: [(Vec<Matcher>, Vec<&str>); 2] = [
        (vec![m("i", "=", "3")], vec!["3"]),
        (vec![m("i", "=~", "3|17|4")], vec!["17", "3", "4"]),
    ];
    for (set, values) in cases {
        let want: Vec<String> = sorted
            .iter()
            .flat_map(|n| values.iter().map(move |v| format!("__name__={n},i={v}")))
            .collect();
        let sel = h.select(std::slice::from_ref(&set));
        assert_eq!(names_of(&h, &sel), want, "{set:?}");
    }
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A sink that only counts.
struct Count(usize);

impl LatestSink for Count {
    fn sample(&mut self, labels: &dyn LabelsRef, _t: i64, _v: f64) -> bool {
        self.0 += labels.metric_name().len().min(1);
        true
    }
}

/// CPU time of the calling thread in ns (Linux `/proc/thread-self/schedstat`), so numbers
/// stay meaningful on a busy machine.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn time<T>(what: &str, reps: u32, mut f: impl FnMut() -> T) -> T {
    let mut out = f();
    let mut wall = u128::MAX;
    let c0 = thread_cpu_ns();
    for _ in 0..reps {
        let t0 = std::time::Instant::now();
        out = f();
        wall = wall.min(t0.elapsed().as_nanos());
    }
    let cpu = (thread_cpu_ns() - c0) / u64::from(reps);
    eprintln!(
        "{what:<44} wall {:>8.3} ms (best of {reps}), cpu {:>8.3} ms (mean)",
        wall as f64 / 1e6,
        cpu as f64 / 1e6,
    );
    out
}

/// Engine numbers on the 1M node-exporter-like set. Run in release:
/// `cargo test -p fedstore-storage --release --lib -- --ignored perf_million --nocapture`
#[test]
#[ignore = "slow: measures the engine on 1M series"]
fn perf_million() {
    let spec = NodeSetSpec::million();
    let dir = tempfile::tempdir().unwrap();
    let h = Head::open(&dir.path().join("head"), HeadOptions::default()).unwrap();
    let rss0 = rss_bytes();
    let t0 = std::time::Instant::now();
    let c0 = thread_cpu_ns();
    // Streams the labels (no materialized set), so RSS growth is the head's.
    let (refs, stats) = spec.load(&h, 1_000, 2000);
    let load = t0.elapsed();
    let rss_after = rss_bytes();
    assert_eq!(stats.series_created as usize, spec.total());
    eprintln!(
        "loaded {} series in {:.2} s ({:.2} CPU-s); RSS growth {:.0} B/series ({} MB -> {} MB; refs vec {} MB included); memory_bytes {:.0} B/series",
        h.num_series(),
        load.as_secs_f64(),
        (thread_cpu_ns() - c0) as f64 / 1e9,
        (rss_after.saturating_sub(rss0)) as f64 / h.num_series() as f64,
        rss0 >> 20,
        rss_after >> 20,
        (refs.capacity() * 4) >> 20,
        h.memory_bytes() as f64 / h.num_series() as f64,
    );
    let shapes: Vec<(&str, Vec<Vec<Matcher>>)> = vec![
        (
            "all {__name__=~\".+\"}",
            vec![vec![m("__name__", "=~", ".+")]],
        ),
        ("all {__name__!=\"\"}", vec![vec![m("__name__", "!=", "")]]),
        (
            "one name (10k)",
            vec![vec![m("__name__", "=", &NodeSetSpec::metric(42))]],
        ),
        (
            "one instance (1k)",
            vec![vec![m("instance", "=", &NodeSetSpec::instance(500))]],
        ),
        (
            "{__name__=~\"job:.*\"}",
            vec![vec![m("__name__", "=~", "job:.*")]],
        ),
        (
            "{job=\"node\"} union 2 names",
            vec![
                vec![
                    m("job", "=", "node"),
                    m("__name__", "=", &NodeSetSpec::metric(1)),
                ],
                vec![m("__name__", "=", &NodeSetSpec::metric(2))],
            ],
        ),
    ];
    for (name, sets) in &shapes {
        let sel = time(&format!("select {name}"), 20, || h.select(sets));
        let n = time(&format!("  latest {} refs", sel.refs.len()), 20, || {
            let mut c = Count(0);
            h.latest(&sel.refs, 0, 2_000, &mut c);
            c.0
        });
        assert_eq!(n, sel.refs.len());
        time(&format!("  select+latest {name}"), 20, || {
            let sel = h.select(sets);
            let mut c = Count(0);
            h.latest(&sel.refs, 0, 2_000, &mut c);
            c.0
        });
    }
    // The same walk in memory order shows how much of `latest` is cache misses.
    let mut sorted = h.select(&shapes[0].1).refs;
    sorted.sort_by_key(|r| (r.0 & 7, r.0));
    time("latest all, refs in memory order", 10, || {
        let mut c = Count(0);
        h.latest(&sorted, 0, 2_000, &mut c);
        c.0
    });
    // append_ref throughput, batches of 2000, into existing series.
    let mut t = 2_000i64;
    let batches = 500usize;
    let c0 = thread_cpu_ns();
    for b in 0..batches {
        let mut app = h.appender();
        let start = (b * 2000) % (refs.len() - 2000);
        for &r in &refs[start..start + 2000] {
            app.append_ref(r, t, t as f64).unwrap();
        }
        app.commit().unwrap();
        t += 15_000;
    }
    let cpu_s = (thread_cpu_ns() - c0) as f64 / 1e9;
    eprintln!(
        "append_ref+commit: {:.2} M samples per CPU-second (1 thread, batch 2000)",
        (batches * 2000) as f64 / cpu_s / 1e6
    );
}

#[test]
fn samples_before_min_valid_time_are_out_of_bounds() {
    let (_d, h) = head();
    let l = must_labels(&[("__name__", "m")]);
    let mut app = h.appender();
    app.append(&l, 1_000, 1.0).unwrap();
    assert_eq!(app.commit().unwrap().appended, 1);
    h.set_min_valid_time(5_000);
    h.set_min_valid_time(2_000); // never moves backwards
    assert_eq!(h.min_valid_time(), 5_000);
    let mut app = h.appender();
    app.append(&l, 4_999, 2.0).unwrap();
    app.append(&l, 5_000, 3.0).unwrap();
    let stats = app.commit().unwrap();
    assert_eq!((stats.appended, stats.out_of_bounds), (1, 1));
    // Added to an appender before compaction raised the bound, committed after it: refused at
    // commit too, or it would land in a range already read into a block.
    let mut app = h.appender();
    let r = app.append(&l, 6_000, 4.0).unwrap();
    app.append(&l, 9_000, 5.0).unwrap();
    h.set_min_valid_time(7_000);
    h.wait_for_commits();
    let stats = app.commit().unwrap();
    assert_eq!((stats.appended, stats.out_of_bounds), (1, 1));
    let mut got = Vec::new();
    h.samples(r, 0, i64::MAX, &mut got);
    assert_eq!(got, vec![(1_000, 1.0), (5_000, 3.0), (9_000, 5.0)]);
}

/// RSS per series with 2 h of 15 s samples (480 per series) of two-decimal gauges, appended
/// time-major as scrapes do, on this thread only. Run in release:
/// `cargo test -p fedstore-storage --release --lib -- --ignored head_rss_two_hours --nocapture`
#[test]
#[ignore = "slow: measures RSS with 100k series x 480 samples"]
fn head_rss_two_hours() {
    let n: usize = std::env::var("FEDSTORE_RSS_SERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let h = Head::open(&dir.path().join("head"), HeadOptions::default()).unwrap();
    let rss0 = rss_bytes();
    let mut refs = Vec::with_capacity(n);
    let mut app = h.appender();
    for i in 0..n {
        let labels = Labels::from_pairs([
            ("__name__", format!("metric_{}", i % 100).as_str()),
            ("instance", format!("host-{}:9100", i / 100).as_str()),
            ("job", "node"),
        ]);
        refs.push(app.append(&labels, 0, 0.0).unwrap());
    }
    app.commit().unwrap();
    let rss_index = rss_bytes();
    let mut rss_second = 0;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for k in 1..480i64 {
        if k == 2 {
            // Every series now has a history holding one sample: a node right after loading.
            rss_second = rss_bytes();
            print_breakdown(&h, n);
        }
        let mut app = h.appender();
        for &r in &refs {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            app.append_ref(r, k * 15_000, (x % 100_000) as f64 / 100.0)
                .unwrap();
        }
        app.commit().unwrap();
    }
    let rss1 = rss_bytes();
    let chunks = h.chunk_file_stats();
    eprintln!(
        "{n} series x 480: RSS growth {:.0} B/series (index and first sample {:.0}, second sample {:.0}); memory_bytes {:.0} B/series; chunk files {} ({} MB written, {} chunks)",
        (rss1.saturating_sub(rss0)) as f64 / n as f64,
        (rss_index.saturating_sub(rss0)) as f64 / n as f64,
        (rss_second.saturating_sub(rss0)) as f64 / n as f64,
        h.memory_bytes() as f64 / n as f64,
        chunks.files,
        chunks.bytes_written >> 20,
        chunks.chunks_written,
    );
    print_breakdown(&h, n);
    let mut out = Vec::new();
    h.samples(refs[n / 2], 0, i64::MAX, &mut out);
    assert_eq!(out.len(), 480);
}

/// Prints the head's bytes per series by structure (the memory section of docs/benchmarks.md).
fn print_breakdown(h: &Head, n: usize) {
    let mut sums: Vec<(&str, usize)> = Vec::new();
    for s in h.shards.iter() {
        for (k, (what, b)) in s.read().breakdown().into_iter().enumerate() {
            match sums.get_mut(k) {
                Some(e) => e.1 += b,
                None => sums.push((what, b)),
            }
        }
    }
    sums.push((
        "postings and per-name order",
        h.postings.read().heap_bytes(),
    ));
    sums.push(("symbol table", h.symbols.read().heap_bytes()));
    for (what, b) in sums {
        eprintln!("  {what:<36} {:>7.1} B/series", b as f64 / n as f64);
    }
}

/// A label set and its sample times.
type GcSeries = (&'static [(&'static str, &'static str)], &'static [i64]);

/// Series of the garbage-collection tests: label set and sample times (value = t / 100).
const GC_SERIES: &[GcSeries] = &[
    (
        &[("__name__", "up"), ("i", "0"), ("job", "a")],
        &[100, 200, 300, 400, 500, 600, 700, 800, 900, 1000],
    ),
    (
        &[("__name__", "up"), ("i", "1"), ("job", "a")],
        &[100, 200, 300, 400, 500],
    ),
    (
        &[("__name__", "up"), ("i", "2"), ("job", "b"), ("only", "b2")],
        &[100, 200],
    ),
    (
        &[("__name__", "req_total"), ("job", "a")],
        &[100, 300, 500, 800],
    ),
    (&[("Zed", "1"), ("__name__", "a:b"), ("job", "x")], &[300]),
    (&[("__name__", "B_upper"), ("job", "x")], &[1000]),
    (&[("job", "nameless")], &[400]),
    // Its latest sample is a stale marker (set below).
    (&[("__name__", "up"), ("i", "3"), ("job", "a")], &[500, 600]),
];

/// Loads `GC_SERIES[i]` for each `i` of `which` (in that order); returns their refs.
fn gc_load(h: &Head, which: &[usize]) -> Vec<SeriesRef> {
    let mut refs = Vec::new();
    let mut app = h.appender();
    for &i in which {
        let (labels, times) = GC_SERIES[i];
        let l = must_labels(labels);
        for &t in times {
            let v = if i == 7 && t == 600 {
                f64::from_bits(STALE_NAN_BITS)
            } else {
                t as f64 / 100.0
            };
            let r = app.append(&l, t, v).unwrap();
            if t == times[0] {
                refs.push(r);
            }
        }
    }
    app.commit().unwrap();
    refs
}

/// Everything a reader can see of a head: selections (series and latest samples, in
/// order), label names and every name's values.
fn gc_view(h: &Head) -> Vec<String> {
    let shapes: Vec<Vec<Vec<Matcher>>> = vec![
        vec![vec![m("__name__", "=~", ".+")]],
        vec![vec![m("__name__", "!=", "")]],
        vec![vec![m("__name__", "=", "up")]],
        vec![vec![m("job", "=", "a")]],
        vec![vec![m("job", "!=", "a")]],
        vec![vec![m("i", "=~", "[0-3]")]],
        vec![vec![m("only", "=", "b2")]],
        vec![vec![m("Zed", "=~", ".+")]],
        vec![vec![m("job", "=", "nameless")]],
        vec![vec![m("job", "=~", ".*")]],
        vec![vec![m("__name__", "!~", "up|req_total")]],
        vec![vec![m("i", "=", "1")], vec![m("job", "=", "x")]],
        vec![vec![m("__name__", "=", "up"), m("i", "!=", "0")]],
    ];
    let mut out = Vec::new();
    for sets in &shapes {
        let sel = h.select(sets);
        out.push(format!("{sets:?}: {:?}", names_of(h, &sel)));
        out.push(format!("{sets:?}: {:?}", render(h, &sel, 0, 2000)));
    }
    out.push(format!("names {:?}", h.label_names()));
    for n in ["__name__", "i", "job", "only", "Zed", "nope"] {
        out.push(format!("{n}: {:?}", h.label_values(n)));
    }
    out.push(format!("num_series {}", h.num_series()));
    out
}

#[test]
fn gc_removes_exactly_the_series_older_than_the_bound() {
    // (before, indices of GC_SERIES removed)
    let cases: [(i64, &[usize]); 7] = [
        (i64::MIN, &[]),
        (100, &[]),
        (201, &[2]),
        (301, &[2, 4]),
        (501, &[1, 2, 4, 6]),
        (601, &[1, 2, 4, 6, 7]),
        (1001, &[0, 1, 2, 3, 4, 5, 6, 7]),
    ];
    let all: Vec<usize> = (0..GC_SERIES.len()).collect();
    for (before, removed) in cases {
        let (_d, h) = head();
        let refs = gc_load(&h, &all);
        // A series created by a rolled-back batch has no sample: gc leaves it alone.
        let mut app = h.appender();
        let ghost = app
            .append(&must_labels(&[("__name__", "ghost")]), 50, 1.0)
            .unwrap();
        app.rollback();
        let mem0 = h.memory_bytes();
        let stats = h.gc(before);
        assert_eq!(
            stats.series_removed,
            removed.len() as u64,
            "before {before}"
        );
        assert_eq!(stats.series_revived, 0);
        assert_eq!(h.series_removed_total(), removed.len() as u64);
        // The oracle: a fresh head holding only the kept series, loaded in reverse order
        // (other refs, same answers).
        let kept: Vec<usize> = all
            .iter()
            .rev()
            .copied()
            .filter(|i| !removed.contains(i))
            .collect();
        let (_d2, want) = head();
        gc_load(&want, &kept);
        assert_eq!(gc_view(&h), gc_view(&want), "before {before}");
        for (i, &r) in refs.iter().enumerate() {
            let mut samples = Vec::new();
            h.samples(r, i64::MIN, i64::MAX, &mut samples);
            let labels = h.series_labels(r).expect("labels stay");
            assert_eq!(labels, must_labels(GC_SERIES[i].0));
            if removed.contains(&i) {
                assert!(
                    samples.is_empty(),
                    "before {before}: series {i} {samples:?}"
                );
            } else {
                assert_eq!(samples.len(), GC_SERIES[i].1.len(), "before {before}: {i}");
            }
        }
        assert!(h.series_labels(ghost).is_some());
        if removed.is_empty() {
            assert_eq!(h.memory_bytes(), mem0, "before {before}");
        } else {
            assert!(h.memory_bytes() < mem0, "before {before}");
        }
        // Collecting again finds nothing more.
        assert_eq!(h.gc(before).series_removed, 0);
    }
}

#[test]
fn gc_removed_series_revive_with_the_same_ref() {
    let (_d, h) = head();
    let refs = gc_load(&h, &[0, 1, 3]);
    assert_eq!(h.gc(2_000).series_removed, 3);
    assert_eq!(h.num_series(), 0);
    // Revived by ref (a scrape cache) with two samples in one batch, and by labels.
    let mut app = h.appender();
    app.append_ref(refs[0], 3_000, 30.0).unwrap();
    app.append_ref(refs[0], 3_100, 31.0).unwrap();
    let by_labels = app
        .append(&must_labels(GC_SERIES[1].0), 3_000, 7.0)
        .unwrap();
    assert_eq!(by_labels, refs[1], "the hash entry is kept");
    let stats = app.commit().unwrap();
    assert_eq!((stats.appended, stats.series_created), (3, 2));
    assert_eq!(h.num_series(), 2);
    let sel = h.select(&[vec![m("__name__", "=~", ".+")]]);
    assert_eq!(sel.refs, vec![refs[0], refs[1]]);
    assert_eq!(
        render(&h, &sel, 0, 5_000),
        vec![
            "__name__=up,i=0,job=a, 3100 31",
            "__name__=up,i=1,job=a, 3000 7"
        ]
    );
    let mut samples = Vec::new();
    h.samples(refs[0], i64::MIN, i64::MAX, &mut samples);
    assert_eq!(
        samples,
        vec![(3_000, 30.0), (3_100, 31.0)],
        "old history freed"
    );
    assert_eq!(h.label_values("job"), ["a"]);
    assert!(
        h.select(&[vec![m("__name__", "=", "req_total")]])
            .refs
            .is_empty()
    );
    // A revived series is collected again like any other.
    assert_eq!(h.gc(3_050).series_removed, 1);
    assert_eq!(h.select(&[vec![m("job", "=", "a")]]).refs, vec![refs[0]]);
}

#[test]
fn gc_tombstones_survive_a_wal_replay() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || HeadOptions {
        shards: 4,
        wal: Some(crate::wal::WalOptions::new(dir.path().join("wal"))),
        ..HeadOptions::default()
    };
    let refs = {
        let h = Head::open(&dir.path().join("head"), opts()).unwrap();
        let refs = gc_load(&h, &[0, 1]);
        assert_eq!(h.gc(2_000).series_removed, 2);
        let mut app = h.appender();
        app.append_ref(refs[0], 3_000, 30.0).unwrap();
        app.commit().unwrap();
        h.flush_wal().unwrap();
        refs
    };
    // The WAL still holds every sample (no checkpoint ran): replay brings back both series,
    // the revived one with its new sample as latest, under the same refs.
    let h = Head::open(&dir.path().join("head"), opts()).unwrap();
    assert_eq!(h.series_labels(refs[0]), Some(must_labels(GC_SERIES[0].0)));
    let sel = h.select(&[vec![m("__name__", "=", "up")]]);
    assert_eq!(sel.refs.len(), 2);
    let rendered = render(&h, &sel, 0, 5_000);
    assert_eq!(rendered[0], "__name__=up,i=0,job=a, 3000 30");
}

/// Every series the head holds, with or without samples (tombstones included).
fn series_slots(h: &Head) -> usize {
    h.shards.iter().map(|s| s.read().len()).sum()
}

#[test]
fn checkpoints_drop_the_records_of_collected_series_unless_revived() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || HeadOptions {
        shards: 4,
        wal: Some(crate::wal::WalOptions::new(dir.path().join("wal"))),
        ..HeadOptions::default()
    };
    let open = || Head::open(&dir.path().join("head"), opts()).unwrap();
    let rows = |h: &Head| {
        let sel = h.select(&[vec![m("__name__", "=~", ".+")]]);
        render(h, &sel, 0, 100_000)
    };
    // Process 1: series 0-2 get samples; 1 and 2 stop early and are collected; checkpoint
    // at 2_000 (what a block up to 2_000 allows). This process logged them, so their records
    // stay for now (a commit of theirs might be on its way).
    {
        let h = open();
        let refs = gc_load(&h, &[0, 1, 2]);
        let mut app = h.appender();
        app.append_ref(refs[0], 5_000, 5.0).unwrap();
        app.commit().unwrap();
        assert_eq!(h.gc(2_000).series_removed, 2);
        let st = h.checkpoint_wal(2_000).unwrap().unwrap();
        assert_eq!((st.series_kept, st.series_dropped), (3, 0), "{st:?}");
    }
    // Process 2: replay brings 1 and 2 back without samples; this process never logged
    // them, so its checkpoint drops their records. Series 3 is new and logged here.
    {
        let h = open();
        assert_eq!(series_slots(&h), 3);
        assert_eq!(rows(&h), ["__name__=up,i=0,job=a, 5000 5"]);
        let mut app = h.appender();
        app.append(&must_labels(GC_SERIES[3].0), 6_000, 6.0)
            .unwrap();
        app.commit().unwrap();
        let st = h.checkpoint_wal(2_000).unwrap().unwrap();
        assert_eq!((st.series_kept, st.series_dropped), (2, 2), "{st:?}");
    }
    // Process 3: 1 and 2 are gone for good; 0 and 3 are back. Then series 1 comes back to
    // life: its commit logs its record again, the next checkpoint keeps it, and a restart
    // still has it with its new sample.
    {
        let h = open();
        assert_eq!(series_slots(&h), 2);
        assert_eq!(
            rows(&h),
            [
                "__name__=req_total,job=a, 6000 6",
                "__name__=up,i=0,job=a, 5000 5"
            ]
        );
        let mut app = h.appender();
        app.append(&must_labels(GC_SERIES[1].0), 7_000, 7.0)
            .unwrap();
        app.commit().unwrap();
        let st = h.checkpoint_wal(2_000).unwrap().unwrap();
        assert_eq!(st.series_dropped, 0, "{st:?}");
    }
    let h = open();
    assert_eq!(series_slots(&h), 3);
    assert_eq!(
        rows(&h),
        [
            "__name__=req_total,job=a, 6000 6",
            "__name__=up,i=0,job=a, 5000 5",
            "__name__=up,i=1,job=a, 7000 7"
        ]
    );
}

#[test]
fn gc_races_with_appends_without_losing_samples() {
    use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
    let (_d, h) = head();
    const T0: i64 = 10_000;
    const ROUNDS: i64 = 200;
    let live: Vec<Labels> = (0..600)
        .map(|i| must_labels(&[("__name__", "live"), ("i", &i.to_string())]))
        .collect();
    let dead: Vec<Labels> = (0..600)
        .map(|i| must_labels(&[("__name__", "dead"), ("i", &i.to_string())]))
        .collect();
    let mut app = h.appender();
    let refs: Vec<SeriesRef> = live
        .iter()
        .map(|l| app.append(l, 1_000, 1.0).unwrap())
        .collect();
    for l in &dead {
        app.append(l, 1_000, 1.0).unwrap();
    }
    app.commit().unwrap();
    // Two writers give every live series a sample at T0 + 100k in round k; meanwhile gc runs
    // in a loop with its bound just past the last round both writers finished, so series
    // the writers have not reached yet in the current round are collected and revived by
    // their next sample, over and over. Gc may drop samples below its bound; it must never
    // drop one at or above it, nor leave a series with a sample unindexed.
    let progress = [AtomicI64::new(-1), AtomicI64::new(-1)];
    let (removed, bound) = std::thread::scope(|s| {
        for w in 0..2usize {
            let (h, live, refs, progress) = (&h, &live, &refs, &progress);
            s.spawn(move || {
                let idx: Vec<usize> = (0..live.len()).collect();
                for k in 0..ROUNDS {
                    let t = T0 + k * 100;
                    for (j, chunk) in idx.chunks(50).enumerate() {
                        if j % 2 != w {
                            continue;
                        }
                        let mut app = h.appender();
                        for &i in chunk {
                            // Half by ref (a scrape cache), half by labels.
                            if (i + k as usize).is_multiple_of(2) {
                                app.append_ref(refs[i], t, k as f64).unwrap();
                            } else {
                                assert_eq!(app.append(&live[i], t, k as f64).unwrap(), refs[i]);
                            }
                        }
                        app.commit().unwrap();
                    }
                    progress[w].store(k, SeqCst);
                }
            });
        }
        let (mut removed, mut revived, mut bound) = (0, 0, T0);
        loop {
            let done = progress[0].load(SeqCst).min(progress[1].load(SeqCst));
            if done == ROUNDS - 1 {
                break;
            }
            bound = bound.max(T0 + done * 100 + 1);
            let gc = h.gc(bound);
            removed += gc.series_removed;
            revived += gc.series_revived;
        }
        eprintln!("{revived} candidates revived between scan and removal");
        (removed, bound)
    });
    eprintln!(
        "gc removed {removed} series ({} dead), last bound {bound}",
        dead.len()
    );
    assert!(
        removed > (dead.len() + live.len()) as u64,
        "{removed}: no race exercised"
    );
    assert!(
        bound < T0 + (ROUNDS - 1) * 100,
        "the last round is above every bound"
    );
    assert_eq!(h.num_series(), live.len());
    assert!(
        h.select(&[vec![m("__name__", "=", "dead")]])
            .refs
            .is_empty()
    );
    let sel = h.select(&[vec![m("__name__", "=~", ".+")]]);
    let mut want = refs.clone();
    want.sort_by_key(|r| h.series_labels(*r).unwrap());
    assert_eq!(sel.refs, want, "federation order");
    for &r in &refs {
        let mut samples = Vec::new();
        h.samples(r, bound, i64::MAX, &mut samples);
        let want: Vec<(i64, f64)> = (0..ROUNDS)
            .map(|k| (T0 + k * 100, k as f64))
            .filter(|s| s.0 >= bound)
            .collect();
        assert_eq!(samples, want, "{:?}", h.series_labels(r));
    }
    assert_eq!(h.label_values("__name__"), ["live"]);
}

#[test]
fn gc_frees_history_memory() {
    let (_d, h) = head();
    let n = 2_000usize;
    let labels: Vec<Labels> = (0..n)
        .map(|i| {
            must_labels(&[
                ("__name__", "m"),
                ("instance", &format!("pod-{i}")),
                ("job", "j"),
            ])
        })
        .collect();
    for k in 0..120i64 {
        let mut app = h.appender();
        for (i, l) in labels.iter().enumerate() {
            // The second half stops early.
            if i < n / 2 || k < 60 {
                app.append(l, k * 15_000, (k * i as i64 % 97) as f64)
                    .unwrap();
            }
        }
        app.commit().unwrap();
    }
    let open_bytes = |h: &Head| {
        h.shards
            .iter()
            .map(|s| s.read().open_chunk_bytes())
            .sum::<usize>()
    };
    let (before, open_before) = (h.memory_bytes(), open_bytes(&h));
    let stats = h.gc(60 * 15_000);
    assert_eq!(stats.series_removed, n as u64 / 2);
    // The open chunks' slots go back to the slab (held for reuse, so memory_bytes stays).
    let (after, open_after) = (h.memory_bytes(), open_bytes(&h));
    let per_series = (open_before - open_after) / (n / 2);
    eprintln!(
        "memory_bytes {before} -> {after}; open chunks {open_before} -> {open_after}: {per_series} B per removed series"
    );
    assert!(per_series >= 16, "{per_series} B per removed series");
    assert!(after <= before);
    assert_eq!(h.label_values("instance").len(), n / 2);
}

/// Series garbage collection on the 1M node-exporter-like set: whole instances (1000 series
/// each) stop, as when pods go away. Reports how long the index write lock is held (what
/// selections and new-series commits wait). Run in release:
/// `cargo test -p fedstore-storage --release --lib -- --ignored perf_gc_million --nocapture`
#[test]
#[ignore = "slow: loads 1M series three times"]
fn perf_gc_million() {
    let spec = NodeSetSpec::million();
    // Every `nth` instance stops.
    for nth in [10usize, 2, 1] {
        let dir = tempfile::tempdir().unwrap();
        let h = Head::open(&dir.path().join("head"), HeadOptions::default()).unwrap();
        let (refs, _) = spec.load(&h, 1_000, 2000);
        let per_instance = spec.metrics * spec.series_per_metric;
        for t in [2_000, 3_000] {
            let mut app = h.appender();
            for (k, &r) in refs.iter().enumerate() {
                let stops =
                    k < spec.instances * per_instance && (k / per_instance).is_multiple_of(nth);
                if t == 2_000 || !stops {
                    app.append_ref(r, t, 1.0).unwrap();
                }
            }
            app.commit().unwrap();
        }
        let (n0, mem0) = (h.num_series(), h.memory_bytes());
        let stats = h.gc(2_500);
        let all = vec![vec![m("__name__", "=~", ".+")]];
        let sel = time("  select all after gc", 5, || h.select(&all));
        assert_eq!(sel.refs.len(), h.num_series());
        eprintln!(
            "1 in {nth} instances stops: removed {} of {n0} series; index write lock {:.1} ms, gc total {:.1} ms; memory_bytes {} MB -> {} MB",
            stats.series_removed,
            stats.index_lock.as_secs_f64() * 1e3,
            stats.elapsed.as_secs_f64() * 1e3,
            mem0 >> 20,
            h.memory_bytes() >> 20,
        );
        assert_eq!(
            stats.series_removed as usize,
            spec.instances.div_ceil(nth) * per_instance
        );
    }
}

#[test]
fn label_pair_counts_and_latest_sample_from_the_index() {
    let (_d, h) = head();
    let mut app = h.appender();
    for (pairs, t) in [
        (&[("__name__", "up"), ("job", "a")][..], 10),
        (&[("__name__", "up"), ("job", "b")][..], 20),
        (&[("__name__", "other"), ("job", "a")][..], 30),
    ] {
        app.append(&must_labels(pairs), t, 1.0).unwrap();
    }
    app.commit().unwrap();
    let mut got = h.pair_counts_and_named().counts;
    got.sort();
    let want: Vec<(String, String, u64)> = [
        ("__name__", "other", 1),
        ("__name__", "up", 2),
        ("job", "a", 2),
        ("job", "b", 1),
    ]
    .iter()
    .map(|(n, v, c)| (n.to_string(), v.to_string(), *c))
    .collect();
    assert_eq!(got, want);
    let sel = h.select(&[vec![m("job", "=", "b")]]);
    assert_eq!(h.latest_sample(sel.refs[0]), Some((20, 1.0)));
}

/// Large selections are copied out shard by shard and rendered after the locks; small ones
/// are rendered under them. Both must give the same lines in the same order, on series with
/// every kind of latest sample, label sets of several name lists and symbol ids of one to
/// three varint bytes, and both stop where the sink stops.
#[test]
fn latest_copied_and_under_locks_agree() {
    let (_d, h) = head();
    let mut app = h.appender();
    let n = 4800usize;
    let (mint, maxt) = (5, 200);
    for i in 0..n {
        let value = format!("v{i}");
        let mut pairs = vec![("__name__", "m"), ("id", value.as_str())];
        if i % 3 == 0 {
            pairs.push(("zone", "z"));
        }
        let l = Labels::from_pairs(pairs);
        match i % 8 {
            // a stale marker last: skipped
            0 => {
                app.append(&l, 10, 1.0).unwrap();
                app.append(&l, 20, f64::from_bits(STALE_NAN_BITS)).unwrap();
            }
            // a sample after maxt: the one before it (in the open chunk) is answered
            1 => {
                app.append(&l, 10, i as f64).unwrap();
                app.append(&l, 900, -1.0).unwrap();
            }
            // before the window: skipped
            2 => {
                app.append(&l, 1, 1.0).unwrap();
            }
            // after maxt, and before it a stale marker: skipped
            3 => {
                app.append(&l, 10, 1.0).unwrap();
                app.append(&l, 20, f64::from_bits(STALE_NAN_BITS)).unwrap();
                app.append(&l, 900, -1.0).unwrap();
            }
            // after maxt, and before it one before the window: skipped
            4 => {
                app.append(&l, 1, 1.0).unwrap();
                app.append(&l, 900, -1.0).unwrap();
            }
            // only after maxt: skipped
            5 => {
                app.append(&l, 900, -1.0).unwrap();
            }
            // after maxt in a new open chunk, the one before it in a sealed chunk
            6 => {
                for k in 0..i64::from(crate::chunks::MAX_SAMPLES_PER_CHUNK) {
                    app.append(&l, 50 + k, k as f64).unwrap();
                }
                app.append(&l, 900, -1.0).unwrap();
            }
            _ => {
                app.append(&l, 30 + (i % 7) as i64, i as f64 / 3.0).unwrap();
            }
        }
    }
    app.commit().unwrap();
    let sel = h.select(&[vec![m("__name__", "=", "m")]]);
    assert_eq!(sel.refs.len(), n);
    assert!(sel.refs.len() > super::latest::SMALL_LATEST);
    let copied = render(&h, &sel, mint, maxt);
    let mut c = Collect(Vec::new());
    assert!(h.latest_under_locks(&sel.refs, mint, maxt, &mut c));
    assert_eq!(copied, c.0);
    assert_eq!(copied.len(), n / 8 * 3);
    // Series 1: the sample before the one after maxt, from the open chunk.
    assert!(copied.contains(&"__name__=m,id=v1, 10 1".to_owned()));
    // Series 6: the same from a sealed chunk, with the three-label name list.
    assert!(copied.contains(&"__name__=m,id=v6,zone=z, 169 119".to_owned()));

    /// Takes `left` lines, then stops the walk.
    struct Stop(Vec<String>, usize);
    impl LatestSink for Stop {
        fn sample(&mut self, labels: &dyn LabelsRef, t_ms: i64, v: f64) -> bool {
            let mut c = Collect(std::mem::take(&mut self.0));
            c.sample(labels, t_ms, v);
            self.0 = c.0;
            self.1 -= 1;
            self.1 > 0
        }
    }
    let mut s = Stop(Vec::new(), 1500);
    assert!(!h.latest(&sel.refs, mint, maxt, &mut s));
    assert_eq!(s.0[..], copied[..1500]);
}
