//! Replay (rebuild the head from the WAL at open) and repair (cut the log at the first bad
//! record). Both walk the segments in order with [`walk`], which stops at the first bad record
//! and says where it is; the recovery policy decides what happens then.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::head::{Head, StartupProgress};
use crate::labels::Labels;
use crate::series::SeriesRef;

use super::checkpoint::{checkpoint_path, list_checkpoints};
use super::record::{
    Decoder, Frame, RefSample, TYPE_SAMPLES, TYPE_SAMPLES_V1, TYPE_SERIES, decode_samples,
    decode_series, read_frame,
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
    /// Samples skipped as older than `WalOptions::replay_min_time_ms` (already in blocks).
    pub skipped_old_samples: u64,
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
    let end = walk(dir, None, &StartupProgress::new(), &mut |frame| {
        decode_frame(&mut dec, &frame, Vec::new())
            .map(drop)
            .map_err(Stop::Corrupt)
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
/// recovery policy, and starts the writer on a fresh segment. `resume`: the head was loaded
/// from a snapshot covering the segments below this one (see [`replay`]).
pub(crate) fn open(
    head: &Head,
    opts: &WalOptions,
    resume: Option<u64>,
    progress: &StartupProgress,
) -> Result<Wal, Error> {
    std::fs::create_dir_all(&opts.dir).map_err(|e| Error::io(&opts.dir, e))?;
    let stats = replay(head, opts, resume, progress)?;
    if stats.segments > 0 {
        tracing::info!(
            resumed_at_segment = resume,
            segments = stats.segments,
            series = stats.series,
            samples = stats.samples,
            skipped_old_samples = stats.skipped_old_samples,
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
///
/// With `resume`, the head came from a snapshot holding the effect of every record below
/// that segment: only the segments from it on are read (or a newer checkpoint and the
/// segments after it), and a sample whose ref has no series record in them names the
/// snapshot's series of that ref (refs are kept by snapshots). Records the snapshot already
/// holds may be read again: their samples are no-ops (identical or older than the latest).
///
/// Two threads: a reader walks the segments, checks, decompresses and decodes records, and
/// hands them over a bounded channel to this thread, which applies them to the head. A third
/// logs progress every few seconds.
pub(crate) fn replay(
    head: &Head,
    opts: &WalOptions,
    resume: Option<u64>,
    progress: &StartupProgress,
) -> Result<ReplayStats, Error> {
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Decoded>(REPLAY_QUEUE);
    // Sample buffers go back to the reader for reuse: a fresh megabyte-sized buffer per
    // record would be a fresh `mmap` (and its page faults) per record (src/alloc.rs).
    let (spare_tx, spare_rx) = std::sync::mpsc::sync_channel::<Vec<RefSample>>(REPLAY_QUEUE + 2);
    let dir = opts.dir.as_path();
    let (stop_log, stopped) = std::sync::mpsc::channel::<()>();
    let (walked, mut stats, fatal) = std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(PROGRESS_LOG_EVERY)
            {
                progress.log();
            }
        });
        let reader = scope.spawn(move || {
            let mut dec = Decoder::default();
            walk(dir, resume, progress, &mut |frame| {
                let spare = spare_rx.try_recv().unwrap_or_default();
                let d = decode_frame(&mut dec, &frame, spare).map_err(Stop::Corrupt)?;
                // A closed channel means the applier stopped on an error it reports itself.
                tx.send(d)
                    .map_err(|_| Stop::Fatal(Error::Wal(applier_gone(dir))))
            })
        });
        let mut ap = Applier::new(head, opts.replay_min_time_ms, resume.is_some(), progress);
        let mut fatal = None;
        for d in rx {
            if let Err(e) = ap.apply(d, &spare_tx) {
                fatal = Some(e);
                break;
            }
        }
        if fatal.is_none() {
            fatal = ap.finish().err();
        }
        let walked = reader.join();
        drop(stop_log);
        (walked, ap.stats, fatal)
    });
    if let Some(e) = fatal {
        return Err(e);
    }
    let end = match walked {
        Ok(Ok(end)) => end,
        Ok(Err(Stop::Fatal(e))) => return Err(e),
        Ok(Err(Stop::Corrupt(_))) => return Err(unreachable_corrupt(dir).into()),
        Err(_) => return Err(applier_gone(dir).into()),
    };
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
        cut(dir, bad.segment, bad.offset)?;
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// Decoded records the reader may run ahead of the applier.
const REPLAY_QUEUE: usize = 64;
/// How often a long replay logs its progress.
const PROGRESS_LOG_EVERY: Duration = Duration::from_secs(5);

/// The reader thread failed or its peer went away.
fn applier_gone(dir: &Path) -> WalError {
    WalError::Io {
        path: dir.to_owned(),
        source: std::io::Error::other("WAL replay: reader and applier lost each other"),
    }
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

/// Calls `f` on every frame of the WAL in `dir`, in order, until the first bad one: the
/// newest checkpoint first (damage there is always fatal: it was complete when renamed into
/// place), then the segments from the checkpoint's number on. With `from` (a snapshot's
/// segment), segments below it are skipped, and so is a checkpoint not newer than it.
fn walk(
    dir: &Path,
    from: Option<u64>,
    progress: &StartupProgress,
    f: &mut dyn FnMut(Frame<'_>) -> Result<(), Stop>,
) -> Result<WalkEnd, Stop> {
    let fatal = |e: WalError| Stop::Fatal(e.into());
    let checkpoint = list_checkpoints(dir)
        .map_err(fatal)?
        .last()
        .copied()
        .filter(|&c| from.is_none_or(|k| c > k));
    let first = checkpoint.unwrap_or(0).max(from.unwrap_or(0));
    let segments: Vec<u64> = list_segments(dir)
        .map_err(fatal)?
        .into_iter()
        .filter(|&n| n >= first)
        .collect();
    let file_len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let total = checkpoint.map_or(0, |c| file_len(&checkpoint_path(dir, c)))
        + segments
            .iter()
            .map(|&n| file_len(&segment_path(dir, n)))
            .sum::<u64>();
    progress.set_wal_total(
        segments.len() as u64 + u64::from(checkpoint.is_some()),
        total,
    );
    let mut f = |frame: Frame<'_>, size: usize| {
        progress.add_wal_bytes(size as u64);
        f(frame)
    };
    if let Some(c) = checkpoint {
        let path = checkpoint_path(dir, c);
        let buf = std::fs::read(&path).map_err(|e| fatal(WalError::io(&path, e)))?;
        if let Some((offset, source)) = walk_file(&buf, c, &mut f)? {
            return Err(fatal(WalError::CheckpointCorruption {
                checkpoint: c,
                offset,
                source,
            }));
        }
        progress.segment_done();
    }
    for &n in &segments {
        let path = segment_path(dir, n);
        let buf = std::fs::read(&path).map_err(|e| fatal(WalError::io(&path, e)))?;
        if let Some((offset, reason)) = walk_file(&buf, n, &mut f)? {
            return Ok(WalkEnd {
                bad: Some(Bad {
                    segment: n,
                    offset,
                    file_len: buf.len() as u64,
                    reason,
                }),
                segments,
            });
        }
        progress.segment_done();
    }
    Ok(WalkEnd {
        segments,
        bad: None,
    })
}

/// Calls `f` on every frame of one file (segment or checkpoint `n`); returns the offset of
/// the first bad frame and what is wrong with it.
fn walk_file(
    buf: &[u8],
    n: u64,
    f: &mut dyn FnMut(Frame<'_>, usize) -> Result<(), Stop>,
) -> Result<Option<(u64, CorruptionReason)>, Stop> {
    match check_header(buf, n) {
        Ok(()) => {}
        Err(HeaderProblem::Version(e)) => return Err(Stop::Fatal(e.into())),
        Err(HeaderProblem::Corrupt(reason)) => return Ok(Some((0, reason))),
    }
    let mut off = SEGMENT_HEADER_BYTES;
    while off < buf.len() {
        match read_frame(&buf[off..]) {
            Ok((frame, size)) => match f(frame, size) {
                Ok(()) => off += size,
                Err(Stop::Corrupt(reason)) => return Ok(Some((off as u64, reason))),
                Err(fatal) => return Err(fatal),
            },
            Err(reason) => return Ok(Some((off as u64, reason))),
        }
    }
    Ok(None)
}

/// A record, decoded and checked, ready to apply.
enum Decoded {
    /// Writer refs and valid label sets.
    Series(Vec<(u32, Labels)>),
    /// Samples in log order.
    Samples(Vec<RefSample>),
}

/// Decompresses and decodes a frame; invalid label sets count as corruption.
fn decode_frame(
    dec: &mut Decoder,
    frame: &Frame<'_>,
    mut spare: Vec<RefSample>,
) -> Result<Decoded, CorruptionReason> {
    let payload = dec.payload(frame)?;
    match frame.ty {
        TYPE_SERIES => {
            let mut v = Vec::new();
            decode_series(payload, |r, l| {
                l.validate()
                    .map_err(|_| CorruptionReason::Decode("invalid label set"))?;
                v.push((r, l));
                Ok(())
            })?;
            Ok(Decoded::Series(v))
        }
        TYPE_SAMPLES | TYPE_SAMPLES_V1 => {
            spare.clear();
            decode_samples(frame.ty, payload, &mut spare)?;
            Ok(Decoded::Samples(spare))
        }
        t => Err(CorruptionReason::UnknownType(t)),
    }
}

/// Applies records to the head: series records map the writer's refs to this head's refs;
/// samples are gathered into windows of up to [`REPLAY_WINDOW`] and each window is one commit.
///
/// Merging and reordering commits is safe because a sample's fate (stored, out of order,
/// duplicate) depends only on the earlier samples of its own series, and per-series order is
/// kept. Windows are reordered by ref block so that a block's few thousand series stay in
/// cache while their samples are applied; in log (time-major) order, every sample of a
/// million-series log would touch cold memory.
struct Applier<'h> {
    head: &'h Head,
    /// Writer ref -> head ref + 1 (0: unknown), for refs below `DENSE_REFS`.
    map: Vec<u32>,
    map_far: hashbrown::HashMap<u32, u32>,
    /// Samples (head refs) waiting for the next window commit, in log order.
    window: Vec<RefSample>,
    /// `window` grouped by ref block (reused).
    sorted: Vec<RefSample>,
    /// Per ref block: sample count, then start offset (reused).
    blocks: Vec<usize>,
    /// Samples older than this are skipped.
    min_t: i64,
    /// Resuming after a snapshot: a ref without a series record here is the head's own.
    refs_kept: bool,
    progress: &'h StartupProgress,
    stats: ReplayStats,
}

/// Writer refs below this are mapped through a vector.
const DENSE_REFS: u32 = 1 << 26;
/// Samples per replay commit (24 bytes each).
const REPLAY_WINDOW: usize = 4 << 20;
/// Refs per block of the window reordering: `2^12` series' latest columns and chunk tails fit
/// in a core's L2 cache.
const REF_BLOCK_BITS: u32 = 12;

impl<'h> Applier<'h> {
    fn new(head: &'h Head, min_t: i64, refs_kept: bool, progress: &'h StartupProgress) -> Self {
        Applier {
            min_t,
            refs_kept,
            progress,
            head,
            map: Vec::new(),
            map_far: hashbrown::HashMap::new(),
            window: Vec::new(),
            sorted: Vec::new(),
            blocks: Vec::new(),
            stats: ReplayStats::default(),
        }
    }

    /// Applies a record; its samples may wait for the window commit (see [`Applier::finish`]).
    fn apply(
        &mut self,
        d: Decoded,
        spare: &std::sync::mpsc::SyncSender<Vec<RefSample>>,
    ) -> Result<(), Error> {
        match d {
            Decoded::Series(series) => {
                let mut app = self.head.appender();
                for (r, labels) in &series {
                    let new = app.series_ref(labels)?;
                    self.stats.series += 1;
                    if *r < DENSE_REFS {
                        let i = *r as usize;
                        if i >= self.map.len() {
                            self.map.resize((i + 1).next_power_of_two(), 0);
                        }
                        self.map[i] = new.0 + 1;
                    } else {
                        self.map_far.insert(*r, new.0);
                    }
                }
                app.rollback();
            }
            Decoded::Samples(samples) => {
                for s in &samples {
                    if s.t < self.min_t {
                        self.stats.skipped_old_samples += 1;
                        continue;
                    }
                    let new = if s.r < DENSE_REFS {
                        self.map.get(s.r as usize).and_then(|&m| m.checked_sub(1))
                    } else {
                        self.map_far.get(&s.r).copied()
                    }
                    .or_else(|| {
                        (self.refs_kept && self.head.has_ref(SeriesRef(s.r))).then_some(s.r)
                    });
                    match new {
                        Some(r) => self.window.push(RefSample { r, ..*s }),
                        None => self.stats.unknown_ref_samples += 1,
                    }
                }
                self.stats.samples += samples.len() as u64;
                self.progress.add_samples(samples.len() as u64);
                // The reader may be done (or gone); then the buffer is just dropped.
                let _ = spare.try_send(samples);
                if self.window.len() >= REPLAY_WINDOW {
                    self.commit_window()?;
                }
            }
        }
        self.stats.records += 1;
        Ok(())
    }

    /// Commits the samples still waiting.
    fn finish(&mut self) -> Result<(), Error> {
        self.commit_window()
    }

    fn commit_window(&mut self) -> Result<(), Error> {
        if self.window.is_empty() {
            return Ok(());
        }
        // Stable counting sort by ref block.
        let nblocks = self
            .window
            .iter()
            .map(|s| s.r >> REF_BLOCK_BITS)
            .max()
            .unwrap_or(0) as usize
            + 1;
        self.blocks.clear();
        self.blocks.resize(nblocks, 0);
        for s in &self.window {
            self.blocks[(s.r >> REF_BLOCK_BITS) as usize] += 1;
        }
        let mut start = 0;
        for b in &mut self.blocks {
            let n = *b;
            *b = start;
            start += n;
        }
        self.sorted.clear();
        self.sorted
            .resize(self.window.len(), RefSample { r: 0, t: 0, v: 0.0 });
        for s in &self.window {
            let slot = &mut self.blocks[(s.r >> REF_BLOCK_BITS) as usize];
            self.sorted[*slot] = *s;
            *slot += 1;
        }
        self.window.clear();
        // Two commits in parallel, on the even and the odd shards (a ref's shard is its low
        // bits): they take disjoint shard locks, and series order within a shard is kept.
        let (head, sorted) = (self.head, &self.sorted);
        let (even, odd) = std::thread::scope(|scope| {
            let odd = scope.spawn(|| apply_part(head, sorted, 1));
            (apply_part(head, sorted, 0), odd.join())
        });
        let odd = odd.map_err(|_| applier_gone(Path::new("<replay>")))?;
        self.stats.unknown_ref_samples += even? + odd?;
        Ok(())
    }
}

/// Appends and commits the samples of `samples` whose ref has low bit `parity`; returns how
/// many were refused as unknown refs.
fn apply_part(head: &Head, samples: &[RefSample], parity: u32) -> Result<u64, Error> {
    let mut app = head.appender();
    let mut unknown = 0;
    for s in samples.iter().filter(|s| s.r & 1 == parity) {
        if app.append_ref(SeriesRef(s.r), s.t, s.v).is_err() {
            unknown += 1;
        }
    }
    app.commit()?;
    Ok(unknown)
}
