//! WAL tests: replay round trips, torn and corrupt tails, repair, poisoning, and crash images
//! from a fault-injecting file layer that drops what was never fsynced (redb `CrashBackend`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::segment::{SegmentFile, WalFs};
use super::*;
use crate::STALE_NAN_BITS;
use crate::head::{Head, HeadOptions};
use crate::matcher::{MatchOp, Matcher};
use crate::testutil::must_labels;

fn opts_in(root: &Path) -> WalOptions {
    WalOptions::new(root.join("wal"))
}

fn open(root: &Path, wal: WalOptions) -> Result<Head, crate::Error> {
    Head::open(
        &root.join("head"),
        HeadOptions {
            shards: 4,
            wal: Some(wal),
            ..HeadOptions::default()
        },
    )
}

/// Every sample of every series named `name`, keyed by `job` label: `(t, value bits)`.
fn dump(head: &Head, name: &str) -> BTreeMap<String, Vec<(i64, u64)>> {
    let m = Matcher::new(MatchOp::Equal, "__name__", name).unwrap();
    let sel = head.select(&[vec![m]]);
    let mut out = BTreeMap::new();
    for r in sel.refs {
        let labels = head.series_labels(r).unwrap();
        let mut v = Vec::new();
        head.samples(r, i64::MIN, i64::MAX, &mut v);
        out.insert(
            labels.get("job").to_owned(),
            v.into_iter().map(|(t, v)| (t, v.to_bits())).collect(),
        );
    }
    out
}

fn append(head: &Head, job: &str, t: i64, v: f64) -> Result<crate::AppendStats, crate::Error> {
    let mut app = head.appender();
    app.append(&must_labels(&[("__name__", "m"), ("job", job)]), t, v)
        .unwrap();
    app.commit()
}

#[test]
fn replay_rebuilds_series_samples_and_stale_markers() {
    for compress in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let stale = f64::from_bits(STALE_NAN_BITS);
        let mut want = {
            let h = open(dir.path(), opts_in(dir.path()).with_compression(compress)).unwrap();
            for i in 0..50 {
                append(&h, &format!("j{}", i % 5), 1000 + i, i as f64).unwrap();
            }
            append(&h, "j0", 5000, stale).unwrap();
            // Refused the same way on replay: out of order, duplicate.
            let st = append(&h, "j1", 10, 1.0).unwrap();
            assert_eq!(st.out_of_order, 1);
            let st = append(&h, "j0", 5000, 7.0).unwrap();
            assert_eq!(st.duplicate, 1);
            // A rolled-back new series never reaches the log.
            let mut app = h.appender();
            app.append(&must_labels(&[("__name__", "m"), ("job", "gone")]), 1, 1.0)
                .unwrap();
            app.rollback();
            dump(&h, "m")
        };
        assert_eq!(want.len(), 5);
        assert_eq!(want["j0"].last(), Some(&(5000, STALE_NAN_BITS)));
        // Reopen twice: the second replay also reads the first reopen's segment.
        for round in 0..2 {
            let h = open(dir.path(), opts_in(dir.path())).unwrap();
            assert_eq!(dump(&h, "m"), want, "compress {compress} round {round}");
            assert_eq!(h.num_series(), 5);
            // New appends after a replay land on the re-logged series.
            append(&h, "j2", 100_000 + round, 1.5).unwrap();
            want.get_mut("j2")
                .unwrap()
                .push((100_000 + round, 1.5f64.to_bits()));
            assert_eq!(dump(&h, "m"), want);
        }
    }
}

#[test]
fn replay_skips_samples_before_the_min_time() {
    let dir = tempfile::tempdir().unwrap();
    {
        let h = open(dir.path(), opts_in(dir.path())).unwrap();
        for t in [10, 20, 30, 40] {
            append(&h, "a", t, t as f64).unwrap();
        }
        append(&h, "old", 5, 1.0).unwrap();
    }
    let h = open(dir.path(), opts_in(dir.path()).with_replay_min_time(30)).unwrap();
    let d = dump(&h, "m");
    let got: Vec<i64> = d["a"].iter().map(|s| s.0).collect();
    assert_eq!(got, [30, 40]);
    assert!(
        !d.contains_key("old"),
        "a series with only old samples stays invisible"
    );
}

#[test]
fn checkpoint_drops_old_samples_keeps_series_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let opts = opts_in(dir.path())
        .with_segment_bytes(64 << 10)
        .with_compression(false);
    let wal = opts.dir.clone();
    {
        let h = open(dir.path(), opts.clone()).unwrap();
        for t in 0..3000 {
            append(&h, &format!("j{}", t % 50), t, t as f64).unwrap();
        }
        let segs_before = super::segment::list_segments(&wal).unwrap();
        assert!(segs_before.len() > 1, "{segs_before:?}");
        let st = h.checkpoint_wal(2000).unwrap().unwrap();
        assert_eq!(st.samples_kept, 1000);
        assert_eq!(st.samples_dropped, 2000);
        // The current segment held records, so it was closed too: all of them are folded in.
        assert_eq!(st.segments_removed, segs_before.len() as u64);
        assert_eq!(
            super::segment::list_segments(&wal).unwrap(),
            [*segs_before.last().unwrap() + 1]
        );
        // Series logged before the checkpoint are not logged again: their records must be in it.
        for t in 3000..3100 {
            append(&h, &format!("j{}", t % 50), t, t as f64).unwrap();
        }
        // A second checkpoint folds the first one in.
        let st2 = h.checkpoint_wal(2500).unwrap().unwrap();
        assert!(st2.number > st.number);
        assert_eq!(st2.samples_kept, 600);
        assert_eq!(
            super::checkpoint::list_checkpoints(&wal).unwrap(),
            [st2.number]
        );
        for t in 3100..3200 {
            append(&h, &format!("j{}", t % 50), t, t as f64).unwrap();
        }
    }
    // A leftover temporary checkpoint (crash while writing one) is ignored.
    std::fs::write(wal.join("checkpoint.00000099.tmp"), b"junk").unwrap();
    let h = open(dir.path(), opts.clone()).unwrap();
    let d = dump(&h, "m");
    let mut ts: Vec<i64> = d.values().flatten().map(|s| s.0).collect();
    ts.sort_unstable();
    assert_eq!(ts, (2500..3200).collect::<Vec<_>>());
    drop(h);

    // A damaged checkpoint stops start-up: it was complete when written.
    let c = super::checkpoint::list_checkpoints(&wal).unwrap()[0];
    let path = super::checkpoint::checkpoint_path(&wal, c);
    let mut b = std::fs::read(&path).unwrap();
    let n = b.len();
    b[n - 3] ^= 1;
    std::fs::write(&path, &b).unwrap();
    let err = open(dir.path(), opts).unwrap_err();
    assert!(
        matches!(
            err,
            crate::Error::Wal(WalError::CheckpointCorruption { .. })
        ),
        "{err}"
    );
}

#[test]
fn segments_roll_and_replay_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let opts = opts_in(dir.path())
        .with_segment_bytes(64 << 10)
        .with_compression(false);
    {
        let h = open(dir.path(), opts.clone()).unwrap();
        let mut app = h.appender();
        for i in 0..40_000 {
            let l = must_labels(&[("__name__", "m"), ("job", &format!("j{}", i % 100))]);
            // Thirds: no short decimal, so every value takes its 8 bytes.
            app.append(&l, i, i as f64 / 3.0).unwrap();
            if i % 1000 == 999 {
                app.commit().unwrap();
                app = h.appender();
            }
        }
        app.commit().unwrap();
    }
    let segs = super::segment::list_segments(&opts.dir).unwrap();
    assert!(segs.len() >= 5, "{segs:?}");
    let h = open(dir.path(), opts).unwrap();
    let d = dump(&h, "m");
    assert_eq!(d.len(), 100);
    assert!(d.values().all(|v| v.len() == 400));
    assert_eq!(h.num_samples(), 40_000);
}

/// The last segment's bytes after one commit per job, and the segment's path.
fn one_segment_wal(root: &Path, commits: usize) -> PathBuf {
    let h = open(root, opts_in(root)).unwrap();
    for i in 0..commits {
        append(&h, &format!("j{i}"), 1000, i as f64).unwrap();
    }
    drop(h);
    let segs = super::segment::list_segments(&root.join("wal")).unwrap();
    super::segment::segment_path(&root.join("wal"), *segs.last().unwrap())
}

#[test]
fn torn_or_corrupt_tail_is_truncated_with_every_earlier_commit_kept() {
    // Cut or damage the segment at every byte of its last commit, then reopen repeatedly
    // (fjall `journal_truncation_corrupt_bytes`).
    let dir = tempfile::tempdir().unwrap();
    let seg = one_segment_wal(dir.path(), 4);
    let whole = std::fs::read(&seg).unwrap();
    let dir3 = tempfile::tempdir().unwrap();
    let seg3 = one_segment_wal(dir3.path(), 3);
    let three = std::fs::read(&seg3).unwrap();
    assert!(whole.starts_with(&three), "commits are appended in order");
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in three.len()..whole.len() {
        cases.push((format!("cut at {cut}"), whole[..cut].to_vec()));
    }
    for at in three.len()..whole.len() {
        let mut b = whole.clone();
        b[at] ^= 0x5a;
        cases.push((format!("flip at {at}"), b));
    }
    let mut garbage = whole.clone();
    garbage.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    cases.push(("garbage appended".to_owned(), garbage));
    let mut zeros = whole.clone();
    zeros.extend_from_slice(&[0; 4096]);
    cases.push(("zeros appended".to_owned(), zeros));

    for (name, bytes) in cases {
        let root = tempfile::tempdir().unwrap();
        let wal = root.path().join("wal");
        std::fs::create_dir_all(&wal).unwrap();
        std::fs::write(wal.join(seg.file_name().unwrap()), &bytes).unwrap();
        let h = open(root.path(), opts_in(root.path())).unwrap();
        let d = dump(&h, "m");
        let n = d.len();
        assert!(
            n == 3 || (n == 4 && bytes.len() > whole.len()),
            "case {name}: {n} series"
        );
        for i in 0..3 {
            assert_eq!(
                d[&format!("j{i}")],
                vec![(1000, (i as f64).to_bits())],
                "case {name}"
            );
        }
        drop(h);
        // The cut is durable: a second open finds a clean log.
        let h = open(root.path(), opts_in(root.path())).unwrap();
        assert_eq!(dump(&h, "m").len(), n, "case {name}, second open");
    }
}

/// A WAL of `commits` commits of 100 series x 5 samples (zstd frames), and its last segment.
fn compressed_wal(root: &Path, commits: usize) -> PathBuf {
    let h = open(root, opts_in(root)).unwrap();
    for c in 0..commits {
        let mut app = h.appender();
        for s in 0..100 {
            let l = must_labels(&[("__name__", "m"), ("job", &format!("j{s}"))]);
            for k in 0..5 {
                let t = (c * 5 + k) as i64 * 15_000;
                app.append(&l, t, ((s * 31 + c * 7 + k) % 1000) as f64 / 4.0)
                    .unwrap();
            }
        }
        app.commit().unwrap();
    }
    drop(h);
    let segs = super::segment::list_segments(&root.join("wal")).unwrap();
    super::segment::segment_path(&root.join("wal"), *segs.last().unwrap())
}

#[test]
fn a_torn_or_damaged_compressed_record_is_cut_like_any_torn_record() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(compressed_wal(dir.path(), 4)).unwrap();
    let dir3 = tempfile::tempdir().unwrap();
    let three = std::fs::read(compressed_wal(dir3.path(), 3)).unwrap();
    assert!(whole.starts_with(&three), "commits are appended in order");
    let ty = whole[three.len() + super::record::FRAME_HEADER_BYTES];
    assert_eq!(
        ty,
        0x80 | super::record::TYPE_SAMPLES,
        "the last commit is one compressed samples record"
    );
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for cut in (three.len()..whole.len()).step_by(7) {
        cases.push((format!("cut at {cut}"), whole[..cut].to_vec()));
    }
    for at in (three.len()..whole.len()).step_by(11) {
        let mut b = whole.clone();
        b[at] ^= 0x21;
        cases.push((format!("flip at {at}"), b));
    }
    for (name, bytes) in cases {
        let root = tempfile::tempdir().unwrap();
        let wal = root.path().join("wal");
        std::fs::create_dir_all(&wal).unwrap();
        let seg = super::segment::segment_path(&wal, 0);
        std::fs::write(&seg, &bytes).unwrap();
        let h = open(root.path(), opts_in(root.path())).unwrap();
        let d = dump(&h, "m");
        assert_eq!(d.len(), 100, "case {name}");
        assert!(
            d.values().all(|v| v.len() == 15),
            "case {name}: the first three commits, nothing of the fourth"
        );
        assert_eq!(
            std::fs::metadata(&seg).unwrap().len() as usize,
            three.len(),
            "case {name}: cut at the damaged record"
        );
    }
}

#[test]
fn corruption_before_the_last_segment_stops_open_and_repair_cuts_there() {
    let dir = tempfile::tempdir().unwrap();
    let first = one_segment_wal(dir.path(), 3);
    // A second process adds a segment.
    {
        let h = open(dir.path(), opts_in(dir.path())).unwrap();
        append(&h, "later", 2000, 1.0).unwrap();
    }
    let mut b = std::fs::read(&first).unwrap();
    let at = b.len() - 3;
    b[at] ^= 1;
    std::fs::write(&first, &b).unwrap();

    let err = open(dir.path(), opts_in(dir.path())).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            crate::Error::Wal(WalError::Corruption {
                segment: 0,
                source: CorruptionReason::ChecksumMismatch,
                ..
            })
        ),
        "{msg}"
    );
    assert!(msg.contains("segment 00000000 at offset"), "{msg}");

    // The strict policy refuses even a torn tail.
    let strict = opts_in(dir.path()).with_recovery(RecoveryPolicy::AbsoluteConsistency);
    assert!(open(dir.path(), strict).is_err());

    let report = repair(&dir.path().join("wal")).unwrap();
    let (seg, off) = report.cut_at.unwrap();
    assert_eq!(seg, 0);
    assert!(off < at as u64);
    assert_eq!(report.segments_removed, 1);
    let h = open(dir.path(), opts_in(dir.path())).unwrap();
    let d = dump(&h, "m");
    assert_eq!(d.keys().collect::<Vec<_>>(), ["j0", "j1"]);
    drop(h);
    // Nothing left to repair.
    assert_eq!(
        repair(&dir.path().join("wal")).unwrap(),
        RepairReport::default()
    );
}

#[test]
fn unknown_version_and_gaps_are_errors_not_truncations() {
    let dir = tempfile::tempdir().unwrap();
    let seg = one_segment_wal(dir.path(), 1);
    let mut b = std::fs::read(&seg).unwrap();
    b[4] = 9;
    std::fs::write(&seg, &b).unwrap();
    let err = open(dir.path(), opts_in(dir.path())).unwrap_err();
    assert!(
        matches!(
            err,
            crate::Error::Wal(WalError::UnsupportedVersion { version: 9, .. })
        ),
        "{err}"
    );
    assert_eq!(std::fs::read(&seg).unwrap(), b, "left untouched");

    let dir = tempfile::tempdir().unwrap();
    one_segment_wal(dir.path(), 1);
    let wal = dir.path().join("wal");
    std::fs::write(wal.join("00000005"), super::segment::segment_header()).unwrap();
    let err = open(dir.path(), opts_in(dir.path())).unwrap_err();
    assert!(
        matches!(err, crate::Error::Wal(WalError::SegmentGap { .. })),
        "{err}"
    );
}

#[test]
fn fsync_mode_parses() {
    let cases: [(&str, Option<FsyncMode>); 7] = [
        ("always", Some(FsyncMode::Always)),
        ("group", Some(FsyncMode::default())),
        ("never", Some(FsyncMode::Never)),
        (
            "100ms",
            Some(FsyncMode::Interval {
                interval: std::time::Duration::from_millis(100),
            }),
        ),
        (
            "2s",
            Some(FsyncMode::Interval {
                interval: std::time::Duration::from_secs(2),
            }),
        ),
        ("0s", None),
        ("sometimes", None),
    ];
    for (s, want) in cases {
        assert_eq!(s.parse::<FsyncMode>().ok(), want, "case {s}");
    }
}

// ---- fault injection ----

/// A callback run before every append (and segment creation).
type AppendHook = Box<dyn FnMut(&FaultFs) + Send>;

/// Acknowledged commits, each a list of `(job, t)`.
type Commits = Arc<Mutex<Vec<Vec<(String, i64)>>>>;

/// Faults shared by a [`FaultFs`] and its files.
#[derive(Default)]
struct Faults {
    /// Appends fail (after writing half their bytes) once this many bytes were appended.
    fail_writes_after: AtomicU64,
    /// Fsyncs fail.
    fail_sync: AtomicBool,
    /// Bytes appended so far.
    appended: AtomicU64,
    /// Called before every append: may take a crash image.
    on_append: Mutex<Option<AppendHook>>,
}

/// An in-memory file: everything appended, and how much of it an fsync made durable.
#[derive(Default)]
struct FaultFile {
    data: Mutex<Vec<u8>>,
    synced: AtomicU64,
    faults: Arc<Faults>,
}

impl SegmentFile for FaultFile {
    fn append(&self, buf: &[u8]) -> std::io::Result<()> {
        let f = &self.faults;
        let before = f.appended.fetch_add(buf.len() as u64, Ordering::SeqCst);
        if before + buf.len() as u64 > f.fail_writes_after.load(Ordering::SeqCst) {
            self.data.lock().extend_from_slice(&buf[..buf.len() / 2]);
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        self.data.lock().extend_from_slice(buf);
        Ok(())
    }

    fn sync(&self) -> std::io::Result<()> {
        if self.faults.fail_sync.load(Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(5)); // EIO
        }
        let len = self.data.lock().len() as u64;
        self.synced.fetch_max(len, Ordering::SeqCst);
        Ok(())
    }
}

/// A file system that keeps segments in memory and can produce the image a crash would leave.
struct FaultFs {
    /// Per path: the file and whether its directory entry was synced.
    files: Mutex<BTreeMap<PathBuf, (Arc<FaultFile>, bool)>>,
    faults: Arc<Faults>,
    me: std::sync::Weak<FaultFs>,
}

impl FaultFs {
    fn new() -> Arc<Self> {
        let faults = Faults::default();
        faults.fail_writes_after.store(u64::MAX, Ordering::SeqCst);
        Arc::new_cyclic(|me| FaultFs {
            files: Mutex::new(BTreeMap::new()),
            faults: Arc::new(faults),
            me: me.clone(),
        })
    }

    /// Writes what a crash now would leave into `dir`: per file the fsynced prefix plus
    /// `keep(unsynced_len)` bytes of the unsynced suffix; files whose directory entry was
    /// never synced are lost.
    fn crash_image(&self, dir: &Path, keep: &mut dyn FnMut(usize) -> usize) {
        std::fs::create_dir_all(dir).unwrap();
        for (path, (f, entry_synced)) in self.files.lock().iter() {
            if !entry_synced {
                continue;
            }
            let data = f.data.lock();
            let synced = f.synced.load(Ordering::SeqCst) as usize;
            let extra = keep(data.len() - synced).min(data.len() - synced);
            std::fs::write(dir.join(path.file_name().unwrap()), &data[..synced + extra]).unwrap();
        }
    }

    fn hook(&self) {
        if let Some(cb) = self.faults.on_append.lock().as_mut() {
            cb(self);
        }
    }
}

impl WalFs for FaultFs {
    fn create(&self, path: &Path) -> std::io::Result<Arc<dyn SegmentFile>> {
        self.hook();
        let f = Arc::new(FaultFile {
            faults: self.faults.clone(),
            ..FaultFile::default()
        });
        self.files
            .lock()
            .insert(path.to_owned(), (f.clone(), false));
        Ok(Arc::new(Hooked {
            f,
            fs: self.me.clone(),
        }))
    }

    fn sync_dir(&self, _dir: &Path) -> std::io::Result<()> {
        for (_, synced) in self.files.lock().values_mut() {
            *synced = true;
        }
        Ok(())
    }
}

/// A file that calls its file system's crash hook before each append.
struct Hooked {
    f: Arc<FaultFile>,
    fs: std::sync::Weak<FaultFs>,
}

impl SegmentFile for Hooked {
    fn append(&self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(fs) = self.fs.upgrade() {
            fs.hook();
        }
        self.f.append(buf)
    }

    fn sync(&self) -> std::io::Result<()> {
        self.f.sync()
    }
}

fn fault_opts(root: &Path, fs: &Arc<FaultFs>, fsync: FsyncMode) -> WalOptions {
    let mut o = opts_in(root).with_fsync(fsync);
    o.fs = fs.clone();
    o
}

/// A tiny deterministic generator (xorshift), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[test]
fn crash_keeps_every_acknowledged_commit_and_no_half_commit() {
    // Each round: commits of 1-3 samples over a few series; a crash image is taken right
    // before a random append (so mid-commit), keeping a random part of the unsynced bytes.
    for (round, fsync) in (0..24).zip([FsyncMode::Always, FsyncMode::default()].iter().cycle()) {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (round + 1));
        let live = tempfile::tempdir().unwrap();
        let crashed = tempfile::tempdir().unwrap();
        let fs = FaultFs::new();
        let acked: Commits = Arc::default();
        let crash_at = 1 + rng.below(120);
        let taken = Arc::new(AtomicBool::new(false));
        let snapshot_acked: Commits = Arc::default();
        {
            let (acked, taken, snap, wal) = (
                acked.clone(),
                taken.clone(),
                snapshot_acked.clone(),
                crashed.path().join("wal"),
            );
            let mut calls = 0;
            let mut keep_rng = Rng(rng.next() | 1);
            *fs.faults.on_append.lock() = Some(Box::new(move |fs: &FaultFs| {
                calls += 1;
                if calls == crash_at && !taken.swap(true, Ordering::SeqCst) {
                    *snap.lock() = acked.lock().clone();
                    fs.crash_image(&wal, &mut |n| keep_rng.below(n as u64 + 1) as usize);
                }
            }));
        }
        let h = open(live.path(), fault_opts(live.path(), &fs, *fsync)).unwrap();
        let mut t = 0;
        let mut attempted = Vec::new();
        for _ in 0..100 {
            let mut app = h.appender();
            let mut commit = Vec::new();
            for _ in 0..1 + rng.below(3) {
                t += 1;
                let job = format!("j{}", rng.below(6));
                app.append(
                    &must_labels(&[("__name__", "m"), ("job", &job)]),
                    t,
                    t as f64,
                )
                .unwrap();
                commit.push((job, t));
            }
            attempted.push(commit.clone());
            app.commit().unwrap();
            acked.lock().push(commit);
        }
        if !taken.swap(true, Ordering::SeqCst) {
            *snapshot_acked.lock() = acked.lock().clone();
            fs.crash_image(&crashed.path().join("wal"), &mut |_| 0);
        }
        drop(h);

        let h = open(crashed.path(), opts_in(crashed.path())).unwrap();
        let d = dump(&h, "m");
        let present = |job: &str, t: i64| d.get(job).is_some_and(|v| v.iter().any(|s| s.0 == t));
        let acked = snapshot_acked.lock().clone();
        for c in &acked {
            for (job, t) in c {
                assert!(present(job, *t), "round {round}: acked {job}@{t} lost");
            }
        }
        // The commit in flight at the crash is all or nothing; nothing later exists.
        let total: usize = d.values().map(Vec::len).sum();
        let acked_n: usize = acked.iter().map(Vec::len).sum();
        let in_flight = attempted.get(acked.len()).map_or(0, Vec::len);
        assert!(
            total == acked_n || total == acked_n + in_flight,
            "round {round}: {total} samples, {acked_n} acked, {in_flight} in flight"
        );
        if total > acked_n {
            for (job, t) in &attempted[acked.len()] {
                assert!(
                    present(job, *t),
                    "round {round}: half of the in-flight commit"
                );
            }
        }
    }
}

#[test]
fn failed_write_or_fsync_poisons_until_reopen() {
    for (name, fail_sync) in [("write", false), ("fsync", true)] {
        let dir = tempfile::tempdir().unwrap();
        let fs = FaultFs::new();
        let h = open(
            dir.path(),
            fault_opts(dir.path(), &fs, FsyncMode::default()),
        )
        .unwrap();
        append(&h, "a", 1, 1.0).unwrap();
        if fail_sync {
            fs.faults.fail_sync.store(true, Ordering::SeqCst);
        } else {
            fs.faults.fail_writes_after.store(0, Ordering::SeqCst);
        }
        let err = append(&h, "a", 2, 2.0).unwrap_err();
        assert!(
            matches!(err, crate::Error::Wal(WalError::Poisoned { .. })),
            "case {name}: {err}"
        );
        // The failed commit is not applied; healing the disk does not unpoison.
        fs.faults.fail_sync.store(false, Ordering::SeqCst);
        fs.faults
            .fail_writes_after
            .store(u64::MAX, Ordering::SeqCst);
        let err = append(&h, "a", 3, 3.0).unwrap_err();
        assert!(err.to_string().contains("restart"), "case {name}: {err}");
        assert_eq!(dump(&h, "m")["a"], vec![(1, 1f64.to_bits())], "case {name}");
        assert!(h.flush_wal().is_err(), "case {name}");
    }
}

#[test]
fn deferred_commits_are_acknowledged_only_once_durable() {
    // One thread commits without waiting; the notifier acknowledges. A crash image taken
    // before a random append must hold every commit acknowledged by then, and the commits it
    // holds are a prefix of those attempted (each whole: a torn tail is cut at replay).
    for round in 0..16u64 {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ (round + 1));
        let live = tempfile::tempdir().unwrap();
        let crashed = tempfile::tempdir().unwrap();
        let fs = FaultFs::new();
        let acked: Commits = Arc::default();
        let snapshot_acked: Commits = Arc::default();
        let crash_at = 1 + rng.below(100);
        let taken = Arc::new(AtomicBool::new(false));
        {
            let (acked, snap, wal, taken) = (
                acked.clone(),
                snapshot_acked.clone(),
                crashed.path().join("wal"),
                taken.clone(),
            );
            let mut calls = 0;
            let mut keep_rng = Rng(rng.next() | 1);
            *fs.faults.on_append.lock() = Some(Box::new(move |fs: &FaultFs| {
                calls += 1;
                if calls == crash_at {
                    taken.store(true, Ordering::SeqCst);
                    *snap.lock() = acked.lock().clone();
                    fs.crash_image(&wal, &mut |n| keep_rng.below(n as u64 + 1) as usize);
                }
            }));
        }
        let h = open(
            live.path(),
            fault_opts(live.path(), &fs, FsyncMode::default()),
        )
        .unwrap();
        let mut attempted = Vec::new();
        let (told_tx, told) = std::sync::mpsc::channel();
        for t in 1..=100i64 {
            let job = format!("j{}", rng.below(5));
            let mut app = h.appender();
            app.append(&must_labels(&[("__name__", "m"), ("job", &job)]), t, 1.0)
                .unwrap();
            let (stats, durable) = app.commit_deferred().unwrap();
            assert_eq!(stats.appended, 1);
            attempted.push(vec![(job.clone(), t)]);
            let (acked, told_tx) = (acked.clone(), told_tx.clone());
            h.on_durable(durable, move |r| {
                r.unwrap();
                acked.lock().push(vec![(job, t)]);
                told_tx.send(()).unwrap();
            });
        }
        for _ in 0..100 {
            told.recv_timeout(std::time::Duration::from_secs(10))
                .expect("every deferred commit is told");
        }
        drop(h);
        assert!(
            taken.load(Ordering::SeqCst),
            "round {round}: no crash image"
        );
        let h = open(crashed.path(), opts_in(crashed.path())).unwrap();
        let d = dump(&h, "m");
        let present = |job: &str, t: i64| d.get(job).is_some_and(|v| v.iter().any(|s| s.0 == t));
        for c in snapshot_acked.lock().iter() {
            for (job, t) in c {
                assert!(present(job, *t), "round {round}: acked {job}@{t} lost");
            }
        }
        let held = attempted
            .iter()
            .take_while(|c| c.iter().all(|(j, t)| present(j, *t)))
            .count();
        let total: usize = d.values().map(Vec::len).sum();
        assert_eq!(total, held, "round {round}: not a prefix of the commits");
    }
}

#[test]
fn deferred_commits_are_told_of_a_poisoned_writer_and_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let h = open(
        dir.path(),
        fault_opts(dir.path(), &fs, FsyncMode::default()),
    )
    .unwrap();
    let commit = |t: i64| {
        let mut app = h.appender();
        app.append(&must_labels(&[("__name__", "m"), ("job", "a")]), t, 1.0)
            .unwrap();
        app.commit_deferred().unwrap().1
    };
    // Nothing to wait for: told at once, on this thread.
    let told = Arc::new(Mutex::new(Vec::new()));
    let record = |told: &Arc<Mutex<Vec<Result<(), String>>>>| {
        let told = told.clone();
        move |r: Result<(), crate::Error>| told.lock().push(r.map_err(|e| e.to_string()))
    };
    h.on_durable(crate::Durable::default(), record(&told));
    assert_eq!(*told.lock(), vec![Ok(())]);
    // A failed fsync: the waiter hears the poisoning, not a success.
    fs.faults.fail_sync.store(true, Ordering::SeqCst);
    let d = commit(1);
    let (tx, rx) = std::sync::mpsc::channel();
    h.on_durable(d, move |r| tx.send(r.map_err(|e| e.to_string())).unwrap());
    let err = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap()
        .unwrap_err();
    assert!(err.contains("fsync"), "{err}");
    drop(h);

    // Closing the head tells a waiter registered just before (after its fsync).
    let dir = tempfile::tempdir().unwrap();
    let h = open(dir.path(), opts_in(dir.path())).unwrap();
    let told = Arc::new(Mutex::new(Vec::new()));
    for t in 1..=20 {
        let mut app = h.appender();
        app.append(&must_labels(&[("__name__", "m"), ("job", "a")]), t, 1.0)
            .unwrap();
        let d = app.commit_deferred().unwrap().1;
        h.on_durable(d, record(&told));
    }
    drop(h);
    assert_eq!(*told.lock(), vec![Ok(()); 20]);
}

#[test]
fn concurrent_group_commits_share_fsyncs_and_all_survive() {
    let dir = tempfile::tempdir().unwrap();
    let h = Arc::new(open(dir.path(), opts_in(dir.path())).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|k| {
            let h = h.clone();
            std::thread::spawn(move || {
                for t in 0..200 {
                    append(&h, &format!("t{k}"), t, t as f64).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(h);
    let h = open(dir.path(), opts_in(dir.path())).unwrap();
    let d = dump(&h, "m");
    assert_eq!(d.len(), 4);
    assert!(d.values().all(|v| v.len() == 200));
}

// ---- benchmarks (ignored; run in release) ----

/// A value for series `i` in scrape `round`: counters (integer steps) for most series, gauges
/// with fractions for every third, as node exporter exposes them.
fn bench_value(i: usize, round: usize) -> f64 {
    if i.is_multiple_of(3) {
        ((i * 31 + round * 7) % 1000) as f64 / 8.0
    } else {
        (round * (i % 97 + 1) * 1000) as f64
    }
}

/// Writes a WAL as 1000-series scrapes: `rounds` scrapes of every instance of `spec`.
fn bench_write_wal(opts: &WalOptions, labels: &[crate::Labels], rounds: usize) -> u64 {
    std::fs::create_dir_all(&opts.dir).unwrap();
    let wal = Wal::create(opts, 0).unwrap();
    for round in 0..rounds {
        let t = 1_700_000_000_000 + round as i64 * 15_000;
        for start in (0..labels.len()).step_by(1000) {
            let end = (start + 1000).min(labels.len());
            let samples = (start..end).map(|i| (i as u32, t, bench_value(i, round)));
            wal.log_commit(samples, &|r| Some(labels[r as usize].clone()))
                .unwrap();
        }
    }
    drop(wal);
    super::segment::list_segments(&opts.dir)
        .unwrap()
        .iter()
        .map(|&n| {
            std::fs::metadata(super::segment::segment_path(&opts.dir, n))
                .unwrap()
                .len()
        })
        .sum()
}

/// Replay speed target: 1M series x 120 samples in at most 15 s.
/// `FEDSTORE_BENCH_SERIES` (default 1000000) and `FEDSTORE_BENCH_ROUNDS` (default 120) scale it.
#[test]
#[ignore = "benchmark: cargo test --release -p fedstore-storage --lib wal::tests::bench_replay -- --ignored --nocapture"]
fn bench_replay() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("FEDSTORE_BENCH_SERIES", 1_000_000);
    let rounds = env("FEDSTORE_BENCH_ROUNDS", 120);
    let spec = crate::testutil::NodeSetSpec {
        instances: n.div_ceil(1000),
        metrics: 100,
        series_per_metric: 10,
        aggregated: 0,
    };
    let labels = spec.labels();
    let dir = tempfile::tempdir().unwrap();
    let opts = opts_in(dir.path()).with_fsync(FsyncMode::Never);
    let t0 = std::time::Instant::now();
    let bytes = bench_write_wal(&opts, &labels, rounds);
    let write = t0.elapsed();
    drop(labels);
    let cpu0 = process_cpu_seconds();
    let t0 = std::time::Instant::now();
    let h = Head::open(
        &dir.path().join("head"),
        HeadOptions {
            wal: Some(opts),
            ..HeadOptions::default()
        },
    )
    .unwrap();
    let replay = t0.elapsed();
    let cpu = process_cpu_seconds() - cpu0;
    println!(
        "wal bench: replay used {cpu:.2} s of CPU (user + system, both threads; wall time is \
         only meaningful on an idle machine)"
    );
    println!(
        "wal bench: {} series x {rounds} samples: wrote {:.1} MiB of WAL in {:.2?} ({:.2} B/sample); replay {:.2?} ({:.1} M samples/s)",
        spec.total(),
        bytes as f64 / (1 << 20) as f64,
        write,
        bytes as f64 / (spec.total() * rounds) as f64,
        replay,
        (spec.total() * rounds) as f64 / replay.as_secs_f64() / 1e6,
    );
    assert_eq!(h.num_series(), spec.total());
    assert_eq!(h.num_samples(), (spec.total() * rounds) as u64);
}

/// User plus system CPU time of this process so far, from `/proc/self/stat` (0 elsewhere).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<u64>() as f64 / 100.0
}

/// zstd (levels 1 and 3) against snappy on the WAL's own payloads (uncompressed frames of a
/// 100k-series, 10-scrape log): ratio and single-core speed.
#[test]
#[ignore = "benchmark: cargo test --release -p fedstore-storage --lib wal::tests::bench_compression -- --ignored --nocapture"]
fn bench_compression() {
    let spec = crate::testutil::NodeSetSpec {
        instances: 100,
        metrics: 100,
        series_per_metric: 10,
        aggregated: 0,
    };
    let labels = spec.labels();
    let dir = tempfile::tempdir().unwrap();
    let opts = opts_in(dir.path())
        .with_fsync(FsyncMode::Never)
        .with_compression(false);
    bench_write_wal(&opts, &labels, 10);
    let seg = std::fs::read(super::segment::segment_path(&opts.dir, 0)).unwrap();
    let mut payloads: Vec<(u8, &[u8])> = Vec::new();
    let mut off = super::segment::SEGMENT_HEADER_BYTES;
    while off < seg.len() {
        let (f, size) = super::record::read_frame(&seg[off..]).unwrap();
        payloads.push((f.ty, &seg[off + 13..off + size]));
        off += size;
    }
    for kind in [super::record::TYPE_SERIES, super::record::TYPE_SAMPLES] {
        let ps: Vec<&[u8]> = payloads
            .iter()
            .filter(|p| p.0 == kind)
            .map(|p| p.1)
            .collect();
        let raw: usize = ps.iter().map(|p| p.len()).sum();
        let mut zc1 = zstd::bulk::Compressor::new(1).unwrap();
        let mut zc3 = zstd::bulk::Compressor::new(3).unwrap();
        let mut sn = snap::raw::Encoder::new();
        let mut zd = zstd::bulk::Decompressor::new().unwrap();
        let mut sd = snap::raw::Decoder::new();
        type Codec<'a> = (&'a str, Box<dyn FnMut(&[u8]) -> Vec<u8> + 'a>);
        let codecs: Vec<Codec> = vec![
            ("zstd-1", Box::new(|p: &[u8]| zc1.compress(p).unwrap())),
            ("zstd-3", Box::new(|p: &[u8]| zc3.compress(p).unwrap())),
            ("snappy", Box::new(|p: &[u8]| sn.compress_vec(p).unwrap())),
        ];
        for (name, mut c) in codecs {
            let t0 = std::time::Instant::now();
            let out: Vec<Vec<u8>> = ps.iter().map(|p| c(p)).collect();
            let ct = t0.elapsed();
            let size: usize = out.iter().map(Vec::len).sum();
            let t0 = std::time::Instant::now();
            for (o, p) in out.iter().zip(&ps) {
                let d = if name == "snappy" {
                    sd.decompress_vec(o).unwrap()
                } else {
                    zd.decompress(o, p.len()).unwrap()
                };
                assert_eq!(d.len(), p.len());
            }
            let dt = t0.elapsed();
            println!(
                "{} {name}: ratio {:.2}, compress {:.0} MB/s, decompress {:.0} MB/s",
                if kind == 1 { "series " } else { "samples" },
                raw as f64 / size as f64,
                raw as f64 / ct.as_secs_f64() / 1e6,
                raw as f64 / dt.as_secs_f64() / 1e6,
            );
        }
    }
}

#[test]
fn interval_and_never_modes_do_not_wait_for_fsync() {
    let synced_and_len = |fs: &FaultFs| {
        let files = fs.files.lock();
        let (f, _) = files.values().last().unwrap();
        (f.synced.load(Ordering::SeqCst), f.data.lock().len() as u64)
    };
    // `never`: commits return with nothing fsynced.
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let h = open(dir.path(), fault_opts(dir.path(), &fs, FsyncMode::Never)).unwrap();
    append(&h, "a", 1, 1.0).unwrap();
    let (synced, len) = synced_and_len(&fs);
    assert!(synced < len, "never: {synced} of {len} synced");
    drop(h);

    // An interval: commits return at once, the background thread syncs soon after.
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::new();
    let mode = FsyncMode::Interval {
        interval: std::time::Duration::from_millis(5),
    };
    let h = open(dir.path(), fault_opts(dir.path(), &fs, mode)).unwrap();
    append(&h, "a", 1, 1.0).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (synced, len) = synced_and_len(&fs);
        if synced == len {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "interval: never synced"
        );
        std::thread::yield_now();
    }
    // A failed background fsync poisons like a committer's.
    fs.faults.fail_sync.store(true, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while append(&h, "a", 2, 2.0).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "interval: never poisoned"
        );
        std::thread::yield_now();
    }
    let err = append(&h, "a", 3, 3.0).unwrap_err();
    assert!(
        matches!(err, crate::Error::Wal(WalError::Poisoned { .. })),
        "{err}"
    );
}

/// Samples per segment, read with the public tail reader.
fn samples_per_segment(wal: &Path) -> BTreeMap<u64, u64> {
    let mut tail = tail::SegmentTail::default();
    let mut out = BTreeMap::new();
    for n in tail::segments(wal).unwrap() {
        let mut count = 0u64;
        tail.read(&tail::segment_file(wal, n), n, 0, true, &mut |r, _| {
            if let tail::WalRecord::Samples(s) = r {
                count += s.len() as u64;
            }
            true
        })
        .unwrap()
        .unwrap();
        out.insert(n, count);
    }
    out
}

#[test]
fn checkpoints_keep_held_segments_within_the_bound_and_count_what_they_drop() {
    let dir = tempfile::tempdir().unwrap();
    let opts = opts_in(dir.path())
        .with_segment_bytes(16 << 10)
        .with_compression(false);
    let wal = opts.dir.clone();
    let h = open(dir.path(), opts).unwrap();
    for t in 0..12_000 {
        append(&h, &format!("j{}", t % 50), t, t as f64).unwrap();
    }
    let before = samples_per_segment(&wal);
    assert!(before.len() > 4, "{before:?}");
    let held = *before.keys().nth(2).unwrap();
    let hold = h.wal_hold().clone();
    hold.set(
        "rw",
        tail::WalPosition {
            segment: held,
            offset: 0,
        },
    );

    // Within the bound: nothing from the held segment on is folded or deleted.
    let st = h.checkpoint_wal(2000).unwrap().unwrap();
    assert_eq!(st.number, held);
    assert_eq!(hold.dropped("rw"), 0);
    let after = samples_per_segment(&wal);
    for (n, c) in &before {
        if *n >= held {
            assert_eq!(after.get(n), Some(c), "segment {n} kept whole");
        } else {
            assert!(!after.contains_key(n), "segment {n} folded");
        }
    }
    // Held again by the same position: the next checkpoint has nothing to fold.
    let st = h.checkpoint_wal(2000).unwrap().unwrap();
    assert_eq!((st.number, st.segments_removed), (held, 0));

    // Past the bound: the checkpoint goes on and counts the samples the holder loses.
    hold.set_max_lag_segments(1);
    let lost: u64 = samples_per_segment(&wal)
        .iter()
        .filter(|(n, _)| **n >= held)
        .map(|(_, c)| c)
        .sum();
    assert!(lost > 0);
    let st = h.checkpoint_wal(2000).unwrap().unwrap();
    assert!(st.number > held);
    assert_eq!(hold.dropped("rw"), lost);
    assert!(
        tail::segments(&wal)
            .unwrap()
            .iter()
            .all(|&n| n >= st.number)
    );

    // A released holder holds nothing.
    hold.release("rw");
    append(&h, "j0", 5000, 1.0).unwrap();
    let st2 = h.checkpoint_wal(2000).unwrap().unwrap();
    assert!(st2.number > st.number);
}

#[test]
fn tail_reads_a_segment_being_written_up_to_its_last_complete_record() {
    let dir = tempfile::tempdir().unwrap();
    let opts = opts_in(dir.path()).with_compression(true);
    let wal = opts.dir.clone();
    let h = open(dir.path(), opts).unwrap();
    append(&h, "a", 1, 1.0).unwrap();
    append(&h, "b", 2, 2.0).unwrap();
    let n = *tail::segments(&wal).unwrap().last().unwrap();
    let path = tail::segment_file(&wal, n);
    let mut t = tail::SegmentTail::default();
    let mut seen = Vec::new();
    let end = t
        .read(&path, n, 0, false, &mut |r, _| {
            match r {
                tail::WalRecord::Series(s) => {
                    seen.extend(s.iter().map(|(r, l)| format!("{r}={}", l.get("job"))));
                }
                tail::WalRecord::Samples(s) => {
                    seen.extend(s.iter().map(|s| format!("{}@{}", s.series_ref, s.t)));
                }
            }
            true
        })
        .unwrap()
        .unwrap();
    assert_eq!(end, std::fs::metadata(&path).unwrap().len());
    assert_eq!(seen.len(), 4, "{seen:?}");
    // A half-written record at the end is not read yet, and is an error once sealed.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, &[9, 0, 0, 0, 1]).unwrap();
    let again = t.read(&path, n, end, false, &mut |_, _| true).unwrap();
    assert_eq!(again, Some(end));
    assert!(t.read(&path, n, end, true, &mut |_, _| true).is_err());
    assert_eq!(
        t.read(&wal.join("99999999"), 99_999_999, 0, true, &mut |_, _| true)
            .unwrap(),
        None
    );
}

/// A durabench value (`tools/src/dataset.rs`, `Dataset::value_of` with `--values synthetic`
/// and seed 42, written again here): counters growing at a fixed rate (integers, or hundredths
/// for every third), two-decimal sine-wave gauges (every other series).
fn synthetic_value(id: u64, t_ms: i64) -> f64 {
    let splitmix64 = |mut x: u64| {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    };
    let h = splitmix64(42 ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let elapsed_s = (t_ms - 1_767_225_600_000) as f64 / 1000.0;
    if id.is_multiple_of(2) {
        let base = (h % 100_000) as f64 / 10.0;
        let phase = ((h >> 40) % 628) as f64 / 100.0;
        let v = base * (1.0 + 0.1 * (elapsed_s / 300.0 + phase).sin());
        return (v * 100.0).round() / 100.0;
    }
    let base = (h % 1_000_000) as f64;
    let rate = ((h >> 20) % 1000 + 1) as f64 / 10.0;
    let v = (base + rate * elapsed_s).floor();
    if id.is_multiple_of(3) { v / 100.0 } else { v }
}

/// Sample records of three kinds, each a list of commits: node-exporter-like scrapes (1000
/// series of one instant per record, `bench_value`), durabench's remote write (series-major,
/// 120 samples of 500 series per record, `synthetic_value`), and values that are no short
/// decimal (thirds and square roots: every value takes the raw 8 bytes).
/// A named list of commits' samples.
type Workload = (&'static str, Vec<Vec<(u32, i64, f64)>>);

fn sample_workloads() -> Vec<Workload> {
    let t0 = 1_700_000_000_000i64;
    let scrape = (0..10)
        .flat_map(|round| {
            (0..100_000).step_by(1000).map(move |start| {
                (start..start + 1000)
                    .map(|i| (i as u32, t0 + round as i64 * 15_000, bench_value(i, round)))
                    .collect()
            })
        })
        .collect();
    let remote_write = (0..20_000u32)
        .step_by(500)
        .map(|start| {
            (start..start + 500)
                .flat_map(|s| {
                    (0..120).map(move |k| {
                        let t = t0 + k * 15_000;
                        (s, t, synthetic_value(u64::from(s), t))
                    })
                })
                .collect()
        })
        .collect();
    let noise = (0..200u32)
        .map(|c| {
            (0..1000u32)
                .map(|i| {
                    let x = f64::from(c * 1000 + i);
                    (i, t0 + i64::from(c) * 15_000, x / 3.0 + x.sqrt())
                })
                .collect()
        })
        .collect();
    vec![
        ("scrape (node-exporter-like)", scrape),
        ("remote write (durabench values)", remote_write),
        ("no short decimals", noise),
    ]
}

/// Samples records in payload version 1 (before format 2) against version 2, both zstd-1
/// framed as the writer does: bytes per sample, and single-thread encode (payload and zstd,
/// what a committer does) and decode (what the replay reader does) speed.
#[test]
#[ignore = "benchmark: cargo test --release -p fedstore-storage --lib wal::tests::bench_sample_encoding -- --ignored --nocapture"]
fn bench_sample_encoding() {
    use super::record::{Decoder, Encoder, decode_samples, read_frame};
    for (name, commits) in sample_workloads() {
        let n: usize = commits.iter().map(Vec::len).sum();
        for version in [1, 2] {
            // The payload alone, without zstd.
            let mut plain = Encoder::new(false);
            let mut frames = Vec::new();
            let mut payload_only = f64::MAX;
            for _ in 0..3 {
                frames.clear();
                let t = std::time::Instant::now();
                for c in &commits {
                    if version == 1 {
                        plain.samples_frame_v1(c, &mut frames);
                    } else {
                        plain.samples_frame(c.iter().copied(), &mut frames);
                    }
                }
                payload_only = payload_only.min(t.elapsed().as_secs_f64());
            }
            let raw_bytes = frames.len();
            let mut enc = Encoder::new(true);
            let mut frames = Vec::new();
            // Best of three: the machine is shared.
            let mut encode = f64::MAX;
            for _ in 0..3 {
                frames.clear();
                let t = std::time::Instant::now();
                for c in &commits {
                    if version == 1 {
                        enc.samples_frame_v1(c, &mut frames);
                    } else {
                        enc.samples_frame(c.iter().copied(), &mut frames);
                    }
                }
                encode = encode.min(t.elapsed().as_secs_f64());
            }
            let mut dec = Decoder::default();
            let mut out = Vec::new();
            let mut decode = f64::MAX;
            for _ in 0..3 {
                let t = std::time::Instant::now();
                let (mut off, mut got) = (0, 0);
                while off < frames.len() {
                    let (f, size) = read_frame(&frames[off..]).unwrap();
                    decode_samples(f.ty, dec.payload(&f).unwrap(), &mut out).unwrap();
                    got += out.len();
                    off += size;
                }
                assert_eq!(got, n);
                decode = decode.min(t.elapsed().as_secs_f64());
            }
            println!(
                "{name}, payload v{version}: {:.2} B/sample ({:.2} before zstd); encode {:.1} M samples/s ({:.1} before zstd), decode {:.1} M samples/s",
                frames.len() as f64 / n as f64,
                raw_bytes as f64 / n as f64,
                n as f64 / encode / 1e6,
                n as f64 / payload_only / 1e6,
                n as f64 / decode / 1e6,
            );
        }
    }
}
