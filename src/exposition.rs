//! The Prometheus text exposition format (0.0.4) and OpenMetrics 1.0: Go-exact floats, writer and
//! parser.
//!
//! - [`float`]: Go's `strconv.FormatFloat(v, 'g', -1, 64)` as Prometheus's text writer uses it.
//! - [`write`]: escaping and sample-line writing for `/federate` and `/metrics` (hot path).
//! - [`parse`]: zero-copy parser for scrape and import, with Prometheus 2.42's error texts.

pub mod float;
pub mod parse;
pub mod write;
