//! The sharded head block: series, latest-sample columns, appenders and selection.
//!
//! API contract (the server depends on it; see docs/architecture.md):
//! - [`Head::appender`] batches samples; [`Appender::commit`] applies them.
//! - [`Head::select`] turns `match[]` matcher sets into a [`Selection`] in federation order.
//! - [`Head::latest`] pushes the latest sample of selected series into a [`LatestSink`].
//!
//! Locks, always taken in this order: the index (`postings`), the symbol table, then shards in
//! index order. Appends take one shard's write lock at a time; series creation takes the
//! symbol table's write lock then one shard's; indexing at commit takes the index write lock,
//! the symbol read lock and all shard read locks; series garbage collection ([`Head::gc`])
//! takes the index write lock, then one shard write lock at a time. The WAL writer's `state`
//! lock comes before all of them: a commit holds it while the writer reads the labels of
//! newly logged series ([`Head::series_labels`]: symbol table, then one shard). The whole
//! order is in docs/storage.md ("Lock order"). See docs/format/head.md for the files.

mod append;
pub(crate) mod cardinality;
mod chunk_files;
mod gc;
mod history;
mod latest;
mod shard;
mod snapshot;
mod snapshot_ticker;
mod startup;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use parking_lot::{RwLock, RwLockReadGuard};

use crate::error::Error;
use crate::labels::Labels;
use crate::labels::packed::LabelPairs;
use crate::matcher::Matcher;
use crate::postings::MemPostings;
use crate::series::SeriesRef;
use crate::symbols::{SymbolId, SymbolTable};

pub use append::{Appender, Durable};
pub use chunk_files::ChunkFileStats;
use chunk_files::ChunkFiles;
pub use latest::SymbolLabels;
use shard::ShardData;
pub use snapshot_ticker::SnapshotTicker;
pub use startup::{StartupPhase, StartupProgress};

/// Options of the head block.
#[derive(Debug, Clone)]
pub struct HeadOptions {
    /// Number of shards (each with its own lock), rounded up to a power of two.
    /// Default: from the core count.
    pub shards: usize,
    /// The write-ahead log (`<storage.tsdb.path>/wal`). `None` (the default): no WAL, the
    /// head starts empty on every open and a crash loses everything (tests, benches).
    pub wal: Option<crate::wal::WalOptions>,
    /// Where sealed head chunks go (emptied at open). Default: `<head dir>/chunks_head`;
    /// the server uses `<storage.tsdb.path>/chunks_head`.
    pub chunks_dir: Option<PathBuf>,
    /// Size of one chunk file (default 128 MiB; tests use small files).
    pub chunk_file_bytes: usize,
    /// Where [`Head::open`] reports how far it is (the server's `/-/ready` and
    /// `fedstore_head_replay_*` metrics); `None`: not reported.
    pub progress: Option<Arc<StartupProgress>>,
}

impl Default for HeadOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HeadOptions {
            shards: (cores * 4).next_power_of_two(),
            wal: None,
            chunks_dir: None,
            chunk_file_bytes: chunk_files::DEFAULT_FILE_BYTES,
            progress: None,
        }
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
    /// The same label set as symbol ids, when it is backed by the head's symbol table: sinks
    /// can then compare series by id and re-render only what changed. `None` (the default)
    /// leaves them with [`LabelsRef::for_each`].
    fn as_symbols(&self) -> Option<SymbolLabels<'_>> {
        None
    }
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

/// One shard: its lock and its published series count (read by `append_ref` without the
/// lock; stored under the write lock after each insert).
struct Shard {
    data: RwLock<ShardData>,
    len: AtomicU32,
}

impl std::ops::Deref for Shard {
    type Target = RwLock<ShardData>;

    fn deref(&self) -> &RwLock<ShardData> {
        &self.data
    }
}

/// The head block.
///
/// Series become visible to [`Head::select`] (and counted by [`Head::num_series`]) when the
/// commit carrying their first sample indexes them; a rolled-back new series stays invisible.
pub struct Head {
    dir: PathBuf,
    shard_bits: u32,
    /// Padded to a cache line each, so shards do not false-share.
    shards: Box<[CachePadded<Shard>]>,
    symbols: RwLock<SymbolTable>,
    postings: RwLock<MemPostings>,
    num_samples: CachePadded<AtomicU64>,
    /// Samples older than this (ms) are refused as out of bounds: their range is already
    /// persisted in a block (Prometheus's `minValidTime`). `i64::MIN` until a block exists.
    min_valid_ms: CachePadded<std::sync::atomic::AtomicI64>,
    /// Oldest and newest sample time stored (a lower and an upper bound after truncation),
    /// kept at commit so compaction need not scan the series.
    min_t: CachePadded<AtomicI64>,
    max_t: CachePadded<AtomicI64>,
    /// Sealed chunks of every shard.
    chunks: Arc<ChunkFiles>,
    /// Series removed by [`Head::gc`] since open.
    series_removed: AtomicU64,
    /// The WAL writer; `None` without a WAL and while `open` replays.
    wal: Option<crate::wal::Wal>,
    /// What WAL consumers (the remote-write sender) still need; checkpoints respect it.
    wal_hold: Arc<crate::wal::WalHold>,
    /// Held shared by each commit from its WAL write to the end of its apply, and exclusively
    /// by a snapshot while the WAL starts a new segment: then every record below it is applied.
    commit_gate: RwLock<()>,
    /// Serializes snapshots.
    snapshot_lock: parking_lot::Mutex<()>,
}

impl std::fmt::Debug for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Head")
            .field("dir", &self.dir)
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl Head {
    /// Opens (or creates) the head under `dir` (`<storage.tsdb.path>/head`).
    ///
    /// With [`HeadOptions::wal`] set, the newest head snapshot is loaded if it and the chunk
    /// files it points into are intact (docs/format/snapshot.md), and the WAL after it is
    /// replayed; without a usable snapshot the column files and chunk files start empty and
    /// the whole WAL is replayed (it is the source of truth). Every later commit is logged.
    pub fn open(dir: &Path, opts: HeadOptions) -> Result<Head, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let n = opts.shards.clamp(1, 1 << 12).next_power_of_two();
        let chunks_dir = opts
            .chunks_dir
            .clone()
            .unwrap_or_else(|| dir.join("chunks_head"));
        let progress = opts.progress.clone().unwrap_or_default();
        let loaded = match &opts.wal {
            Some(w) => {
                progress.set_phase(StartupPhase::Snapshot);
                snapshot::load(&snapshot::LoadOptions {
                    dir,
                    chunks_dir: &chunks_dir,
                    shards: n,
                    chunk_file_bytes: opts.chunk_file_bytes,
                    gone_before: w.replay_min_time_ms,
                    progress: &progress,
                })?
            }
            None => {
                // Nothing to resume without a WAL.
                snapshot::remove_snapshots_below(dir, u64::MAX)?;
                None
            }
        };
        let mut head = match loaded {
            Some(l) => {
                progress.set_snapshot_used();
                Head::assemble(
                    dir,
                    l.chunks,
                    l.shards,
                    l.symbols,
                    l.postings,
                    (l.min_valid_ms, l.min_t, l.max_t),
                )
                .with_resume(Some(l.wal_segment))
            }
            None => {
                let chunks = Arc::new(ChunkFiles::open(&chunks_dir, opts.chunk_file_bytes)?);
                let shards = (0..n)
                    .map(|i| ShardData::create(dir, i, chunks.clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                Head::assemble(
                    dir,
                    chunks,
                    shards,
                    SymbolTable::new(),
                    MemPostings::new(),
                    (i64::MIN, i64::MAX, i64::MIN),
                )
                .with_resume(None)
            }
        };
        // WAL hook: rebuild the head from the log before anyone can append, then attach the
        // writer so that commits log before they apply (see wal.rs).
        if let Some(w) = &opts.wal {
            progress.set_phase(StartupPhase::Wal);
            let (head_ref, resume) = (&head.0, head.1);
            let wal = crate::wal::open(head_ref, w, resume, &progress)?;
            head.0.wal = Some(wal);
        }
        progress.set_phase(StartupPhase::Done);
        Ok(head.0)
    }

    /// A head over restored or fresh parts; `(min_valid_ms, min_t, max_t)` as kept.
    fn assemble(
        dir: &Path,
        chunks: Arc<ChunkFiles>,
        shards: Vec<ShardData>,
        symbols: SymbolTable,
        postings: MemPostings,
        (min_valid_ms, min_t, max_t): (i64, i64, i64),
    ) -> Head {
        let shard_bits = shards.len().trailing_zeros();
        let shards: Vec<_> = shards
            .into_iter()
            .map(|s| {
                let len = s.len() as u32;
                CachePadded::new(Shard {
                    data: RwLock::new(s),
                    len: AtomicU32::new(len),
                })
            })
            .collect();
        Head {
            dir: dir.to_owned(),
            shard_bits,
            shards: shards.into_boxed_slice(),
            symbols: RwLock::new(symbols),
            postings: RwLock::new(postings),
            num_samples: CachePadded::new(AtomicU64::new(0)),
            min_valid_ms: CachePadded::new(std::sync::atomic::AtomicI64::new(min_valid_ms)),
            min_t: CachePadded::new(AtomicI64::new(min_t)),
            max_t: CachePadded::new(AtomicI64::new(max_t)),
            chunks,
            series_removed: AtomicU64::new(0),
            wal: None,
            wal_hold: Arc::default(),
            commit_gate: RwLock::new(()),
            snapshot_lock: parking_lot::Mutex::new(()),
        }
    }

    /// Pairs the head with the WAL segment replay resumes at (`None`: the whole log).
    fn with_resume(self, segment: Option<u64>) -> (Head, Option<u64>) {
        (self, segment)
    }

    /// The hold WAL consumers put on checkpoints (wal/tail.rs).
    pub fn wal_hold(&self) -> &Arc<crate::wal::WalHold> {
        &self.wal_hold
    }

    /// The WAL directory; `None` without a WAL.
    pub fn wal_dir(&self) -> Option<&std::path::Path> {
        self.wal.as_ref().map(|w| w.dir())
    }

    /// Calls `done` once a deferred commit ([`Appender::commit_deferred`]) is durable, or
    /// with the WAL's error if it was poisoned first; at once without a WAL or when there is
    /// nothing to wait for. `done` may run on the WAL's notifier thread: keep it short.
    pub fn on_durable(&self, d: Durable, done: impl FnOnce(Result<(), Error>) + Send + 'static) {
        match (&self.wal, d.lsn()) {
            (Some(w), lsn) if lsn > 0 => {
                w.on_durable(lsn, Box::new(move |r| done(r.map_err(Error::from))))
            }
            _ => done(Ok(())),
        }
    }

    /// Fsyncs the WAL (graceful shutdown; commits are already durable per the fsync mode).
    /// A no-op without a WAL.
    pub fn flush_wal(&self) -> Result<(), Error> {
        match &self.wal {
            Some(w) => Ok(w.flush()?),
            None => Ok(()),
        }
    }

    /// Folds the WAL segments before the current one into a checkpoint that keeps only
    /// samples at or after `min_t_ms`, and deletes them. Call it after the head dropped the
    /// older samples (they are in blocks); `None` without a WAL. Commits go on meanwhile.
    pub fn checkpoint_wal(
        &self,
        min_t_ms: i64,
    ) -> Result<Option<crate::wal::CheckpointStats>, Error> {
        // WAL hook: the head's WAL is private to it; this is the one way to truncate it.
        let Some(w) = &self.wal else {
            return Ok(None);
        };
        // A series record is still needed unless the series has no sample here and this
        // process never logged it (see wal/checkpoint.rs for why that is safe).
        let keep = |labels: &Labels| {
            let hash = crate::series::hash_labels(labels);
            self.find(hash, labels).is_some_and(|(s, i, has_sample)| {
                has_sample || self.join(s, i).is_some_and(|r| w.is_logged(r.0))
            })
        };
        Ok(Some(crate::wal::checkpoint(
            w,
            min_t_ms,
            &keep,
            &self.wal_hold,
        )?))
    }

    /// The shard and local index of the series `labels` (label-set hash `hash`) and whether
    /// it holds a sample, if the head has it.
    fn find(&self, hash: u64, labels: &Labels) -> Option<(usize, u32, bool)> {
        let s = self.shard_of(hash);
        let symbols = self.symbols.read();
        let shard = self.shards[s].read();
        let i = shard.find(hash, labels, &symbols)?;
        Some((s, i, shard.latest(i as usize).is_some()))
    }

    /// Makes the WAL refuse every later commit, as after a failed write (`cause` is the
    /// reported reason); false without a WAL. For tests of how callers handle a failed commit.
    #[cfg(any(test, feature = "testutil"))]
    pub fn poison_wal_for_test(&self, cause: &str) -> bool {
        let Some(w) = &self.wal else {
            return false;
        };
        w.poison_for_test(cause);
        true
    }

    /// Whether `r` names a series of this head (with or without samples).
    pub(crate) fn has_ref(&self, r: SeriesRef) -> bool {
        let (s, i) = self.split(r);
        self.shards
            .get(s)
            .is_some_and(|sh| i < sh.len.load(Ordering::Acquire) as usize)
    }

    /// The WAL writer's counters (`None` without a WAL), for `/metrics`.
    pub fn wal_stats(&self) -> Option<crate::wal::WalStats> {
        self.wal.as_ref().map(crate::wal::Wal::stats)
    }

    /// Refuses samples older than `t_ms` from now on (never moves backwards). The block
    /// layer calls it once a range is persisted, so late samples are reported as out of
    /// bounds instead of landing in head history that is no longer compacted.
    pub fn set_min_valid_time(&self, t_ms: i64) {
        self.min_valid_ms
            .fetch_max(t_ms, std::sync::atomic::Ordering::AcqRel);
    }

    /// Returns once every commit that may have checked an older minimum valid time has
    /// applied its samples: commits check it under each shard's write lock, so taking every
    /// shard's write lock once is the barrier. Compaction calls it after
    /// [`Head::set_min_valid_time`] and before reading the range, so no sample lands in a range
    /// after it was read into a block.
    pub fn wait_for_commits(&self) {
        for shard in self.shards.iter() {
            drop(shard.write());
        }
    }

    /// The oldest sample time appends accept (see [`Head::set_min_valid_time`]).
    pub fn min_valid_time(&self) -> i64 {
        self.min_valid_ms.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A new appender. Appenders are cheap; use one per request or scrape.
    pub fn appender(&self) -> Appender<'_> {
        Appender::new(self)
    }

    /// Number of series in the head (committed ones).
    pub fn num_series(&self) -> usize {
        self.postings.read().all().len() as usize
    }

    /// Number of samples appended since the head was opened.
    pub fn num_samples(&self) -> u64 {
        self.num_samples.load(Ordering::Relaxed)
    }

    /// Selects the union of series matching any of `sets` (each a conjunction of matchers).
    /// An empty matcher set selects nothing.
    pub fn select(&self, sets: &[Vec<Matcher>]) -> Selection {
        let postings = self.postings.read();
        let symbols = self.symbols.read();
        crate::matcher::select::select(&postings, &symbols, sets)
    }

    /// An upper bound of the series [`Head::select`] would return, from postings sizes alone
    /// (a few hash lookups, no scan); `None` when a matcher set has no literal matcher.
    pub fn select_size_bound(&self, sets: &[Vec<Matcher>]) -> Option<u64> {
        let postings = self.postings.read();
        let symbols = self.symbols.read();
        crate::matcher::select::size_bound(&postings, &symbols, sets)
    }

    /// Label names of committed series, sorted bytewise.
    pub fn label_names(&self) -> Vec<String> {
        let postings = self.postings.read();
        let symbols = self.symbols.read();
        postings
            .label_names()
            .iter()
            .map(|&s| symbols.resolve(s).to_owned())
            .collect()
    }

    /// Values of label `name` over committed series, sorted bytewise.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        let postings = self.postings.read();
        let symbols = self.symbols.read();
        let Some(np) = symbols.get(name).and_then(|n| postings.name(n)) else {
            return Vec::new();
        };
        np.values()
            .iter()
            .map(|&s| symbols.resolve(s).to_owned())
            .collect()
    }

    /// The label set of series `r`, if it exists.
    pub fn series_labels(&self, r: SeriesRef) -> Option<Labels> {
        let symbols = self.symbols.read();
        let (s, i) = self.split(r);
        let shard = self.shards.get(s)?.read();
        if i >= shard.len() {
            return None;
        }
        Some(Labels::from_pairs(shard.labels(i).pairs().map(|(n, v)| {
            (symbols.resolve(SymbolId(n)), symbols.resolve(SymbolId(v)))
        })))
    }

    /// Calls `f(name, value)` for every label of series `r`, in label order, without building
    /// a label set (the query engine hashes and projects them); false if `r` is unknown.
    pub fn for_each_label(&self, r: SeriesRef, f: &mut dyn FnMut(&str, &str)) -> bool {
        let symbols = self.symbols.read();
        let (s, i) = self.split(r);
        let Some(shard) = self.shards.get(s) else {
            return false;
        };
        let shard = shard.read();
        if i >= shard.len() {
            return false;
        }
        for (n, v) in shard.labels(i).pairs() {
            f(symbols.resolve(SymbolId(n)), symbols.resolve(SymbolId(v)));
        }
        true
    }

    /// Keeps the refs whose series' label-set hash (`series::hash_labels`, a
    /// function of the labels alone, so the same on every node and across restarts)
    /// satisfies `keep`; unknown refs are dropped. Order is kept. Each shard is locked once.
    pub fn retain_by_hash(&self, refs: &mut Vec<SeriesRef>, keep: impl Fn(u64) -> bool) {
        let guards: Vec<_> = self.shards.iter().map(|s| s.read()).collect();
        refs.retain(|&r| {
            let (s, i) = self.split(r);
            guards
                .get(s)
                .is_some_and(|g| i < g.len() && keep(g.hash(i)))
        });
    }

    /// Appends to `out` the samples of series `r` with `mint_ms <= t <= maxt_ms`, in time
    /// order (stale markers included). Unknown refs add nothing.
    pub fn samples(&self, r: SeriesRef, mint_ms: i64, maxt_ms: i64, out: &mut Vec<(i64, f64)>) {
        let (s, i) = self.split(r);
        let Some(shard) = self.shards.get(s) else {
            return;
        };
        let shard = shard.read();
        if i >= shard.len() {
            return;
        }
        shard.history_in(i, mint_ms, maxt_ms, &mut |t, v| out.push((t, v)));
        if let Some((t, v)) = shard.latest(i)
            && t >= mint_ms
            && t <= maxt_ms
        {
            out.push((t, v));
        }
    }

    /// Loads into the CPU caches what reading the labels and latest sample of `refs` touches
    /// and, with `history`, what reading their samples touches first (their history record and
    /// open chunk), a few dozen series at a time, before they are read one by one. Reading
    /// one series is a chain of dependent misses (its record, then its labels and open chunk);
    /// here the same reads are issued for all of `refs` pass by pass, so their misses overlap
    /// instead of adding up. Plain reads (folded and passed to `black_box` so they are not
    /// optimised away), under one lock of each shard.
    ///
    /// Sealed chunks are not touched: the walk copies them with `pread`
    /// (`ChunkFiles::for_each_chunk_in`), and touching them through the
    /// mappings only mapped their pages into the process, outside the budget the mapped reads
    /// keep (the soak's `rate` queries held 137 MiB of them, docs/benchmarks.md).
    pub fn warm(&self, refs: &[SeriesRef], history: bool) {
        let guards = self.read_all_shards();
        let shard_of = |r: SeriesRef| {
            let (s, i) = self.split(r);
            guards.get(s).filter(|g| i < g.len()).map(|g| (&**g, i))
        };
        let mut acc = 0u64;
        for &r in refs {
            if let Some((g, i)) = shard_of(r) {
                acc ^= g.touch_first(i, history);
            }
        }
        for &r in refs {
            if let Some((g, i)) = shard_of(r) {
                acc ^= g.touch_second(i, history);
            }
        }
        std::hint::black_box(acc);
    }

    /// The newest sample of series `r` (the one `/federate` answers), if any.
    pub fn latest_sample(&self, r: SeriesRef) -> Option<(i64, f64)> {
        let (s, i) = self.split(r);
        let shard = self.shards.get(s)?.read();
        if i >= shard.len() {
            return None;
        }
        shard.latest(i)
    }

    /// The oldest and newest timestamps held, `None` without samples. After a truncation the
    /// oldest is the truncation point (open chunks may still hold a few older samples, which
    /// blocks already cover).
    pub fn time_bounds(&self) -> Option<(i64, i64)> {
        let (min, max) = (
            self.min_t.load(Ordering::Acquire),
            self.max_t.load(Ordering::Acquire),
        );
        (min <= max).then_some((min, max))
    }

    /// Drops the history before `t_ms` (compaction has written it to a block, which answers
    /// for that range now): sealed chunks ending before it are no longer read, and chunk files
    /// holding only such chunks are deleted. Returns how many files were deleted. Latest
    /// samples and open chunks stay, so `/federate` is unaffected.
    pub fn truncate_before(&self, t_ms: i64) -> Result<u64, Error> {
        self.min_t.fetch_max(t_ms, Ordering::AcqRel);
        self.chunks.truncate_before(t_ms)
    }

    /// Takes the chunk-file pages queries read out of the process's RSS (they stay in the page
    /// cache): the head's own memory is the open chunks, index and latest samples.
    pub fn release_mapped_pages(&self) {
        self.chunks.release_resident();
    }

    /// Counters of the head's chunk files, for `/metrics`.
    pub fn chunk_file_stats(&self) -> ChunkFileStats {
        self.chunks.stats()
    }

    /// Records that samples in `[min, max]` were stored.
    fn note_time_range(&self, min: i64, max: i64) {
        if min <= max {
            self.min_t.fetch_min(min, Ordering::AcqRel);
            self.max_t.fetch_max(max, Ordering::AcqRel);
        }
    }

    /// Approximate memory held by the head in bytes (heap plus mapped columns).
    pub fn memory_bytes(&self) -> usize {
        let postings = self.postings.read().heap_bytes();
        let symbols = self.symbols.read().heap_bytes();
        let pending = self.chunks.stats().pending_bytes as usize;
        postings + symbols + pending + self.shards.iter().map(|s| s.read().bytes()).sum::<usize>()
    }

    /// The shard a series with label-set hash `hash` lives in (high bits: the low ones pick
    /// hash-table buckets inside the shard).
    #[inline]
    fn shard_of(&self, hash: u64) -> usize {
        ((hash >> 40) as usize) & (self.shards.len() - 1)
    }

    /// The shard and local index of `r`.
    #[inline]
    fn split(&self, r: SeriesRef) -> (usize, usize) {
        let mask = (1u32 << self.shard_bits) - 1;
        ((r.0 & mask) as usize, (r.0 >> self.shard_bits) as usize)
    }

    /// The ref of local index `i` in shard `s`.
    #[inline]
    fn join(&self, s: usize, i: u32) -> Option<SeriesRef> {
        let r = (u64::from(i) << self.shard_bits) | s as u64;
        u32::try_from(r).ok().map(SeriesRef)
    }

    /// Read guards on every shard, in index order.
    fn read_all_shards(&self) -> Vec<RwLockReadGuard<'_, ShardData>> {
        self.shards.iter().map(|s| s.read()).collect()
    }
}

#[cfg(test)]
mod tests;
