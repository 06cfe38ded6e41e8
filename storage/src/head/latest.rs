//! Reading the latest sample of selected series (the `/federate` hot path).
//!
//! Refs are walked in batches: for each batch the symbol table's and every shard's read lock
//! are taken once, the batch is pushed into the sink, and the guards are dropped, so appends
//! wait at most one batch. Nothing is allocated per series.

use crate::chunks::SeriesChunks;
use crate::is_stale_nan;
use crate::series::SeriesRef;
use crate::symbols::{NAME_SYMBOL, SymbolId, SymbolTable};

use super::shard::NO_SAMPLE;
use super::{Head, LabelsRef, LatestSink};

/// Refs rendered per lock acquisition.
const LATEST_BATCH: usize = 1024;

/// A series' label set as symbol ids, resolved on demand: the [`LabelsRef`] the head hands to
/// sinks.
#[derive(Debug, Clone, Copy)]
pub struct SymbolLabels<'a> {
    ids: &'a [u32],
    symbols: &'a SymbolTable,
}

impl LabelsRef for SymbolLabels<'_> {
    fn metric_name(&self) -> &str {
        self.ids
            .chunks_exact(2)
            .find(|p| p[0] == NAME_SYMBOL.0)
            .map_or("", |p| self.symbols.resolve(SymbolId(p[1])))
    }

    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        for p in self.ids.chunks_exact(2) {
            f(
                self.symbols.resolve(SymbolId(p[0])),
                self.symbols.resolve(SymbolId(p[1])),
            );
        }
    }
}

impl Head {
    /// For each series of `refs` (in order) pushes its latest sample with
    /// `mint_ms <= t <= maxt_ms` into `sink`, skipping series whose latest such sample is a
    /// stale marker or that have none. Returns `false` if the sink stopped the walk.
    ///
    /// When a series' latest sample is newer than `maxt_ms`, the latest one at or before
    /// `maxt_ms` is read from its chunks (the rare path).
    pub fn latest(
        &self,
        refs: &[SeriesRef],
        mint_ms: i64,
        maxt_ms: i64,
        sink: &mut dyn LatestSink,
    ) -> bool {
        let bits = self.shard_bits;
        let mask = (1u32 << bits) - 1;
        for batch in refs.chunks(LATEST_BATCH) {
            let symbols = self.symbols.read();
            let shards = self.read_all_shards();
            for &SeriesRef(r) in batch {
                let shard = &shards[(r & mask) as usize];
                let i = (r >> bits) as usize;
                let (ts, vs) = shard.columns();
                let Some(&t) = ts.get(i) else {
                    continue;
                };
                let mut t = t as i64;
                let mut v = f64::from_bits(vs[i]);
                if t > maxt_ms {
                    match shard
                        .history(i)
                        .and_then(|h: &SeriesChunks| h.latest_at_or_before(maxt_ms))
                    {
                        Some((ht, hv)) => (t, v) = (ht, hv),
                        None => continue,
                    }
                }
                if t < mint_ms || t == NO_SAMPLE || is_stale_nan(v) {
                    continue;
                }
                let labels = SymbolLabels {
                    ids: shard.labels(i),
                    symbols: &symbols,
                };
                if !sink.sample(&labels, t, v) {
                    return false;
                }
            }
        }
        true
    }
}
