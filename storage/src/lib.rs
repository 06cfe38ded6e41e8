//! fedstore's storage engine.
//!
//! # Facade
//! Every module is private; the crate root re-exports what the server (crate `fedstore`) and
//! the PromQL engine (crate `fedstore-promql`) use, as redb and fjall do, so the engine's
//! internals can change without touching them:
//! - the database and head: [`Db`], [`DbOptions`], [`Retention`], [`Head`], [`HeadOptions`],
//!   [`StartupProgress`], [`SnapshotTicker`];
//! - writing: [`Appender`], [`AppendStats`], [`AppendError`], [`SeriesRef`];
//! - reading: [`Matcher`], [`MatchOp`], [`Selection`], [`LatestSink`], [`LabelsRef`],
//!   [`SymbolLabels`], [`SymbolTable`], [`SymbolId`], [`NAME_SYMBOL`] (the `/federate` fast
//!   path), [`Querier`], [`SeriesSet`], [`SeriesSamples`], and a query's stop signal
//!   [`Cancel`], [`Stop`], [`CHECK_EVERY`];
//! - label sets: [`Labels`], [`Label`], [`METRIC_NAME_LABEL`], [`is_valid_label_name`],
//!   [`is_valid_metric_name`]; staleness: [`STALE_NAN_BITS`], [`is_stale_nan`];
//! - encodings the server's remote-read and protobuf writers share: [`XorAppender`],
//!   [`put_uvarint`], [`put_uvarint_into`], [`uvarint_len`];
//! - [`Error`], the umbrella error;
//! - two small public modules: [`wal`] (WAL options and repair for the CLI, and the tail API
//!   the remote-write sender reads the WAL with) and [`quote`] (Go string formatting the
//!   PromQL lexer shares with matchers).
//!
//! Benches, integration tests, tools and fuzz targets also reach into block files, head
//! compaction and chunk decoding; those go through `testutil`, which exists only with the
//! `testutil` feature (a cargo feature rather than `#[doc(hidden)]`, so the server, which
//! never enables it, cannot use them by accident).
//!
//! # Layout (private modules)
//! - `labels`: sorted label sets, name validation, the packed form the head stores.
//! - `symbols`: string interning for label names and values.
//! - `series`: `SeriesRef` and the label-set hash.
//! - `head`: the sharded head block (per shard: hash lookup table, memory-mapped 32-byte
//!   series records holding the latest sample, packed labels, chunk history), appenders,
//!   `select` and `latest`. Files: docs/format/head.md.
//! - `postings`: roaring postings per (label name, value), the per-name sorted value lists and
//!   the per-metric-name label-set order that makes selections come out in federation order.
//! - `matcher`: label matchers with Go regex semantics and their fast paths, and
//!   `matcher::select` (the head's selection in federation order). The PromQL parser that
//!   builds matchers from text is crate `fedstore-promql`.
//! - `index_reader`: one index abstraction over head and block postings and the one
//!   matchers-to-postings function (Prometheus's `PostingsForMatchers`) both use.
//! - `querier`: reads a time range over a snapshot of the blocks plus the head, merged and
//!   sorted by label set, without holding up compaction.
//! - `cancel` ([`Cancel`]): a query's deadline and cancel flag, checked by the read loops
//!   every [`CHECK_EVERY`] series.
//! - `cardinality` ([`Db::label_pair_counts`]): the cardinality view over head and blocks,
//!   what the blocks add kept between requests.
//! - `db`: the head plus blocks, compaction, retention; [`Db::querier`] is the read path.
//! - `block`, `compact`, `retention`: persistent blocks, compaction, retention.
//! - `chunks`: delta-of-delta / XOR chunk encoding of series history.
//! - `wal`: the write-ahead log (its public part is the [`wal`] facade).
//! - `varint`: the LEB128 varint writer.
//! - `mmap`: the engine's only `unsafe` code (memmap2).
//!
//! Nothing here knows about HTTP; the server crate drives the engine through this facade.
#![deny(clippy::unwrap_used)]

mod block;
mod cancel;
mod cardinality;
mod chunks;
mod compact;
mod db;
mod error;
mod head;
mod index_reader;
mod labels;
mod matcher;
mod mmap;
mod postings;
mod querier;
mod retention;
mod series;
mod symbols;
#[cfg(any(test, feature = "testutil"))]
pub mod testutil;
mod varint;
pub mod wal;

pub use cancel::{CHECK_EVERY, Cancel, Stop};
pub use cardinality::LabelPairCounts;
pub use chunks::XorAppender;
pub use db::{Db, DbOptions, IndexVersion, SeriesSamples};
pub use error::{AppendError, Error};
pub use head::{
    AppendStats, Appender, Durable, Head, HeadOptions, LabelsRef, LatestSink, Selection,
    SnapshotTicker, StartupProgress, SymbolLabels,
};
pub use labels::{Label, Labels, METRIC_NAME_LABEL, is_valid_label_name, is_valid_metric_name};
pub use matcher::{MatchOp, Matcher};
pub use querier::{Querier, SeriesSet};
pub use retention::Retention;
pub use series::SeriesRef;
pub use symbols::{NAME_SYMBOL, SymbolId, SymbolTable};
pub use varint::{put_uvarint, put_uvarint_into, uvarint_len};

/// Go's string and rune formatting (`%q`, `%#U`, UTF-8 decoding), which matchers print with
/// and the PromQL lexer (crate `fedstore-promql`) reports errors with.
pub mod quote {
    pub use crate::matcher::quote::{
        RUNE_ERROR, decode_rune, go_quote, go_quote_rune, go_quote_truncated, go_unicode_format,
    };
}

/// The bit pattern Prometheus uses for a staleness marker (`value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is Prometheus's staleness marker (compared by bits, as `value.IsStaleNaN`).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}
