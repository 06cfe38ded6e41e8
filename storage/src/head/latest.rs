//! Reading the latest sample of selected series (the `/federate` hot path).
//!
//! Refs are walked in batches. A batch's series are read shard by shard, each under that
//! shard's read lock alone, and copied out (sample and packed label ids; for a series written
//! since the request, its open chunk's bytes and newest sealed chunk, whose answer is read
//! after the lock); the batch is then pushed into the sink in order with no shard lock held.
//! So a commit waits at most for one shard's part of one batch to be copied, never for
//! rendering or a chunk read, and a render thread (which runs below the writers' priority)
//! holds one lock at a time for microseconds: a reader that held every shard's lock through
//! rendering stalled commits whenever the scheduler preempted it (docs/benchmarks.md, "Soak",
//! the runs of 2026-12-08). Nothing is allocated per series.

use crate::is_stale_nan;
use crate::labels::packed::{LabelPairs, PackedLabels};
use crate::series::SeriesRef;
use crate::symbols::{NAME_SYMBOL, SymbolId, SymbolTable};

use super::chunk_files::ChunkFiles;
use super::history::latest_in_parts;
use super::shard::{NO_SAMPLE, ShardData};
use super::{Head, LabelsRef, LatestSink};

/// Refs copied out per round of shard locks, then rendered.
const LATEST_BATCH: usize = 1024;
/// Selections up to this size are rendered under the shard locks instead (the inline
/// `/federate` answers, on the HTTP worker): see [`Head::latest_under_locks`].
pub(super) const SMALL_LATEST: usize = 2048;
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

/// One batch's series, copied out under the shard locks and rendered after them.
#[derive(Default)]
struct Copied {
    /// Per batch position: `(t, v, names start, names len, values start)`; `names len ==
    /// u32::MAX` when the series has nothing to answer.
    hits: Vec<(i64, f64, u32, u32, u32)>,
    names: Vec<u32>,
    values: Vec<u8>,
    /// Batch positions grouped by shard (a counting sort), and where each shard's begin.
    order: Vec<u16>,
    starts: Vec<usize>,
    next: Vec<usize>,
    /// Series whose latest sample is newer than the request, to be read from their history
    /// with no lock held: `(batch position, newest sealed chunk, open-chunk samples, bytes
    /// start in `open`, len)`.
    later: Vec<(u16, u64, u16, u32, u32)>,
    open: Vec<u8>,
}

const NO_HIT: (i64, f64, u32, u32, u32) = (0, 0.0, 0, u32::MAX, 0);

impl Copied {
    /// Resets for `batch`: every position empty, positions grouped by shard (`mask` of a ref).
    fn start(&mut self, batch: &[SeriesRef], shards: usize, mask: u32) {
        self.hits.clear();
        self.hits.resize(batch.len(), NO_HIT);
        self.names.clear();
        self.values.clear();
        self.later.clear();
        self.open.clear();
        self.starts.clear();
        self.starts.resize(shards + 1, 0);
        for r in batch {
            self.starts[(r.0 & mask) as usize + 1] += 1;
        }
        for s in 0..shards {
            self.starts[s + 1] += self.starts[s];
        }
        self.order.clear();
        self.order.resize(batch.len(), 0);
        // Fill each shard's range from its end, so `starts[s]` stays its beginning.
        self.next.clear();
        self.next.extend_from_slice(&self.starts[1..]);
        for (k, r) in batch.iter().enumerate().rev() {
            let s = (r.0 & mask) as usize;
            self.next[s] -= 1;
            self.order[self.next[s]] = k as u16;
        }
    }

    fn set(&mut self, k: usize, labels: PackedLabels<'_>, t: i64, v: f64) {
        let (n0, v0) = (self.names.len() as u32, self.values.len() as u32);
        self.names.extend_from_slice(labels.names());
        self.values.extend_from_slice(labels.value_bytes());
        self.hits[k] = (t, v, n0, labels.len() as u32, v0);
    }

    /// Keeps series `p`'s history parts for [`Copied::resolve_later`].
    fn defer(&mut self, p: u16, (sealed, num, open): (u64, u16, &[u8])) {
        let at = self.open.len() as u32;
        self.open.extend_from_slice(open);
        self.later.push((p, sealed, num, at, open.len() as u32));
    }

    /// Reads the deferred series' latest samples at or before `maxt_ms` from the copied open
    /// chunks and the chunk files (no shard lock needed), dropping those with none to answer.
    fn resolve_later(&mut self, files: &ChunkFiles, mint_ms: i64, maxt_ms: i64) {
        for &(p, sealed, num, at, len) in &self.later {
            let open = &self.open[at as usize..(at + len) as usize];
            let hit = &mut self.hits[p as usize];
            match latest_in_parts(sealed, num, open, files, maxt_ms) {
                Some((t, v)) if answers(t, v, mint_ms) => (hit.0, hit.1) = (t, v),
                _ => hit.3 = u32::MAX,
            }
        }
    }

    fn get(&self, k: usize) -> Option<(PackedLabels<'_>, i64, f64)> {
        let (t, v, n0, n, v0) = self.hits[k];
        if n == u32::MAX {
            return None;
        }
        let names = &self.names[n0 as usize..(n0 + n) as usize];
        Some((PackedLabels::new(names, &self.values[v0 as usize..]), t, v))
    }
}

/// Series `i`'s latest sample with `mint_ms <= t <= maxt_ms`, unless it is a stale marker:
/// what `/federate` answers for it. A latest sample newer than `maxt_ms` sends the read to
/// the series' chunks (the rare path).
#[inline]
fn answer(shard: &ShardData, i: usize, mint_ms: i64, maxt_ms: i64) -> Option<(i64, f64)> {
    let (mut t, mut v) = shard.latest_raw(i)?;
    if t > maxt_ms {
        (t, v) = shard.history_latest_at_or_before(i, maxt_ms)?;
    }
    answers(t, v, mint_ms).then_some((t, v))
}

/// Whether a series' latest sample at or before the request, `(t, v)`, is answered: inside
/// the lookback, a sample at all, and not a stale marker.
#[inline]
fn answers(t: i64, v: f64, mint_ms: i64) -> bool {
    t >= mint_ms && t != NO_SAMPLE && !is_stale_nan(v)
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
        if refs.len() <= SMALL_LATEST {
            return self.latest_under_locks(refs, mint_ms, maxt_ms, sink);
        }
        let bits = self.shard_bits;
        let mask = (1u32 << bits) - 1;
        let mut c = Copied::default();
        for batch in refs.chunks(LATEST_BATCH) {
            c.start(batch, self.shards.len(), mask);
            for s in 0..self.shards.len() {
                let (a, b) = (c.starts[s], c.starts[s + 1]);
                if a == b {
                    continue;
                }
                let shard = self.shards[s].read();
                let local = |p: u16| (batch[p as usize].0 >> bits) as usize;
                // Software pipelining: first read a group's records (independent loads the
                // CPU overlaps), then their label ids, instead of one dependent chain of cache
                // misses per series; the records of the group after next and the labels of
                // the next group are prefetched meanwhile.
                let group_at = |g: usize| {
                    let lo = a + g * PIPELINE;
                    (lo < b).then(|| lo..(lo + PIPELINE).min(b))
                };
                for g in (0..2).filter_map(group_at) {
                    for &p in &c.order[g] {
                        shard.prefetch_record(local(p));
                    }
                }
                for g in 0.. {
                    let Some(range) = group_at(g) else { break };
                    if let Some(ahead) = group_at(g + 2) {
                        for &p in &c.order[ahead] {
                            shard.prefetch_record(local(p));
                        }
                    }
                    if let Some(next) = group_at(g + 1) {
                        for &p in &c.order[next] {
                            shard.prefetch_labels(local(p));
                        }
                    }
                    let mut hits: [(u16, i64, f64); PIPELINE] = [(0, 0, 0.0); PIPELINE];
                    let mut n = 0;
                    for q in range {
                        let p = c.order[q];
                        let i = local(p);
                        match shard.latest_raw(i) {
                            Some((t, v)) if t <= maxt_ms => {
                                hits[n] = (p, t, v);
                                n += usize::from(answers(t, v, mint_ms));
                            }
                            // Written since the request: its answer is in its history, read
                            // after the lock (a chunk decode or a file read per series, which
                            // under the lock kept commits waiting on this thread).
                            Some(_) => {
                                if let Some(parts) = shard.history_parts(i) {
                                    c.defer(p, parts);
                                    hits[n] = (p, 0, 0.0);
                                    n += 1;
                                }
                            }
                            None => {}
                        }
                    }
                    for &(p, t, v) in &hits[..n] {
                        c.set(p as usize, shard.labels(local(p)), t, v);
                    }
                }
            }
            c.resolve_later(&self.chunks, mint_ms, maxt_ms);
            let symbols = self.symbols.read();
            for k in 0..batch.len() {
                let Some((labels, t, v)) = c.get(k) else {
                    continue;
                };
                let l = SymbolLabels {
                    labels,
                    symbols: &symbols,
                };
                if !sink.sample(&l, t, v) {
                    return false;
                }
            }
        }
        true
    }

    /// [`Head::latest`] for a small selection: every shard's read lock per batch, rendered
    /// under them. Saves the copy (~0.05 ms of a 1-2k-series answer, docs/benchmarks.md
    /// "Soak", the run of 2026-12-08); the HTTP worker that runs it is not below the writers'
    /// priority, and a batch of [`SMALL_LATEST`] or fewer holds the locks for well under a
    /// millisecond.
    pub(super) fn latest_under_locks(
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
                    if let Some((t, v)) = answer(&shards[s], i, mint_ms, maxt_ms) {
                        hits[n] = (s, i, t, v);
                        n += 1;
                    }
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
