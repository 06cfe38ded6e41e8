//! The remote-write sender end to end: a real `fedstore serve` forwards what it ingests to a
//! real Prometheus 2.42 (`--web.enable-remote-write-receiver`) and a real VictoriaMetrics 1.79;
//! both receivers are stopped while fedstore keeps ingesting, fedstore is killed with SIGKILL
//! during the outage and restarted, the receivers come back, and at the end every sample
//! fedstore holds is in each receiver exactly once (VictoriaMetrics' export shows duplicates,
//! so "once" is checked there sample by sample).
//!
//! "Exactly once" is what this sequence delivers; the sender itself is at least once: a kill
//! between the receiver's acknowledgement and the position write (every 200 ms) resends those
//! samples. The second test reproduces that window by putting an older position back before
//! the restart: Prometheus ignores the identical resent samples, VictoriaMetrics keeps one per
//! timestamp only with `-dedup.minScrapeInterval`, which this test runs it with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fedstore_tools::procs::ChildGuard;

use crate::serve::Serve;

use crate::prometheus::{Prometheus, free_port};
use crate::support::{enc, get, post, wall_ms};

const VM: &str = "/usr/bin/victoria-metrics";
const METRIC: &str = "rwsend_test";

/// A `fedstore serve` process (the shared harness; dropping it is a SIGKILL).
struct Fedstore {
    srv: Serve,
    url: String,
}

impl Fedstore {
    fn start(data: &Path, config: &Path) -> Fedstore {
        Self::start_with(data, config, &[])
    }

    fn start_with(data: &Path, config: &Path, extra: &[&str]) -> Fedstore {
        let mut args: Vec<String> = vec![
            format!("--config.file={}", config.display()),
            "--query.lookback-delta=1d".into(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let srv = Serve::start(data, &args);
        let url = srv.url.clone();
        Fedstore { srv, url }
    }

    /// Imports `series` series with one sample per second from `t0` for `n` seconds.
    fn ingest(&self, batch: &str, series: usize, t0: i64, n: i64) {
        let mut body = String::new();
        for s in 0..series {
            for i in 0..n {
                let t = t0 + i * 1000;
                body.push_str(&format!(
                    "{METRIC}{{batch=\"{batch}\",series=\"{s}\"}} {} {t}\n",
                    // Few decimal digits: VictoriaMetrics stores values as decimals.
                    ((t / 1000) % 100_000) as f64 + 0.25 * s as f64
                ));
            }
        }
        let a = post(
            &format!("{}/api/v1/import/prometheus", self.url),
            "text/plain",
            body.as_bytes(),
        );
        assert_eq!(a.status / 100, 2, "import: {}", a.text());
    }

    fn metric(&self, name: &str, remote: &str) -> f64 {
        let text = get(&format!("{}/metrics", self.url), &[]).text();
        let prefix = format!("{name}{{remote_name=\"{remote}\",");
        text.lines()
            .find(|l| l.starts_with(&prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// Every sample of [`METRIC`] as `series label -> [(t, value bits)]`.
    fn samples(&self) -> Samples {
        samples_from_query(&self.url)
    }
}

type Samples = BTreeMap<String, Vec<(i64, u64)>>;

/// `METRIC[2h]` from a Prometheus-compatible query API, keyed by `batch/series`.
fn samples_from_query(base: &str) -> Samples {
    let url = format!(
        "{base}/api/v1/query?query={}&time={}",
        enc(&format!("{METRIC}[2h]")),
        wall_ms() as f64 / 1000.0 + 60.0
    );
    let a = get(&url, &[]);
    assert_eq!(a.status, 200, "{url}: {}", a.text());
    let v: serde_json::Value = serde_json::from_str(&a.text()).unwrap();
    let mut out = Samples::new();
    for r in v["data"]["result"].as_array().unwrap() {
        let m = &r["metric"];
        let key = format!(
            "{}/{}",
            m["batch"].as_str().unwrap(),
            m["series"].as_str().unwrap()
        );
        let pts = r["values"].as_array().unwrap().iter().map(|p| {
            let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
            let v: f64 = p[1].as_str().unwrap().parse().unwrap();
            (t, v.to_bits())
        });
        out.entry(key).or_default().extend(pts);
    }
    out
}

/// VictoriaMetrics' raw samples of [`METRIC`] from `/api/v1/export` (duplicates included).
fn samples_from_vm(base: &str) -> Samples {
    let url = format!(
        "{base}/api/v1/export?match[]={}&start=0",
        enc(&format!("{{__name__=\"{METRIC}\"}}"))
    );
    let a = get(&url, &[]);
    assert_eq!(a.status, 200, "{url}: {}", a.text());
    let mut out = Samples::new();
    for line in a.text().lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let m = &v["metric"];
        let key = format!(
            "{}/{}",
            m["batch"].as_str().unwrap(),
            m["series"].as_str().unwrap()
        );
        let vals = v["values"].as_array().unwrap();
        let ts = v["timestamps"].as_array().unwrap();
        let e = out.entry(key).or_default();
        for (t, x) in ts.iter().zip(vals) {
            e.push((t.as_i64().unwrap(), x.as_f64().unwrap().to_bits()));
        }
    }
    for v in out.values_mut() {
        v.sort_unstable();
    }
    out
}

struct Vm {
    guard: ChildGuard,
    dir: PathBuf,
    port: u16,
    url: String,
}

impl Vm {
    fn start(dir: &Path, port: u16) -> Vm {
        let mut cmd = Command::new(VM);
        cmd.arg(format!("-storageDataPath={}", dir.join("data").display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .args([
                "-retentionPeriod=100y",
                "-search.disableCache",
                "-search.latencyOffset=0s",
                "-dedup.minScrapeInterval=1ms",
            ]);
        let guard =
            ChildGuard::spawn("victoria-metrics", cmd, &dir.join(format!("log.{port}"))).unwrap();
        let url = format!("http://127.0.0.1:{port}");
        wait(60, "VictoriaMetrics ready", || up(&format!("{url}/health")));
        Vm {
            guard,
            dir: dir.to_owned(),
            port,
            url,
        }
    }

    fn stop(mut self) -> (PathBuf, u16) {
        self.guard.stop(Duration::from_secs(20));
        (self.dir.clone(), self.port)
    }
}

/// Whether `url` answers 200 (connection refused: not yet).
fn up(url: &str) -> bool {
    ureq::get(url).call().is_ok_and(|r| r.status() == 200)
}

#[track_caller]
fn wait(secs: u64, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn config(prom: &str, vm: &str) -> String {
    let queue = "    queue_config:\n      max_samples_per_send: 200\n      capacity: 1000\n      batch_send_deadline: 100ms\n      min_backoff: 50ms\n      max_backoff: 400ms\n";
    format!(
        "global:\n  external_labels: {{tier: edge}}\nremote_write:\n  - url: {prom}/api/v1/write\n    name: prom\n{queue}  - url: {vm}/api/v1/write\n    name: vm\n{queue}    write_relabel_configs:\n      - source_labels: [batch]\n        regex: skip\n        action: drop\n"
    )
}

fn peers(test: &str) -> bool {
    crate::prometheus::installed(test) && fedstore_tools::skips::peer_installed(test, VM)
}

/// What a receiver holds must be what fedstore holds, each sample once (the external label
/// `tier="edge"` is checked by the receivers' queries matching on it).
#[track_caller]
fn assert_same(what: &str, got: &Samples, want: &Samples) {
    assert_eq!(got.len(), want.len(), "{what}: series count");
    for (k, w) in want {
        let g = got
            .get(k)
            .unwrap_or_else(|| panic!("{what}: series {k} missing"));
        if g != w {
            let dups = g.windows(2).filter(|p| p[0].0 == p[1].0).count();
            panic!(
                "{what}: series {k}: {} samples ({dups} duplicate timestamps), fedstore has {}",
                g.len(),
                w.len()
            );
        }
    }
}

#[test]
fn sends_everything_once_across_an_outage_and_a_kill() {
    let test = "remote_write_sender::sends_everything_once_across_an_outage_and_a_kill";
    if !peers(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (pport, vport) = (free_port(), crate::support::free_port_in(21400));
    let prom_args = ["--web.enable-remote-write-receiver"];
    let prom = Prometheus::start(test, pport, "global: {}\n", &prom_args).unwrap();
    let vm = Vm::start(tmp.path(), vport);
    let cfg_path = tmp.path().join("fedstore.yml");
    std::fs::write(&cfg_path, config(prom.url(), &vm.url)).unwrap();
    let data = tmp.path().join("fedstore");
    let mut fs = Fedstore::start(&data, &cfg_path);

    let t0 = wall_ms() / 1000 * 1000 - 20 * 60 * 1000;
    // Batch 1 with both receivers up.
    fs.ingest("one", 20, t0, 30);
    fs.ingest("skip", 2, t0, 5);
    wait(30, "batch one sent", || {
        fs.metric("fedstore_remote_storage_samples_total", "prom") >= 610.0
            && fs.metric("fedstore_remote_storage_samples_total", "vm") >= 600.0
            && fs.metric("fedstore_remote_storage_samples_dropped_total", "vm") >= 10.0
    });
    assert_eq!(
        fs.metric("fedstore_remote_storage_samples_total", "prom"),
        610.0
    );
    assert_eq!(
        fs.metric("fedstore_remote_storage_samples_total", "vm"),
        600.0
    );
    assert_eq!(
        fs.metric("fedstore_remote_storage_samples_dropped_total", "vm"),
        10.0
    );

    // Kept to reproduce, at the end, a kill between acknowledgement and position write.
    std::thread::sleep(Duration::from_millis(500));
    let positions = data.join("remote_write");
    let saved: Vec<(PathBuf, Vec<u8>)> = ["prom", "vm"]
        .iter()
        .map(|n| {
            let p = positions.join(format!("{n}.position"));
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();

    // Outage: both receivers stop; fedstore ingests and retries, then dies with SIGKILL.
    let prom_dir = prom.stop_keep_data();
    let (vm_dir, vm_port) = vm.stop();
    fs.ingest("two", 20, t0 + 30_000, 30);
    wait(20, "retries during the outage", || {
        fs.metric("fedstore_remote_storage_samples_retried_total", "prom") > 0.0
            && fs.metric("fedstore_remote_storage_samples_retried_total", "vm") > 0.0
    });
    assert!(fs.metric("fedstore_remote_storage_samples_pending", "vm") > 0.0);
    drop(fs); // SIGKILL
    fs = Fedstore::start(&data, &cfg_path);
    fs.ingest("three", 20, t0 + 60_000, 30);
    std::thread::sleep(Duration::from_secs(1));

    // The receivers come back; everything arrives.
    let prom = Prometheus::spawn_in(prom_dir, pport, "global: {}\n", &prom_args);
    let mut prom = prom;
    prom.wait_ready(60);
    let vm = Vm::start(&vm_dir, vm_port);
    let want = fs.samples();
    assert_eq!(want.len(), 62, "fedstore's own series");
    let mut want_sent = want.clone();
    want_sent.retain(|k, _| !k.starts_with("skip/"));
    wait(60, "prometheus has everything", || {
        samples_from_query(prom.url())
            .values()
            .map(Vec::len)
            .sum::<usize>()
            >= 1810
    });
    let _ = get(&format!("{}/internal/force_flush", vm.url), &[]);
    wait(60, "victoria-metrics has everything", || {
        samples_from_vm(&vm.url)
            .values()
            .map(Vec::len)
            .sum::<usize>()
            >= 1800
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_same("prometheus", &samples_from_query(prom.url()), &want);
    let _ = get(&format!("{}/internal/force_flush", vm.url), &[]);
    assert_same("victoria-metrics", &samples_from_vm(&vm.url), &want_sent);
    // The external label went along.
    let a = get(
        &format!(
            "{}/api/v1/query?query={}",
            prom.url(),
            enc(&format!(
                "count(count_over_time({METRIC}{{tier=\"edge\"}}[1h]))"
            ))
        ),
        &[],
    );
    assert!(a.text().contains("\"62\""), "{}", a.text());

    // The at-least-once window: killed after batches two and three were acknowledged but
    // (here: as if) before their position was written; the restart resends them. Prometheus
    // ignores identical samples, VictoriaMetrics deduplicates them (-dedup.minScrapeInterval).
    drop(fs); // SIGKILL
    for (p, b) in &saved {
        std::fs::write(p, b).unwrap();
    }
    let fs = Fedstore::start(&data, &cfg_path);
    // Prometheus refuses the resent samples older than its newest as out of order (400,
    // counted as failed): it keeps its one copy either way.
    let finished = |n: &str| {
        fs.metric("fedstore_remote_storage_samples_total", n)
            + fs.metric("fedstore_remote_storage_samples_failed_total", n)
    };
    wait(60, "batches two and three sent again", || {
        finished("prom") >= 1200.0 && finished("vm") >= 1200.0
    });
    assert_eq!(
        fs.metric("fedstore_remote_storage_samples_total", "vm"),
        1200.0
    );
    assert_same(
        "prometheus after a resend",
        &samples_from_query(prom.url()),
        &want,
    );
    let _ = get(&format!("{}/internal/force_flush", vm.url), &[]);
    assert_same(
        "victoria-metrics after a resend",
        &samples_from_vm(&vm.url),
        &want_sent,
    );
    drop(vm);
}

/// One request a [`FakeReceiver`] got: headers (lower-case names), samples, arrival.
struct Got {
    headers: Vec<(String, String)>,
    samples: Vec<(String, i64, f64)>,
    at: Instant,
}

/// A receiver answering from a script (then 200), recording every request.
struct FakeReceiver {
    url: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<Got>>>,
}

impl FakeReceiver {
    fn start(script: Vec<(u16, &'static str)>) -> FakeReceiver {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let rec = got.clone();
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut w = conn;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let mut headers = Vec::new();
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
                    }
                    let len: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .map_or(0, |(_, v)| v.parse().unwrap());
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
                    let req = <fedstore::remote::proto::WriteRequest as prost::Message>::decode(
                        raw.as_slice(),
                    )
                    .unwrap();
                    let samples = req
                        .timeseries
                        .iter()
                        .flat_map(|ts| {
                            let l: Vec<String> = ts
                                .labels
                                .iter()
                                .map(|l| format!("{}={}", l.name, l.value))
                                .collect();
                            let l = l.join(",");
                            ts.samples
                                .iter()
                                .map(move |s| (l.clone(), s.timestamp, s.value))
                        })
                        .collect();
                    rec.lock().unwrap().push(Got {
                        headers,
                        samples,
                        at: Instant::now(),
                    });
                    let (status, extra) = script.next().unwrap_or((200, ""));
                    let resp =
                        format!("HTTP/1.1 {status} X\r\ncontent-length: 4\r\n{extra}\r\nnope");
                    w.write_all(resp.as_bytes()).unwrap();
                }
            }
        });
        FakeReceiver { url, got }
    }
}

/// Retries 5xx, honours Retry-After on 429 with `retry_on_http_429`, drops 4xx with a
/// counter, sends Prometheus's headers, and applies a changed `remote_write` on reload while
/// an unchanged one keeps its queue running.
#[test]
fn retries_drops_headers_and_reload() {
    let rx = FakeReceiver::start(vec![(500, ""), (429, "retry-after: 1\r\n"), (400, "")]);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = |tenant: &str| {
        format!(
            "global:\n  external_labels: {{tier: edge}}\nremote_write:\n  - url: {}\n    name: fake\n    headers: {{X-Scope-OrgID: {tenant}}}\n    basic_auth: {{username: u, password: p}}\n    queue_config:\n      max_samples_per_send: 10\n      batch_send_deadline: 50ms\n      min_backoff: 20ms\n      max_backoff: 100ms\n      retry_on_http_429: true\n",
            rx.url
        )
    };
    let cfg_path = tmp.path().join("fedstore.yml");
    std::fs::write(&cfg_path, cfg("t1")).unwrap();
    let data = tmp.path().join("fedstore");
    let fs = Fedstore::start_with(&data, &cfg_path, &["--web.enable-lifecycle"]);
    let t0 = wall_ms() / 1000 * 1000 - 60_000;
    // One series, 30 samples in one record: three batches of 10 in order on one shard.
    fs.ingest("a", 1, t0, 30);
    wait(30, "all batches finished", || {
        fs.metric("fedstore_remote_storage_samples_total", "fake") >= 20.0
    });
    let m = |n: &str| fs.metric(&format!("fedstore_remote_storage_{n}"), "fake");
    assert_eq!(m("samples_failed_total"), 10.0, "the 400 drops its batch");
    assert_eq!(
        m("samples_retried_total"),
        20.0,
        "500 then 429: two retries"
    );
    assert_eq!(m("samples_total"), 20.0);
    {
        let got = rx.got.lock().unwrap();
        assert_eq!(got.len(), 5);
        assert!(
            got[2].at - got[1].at >= Duration::from_secs(1),
            "Retry-After: 1 honoured"
        );
        assert!(
            got[1].at - got[0].at < Duration::from_secs(1),
            "backoff, not Retry-After"
        );
        let h = |i: usize, k: &str| {
            got[i]
                .headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(h(0, "content-encoding"), "snappy");
        assert_eq!(h(0, "content-type"), "application/x-protobuf");
        assert_eq!(h(0, "x-prometheus-remote-write-version"), "0.1.0");
        assert!(
            h(0, "user-agent").starts_with("fedstore/"),
            "{}",
            h(0, "user-agent")
        );
        assert_eq!(h(0, "authorization"), "Basic dTpw");
        assert_eq!(h(0, "x-scope-orgid"), "t1");
        // The first 10 samples were dropped; the other 20 arrived in order, once.
        let sent: Vec<i64> = got[3..]
            .iter()
            .flat_map(|g| g.samples.iter().map(|s| s.1))
            .collect();
        assert_eq!(sent, (10..30).map(|i| t0 + i * 1000).collect::<Vec<_>>());
        assert_eq!(
            got[3].samples[0].0,
            format!("__name__={METRIC},batch=a,series=0,tier=edge")
        );
    }
    let log = || fs.srv.log();
    let started = |l: &str| l.matches("remote-write queue started").count();
    assert_eq!(started(&log()), 1);
    // Unchanged: the queue keeps running.
    assert_eq!(
        post(&format!("{}/-/reload", fs.url), "text/plain", b"").status,
        200
    );
    assert_eq!(started(&log()), 1);
    // Changed header: the queue restarts from its position and sends with the new header.
    std::fs::write(&cfg_path, cfg("t2")).unwrap();
    assert_eq!(
        post(&format!("{}/-/reload", fs.url), "text/plain", b"").status,
        200
    );
    assert_eq!(started(&log()), 2);
    fs.ingest("b", 1, t0 + 30_000, 5);
    wait(30, "sent after reload", || {
        rx.got.lock().unwrap().len() >= 6
    });
    let got = rx.got.lock().unwrap();
    let last = got.last().unwrap();
    assert!(
        last.headers
            .iter()
            .any(|(k, v)| k == "x-scope-orgid" && v == "t2")
    );
    assert!(
        last.samples.iter().all(|s| s.0.contains("batch=b")),
        "nothing resent"
    );
}

/// A fedstore receiver served with the web config `yaml` (written as `file` beside `pki`'s
/// certificates), and its `host:port`.
fn tls_receiver(
    pki: &crate::web_security::Pki,
    file: &str,
    yaml: &str,
) -> (crate::support::TestServer, String) {
    let web = pki.path(file);
    std::fs::write(&web, yaml).unwrap();
    let wc = std::sync::Arc::new(fedstore::web_config::WebConfig::load(&web).unwrap());
    let srv = crate::support::TestServer::start_with(crate::support::Options {
        state: Some(Box::new(move |s: &mut fedstore::server::AppState| {
            s.web_config = Some(wc)
        })),
        ..crate::support::Options::default()
    });
    let addr = srv.url().trim_start_matches("http://").to_owned();
    (srv, addr)
}

/// `https://` with `tls_config` through the shared rustls client: fedstore sends to fedstore
/// served with TLS, client certificates and basic auth; a queue trusting another CA only
/// retries (nothing is sent without verification).
#[test]
fn sends_over_https_with_client_certificates() {
    use crate::web_security::Pki;
    let Some(pki) = Pki::make("remote_write_sender::https") else {
        return;
    };
    let hash = bcrypt::hash("pw", 4).unwrap();
    let (_rx, addr) = tls_receiver(
        &pki,
        "web-rw.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\nbasic_auth_users:\n  alice: {hash}\n"
        ),
    );
    let p = |n: &str| pki.path(n).display().to_string();
    let entry = |name: &str, ca: &str| {
        format!(
            "  - url: https://{addr}/api/v1/write\n    name: {name}\n    basic_auth: {{username: alice, password: pw}}\n    tls_config: {{ca_file: {ca}, cert_file: {}, key_file: {}}}\n    queue_config: {{batch_send_deadline: 50ms, min_backoff: 20ms, max_backoff: 100ms}}\n",
            p("client.pem"),
            p("client.key")
        )
    };
    let tmp = tempfile::tempdir().unwrap();
    let cfg_path = tmp.path().join("fedstore.yml");
    std::fs::write(
        &cfg_path,
        format!(
            "remote_write:\n{}{}",
            entry("good", &p("ca.pem")),
            entry("rogue", &p("rogue.pem"))
        ),
    )
    .unwrap();
    let fs = Fedstore::start(&tmp.path().join("fedstore"), &cfg_path);
    fs.ingest("tls", 2, wall_ms() - 60_000, 5);
    wait(30, "sent over TLS", || {
        fs.metric("fedstore_remote_storage_samples_total", "good") >= 10.0
            && fs.metric("fedstore_remote_storage_samples_retried_total", "rogue") > 0.0
    });
    assert_eq!(
        fs.metric("fedstore_remote_storage_samples_total", "good"),
        10.0
    );
    assert_eq!(
        fs.metric("fedstore_remote_storage_samples_failed_total", "good"),
        0.0
    );
    assert_eq!(
        fs.metric("fedstore_remote_storage_samples_total", "rogue"),
        0.0
    );
    let log = fs.srv.log();
    assert!(
        log.contains("x509: certificate signed by unknown authority"),
        "{log}"
    );
}

/// `proxy_url` as scrapes use it (src/proxy.rs): an `http://` receiver is sent absolute-URI
/// requests with `Proxy-Authorization`, an `https://` one is reached through a `CONNECT`
/// tunnel carrying `proxy_connect_header`, TLS verified end to end.
#[test]
fn sends_through_a_proxy() {
    let proxy = crate::scrape_tls::Proxy::start();
    let rx = FakeReceiver::start(Vec::new());
    let tmp = tempfile::tempdir().unwrap();
    let queue =
        "    queue_config: {batch_send_deadline: 50ms, min_backoff: 20ms, max_backoff: 100ms}\n";
    let mut cfg = format!(
        "remote_write:\n  - url: {}\n    name: plain\n    proxy_url: http://u:pw@{}\n{queue}",
        rx.url, proxy.addr
    );
    let pki = crate::web_security::Pki::make("remote_write_sender::proxy");
    let mut tls_rx = None;
    if let Some(pki) = &pki {
        let (srv, addr) = tls_receiver(
            pki,
            "web-rw-proxy.yml",
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n",
        );
        cfg.push_str(&format!(
            "  - url: https://{addr}/api/v1/write\n    name: tunnel\n    proxy_url: http://{}\n    proxy_connect_header: {{X-Tenant: [t1]}}\n    tls_config: {{ca_file: {}}}\n{queue}",
            proxy.addr,
            pki.path("ca.pem").display()
        ));
        tls_rx = Some((srv, addr));
    }
    let cfg_path = tmp.path().join("fedstore.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let fs = Fedstore::start(&tmp.path().join("fedstore"), &cfg_path);
    fs.ingest("proxy", 2, wall_ms() - 60_000, 5);
    let remotes: &[&str] = if tls_rx.is_some() {
        &["plain", "tunnel"]
    } else {
        &["plain"]
    };
    wait(30, "sent through the proxy", || {
        remotes
            .iter()
            .all(|r| fs.metric("fedstore_remote_storage_samples_total", r) >= 10.0)
    });
    let got: usize = rx.got.lock().unwrap().iter().map(|g| g.samples.len()).sum();
    assert_eq!(got, 10, "every sample reached the http receiver once");
    let seen = proxy.seen.lock().clone();
    let rx_addr = rx
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    assert!(
        seen.contains(&format!("POST {} HTTP/1.1", rx.url)),
        "absolute URI: {seen:?} (receiver {rx_addr})"
    );
    assert!(
        seen.contains(&"proxy auth Proxy-Authorization: Basic dTpwdw==".to_owned()),
        "{seen:?}"
    );
    if let Some((_srv, addr)) = &tls_rx {
        assert!(
            seen.contains(&format!("CONNECT {addr} HTTP/1.1")),
            "{seen:?}"
        );
        // Acknowledged by the TLS receiver: 2xx answers only, through the tunnel.
        assert_eq!(
            fs.metric("fedstore_remote_storage_samples_total", "tunnel"),
            10.0
        );
        assert_eq!(
            fs.metric("fedstore_remote_storage_samples_failed_total", "tunnel"),
            0.0
        );
    } else {
        eprintln!("remote_write_sender::sends_through_a_proxy: https part skipped (no PKI)");
    }
}
