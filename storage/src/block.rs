//! Persistent blocks: immutable directories holding every sample of a time range, written by
//! compaction and read through memory maps (format: docs/format/block.md).
//!
//! A block is written in a `*.tmp-for-creation` directory and renamed into place, so readers
//! only ever see whole blocks; nothing here mutates a block after that rename.

pub mod chunks;
pub mod encoding;
pub mod index;
pub mod meta;
pub mod reader;
pub mod writer;

use std::path::{Path, PathBuf};

pub use meta::BlockMeta;
pub use reader::Block;
pub use writer::BlockWriter;

/// Suffix of a block directory being written.
pub const TMP_CREATION_SUFFIX: &str = ".tmp-for-creation";
/// Suffix of a block directory being deleted.
pub const TMP_DELETION_SUFFIX: &str = ".tmp-for-deletion";

/// Errors of reading and writing blocks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// An I/O error on a block file.
    #[error("block {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A block file is damaged: a checksum mismatch or bytes that do not decode.
    #[error("block corruption in {path} at offset {offset}: {what}")]
    Corruption {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damaged section, page or header.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// `meta.json` is missing fields or is not JSON.
    #[error("block {path}: bad meta.json: {source}")]
    Meta {
        /// The meta file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

impl BlockError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BlockError::Io {
            path: path.into(),
            source,
        }
    }

    /// A corruption error at `offset` of `path`.
    pub fn corruption(path: &Path, offset: u64, what: &str) -> Self {
        BlockError::Corruption {
            path: path.to_owned(),
            offset,
            what: what.to_owned(),
        }
    }
}

/// Whether `name` is a block directory name (a 26-character ULID).
pub fn is_block_dir_name(name: &str) -> bool {
    name.len() == 26 && name.parse::<ulid::Ulid>().is_ok()
}

/// Fsyncs directory `dir` (makes a rename or a new entry in it durable).
pub fn sync_dir(dir: &Path) -> Result<(), BlockError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| BlockError::io(dir, e))
}

#[cfg(test)]
mod tests;
