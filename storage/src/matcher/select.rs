//! Matchers to postings (Prometheus `tsdb/querier.go` `PostingsForMatchers`) and selection in
//! federation order.
//!
//! Semantics: a series lacking a label has the empty value for it. A matcher that does not
//! match `""` contributes the union of its matching values' postings (intersected); one that
//! matches `""` contributes the series whose value does *not* match (subtracted from the
//! result, which starts from all series when nothing is intersected). `{}` selects nothing.

use std::borrow::Cow;

use roaring::RoaringBitmap;

use crate::block::BlockError;
use crate::head::Selection;
use crate::index_reader::{IndexReader, NameValues};
use crate::matcher::Matcher;
use crate::postings::order::{NO_NAME, SeriesOrder};
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
    symbols: &'a SymbolTable,
    set: &[Matcher],
) -> Cow<'a, RoaringBitmap> {
    let index = HeadIndex { postings, symbols };
    // The head's index never fails: its postings are in memory.
    crate::index_reader::postings_for_matchers(&index, set)
        .unwrap_or_else(|_| Cow::Owned(RoaringBitmap::new()))
}

/// The head's postings and symbols as an [`IndexReader`].
struct HeadIndex<'a> {
    postings: &'a MemPostings,
    symbols: &'a SymbolTable,
}

/// One name's values in the head.
struct HeadValues<'a> {
    np: &'a NamePostings,
    symbols: &'a SymbolTable,
}

impl<'a> IndexReader<'a> for HeadIndex<'a> {
    type Name = HeadValues<'a>;

    fn name(&self, name: &str) -> Option<HeadValues<'a>> {
        let np = self.symbols.get(name).and_then(|n| self.postings.name(n))?;
        Some(HeadValues {
            np,
            symbols: self.symbols,
        })
    }

    fn all(&self) -> Cow<'a, RoaringBitmap> {
        Cow::Borrowed(self.postings.all())
    }
}

impl<'a> NameValues<'a> for HeadValues<'a> {
    fn len(&self) -> usize {
        self.np.values().len()
    }

    fn value(&self, i: usize) -> &'a str {
        self.symbols.resolve(self.np.values()[i])
    }

    fn find(&self, v: &str) -> Option<usize> {
        // The symbol table answers in O(1) where a binary search would compare strings.
        let id = self.symbols.get(v)?;
        self.np.get(id)?;
        self.np
            .values()
            .binary_search_by(|&x| self.symbols.resolve(x).cmp(v))
            .ok()
    }

    fn postings(&self, i: usize) -> Result<Cow<'a, RoaringBitmap>, BlockError> {
        Ok(self
            .np
            .get(self.np.values()[i])
            .map_or_else(|| Cow::Owned(RoaringBitmap::new()), Cow::Borrowed))
    }

    fn any(&self) -> Result<Cow<'a, RoaringBitmap>, BlockError> {
        Ok(Cow::Borrowed(self.np.any()))
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
    let mut out = Vec::with_capacity(union.len() as usize);
    // One metric's series (`match[]=name`, the commonest small federate): a subset test of
    // its postings replaces the per-ref name lookups and grouping below, whose random reads
    // of the name column cost about as much as rendering (docs/benchmarks.md, fedlatency).
    let single = union
        .min()
        .map(|r| order.name_of(r))
        .filter(|&n| n != NO_NAME);
    if let Some(name) = single
        && let Some(bm) = postings
            .name(NAME_SYMBOL)
            .and_then(|np| np.get(SymbolId(name)))
        && union.is_subset(bm)
    {
        let name = SymbolId(name);
        let refs: Vec<u32> = if union.len() * 4 >= order.refs(name).len() as u64 {
            Vec::new() // not read: the whole order or a filtered walk of it is taken
        } else {
            union.iter().collect()
        };
        let n = union.len();
        extend_group(order, union, name, &refs, n, &mut Vec::new(), &mut out);
        return out;
    }
    // `name << 32 | ref`, sorted: each name's refs become one run, with no map and no
    // vector per name (a one-instance selection touches ~200 names of ~6 refs each, and the
    // allocations and lookups per name cost as much as rendering; docs/benchmarks.md).
    let mut keyed: Vec<u64> = union
        .iter()
        .filter_map(|r| {
            let name = order.name_of(r);
            (name != NO_NAME).then_some((u64::from(name) << 32) | u64::from(r))
        })
        .collect();
    keyed.sort_unstable();
    let refs: Vec<u32> = keyed.iter().map(|&k| k as u32).collect();
    let mut runs: Vec<(u32, usize, usize)> = Vec::new();
    for (i, &k) in keyed.iter().enumerate() {
        let name = (k >> 32) as u32;
        match runs.last_mut() {
            Some((n, _, end)) if *n == name => *end = i + 1,
            _ => runs.push((name, i, i + 1)),
        }
    }
    // Names in byte order: each name is resolved once for its first 16 bytes (zero-padded,
    // compared as an array), and only names sharing those compare their strings.
    let mut named: Vec<([u8; 16], u32, usize, usize)> = runs
        .into_iter()
        .map(|(name, start, end)| {
            let mut prefix = [0u8; 16];
            let text = symbols.resolve(SymbolId(name)).as_bytes();
            let n = text.len().min(16);
            prefix[..n].copy_from_slice(&text[..n]);
            (prefix, name, start, end)
        })
        .collect();
    named.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            symbols
                .resolve(SymbolId(a.1))
                .cmp(symbols.resolve(SymbolId(b.1)))
        })
    });
    let mut ranked = Vec::new();
    for (_, name, start, end) in named {
        let n = (end - start) as u64;
        let refs = &refs[start..end];
        extend_group(order, union, SymbolId(name), refs, n, &mut ranked, &mut out);
    }
    out
}

/// Appends the `n` selected series of metric `name` in federation order: the name's whole
/// order when all are selected, a filtered walk of it when most are, else a rank sort of
/// `refs` (the selected refs of that name; only read in that last case; `ranked` is scratch
/// space for it).
fn extend_group(
    order: &SeriesOrder,
    union: &RoaringBitmap,
    name: SymbolId,
    refs: &[u32],
    n: u64,
    ranked: &mut Vec<u64>,
    out: &mut Vec<SeriesRef>,
) {
    let all = order.refs(name);
    if n == all.len() as u64 {
        out.extend(all.iter().map(|&r| SeriesRef(r)));
    } else if n * 4 >= all.len() as u64 {
        out.extend(
            all.iter()
                .filter(|&&r| union.contains(r))
                .map(|&r| SeriesRef(r)),
        );
    } else {
        order.fresh_ranks(name);
        // Each rank read once (a sort by key reads two per comparison, most of them misses).
        ranked.clear();
        ranked.extend(
            refs.iter()
                .map(|&r| (u64::from(order.rank(r)) << 32) | u64::from(r)),
        );
        ranked.sort_unstable();
        out.extend(ranked.iter().map(|&k| SeriesRef(k as u32)));
    }
}
