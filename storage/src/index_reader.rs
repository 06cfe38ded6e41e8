//! One index-reader abstraction for the head and the blocks, and the one matchers-to-postings
//! function over it (Prometheus `tsdb/querier.go` `PostingsForMatchers`), with the literal,
//! set and prefix fast paths for both.
//!
//! Semantics: a series lacking a label has the empty value for it. A matcher that does not
//! match `""` contributes the union of its matching values' postings (intersected); one that
//! matches `""` contributes the series whose value does *not* match (subtracted from the
//! result, which starts from all series when nothing is intersected). `{}` selects nothing.

use std::borrow::Cow;

use roaring::RoaringBitmap;

use crate::block::BlockError;
use crate::matcher::{MatchOp, Matcher};
use crate::postings::ops::intersect_all;

/// An inverted index whose data lives for `'a`: the head's (in memory, under its read
/// locks) or a block's (memory-mapped).
pub trait IndexReader<'a> {
    /// The values of one label name.
    type Name: NameValues<'a>;

    /// The values of label `name`; `None` when no series has it.
    fn name(&self, name: &str) -> Option<Self::Name>;

    /// Every series of the index.
    fn all(&self) -> Cow<'a, RoaringBitmap>;
}

/// The values of one label name, sorted bytewise, each with its postings.
pub trait NameValues<'a> {
    /// Number of values.
    fn len(&self) -> usize;

    /// Value `i` (`i < len()`), in byte order.
    fn value(&self, i: usize) -> &'a str;

    /// The position of `v`, by binary search.
    fn find(&self, v: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.value(mid).cmp(v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The series having value `i`.
    fn postings(&self, i: usize) -> Result<Cow<'a, RoaringBitmap>, BlockError>;

    /// The series having any value for this name.
    fn any(&self) -> Result<Cow<'a, RoaringBitmap>, BlockError>;
}

/// The series matching every matcher of `set`; an empty set matches nothing.
pub fn postings_for_matchers<'a, R: IndexReader<'a>>(
    index: &R,
    set: &[Matcher],
) -> Result<Cow<'a, RoaringBitmap>, BlockError> {
    if set.is_empty() {
        return Ok(Cow::Owned(RoaringBitmap::new()));
    }
    let mut pos: Vec<Cow<'a, RoaringBitmap>> = Vec::new();
    let mut neg: Vec<Cow<'a, RoaringBitmap>> = Vec::new();
    for m in set {
        let values = index.name(&m.name);
        if !m.matches_empty() {
            let Some(values) = values else {
                return Ok(Cow::Owned(RoaringBitmap::new()));
            };
            let bm = values_postings(&values, m, true)?;
            if bm.is_empty() {
                return Ok(Cow::Owned(RoaringBitmap::new()));
            }
            pos.push(bm);
        } else if let Some(values) = values {
            let bm = values_postings(&values, m, false)?;
            if !bm.is_empty() {
                neg.push(bm);
            }
        }
    }
    let mut acc = match pos.len() {
        0 => index.all(),
        1 => pos.pop().expect("one element"),
        _ => Cow::Owned(intersect_all(pos)),
    };
    for n in neg {
        if acc.is_empty() {
            break;
        }
        acc = Cow::Owned(acc.into_owned() - n.as_ref());
    }
    Ok(acc)
}

/// The union of the postings of the values for which `m.matches(value) == want`, using the
/// matcher's literal set and prefix fast paths when it has them.
fn values_postings<'a, N: NameValues<'a>>(
    values: &N,
    m: &Matcher,
    want: bool,
) -> Result<Cow<'a, RoaringBitmap>, BlockError> {
    let literal = if want {
        m.set_matches()
    } else {
        m.excluded_set()
    };
    if let Some(set) = literal {
        let mut hits = set.iter().filter_map(|v| values.find(v));
        return match (set.len(), hits.next()) {
            (_, None) => Ok(Cow::Owned(RoaringBitmap::new())),
            (1, Some(i)) => values.postings(i),
            (_, Some(first)) => {
                let mut out = values.postings(first)?.into_owned();
                for i in hits {
                    out |= values.postings(i)?.as_ref();
                }
                Ok(Cow::Owned(out))
            }
        };
    }
    // `a!=""` matches every value; `a=""` (inverted) too.
    if (m.op == MatchOp::NotEqual) == want && m.value.is_empty() {
        return values.any();
    }
    let (start, end) = match m.prefix().filter(|_| want) {
        Some(p) => {
            let start = partition_point(values, 0, values.len(), |v| v < p);
            let len = partition_point(values, start, values.len(), |v| v.starts_with(p));
            (start, len)
        }
        None => (0, values.len()),
    };
    let hits: Vec<usize> = (start..end)
        .filter(|&i| m.matches(values.value(i)) == want)
        .collect();
    match hits.as_slice() {
        [] => Ok(Cow::Owned(RoaringBitmap::new())),
        _ if hits.len() == values.len() => values.any(),
        [one] => values.postings(*one),
        _ => {
            let mut out = RoaringBitmap::new();
            for &i in &hits {
                out |= values.postings(i)?.as_ref();
            }
            Ok(Cow::Owned(out))
        }
    }
}

/// The first index in `[lo, hi)` whose value fails `pred` (values where `pred` holds come
/// first).
fn partition_point<'a, N: NameValues<'a>>(
    values: &N,
    mut lo: usize,
    mut hi: usize,
    pred: impl Fn(&str) -> bool,
) -> usize {
    while lo < hi {
        let mid = (lo + hi) / 2;
        if pred(values.value(mid)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}
