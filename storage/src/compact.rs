//! Compaction: persists a time range of the head as a level-1 block, merges adjacent small
//! blocks into bigger ones, and plans which blocks to merge (Prometheus `tsdb/compact.go`,
//! simplified: exponential ranges, whole aligned windows, no overlapping blocks).
//!
//! Everything here only writes new block directories; swapping them into the database and
//! deleting inputs is `db.rs`'s job.

use std::path::Path;
use std::sync::Arc;

use crate::block::chunks::PageCache;
use crate::block::{Block, BlockError, BlockMeta, BlockWriter};
use crate::head::Head;
use crate::labels::Labels;
use crate::matcher::{MatchOp, Matcher};

/// Default `--storage.tsdb.min-block-duration`: 2h, as Prometheus.
pub const DEFAULT_MIN_BLOCK_DURATION_MS: i64 = 2 * 3_600_000;
/// Longest block merges produce unless retention is shorter: 31 days (Prometheus caps
/// `--storage.tsdb.max-block-duration` at 31d by default).
pub const MAX_BLOCK_DURATION_MS: i64 = 31 * 24 * 3_600_000;

/// The block ranges merges aim for: `min`, then ×3 per step (Prometheus
/// `ExponentialBlockRanges(min, 10, 3)`), none above `max`.
pub fn block_ranges(min_ms: i64, max_ms: i64) -> Vec<i64> {
    let mut out = vec![min_ms];
    let mut r = min_ms;
    for _ in 0..9 {
        r = r.saturating_mul(3);
        if r > max_ms {
            break;
        }
        out.push(r);
    }
    out
}

/// The federation-order key of a label set: metric name bytewise, then the full set.
fn order_key(l: &Labels) -> (&str, &Labels) {
    (l.get("__name__"), l)
}

/// Writes the head's samples in `[mint, maxt)` to a new level-1 block under `dir`. Returns
/// `None` when the range holds no sample (no block is created).
pub fn compact_head(
    head: &Head,
    dir: &Path,
    mint: i64,
    maxt: i64,
) -> Result<Option<BlockMeta>, BlockError> {
    let all = Matcher::new(MatchOp::NotEqual, "__name__", "")
        .map_err(|e| BlockError::io(dir, std::io::Error::other(e)))?;
    // Selection order is federation order, the order the block index wants.
    let sel = head.select(&[vec![all]]);
    let mut w = BlockWriter::create(dir, mint, maxt)?;
    let mut buf = Vec::new();
    for &r in &sel.refs {
        buf.clear();
        head.samples(r, mint, maxt - 1, &mut buf);
        if buf.is_empty() {
            continue;
        }
        let Some(labels) = head.series_labels(r) else {
            continue;
        };
        w.add_series(&labels, &buf)?;
    }
    w.finish()
}

/// Merges `blocks` (non-overlapping in time) into one new block under `dir` covering their
/// whole range, at one level above the highest input.
pub fn merge_blocks(blocks: &[Arc<Block>], dir: &Path) -> Result<Option<BlockMeta>, BlockError> {
    let mut blocks: Vec<&Arc<Block>> = blocks.iter().collect();
    blocks.sort_by_key(|b| b.meta().min_time);
    let (Some(first), Some(last)) = (blocks.first(), blocks.last()) else {
        return Ok(None);
    };
    let mint = first.meta().min_time;
    let maxt = blocks
        .iter()
        .map(|b| b.meta().max_time)
        .max()
        .unwrap_or(last.meta().max_time);
    let level = blocks
        .iter()
        .map(|b| b.meta().compaction.level)
        .max()
        .unwrap_or(1)
        + 1;
    let sources = blocks
        .iter()
        .flat_map(|b| b.meta().compaction.sources.iter().cloned())
        .collect();
    let mut w = BlockWriter::create(dir, mint, maxt)?.with_compaction(level, sources);
    // A k-way merge over the blocks' series, which each block stores in federation order.
    let mut cursors: Vec<(u32, Option<Labels>)> = blocks
        .iter()
        .map(|b| Ok((0, (b.num_series() > 0).then(|| b.labels(0)).transpose()?)))
        .collect::<Result<_, BlockError>>()?;
    let mut caches = blocks
        .iter()
        .map(|_| PageCache::new())
        .collect::<Result<Vec<_>, _>>()?;
    let mut samples = Vec::new();
    while let Some(next) = cursors
        .iter()
        .filter_map(|(_, l)| l.as_ref())
        .min_by(|a, b| order_key(a).cmp(&order_key(b)))
        .cloned()
    {
        samples.clear();
        for (i, b) in blocks.iter().enumerate() {
            let (id, cur) = &mut cursors[i];
            if cur.as_ref() != Some(&next) {
                continue;
            }
            b.samples(*id, i64::MIN, i64::MAX, &mut caches[i], &mut samples)?;
            *id += 1;
            *cur = (*id < b.num_series()).then(|| b.labels(*id)).transpose()?;
        }
        // Inputs are in time order and do not overlap; a stable sort keeps this cheap and
        // tolerates overlap, keeping the first sample of a timestamp.
        samples.sort_by_key(|s| s.0);
        samples.dedup_by_key(|s| s.0);
        w.add_series(&next, &samples)?;
    }
    w.finish()
}

/// Picks blocks to merge: for each range above the smallest, blocks lying wholly inside one
/// aligned window of that range, at least two of them, in a window that is complete (newer
/// blocks exist past it, or they already span it). Returns indices into `metas`.
pub fn plan_merge(metas: &[BlockMeta], ranges: &[i64]) -> Option<Vec<usize>> {
    let newest = metas.iter().map(|m| m.max_time).max()?;
    for &r in ranges.iter().skip(1) {
        let mut groups: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
        for (i, m) in metas.iter().enumerate() {
            let start = m.min_time.div_euclid(r) * r;
            if m.max_time <= start + r && m.max_time - m.min_time < r {
                groups.entry(start).or_default().push(i);
            }
        }
        for (start, g) in groups {
            if g.len() < 2 {
                continue;
            }
            let lo = g.iter().map(|&i| metas[i].min_time).min().unwrap_or(start);
            let hi = g.iter().map(|&i| metas[i].max_time).max().unwrap_or(start);
            if start + r <= newest || hi - lo >= r {
                return Some(g);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::meta::{BlockStats, Compaction};

    fn meta(min: i64, max: i64) -> BlockMeta {
        BlockMeta {
            ulid: format!("{min}-{max}"),
            min_time: min,
            max_time: max,
            stats: BlockStats::default(),
            compaction: Compaction {
                level: 1,
                sources: vec![],
            },
            version: 1,
        }
    }

    #[test]
    fn plans_merges_of_complete_windows() {
        let ranges = block_ranges(2, 100);
        assert_eq!(ranges, vec![2, 6, 18, 54]);
        type Case = (&'static str, Vec<(i64, i64)>, Option<Vec<usize>>);
        let cases: Vec<Case> = vec![
            ("nothing", vec![], None),
            ("one block", vec![(0, 2)], None),
            ("window still filling", vec![(0, 2), (2, 4)], None),
            (
                "full window",
                vec![(0, 2), (2, 4), (4, 6)],
                Some(vec![0, 1, 2]),
            ),
            (
                "newer block closes it",
                vec![(0, 2), (2, 4), (6, 8)],
                Some(vec![0, 1]),
            ),
            (
                "gap in window, closed",
                vec![(0, 2), (4, 6), (6, 8)],
                Some(vec![0, 1]),
            ),
            (
                "merged blocks merge at the next range",
                vec![(0, 6), (6, 12), (12, 18), (18, 20)],
                Some(vec![0, 1, 2]),
            ),
            ("too big to merge", vec![(0, 54), (54, 108)], None),
        ];
        for (name, blocks, want) in cases {
            let metas: Vec<BlockMeta> = blocks.iter().map(|&(a, b)| meta(a, b)).collect();
            assert_eq!(plan_merge(&metas, &ranges), want, "case {name}");
        }
    }
}
