//! Splitting the series of a selector between the two worker threads, in bounded batches:
//! each batch is cut in two halves evaluated at once (`std::thread::scope`), results come back
//! in series order, and the caller checks limits and the deadline between batches, so memory
//! stays bounded by the batch size plus the per-series step values it keeps.

use std::ops::Range;

use crate::engine::EvalError;

/// Series per batch: large enough to amortise the thread start, small enough to bound the
/// raw samples held at once (a batch holds one sample buffer per worker, not per series).
pub(crate) const BATCH_SERIES: usize = 16 * 1024;

/// Series a worker announces to storage at a time ([`crate::storage::SeriesSet::prefetch`]):
/// enough for their memory reads to overlap, few enough that what they load stays in the
/// core's caches until it reads them.
pub(crate) const PREFETCH_SERIES: usize = 32;

/// Below this many series a batch runs on the calling thread only.
const PARALLEL_MIN: usize = 512;

/// Runs `f` over `range` split in two halves (in parallel when worth it); results in order.
pub(crate) fn run_halves<T: Send>(
    range: Range<usize>,
    f: &(dyn Fn(Range<usize>) -> Result<T, EvalError> + Sync),
) -> Result<Vec<T>, EvalError> {
    let len = range.end - range.start;
    if len < PARALLEL_MIN {
        return Ok(vec![f(range)?]);
    }
    let mid = range.start + len / 2;
    let (a, b) = std::thread::scope(|s| {
        let h = s.spawn(|| f(mid..range.end));
        let a = f(range.start..mid);
        let b = h
            .join()
            .unwrap_or_else(|_| Err(EvalError::Execution("query worker panicked".into())));
        (a, b)
    });
    Ok(vec![a?, b?])
}
