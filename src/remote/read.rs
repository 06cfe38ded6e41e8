//! Prometheus remote read (`POST /api/v1/read`) as 2.42 answers it (`storage/remote/
//! read_handler.go`, `codec.go`): request decoding, response-type negotiation, matchers with
//! the external-label rewrite, and the two answers, [`samples`] (one snappy `ReadResponse`)
//! and [`streamed`] (CRC-framed `ChunkedReadResponse`s). Storage is read through
//! [`fedstore_promql::Queryable`]; no HTTP here (`api::remote_read` is the handler).

pub mod chunking;
pub mod decode;
pub mod samples;
pub mod streamed;

use std::fmt;
use std::sync::Arc;

use fedstore_promql::storage::{Queryable, SelectHints};
use fedstore_storage::{MatchOp, Matcher};
use tokio::sync::Semaphore;

use crate::pool::WorkPool;
use crate::remote::proto;
use crate::remote::snappy;

/// Most request bytes read (Prometheus `decodeReadLimit`, 32 MiB); the rest is ignored.
pub const MAX_REQUEST_BYTES: usize = 32 << 20;
/// Default `--storage.remote.read-sample-limit` (Prometheus `5e7`).
pub const DEFAULT_SAMPLE_LIMIT: usize = 50_000_000;
/// Default `--storage.remote.read-concurrent-limit` (Prometheus 10).
pub const DEFAULT_CONCURRENT_LIMIT: usize = 10;
/// Default `--storage.remote.read-max-bytes-in-frame` (Prometheus 1048576).
pub const DEFAULT_MAX_BYTES_IN_FRAME: usize = 1_048_576;
/// Default chunk range: Prometheus cuts head chunks at multiples of
/// `--storage.tsdb.min-block-duration` (2 h).
pub const DEFAULT_CHUNK_RANGE_MS: i64 = 2 * 3_600_000;

/// The limits of the remote-read endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Samples per query in the SAMPLES answer; 0: no limit.
    pub sample_limit: usize,
    /// Requests served at once (more wait); 0: no limit.
    pub concurrent_limit: usize,
    /// Chunk bytes per frame of the streamed answer, before labels are counted.
    pub max_bytes_in_frame: usize,
    /// Chunks of the streamed answer never cross a multiple of this (the head's chunk range).
    pub chunk_range_ms: i64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            sample_limit: DEFAULT_SAMPLE_LIMIT,
            concurrent_limit: DEFAULT_CONCURRENT_LIMIT,
            max_bytes_in_frame: DEFAULT_MAX_BYTES_IN_FRAME,
            chunk_range_ms: DEFAULT_CHUNK_RANGE_MS,
        }
    }
}

/// The remote-read endpoint's storage, limits and concurrency gate (shared by all requests).
pub struct RemoteRead {
    /// Where series are selected from.
    pub storage: Arc<dyn Queryable>,
    /// The limits.
    pub limits: ReadLimits,
    /// One permit per concurrent request; `None` when unlimited.
    gate: Option<Arc<Semaphore>>,
    /// Threads that select, encode and stream answers: one per permitted request, so a slow
    /// streaming client holds its own thread, never one `/federate` or ingestion needs.
    pool: WorkPool,
}

impl RemoteRead {
    /// The endpoint over `storage` with `limits`.
    pub fn new(storage: Arc<dyn Queryable>, limits: ReadLimits) -> Self {
        let gate = (limits.concurrent_limit > 0)
            .then(|| Arc::new(Semaphore::new(limits.concurrent_limit)));
        let threads = match limits.concurrent_limit {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            n => n,
        };
        RemoteRead {
            storage,
            limits,
            gate,
            pool: WorkPool::new("remote-read", threads),
        }
    }

    /// Runs remote-read work on threads `nice` steps below the caller's priority (see
    /// [`WorkPool::with_nice`]).
    pub fn with_nice(mut self, nice: i32) -> Self {
        self.pool = WorkPool::with_nice("remote-read", self.pool.threads(), nice);
        self
    }

    /// The threads remote-read work runs on.
    pub fn pool(&self) -> &WorkPool {
        &self.pool
    }

    /// The concurrency gate, `None` when unlimited.
    pub fn gate(&self) -> Option<&Arc<Semaphore>> {
        self.gate.as_ref()
    }
}

/// A failed remote read: an HTTP status and the text Prometheus's `http.Error` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// HTTP status (400 or 500, as 2.42 picks them).
    pub status: u16,
    /// The message, without the trailing newline `http.Error` adds.
    pub message: String,
}

impl ReadError {
    /// A 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ReadError {
            status: 400,
            message: message.into(),
        }
    }

    /// A 500.
    pub fn internal(message: impl Into<String>) -> Self {
        ReadError {
            status: 500,
            message: message.into(),
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReadError {}

/// The answer format the client gets (`ReadRequest.ResponseType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// One snappy-compressed `ReadResponse`.
    Samples,
    /// A stream of framed `ChunkedReadResponse`s.
    StreamedXorChunks,
}

/// Decodes a request body: a snappy block holding a `ReadRequest`. Errors are 400s with
/// Go's texts (`snappy: corrupt input`, `unexpected EOF`).
pub fn decode_request(body: &[u8]) -> Result<proto::ReadRequest, ReadError> {
    let mut raw = Vec::new();
    // Go's snappy.Decode has no size limit beyond the u32 header; the body is at most 32 MiB
    // compressed, so at most ~190 MiB decompressed.
    let n = snappy::decompress_into(body, u32::MAX as usize, &mut raw)
        .map_err(|e| ReadError::bad_request(e.to_string()))?;
    decode::read_request(&raw[..n]).map_err(|e| ReadError::bad_request(e.to_string()))
}

/// Picks the answer format as Prometheus's `NegotiateResponseType`: the first supported entry
/// in the client's order; an empty list means SAMPLES; none supported is a 400.
pub fn negotiate(accepted: &[i32]) -> Result<ResponseType, ReadError> {
    if accepted.is_empty() {
        return Ok(ResponseType::Samples);
    }
    for &t in accepted {
        match t {
            0 => return Ok(ResponseType::Samples),
            1 => return Ok(ResponseType::StreamedXorChunks),
            _ => {}
        }
    }
    // Go prints the slice with `%v` (every entry here is unknown, so printed as a number) and
    // the supported set as a map.
    let list: Vec<String> = accepted.iter().map(i32::to_string).collect();
    Err(ReadError::bad_request(format!(
        "server does not support any of the requested response types: [{}]; supported: \
         map[SAMPLES:{{}} STREAMED_XOR_CHUNKS:{{}}]",
        list.join(" ")
    )))
}

/// The serving node's `global.external_labels` as remote read applies them: sorted by name,
/// unique names, no empty values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalLabels(Vec<(String, String)>);

impl ExternalLabels {
    /// From the configured pairs (any order; empty values dropped, first of a name kept).
    pub fn new(pairs: &[(String, String)]) -> Self {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .cloned()
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.dedup_by(|a, b| a.0 == b.0);
        ExternalLabels(v)
    }

    /// The value of external label `name`, `""` if there is none.
    fn get(&self, name: &str) -> &str {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .map_or("", |i| self.0[i].1.as_str())
    }

    /// `stored` (sorted by name) with the external labels merged in, sorted by name; where both
    /// have a name, the stored value wins (Prometheus `MergeLabels`).
    pub fn merge<'a>(
        &'a self,
        stored: &'a fedstore_storage::Labels,
        out: &mut Vec<(&'a str, &'a str)>,
    ) {
        out.clear();
        let mut ext = self.0.iter().peekable();
        for l in stored.iter() {
            while let Some((n, v)) = ext.next_if(|(n, _)| n.as_str() < l.name.as_str()) {
                out.push((n, v));
            }
            ext.next_if(|(n, _)| n == &l.name);
            out.push((&l.name, &l.value));
        }
        out.extend(ext.map(|(n, v)| (n.as_str(), v.as_str())));
    }
}

/// One query ready for `Queryable::select`.
#[derive(Debug, Clone)]
pub struct PlannedQuery {
    /// The matchers, after the external-label rewrite.
    pub matchers: Vec<Matcher>,
    /// First sample time selected (inclusive).
    pub mint_ms: i64,
    /// Last sample time selected (inclusive).
    pub maxt_ms: i64,
    /// The hints forwarded to storage.
    pub hints: SelectHints,
}

/// Builds the select of one query as 2.42's handler does: matchers through `labels.NewMatcher`
/// (a bad regex is a 500 with Go's text; no "one non-empty matcher" rule), an `=` matcher on an
/// external label with its configured value rewritten to `name=""` (stored series lack it), and
/// the hints' start/end replacing the query range when hints are present.
pub fn plan(query: &proto::Query, ext: &ExternalLabels) -> Result<PlannedQuery, ReadError> {
    let mut matchers = Vec::with_capacity(query.matchers.len());
    for m in &query.matchers {
        let op = match m.r#type {
            0 => MatchOp::Equal,
            1 => MatchOp::NotEqual,
            2 => MatchOp::Regex,
            3 => MatchOp::NotRegex,
            _ => return Err(ReadError::internal("invalid matcher type")),
        };
        let value = if op == MatchOp::Equal && ext.get(&m.name) == m.value {
            ""
        } else {
            m.value.as_str()
        };
        matchers.push(Matcher::new(op, m.name.as_str(), value).map_err(ReadError::internal)?);
    }
    let (mint_ms, maxt_ms, hints) = match &query.hints {
        Some(h) => (
            h.start_ms,
            h.end_ms,
            SelectHints {
                start_ms: h.start_ms,
                end_ms: h.end_ms,
                step_ms: h.step_ms,
                func: h.func.clone(),
                range_ms: h.range_ms,
                grouping: h.grouping.clone(),
                by: h.by,
            },
        ),
        None => (
            query.start_timestamp_ms,
            query.end_timestamp_ms,
            SelectHints {
                start_ms: query.start_timestamp_ms,
                end_ms: query.end_timestamp_ms,
                ..SelectHints::default()
            },
        ),
    };
    Ok(PlannedQuery {
        matchers,
        mint_ms,
        maxt_ms,
        hints,
    })
}

#[cfg(test)]
mod tests;
