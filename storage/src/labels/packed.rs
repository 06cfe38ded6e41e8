//! Packed label sets as the head stores them: the label *names* of a series as a shared
//! name-set (`&[u32]` symbol ids, one copy per distinct name list), and its *values* as
//! LEB128 varints of symbol ids. A node-exporter series packs into ~25 bytes (one cache line)
//! instead of 88 bytes of `u32` pairs.

use std::cmp::Ordering;

use crate::symbols::{SymbolId, SymbolTable};

/// Anything that yields a label set as `(name id, value id)` pairs in name order.
pub trait LabelPairs: Copy {
    /// The pairs, in name order.
    fn pairs(self) -> impl Iterator<Item = (u32, u32)>;
}

/// Flattened `[name, value, name, value, ...]` ids.
impl LabelPairs for &[u32] {
    fn pairs(self) -> impl Iterator<Item = (u32, u32)> {
        self.chunks_exact(2).map(|p| (p[0], p[1]))
    }
}

/// One series' packed label set.
#[derive(Debug, Clone, Copy)]
pub struct PackedLabels<'a> {
    names: &'a [u32],
    values: &'a [u8],
}

impl<'a> PackedLabels<'a> {
    /// A view over a name-set and the varint-encoded value ids (one per name).
    pub fn new(names: &'a [u32], values: &'a [u8]) -> Self {
        PackedLabels { names, values }
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// The value id of the label at position `idx`.
    pub fn value_at(&self, idx: usize) -> Option<u32> {
        let mut vals = VarintIter { bytes: self.values };
        vals.nth(idx)
    }

    /// The name ids, in name order.
    pub fn names(&self) -> &'a [u32] {
        self.names
    }

    /// The varint bytes of exactly the [`PackedLabels::len`] values (the view may reach past
    /// them): what a copy of this label set must keep.
    pub fn value_bytes(&self) -> &'a [u8] {
        let mut left = self.names.len();
        let mut end = 0;
        while left > 0 && end < self.values.len() {
            if self.values[end] < 0x80 {
                left -= 1;
            }
            end += 1;
        }
        &self.values[..end]
    }

    /// The value id of label `name`, if present.
    pub fn get(&self, name: u32) -> Option<u32> {
        let idx = self.names.iter().position(|&n| n == name)?;
        self.value_at(idx)
    }
}

impl<'a> LabelPairs for PackedLabels<'a> {
    fn pairs(self) -> impl Iterator<Item = (u32, u32)> {
        self.names
            .iter()
            .copied()
            .zip(VarintIter { bytes: self.values })
    }
}

/// Decodes LEB128 varints (at most 5 bytes each, as u32).
#[derive(Debug, Clone)]
struct VarintIter<'a> {
    bytes: &'a [u8],
}

impl Iterator for VarintIter<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        let mut v: u32 = 0;
        for (k, &b) in self.bytes.iter().enumerate().take(5) {
            v |= u32::from(b & 0x7f) << (7 * k);
            if b < 0x80 {
                self.bytes = &self.bytes[k + 1..];
                return Some(v);
            }
        }
        None
    }
}

/// Appends `v` as a LEB128 varint.
pub fn push_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Compares two label sets as Prometheus's `labels.Compare` does on the strings: label pairs
/// in order, names then values, bytewise; a prefix sorts first.
pub fn compare_labels(a: impl LabelPairs, b: impl LabelPairs, symbols: &SymbolTable) -> Ordering {
    let (mut ia, mut ib) = (a.pairs(), b.pairs());
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((na, va)), Some((nb, vb))) => {
                for (x, y) in [(na, nb), (va, vb)] {
                    if x != y {
                        return symbols
                            .resolve(SymbolId(x))
                            .cmp(symbols.resolve(SymbolId(y)));
                    }
                }
            }
        }
    }
}

/// Whether two label sets have the same ids.
pub fn same_labels(a: impl LabelPairs, b: impl LabelPairs) -> bool {
    a.pairs().eq(b.pairs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let cases: [&[u32]; 5] = [
            &[],
            &[0],
            &[127, 128],
            &[300, 16_383, 16_384],
            &[u32::MAX, 1],
        ];
        for vals in cases {
            let mut buf = Vec::new();
            for &v in vals {
                push_varint(&mut buf, v);
            }
            let names: Vec<u32> = (0..vals.len() as u32).collect();
            let p = PackedLabels::new(&names, &buf);
            let got: Vec<(u32, u32)> = p.pairs().collect();
            let want: Vec<(u32, u32)> = names.iter().copied().zip(vals.iter().copied()).collect();
            assert_eq!(got, want, "case {vals:?}");
            for (i, &v) in vals.iter().enumerate() {
                assert_eq!(p.value_at(i), Some(v));
                assert_eq!(p.get(i as u32), Some(v));
            }
            assert_eq!(p.get(99), None);
            let flat: Vec<u32> = want.iter().flat_map(|&(n, v)| [n, v]).collect();
            assert!(same_labels(p, flat.as_slice()));
            // The value bytes end where the next series' would begin.
            let mut past = buf.clone();
            push_varint(&mut past, 300);
            let q = PackedLabels::new(&names, &past);
            assert_eq!(q.value_bytes(), buf.as_slice(), "case {vals:?}");
            assert_eq!(q.names(), names.as_slice());
        }
    }

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
            assert_eq!(
                compare_labels(a.as_slice(), b.as_slice(), &syms),
                *want,
                "case {i}"
            );
            assert_eq!(
                compare_labels(b.as_slice(), a.as_slice(), &syms),
                want.reverse(),
                "case {i} reversed"
            );
        }
    }
}
