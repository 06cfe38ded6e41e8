//! Set operations over roaring postings: intersection smallest first with an early exit on
//! empty (Prometheus `index.Intersect`).

use std::borrow::Cow;

use roaring::RoaringBitmap;

/// The intersection of `sets`, smallest first, stopping as soon as it is empty.
/// An empty input yields an empty set.
pub fn intersect_all(mut sets: Vec<Cow<'_, RoaringBitmap>>) -> RoaringBitmap {
    sets.sort_unstable_by_key(|s| s.len());
    let mut it = sets.into_iter();
    let Some(first) = it.next() else {
        return RoaringBitmap::new();
    };
    let mut acc = first.into_owned();
    for s in it {
        if acc.is_empty() {
            break;
        }
        acc &= s.as_ref();
    }
    acc
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn bm(v: &[u32]) -> RoaringBitmap {
        v.iter().copied().collect()
    }

    #[test]
    fn ops_match_btreeset_model() {
        let cases: [&[&[u32]]; 5] = [
            &[],
            &[&[1, 2, 3]],
            &[&[1, 2, 3], &[2, 3, 4], &[3, 100_000]],
            &[&[], &[1]],
            &[&[5, 70_000, 140_000], &[70_000, 140_000], &[1, 140_000, 9]],
        ];
        for (i, sets) in cases.iter().enumerate() {
            let bms: Vec<RoaringBitmap> = sets.iter().map(|s| bm(s)).collect();
            let inter: BTreeSet<u32> = match sets.split_first() {
                None => BTreeSet::new(),
                Some((f, rest)) => f
                    .iter()
                    .copied()
                    .filter(|x| rest.iter().all(|s| s.contains(x)))
                    .collect(),
            };
            let got = intersect_all(bms.iter().map(Cow::Borrowed).collect());
            assert_eq!(
                got.iter().collect::<BTreeSet<_>>(),
                inter,
                "intersect case {i}"
            );
        }
    }
}
