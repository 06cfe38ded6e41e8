//! What the cardinality view over head and blocks (`crate::cardinality`) needs from the
//! head: its label-pair counts and named series in one index snapshot, refs by label set,
//! and the series created since a mark. Read-only; no label set is built per series.

use roaring::RoaringBitmap;

use crate::labels::{Labels, METRIC_NAME_LABEL};
use crate::series::{SeriesRef, hash_labels};

use super::Head;

/// What [`Head::pair_counts_and_named`] read, with the postings' change count it was read at.
pub(crate) struct HeadPairs {
    pub counts: crate::cardinality::LabelPairCounts,
    pub named: RoaringBitmap,
    /// [`crate::postings::MemPostings::changes`] when read.
    pub changes: u64,
}

impl Head {
    /// For every label pair in the index, how many indexed series that have a metric name
    /// carry it, and those series: both from one read of the postings, so a series indexed
    /// meanwhile is in both or in neither.
    pub(crate) fn pair_counts_and_named(&self) -> HeadPairs {
        let postings = self.postings.read();
        let symbols = self.symbols.read();
        let changes = postings.changes();
        let Some(named) = symbols
            .get(METRIC_NAME_LABEL)
            .and_then(|n| postings.name(n))
            .map(|np| np.any())
        else {
            return HeadPairs {
                counts: Vec::new(),
                named: RoaringBitmap::new(),
                changes,
            };
        };
        // Series without a metric name are rare (remote write may send them): without any, a
        // pair's count is its postings' size, no intersection to walk.
        let all_named = named.len() == postings.all().len();
        let mut out = Vec::new();
        for &n in postings.label_names() {
            let Some(np) = postings.name(n) else { continue };
            for &v in np.values() {
                let Some(b) = np.get(v) else { continue };
                let c = if all_named {
                    b.len()
                } else {
                    b.intersection_len(named)
                };
                if c > 0 {
                    out.push((
                        symbols.resolve(n).to_owned(),
                        symbols.resolve(v).to_owned(),
                        c,
                    ));
                }
            }
        }
        HeadPairs {
            counts: out,
            named: named.clone(),
            changes,
        }
    }

    /// The postings' change count ([`crate::postings::MemPostings::changes`]).
    pub(crate) fn postings_changes(&self) -> u64 {
        self.postings.read().changes()
    }

    /// Distinct label pairs in the index (`status/tsdb`'s `numLabelPairs`), counted without
    /// resolving a symbol.
    pub fn num_label_pairs(&self) -> usize {
        let postings = self.postings.read();
        postings
            .label_names()
            .iter()
            .filter_map(|&n| postings.name(n))
            .map(|np| np.values().len())
            .sum()
    }

    /// The ref of the series `labels`, indexed or not (a collected series keeps its ref as a
    /// tombstone, and a later sample revives it under that ref).
    pub(crate) fn find_ref(&self, labels: &Labels) -> Option<SeriesRef> {
        let (s, i, _) = self.find(hash_labels(labels), labels)?;
        self.join(s, i)
    }

    /// Per shard, how many series it holds: a mark for [`Head::for_each_series_since`].
    pub(crate) fn series_marks(&self) -> Vec<usize> {
        self.shards.iter().map(|s| s.read().len()).collect()
    }

    /// Calls `f(ref, label-set hash)` for every series created after `marks` (shards only
    /// grow: a collected series stays as a tombstone) and moves the marks to now.
    pub(crate) fn for_each_series_since(
        &self,
        marks: &mut [usize],
        f: &mut dyn FnMut(SeriesRef, u64),
    ) {
        for (s, mark) in marks.iter_mut().enumerate() {
            let Some(shard) = self.shards.get(s) else {
                continue;
            };
            let shard = shard.read();
            for i in *mark..shard.len() {
                if let Some(r) = u32::try_from(i).ok().and_then(|i| self.join(s, i)) {
                    f(r, shard.hash(i));
                }
            }
            *mark = shard.len();
        }
    }
}
