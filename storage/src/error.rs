//! Error types of the storage engine: one enum per area, all convertible into [`Error`].

use std::path::PathBuf;

/// Why a single sample or series could not be appended.
///
/// Out-of-order, duplicate and out-of-bounds samples are unit variants on purpose: they are
/// counted per batch, never formatted per sample.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The sample is older than the latest committed sample of its series.
    #[error("out of order sample")]
    OutOfOrder,
    /// Same timestamp as the latest sample of its series, different value.
    #[error("duplicate sample for timestamp")]
    Duplicate,
    /// The sample is too old for the head to accept.
    #[error("out of bounds")]
    OutOfBounds,
    /// The label set is invalid (bad name, duplicate name, no metric name...).
    #[error("{0}")]
    InvalidLabels(String),
    /// The series reference does not exist.
    #[error("unknown series ref {0}")]
    UnknownRef(u32),
    /// The head could not grow its files to hold a new series.
    #[error("head storage: {0}")]
    Storage(String),
}

/// The umbrella error of the storage crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a file of the data directory.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An append was refused.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The write-ahead log failed (corruption at open, or a failed write: see `WalError`).
    #[error(transparent)]
    Wal(#[from] crate::wal::WalError),
    /// A persistent block could not be written or read (see `BlockError`).
    #[error(transparent)]
    Block(#[from] crate::block::BlockError),
    /// A read stopped at a check of its [`crate::Cancel`]: the deadline passed or the query
    /// was canceled.
    #[error("query stopped: {0}")]
    Stopped(crate::cancel::Stop),
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
