//! One shard of the head: its series' label sets, hash lookup table, latest-sample columns
//! (memory-mapped) and chunk history. Everything here is guarded by the shard's `RwLock`.
//!
//! Columns are indexed by the series' local index; `ts[i] == NO_SAMPLE` means series `i` has
//! no sample yet (created by an appender that has not committed, or rolled back).

use std::path::Path;

use hashbrown::HashTable;

use crate::chunks::SeriesChunks;
use crate::error::{AppendError, Error};
use crate::labels::Labels;
use crate::mmap::MmapColumn;
use crate::symbols::{SymbolId, SymbolTable};

/// Timestamp marking "no sample yet"; a sample at exactly `i64::MIN` is refused as out of
/// bounds at append.
pub(crate) const NO_SAMPLE: i64 = i64::MIN;

/// What applying one sample did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Stored as the new latest sample.
    Appended,
    /// Stored as the series' first sample.
    First,
    /// Same timestamp and bits as the latest: a no-op.
    Identical,
    /// Older than the latest.
    OutOfOrder,
    /// Same timestamp as the latest, other value.
    Duplicate,
}

/// A shard's data.
///
/// Invariants: all per-series vectors/columns have `len()` entries; `label_ends[i]` is the end
/// of series `i`'s `[name, value, ...]` ids in `label_data` (start: `label_ends[i - 1]` or 0);
/// `map` holds every local index, hashed by `hashes[i]`.
pub(crate) struct ShardData {
    hashes: MmapColumn,
    ts: MmapColumn,
    vs: MmapColumn,
    label_ends: Vec<u32>,
    label_data: Vec<u32>,
    history: Vec<Option<Box<SeriesChunks>>>,
    map: HashTable<u32>,
}

impl ShardData {
    /// Creates the shard's column files `shard-NNN.{hash,ts,val}` under `dir`.
    pub(crate) fn create(dir: &Path, shard: usize) -> Result<ShardData, Error> {
        let col = |ext: &str| MmapColumn::create(&dir.join(format!("shard-{shard:03}.{ext}")));
        Ok(ShardData {
            hashes: col("hash")?,
            ts: col("ts")?,
            vs: col("val")?,
            label_ends: Vec::new(),
            label_data: Vec::new(),
            history: Vec::new(),
            map: HashTable::new(),
        })
    }

    /// Number of series (including not yet committed ones).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.label_ends.len()
    }

    /// The `[name, value, ...]` symbol ids of series `i`.
    #[inline]
    pub(crate) fn labels(&self, i: usize) -> &[u32] {
        let start = if i == 0 {
            0
        } else {
            self.label_ends[i - 1] as usize
        };
        &self.label_data[start..self.label_ends[i] as usize]
    }

    /// The latest sample of series `i`, if it has one.
    #[inline]
    pub(crate) fn latest(&self, i: usize) -> Option<(i64, f64)> {
        let t = self.ts.as_slice()[i] as i64;
        (t != NO_SAMPLE).then(|| (t, f64::from_bits(self.vs.as_slice()[i])))
    }

    /// The raw latest columns (timestamps as `u64`, values as bits).
    #[inline]
    pub(crate) fn columns(&self) -> (&[u64], &[u64]) {
        (self.ts.as_slice(), self.vs.as_slice())
    }

    /// The chunk history of series `i` (samples before the latest).
    pub(crate) fn history(&self, i: usize) -> Option<&SeriesChunks> {
        self.history[i].as_deref()
    }

    /// Finds the series with label set `labels` (hash `hash`).
    pub(crate) fn find(&self, hash: u64, labels: &Labels, symbols: &SymbolTable) -> Option<u32> {
        let hashes = self.hashes.as_slice();
        self.map
            .find(hash, |&i| {
                hashes[i as usize] == hash && labels_equal(self.labels(i as usize), labels, symbols)
            })
            .copied()
    }

    /// Finds the series whose label ids are exactly `ids`.
    pub(crate) fn find_ids(&self, hash: u64, ids: &[u32]) -> Option<u32> {
        let hashes = self.hashes.as_slice();
        self.map
            .find(hash, |&i| {
                hashes[i as usize] == hash && self.labels(i as usize) == ids
            })
            .copied()
    }

    /// Adds a series without samples; returns its local index.
    pub(crate) fn insert(&mut self, hash: u64, ids: &[u32]) -> Result<u32, AppendError> {
        let i = u32::try_from(self.len())
            .map_err(|_| AppendError::Storage("too many series in one shard".to_owned()))?;
        let grow = |e: Error| AppendError::Storage(e.to_string());
        self.hashes.push(hash).map_err(grow)?;
        self.ts.push(NO_SAMPLE as u64).map_err(grow)?;
        self.vs.push(0).map_err(grow)?;
        self.label_data.extend_from_slice(ids);
        let end = u32::try_from(self.label_data.len())
            .map_err(|_| AppendError::Storage("label data of one shard over 16 GiB".to_owned()))?;
        self.label_ends.push(end);
        self.history.push(None);
        let hashes = self.hashes.as_slice();
        self.map.insert_unique(hash, i, |&j| hashes[j as usize]);
        Ok(i)
    }

    /// Applies one sample to series `i` by Prometheus's `memSeries.appendable` rules.
    #[inline]
    pub(crate) fn append(&mut self, i: usize, t: i64, v: f64) -> Applied {
        let last_t = self.ts.as_slice()[i] as i64;
        let last_v = self.vs.as_slice()[i];
        let mut applied = Applied::First;
        if last_t != NO_SAMPLE {
            if t < last_t {
                return Applied::OutOfOrder;
            }
            if t == last_t {
                return if v.to_bits() == last_v {
                    Applied::Identical
                } else {
                    Applied::Duplicate
                };
            }
            self.history[i]
                .get_or_insert_with(|| Box::new(SeriesChunks::new()))
                .append(last_t, f64::from_bits(last_v));
            applied = Applied::Appended;
        }
        self.ts.as_mut_slice()[i] = t as u64;
        self.vs.as_mut_slice()[i] = v.to_bits();
        applied
    }

    /// Approximate bytes used (heap plus mapped columns).
    pub(crate) fn bytes(&self) -> usize {
        self.hashes.mapped_bytes()
            + self.ts.mapped_bytes()
            + self.vs.mapped_bytes()
            + self.label_ends.capacity() * 4
            + self.label_data.capacity() * 4
            + self.history.capacity() * 8
            + self
                .history
                .iter()
                .flatten()
                .map(|h| 64 + h.heap_bytes())
                .sum::<usize>()
            + self.map.capacity() * 5
    }
}

/// Whether stored ids spell exactly `labels`.
fn labels_equal(ids: &[u32], labels: &Labels, symbols: &SymbolTable) -> bool {
    ids.len() == labels.len() * 2
        && ids.chunks_exact(2).zip(labels.iter()).all(|(p, l)| {
            symbols.resolve(SymbolId(p[0])) == l.name && symbols.resolve(SymbolId(p[1])) == l.value
        })
}
