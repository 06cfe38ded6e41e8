//! fedlatency: how much a small `/federate` answer costs beyond the HTTP round trip (issue 9,
//! item 6: answers under ~2,000 series within 0.3 ms of an empty request on the same server).
//!
//! Starts fedstore on a temp dir (or uses `--addr`), imports the fedgen dataset (default
//! ~202k series: 160 node instances, 10 Prometheus instances x 2,000) through
//! `POST /api/v1/import/prometheus`, then times each shape with **curl over loopback**
//! (`-w %{time_total}`, a new connection per request, as an operator would): `--warmup`
//! untimed requests, then `--reps` timed ones, shapes interleaved round-robin so a burst of
//! load on the shared machine hits every shape alike. Prints min / median / max per shape and
//! the median's excess over `/-/healthy` (the empty request), plus fedstore's own
//! server-side `fedstore_federate_request_duration_seconds` mean over the run.
//!
//! When it knows the server's pid (it started the server, or `--pid`), it also prints the
//! server's CPU time and minor page faults per request of each shape (per-thread
//! `/proc/<pid>/task/*/schedstat` run time and `/proc/<pid>/stat` `minflt`, read around each
//! request): figures a loaded machine moves far less than curl's wall time.
//!
//! Example: `target/release/fedlatency` or `fedlatency --addr 127.0.0.1:19003 --reps 15`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use fedstore_tools::dataset::{Dataset, DatasetConfig, Unit};
use fedstore_tools::procs::{self, ChildGuard};
use fedstore_tools::{expo, http};

#[derive(Parser, Debug)]
#[command(about = "curl latency of small and large /federate answers vs /-/healthy")]
struct Args {
    /// Measure this running server instead of starting one (nothing is imported).
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// Port of the fedstore this tool starts.
    #[arg(long, default_value_t = 19447)]
    port: u16,
    /// Pid of the `--addr` server, for the per-request CPU and page-fault columns.
    #[arg(long)]
    pid: Option<u32>,
    /// Timed requests per shape (the issue asks for the median of 7).
    #[arg(long, default_value_t = 7)]
    reps: usize,
    /// Untimed requests per shape first.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Also time the large shapes (all, all gzip, seed selectors).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    large: bool,
    #[command(flatten)]
    dataset: DatasetConfig,
    /// The fedstore binary.
    #[arg(long, default_value = "target/release/fedstore")]
    fedstore_bin: PathBuf,
    /// The curl binary.
    #[arg(long, default_value = "curl")]
    curl: PathBuf,
    /// Parent of the temp work dir.
    #[arg(long, default_value = "/tmp")]
    work_dir: PathBuf,
}

/// One timed request shape.
struct Probe {
    key: String,
    path: String,
    gzip: bool,
    series: u64,
    times: Vec<Duration>,
    /// Server CPU time and minor faults summed over the timed requests.
    usage: Usage,
}

/// A server's CPU time (ns, all threads) and minor page faults.
#[derive(Clone, Copy, Default)]
struct Usage {
    cpu_ns: u64,
    minflt: u64,
}

impl Usage {
    /// Reads both from /proc; `None` if the process is gone or /proc is not Linux's.
    fn read(pid: u32) -> Option<Usage> {
        let mut cpu_ns = 0;
        for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
            let path = t.ok()?.path().join("schedstat");
            // A thread may exit between the listing and the read: it just no longer counts.
            if let Ok(text) = std::fs::read_to_string(path) {
                cpu_ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
            }
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised command name; minflt is field 10 of the whole line.
        let rest = &stat[stat.rfind(')')? + 2..];
        let minflt = rest.split_whitespace().nth(7)?.parse().ok()?;
        Some(Usage { cpu_ns, minflt })
    }
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.addr.is_none() && std::env::args().all(|a| !a.starts_with("--instances")) {
        // ~202k series unless told otherwise: the size the issue measured.
        args.dataset.instances = 160;
        args.dataset.prometheus_series_per_instance = 2_000;
    }
    ensure!(args.reps > 0, "--reps must be positive");
    procs::install_signal_handler()?;
    let ds = Dataset::new(args.dataset.clone());
    let work = args
        .work_dir
        .join(format!("fedlatency-{}", std::process::id()));
    let mut server = None;
    let addr = match args.addr {
        Some(a) => a,
        None => {
            std::fs::create_dir_all(&work)?;
            let addr: SocketAddr = format!("127.0.0.1:{}", args.port).parse()?;
            let log = work.join("fedstore.log");
            let mut cmd = Command::new(&args.fedstore_bin);
            cmd.arg("serve")
                .arg("--web.listen-address")
                .arg(addr.to_string())
                .arg("--storage.tsdb.path")
                .arg(work.join("data"))
                .arg("--query.lookback-delta")
                .arg("1h");
            let mut child = ChildGuard::spawn("fedstore", cmd, &log)?;
            procs::wait_until(&mut child, &log, Duration::from_secs(60), "ready", || {
                Ok(
                    http::get(addr, "/-/ready", &[], Duration::from_secs(5), &mut |_| {})?.status
                        == 200,
                )
            })?;
            eprintln!("importing {} series", ds.total_series());
            import(&ds, addr)?;
            server = Some(child);
            addr
        }
    };

    let mut probes = vec![Probe {
        key: "/-/healthy (empty request)".into(),
        path: "/-/healthy".into(),
        gzip: false,
        series: 0,
        times: Vec::new(),
        usage: Usage::default(),
    }];
    for shape in ds.shapes() {
        let small = matches!(shape.key, "one_metric" | "one_instance");
        if !small && !args.large {
            continue;
        }
        probes.push(Probe {
            key: format!("{} {}", shape.key, shape.selectors.join(" + ")),
            path: http::federate_path(&shape.selectors),
            gzip: shape.gzip,
            series: shape.series,
            times: Vec::new(),
            usage: Usage::default(),
        });
    }
    // A two-instance shape: still under ~2,000 series when an instance has ~1,000.
    if ds.config().instances >= 2 {
        let sel = format!(
            r#"{{instance=~"{}|{}"}}"#,
            Dataset::instance_label(Unit::Node(0)),
            Dataset::instance_label(Unit::Node(1))
        )
        .replace('.', "\\\\.");
        let n = 2 * ds.unit_series(Unit::Node(0)).len() as u64;
        probes.push(Probe {
            key: format!("two_instances {sel}"),
            path: http::federate_path(&[sel]),
            gzip: false,
            series: n,
            times: Vec::new(),
            usage: Usage::default(),
        });
    }
    let pid = args.pid.or(server.as_ref().map(ChildGuard::pid));
    let before = server_mean(addr);
    for round in 0..args.warmup + args.reps {
        for p in &mut probes {
            let u0 = pid.and_then(Usage::read);
            let t = curl(&args.curl, addr, &p.path, p.gzip)?;
            let u1 = pid.and_then(Usage::read);
            if round >= args.warmup {
                p.times.push(t);
                if let (Some(a), Some(b)) = (u0, u1) {
                    p.usage.cpu_ns += b.cpu_ns.saturating_sub(a.cpu_ns);
                    p.usage.minflt += b.minflt.saturating_sub(a.minflt);
                }
            }
        }
    }
    let after = server_mean(addr);

    let load = procs::loadavg().unwrap_or(f64::NAN);
    println!(
        "fedlatency: {} series, {} timed curl requests per shape after {} warm-up, load average {load:.2}",
        ds.total_series(),
        args.reps,
        args.warmup
    );
    println!();
    println!(
        "| shape | series | min | **median** | max | median - empty | server CPU / request | page faults / request |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let base = median(&probes[0].times);
    for p in &probes {
        let m = median(&p.times);
        let min = p.times.iter().min().copied().unwrap_or_default();
        let max = p.times.iter().max().copied().unwrap_or_default();
        let per = |x: u64| x as f64 / p.times.len() as f64;
        let (cpu, faults) = match pid {
            Some(_) => (
                format!("{:.3} ms", per(p.usage.cpu_ns) / 1e6),
                format!("{:.1}", per(p.usage.minflt)),
            ),
            None => (String::new(), String::new()),
        };
        println!(
            "| {}{} | {} | {} | **{}** | {} | {} | {cpu} | {faults} |",
            p.key.replace('|', "\\|"),
            if p.gzip { " (gzip)" } else { "" },
            p.series,
            ms(min),
            ms(m),
            ms(max),
            if p.path == "/-/healthy" {
                "".to_string()
            } else {
                format!("{:+.3} ms", (m.as_secs_f64() - base.as_secs_f64()) * 1e3)
            },
        );
    }
    if let (Some((s0, c0)), Some((s1, c1))) = (before, after)
        && c1 > c0
    {
        println!();
        println!(
            "server-side federate duration, mean over the run: {:.3} ms ({} requests)",
            (s1 - s0) / (c1 - c0) * 1e3,
            c1 - c0
        );
    }
    drop(server);
    if args.addr.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s.get(s.len() / 2).copied().unwrap_or_default()
}

/// One request by curl on a new connection; curl's own `time_total`.
fn curl(bin: &PathBuf, addr: SocketAddr, path: &str, gzip: bool) -> Result<Duration> {
    let mut cmd = Command::new(bin);
    cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}"]);
    if gzip {
        cmd.args(["-H", "Accept-Encoding: gzip"]);
    }
    let out = cmd
        .arg(format!("http://{addr}{path}"))
        .output()
        .context("running curl")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let code = it.next().unwrap_or("");
    if code != "200" {
        bail!("curl {path}: status {code:?}");
    }
    let secs: f64 = it
        .next()
        .and_then(|s| s.parse().ok())
        .context("curl time_total")?;
    Ok(Duration::from_secs_f64(secs))
}

/// `fedstore_federate_request_duration_seconds` sum and count from `/metrics`.
fn server_mean(addr: SocketAddr) -> Option<(f64, f64)> {
    let mut body = Vec::new();
    http::get(addr, "/metrics", &[], Duration::from_secs(10), &mut |b| {
        body.extend_from_slice(b)
    })
    .ok()?;
    let text = String::from_utf8_lossy(&body);
    let find = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    Some((
        find("fedstore_federate_request_duration_seconds_sum")?,
        find("fedstore_federate_request_duration_seconds_count")?,
    ))
}

fn import(ds: &Dataset, addr: SocketAddr) -> Result<()> {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let url = format!("http://{addr}/api/v1/import/prometheus");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let mut body = Vec::with_capacity(8 << 20);
    for batch in ds.units().chunks(20) {
        body.clear();
        for &u in batch {
            expo::write_unit(ds, u, t, true, &mut body);
        }
        agent
            .post(&url)
            .content_type("text/plain")
            .send(&body[..])
            .with_context(|| format!("POST {url}"))?;
    }
    Ok(())
}
