//! The WAL watcher of one queue: rebuilds the series-ref map from the checkpoint and the
//! segments before its start position, then tails segments record by record, encoding the
//! samples of each samples record for the shards (src/remote/sender/shard.rs, [`Spread`])
//! and following the writer to new segments.
//!
//! Every samples record gets a ledger entry (src/remote/sender/ledger.rs) ending at the
//! record's end offset, so the acknowledged position always falls between records; finishing
//! a segment adds an empty entry that moves the position to the next segment's start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fedstore_storage::Labels;
use fedstore_storage::wal::{self, SegmentTail, WalPosition, WalRecord};

use super::encode::SeriesOut;
use super::metrics::raise;
use super::queue::Queue;
use super::shard::Spread;
use crate::config::relabel;

/// How long the watcher sleeps when it has read everything written.
const POLL: Duration = Duration::from_millis(20);

/// The watcher's state.
pub struct Watcher {
    queue: Arc<Queue>,
    dir: PathBuf,
    external_labels: Vec<(String, String)>,
    /// Series ref to the series as sent.
    series: SeriesTable,
    tail: SegmentTail,
    pos: WalPosition,
}

impl Watcher {
    /// A watcher of the WAL in `dir` starting at `start`.
    pub fn new(
        queue: Arc<Queue>,
        dir: &Path,
        start: WalPosition,
        external_labels: Vec<(String, String)>,
    ) -> Watcher {
        Watcher {
            queue,
            dir: dir.to_owned(),
            external_labels,
            series: SeriesTable::default(),
            tail: SegmentTail::default(),
            pos: start,
        }
    }

    /// Runs until the queue stops.
    pub fn run(mut self) {
        self.load_series();
        let mut spread = Spread::default();
        while !self.queue.stopping() {
            match self.step(&mut spread) {
                Ok(true) => {}
                Ok(false) => {
                    if !self.queue.sleep(POLL) {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(remote_name = %self.queue.name, error = %e, "reading the WAL");
                    if !self.queue.sleep(Duration::from_secs(1)) {
                        return;
                    }
                }
            }
        }
    }

    /// The series records before the start position: the newest checkpoint at or below it,
    /// the segments from the checkpoint to it, and the start segment up to the offset.
    fn load_series(&mut self) {
        let start = self.pos;
        let cp = wal::checkpoints(&self.dir)
            .unwrap_or_default()
            .into_iter()
            .rfind(|&c| c <= start.segment);
        if let Some(c) = cp {
            self.read_series(&wal::checkpoint_file(&self.dir, c), c, u64::MAX);
        }
        let segs = wal::segments(&self.dir).unwrap_or_default();
        for n in segs
            .into_iter()
            .filter(|&n| n >= cp.unwrap_or(0) && n <= start.segment)
        {
            let upto = if n == start.segment {
                start.offset
            } else {
                u64::MAX
            };
            if upto > 0 {
                self.read_series(&wal::segment_file(&self.dir, n), n, upto);
            }
        }
    }

    /// Applies the series records of a file whose records end at or before `upto`.
    fn read_series(&mut self, path: &Path, n: u64, upto: u64) {
        let mut found: Vec<(u32, Labels)> = Vec::new();
        let res = self.tail.read(path, n, 0, false, &mut |r, end| {
            if end > upto {
                return false;
            }
            if let WalRecord::Series(s) = r {
                found.extend(s.iter().cloned());
            }
            true
        });
        if let Err(e) = res {
            tracing::warn!(file = %path.display(), error = %e, "reading series from the WAL");
        }
        for (r, l) in found {
            let s = series_out(
                &self.queue.cfg.write_relabel_configs,
                &self.external_labels,
                &l,
            );
            self.series.insert(r, s);
        }
    }
}

/// Most refs the dense part of a [`SeriesTable`] covers beyond 4 per series it holds.
const DENSE_SLACK: usize = 1 << 16;

/// WAL series ref to the series as sent (`None`: dropped by relabeling). The head hands out
/// refs densely (a per-shard index above the shard bits), so refs index a vector: samples
/// records name their series in the same order round after round, and the lookups walk the
/// vector nearly in order instead of missing the cache at random as a hash map's do. A ref
/// far beyond the series held goes to a map instead, so a stray ref cannot blow the vector up.
#[derive(Default)]
struct SeriesTable {
    dense: Vec<Option<SeriesOut>>,
    sparse: hashbrown::HashMap<u32, Option<SeriesOut>>,
    len: usize,
}

impl SeriesTable {
    fn insert(&mut self, r: u32, s: Option<SeriesOut>) {
        let i = r as usize;
        if !self.sparse.is_empty() && self.sparse.contains_key(&r) {
            self.sparse.insert(r, s);
            return;
        }
        if i >= self.dense.len() {
            if i >= 4 * self.len + DENSE_SLACK {
                self.sparse.insert(r, s);
                self.len += 1;
                return;
            }
            self.dense.resize_with(i + 1, || None);
        }
        self.dense[i] = s;
        self.len += 1;
    }

    fn get(&self, r: u32) -> Option<&SeriesOut> {
        match self.dense.get(r as usize) {
            Some(Some(s)) => Some(s),
            _ if self.sparse.is_empty() => None,
            _ => self.sparse.get(&r)?.as_ref(),
        }
    }

    fn clear(&mut self) {
        *self = SeriesTable::default();
    }
}

/// The series as sent: external labels added where absent, then write relabeling.
fn series_out(
    relabel_configs: &[relabel::RelabelConfig],
    external_labels: &[(String, String)],
    labels: &Labels,
) -> Option<SeriesOut> {
    let mut pairs: Vec<(String, String)> = labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    for (n, v) in external_labels {
        if let Err(i) = pairs.binary_search_by(|(pn, _)| pn.as_str().cmp(n)) {
            pairs.insert(i, (n.clone(), v.clone()));
        }
    }
    if !relabel::process(relabel_configs, &mut pairs) || pairs.is_empty() {
        return None;
    }
    Some(SeriesOut::new(&pairs))
}

impl Watcher {
    /// Reads what is new at the position. Ok(true): progress was made.
    fn step(&mut self, spread: &mut Spread) -> Result<bool, String> {
        let segs = wal::segments(&self.dir).map_err(|e| e.to_string())?;
        let Some(&last) = segs.last() else {
            return Ok(false);
        };
        if !segs.contains(&self.pos.segment) {
            if let Some(&next) = segs.iter().find(|&&n| n > self.pos.segment) {
                // Deleted under us (a checkpoint past the lag bound): go on after the gap,
                // with the series of the checkpoint that replaced it.
                tracing::warn!(remote_name = %self.queue.name, from = self.pos.segment, to = next, "WAL segments gone before they were sent; skipping ahead");
                self.pos = WalPosition {
                    segment: next,
                    offset: 0,
                };
                self.queue.ledger.open(0, self.pos);
                self.series.clear();
                self.load_series();
                return Ok(true);
            }
            return Ok(false);
        }
        let seg = self.pos.segment;
        let sealed = seg < last;
        let path = wal::segment_file(&self.dir, seg);
        let mut stopped = false;
        let from = self.pos.offset;
        let queue = self.queue.clone();
        let mut new_series: Vec<(u32, Labels)> = Vec::new();
        let mut pos = self.pos;
        // Records are read in order: a series record is in the map before the samples after it.
        let mut tail = std::mem::take(&mut self.tail);
        let relabel_configs = &queue.cfg.write_relabel_configs;
        let external_labels = &self.external_labels;
        let series_map = &mut self.series;
        let res = tail.read(&path, seg, from, sealed, &mut |r, end| {
            match r {
                WalRecord::Series(s) => {
                    new_series.extend(s.iter().cloned());
                    for (r, l) in new_series.drain(..) {
                        let out = series_out(relabel_configs, external_labels, &l);
                        series_map.insert(r, out);
                    }
                }
                WalRecord::Samples(samples) => {
                    let mut dropped = 0u64;
                    let mut highest = i64::MIN;
                    let end_pos = WalPosition {
                        segment: seg,
                        offset: end,
                    };
                    let taken = queue.append(spread, samples.len(), |spread| {
                        for s in samples {
                            highest = highest.max(s.t);
                            match series_map.get(s.series_ref) {
                                Some(series) => spread.add(series, s.t, s.v),
                                _ => dropped += 1,
                            }
                        }
                        queue.ledger.open(spread.kept() as u64, end_pos)
                    });
                    raise(&queue.metrics.highest_read_ms, highest);
                    if dropped > 0 {
                        queue
                            .metrics
                            .samples_dropped_total
                            .fetch_add(dropped, Ordering::Relaxed);
                        queue.rates.data_dropped.add(dropped);
                    }
                    if !taken {
                        stopped = true;
                        return false;
                    }
                }
            }
            pos.offset = end;
            true
        });
        self.tail = tail;
        if stopped {
            return Ok(false);
        }
        match res {
            Ok(Some(end)) => {
                let progressed = end > from || pos.offset > from;
                self.pos.offset = end.max(pos.offset);
                if sealed {
                    self.pos = WalPosition {
                        segment: seg + 1,
                        offset: 0,
                    };
                    self.queue.ledger.open(0, self.pos);
                    return Ok(true);
                }
                Ok(progressed)
            }
            Ok(None) => Ok(false),
            Err(e) if sealed => {
                tracing::error!(remote_name = %self.queue.name, segment = seg, error = %e, "bad WAL record; skipping the rest of the segment");
                self.pos = WalPosition {
                    segment: seg + 1,
                    offset: 0,
                };
                self.queue.ledger.open(0, self.pos);
                Ok(true)
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_table_dense_and_sparse_refs() {
        let out = |v: &str| Some(SeriesOut::new(&[("__name__".into(), v.into())]));
        let mut t = SeriesTable::default();
        t.insert(3, out("a"));
        t.insert(1, None);
        // Far past the series held: kept in the map, the vector stays small.
        t.insert(u32::MAX, out("far"));
        assert!(t.dense.len() < 10, "{}", t.dense.len());
        t.insert(200_000, out("b"));
        assert_eq!(t.get(3).map(|s| s.hash), out("a").map(|s| s.hash));
        assert!(t.get(1).is_none(), "dropped by relabeling");
        assert!(t.get(2).is_none(), "never named");
        assert_eq!(t.get(u32::MAX).map(|s| s.hash), out("far").map(|s| s.hash));
        assert_eq!(t.get(200_000).map(|s| s.hash), out("b").map(|s| s.hash));
        // Grow the vector past a ref the map holds: the map's entry is still found and updated.
        for r in 0..100_000u32 {
            t.insert(r, out("x"));
        }
        t.insert(200_001, out("y"));
        assert!(t.dense.len() > 200_000);
        t.insert(200_000, out("c"));
        assert_eq!(t.get(200_000).map(|s| s.hash), out("c").map(|s| s.hash));
        t.clear();
        assert!(t.get(3).is_none());
    }
}
