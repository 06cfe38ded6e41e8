//! A real Prometheus 2.42 scrapes a fixture target served by the test (1 s interval) and
//! `remote_write`s into a fedstore `TestServer`; fedstore's `/federate` must then hold exactly
//! what Prometheus's own `/federate` holds (synthetic `up`/`scrape_*` included), and every
//! sample fedstore showed along the way must be one Prometheus stored at that timestamp.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fedstore_tools::golden::split_sample_line;
use fedstore_tools::serve::{BodySource, Targets};

use crate::prometheus::{self, Prometheus, federate_url};
use crate::support::{Options, TestServer, enc, get, wall_ms};

/// Prometheus port (this file's range is 19840-19849).
const PROM_PORT: u16 = 19840;
/// Fixture target port.
const TARGET_PORT: u16 = 19841;
/// Scrape job name.
const JOB: &str = "rwlive";
/// Scrapes after which the fixture's values stop changing.
const FREEZE_AFTER: u64 = 5;
/// Scrapes during which `rwlive_vanish` is exposed (then Prometheus writes a stale marker).
const VANISH_AFTER: u64 = 3;

/// The fixture: counters that grow per scrape until [`FREEZE_AFTER`], special floats,
/// awkward label values, a series that vanishes. No timestamps: Prometheus stamps them.
struct Exposition {
    scrapes: AtomicU64,
}

impl BodySource for Exposition {
    fn body(&self, _target: usize, _now_ms: i64, out: &mut Vec<u8>) {
        let n = self.scrapes.fetch_add(1, Ordering::SeqCst) + 1;
        let v = n.min(FREEZE_AFTER);
        let mut s = format!(
            "# TYPE rwlive_requests_total counter\n\
             rwlive_requests_total{{path=\"/a\"}} {v}\n\
             rwlive_requests_total{{path=\"/b\\\"q\\\\\\n\"}} {}\n\
             rwlive_gauge{{k=\"ü ✓ {{}}=,\"}} {}\n\
             rwlive_special{{v=\"nan\"}} NaN\n\
             rwlive_special{{v=\"+inf\"}} +Inf\n\
             rwlive_special{{v=\"-inf\"}} -Inf\n\
             rwlive_special{{v=\"tiny\"}} 5e-324\n\
             rwlive_special{{v=\"max\"}} 1.7976931348623157e+308\n\
             rwlive_special{{v=\"neg0\"}} -0\n\
             rwlive_special{{v=\"e6\"}} 1e+06\n\
             rwlive_empty{{e=\"\",f=\"1\"}} 3\n",
            v * 2,
            v as f64 * 0.1,
        );
        if n <= VANISH_AFTER {
            s.push_str("rwlive_vanish{k=\"v\"} 1\n");
        }
        out.extend_from_slice(s.as_bytes());
    }
}

/// Keeps a `TestServer`'s clock on the wall clock (remote-written samples carry real time).
struct WallClock {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WallClock {
    fn start(srv: &TestServer) -> WallClock {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, now) = (stop.clone(), srv.now_ms.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                now.store(wall_ms(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        WallClock {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for WallClock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `fedstore_head_samples_appended_total{source="remote_write"}` from `/metrics` (0 if absent).
fn remote_write_appended(srv: &TestServer) -> f64 {
    let a = get(&format!("{}/metrics", srv.url()), &[]);
    assert_eq!(a.status, 200);
    a.text()
        .lines()
        .find_map(|l| {
            l.strip_prefix("fedstore_head_samples_appended_total{source=\"remote_write\"} ")
        })
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// A federate sample line split into (series text, value, timestamp ms).
fn parse_lines(body: &str) -> Vec<(String, f64, i64)> {
    body.lines()
        .filter_map(|l| split_sample_line(l))
        .map(|(series, v, ts)| {
            (
                series.to_owned(),
                v.parse().unwrap(),
                ts.expect("federate lines have timestamps").parse().unwrap(),
            )
        })
        .collect()
}

/// Federate text form of a Prometheus API label map: `name{a="..",b=".."}`, labels sorted.
fn series_text(metric: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut labels: Vec<(&str, &str)> = metric
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect();
    labels.sort();
    let name = metric["__name__"].as_str().unwrap();
    if labels.is_empty() {
        return name.to_owned();
    }
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{name}{{{}}}", parts.join(","))
}

/// Every raw sample Prometheus holds for `selector` in the last `range`, by series text.
fn prometheus_samples(
    prom: &Prometheus,
    selector: &str,
    range: &str,
) -> HashMap<String, Vec<(i64, f64)>> {
    let q = enc(&format!("{selector}[{range}]"));
    let a = get(&format!("{}/api/v1/query?query={q}", prom.url()), &[]);
    assert_eq!(a.status, 200, "{}", a.text());
    let v: serde_json::Value = serde_json::from_str(&a.text()).unwrap();
    let mut out = HashMap::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let samples = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                (t, p[1].as_str().unwrap().parse::<f64>().unwrap())
            })
            .collect();
        out.insert(series_text(s["metric"].as_object().unwrap()), samples);
    }
    out
}

fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

#[test]
fn prometheus_remote_write_into_fedstore() {
    const TEST: &str = "prometheus_remote_write_into_fedstore";
    if !prometheus::installed(TEST) {
        return;
    }
    let started = Instant::now();
    let srv = TestServer::start_with(Options::default());
    let _clock = WallClock::start(&srv);
    let fixture = Arc::new(Exposition {
        scrapes: AtomicU64::new(0),
    });
    prometheus::wait_port_free(TARGET_PORT, 60);
    prometheus::wait_port_free(PROM_PORT, 60);
    let _target = Targets::start(fixture.clone(), TARGET_PORT, 1).unwrap();
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['127.0.0.1:{TARGET_PORT}']\nremote_write:\n  - url: {}/api/v1/write\n    queue_config:\n      batch_send_deadline: 100ms\n      min_backoff: 50ms\n      max_backoff: 200ms\n",
        srv.url()
    );
    let mut prom = Prometheus::spawn(PROM_PORT, &yaml, &[]);
    prom.wait_ready(20);
    let before = remote_write_appended(&srv);

    let sel = vec![format!("{{job=\"{JOB}\"}}")];
    let fed_body = || {
        let a = get(&federate_url(srv.url(), &sel), &[]);
        assert_eq!(a.status, 200, "{}", a.text());
        a.text()
    };
    // Everything fedstore shows while the fixture changes, to check against Prometheus later.
    let mut seen: Vec<(String, f64, i64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(25);
    while fixture.scrapes.load(Ordering::SeqCst) < FREEZE_AFTER + 2 {
        prom.assert_alive();
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape the fixture {} times in time ({} so far)\n{}",
            FREEZE_AFTER + 2,
            fixture.scrapes.load(Ordering::SeqCst),
            prom.log_tail(20)
        );
        seen.extend(parse_lines(&fed_body()));
        std::thread::sleep(Duration::from_millis(200));
    }
    let middle = remote_write_appended(&srv);
    assert!(
        middle > before,
        "no remote-written samples appended ({before} -> {middle})\n{}",
        prom.log_tail(20)
    );
    assert!(
        seen.iter().any(|(s, _, _)| s.starts_with("up{")),
        "fedstore never showed up: {seen:?}"
    );

    // Both /federate bodies become identical once the latest batch has arrived (the next
    // scrape is up to 1 s away, a batch waits at most 100 ms).
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut p_last, mut f_last) = (String::new(), String::new());
    let mut equal = false;
    while Instant::now() < deadline {
        let p = prom.federate(&sel);
        assert_eq!(p.status, 200);
        p_last = p.text();
        f_last = fed_body();
        if p_last == f_last {
            equal = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    crate::support::assert_text_eq(&f_last, &p_last, "fedstore vs Prometheus /federate");
    assert!(equal);
    seen.extend(parse_lines(&f_last));
    for name in [
        "up{",
        "scrape_duration_seconds{",
        "scrape_samples_scraped{",
        "scrape_samples_post_metric_relabeling{",
        "scrape_series_added{",
        "rwlive_requests_total{",
        "rwlive_special{",
        "rwlive_empty{",
    ] {
        assert!(
            f_last.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{f_last}"
        );
    }
    // The vanished series went stale in Prometheus, and the stale marker reached fedstore.
    assert!(
        !f_last.contains("rwlive_vanish"),
        "stale series still federated:\n{f_last}"
    );
    assert!(
        seen.iter().any(|(s, _, _)| s.starts_with("rwlive_vanish{")),
        "fedstore never showed rwlive_vanish before it went stale"
    );

    // Every sample fedstore showed is the one Prometheus stored at that timestamp.
    let stored = prometheus_samples(&prom, &sel[0], "5m");
    let mut checked = 0;
    for (series, v, t) in &seen {
        let Some(samples) = stored.get(series) else {
            panic!("fedstore showed {series} which Prometheus does not have: {stored:?}");
        };
        let Some(&(_, pv)) = samples.iter().find(|(pt, _)| pt == t) else {
            panic!(
                "fedstore showed {series} {v} {t}; Prometheus has no sample at {t}: {samples:?}"
            );
        };
        assert!(
            same_value(*v, pv),
            "{series} at {t}: fedstore {v}, Prometheus {pv}"
        );
        checked += 1;
    }
    // The next scrape's batch moves the counter again.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut after = remote_write_appended(&srv);
    while after <= middle && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        after = remote_write_appended(&srv);
    }
    assert!(
        after > middle,
        "appended counter did not grow: {middle} -> {after}"
    );
    eprintln!(
        "{TEST}: {checked} fedstore samples matched Prometheus's at equal timestamps; final \
         bodies identical ({} lines); remote_write appended {before} -> {middle} -> {after}; {:.1}s",
        f_last.lines().count(),
        started.elapsed().as_secs_f64()
    );
}
