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
use crate::matcher::{MatchOp, Matcher};
use crate::postings::ops::{intersect_all, union_all};
use crate::postings::order::NO_NAME;
use crate::postings::{MemPostings, NamePostings};
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
        refs: order(postings, symbols, &union),
    }
}

/// An upper bound of how many series `sets` select, from postings sizes alone (no
/// intersection, no scan of a label's values): per set, the smallest postings among its
/// literal matchers (`=` with a non-empty value, or `=~` of a literal alternation), summed over
/// the sets. `None` when some set has no such matcher (bounding it would need a scan).
pub fn size_bound(
    postings: &MemPostings,
    symbols: &SymbolTable,
    sets: &[Vec<Matcher>],
) -> Option<u64> {
    let mut total = 0u64;
    for set in sets {
        let mut best: Option<u64> = None;
        for m in set {
            if m.matches_empty() {
                continue;
            }
            let Some(values) = m.set_matches() else {
                continue;
            };
            let np = symbols.get(&m.name).and_then(|n| postings.name(n));
            let n = np.map_or(0, |np| {
                values
                    .iter()
                    .filter_map(|v| symbols.get(v).and_then(|s| np.get(s)))
                    .map(RoaringBitmap::len)
                    .sum()
            });
            best = Some(best.map_or(n, |b| b.min(n)));
        }
        total += best?;
    }
    Some(total)
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
        if !m.matches_empty() {
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
/// Uses the matcher's literal set and prefix fast paths when it has them.
fn values_postings<'a>(
    np: &'a NamePostings,
    symbols: &SymbolTable,
    m: &Matcher,
    want: bool,
) -> Cow<'a, RoaringBitmap> {
    let literal = if want {
        m.set_matches()
    } else {
        m.excluded_set()
    };
    if let Some(set) = literal {
        let lookup = |v: &String| symbols.get(v).and_then(|s| np.get(s));
        return match set {
            [one] => lookup(one).map_or_else(|| Cow::Owned(RoaringBitmap::new()), Cow::Borrowed),
            _ => Cow::Owned(union_all(set.iter().filter_map(lookup))),
        };
    }
    // `a!=""` matches every value; `a=""` (inverted) too.
    if (m.op == MatchOp::NotEqual) == want && m.value.is_empty() {
        return Cow::Borrowed(np.any());
    }
    let values = np.values();
    let scan = match m.prefix().filter(|_| want) {
        Some(p) => {
            let start = values.partition_point(|&v| symbols.resolve(v) < p);
            let len = values[start..].partition_point(|&v| symbols.resolve(v).starts_with(p));
            &values[start..start + len]
        }
        None => values,
    };
    let hits: Vec<SymbolId> = scan
        .iter()
        .copied()
        .filter(|&v| m.matches(symbols.resolve(v)) == want)
        .collect();
    if hits.len() == values.len() {
        Cow::Borrowed(np.any())
    } else if let [one] = hits.as_slice() {
        np.get(*one)
            .map_or_else(|| Cow::Owned(RoaringBitmap::new()), Cow::Borrowed)
    } else {
        Cow::Owned(union_all(hits.iter().filter_map(|&v| np.get(v))))
    }
}

/// Orders the selected series: names in byte order, within a name the maintained label-set
/// order. Big selections walk every name's bitmap; small ones group their refs by name and
/// sort each partial group by the refs' ranks.
fn order(postings: &MemPostings, symbols: &SymbolTable, union: &RoaringBitmap) -> Vec<SeriesRef> {
    let Some(names) = postings.name(NAME_SYMBOL) else {
        return Vec::new();
    };
    if union.len() * SMALL_SELECTION_RATIO < postings.all().len() {
        return order_small(postings, symbols, union);
    }
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

/// Selections smaller than `all / SMALL_SELECTION_RATIO` take the grouping path.
const SMALL_SELECTION_RATIO: u64 = 8;

/// The small-selection path: O(selected) work plus, per touched name, either a rank sort of
/// its selected refs or (when most of the name is selected) a filtered walk of its order.
fn order_small(
    postings: &MemPostings,
    symbols: &SymbolTable,
    union: &RoaringBitmap,
) -> Vec<SeriesRef> {
    let order = postings.order();
    let mut slot_of: hashbrown::HashMap<u32, usize> = hashbrown::HashMap::new();
    let mut groups: Vec<(u32, Vec<u32>)> = Vec::new();
    for r in union {
        let name = order.name_of(r);
        if name == NO_NAME {
            continue;
        }
        let slot = *slot_of.entry(name).or_insert_with(|| {
            groups.push((name, Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(r);
    }
    groups.sort_unstable_by(|a, b| {
        symbols
            .resolve(SymbolId(a.0))
            .cmp(symbols.resolve(SymbolId(b.0)))
    });
    let mut out = Vec::with_capacity(groups.iter().map(|g| g.1.len()).sum());
    for (name, mut refs) in groups {
        let name = SymbolId(name);
        let all = order.refs(name);
        if refs.len() == all.len() {
            out.extend(all.iter().map(|&r| SeriesRef(r)));
        } else if refs.len() * 4 >= all.len() {
            out.extend(
                all.iter()
                    .filter(|&&r| union.contains(r))
                    .map(|&r| SeriesRef(r)),
            );
        } else {
            order.fresh_ranks(name);
            refs.sort_unstable_by_key(|&r| order.rank(r));
            out.extend(refs.iter().map(|&r| SeriesRef(r)));
        }
    }
    out
}
