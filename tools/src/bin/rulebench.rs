//! rulebench: the cost of recording rules, fedstore against Prometheus 2.42 in one run.
//!
//! Loads `--series` counter series spread over `--rules` metrics (the last 5 minutes at
//! 15 s, by remote write) into each server in turn, with one rule group of `--rules`
//! recording rules `sum by (job, instance) (rate(rb_m_NNN[5m]))` at `--interval`, then
//! measures over `--rounds` evaluation rounds: the process CPU seconds per round (user +
//! system, from /proc) and the group's own evaluation time (`/api/v1/rules`).
//!
//! `cargo build --release -p fedstore -p fedstore-tools && target/release/rulebench`

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use fedstore_tools::procs::{self, ChildGuard};
use fedstore_tools::remote_write;

#[derive(Debug, Parser)]
#[command(about = "Recording-rule cost: fedstore vs Prometheus 2.42")]
struct Args {
    /// Active series (split evenly over the rules' metrics).
    #[arg(long, default_value_t = 1_000_000)]
    series: usize,
    /// Recording rules (one metric each).
    #[arg(long, default_value_t = 100)]
    rules: usize,
    /// Evaluation interval in seconds.
    #[arg(long, default_value_t = 15)]
    interval: u64,
    /// Rounds measured (after two warm-up rounds).
    #[arg(long, default_value_t = 4)]
    rounds: u64,
    /// Servers, in order (comma-separated): fedstore, prometheus.
    #[arg(long, value_delimiter = ',', default_values = ["fedstore", "prometheus"])]
    only: Vec<String>,
    /// First port (fedstore), the next one for Prometheus.
    #[arg(long, default_value_t = 19560)]
    port_base: u16,
    /// fedstore binary.
    #[arg(long, default_value = "target/release/fedstore")]
    fedstore_bin: PathBuf,
    /// Prometheus binary.
    #[arg(long, default_value = "/usr/bin/prometheus")]
    prometheus_bin: PathBuf,
    /// Where temporary data directories go.
    #[arg(long, default_value = "/tmp")]
    work_dir: PathBuf,
}

/// Samples per series: 5 minutes at 15 s.
const SAMPLES: i64 = 21;
const STEP_MS: i64 = 15_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The labels of series `i` of metric `m`: 10 cpus per instance, 100 instances per job.
fn labels(m: usize, i: usize) -> [(String, String); 4] {
    [
        ("__name__".into(), format!("rb_m_{m:03}")),
        ("cpu".into(), (i % 10).to_string()),
        ("instance".into(), format!("host-{:05}:9100", i / 10)),
        ("job".into(), format!("job-{}", i / 1000)),
    ]
}

fn rules_yaml(args: &Args) -> String {
    let mut y = format!(
        "groups:\n  - name: rulebench\n    interval: {}s\n    rules:\n",
        args.interval
    );
    for m in 0..args.rules {
        y.push_str(&format!(
            "      - record: job_instance:rb_m_{m:03}:rate5m\n        expr: sum by (job, instance) (rate(rb_m_{m:03}[5m]))\n"
        ));
    }
    y
}

fn load(args: &Args, url: &str) -> Result<()> {
    let per_metric = args.series / args.rules.max(1);
    let end = now_ms();
    let agent = remote_write::agent();
    let mut enc = snap::raw::Encoder::new();
    let (mut pb, mut scratch, mut lb, mut samples) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut in_req = 0usize;
    for m in 0..args.rules {
        for i in 0..per_metric {
            lb.clear();
            let l = labels(m, i);
            remote_write::encode_labels(l.iter().map(|(n, v)| (n.as_str(), v.as_str())), &mut lb);
            samples.clear();
            samples.extend((0..SAMPLES).map(|k| {
                (
                    end - (SAMPLES - 1 - k) * STEP_MS,
                    (k as f64) * ((i % 7) + 1) as f64,
                )
            }));
            remote_write::encode_series(&lb, &samples, &mut scratch, &mut pb);
            in_req += 1;
            if in_req == 2000 {
                remote_write::post(&agent, url, &pb, &mut enc)?;
                pb.clear();
                in_req = 0;
            }
        }
    }
    if in_req > 0 {
        remote_write::post(&agent, url, &pb, &mut enc)?;
    }
    Ok(())
}

/// `(evaluation seconds, last evaluation time)` of the group.
fn group_eval(url: &str) -> Result<(f64, String)> {
    let body = ureq::get(&format!("{url}/api/v1/rules"))
        .call()?
        .into_body()
        .read_to_string()?;
    let v: serde_json::Value = serde_json::from_str(&body)?;
    let g = &v["data"]["groups"][0];
    Ok((
        g["evaluationTime"].as_f64().unwrap_or(0.0),
        g["lastEvaluation"].as_str().unwrap_or("").to_owned(),
    ))
}

struct Row {
    server: String,
    cpu_per_round: f64,
    eval_median: f64,
    eval_max: f64,
}

fn run(args: &Args, server: &str, port: u16) -> Result<Row> {
    let dir = tempfile::Builder::new()
        .prefix("rulebench")
        .tempdir_in(&args.work_dir)?;
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, rules_yaml(args))?;
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  evaluation_interval: {}s\nrule_files: ['{}']\nscrape_configs: []\n",
            args.interval,
            rules.display()
        ),
    )?;
    let listen = format!("127.0.0.1:{port}");
    let data = dir.path().join("data");
    let mut cmd = match server {
        "fedstore" => {
            ensure!(
                args.fedstore_bin.exists(),
                "{} not built",
                args.fedstore_bin.display()
            );
            let mut c = Command::new(&args.fedstore_bin);
            c.arg("serve");
            c
        }
        _ => {
            let mut c = Command::new(&args.prometheus_bin);
            c.arg("--web.enable-remote-write-receiver");
            c
        }
    };
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address={listen}"));
    let log = dir.path().join("log");
    let mut child = ChildGuard::spawn(server, cmd, &log)?;
    let url = format!("http://{listen}");
    procs::wait_until(&mut child, &log, Duration::from_secs(120), "ready", || {
        Ok(ureq::get(&format!("{url}/-/ready")).call().is_ok())
    })?;
    let t = Instant::now();
    load(args, &format!("{url}/api/v1/write")).context("loading")?;
    eprintln!(
        "{server}: loaded {} series in {:.1?}",
        args.series,
        t.elapsed()
    );
    // Two warm-up rounds after the load.
    let mut seen = group_eval(&url)?.1;
    let pid = child.pid();
    let wait_round = |seen: &mut String, child: &mut ChildGuard| -> Result<f64> {
        let deadline = Instant::now() + Duration::from_secs(args.interval * 4 + 60);
        loop {
            child.check_alive()?;
            let (secs, last) = group_eval(&url)?;
            if last != *seen && !last.starts_with("0001") {
                *seen = last;
                return Ok(secs);
            }
            ensure!(
                Instant::now() < deadline,
                "no evaluation (see {})",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_round(&mut seen, &mut child)?;
    wait_round(&mut seen, &mut child)?;
    let cpu0 = procs::cpu_time(pid).context("cpu time")?;
    let mut evals = Vec::new();
    for _ in 0..args.rounds {
        evals.push(wait_round(&mut seen, &mut child)?);
    }
    let cpu1 = procs::cpu_time(pid).context("cpu time")?;
    let cpu_per_round = (cpu1 - cpu0).as_secs_f64() / args.rounds as f64;
    evals.sort_by(f64::total_cmp);
    child.stop(Duration::from_secs(30));
    Ok(Row {
        server: server.to_owned(),
        cpu_per_round,
        eval_median: evals[evals.len() / 2],
        eval_max: evals.last().copied().unwrap_or(0.0),
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    procs::install_signal_handler()?;
    let mut rows = Vec::new();
    for (i, s) in args.only.iter().enumerate() {
        rows.push(run(&args, s, args.port_base + i as u16)?);
    }
    println!(
        "{} rules over {} series, {} s interval, {} rounds, load average {:.1}",
        args.rules,
        args.series,
        args.interval,
        args.rounds,
        procs::loadavg().unwrap_or(0.0)
    );
    println!("| server | CPU s per round | share of 2 cores | group evaluation (median / max) |");
    println!("|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} | {:.1}% | {:.2} s / {:.2} s |",
            r.server,
            r.cpu_per_round,
            100.0 * r.cpu_per_round / (2.0 * args.interval as f64),
            r.eval_median,
            r.eval_max
        );
    }
    if let [f, p, ..] = rows.as_slice() {
        println!(
            "\nPrometheus / fedstore CPU per round: {:.1}x",
            p.cpu_per_round / f.cpu_per_round.max(1e-9)
        );
    }
    Ok(())
}
