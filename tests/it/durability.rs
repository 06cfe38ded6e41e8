//! Durability: the real binary is killed with SIGKILL mid-import and restarted; every
//! acknowledged (204) import must be back and no unacknowledged one half there. Also: damage to
//! the WAL tail is truncated, damage in the middle stops start-up until repaired, and SIGTERM
//! stops cleanly.
//!
//! Ports come from 19600-19699. A binary that starts without a WAL fails them.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{enc, wall_ms};

fn free_port() -> u16 {
    crate::support::free_port_in(19600)
}

/// A `fedstore serve` child process on its own port and data directory.
struct Node {
    child: Option<Child>,
    url: String,
    data: PathBuf,
    stderr_path: PathBuf,
}

impl Node {
    /// Starts the binary on `data` and waits until it is ready; `Err(stderr)` if it exits.
    fn start(data: &Path) -> Result<Node, String> {
        Node::start_with(data, &[])
    }

    /// [`Node::start`] with extra flags.
    fn start_with(data: &Path, extra: &[&str]) -> Result<Node, String> {
        let port = free_port();
        let stderr_path = data.with_extension(format!("stderr.{port}"));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_fedstore"))
            .args(["serve", "--web.listen-address"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--storage.tsdb.path")
            .arg(data)
            .args(["--query.lookback-delta", "1d"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut node = Node {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            data: data.to_owned(),
            stderr_path,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                node.child = None;
                return Err(format!("exited with {status}: {}", node.stderr()));
            }
            if http(&format!("{}/-/ready", node.url), None).is_ok_and(|(s, _)| s == 200) {
                return Ok(node);
            }
            assert!(
                Instant::now() < deadline,
                "not ready in 60 s: {}",
                node.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Whether this binary keeps a WAL (the CLI passes `HeadOptions::wal`).
    fn has_wal(&self) -> bool {
        self.data.join("wal").is_dir()
    }

    fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, then waits for the exit; returns whether it exited successfully in time.
    fn terminate(mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(s) = c.try_wait().unwrap() {
                return s.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        false
    }

    /// Imports request `k`: series `dur_test{req="k", i="0".."SERIES_PER_REQUEST"}`, value `k`.
    /// Returns whether the server acknowledged it (204).
    fn import(&self, k: u64, base_ms: i64) -> bool {
        import(&self.url, k, base_ms)
    }

    /// Series per request present on the server: `req -> count`.
    fn present(&self) -> BTreeMap<u64, usize> {
        let url = format!(
            "{}/federate?match[]={}",
            self.url,
            enc("{__name__=\"dur_test\"}")
        );
        let (status, body) = http(&url, None).unwrap();
        assert_eq!(status, 200, "{body}");
        let mut out = BTreeMap::new();
        for line in body
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let req = line
                .split("req=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .and_then(|r| r.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("bad federate line {line:?}"));
            *out.entry(req).or_default() += 1;
        }
        out
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const SERIES_PER_REQUEST: usize = 10;

/// Imports request `k` into the server at `url`; see [`Node::import`].
fn import(url: &str, k: u64, base_ms: i64) -> bool {
    let mut body = String::new();
    for i in 0..SERIES_PER_REQUEST {
        let t = base_ms + k as i64;
        body.push_str(&format!("dur_test{{req=\"{k}\",i=\"{i}\"}} {k} {t}\n"));
    }
    let url = format!("{url}/api/v1/import/prometheus");
    http(&url, Some(body.as_bytes())).is_ok_and(|(s, _)| s == 204)
}

/// GET (no body) or POST, with a short timeout; `Err` on any transport failure.
fn http(url: &str, body: Option<&[u8]>) -> Result<(u16, String), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let resp = match body {
        None => agent.get(url).call(),
        Some(b) => agent.post(url).header("Content-Type", "text/plain").send(b),
    }
    .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let mut text = String::new();
    resp.into_body()
        .into_reader()
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    Ok((status, text))
}

/// The WAL is always on in `fedstore serve`: a data directory without `wal/` after start-up
/// is a regression, not a reason to skip.
#[track_caller]
fn assert_wal(node: &Node) {
    assert!(
        node.has_wal(),
        "`fedstore serve` started without a WAL ({}/wal missing)",
        node.data.display()
    );
}

/// A small xorshift generator; the seed is printed so a failing round can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Checks the server against what was acknowledged: every acked request complete, every
/// other one complete or absent.
fn check(node: &Node, acked: &[u64], round: usize) {
    let present = node.present();
    for k in acked {
        assert_eq!(
            present.get(k).copied(),
            Some(SERIES_PER_REQUEST),
            "round {round}: acknowledged request {k} lost or partial"
        );
    }
    for (k, n) in &present {
        assert_eq!(
            *n, SERIES_PER_REQUEST,
            "round {round}: request {k} half present"
        );
    }
}

#[test]
fn kill9_keeps_every_acknowledged_import() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let seed = wall_ms() as u64 | 1;
    eprintln!("durability seed {seed}");
    let mut rng = Rng(seed);
    let base_ms = wall_ms() - 3_600_000;
    let next = Arc::new(AtomicU64::new(0));
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let started = Instant::now();
    for round in 0..6 {
        let node = Node::start(&data).unwrap();
        assert_wal(&node);
        check(&node, &acked.lock().unwrap(), round);
        // Two concurrent senders until the kill, which lands at a random moment.
        let stop = Arc::new(AtomicBool::new(false));
        let senders: Vec<_> = (0..2)
            .map(|_| {
                let (stop, next, acked, url) =
                    (stop.clone(), next.clone(), acked.clone(), node.url.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let k = next.fetch_add(1, Ordering::SeqCst);
                        if import(&url, k, base_ms) {
                            acked.lock().unwrap().push(k);
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50 + rng.below(400)));
        node.kill9();
        stop.store(true, Ordering::SeqCst);
        for s in senders {
            s.join().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(240), "bounded time");
    }
    let node = Node::start(&data).unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 20,
        "traffic was acknowledged: {}",
        acked.len()
    );
    check(&node, &acked, 99);
    eprintln!(
        "durability: {} of {} requests acknowledged over 6 kills, all present",
        acked.len(),
        next.load(Ordering::SeqCst)
    );
}

/// Flips one byte in the middle of `path`.
fn flip_middle(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

/// The newest head snapshot of `data`, if any.
fn head_snapshot(data: &Path) -> Option<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data.join("head"))
        .ok()?
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snapshot.") && !n.ends_with(".tmp"))
        })
        .collect();
    v.sort();
    v.pop()
}

#[test]
fn kill9_with_head_snapshots_and_damage_keeps_every_acknowledged_import() {
    // Snapshots every second while two senders import; kills at random moments, a clean stop
    // every third round, and the snapshot damaged before two restarts: every acknowledged
    // import comes back each time, from the snapshot plus the WAL after it, or from the WAL.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let seed = wall_ms() as u64 | 1;
    eprintln!("snapshot durability seed {seed}");
    let mut rng = Rng(seed);
    let base_ms = wall_ms() - 3_600_000;
    let next = Arc::new(AtomicU64::new(0));
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let flags = ["--storage.tsdb.head-snapshot-interval", "1s"];
    let mut loaded_snapshot = 0;
    for round in 0..6 {
        let node = Node::start_with(&data, &flags).unwrap();
        assert_wal(&node);
        if node.stderr().contains("head snapshot loaded") {
            loaded_snapshot += 1;
        }
        check(&node, &acked.lock().unwrap(), round);
        let stop = Arc::new(AtomicBool::new(false));
        let senders: Vec<_> = (0..2)
            .map(|_| {
                let (stop, next, acked, url) =
                    (stop.clone(), next.clone(), acked.clone(), node.url.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let k = next.fetch_add(1, Ordering::SeqCst);
                        if import(&url, k, base_ms) {
                            acked.lock().unwrap().push(k);
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(2500 + rng.below(1500)));
        if round % 3 == 2 {
            stop.store(true, Ordering::SeqCst);
            for s in senders {
                s.join().unwrap();
            }
            assert!(node.terminate(), "a clean stop exits 0");
        } else {
            node.kill9();
            stop.store(true, Ordering::SeqCst);
            for s in senders {
                s.join().unwrap();
            }
        }
        let snapshot = head_snapshot(&data).expect("a snapshot after a second of traffic");
        match round {
            1 => flip_middle(&snapshot),
            3 => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&snapshot)
                    .unwrap();
                f.set_len(f.metadata().unwrap().len() / 3).unwrap();
            }
            _ => {}
        }
    }
    let node = Node::start_with(&data, &flags).unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 20,
        "traffic was acknowledged: {}",
        acked.len()
    );
    check(&node, &acked, 99);
    assert!(
        loaded_snapshot >= 2,
        "undamaged snapshots were loaded ({loaded_snapshot} of 6 restarts)"
    );
    let (status, metrics) = http(&format!("{}/metrics", node.url), None).unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("fedstore_head_replay_in_progress 0"),
        "{metrics}"
    );
}

#[test]
fn ready_answers_503_while_the_head_opens() {
    use fedstore::api::starting::StartingServer;
    use fedstore_storage::StartupProgress;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let progress = Arc::new(StartupProgress::new());
    let server = StartingServer::start(listener.try_clone().unwrap(), progress).unwrap();
    let (status, body) = http(&format!("{url}/-/ready"), None).unwrap();
    assert_eq!((status, body.as_str()), (503, "Service Unavailable"));
    assert_eq!(http(&format!("{url}/-/healthy"), None).unwrap().0, 200);
    let federate = format!("{url}/federate?match[]={}", enc("{__name__=~\".+\"}"));
    assert_eq!(http(&federate, None).unwrap().0, 503);
    let (status, metrics) = http(&format!("{url}/metrics"), None).unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("fedstore_head_replay_in_progress 1"),
        "{metrics}"
    );
    server.stop();
}

/// The WAL segments of `data`, highest last.
fn segments(data: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .collect();
    v.sort();
    v
}

/// The highest segment holding records (the newest start-up's segment may hold only its
/// header).
fn last_data_segment(data: &Path) -> PathBuf {
    segments(data)
        .into_iter()
        .rev()
        .find(|p| std::fs::metadata(p).unwrap().len() > 8)
        .unwrap()
}

#[test]
fn wal_tail_damage_is_truncated_and_middle_damage_needs_repair() {
    let dir = tempfile::tempdir().unwrap();
    let base_ms = wall_ms() - 3_600_000;
    // Each case: damage to the last segment, then how many of the 5 requests survive.
    type Damage = fn(&mut Vec<u8>);
    let cases: [(&str, Damage, usize); 4] = [
        ("cut 3 bytes", |b| b.truncate(b.len() - 3), 4),
        (
            "flip a byte of the last record",
            |b| {
                let n = b.len();
                b[n - 5] ^= 0xff;
            },
            4,
        ),
        (
            "garbage appended",
            |b| b.extend_from_slice(b"\x13\x00\x00\x00garbage"),
            5,
        ),
        ("zeros appended", |b| b.extend_from_slice(&[0; 100]), 5),
    ];
    for (name, damage, survive) in cases {
        let data = dir.path().join(name.replace(' ', "_"));
        let node = Node::start(&data).unwrap();
        assert_wal(&node);
        for k in 0..5 {
            assert!(node.import(k, base_ms), "case {name}: import {k}");
        }
        // A torn tail is what a crash leaves (a clean stop fsyncs the segment, starts the
        // next one and writes a head snapshot covering it all).
        node.kill9();
        let seg = last_data_segment(&data);
        let mut b = std::fs::read(&seg).unwrap();
        damage(&mut b);
        std::fs::write(&seg, &b).unwrap();
        let node = Node::start(&data).unwrap();
        let present = node.present();
        assert_eq!(present.len(), survive, "case {name}: {present:?}");
        assert!(
            present.values().all(|&n| n == SERIES_PER_REQUEST),
            "case {name}"
        );
        if survive < 5 {
            assert!(
                node.stderr().contains("truncated at the last good record"),
                "case {name}: warning logged: {}",
                node.stderr()
            );
        }
        node.kill9();
    }

    // Damage in a segment that is not the last one: start-up stops, naming the place.
    let data = dir.path().join("middle");
    let node = Node::start(&data).unwrap();
    for k in 0..3 {
        assert!(node.import(k, base_ms));
    }
    assert!(node.terminate());
    let damaged = last_data_segment(&data);
    let node = Node::start(&data).unwrap();
    assert!(node.import(3, base_ms));
    assert!(node.terminate());
    let mut b = std::fs::read(&damaged).unwrap();
    let n = b.len();
    b[n - 5] ^= 0xff;
    std::fs::write(&damaged, &b).unwrap();
    // The head snapshot written at the stop covers the damaged segment, so start-up would not
    // read it; without a usable snapshot the WAL is read whole and the damage found.
    assert!(
        head_snapshot(&data).is_some(),
        "a clean stop writes a snapshot"
    );
    while let Some(p) = head_snapshot(&data) {
        std::fs::remove_file(p).unwrap();
    }
    let err = Node::start(&data)
        .err()
        .expect("start-up refuses mid-log corruption");
    let seg_name = damaged.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        err.contains(&format!("WAL corruption in segment {seg_name} at offset")),
        "{err}"
    );
    // The documented repair drops everything from the bad record on.
    let report = fedstore_storage::wal::repair(&data.join("wal")).unwrap();
    assert!(
        report
            .cut_at
            .is_some_and(|(s, _)| format!("{s:08}") == seg_name),
        "{report:?}"
    );
    let node = Node::start(&data).unwrap();
    let present: Vec<u64> = node.present().into_keys().collect();
    assert_eq!(
        present,
        [0, 1],
        "requests before the damaged record survive"
    );
}
