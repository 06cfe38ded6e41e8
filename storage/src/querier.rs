//! Reading a time range across blocks and head: a [`Querier`] is a snapshot of the block list
//! plus the head, taken without holding anything compaction waits for.
//!
//! The head answers only for `t >= head_floor` (the newest persisted block's end); blocks for
//! the rest. Should compaction persist and truncate a head range while a query reads, the
//! reader sees the truncation mark move past its floor and reads that range from the blocks
//! added since (found through the live block list), so no sample is lost or doubled.
//! Results come sorted by label set (`labels.Compare` order), head and blocks merged.

use std::collections::BTreeSet;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::block::Block;
use crate::block::chunks::PageCache;
use crate::db::Db;
use crate::error::Error;
use crate::head::Head;
use crate::labels::Labels;
use crate::matcher::{MatchOp, Matcher};
use crate::series::SeriesRef;

/// A read view of `[mint_ms, maxt_ms]` over the blocks and head of a [`Db`]; cheap to clone
/// (each [`SeriesSet`] holds its own copy).
#[derive(Clone)]
pub struct Querier<'db> {
    db: &'db Db,
    head: &'db Head,
    /// Blocks overlapping the range at snapshot time, oldest first.
    blocks: Vec<Arc<Block>>,
    /// The head answers for `t >= head_floor`; blocks below it.
    head_floor: i64,
    /// Whether the head holds samples in the range.
    use_head: bool,
    mint: i64,
    maxt: i64,
}

impl std::fmt::Debug for Querier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Querier")
            .field("blocks", &self.blocks.len())
            .field("head_floor", &self.head_floor)
            .field("mint", &self.mint)
            .field("maxt", &self.maxt)
            .finish()
    }
}

/// Where one selected series lives: its label set, its head ref and its ids in the
/// querier's blocks (by index in the block list).
#[derive(Debug, Clone)]
struct Entry {
    labels: Labels,
    head: Option<SeriesRef>,
    blocks: Vec<(u32, u32)>,
    /// Found only in a block persisted after the snapshot (compaction ran during `select`).
    late: bool,
}

impl<'db> Querier<'db> {
    /// A querier over `[mint_ms, maxt_ms]` (both inclusive).
    pub(crate) fn new(
        db: &'db Db,
        blocks: Vec<Arc<Block>>,
        head_floor: i64,
        mint: i64,
        maxt: i64,
    ) -> Self {
        let head = db.head().as_ref();
        let blocks = blocks
            .into_iter()
            .filter(|b| b.overlaps(mint, maxt))
            .collect();
        let use_head = head.time_bounds().is_some_and(|(hmin, hmax)| {
            hmax >= mint.max(head_floor) && hmin.max(head_floor) <= maxt
        });
        Querier {
            db,
            head,
            blocks,
            head_floor,
            use_head,
            mint,
            maxt,
        }
    }

    /// Start of the range (ms, inclusive).
    pub fn mint(&self) -> i64 {
        self.mint
    }

    /// End of the range (ms, inclusive).
    pub fn maxt(&self) -> i64 {
        self.maxt
    }

    /// The series matching any of `sets` (each a conjunction; an empty one selects nothing),
    /// sorted by label set, each once however many blocks and the head hold it. Samples are
    /// read later, one series at a time, through [`SeriesSet::samples`].
    pub fn select(&self, sets: &[Vec<Matcher>]) -> Result<SeriesSet<'db>, Error> {
        let mut entries: Vec<Entry> = Vec::new();
        if self.use_head {
            for r in self.head.select(sets).refs {
                if let Some(labels) = self.head.series_labels(r) {
                    entries.push(Entry {
                        labels,
                        head: Some(r),
                        blocks: Vec::new(),
                        late: false,
                    });
                }
            }
        }
        for (bi, b) in self.blocks.iter().enumerate() {
            for id in b.select(sets)? {
                entries.push(Entry {
                    labels: b.labels(id)?,
                    head: None,
                    blocks: vec![(bi as u32, id)],
                    late: false,
                });
            }
        }
        // Compaction persisted part of the head range after the snapshot and may have
        // collected series from the head before its select: find them in the new blocks.
        if self.use_head && self.db.head_truncated_before() > self.head_floor {
            let from = self.mint.max(self.head_floor);
            for b in self.db.blocks() {
                if b.meta().max_time <= self.head_floor || !b.overlaps(from, self.maxt) {
                    continue;
                }
                for id in b.select(sets)? {
                    entries.push(Entry {
                        labels: b.labels(id)?,
                        head: None,
                        blocks: Vec::new(),
                        late: true,
                    });
                }
            }
        }
        // Each source is in federation order (name, then label set), which differs from
        // label-set order only when a label name sorts before `__name__`; and sources must
        // be merged. Both are rare enough that one check then a sort is the simple way.
        if !entries.is_sorted_by(|a, b| a.labels < b.labels) {
            entries.sort_by(|a, b| a.labels.cmp(&b.labels));
            entries.dedup_by(|later, first| {
                if later.labels != first.labels {
                    return false;
                }
                first.head = first.head.or(later.head);
                first.blocks.append(&mut later.blocks);
                first.late |= later.late;
                true
            });
            for e in &mut entries {
                e.blocks.sort_unstable();
            }
        }
        Ok(SeriesSet {
            q: self.clone(),
            entries,
            caches: Mutex::new(Vec::new()),
        })
    }

    /// Label names of the series matching any of `sets`, or of every series in the range
    /// when `sets` is empty; sorted, deduplicated. Without matchers, head and blocks answer
    /// from their index: a head or block overlapping the range gives all its names.
    pub fn label_names(&self, sets: &[Vec<Matcher>]) -> Result<Vec<String>, Error> {
        if sets.is_empty() {
            let mut names: BTreeSet<String> = BTreeSet::new();
            if self.use_head {
                names.extend(self.head.label_names());
            }
            for b in &self.blocks {
                names.extend(b.label_names().into_iter().map(str::to_owned));
            }
            return Ok(names.into_iter().collect());
        }
        let set = self.select(sets)?;
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for e in &set.entries {
            names.extend(e.labels.iter().map(|l| l.name.as_str()));
        }
        Ok(names.into_iter().map(str::to_owned).collect())
    }

    /// Values of label `name` over the series matching any of `sets`, or over every series
    /// in the range when `sets` is empty (index granularity, as Prometheus); sorted,
    /// deduplicated.
    pub fn label_values(&self, name: &str, sets: &[Vec<Matcher>]) -> Result<Vec<String>, Error> {
        if sets.is_empty() {
            let mut values: BTreeSet<String> = BTreeSet::new();
            if self.use_head {
                values.extend(self.head.label_values(name));
            }
            for b in &self.blocks {
                values.extend(b.label_values(name).into_iter().map(str::to_owned));
            }
            return Ok(values.into_iter().collect());
        }
        // Only series that have the label can contribute a value.
        let has = Matcher::new(MatchOp::NotEqual, name, "")
            .map_err(|e| Error::io("label values", std::io::Error::other(e)))?;
        let sets: Vec<Vec<Matcher>> = sets
            .iter()
            .map(|s| s.iter().cloned().chain([has.clone()]).collect())
            .collect();
        let set = self.select(&sets)?;
        let mut values: BTreeSet<&str> = BTreeSet::new();
        for e in &set.entries {
            values.insert(e.labels.get(name));
        }
        Ok(values.into_iter().map(str::to_owned).collect())
    }
}

/// The result of [`Querier::select`]: series sorted by label set, read by index from any
/// thread.
pub struct SeriesSet<'db> {
    q: Querier<'db>,
    entries: Vec<Entry>,
    /// Block page caches (each holds a zstd context), reused across reads and threads.
    caches: Mutex<Vec<PageCache>>,
}

impl std::fmt::Debug for SeriesSet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesSet")
            .field("len", &self.entries.len())
            .finish()
    }
}

impl SeriesSet<'_> {
    /// Number of series.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no series was selected.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The label set of series `i` (`i < len()`).
    pub fn labels(&self, i: usize) -> &Labels {
        &self.entries[i].labels
    }

    /// Replaces `out` with the samples of series `i` in the querier's range, in time order,
    /// staleness markers included. Empty when the series has none in the range.
    pub fn samples(&self, i: usize, out: &mut Vec<(i64, f64)>) -> Result<(), Error> {
        out.clear();
        let e = &self.entries[i];
        let q = &self.q;
        if !e.blocks.is_empty() {
            let mut cache = match self.caches.lock().pop() {
                Some(c) => c,
                None => PageCache::new()?,
            };
            let res = e.blocks.iter().try_for_each(|&(bi, id)| {
                q.blocks[bi as usize].samples(id, q.mint, q.maxt, &mut cache, out)
            });
            self.caches.lock().push(cache);
            res?;
        }
        let from = q.mint.max(q.head_floor);
        if from <= q.maxt && (e.head.is_some() || e.late) {
            let before = out.len();
            if let Some(r) = e.head {
                q.head.samples(r, from, q.maxt, out);
            }
            // Compaction persisted and truncated part of our head range meanwhile (or
            // collected the series): read that part from the blocks added since. The mark is
            // set before the head is truncated, so a mark still at our floor after the read
            // means the read was whole.
            let truncated = q.db.head_truncated_before();
            if truncated > q.head_floor {
                out.truncate(before);
                self.read_persisted_since(&e.labels, from, truncated, out)?;
                if let Some(r) = e.head {
                    q.head.samples(r, from.max(truncated), q.maxt, out);
                }
            }
        }
        if !out.is_sorted_by(|a, b| a.0 < b.0) {
            out.sort_by_key(|s| s.0);
            out.dedup_by_key(|s| s.0);
        }
        Ok(())
    }

    /// Whether series `i` has a sample in the querier's range (what [`SeriesSet::samples`]
    /// would make non-empty). Answers from the head's newest sample when that one is in
    /// range, without decoding any chunk; otherwise reads the samples into `buf`.
    pub fn has_samples(&self, i: usize, buf: &mut Vec<(i64, f64)>) -> Result<bool, Error> {
        let (e, q) = (&self.entries[i], &self.q);
        let from = q.mint.max(q.head_floor);
        if let Some(r) = e.head
            && let Some((t, _)) = q.head.latest_sample(r)
            && from <= t
            && t <= q.maxt
        {
            // `samples` returns the newest sample whenever it is in range (read from the
            // head, or from a block should compaction have persisted it meanwhile).
            return Ok(true);
        }
        self.samples(i, buf)?;
        Ok(!buf.is_empty())
    }

    /// Appends the samples of series `labels` in `[from, before)` held by the live blocks
    /// (the ones persisted after this querier's snapshot).
    fn read_persisted_since(
        &self,
        labels: &Labels,
        from: i64,
        before: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), Error> {
        let q = &self.q;
        let exact: Vec<Matcher> = labels
            .iter()
            .map(|l| Matcher::new(MatchOp::Equal, &l.name, &l.value))
            .collect::<Result<_, _>>()
            .map_err(|e| Error::io("querier", std::io::Error::other(e)))?;
        let last = (before - 1).min(q.maxt);
        if from > last {
            return Ok(());
        }
        let mut cache = PageCache::new()?;
        let sets = [exact];
        for b in q.db.blocks() {
            if b.meta().max_time <= q.head_floor || !b.overlaps(from, last) {
                continue;
            }
            for id in b.select(&sets)? {
                if b.labels(id)? == *labels {
                    b.samples(id, from, last, &mut cache, out)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
