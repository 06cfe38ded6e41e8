//! Prometheus remote write (and, later, read): protobuf messages, snappy, the receiver core.
//!
//! - [`proto`]: prost-derived remote write/read 1.0 messages (the oracle, and remote read).
//! - [`decode`]: the zero-copy `WriteRequest` decoder of the write hot path.
//! - [`snappy`]: snappy block decompression with the size check before any work.
//! - [`receiver`]: [`RemoteWriteReceiver`]: decode, validate labels, append, report.
//!
//! No HTTP here: `api::remote_write` is the actix handler. See `remote/README.md`.

pub mod decode;
pub mod proto;
pub mod receiver;
pub mod snappy;

pub use receiver::{
    DEFAULT_MAX_DECOMPRESSED_BYTES, RemoteWriteError, RemoteWriteReceiver, SeriesCache, ingest,
};
