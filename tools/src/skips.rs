//! Tests that cannot run on this machine: every skip is printed and appended to
//! `target/test-skips.log`, which `make test` lists after its totals, so a skip is never silent
//! even though the test harness hides a passing test's output. A missing peer binary (real
//! Prometheus, promtool) is a skip on a developer's machine but a failure in CI (`CI=true`),
//! where the peers are installed by `.ci/run`.

use std::io::Write as _;
use std::path::Path;

/// Where skips are recorded: `<workspace>/target/test-skips.log`.
pub fn log_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-skips.log")
}

/// Records that `test` could not run here and why (stderr and the skip log).
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIP {test}: {why}");
    let path = log_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = writeln!(f, "SKIP {test}: {why}");
    }
}

/// Whether the environment says this is a CI run (`CI=true`, as CI services set it).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether the peer binary at `path` exists. When it does not: in CI the test fails (panics)
/// naming the binary; elsewhere the skip is recorded and the test should return.
#[track_caller]
pub fn peer_installed(test: &str, path: &str) -> bool {
    check_peer(test, path, in_ci())
}

#[track_caller]
fn check_peer(test: &str, path: &str, ci: bool) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    assert!(
        !ci,
        "{test}: {path} is not installed, and CI=true does not allow skipping (.ci/run installs it)"
    );
    skip(test, &format!("{path} not installed"));
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installed_peer_runs() {
        let exe = std::env::current_exe().expect("test binary path");
        let exe = exe.to_str().expect("utf-8 path");
        assert!(check_peer("an_installed_peer_runs", exe, true));
    }

    #[test]
    #[should_panic(expected = "CI=true does not allow skipping")]
    fn a_missing_peer_fails_in_ci() {
        check_peer(
            "a_missing_peer_fails_in_ci",
            "/nonexistent/prometheus",
            true,
        );
    }
}
