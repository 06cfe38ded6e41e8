//! An in-memory [`Queryable`] for tests and benches: series kept sorted by label set, selected
//! by a linear scan of the matchers.

use fedstore_storage::{Labels, Matcher};

use crate::storage::{Queryable, SelectHints, SeriesSet, StorageError};

/// Series with their samples, in memory.
#[derive(Debug, Default, Clone)]
pub struct MemStorage {
    series: Vec<(Labels, Vec<(i64, f64)>)>,
    sorted: bool,
}

impl MemStorage {
    /// An empty store.
    pub fn new() -> Self {
        MemStorage::default()
    }

    /// Appends a sample to the series `labels` (created on first use); samples of a series
    /// must come in time order.
    pub fn append(&mut self, labels: &Labels, t_ms: i64, v: f64) {
        match self.series.iter_mut().rev().find(|(l, _)| l == labels) {
            Some((_, s)) => s.push((t_ms, v)),
            None => {
                self.series.push((labels.clone(), vec![(t_ms, v)]));
                self.sorted = false;
            }
        }
    }

    /// Adds a whole series at once (faster than [`MemStorage::append`] for big data sets).
    pub fn add_series(&mut self, labels: Labels, samples: Vec<(i64, f64)>) {
        self.series.push((labels, samples));
        self.sorted = false;
    }

    /// Sorts the series by label set; `select` needs it (call after loading).
    pub fn finish(&mut self) {
        self.series.sort_by(|a, b| a.0.cmp(&b.0));
        self.sorted = true;
    }
}

/// The series of one select: indexes into the store and the time range.
struct MemSet<'a> {
    store: &'a MemStorage,
    idx: Vec<usize>,
    mint: i64,
    maxt: i64,
}

impl Queryable for MemStorage {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        _hints: &SelectHints,
    ) -> Result<Box<dyn SeriesSet + '_>, StorageError> {
        if !self.sorted {
            return Err(StorageError::Failed(
                "MemStorage::finish was not called".into(),
            ));
        }
        let idx = self
            .series
            .iter()
            .enumerate()
            .filter(|(_, (l, s))| {
                matchers.iter().all(|m| m.matches(l.get(&m.name)))
                    && s.iter().any(|(t, _)| *t >= mint_ms && *t <= maxt_ms)
            })
            .map(|(i, _)| i)
            .collect();
        Ok(Box::new(MemSet {
            store: self,
            idx,
            mint: mint_ms,
            maxt: maxt_ms,
        }))
    }
}

impl SeriesSet for MemSet<'_> {
    fn len(&self) -> usize {
        self.idx.len()
    }

    fn labels(&self, i: usize) -> Result<Labels, StorageError> {
        Ok(self.store.series[self.idx[i]].0.clone())
    }

    fn samples(&self, i: usize, out: &mut Vec<(i64, f64)>) -> Result<(), StorageError> {
        out.clear();
        let s = &self.store.series[self.idx[i]].1;
        let lo = s.partition_point(|(t, _)| *t < self.mint);
        let hi = s.partition_point(|(t, _)| *t <= self.maxt);
        out.extend_from_slice(&s[lo..hi]);
        Ok(())
    }
}
