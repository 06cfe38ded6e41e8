//! `/federate` against answers recorded from a real Prometheus 2.42 (`tests/data/federate/`,
//! captured by `fedgolden`): same input, same selectors, byte-identical bodies.

use std::path::{Path, PathBuf};

use fedstore_tools::golden::{INPUT_BASE_MS, parse_selectors, shift_timestamps};

use crate::support::{Options, TestServer, assert_text_eq, enc, get, post, wall_ms};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/federate")
}

fn external_labels(case: &Path) -> Vec<(String, String)> {
    let cfg = case.join("config.yml");
    if !cfg.exists() {
        return Vec::new();
    }
    let text = std::fs::read_to_string(&cfg).unwrap();
    fedstore::config::Config::parse(&text, &cfg.display().to_string())
        .unwrap()
        .external_labels()
        .to_vec()
}

fn run_case(case: &Path) -> usize {
    let name = case.file_name().unwrap().to_string_lossy().to_string();
    let now = wall_ms() / 1000 * 1000;
    let delta = now - 5000 - INPUT_BASE_MS;
    let srv = TestServer::start_with(Options {
        external_labels: external_labels(case),
        now_ms: Some(now),
        ..Options::default()
    });
    let input = std::fs::read_to_string(case.join("input.prom")).unwrap();
    let shifted = shift_timestamps(&input, delta).unwrap();
    let a = post(
        &format!("{}/api/v1/import/prometheus", srv.url()),
        "text/plain",
        shifted.as_bytes(),
    );
    assert_eq!(a.status, 204, "case {name}: import failed: {}", a.text());

    let requests = parse_selectors(&std::fs::read_to_string(case.join("selectors.txt")).unwrap());
    for (i, matches) in requests.iter().enumerate() {
        let n = i + 1;
        let what = format!("case {name} request {n} {matches:?}");
        let q: Vec<String> = matches
            .iter()
            .map(|m| format!("match[]={}", enc(m)))
            .collect();
        let a = get(&format!("{}/federate?{}", srv.url(), q.join("&")), &[]);
        if matches.is_empty() {
            // Deliberate deviation (docs/api.md): no match[] is a 400, not Prometheus's empty 200.
            assert_eq!(a.status, 400, "{what}");
            assert!(a.text().contains("match[]"), "{what}: {}", a.text());
            continue;
        }
        let want_status: u16 = std::fs::read_to_string(case.join(format!("expected/{n}.status")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let want = std::fs::read_to_string(case.join(format!("expected/{n}.txt"))).unwrap();
        assert_eq!(a.status, want_status, "{what}: {}", a.text());
        let got = if a.status == 200 {
            shift_timestamps(&a.text(), -delta).unwrap()
        } else {
            a.text()
        };
        assert_text_eq(&got, &want, &what);
    }
    requests.len()
}

#[test]
fn matches_prometheus_2_42_recordings() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.prom").exists())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 5,
        "golden cases missing under {}",
        cases_dir().display()
    );
    let total: usize = cases.iter().map(|c| run_case(c)).sum();
    eprintln!(
        "compared {total} recorded /federate answers from {} cases",
        cases.len()
    );
}
