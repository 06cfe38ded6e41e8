//! Series garbage collection ([`Head::gc`]): series whose latest sample is older than a
//! persisted block's end leave the index and free their history, keeping their ref.

use std::sync::atomic::Ordering;

use crate::labels::packed::LabelPairs;
use crate::symbols::SymbolId;

use super::Head;

/// What one [`Head::gc`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Series unindexed and emptied (now tombstones).
    pub series_removed: u64,
    /// Candidates found by the scan that a racing commit revived before they were removed.
    pub series_revived: u64,
    /// How long the index write lock was held (selections and new-series commits wait
    /// this long).
    pub index_lock: std::time::Duration,
    /// Wall time of the whole collection.
    pub elapsed: std::time::Duration,
}

impl Head {
    /// Series garbage collection: every indexed series whose latest sample is older than
    /// `before_ms` becomes a tombstone. It leaves the index (so selections, label names and
    /// label values no longer see it), its history is freed and its latest sample cleared.
    /// Its ref, label set and hash entry stay: a scrape cache's `append_ref` or an
    /// `append(labels)` for it later stores a first sample and the commit indexes it again,
    /// under the same ref, and the WAL's series records stay correct.
    ///
    /// Call it only for `before_ms` at or below a persisted block's end (with
    /// [`Head::set_min_valid_time`] already there): the removed samples must be in blocks.
    /// Commits go on meanwhile; each candidate is re-checked under its shard's write lock, so
    /// a sample committed to it before that is kept and one committed after revives it.
    pub fn gc(&self, before_ms: i64) -> GcStats {
        let t0 = std::time::Instant::now();
        let mut stats = GcStats::default();
        // 1. Scan, without the index lock: candidates per shard and their label pairs (a
        //    superset of what is removed; labels never change, so reading them here is safe).
        let mut candidates: Vec<Vec<u32>> = Vec::with_capacity(self.shards.len());
        let mut pairs: Vec<(SymbolId, SymbolId)> = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read();
            let mut c = Vec::new();
            shard.older_than(before_ms, &mut c);
            for &i in &c {
                pairs.extend(
                    shard
                        .labels(i as usize)
                        .pairs()
                        .map(|(n, v)| (SymbolId(n), SymbolId(v))),
                );
            }
            candidates.push(c);
        }
        if candidates.iter().all(Vec::is_empty) {
            stats.elapsed = t0.elapsed();
            return stats;
        }
        pairs.sort_unstable();
        pairs.dedup();
        // 2. Under the index write lock: re-check and tombstone, one shard at a time, then
        //    unindex the batch. A commit reviving a series after its shard was done waits
        //    for the index lock to index it, so it finds it unindexed and indexes it again.
        let mut removed = roaring::RoaringBitmap::new();
        let mut postings = self.postings.write();
        let locked = std::time::Instant::now();
        for (s, c) in candidates.iter().enumerate() {
            if c.is_empty() {
                continue;
            }
            let mut shard = self.shards[s].write();
            for &i in c {
                let Some(r) = self.join(s, i) else { continue };
                if !postings.contains(r.0) {
                    continue;
                }
                match shard.latest(i as usize) {
                    Some((t, _)) if t < before_ms => {
                        shard.tombstone(i as usize);
                        removed.insert(r.0);
                    }
                    _ => stats.series_revived += 1,
                }
            }
        }
        stats.series_removed = postings.remove_batch(&removed, &pairs);
        stats.index_lock = locked.elapsed();
        drop(postings);
        self.series_removed
            .fetch_add(stats.series_removed, Ordering::Relaxed);
        stats.elapsed = t0.elapsed();
        stats
    }

    /// Series removed by [`Head::gc`] since the head was opened, for `/metrics`.
    pub fn series_removed_total(&self) -> u64 {
        self.series_removed.load(Ordering::Relaxed)
    }
}
