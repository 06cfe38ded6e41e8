//! Block round trips, corruption detection and selection against a brute-force model.

use std::path::Path;

use super::chunks::PageCache;
use super::*;
use crate::labels::Labels;
use crate::testutil::{counter_step, must_labels, must_matchers};

type Series = Vec<(Labels, Vec<(i64, f64)>)>;

/// Series in federation order with assorted sample shapes.
fn sample_series() -> Series {
    let stale = f64::from_bits(crate::STALE_NAN_BITS);
    let mut v: Series = Vec::new();
    for (i, job) in ["api", "db", "web"].iter().enumerate() {
        for inst in 0..4 {
            let inst = format!("10.0.0.{inst}:9100");
            let counter: Vec<(i64, f64)> = (0..300)
                .map(|k| (1_000 + k * 15_000, (k * (i as i64 + 1) * 7) as f64))
                .collect();
            v.push((
                must_labels(&[
                    ("__name__", "http_requests_total"),
                    ("job", job),
                    ("instance", &inst),
                ]),
                counter,
            ));
            let gauge: Vec<(i64, f64)> = (0..50)
                .map(|k| (k * 15_000 + k % 3, (k as f64).sin()))
                .collect();
            v.push((
                must_labels(&[
                    ("__name__", "temperature"),
                    ("job", job),
                    ("instance", &inst),
                    ("zone", "a"),
                ]),
                gauge,
            ));
        }
    }
    let long: Vec<(i64, f64)> = (0..10_000).map(|k| (k * 1_000, k as f64 * 0.5)).collect();
    v.push((must_labels(&[("__name__", "long_series")]), long));
    v.push((
        must_labels(&[("__name__", "stale"), ("x", "y")]),
        vec![(5, 1.0), (6, stale)],
    ));
    v.sort_by(|a, b| (a.0.get("__name__"), &a.0).cmp(&(b.0.get("__name__"), &b.0)));
    v
}

fn write_block(dir: &Path, series: &Series) -> BlockMeta {
    let mut w = BlockWriter::create(dir, 0, 100_000_000).unwrap();
    for (l, s) in series {
        w.add_series(l, s).unwrap();
    }
    w.finish().unwrap().expect("a block with series")
}

fn bits(v: &[(i64, f64)]) -> Vec<(i64, u64)> {
    v.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

#[test]
fn round_trip_labels_postings_samples() {
    let dir = tempfile::tempdir().unwrap();
    let series = sample_series();
    let meta = write_block(dir.path(), &series);
    assert_eq!(meta.stats.num_series, series.len() as u64);
    assert_eq!(
        meta.stats.num_samples,
        series.iter().map(|s| s.1.len() as u64).sum::<u64>()
    );
    assert_eq!(meta.compaction.level, 1);
    assert_eq!(meta.compaction.sources, vec![meta.ulid.clone()]);
    let bdir = dir.path().join(&meta.ulid);
    assert!(is_block_dir_name(&meta.ulid));
    assert!(
        !dir.path()
            .join(format!("{}{TMP_CREATION_SUFFIX}", meta.ulid))
            .exists()
    );
    let json = std::fs::read_to_string(bdir.join("meta.json")).unwrap();
    for field in [
        "\"ulid\"",
        "\"minTime\"",
        "\"maxTime\"",
        "\"numSamples\"",
        "\"numSeries\"",
        "\"numChunks\"",
        "\"level\"",
        "\"sources\"",
        "\"version\"",
    ] {
        assert!(json.contains(field), "meta.json lacks {field}: {json}");
    }
    // Pages are zstd frames (magic 28 b5 2f fd after the 8-byte page header).
    let chunks = std::fs::read(bdir.join("chunks/000001")).unwrap();
    assert_eq!(&chunks[..4], b"FSBC");
    assert_eq!(&chunks[16..20], &[0x28, 0xb5, 0x2f, 0xfd]);

    let b = Block::open(&bdir).unwrap();
    assert_eq!(b.meta(), &meta);
    let mut cache = PageCache::new().unwrap();
    for (id, (l, s)) in series.iter().enumerate() {
        assert_eq!(&b.labels(id as u32).unwrap(), l, "series {id}");
        let mut got = Vec::new();
        b.samples(id as u32, i64::MIN, i64::MAX, &mut cache, &mut got)
            .unwrap();
        assert_eq!(bits(&got), bits(s), "series {l:?}");
        let mut part = Vec::new();
        b.samples(id as u32, 30_000, 100_000, &mut cache, &mut part)
            .unwrap();
        let want: Vec<(i64, f64)> = s
            .iter()
            .copied()
            .filter(|&(t, _)| (30_000..=100_000).contains(&t))
            .collect();
        assert_eq!(bits(&part), bits(&want), "range of {l:?}");
    }
    let selectors: [&[(&str, &str, &str)]; 8] = [
        &[("__name__", "=", "http_requests_total")],
        &[("job", "=", "db")],
        &[
            ("__name__", "=~", "http.*|temp.*"),
            ("instance", "!=", "10.0.0.1:9100"),
        ],
        &[("zone", "=", "")],
        &[("zone", "!=", "")],
        &[("job", "!~", "a.*")],
        &[("__name__", "=", "missing")],
        &[("x", "=~", "y|z"), ("__name__", "=", "stale")],
    ];
    for sel in selectors {
        let set = must_matchers(sel);
        let got: Vec<u32> = b
            .select(std::slice::from_ref(&set))
            .unwrap()
            .iter()
            .collect();
        let want: Vec<u32> = series
            .iter()
            .enumerate()
            .filter(|(_, (l, _))| set.iter().all(|m| m.matches(l.get(&m.name))))
            .map(|(i, _)| i as u32)
            .collect();
        assert_eq!(got, want, "selector {sel:?}");
    }
}

#[test]
fn empty_block_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let w = BlockWriter::create(dir.path(), 0, 10).unwrap();
    assert!(w.finish().unwrap().is_none());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn abandoned_or_failed_block_leaves_no_temp_dir() {
    let dir = tempfile::tempdir().unwrap();
    let series = sample_series();
    // Abandoned mid-way (an error while reading the sources): dropped, not finished.
    let mut w = BlockWriter::create(dir.path(), 0, 100_000_000).unwrap();
    w.add_series(&series[0].0, &series[0].1).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    drop(w);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // `finish` fails (the index path is taken by a directory): the temp dir goes too.
    let mut w = BlockWriter::create(dir.path(), 0, 100_000_000).unwrap();
    for (l, s) in &series {
        w.add_series(l, s).unwrap();
    }
    let tmp = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::create_dir_all(tmp.join(super::index::INDEX_FILE).join("x")).unwrap();
    assert!(w.finish().is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn corruption_is_detected_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let series = sample_series();
    let meta = write_block(dir.path(), &series);
    let bdir = dir.path().join(&meta.ulid);
    let flip = |path: &Path, at: usize| {
        let mut b = std::fs::read(path).unwrap();
        b[at] ^= 0x40;
        std::fs::write(path, b).unwrap();
    };
    // A byte inside the first page: open succeeds, reading it fails naming the page.
    let chunks = bdir.join("chunks/000001");
    flip(&chunks, 30);
    let b = Block::open(&bdir).unwrap();
    let mut out = Vec::new();
    let err = b
        .samples(
            0,
            i64::MIN,
            i64::MAX,
            &mut PageCache::new().unwrap(),
            &mut out,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, BlockError::Corruption { offset: 8, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("chunks/000001") && msg.contains("offset 8") && msg.contains("checksum"),
        "{msg}"
    );
    flip(&chunks, 30);
    // A byte in each index section (the symbols section starts at 8, its data at 16).
    let index = bdir.join("index");
    let len = std::fs::metadata(&index).unwrap().len() as usize;
    let cases = [
        ("symbols", 20usize, Some(8u64)),
        ("toc", len - 20, None),
        ("header", 1, Some(0)),
    ];
    for (name, at, offset) in cases {
        flip(&index, at);
        let err = Block::open(&bdir).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("index") && msg.contains("corruption"),
            "case {name}: {msg}"
        );
        if let Some(o) = offset {
            assert!(
                matches!(err, BlockError::Corruption { offset, .. } if offset == o),
                "case {name}: {msg}"
            );
        }
        flip(&index, at);
    }
    assert!(Block::open(&bdir).is_ok(), "restored");
}

/// Size breakdown on node-exporter-like data (the bench `benches/block.rs` has the same
/// generator and the 1M-series report). Run:
/// `cargo test --release -p fedstore-storage --lib -- --ignored block_size_report --nocapture`
/// (`FEDSTORE_BLOCK_UNIFORM=1`: the uniform-increment worst case; `FEDSTORE_BLOCK_SERIES=1m`:
/// 1M series).
#[test]
#[ignore = "size report, run by hand in release"]
fn block_size_report() {
    use crate::testutil::NodeSetSpec;
    let uniform = std::env::var("FEDSTORE_BLOCK_UNIFORM").is_ok();
    let spec = match std::env::var("FEDSTORE_BLOCK_SERIES").as_deref() {
        Ok("1m") => NodeSetSpec::million(),
        _ => NodeSetSpec {
            instances: 100,
            metrics: 100,
            series_per_metric: 10,
            aggregated: 100,
        },
    };
    let dir = tempfile::tempdir().unwrap();
    let head = crate::Head::open(&dir.path().join("head"), crate::HeadOptions::default()).unwrap();
    let (refs, _) = spec.load(&head, 0, 10_000);
    let mut acc = vec![0u64; refs.len()];
    for k in 1..120u64 {
        let mut app = head.appender();
        for (i, &r) in refs.iter().enumerate() {
            let a = &mut acc[i];
            *a += counter_step(i as u64, k, uniform);
            let v = if i % 4 == 3 {
                *a as f64 / 100.0
            } else {
                *a as f64
            };
            app.append_ref(r, k as i64 * 15_000, v).unwrap();
        }
        app.commit().unwrap();
    }
    let out = dir.path().join("blocks");
    std::fs::create_dir_all(&out).unwrap();
    let t0 = std::time::Instant::now();
    let meta = crate::compact::compact_head(&head, &out, 0, 120 * 15_000)
        .unwrap()
        .unwrap();
    let took = t0.elapsed();
    let b = Block::open(&out.join(&meta.ulid)).unwrap();
    let index = std::fs::read(out.join(&meta.ulid).join("index")).unwrap();
    let toc = &index[index.len() - 32..];
    let off = |i: usize| u64::from_le_bytes(toc[i * 8..i * 8 + 8].try_into().unwrap());
    let n = meta.stats.num_samples as f64;
    println!(
        "{} series {} samples in {took:.2?}: total {:.3} B/sample; chunks {:.3}; symbols {} B, series {} B, postings {} B",
        meta.stats.num_series,
        meta.stats.num_samples,
        b.size_bytes() as f64 / n,
        (b.size_bytes() - index.len() as u64) as f64 / n,
        off(1) - off(0),
        off(2) - off(1),
        index.len() as u64 - 32 - off(2),
    );
}
