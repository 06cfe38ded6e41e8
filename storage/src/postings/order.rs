//! Federation order: per metric name, the refs of that name sorted by full label set
//! (Prometheus `labels.Compare`: label pairs in order, names then values, bytewise).
//!
//! Maintained at indexing time (sort the batch's new refs, then merge), so a selection walks
//! names in byte order and never sorts a whole result.

use std::cmp::Ordering;

use hashbrown::HashMap;

use crate::symbols::{SymbolId, SymbolTable};

/// Compares two label sets given as flattened `[name, value, ...]` symbol ids, as Prometheus's
/// `labels.Compare` does on the strings.
pub fn compare_labels(a: &[u32], b: &[u32], symbols: &SymbolTable) -> Ordering {
    for (pa, pb) in a.chunks_exact(2).zip(b.chunks_exact(2)) {
        for k in 0..2 {
            if pa[k] != pb[k] {
                return symbols
                    .resolve(SymbolId(pa[k]))
                    .cmp(symbols.resolve(SymbolId(pb[k])));
            }
        }
    }
    a.len().cmp(&b.len())
}

/// Per metric name, refs sorted by label set.
#[derive(Debug, Default)]
pub struct SeriesOrder {
    by_name: HashMap<SymbolId, Vec<u32>>,
}

impl SeriesOrder {
    /// The refs of metric `name`, in label-set order.
    pub fn refs(&self, name: SymbolId) -> &[u32] {
        self.by_name.get(&name).map_or(&[], |v| v.as_slice())
    }

    /// Adds new refs of metric `name` (not yet present) to its order.
    pub fn add<'a>(
        &mut self,
        name: SymbolId,
        mut new: Vec<u32>,
        symbols: &SymbolTable,
        labels_of: &dyn Fn(u32) -> &'a [u32],
    ) {
        let cmp = |a: &u32, b: &u32| compare_labels(labels_of(*a), labels_of(*b), symbols);
        new.sort_unstable_by(cmp);
        let dst = self.by_name.entry(name).or_default();
        if dst.is_empty() {
            *dst = new;
            return;
        }
        if new.len() <= 8 {
            for r in new {
                let pos = dst.partition_point(|x| cmp(x, &r) == Ordering::Less);
                dst.insert(pos, r);
            }
            return;
        }
        let old = std::mem::take(dst);
        let mut out = Vec::with_capacity(old.len() + new.len());
        let (mut i, mut j) = (0, 0);
        while i < old.len() && j < new.len() {
            if cmp(&old[i], &new[j]) != Ordering::Greater {
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

    /// Approximate heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        self.by_name.capacity() * 32
            + self
                .by_name
                .values()
                .map(|v| v.capacity() * 4)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_labels_is_prometheus_compare() {
        let mut syms = SymbolTable::new();
        let mut ids = |pairs: &[(&str, &str)]| -> Vec<u32> {
            pairs
                .iter()
                .flat_map(|(n, v)| [syms.intern(n).0, syms.intern(v).0])
                .collect()
        };
        let cases: Vec<(Vec<u32>, Vec<u32>, Ordering)> = vec![
            (ids(&[("a", "1")]), ids(&[("a", "1")]), Ordering::Equal),
            (ids(&[("a", "1")]), ids(&[("a", "2")]), Ordering::Less),
            (
                ids(&[("a", "1")]),
                ids(&[("a", "1"), ("b", "0")]),
                Ordering::Less,
            ),
            (
                ids(&[("a", "2")]),
                ids(&[("a", "1"), ("b", "0")]),
                Ordering::Greater,
            ),
            (
                ids(&[("B", "1"), ("a", "1")]),
                ids(&[("a", "0")]),
                Ordering::Less,
            ),
            (ids(&[("a", "Z")]), ids(&[("a", "a")]), Ordering::Less),
            (ids(&[("a", "10")]), ids(&[("a", "9")]), Ordering::Less),
            (
                ids(&[("a", "1"), ("c", "1")]),
                ids(&[("a", "1"), ("b", "9")]),
                Ordering::Greater,
            ),
        ];
        for (i, (a, b, want)) in cases.iter().enumerate() {
            assert_eq!(compare_labels(a, b, &syms), *want, "case {i}");
            assert_eq!(
                compare_labels(b, a, &syms),
                want.reverse(),
                "case {i} reversed"
            );
        }
    }

    #[test]
    fn add_keeps_label_order_across_batches() {
        let mut syms = SymbolTable::new();
        let vals: Vec<String> = (0..40).map(|i| format!("v{:03}", (i * 17) % 40)).collect();
        let ids: Vec<Vec<u32>> = vals
            .iter()
            .map(|v| vec![syms.intern("a").0, syms.intern(v).0])
            .collect();
        let labels_of = |r: u32| ids[r as usize].as_slice();
        let mut o = SeriesOrder::default();
        let name = SymbolId(7);
        // A big first batch, a small one (binary insertion), a big one (merge).
        for batch in [
            (0..20).collect::<Vec<u32>>(),
            vec![20, 21, 22],
            (23..40).collect(),
        ] {
            o.add(name, batch, &syms, &labels_of);
        }
        let got: Vec<&str> = o
            .refs(name)
            .iter()
            .map(|&r| vals[r as usize].as_str())
            .collect();
        let mut want: Vec<&str> = vals.iter().map(|s| s.as_str()).collect();
        want.sort();
        assert_eq!(got, want);
        assert!(o.refs(SymbolId(8)).is_empty());
    }
}
