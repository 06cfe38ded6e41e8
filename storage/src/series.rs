//! Series identifiers and the label-set hash that finds a series again.
//!
//! A [`SeriesRef`] is `local_index * shards + shard` (shards a power of two), so the shard and
//! the series' row in that shard's columns are a mask and a shift away.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::labels::Labels;

/// A dense series id, stable for the life of the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesRef(pub u32);

/// The hash of a label set: each name and value, in name order, hashed with xxh3-64 seeded by
/// the hash so far (`h = xxh3(name, h); h = xxh3(value, h)`, starting from 0). xxh3 covers
/// each string's length, so `a="bc"` and `ab="c"` differ; strings are hashed in place (no
/// concatenation buffer, whose many small copies dominated the lookup path).
pub fn hash_labels(labels: &Labels) -> u64 {
    labels.iter().fold(0, |h, l| {
        let h = xxh3_64_with_seed(l.name.as_bytes(), h);
        xxh3_64_with_seed(l.value.as_bytes(), h)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_separates_names_and_values() {
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: [(Pairs, Pairs); 3] = [
            (&[("a", "bc")], &[("ab", "c")]),
            (&[("a", "b"), ("c", "d")], &[("a", "b\u{ff}c\u{ff}d")]),
            (&[("a", "1")], &[("a", "2")]),
        ];
        for (x, y) in cases {
            let hx = hash_labels(&Labels::from_pairs(x.iter().copied()));
            let hy = hash_labels(&Labels::from_pairs(y.iter().copied()));
            assert_ne!(hx, hy, "{x:?} vs {y:?}");
        }
        let a = Labels::from_pairs([("b", "1"), ("a", "2")]);
        let b = Labels::from_pairs([("a", "2"), ("b", "1")]);
        assert_eq!(hash_labels(&a), hash_labels(&b));
    }
}
