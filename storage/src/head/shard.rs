//! One shard of the head: its series' label sets, hash lookup table, latest-sample records
//! (memory-mapped) and chunk history. Everything here is guarded by the shard's `RwLock`.
//!
//! Records are indexed by the series' local index; a latest timestamp of `NO_SAMPLE` means the
//! series has no sample (created by an appender that has not committed, rolled back, or a
//! tombstone left by series garbage collection).

mod snapshot;

use std::path::Path;
use std::sync::Arc;

use hashbrown::{HashMap, HashTable};

use crate::error::{AppendError, Error};
use crate::labels::Labels;
use crate::labels::packed::{LabelPairs, PackedLabels, push_varint, same_labels};
use crate::mmap::MmapColumn;
use crate::symbols::{SymbolId, SymbolTable};

use super::chunk_files::ChunkFiles;
use super::history::Histories;

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

/// Words per series record in the `series` column: `[t, v bits, label span, hash]`.
const RECORD_WORDS: usize = 4;
const T: usize = 0;
const V: usize = 1;
/// Labels: start of the packed values in `label_data` (low 32 bits) and the name-set id
/// (high 32 bits).
const SPAN: usize = 2;
const HASH: usize = 3;

/// A shard's data.
///
/// Invariants: `series` holds `RECORD_WORDS` words per series (one 32-byte, cache-line-aligned
/// record: latest timestamp, latest value bits, label location, label-set hash), so reading a
/// series' latest sample and finding its labels costs one cache line; a series' labels are
/// `name_sets[set]` zipped with the varint value ids at `label_data[start..]`; `history` has
/// one entry per series; `map` holds every local index, hashed by the record's hash. Sealed
/// history lives in `chunks`, shared by all shards.
pub(crate) struct ShardData {
    series: MmapColumn,
    label_data: Vec<u8>,
    name_sets: Vec<Box<[u32]>>,
    name_set_ids: HashMap<Box<[u32]>, u32>,
    history: Histories,
    map: HashTable<u32>,
    chunks: Arc<ChunkFiles>,
}

impl ShardData {
    /// Creates the shard's series file `shard-NNN.series` under `dir`; sealed chunks go to
    /// `chunks`.
    pub(crate) fn create(
        dir: &Path,
        shard: usize,
        chunks: Arc<ChunkFiles>,
    ) -> Result<ShardData, Error> {
        Ok(ShardData {
            series: MmapColumn::create(&dir.join(format!("shard-{shard:03}.series")))?,
            label_data: Vec::new(),
            name_sets: Vec::new(),
            name_set_ids: HashMap::new(),
            history: Histories::default(),
            map: HashTable::new(),
            chunks,
        })
    }

    /// Number of series (including not yet committed ones).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.history.len()
    }

    /// The label-set hash of series `i` ([`crate::series::hash_labels`]).
    #[inline]
    pub(crate) fn hash(&self, i: usize) -> u64 {
        self.record(i)[HASH]
    }

    #[inline]
    fn record(&self, i: usize) -> &[u64] {
        &self.series.as_slice()[i * RECORD_WORDS..(i + 1) * RECORD_WORDS]
    }

    /// The label set of series `i`.
    #[inline]
    pub(crate) fn labels(&self, i: usize) -> PackedLabels<'_> {
        let span = self.record(i)[SPAN];
        let start = (span & 0xffff_ffff) as usize;
        PackedLabels::new(
            &self.name_sets[(span >> 32) as usize],
            &self.label_data[start..],
        )
    }

    /// Starts loading series `i`'s record line (no effect when out of range).
    #[inline]
    pub(crate) fn prefetch_record(&self, i: usize) {
        if let Some(w) = self.series.as_slice().get(i * RECORD_WORDS) {
            crate::mmap::prefetch(w);
        }
    }

    /// Starts loading the first line of series `i`'s packed labels (reads its record, so
    /// that line should be on its way already: [`ShardData::prefetch_record`]).
    #[inline]
    pub(crate) fn prefetch_labels(&self, i: usize) {
        let Some(&span) = self.series.as_slice().get(i * RECORD_WORDS + SPAN) else {
            return;
        };
        if let Some(b) = self.label_data.get((span & 0xffff_ffff) as usize) {
            crate::mmap::prefetch(b);
        }
    }

    /// Reads series `i`'s record line (latest sample, where its labels are) and, with
    /// `history`, its history record: the first reads of [`ShardData::latest`],
    /// [`ShardData::labels`] and [`ShardData::history_in`], folded for
    /// [`crate::head::Head::warm`].
    #[inline]
    pub(crate) fn touch_first(&self, i: usize, history: bool) -> u64 {
        let rec = self.record(i)[SPAN];
        if history {
            rec ^ self.history.touch_record(i)
        } else {
            rec
        }
    }

    /// Reads the bytes series `i`'s first reads point at: its packed labels and, with
    /// `history`, its open chunk; folded.
    #[inline]
    pub(crate) fn touch_second(&self, i: usize, history: bool) -> u64 {
        let start = (self.record(i)[SPAN] & 0xffff_ffff) as usize;
        let label = u64::from(self.label_data.get(start).copied().unwrap_or(0));
        if history {
            label ^ self.history.touch_open(i)
        } else {
            label
        }
    }

    /// The latest sample of series `i`, if it has one.
    #[inline]
    pub(crate) fn latest(&self, i: usize) -> Option<(i64, f64)> {
        self.latest_raw(i).filter(|&(t, _)| t != NO_SAMPLE)
    }

    /// The latest-sample record of series `i` (`t == NO_SAMPLE` when it has none), `None`
    /// when `i` is out of range.
    #[inline]
    pub(crate) fn latest_raw(&self, i: usize) -> Option<(i64, f64)> {
        let rec = self
            .series
            .as_slice()
            .get(i * RECORD_WORDS..(i + 1) * RECORD_WORDS)?;
        Some((rec[T] as i64, f64::from_bits(rec[V])))
    }

    /// Calls `f(t, v)` for the samples of series `i` before its latest with
    /// `mint <= t <= maxt`, in time order.
    pub(crate) fn history_in(&self, i: usize, mint: i64, maxt: i64, f: &mut impl FnMut(i64, f64)) {
        self.history.for_each_in(i, &self.chunks, mint, maxt, f);
    }

    /// The newest sample of series `i` before its latest with `t <= maxt`.
    pub(crate) fn history_latest_at_or_before(&self, i: usize, maxt: i64) -> Option<(i64, f64)> {
        self.history.latest_at_or_before(i, &self.chunks, maxt)
    }

    /// Series `i`'s history as parts to copy out (newest sealed chunk, open-chunk sample
    /// count and bytes), for [`super::history::latest_in_parts`] after the lock is released.
    pub(crate) fn history_parts(&self, i: usize) -> Option<(u64, u16, &[u8])> {
        self.history.parts(i)
    }

    /// Finds the series with label set `labels` (hash `hash`).
    pub(crate) fn find(&self, hash: u64, labels: &Labels, symbols: &SymbolTable) -> Option<u32> {
        self.map
            .find(hash, |&i| {
                self.record(i as usize)[HASH] == hash
                    && labels_equal(self.labels(i as usize), labels, symbols)
            })
            .copied()
    }

    /// Finds the series whose label ids are exactly `ids`.
    pub(crate) fn find_ids(&self, hash: u64, ids: &[u32]) -> Option<u32> {
        self.map
            .find(hash, |&i| {
                self.record(i as usize)[HASH] == hash && same_labels(self.labels(i as usize), ids)
            })
            .copied()
    }

    /// Adds a series without samples; returns its local index.
    pub(crate) fn insert(&mut self, hash: u64, ids: &[u32]) -> Result<u32, AppendError> {
        let i = u32::try_from(self.len())
            .map_err(|_| AppendError::Storage("too many series in one shard".to_owned()))?;
        let start = u32::try_from(self.label_data.len())
            .map_err(|_| AppendError::Storage("label data of one shard over 4 GiB".to_owned()))?;
        let names: Vec<u32> = ids.iter().step_by(2).copied().collect();
        let set = match self.name_set_ids.get(names.as_slice()) {
            Some(&set) => set,
            None => {
                let set = self.name_sets.len() as u32;
                self.name_sets.push(names.clone().into_boxed_slice());
                self.name_set_ids.insert(names.into_boxed_slice(), set);
                set
            }
        };
        let span = u64::from(start) | (u64::from(set) << 32);
        let rec = [NO_SAMPLE as u64, 0, span, hash];
        self.series
            .extend_from_slice(&rec)
            .map_err(|e| AppendError::Storage(e.to_string()))?;
        for &v in ids.iter().skip(1).step_by(2) {
            push_varint(&mut self.label_data, v);
        }
        self.history.push();
        let series = self.series.as_slice();
        self.map
            .insert_unique(hash, i, |&j| series[j as usize * RECORD_WORDS + HASH]);
        Ok(i)
    }

    /// Applies one sample to series `i` by Prometheus's `memSeries.appendable` rules.
    #[inline]
    pub(crate) fn append(&mut self, i: usize, t: i64, v: f64) -> Applied {
        let rec = &self.series.as_slice()[i * RECORD_WORDS..(i + 1) * RECORD_WORDS];
        let (last_t, last_v) = (rec[T] as i64, rec[V]);
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
            self.history
                .append(i, last_t, f64::from_bits(last_v), &self.chunks);
            applied = Applied::Appended;
        }
        let rec = &mut self.series.as_mut_slice()[i * RECORD_WORDS..(i + 1) * RECORD_WORDS];
        rec[T] = t as u64;
        rec[V] = v.to_bits();
        applied
    }

    /// Pushes the local index of every series whose latest sample is older than `before`
    /// (series without samples are left out).
    pub(crate) fn older_than(&self, before: i64, out: &mut Vec<u32>) {
        for (i, rec) in self
            .series
            .as_slice()
            .chunks_exact(RECORD_WORDS)
            .enumerate()
        {
            let t = rec[T] as i64;
            if t != NO_SAMPLE && t < before {
                out.push(i as u32);
            }
        }
    }

    /// Makes series `i` a tombstone (series garbage collection): its latest sample becomes
    /// `NO_SAMPLE`, so its next sample is [`Applied::First`] again, and its history is taken
    /// dropped (its open chunk's slot reused by the next series that needs one). Its record,
    /// labels and hash entry stay, so its ref keeps naming the same label set.
    pub(crate) fn tombstone(&mut self, i: usize) {
        let rec = &mut self.series.as_mut_slice()[i * RECORD_WORDS..(i + 1) * RECORD_WORDS];
        rec[T] = NO_SAMPLE as u64;
        rec[V] = 0;
        self.history.clear(i);
    }

    /// Bytes per structure, for the memory breakdown in docs/benchmarks.md: (what, bytes).
    #[cfg(test)]
    pub(crate) fn breakdown(&self) -> [(&'static str, usize); 6] {
        [
            ("latest-sample records (mapped)", self.series.mapped_bytes()),
            ("label value ids", self.label_data.capacity()),
            (
                "label name sets",
                self.name_sets.iter().map(|s| 2 * (16 + s.len() * 4)).sum(),
            ),
            ("series hash table", self.map.capacity() * 5),
            ("history records and slab pages", self.history.heap_bytes()),
            (
                "  of which open-chunk slots in use",
                self.history.open_bytes_used(),
            ),
        ]
    }

    /// Bytes of the open chunks' slab slots in use.
    #[cfg(test)]
    pub(crate) fn open_chunk_bytes(&self) -> usize {
        self.history.open_bytes_used()
    }

    /// Approximate bytes used (heap plus mapped columns).
    pub(crate) fn bytes(&self) -> usize {
        self.series.mapped_bytes()
            + self.label_data.capacity()
            + self
                .name_sets
                .iter()
                .map(|s| 2 * (16 + s.len() * 4))
                .sum::<usize>()
            + self.history.heap_bytes()
            + self.map.capacity() * 5
    }
}

/// Whether stored labels spell exactly `labels`.
fn labels_equal(packed: PackedLabels<'_>, labels: &Labels, symbols: &SymbolTable) -> bool {
    packed.len() == labels.len()
        && packed.pairs().zip(labels.iter()).all(|((n, v), l)| {
            symbols.resolve(SymbolId(n)) == l.name && symbols.resolve(SymbolId(v)) == l.value
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::must_labels;

    #[test]
    fn hash_collisions_compare_labels() {
        let dir = tempfile::tempdir().unwrap();
        let chunks = Arc::new(ChunkFiles::open(&dir.path().join("chunks_head"), 1 << 20).unwrap());
        let mut shard = ShardData::create(dir.path(), 0, chunks).unwrap();
        let mut syms = SymbolTable::new();
        let sets = [
            must_labels(&[("__name__", "a"), ("x", "1")]),
            must_labels(&[("__name__", "a"), ("x", "2")]),
            must_labels(&[("__name__", "b")]),
        ];
        let ids: Vec<Vec<u32>> = sets
            .iter()
            .map(|l| {
                l.iter()
                    .flat_map(|l| [syms.intern(&l.name).0, syms.intern(&l.value).0])
                    .collect()
            })
            .collect();
        // Every set gets the same hash: lookups must fall back to comparing labels.
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(shard.insert(42, id).unwrap(), i as u32);
        }
        for (i, (l, id)) in sets.iter().zip(&ids).enumerate() {
            assert_eq!(shard.find(42, l, &syms), Some(i as u32), "{l:?}");
            assert_eq!(shard.find_ids(42, id), Some(i as u32), "{l:?}");
            assert_eq!(shard.find(43, l, &syms), None, "wrong hash");
            assert!(same_labels(shard.labels(i), id.as_slice()));
            assert_eq!(shard.latest(i), None, "new series have no sample");
        }
        assert_eq!(
            shard.find(42, &must_labels(&[("__name__", "c")]), &syms),
            None
        );
        let cases = [
            (10, 1.0, Applied::First),
            (10, 1.0, Applied::Identical),
            (10, 2.0, Applied::Duplicate),
            (9, 1.0, Applied::OutOfOrder),
            (11, 1.0, Applied::Appended),
        ];
        for (t, v, want) in cases {
            assert_eq!(shard.append(1, t, v), want, "({t}, {v})");
        }
        assert_eq!(shard.latest(1), Some((11, 1.0)));
        let mut older = Vec::new();
        shard.history_in(1, i64::MIN, i64::MAX, &mut |t, v| older.push((t, v)));
        assert_eq!(older, vec![(10, 1.0)]);
        shard.history_in(0, i64::MIN, i64::MAX, &mut |t, v| older.push((t, v)));
        assert_eq!(older.len(), 1, "series 0 has no history");
    }
}
