//! Rules without peers: `fedstore check`, a bad rule file at start (one line, exit 1) and at
//! reload (500, the running rules go on), removed groups' series made stale, and `for` state
//! restored across a restart.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::serve::Serve;
use crate::support::{enc, get, post};

fn fedstore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fedstore"))
}

#[test]
fn check_rules_reports_like_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(
        &good,
        "groups:\n  - name: g\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n      - alert: Down\n        expr: up == 0\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: g1\n    rules:\n      - record: r\n        expr: sum(up\n",
    )
    .unwrap();
    let out = fedstore()
        .args(["check", "rules"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS: 2 rules found"));
    let out = fedstore()
        .args(["check", "rules"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: 5:15: group \"g1\", rule 1, \"r\": could not parse expression: 1:7: parse error: unclosed left parenthesis",
            bad.display()
        )),
        "{err}"
    );
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "rule_files: ['*.yml']\n").unwrap();
    let out = fedstore()
        .args(["check", "config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "bad.yml matches the glob");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("is valid prometheus config file syntax")
    );
}

/// `fedstore serve` with the rule-bearing config `cfg` and the lifecycle API on.
fn start(cfg: &std::path::Path, data: &std::path::Path, extra: &[&str]) -> Serve {
    let mut args = vec![
        format!("--config.file={}", cfg.display()),
        "--web.enable-lifecycle".to_owned(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    Serve::start(data, &args)
}

fn query(srv: &Serve, q: &str) -> String {
    get(&format!("{}/api/v1/query?query={}", srv.url, enc(q)), &[]).text()
}

/// Polls the instant query `q` until `ok` accepts its answer (30 s at most).
fn wait_for(srv: &Serve, q: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = query(srv, q);
        if ok(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: {body}\n{}", srv.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

const GROUP_A: &str =
    "  - name: a\n    interval: 1s\n    rules:\n      - record: rec:one\n        expr: vector(1)\n";
const GROUP_B: &str =
    "  - name: b\n    interval: 1s\n    rules:\n      - record: rec:two\n        expr: vector(2)\n";

#[test]
fn bad_rule_files_at_start_and_reload_and_stale_removed_groups() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{evaluation_interval: 1s}}\nrule_files: ['{}']\n",
            rules.display()
        ),
    )
    .unwrap();
    std::fs::write(
        &rules,
        "groups:\n  - name: x\n    rules:\n      - record: 'bad name'\n        expr: up\n",
    )
    .unwrap();
    let out = fedstore()
        .arg("serve")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("d0").display()
        ))
        .arg("--web.listen-address=127.0.0.1:0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("fedstore: loading rules: ")
            && last.contains("invalid recording rule name: bad name"),
        "{err}"
    );

    std::fs::write(&rules, format!("groups:\n{GROUP_A}{GROUP_B}")).unwrap();
    let srv = start(&cfg, &dir.path().join("d1"), &[]);
    wait_for(&srv, "rec:two", "group b records", |b| b.contains("\"2\""));
    // A bad file on reload: 500, and both groups keep running.
    std::fs::write(
        &rules,
        "groups:\n  - name: x\n    rules:\n      - record: r\n        expr: sum(up\n",
    )
    .unwrap();
    let a = post(&format!("{}/-/reload", srv.url), "text/plain", b"");
    assert_eq!(a.status, 500, "{}", a.text());
    assert!(
        a.text().contains("could not parse expression"),
        "{}",
        a.text()
    );
    let rules_api = get(&format!("{}/api/v1/rules", srv.url), &[]).text();
    assert!(rules_api.contains("rec:one") && rules_api.contains("rec:two"));
    // Group b removed: its series is made stale (two intervals later) and leaves the result.
    std::fs::write(&rules, format!("groups:\n{GROUP_A}")).unwrap();
    let a = post(&format!("{}/-/reload", srv.url), "text/plain", b"");
    assert_eq!(a.status, 200, "{}", a.text());
    wait_for(&srv, "rec:two", "stale marker for the removed group", |b| {
        b.contains("\"result\":[]")
    });
    wait_for(&srv, "rec:one", "group a still records", |b| {
        b.contains("\"1\"")
    });
}

#[test]
fn alert_for_state_is_restored_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: a\n    interval: 1s\n    rules:\n      - alert: Long\n        expr: vector(1)\n        for: 1h\n",
    )
    .unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{evaluation_interval: 1s}}\nrule_files: ['{}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    // A grace period shorter than `for`, so the alert is restored.
    let flags = ["--rules.alert.for-grace-period=1s"];
    let srv = start(&cfg, &data, &flags);
    let body = wait_for(&srv, "ALERTS_FOR_STATE", "for state written", |b| {
        b.contains("Long")
    });
    let active_at = |b: &str| -> f64 {
        let v: serde_json::Value = serde_json::from_str(b).unwrap();
        v["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = active_at(&body);
    std::thread::sleep(Duration::from_secs(2));
    srv.stop();
    let srv = start(&cfg, &data, &flags);
    // After two evaluations the rule restores: activeAt moves by the downtime at most, and
    // is not reset to the restart.
    let alerts = || get(&format!("{}/api/v1/alerts", srv.url), &[]).text();
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let body = query(&srv, "ALERTS_FOR_STATE");
        if body.contains("Long") {
            break active_at(&body);
        }
        assert!(Instant::now() < deadline, "{}\n{}", alerts(), srv.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    let restart_s = crate::support::wall_ms() as f64 / 1000.0;
    assert!(after >= before, "{after} < {before}");
    assert!(
        after < restart_s - 1.0,
        "activeAt {after} was reset to the restart ({restart_s}); before it was {before}"
    );
}
