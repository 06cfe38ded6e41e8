//! Replay (rebuild the head from the WAL at open) and repair (cut the log at the first bad
//! record). Both walk the segments in order with [`walk`], which stops at the first bad record
//! and says where it is; the recovery policy decides what happens then.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::head::Head;
use crate::series::SeriesRef;

use super::record::{
    Decoder, Frame, RefSample, TYPE_SAMPLES, TYPE_SERIES, decode_samples, decode_series, read_frame,
};
use super::segment::{
    HeaderProblem, SEGMENT_HEADER_BYTES, check_header, list_segments, remove_segment, segment_path,
    truncate_segment,
};
use super::{CorruptionReason, RecoveryPolicy, Wal, WalError, WalOptions};

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Segments read.
    pub segments: u64,
    /// Records applied.
    pub records: u64,
    /// Series records' entries read.
    pub series: u64,
    /// Samples read (stored or refused as the original commit refused them).
    pub samples: u64,
    /// Samples whose series record was missing (should be zero).
    pub unknown_ref_samples: u64,
    /// Where a torn tail was cut: `(segment, offset)`.
    pub truncated_at: Option<(u64, u64)>,
    /// Bytes dropped by that cut.
    pub truncated_bytes: u64,
    /// Wall time of the replay.
    pub elapsed: Duration,
}

/// What [`repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// The first bad record, `(segment, offset)`, if there was one.
    pub cut_at: Option<(u64, u64)>,
    /// Why it was bad.
    pub reason: Option<CorruptionReason>,
    /// Bytes removed (the rest of that segment plus every later segment).
    pub bytes_dropped: u64,
    /// Later segments deleted.
    pub segments_removed: u64,
}

/// Cuts the WAL in `dir` (`<storage.tsdb.path>/wal`) at its first bad record: that segment is
/// truncated there and every later segment deleted, so the next start-up replays everything
/// before the damage. Everything after it is lost. Run it only on a stopped server.
pub fn repair(dir: &Path) -> Result<RepairReport, WalError> {
    let mut dec = Decoder::default();
    let mut scratch = Vec::new();
    let end = walk(dir, &mut |frame| {
        check_frame(&mut dec, &frame, &mut scratch).map_err(Stop::Corrupt)
    })
    .map_err(|e| match e {
        Stop::Fatal(Error::Wal(w)) => w,
        Stop::Fatal(other) => WalError::Io {
            path: dir.to_owned(),
            source: std::io::Error::other(other.to_string()),
        },
        Stop::Corrupt(_) => unreachable_corrupt(dir),
    })?;
    let mut report = RepairReport::default();
    let Some(bad) = end.bad else {
        return Ok(report);
    };
    report.cut_at = Some((bad.segment, bad.offset));
    report.reason = Some(bad.reason);
    report.bytes_dropped = bad.file_len - bad.offset;
    cut(dir, bad.segment, bad.offset)?;
    for &n in end.segments.iter().filter(|&&n| n > bad.segment) {
        let path = segment_path(dir, n);
        report.bytes_dropped += std::fs::metadata(&path).map_or(0, |m| m.len());
        remove_segment(dir, &path)?;
        report.segments_removed += 1;
    }
    tracing::warn!(
        segment = bad.segment,
        offset = bad.offset,
        bytes_dropped = report.bytes_dropped,
        segments_removed = report.segments_removed,
        "WAL repaired"
    );
    Ok(report)
}

/// `walk` only returns `Stop::Corrupt` from the callback, which `repair` maps itself.
fn unreachable_corrupt(dir: &Path) -> WalError {
    WalError::Io {
        path: dir.to_owned(),
        source: std::io::Error::other("internal: corruption escaped the WAL walk"),
    }
}

/// Replays the WAL of `opts` into `head` (which has no writer yet), cuts a torn tail per the
/// recovery policy, and starts the writer on a fresh segment.
pub(crate) fn open(head: &Head, opts: &WalOptions) -> Result<Wal, Error> {
    std::fs::create_dir_all(&opts.dir).map_err(|e| Error::io(&opts.dir, e))?;
    let stats = replay(head, opts)?;
    if stats.segments > 0 {
        tracing::info!(
            segments = stats.segments,
            series = stats.series,
            samples = stats.samples,
            elapsed_ms = stats.elapsed.as_millis() as u64,
            "WAL replayed"
        );
    }
    if stats.unknown_ref_samples > 0 {
        tracing::warn!(
            samples = stats.unknown_ref_samples,
            "WAL replay: samples of unknown series skipped"
        );
    }
    let next = list_segments(&opts.dir)?.last().map_or(0, |n| n + 1);
    Ok(Wal::create(opts, next)?)
}

/// Replays every record into `head`; see [`open`].
pub(crate) fn replay(head: &Head, opts: &WalOptions) -> Result<ReplayStats, Error> {
    let started = Instant::now();
    let mut ap = Applier::new(head);
    let end = walk(&opts.dir, &mut |frame| ap.apply(&frame)).map_err(|e| match e {
        Stop::Fatal(e) => e,
        Stop::Corrupt(_) => Error::Wal(unreachable_corrupt(&opts.dir)),
    })?;
    let mut stats = ap.stats;
    stats.segments = end.segments.len() as u64;
    if let Some(bad) = end.bad {
        let is_last = end.segments.last() == Some(&bad.segment);
        if !is_last || opts.recovery == RecoveryPolicy::AbsoluteConsistency {
            return Err(WalError::Corruption {
                segment: bad.segment,
                offset: bad.offset,
                source: bad.reason,
            }
            .into());
        }
        stats.truncated_at = Some((bad.segment, bad.offset));
        stats.truncated_bytes = bad.file_len - bad.offset;
        tracing::warn!(
            segment = bad.segment,
            offset = bad.offset,
            bytes_dropped = stats.truncated_bytes,
            reason = %bad.reason,
            "WAL: torn or corrupt tail (crash during a write?): truncated at the last good record"
        );
        cut(&opts.dir, bad.segment, bad.offset)?;
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// Truncates segment `n` at `offset`; a segment left without a whole header is removed (the
/// next start-up would otherwise meet an empty segment in the middle).
fn cut(dir: &Path, n: u64, offset: u64) -> Result<(), WalError> {
    let path = segment_path(dir, n);
    if offset < SEGMENT_HEADER_BYTES as u64 {
        remove_segment(dir, &path)
    } else {
        truncate_segment(&path, offset)
    }
}

/// Why a walk stopped early.
enum Stop {
    /// The record does not decode (the walk reports it as a bad record).
    Corrupt(CorruptionReason),
    /// Applying it failed for a reason that is not the log's fault.
    Fatal(Error),
}

/// The first bad record of a walk.
struct Bad {
    segment: u64,
    offset: u64,
    file_len: u64,
    reason: CorruptionReason,
}

/// How a walk ended.
struct WalkEnd {
    /// All segment numbers of the directory.
    segments: Vec<u64>,
    /// The first bad record, if any; the walk stopped there.
    bad: Option<Bad>,
}

/// Calls `f` on every frame of the WAL in `dir`, in order, until the first bad one.
fn walk(dir: &Path, f: &mut dyn FnMut(Frame<'_>) -> Result<(), Stop>) -> Result<WalkEnd, Stop> {
    let segments = list_segments(dir).map_err(|e| Stop::Fatal(e.into()))?;
    for &n in &segments {
        let path = segment_path(dir, n);
        let buf = std::fs::read(&path).map_err(|e| Stop::Fatal(WalError::io(&path, e).into()))?;
        let bad = |offset: usize, reason| {
            Ok(WalkEnd {
                segments: segments.clone(),
                bad: Some(Bad {
                    segment: n,
                    offset: offset as u64,
                    file_len: buf.len() as u64,
                    reason,
                }),
            })
        };
        match check_header(&buf, n) {
            Ok(()) => {}
            Err(HeaderProblem::Version(e)) => return Err(Stop::Fatal(e.into())),
            Err(HeaderProblem::Corrupt(reason)) => return bad(0, reason),
        }
        let mut off = SEGMENT_HEADER_BYTES;
        while off < buf.len() {
            match read_frame(&buf[off..]) {
                Ok((frame, size)) => match f(frame) {
                    Ok(()) => off += size,
                    Err(Stop::Corrupt(reason)) => return bad(off, reason),
                    Err(fatal) => return Err(fatal),
                },
                Err(reason) => return bad(off, reason),
            }
        }
    }
    Ok(WalkEnd {
        segments,
        bad: None,
    })
}

/// Decodes a frame without applying it (repair's check).
fn check_frame(
    dec: &mut Decoder,
    frame: &Frame<'_>,
    scratch: &mut Vec<RefSample>,
) -> Result<(), CorruptionReason> {
    let payload = dec.payload(frame)?;
    match frame.ty {
        TYPE_SERIES => decode_series(payload, |_, l| {
            l.validate()
                .map_err(|_| CorruptionReason::Decode("invalid label set"))
        }),
        TYPE_SAMPLES => decode_samples(payload, scratch),
        t => Err(CorruptionReason::UnknownType(t)),
    }
}

/// Applies records to the head: series records map the writer's refs to this head's refs,
/// samples records become one commit each (so refusals repeat the original commit's).
struct Applier<'h> {
    head: &'h Head,
    /// Writer ref -> head ref + 1 (0: unknown), for refs below `DENSE_REFS`.
    map: Vec<u32>,
    map_far: hashbrown::HashMap<u32, u32>,
    dec: Decoder,
    samples: Vec<RefSample>,
    stats: ReplayStats,
}

/// Writer refs below this are mapped through a vector.
const DENSE_REFS: u32 = 1 << 26;

impl<'h> Applier<'h> {
    fn new(head: &'h Head) -> Self {
        Applier {
            head,
            map: Vec::new(),
            map_far: hashbrown::HashMap::new(),
            dec: Decoder::default(),
            samples: Vec::new(),
            stats: ReplayStats::default(),
        }
    }

    fn apply(&mut self, frame: &Frame<'_>) -> Result<(), Stop> {
        let payload = self.dec.payload(frame).map_err(Stop::Corrupt)?;
        match frame.ty {
            TYPE_SERIES => {
                let mut app = self.head.appender();
                let (map, far, stats) = (&mut self.map, &mut self.map_far, &mut self.stats);
                let mut fatal = None;
                decode_series(payload, |r, labels| {
                    labels
                        .validate()
                        .map_err(|_| CorruptionReason::Decode("invalid label set"))?;
                    let new = match app.series_ref(&labels) {
                        Ok(new) => new,
                        Err(e) => {
                            fatal.get_or_insert(e);
                            return Ok(());
                        }
                    };
                    stats.series += 1;
                    if r < DENSE_REFS {
                        let i = r as usize;
                        if i >= map.len() {
                            map.resize((i + 1).next_power_of_two(), 0);
                        }
                        map[i] = new.0 + 1;
                    } else {
                        far.insert(r, new.0);
                    }
                    Ok(())
                })
                .map_err(Stop::Corrupt)?;
                app.rollback();
                if let Some(e) = fatal {
                    return Err(Stop::Fatal(e.into()));
                }
            }
            TYPE_SAMPLES => {
                decode_samples(payload, &mut self.samples).map_err(Stop::Corrupt)?;
                let mut app = self.head.appender();
                for s in &self.samples {
                    let new = if s.r < DENSE_REFS {
                        self.map.get(s.r as usize).and_then(|&m| m.checked_sub(1))
                    } else {
                        self.map_far.get(&s.r).copied()
                    };
                    let Some(new) = new else {
                        self.stats.unknown_ref_samples += 1;
                        continue;
                    };
                    if app.append_ref(SeriesRef(new), s.t, s.v).is_err() {
                        self.stats.unknown_ref_samples += 1;
                    }
                }
                self.stats.samples += self.samples.len() as u64;
                app.commit().map_err(Stop::Fatal)?;
            }
            t => return Err(Stop::Corrupt(CorruptionReason::UnknownType(t))),
        }
        self.stats.records += 1;
        Ok(())
    }
}
