//! The database: the head plus the persistent blocks under `<storage.tsdb.path>`, the
//! background compaction that moves head ranges into blocks and merges them, retention, and
//! range selects across blocks and head.
//!
//! Locks: `compacting` serializes compaction rounds; `blocks` is held only to clone or swap
//! the list, so queries keep reading the blocks they cloned while a round replaces them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::block::{
    Block, BlockError, BlockMeta, TMP_CREATION_SUFFIX, TMP_DELETION_SUFFIX, is_block_dir_name,
};
use crate::compact::{
    DEFAULT_MIN_BLOCK_DURATION_MS, MAX_BLOCK_DURATION_MS, block_ranges, compact_head, merge_blocks,
    plan_merge,
};
use crate::error::Error;
use crate::head::{Head, HeadOptions};
use crate::labels::Labels;
#[cfg(any(test, feature = "testutil"))]
use crate::matcher::Matcher;
use crate::querier::Querier;
use crate::retention::{Retention, beyond_retention};

/// Options of the database.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `--storage.tsdb.min-block-duration`: the head range persisted as one block (2h).
    pub min_block_duration_ms: i64,
    /// `--storage.tsdb.max-block-duration`: the longest block merges make. `None`: 10% of
    /// the time retention, at most 31 days (Prometheus's default).
    pub max_block_duration_ms: Option<i64>,
    /// Retention limits.
    pub retention: Retention,
    /// Time between background compaction rounds.
    pub compaction_interval: Duration,
    /// Series garbage collection after each persisted head range removes the series whose
    /// samples are all persisted; series whose latest sample is within this of the head's
    /// newest sample are kept even if persisted, so `/federate`, which reads only the head,
    /// still finds them within its lookback. The server sets it to `--query.lookback-delta`
    /// (default 5m).
    pub head_gc_keep_ms: i64,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            min_block_duration_ms: DEFAULT_MIN_BLOCK_DURATION_MS,
            max_block_duration_ms: None,
            retention: Retention::default(),
            compaction_interval: Duration::from_secs(60),
            head_gc_keep_ms: 5 * 60 * 1000,
        }
    }
}

impl DbOptions {
    /// The time before which head series may be garbage collected once everything before
    /// `persisted_ms` is in blocks and the head's newest sample is at `head_max_ms`.
    fn gc_before(&self, persisted_ms: i64, head_max_ms: i64) -> i64 {
        persisted_ms.min(head_max_ms.saturating_sub(self.head_gc_keep_ms.max(0)))
    }

    fn max_block_ms(&self) -> i64 {
        self.max_block_duration_ms
            .unwrap_or_else(|| {
                let tenth = self.retention.time_ms / 10;
                if tenth > 0 {
                    tenth.min(MAX_BLOCK_DURATION_MS)
                } else {
                    MAX_BLOCK_DURATION_MS
                }
            })
            .max(self.min_block_duration_ms)
    }
}

/// One series of a range select: labels and samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    /// The label set.
    pub labels: Labels,
    /// `(t_ms, value)`, strictly increasing in time.
    pub samples: Vec<(i64, f64)>,
}

/// What one compaction round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Blocks cut from the head.
    pub head_blocks: Vec<String>,
    /// Blocks made by merging.
    pub merged_blocks: Vec<String>,
    /// Blocks deleted (merged away or past retention).
    pub deleted_blocks: Vec<String>,
    /// Head chunk files deleted after persisting (their chunks are all in blocks now).
    pub head_chunk_files_deleted: u64,
    /// Head series garbage collected after persisting (all their samples are in blocks and
    /// none is recent; see [`DbOptions::head_gc_keep_ms`]).
    pub head_series_removed: u64,
}

/// The head and the blocks of one data directory.
pub struct Db {
    dir: PathBuf,
    head: Arc<Head>,
    blocks: RwLock<Vec<Arc<Block>>>,
    opts: DbOptions,
    compacting: Mutex<()>,
    /// Held shared by range selects, exclusively while a new block is added and the head
    /// truncated under it: a select must not see the head truncated but miss the block.
    persisting: RwLock<()>,
    /// Set (before the head is truncated) to the end of each persisted head range: a
    /// querier whose snapshot predates it reads that range from the new blocks.
    head_truncated_before: std::sync::atomic::AtomicI64,
    /// The background compaction thread: dropping the sender stops it (it also stops once
    /// the `Db` is gone); the handle lets [`Db::stop_compaction`] wait for it.
    stop: Mutex<Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
    /// What the blocks add to the cardinality view, kept between requests.
    cardinality: Mutex<crate::cardinality::BlockCardinality>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dir", &self.dir)
            .field("blocks", &self.blocks.read().len())
            .finish()
    }
}

/// See [`Db::index_version`]: the head postings' change count, where the head starts, and
/// the blocks (by ULID, never reused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexVersion {
    head_changes: u64,
    head_floor: i64,
    blocks: Vec<String>,
}

impl Db {
    /// Opens `dir` (`--storage.tsdb.path`): removes leftover temp block directories, opens
    /// every block, and opens the head in `dir/head` with `head_opts` (WAL replay included).
    pub fn open(dir: &Path, head_opts: HeadOptions, opts: DbOptions) -> Result<Db, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut blocks = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.ends_with(TMP_CREATION_SUFFIX) || name.ends_with(TMP_DELETION_SUFFIX) {
                // A crash mid-write or mid-delete: the block was never (or is no longer) live.
                tracing::info!(dir = %path.display(), "removing leftover temporary block directory");
                std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            } else if is_block_dir_name(&name) && path.is_dir() {
                blocks.push(Arc::new(Block::open(&path)?));
            }
        }
        blocks.sort_by_key(|b| b.meta().min_time);
        let mut head_opts = head_opts;
        if head_opts.chunks_dir.is_none() {
            head_opts.chunks_dir = Some(dir.join("chunks_head"));
        }
        let head = Arc::new(Head::open(&dir.join("head"), head_opts)?);
        // A WAL replay brings back history the blocks already hold (a crash between writing a
        // block and checkpointing the WAL): drop it now rather than at the next compaction.
        // Replay itself does not skip it: the latest sample of every series must stay in the
        // head, which alone answers `/federate`.
        if let Some(persisted) = blocks.iter().map(|b| b.meta().max_time).max() {
            head.truncate_before(persisted)?;
            head.set_min_valid_time(persisted);
            // Series the WAL brought back whose samples are all persisted (collected before
            // the restart, or left by a crash before the checkpoint): tombstones again.
            if let Some((_, head_max)) = head.time_bounds() {
                let gc = head.gc(opts.gc_before(persisted, head_max));
                if gc.series_removed > 0 {
                    tracing::info!(
                        removed = gc.series_removed,
                        "head series with only persisted samples removed after replay"
                    );
                }
            }
        }
        Ok(Db {
            dir: dir.to_owned(),
            head,
            blocks: RwLock::new(blocks),
            opts,
            compacting: Mutex::new(()),
            persisting: RwLock::new(()),
            head_truncated_before: std::sync::atomic::AtomicI64::new(i64::MIN),
            stop: Mutex::new(None),
            cardinality: Mutex::new(Default::default()),
        })
    }

    /// The head (what `/federate`, scraping and remote write use).
    pub fn head(&self) -> &Arc<Head> {
        &self.head
    }

    /// The open blocks, oldest first.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.read().clone()
    }

    /// The label indexes' version: label names and values over a time range answer the same
    /// while it is unchanged, so a cache of those answers keys on it.
    pub fn index_version(&self) -> IndexVersion {
        let _consistent = self.persisting.read();
        IndexVersion {
            head_changes: self.head.postings_changes(),
            head_floor: self.head_truncated_before(),
            blocks: self
                .blocks
                .read()
                .iter()
                .map(|b| b.meta().ulid.clone())
                .collect(),
        }
    }

    /// A read view of `[mint_ms, maxt_ms]` (inclusive): a snapshot of the block list and the
    /// head. Holds no lock: compaction goes on while it reads (see [`Querier`]).
    pub fn querier(&self, mint_ms: i64, maxt_ms: i64) -> Querier<'_> {
        let (blocks, floor) = {
            // Block list and persisted end read together: never a block without its range
            // being in it.
            let _consistent = self.persisting.read();
            let blocks = self.blocks.read().clone();
            let floor = blocks
                .iter()
                .map(|b| b.meta().max_time)
                .max()
                .unwrap_or(i64::MIN)
                .max(self.head_truncated_before());
            (blocks, floor)
        };
        Querier::new(self, blocks, floor, mint_ms, maxt_ms)
    }

    /// For every label pair, how many distinct series with a metric name carry it, over
    /// the head and every block, each series once (the `/api/v1/status/tsdb` view). What
    /// the blocks add is computed once per block and kept; a call costs about a walk of the
    /// head's postings, or nothing when neither the blocks nor the head's index changed since
    /// the last call (the last answer is shared).
    pub fn label_pair_counts(&self) -> Result<Arc<crate::LabelPairCounts>, Error> {
        let blocks = self.blocks();
        let mut cache = self.cardinality.lock();
        crate::cardinality::label_pair_counts(&self.head, &blocks, &mut cache)
    }

    /// The end of the newest head range persisted and truncated (`i64::MIN` before any).
    pub(crate) fn head_truncated_before(&self) -> i64 {
        self.head_truncated_before
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Starts the background compaction thread (one round every
    /// [`DbOptions::compaction_interval`]); it stops when the `Db` is dropped.
    pub fn start_compaction(self: &Arc<Self>) -> Result<(), Error> {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let weak: Weak<Db> = Arc::downgrade(self);
        let every = self.opts.compaction_interval;
        let thread = std::thread::Builder::new()
            .name("compaction".to_owned())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                    let Some(db) = weak.upgrade() else {
                        return;
                    };
                    if let Err(e) = db.compact() {
                        tracing::error!(error = %e, "compaction failed; retrying next round");
                    }
                    db.release_mapped_pages();
                }
            })
            .map_err(|e| Error::io(&self.dir, e))?;
        *self.stop.lock() = Some((tx, thread));
        Ok(())
    }

    /// Takes the chunk pages that reads mapped in (head chunk files and blocks) out of the
    /// process's RSS; they stay in the page cache. Run after every compaction round, so RSS
    /// holds at most one round's worth of chunk pages read by queries.
    pub fn release_mapped_pages(&self) {
        self.head.release_mapped_pages();
        for b in self.blocks.read().iter() {
            b.release_mapped_pages();
        }
    }

    /// Stops the background compaction thread and waits until a round in progress is done.
    /// Returns whether a thread was running. Called from the compaction thread itself (its
    /// round held the last reference), it only signals the stop.
    pub fn stop_compaction(&self) -> bool {
        let Some((tx, thread)) = self.stop.lock().take() else {
            return false;
        };
        drop(tx);
        if thread.thread().id() != std::thread::current().id() {
            // A panic in a round has been reported by the thread already.
            let _ = thread.join();
        }
        true
    }

    /// One compaction round: persists every complete head range (Prometheus: once the head
    /// spans 1.5 block ranges), merges small blocks, applies retention.
    pub fn compact(&self) -> Result<CompactReport, Error> {
        let _round = self.compacting.lock();
        let mut report = CompactReport::default();
        let range = self.opts.min_block_duration_ms;
        // Ranges already looked at this round: an empty range (a gap in the data) moves it on.
        let mut cursor = i64::MIN;
        while let Some((head_min, head_max)) = self.head.time_bounds() {
            let persisted = self.blocks.read().iter().map(|b| b.meta().max_time).max();
            let start = (head_min.div_euclid(range) * range)
                .max(persisted.unwrap_or(i64::MIN))
                .max(cursor);
            // Prometheus 2.42's rule (`Head.compactable`): the head spans more than 1.5
            // ranges, measured from its oldest sample (or the range already done), not from
            // that sample's range start. Measured from the range start, a head whose data began
            // late in a range was persisted up to an hour earlier than Prometheus does it, and
            // the samples still arriving for that range were refused.
            if head_max - head_min.max(start) <= range + range / 2 {
                break;
            }
            let end = start + range;
            let t0 = Instant::now();
            // Refuse late samples for the range before reading it, and let commits that
            // checked the old bound finish: every sample stored below `end` is then in the
            // block. (If writing the block fails, the range stays in the head for the next
            // round; late samples for it stay refused.)
            self.head.set_min_valid_time(end);
            self.head.wait_for_commits();
            let written = compact_head(&self.head, &self.dir, start, end)?;
            let swap = self.persisting.write();
            if let Some(meta) = written {
                let block = Arc::new(Block::open(&self.dir.join(&meta.ulid))?);
                self.add_block(block);
                tracing::info!(
                    ulid = %meta.ulid, mint = start, maxt = end, series = meta.stats.num_series,
                    samples = meta.stats.num_samples, elapsed_ms = t0.elapsed().as_millis() as u64,
                    "head range persisted"
                );
                report.head_blocks.push(meta.ulid);
            }
            // Order matters: drop the range from the head, then from the WAL (a checkpoint
            // keeps only samples at or after `end`).
            self.head_truncated_before
                .fetch_max(end, std::sync::atomic::Ordering::SeqCst);
            report.head_chunk_files_deleted += self.head.truncate_before(end)?;
            // Series whose every sample is now in blocks, none recent: out of the head, so its
            // memory stays bounded under series churn. Range selects may go on meanwhile: the
            // block is in the list, so they read such a series whole from the blocks.
            drop(swap);
            let gc = self.head.gc(self.opts.gc_before(end, head_max));
            if gc.series_removed > 0 {
                tracing::info!(
                    before = self.opts.gc_before(end, head_max),
                    removed = gc.series_removed,
                    index_lock_ms = gc.index_lock.as_millis() as u64,
                    elapsed_ms = gc.elapsed.as_millis() as u64,
                    "head series garbage collected"
                );
            }
            report.head_series_removed += gc.series_removed;
            self.head.checkpoint_wal(end)?;
            cursor = end;
        }
        let ranges = block_ranges(range, self.opts.max_block_ms());
        loop {
            let blocks = self.blocks();
            let metas: Vec<BlockMeta> = blocks.iter().map(|b| b.meta().clone()).collect();
            let Some(pick) = plan_merge(&metas, &ranges) else {
                break;
            };
            let inputs: Vec<Arc<Block>> = pick.iter().map(|&i| blocks[i].clone()).collect();
            let Some(meta) = merge_blocks(&inputs, &self.dir)? else {
                break;
            };
            let merged = Arc::new(Block::open(&self.dir.join(&meta.ulid))?);
            report.merged_blocks.push(meta.ulid.clone());
            self.replace_blocks(&inputs, Some(merged));
            for b in &inputs {
                delete_block_dir(b.dir())?;
                report.deleted_blocks.push(b.meta().ulid.clone());
            }
        }
        let blocks = self.blocks();
        let sized: Vec<(&BlockMeta, u64)> =
            blocks.iter().map(|b| (b.meta(), b.size_bytes())).collect();
        // The size limit counts the WAL and the head's chunk files too, as Prometheus does.
        let other_bytes =
            dir_bytes(&self.dir.join("wal")) + self.head.chunk_file_stats().disk_bytes;
        let doomed: Vec<Arc<Block>> = beyond_retention(&sized, self.opts.retention, other_bytes)
            .into_iter()
            .map(|i| blocks[i].clone())
            .collect();
        if !doomed.is_empty() {
            self.replace_blocks(&doomed, None);
            for b in &doomed {
                tracing::info!(ulid = %b.meta().ulid, "deleting block past retention");
                delete_block_dir(b.dir())?;
                report.deleted_blocks.push(b.meta().ulid.clone());
            }
        }
        Ok(report)
    }

    fn add_block(&self, block: Arc<Block>) {
        let mut blocks = self.blocks.write();
        blocks.push(block);
        blocks.sort_by_key(|b| b.meta().min_time);
    }

    /// Swaps `old` out of the list and `new` in, in one step for readers.
    fn replace_blocks(&self, old: &[Arc<Block>], new: Option<Arc<Block>>) {
        let mut blocks = self.blocks.write();
        blocks.retain(|b| !old.iter().any(|o| Arc::ptr_eq(o, b)));
        blocks.extend(new);
        blocks.sort_by_key(|b| b.meta().min_time);
    }

    /// The series matching any of `sets` with their samples in `[mint_ms, maxt_ms]`
    /// (inclusive), merged from blocks and head, sorted by label set; series without samples
    /// in the range are left out. Materialises everything: for tests; the server reads
    /// through [`Db::querier`].
    #[cfg(any(test, feature = "testutil"))]
    pub fn select_range(
        &self,
        sets: &[Vec<Matcher>],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<SeriesSamples>, Error> {
        let q = self.querier(mint_ms, maxt_ms);
        let set = q.select(sets)?;
        let mut out = Vec::new();
        for i in 0..set.len() {
            let mut samples = Vec::new();
            set.samples(i, &mut samples)?;
            if !samples.is_empty() {
                out.push(SeriesSamples {
                    labels: set.labels(i)?,
                    samples,
                });
            }
        }
        Ok(out)
    }
}

/// Deletes a block directory: rename to `*.tmp-for-deletion` first, so a crash in the middle
/// leaves a directory `Db::open` removes rather than a half block.
fn delete_block_dir(dir: &Path) -> Result<(), BlockError> {
    let mut tmp = dir.as_os_str().to_owned();
    tmp.push(TMP_DELETION_SUFFIX);
    let tmp = PathBuf::from(tmp);
    std::fs::rename(dir, &tmp).map_err(|e| BlockError::io(dir, e))?;
    std::fs::remove_dir_all(&tmp).map_err(|e| BlockError::io(&tmp, e))
}

/// Bytes of the files directly in `dir` (0 when it does not exist).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::testutil::{must_labels, must_matchers};

    const H: i64 = 3_600_000;
    const STEP: i64 = 15_000;

    fn opts(retention: Retention) -> DbOptions {
        DbOptions {
            min_block_duration_ms: H,
            max_block_duration_ms: None,
            retention,
            compaction_interval: Duration::from_secs(3600),
            head_gc_keep_ms: 5 * 60 * 1000,
        }
    }

    fn head_opts() -> HeadOptions {
        HeadOptions {
            shards: 4,
            chunk_file_bytes: 4096,
            ..HeadOptions::default()
        }
    }

    type Model = BTreeMap<Labels, Vec<(i64, f64)>>;

    /// Appends samples for `series` at every step in `[from, to)`, into the db and the model.
    fn load(db: &Db, model: &mut Model, series: &[Labels], from: i64, to: i64) {
        let mut t = from;
        while t < to {
            let mut app = db.head().appender();
            for (i, l) in series.iter().enumerate() {
                let v = (t / STEP * (i as i64 + 1)) as f64;
                app.append(l, t, v).unwrap();
                model.entry(l.clone()).or_default().push((t, v));
            }
            app.commit().unwrap();
            t += STEP;
        }
    }

    fn series() -> Vec<Labels> {
        let mut v = Vec::new();
        for job in ["api", "db"] {
            for i in 0..5 {
                v.push(must_labels(&[
                    ("__name__", "up"),
                    ("job", job),
                    ("i", &i.to_string()),
                ]));
                v.push(must_labels(&[
                    ("__name__", "req_total"),
                    ("job", job),
                    ("i", &i.to_string()),
                ]));
            }
        }
        v
    }

    /// The model's answer to `select_range`.
    fn expect(model: &Model, sets: &[Vec<Matcher>], mint: i64, maxt: i64) -> Vec<SeriesSamples> {
        model
            .iter()
            .filter(|(l, _)| {
                sets.iter()
                    .any(|s| !s.is_empty() && s.iter().all(|m| m.matches(l.get(&m.name))))
            })
            .map(|(l, s)| SeriesSamples {
                labels: l.clone(),
                samples: s
                    .iter()
                    .copied()
                    .filter(|&(t, _)| t >= mint && t <= maxt)
                    .collect(),
            })
            .filter(|s| !s.samples.is_empty())
            .collect()
    }

    fn check_selects(db: &Db, model: &Model, what: &str) {
        type Set<'a> = &'a [(&'a str, &'a str, &'a str)];
        let sels: [&[Set]; 4] = [
            &[&[("__name__", "=", "up")]],
            &[&[("job", "=", "db")], &[("__name__", "=", "req_total")]],
            &[&[("i", "=~", "[13]")]],
            &[&[("job", "!=", "api"), ("__name__", "!~", "u.*")]],
        ];
        let ranges = [
            (i64::MIN, i64::MAX),
            (0, H),
            (H / 2, 3 * H + 7),
            (4 * H, 4 * H),
            (-5, -1),
        ];
        for sel in sels {
            let sets: Vec<Vec<Matcher>> = sel.iter().map(|s| must_matchers(s)).collect();
            for (mint, maxt) in ranges {
                let got = db.select_range(&sets, mint, maxt).unwrap();
                assert_eq!(
                    got,
                    expect(model, &sets, mint, maxt),
                    "{what}: {sel:?} [{mint}, {maxt}]"
                );
            }
        }
    }

    /// As Prometheus 2.42 (`Head.compactable`): the head is persisted once it spans more than
    /// 1.5 ranges from its oldest sample, not from that sample's range start, so data that
    /// began late in a range keeps taking samples for it as long as Prometheus's would.
    #[test]
    fn a_head_starting_late_in_a_range_compacts_when_it_spans_one_and_a_half() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), head_opts(), opts(Retention::default())).unwrap();
        let mut model = Model::new();
        let series = series();
        let first = 54 * 60_000; // 0.9 ranges in
        load(&db, &mut model, &series, first, first + 3 * H / 2);
        assert_eq!(
            db.compact().unwrap().head_blocks.len(),
            0,
            "1.5 ranges, not more"
        );
        // A sample for the first range still arrives.
        let mut app = db.head().appender();
        app.append(&series[0], first + STEP / 3, 1.0).unwrap();
        app.commit().unwrap();
        load(
            &db,
            &mut model,
            &series,
            first + 3 * H / 2,
            first + 3 * H / 2 + 2 * STEP,
        );
        let report = db.compact().unwrap();
        assert_eq!(report.head_blocks.len(), 1, "{report:?}");
        assert_eq!(
            (
                db.blocks()[0].meta().min_time,
                db.blocks()[0].meta().max_time
            ),
            (0, H)
        );
    }

    #[test]
    fn compaction_merge_and_select_range_match_the_model() {
        let dir = tempfile::tempdir().unwrap();
        // A leftover temp block from a crash is removed at open.
        let junk = dir
            .path()
            .join(format!("01HZZZZZZZZZZZZZZZZZZZZZZZ{TMP_CREATION_SUFFIX}"));
        std::fs::create_dir_all(junk.join("chunks")).unwrap();
        std::fs::write(junk.join("index"), b"half written").unwrap();
        let db = Db::open(dir.path(), head_opts(), opts(Retention::default())).unwrap();
        assert!(!junk.exists());
        assert!(db.blocks().is_empty());
        let mut model = Model::new();
        let series = series();
        load(&db, &mut model, &series, 0, 5 * H);
        check_selects(&db, &model, "head only");
        let report = db.compact().unwrap();
        // Head spans [0, 5h): ranges up to [3h, 4h) are persisted (1.5 ranges kept back),
        // then the complete 3h window [0, 3h) is merged.
        assert_eq!(report.head_blocks.len(), 4, "{report:?}");
        assert_eq!(report.merged_blocks.len(), 1, "{report:?}");
        assert_eq!(report.deleted_blocks.len(), 3, "{report:?}");
        assert!(report.head_chunk_files_deleted > 0, "{report:?}");
        let spans: Vec<(i64, i64, u32)> = db
            .blocks()
            .iter()
            .map(|b| {
                (
                    b.meta().min_time,
                    b.meta().max_time,
                    b.meta().compaction.level,
                )
            })
            .collect();
        assert_eq!(spans, vec![(0, 3 * H, 2), (3 * H, 4 * H, 1)]);
        assert_eq!(db.blocks()[0].meta().compaction.sources.len(), 3);
        let live: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| is_block_dir_name(n))
            .collect();
        assert_eq!(live.len(), 2, "merged inputs deleted: {live:?}");
        // The head no longer holds most of the persisted range.
        let r = db
            .head()
            .select(&[must_matchers(&[("__name__", "=", "up")])])
            .refs[0];
        let mut old = Vec::new();
        db.head().samples(r, 0, 3 * H - 1, &mut old);
        assert!(
            old.len() < 3 * H as usize / STEP as usize / 2,
            "head kept {} old samples",
            old.len()
        );
        check_selects(&db, &model, "blocks + head");
        // Nothing more to do until the head grows.
        assert_eq!(db.compact().unwrap(), CompactReport::default());
        // Reopen: blocks are found again and answer without the (WAL-less) head.
        drop(db);
        let db = Db::open(dir.path(), head_opts(), opts(Retention::default())).unwrap();
        assert_eq!(db.blocks().len(), 2);
        let persisted: Model = model
            .iter()
            .map(|(l, s)| {
                (
                    l.clone(),
                    s.iter().copied().filter(|&(t, _)| t < 4 * H).collect(),
                )
            })
            .collect();
        check_selects(&db, &persisted, "reopened");
    }

    #[test]
    fn retention_by_time_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let ret = Retention {
            time_ms: 2 * H,
            size_bytes: 0,
        };
        let mut o = opts(ret);
        // No merges: max block duration = min block duration.
        o.max_block_duration_ms = Some(H);
        let db = Db::open(dir.path(), head_opts(), o.clone()).unwrap();
        let mut model = Model::new();
        load(&db, &mut model, &series(), 0, 7 * H);
        let report = db.compact().unwrap();
        assert_eq!(report.head_blocks.len(), 6, "{report:?}");
        // Newest block ends at 6h: blocks ending before 4h are past the 2h retention.
        let spans: Vec<i64> = db.blocks().iter().map(|b| b.meta().min_time / H).collect();
        assert_eq!(spans, vec![3, 4, 5]);
        assert_eq!(report.deleted_blocks.len(), 3);
        drop(db);
        // By size: room for two blocks.
        let size = Db::open(dir.path(), head_opts(), o.clone())
            .unwrap()
            .blocks()[0]
            .size_bytes();
        o.retention = Retention {
            time_ms: 0,
            size_bytes: 2 * size + size / 2,
        };
        let db = Db::open(dir.path(), head_opts(), o).unwrap();
        db.compact().unwrap();
        let spans: Vec<i64> = db.blocks().iter().map(|b| b.meta().min_time / H).collect();
        assert_eq!(spans, vec![4, 5]);
    }

    #[test]
    fn compaction_collects_churned_series_from_the_head() {
        const MIN: i64 = 60_000;
        let stable = series();
        let pods: Vec<Labels> = (0..8)
            .map(|k| {
                must_labels(&[
                    ("__name__", "pod_up"),
                    ("job", "api"),
                    ("pod", &format!("pod-{k}")),
                ])
            })
            .collect();
        // Pod k lives [30k min, 30k + 45 min). The head spans [0, 5h): ranges up to
        // [3h, 4h) are persisted, so the last gc bound is min(4h, 5h - 15s - keep).
        // (keep, pods left in the head)
        let cases: [(i64, &[usize]); 3] = [
            (5 * MIN, &[7]),
            (90 * MIN, &[6, 7]),
            (10 * H, &[0, 1, 2, 3, 4, 5, 6, 7]),
        ];
        for (keep, left) in cases {
            let dir = tempfile::tempdir().unwrap();
            let o = opts_keep(keep);
            let wal_head_opts = || HeadOptions {
                wal: Some(crate::wal::WalOptions::new(dir.path().join("wal"))),
                ..head_opts()
            };
            let db = Db::open(dir.path(), wal_head_opts(), o.clone()).unwrap();
            let mut model = Model::new();
            let mut t = 0;
            while t < 5 * H {
                let mut app = db.head().appender();
                for (i, l) in stable.iter().chain(&pods).enumerate() {
                    if i >= stable.len() {
                        let k = (i - stable.len()) as i64;
                        if t < k * 30 * MIN || t >= k * 30 * MIN + 45 * MIN {
                            continue;
                        }
                    }
                    let v = (t / STEP + i as i64) as f64;
                    app.append(l, t, v).unwrap();
                    model.entry(l.clone()).or_default().push((t, v));
                }
                app.commit().unwrap();
                t += STEP;
            }
            assert_eq!(db.head().num_series(), stable.len() + pods.len());
            // The WAL as a crash right after writing the blocks would leave it.
            db.head().flush_wal().unwrap();
            let wal_before = dir.path().join("wal-before-compaction");
            copy_flat_dir(&dir.path().join("wal"), &wal_before);
            let report = db.compact().unwrap();
            assert_eq!(report.head_blocks.len(), 4, "{report:?}");
            let what = format!("keep {keep}");
            assert_eq!(
                report.head_series_removed,
                (pods.len() - left.len()) as u64,
                "{what}"
            );
            assert_eq!(db.head().series_removed_total(), report.head_series_removed);
            let head_pods = |db: &Db| -> Vec<Labels> {
                db.head()
                    .select(&[must_matchers(&[("__name__", "=", "pod_up")])])
                    .refs
                    .iter()
                    .map(|&r| db.head().series_labels(r).unwrap())
                    .collect()
            };
            let want: Vec<Labels> = left.iter().map(|&k| pods[k].clone()).collect();
            assert_eq!(head_pods(&db), want, "{what}");
            assert_eq!(db.head().num_series(), stable.len() + left.len(), "{what}");
            // Their samples are all in blocks: range selects see every pod whole.
            check_selects(&db, &model, &what);
            let sets = vec![must_matchers(&[("pod", "=~", "pod-.*")])];
            let got = db.select_range(&sets, i64::MIN, i64::MAX).unwrap();
            assert_eq!(got, expect(&model, &sets, i64::MIN, i64::MAX), "{what}");
            assert_eq!(got.len(), pods.len());
            // A restart replays the checkpoint (samples at or after the last persisted end)
            // and the newer WAL segments (which may hold older samples again): collected
            // series do not come back, and any kept pod without a sample in the checkpoint
            // is gone too; pod-7 runs past 4h and stays.
            drop(db);
            let db = Db::open(dir.path(), wal_head_opts(), o).unwrap();
            let reopened = head_pods(&db);
            assert!(
                reopened.iter().all(|l| want.contains(l)),
                "{what}: {reopened:?}"
            );
            assert!(reopened.contains(&pods[7]), "{what}: {reopened:?}");
            let got = db.select_range(&sets, i64::MIN, i64::MAX).unwrap();
            assert_eq!(got, expect(&model, &sets, i64::MIN, i64::MAX), "{what}");
            // A crash between the blocks and the checkpoint: the whole WAL replays, every
            // pod comes back with all its samples, and the open collects the same ones.
            drop(db);
            std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
            copy_flat_dir(&wal_before, &dir.path().join("wal"));
            let db = Db::open(dir.path(), wal_head_opts(), opts_keep(keep)).unwrap();
            assert_eq!(head_pods(&db), want, "{what}: crash before checkpoint");
            assert_eq!(
                db.head().series_removed_total(),
                (pods.len() - left.len()) as u64
            );
            check_selects(&db, &model, &what);
        }
    }

    fn opts_keep(keep: i64) -> DbOptions {
        DbOptions {
            head_gc_keep_ms: keep,
            ..opts(Retention::default())
        }
    }

    /// Copies the files directly in `from` into a new directory `to`.
    fn copy_flat_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            assert!(e.file_type().unwrap().is_file(), "{:?}", e.path());
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }

    #[test]
    fn background_compaction_runs_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(Retention::default());
        o.compaction_interval = Duration::from_millis(20);
        let db = Arc::new(Db::open(dir.path(), head_opts(), o).unwrap());
        db.start_compaction().unwrap();
        let mut model = Model::new();
        load(&db, &mut model, &series()[..2], 0, 3 * H);
        let deadline = Instant::now() + Duration::from_secs(10);
        // Head [0, 3h) with 1h blocks: [0, 1h) and [1h, 2h) are persisted (1.5h kept back).
        while db.blocks().len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(db.blocks().len(), 2);
        check_selects(&db, &model, "background");

        // Stopping joins the thread (within the deadline, else the loop ignored the stop)...
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let stopper = db.clone();
        std::thread::spawn(move || {
            let _ = done_tx.send(stopper.stop_compaction());
        });
        assert_eq!(
            done_rx.recv_timeout(Duration::from_secs(10)),
            Ok(true),
            "the compaction thread did not stop"
        );
        assert!(!db.stop_compaction(), "no thread is left to stop");
        // ...and no round runs after it: a persistable range stays in the head.
        load(&db, &mut model, &series()[..2], 3 * H, 5 * H);
        std::thread::sleep(Duration::from_millis(200)); // ten intervals
        assert_eq!(db.blocks().len(), 2, "compaction ran after the stop");
        assert_eq!(
            db.compact().unwrap().head_blocks.len(),
            2,
            "the range was left"
        );
    }
}
