//! Reading the latest sample of selected series (the `/federate` hot path).
//!
//! Refs are walked in batches: for each batch the symbol table's and every shard's read lock
//! are taken once, the batch is pushed into the sink, and the guards are dropped, so appends
//! wait at most one batch. Nothing is allocated per series.

use crate::is_stale_nan;
use crate::labels::packed::{LabelPairs, PackedLabels};
use crate::series::SeriesRef;
use crate::symbols::{NAME_SYMBOL, SymbolId, SymbolTable};

use super::shard::NO_SAMPLE;
use super::{Head, LabelsRef, LatestSink};

/// Refs rendered per lock acquisition.
const LATEST_BATCH: usize = 1024;
/// Refs whose loads are issued together before any is rendered.
const PIPELINE: usize = 32;

/// A series' label set as symbol ids, resolved on demand: the [`LabelsRef`] the head hands to
/// sinks.
#[derive(Debug, Clone, Copy)]
pub struct SymbolLabels<'a> {
    labels: PackedLabels<'a>,
    symbols: &'a SymbolTable,
}

impl<'a> SymbolLabels<'a> {
    /// The `(name, value)` symbol ids in name order. Ids are stable for the head's lifetime
    /// (the symbol table only grows), so equal ids mean equal strings.
    #[inline]
    pub fn id_pairs(&self) -> impl Iterator<Item = (SymbolId, SymbolId)> + 'a {
        self.labels.pairs().map(|(n, v)| (SymbolId(n), SymbolId(v)))
    }

    /// The string of a symbol id taken from this label set.
    #[inline]
    pub fn resolve(&self, id: SymbolId) -> &'a str {
        self.symbols.resolve(id)
    }

    /// The symbol table the ids refer to (one per head): ids from label sets with different
    /// tables are not comparable.
    #[inline]
    pub fn symbol_table(&self) -> &'a SymbolTable {
        self.symbols
    }
}

impl LabelsRef for SymbolLabels<'_> {
    fn metric_name(&self) -> &str {
        self.labels
            .get(NAME_SYMBOL.0)
            .map_or("", |v| self.symbols.resolve(SymbolId(v)))
    }

    fn for_each(&self, f: &mut dyn FnMut(&str, &str)) {
        for (n, v) in self.labels.pairs() {
            f(
                self.symbols.resolve(SymbolId(n)),
                self.symbols.resolve(SymbolId(v)),
            );
        }
    }

    fn as_symbols(&self) -> Option<SymbolLabels<'_>> {
        Some(*self)
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
            // Software pipelining: first read every ref's columns (independent loads the CPU
            // overlaps), then its label ids, then render, instead of one dependent chain of
            // cache misses per series. Prefetches run ahead of that: the records of the
            // group after next and the labels of the next group (whose records were asked
            // for one group earlier) load while this group renders.
            let locate = |r: u32| ((r & mask) as usize, (r >> bits) as usize);
            let prefetch_records = |g: &[SeriesRef]| {
                for &SeriesRef(r) in g {
                    let (s, i) = locate(r);
                    shards[s].prefetch_record(i);
                }
            };
            let prefetch_labels = |g: &[SeriesRef]| {
                for &SeriesRef(r) in g {
                    let (s, i) = locate(r);
                    shards[s].prefetch_labels(i);
                }
            };
            let group_at = |k: usize| {
                batch
                    .get(k * PIPELINE..)
                    .map(|g| &g[..g.len().min(PIPELINE)])
            };
            for g in (0..2).filter_map(group_at) {
                prefetch_records(g);
            }
            for (k, group) in batch.chunks(PIPELINE).enumerate() {
                if let Some(g) = group_at(k + 2) {
                    prefetch_records(g);
                }
                if let Some(g) = group_at(k + 1) {
                    prefetch_labels(g);
                }
                let mut hits: [(usize, usize, i64, f64); PIPELINE] = [(0, 0, 0, 0.0); PIPELINE];
                let mut n = 0;
                for &SeriesRef(r) in group {
                    let (s, i) = locate(r);
                    let shard = &shards[s];
                    let Some((mut t, mut v)) = shard.latest_raw(i) else {
                        continue;
                    };
                    if t > maxt_ms {
                        match shard.history_latest_at_or_before(i, maxt_ms) {
                            Some(s) => (t, v) = s,
                            None => continue,
                        }
                    }
                    if t < mint_ms || t == NO_SAMPLE || is_stale_nan(v) {
                        continue;
                    }
                    hits[n] = (s, i, t, v);
                    n += 1;
                }
                let mut labels = [PackedLabels::new(&[], &[]); PIPELINE];
                let mut touch = 0u32;
                for (k, &(s, i, _, _)) in hits[..n].iter().enumerate() {
                    labels[k] = shards[s].labels(i);
                    touch ^= labels[k].value_at(0).unwrap_or(0);
                }
                std::hint::black_box(touch);
                for (k, &(_, _, t, v)) in hits[..n].iter().enumerate() {
                    let l = SymbolLabels {
                        labels: labels[k],
                        symbols: &symbols,
                    };
                    if !sink.sample(&l, t, v) {
                        return false;
                    }
                }
            }
        }
        true
    }
}
