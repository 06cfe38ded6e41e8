//! The engine's view of the database: [`fedstore_promql::Queryable`] over a [`Db`], one
//! storage querier per select (a snapshot of blocks plus head; see `fedstore_storage::Querier`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fedstore_promql::storage::SelectHints;
use fedstore_promql::{Queryable, SeriesSet, StorageError};
use fedstore_storage::{Db, Labels, Matcher};

/// [`Queryable`] over the database, counting the samples it hands out (`stats`).
pub struct DbQueryable {
    db: Arc<Db>,
    samples: AtomicU64,
}

impl DbQueryable {
    /// Queries `db`.
    pub fn new(db: Arc<Db>) -> Self {
        DbQueryable {
            db,
            samples: AtomicU64::new(0),
        }
    }

    /// Samples read through this queryable so far.
    pub fn samples_read(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }
}

impl Queryable for DbQueryable {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        _hints: &SelectHints,
    ) -> Result<Box<dyn SeriesSet + '_>, StorageError> {
        let querier = self.db.querier(mint_ms, maxt_ms);
        let set = querier
            .select(&[matchers.to_vec()])
            .map_err(|e| StorageError(e.to_string()))?;
        Ok(Box::new(DbSeriesSet {
            set,
            samples: &self.samples,
        }))
    }
}

/// One select's series, read on demand.
struct DbSeriesSet<'a> {
    set: fedstore_storage::SeriesSet<'a>,
    samples: &'a AtomicU64,
}

impl SeriesSet for DbSeriesSet<'_> {
    fn len(&self) -> usize {
        self.set.len()
    }

    fn labels(&self, i: usize) -> Result<Labels, StorageError> {
        self.set.labels(i).map_err(|e| StorageError(e.to_string()))
    }

    fn for_each_label(&self, i: usize, f: &mut dyn FnMut(&str, &str)) -> Result<(), StorageError> {
        self.set
            .for_each_label(i, f)
            .map_err(|e| StorageError(e.to_string()))
    }

    fn last_sample(
        &self,
        i: usize,
        buf: &mut Vec<(i64, f64)>,
    ) -> Result<Option<(i64, f64)>, StorageError> {
        let last = self
            .set
            .last_sample(i, buf)
            .map_err(|e| StorageError(e.to_string()))?;
        self.samples
            .fetch_add(u64::from(last.is_some()), Ordering::Relaxed);
        Ok(last)
    }

    fn samples(&self, i: usize, out: &mut Vec<(i64, f64)>) -> Result<(), StorageError> {
        self.set
            .samples(i, out)
            .map_err(|e| StorageError(e.to_string()))?;
        self.samples.fetch_add(out.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}
