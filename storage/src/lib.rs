//! fedstore's storage engine.
//!
//! # Layout
//! - [`labels`]: sorted label sets, name validation, the packed form the head stores.
//! - [`symbols`]: string interning for label names and values.
//! - [`series`]: `SeriesRef` and the label-set hash.
//! - [`head`]: the sharded head block (per shard: hash lookup table, memory-mapped 32-byte
//!   series records holding the latest sample, packed labels, chunk history), appenders,
//!   `select` and `latest`. Files: docs/format/head.md.
//! - [`postings`]: roaring postings per (label name, value), the per-name sorted value lists and
//!   the per-metric-name label-set order that makes selections come out in federation order.
//! - [`matcher`]: label matchers with Go regex semantics and their fast paths, and
//!   `matcher::select` (the head's selection in federation order). The PromQL parser that
//!   builds matchers from text is crate `fedstore-promql`.
//! - `index_reader` (private): one index abstraction over head and block postings and the one
//!   matchers-to-postings function (Prometheus's `PostingsForMatchers`) both use.
//! - `querier` (private; [`Querier`], [`SeriesSet`]): reads a time range over a snapshot of
//!   the blocks plus the head, merged and sorted by label set, without holding up compaction.
//! - `cancel` (private; [`Cancel`]): a query's deadline and cancel flag, checked by the read
//!   loops every [`CHECK_EVERY`] series.
//! - `cardinality` (private; [`Db::label_pair_counts`]): the cardinality view over head and
//!   blocks, what the blocks add kept between requests.
//! - [`db`]: the head plus blocks, compaction, retention; [`Db::querier`] is the read path.
//! - [`chunks`]: delta-of-delta / XOR chunk encoding of series history.
//! - [`mmap`]: the engine's only `unsafe` code (memmap2).
//!
//! Nothing here knows about HTTP; the server crate drives the engine through the facade below.
#![deny(clippy::unwrap_used)]

pub mod block;
mod cancel;
mod cardinality;
pub mod chunks;
pub mod compact;
pub mod db;
pub mod error;
pub mod head;
mod index_reader;
pub mod labels;
pub mod matcher;
pub mod mmap;
pub mod postings;
mod querier;
pub mod retention;
pub mod series;
pub mod symbols;
#[cfg(any(test, feature = "testutil"))]
pub mod testutil;
pub mod varint;
pub mod wal;

pub use cancel::{CHECK_EVERY, Cancel, Stop};
pub use db::{Db, DbOptions, SeriesSamples};
pub use error::{AppendError, Error};
pub use head::{AppendStats, Appender, Head, HeadOptions, LabelsRef, LatestSink, Selection};
pub use labels::{Label, Labels, METRIC_NAME_LABEL};
pub use matcher::{MatchOp, Matcher};
pub use querier::{Querier, SeriesSet};
pub use series::SeriesRef;

/// The bit pattern Prometheus uses for a staleness marker (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is Prometheus's staleness marker (compared by bits, as `value.IsStaleNaN`).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}
