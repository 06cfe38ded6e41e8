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
use crate::cancel::Cancel;
use crate::db::Db;
use crate::error::Error;
use crate::head::Head;
use crate::labels::{Labels, METRIC_NAME_LABEL};
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
    /// Checked every [`crate::CHECK_EVERY`] series by the walks below.
    cancel: Cancel,
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

/// Where one selected series lives: its head ref and its ids in the querier's blocks (a
/// range of [`SeriesSet::block_ids`]). No label set: those are built when asked for, so a
/// select over a million series holds ~32 bytes per series, not its labels.
#[derive(Debug, Clone, Copy)]
struct Entry {
    head: Option<SeriesRef>,
    /// Start of this series' `(block index, series id)` pairs in `block_ids`.
    first_block: u32,
    /// How many pairs it has.
    num_blocks: u32,
    /// Found only in a block persisted after the snapshot (compaction ran during `select`).
    late: bool,
}

/// An [`Entry`] with its label set, for the materialised select.
struct LabelledEntry {
    labels: Labels,
    head: Option<SeriesRef>,
    blocks: Vec<(u32, u32)>,
    late: bool,
}

/// One source of a merged select: the head (`block == None`) or a block, its matching ids
/// in federation order, and the label pairs of the current one (`text` holds their bytes,
/// `pairs` their ends in it: name end, value end), reused from series to series.
struct Cursor {
    block: Option<u32>,
    ids: Vec<u32>,
    pos: usize,
    live: bool,
    text: String,
    pairs: Vec<(u32, u32)>,
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
            cancel: Cancel::default(),
        }
    }

    /// This querier with its walks stopping when `cancel` says so ([`Error::Stopped`]).
    pub fn with_cancel(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    /// The querier's stop signal.
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
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
    /// sorted by label set, each once however many blocks and the head hold it. Samples and
    /// label sets are read later, one series at a time, through [`SeriesSet::samples`] and
    /// [`SeriesSet::labels`]: the set itself holds no label set unless a source's order
    /// differs from label-set order (a label name sorting before `__name__`) or compaction
    /// ran meanwhile, the rare cases where it sorts them all.
    pub fn select(&self, sets: &[Vec<Matcher>]) -> Result<SeriesSet<'db>, Error> {
        let late = self.use_head && self.db.head_truncated_before() > self.head_floor;
        let mut cursors: Vec<Cursor> = Vec::new();
        if self.use_head {
            let ids: Vec<u32> = self.head.select(sets).refs.iter().map(|r| r.0).collect();
            cursors.push(Cursor::new(None, ids));
        }
        for (bi, b) in self.blocks.iter().enumerate() {
            self.cancel.check()?;
            cursors.push(Cursor::new(
                Some(bi as u32),
                b.select(sets)?.iter().collect(),
            ));
        }
        cursors.retain(|c| !c.ids.is_empty());
        if late || !self.in_label_order(&cursors) {
            return self.select_sorted(sets, cursors, late);
        }
        let mut entries = Vec::new();
        let mut block_ids = Vec::new();
        if let [one] = cursors.as_slice() {
            // One source, already in label-set order: no label set is needed at all.
            entries.reserve_exact(one.ids.len());
            for (k, &id) in one.ids.iter().enumerate() {
                self.cancel.check_at(k)?;
                entries.push(one.entry(id, &mut block_ids));
            }
        } else {
            self.merge(&mut cursors, &mut entries, &mut block_ids)?;
        }
        Ok(SeriesSet {
            q: self.clone(),
            entries,
            block_ids,
            labels: Vec::new(),
            caches: Mutex::new(Vec::new()),
        })
    }

    /// Whether every source lists its series in label-set order: federation order (metric
    /// name, then label set) is label-set order when no label name sorts before `__name__`.
    fn in_label_order(&self, cursors: &[Cursor]) -> bool {
        let ok = |first: Option<&str>| first.is_none_or(|n| n >= METRIC_NAME_LABEL);
        cursors.iter().all(|c| match c.block {
            None => ok(self.head.label_names().first().map(String::as_str)),
            Some(bi) => ok(self.blocks[bi as usize].label_names().first().copied()),
        })
    }

    /// Merges sources in label-set order, one series of each at a time: only the current
    /// label set of each source is alive, never all of them.
    fn merge(
        &self,
        cursors: &mut [Cursor],
        entries: &mut Vec<Entry>,
        block_ids: &mut Vec<(u32, u32)>,
    ) -> Result<(), Error> {
        for c in cursors.iter_mut() {
            self.load(c)?;
        }
        let mut same: Vec<usize> = Vec::with_capacity(cursors.len());
        loop {
            let mut min: Option<usize> = None;
            for (k, c) in cursors.iter().enumerate() {
                if !c.live {
                    continue;
                }
                if min.is_none_or(|m| c.cmp_labels(&cursors[m]).is_lt()) {
                    min = Some(k);
                }
            }
            let Some(min) = min else { return Ok(()) };
            self.cancel.check_at(entries.len())?;
            same.clear();
            same.extend(
                (0..cursors.len())
                    .filter(|&k| cursors[k].live && cursors[k].cmp_labels(&cursors[min]).is_eq()),
            );
            let mut e = Entry {
                head: None,
                first_block: block_ids.len() as u32,
                num_blocks: 0,
                late: false,
            };
            // Cursors are head first, then blocks oldest first: the pairs stay sorted.
            for &k in &same {
                let c = &mut cursors[k];
                let id = c.ids[c.pos];
                match c.block {
                    None => e.head = Some(SeriesRef(id)),
                    Some(bi) => {
                        block_ids.push((bi, id));
                        e.num_blocks += 1;
                    }
                }
                c.pos += 1;
                self.load(c)?;
            }
            entries.push(e);
        }
    }

    /// Loads the label pairs of `c`'s current series (`live` false at the end), into its
    /// reused buffers.
    fn load(&self, c: &mut Cursor) -> Result<(), Error> {
        c.live = false;
        while let Some(&id) = c.ids.get(c.pos) {
            c.text.clear();
            c.pairs.clear();
            let (text, pairs) = (&mut c.text, &mut c.pairs);
            let mut push = |n: &str, v: &str| {
                text.push_str(n);
                let n_end = text.len() as u32;
                text.push_str(v);
                pairs.push((n_end, text.len() as u32));
            };
            c.live = match c.block {
                None => self.head.for_each_label(SeriesRef(id), &mut push),
                Some(bi) => {
                    self.blocks[bi as usize].for_each_label(id, &mut push)?;
                    true
                }
            };
            if c.live {
                break;
            }
            // A head ref without a series (cannot happen for a selected ref): skip it.
            c.pos += 1;
        }
        Ok(())
    }

    /// The materialised select: every label set built, then sorted and merged. For sources
    /// not in label-set order, and when compaction ran during the select (`late`).
    fn select_sorted(
        &self,
        sets: &[Vec<Matcher>],
        cursors: Vec<Cursor>,
        late: bool,
    ) -> Result<SeriesSet<'db>, Error> {
        let mut all: Vec<LabelledEntry> = Vec::new();
        for c in &cursors {
            for &id in &c.ids {
                self.cancel.check_at(all.len())?;
                let (labels, head, blocks) = match c.block {
                    None => match self.head.series_labels(SeriesRef(id)) {
                        Some(l) => (l, Some(SeriesRef(id)), Vec::new()),
                        None => continue,
                    },
                    Some(bi) => (self.blocks[bi as usize].labels(id)?, None, vec![(bi, id)]),
                };
                all.push(LabelledEntry {
                    labels,
                    head,
                    blocks,
                    late: false,
                });
            }
        }
        // Compaction persisted part of the head range after the snapshot and may have
        // collected series from the head before its select: find them in the new blocks.
        if late {
            let from = self.mint.max(self.head_floor);
            for b in self.db.blocks() {
                if b.meta().max_time <= self.head_floor || !b.overlaps(from, self.maxt) {
                    continue;
                }
                for id in b.select(sets)? {
                    all.push(LabelledEntry {
                        labels: b.labels(id)?,
                        head: None,
                        blocks: Vec::new(),
                        late: true,
                    });
                }
            }
        }
        if !all.is_sorted_by(|a, b| a.labels < b.labels) {
            all.sort_by(|a, b| a.labels.cmp(&b.labels));
            all.dedup_by(|later, first| {
                if later.labels != first.labels {
                    return false;
                }
                first.head = first.head.or(later.head);
                first.blocks.append(&mut later.blocks);
                first.late |= later.late;
                true
            });
        }
        let mut entries = Vec::with_capacity(all.len());
        let mut block_ids = Vec::new();
        let mut labels = Vec::with_capacity(all.len());
        for mut e in all {
            e.blocks.sort_unstable();
            entries.push(Entry {
                head: e.head,
                first_block: block_ids.len() as u32,
                num_blocks: e.blocks.len() as u32,
                late: e.late,
            });
            block_ids.extend_from_slice(&e.blocks);
            labels.push(e.labels);
        }
        Ok(SeriesSet {
            q: self.clone(),
            entries,
            block_ids,
            labels,
            caches: Mutex::new(Vec::new()),
        })
    }

    /// Label names of the series matching any of `sets`, or of every series in the range
    /// when `sets` is empty; sorted, deduplicated. Without matchers, head and blocks answer
    /// from their index: a head or block overlapping the range gives all its names.
    pub fn label_names(&self, sets: &[Vec<Matcher>]) -> Result<Vec<String>, Error> {
        if sets.is_empty() {
            let head = self.use_head.then(|| self.head.label_names());
            let blocks = self.blocks.iter().map(|b| b.label_names());
            return Ok(merge_sorted(head, blocks));
        }
        let set = self.select(sets)?;
        let mut names: BTreeSet<String> = BTreeSet::new();
        for i in 0..set.len() {
            self.cancel.check_at(i)?;
            for l in set.labels(i)?.iter() {
                if !names.contains(l.name.as_str()) {
                    names.insert(l.name.clone());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Values of label `name` over the series matching any of `sets`, or over every series
    /// in the range when `sets` is empty (index granularity, as Prometheus); sorted,
    /// deduplicated.
    pub fn label_values(&self, name: &str, sets: &[Vec<Matcher>]) -> Result<Vec<String>, Error> {
        if sets.is_empty() {
            let head = self.use_head.then(|| self.head.label_values(name));
            let blocks = self.blocks.iter().map(|b| b.label_values(name));
            return Ok(merge_sorted(head, blocks));
        }
        // Only series that have the label can contribute a value.
        let has = Matcher::new(MatchOp::NotEqual, name, "")
            .map_err(|e| Error::io("label values", std::io::Error::other(e)))?;
        let sets: Vec<Vec<Matcher>> = sets
            .iter()
            .map(|s| s.iter().cloned().chain([has.clone()]).collect())
            .collect();
        let set = self.select(&sets)?;
        let mut values: BTreeSet<String> = BTreeSet::new();
        for i in 0..set.len() {
            self.cancel.check_at(i)?;
            let labels = set.labels(i)?;
            let v = labels.get(name);
            if !values.contains(v) {
                values.insert(v.to_owned());
            }
        }
        Ok(values.into_iter().collect())
    }
}

/// The union of sorted, deduplicated lists (the head's, owned, and the blocks'), sorted and
/// deduplicated. The head's list is the answer as it is when no block adds to it (a head-only
/// range: no copy, no set); otherwise the lists are concatenated and merged by a sort that
/// finds their sorted runs.
fn merge_sorted<'a>(
    head: Option<Vec<String>>,
    blocks: impl Iterator<Item = Vec<&'a str>>,
) -> Vec<String> {
    let mut out = head.unwrap_or_default();
    let mut added = false;
    for list in blocks {
        added |= !list.is_empty();
        out.extend(list.into_iter().map(str::to_owned));
    }
    if added {
        out.sort();
        out.dedup();
    }
    out
}

impl Cursor {
    fn new(block: Option<u32>, ids: Vec<u32>) -> Self {
        Cursor {
            block,
            ids,
            pos: 0,
            live: false,
            text: String::new(),
            pairs: Vec::new(),
        }
    }

    /// The current label pairs.
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut from = 0;
        self.pairs.iter().map(move |&(n, v)| {
            let (n, v) = (n as usize, v as usize);
            let pair = (&self.text[from..n], &self.text[n..v]);
            from = v;
            pair
        })
    }

    /// Compares the current label sets of two live cursors as [`Labels`] compare.
    fn cmp_labels(&self, other: &Cursor) -> std::cmp::Ordering {
        self.pairs().cmp(other.pairs())
    }

    /// The entry of series `id` found in this source only.
    fn entry(&self, id: u32, block_ids: &mut Vec<(u32, u32)>) -> Entry {
        let first_block = block_ids.len() as u32;
        match self.block {
            None => Entry {
                head: Some(SeriesRef(id)),
                first_block,
                num_blocks: 0,
                late: false,
            },
            Some(bi) => {
                block_ids.push((bi, id));
                Entry {
                    head: None,
                    first_block,
                    num_blocks: 1,
                    late: false,
                }
            }
        }
    }
}

/// The result of [`Querier::select`]: series sorted by label set, read by index from any
/// thread; label sets are built on demand (per batch of the caller), not held.
pub struct SeriesSet<'db> {
    q: Querier<'db>,
    entries: Vec<Entry>,
    /// `(block index, series id)` of every entry, entry by entry.
    block_ids: Vec<(u32, u32)>,
    /// The label set of every entry when the select had to sort them (see
    /// [`Querier::select`]); empty otherwise.
    labels: Vec<Labels>,
    /// Block page caches (each holds a zstd context), reused across reads and threads.
    caches: Mutex<Vec<PageCache>>,
}

impl std::fmt::Debug for SeriesSet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesSet")
            .field("len", &self.entries.len())
            .field("holds_labels", &!self.labels.is_empty())
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

    /// The label set of series `i` (`i < len()`), built from the head or the first block
    /// holding it (the same set in both, since that is how the select merged them).
    pub fn labels(&self, i: usize) -> Result<Labels, Error> {
        if let Some(l) = self.labels.get(i) {
            return Ok(l.clone());
        }
        let e = &self.entries[i];
        if let Some(r) = e.head
            && let Some(l) = self.q.head.series_labels(r)
        {
            return Ok(l);
        }
        match self.blocks_of(e).first() {
            Some(&(bi, id)) => Ok(self.q.blocks[bi as usize].labels(id)?),
            None => Ok(Labels::default()),
        }
    }

    /// Calls `f(name, value)` for every label of series `i`, in label order; from the head
    /// without building the label set (what a consumer that only hashes or projects the
    /// labels needs).
    pub fn for_each_label(&self, i: usize, f: &mut dyn FnMut(&str, &str)) -> Result<(), Error> {
        if self.labels.is_empty() {
            let e = &self.entries[i];
            if let Some(r) = e.head
                && self.q.head.for_each_label(r, f)
            {
                return Ok(());
            }
            if let Some(&(bi, id)) = self.blocks_of(e).first() {
                return Ok(self.q.blocks[bi as usize].for_each_label(id, f)?);
            }
        }
        for l in self.labels(i)?.iter() {
            f(&l.name, &l.value);
        }
        Ok(())
    }

    /// The `(block index, series id)` pairs of entry `e`.
    fn blocks_of(&self, e: &Entry) -> &[(u32, u32)] {
        let from = e.first_block as usize;
        &self.block_ids[from..from + e.num_blocks as usize]
    }

    /// Replaces `out` with the samples of series `i` in the querier's range, in time order,
    /// staleness markers included. Empty when the series has none in the range.
    pub fn samples(&self, i: usize, out: &mut Vec<(i64, f64)>) -> Result<(), Error> {
        out.clear();
        let e = &self.entries[i];
        let q = &self.q;
        let blocks = self.blocks_of(e);
        if !blocks.is_empty() {
            let mut cache = match self.caches.lock().pop() {
                Some(c) => c,
                None => PageCache::new()?,
            };
            let res = blocks.iter().try_for_each(|&(bi, id)| {
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
                let labels = self.labels(i)?;
                self.read_persisted_since(&labels, from, truncated, out)?;
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

    /// A hint that series `range` are read next, in order, by the calling thread: their
    /// labels and newest samples ([`SeriesSet::last_sample`]) and, with `history`, their
    /// samples ([`SeriesSet::samples`]). The head loads what that touches into the CPU caches
    /// at once ([`Head::warm`]), so that reading them one by one does not wait on memory
    /// series after series.
    pub fn prefetch(&self, range: std::ops::Range<usize>, history: bool) {
        let q = &self.q;
        let from = q.mint.max(q.head_floor);
        if !q.use_head || from > q.maxt {
            return;
        }
        let end = range.end.min(self.entries.len());
        let Some(entries) = self.entries.get(range.start..end) else {
            return;
        };
        let refs: Vec<SeriesRef> = entries.iter().filter_map(|e| e.head).collect();
        if !refs.is_empty() {
            q.head.warm(&refs, history);
        }
    }

    /// The newest sample of series `i` in the querier's range (the last one
    /// [`SeriesSet::samples`] would return), staleness markers included. Answers from the
    /// head's newest sample when that one is in range, without decoding any chunk (what an
    /// instant selector needs); otherwise reads the samples into `buf`.
    pub fn last_sample(
        &self,
        i: usize,
        buf: &mut Vec<(i64, f64)>,
    ) -> Result<Option<(i64, f64)>, Error> {
        let (e, q) = (&self.entries[i], &self.q);
        let from = q.mint.max(q.head_floor);
        if let Some(r) = e.head
            && let Some((t, v)) = q.head.latest_sample(r)
            && from <= t
            && t <= q.maxt
        {
            // The head's newest sample is newer than anything the blocks hold (they end at
            // the floor) and stays in the head when compaction truncates it.
            return Ok(Some((t, v)));
        }
        self.samples(i, buf)?;
        Ok(buf.last().copied())
    }

    /// Whether series `i` has a sample in the querier's range (what [`SeriesSet::samples`]
    /// would make non-empty). Answers from the head's newest sample when that one is in
    /// range, without decoding any chunk; otherwise reads the samples into `buf`.
    pub fn has_samples(&self, i: usize, buf: &mut Vec<(i64, f64)>) -> Result<bool, Error> {
        Ok(self.last_sample(i, buf)?.is_some())
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
pub(crate) mod tests;
