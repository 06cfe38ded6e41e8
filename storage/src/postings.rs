//! Roaring postings per (label name, value), each name's sorted value list, and set operations.
//!
//! [`MemPostings`] is the head's inverted index. It also keeps, per metric name, the refs of
//! that name sorted by full label set ([`order`]), so selection emits federation order without
//! sorting at query time. It is mutated only at commit (under the head's index write lock), in
//! batches: new values are sorted once per batch and merged into each name's value list.

pub mod ops;
pub mod order;

use hashbrown::HashMap;
use roaring::RoaringBitmap;

use crate::labels::packed::LabelPairs;
use crate::symbols::{NAME_SYMBOL, SymbolId, SymbolTable};

pub use order::SeriesOrder;

/// The postings of one label name.
///
/// Invariant: `values` is sorted by the values' strings (bytewise), holds each value once, and
/// every value in it has a non-empty bitmap in `bitmaps`; `any` is the union of `bitmaps`.
#[derive(Debug, Default)]
pub struct NamePostings {
    values: Vec<SymbolId>,
    bitmaps: HashMap<SymbolId, RoaringBitmap>,
    any: RoaringBitmap,
}

impl NamePostings {
    /// The values of this name, sorted bytewise.
    pub fn values(&self) -> &[SymbolId] {
        &self.values
    }

    /// The series having `value` for this name.
    pub fn get(&self, value: SymbolId) -> Option<&RoaringBitmap> {
        self.bitmaps.get(&value)
    }

    /// The series having any value for this name.
    pub fn any(&self) -> &RoaringBitmap {
        &self.any
    }
}

/// The head's inverted index.
#[derive(Debug, Default)]
pub struct MemPostings {
    names: HashMap<SymbolId, NamePostings>,
    /// Label names sorted bytewise.
    sorted_names: Vec<SymbolId>,
    /// Every indexed series.
    all: RoaringBitmap,
    /// Per metric name, refs sorted by label set.
    order: SeriesOrder,
}

impl MemPostings {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every indexed series.
    pub fn all(&self) -> &RoaringBitmap {
        &self.all
    }

    /// The postings of label `name`.
    pub fn name(&self, name: SymbolId) -> Option<&NamePostings> {
        self.names.get(&name)
    }

    /// Label names, sorted bytewise.
    pub fn label_names(&self) -> &[SymbolId] {
        &self.sorted_names
    }

    /// The per-metric-name order.
    pub fn order(&self) -> &SeriesOrder {
        &self.order
    }

    /// Whether `r` is indexed.
    pub fn contains(&self, r: u32) -> bool {
        self.all.contains(r)
    }

    /// Indexes a batch of new series, given as `(ref, label ids)` (pairs in name order).
    /// `labels_of` resolves the label ids of any indexed ref (for ordering). Refs already indexed are skipped.
    /// Returns how many series were added.
    pub fn add_batch<L: LabelPairs>(
        &mut self,
        batch: &[(u32, L)],
        symbols: &SymbolTable,
        labels_of: &dyn Fn(u32) -> L,
    ) -> usize {
        let mut new_values: HashMap<SymbolId, Vec<SymbolId>> = HashMap::new();
        let mut new_names = Vec::new();
        let mut by_metric: HashMap<SymbolId, Vec<u32>> = HashMap::new();
        let mut added = 0;
        for &(r, ids) in batch {
            if !self.all.insert(r) {
                continue;
            }
            added += 1;
            for (n, v) in ids.pairs() {
                let (n, v) = (SymbolId(n), SymbolId(v));
                let np = self.names.entry(n).or_insert_with(|| {
                    new_names.push(n);
                    NamePostings::default()
                });
                np.any.insert(r);
                let bm = np.bitmaps.entry(v).or_insert_with(|| {
                    new_values.entry(n).or_default().push(v);
                    RoaringBitmap::new()
                });
                bm.insert(r);
                if n == NAME_SYMBOL {
                    by_metric.entry(v).or_default().push(r);
                }
            }
        }
        for (n, mut vals) in new_values {
            let np = self.names.get_mut(&n).expect("name inserted above");
            merge_sorted_symbols(&mut np.values, &mut vals, symbols);
        }
        if !new_names.is_empty() {
            merge_sorted_symbols(&mut self.sorted_names, &mut new_names, symbols);
        }
        for (name, refs) in by_metric {
            self.order.add(name, refs, symbols, labels_of);
        }
        added
    }

    /// Approximate heap bytes used by bitmaps and value lists.
    pub fn heap_bytes(&self) -> usize {
        let mut b = self.all.serialized_size() + self.order.heap_bytes();
        for np in self.names.values() {
            b += np.values.capacity() * 4 + np.any.serialized_size();
            b += np.bitmaps.capacity() * 40;
            b += np
                .bitmaps
                .values()
                .map(|bm| bm.serialized_size())
                .sum::<usize>();
        }
        b
    }
}

/// Sorts `new` by string and merges it into the sorted `dst`.
fn merge_sorted_symbols(dst: &mut Vec<SymbolId>, new: &mut [SymbolId], symbols: &SymbolTable) {
    new.sort_unstable_by(|a, b| symbols.resolve(*a).cmp(symbols.resolve(*b)));
    if new.len() <= 4 {
        for &v in new.iter() {
            let s = symbols.resolve(v);
            let pos = dst.partition_point(|x| symbols.resolve(*x) < s);
            dst.insert(pos, v);
        }
        return;
    }
    let old = std::mem::take(dst);
    let mut out = Vec::with_capacity(old.len() + new.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() && j < new.len() {
        if symbols.resolve(old[i]) <= symbols.resolve(new[j]) {
            out.push(old[i]);
            i += 1;
        } else {
            out.push(new[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&old[i..]);
    out.extend_from_slice(&new[j..]);
    *dst = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_batch_builds_sorted_values_and_bitmaps() {
        let mut syms = SymbolTable::new();
        let series: Vec<Vec<(&str, &str)>> = vec![
            vec![("__name__", "b"), ("job", "z")],
            vec![("__name__", "a"), ("job", "y")],
            vec![("__name__", "b"), ("instance", "i1"), ("job", "y")],
            vec![("Zed", "1"), ("__name__", "a:b")],
        ];
        let ids: Vec<Vec<u32>> = series
            .iter()
            .map(|s| {
                s.iter()
                    .flat_map(|(n, v)| [syms.intern(n).0, syms.intern(v).0])
                    .collect()
            })
            .collect();
        let batch: Vec<(u32, &[u32])> = ids
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32 * 3, v.as_slice()))
            .collect();
        let mut p = MemPostings::new();
        let labels_of = |r: u32| ids[(r / 3) as usize].as_slice();
        assert_eq!(p.add_batch(&batch[..2], &syms, &labels_of), 2);
        assert_eq!(
            p.add_batch(&batch, &syms, &labels_of),
            2,
            "already indexed refs skipped"
        );
        let names: Vec<&str> = p.label_names().iter().map(|s| syms.resolve(*s)).collect();
        assert_eq!(names, ["Zed", "__name__", "instance", "job"]);
        let np = p.name(NAME_SYMBOL).unwrap();
        let vals: Vec<&str> = np.values().iter().map(|s| syms.resolve(*s)).collect();
        assert_eq!(vals, ["a", "a:b", "b"]);
        let b = np.get(syms.get("b").unwrap()).unwrap();
        assert_eq!(b.iter().collect::<Vec<_>>(), [0, 6]);
        let job = p.name(syms.get("job").unwrap()).unwrap();
        assert_eq!(job.any().iter().collect::<Vec<_>>(), [0, 3, 6]);
        assert_eq!(p.all().len(), 4);
    }

    #[test]
    fn merge_sorted_symbols_small_and_large() {
        let mut syms = SymbolTable::new();
        let mut dst = Vec::new();
        let batches: [&[&str]; 3] = [&["m", "c", "x"], &["a", "z", "n", "d", "e", "b"], &["mm"]];
        let mut all: Vec<&str> = Vec::new();
        for b in batches {
            let mut new: Vec<SymbolId> = b.iter().map(|s| syms.intern(s)).collect();
            merge_sorted_symbols(&mut dst, &mut new, &syms);
            all.extend_from_slice(b);
            all.sort();
            let got: Vec<&str> = dst.iter().map(|s| syms.resolve(*s)).collect();
            assert_eq!(got, all);
        }
    }
}
