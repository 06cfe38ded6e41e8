//! The write-ahead log: every commit is logged (and synced per [`FsyncMode`]) before the head
//! applies it, and [`crate::Head::open`] replays it to rebuild the head after a restart or crash.
//!
//! Format: docs/format/wal.md. Durability promise and recovery: docs/storage.md. Writes go
//! through `segment::WalFs` so tests can drop unsynced data or fail a write or an fsync.
//!
//! One of the crate's two public modules: outside the crate it exposes only the options and
//! [`repair`] the CLI uses and the tail API ([`SegmentTail`], [`WalPosition`], [`WalHold`],
//! [`segments`]...) the remote-write sender reads the WAL with; the writer, replay and
//! checkpointing stay `pub(crate)`.

mod checkpoint;
#[cfg(any(test, feature = "testutil"))]
pub(crate) mod fuzz;
mod record;
mod replay;
mod segment;
mod tail;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use checkpoint::CheckpointStats;
pub(crate) use checkpoint::checkpoint;
pub(crate) use replay::open;
pub use replay::{RepairReport, repair};
pub use tail::{
    DEFAULT_MAX_LAG_SEGMENTS, SegmentTail, WalHold, WalPosition, WalRecord, WalSample,
    checkpoint_file, checkpoints, segment_file, segments,
};
pub(crate) use writer::Wal;
pub use writer::{DurableCallback, WalStats};

/// Default segment size: Prometheus's `DefaultSegmentSize` (128 MiB).
pub const DEFAULT_SEGMENT_BYTES: u64 = 128 << 20;

/// When a commit's log records are fsynced (`--storage.wal.fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncMode {
    /// Every commit fsyncs its own records before it returns.
    Always,
    /// Group commit: a commit returns once an fsync that started after its write has finished.
    /// One fsync covers every commit that wrote while the previous fsync ran; `window` (usually
    /// zero) delays each fsync to let more commits join it.
    Group {
        /// How long the syncing committer waits before its fsync.
        window: Duration,
    },
    /// A background thread fsyncs every `interval`; commits do not wait (a crash loses up to
    /// one interval of acknowledged data).
    Interval {
        /// Time between background fsyncs.
        interval: Duration,
    },
    /// Never fsync (the OS writes back when it likes); for tests and throwaway data.
    Never,
}

impl Default for FsyncMode {
    fn default() -> Self {
        FsyncMode::Group {
            window: Duration::ZERO,
        }
    }
}

impl std::str::FromStr for FsyncMode {
    type Err = String;

    /// Parses `always`, `group`, `never`, or a duration in ms/s such as `100ms` or `1s`
    /// (interval mode).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid WAL fsync mode {s:?}: want always, group, never or an interval such as 100ms"
            )
        };
        match s {
            "always" => Ok(FsyncMode::Always),
            "group" => Ok(FsyncMode::default()),
            "never" => Ok(FsyncMode::Never),
            _ => {
                let (num, unit) = s
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or((s, ""), |i| s.split_at(i));
                let n: u64 = num.parse().map_err(|_| bad())?;
                let interval = match unit {
                    "ms" => Duration::from_millis(n),
                    "s" => Duration::from_secs(n),
                    _ => return Err(bad()),
                };
                if interval.is_zero() {
                    return Err(bad());
                }
                Ok(FsyncMode::Interval { interval })
            }
        }
    }
}

/// What replay does with a bad record (after fjall's `RecoveryMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryPolicy {
    /// A bad record in the last segment is a torn write from a crash: truncate there, log a
    /// warning with the bytes dropped, and go on. A bad record anywhere else fails start-up.
    #[default]
    TolerateCorruptTail,
    /// Any bad record fails start-up.
    AbsoluteConsistency,
}

/// Options of the WAL (a field of [`crate::HeadOptions`]).
#[derive(Clone)]
pub struct WalOptions {
    /// The WAL directory, `<storage.tsdb.path>/wal`.
    pub dir: PathBuf,
    /// When commits are fsynced.
    pub fsync: FsyncMode,
    /// What replay does with bad records.
    pub recovery: RecoveryPolicy,
    /// Segment size at which the writer starts the next segment.
    pub segment_bytes: u64,
    /// Whether record payloads are zstd-compressed.
    pub compress: bool,
    /// Replay skips samples older than this (ms): the persisted blocks already hold them
    /// (Prometheus's `minValidTime`: the end of the newest block). Default: `i64::MIN`.
    pub replay_min_time_ms: i64,
    /// The file layer; tests inject faults through it.
    pub(crate) fs: Arc<dyn segment::WalFs>,
}

impl std::fmt::Debug for WalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalOptions")
            .field("dir", &self.dir)
            .field("fsync", &self.fsync)
            .field("recovery", &self.recovery)
            .field("segment_bytes", &self.segment_bytes)
            .field("compress", &self.compress)
            .field("replay_min_time_ms", &self.replay_min_time_ms)
            .finish()
    }
}

impl WalOptions {
    /// A WAL in `dir` with the defaults: group commit, tolerate a torn tail, 128 MiB segments,
    /// zstd.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WalOptions {
            dir: dir.into(),
            fsync: FsyncMode::default(),
            recovery: RecoveryPolicy::default(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            compress: true,
            replay_min_time_ms: i64::MIN,
            fs: Arc::new(segment::StdFs),
        }
    }

    /// Sets the fsync mode.
    pub fn with_fsync(mut self, fsync: FsyncMode) -> Self {
        self.fsync = fsync;
        self
    }

    /// Sets the recovery policy.
    pub fn with_recovery(mut self, recovery: RecoveryPolicy) -> Self {
        self.recovery = recovery;
        self
    }

    /// Sets the segment size (at least 64 KiB).
    pub fn with_segment_bytes(mut self, segment_bytes: u64) -> Self {
        self.segment_bytes = segment_bytes.max(64 << 10);
        self
    }

    /// Sets the time below which replay skips samples (the end of the newest persisted
    /// block, exclusive).
    pub fn with_replay_min_time(mut self, t_ms: i64) -> Self {
        self.replay_min_time_ms = t_ms;
        self
    }

    /// Turns zstd compression of new records on or off (reading handles both).
    pub fn with_compression(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }
}

/// What is wrong with a bad record or segment header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptionReason {
    /// The file ends inside a frame or header (a write cut short).
    #[error("record cut short by the end of the file")]
    TornFrame,
    /// Zeros where a frame should start (space the file system allocated but never wrote).
    #[error("zero-filled space instead of a record")]
    ZeroFill,
    /// A frame length out of range.
    #[error("record length {0} out of range")]
    BadLength(u64),
    /// The CRC-32C does not match the record.
    #[error("checksum mismatch")]
    ChecksumMismatch,
    /// The segment does not start with the WAL magic.
    #[error("bad segment header")]
    BadSegmentHeader,
    /// The record passed its checksum but does not decode.
    #[error("undecodable record: {0}")]
    Decode(&'static str),
    /// An unknown record type.
    #[error("unknown record type {0}")]
    UnknownType(u8),
}

/// Errors of the WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// A bad record where the recovery policy does not allow truncation: start-up stops.
    #[error(
        "WAL corruption in segment {segment:08} at offset {offset}: {source} \
         (data after this point cannot be trusted; see docs/storage.md \"Repairing the WAL\": \
         `fedstore_storage::wal::repair` drops everything from here on)"
    )]
    Corruption {
        /// Segment number.
        segment: u64,
        /// Byte offset of the bad record in the segment.
        offset: u64,
        /// What is wrong.
        source: CorruptionReason,
    },
    /// A bad record in a checkpoint (which was complete and fsynced when written): start-up
    /// stops; the samples it held cannot be recovered from the WAL.
    #[error("WAL checkpoint {checkpoint:08} is corrupt at offset {offset}: {source}")]
    CheckpointCorruption {
        /// Checkpoint number.
        checkpoint: u64,
        /// Byte offset of the bad record.
        offset: u64,
        /// What is wrong.
        source: CorruptionReason,
    },
    /// A segment of a format version this build does not read.
    #[error(
        "WAL segment {segment:08} has format version {version}; this build reads versions 1 and 2"
    )]
    UnsupportedVersion {
        /// Segment number.
        segment: u64,
        /// The version byte found.
        version: u8,
    },
    /// Segment numbers are not contiguous.
    #[error("WAL directory {dir}: segment {missing:08} is missing")]
    SegmentGap {
        /// The WAL directory.
        dir: PathBuf,
        /// The first missing number.
        missing: u64,
    },
    /// An earlier write or fsync failed, so the log may hold a torn record that later records
    /// would follow: the engine refuses writes until it is restarted (and replay truncates).
    #[error("storage is read-only after a failed WAL write: {cause}; restart fedstore to recover")]
    Poisoned {
        /// The first failure.
        cause: String,
    },
    /// An I/O error on a WAL file.
    #[error("WAL {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl WalError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        WalError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

#[cfg(test)]
mod format_v1_tests;
#[cfg(test)]
mod tests;
