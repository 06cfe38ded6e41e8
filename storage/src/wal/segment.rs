//! WAL segments: names (`00000042`), the 8-byte header, listing a WAL directory, and the file
//! layer the writer goes through ([`WalFs`]), which tests replace to inject faults.
//!
//! Only the writer creates segments, and it creates exactly one at a time, so listing needs no
//! lock; readers open segments with plain `std::fs`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{CorruptionReason, WalError};

/// Magic bytes at the start of every segment.
pub(crate) const SEGMENT_MAGIC: [u8; 4] = *b"FSWL";
/// Format version written in every segment header (docs/format/wal.md): 2 since samples
/// records have the version 2 payload. An older build refuses such a segment (an unknown
/// version is an error, never a truncation) instead of cutting the log at the first record
/// type it does not know.
pub(crate) const SEGMENT_VERSION: u8 = 2;
/// Oldest segment format version this build reads: version 1 segments (samples records in
/// the version 1 payload only) replay as they are.
pub(crate) const OLDEST_SEGMENT_VERSION: u8 = 1;
/// Size of the segment header.
pub(crate) const SEGMENT_HEADER_BYTES: usize = 8;

/// The header every segment starts with.
pub(crate) fn segment_header() -> [u8; SEGMENT_HEADER_BYTES] {
    let mut h = [0u8; SEGMENT_HEADER_BYTES];
    h[..4].copy_from_slice(&SEGMENT_MAGIC);
    h[4] = SEGMENT_VERSION;
    h
}

/// Checks a segment header. A short one is a torn tail; a wrong magic is corruption; an unknown
/// version is its own error (the segment may be fine, just newer than this build).
pub(crate) fn check_header(buf: &[u8], segment: u64) -> Result<(), HeaderProblem> {
    let Some(h) = buf.get(..SEGMENT_HEADER_BYTES) else {
        return Err(HeaderProblem::Corrupt(CorruptionReason::TornFrame));
    };
    if h[..4] != SEGMENT_MAGIC || h[5..] != [0, 0, 0] {
        return Err(HeaderProblem::Corrupt(CorruptionReason::BadSegmentHeader));
    }
    if !(OLDEST_SEGMENT_VERSION..=SEGMENT_VERSION).contains(&h[4]) {
        return Err(HeaderProblem::Version(WalError::UnsupportedVersion {
            segment,
            version: h[4],
        }));
    }
    Ok(())
}

/// Why a segment header was refused.
#[derive(Debug)]
pub(crate) enum HeaderProblem {
    /// Torn or garbled: subject to the recovery policy.
    Corrupt(CorruptionReason),
    /// Readable but of another format version: never truncated.
    Version(WalError),
}

/// The file name of segment `n`.
pub(crate) fn segment_name(n: u64) -> String {
    format!("{n:08}")
}

/// The path of segment `n` in `dir`.
pub(crate) fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(segment_name(n))
}

/// The segment numbers in `dir`, ascending and contiguous. Files whose names are not all digits
/// are ignored (editors' and tools' leftovers); a gap is an error.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>, WalError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(WalError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() >= 8
            && name.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = name.parse::<u64>()
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    for w in out.windows(2) {
        if w[1] != w[0] + 1 {
            return Err(WalError::SegmentGap {
                dir: dir.to_owned(),
                missing: w[0] + 1,
            });
        }
    }
    Ok(out)
}

/// An open segment file the writer appends to.
pub(crate) trait SegmentFile: Send + Sync {
    /// Appends all of `buf` at the end of the file.
    fn append(&self, buf: &[u8]) -> std::io::Result<()>;
    /// Makes everything appended so far durable (fdatasync).
    fn sync(&self) -> std::io::Result<()>;
}

/// The file operations of the writer: the real file system, or a fault-injecting one in tests.
pub(crate) trait WalFs: Send + Sync {
    /// Creates (exclusively) a new empty segment file.
    fn create(&self, path: &Path) -> std::io::Result<Arc<dyn SegmentFile>>;
    /// Makes the directory entry of files created in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()>;
}

/// [`WalFs`] over `std::fs`.
#[derive(Debug, Default)]
pub(crate) struct StdFs;

impl SegmentFile for File {
    fn append(&self, buf: &[u8]) -> std::io::Result<()> {
        // `&File` implements `Write`; the file is opened in append mode.
        let mut f: &File = self;
        f.write_all(buf)
    }

    fn sync(&self) -> std::io::Result<()> {
        self.sync_data()
    }
}

impl WalFs for StdFs {
    fn create(&self, path: &Path) -> std::io::Result<Arc<dyn SegmentFile>> {
        let f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)?;
        Ok(Arc::new(f))
    }

    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// Truncates segment `path` to `len` bytes and makes the truncation durable.
pub(crate) fn truncate_segment(path: &Path, len: u64) -> Result<(), WalError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| WalError::io(path, e))?;
    f.set_len(len).map_err(|e| WalError::io(path, e))?;
    f.sync_all().map_err(|e| WalError::io(path, e))
}

/// Removes segment `path` and syncs its directory.
pub(crate) fn remove_segment(dir: &Path, path: &Path) -> Result<(), WalError> {
    std::fs::remove_file(path).map_err(|e| WalError::io(path, e))?;
    StdFs.sync_dir(dir).map_err(|e| WalError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_sorts_ignores_strangers_and_refuses_gaps() {
        let dir = tempfile::tempdir().unwrap();
        type Case<'a> = (&'a [&'a str], Result<Vec<u64>, ()>);
        let cases: [Case; 4] = [
            (&[], Ok(vec![])),
            (
                &["00000002", "00000001", "notes.txt", "0001"],
                Ok(vec![1, 2]),
            ),
            (&["00000003"], Ok(vec![1, 2, 3])),
            (&["00000005"], Err(())),
        ];
        for (files, want) in cases {
            for f in files {
                std::fs::write(dir.path().join(f), b"").unwrap();
            }
            let got = list_segments(dir.path()).map_err(|_| ());
            assert_eq!(got, want, "after adding {files:?}");
        }
    }

    #[test]
    fn headers() {
        let good = segment_header();
        assert!(check_header(&good, 0).is_ok());
        let mut v1 = good;
        v1[4] = 1;
        assert!(check_header(&v1, 0).is_ok(), "version 1 segments are read");
        for version in [0, 3] {
            let mut h = good;
            h[4] = version;
            assert!(
                matches!(
                    check_header(&h, 7),
                    Err(HeaderProblem::Version(WalError::UnsupportedVersion {
                        segment: 7,
                        version: v
                    })) if v == version
                ),
                "version {version}"
            );
        }
        let cases: [(&str, &[u8]); 3] = [
            ("short", &good[..3]),
            ("magic", b"FSWX\x01\0\0\0"),
            ("reserved", b"FSWL\x01\0\x01\0"),
        ];
        for (name, buf) in cases {
            assert!(
                matches!(check_header(buf, 0), Err(HeaderProblem::Corrupt(_))),
                "case {name}"
            );
        }
    }
}
