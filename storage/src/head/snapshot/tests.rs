//! Head snapshot tests: a restart loads the snapshot and replays only the WAL after it, and
//! every kind of damage to the snapshot or the chunk files it points into falls back to the
//! whole WAL without losing an acknowledged sample.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::head::{Head, HeadOptions, StartupProgress};
use crate::matcher::{MatchOp, Matcher};
use crate::testutil::must_labels;
use crate::wal::WalOptions;

const SERIES: usize = 60;

fn open(root: &Path) -> (Head, Arc<StartupProgress>) {
    let progress = Arc::new(StartupProgress::new());
    let head = Head::open(
        &root.join("head"),
        HeadOptions {
            shards: 4,
            wal: Some(WalOptions::new(root.join("wal")).with_segment_bytes(64 << 10)),
            chunks_dir: Some(root.join("chunks_head")),
            // Tiny chunk files: the data spans several.
            chunk_file_bytes: 16 << 10,
            progress: Some(progress.clone()),
        },
    )
    .unwrap();
    (head, progress)
}

/// Every sample of every series, keyed by its label set: `(t, value bits)`.
fn dump(head: &Head) -> BTreeMap<String, Vec<(i64, u64)>> {
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

/// Appends `rounds` scrapes (from round `from`) of [`SERIES`] series, noisy enough to seal
/// chunks, with one new series per round.
fn load(head: &Head, from: i64, rounds: i64) {
    for k in from..from + rounds {
        let mut app = head.appender();
        for s in 0..SERIES {
            let labels = must_labels(&[
                ("__name__", if s % 2 == 0 { "up" } else { "node_cpu" }),
                ("instance", &format!("host-{s}")),
            ]);
            let v = ((k * 7919 + s as i64 * 104_729) % 1000) as f64 / 7.0;
            app.append(&labels, k * 15_000, v).unwrap();
        }
        let fresh = must_labels(&[("__name__", "fresh"), ("round", &k.to_string())]);
        app.append(&fresh, k * 15_000, k as f64).unwrap();
        app.commit().unwrap();
    }
}

/// A head with a snapshot taken after 300 rounds and 50 more rounds after it, dropped
/// without a final snapshot (as a `kill -9` leaves it); returns what it held.
fn crashed_after_snapshot(root: &Path) -> BTreeMap<String, Vec<(i64, u64)>> {
    let (head, _) = open(root);
    load(&head, 0, 300);
    let stats = head.write_snapshot().unwrap().expect("a WAL: a snapshot");
    assert_eq!(stats.series, (SERIES + 300) as u64);
    load(&head, 300, 50);
    let want = dump(&head);
    assert_eq!(want.len(), SERIES + 350);
    assert!(head.chunk_file_stats().files >= 3, "several chunk files");
    want
}

#[test]
fn restart_loads_the_snapshot_and_replays_only_the_wal_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let want = crashed_after_snapshot(dir.path());
    let (head, progress) = open(dir.path());
    assert!(progress.snapshot_used());
    assert_eq!(progress.series_loaded(), (SERIES + 300) as u64);
    assert_eq!(
        progress.samples_replayed(),
        50 * (SERIES as u64 + 1),
        "only the rounds after the snapshot are replayed"
    );
    assert_eq!(dump(&head), want);
    // Refs kept: appending goes on, and a second restart (a clean one) sees it all.
    load(&head, 350, 10);
    let want = dump(&head);
    head.write_snapshot().unwrap();
    drop(head);
    let (head, progress) = open(dir.path());
    assert!(progress.snapshot_used());
    assert_eq!(
        progress.samples_replayed(),
        0,
        "a clean stop: nothing to replay"
    );
    assert_eq!(dump(&head), want);
}

/// Damages `root` one way; `true` when the snapshot must still be usable.
type Damage = fn(&Path) -> bool;

fn chunk_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(root.join("chunks_head"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn snapshot_file(root: &Path) -> std::path::PathBuf {
    std::fs::read_dir(root.join("head"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("snapshot.")
        })
        .expect("a snapshot")
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let at = at.min(b.len() - 1);
    b[at] ^= 0x40;
    std::fs::write(path, b).unwrap();
}

fn cut(path: &Path, keep: u64) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(keep).unwrap();
}

#[test]
fn damaged_chunk_files_or_snapshot_fall_back_to_the_wal() {
    let cases: [(&str, Damage); 7] = [
        ("flipped byte in a chunk file", |r| {
            flip(&chunk_files(r)[0], 1000);
            false
        }),
        ("torn chunk file", |r| {
            let f = &chunk_files(r)[1];
            cut(f, std::fs::metadata(f).unwrap().len() / 2);
            false
        }),
        ("missing chunk file", |r| {
            std::fs::remove_file(&chunk_files(r)[0]).unwrap();
            false
        }),
        ("flipped byte in the snapshot", |r| {
            flip(&snapshot_file(r), 5000);
            false
        }),
        ("torn snapshot", |r| {
            let f = snapshot_file(r);
            cut(&f, std::fs::metadata(&f).unwrap().len() - 3);
            false
        }),
        ("snapshot header of an unknown version", |r| {
            flip(&snapshot_file(r), 4);
            false
        }),
        // Only bytes past what the snapshot recorded: chunks sealed after it, sealed again.
        (
            "garbage after the recorded end of the newest chunk file",
            |r| {
                let f = chunk_files(r).pop().unwrap();
                let mut b = std::fs::read(&f).unwrap();
                b.extend_from_slice(&[0xab; 100]);
                std::fs::write(&f, b).unwrap();
                true
            },
        ),
    ];
    for (what, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        let want = crashed_after_snapshot(dir.path());
        let usable = damage(dir.path());
        let (head, progress) = open(dir.path());
        assert_eq!(progress.snapshot_used(), usable, "{what}");
        assert_eq!(dump(&head), want, "{what}: nothing acknowledged lost");
        // And the head goes on: another restart (with a fresh snapshot) still holds it all.
        load(&head, 350, 5);
        let want = dump(&head);
        head.write_snapshot().unwrap();
        drop(head);
        let (head, progress) = open(dir.path());
        assert!(progress.snapshot_used(), "{what}: the new snapshot is used");
        assert_eq!(dump(&head), want, "{what}: after the second restart");
    }
}

#[test]
fn a_snapshot_written_while_commits_run_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (head, _) = open(dir.path());
    load(&head, 0, 20);
    let head = Arc::new(head);
    let writer = {
        let head = head.clone();
        std::thread::spawn(move || load(&head, 20, 300))
    };
    let mut taken = 0;
    while !writer.is_finished() {
        head.write_snapshot().unwrap();
        taken += 1;
    }
    writer.join().unwrap();
    assert!(taken > 0);
    let want = dump(&head);
    drop(head);
    let (head, progress) = open(dir.path());
    assert!(progress.snapshot_used());
    assert_eq!(dump(&head), want);
}
