//! Scraping end to end: fixture targets served by the test, a real fedstore server with a
//! scrape configuration, `/federate` and `/api/v1/targets` checked; reload; a two-level
//! federation tree; and the real-Prometheus proofs (started by `crate::prometheus`, which
//! records a skip without the binary and fails under `CI=true`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fedstore::scrape::ScrapeManager;
use fedstore::server::{self, AppState};
use parking_lot::Mutex;

use crate::prometheus::{Prometheus, free_port};
use crate::support::{enc, get, post};

// ---------------------------------------------------------------------------------------
// Fixture targets

/// What a fixture path answers.
#[derive(Clone)]
struct Reply {
    status: u16,
    content_type: String,
    body: String,
    delay: Duration,
}

impl Reply {
    fn ok(body: &str) -> Reply {
        Reply {
            status: 200,
            content_type: "text/plain; version=0.0.4".to_owned(),
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }
}

/// A tiny HTTP server on 127.0.0.1:0 answering by path; records request heads.
pub(crate) struct Fixture {
    pub(crate) addr: String,
    replies: Arc<Mutex<HashMap<String, Reply>>>,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Fixture {
    pub(crate) fn start() -> Fixture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let replies: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, q, s) = (replies.clone(), requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (r, q) = (r.clone(), q.clone());
                std::thread::spawn(move || serve_conn(conn, &r, &q));
            }
        });
        Fixture {
            addr,
            replies,
            requests,
            stop,
        }
    }

    fn set(&self, path: &str, reply: Reply) {
        self.replies.lock().insert(path.to_owned(), reply);
    }

    pub(crate) fn set_body(&self, path: &str, body: &str) {
        self.set(path, Reply::ok(body));
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn serve_conn(
    mut conn: TcpStream,
    replies: &Mutex<HashMap<String, Reply>>,
    requests: &Mutex<Vec<String>>,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match conn.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let path = head
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .split('?')
            .next()
            .unwrap_or("/")
            .to_owned();
        requests.lock().push(head);
        let reply = replies.lock().get(&path).cloned().unwrap_or(Reply {
            status: 404,
            content_type: "text/plain".to_owned(),
            body: "404 page not found\n".to_owned(),
            delay: Duration::ZERO,
        });
        std::thread::sleep(reply.delay);
        let reason = match reply.status {
            200 => "OK",
            404 => "Not Found",
            500 => "Internal Server Error",
            _ => "Other",
        };
        let resp = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n{}",
            reply.status,
            reply.content_type,
            reply.body.len(),
            reply.body
        );
        if conn.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// A fedstore server with a scrape configuration

pub(crate) struct ScrapeServer {
    url: String,
    pub(crate) addr: String,
    state: Arc<AppState>,
    config_path: PathBuf,
    manager: ScrapeManager,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: tempfile::TempDir,
}

impl ScrapeServer {
    /// Starts a server scraping per `yaml` (written to a file so reload can re-read it).
    pub(crate) fn start(yaml: &str) -> ScrapeServer {
        Self::start_opts(yaml, true)
    }

    /// The storage keeps a WAL in the server's temp dir, as `fedstore serve` does.
    fn start_opts(yaml: &str, lifecycle: bool) -> ScrapeServer {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, yaml).unwrap();
        let cfg = fedstore::config::Config::load(&config_path).unwrap();
        let db = crate::support::open_db(dir.path(), None);
        let head = db.head().clone();
        let mut state = AppState::new(db);
        let manager = ScrapeManager::new(head, 1, state.metrics.clone()).unwrap();
        manager.apply_config(&cfg).unwrap();
        state.external_labels = parking_lot::RwLock::new(Arc::new(
            fedstore::config::ExternalLabels::new(cfg.external_labels()),
        ));
        state.scrape = Some(manager.clone());
        state.config_file = Some(config_path.clone());
        state.enable_lifecycle = lifecycle;
        let state = Arc::new(state);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new()
                .block_on(server::run(listener, st, async {
                    let _ = rx.await;
                }))
                .unwrap();
        });
        ScrapeServer {
            url: format!("http://{addr}"),
            addr,
            state,
            config_path,
            manager,
            stop: Some(tx),
            thread: Some(thread),
            dir,
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:12345`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn federate(&self, matches: &[&str]) -> String {
        let q: Vec<String> = matches
            .iter()
            .map(|m| format!("match[]={}", enc(m)))
            .collect();
        let a = get(&format!("{}/federate?{}", self.url, q.join("&")), &[]);
        assert_eq!(a.status, 200, "{}", a.text());
        a.text()
    }

    /// Sample lines (no `# TYPE`) of `/federate` for `matches`, timestamps removed.
    pub(crate) fn series(&self, matches: &[&str]) -> Vec<String> {
        crate::prometheus::series_of(&self.federate(matches))
    }

    fn targets(&self) -> serde_json::Value {
        let a = get(&format!("{}/api/v1/targets", self.url), &[]);
        assert_eq!(a.status, 200);
        assert_eq!(a.content_type, "application/json");
        serde_json::from_str(&a.text()).unwrap()
    }

    fn reload(&self, yaml: &str) -> crate::support::Answer {
        std::fs::write(&self.config_path, yaml).unwrap();
        post(&format!("{}/-/reload", self.url), "text/plain", b"")
    }
}

impl Drop for ScrapeServer {
    fn drop(&mut self) {
        self.manager.stop();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = &self.dir;
        let _ = &self.state;
    }
}

/// Polls `f` every 100 ms until it returns `Some`, failing after `secs` seconds.
#[track_caller]
pub(crate) fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn job(name: &str, targets: &[&str], extra: &str) -> String {
    let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "  - job_name: {name}\n{extra}    static_configs:\n      - targets: [{}]\n",
        list.join(", ")
    )
}

fn config(jobs: &[String]) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}",
        jobs.concat()
    )
}

/// The value of the sample line starting with `series ` in a federate body.
fn value_of(body: &str, series: &str) -> Option<String> {
    body.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|r| r.strip_prefix(' '))
            .map(|r| r.split(' ').next().unwrap_or("").to_owned())
    })
}

// ---------------------------------------------------------------------------------------
// Scrape semantics

#[test]
fn scrape_stores_samples_with_target_labels_and_synthetic_series() {
    let fx = Fixture::start();
    fx.set_body(
        "/metrics",
        "# TYPE m gauge\nm{a=\"1\"} 1\nm{a=\"2\",job=\"x\"} 2\nts_metric 7 1000\n",
    );
    let a = &fx.addr;
    let srv = ScrapeServer::start(&config(&[
        job("plain", &[a], ""),
        job(
            "honor",
            &[a],
            "    honor_labels: true\n    honor_timestamps: false\n",
        ),
    ]));
    let body = wait_for(10, "both jobs scraped", || {
        let b = srv.federate(&["{__name__=~\".+\"}"]);
        (b.matches("up{").count() == 2).then_some(b)
    });
    let inst = format!("instance=\"{a}\"");
    for (series, want) in [
        (format!("m{{a=\"1\",{inst},job=\"plain\"}}"), "1"),
        (
            format!("m{{a=\"2\",exported_job=\"x\",{inst},job=\"plain\"}}"),
            "2",
        ),
        (format!("m{{a=\"2\",{inst},job=\"x\"}}"), "2"),
        (format!("m{{a=\"1\",{inst},job=\"honor\"}}"), "1"),
        (format!("up{{{inst},job=\"plain\"}}"), "1"),
        (format!("up{{{inst},job=\"honor\"}}"), "1"),
        (
            format!("scrape_samples_scraped{{{inst},job=\"plain\"}}"),
            "3",
        ),
        (
            format!("scrape_samples_post_metric_relabeling{{{inst},job=\"plain\"}}"),
            "3",
        ),
    ] {
        assert_eq!(
            value_of(&body, &series).as_deref(),
            Some(want),
            "{series} in\n{body}"
        );
    }
    // Explicit timestamp honoured by `plain` (1000 ms is beyond the lookback: not federated),
    // replaced by the scrape time for `honor` (honor_timestamps: false).
    assert!(
        !body
            .lines()
            .any(|l| l.starts_with("ts_metric{") && l.contains("job=\"plain\"")),
        "{body}"
    );
    let honor_ts = format!("ts_metric{{{inst},job=\"honor\"}} 7 ");
    let line = body
        .lines()
        .find(|l| l.starts_with(&honor_ts))
        .expect("honor ts_metric");
    let t: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(t > 1_700_000_000_000, "scrape time, not 1000: {line}");
    // All samples of one scrape (scraped and synthetic) share one timestamp; retried in case
    // a scrape lands between the series of one read.
    wait_for(10, "one timestamp for the honor job's samples", || {
        let b = srv.federate(&["{job=\"honor\"}"]);
        let ts: std::collections::BTreeSet<&str> = b
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next())
            .collect();
        (ts.len() == 1 && b.lines().filter(|l| !l.starts_with('#')).count() == 7).then_some(())
    });
    let _ = t;
    // Request headers like Prometheus.
    let reqs = fx.requests.lock().clone();
    let first = &reqs[0];
    assert!(first.starts_with("GET /metrics HTTP/1.1\r\n"), "{first}");
    for h in [
        "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n",
        "Accept-Encoding: gzip\r\n",
        "X-Prometheus-Scrape-Timeout-Seconds: 1\r\n",
        "User-Agent: fedstore/",
    ] {
        assert!(first.contains(h), "{h} missing in {first}");
    }
    // The scrapes are counted in fedstore's own /metrics.
    let m = get(&format!("{}/metrics", srv.url), &[]).text();
    let ok = value_of(&m, "fedstore_scrapes_total{result=\"success\"}")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(ok >= 1.0, "fedstore_scrapes_total success = {ok}\n{m}");
    assert!(m.contains("fedstore_scrape_duration_seconds_count "), "{m}");
    let appended = value_of(
        &m,
        "fedstore_head_samples_appended_total{source=\"scrape\"}",
    )
    .and_then(|v| v.parse::<f64>().ok())
    .unwrap_or(0.0);
    assert!(appended >= 5.0, "scraped samples counted: {appended}\n{m}");
}

#[test]
fn failures_mark_up_zero_with_last_error() {
    let fx = Fixture::start();
    fx.set_body("/ok", "a 1\nb 2\nc 3\n");
    fx.set(
        "/slow",
        Reply {
            delay: Duration::from_millis(1500),
            ..Reply::ok("a 1\n")
        },
    );
    fx.set_body("/bad", "a 1\nb x\n");
    let a = &fx.addr;
    let srv = ScrapeServer::start(&config(&[
        job("missing", &[a], "    metrics_path: /nothing\n"),
        job(
            "slow",
            &[a],
            "    metrics_path: /slow\n    scrape_timeout: 500ms\n",
        ),
        job(
            "limited",
            &[a],
            "    metrics_path: /ok\n    sample_limit: 2\n",
        ),
        job("parse", &[a], "    metrics_path: /bad\n"),
        job(
            "relabel",
            &[a],
            "    metrics_path: /ok\n    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: b\n        action: drop\n",
        ),
    ]));
    let t = wait_for(10, "every target scraped", || {
        let t = srv.targets();
        let all = t["data"]["activeTargets"].as_array().unwrap().clone();
        (all.len() == 5 && all.iter().all(|x| x["health"] != "unknown")).then_some(all)
    });
    let by_pool: HashMap<String, serde_json::Value> = t
        .iter()
        .map(|x| (x["scrapePool"].as_str().unwrap().to_owned(), x.clone()))
        .collect();
    let url = |p: &str| format!("http://{a}{p}");
    let cases = [
        (
            "missing",
            "down",
            "server returned HTTP status 404 Not Found".to_owned(),
        ),
        (
            "slow",
            "down",
            format!("Get {:?}: context deadline exceeded", url("/slow")),
        ),
        ("limited", "down", "sample limit exceeded".to_owned()),
        (
            "parse",
            "down",
            "strconv.ParseFloat: parsing \"x\": invalid syntax".to_owned(),
        ),
        ("relabel", "up", String::new()),
    ];
    for (pool, health, err) in cases {
        let x = &by_pool[pool];
        assert_eq!(x["health"], health, "{pool}: {x}");
        assert_eq!(x["lastError"], err.as_str(), "{pool}: {x}");
        assert_eq!(x["scrapeInterval"], "1s");
        assert!(x["lastScrape"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(by_pool["slow"]["scrapeTimeout"], "500ms");
    let body = srv.federate(&["{__name__=~\"a|b|c|up|scrape_samples_scraped\"}"]);
    let inst = format!("instance=\"{a}\"");
    for (series, want) in [
        (format!("up{{{inst},job=\"missing\"}}"), Some("0")),
        (format!("up{{{inst},job=\"slow\"}}"), Some("0")),
        (format!("up{{{inst},job=\"limited\"}}"), Some("0")),
        (
            format!("scrape_samples_scraped{{{inst},job=\"limited\"}}"),
            Some("3"),
        ),
        (format!("a{{{inst},job=\"limited\"}}"), None),
        (format!("a{{{inst},job=\"parse\"}}"), None),
        (format!("up{{{inst},job=\"relabel\"}}"), Some("1")),
        (format!("a{{{inst},job=\"relabel\"}}"), Some("1")),
        (format!("b{{{inst},job=\"relabel\"}}"), None),
        (format!("c{{{inst},job=\"relabel\"}}"), Some("3")),
    ] {
        assert_eq!(
            value_of(&body, &series).as_deref(),
            want,
            "{series} in\n{body}"
        );
    }
}

/// A scrape whose commit fails (here: the WAL refuses writes) stored nothing: the target is
/// reported down with the cause, and its `up` is not refreshed.
#[test]
fn failed_commit_marks_the_target_down() {
    let fx = Fixture::start();
    fx.set_body("/metrics", "a 1\n");
    let srv = ScrapeServer::start_opts(&config(&[job("j", &[&fx.addr], "")]), true);
    let up = format!("up{{instance=\"{}\",job=\"j\"}}", fx.addr);
    wait_for(10, "a successful scrape", || {
        value_of(&srv.federate(&[&up]), &up).filter(|v| v == "1")
    });
    assert!(
        srv.state
            .head()
            .poison_wal_for_test("injected write failure")
    );
    let target = wait_for(10, "the target reported down", || {
        let t = srv.targets();
        let x = t["data"]["activeTargets"][0].clone();
        (x["health"] == "down").then_some(x)
    });
    let err = target["lastError"].as_str().unwrap();
    assert!(
        err.starts_with("scrape commit failed: ") && err.contains("injected write failure"),
        "{target}"
    );
    // Nothing of the failed scrapes was stored: `up` keeps the timestamp of the last good one.
    let stamp = |body: &str| body.lines().find(|l| l.starts_with(&up)).map(str::to_owned);
    let before = stamp(&srv.federate(&[&up])).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stamp(&srv.federate(&[&up])).unwrap(), before);
}

#[test]
fn target_limit_fails_every_target_of_the_pool() {
    let fx = Fixture::start();
    fx.set_body("/metrics", "x 1\n");
    let a = &fx.addr;
    let other = a.replace("127.0.0.1", "localhost");
    let srv = ScrapeServer::start(&config(&[job(
        "many",
        &[a, &other],
        "    target_limit: 1\n",
    )]));
    let t = wait_for(10, "targets scraped", || {
        let t = srv.targets();
        let all = t["data"]["activeTargets"].as_array().unwrap().clone();
        all.iter().all(|x| x["health"] == "down").then_some(all)
    });
    for x in &t {
        assert_eq!(
            x["lastError"], "target_limit exceeded (number of targets: 2, limit: 1)",
            "{x}"
        );
    }
    assert!(srv.series(&["x"]).is_empty());
    assert_eq!(
        fx.requests.lock().len(),
        0,
        "no request is sent over the limit"
    );
}

#[test]
fn authentication_headers() {
    let fx = Fixture::start();
    fx.set_body("/basic", "x 1\n");
    fx.set_body("/bearer", "x 1\n");
    fx.set_body("/file", "x 1\n");
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "from-file\n").unwrap();
    let a = &fx.addr;
    let srv = ScrapeServer::start(&config(&[
        job(
            "basic",
            &[a],
            "    metrics_path: /basic\n    basic_auth: {username: u, password: p}\n",
        ),
        job(
            "bearer",
            &[a],
            "    metrics_path: /bearer\n    bearer_token: tok\n",
        ),
        job(
            "file",
            &[a],
            &format!(
                "    metrics_path: /file\n    authorization: {{type: Custom, credentials_file: '{}'}}\n",
                token.display()
            ),
        ),
    ]));
    let reqs = wait_for(10, "three authenticated scrapes", || {
        let r = fx.requests.lock().clone();
        let paths = ["/basic", "/bearer", "/file"];
        paths
            .iter()
            .all(|p| r.iter().any(|q| q.starts_with(&format!("GET {p} "))))
            .then_some(r)
    });
    for (path, header) in [
        ("/basic", "Authorization: Basic dTpw\r\n"),
        ("/bearer", "Authorization: Bearer tok\r\n"),
        ("/file", "Authorization: Custom from-file\r\n"),
    ] {
        let q = reqs
            .iter()
            .find(|q| q.starts_with(&format!("GET {path} ")))
            .unwrap();
        assert!(q.contains(header), "{header:?} missing in {q}");
    }
    drop(srv);
}

#[test]
fn parser_follows_the_content_type() {
    let fx = Fixture::start();
    let om = "application/openmetrics-text; version=1.0.0; charset=utf-8".to_owned();
    fx.set(
        "/om",
        Reply {
            content_type: om.clone(),
            ..Reply::ok("# TYPE c counter\nc_total 5 1.5\n# EOF\n")
        },
    );
    fx.set(
        "/om-no-eof",
        Reply {
            content_type: om,
            ..Reply::ok("c_total 5\n")
        },
    );
    // Text format: tabs between tokens are fine, which OpenMetrics would reject.
    fx.set_body("/text", "t\t7\n");
    let a = &fx.addr;
    let srv = ScrapeServer::start(&config(&[
        job(
            "om",
            &[a],
            "    metrics_path: /om\n    honor_timestamps: false\n",
        ),
        job("omfail", &[a], "    metrics_path: /om-no-eof\n"),
        job("text", &[a], "    metrics_path: /text\n"),
    ]));
    let t = wait_for(10, "three scrapes", || {
        let t = srv.targets();
        let all = t["data"]["activeTargets"].as_array().unwrap().clone();
        all.iter().all(|x| x["health"] != "unknown").then_some(all)
    });
    let err: HashMap<&str, &str> = t
        .iter()
        .map(|x| {
            (
                x["scrapePool"].as_str().unwrap(),
                x["lastError"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(err["om"], "");
    assert_eq!(err["omfail"], "data does not end with # EOF");
    assert_eq!(err["text"], "");
    let body = srv.federate(&["{__name__=~\"c_total|t\"}"]);
    let inst = format!("instance=\"{a}\"");
    assert_eq!(
        value_of(&body, &format!("c_total{{{inst},job=\"om\"}}")).as_deref(),
        Some("5")
    );
    assert_eq!(
        value_of(&body, &format!("t{{{inst},job=\"text\"}}")).as_deref(),
        Some("7")
    );
}

#[test]
fn target_relabeling_keep_drop_hashmod() {
    let fx = Fixture::start();
    fx.set_body("/metrics", "x 1\n");
    let a = &fx.addr;
    // Three targets for one real address: `__address__` is rewritten after the decision.
    let relabel = [
        "    relabel_configs:",
        "      - source_labels: [__address__]",
        "        regex: 'drop.*'",
        "        action: drop",
        "      - source_labels: [__address__]",
        "        modulus: 2",
        "        target_label: __tmp_hash",
        "        action: hashmod",
        "      - source_labels: [__address__]",
        "        target_label: name",
        "      - target_label: __address__",
        &format!("        replacement: '{a}'"),
        "",
    ]
    .join("\n");
    let srv = ScrapeServer::start(&config(&[job(
        "r",
        &["keep-a:1", "keep-b:2", "drop-c:3"],
        &relabel,
    )]));
    let t = srv.targets();
    let active = t["data"]["activeTargets"].as_array().unwrap();
    let dropped = t["data"]["droppedTargets"].as_array().unwrap();
    assert_eq!(active.len(), 2, "{t}");
    assert_eq!(dropped.len(), 1, "{t}");
    assert_eq!(dropped[0]["discoveredLabels"]["__address__"], "drop-c:3");
    let names: Vec<&str> = active
        .iter()
        .map(|x| x["labels"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["keep-a:1", "keep-b:2"]);
    for x in active {
        assert_eq!(
            x["labels"]["instance"],
            a.as_str(),
            "instance defaults to the final address"
        );
        assert!(
            x["labels"].get("__tmp_hash").is_none(),
            "__ labels are not public"
        );
        assert_eq!(x["discoveredLabels"]["job"], "r");
    }
    let only_active = get(&format!("{}/api/v1/targets?state=active", srv.url), &[]).text();
    assert!(
        only_active.contains("\"droppedTargets\":[]"),
        "{only_active}"
    );
    let only_dropped = get(&format!("{}/api/v1/targets?state=Dropped", srv.url), &[]).text();
    assert!(
        only_dropped.contains("\"activeTargets\":[]"),
        "{only_dropped}"
    );
    // Both kept targets scrape the same address and store distinct series (label `name`).
    wait_for(10, "both targets scraped", || {
        (srv.series(&["x"]).len() == 2).then_some(())
    });
}

#[test]
fn vanished_series_and_down_target_go_stale() {
    let fx = Fixture::start();
    fx.set_body("/metrics", "keep 1\ngoes 2\n");
    let srv = ScrapeServer::start(&config(&[job("s", &[&fx.addr], "")]));
    let inst = format!("instance=\"{}\"", fx.addr);
    wait_for(10, "first scrape", || {
        (srv.series(&["goes"]).len() == 1).then_some(())
    });
    fx.set_body("/metrics", "keep 1\n");
    wait_for(10, "goes leaves /federate", || {
        srv.series(&["goes"]).is_empty().then_some(())
    });
    assert_eq!(srv.series(&["keep"]), [format!("keep{{{inst},job=\"s\"}}")]);
    // Target down: its series go stale, only up and scrape_* remain.
    fx.replies.lock().clear();
    wait_for(10, "keep goes stale", || {
        srv.series(&["keep"]).is_empty().then_some(())
    });
    let body = srv.federate(&["{job=\"s\"}"]);
    assert_eq!(
        value_of(&body, &format!("up{{{inst},job=\"s\"}}")).as_deref(),
        Some("0")
    );
    assert!(
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| l.starts_with("up") || l.starts_with("scrape_")),
        "{body}"
    );
}

#[test]
fn reload_adds_keeps_and_removes_targets() {
    let fx1 = Fixture::start();
    let fx2 = Fixture::start();
    fx1.set_body("/metrics", "one 1\n");
    fx2.set_body("/metrics", "two 2\n");
    let srv = ScrapeServer::start(&config(&[job("a", &[&fx1.addr], "")]));
    wait_for(10, "one scraped", || {
        (srv.series(&["one"]).len() == 1).then_some(())
    });
    let before = srv.targets()["data"]["activeTargets"][0]["lastScrape"].clone();
    let _ = before;
    // Add job b, keep job a unchanged.
    let a = srv.reload(&config(&[
        job("a", &[&fx1.addr], ""),
        job("b", &[&fx2.addr], ""),
    ]));
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.text(), "");
    wait_for(10, "two scraped", || {
        (srv.series(&["two"]).len() == 1).then_some(())
    });
    let reqs_a = fx1.requests.lock().len();
    assert!(reqs_a >= 1);
    // Bad file: 500, old configuration keeps running.
    let bad = srv.reload("scrape_configs:\n  - job_name: [\n");
    assert_eq!(bad.status, 500);
    assert!(
        bad.text()
            .starts_with("failed to reload config: couldn't load configuration (--config.file="),
        "{}",
        bad.text()
    );
    assert!(bad.text().ends_with('\n'));
    assert_eq!(
        srv.targets()["data"]["activeTargets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Remove job a: its series go stale after about two intervals.
    let a = srv.reload(&config(&[job("b", &[&fx2.addr], "")]));
    assert_eq!(a.status, 200);
    assert_eq!(
        srv.targets()["data"]["activeTargets"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    wait_for(10, "removed target's series go stale", || {
        (srv.series(&["one"]).is_empty() && srv.series(&["up{job=\"a\"}"]).is_empty()).then_some(())
    });
    assert_eq!(srv.series(&["two"]).len(), 1);
    // External labels are replaced on reload.
    let with_ext = config(&[job("b", &[&fx2.addr], "")])
        .replace("global:\n", "global:\n  external_labels: {zone: eu}\n");
    assert_eq!(srv.reload(&with_ext).status, 200);
    assert!(srv.federate(&["two"]).contains("zone=\"eu\""));
}

#[test]
fn reload_endpoint_methods_and_lifecycle_flag() {
    let srv = ScrapeServer::start_opts(&config(&[]), false);
    let a = post(&format!("{}/-/reload", srv.url), "text/plain", b"");
    assert_eq!(a.status, 403);
    assert_eq!(a.text(), "Lifecycle API is not enabled.");
    let a = get(&format!("{}/-/reload", srv.url), &[]);
    assert_eq!(a.status, 405);
    assert_eq!(a.text(), "Only POST or PUT requests allowed");
    let t = srv.targets();
    assert_eq!(
        t.to_string(),
        "{\"data\":{\"activeTargets\":[],\"droppedTargets\":[]},\"status\":\"success\"}"
    );
}

#[test]
fn file_sd_targets_follow_the_file() {
    let fx = Fixture::start();
    fx.set_body("/metrics", "fsd 1\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    std::fs::write(&file, "[]").unwrap();
    let yaml = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: f\n    file_sd_configs:\n      - files: ['{}']\n",
        file.display()
    );
    let srv = ScrapeServer::start(&yaml);
    assert_eq!(
        srv.targets()["data"]["activeTargets"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    std::fs::write(
        &file,
        format!(
            "[{{\"targets\": [\"{}\"], \"labels\": {{\"team\": \"x\"}}}}]",
            fx.addr
        ),
    )
    .unwrap();
    wait_for(10, "file SD target scraped", || {
        (srv.series(&["fsd{team=\"x\"}"]).len() == 1).then_some(())
    });
    let t = srv.targets();
    assert_eq!(
        t["data"]["activeTargets"][0]["discoveredLabels"]["__meta_filepath"],
        file.display().to_string().as_str()
    );
}

// ---------------------------------------------------------------------------------------
// Federation trees (seed configuration, hosts replaced)

/// The seed federation job (docs/federation "Configuring federation") with `targets`.
pub(crate) fn seed_federation_config(targets: &[&str]) -> String {
    let list: Vec<String> = targets
        .iter()
        .map(|t| format!("          - \"{t}\""))
        .collect();
    format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: \"federate\"\n    scrape_interval: 1s\n\n    honor_labels: true\n    metrics_path: \"/federate\"\n\n    params:\n      \"match[]\":\n        - '{{job=\"prometheus\"}}'\n        - '{{__name__=~\"job:.*\"}}'\n\n    static_configs:\n      - targets:\n{}\n",
        list.join("\n")
    )
}

/// A fixture exposing aggregated `job:` series and ordinary ones.
fn local_fixture(dc: &str) -> Fixture {
    let fx = Fixture::start();
    fx.set_body(
        "/metrics",
        &format!(
            "job:http_requests:rate5m{{dc=\"{dc}\"}} 10\nhttp_requests_total{{dc=\"{dc}\",path=\"/\"}} 100\n"
        ),
    );
    fx
}

fn local_config(job_name: &str, target: &str) -> String {
    config(&[job(job_name, &[target], "")])
}

#[test]
fn two_level_federation_tree() {
    let fx1 = local_fixture("eu");
    let fx2 = local_fixture("us");
    let l1 = ScrapeServer::start(&local_config("prometheus", &fx1.addr));
    let l2 = ScrapeServer::start(&local_config("node", &fx2.addr));
    let global = ScrapeServer::start(&seed_federation_config(&[&l1.addr, &l2.addr]));
    let want = vec![
        format!(
            "http_requests_total{{dc=\"eu\",instance=\"{}\",job=\"prometheus\",path=\"/\"}}",
            fx1.addr
        ),
        format!(
            "job:http_requests:rate5m{{dc=\"eu\",instance=\"{}\",job=\"prometheus\"}}",
            fx1.addr
        ),
        format!(
            "job:http_requests:rate5m{{dc=\"us\",instance=\"{}\",job=\"node\"}}",
            fx2.addr
        ),
        format!(
            "scrape_duration_seconds{{instance=\"{}\",job=\"prometheus\"}}",
            fx1.addr
        ),
        format!(
            "scrape_samples_post_metric_relabeling{{instance=\"{}\",job=\"prometheus\"}}",
            fx1.addr
        ),
        format!(
            "scrape_samples_scraped{{instance=\"{}\",job=\"prometheus\"}}",
            fx1.addr
        ),
        format!(
            "scrape_series_added{{instance=\"{}\",job=\"prometheus\"}}",
            fx1.addr
        ),
        format!("up{{instance=\"{}\",job=\"prometheus\"}}", fx1.addr),
    ];
    let got = wait_for(15, "global federates the selected series", || {
        let mut s = global.series(&["{job=~\"prometheus|node\"}"]);
        s.sort();
        (s == want).then_some(s)
    });
    assert_eq!(got, want);
    // The global's own synthetic series for its two federate targets.
    let ups = global.series(&["up{job=\"federate\"}"]);
    assert_eq!(ups.len(), 2, "{ups:?}");
}

// ---------------------------------------------------------------------------------------
// Real Prometheus 2.42 (issue items 2-4)

/// Item 2: a real Prometheus as the global server federating from fedstore (seed config).
#[test]
fn real_prometheus_federates_from_fedstore() {
    let fx = local_fixture("eu");
    let local = ScrapeServer::start(&local_config("prometheus", &fx.addr));
    let Some(prom) = Prometheus::start(
        "real_prometheus_federates_from_fedstore",
        free_port(),
        &seed_federation_config(&[&local.addr]),
        &[],
    ) else {
        return;
    };
    let i = &fx.addr;
    let mut want = vec![
        format!("http_requests_total{{dc=\"eu\",instance=\"{i}\",job=\"prometheus\",path=\"/\"}}"),
        format!("job:http_requests:rate5m{{dc=\"eu\",instance=\"{i}\",job=\"prometheus\"}}"),
    ];
    for n in [
        "scrape_duration_seconds",
        "scrape_samples_post_metric_relabeling",
        "scrape_samples_scraped",
        "scrape_series_added",
        "up",
    ] {
        want.push(format!("{n}{{instance=\"{i}\",job=\"prometheus\"}}"));
    }
    want.sort();
    let got = wait_for(20, "Prometheus federated from fedstore", || {
        let s = prom.series(&["{job=\"prometheus\"}"]);
        (s == want).then_some(s)
    });
    assert_eq!(got, want);
}

/// Item 3: fedstore as the global server federating from a real Prometheus (seed config,
/// hosts replaced); honor_labels keeps Prometheus's job/instance labels.
#[test]
fn fedstore_federates_from_real_prometheus() {
    let fx = local_fixture("us");
    let prom_cfg = local_config("prometheus", &fx.addr);
    let port = free_port();
    let Some(_prom) = Prometheus::start(
        "fedstore_federates_from_real_prometheus",
        port,
        &prom_cfg,
        &[],
    ) else {
        return;
    };
    let source = format!("127.0.0.1:{port}");
    let global = ScrapeServer::start(&seed_federation_config(&[&source]));
    let i = &fx.addr;
    let mut want = vec![
        format!("http_requests_total{{dc=\"us\",instance=\"{i}\",job=\"prometheus\",path=\"/\"}}"),
        format!("job:http_requests:rate5m{{dc=\"us\",instance=\"{i}\",job=\"prometheus\"}}"),
    ];
    for n in [
        "scrape_duration_seconds",
        "scrape_samples_post_metric_relabeling",
        "scrape_samples_scraped",
        "scrape_series_added",
        "up",
    ] {
        want.push(format!("{n}{{instance=\"{i}\",job=\"prometheus\"}}"));
    }
    want.sort();
    let got = wait_for(20, "fedstore federated from Prometheus", || {
        let mut s = global.series(&["{job=\"prometheus\"}"]);
        s.sort();
        (s == want).then_some(s)
    });
    assert_eq!(got, want);
    // Prometheus's own `instance=""` external-label rule does not leak: series keep the
    // exposed instance (honor_labels), and the federate target's own up is separate.
    assert_eq!(
        global.series(&["up{job=\"federate\"}"]),
        [format!("up{{instance=\"{source}\",job=\"federate\"}}")]
    );
}

/// Item 4: cross-service federation: selected series from a real Prometheus and from a
/// fedstore pulled into one fedstore.
#[test]
fn cross_service_federation_into_one_fedstore() {
    let fx_cluster = Fixture::start();
    fx_cluster.set_body(
        "/metrics",
        "container_memory_bytes{service=\"shop\"} 5\ncontainer_memory_bytes{service=\"other\"} 6\n",
    );
    let fx_app = Fixture::start();
    fx_app.set_body("/metrics", "shop_orders_total 42\n");
    let port = free_port();
    let Some(_cluster) = Prometheus::start(
        "cross_service_federation_into_one_fedstore",
        port,
        &local_config("cluster", &fx_cluster.addr),
        &[],
    ) else {
        return;
    };
    let app = ScrapeServer::start(&local_config("shop", &fx_app.addr));
    let yaml = [
        "global:",
        "  scrape_interval: 1s",
        "scrape_configs:",
        "  - job_name: cluster-federate",
        "    honor_labels: true",
        "    metrics_path: /federate",
        "    params:",
        "      'match[]': ['container_memory_bytes{service=\"shop\"}']",
        "    static_configs:",
        &format!("      - targets: ['127.0.0.1:{port}']"),
        "  - job_name: app-federate",
        "    honor_labels: true",
        "    metrics_path: /federate",
        "    params:",
        "      'match[]': ['{job=\"shop\",__name__!~\"scrape_.*|up\"}']",
        "    static_configs:",
        &format!("      - targets: ['{}']", app.addr),
        "",
    ]
    .join("\n");
    let one = ScrapeServer::start(&yaml);
    let want = vec![
        format!(
            "container_memory_bytes{{instance=\"{}\",job=\"cluster\",service=\"shop\"}}",
            fx_cluster.addr
        ),
        format!(
            "shop_orders_total{{instance=\"{}\",job=\"shop\"}}",
            fx_app.addr
        ),
    ];
    let got = wait_for(20, "both sources federated", || {
        let mut s = one.series(&["{job=~\"cluster|shop\"}"]);
        s.sort();
        (s == want).then_some(s)
    });
    assert_eq!(got, want);
}

/// `/api/v1/metadata` keeps `# TYPE`/`# HELP`/`# UNIT` per family per target, deduplicated
/// across targets, with 2.42's `metric` and `limit` parameters.
#[test]
fn metadata_from_scrapes() {
    let fx = Fixture::start();
    fx.set_body(
        "/a",
        "# HELP m A <gauge>.\n# TYPE m gauge\nm 1\n# TYPE u untyped\nu 2\n# HELP h only help\nh 3\n",
    );
    fx.set_body("/b", "# HELP m Other help.\n# TYPE m gauge\nm 1\n");
    fx.set(
        "/om",
        Reply {
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8".to_owned(),
            ..Reply::ok("# TYPE s_seconds counter\n# UNIT s_seconds seconds\n# HELP s_seconds Time.\ns_seconds_total 5\n# EOF\n")
        },
    );
    let a = &fx.addr;
    let srv = ScrapeServer::start(&config(&[
        job("a", &[a], "    metrics_path: /a\n"),
        job("a2", &[a], "    metrics_path: /a\n"),
        job("b", &[a], "    metrics_path: /b\n"),
        job("om", &[a], "    metrics_path: /om\n"),
    ]));
    let get_md = |q: &str| -> (u16, String) {
        let r = get(&format!("{}/api/v1/metadata{q}", srv.url), &[]);
        (r.status, r.text())
    };
    let body = wait_for(10, "four targets scraped", || {
        let (_, b) = get_md("");
        (b.contains("s_seconds") && b.contains("Other help") && b.contains("only help"))
            .then_some(b)
    });
    assert_eq!(
        body,
        concat!(
            r#"{"status":"success","data":{"#,
            r#""h":[{"type":"unknown","help":"only help","unit":""}],"#,
            r#""m":[{"type":"gauge","help":"A \u003cgauge\u003e.","unit":""},{"type":"gauge","help":"Other help.","unit":""}],"#,
            r#""s_seconds":[{"type":"counter","help":"Time.","unit":"seconds"}],"#,
            r#""u":[{"type":"unknown","help":"","unit":""}]}}"#
        )
    );
    assert_eq!(
        get_md("?metric=s_seconds"),
        (
            200,
            r#"{"status":"success","data":{"s_seconds":[{"type":"counter","help":"Time.","unit":"seconds"}]}}"#.to_owned()
        )
    );
    assert_eq!(
        get_md("?metric=nope"),
        (200, r#"{"status":"success","data":{}}"#.to_owned())
    );
    let (_, limited) = get_md("?limit=2");
    let v: serde_json::Value = serde_json::from_str(&limited).unwrap();
    assert_eq!(v["data"].as_object().unwrap().len(), 2, "{limited}");
    assert_eq!(
        get_md("?limit=x"),
        (
            400,
            r#"{"status":"error","errorType":"bad_data","error":"limit must be a number"}"#
                .to_owned()
        )
    );
}
