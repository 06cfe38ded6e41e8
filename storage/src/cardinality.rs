//! The cardinality view over head and blocks (`/api/v1/status/tsdb`): per label pair, how
//! many distinct named series carry it, each series counted once however many blocks and
//! the head hold it.
//!
//! Blocks are immutable, so what they add is worked out once per block and kept
//! ([`BlockCardinality`]): each named block series is matched to its head ref (refs are
//! stable: a collected series stays as a tombstone) or, when the head never had it, kept as
//! a block-only series with its label-set hash and counted. A request counts the head from
//! its postings, adds the block series whose head ref is no longer indexed (collected) and
//! the block-only ones, after matching these against the series the head created since the
//! last request (by hash, labels compared): nothing walks every series per request.

use std::collections::HashMap;
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::block::Block;
use crate::error::Error;
use crate::head::Head;
use crate::head::cardinality::HeadPairs;
use crate::labels::{Labels, METRIC_NAME_LABEL};
use crate::matcher::{MatchOp, Matcher};
use crate::series::hash_labels;

/// Per label pair `(name, value)`, how many distinct named series carry it.
pub type LabelPairCounts = Vec<(String, String, u64)>;

/// Series counts per label name, then per value.
type Counts = HashMap<String, HashMap<String, u64>>;

/// What the blocks add to the head's cardinality, for one block set.
#[derive(Debug, Default)]
pub(crate) struct BlockCardinality {
    /// The blocks counted, in the order they were added (ids in `only` index this).
    blocks: Vec<Arc<Block>>,
    /// Head refs of the named block series the head has (indexed or tombstones).
    refs: RoaringBitmap,
    /// Named block series the head did not have when last looked: by label-set hash, their
    /// `(index in blocks, series id)`, one per distinct label set.
    only: HashMap<u64, Vec<(u32, u32)>>,
    /// Label-pair counts of the `only` series.
    only_counts: Counts,
    /// Head series seen per shard: the ones created later are matched against `only`.
    marks: Vec<usize>,
    /// The last answer and the head postings' change count it was computed at: with the
    /// same blocks and an unchanged index the answer is the same (a steady node's
    /// `status/tsdb` is then a copy, not a walk of every postings list).
    last: Option<(u64, Arc<LabelPairCounts>)>,
}

impl BlockCardinality {
    /// Brings the cache to `blocks` (the database's current list): new blocks are added,
    /// and a block gone (retention) starts the count over.
    fn sync(&mut self, head: &Head, blocks: &[Arc<Block>]) -> Result<(), Error> {
        let kept = self
            .blocks
            .iter()
            .all(|b| blocks.iter().any(|c| Arc::ptr_eq(b, c)));
        if !kept {
            *self = BlockCardinality::default();
        }
        if self.blocks.is_empty() && self.marks.is_empty() {
            // Series created from now on are matched against `only` later; the ones before
            // are found by `find_ref` below.
            self.marks = head.series_marks();
        }
        for b in blocks {
            if !self.blocks.iter().any(|c| Arc::ptr_eq(b, c)) {
                self.last = None;
                self.add_block(head, b.clone())?;
            }
        }
        Ok(())
    }

    /// Counts the named series of `block` not counted yet.
    fn add_block(&mut self, head: &Head, block: Arc<Block>) -> Result<(), Error> {
        let named = Matcher::new(MatchOp::NotEqual, METRIC_NAME_LABEL, "")
            .map_err(|e| Error::io("cardinality", std::io::Error::other(e)))?;
        let bi = self.blocks.len() as u32;
        for id in block.select(&[vec![named]])? {
            let labels = block.labels(id)?;
            if let Some(r) = head.find_ref(&labels) {
                self.refs.insert(r.0);
                continue;
            }
            let hash = hash_labels(&labels);
            if let Some(same) = self.only.get(&hash)
                && position_of(&self.blocks, same, &labels)?.is_some()
            {
                continue;
            }
            self.only.entry(hash).or_default().push((bi, id));
            for l in labels.iter() {
                *entry(&mut self.only_counts, &l.name, &l.value) += 1;
            }
        }
        self.blocks.push(block);
        Ok(())
    }

    /// Moves the block-only series the head created since the last call to `refs`.
    fn catch_up(&mut self, head: &Head) -> Result<(), Error> {
        if self.only.is_empty() {
            self.marks = head.series_marks();
            return Ok(());
        }
        let mut found = Vec::new();
        head.for_each_series_since(&mut self.marks, &mut |r, hash| {
            if self.only.contains_key(&hash) {
                found.push((r, hash));
            }
        });
        for (r, hash) in found {
            let Some(head_labels) = head.series_labels(r) else {
                continue;
            };
            let Some(same) = self.only.get_mut(&hash) else {
                continue;
            };
            let Some(k) = position_of(&self.blocks, same, &head_labels)? else {
                continue;
            };
            same.swap_remove(k);
            if same.is_empty() {
                self.only.remove(&hash);
            }
            for l in head_labels.iter() {
                uncount(&mut self.only_counts, &l.name, &l.value);
            }
            self.refs.insert(r.0);
        }
        Ok(())
    }
}

/// Where in `same` (block series sharing a label-set hash) the series `labels` is.
fn position_of(
    blocks: &[Arc<Block>],
    same: &[(u32, u32)],
    labels: &Labels,
) -> Result<Option<usize>, Error> {
    for (k, &(b, i)) in same.iter().enumerate() {
        if blocks[b as usize].labels(i)? == *labels {
            return Ok(Some(k));
        }
    }
    Ok(None)
}

/// For every label pair, how many distinct named series of `head` and `blocks` carry it;
/// `cache` keeps what the blocks add between calls.
pub(crate) fn label_pair_counts(
    head: &Head,
    blocks: &[Arc<Block>],
    cache: &mut BlockCardinality,
) -> Result<Arc<LabelPairCounts>, Error> {
    cache.sync(head, blocks)?;
    if let Some((changes, pairs)) = &cache.last
        && *changes == head.postings_changes()
    {
        return Ok(pairs.clone());
    }
    // The head's snapshot first: a block-only series the head creates after it is moved to
    // `refs` by `catch_up` and, not being in `named`, counted once below.
    let HeadPairs {
        counts: mut pairs,
        named,
        changes,
    } = head.pair_counts_and_named();
    cache.catch_up(head)?;
    let collected = &cache.refs - &named;
    if !collected.is_empty() || !cache.only_counts.is_empty() {
        add_block_series(head, cache, &collected, &mut pairs);
    }
    let pairs = Arc::new(pairs);
    cache.last = Some((changes, pairs.clone()));
    Ok(pairs)
}

/// Adds to `pairs` the block series the head's postings do not count: `collected` (head refs
/// no longer indexed) and the block-only ones.
fn add_block_series(
    head: &Head,
    cache: &BlockCardinality,
    collected: &RoaringBitmap,
    pairs: &mut LabelPairCounts,
) {
    let mut extra: Counts = HashMap::new();
    for r in collected {
        head.for_each_label(crate::series::SeriesRef(r), &mut |n, v| {
            *entry(&mut extra, n, v) += 1;
        });
    }
    for (n, vs) in &cache.only_counts {
        for (v, c) in vs {
            *entry(&mut extra, n, v) += c;
        }
    }
    for (n, v, c) in pairs.iter_mut() {
        if let Some(vs) = extra.get_mut(n.as_str())
            && let Some(add) = vs.remove(v.as_str())
        {
            *c += add;
        }
    }
    for (n, vs) in extra {
        for (v, c) in vs {
            pairs.push((n.clone(), v, c));
        }
    }
}

/// The count of pair `name=value`, allocating the keys only when new.
fn entry<'c>(counts: &'c mut Counts, name: &str, value: &str) -> &'c mut u64 {
    if !counts.contains_key(name) {
        counts.insert(name.to_owned(), HashMap::new());
    }
    let values = counts.get_mut(name).expect("inserted above");
    if !values.contains_key(value) {
        values.insert(value.to_owned(), 0);
    }
    values.get_mut(value).expect("inserted above")
}

/// Takes one from the count of `name=value`, dropping it at zero (a value no series has
/// left must not count among the name's values).
fn uncount(counts: &mut Counts, name: &str, value: &str) {
    let Some(values) = counts.get_mut(name) else {
        return;
    };
    if let Some(c) = values.get_mut(value) {
        *c -= 1;
        if *c == 0 {
            values.remove(value);
        }
    }
    if values.is_empty() {
        counts.remove(name);
    }
}

#[cfg(test)]
mod tests;
