//! Interim [`Queryable`]s for remote read over what the server holds today: the head alone
//! (the in-process test server) or the whole `Db` (blocks + head, through `Db::select_range`).
//! Both materialise the selected series; they give way to the shared querier once the server
//! has one.

use std::sync::Arc;

use fedstore_promql::storage::{Queryable, SelectHints, SeriesSet, StorageError};
use fedstore_storage::{Db, Head, Labels, Matcher, SeriesSamples};

/// Selects from the head only.
pub struct HeadSource(pub Arc<Head>);

/// Selects from blocks and head.
pub struct DbSource(pub Arc<Db>);

/// Selected series with their samples, sorted by label set.
struct Materialized(Vec<SeriesSamples>);

impl SeriesSet for Materialized {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn labels(&self, i: usize) -> Labels {
        self.0[i].labels.clone()
    }

    fn samples(&self, i: usize, out: &mut Vec<(i64, f64)>) -> Result<(), StorageError> {
        out.clear();
        out.extend_from_slice(&self.0[i].samples);
        Ok(())
    }
}

impl Queryable for HeadSource {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        _hints: &SelectHints,
    ) -> Result<Box<dyn SeriesSet + '_>, StorageError> {
        let head = &self.0;
        let mut out = Vec::new();
        if !matchers.is_empty() {
            for r in head.select(&[matchers.to_vec()]).refs {
                let mut samples = Vec::new();
                head.samples(r, mint_ms, maxt_ms, &mut samples);
                if samples.is_empty() {
                    continue;
                }
                if let Some(labels) = head.series_labels(r) {
                    out.push(SeriesSamples { labels, samples });
                }
            }
        }
        // The head hands series out by metric name first; `labels.Compare` order differs when a
        // label name sorts before `__name__` (`Zz`).
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Box::new(Materialized(out)))
    }
}

impl Queryable for DbSource {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        _hints: &SelectHints,
    ) -> Result<Box<dyn SeriesSet + '_>, StorageError> {
        if matchers.is_empty() {
            return Ok(Box::new(Materialized(Vec::new())));
        }
        let series = self
            .0
            .select_range(&[matchers.to_vec()], mint_ms, maxt_ms)
            .map_err(|e| StorageError(e.to_string()))?;
        Ok(Box::new(Materialized(series)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fedstore_storage::retention::Retention;
    use fedstore_storage::{DbOptions, HeadOptions, MatchOp};

    use super::*;

    const H: i64 = 3_600_000;

    /// A remote-read select over blocks and head sees the samples of both, in order.
    #[test]
    fn db_source_reads_blocks_and_head() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = DbOptions {
            min_block_duration_ms: H,
            max_block_duration_ms: None,
            retention: Retention::default(),
            compaction_interval: Duration::from_secs(3600),
            head_gc_keep_ms: 300_000,
        };
        let db = Arc::new(Db::open(dir.path(), HeadOptions::default(), opts).expect("db"));
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let other = Labels::from_pairs([("__name__", "up"), ("job", "b")]);
        let step = 60_000;
        for t in (0..4 * H).step_by(step as usize) {
            let mut app = db.head().appender();
            app.append(&labels, t, t as f64).expect("append");
            app.append(&other, t, 1.0).expect("append");
            app.commit().expect("commit");
        }
        let report = db.compact().expect("compact");
        assert!(!report.head_blocks.is_empty(), "{report:?}");
        let src = DbSource(db);
        let m = [Matcher::new(MatchOp::Equal, "job", "a").expect("matcher")];
        let set = src
            .select(&m, H / 2, 3 * H, &SelectHints::default())
            .expect("select");
        assert_eq!(set.len(), 1);
        assert_eq!(set.labels(0), labels);
        let mut got = Vec::new();
        set.samples(0, &mut got).expect("samples");
        let want: Vec<(i64, f64)> = (H / 2..=3 * H)
            .step_by(step as usize)
            .map(|t| (t, t as f64))
            .collect();
        assert_eq!(got, want);
        let none = src
            .select(&[], 0, 4 * H, &SelectHints::default())
            .expect("select");
        assert!(none.is_empty());
    }
}
