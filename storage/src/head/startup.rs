//! How far [`crate::Head::open`] is: loading a head snapshot, then replaying the WAL. The
//! server reads it to answer `/-/ready` (503 until done) and to export the
//! `fedstore_head_replay_*` metrics while it starts, and replay logs it every few seconds.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Start-up phases, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StartupPhase {
    /// Not started yet.
    Starting = 0,
    /// Loading the head snapshot.
    Snapshot = 1,
    /// Replaying the WAL.
    Wal = 2,
    /// The head is open.
    Done = 3,
}

/// Counters of one start-up, shared with the server. All loads are relaxed: they are progress
/// figures, not synchronization (except [`StartupProgress::is_done`]).
#[derive(Debug)]
pub struct StartupProgress {
    started: Instant,
    phase: AtomicU8,
    snapshot_used: AtomicBool,
    series_loaded: AtomicU64,
    segments_total: AtomicU64,
    segments_done: AtomicU64,
    wal_bytes_total: AtomicU64,
    wal_bytes_done: AtomicU64,
    samples_replayed: AtomicU64,
    elapsed_ms: AtomicU64,
}

impl Default for StartupProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl StartupProgress {
    /// Progress of a start-up beginning now.
    pub fn new() -> Self {
        StartupProgress {
            started: Instant::now(),
            phase: AtomicU8::new(StartupPhase::Starting as u8),
            snapshot_used: AtomicBool::new(false),
            series_loaded: AtomicU64::new(0),
            segments_total: AtomicU64::new(0),
            segments_done: AtomicU64::new(0),
            wal_bytes_total: AtomicU64::new(0),
            wal_bytes_done: AtomicU64::new(0),
            samples_replayed: AtomicU64::new(0),
            elapsed_ms: AtomicU64::new(0),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> StartupPhase {
        match self.phase.load(Ordering::Acquire) {
            0 => StartupPhase::Starting,
            1 => StartupPhase::Snapshot,
            2 => StartupPhase::Wal,
            _ => StartupPhase::Done,
        }
    }

    /// Whether the head is open (every series back).
    pub fn is_done(&self) -> bool {
        self.phase() == StartupPhase::Done
    }

    /// Whether a head snapshot was loaded.
    pub fn snapshot_used(&self) -> bool {
        self.snapshot_used.load(Ordering::Relaxed)
    }

    /// Series restored from the snapshot.
    pub fn series_loaded(&self) -> u64 {
        self.series_loaded.load(Ordering::Relaxed)
    }

    /// WAL files (checkpoint and segments) to replay, and how many are done.
    pub fn segments(&self) -> (u64, u64) {
        (
            self.segments_done.load(Ordering::Relaxed),
            self.segments_total.load(Ordering::Relaxed),
        )
    }

    /// WAL bytes to replay, and how many are read.
    pub fn wal_bytes(&self) -> (u64, u64) {
        (
            self.wal_bytes_done.load(Ordering::Relaxed),
            self.wal_bytes_total.load(Ordering::Relaxed),
        )
    }

    /// Samples replayed from the WAL so far.
    pub fn samples_replayed(&self) -> u64 {
        self.samples_replayed.load(Ordering::Relaxed)
    }

    /// Time since start-up began, frozen once it is done.
    pub fn elapsed(&self) -> Duration {
        if self.is_done() {
            Duration::from_millis(self.elapsed_ms.load(Ordering::Relaxed))
        } else {
            self.started.elapsed()
        }
    }

    pub(crate) fn set_phase(&self, phase: StartupPhase) {
        if phase == StartupPhase::Done {
            self.elapsed_ms
                .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        self.phase.store(phase as u8, Ordering::Release);
    }

    pub(crate) fn set_snapshot_used(&self) {
        self.snapshot_used.store(true, Ordering::Relaxed);
    }

    pub(crate) fn add_series(&self, n: u64) {
        self.series_loaded.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set_wal_total(&self, segments: u64, bytes: u64) {
        self.segments_total.store(segments, Ordering::Relaxed);
        self.wal_bytes_total.store(bytes, Ordering::Relaxed);
    }

    pub(crate) fn add_wal_bytes(&self, n: u64) {
        self.wal_bytes_done.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn segment_done(&self) {
        self.segments_done.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_samples(&self, n: u64) {
        self.samples_replayed.fetch_add(n, Ordering::Relaxed);
    }

    /// Logs one progress line (replay calls it every few seconds).
    pub(crate) fn log(&self) {
        let (done, total) = self.wal_bytes();
        let (seg_done, seg_total) = self.segments();
        tracing::info!(
            phase = ?self.phase(),
            series_from_snapshot = self.series_loaded(),
            segments = format!("{seg_done}/{seg_total}"),
            wal_mib = format!("{}/{}", done >> 20, total >> 20),
            percent = format!("{:.0}", done as f64 * 100.0 / total.max(1) as f64),
            samples = self.samples_replayed(),
            elapsed_s = self.started.elapsed().as_secs(),
            "head start-up in progress"
        );
    }
}
