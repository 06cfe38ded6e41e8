//! Rules against real peers (issue 11): the same rule files on Prometheus 2.42 and on
//! fedstore over the same scraped target record the same series at the same evaluation
//! timestamps with the same values and agree on alerts; alerts reach a real Alertmanager 0.25
//! with the external labels and resolve there.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::prometheus::{Prometheus, free_port, installed};
use crate::scrape::Fixture;
use crate::serve::Serve;
use crate::support::{enc, get, post};

/// `fedstore serve` with a configuration file (and its data) in a temporary directory.
struct Node {
    srv: Serve,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(yaml: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("fedstore.yml");
        std::fs::write(&cfg, yaml).unwrap();
        let srv = Serve::start(
            &dir.path().join("data"),
            &[format!("--config.file={}", cfg.display())],
        );
        Node { srv, _dir: dir }
    }
}

impl std::ops::Deref for Node {
    type Target = Serve;
    fn deref(&self) -> &Serve {
        &self.srv
    }
}

fn json(url: &str) -> Value {
    let a = get(url, &[]);
    assert_eq!(a.status, 200, "{url}: {}", a.text());
    serde_json::from_str(&a.text()).unwrap()
}

/// `(labels as sorted "k=v" text, [(t_ms, value text)])` of a matrix answer.
fn matrix(base: &str, selector: &str, at_s: f64) -> Vec<(String, Vec<(i64, String)>)> {
    let v = json(&format!(
        "{base}/api/v1/query?query={}&time={at_s}",
        enc(selector)
    ));
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let labels: Vec<String> = s["metric"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
            .collect();
        let points = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                (t, p[1].as_str().unwrap().to_owned())
            })
            .collect();
        out.push((labels.join(","), points));
    }
    out.sort();
    out
}

const RULES: &str = r#"groups:
  - name: diff
    interval: 1s
    rules:
      - record: job:m:sum
        expr: sum by (job) (m)
      - record: job:m:max
        expr: max by (job) (m)
        labels: {tier: x}
      - record: job:m_sum:doubled
        expr: job:m:sum * 2
      - alert: MHigh
        expr: m > 1.5
        for: 2s
        labels: {severity: page}
        annotations: {summary: "{{ $labels.k }} is {{ $value }}"}
"#;

fn config(rules: &Path, target: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{}']\nscrape_configs:\n  - job_name: t\n    static_configs: [{{targets: ['{target}']}}]\n",
        rules.display()
    )
}

/// Same target, same rule file (same path, so the same schedule offset): the recorded
/// series, their timestamps and values, and the firing alerts are equal.
#[test]
fn recorded_series_and_alerts_equal_prometheus() {
    if !installed("recorded_series_and_alerts_equal_prometheus") {
        return;
    }
    let fx = Fixture::start();
    fx.set_body("/metrics", "m{k=\"a\"} 1\nm{k=\"b\"} 2\nm{k=\"c\"} 5\n");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let yaml = config(&rules, &fx.addr);
    let prom = Prometheus::start(
        "recorded_series_and_alerts_equal_prometheus",
        free_port(),
        &yaml,
        &[],
    )
    .unwrap();
    let node = Node::start(&yaml);
    // Both must have evaluated with data for a while (a loaded machine starts slowly).
    let sel = r#"{__name__=~"job:.*"}[8s]"#;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (now_s, p, f) = loop {
        let now_s = crate::support::wall_ms() as f64 / 1000.0 - 1.0;
        let (p, f) = (
            matrix(prom.url(), sel, now_s),
            matrix(&node.url, sel, now_s),
        );
        let full =
            |m: &[(String, Vec<(i64, String)>)]| m.len() == 3 && m.iter().all(|s| s.1.len() >= 6);
        if full(&p) && full(&f) {
            break (now_s, p, f);
        }
        assert!(
            Instant::now() < deadline,
            "not enough evaluations\nprometheus {p:?}\nfedstore {f:?}\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    let names =
        |m: &[(String, Vec<(i64, String)>)]| m.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&p),
        names(&f),
        "recorded series differ\n{}",
        node.log()
    );
    assert_eq!(p.len(), 3);
    for ((labels, pp), (_, fp)) in p.iter().zip(&f) {
        let common: Vec<&(i64, String)> = pp.iter().filter(|x| fp.contains(x)).collect();
        assert!(
            common.len() >= 4,
            "{labels}: evaluation timestamps/values differ\nprometheus {pp:?}\nfedstore   {fp:?}"
        );
        let fed_ts: Vec<i64> = fp.iter().map(|x| x.0).collect();
        for (t, v) in pp {
            if fed_ts.contains(t) {
                assert!(
                    fp.contains(&(*t, v.clone())),
                    "{labels} at {t}: {v} vs {fp:?}"
                );
            }
        }
    }

    let alerts = |base: &str| {
        let v = json(&format!("{base}/api/v1/alerts"));
        let mut a: Vec<String> = v["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{} {} {} {}",
                    a["labels"], a["annotations"], a["state"], a["value"]
                )
            })
            .collect();
        a.sort();
        a
    };
    let pa = alerts(prom.url());
    assert_eq!(pa.len(), 2, "{pa:?}");
    assert_eq!(pa, alerts(&node.url));

    let sel = r#"ALERTS{alertstate="firing"}[4s]"#;
    let (p, f) = (
        matrix(prom.url(), sel, now_s),
        matrix(&node.url, sel, now_s),
    );
    assert_eq!(names(&p), names(&f));
    for ((labels, pp), (_, fp)) in p.iter().zip(&f) {
        assert!(
            pp.iter().any(|x| fp.contains(x)),
            "{labels}: {pp:?} vs {fp:?}"
        );
    }

    let rules_of = |base: &str| {
        let v = json(&format!("{base}/api/v1/rules?type=record"));
        let g = &v["data"]["groups"][0];
        let q: Vec<String> = g["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {} {}", r["name"], r["query"], r["health"]))
            .collect();
        (
            g["name"].clone(),
            g["file"].clone(),
            g["interval"].clone(),
            q,
        )
    };
    assert_eq!(rules_of(prom.url()), rules_of(&node.url));
}

/// A fedstore alert reaches a real Alertmanager with the external labels, and resolves there.
#[test]
fn alerts_fire_and_resolve_in_a_real_alertmanager() {
    const AM: &str = "/usr/bin/prometheus-alertmanager";
    if !fedstore_tools::skips::peer_installed("alerts_fire_and_resolve_in_a_real_alertmanager", AM)
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("am.yml"),
        "route: {receiver: 'null'}\nreceivers: [{name: 'null'}]\n",
    )
    .unwrap();
    let am_port = free_port();
    let am_url = format!("http://127.0.0.1:{am_port}");
    let mut am = Command::new(AM)
        .arg(format!(
            "--config.file={}",
            dir.path().join("am.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _kill = scopeguard(move || {
        let _ = am.kill();
        let _ = am.wait();
    });
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: a\n    interval: 1s\n    rules:\n      - alert: Always\n        expr: absent(stop_marker)\n        labels: {severity: page}\n        annotations: {summary: 'stop me'}\n",
    )
    .unwrap();
    let yaml = format!(
        "global:\n  evaluation_interval: 1s\n  external_labels: {{zone: z1}}\nrule_files: ['{}']\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n",
        rules.display()
    );
    // Alertmanager must answer before fedstore's first send (a refused send is retried only
    // after the resend delay, as in Prometheus).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !crate::support::is_ready(&am_url) {
        assert!(Instant::now() < deadline, "Alertmanager did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let node = Node::start(&yaml);

    let find = || -> Option<Value> {
        let a = get(&format!("{am_url}/api/v2/alerts"), &[]);
        if a.status != 200 {
            return None;
        }
        let v: Value = serde_json::from_str(&a.text()).ok()?;
        v.as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "Always")
            .cloned()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        if let Some(a) = find() {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no alert in Alertmanager\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alert["labels"]["zone"], "z1", "{alert}");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["annotations"]["summary"], "stop me");
    assert_eq!(alert["status"]["state"], "active");
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .ends_with("/graph?g0.expr=absent%28stop_marker%29&g0.tab=1"),
        "{alert}"
    );

    let a = post(
        &format!("{}/api/v1/import/prometheus", node.url),
        "text/plain",
        b"stop_marker 1\n",
    );
    assert!(a.status < 300, "{}", a.text());
    let deadline = Instant::now() + Duration::from_secs(30);
    while find().is_some() {
        assert!(
            Instant::now() < deadline,
            "alert not resolved\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let v = json(&format!("{}/api/v1/alerts", node.url));
    assert_eq!(v["data"]["alerts"].as_array().unwrap().len(), 0);
    let metrics = get(&format!("{}/metrics", node.url), &[]).text();
    let sent = metrics
        .lines()
        .find(|l| l.starts_with("fedstore_notifications_sent_total "))
        .unwrap();
    assert_ne!(sent, "fedstore_notifications_sent_total 0");
}

/// Runs `f` on drop.
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct G<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for G<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    G(Some(f))
}

/// The federation page's hierarchy: two locals scrape targets and record `job:` aggregates, a
/// global federates `{__name__=~"job:.*"}` from them with the page's config. An all-fedstore
/// tree, an all-Prometheus tree and both mixed trees hold the same series and values.
#[test]
fn hierarchical_federation_of_recorded_aggregates() {
    let test = "hierarchical_federation_of_recorded_aggregates";
    if !installed(test) {
        return;
    }
    let targets = [Fixture::start(), Fixture::start()];
    targets[0].set_body("/metrics", "m{k=\"a\"} 1\nm{k=\"b\"} 2\n");
    targets[1].set_body("/metrics", "m{k=\"a\"} 10\nm{k=\"c\"} 30\nm{k=\"d\"} 5\n");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: agg\n    interval: 1s\n    rules:\n      - record: job:m:sum\n        expr: sum by (job) (m)\n      - record: job:m:count\n        expr: count by (job) (m)\n",
    )
    .unwrap();
    let local = |i: usize| {
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels: {{local: l{i}}}\nrule_files: ['{}']\nscrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['{}']}}]\n",
            rules.display(),
            targets[i - 1].addr
        )
    };
    let global = |locals: [&str; 2]| {
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: federate\n    scrape_interval: 1s\n    honor_labels: true\n    metrics_path: /federate\n    params:\n      'match[]':\n        - '{{__name__=~\"job:.*\"}}'\n    static_configs:\n      - targets: ['{}', '{}']\n",
            locals[0].trim_start_matches("http://"),
            locals[1].trim_start_matches("http://")
        )
    };
    let f_locals = [Node::start(&local(1)), Node::start(&local(2))];
    let p_locals = [
        Prometheus::start(test, free_port(), &local(1), &[]).unwrap(),
        Prometheus::start(test, free_port(), &local(2), &[]).unwrap(),
    ];
    let fl = [f_locals[0].url.as_str(), f_locals[1].url.as_str()];
    let pl = [p_locals[0].url(), p_locals[1].url()];
    let ff = Node::start(&global(fl));
    let fp = Node::start(&global(pl));
    let pp = Prometheus::start(test, free_port(), &global(pl), &[]).unwrap();
    let pf = Prometheus::start(test, free_port(), &global(fl), &[]).unwrap();

    let want = vec![
        "job:m:count{job=\"node\",local=\"l1\",instance=\"\"} 2".to_owned(),
        "job:m:count{job=\"node\",local=\"l2\",instance=\"\"} 3".to_owned(),
        "job:m:sum{job=\"node\",local=\"l1\",instance=\"\"} 3".to_owned(),
        "job:m:sum{job=\"node\",local=\"l2\",instance=\"\"} 45".to_owned(),
    ];
    let lines = |base: &str| -> Vec<String> {
        let a = get(
            &crate::prometheus::federate_url(base, &[r#"{__name__=~"job:.*"}"#.to_owned()]),
            &[],
        );
        let mut v: Vec<String> = a
            .text()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.rsplit_once(' ').map_or(l, |(head, _ts)| head).to_owned())
            .collect();
        v.sort();
        v
    };
    for (name, base) in [
        ("fedstore global over fedstore locals", ff.url.as_str()),
        ("fedstore global over Prometheus locals", fp.url.as_str()),
        ("Prometheus global over Prometheus locals", pp.url()),
        ("Prometheus global over fedstore locals", pf.url()),
    ] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = lines(base);
            if got == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: {got:#?}\nwant {want:#?}\nfedstore log: {}",
                ff.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// Alerts reach a real Alertmanager 0.25 served over TLS (its `--web.config.file`) through
/// `scheme: https` and `tls_config.ca_file`; an Alertmanager whose certificate the CA did
/// not sign gets nothing and the failures are counted.
#[test]
fn alerts_reach_an_alertmanager_over_tls() {
    const TEST: &str = "alerts_reach_an_alertmanager_over_tls";
    const AM: &str = "/usr/bin/prometheus-alertmanager";
    if !fedstore_tools::skips::peer_installed(TEST, AM) {
        return;
    }
    let Some(pki) = crate::web_security::Pki::make(TEST) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("am.yml"),
        "route: {receiver: 'null'}\nreceivers: [{name: 'null'}]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            pki.path("server.pem").display(),
            pki.path("server.key").display()
        ),
    )
    .unwrap();
    let am_port = free_port();
    let mut am = Command::new(AM)
        .arg(format!(
            "--config.file={}",
            dir.path().join("am.yml").display()
        ))
        .arg(format!(
            "--web.config.file={}",
            dir.path().join("web.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _kill = scopeguard(move || {
        let _ = am.kill();
        let _ = am.wait();
    });
    let ca = pki.path("ca.pem").display().to_string();
    let am_get = |path: &str| -> Option<String> {
        let out = Command::new("curl")
            .args(["-sS", "-f", "--max-time", "5", "--cacert", &ca])
            .arg(format!("https://127.0.0.1:{am_port}{path}"))
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while am_get("/-/ready").is_none() {
        assert!(
            Instant::now() < deadline,
            "Alertmanager (TLS) did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: a\n    interval: 1s\n    rules:\n      - alert: OverTls\n        expr: vector(1)\n",
    )
    .unwrap();
    // The second Alertmanager entry trusts a CA that did not sign the server's certificate
    // (the rogue self-signed client certificate stands in for one).
    let yaml = format!(
        "global:\n  evaluation_interval: 1s\nrule_files: ['{}']\nalerting:\n  alertmanagers:\n    - scheme: https\n      tls_config: {{ca_file: '{ca}'}}\n      static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n    - scheme: https\n      tls_config: {{ca_file: '{}'}}\n      static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n",
        rules.display(),
        pki.path("rogue.pem").display()
    );
    let node = Node::start(&yaml);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alerts = am_get("/api/v2/alerts").unwrap_or_default();
        if alerts.contains("\"alertname\":\"OverTls\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no alert in the TLS Alertmanager: {alerts}\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let counter = |name: &str| -> f64 {
        let metrics = get(&format!("{}/metrics", node.url), &[]).text();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(counter("fedstore_notifications_sent_total") >= 1.0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter("fedstore_notifications_errors_total") < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the untrusted Alertmanager did not fail\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        node.log().contains("certificate"),
        "the failure names the certificate: {}",
        node.log()
    );
}
