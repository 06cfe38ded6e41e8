//! Hierarchical federation, differential: a real Prometheus 2.42 source with recording rules
//! and external labels, federated by a real Prometheus global and by a fedstore global with
//! the same seed configuration (`honor_labels: true`, `metrics_path: /federate`,
//! `match[]`). The label sets both globals store must be equal: aggregates without
//! `instance` (the source sends `instance=""`, which must keep the global's target instance
//! off), series with an `instance`, and series with other empty-valued labels (the source's
//! `dc: ""` external label against the global's `dc` target label).

use crate::prometheus::{Prometheus, free_port};
use crate::scrape::{Fixture, ScrapeServer, seed_federation_config, wait_for};

const TEST: &str = "hierarchical_federation_stores_what_prometheus_stores";

/// The source's recording rules: aggregates whose label sets have no `instance`.
const RULES: &str = "\
groups:
  - name: aggregates
    interval: 1s
    rules:
      - record: job:up:count
        expr: count by (job) (up)
      - record: job:http_requests:sum
        expr: sum by (job, code) (http_requests_total)
";

#[test]
fn hierarchical_federation_stores_what_prometheus_stores() {
    let fx = Fixture::start();
    fx.set_body(
        "/metrics",
        concat!(
            "http_requests_total{code=\"200\",path=\"/\"} 10\n",
            "http_requests_total{code=\"500\",path=\"/x\"} 2\n",
            "located{dc=\"eu1\"} 1\n",
            "exposed_empty{zone=\"\",a=\"1\"} 3\n",
            "own_instance{instance=\"exporter-7\"} 4\n",
        ),
    );
    let rules_dir = tempfile::tempdir().unwrap();
    let rules = rules_dir.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let source_port = free_port();
    let source_cfg = format!(
        concat!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n",
            "  external_labels:\n    dc: \"\"\n    region: eu\n",
            "rule_files: ['{}']\n",
            "scrape_configs:\n  - job_name: prometheus\n",
            "    static_configs:\n      - targets: ['{}']\n",
        ),
        rules.display(),
        fx.addr
    );
    let Some(source) = Prometheus::start(TEST, source_port, &source_cfg, &[]) else {
        return;
    };
    // The seed configuration, plus a target label `dc` that the source's `dc=""` must keep off.
    let source_addr = format!("127.0.0.1:{source_port}");
    let global_cfg = format!(
        "{}        labels:\n          dc: global-dc\n",
        seed_federation_config(&[&source_addr])
    );
    let global_port = free_port();
    let Some(prom_global) = Prometheus::start(TEST, global_port, &global_cfg, &[]) else {
        return;
    };
    let fed_global = ScrapeServer::start(&global_cfg);

    // The source federates what the scenario needs: `instance=""` on its aggregates and
    // `dc=""` on every series (the empty external label).
    // (Federation writes the series' own labels, then the external ones it lacks.)
    let aggregate = "job:up:count{job=\"prometheus\",dc=\"\",instance=\"\",region=\"eu\"}";
    wait_for(30, "the source's aggregates", || {
        let s = source.series(&["{__name__=~\"job:.*\"}"]);
        s.iter().any(|l| l == aggregate).then_some(())
    });

    let all = ["{__name__=~\".+\"}"];
    let want_aggregate = "job:up:count{job=\"prometheus\",region=\"eu\",instance=\"\"}";
    let want = wait_for(30, "the Prometheus global's federated series", || {
        let s = prom_global.series(&all);
        (s.iter().any(|l| l == want_aggregate) && s.len() >= 14).then_some(s)
    });
    // The cases the test is about, as the real global stores them.
    for line in [
        want_aggregate.to_owned(),
        format!(
            "http_requests_total{{code=\"200\",instance=\"{}\",job=\"prometheus\",path=\"/\",region=\"eu\"}}",
            fx.addr
        ),
        format!(
            "exposed_empty{{a=\"1\",instance=\"{}\",job=\"prometheus\",region=\"eu\"}}",
            fx.addr
        ),
        format!(
            "own_instance{{exported_instance=\"exporter-7\",instance=\"{}\",job=\"prometheus\",region=\"eu\"}}",
            fx.addr
        ),
        format!(
            "located{{dc=\"eu1\",instance=\"{}\",job=\"prometheus\",region=\"eu\"}}",
            fx.addr
        ),
        format!("up{{dc=\"global-dc\",instance=\"{source_addr}\",job=\"federate\"}}"),
    ] {
        assert!(
            want.contains(&line),
            "Prometheus global lacks {line}; has:\n{}",
            want.join("\n")
        );
    }
    // Both scrape every second; give fedstore's scrapes time to catch up, then compare.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let got = loop {
        let mut got = fed_global.series(&all);
        got.sort();
        if got == want || std::time::Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
    let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "fedstore global differs from Prometheus global\n  only in Prometheus: {missing:#?}\n  only in fedstore: {extra:#?}"
    );
}
