//! Querier tests against a model: head only, blocks and head, a compaction in the middle of
//! a query, label names and values, label-set order.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::db::{Db, DbOptions};
use crate::head::HeadOptions;
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::retention::Retention;
use crate::testutil::{must_labels, must_matchers};

const H: i64 = 3_600_000;
const STEP: i64 = 15_000;

type Model = BTreeMap<Labels, Vec<(i64, f64)>>;

/// The selectors the tests use, as matchers (the selector parser lives in fedstore-promql).
fn parse_selector(sel: &str) -> Option<Vec<Matcher>> {
    let triples: &[(&str, &str, &str)] = match sel {
        "up" => &[("__name__", "=", "up")],
        "aaa" => &[("__name__", "=", "aaa")],
        "{job=\"api\"}" => &[("job", "=", "api")],
        "{job=\"db\"}" => &[("job", "=", "db")],
        "{job=~\".+\"}" => &[("job", "=~", ".+")],
        "{i=~\"[35]\"}" => &[("i", "=~", "[35]")],
        "{__name__=~\"a.*|up\", i!=\"1\"}" => &[("__name__", "=~", "a.*|up"), ("i", "!=", "1")],
        "{i=~\"1|3\"}" => &[("i", "=~", "1|3")],
        "{__name__=~\"u.*\"}" => &[("__name__", "=~", "u.*")],
        "{job!=\"\", Zz=\"\"}" => &[("job", "!=", ""), ("Zz", "=", "")],
        "{job!~\"a.*\", i!~\"[0-4]\"}" => &[("job", "!~", "a.*"), ("i", "!~", "[0-4]")],
        "{i=~\"9|1\"}" => &[("i", "=~", "9|1")],
        _ => return None,
    };
    Some(must_matchers(triples))
}

/// A database with 1 h blocks, two head shards and small chunk files (also the cardinality
/// tests').
pub(crate) fn open(dir: &std::path::Path) -> Db {
    let opts = DbOptions {
        min_block_duration_ms: H,
        max_block_duration_ms: Some(H),
        retention: Retention::default(),
        compaction_interval: Duration::from_secs(3600),
        head_gc_keep_ms: 0,
    };
    let head = HeadOptions {
        shards: 2,
        chunk_file_bytes: 4096,
        ..HeadOptions::default()
    };
    Db::open(dir, head, opts).unwrap()
}

/// Series `up{job, i}` living `[from, to)`; `Zz` (sorts before `__name__`) on some.
fn series() -> Vec<(Labels, i64, i64)> {
    let mut v = Vec::new();
    for i in 0..6 {
        let job = if i % 2 == 0 { "api" } else { "db" };
        let mut pairs = vec![("__name__", "up"), ("job", job)];
        let i_s = i.to_string();
        pairs.push(("i", &i_s));
        if i == 3 {
            pairs.push(("Zz", "first"));
        }
        // Series 5 stops after 1h: compaction collects it from the head.
        let to = if i == 5 { H } else { 5 * H };
        v.push((must_labels(&pairs), 0, to));
    }
    v.push((
        must_labels(&[("__name__", "aaa"), ("job", "api")]),
        2 * H,
        5 * H,
    ));
    v
}

fn load(db: &Db) -> Model {
    load_series(db, series())
}

fn load_series(db: &Db, series: Vec<(Labels, i64, i64)>) -> Model {
    let mut model = Model::new();
    let mut t = 0;
    while t < 5 * H {
        let mut app = db.head().appender();
        for (k, (l, from, to)) in series.iter().enumerate() {
            if t < *from || t >= *to {
                continue;
            }
            let v = (t / STEP) as f64 + k as f64 / 10.0;
            app.append(l, t, v).unwrap();
            model.entry(l.clone()).or_default().push((t, v));
        }
        app.commit().unwrap();
        t += STEP;
    }
    model
}

/// The model's series matching `sel` with samples in `[mint, maxt]`, in label-set order.
fn expect(model: &Model, sel: &str, mint: i64, maxt: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let ms = parse_selector(sel).unwrap();
    model
        .iter()
        .filter(|(l, _)| ms.iter().all(|m| m.matches(l.get(&m.name))))
        .map(|(l, s)| {
            let s: Vec<_> = s
                .iter()
                .copied()
                .filter(|&(t, _)| t >= mint && t <= maxt)
                .collect();
            (l.clone(), s)
        })
        .filter(|(_, s)| !s.is_empty())
        .collect()
}

/// Asserts equal results, printing only the first difference.
#[track_caller]
fn assert_same(got: &[(Labels, Vec<(i64, f64)>)], want: &[(Labels, Vec<(i64, f64)>)], what: &str) {
    let names = |v: &[(Labels, Vec<(i64, f64)>)]| -> Vec<String> {
        v.iter()
            .map(|(l, s)| format!("{l:?}: {} samples", s.len()))
            .collect()
    };
    assert_eq!(names(got), names(want), "{what}");
    for ((l, g), (_, w)) in got.iter().zip(want) {
        if let Some(k) = (0..g.len()).find(|&k| g[k] != w[k]) {
            panic!("{what}: {l:?} sample {k}: got {:?}, want {:?}", g[k], w[k]);
        }
    }
}

fn read(set: &crate::querier::SeriesSet<'_>) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut out = Vec::new();
    let mut buf = vec![(0, 0.0); 3]; // dirty: samples() must replace, not append
    for i in 0..set.len() {
        // The cache warm-up hint, over runs that overshoot the end too, changes nothing.
        if i % 3 == 0 {
            set.prefetch(i..i + 3, i % 2 == 0);
        }
        set.samples(i, &mut buf).unwrap();
        if !buf.is_empty() {
            out.push((set.labels(i).unwrap(), buf.clone()));
        }
    }
    out
}

const RANGES: [(i64, i64); 5] = [
    (i64::MIN, i64::MAX),
    (0, H),
    (H / 2, 3 * H + 7),
    (4 * H, 4 * H),
    (3 * H + 1, 5 * H),
];

#[test]
fn selects_match_the_model_before_and_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let model = load(&db);
    for phase in ["head only", "blocks and head"] {
        for sel in [
            "up",
            "{job=\"api\"}",
            "{i=~\"[35]\"}",
            "{__name__=~\"a.*|up\", i!=\"1\"}",
        ] {
            for (mint, maxt) in RANGES {
                let q = db.querier(mint, maxt);
                let set = q.select(&[parse_selector(sel).unwrap()]).unwrap();
                let labels: Vec<Labels> = (0..set.len()).map(|i| set.labels(i).unwrap()).collect();
                assert!(
                    labels.is_sorted_by(|a, b| a < b),
                    "{phase} {sel}: {labels:?}"
                );
                assert_same(
                    &read(&set),
                    &expect(&model, sel, mint, maxt),
                    &format!("{phase} {sel} [{mint}, {maxt}]"),
                );
                // `has_samples` agrees with reading the samples, series by series.
                let mut buf = Vec::new();
                for i in 0..set.len() {
                    set.samples(i, &mut buf).unwrap();
                    let want = !buf.is_empty();
                    assert_eq!(
                        set.has_samples(i, &mut buf).unwrap(),
                        want,
                        "{phase} {sel} [{mint}, {maxt}] {:?}",
                        set.labels(i)
                    );
                }
            }
        }
        let report = db.compact().unwrap();
        if phase == "head only" {
            assert_eq!(report.head_blocks.len(), 4, "{report:?}");
            assert!(report.head_series_removed >= 1, "{report:?}");
        }
    }
}

/// A query that selected before a compaction round and reads after it sees every sample
/// once: the persisted range comes from the new blocks, the series collected from the head
/// included.
#[test]
fn compaction_during_a_query_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let model = load(&db);
    for (mint, maxt) in RANGES {
        let dir = tempfile::tempdir().unwrap();
        let db2 = open(dir.path());
        let model2 = load(&db2);
        assert_eq!(model, model2);
        let q = db2.querier(mint, maxt);
        // Selected before, read after.
        let set = q
            .select(&[parse_selector("{job=~\".+\"}").unwrap()])
            .unwrap();
        let report = db2.compact().unwrap();
        assert_eq!(report.head_blocks.len(), 4, "{report:?}");
        assert_same(
            &read(&set),
            &expect(&model, "{job=~\".+\"}", mint, maxt),
            &format!("[{mint}, {maxt}]"),
        );
        // Querier taken before, selected and read after.
        let q = db.querier(mint, maxt);
        if mint == i64::MIN {
            db.compact().unwrap();
        }
        let set = q.select(&[parse_selector("up").unwrap()]).unwrap();
        assert_same(
            &read(&set),
            &expect(&model, "up", mint, maxt),
            &format!("late select [{mint}, {maxt}]"),
        );
    }
}

#[test]
fn label_names_and_values_over_head_and_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    load(&db);
    db.compact().unwrap();
    let all = db.querier(i64::MIN, i64::MAX);
    assert_eq!(
        all.label_names(&[]).unwrap(),
        ["Zz", "__name__", "i", "job"]
    );
    assert_eq!(
        all.label_values("i", &[]).unwrap(),
        ["0", "1", "2", "3", "4", "5"]
    );
    assert_eq!(all.label_values("__name__", &[]).unwrap(), ["aaa", "up"]);
    assert!(all.label_values("nope", &[]).unwrap().is_empty());
    let sets = vec![parse_selector("{job=\"db\"}").unwrap()];
    assert_eq!(
        all.label_names(&sets).unwrap(),
        ["Zz", "__name__", "i", "job"]
    );
    assert_eq!(all.label_values("i", &sets).unwrap(), ["1", "3", "5"]);
    let sets = vec![parse_selector("aaa").unwrap()];
    assert_eq!(all.label_names(&sets).unwrap(), ["__name__", "job"]);
    assert!(all.label_values("i", &sets).unwrap().is_empty());
    // Series 5 ended at 1h and lives only in the first block now.
    let late = db.querier(3 * H, 5 * H);
    assert_eq!(
        late.label_values("i", &[]).unwrap(),
        ["0", "1", "2", "3", "4"]
    );
    let early = db.querier(0, H / 2);
    assert_eq!(early.label_values("__name__", &[]).unwrap(), ["up"]);
}

/// Without a label name sorting before `__name__`, every source is in label-set order: the
/// select holds no label set (they are built per series on demand), merges head and blocks
/// by label set, and still matches the model; `last_sample` is the last of `samples`.
#[test]
fn select_in_label_order_holds_no_label_sets() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let series: Vec<_> = series()
        .into_iter()
        .filter(|(l, _, _)| l.get("Zz").is_empty())
        .collect();
    let model = load_series(&db, series);
    for phase in ["head only", "blocks and head"] {
        for sel in ["up", "{job=~\".+\"}", "{i=~\"1|3\"}", "{__name__=~\"u.*\"}"] {
            for (mint, maxt) in RANGES {
                let what = format!("{phase} {sel} [{mint}, {maxt}]");
                let q = db.querier(mint, maxt);
                let set = q.select(&[parse_selector(sel).unwrap()]).unwrap();
                assert!(set.labels.is_empty(), "{what}: the select built label sets");
                let labels: Vec<Labels> = (0..set.len()).map(|i| set.labels(i).unwrap()).collect();
                assert!(labels.is_sorted_by(|a, b| a < b), "{what}: {labels:?}");
                assert_same(&read(&set), &expect(&model, sel, mint, maxt), &what);
                let mut buf = Vec::new();
                let mut scratch = vec![(0, 0.0)];
                for (i, l) in labels.iter().enumerate() {
                    set.samples(i, &mut buf).unwrap();
                    let last = set.last_sample(i, &mut scratch).unwrap();
                    assert_eq!(last, buf.last().copied(), "{what} {l:?}");
                }
            }
        }
        db.compact().unwrap();
        assert!(
            db.blocks().len() >= 2,
            "{phase}: {} blocks",
            db.blocks().len()
        );
    }
}

/// A label name sorting before `__name__` (`Zz`) puts federation order and label-set order
/// apart: the select then sorts materialised label sets.
#[test]
fn select_out_of_label_order_sorts_label_sets() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    load(&db);
    let q = db.querier(i64::MIN, i64::MAX);
    let set = q.select(&[parse_selector("up").unwrap()]).unwrap();
    assert_eq!(set.labels.len(), set.len());
    let labels: Vec<Labels> = (0..set.len()).map(|i| set.labels(i).unwrap()).collect();
    assert!(labels.is_sorted_by(|a, b| a < b), "{labels:?}");
}

/// A select, label names and label values over more series than [`crate::CHECK_EVERY`]
/// stop with the reason of their [`crate::Cancel`]: deadline passed, or canceled; with
/// blocks and head (a merge), and with the head alone.
#[test]
fn walks_stop_when_their_cancel_says_so() {
    use crate::cancel::{Cancel, Stop};
    use crate::error::Error;
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let n = 3 * crate::CHECK_EVERY;
    let series: Vec<(Labels, i64, i64)> = (0..n)
        .map(|i| {
            (
                must_labels(&[("__name__", "up"), ("i", &i.to_string())]),
                0,
                5 * H,
            )
        })
        .collect();
    load_series(&db, series);
    let up = || vec![parse_selector("up").unwrap()];
    for phase in ["head only", "blocks and head"] {
        let past = Cancel::new(Some(std::time::Instant::now()));
        let canceled = Cancel::new(None);
        canceled.cancel();
        for (cancel, want) in [(past, Stop::Timeout), (canceled, Stop::Canceled)] {
            let q = db.querier(i64::MIN, i64::MAX).with_cancel(cancel);
            let stopped =
                |r: Result<usize, Error>| matches!(r, Err(Error::Stopped(s)) if s == want);
            assert!(stopped(q.select(&up()).map(|s| s.len())), "{phase} select");
            assert!(
                stopped(q.label_names(&up()).map(|v| v.len())),
                "{phase} names"
            );
            assert!(
                stopped(q.label_values("i", &up()).map(|v| v.len())),
                "{phase} values"
            );
        }
        // Without a stop signal the same walks answer.
        let q = db.querier(i64::MIN, i64::MAX);
        assert_eq!(q.select(&up()).unwrap().len(), n, "{phase}");
        db.compact().unwrap();
        assert!(!db.blocks().is_empty());
    }
}
