//! `meta.json`: a block's identity, time range, counts and compaction history, with
//! Prometheus's field names (`tsdb/block.go` `BlockMeta`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::BlockError;

/// File name of a block's metadata.
pub const META_FILE: &str = "meta.json";
/// The `version` this build writes and reads.
pub const META_VERSION: u32 = 1;

/// A block's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// The block's ULID (its directory name).
    pub ulid: String,
    /// First timestamp covered, inclusive, in ms.
    #[serde(rename = "minTime")]
    pub min_time: i64,
    /// End of the range covered, exclusive, in ms.
    #[serde(rename = "maxTime")]
    pub max_time: i64,
    /// Counts.
    pub stats: BlockStats,
    /// How the block was made.
    pub compaction: Compaction,
    /// Format version.
    pub version: u32,
}

/// Counts of a block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    /// Samples.
    #[serde(rename = "numSamples")]
    pub num_samples: u64,
    /// Series.
    #[serde(rename = "numSeries")]
    pub num_series: u64,
    /// Chunks.
    #[serde(rename = "numChunks")]
    pub num_chunks: u64,
}

/// Compaction history of a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    /// 1 for a block cut from the head, one more than the highest input for a merge.
    pub level: u32,
    /// ULIDs of the level-1 blocks whose data this block holds.
    pub sources: Vec<String>,
}

impl BlockMeta {
    /// Reads `dir/meta.json`.
    pub fn read(dir: &Path) -> Result<BlockMeta, BlockError> {
        let path = dir.join(META_FILE);
        let bytes = std::fs::read(&path).map_err(|e| BlockError::io(&path, e))?;
        let meta: BlockMeta =
            serde_json::from_slice(&bytes).map_err(|source| BlockError::Meta {
                path: path.clone(),
                source,
            })?;
        if meta.version != META_VERSION {
            return Err(BlockError::corruption(
                &path,
                0,
                "unsupported meta.json version",
            ));
        }
        Ok(meta)
    }

    /// Writes `dir/meta.json` and fsyncs it.
    pub fn write(&self, dir: &Path) -> Result<(), BlockError> {
        let path = dir.join(META_FILE);
        let bytes = serde_json::to_vec_pretty(self).map_err(|source| BlockError::Meta {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, bytes)
            .and_then(|()| std::fs::File::open(&path)?.sync_all())
            .map_err(|e| BlockError::io(&path, e))
    }
}
