//! Federation order: per metric name, the refs of that name sorted by full label set
//! (Prometheus `labels.Compare`: label pairs in order, names then values, bytewise).
//!
//! Maintained at indexing time (sort the batch's new refs, then merge them in with binary
//! searches), so a selection walks names in byte order and never sorts a whole result. Each
//! ref also has its metric name and its rank (position in its name's order); ranks are
//! recomputed lazily, per name, by the first selection that needs them after a change.

use std::cmp::Ordering;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering as AtomicOrdering};

use hashbrown::{HashMap, HashSet};
use roaring::RoaringBitmap;

use crate::labels::packed::{LabelPairs, compare_labels};
use crate::symbols::{SymbolId, SymbolTable};

/// `name_of` entry of a ref that is unindexed or has no metric name.
pub const NO_NAME: u32 = u32::MAX;

/// The refs of one metric name.
#[derive(Debug, Default)]
struct NameOrder {
    /// Sorted by label set.
    refs: Vec<u32>,
    /// Whether `SeriesOrder::rank` is out of date for these refs.
    ranks_stale: AtomicBool,
}

/// Per metric name, refs sorted by label set; per ref, its name and rank.
///
/// Invariant: for every name whose `ranks_stale` is false, `rank[r] == i` for
/// `refs[i] == r`. Ranks are atomics only so that readers (holding the index *read* lock) can
/// refresh them; all writers of `refs` hold the index write lock.
#[derive(Debug, Default)]
pub struct SeriesOrder {
    by_name: HashMap<SymbolId, NameOrder>,
    name_of: Vec<u32>,
    rank: Vec<AtomicU32>,
}

impl SeriesOrder {
    /// The refs of metric `name`, in label-set order.
    pub fn refs(&self, name: SymbolId) -> &[u32] {
        self.by_name.get(&name).map_or(&[], |n| n.refs.as_slice())
    }

    /// The metric name symbol of `r` (or [`NO_NAME`]).
    #[inline]
    pub fn name_of(&self, r: u32) -> u32 {
        self.name_of.get(r as usize).copied().unwrap_or(NO_NAME)
    }

    /// Makes sure the ranks of `name`'s refs are current; returns the name's refs.
    pub fn fresh_ranks(&self, name: SymbolId) -> &[u32] {
        let Some(n) = self.by_name.get(&name) else {
            return &[];
        };
        if n.ranks_stale.load(AtomicOrdering::Acquire) {
            for (i, &r) in n.refs.iter().enumerate() {
                self.rank[r as usize].store(i as u32, AtomicOrdering::Relaxed);
            }
            n.ranks_stale.store(false, AtomicOrdering::Release);
        }
        &n.refs
    }

    /// The rank of `r` in its name's order; current only after [`SeriesOrder::fresh_ranks`].
    #[inline]
    pub fn rank(&self, r: u32) -> u32 {
        self.rank[r as usize].load(AtomicOrdering::Relaxed)
    }

    /// Adds new refs of metric `name` (not yet present) to its order.
    pub fn add<L: LabelPairs>(
        &mut self,
        name: SymbolId,
        mut new: Vec<u32>,
        symbols: &SymbolTable,
        labels_of: &dyn Fn(u32) -> L,
    ) {
        if let Some(&max) = new.iter().max()
            && self.name_of.len() <= max as usize
        {
            self.name_of.resize(max as usize + 1, NO_NAME);
            self.rank
                .resize_with(max as usize + 1, || AtomicU32::new(0));
        }
        for &r in &new {
            self.name_of[r as usize] = name.0;
        }
        let cmp = |a: &u32, b: &u32| compare_labels(labels_of(*a), labels_of(*b), symbols);
        new.sort_unstable_by(cmp);
        let dst = self.by_name.entry(name).or_default();
        *dst.ranks_stale.get_mut() = true;
        if dst.refs.is_empty() {
            dst.refs = new;
            return;
        }
        // Binary-search each new ref's place in the rest of the old order: O(k log n)
        // comparisons, so appending a few series to a big name stays cheap.
        let old = std::mem::take(&mut dst.refs);
        let mut out = Vec::with_capacity(old.len() + new.len());
        let mut rest = old.as_slice();
        for r in new {
            let pos = rest.partition_point(|x| cmp(x, &r) == Ordering::Less);
            out.extend_from_slice(&rest[..pos]);
            out.push(r);
            rest = &rest[pos..];
        }
        out.extend_from_slice(rest);
        dst.refs = out;
    }

    /// Removes the refs in `removed` from their names' orders (their `name_of` becomes
    /// [`NO_NAME`], the touched names' ranks go stale, names left without refs are dropped).
    /// Refs not present are ignored.
    pub fn remove(&mut self, removed: &RoaringBitmap) {
        let mut names: HashSet<u32> = HashSet::new();
        for r in removed {
            if let Some(n) = self.name_of.get_mut(r as usize)
                && *n != NO_NAME
            {
                names.insert(*n);
                *n = NO_NAME;
            }
        }
        for n in names {
            let name = SymbolId(n);
            let Some(o) = self.by_name.get_mut(&name) else {
                continue;
            };
            o.refs.retain(|r| !removed.contains(*r));
            if o.refs.is_empty() {
                self.by_name.remove(&name);
            } else {
                *o.ranks_stale.get_mut() = true;
            }
        }
    }

    /// Approximate heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        self.by_name.capacity() * 40
            + self
                .by_name
                .values()
                .map(|v| v.refs.capacity() * 4)
                .sum::<usize>()
            + self.name_of.capacity() * 4
            + self.rank.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_keeps_label_order_and_ranks_across_batches() {
        let mut syms = SymbolTable::new();
        let vals: Vec<String> = (0..40).map(|i| format!("v{:03}", (i * 17) % 40)).collect();
        let ids: Vec<Vec<u32>> = vals
            .iter()
            .map(|v| vec![syms.intern("a").0, syms.intern(v).0])
            .collect();
        let labels_of = |r: u32| ids[r as usize].as_slice();
        let mut o = SeriesOrder::default();
        let name = SymbolId(7);
        let mut want: Vec<&str> = Vec::new();
        for batch in [
            (0..20).collect::<Vec<u32>>(),
            vec![20, 21, 22],
            vec![],
            (23..40).collect(),
        ] {
            want.extend(batch.iter().map(|&r| vals[r as usize].as_str()));
            o.add(name, batch, &syms, &labels_of);
            want.sort();
            let got: Vec<&str> = o
                .refs(name)
                .iter()
                .map(|&r| vals[r as usize].as_str())
                .collect();
            assert_eq!(got, want);
            let refs = o.fresh_ranks(name).to_vec();
            for (i, r) in refs.iter().enumerate() {
                assert_eq!(o.rank(*r), i as u32);
                assert_eq!(o.name_of(*r), name.0);
            }
        }
        assert!(o.refs(SymbolId(8)).is_empty());
        assert_eq!(o.name_of(1000), NO_NAME);
    }
}
