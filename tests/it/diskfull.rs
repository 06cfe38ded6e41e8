//! A full disk under the real binary: writes that cannot be stored answer a 5xx naming the
//! problem (so remote-write senders retry), never a 2xx; the process keeps serving what it
//! acknowledged; a restart without the limit brings back every acknowledged batch and no part
//! of a refused one.
//!
//! How the disk "fills": once `fedstore serve` is ready, the test lowers the child's
//! `RLIMIT_FSIZE` with prlimit(2) to the size of its largest data file plus a small budget. From
//! then on the kernel refuses any write or `ftruncate` that would take a file past that size
//! with `EFBIG` ("File too large"), exactly where a full disk fails with `ENOSPC`: a short write
//! (the WAL segment ends in a torn record), then an error. The child ignores `SIGXFSZ` (set
//! in `pre_exec`; an ignored signal stays ignored across exec), otherwise the kernel would kill
//! it instead. The limit is set after start-up, relative to the files then present, rather
//! than before exec with a guessed size: start-up creates files whose sizes change as the head
//! evolves (column files, head chunk files), and only the growth after start-up is under test.
//! A real full file system (tmpfs or loop mount) needs `CAP_SYS_ADMIN`, which CI containers
//! refuse; an unwritable directory stops nobody when the tests run as root.
//!
//! A permission error is made with `chattr +i` on the WAL's files (root cannot write an
//! immutable file either; the test says SKIP loudly where the file system refuses `chattr`).
//!
//! Scenarios: the WAL fills up mid-stream (every later write refused until restart); one
//! request needs the head's series column to grow (that request refused whole, the WAL
//! untouched); the log file is on the full disk too (the server cannot even log: the WAL must
//! still refuse, also once space comes back, since a record after the torn one would be
//! dropped by replay).
//!
//! Ports come from 19500-19599. Linux only (prlimit).
#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fedstore::remote::proto::{Label, Sample, TimeSeries, WriteRequest};
use prost::Message as _;

use crate::support::{enc, wall_ms};

fn free_port() -> u16 {
    crate::support::free_port_in(19500)
}

/// Series per batch; a batch is stored whole or not at all.
const SERIES_PER_BATCH: usize = 8;

/// Series of the batch in [`batch_larger_than_free_space_is_refused_whole`]: their records
/// outgrow any head column and WAL segment allowed to grow by nothing.
const BIG_BATCH_SERIES: usize = 2_000;

/// Bytes the files may grow past the largest data file once the limit is set: about 100
/// batches of WAL records, so the disk fills after a fraction of a second of writes.
const BUDGET_BYTES: u64 = 16 << 10;

/// More batches than [`BUDGET_BYTES`] can hold in any encoding.
const MAX_BATCHES: u64 = 5_000;

/// Where a [`Node`]'s stderr goes.
enum Log {
    /// A pipe the test reads: never subject to the file size limit.
    Pipe(Arc<Mutex<Vec<u8>>>, Option<JoinHandle<()>>),
    /// A regular file opened for appending, as `fedstore serve 2>>file` would: on the same
    /// "disk" as the data, so the limit stops the server's logging as well.
    File(PathBuf),
}

/// A `fedstore serve` child on its own port, with `SIGXFSZ` ignored and stderr captured.
struct Node {
    child: Option<Child>,
    url: String,
    log: Log,
}

impl Node {
    /// Starts the binary on `dir/data` (config `dir/fedstore.yml`: no scrape jobs, so only the
    /// test writes) with stderr in a pipe, and waits until it is ready.
    fn start(dir: &Path, extra: &[&str]) -> Node {
        Self::start_logging(dir, extra, None)
    }

    /// [`Node::start`], with stderr appended to `log_file` when given.
    fn start_logging(dir: &Path, extra: &[&str], log_file: Option<&Path>) -> Node {
        let config = dir.join("fedstore.yml");
        // No self-scrape: its samples would share the WAL budget with the test's batches.
        std::fs::write(&config, "scrape_configs: []\n").unwrap();
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fedstore"));
        cmd.args(["serve", "--web.listen-address"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--storage.tsdb.path")
            .arg(dir.join("data"))
            .arg("--config.file")
            .arg(&config)
            .args(["--query.lookback-delta", "1d"])
            .args(extra)
            .stdout(Stdio::null());
        match log_file {
            Some(path) => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap();
                cmd.stderr(f)
            }
            None => cmd.stderr(Stdio::piped()),
        };
        ignore_sigxfsz(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let log = match log_file {
            Some(path) => Log::File(path.to_owned()),
            None => {
                let mut pipe = child.stderr.take().unwrap();
                let text = Arc::new(Mutex::new(Vec::new()));
                let sink = text.clone();
                let reader = std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = pipe.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        sink.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
                Log::Pipe(text, Some(reader))
            }
        };
        let mut node = Node {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            node.assert_running("starting");
            if http(&format!("{}/-/ready", node.url), None).is_ok_and(|(s, _)| s == 200) {
                return node;
            }
            assert!(
                Instant::now() < deadline,
                "not ready in 60 s: {}",
                node.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the server logged so far (a log file's padding left out).
    fn stderr(&self) -> String {
        match &self.log {
            Log::Pipe(text, _) => String::from_utf8_lossy(&text.lock().unwrap()).into_owned(),
            Log::File(path) => {
                let bytes = std::fs::read(path).unwrap_or_default();
                String::from_utf8_lossy(&bytes).replace('\0', "")
            }
        }
    }

    /// Panics (with the server's log) when the process has exited.
    #[track_caller]
    fn assert_running(&mut self, when: &str) {
        let child = self.child.as_mut().expect("node was stopped");
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "fedstore exited with {status} while {when}; stderr:\n{}",
                self.stderr()
            );
        }
    }

    /// From now on no file of the process may grow past `bytes`.
    fn limit_file_size(&self, bytes: u64) {
        let pid = self.child.as_ref().expect("node was stopped").id();
        set_fsize_limit(pid, bytes);
    }

    /// `GET path`; panics with the server's log on a transport error.
    fn get(&self, path: &str) -> (u16, String) {
        http(&format!("{}{path}", self.url), None)
            .unwrap_or_else(|e| panic!("GET {path}: {e}; stderr:\n{}", self.stderr()))
    }

    /// Sends batch `k` of `series` series: import (text format) for even `k`, remote write
    /// for odd `k`. Panics with the server's log on a transport error.
    fn write_batch(&self, k: u64, series: usize, base_ms: i64) -> (u16, String) {
        self.try_write_batch(k, series, base_ms)
            .unwrap_or_else(|e| panic!("batch {k}: {e}; stderr:\n{}", self.stderr()))
    }

    /// [`Node::write_batch`]; `Err` on a transport error.
    fn try_write_batch(
        &self,
        k: u64,
        series: usize,
        base_ms: i64,
    ) -> Result<(u16, String), String> {
        let (path, content_type, body) = if k.is_multiple_of(2) {
            let mut text = String::new();
            for i in 0..series {
                for (t, v) in batch_samples(k, base_ms) {
                    text.push_str(&format!("diskfull{{batch=\"{k}\",i=\"{i}\"}} {v} {t}\n"));
                }
            }
            ("/api/v1/import/prometheus", "text/plain", text.into_bytes())
        } else {
            let body = remote_write_body(k, series, base_ms);
            ("/api/v1/write", "application/x-protobuf", body)
        };
        http_post(&format!("{}{path}", self.url), content_type, &body)
            .map_err(|e| format!("{path}: {e}"))
    }

    /// Batches present on the server: `batch -> [(i, value, timestamp)]`.
    fn present(&self) -> BTreeMap<u64, Vec<(usize, f64, i64)>> {
        let (status, body) = self.get(&format!(
            "/federate?match[]={}",
            enc("{__name__=\"diskfull\"}")
        ));
        assert_eq!(status, 200, "{body}");
        let mut out: BTreeMap<u64, Vec<(usize, f64, i64)>> = BTreeMap::new();
        for line in body
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let label = |name: &str| {
                line.split(&format!("{name}=\""))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .and_then(|r| r.parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("no label {name} in federate line {line:?}"))
            };
            let mut words = line.rsplit(' ');
            let t: i64 = words.next().and_then(|w| w.parse().ok()).unwrap();
            let v: f64 = words.next().and_then(|w| w.parse().ok()).unwrap();
            out.entry(label("batch"))
                .or_default()
                .push((label("i") as usize, v, t));
        }
        out
    }

    /// SIGTERM, then waits for the exit (at most 20 s); `None` if it did not exit in time.
    fn terminate(mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(s) = child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Log::Pipe(_, reader) = &mut self.log
            && let Some(r) = reader.take()
        {
            let _ = r.join();
        }
    }
}

/// The samples of every series of batch `k`: two, the last one with value `k`.
fn batch_samples(k: u64, base_ms: i64) -> [(i64, f64); 2] {
    let t = base_ms + 2 * k as i64;
    [(t, k as f64 + 0.5), (t + 1, k as f64)]
}

fn remote_write_body(k: u64, series: usize, base_ms: i64) -> Vec<u8> {
    let label = |name: &str, value: String| Label {
        name: name.into(),
        value,
    };
    let timeseries = (0..series)
        .map(|i| TimeSeries {
            labels: vec![
                label("__name__", "diskfull".into()),
                label("batch", k.to_string()),
                label("i", i.to_string()),
            ],
            samples: batch_samples(k, base_ms)
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
            ..TimeSeries::default()
        })
        .collect();
    let raw = WriteRequest {
        timeseries,
        metadata: vec![],
    }
    .encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&raw).unwrap()
}

/// Size of the largest file under `dir`.
fn largest_file(dir: &Path) -> u64 {
    let mut max = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        max = max.max(if meta.is_dir() {
            largest_file(&entry.path())
        } else {
            meta.len()
        });
    }
    max
}

/// Makes the child ignore `SIGXFSZ`, so a write past `RLIMIT_FSIZE` fails with `EFBIG`
/// instead of killing it.
#[allow(unsafe_code)]
fn ignore_sigxfsz(cmd: &mut Command) {
    let hook = || {
        // SAFETY: signal(2) with SIG_IGN installs no handler code and is async-signal-safe,
        // so it may run between fork and exec.
        let prev = unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
        if prev == libc::SIG_ERR {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook only calls signal(2) (see above); it allocates nothing and touches no
    // state shared with the parent.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// Sets the soft `RLIMIT_FSIZE` of process `pid` to `bytes` (the hard limit is kept).
#[allow(unsafe_code)]
fn set_fsize_limit(pid: u32, bytes: u64) {
    let pid = libc::pid_t::try_from(pid).unwrap();
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a null new limit is only read as "none"; `old` is a valid rlimit for the call.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_FSIZE, std::ptr::null(), &mut old) };
    assert_eq!(rc, 0, "prlimit get: {}", std::io::Error::last_os_error());
    let new = libc::rlimit {
        rlim_cur: bytes.min(old.rlim_max),
        rlim_max: old.rlim_max,
    };
    // SAFETY: `new` is a valid rlimit for the call; a null old limit is not written.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_FSIZE, &new, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit set: {}", std::io::Error::last_os_error());
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn read_answer(resp: ureq::http::Response<ureq::Body>) -> Result<(u16, String), String> {
    let status = resp.status().as_u16();
    let mut text = String::new();
    resp.into_body()
        .into_reader()
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    Ok((status, text))
}

/// GET or (with a body) POST as text; `Err` on a transport failure.
fn http(url: &str, body: Option<&[u8]>) -> Result<(u16, String), String> {
    match body {
        None => read_answer(agent().get(url).call().map_err(|e| e.to_string())?),
        Some(b) => http_post(url, "text/plain", b),
    }
}

fn http_post(url: &str, content_type: &str, body: &[u8]) -> Result<(u16, String), String> {
    let resp = agent()
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .map_err(|e| e.to_string())?;
    read_answer(resp)
}

/// Asserts that exactly the batches `acked` (batch, series) are present, each whole with its
/// last sample.
#[track_caller]
fn assert_exactly(
    present: &BTreeMap<u64, Vec<(usize, f64, i64)>>,
    acked: &[(u64, usize)],
    base_ms: i64,
) {
    for &(k, series) in acked {
        let mut got = present
            .get(&k)
            .unwrap_or_else(|| panic!("acknowledged batch {k} is missing"))
            .clone();
        got.sort_by_key(|s| s.0);
        let (t, v) = batch_samples(k, base_ms)[1];
        let want: Vec<(usize, f64, i64)> = (0..series).map(|i| (i, v, t)).collect();
        assert_eq!(got, want, "acknowledged batch {k}");
    }
    let extra: Vec<(&u64, usize)> = present
        .iter()
        .filter(|(k, _)| !acked.iter().any(|a| a.0 == **k))
        .map(|(k, s)| (k, s.len()))
        .collect();
    assert!(
        extra.is_empty(),
        "refused batches are (partly) stored: (batch, series) {extra:?}"
    );
}

/// Asserts a refusal: a 5xx whose body names the kernel's error (`EFBIG`).
#[track_caller]
fn assert_refused(what: &str, answer: &(u16, String)) {
    assert_refused_because(what, answer, "File too large");
}

/// Asserts a refusal: a 5xx whose body contains `cause`.
#[track_caller]
fn assert_refused_because(what: &str, (status, body): &(u16, String), cause: &str) {
    assert!(
        matches!(status, 500 | 503),
        "{what}: want a 5xx on a failing disk, got {status} {body:?}"
    );
    assert!(
        body.contains(cause),
        "{what}: the {status} body does not name the cause ({cause:?}): {body:?}"
    );
}

/// Files made immutable with `chattr +i` (writes fail with `EPERM`, even for root and on
/// files already open); made mutable again on drop so the temp dir can go.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    /// `None` when the file system or the container does not allow it.
    fn set(files: Vec<PathBuf>) -> Option<Immutable> {
        let ok = Command::new("chattr")
            .arg("+i")
            .args(&files)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let guard = Immutable(files);
        ok.then_some(guard)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr")
            .arg("-i")
            .args(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

/// A permission error on the write path: the WAL's files become immutable, so the next WAL
/// write fails with `EPERM` ("Operation not permitted"). Every write from then on answers a 5xx
/// naming it (the WAL is poisoned), the server keeps serving what it acknowledged, and once the
/// files are writable again a restart brings back exactly the acknowledged batches.
#[test]
fn permission_error_on_the_wal_refuses_writes_with_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path(), &[]);
    let base_ms = wall_ms() - 60_000;
    let mut acked = Vec::new();
    for k in 0..4 {
        let answer = node.write_batch(k, SERIES_PER_BATCH, base_ms);
        assert_eq!(answer.0, 204, "batch {k}: {answer:?}");
        acked.push((k, SERIES_PER_BATCH));
    }
    let wal = dir.path().join("data").join("wal");
    let files: Vec<PathBuf> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    let Some(immutable) = Immutable::set(files) else {
        crate::support::skip(
            "permission_error_on_the_wal_refuses_writes_with_5xx",
            "`chattr +i` is refused here (needs an ext4-like file system and \
             CAP_LINUX_IMMUTABLE)",
        );
        return;
    };
    for k in 4..8 {
        let answer = node.write_batch(k, SERIES_PER_BATCH, base_ms);
        assert_refused_because(&format!("batch {k}"), &answer, "Operation not permitted");
    }
    assert_serving(&mut node, true);
    assert_exactly(&node.present(), &acked, base_ms);
    drop(immutable);
    assert!(
        node.terminate().is_some(),
        "fedstore did not stop within 20 s of SIGTERM"
    );
    let node = Node::start(dir.path(), &[]);
    assert_exactly(&node.present(), &acked, base_ms);
}

/// Asserts the server is alive, healthy, and reports `fedstore_wal_poisoned` as `poisoned`.
#[track_caller]
fn assert_serving(node: &mut Node, poisoned: bool) {
    node.assert_running("refusing writes");
    assert_eq!(node.get("/-/healthy").0, 200);
    let (status, metrics) = node.get("/metrics");
    assert_eq!(status, 200);
    let want = format!("fedstore_wal_poisoned {}", u8::from(poisoned));
    assert!(
        metrics.lines().any(|l| l == want),
        "/metrics lacks {want:?}: {}",
        metrics
            .lines()
            .filter(|l| l.contains("wal"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Writes batches of [`SERIES_PER_BATCH`] series until the disk is full, then three more (so
/// both endpoints are refused), each refusal a 5xx naming the kernel's error
/// ([`assert_refused`]); returns the acknowledged batches and the refused ones.
fn fill(node: &Node, base_ms: i64, limit: u64) -> (Vec<(u64, usize)>, Vec<u64>) {
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    for k in 0..MAX_BATCHES {
        let answer = match node.try_write_batch(k, SERIES_PER_BATCH, base_ms) {
            Ok(a) => a,
            Err(e) => panic!("batch {k}: {e}; stderr:\n{}", node.stderr()),
        };
        if answer.0 == 204 {
            assert!(
                refused.is_empty(),
                "batch {k} acknowledged after batch {:?} was refused (a failed WAL write \
                 must refuse every later write until restart)",
                refused.first()
            );
            acked.push((k, SERIES_PER_BATCH));
            continue;
        }
        assert_refused(&format!("batch {k}"), &answer);
        refused.push(k);
        if refused.len() == 4 {
            break;
        }
    }
    assert!(
        !refused.is_empty(),
        "no write failed in {MAX_BATCHES} batches with a file size limit of {limit} bytes"
    );
    assert!(
        acked.len() >= 2,
        "the disk was full after {} batches; the budget is meant for more",
        acked.len()
    );
    (acked, refused)
}

/// The WAL fills up mid-stream: the first write that does not fit, and every one after it,
/// is refused (the WAL is poisoned until restart); the restart cuts the torn record. In every
/// fsync mode: the failing write is the same, only the waiting after it differs.
#[test]
fn full_disk_refuses_writes_with_5xx_and_keeps_acknowledged_data() {
    for fsync in ["group", "always", "100ms"] {
        wal_fills_up(fsync);
    }
}

fn wal_fills_up(fsync: &str) {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--storage.wal.fsync", fsync];
    let mut node = Node::start(dir.path(), &flags);
    let limit = largest_file(&dir.path().join("data")) + BUDGET_BYTES;
    node.limit_file_size(limit);
    let base_ms = wall_ms() - 60_000;

    let (mut acked, refused) = fill(&node, base_ms, limit);

    // Still alive and serving what it acknowledged; the failure is visible and logged.
    assert_serving(&mut node, true);
    assert_exactly(&node.present(), &acked, base_ms);
    let log = node.stderr();
    assert!(
        log.contains("File too large"),
        "fsync {fsync}: the failure is not logged: {log}"
    );

    // A graceful stop must not hang (its final WAL fsync is refused: the exit code says so).
    let status = node.terminate();
    assert!(
        status.is_some(),
        "fsync {fsync}: fedstore did not stop within 20 s of SIGTERM"
    );

    // Restart without the limit: the torn WAL tail is cut, exactly the acknowledged batches
    // are back, and writes work again.
    let node = Node::start(dir.path(), &flags);
    assert_exactly(&node.present(), &acked, base_ms);
    let k = refused[refused.len() - 1] + 1;
    let (status, body) = node.write_batch(k, SERIES_PER_BATCH, base_ms);
    assert_eq!(status, 204, "fsync {fsync}: write after restart: {body}");
    acked.push((k, SERIES_PER_BATCH));
    assert_exactly(&node.present(), &acked, base_ms);
}

/// A batch whose new series need the head's series column to grow past the space left is
/// refused whole by both endpoints (500, the file named), before anything reaches the WAL:
/// the WAL is not poisoned and the server goes on.
#[test]
fn batch_larger_than_free_space_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    // One shard: all series grow the same column file.
    let mut node = Node::start(dir.path(), &["--storage.tsdb.head-shards", "1"]);
    let base_ms = wall_ms() - 60_000;
    let first = node.write_batch(0, SERIES_PER_BATCH, base_ms);
    assert_eq!(first.0, 204, "{}", first.1);
    // No file may grow past the largest one there is: far less than 2000 series need.
    node.limit_file_size(largest_file(&dir.path().join("data")));
    for k in [2, 3] {
        let answer = node.write_batch(k, BIG_BATCH_SERIES, base_ms);
        assert_refused(&format!("batch {k} of {BIG_BATCH_SERIES} series"), &answer);
    }
    assert_serving(&mut node, false);
    let acked = [(0, SERIES_PER_BATCH)];
    assert_exactly(&node.present(), &acked, base_ms);
    assert!(
        node.terminate().is_some(),
        "fedstore did not stop within 20 s of SIGTERM"
    );
    let node = Node::start(dir.path(), &[]);
    assert_exactly(&node.present(), &acked, base_ms);
}

/// The log file is on the full disk too (`2>>file`), so the server cannot log the failure
/// either: every refusal is still a 5xx naming the cause, nothing unstored is acknowledged,
/// the WAL stays refused when space comes back (a write appended after the torn record would
/// be dropped by replay), and a restart brings back exactly the acknowledged batches. (This
/// failed while a failed log write panicked the logging thread: tracing's
/// `log_internal_errors` reports with `eprintln!`, which panics when stderr cannot be
/// written; the first failing request answered "import worker failed: Blocking thread pool
/// is shut down unexpectedly" or dropped the connection.)
#[test]
fn full_disk_under_the_log_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fedstore.log");
    let mut node = Node::start_logging(dir.path(), &[], Some(&log));
    let limit = largest_file(&dir.path().join("data")) + BUDGET_BYTES;
    // The log already reaches the limit (a sparse hole), so every log write fails.
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(limit)
        .unwrap();
    node.limit_file_size(limit);
    let base_ms = wall_ms() - 60_000;
    let (acked, refused) = fill(&node, base_ms, limit);
    assert_serving(&mut node, true);
    assert_exactly(&node.present(), &acked, base_ms);

    // Space comes back: the WAL still refuses until restart.
    node.limit_file_size(u64::MAX);
    let k = refused[refused.len() - 1] + 1;
    let answer = node.write_batch(k, SERIES_PER_BATCH, base_ms);
    assert_refused(&format!("batch {k} after space came back"), &answer);
    assert_serving(&mut node, true);
    assert_exactly(&node.present(), &acked, base_ms);
    assert!(
        node.terminate().is_some(),
        "fedstore did not stop within 20 s of SIGTERM"
    );

    let node = Node::start(dir.path(), &[]);
    assert_exactly(&node.present(), &acked, base_ms);
}
