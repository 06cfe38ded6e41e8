//! Retention: which blocks to delete, whole and oldest first, by `--storage.tsdb.retention.time`
//! and `--storage.tsdb.retention.size` (Prometheus `tsdb/db.go` `BeyondTimeRetention`,
//! `BeyondSizeRetention`). Deciding only; `db.rs` deletes.

use crate::block::BlockMeta;

/// Default `--storage.tsdb.retention.time`: 15 days.
pub const DEFAULT_RETENTION_MS: i64 = 15 * 24 * 3_600_000;

/// Retention limits; zero turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Blocks whose end is more than this before the newest block's end are deleted.
    pub time_ms: i64,
    /// Blocks (plus `other_bytes`) over this size are deleted, oldest first.
    pub size_bytes: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            time_ms: DEFAULT_RETENTION_MS,
            size_bytes: 0,
        }
    }
}

/// The indices of `blocks` (meta and size in bytes) to delete. `other_bytes` is what else
/// counts against the size limit (the WAL and head chunk files, as Prometheus counts them).
pub fn beyond_retention(
    blocks: &[(&BlockMeta, u64)],
    r: Retention,
    other_bytes: u64,
) -> Vec<usize> {
    // Newest first, as Prometheus walks them.
    let mut order: Vec<usize> = (0..blocks.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(blocks[i].0.min_time));
    let mut cut = order.len();
    if r.time_ms > 0
        && let Some(&newest) = order.first()
    {
        let newest_max = blocks[newest].0.max_time;
        // Prometheus: once one block is past the retention, it and all older ones go.
        if let Some(k) = order
            .iter()
            .skip(1)
            .position(|&i| newest_max - blocks[i].0.max_time > r.time_ms)
        {
            cut = cut.min(k + 1);
        }
    }
    if r.size_bytes > 0 {
        let mut total = other_bytes;
        for (k, &i) in order.iter().enumerate() {
            total += blocks[i].1;
            if total > r.size_bytes {
                cut = cut.min(k);
                break;
            }
        }
    }
    let mut out: Vec<usize> = order[cut..].to_vec();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::meta::{BlockStats, Compaction};

    #[test]
    fn deletes_oldest_blocks_past_the_limits() {
        let metas: Vec<BlockMeta> = [(0, 10), (10, 20), (20, 30), (30, 40)]
            .iter()
            .map(|&(a, b)| BlockMeta {
                ulid: format!("b{a}"),
                min_time: a,
                max_time: b,
                stats: BlockStats::default(),
                compaction: Compaction {
                    level: 1,
                    sources: vec![],
                },
                version: 1,
            })
            .collect();
        let blocks: Vec<(&BlockMeta, u64)> = metas.iter().map(|m| (m, 100)).collect();
        let cases: Vec<(&str, i64, u64, u64, Vec<usize>)> = vec![
            ("no limits", 0, 0, 0, vec![]),
            ("time keeps all", 30, 0, 0, vec![]),
            ("time drops the oldest", 29, 0, 0, vec![0]),
            ("time drops two", 10, 0, 0, vec![0, 1]),
            ("size keeps all", 0, 400, 0, vec![]),
            ("size drops the oldest", 0, 399, 0, vec![0]),
            ("size counts the WAL", 0, 400, 150, vec![0, 1]),
            ("size keeps nothing", 0, 50, 0, vec![0, 1, 2, 3]),
            ("both: the stricter wins", 25, 250, 0, vec![0, 1]),
        ];
        for (name, time_ms, size_bytes, other, want) in cases {
            let r = Retention {
                time_ms,
                size_bytes,
            };
            assert_eq!(beyond_retention(&blocks, r, other), want, "case {name}");
        }
    }
}
