//! Exposition-format benches: Go-exact float formatting over a realistic value mix, the
//! federate line writer, and parsing a 100k-series node-exporter-like scrape body.
//!
//! Run: `cargo bench --bench exposition` (criterion medians are the numbers to report).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fedstore::exposition::float::write_float;
use fedstore::exposition::parse::{Entry, Format, Parser};
use fedstore::exposition::write::{SampleLine, write_type_line};

/// Deterministic xorshift64* so every run benches the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A value mix like a node exporter's: counters (integers, many large), gauges with decimals,
/// byte counts in exponent form, ratios, and the special cases 0, 1, NaN.
fn value_mix(n: usize) -> Vec<f64> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| match i % 10 {
            0..=2 => (r.next() % 1_000_000_000) as f64,
            3 => (r.next() % 1_000) as f64,
            4 => (r.next() % 100_000) as f64 / 100.0,
            5 => (r.next() % 10_000_000) as f64 * 1024.0,
            6 => (r.next() % 1_000_000) as f64 / 1e6,
            7 => f64::from_bits(0x3f50_0000_0000_0000 | (r.next() >> 12)),
            8 => [0.0, 1.0][(r.next() % 2) as usize],
            _ => 1.7e9 + (r.next() % 1_000_000) as f64 / 1000.0,
        })
        .collect()
}

fn bench_write_float(c: &mut Criterion) {
    let values = value_mix(10_000);
    let mut g = c.benchmark_group("write_float");
    g.throughput(Throughput::Elements(values.len() as u64));
    let mut buf = Vec::with_capacity(256 * 1024);
    g.bench_function("node_mix_10k", |b| {
        b.iter(|| {
            buf.clear();
            for &v in &values {
                write_float(&mut buf, black_box(v));
                buf.push(b' ');
            }
            black_box(buf.len())
        })
    });
    g.finish();
}

/// One federate series: metric name plus ~10 labels with 10-50 byte values.
struct FedSeries {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn federate_series(n: usize) -> Vec<FedSeries> {
    let values = value_mix(n);
    (0..n)
        .map(|i| {
            let metric = i / 1000;
            let instance = (i / 10) % 100;
            FedSeries {
                name: format!("node_metric_{metric:03}_total"),
                labels: vec![
                    (
                        "cluster".into(),
                        format!("prod-eu-west-1-cluster-{:02}", instance % 7),
                    ),
                    ("cpu".into(), format!("{}", i % 10)),
                    ("dc".into(), "eu-west-1a".into()),
                    ("env".into(), "production".into()),
                    (
                        "instance".into(),
                        format!("ip-10-0-{instance}-17.eu-west-1.compute.internal:9100"),
                    ),
                    ("job".into(), "node".into()),
                    (
                        "mode".into(),
                        ["idle", "iowait", "system", "user"][i % 4].into(),
                    ),
                    ("os".into(), "linux-5.15.0-1051-aws".into()),
                    ("region".into(), "eu-west-1".into()),
                    ("team".into(), "platform-observability".into()),
                ],
                value: values[i],
            }
        })
        .collect()
}

fn bench_federate_writer(c: &mut Criterion) {
    let series = federate_series(100_000);
    let mut buf = Vec::with_capacity(64 << 20);
    // One warm-up pass to report the output size.
    let write_all = |buf: &mut Vec<u8>| {
        buf.clear();
        let mut prev = "";
        for s in &series {
            if s.name != prev {
                write_type_line(buf, &s.name, "untyped");
                prev = &s.name;
            }
            let mut line = SampleLine::new(buf, &s.name);
            for (n, v) in &s.labels {
                line.label(n, v);
            }
            line.label("zone", "ie");
            line.finish(s.value, Some(1_700_000_000_123));
        }
    };
    write_all(&mut buf);
    let bytes = buf.len();
    let mut g = c.benchmark_group("federate_writer");
    g.sample_size(20);
    g.throughput(Throughput::Elements(series.len() as u64));
    g.bench_function(format!("100k_series_{}MB", bytes >> 20), |b| {
        b.iter(|| {
            write_all(&mut buf);
            black_box(buf.len())
        })
    });
    g.finish();
}

/// A 100k-series scrape body shaped like a (large) node exporter: 1000 families with HELP and
/// TYPE lines, 100 series each with 1-3 labels, mixed values, no timestamps.
fn node_exporter_body(series: usize) -> Vec<u8> {
    let values = value_mix(series);
    let mut out = Vec::with_capacity(series * 80);
    let per_family = 100;
    for (i, &v) in values.iter().enumerate() {
        let fam = i / per_family;
        let name = match fam % 4 {
            0 => format!("node_cpu_seconds_{fam}_total"),
            1 => format!("node_filesystem_avail_{fam}_bytes"),
            2 => format!("node_network_receive_{fam}_bytes_total"),
            _ => format!("node_memory_{fam}_bytes"),
        };
        if i % per_family == 0 {
            out.extend_from_slice(
                format!("# HELP {name} Metric family {fam} of the bench.\n").as_bytes(),
            );
            out.extend_from_slice(format!("# TYPE {name} counter\n").as_bytes());
        }
        let k = i % per_family;
        let labels = match fam % 4 {
            0 => format!(
                "{{cpu=\"{}\",mode=\"{}\"}}",
                k / 8,
                [
                    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"
                ][k % 8]
            ),
            1 => format!(
                "{{device=\"/dev/nvme{k}n1p1\",fstype=\"ext4\",mountpoint=\"/var/lib/data{k}\"}}"
            ),
            2 => format!("{{device=\"eth{k}\"}}"),
            _ => String::new(),
        };
        let mut vb = Vec::new();
        write_float(&mut vb, v);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(labels.as_bytes());
        if labels.is_empty() && k > 0 {
            // Keep series unique in label-less families.
            out.extend_from_slice(format!("{{slot=\"{k}\"}}").as_bytes());
        }
        out.push(b' ');
        out.extend_from_slice(&vb);
        out.push(b'\n');
    }
    out
}

fn bench_parse(c: &mut Criterion) {
    let body = node_exporter_body(100_000);
    let mut g = c.benchmark_group("parse");
    g.sample_size(20);
    g.throughput(Throughput::Elements(100_000));
    g.bench_function(format!("text_100k_series_{}KB", body.len() >> 10), |b| {
        b.iter(|| {
            let mut p = Parser::new(black_box(&body), Format::Text);
            let mut sum = 0.0;
            let mut n = 0usize;
            while let Ok(Some(e)) = p.next() {
                if let Entry::Sample(s) = e {
                    sum += s.value;
                    n += s.series.len();
                }
            }
            black_box((sum, n))
        })
    });
    g.bench_function("text_100k_series_with_labels", |b| {
        b.iter(|| {
            let mut p = Parser::new(black_box(&body), Format::Text);
            let mut n = 0usize;
            while let Ok(Some(e)) = p.next() {
                if let Entry::Sample(s) = e {
                    for (name, value) in s.labels() {
                        n += name.len() + value.len();
                    }
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_write_float,
    bench_federate_writer,
    bench_parse
);
criterion_main!(benches);
