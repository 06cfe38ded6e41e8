//! The WAL writer: appends a commit's records to the current segment, rolls segments, and
//! makes commits durable per [`FsyncMode`] (group commit by default).
//!
//! Locks: `state` (the segment being written) is taken before `sync` (the group-commit
//! progress), never the other way round; the committer that runs an fsync holds neither.
//! `state` is held while the commit's `labels_of` callback reads head labels (symbol table,
//! then a shard), so it precedes every head lock (docs/storage.md, "Lock order").
//! Any failed write or fsync poisons the writer: the segment may now end in a torn record,
//! and appending after it would hide later records from replay.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::labels::Labels;

use super::record::Encoder;
use super::segment::{SEGMENT_HEADER_BYTES, SegmentFile, WalFs, segment_header, segment_path};
use super::{FsyncMode, WalError, WalOptions};

/// Counters of the WAL writer since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WalStats {
    /// Bytes appended to segments (headers included).
    pub bytes_written: u64,
    /// fsyncs run (group commits share one).
    pub fsyncs: u64,
    /// Total time spent in fsync.
    pub fsync_seconds: f64,
    /// Whether a failed write or fsync stopped the writer.
    pub poisoned: bool,
}

/// An open WAL writer (owned by the head).
pub(crate) struct Wal {
    shared: Arc<Shared>,
    syncer: Option<JoinHandle<()>>,
    /// Group mode: runs the fsyncs deferred commits wait for (see [`Wal::on_durable`]).
    notifier: Option<JoinHandle<()>>,
}

struct Shared {
    dir: PathBuf,
    fs: Arc<dyn WalFs>,
    segment_bytes: u64,
    fsync: FsyncMode,
    compress: bool,
    state: Mutex<WriteState>,
    sync: Mutex<SyncState>,
    /// Signalled when `sync.synced` advances, an fsync finishes or the writer is poisoned.
    synced: Condvar,
    poisoned: AtomicBool,
    /// The first failure, set once, before `poisoned`.
    poison_cause: Mutex<Option<String>>,
    /// Held while a checkpoint runs.
    checkpointing: Mutex<()>,
    /// Asks the interval syncer to stop.
    stop: Mutex<bool>,
    /// fsyncs run and their total time, for `/metrics`.
    fsyncs: std::sync::atomic::AtomicU64,
    fsync_nanos: std::sync::atomic::AtomicU64,
    stop_cv: Condvar,
}

/// The segment being written. Guarded by `Shared::state`.
struct WriteState {
    file: Arc<dyn SegmentFile>,
    segment: u64,
    /// Bytes in the current segment (header included).
    offset: u64,
    /// Bytes written since open, over all segments: the log sequence number of the end.
    written: u64,
    /// Bit `r` set: series ref `r` has been logged by this process.
    logged: Vec<u64>,
    /// Refs above this go to `logged_far` (a corrupt-looking huge ref must not allocate GiBs).
    logged_far: hashbrown::HashSet<u32>,
    encoder: Encoder,
    series_buf: Vec<u8>,
    new_series: Vec<(u32, Labels)>,
}

/// Group-commit progress. Guarded by `Shared::sync`.
struct SyncState {
    /// Every byte below this LSN is durable.
    synced: u64,
    /// A committer (or the notifier) is running an fsync.
    syncing: bool,
    /// Callers of [`Wal::on_durable`] not yet told, with the LSN each waits for.
    waiters: Vec<(u64, DurableCallback)>,
    /// The notifier finishes its waiters, then exits.
    stopping: bool,
}

/// Told once whether a deferred commit became durable (`Err` when the writer was poisoned
/// first). Runs on the notifier thread or the registering one: keep it short.
pub type DurableCallback = Box<dyn FnOnce(Result<(), WalError>) + Send>;

/// Refs below this are tracked in the `logged` bitmap (8 MiB at most).
const DENSE_REFS: u32 = 1 << 26;

thread_local! {
    /// Per-thread samples encoder: committers encode and compress outside the writer lock.
    static SAMPLES_ENCODER: RefCell<(Encoder, Vec<u8>)> = RefCell::new((Encoder::new(true), Vec::new()));
}

impl Wal {
    /// Creates segment `first_segment` in `opts.dir` and starts the writer.
    pub(crate) fn create(opts: &WalOptions, first_segment: u64) -> Result<Wal, WalError> {
        let (file, offset) = new_segment(opts.fs.as_ref(), &opts.dir, first_segment)?;
        let shared = Arc::new(Shared {
            dir: opts.dir.clone(),
            fs: opts.fs.clone(),
            segment_bytes: opts.segment_bytes,
            fsync: opts.fsync,
            compress: opts.compress,
            state: Mutex::new(WriteState {
                file,
                segment: first_segment,
                offset,
                written: 0,
                logged: Vec::new(),
                logged_far: hashbrown::HashSet::new(),
                encoder: Encoder::new(opts.compress),
                series_buf: Vec::new(),
                new_series: Vec::new(),
            }),
            sync: Mutex::new(SyncState {
                synced: 0,
                syncing: false,
                waiters: Vec::new(),
                stopping: false,
            }),
            synced: Condvar::new(),
            poisoned: AtomicBool::new(false),
            poison_cause: Mutex::new(None),
            checkpointing: Mutex::new(()),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
            fsyncs: std::sync::atomic::AtomicU64::new(0),
            fsync_nanos: std::sync::atomic::AtomicU64::new(0),
        });
        // Interval mode: a thread fsyncs every interval. Group mode: a thread runs the
        // fsyncs deferred commits wait for.
        let spawn = |name: &str, run: Box<dyn FnOnce(&Shared) + Send>| {
            let s = shared.clone();
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || run(&s))
                .map(Some)
                .map_err(|e| WalError::io(&opts.dir, e))
        };
        let (syncer, notifier) = match opts.fsync {
            FsyncMode::Interval { interval } => (
                spawn("wal-fsync", Box::new(move |s| s.interval_syncer(interval)))?,
                None,
            ),
            FsyncMode::Group { window } => (
                None,
                spawn("wal-durable", Box::new(move |s| s.notifier(window)))?,
            ),
            _ => (None, None),
        };
        Ok(Wal {
            shared,
            syncer,
            notifier,
        })
    }

    /// Logs one commit: a series record for the refs of `samples` not yet logged by this
    /// process (labels from `labels_of`), then the samples record; returns once they are
    /// durable per the fsync mode. Empty commits log nothing.
    pub(crate) fn log_commit(
        &self,
        samples: impl ExactSizeIterator<Item = (u32, i64, f64)> + Clone,
        labels_of: &dyn Fn(u32) -> Option<Labels>,
    ) -> Result<(), WalError> {
        match self.log_commit_deferred(samples, labels_of)? {
            0 => Ok(()),
            lsn => self.shared.wait_durable(lsn),
        }
    }

    /// Logs one commit like [`Wal::log_commit`] but returns at once with the LSN to wait for
    /// (0 when nothing was logged); [`Wal::on_durable`] tells when it is durable.
    pub(crate) fn log_commit_deferred(
        &self,
        samples: impl ExactSizeIterator<Item = (u32, i64, f64)> + Clone,
        labels_of: &dyn Fn(u32) -> Option<Labels>,
    ) -> Result<u64, WalError> {
        if samples.len() == 0 {
            return Ok(0);
        }
        let sh = &*self.shared;
        sh.check_poison()?;
        SAMPLES_ENCODER.with_borrow_mut(|(enc, buf)| {
            buf.clear();
            enc.set_compress(sh.compress);
            enc.samples_frame(samples.clone(), buf);
            sh.write(samples.map(|s| s.0), labels_of, buf)
        })
    }

    /// Calls `done` once everything up to `lsn` is durable per the fsync mode, without
    /// holding the caller's thread: in group mode the notifier thread runs the fsync (shared
    /// with every commit written meanwhile) and calls `done`; otherwise `done` runs now.
    pub(crate) fn on_durable(&self, lsn: u64, done: DurableCallback) {
        let sh = &*self.shared;
        if self.notifier.is_none() {
            return done(sh.check_poison());
        }
        let mut s = sh.sync.lock();
        if let Err(e) = sh.check_poison() {
            drop(s);
            return done(Err(e));
        }
        if s.synced >= lsn {
            drop(s);
            return done(Ok(()));
        }
        s.waiters.push((lsn, done));
        // The notifier waits on the same condition as blocking committers.
        sh.synced.notify_all();
    }

    /// Starts a new segment unless the current one holds no record yet; returns the current
    /// segment's number. Every lower segment is then complete and fsynced.
    pub(crate) fn roll_now(&self) -> Result<u64, WalError> {
        let sh = &*self.shared;
        sh.check_poison()?;
        let mut st = sh.state.lock();
        if st.offset > SEGMENT_HEADER_BYTES as u64 {
            sh.roll(&mut st)?;
        }
        Ok(st.segment)
    }

    /// The WAL directory.
    /// What the writer did so far, for `/metrics`.
    pub(crate) fn stats(&self) -> WalStats {
        let sh = &*self.shared;
        WalStats {
            bytes_written: sh.state.lock().written,
            fsyncs: sh.fsyncs.load(Ordering::Relaxed),
            fsync_seconds: sh.fsync_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            poisoned: sh.poisoned.load(Ordering::Acquire),
        }
    }

    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.shared.dir
    }

    /// Whether this process has logged a series record for ref `r`. Checked under the writer
    /// lock, which also covers logging: a commit that logs `r` after this answered `false`
    /// writes `r`'s series record anew.
    pub(crate) fn is_logged(&self, r: u32) -> bool {
        let st = self.shared.state.lock();
        if r >= DENSE_REFS {
            return st.logged_far.contains(&r);
        }
        st.logged
            .get((r / 64) as usize)
            .is_some_and(|w| w & (1 << (r % 64)) != 0)
    }

    /// Poisons the writer as a failed write or fsync does: every later commit is refused
    /// with `cause` (tests of what callers do then).
    #[cfg(any(test, feature = "testutil"))]
    pub(crate) fn poison_for_test(&self, cause: &str) {
        let _ = self.shared.poison(cause.to_owned());
    }

    /// Serializes checkpoints.
    pub(crate) fn checkpoint_lock(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.shared.checkpointing.lock()
    }

    /// Fsyncs everything written so far (graceful shutdown). Poisons on failure.
    pub(crate) fn flush(&self) -> Result<(), WalError> {
        let sh = &*self.shared;
        sh.check_poison()?;
        let (file, lsn) = {
            let st = sh.state.lock();
            (st.file.clone(), st.written)
        };
        match sh.sync_file(file.as_ref()) {
            Ok(()) => {
                sh.advance_synced(lsn);
                Ok(())
            }
            Err(e) => Err(sh.poison(format!("fsync: {e}"))),
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        *self.shared.stop.lock() = true;
        self.shared.stop_cv.notify_all();
        if let Some(h) = self.syncer.take() {
            let _ = h.join();
        }
        self.shared.sync.lock().stopping = true;
        self.shared.synced.notify_all();
        if let Some(h) = self.notifier.take() {
            let _ = h.join();
        }
        if !self.shared.poisoned.load(Ordering::Acquire)
            && let Err(e) = self.flush()
        {
            tracing::error!(error = %e, "WAL: final fsync failed");
        }
    }
}

impl Shared {
    /// fsyncs `file`, counting the call and its time.
    fn sync_file(&self, file: &dyn SegmentFile) -> std::io::Result<()> {
        let started = std::time::Instant::now();
        let res = file.sync();
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.fsync_nanos.fetch_add(nanos, Ordering::Relaxed);
        res
    }

    fn check_poison(&self) -> Result<(), WalError> {
        if self.poisoned.load(Ordering::Acquire) {
            let cause = self
                .poison_cause
                .lock()
                .clone()
                .unwrap_or_else(|| "unknown".to_owned());
            return Err(WalError::Poisoned { cause });
        }
        Ok(())
    }

    /// Records the first failure and refuses all later writes; returns the error to report.
    ///
    /// The refusal is in place before anything is logged: on a full disk the log file may be
    /// unwritable too, and a logger that panics then (tracing-subscriber's internal-error
    /// `eprintln!`) must not leave the writer open behind a torn record.
    fn poison(&self, cause: String) -> WalError {
        let (first, cause) = {
            let mut c = self.poison_cause.lock();
            let first = c.is_none();
            if first {
                *c = Some(cause);
            }
            self.poisoned.store(true, Ordering::Release);
            (first, c.clone().unwrap_or_default())
        };
        self.synced.notify_all();
        if first {
            tracing::error!(%cause, "WAL write failed: refusing further writes until restart");
        }
        WalError::Poisoned { cause }
    }

    /// Appends the series record for unlogged `refs` and the encoded samples frame; returns
    /// the LSN after them.
    fn write(
        &self,
        refs: impl Iterator<Item = u32>,
        labels_of: &dyn Fn(u32) -> Option<Labels>,
        samples_frame: &[u8],
    ) -> Result<u64, WalError> {
        let mut guard = self.state.lock();
        // Checked again under the lock: a writer that failed meanwhile may have left a torn
        // record, which nothing may follow.
        self.check_poison()?;
        let st = &mut *guard;
        st.new_series.clear();
        for r in refs {
            if !st.mark_logged(r) {
                continue;
            }
            if let Some(l) = labels_of(r) {
                st.new_series.push((r, l));
            }
        }
        st.series_buf.clear();
        let (enc, new_series, series_buf) = (&mut st.encoder, &st.new_series, &mut st.series_buf);
        enc.series_frame(new_series, series_buf);
        let n = (st.series_buf.len() + samples_frame.len()) as u64;
        if st.offset > SEGMENT_HEADER_BYTES as u64 && st.offset + n > self.segment_bytes {
            self.roll(st)?;
        }
        let res = if st.series_buf.is_empty() {
            st.file.append(samples_frame)
        } else {
            st.file
                .append(&st.series_buf)
                .and_then(|()| st.file.append(samples_frame))
        };
        if let Err(e) = res {
            return Err(self.poison(format!(
                "write to {}: {e}",
                segment_path(&self.dir, st.segment).display()
            )));
        }
        st.offset += n;
        st.written += n;
        let lsn = st.written;
        if self.fsync == FsyncMode::Always {
            // Each commit its own fsync, under the lock: `always` trades throughput for the
            // simplest possible guarantee.
            if let Err(e) = self.sync_file(st.file.as_ref()) {
                return Err(self.poison(format!("fsync: {e}")));
            }
            drop(guard);
            self.advance_synced(lsn);
        }
        Ok(lsn)
    }

    /// Closes the current segment (fsynced, so everything before it is durable) and starts
    /// the next.
    fn roll(&self, st: &mut WriteState) -> Result<(), WalError> {
        if let Err(e) = self.sync_file(st.file.as_ref()) {
            return Err(self.poison(format!("fsync before segment roll: {e}")));
        }
        let n = st.segment + 1;
        let (file, offset) = match new_segment(self.fs.as_ref(), &self.dir, n) {
            Ok(f) => f,
            Err(e) => return Err(self.poison(e.to_string())),
        };
        st.file = file;
        st.segment = n;
        st.offset = offset;
        self.advance_synced(st.written);
        Ok(())
    }

    fn advance_synced(&self, lsn: u64) {
        let mut s = self.sync.lock();
        if lsn > s.synced {
            s.synced = lsn;
            self.synced.notify_all();
        }
    }

    /// Waits until `lsn` is durable per the fsync mode, running the group's fsync when no
    /// other committer is.
    fn wait_durable(&self, lsn: u64) -> Result<(), WalError> {
        let window = match self.fsync {
            FsyncMode::Group { window } => window,
            FsyncMode::Always | FsyncMode::Interval { .. } | FsyncMode::Never => return Ok(()),
        };
        let mut s = self.sync.lock();
        loop {
            if s.synced >= lsn {
                return Ok(());
            }
            self.check_poison()?;
            if s.syncing {
                self.synced.wait(&mut s);
                continue;
            }
            let res;
            (s, res) = self.group_fsync(s, window);
            res?;
        }
    }

    /// Runs one group fsync for the caller, which found `syncing` unset under `s`: marks it
    /// running, releases the lock for the fsync, and returns the lock with `synced` advanced
    /// and the other waiters woken.
    fn group_fsync<'a>(
        &'a self,
        mut s: parking_lot::MutexGuard<'a, SyncState>,
        window: Duration,
    ) -> (parking_lot::MutexGuard<'a, SyncState>, Result<(), WalError>) {
        s.syncing = true;
        drop(s);
        if !window.is_zero() {
            std::thread::sleep(window);
        }
        // Everything written up to now joins this fsync: commits that wrote while the
        // previous one ran are covered together.
        let (file, target) = {
            let st = self.state.lock();
            (st.file.clone(), st.written)
        };
        let res = self.sync_file(file.as_ref());
        let mut s = self.sync.lock();
        s.syncing = false;
        let res = match res {
            Ok(()) => {
                s.synced = s.synced.max(target);
                Ok(())
            }
            // Poisoned before the lock is released: after a failed fsync the kernel may have
            // dropped the dirty pages, so a later "successful" fsync proves nothing and no
            // waiter may become the next syncer and report success.
            Err(e) => Err(self.poison(format!("fsync: {e}"))),
        };
        self.synced.notify_all();
        (s, res)
    }

    /// The notifier thread (group mode): tells deferred commits when they are durable,
    /// running a group fsync for them when no committer is running one. Exits once asked to
    /// stop and every waiter is told.
    fn notifier(&self, window: Duration) {
        let mut s = self.sync.lock();
        loop {
            let poisoned = self.poisoned.load(Ordering::Acquire);
            let synced = s.synced;
            let ready: Vec<(u64, DurableCallback)> = if poisoned {
                std::mem::take(&mut s.waiters)
            } else {
                let (ready, waiting) = std::mem::take(&mut s.waiters)
                    .into_iter()
                    .partition(|(lsn, _)| *lsn <= synced);
                s.waiters = waiting;
                ready
            };
            if !ready.is_empty() {
                drop(s);
                for (_, done) in ready {
                    done(if poisoned {
                        self.check_poison()
                    } else {
                        Ok(())
                    });
                }
                s = self.sync.lock();
                continue;
            }
            if s.waiters.is_empty() && s.stopping {
                return;
            }
            if s.waiters.is_empty() || s.syncing {
                self.synced.wait(&mut s);
                continue;
            }
            // A failure poisons the writer; the waiters hear it at the top of the loop.
            (s, _) = self.group_fsync(s, window);
        }
    }

    fn interval_syncer(&self, interval: Duration) {
        let mut stop = self.stop.lock();
        while !*stop {
            self.stop_cv.wait_for(&mut stop, interval);
            if *stop || self.poisoned.load(Ordering::Acquire) {
                break;
            }
            let (file, lsn) = {
                let st = self.state.lock();
                (st.file.clone(), st.written)
            };
            if let Err(e) = self.sync_file(file.as_ref()) {
                self.poison(format!("fsync: {e}"));
                break;
            }
            self.advance_synced(lsn);
        }
    }
}

impl WriteState {
    /// Marks `r` logged; returns whether it was not before.
    fn mark_logged(&mut self, r: u32) -> bool {
        if r >= DENSE_REFS {
            return self.logged_far.insert(r);
        }
        let (w, b) = ((r / 64) as usize, r % 64);
        if w >= self.logged.len() {
            self.logged.resize((w + 1).next_power_of_two(), 0);
        }
        let was = self.logged[w] & (1 << b) != 0;
        self.logged[w] |= 1 << b;
        !was
    }
}

/// Creates segment `n` with its header and makes its directory entry durable.
fn new_segment(
    fs: &dyn WalFs,
    dir: &std::path::Path,
    n: u64,
) -> Result<(Arc<dyn SegmentFile>, u64), WalError> {
    let path = segment_path(dir, n);
    let file = fs.create(&path).map_err(|e| WalError::io(&path, e))?;
    file.append(&segment_header())
        .map_err(|e| WalError::io(&path, e))?;
    fs.sync_dir(dir).map_err(|e| WalError::io(dir, e))?;
    Ok((file, SEGMENT_HEADER_BYTES as u64))
}
