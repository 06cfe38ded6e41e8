//! The cardinality view against a model: the merged select over head and blocks, counted
//! series by series (what `/api/v1/status/tsdb` did before the cache).

use std::path::Path;

use crate::db::Db;
use crate::labels::Labels;
use crate::matcher::{MatchOp, Matcher};
use crate::querier::tests::open;
use crate::testutil::must_labels;

const H: i64 = 3_600_000;
const STEP: i64 = 60_000;

type Pairs = Vec<(String, String, u64)>;

/// Every distinct named series of the database, walked through a merged select.
fn model(db: &Db) -> Pairs {
    let named = Matcher::new(MatchOp::NotEqual, "__name__", "").unwrap();
    let q = db.querier(i64::MIN, i64::MAX);
    let set = q.select(&[vec![named]]).unwrap();
    let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for i in 0..set.len() {
        for l in set.labels(i).unwrap().iter() {
            *counts.entry((l.name.clone(), l.value.clone())).or_default() += 1;
        }
    }
    counts.into_iter().map(|((n, v), c)| (n, v, c)).collect()
}

fn counts(db: &Db) -> Pairs {
    let mut got = db.label_pair_counts().unwrap().as_ref().clone();
    got.sort();
    got
}

fn count_of(pairs: &Pairs, name: &str, value: &str) -> u64 {
    pairs
        .iter()
        .find(|(n, v, _)| n == name && v == value)
        .map_or(0, |p| p.2)
}

#[track_caller]
fn assert_model(db: &Db, what: &str) -> Pairs {
    let got = counts(db);
    assert_eq!(got, model(db), "{what}");
    got
}

fn series(i: usize) -> Labels {
    let job = if i.is_multiple_of(2) { "api" } else { "db" };
    must_labels(&[("__name__", "up"), ("job", job), ("i", &i.to_string())])
}

/// Appends one sample a minute in `[from, to)` for each series.
fn append(db: &Db, series: &[Labels], from: i64, to: i64) {
    let mut t = from;
    while t < to {
        let mut app = db.head().appender();
        for l in series {
            app.append(l, t, t as f64).unwrap();
        }
        app.commit().unwrap();
        t += STEP;
    }
}

#[test]
fn head_only_counts_come_from_the_postings() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    assert!(counts(&db).is_empty());
    let all: Vec<Labels> = (0..6).map(series).collect();
    append(&db, &all, 0, 30 * STEP);
    let got = assert_model(&db, "head only");
    assert_eq!(count_of(&got, "__name__", "up"), 6);
    assert_eq!(count_of(&got, "job", "api"), 3);
    // A series without a metric name is not counted.
    let unnamed = must_labels(&[("job", "api"), ("i", "0")]);
    append(&db, &[unnamed], 30 * STEP, 31 * STEP);
    let got = assert_model(&db, "head only, one series without a name");
    assert_eq!(count_of(&got, "job", "api"), 3);
    assert_eq!(count_of(&got, "i", "0"), 1);
}

#[test]
fn an_unchanged_index_shares_the_last_answer_and_a_new_series_recounts() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let all: Vec<Labels> = (0..6).map(series).collect();
    append(&db, &all, 0, 10 * STEP);
    let first = db.label_pair_counts().unwrap();
    // New samples of the same series leave the index as it was: the same answer, shared.
    append(&db, &all, 10 * STEP, 20 * STEP);
    let again = db.label_pair_counts().unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    // A new series changes the index: counted again, and right.
    append(&db, &[series(6)], 20 * STEP, 21 * STEP);
    let got = assert_model(&db, "after a new series");
    assert_eq!(count_of(&got, "__name__", "up"), 7);
    assert!(!std::sync::Arc::ptr_eq(
        &first,
        &db.label_pair_counts().unwrap()
    ));
}

#[test]
fn series_in_head_and_blocks_count_once_and_collected_ones_still_count() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let all: Vec<Labels> = (0..6).map(series).collect();
    // Series 4 and 5 stop after the first hour: compaction collects them from the head.
    append(&db, &all, 0, H);
    append(&db, &all[..4], H, 3 * H);
    assert_model(&db, "head only");
    let report = db.compact().unwrap();
    assert!(!report.head_blocks.is_empty(), "{report:?}");
    assert!(report.head_series_removed >= 2, "{report:?}");
    let got = assert_model(&db, "head and blocks");
    assert_eq!(count_of(&got, "__name__", "up"), 6);
    assert_eq!(count_of(&got, "i", "5"), 1);
    // Cached now: new head series, a collected series revived, a series churned out after
    // the cache was built.
    let fresh = must_labels(&[("__name__", "fresh"), ("job", "api")]);
    append(
        &db,
        &[all[0].clone(), all[1].clone(), all[5].clone(), fresh],
        3 * H,
        3 * H + 10 * STEP,
    );
    let got = assert_model(&db, "after new and revived series");
    assert_eq!(count_of(&got, "__name__", "up"), 6);
    assert_eq!(count_of(&got, "__name__", "fresh"), 1);
    assert_eq!(count_of(&got, "job", "api"), 4);
    append(&db, &all[..2], 3 * H + 10 * STEP, 5 * H);
    db.compact().unwrap();
    let got = assert_model(&db, "after a second compaction collected more");
    assert_eq!(count_of(&got, "__name__", "up"), 6);
    assert_eq!(count_of(&got, "__name__", "fresh"), 1);
}

/// Copies every block directory of `from` into `to` (a data directory without a head).
fn copy_blocks(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.len() == 26 && e.path().is_dir() {
            copy_dir(&e.path(), &to.join(&name));
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap();
        if f.path().is_dir() {
            copy_dir(&f.path(), &to.join(f.file_name()));
        } else {
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
}

#[test]
fn blocks_only_then_the_head_creates_some_of_their_series() {
    let src = tempfile::tempdir().unwrap();
    let all: Vec<Labels> = (0..6).map(series).collect();
    {
        let db = open(src.path());
        append(&db, &all, 0, 3 * H);
        db.compact().unwrap();
        assert!(db.blocks().len() >= 2);
    }
    let dir = tempfile::tempdir().unwrap();
    copy_blocks(src.path(), dir.path());
    let db = open(dir.path());
    assert!(db.blocks().len() >= 2, "blocks were copied");
    assert_eq!(db.head().num_series(), 0);
    let got = assert_model(&db, "blocks only");
    assert_eq!(count_of(&got, "__name__", "up"), 6);
    // Series 0 and 3 come back in the head (new refs matching block-only series), and a
    // series no block has.
    let other = must_labels(&[("__name__", "other"), ("i", "0")]);
    append(
        &db,
        &[all[0].clone(), all[3].clone(), other],
        3 * H,
        3 * H + 5 * STEP,
    );
    let got = assert_model(&db, "blocks and new head series");
    assert_eq!(count_of(&got, "__name__", "up"), 6);
    assert_eq!(count_of(&got, "i", "0"), 2);
    // Asked again with nothing new: the same answer from the cache.
    assert_eq!(counts(&db), got);
}
