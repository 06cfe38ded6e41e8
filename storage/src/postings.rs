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
    /// Batches added or removed so far: an unchanged count means an unchanged index.
    changes: u64,
}

impl MemPostings {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many batches changed the index so far (for caches of what is derived from it).
    pub fn changes(&self) -> u64 {
        self.changes
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
        self.changes += 1;
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

    /// Unindexes the series in `removed` (series garbage collection): clears them from every
    /// bitmap, from `any` and `all` and from the per-name order, and drops values and names
    /// no series has any more. `pairs` are the `(name, value)` label ids of the removed
    /// series, sorted and without duplicates; a superset is fine (pairs of series not removed
    /// change nothing). Refs not indexed are ignored. Returns how many series were removed.
    ///
    /// Work is per touched name and value, not per series: one bitmap difference each, so a
    /// batch of 100k series costs little more than one of 1k.
    pub fn remove_batch(&mut self, removed: &RoaringBitmap, pairs: &[(SymbolId, SymbolId)]) -> u64 {
        let removed = removed & &self.all;
        if removed.is_empty() {
            return 0;
        }
        self.changes += 1;
        self.all -= &removed;
        let mut emptied_names = false;
        for group in pairs.chunk_by(|a, b| a.0 == b.0) {
            let name = group[0].0;
            let Some(np) = self.names.get_mut(&name) else {
                continue;
            };
            if np.any.is_disjoint(&removed) {
                continue;
            }
            np.any -= &removed;
            let mut emptied_values = false;
            for &(_, v) in group {
                if let Some(bm) = np.bitmaps.get_mut(&v) {
                    *bm -= &removed;
                    if bm.is_empty() {
                        np.bitmaps.remove(&v);
                        emptied_values = true;
                    }
                }
            }
            if np.any.is_empty() {
                self.names.remove(&name);
                emptied_names = true;
            } else if emptied_values {
                np.values.retain(|v| np.bitmaps.contains_key(v));
                // Churning values (pod names) would otherwise keep the peak's capacity.
                if np.bitmaps.capacity() > 4 * np.bitmaps.len() + 64 {
                    np.bitmaps.shrink_to_fit();
                    np.values.shrink_to_fit();
                }
            }
        }
        if emptied_names {
            self.sorted_names.retain(|n| self.names.contains_key(n));
        }
        self.order.remove(&removed);
        removed.len()
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

    /// Each series' labels as interned `[name, value, ...]` ids.
    fn intern_all(syms: &mut SymbolTable, series: &[Vec<(&str, &str)>]) -> Vec<Vec<u32>> {
        series
            .iter()
            .map(|s| {
                s.iter()
                    .flat_map(|(n, v)| [syms.intern(n).0, syms.intern(v).0])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn add_batch_builds_sorted_values_and_bitmaps() {
        let mut syms = SymbolTable::new();
        let series: Vec<Vec<(&str, &str)>> = vec![
            vec![("__name__", "b"), ("job", "z")],
            vec![("__name__", "a"), ("job", "y")],
            vec![("__name__", "b"), ("instance", "i1"), ("job", "y")],
            vec![("Zed", "1"), ("__name__", "a:b")],
        ];
        let ids = intern_all(&mut syms, &series);
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
    fn remove_batch_drops_refs_values_and_names() {
        let mut syms = SymbolTable::new();
        let series: Vec<Vec<(&str, &str)>> = vec![
            vec![("__name__", "a"), ("job", "x")],
            vec![("__name__", "a"), ("job", "y"), ("only", "1")],
            vec![("__name__", "b"), ("job", "x")],
            vec![("__name__", "c"), ("job", "z")],
            vec![("job", "nameless")],
        ];
        let ids = intern_all(&mut syms, &series);
        let labels_of = |r: u32| ids[r as usize].as_slice();
        // (removed refs, extra pairs in the hint, names left, `a` refs left, job values left)
        type Case = (
            &'static [u32],
            bool,
            &'static [&'static str],
            &'static [u32],
            &'static [&'static str],
        );
        let cases: [Case; 6] = [
            (
                &[],
                false,
                &["__name__", "job", "only"],
                &[0, 1],
                &["nameless", "x", "y", "z"],
            ),
            (
                &[1],
                false,
                &["__name__", "job"],
                &[0],
                &["nameless", "x", "z"],
            ),
            (
                &[1],
                true,
                &["__name__", "job"],
                &[0],
                &["nameless", "x", "z"],
            ),
            (
                &[0, 2],
                false,
                &["__name__", "job", "only"],
                &[1],
                &["nameless", "y", "z"],
            ),
            (
                &[3, 4, 9],
                true,
                &["__name__", "job", "only"],
                &[0, 1],
                &["x", "y"],
            ),
            (&[0, 1, 2, 3, 4], false, &[], &[], &[]),
        ];
        for (removed, superset, names, a_refs, job_values) in cases {
            let mut p = MemPostings::new();
            let batch: Vec<(u32, &[u32])> = ids
                .iter()
                .enumerate()
                .map(|(i, v)| (i as u32, v.as_slice()))
                .collect();
            p.add_batch(&batch, &syms, &labels_of);
            let bm: RoaringBitmap = removed.iter().copied().collect();
            // The hint: the removed series' pairs, or every series' pairs (a superset).
            let mut pairs: Vec<(SymbolId, SymbolId)> = ids
                .iter()
                .enumerate()
                .filter(|(i, _)| superset || bm.contains(*i as u32))
                .flat_map(|(_, v)| v.as_slice().pairs())
                .map(|(n, v)| (SymbolId(n), SymbolId(v)))
                .collect();
            pairs.sort_unstable();
            pairs.dedup();
            let indexed = removed.iter().filter(|&&r| r < 5).count() as u64;
            assert_eq!(p.remove_batch(&bm, &pairs), indexed, "{removed:?}");
            let what = format!("removed {removed:?} superset {superset}");
            let got: Vec<&str> = p.label_names().iter().map(|s| syms.resolve(*s)).collect();
            assert_eq!(got, names, "{what}");
            let a = syms.get("a").unwrap();
            assert_eq!(p.order().refs(a), a_refs, "{what}");
            let want_all: Vec<u32> = (0..5).filter(|r| !bm.contains(*r)).collect();
            assert_eq!(p.all().iter().collect::<Vec<_>>(), want_all, "{what}");
            let job = syms.get("job").unwrap();
            let vals: Vec<&str> = p.name(job).map_or(Vec::new(), |np| {
                np.values().iter().map(|s| syms.resolve(*s)).collect()
            });
            assert_eq!(vals, job_values, "{what}");
            // Invariants: every listed value has a non-empty bitmap, `any` is their union,
            // nothing removed is left anywhere, removed refs have no name.
            for &n in p.label_names() {
                let np = p.name(n).unwrap();
                let mut union = RoaringBitmap::new();
                for &v in np.values() {
                    let b = np.get(v).unwrap();
                    assert!(!b.is_empty() && b.is_disjoint(&bm), "{what}");
                    union |= b;
                }
                assert_eq!(&union, np.any(), "{what}");
            }
            for r in &bm {
                assert_eq!(p.order().name_of(r), order::NO_NAME, "{what}");
            }
            // Ranks are refreshed for what is left, and the refs can be indexed again.
            for r in p.order().fresh_ranks(a).to_vec() {
                assert_eq!(p.order().refs(a)[p.order().rank(r) as usize], r);
            }
            assert_eq!(p.add_batch(&batch, &syms, &labels_of), indexed as usize);
            assert_eq!(p.all().len(), 5, "{what}");
            assert_eq!(p.order().refs(a), [0, 1], "{what}");
        }
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
