//! A real Prometheus 2.42 (`/usr/bin/prometheus`) as a child process of a live differential
//! test: own temp data dir, loopback port chosen by the test, killed on drop (also on panic).
//! The one launcher of real Prometheus for every integration test. Tests call [`installed`]
//! (or [`Prometheus::start`]) first and return when it is missing: the skip is recorded in
//! `target/test-skips.log`, and with `CI=true` a missing Prometheus fails the test instead.

use std::time::{Duration, Instant};

use fedstore_tools::procs::ChildGuard;

use crate::support::{Answer, enc, get};

/// The Debian Prometheus 2.42 binary the live tests run against.
pub const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Its promtool (blocks from OpenMetrics, `promtool query`).
pub const PROMTOOL: &str = "/usr/bin/promtool";

/// Whether Prometheus is installed. When it is not, the skip is recorded in
/// `target/test-skips.log` (the test should return), or, with `CI=true`, the test fails.
#[track_caller]
pub fn installed(test: &str) -> bool {
    fedstore_tools::skips::peer_installed(test, PROMETHEUS)
}

/// Waits until `127.0.0.1:<port>` can be bound (another run of the same test, e.g. a
/// teammate's full `cargo test`, may hold this file's fixed ports for a while).
#[track_caller]
pub fn wait_port_free(port: u16, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "127.0.0.1:{port} still busy after {secs}s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A running Prometheus on `127.0.0.1:<port>`.
pub struct Prometheus {
    guard: ChildGuard,
    url: String,
    dir: tempfile::TempDir,
}

/// A free loopback port for a real Prometheus whose address the test must know in advance
/// (tests that run Prometheus without fixed ports take them from 19860-19959).
pub fn free_port() -> u16 {
    crate::support::free_port_in(19860)
}

impl Prometheus {
    /// Starts Prometheus with `yaml` on `port` and waits until it is ready; `None` (skip
    /// recorded, or a failure under `CI=true`) when it is not installed.
    #[track_caller]
    pub fn start(test: &str, port: u16, yaml: &str, extra: &[&str]) -> Option<Prometheus> {
        if !installed(test) {
            return None;
        }
        wait_port_free(port, 60);
        let mut p = Prometheus::spawn(port, yaml, extra);
        p.wait_ready(30);
        Some(p)
    }

    /// Spawns Prometheus with `yaml` as its config file, a lookback of 5 m and `extra` flags;
    /// does not wait (see [`Prometheus::wait_ready`]).
    pub fn spawn(port: u16, yaml: &str, extra: &[&str]) -> Prometheus {
        Self::spawn_in(tempfile::tempdir().unwrap(), port, yaml, extra)
    }

    /// Stops it (SIGTERM, so its WAL is complete) and hands back its directory, for a
    /// restart on the same data with [`Prometheus::spawn_in`].
    pub fn stop_keep_data(mut self) -> tempfile::TempDir {
        self.guard.stop(Duration::from_secs(20));
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// [`Prometheus::spawn`] in `dir` (its `data/` kept from an earlier run).
    pub fn spawn_in(dir: tempfile::TempDir, port: u16, yaml: &str, extra: &[&str]) -> Prometheus {
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, yaml).unwrap();
        let mut cmd = std::process::Command::new(PROMETHEUS);
        cmd.arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--query.lookback-delta=5m")
            .args(extra);
        let guard = ChildGuard::spawn("prometheus", cmd, &dir.path().join("log")).unwrap();
        Prometheus {
            guard,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    /// [`Prometheus::spawn`] on a data directory that already holds the blocks `promtool tsdb
    /// create-blocks-from openmetrics` makes of `openmetrics` (panics with promtool's output
    /// when it fails).
    pub fn spawn_with_blocks(
        port: u16,
        yaml: &str,
        extra: &[&str],
        openmetrics: &str,
    ) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input.om");
        std::fs::write(&input, openmetrics).unwrap();
        let out = std::process::Command::new(PROMTOOL)
            .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
            .arg(&input)
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool create-blocks-from openmetrics failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(&input).unwrap();
        Self::spawn_in(dir, port, yaml, extra)
    }

    /// Base URL, e.g. `http://127.0.0.1:19800`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The last `lines` lines of its log (for failure messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Fails (with the log) if the process has exited.
    #[track_caller]
    pub fn assert_alive(&mut self) {
        if let Err(e) = self.guard.check_alive() {
            panic!("{e}\n--- prometheus log\n{}", self.log_tail(30));
        }
    }

    /// Waits until `/-/ready` answers 200.
    #[track_caller]
    pub fn wait_ready(&mut self, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            self.assert_alive();
            if ureq::get(&format!("{}/-/ready", self.url)).call().is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready after {secs}s\n{}",
                self.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /federate` with these `match[]` values, no `Accept`/`Accept-Encoding` header.
    pub fn federate(&self, matches: &[String]) -> Answer {
        get(&federate_url(&self.url, matches), &[])
    }

    /// The series of its `/federate` for `matches`: sample lines without `# TYPE` lines,
    /// values and timestamps, sorted.
    pub fn series(&self, matches: &[&str]) -> Vec<String> {
        let matches: Vec<String> = matches.iter().map(|m| (*m).to_owned()).collect();
        let a = self.federate(&matches);
        assert_eq!(a.status, 200, "{}", a.text());
        let mut s = series_of(&a.text());
        s.sort();
        s
    }

    /// Waits until the target of `job` has been scraped successfully (`up` is 1) and then
    /// once more (its `up` timestamp moved), so that the samples of a complete scrape are in.
    /// Fails at once when `up` is 0 (the exposition did not parse), with the target's error.
    #[track_caller]
    pub fn wait_scraped(&mut self, job: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let sel = [format!("up{{job=\"{job}\"}}")];
        let mut first_ts: Option<String> = None;
        loop {
            self.assert_alive();
            let a = self.federate(&sel);
            let body = String::from_utf8_lossy(&a.body).into_owned();
            if let Some(line) = body.lines().find(|l| l.starts_with("up{")) {
                let mut parts = line.rsplitn(3, ' ');
                let (ts, value) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                if value == "0" {
                    let targets = get(&format!("{}/api/v1/targets", self.url), &[]).text();
                    panic!("Prometheus scrape of job {job} failed (up 0): {targets}");
                }
                match &first_ts {
                    None => first_ts = Some(ts.to_owned()),
                    Some(t) if t != ts => return,
                    Some(_) => {}
                }
            }
            assert!(
                Instant::now() < deadline,
                "job {job} not scraped twice within {secs}s\n{}",
                self.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SIGTERM then SIGKILL; a short grace keeps failing tests quick.
        self.guard.stop(Duration::from_secs(3));
    }
}

/// The series of a federate body: its sample lines without values and timestamps.
pub fn series_of(body: &str) -> Vec<String> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.rsplitn(3, ' ').last().unwrap_or(l).to_owned())
        .collect()
}

/// `<base>/federate?match[]=..` (no `match[]` at all for an empty list).
pub fn federate_url(base: &str, matches: &[String]) -> String {
    let q: Vec<String> = matches
        .iter()
        .map(|m| format!("match[]={}", enc(m)))
        .collect();
    if q.is_empty() {
        format!("{base}/federate")
    } else {
        format!("{base}/federate?{}", q.join("&"))
    }
}
