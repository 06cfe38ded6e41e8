//! fedgen: the deterministic node-exporter-like benchmark dataset (~1.01M series by default),
//! written as text exposition files or served as N scrape targets on loopback.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use fedstore_tools::dataset::{Dataset, DatasetConfig};
use fedstore_tools::expo;
use fedstore_tools::serve::{DatasetTargets, Targets};

#[derive(Parser, Debug)]
#[command(about = "Generate the fedstore benchmark dataset")]
struct Cli {
    #[command(flatten)]
    dataset: DatasetConfig,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print series counts and the benchmark's query shapes.
    Info,
    /// Write the dataset as one text exposition file (for `fedstore import` or
    /// `POST /api/v1/import/prometheus`).
    Write {
        /// Output file (`-` for stdout).
        #[arg(long, default_value = "-")]
        out: PathBuf,
        /// Put an explicit timestamp on every sample.
        #[arg(long)]
        timestamps: bool,
        /// Sample time in ms since the epoch (default: now).
        #[arg(long)]
        at_ms: Option<i64>,
    },
    /// Serve the dataset as N scrape targets on 127.0.0.1:port-base..port-base+N; values
    /// follow the wall clock (counters grow between scrapes).
    Serve {
        /// First port.
        #[arg(long, default_value_t = 19450)]
        port_base: u16,
        /// Number of targets; unit u (one node or Prometheus instance) goes to target u % N.
        #[arg(long, default_value_t = 30)]
        targets: usize,
        /// Put the scrape time as an explicit timestamp on every sample.
        #[arg(long)]
        timestamps: bool,
        /// Stop after this many seconds (default: run until killed).
        #[arg(long)]
        duration_s: Option<u64>,
    },
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let ds = Dataset::new(cli.dataset.clone());
    match cli.cmd {
        Cmd::Info => {
            println!("series total: {}", ds.total_series());
            println!(
                "units: {} node + {} prometheus",
                ds.config().instances,
                ds.config().prometheus_instances
            );
            println!(
                "job: aggregates per node instance: {}",
                ds.aggregated_per_instance()
            );
            for s in ds.shapes() {
                println!(
                    "shape {:<13} series {:>9}  gzip {:<5} match[] {}",
                    s.key,
                    s.series,
                    s.gzip,
                    s.selectors.join(" ")
                );
            }
        }
        Cmd::Write {
            out,
            timestamps,
            at_ms,
        } => {
            let t = at_ms.unwrap_or_else(now_ms);
            let started = Instant::now();
            let sink: Box<dyn Write> = if out.as_os_str() == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(File::create(&out).with_context(|| format!("creating {}", out.display()))?)
            };
            let mut w = BufWriter::with_capacity(1 << 20, sink);
            let (mut samples, mut bytes) = (0usize, 0usize);
            let mut buf = Vec::with_capacity(1 << 20);
            for unit in ds.units() {
                buf.clear();
                samples += expo::write_unit(&ds, unit, t, timestamps, &mut buf);
                bytes += buf.len();
                w.write_all(&buf)?;
            }
            w.flush()?;
            eprintln!(
                "wrote {samples} samples, {bytes} bytes in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
        Cmd::Serve {
            port_base,
            targets,
            timestamps,
            duration_s,
        } => {
            let started = Instant::now();
            let src = Arc::new(DatasetTargets::new(ds, targets, timestamps));
            let per = src.series_per_target();
            let t = Targets::start(src, port_base, targets)?;
            eprintln!(
                "serving {} series on {} targets 127.0.0.1:{}..{} ({}..{} series each), ready in {:.1}s",
                per.iter().sum::<usize>(),
                targets,
                port_base,
                port_base as usize + targets - 1,
                per.iter().min().unwrap_or(&0),
                per.iter().max().unwrap_or(&0),
                started.elapsed().as_secs_f64()
            );
            let end = duration_s.map(|s| Instant::now() + Duration::from_secs(s));
            loop {
                std::thread::sleep(Duration::from_secs(10));
                eprintln!("scrapes served: {}", t.scrapes.load(Ordering::Relaxed));
                if end.is_some_and(|e| Instant::now() >= e) {
                    break;
                }
            }
        }
    }
    Ok(())
}
