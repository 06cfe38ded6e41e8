//! fedstore-tools: dataset generation, peer benchmarking and golden-data capture.
//!
//! # Layout
//! - [`dataset`]: the deterministic node-exporter-like dataset (series catalogue, values).
//! - [`expo`]: writing a dataset as Prometheus text exposition (files, import bodies).
//! - [`serve`]: serving a dataset as N scrape targets on loopback (`fedgen serve`).
//! - [`http`]: a minimal HTTP/1.1 client that measures exact response bytes and time.
//! - [`procs`]: child processes that are killed on drop, on error and on Ctrl-C; RSS readings.
//! - [`remote_write`]: remote-write `WriteRequest` encoding and snappy posts (loading servers).
//! - [`skips`]: tests that cannot run here: recorded in `target/test-skips.log`, failures in CI.
//! - [`golden`]: the `tests/data/federate/<case>/` format (selectors, timestamp re-basing).
//!
//! Binaries: `fedgen` (dataset files and targets), `peerbench` (fedstore vs Prometheus 2.42 vs
//! VictoriaMetrics 1.79 `/federate` table), `querybench` (the query API against the same two),
//! `fedgolden` (captures golden federate bodies from a real Prometheus 2.42), `scrapeload`
//! (RSS and federate speed while scraping, against VictoriaMetrics and Prometheus),
//! `fedlatency` (curl latency of small federates).

pub mod dataset;
pub mod expo;
pub mod golden;
pub mod http;
pub mod procs;
pub mod remote_write;
pub mod serve;
pub mod skips;
