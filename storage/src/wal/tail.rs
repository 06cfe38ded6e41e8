//! Reading the WAL while it is written, for consumers outside the head (the remote-write
//! sender), and the hold such a consumer puts on checkpoints so that segments it has not
//! finished are not deleted under it.
//!
//! A [`WalHold`] maps a consumer name to the lowest [`WalPosition`] it still needs. A
//! checkpoint folds and deletes only the segments below every holder's segment, except that a
//! holder lagging more than `max_lag_segments` behind the segment being written is overridden:
//! the checkpoint goes on as if it were not there and counts, for that holder, the samples of
//! the deleted segments at or after its position ([`WalHold::dropped`]). That bound is what
//! keeps a dead receiver from growing the WAL without limit (docs/architecture.md).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::checkpoint::{checkpoint_path, list_checkpoints};
use super::record::{
    Decoder, RefSample, TYPE_SERIES, decode_samples, decode_series, is_samples, read_frame,
};
use super::segment::{
    HeaderProblem, SEGMENT_HEADER_BYTES, check_header, list_segments, segment_path,
};
use super::{CorruptionReason, WalError};
use crate::labels::Labels;

/// A place in the WAL: a segment and a byte offset in it (0: before the header).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WalPosition {
    /// Segment number.
    pub segment: u64,
    /// Byte offset in the segment.
    pub offset: u64,
}

/// Default of [`WalHold`]'s bound: 16 segments (2 GiB at the default segment size).
pub const DEFAULT_MAX_LAG_SEGMENTS: u64 = 16;

/// The positions WAL consumers still need; checkpoints respect them within a bound.
#[derive(Debug)]
pub struct WalHold {
    holders: Mutex<HashMap<String, Holder>>,
    max_lag_segments: AtomicU64,
}

#[derive(Debug, Default)]
struct Holder {
    at: Option<WalPosition>,
    dropped: u64,
}

impl Default for WalHold {
    fn default() -> Self {
        WalHold::new(DEFAULT_MAX_LAG_SEGMENTS)
    }
}

impl WalHold {
    /// A hold with no holders; a holder more than `max_lag_segments` segments behind the
    /// segment being written stops holding.
    pub fn new(max_lag_segments: u64) -> WalHold {
        WalHold {
            holders: Mutex::new(HashMap::new()),
            max_lag_segments: AtomicU64::new(max_lag_segments),
        }
    }

    /// Changes the bound (`--storage.remote.max-wal-lag-segments`).
    pub fn set_max_lag_segments(&self, n: u64) {
        self.max_lag_segments.store(n, Ordering::Relaxed);
    }

    /// The bound in segments.
    pub fn max_lag_segments(&self) -> u64 {
        self.max_lag_segments.load(Ordering::Relaxed)
    }

    /// Records that `name` still needs everything from `at` on.
    pub fn set(&self, name: &str, at: WalPosition) {
        self.holders.lock().entry(name.to_owned()).or_default().at = Some(at);
    }

    /// `name` no longer holds anything (its counter is kept).
    pub fn release(&self, name: &str) {
        if let Some(h) = self.holders.lock().get_mut(name) {
            h.at = None;
        }
    }

    /// Samples that checkpoints deleted before `name` read them (it lagged past the bound).
    pub fn dropped(&self, name: &str) -> u64 {
        self.holders.lock().get(name).map_or(0, |h| h.dropped)
    }

    /// For a checkpoint that would fold the segments below `k`: the segment it may fold up to
    /// (exclusive) and the holders it overrides, with their positions.
    pub(crate) fn plan(&self, k: u64) -> (u64, Vec<(String, WalPosition)>) {
        let max_lag = self.max_lag_segments();
        let holders = self.holders.lock();
        let mut limit = k;
        for h in holders.values() {
            if let Some(at) = h.at
                && k.saturating_sub(at.segment) <= max_lag
            {
                limit = limit.min(at.segment);
            }
        }
        let overridden = holders
            .iter()
            .filter_map(|(name, h)| h.at.map(|at| (name.clone(), at)))
            .filter(|(_, at)| at.segment < limit)
            .collect();
        (limit, overridden)
    }

    /// Counts `n` samples deleted before `name` read them.
    pub(crate) fn add_dropped(&self, name: &str, n: u64) {
        self.holders
            .lock()
            .entry(name.to_owned())
            .or_default()
            .dropped += n;
    }
}

/// One sample of a samples record: the writing process's series ref, time (ms) and value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WalSample {
    /// The series ref, named by an earlier series record (of this or a checkpoint).
    pub series_ref: u32,
    /// Timestamp in ms.
    pub t: i64,
    /// Value.
    pub v: f64,
}

/// A decoded record handed to a [`SegmentTail::read`] callback.
#[derive(Debug)]
pub enum WalRecord<'a> {
    /// Series records: ref and labels.
    Series(&'a [(u32, Labels)]),
    /// Samples, in append order.
    Samples(&'a [WalSample]),
}

/// The segment numbers in the WAL directory `dir`, ascending.
pub fn segments(dir: &Path) -> Result<Vec<u64>, WalError> {
    list_segments(dir)
}

/// The numbers of the complete checkpoints in `dir`, ascending.
pub fn checkpoints(dir: &Path) -> Result<Vec<u64>, WalError> {
    list_checkpoints(dir)
}

/// The file of segment `n` in `dir`.
pub fn segment_file(dir: &Path, n: u64) -> PathBuf {
    segment_path(dir, n)
}

/// The file of checkpoint `n` in `dir`.
pub fn checkpoint_file(dir: &Path, n: u64) -> PathBuf {
    checkpoint_path(dir, n)
}

/// Reusable state for reading segments and checkpoints record by record.
#[derive(Default)]
pub struct SegmentTail {
    dec: Decoder,
    samples: Vec<RefSample>,
    out: Vec<WalSample>,
    series: Vec<(u32, Labels)>,
}

impl SegmentTail {
    /// Reads the complete records of the file `path` (segment or checkpoint number `n`) from
    /// byte `offset` on (0: from the start, checking the header), calling `f(record, end)`
    /// with the offset just after each record; `f` returning false stops the read there.
    /// Returns the offset after the last record read. An incomplete or zero-filled frame at
    /// the end is where the writer is (the read stops before it) unless `sealed` (nothing is
    /// written to the file any more), where it is corruption like any other bad frame. A
    /// file that does not exist is `Ok(None)`.
    pub fn read(
        &mut self,
        path: &Path,
        n: u64,
        offset: u64,
        sealed: bool,
        f: &mut dyn FnMut(WalRecord<'_>, u64) -> bool,
    ) -> Result<Option<u64>, WalError> {
        let data = match read_from(path, offset) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(WalError::io(path, e)),
        };
        let corrupt = |off: u64, source| WalError::Corruption {
            segment: n,
            offset: off,
            source,
        };
        let mut off = 0usize;
        if offset == 0 {
            match check_header(&data, n) {
                Ok(()) => off = SEGMENT_HEADER_BYTES,
                Err(HeaderProblem::Version(e)) => return Err(e),
                Err(HeaderProblem::Corrupt(_)) if !sealed && data.len() < SEGMENT_HEADER_BYTES => {
                    return Ok(Some(0));
                }
                Err(HeaderProblem::Corrupt(r)) => return Err(corrupt(0, r)),
            }
        }
        while off < data.len() {
            let at = offset + off as u64;
            let (frame, size) = match read_frame(&data[off..]) {
                Ok(x) => x,
                Err(CorruptionReason::TornFrame | CorruptionReason::ZeroFill) if !sealed => break,
                Err(r) => return Err(corrupt(at, r)),
            };
            let end = at + size as u64;
            let payload = self.dec.payload(&frame).map_err(|r| corrupt(at, r))?;
            let go_on = match frame.ty {
                TYPE_SERIES => {
                    self.series.clear();
                    let series = &mut self.series;
                    decode_series(payload, |r, l| {
                        series.push((r, l));
                        Ok(())
                    })
                    .map_err(|r| corrupt(at, r))?;
                    f(WalRecord::Series(&self.series), end)
                }
                ty if is_samples(ty) => {
                    decode_samples(ty, payload, &mut self.samples).map_err(|r| corrupt(at, r))?;
                    self.out.clear();
                    self.out.extend(self.samples.iter().map(|s| WalSample {
                        series_ref: s.r,
                        t: s.t,
                        v: s.v,
                    }));
                    f(WalRecord::Samples(&self.out), end)
                }
                // Record types of later versions: skipped, as replay does.
                _ => true,
            };
            off += size;
            if !go_on {
                break;
            }
        }
        Ok(Some(offset + off as u64))
    }
}

/// The bytes of `path` from `offset` to its end.
fn read_from(path: &Path, offset: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let mut buf = Vec::with_capacity(len.saturating_sub(offset) as usize);
    f.seek(SeekFrom::Start(offset))?;
    f.read_to_end(&mut buf)?;
    Ok(buf)
}
