//! Scraping targets like a Prometheus 2.42 server: the manager, targets, per-target loops, the
//! scrape cache, the HTTP client and the append path.
//!
//! - [`manager`]: jobs and targets, reload diffing, file-SD polling, the targets snapshot.
//! - [`target`]: target labels (`PopulateLabels`), URLs, offsets, sample label mutation.
//! - [`scrape_loop`]: the per-target loop (timing, timeout, health, end-of-run staleness).
//! - [`append`]: parse + append of one scrape, stale markers, synthetic series (hot path).
//! - [`cache`]: raw series text → series ref, staleness bookkeeping.
//! - [`metadata`]: `# TYPE`/`# HELP`/`# UNIT` per family per target (`/api/v1/metadata`).
//! - [`client`]: HTTP/1.1 `GET` with Prometheus's scrape headers (http only).

pub mod append;
pub mod cache;
pub mod client;
pub mod dial;
pub mod manager;
pub mod metadata;
pub mod scrape_loop;
pub mod target;

pub use manager::{ApplyError, ScrapeManager, TargetsView};
