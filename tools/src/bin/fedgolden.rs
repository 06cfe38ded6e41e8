//! fedgolden: captures golden `/federate` bodies from a real Prometheus 2.42.
//!
//! For every case directory under `tests/data/federate/` it serves the case's `input.prom`
//! (timestamps shifted to just before now) as a scrape target, runs Prometheus with a 1s
//! scrape interval, waits for the samples, asks `/federate` each request of
//! `selectors.txt`, and writes `expected/<n>.txt` (timestamps shifted back) and
//! `expected/<n>.status`. See `tests/data/federate/README.md`.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use fedstore_tools::golden::{self, INPUT_BASE_MS, SYNTHETIC_FAMILIES};
use fedstore_tools::http;
use fedstore_tools::procs::{self, ChildGuard};
use fedstore_tools::serve::{StaticBody, Targets};

/// Scrape job name; series equal to its target labels get them removed again (see README).
const JOB: &str = "fedgolden-capture";

#[derive(Parser, Debug)]
#[command(about = "Capture golden /federate bodies from Prometheus 2.42")]
struct Args {
    /// Directory holding one sub-directory per case.
    #[arg(long, default_value = "tests/data/federate")]
    cases_dir: PathBuf,
    /// Only these cases (default: every directory with an input.prom).
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Prometheus binary.
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus: PathBuf,
    /// Prometheus listen port (127.0.0.1).
    #[arg(long, default_value_t = 19445)]
    port: u16,
    /// Port of the scrape target serving input.prom.
    #[arg(long, default_value_t = 19446)]
    target_port: u16,
    /// Compare with the committed expected/ instead of writing it; exit 1 on a difference.
    #[arg(long)]
    check: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    procs::install_signal_handler()?;
    ensure!(
        args.prometheus.exists(),
        "{} not found",
        args.prometheus.display()
    );
    let mut cases = Vec::new();
    for entry in
        fs::read_dir(&args.cases_dir).with_context(|| format!("{}", args.cases_dir.display()))?
    {
        let p = entry?.path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if p.join("input.prom").exists() && (args.cases.is_empty() || args.cases.contains(&name)) {
            cases.push((name, p));
        }
    }
    cases.sort();
    ensure!(!cases.is_empty(), "no cases found");
    let version = prometheus_version(&args.prometheus)?;
    let mut failures = 0;
    for (name, dir) in &cases {
        let started = Instant::now();
        match capture_case(&args, &version, dir) {
            Ok(n) => eprintln!(
                "{name}: {n} requests captured in {:.1}s",
                started.elapsed().as_secs_f64()
            ),
            Err(e) => {
                failures += 1;
                eprintln!("{name}: FAILED: {e:#}");
            }
        }
    }
    if failures > 0 {
        bail!("{failures} case(s) failed");
    }
    Ok(())
}

fn prometheus_version(bin: &Path) -> Result<String> {
    let out = Command::new(bin).arg("--version").output()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    Ok(text.lines().next().unwrap_or("unknown").trim().to_string())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Captures one case; returns the number of requests.
fn capture_case(args: &Args, version: &str, dir: &Path) -> Result<usize> {
    let input = fs::read_to_string(dir.join("input.prom")).context("reading input.prom")?;
    golden::validate_input(&input).map_err(anyhow::Error::msg)?;
    let requests = golden::parse_selectors(
        &fs::read_to_string(dir.join("selectors.txt")).context("reading selectors.txt")?,
    );
    let config = match fs::read_to_string(dir.join("config.yml")) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).context("reading config.yml"),
    };
    ensure!(
        !config.contains("scrape_configs"),
        "config.yml must not contain scrape_configs"
    );

    // Whole seconds keep the shifted timestamps readable.
    let capture_base = (now_ms() - 5_000) / 1000 * 1000;
    let delta = capture_base - INPUT_BASE_MS;
    let shifted = golden::shift_timestamps(&input, delta).map_err(anyhow::Error::msg)?;

    let tmp =
        std::env::temp_dir().join(format!("fedgolden-{}-{}", std::process::id(), capture_base));
    fs::create_dir_all(&tmp)?;
    let _target = Targets::start(
        Arc::new(StaticBody(shifted.into_bytes())),
        args.target_port,
        1,
    )?;
    let target = format!("127.0.0.1:{}", args.target_port);
    let yml = golden::capture_config(&config, JOB, &target);
    fs::write(tmp.join("prometheus.yml"), &yml)?;
    let mut cmd = Command::new(&args.prometheus);
    cmd.arg(format!(
        "--config.file={}",
        tmp.join("prometheus.yml").display()
    ))
    .arg(format!(
        "--storage.tsdb.path={}",
        tmp.join("data").display()
    ))
    .arg(format!("--web.listen-address=127.0.0.1:{}", args.port))
    .arg("--query.lookback-delta=5m");
    let mut prom = ChildGuard::spawn("prometheus", cmd, &tmp.join("prometheus.log"))?;
    let addr: SocketAddr = format!("127.0.0.1:{}", args.port).parse()?;
    let result = (|| -> Result<usize> {
        wait_scraped(&mut prom, addr, &tmp)?;
        let first = fetch_all(addr, &requests, delta)?;
        // A second round one scrape later must give the same bodies.
        sleep(Duration::from_millis(1500));
        let second = fetch_all(addr, &requests, delta)?;
        for (n, (a, b)) in first.iter().zip(&second).enumerate() {
            ensure!(a == b, "request {} is unstable between two captures", n + 1);
        }
        let expected_dir = dir.join("expected");
        if args.check {
            for (n, (status, body, _)) in first.iter().enumerate() {
                let want = fs::read_to_string(expected_dir.join(format!("{}.txt", n + 1)))?;
                let want_status =
                    fs::read_to_string(expected_dir.join(format!("{}.status", n + 1)))?;
                ensure!(
                    want == *body && want_status.trim() == status.to_string(),
                    "request {} differs from expected/",
                    n + 1
                );
            }
            return Ok(first.len());
        }
        if expected_dir.exists() {
            fs::remove_dir_all(&expected_dir)?;
        }
        fs::create_dir_all(&expected_dir)?;
        let mut filtered = Vec::new();
        for (n, (status, body, dropped)) in first.iter().enumerate() {
            fs::write(expected_dir.join(format!("{}.txt", n + 1)), body)?;
            fs::write(
                expected_dir.join(format!("{}.status", n + 1)),
                format!("{status}\n"),
            )?;
            if *dropped > 0 {
                filtered.push(format!("{}:{dropped}", n + 1));
            }
        }
        let meta = format!(
            "# Written by fedgolden; see ../README.md.\nprometheus={version}\ncaptured_at_ms={}\ninput_base_ms={INPUT_BASE_MS}\ncapture_base_ms={capture_base}\ncapture_shift_ms={delta}\nlookback_delta=5m\nscrape_interval=1s\nfiltered_families={}\nfiltered_samples={}\n",
            now_ms(),
            SYNTHETIC_FAMILIES.join(","),
            if filtered.is_empty() {
                "none".to_string()
            } else {
                filtered.join(" ")
            },
        );
        fs::write(dir.join("capture.txt"), meta)?;
        Ok(first.len())
    })();
    prom.stop(Duration::from_secs(10));
    if result.is_ok() {
        let _ = fs::remove_dir_all(&tmp);
    } else {
        eprintln!("  (kept {} for inspection)", tmp.display());
    }
    result
}

/// Waits until Prometheus is ready and a successful scrape (`up` = 1) is followed by two more.
fn wait_scraped(prom: &mut ChildGuard, addr: SocketAddr, tmp: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let path = http::federate_path(&["up".to_string()]);
    loop {
        prom.check_alive()
            .with_context(|| format!("see {}", tmp.join("prometheus.log").display()))?;
        ensure!(
            Instant::now() < deadline,
            "timed out waiting for a successful scrape"
        );
        if let Ok((resp, body)) = http::get_body(addr, &path, &[], Duration::from_secs(5)) {
            let body = String::from_utf8_lossy(&body);
            if resp.status == 200
                && body
                    .lines()
                    .any(|l| l.starts_with("up{") && l.contains("} 1 "))
            {
                break;
            }
            if body
                .lines()
                .any(|l| l.starts_with("up{") && l.contains("} 0 "))
            {
                bail!("scrape failed (up 0): input.prom is not valid for Prometheus");
            }
        }
        sleep(Duration::from_millis(200));
    }
    sleep(Duration::from_millis(2500));
    Ok(())
}

/// Runs every request; returns `(status, body with synthetic families dropped and timestamps
/// shifted back, dropped sample count)`.
fn fetch_all(
    addr: SocketAddr,
    requests: &[Vec<String>],
    delta: i64,
) -> Result<Vec<(u16, String, usize)>> {
    let mut out = Vec::new();
    for (n, req) in requests.iter().enumerate() {
        let (resp, body) = http::get_body(
            addr,
            &http::federate_path(req),
            &[],
            Duration::from_secs(30),
        )
        .with_context(|| format!("request {}", n + 1))?;
        let body = String::from_utf8(body)
            .with_context(|| format!("request {}: body not UTF-8", n + 1))?;
        if resp.status == 200 {
            let (kept, dropped) = golden::drop_synthetic(&body);
            let back = golden::shift_timestamps(&kept, -delta).map_err(anyhow::Error::msg)?;
            out.push((resp.status, back, dropped));
        } else {
            out.push((resp.status, body, 0));
        }
    }
    Ok(out)
}
