//! The sharded head block: series, latest-sample columns, appenders and selection.
//!
//! API contract (the server depends on it; see docs/architecture.md):
//! - [`Head::appender`] batches samples; [`Appender::commit`] applies them.
//! - [`Head::select`] turns `match[]` matcher sets into a [`Selection`] in federation order.
//! - [`Head::latest`] pushes the latest sample of selected series into a [`LatestSink`].

use std::path::Path;

use crate::error::{AppendError, Error};
use crate::labels::Labels;
use crate::query::Matcher;
use crate::series::SeriesRef;

/// Options of the head block.
#[derive(Debug, Clone)]
pub struct HeadOptions {
    /// Number of shards (each with its own lock). Default: from the core count.
    pub shards: usize,
}

impl Default for HeadOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HeadOptions { shards: (cores * 4).next_power_of_two() }
    }
}

/// Counts of what a commit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendStats {
    /// Samples stored.
    pub appended: u64,
    /// Samples refused as older than their series' latest sample.
    pub out_of_order: u64,
    /// Samples refused as same timestamp, different value.
    pub duplicate: u64,
    /// Samples refused as too old for the head.
    pub out_of_bounds: u64,
    /// Series created by this batch.
    pub series_created: u64,
}

/// A borrowed view of one series' label set, in name order (`__name__` included).
pub trait LabelsRef {
    /// The `__name__` value, `""` when absent.
    fn metric_name(&self) -> &str;
    /// Calls `f(name, value)` for every label in name order.
    fn for_each(&self, f: &mut dyn FnMut(&str, &str));
}

/// Receives the latest sample of each selected series, in selection order.
pub trait LatestSink {
    /// One series and its latest sample. Return `false` to stop the walk.
    fn sample(&mut self, labels: &dyn LabelsRef, t_ms: i64, v: f64) -> bool;
}

/// Series selected by one or more matcher sets, without duplicates, in federation order:
/// grouped by metric name in byte order, then by full label set.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Series refs in output order.
    pub refs: Vec<SeriesRef>,
}

/// The head block.
pub struct Head {
    _opts: HeadOptions,
}

impl Head {
    /// Opens (or creates) the head under `dir` (`<storage.tsdb.path>/head`).
    pub fn open(dir: &Path, opts: HeadOptions) -> Result<Head, Error> {
        let _ = dir;
        Ok(Head { _opts: opts })
    }

    /// A new appender. Appenders are cheap; use one per request or scrape.
    pub fn appender(&self) -> Appender<'_> {
        Appender { _head: self }
    }

    /// Number of series in the head.
    pub fn num_series(&self) -> usize {
        0
    }

    /// Selects the union of series matching any of `sets` (each a conjunction of matchers).
    /// An empty matcher set selects nothing.
    pub fn select(&self, sets: &[Vec<Matcher>]) -> Selection {
        let _ = sets;
        Selection::default()
    }

    /// For each series of `refs` (in order) pushes its latest sample with
    /// `mint_ms <= t <= maxt_ms` into `sink`, skipping series whose latest such sample is a
    /// stale marker or that have none. Returns `false` if the sink stopped the walk.
    pub fn latest(
        &self,
        refs: &[SeriesRef],
        mint_ms: i64,
        maxt_ms: i64,
        sink: &mut dyn LatestSink,
    ) -> bool {
        let _ = (refs, mint_ms, maxt_ms, sink);
        true
    }
}

/// A batch of samples, applied on [`Appender::commit`].
pub struct Appender<'h> {
    _head: &'h Head,
}

impl Appender<'_> {
    /// Appends a sample for the series `labels`, creating the series if needed, and returns
    /// its ref for later [`Appender::append_ref`] calls.
    pub fn append(&mut self, labels: &Labels, t_ms: i64, v: f64) -> Result<SeriesRef, AppendError> {
        let _ = (labels, t_ms, v);
        Err(AppendError::UnknownRef(0))
    }

    /// Appends a sample to an existing series.
    pub fn append_ref(&mut self, r: SeriesRef, t_ms: i64, v: f64) -> Result<(), AppendError> {
        let _ = (t_ms, v);
        Err(AppendError::UnknownRef(r.0))
    }

    /// Applies the batch. Out-of-order and duplicate samples are counted, not fatal.
    pub fn commit(self) -> Result<AppendStats, Error> {
        Ok(AppendStats::default())
    }

    /// Drops the batch.
    pub fn rollback(self) {}
}
