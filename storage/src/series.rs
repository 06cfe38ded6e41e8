//! Series identifiers and the label-set hash that finds a series again.
//!
//! A [`SeriesRef`] is `local_index * shards + shard` (shards a power of two), so the shard and
//! the series' row in that shard's columns are a mask and a shift away.

use xxhash_rust::xxh3::xxh3_64;

use crate::labels::Labels;

/// A dense series id, stable for the life of the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesRef(pub u32);

/// The xxh3 hash of a label set: `name 0xff value 0xff` for each label, in name order.
/// `buf` is scratch space reused across calls.
pub fn hash_labels(labels: &Labels, buf: &mut Vec<u8>) -> u64 {
    buf.clear();
    for l in labels.iter() {
        buf.extend_from_slice(l.name.as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(l.value.as_bytes());
        buf.push(0xff);
    }
    xxh3_64(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_separates_names_and_values() {
        let mut buf = Vec::new();
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: [(Pairs, Pairs); 3] = [
            (&[("a", "bc")], &[("ab", "c")]),
            (&[("a", "b"), ("c", "d")], &[("a", "b\u{ff}c\u{ff}d")]),
            (&[("a", "1")], &[("a", "2")]),
        ];
        for (x, y) in cases {
            let hx = hash_labels(&Labels::from_pairs(x.iter().copied()), &mut buf);
            let hy = hash_labels(&Labels::from_pairs(y.iter().copied()), &mut buf);
            assert_ne!(hx, hy, "{x:?} vs {y:?}");
        }
        let a = Labels::from_pairs([("b", "1"), ("a", "2")]);
        let b = Labels::from_pairs([("a", "2"), ("b", "1")]);
        assert_eq!(hash_labels(&a, &mut buf), hash_labels(&b, &mut buf));
    }
}
