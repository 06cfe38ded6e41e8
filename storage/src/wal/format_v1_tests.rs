//! Logs from before WAL segment format 2 still open: a data dir the previous build wrote
//! (`storage/testdata/datadir-v1`, made by `make_datadir_v1.py` with main at bbf79a4), and a
//! version 1 log written here frame by frame, each replayed alone and mixed with the version 2
//! segments written after it, through checkpoints and torn tails.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::record::Encoder;
use super::segment::{SEGMENT_MAGIC, segment_path};
use super::{FsyncMode, WalOptions};
use crate::STALE_NAN_BITS;
use crate::head::{Head, HeadOptions, StartupProgress};
use crate::matcher::{MatchOp, Matcher};
use crate::testutil::must_labels;

/// Every sample of every series, keyed by label set: `(t, value bits)`.
type Dump = BTreeMap<String, Vec<(i64, u64)>>;

fn open(root: &Path, shards: usize) -> (Head, Arc<StartupProgress>) {
    let progress = Arc::new(StartupProgress::new());
    let head = Head::open(
        &root.join("head"),
        HeadOptions {
            shards,
            wal: Some(WalOptions::new(root.join("wal")).with_fsync(FsyncMode::Never)),
            chunks_dir: Some(root.join("chunks_head")),
            progress: Some(progress.clone()),
            ..HeadOptions::default()
        },
    )
    .unwrap();
    (head, progress)
}

fn dump(head: &Head) -> Dump {
    let m = Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap();
    let mut out = BTreeMap::new();
    for r in head.select(&[vec![m]]).refs {
        let mut v = Vec::new();
        head.samples(r, i64::MIN, i64::MAX, &mut v);
        out.insert(
            format!("{:?}", head.series_labels(r).unwrap()),
            v.into_iter().map(|(t, v)| (t, v.to_bits())).collect(),
        );
    }
    out
}

/// Copies the files of `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The value `make_datadir_v1.py` imported for series `i`, sample `k`.
fn fixture_value(i: u64, k: u64) -> f64 {
    match i % 4 {
        0 => (1000 * i + 37 * k + (k * k) % 5) as f64,
        1 => ((i * 7919 + k * 104_729) % 100_000) as f64 / 100.0,
        2 => (i * 1000 + k) as f64 / 3.0,
        _ => (42 + k / 30) as f64,
    }
}

/// What `storage/testdata/datadir-v1` holds.
fn fixture_want() -> Dump {
    (0..20u64)
        .map(|i| {
            let labels = must_labels(&[("__name__", "wal_v1_fixture"), ("series", &i.to_string())]);
            let samples = (0..150u64)
                .map(|k| {
                    (
                        1_700_000_000_000 + k as i64 * 15_000,
                        fixture_value(i, k).to_bits(),
                    )
                })
                .collect();
            (format!("{labels:?}"), samples)
        })
        .collect()
}

fn segment_versions(wal: &Path) -> Vec<u8> {
    super::segment::list_segments(wal)
        .unwrap()
        .into_iter()
        .map(|n| {
            let b = std::fs::read(segment_path(wal, n)).unwrap();
            assert_eq!(b[..4], SEGMENT_MAGIC);
            b[4]
        })
        .collect()
}

#[test]
fn the_data_dir_of_the_build_before_format_2_opens_with_every_sample() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/datadir-v1");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture, dir.path());
    let wal = dir.path().join("wal");
    assert!(
        segment_versions(&wal).iter().all(|&v| v == 1),
        "the fixture is a version 1 log"
    );
    let mut want = fixture_want();
    // Its head snapshot points into version 1 chunk files, which this build does not reuse:
    // the whole (version 1) log is replayed instead.
    let (head, progress) = open(dir.path(), 8);
    assert!(!progress.snapshot_used());
    assert_eq!(progress.samples_replayed(), 20 * 150);
    assert_eq!(dump(&head), want);

    // New commits go to a version 2 segment after the old ones.
    let labels = must_labels(&[("__name__", "wal_v1_fixture"), ("series", "3")]);
    let mut app = head.appender();
    for k in 150..160 {
        let t = 1_700_000_000_000 + k * 15_000;
        app.append(&labels, t, k as f64 + 0.25).unwrap();
        want.get_mut(&format!("{labels:?}"))
            .unwrap()
            .push((t, (k as f64 + 0.25).to_bits()));
    }
    app.commit().unwrap();
    drop(head);
    let versions = segment_versions(&wal);
    assert_eq!(versions[..2], [1, 1]);
    assert!(versions[2..].iter().all(|&v| v == 2), "{versions:?}");

    // Versions 1 and 2 replayed together, without a snapshot.
    let (head, progress) = open(dir.path(), 8);
    assert!(!progress.snapshot_used());
    assert_eq!(dump(&head), want);
    // A checkpoint folds version 1 segments (copying their frames) with version 2 ones.
    let stats = head.checkpoint_wal(i64::MIN).unwrap().unwrap();
    assert!(stats.segments_removed >= 3, "{stats:?}");
    assert_eq!(stats.samples_kept, 20 * 150 + 10);
    drop(head);
    let (head, _) = open(dir.path(), 8);
    assert_eq!(dump(&head), want, "after the checkpoint");
    // And this build's own snapshot is used at the next start.
    head.write_snapshot().unwrap();
    drop(head);
    let (head, progress) = open(dir.path(), 8);
    assert!(progress.snapshot_used());
    assert_eq!(dump(&head), want, "from the new snapshot");
}

/// One commit: its new series and its samples.
type Commit = (Vec<(u32, crate::Labels)>, Vec<(u32, i64, f64)>);

/// A version 1 segment as the build before format 2 wrote it: a series record and a samples
/// record per commit, samples zstd-compressed when that pays.
fn write_v1_segment(path: &Path, commits: &[Commit]) {
    let mut out = Vec::new();
    out.extend_from_slice(&SEGMENT_MAGIC);
    out.extend_from_slice(&[1, 0, 0, 0]);
    let mut enc = Encoder::new(true);
    for (series, samples) in commits {
        enc.series_frame(series, &mut out);
        enc.samples_frame_v1(samples, &mut out);
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_version_1_log_replays_alone_mixed_and_with_a_torn_tail() {
    let label = |j: u32| must_labels(&[("__name__", "m"), ("job", &format!("j{j}"))]);
    // Three commits of 40 series x 20 samples (compressed frames), one of a stale marker and
    // values that are no short decimal.
    let mut commits = Vec::new();
    for c in 0..3u32 {
        let series = (0..40).map(|j| (j, label(j))).filter(|_| c == 0).collect();
        let samples = (0..40u32)
            .flat_map(|j| {
                (0..20i64).map(move |k| {
                    let t = i64::from(c) * 300_000 + k * 15_000;
                    (j, t, f64::from(j) / 3.0 + k as f64)
                })
            })
            .collect();
        commits.push((series, samples));
    }
    commits.push((
        vec![],
        vec![
            (5, 900_000, f64::from_bits(STALE_NAN_BITS)),
            (6, 900_000, -0.0),
        ],
    ));
    let mut want: Dump = BTreeMap::new();
    for (_, samples) in &commits {
        for &(r, t, v) in samples {
            want.entry(format!("{:?}", label(r)))
                .or_default()
                .push((t, v.to_bits()));
        }
    }
    for (j, v) in want.values_mut().enumerate() {
        v.sort_by_key(|s| s.0);
        assert!(!v.is_empty(), "series {j}");
    }

    // Alone, then followed by version 2 segments.
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("wal");
    std::fs::create_dir_all(&wal).unwrap();
    write_v1_segment(&segment_path(&wal, 0), &commits);
    let (head, _) = open(dir.path(), 4);
    assert_eq!(dump(&head), want);
    let mut app = head.appender();
    app.append(&label(7), 2_000_000, 12.5).unwrap();
    app.commit().unwrap();
    want.get_mut(&format!("{:?}", label(7)))
        .unwrap()
        .push((2_000_000, 12.5f64.to_bits()));
    drop(head);
    let (head, _) = open(dir.path(), 4);
    assert_eq!(dump(&head), want, "mixed");
    drop(head);

    // A version 1 segment torn inside its last (compressed) samples record: cut there, every
    // earlier commit kept.
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("wal");
    std::fs::create_dir_all(&wal).unwrap();
    let path = segment_path(&wal, 0);
    write_v1_segment(&path, &commits[..3]);
    let whole = std::fs::read(&path).unwrap();
    write_v1_segment(&path, &commits[..2]);
    let two = std::fs::metadata(&path).unwrap().len() as usize;
    std::fs::write(&path, &whole[..two + (whole.len() - two) / 2]).unwrap();
    let (head, _) = open(dir.path(), 4);
    let got = dump(&head);
    assert_eq!(got.len(), 40);
    for v in got.values() {
        assert_eq!(v.len(), 40, "the first two commits' 20 samples each");
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().len() as usize,
        two,
        "cut at the torn record"
    );
}
