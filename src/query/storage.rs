//! The engine's view of the database: [`fedstore_promql::Queryable`] over a [`Db`], one
//! storage querier per select (a snapshot of blocks plus head; see `fedstore_storage::Querier`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fedstore_promql::storage::SelectHints;
use fedstore_promql::{Queryable, SeriesSet, StorageError};
use fedstore_storage::{Cancel, Db, Labels, Matcher, Stop};

/// [`Queryable`] over the database, counting the samples it hands out (`stats`).
pub struct DbQueryable {
    db: Arc<Db>,
    samples: AtomicU64,
    /// The query's stop signal, handed to every select's querier.
    cancel: Cancel,
}

impl DbQueryable {
    /// Queries `db`.
    pub fn new(db: Arc<Db>) -> Self {
        DbQueryable {
            db,
            samples: AtomicU64::new(0),
            cancel: Cancel::default(),
        }
    }

    /// Stops storage walks (and the engine, which asks between batches) when `cancel` says
    /// so: the query's deadline, or its request dropped.
    pub fn with_cancel(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
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
        let querier = self
            .db
            .querier(mint_ms, maxt_ms)
            .with_cancel(self.cancel.clone());
        let set = querier
            .select(&[matchers.to_vec()])
            .map_err(storage_error)?;
        Ok(Box::new(DbSeriesSet {
            set,
            samples: &self.samples,
        }))
    }

    fn check_stop(&self) -> Result<(), StorageError> {
        self.cancel.check().map_err(storage_error)
    }
}

/// The engine's view of a storage error: a stopped walk keeps its reason (the API answers
/// `timeout` or `canceled`, 503), anything else is a storage failure.
pub fn storage_error(e: fedstore_storage::Error) -> StorageError {
    match e {
        fedstore_storage::Error::Stopped(Stop::Canceled) => StorageError::Canceled,
        fedstore_storage::Error::Stopped(_) => StorageError::Timeout,
        e => StorageError::Failed(e.to_string()),
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
        self.set.labels(i).map_err(storage_error)
    }

    fn for_each_label(&self, i: usize, f: &mut dyn FnMut(&str, &str)) -> Result<(), StorageError> {
        self.set.for_each_label(i, f).map_err(storage_error)
    }

    fn prefetch(&self, range: std::ops::Range<usize>, samples: bool) {
        self.set.prefetch(range, samples);
    }

    fn last_sample(
        &self,
        i: usize,
        buf: &mut Vec<(i64, f64)>,
    ) -> Result<Option<(i64, f64)>, StorageError> {
        let last = self.set.last_sample(i, buf).map_err(storage_error)?;
        self.samples
            .fetch_add(u64::from(last.is_some()), Ordering::Relaxed);
        Ok(last)
    }

    fn samples(&self, i: usize, out: &mut Vec<(i64, f64)>) -> Result<(), StorageError> {
        self.set.samples(i, out).map_err(storage_error)?;
        self.samples.fetch_add(out.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Another [`Queryable`] whose walks also stop when `cancel` says so (remote read's SAMPLES
/// answer, over the endpoint's shared storage, stops when its request is dropped).
pub struct StoppingQueryable {
    inner: Arc<dyn Queryable>,
    cancel: Cancel,
}

impl StoppingQueryable {
    /// `inner`, stopping with `cancel`.
    pub fn new(inner: Arc<dyn Queryable>, cancel: Cancel) -> Self {
        StoppingQueryable { inner, cancel }
    }
}

impl Queryable for StoppingQueryable {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        hints: &SelectHints,
    ) -> Result<Box<dyn SeriesSet + '_>, StorageError> {
        self.check_stop()?;
        self.inner.select(matchers, mint_ms, maxt_ms, hints)
    }

    fn check_stop(&self) -> Result<(), StorageError> {
        self.cancel.check().map_err(storage_error)?;
        self.inner.check_stop()
    }
}
