//! Prometheus remote write and read: protobuf messages, snappy, the receiver and reader cores.
//!
//! - [`proto`]: prost-derived remote write/read 1.0 messages (the oracle, and remote read).
//! - [`decode`]: the zero-copy `WriteRequest` decoder of the write hot path.
//! - [`snappy`]: snappy block decompression with the size check before any work.
//! - [`receiver`]: [`RemoteWriteReceiver`]: decode, validate labels, append, report.
//! - [`read`]: remote read: negotiation, matchers, the SAMPLES and streamed answers.
//! - [`sender`]: the remote-write sender: WAL watcher, queues, shards, positions.
//! - [`wire`]: hand-written protobuf field encoding shared by the read answers and the sender.
//!
//! No HTTP here: `api::remote_write` and `api::remote_read` are the actix handlers. See `remote/README.md`.

pub mod decode;
pub mod proto;
pub mod read;
pub mod receiver;
pub mod sender;
pub mod snappy;
pub mod wire;

pub use receiver::{
    DEFAULT_MAX_DECOMPRESSED_BYTES, RemoteWriteError, RemoteWriteReceiver, SeriesCache, ingest,
};
