//! Blocks: the real binary persists imported history into blocks (short block range, fast
//! compaction interval), is restarted over them with a leftover temp block directory, keeps
//! them, and the blocks (and blocks plus the WAL-replayed head) then answer range selects
//! equal to what was imported; a damaged block index stops start-up naming the file.
//!
//! Ports come from 19700-19799.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fedstore_promql::parse_selector;
use fedstore_storage::{Db, DbOptions, HeadOptions, Labels};

use crate::serve::Serve;
use crate::support::{enc, get, post};

fn free_port() -> u16 {
    crate::support::free_port_in(19700)
}

const HOUR: i64 = 3_600_000;
const STEP: i64 = 15_000;

/// `fedstore serve` on `data` with 1h blocks and a 100 ms compaction interval.
fn start(data: &Path) -> Serve {
    Serve::start(
        data,
        &[
            "--storage.tsdb.min-block-duration=1h",
            "--storage.tsdb.compaction-interval=100ms",
            "--storage.tsdb.retention.time=1y",
            // The data ends 1-2 h ago (its start is floored to the hour): 3h keeps it in the
            // lookback (and out of series gc) whatever the time of day.
            "--query.lookback-delta=3h",
        ],
    )
}

/// Names of the block directories (ULIDs) in `data`.
fn block_dirs(data: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| fedstore_storage::testutil::is_block_dir_name(n))
        .collect();
    v.sort();
    v
}

#[test]
fn restarted_server_keeps_and_answers_from_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let srv = start(&data);
    // 4h of history for 10 series, 15 s apart, ending 1 h ago: the head spans 4 block ranges,
    // so the background compaction persists at least [base, base + 2h).
    let base = (crate::support::wall_ms() - 5 * HOUR).div_euclid(HOUR) * HOUR;
    let mut model: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let mut body = String::new();
    let mut t = base;
    while t < base + 4 * HOUR {
        for i in 0..10 {
            let v = ((t - base) / STEP * (i + 1)) as f64;
            body.push_str(&format!("blk_test{{i=\"{i}\"}} {v} {t}\n"));
            let l = Labels::from_pairs([("__name__", "blk_test".to_owned()), ("i", i.to_string())]);
            model.entry(l).or_default().push((t, v));
        }
        t += STEP;
    }
    let a = post(
        &format!("{}/api/v1/import/prometheus", srv.url),
        "text/plain",
        body.as_bytes(),
    );
    assert!(a.status < 300, "import: {} {}", a.status, a.text());
    let deadline = Instant::now() + Duration::from_secs(30);
    while block_dirs(&data).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = block_dirs(&data);
    assert!(before.len() >= 2, "no blocks persisted: {}", srv.log());
    for b in &before {
        let meta = std::fs::read_to_string(data.join(b).join("meta.json")).unwrap();
        assert!(meta.contains(&format!("\"ulid\": \"{b}\"")), "{meta}");
    }
    // The import went through the head's chunk files (4 h is 8 full chunks per series), which
    // compaction then read back into the blocks.
    let metrics = get(&format!("{}/metrics", srv.url), &[]).text();
    let sealed: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("fedstore_head_chunks_sealed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(sealed >= 10.0 * 7.0, "chunks sealed: {sealed}");
    // The head still answers /federate with the latest samples.
    let fed = get(
        &format!("{}/federate?match[]={}", srv.url, enc("blk_test")),
        &[],
    );
    assert_eq!(fed.status, 200);
    assert_eq!(
        fed.text()
            .lines()
            .filter(|l| l.starts_with("blk_test{"))
            .count(),
        10,
        "{}",
        fed.text()
    );
    srv.stop();

    // A crash mid-write left a temp block: the restarted server removes it and keeps the rest.
    let junk = data.join("01J0000000000000000000000Z.tmp-for-creation");
    std::fs::create_dir_all(junk.join("chunks")).unwrap();
    std::fs::write(junk.join("index"), b"torn").unwrap();
    let srv = start(&data);
    assert!(!junk.exists(), "leftover temp block not removed");
    std::thread::sleep(Duration::from_millis(300));
    let after = block_dirs(&data);
    assert!(!after.is_empty(), "blocks lost on restart: {}", srv.log());
    srv.stop();

    // The blocks answer range selects exactly as imported, for the range they cover; with the
    // WAL replayed into the head (whatever compaction had not persisted yet), blocks and head
    // together give back all 4 h.
    let head_opts = HeadOptions {
        wal: Some(fedstore_storage::wal::WalOptions::new(data.join("wal"))),
        ..HeadOptions::default()
    };
    let db = Db::open(&data, head_opts, DbOptions::default()).unwrap();
    let all = db
        .select_range(
            &[parse_selector("blk_test").unwrap()],
            base,
            base + 4 * HOUR,
        )
        .unwrap();
    let all: Vec<(Labels, Vec<(i64, f64)>)> =
        all.into_iter().map(|s| (s.labels, s.samples)).collect();
    let want_all: Vec<(Labels, Vec<(i64, f64)>)> = model.clone().into_iter().collect();
    assert_eq!(all, want_all, "blocks + replayed head");
    let blocks = db.blocks();
    let covered = blocks.iter().map(|b| b.meta().max_time).max().unwrap();
    assert!(covered >= base + 2 * HOUR, "blocks end at {covered}");
    let sets = vec![parse_selector("{__name__=\"blk_test\", i=~\"[0-4]\"}").unwrap()];
    let got = db.select_range(&sets, base, covered - 1).unwrap();
    let want: Vec<(Labels, Vec<(i64, f64)>)> = model
        .iter()
        .filter(|(l, _)| l.get("i") < "5")
        .map(|(l, s)| {
            (
                l.clone(),
                s.iter().copied().filter(|&(t, _)| t < covered).collect(),
            )
        })
        .collect();
    let got: Vec<(Labels, Vec<(i64, f64)>)> =
        got.into_iter().map(|s| (s.labels, s.samples)).collect();
    assert_eq!(got.len(), 5);
    assert_eq!(got, want);
    drop(db);

    // A flipped byte in a block's index: start-up stops with an error naming the file (as
    // Prometheus refuses a corrupted block), deleting nothing; with the byte restored the
    // same directory starts and keeps every block.
    let blocks = block_dirs(&data);
    let index = data.join(&blocks[0]).join("index");
    let mut bytes = std::fs::read(&index).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&index, &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fedstore"))
        .args(["serve", "--web.listen-address"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--storage.tsdb.path")
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&index.display().to_string()),
        "names the damaged file: {stderr}"
    );
    assert_eq!(block_dirs(&data), blocks, "nothing deleted");
    bytes[at] ^= 0x40;
    std::fs::write(&index, &bytes).unwrap();
    // Compaction may cut or merge blocks as soon as the server runs (100 ms rounds), so the
    // check is that the restored directory serves every series, not that its list is frozen.
    let srv = start(&data);
    let q = format!(
        "{}/api/v1/query?query={}&time={}",
        srv.url,
        enc("count(count_over_time(blk_test[5h]))"),
        (base + 4 * HOUR) / 1000
    );
    let body = get(&q, &[]).text();
    assert!(
        body.contains(&format!("\"{}\"]", model.len())),
        "every series served after the restore: {body}"
    );
    srv.stop();
}
