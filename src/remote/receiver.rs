//! The remote-write receiver core: snappy, decode, label validation, append. No HTTP here.
//!
//! A request is all-or-nothing for malformed input (bad snappy, bad protobuf, invalid labels:
//! nothing is appended), but rejected samples (out of order, duplicate, out of bounds) only
//! drop themselves: the rest of the batch is committed and the first rejection kind is reported
//! (fedstore's documented deviation; Prometheus 2.42 rolled back the whole request).

mod cache;

use crate::limits::RequestLimit;
use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use fedstore_storage::{
    AppendError, AppendStats, Appender, Durable, Head, Labels, METRIC_NAME_LABEL, SeriesRef,
};
use fedstore_storage::{is_valid_label_name, is_valid_metric_name};

pub use cache::SeriesCache;

use crate::remote::decode::{DecodeError, LabelView, WriteRequestView, labels_from_raw};
use crate::remote::snappy::{self, SnappyError};

/// Default limit on a request's decompressed size: 32 MiB, the cap Prometheus's remote-write
/// client respects per request by default (`max_samples_per_send` batches stay far below it).
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 32 << 20;

/// Per-thread buffers above this size are released after a request, so one huge request does
/// not pin memory in every blocking-pool thread.
const MAX_RETAINED_BUFFER_BYTES: usize = 8 << 20;

/// Why a remote-write request was (partly) refused. [`RemoteWriteError::status`] and the
/// `Display` text (plus a trailing newline, see [`RemoteWriteError::body`]) are the response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteWriteError {
    /// Not a snappy block. Nothing stored.
    #[error("snappy: corrupt input")]
    Snappy,
    /// The decompressed body would exceed the limit (413). Nothing stored.
    #[error("decompressed body of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced (or, for the compressed body, lower-bound) decompressed size.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// Not a `WriteRequest`. Nothing stored.
    #[error("{0}")]
    Decode(DecodeError),
    /// A series has an invalid metric name or label name, a duplicate label name or no metric
    /// name. Nothing stored.
    #[error("{reason} in series {series}")]
    InvalidLabels {
        /// What is wrong, naming the label.
        reason: String,
        /// The series' labels as sent, Prometheus `labels.String()` style.
        series: String,
    },
    /// Some samples were older than their series' latest sample; the others were stored.
    #[error("out of order sample")]
    OutOfOrder(AppendStats),
    /// Some samples were too old for the head; the others were stored.
    #[error("out of bounds")]
    OutOfBounds(AppendStats),
    /// Some samples had the timestamp of their series' latest sample with another value; the
    /// others were stored.
    #[error("duplicate sample for timestamp")]
    Duplicate(AppendStats),
    /// The request carried native histograms, which fedstore does not store; its float
    /// samples were stored (2.42 answers 500 with this text and stores nothing; a 4xx stops
    /// senders from retrying the batch forever).
    #[error("native histograms are disabled")]
    NativeHistograms(AppendStats),
    /// The request has more series or samples than `--web.remote-write.max-*-per-request`
    /// (413). Nothing stored.
    #[error("{0}")]
    TooMany(String),
    /// The storage engine failed (500). The batch was rolled back.
    #[error("{0}")]
    Storage(String),
}

impl RemoteWriteError {
    /// The HTTP status code of the response: 413 too large, 500 storage, 400 otherwise
    /// (a number, so that the receiver needs no HTTP library).
    pub fn status(&self) -> u16 {
        match self {
            RemoteWriteError::TooLarge { .. } | RemoteWriteError::TooMany(_) => 413,
            RemoteWriteError::Storage(_) => 500,
            _ => 400,
        }
    }

    /// The plain-text response body: the message and a newline (Go's `http.Error`).
    pub fn body(&self) -> String {
        format!("{self}\n")
    }

    /// What was stored despite the error, for partial successes.
    pub fn stored(&self) -> Option<AppendStats> {
        match self {
            RemoteWriteError::OutOfOrder(s)
            | RemoteWriteError::OutOfBounds(s)
            | RemoteWriteError::Duplicate(s)
            | RemoteWriteError::NativeHistograms(s) => Some(*s),
            _ => None,
        }
    }
}

impl From<SnappyError> for RemoteWriteError {
    fn from(e: SnappyError) -> Self {
        match e {
            SnappyError::TooLarge { len, max } => RemoteWriteError::TooLarge { len, max },
            _ => RemoteWriteError::Snappy,
        }
    }
}

/// The remote-write receiver of one head: the body limit and a cache from a series' encoded
/// labels to its [`SeriesRef`], so steady-state ingestion skips label parsing, validation and
/// the head's series lookup. Shared by all requests (`Send + Sync`).
pub struct RemoteWriteReceiver {
    head: Arc<Head>,
    max_decompressed_bytes: usize,
    limit: RequestLimit,
    cache: SeriesCache,
}

impl RemoteWriteReceiver {
    /// A receiver appending to `head`, refusing bodies that decompress to more than
    /// `max_decompressed_bytes`.
    pub fn new(head: Arc<Head>, max_decompressed_bytes: usize) -> Self {
        RemoteWriteReceiver {
            head,
            max_decompressed_bytes,
            limit: RequestLimit::default(),
            cache: SeriesCache::new(),
        }
    }

    /// Refuses requests with more series or samples than `limit` (413, nothing stored).
    pub fn with_limit(mut self, limit: RequestLimit) -> Self {
        self.limit = limit;
        self
    }

    /// The decompressed-size limit.
    pub fn max_decompressed_bytes(&self) -> usize {
        self.max_decompressed_bytes
    }

    /// Ingests one request body (snappy-compressed `WriteRequest`). Blocking, CPU-bound: call
    /// it off the async workers.
    pub fn ingest(&self, body: &[u8]) -> Result<AppendStats, RemoteWriteError> {
        let mut durable = None;
        ingest_inner(
            &self.head,
            body,
            self.max_decompressed_bytes,
            Some(&self.cache),
            self.limit,
            &mut durable,
        )
    }

    /// Ingests like [`RemoteWriteReceiver::ingest`] but returns without waiting for the WAL's
    /// fsync: acknowledge only once [`RemoteWriteReceiver::on_durable`] says the returned
    /// ticket is durable (also when the result is an error: rejected samples drop only
    /// themselves, the rest was committed).
    pub fn ingest_deferred(&self, body: &[u8]) -> (Result<AppendStats, RemoteWriteError>, Durable) {
        let mut durable = Some(Durable::default());
        let res = ingest_inner(
            &self.head,
            body,
            self.max_decompressed_bytes,
            Some(&self.cache),
            self.limit,
            &mut durable,
        );
        (res, durable.unwrap_or_default())
    }

    /// Calls `done` once `d` is durable (see [`Head::on_durable`]).
    pub fn on_durable(
        &self,
        d: Durable,
        done: impl FnOnce(Result<(), fedstore_storage::Error>) + Send + 'static,
    ) {
        self.head.on_durable(d, done);
    }
}

/// Ingests one request body into `head` without a series cache (tests, one-off imports).
/// Same semantics as [`RemoteWriteReceiver::ingest`].
pub fn ingest(head: &Head, body: &[u8], max_bytes: usize) -> Result<AppendStats, RemoteWriteError> {
    ingest_inner(
        head,
        body,
        max_bytes,
        None,
        RequestLimit::default(),
        &mut None,
    )
}

/// Per-thread buffers reused across requests.
#[derive(Default)]
struct Scratch {
    decompressed: Vec<u8>,
    view: WriteRequestView<'static>,
    /// Per series: cache key (0 = none) and the cached ref.
    resolved: Vec<(u128, Option<SeriesRef>)>,
    /// Scratch of [`SeriesCache::get_batch`].
    order: Vec<u32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn ingest_inner(
    head: &Head,
    body: &[u8],
    max_bytes: usize,
    cache: Option<&SeriesCache>,
    limit: RequestLimit,
    durable: &mut Option<Durable>,
) -> Result<AppendStats, RemoteWriteError> {
    SCRATCH.with(|cell| {
        // A re-entrant call on this thread (not expected) gets fresh buffers instead of a panic.
        let mut fresh = Scratch::default();
        let mut guard = cell.try_borrow_mut();
        let scratch = match guard.as_deref_mut() {
            Ok(s) => s,
            Err(_) => &mut fresh,
        };
        let n = snappy::decompress_into(body, max_bytes, &mut scratch.decompressed)?;
        // `recycle` re-borrows the empty view for this body's lifetime.
        let mut view = std::mem::take(&mut scratch.view).recycle();
        let result = match view.decode_deferred(&scratch.decompressed[..n]) {
            Ok(())
                if let Some(msg) =
                    limit.check(view.series.len(), view.samples.len(), "web.remote-write") =>
            {
                Err(RemoteWriteError::TooMany(msg))
            }
            Ok(()) => append_request(
                head,
                &mut view,
                cache,
                &mut scratch.resolved,
                &mut scratch.order,
                durable,
            ),
            Err(e) => Err(RemoteWriteError::Decode(e)),
        };
        scratch.view = view.recycle();
        if scratch.decompressed.capacity() > MAX_RETAINED_BUFFER_BYTES {
            *scratch = Scratch::default();
        }
        result
    })
}

/// Validates every series, then appends every sample. `resolved` and `order` are scratch.
/// With `durable` set the commit does not wait for the WAL's fsync and leaves its ticket
/// there; with `None` it waits.
fn append_request(
    head: &Head,
    req: &mut WriteRequestView<'_>,
    cache: Option<&SeriesCache>,
    resolved: &mut Vec<(u128, Option<SeriesRef>)>,
    order: &mut Vec<u32>,
    durable: &mut Option<Durable>,
) -> Result<AppendStats, RemoteWriteError> {
    // Pass 1: resolve cached series, validate the others. Nothing is appended before every
    // series is known valid.
    resolved.clear();
    let mut histograms = 0u64;
    for s in &req.series {
        histograms += u64::from(s.histograms);
        let key = match cache {
            Some(_) if !s.labels_raw.is_empty() => SeriesCache::key(s.labels_raw),
            _ => 0,
        };
        resolved.push((key, None));
    }
    if let Some(c) = cache {
        c.get_batch(resolved, order);
    }
    // Labels of cached series stay unparsed: their exact bytes parsed and validated before.
    for (i, &(_, cached)) in resolved.iter().enumerate() {
        if cached.is_none() {
            req.parse_labels(i).map_err(RemoteWriteError::Decode)?;
        }
    }
    for (s, &(_, cached)) in req.series.iter().zip(resolved.iter()) {
        if cached.is_none() {
            validate_labels(req.labels_of(s))?;
        }
    }

    // Pass 2: append.
    let req = &*req;
    let mut app = head.appender();
    let mut rejected = AppendStats::default();
    for (s, &(key, cached)) in req.series.iter().zip(resolved.iter()) {
        let mut sref = cached;
        for sample in req.samples_of(s) {
            let res = match sref {
                Some(r) => match app.append_ref(r, sample.t_ms, sample.v) {
                    // The head dropped the series (GC): look it up again by labels.
                    Err(AppendError::UnknownRef(_)) => {
                        let parsed;
                        let labels = if s.labels_parsed {
                            req.labels_of(s)
                        } else {
                            parsed =
                                labels_from_raw(s.labels_raw).map_err(RemoteWriteError::Decode)?;
                            &parsed
                        };
                        append_by_labels(&mut app, labels, sample.t_ms, sample.v)
                    }
                    other => other.map(|()| r),
                },
                None => append_by_labels(&mut app, req.labels_of(s), sample.t_ms, sample.v),
            };
            match res {
                Ok(r) => {
                    if sref != Some(r) {
                        sref = Some(r);
                        if let Some(c) = cache
                            && key != 0
                        {
                            c.insert(key, r);
                        }
                    }
                }
                Err(AppendError::OutOfOrder) => rejected.out_of_order += 1,
                Err(AppendError::Duplicate) => rejected.duplicate += 1,
                Err(AppendError::OutOfBounds) => rejected.out_of_bounds += 1,
                Err(AppendError::InvalidLabels(reason)) => {
                    app.rollback();
                    let series = series_string(req.labels_of(s));
                    return Err(RemoteWriteError::InvalidLabels { reason, series });
                }
                Err(e) => {
                    app.rollback();
                    return Err(RemoteWriteError::Storage(e.to_string()));
                }
            }
        }
    }
    let committed = match durable {
        Some(d) => app.commit_deferred().map(|(stats, ticket)| {
            *d = ticket;
            stats
        }),
        None => app.commit(),
    }
    .map_err(|e| RemoteWriteError::Storage(e.to_string()))?;
    let stats = AppendStats {
        appended: committed.appended,
        out_of_order: committed.out_of_order + rejected.out_of_order,
        duplicate: committed.duplicate + rejected.duplicate,
        out_of_bounds: committed.out_of_bounds + rejected.out_of_bounds,
        series_created: committed.series_created,
    };
    if stats.out_of_order > 0 {
        Err(RemoteWriteError::OutOfOrder(stats))
    } else if stats.out_of_bounds > 0 {
        Err(RemoteWriteError::OutOfBounds(stats))
    } else if stats.duplicate > 0 {
        Err(RemoteWriteError::Duplicate(stats))
    } else if histograms > 0 {
        Err(RemoteWriteError::NativeHistograms(stats))
    } else {
        Ok(stats)
    }
}

/// Appends with a full label set (first sample of an uncached series). Empty values drop out
/// in [`Labels::from_pairs`], as Prometheus treats them as absent.
fn append_by_labels(
    app: &mut Appender<'_>,
    labels: &[LabelView<'_>],
    t_ms: i64,
    v: f64,
) -> Result<SeriesRef, AppendError> {
    let ls = Labels::from_pairs(labels.iter().map(|l| (l.name, l.value)));
    app.append(&ls, t_ms, v)
}

/// Prometheus name validation (prometheus/common v0.39 `model`): metric names
/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*`, a non-empty `__name__`,
/// unique label names. Values are valid UTF-8 by construction. Stricter than the 2.42 receiver,
/// which stored such series (see docs).
fn validate_labels(labels: &[LabelView<'_>]) -> Result<(), RemoteWriteError> {
    let invalid = |reason: String| RemoteWriteError::InvalidLabels {
        reason,
        series: series_string(labels),
    };
    let mut has_name = false;
    for (i, l) in labels.iter().enumerate() {
        if !is_valid_label_name(l.name) {
            return Err(invalid(format!("invalid label name {:?}", l.name)));
        }
        if labels[..i].iter().any(|p| p.name == l.name) {
            return Err(invalid(format!("duplicate label name {:?}", l.name)));
        }
        if l.name == METRIC_NAME_LABEL {
            if !is_valid_metric_name(l.value) {
                return Err(invalid(format!("invalid metric name {:?}", l.value)));
            }
            has_name = true;
        }
    }
    if !has_name {
        return Err(invalid("missing metric name (__name__ label)".to_string()));
    }
    Ok(())
}

/// The labels as sent, in Prometheus `labels.String()` form: `{a="b", c="d"}`.
fn series_string(labels: &[LabelView<'_>]) -> String {
    struct Quoted<'a>(&'a str);
    impl fmt::Display for Quoted<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    let mut out = String::from("{");
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}={}", l.name, Quoted(l.value));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests;
