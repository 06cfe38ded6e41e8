//! What the engine needs from storage: the series matching a set of matchers over a time
//! range, sorted by label set, read one at a time into buffers the caller reuses.
//!
//! The server implements [`Queryable`] over its database (head + blocks); tests implement it
//! over a vector. A [`SeriesSet`] may be read from several threads at once (the engine splits
//! the series of a selector between its workers).

use fedstore_storage::{Labels, Matcher};

/// Why storage stopped a select or a read: the query's deadline, its cancellation, or a
/// failure (the API answers `timeout` 503, `canceled` 503, `internal` 500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The query's deadline passed.
    #[error("{TIMED_OUT_IN_EVALUATION}")]
    Timeout,
    /// The query was canceled (its client left, the server stops).
    #[error("{CANCELED_IN_EVALUATION}")]
    Canceled,
    /// Storage failed.
    #[error("{0}")]
    Failed(String),
}

/// Prometheus's text for a query whose deadline passed while it was evaluated.
pub const TIMED_OUT_IN_EVALUATION: &str = "query timed out in expression evaluation";

/// Prometheus's text for a query canceled while it was evaluated.
pub const CANCELED_IN_EVALUATION: &str = "query was canceled in expression evaluation";

impl StorageError {
    /// The engine's error for this one: a stop is the API's `timeout` or `canceled` with
    /// Prometheus's text, a failure `internal`.
    pub fn into_eval(self) -> crate::engine::EvalError {
        use crate::engine::EvalError;
        match self {
            StorageError::Timeout => EvalError::Timeout(TIMED_OUT_IN_EVALUATION.to_owned()),
            StorageError::Canceled => EvalError::Canceled(CANCELED_IN_EVALUATION.to_owned()),
            StorageError::Failed(e) => EvalError::Storage(e),
        }
    }
}

/// Hints about the select, as Prometheus's `storage.SelectHints` (remote read forwards them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectHints {
    /// Start of the range in ms (inclusive).
    pub start_ms: i64,
    /// End of the range in ms (inclusive).
    pub end_ms: i64,
    /// The query step in ms, 0 for instant queries.
    pub step_ms: i64,
    /// The enclosing function or aggregation (`rate`, `sum`, ...), empty if none.
    pub func: String,
    /// The range of a range selector in ms, 0 otherwise.
    pub range_ms: i64,
    /// Grouping labels of the enclosing aggregation.
    pub grouping: Vec<String>,
    /// Whether the grouping is `by` (else `without`).
    pub by: bool,
}

/// Storage the engine can select from.
pub trait Queryable: Send + Sync {
    /// The series matching all of `matchers` that have samples in `[mint_ms, maxt_ms]`
    /// (both inclusive), sorted by label set (`labels.Compare` order).
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        hints: &SelectHints,
    ) -> Result<Box<dyn SeriesSet + '_>, StorageError>;

    /// Whether the query must stop now (its deadline passed, it was canceled): the
    /// engine asks between batches of series, as it checks its own timeout. Never, by default.
    fn check_stop(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// The result of one select: `len()` series, each readable by index from any thread.
pub trait SeriesSet: Send + Sync {
    /// Number of series.
    fn len(&self) -> usize;

    /// Whether there are no series.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label set of series `i` (`i < len()`). Storage may build it on demand (it need
    /// not hold every selected label set at once), so callers ask per batch and drop it.
    fn labels(&self, i: usize) -> Result<Labels, StorageError>;

    /// Replaces `out` with the samples of series `i` inside the select's range, in time
    /// order, staleness markers included (the engine interprets them).
    fn samples(&self, i: usize, out: &mut Vec<(i64, f64)>) -> Result<(), StorageError>;

    /// Calls `f(name, value)` for every label of series `i`, in label order: the same pairs
    /// as [`SeriesSet::labels`], which storage may give without building a label set.
    fn for_each_label(&self, i: usize, f: &mut dyn FnMut(&str, &str)) -> Result<(), StorageError> {
        for l in self.labels(i)?.iter() {
            f(&l.name, &l.value);
        }
        Ok(())
    }

    /// A hint that the calling thread reads series `range` next, in order: their labels and
    /// [`SeriesSet::last_sample`] and, with `samples`, their [`SeriesSet::samples`]. Storage
    /// may load what that touches into the CPU caches at once, so that reading them one by
    /// one does not wait on memory series after series. Does nothing by default.
    fn prefetch(&self, range: std::ops::Range<usize>, samples: bool) {
        let _ = (range, samples);
    }

    /// The newest sample of series `i` inside the select's range (the last one
    /// [`SeriesSet::samples`] gives), staleness markers included; `buf` is scratch space.
    /// Storage that keeps each series' newest sample apart answers without decoding history,
    /// which is all an instant selector needs.
    fn last_sample(
        &self,
        i: usize,
        buf: &mut Vec<(i64, f64)>,
    ) -> Result<Option<(i64, f64)>, StorageError> {
        self.samples(i, buf)?;
        Ok(buf.last().copied())
    }
}
