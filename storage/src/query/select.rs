//! Matchers to postings (Prometheus `tsdb/querier.go` `PostingsForMatchers`) and selection in
//! federation order.
//!
//! Semantics: a series lacking a label has the empty value for it. A matcher that does not
//! match `""` contributes the union of its matching values' postings (intersected); one that
//! matches `""` contributes the series whose value does *not* match (subtracted from the
//! result, which starts from all series when nothing is intersected). `{}` selects nothing.

use std::borrow::Cow;

use roaring::RoaringBitmap;

use crate::head::Selection;
use crate::postings::ops::{intersect_all, union_all};
use crate::postings::{MemPostings, NamePostings};
use crate::query::{MatchOp, Matcher};
use crate::series::SeriesRef;
use crate::symbols::{NAME_SYMBOL, SymbolId, SymbolTable};

/// Selects the union of the series matching any of `sets`, in federation order: metric names
/// in byte order, then label-set order; nameless series are never selected.
pub fn select(postings: &MemPostings, symbols: &SymbolTable, sets: &[Vec<Matcher>]) -> Selection {
    let mut union: Option<Cow<'_, RoaringBitmap>> = None;
    for set in sets {
        let bm = postings_for_matchers(postings, symbols, set);
        if bm.is_empty() {
            continue;
        }
        union = Some(match union {
            None => bm,
            Some(u) => Cow::Owned(u.into_owned() | bm.as_ref()),
        });
    }
    let Some(union) = union else {
        return Selection::default();
    };
    Selection {
        refs: order(postings, &union),
    }
}

/// The series matching every matcher of `set`; an empty set matches nothing.
pub fn postings_for_matchers<'a>(
    postings: &'a MemPostings,
    symbols: &SymbolTable,
    set: &[Matcher],
) -> Cow<'a, RoaringBitmap> {
    if set.is_empty() {
        return Cow::Owned(RoaringBitmap::new());
    }
    let mut pos: Vec<Cow<'a, RoaringBitmap>> = Vec::new();
    let mut neg: Vec<Cow<'a, RoaringBitmap>> = Vec::new();
    for m in set {
        let np = symbols.get(&m.name).and_then(|n| postings.name(n));
        if !m.matches("") {
            let Some(np) = np else {
                return Cow::Owned(RoaringBitmap::new());
            };
            let bm = values_postings(np, symbols, m, true);
            if bm.is_empty() {
                return Cow::Owned(RoaringBitmap::new());
            }
            pos.push(bm);
        } else if let Some(np) = np {
            let bm = values_postings(np, symbols, m, false);
            if !bm.is_empty() {
                neg.push(bm);
            }
        }
    }
    let mut acc = match pos.len() {
        0 => Cow::Borrowed(postings.all()),
        1 => pos.pop().expect("one element"),
        _ => Cow::Owned(intersect_all(pos)),
    };
    for n in neg {
        if acc.is_empty() {
            break;
        }
        acc = Cow::Owned(acc.into_owned() - n.as_ref());
    }
    acc
}

/// The union of the postings of the values of `np` for which `m.matches(value) == want`.
fn values_postings<'a>(
    np: &'a NamePostings,
    symbols: &SymbolTable,
    m: &Matcher,
    want: bool,
) -> Cow<'a, RoaringBitmap> {
    let empty = || Cow::Owned(RoaringBitmap::new());
    let lookup = |v: &str| symbols.get(v).and_then(|s| np.get(s));
    match (m.op, want) {
        // `a="x"` (x non-empty) and the inverse of `a!="x"`: one bitmap.
        (MatchOp::Equal, true) | (MatchOp::NotEqual, false) => {
            lookup(&m.value).map_or_else(empty, Cow::Borrowed)
        }
        // Every value differs from "" (`a!=""`), and no value equals "" (inverse of `a=""`).
        (MatchOp::NotEqual, true) | (MatchOp::Equal, false) => Cow::Borrowed(np.any()),
        (MatchOp::Regex | MatchOp::NotRegex, _) => {
            // TODO fast path: Matcher::set_matches() / prefix() once the selector module has them.
            let values = np.values();
            let hits: Vec<SymbolId> = values
                .iter()
                .copied()
                .filter(|&v| m.matches(symbols.resolve(v)) == want)
                .collect();
            if hits.len() == values.len() {
                Cow::Borrowed(np.any())
            } else if hits.len() == 1 {
                np.get(hits[0]).map_or_else(empty, Cow::Borrowed)
            } else {
                Cow::Owned(union_all(hits.iter().filter_map(|&v| np.get(v))))
            }
        }
    }
}

/// Orders the selected series: names in byte order, within a name the maintained label-set
/// order; each name's refs are taken whole when the name is a subset of `union`.
fn order(postings: &MemPostings, union: &RoaringBitmap) -> Vec<SeriesRef> {
    let Some(names) = postings.name(NAME_SYMBOL) else {
        return Vec::new();
    };
    let mut target = union.intersection_len(names.any());
    let mut out = Vec::with_capacity(target as usize);
    for &name in names.values() {
        if target == 0 {
            break;
        }
        let Some(bm) = names.get(name) else {
            continue;
        };
        if bm.is_disjoint(union) {
            continue;
        }
        let refs = postings.order().refs(name);
        let before = out.len();
        if bm.is_subset(union) {
            out.extend(refs.iter().map(|&r| SeriesRef(r)));
        } else {
            out.extend(
                refs.iter()
                    .filter(|&&r| union.contains(r))
                    .map(|&r| SeriesRef(r)),
            );
        }
        target -= (out.len() - before) as u64;
    }
    out
}
