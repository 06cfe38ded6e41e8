//! The WAL watcher of one queue: rebuilds the series-ref map from the checkpoint and the
//! segments before its start position, then tails segments record by record, turning samples
//! records into [`Item`]s for the shards and following the writer to new segments.
//!
//! Every samples record gets a ledger entry (src/remote/sender/ledger.rs) ending at the
//! record's end offset, so the acknowledged position always falls between records; finishing
//! a segment adds an empty entry that moves the position to the next segment's start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fedstore_storage::Labels;
use fedstore_storage::wal::tail::{self, SegmentTail, WalPosition, WalRecord};

use super::encode::SeriesOut;
use super::metrics::raise;
use super::queue::Queue;
use super::shard::Item;
use crate::config::relabel;

/// How long the watcher sleeps when it has read everything written.
const POLL: Duration = Duration::from_millis(20);

/// The watcher's state.
pub struct Watcher {
    queue: Arc<Queue>,
    dir: PathBuf,
    external_labels: Vec<(String, String)>,
    /// Series ref to the series as sent (`None`: dropped by relabeling).
    series: hashbrown::HashMap<u32, Option<Arc<SeriesOut>>>,
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
            series: hashbrown::HashMap::new(),
            tail: SegmentTail::default(),
            pos: start,
        }
    }

    /// Runs until the queue stops.
    pub fn run(mut self) {
        self.load_series();
        let mut items = Vec::new();
        let mut scratch = Vec::new();
        while !self.queue.stopping() {
            match self.step(&mut items, &mut scratch) {
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
        let cp = tail::checkpoints(&self.dir)
            .unwrap_or_default()
            .into_iter()
            .rfind(|&c| c <= start.segment);
        if let Some(c) = cp {
            self.read_series(&tail::checkpoint_file(&self.dir, c), c, u64::MAX);
        }
        let segs = tail::segments(&self.dir).unwrap_or_default();
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
                self.read_series(&tail::segment_file(&self.dir, n), n, upto);
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

/// The series as sent: external labels added where absent, then write relabeling.
fn series_out(
    relabel_configs: &[relabel::RelabelConfig],
    external_labels: &[(String, String)],
    labels: &Labels,
) -> Option<Arc<SeriesOut>> {
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
    Some(Arc::new(SeriesOut::new(&pairs)))
}

impl Watcher {
    /// Reads what is new at the position. Ok(true): progress was made.
    fn step(
        &mut self,
        items: &mut Vec<Item>,
        scratch: &mut Vec<Vec<Item>>,
    ) -> Result<bool, String> {
        let segs = tail::segments(&self.dir).map_err(|e| e.to_string())?;
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
        let path = tail::segment_file(&self.dir, seg);
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
                    items.clear();
                    for s in samples {
                        highest = highest.max(s.t);
                        match series_map.get(&s.series_ref) {
                            Some(Some(series)) => items.push(Item {
                                series: series.clone(),
                                t: s.t,
                                v: s.v,
                                id: 0,
                            }),
                            _ => dropped += 1,
                        }
                    }
                    raise(&queue.metrics.highest_read_ms, highest);
                    if dropped > 0 {
                        queue
                            .metrics
                            .samples_dropped_total
                            .fetch_add(dropped, Ordering::Relaxed);
                        queue.rates.data_dropped.add(dropped);
                    }
                    let end_pos = WalPosition {
                        segment: seg,
                        offset: end,
                    };
                    let id = queue.ledger.open(items.len() as u64, end_pos);
                    for it in items.iter_mut() {
                        it.id = id;
                    }
                    if !items.is_empty() && !queue.append(items, scratch) {
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
