//! Appenders: batch samples, create series on first sight, apply the batch at commit with one
//! write lock per touched shard (Prometheus `headAppender`).
//!
//! Samples are checked against the committed state at commit, in append order per series:
//! older than the latest is out of order, same timestamp with other bits a duplicate, the
//! identical sample a silent no-op. New series are created (invisible) at `append` and
//! indexed, so selectable, by the commit that stores their first sample.

use crate::error::{AppendError, Error};
use crate::labels::Labels;
use crate::labels::packed::PackedLabels;
use crate::series::{SeriesRef, hash_labels};

use super::shard::{Applied, NO_SAMPLE};
use super::{AppendStats, Head};

/// One pending sample.
#[derive(Debug, Clone, Copy)]
struct PendingSample {
    r: u32,
    t: i64,
    v: f64,
}

/// What a deferred commit waits for: the WAL position its records end at (0: nothing logged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "a deferred commit is not acknowledged until it is durable"]
pub struct Durable(u64);

impl Durable {
    pub(super) fn lsn(self) -> u64 {
        self.0
    }
}

/// A batch of samples, applied on [`Appender::commit`].
///
/// `Send`: several threads may each use their own appender on one head.
pub struct Appender<'h> {
    head: &'h Head,
    samples: Vec<PendingSample>,
    /// Refs whose first sample this commit stored: indexed unless already indexed.
    unindexed: Vec<u32>,
    out_of_bounds: u64,
    ids_buf: Vec<u32>,
}

impl<'h> Appender<'h> {
    pub(super) fn new(head: &'h Head) -> Self {
        Appender {
            head,
            samples: Vec::new(),
            unindexed: Vec::new(),
            out_of_bounds: 0,
            ids_buf: Vec::new(),
        }
    }

    /// Appends a sample for the series `labels`, creating the series if needed, and returns
    /// its ref for later [`Appender::append_ref`] calls.
    pub fn append(&mut self, labels: &Labels, t_ms: i64, v: f64) -> Result<SeriesRef, AppendError> {
        let r = self.get_or_create(labels)?;
        self.push(r.0, t_ms, v);
        Ok(r)
    }

    /// Appends a sample to an existing series.
    pub fn append_ref(&mut self, r: SeriesRef, t_ms: i64, v: f64) -> Result<(), AppendError> {
        let (s, i) = self.head.split(r);
        // The published length, not the lock: refs handed out are below it.
        let known = self
            .head
            .shards
            .get(s)
            .is_some_and(|sh| i < sh.len.load(std::sync::atomic::Ordering::Acquire) as usize);
        if !known {
            return Err(AppendError::UnknownRef(r.0));
        }
        self.push(r.0, t_ms, v);
        Ok(())
    }

    #[inline]
    fn push(&mut self, r: u32, t: i64, v: f64) {
        if t == NO_SAMPLE || t < self.head.min_valid_time() {
            self.out_of_bounds += 1;
            return;
        }
        self.samples.push(PendingSample { r, t, v });
    }

    /// Finds the series of `labels` or creates it (without samples).
    fn get_or_create(&mut self, labels: &Labels) -> Result<SeriesRef, AppendError> {
        let head = self.head;
        let hash = hash_labels(labels);
        if let Some((s, i, _)) = head.find(hash, labels) {
            return head.join(s, i).ok_or_else(ref_space);
        }
        let s = head.shard_of(hash);
        labels.validate()?;
        let mut symbols = head.symbols.write();
        self.ids_buf.clear();
        for l in labels.iter() {
            self.ids_buf.push(symbols.intern(&l.name).0);
            self.ids_buf.push(symbols.intern(&l.value).0);
        }
        let mut shard = head.shards[s].write();
        drop(symbols);
        // Another appender may have created it between our locks.
        if let Some(i) = shard.find_ids(hash, &self.ids_buf) {
            return head.join(s, i).ok_or_else(ref_space);
        }
        let i = shard.insert(hash, &self.ids_buf)?;
        head.shards[s]
            .len
            .store(i + 1, std::sync::atomic::Ordering::Release);
        head.join(s, i).ok_or_else(ref_space)
    }

    /// Applies the batch. Out-of-order and duplicate samples are counted, not fatal.
    /// Returns once the batch is durable (per the WAL's fsync mode), which is before any of
    /// it is visible.
    pub fn commit(self) -> Result<AppendStats, Error> {
        self.apply(true).map(|(stats, _)| stats)
    }

    /// Applies the batch like [`Appender::commit`] but without waiting for the WAL's fsync:
    /// the samples are logged (a failed write still refuses the whole batch) and visible at
    /// return, and durable once [`Head::on_durable`] says so. For callers that must not hold
    /// a thread while the fsync runs (remote write acknowledges only after it).
    pub fn commit_deferred(self) -> Result<(AppendStats, Durable), Error> {
        self.apply(false)
    }

    fn apply(mut self, wait: bool) -> Result<(AppendStats, Durable), Error> {
        let head = self.head;
        let mut stats = AppendStats {
            out_of_bounds: self.out_of_bounds,
            ..Default::default()
        };
        let samples = std::mem::take(&mut self.samples);
        // Log and apply under the gate, so a head snapshot can find a WAL point before which
        // every record is applied (head/snapshot.rs).
        let _gate = head.commit_gate.read();
        // WAL hook: log before apply, so a commit is durable before any of it is visible and
        // a failed log write refuses the whole commit (see wal/writer.rs).
        let mut durable = Durable(0);
        if let Some(wal) = &head.wal {
            let logged = samples.iter().map(|p| (p.r, p.t, p.v));
            let labels_of = |r| head.series_labels(SeriesRef(r));
            if wait {
                wal.log_commit(logged, &labels_of)?;
            } else {
                durable = Durable(wal.log_commit_deferred(logged, &labels_of)?);
            }
        }
        let n = head.shards.len();
        let mask = (n - 1) as u32;
        // Counting sort by shard, stable so each series keeps its append order.
        let mut counts = vec![0usize; n + 1];
        for p in &samples {
            counts[(p.r & mask) as usize + 1] += 1;
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let starts = counts.clone();
        let mut grouped = vec![PendingSample { r: 0, t: 0, v: 0.0 }; samples.len()];
        for p in &samples {
            let slot = &mut counts[(p.r & mask) as usize];
            grouped[*slot] = *p;
            *slot += 1;
        }
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        for s in 0..n {
            let group = &grouped[starts[s]..starts[s + 1]];
            if group.is_empty() {
                continue;
            }
            let mut shard = head.shards[s].write();
            // Checked again under the shard lock: compaction raises it and then waits for each
            // shard's lock before reading a range, so a sample this commit stores below it
            // would be in no block (see `Head::wait_for_commits`).
            let min_valid = head.min_valid_time();
            for p in group {
                if p.t < min_valid {
                    stats.out_of_bounds += 1;
                    continue;
                }
                let i = (p.r >> head.shard_bits) as usize;
                let applied = shard.append(i, p.t, p.v);
                if matches!(applied, Applied::Appended | Applied::First) {
                    min_t = min_t.min(p.t);
                    max_t = max_t.max(p.t);
                }
                match applied {
                    Applied::Appended => stats.appended += 1,
                    Applied::First => {
                        stats.appended += 1;
                        // A series created by a rolled-back batch, revived through its ref.
                        self.unindexed.push(p.r);
                    }
                    Applied::Identical => {}
                    Applied::OutOfOrder => stats.out_of_order += 1,
                    Applied::Duplicate => stats.duplicate += 1,
                }
            }
        }
        head.num_samples
            .fetch_add(stats.appended, std::sync::atomic::Ordering::Relaxed);
        head.note_time_range(min_t, max_t);
        if !self.unindexed.is_empty() {
            stats.series_created = self.index_new_series() as u64;
        }
        Ok((stats, durable))
    }

    /// Indexes the batch's new series that now have samples; returns how many it indexed.
    fn index_new_series(&mut self) -> usize {
        let head = self.head;
        self.unindexed.sort_unstable();
        self.unindexed.dedup();
        let mut postings = head.postings.write();
        self.unindexed.retain(|&r| !postings.contains(r));
        if self.unindexed.is_empty() {
            return 0;
        }
        let symbols = head.symbols.read();
        let shards = head.read_all_shards();
        let bits = head.shard_bits;
        let mask = (1u32 << bits) - 1;
        let labels_of = |r: u32| shards[(r & mask) as usize].labels((r >> bits) as usize);
        let batch: Vec<(u32, PackedLabels<'_>)> = self
            .unindexed
            .iter()
            .filter(|&&r| {
                shards[(r & mask) as usize]
                    .latest((r >> bits) as usize)
                    .is_some()
            })
            .map(|&r| (r, labels_of(r)))
            .collect();
        postings.add_batch(&batch, &symbols, &labels_of)
    }

    /// The ref of `labels`, creating the series (without samples, so invisible) if needed.
    /// For WAL replay, which meets series records before their samples.
    pub(crate) fn series_ref(&mut self, labels: &Labels) -> Result<SeriesRef, AppendError> {
        self.get_or_create(labels)
    }

    /// Drops the batch. Series it created stay invisible (they hold no sample).
    pub fn rollback(self) {}
}

fn ref_space() -> AppendError {
    AppendError::Storage("series ref space (u32) exhausted".to_owned())
}
