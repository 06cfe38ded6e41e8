//! Series identifiers and the label-set hash that finds a series again.
//!
//! A [`SeriesRef`] is `local_index * shards + shard` (shards a power of two), so the shard and
//! the series' row in that shard's columns are a mask and a shift away.

use crate::labels::Labels;

/// A dense series id, stable for the life of the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesRef(pub u32);

/// The hash of a label set: every name and value, in name order, folded 8 bytes at a time
/// (little-endian words, then the tail and the string's length) through a multiply-rotate
/// mixer, finished with Murmur3's `fmix64`. Strings are read in place: no concatenation buffer
/// (whose many small copies dominated the lookup path) and no per-string hash call. Not a
/// cryptographic hash; lookups compare the actual labels, so a collision costs time only.
pub fn hash_labels(labels: &Labels) -> u64 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    for l in labels.iter() {
        h = mix_str(h, l.name.as_bytes());
        h = mix_str(h, l.value.as_bytes());
    }
    fmix64(h)
}

#[inline]
fn mix_word(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
}

#[inline]
fn mix_str(mut h: u64, s: &[u8]) -> u64 {
    let mut words = s.chunks_exact(8);
    for w in &mut words {
        h = mix_word(
            h,
            u64::from_le_bytes(w.try_into().expect("chunks_exact(8)")),
        );
    }
    // Tail bytes assembled by hand: a `copy_from_slice` here becomes a libc memcpy call.
    let last = words
        .remainder()
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    h = mix_word(h, last);
    mix_word(h, s.len() as u64)
}

/// Murmur3's 64-bit finalizer: spreads every input bit over the high and low bits, which
/// hashbrown uses for control bytes and bucket index.
#[inline]
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
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
        // Spread: 100k similar label sets hit distinct hashes and use the high bits.
        let mut seen = std::collections::HashSet::new();
        let mut high = 0u64;
        for i in 0..100_000 {
            let h = hash_labels(&Labels::from_pairs([
                ("__name__", "m"),
                ("i", &i.to_string()),
            ]));
            assert!(seen.insert(h), "collision at {i}");
            high |= h >> 57;
        }
        assert_eq!(high, 0x7f, "top 7 bits vary");
        let a = Labels::from_pairs([("b", "1"), ("a", "2")]);
        let b = Labels::from_pairs([("a", "2"), ("b", "1")]);
        assert_eq!(hash_labels(&a), hash_labels(&b));
    }
}
