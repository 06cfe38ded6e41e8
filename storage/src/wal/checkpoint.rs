//! Checkpoints: after the head dropped samples older than `min_t` (they are in blocks now),
//! the segments before the current one are folded into `checkpoint.NNNNNNNN` holding the
//! series records still needed and the samples at or after `min_t`, and then deleted
//! (Prometheus `wlog.Checkpoint`).
//!
//! A series record is dropped when the head says the series is gone: it has no sample in the
//! head (garbage-collected, or brought back by replay without samples) and this process has
//! not logged it. Such a series has no sample at or after `min_t` anywhere in the log (its
//! newest is older than the gc bound, which is at most `min_t`), and if a sample for it comes
//! later, its commit logs the series record again (the writer only skips series it logged).
//! So a restart no longer brings back garbage-collected series.
//!
//! Replay reads the newest checkpoint `N` first, then segments `N` and up. The checkpoint is
//! written to a `.tmp` file, fsynced and renamed before any segment is deleted, so a crash at
//! any point leaves either the old sources or the new checkpoint complete.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::record::{
    Decoder, Encoder, Frame, RefSample, TYPE_SERIES, decode_samples, decode_series, is_samples,
    read_frame,
};
use super::segment::{
    HeaderProblem, SEGMENT_HEADER_BYTES, StdFs, WalFs, check_header, list_segments, segment_header,
    segment_path,
};
use super::tail::{WalHold, WalPosition};
use super::{Wal, WalError};
use crate::labels::Labels;

/// File name prefix of checkpoints.
const CHECKPOINT_PREFIX: &str = "checkpoint.";

/// What a checkpoint did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// The checkpoint's number: replay continues with segment `number`.
    pub number: u64,
    /// Segments folded in and deleted.
    pub segments_removed: u64,
    /// Samples kept (at or after `min_t`).
    pub samples_kept: u64,
    /// Samples dropped (before `min_t`).
    pub samples_dropped: u64,
    /// Series records kept.
    pub series_kept: u64,
    /// Series records dropped (series the head no longer has).
    pub series_dropped: u64,
    /// Size of the checkpoint file.
    pub bytes: u64,
}

/// The path of checkpoint `n`.
pub(crate) fn checkpoint_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{n:08}"))
}

/// The numbers of the complete checkpoints in `dir`, ascending.
pub(crate) fn list_checkpoints(dir: &Path) -> Result<Vec<u64>, WalError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(WalError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(num) = name
            .to_str()
            .and_then(|n| n.strip_prefix(CHECKPOINT_PREFIX))
        else {
            continue;
        };
        if num.len() >= 8
            && num.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = num.parse()
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Folds every segment before the current one into a new checkpoint keeping samples at or
/// after `min_t_ms` and the series records `keep_series` wants (see the module doc), then
/// deletes what it replaces. Commits go on meanwhile.
///
/// Segments a [`WalHold`] holder still needs are left alone: the checkpoint then stops below
/// the lowest such segment (and takes its number), unless the holder lags past the hold's
/// bound, in which case the samples it loses are counted for it (wal/tail.rs).
pub(crate) fn checkpoint(
    wal: &Wal,
    min_t_ms: i64,
    keep_series: &dyn Fn(&Labels) -> bool,
    hold: &WalHold,
) -> Result<CheckpointStats, WalError> {
    let _one_at_a_time = wal.checkpoint_lock();
    let dir = wal.dir();
    let (k, overridden) = hold.plan(wal.roll_now()?);
    let previous = list_checkpoints(dir)?.last().copied();
    let first = previous.unwrap_or(0);
    if previous.is_some() && k <= first {
        // A holder still needs the segments after the newest checkpoint: nothing to fold.
        return Ok(CheckpointStats {
            number: first,
            ..CheckpointStats::default()
        });
    }
    let mut lost = vec![0u64; overridden.len()];
    let sources: Vec<(PathBuf, u64)> = previous
        .map(|p| (checkpoint_path(dir, p), p))
        .into_iter()
        .chain(
            list_segments(dir)?
                .into_iter()
                .filter(|&n| n >= first && n < k)
                .map(|n| (segment_path(dir, n), n)),
        )
        .collect();
    let mut stats = CheckpointStats {
        number: k,
        ..CheckpointStats::default()
    };
    if sources.is_empty() {
        return Ok(stats);
    }

    let tmp = dir.join(format!("{CHECKPOINT_PREFIX}{k:08}.tmp"));
    let mut out = File::create(&tmp).map_err(|e| WalError::io(&tmp, e))?;
    out.write_all(&segment_header())
        .map_err(|e| WalError::io(&tmp, e))?;
    let mut dec = Decoder::default();
    let mut enc = Encoder::new(true);
    let (mut samples, mut kept, mut buf) = (Vec::<RefSample>::new(), Vec::new(), Vec::new());
    let mut series = Vec::new();
    for (path, n) in &sources {
        let data = std::fs::read(path).map_err(|e| WalError::io(path, e))?;
        let corrupt = |offset: usize, source| WalError::Corruption {
            segment: *n,
            offset: offset as u64,
            source,
        };
        match check_header(&data, *n) {
            Ok(()) => {}
            Err(HeaderProblem::Version(e)) => return Err(e),
            Err(HeaderProblem::Corrupt(r)) => return Err(corrupt(0, r)),
        }
        let mut off = SEGMENT_HEADER_BYTES;
        while off < data.len() {
            let (frame, size) = read_frame(&data[off..]).map_err(|r| corrupt(off, r))?;
            let raw = &data[off..off + size];
            buf.clear();
            if frame.ty == TYPE_SERIES {
                filter_series(
                    &frame,
                    raw,
                    keep_series,
                    &mut dec,
                    &mut enc,
                    &mut series,
                    &mut buf,
                    &mut stats,
                )
            } else {
                filter_frame(
                    &frame,
                    raw,
                    min_t_ms,
                    &mut dec,
                    &mut enc,
                    &mut samples,
                    &mut kept,
                    &mut buf,
                    &mut stats,
                )
            }
            .map_err(|r| corrupt(off, r))?;
            if is_samples(frame.ty) && *path != checkpoint_path(dir, first) {
                let here = WalPosition {
                    segment: *n,
                    offset: off as u64,
                };
                for (l, (_, at)) in lost.iter_mut().zip(&overridden) {
                    if here >= *at {
                        *l += samples.len() as u64;
                    }
                }
            }
            out.write_all(&buf).map_err(|e| WalError::io(&tmp, e))?;
            off += size;
        }
    }
    out.sync_all().map_err(|e| WalError::io(&tmp, e))?;
    stats.bytes = out.metadata().map_or(0, |m| m.len());
    drop(out);
    let path = checkpoint_path(dir, k);
    std::fs::rename(&tmp, &path).map_err(|e| WalError::io(&path, e))?;
    StdFs.sync_dir(dir).map_err(|e| WalError::io(dir, e))?;

    // The checkpoint is durable: what it replaces can go.
    for n in list_segments(dir)?.into_iter().filter(|&n| n < k) {
        let p = segment_path(dir, n);
        std::fs::remove_file(&p).map_err(|e| WalError::io(&p, e))?;
        stats.segments_removed += 1;
    }
    for c in list_checkpoints(dir)?.into_iter().filter(|&c| c < k) {
        let p = checkpoint_path(dir, c);
        std::fs::remove_file(&p).map_err(|e| WalError::io(&p, e))?;
    }
    StdFs.sync_dir(dir).map_err(|e| WalError::io(dir, e))?;
    for (l, (name, at)) in lost.iter().zip(&overridden) {
        hold.add_dropped(name, *l);
        tracing::warn!(
            consumer = %name,
            segment = at.segment,
            samples_lost = l,
            max_lag_segments = hold.max_lag_segments(),
            "WAL checkpoint deleted segments a consumer had not read: it lagged past the bound"
        );
    }
    tracing::info!(
        checkpoint = k,
        segments_removed = stats.segments_removed,
        samples_kept = stats.samples_kept,
        samples_dropped = stats.samples_dropped,
        series_kept = stats.series_kept,
        series_dropped = stats.series_dropped,
        bytes = stats.bytes,
        "WAL checkpoint written"
    );
    Ok(stats)
}

/// Puts into `out` what the checkpoint keeps of a series frame: the series `keep` wants
/// (the frame as is when it wants them all).
#[allow(clippy::too_many_arguments)]
fn filter_series(
    frame: &Frame<'_>,
    raw: &[u8],
    keep: &dyn Fn(&Labels) -> bool,
    dec: &mut Decoder,
    enc: &mut Encoder,
    series: &mut Vec<(u32, Labels)>,
    out: &mut Vec<u8>,
    stats: &mut CheckpointStats,
) -> Result<(), super::CorruptionReason> {
    series.clear();
    let mut total = 0u64;
    decode_series(dec.payload(frame)?, |r, l| {
        total += 1;
        if keep(&l) {
            series.push((r, l));
        }
        Ok(())
    })?;
    stats.series_kept += series.len() as u64;
    stats.series_dropped += total - series.len() as u64;
    if series.len() as u64 == total {
        out.extend_from_slice(raw);
    } else {
        enc.series_frame(series, out);
    }
    Ok(())
}

/// Puts into `out` what the checkpoint keeps of a samples frame: the samples at or after
/// `min_t` (re-encoded only when some were dropped).
#[allow(clippy::too_many_arguments)]
fn filter_frame(
    frame: &Frame<'_>,
    raw: &[u8],
    min_t: i64,
    dec: &mut Decoder,
    enc: &mut Encoder,
    samples: &mut Vec<RefSample>,
    kept: &mut Vec<(u32, i64, f64)>,
    out: &mut Vec<u8>,
    stats: &mut CheckpointStats,
) -> Result<(), super::CorruptionReason> {
    if !is_samples(frame.ty) {
        out.extend_from_slice(raw);
        return Ok(());
    }
    decode_samples(frame.ty, dec.payload(frame)?, samples)?;
    kept.clear();
    kept.extend(
        samples
            .iter()
            .filter(|s| s.t >= min_t)
            .map(|s| (s.r, s.t, s.v)),
    );
    stats.samples_kept += kept.len() as u64;
    stats.samples_dropped += (samples.len() - kept.len()) as u64;
    if kept.len() == samples.len() {
        out.extend_from_slice(raw);
    } else {
        enc.samples_frame(kept.iter().copied(), out);
    }
    Ok(())
}
