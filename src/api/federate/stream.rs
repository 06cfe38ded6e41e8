//! Streams a federate answer: selection, segments rendered in parallel on the render pool, and
//! an ordered, back-pressured body.
//!
//! The selection is cut into segments of [`SEGMENT_SERIES`] series, each rendered (and
//! compressed, as its own gzip member) into its own bounded channel. At most
//! [`SEGMENT_WINDOW`] segments are queued or buffered ahead of the one the body is sending: the
//! body queues the next segment each time it finishes one. So memory stays flat whatever the
//! answer's size, every render thread can work without waiting on the client, and a client
//! that hangs up stops the rendering at the next chunk.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use fedstore_storage::{Head, Matcher, SeriesRef};
use futures_util::Stream;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use super::encode::Checksum;
use super::inline::{InlineBody, POOL};
use super::options::{FamilyMetadata, Shard};
use super::render::{Encoding, ExternalLabels, Piece, Renderer};
use crate::metrics::Metrics;
use crate::pool::WorkPool;

/// Series per segment: small enough that a whole segment's text (~150 bytes a series, about
/// 600 KiB) fits in its channel, so a render thread finishes a segment without waiting for
/// the client and both cores render at once; large enough that per-segment costs (a job, a
/// channel, a gzip member) stay below 1%. Measured choice: see docs/benchmarks.md.
pub const SEGMENT_SERIES: usize = 4096;
/// Segments queued, rendering or buffered ahead of the body: enough to keep every render
/// thread busy, few enough to bound a request's buffered output to a few MiB.
pub const SEGMENT_WINDOW: usize = 4;
/// Pieces buffered per segment (each up to ~124 KiB of text, less once compressed): about
/// 1 MiB, a whole segment's text.
const SEGMENT_CHANNEL: usize = 8;

/// One federate request, ready to render.
pub struct FederateJob {
    /// The storage to read.
    pub head: Arc<Head>,
    /// The parsed `match[]` selectors.
    pub sets: Vec<Vec<Matcher>>,
    /// Lookback window start (inclusive), ms.
    pub mint_ms: i64,
    /// Evaluation time, ms.
    pub maxt_ms: i64,
    /// External labels to append.
    pub ext: Arc<ExternalLabels>,
    /// Body encoding.
    pub enc: Encoding,
    /// `shard=i&shards=n`: only the series of this shard.
    pub shard: Option<Shard>,
    /// `metadata=true`: the families' real types and help.
    pub meta: Option<Arc<FamilyMetadata>>,
}

impl FederateJob {
    /// The series this request answers: the selection, cut to the request's shard.
    pub fn select(&self) -> Vec<SeriesRef> {
        let refs = self.head.select(&self.sets).refs;
        self.narrow(refs)
    }

    /// Cuts a selection to the request's shard.
    pub fn narrow(&self, mut refs: Vec<SeriesRef>) -> Vec<SeriesRef> {
        if let Some(shard) = self.shard {
            self.head.retain_by_hash(&mut refs, |h| shard.owns(h));
        }
        refs
    }
}

/// Answers bounded by this many series, from selectors [`select_inline`] accepts, are
/// selected and rendered on the HTTP worker in one piece. The exception to "storage work runs
/// on the pools", justified by measurement (docs/benchmarks.md, "Small federates"): the two
/// thread hops of the pool path cost more than the work (~0.1-0.3 ms for 1-2k series) on a
/// quiet machine, and several milliseconds when the machine is loaded, because each hop
/// waits for the scheduler to run a sleeping pool thread.
pub const INLINE_SERIES: usize = 2048;

/// Selects on the calling (HTTP worker) thread when that is cheap and small whatever the
/// data: every matcher is a lookup (`=`, `!=`, literal alternations; no regex scan over a
/// label's values), and the postings sizes bound the answer to [`INLINE_SERIES`] series
/// (checked before selecting: a few hash lookups). `None`: leave it to the pool.
pub fn select_inline(job: &FederateJob) -> Option<Vec<SeriesRef>> {
    let cheap = job.sets.iter().all(|set| {
        set.iter()
            .all(|m| m.set_matches().is_some() || m.excluded_set().is_some())
    });
    let small = || {
        job.head
            .select_size_bound(&job.sets)
            .is_some_and(|n| n <= INLINE_SERIES as u64)
    };
    (cheap && small()).then(|| job.select())
}

/// Renders a small answer whole (header and trailer included), on the calling thread, into
/// a pooled buffer (see [`super::inline`] for why).
pub fn render_inline(job: &FederateJob, refs: &[SeriesRef]) -> InlineBody {
    let mut out = POOL.take();
    if job.enc == Encoding::Identity {
        // Straight into the pooled buffer (identity has no header, trailer or checksum).
        let mut r = Renderer::new(&job.ext, job.enc, |_| true)
            .with_metadata(job.meta.as_deref())
            .collect_into(std::mem::take(&mut out.buf));
        job.head.latest(refs, job.mint_ms, job.maxt_ms, &mut r);
        if let Some(text) = r.into_text() {
            out.buf = text;
        }
        return InlineBody::new(out);
    }
    let body = &mut out.buf;
    body.extend_from_slice(job.enc.stream_header());
    let mut total = Checksum::new(job.enc);
    let r = Renderer::new(&job.ext, job.enc, |p| {
        match p {
            Piece::First { bytes, check, .. } => {
                total.combine(&check);
                body.extend_from_slice(&bytes);
            }
            Piece::Chunk(bytes) => body.extend_from_slice(&bytes),
            Piece::End { check, .. } => total.combine(&check),
        }
        true
    });
    let mut r = r.with_metadata(job.meta.as_deref());
    job.head.latest(refs, job.mint_ms, job.maxt_ms, &mut r);
    r.finish();
    out.buf.extend_from_slice(&job.enc.stream_trailer(&total));
    InlineBody::new(out)
}

/// A request after selection: what segment jobs share.
struct Plan {
    job: FederateJob,
    refs: Vec<SeriesRef>,
    segments: usize,
}

impl Plan {
    fn range(&self, i: usize) -> Range<usize> {
        i * SEGMENT_SERIES..((i + 1) * SEGMENT_SERIES).min(self.refs.len())
    }

    /// Creates segment `i`'s channel and queues its rendering.
    fn spawn(self: &Arc<Self>, pool: &WorkPool, i: usize) -> mpsc::Receiver<Piece> {
        let (tx, rx) = mpsc::channel(SEGMENT_CHANNEL);
        let plan = self.clone();
        pool.spawn(move || plan.render(i, tx));
        rx
    }

    fn render(&self, i: usize, tx: mpsc::Sender<Piece>) {
        if tx.is_closed() {
            return;
        }
        let job = &self.job;
        let mut r = Renderer::new(&job.ext, job.enc, |p| tx.blocking_send(p).is_ok())
            .with_metadata(job.meta.as_deref());
        job.head
            .latest(&self.refs[self.range(i)], job.mint_ms, job.maxt_ms, &mut r);
        if r.is_alive() {
            r.finish();
        } else {
            tracing::debug!("federate client went away; rendering stopped");
        }
    }
}

/// What the planning job hands the body: the plan and the channels of the first segments.
type Planned = (Arc<Plan>, VecDeque<mpsc::Receiver<Piece>>);

/// Starts rendering `job` on `pool` and returns the response body; `refs` is the selection
/// when the caller already made it. `permit` (a federate concurrency slot) is held until
/// the body is done or dropped.
pub fn start(
    pool: &WorkPool,
    job: FederateJob,
    refs: Option<Vec<SeriesRef>>,
    permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + use<> {
    let started = Instant::now();
    let (plan_tx, plan_rx) = oneshot::channel::<Planned>();
    let pool2 = pool.clone();
    let enc = job.enc;
    pool.spawn(move || plan(&pool2, job, refs, plan_tx));
    body(
        plan_rx,
        pool.clone(),
        enc,
        permit,
        Done {
            metrics,
            started,
            complete: false,
        },
    )
}

/// Selects, queues segments 1.. of the first window and renders segment 0 on this thread
/// (a small answer thus costs one hop to the pool and back).
fn plan(
    pool: &WorkPool,
    job: FederateJob,
    refs: Option<Vec<SeriesRef>>,
    plan_tx: oneshot::Sender<Planned>,
) {
    let refs = refs.unwrap_or_else(|| job.select());
    let segments = refs.len().div_ceil(SEGMENT_SERIES).max(1);
    let plan = Arc::new(Plan {
        job,
        refs,
        segments,
    });
    let (tx0, rx0) = mpsc::channel(SEGMENT_CHANNEL);
    let mut first = VecDeque::with_capacity(SEGMENT_WINDOW);
    first.push_back(rx0);
    for i in 1..segments.min(SEGMENT_WINDOW) {
        first.push_back(plan.spawn(pool, i));
    }
    if plan_tx.send((plan.clone(), first)).is_err() {
        return; // client already gone
    }
    plan.render(0, tx0);
}

struct BodyState {
    plan_rx: Option<oneshot::Receiver<Planned>>,
    plan: Option<Arc<Plan>>,
    pool: WorkPool,
    /// Channels of the queued segments, in order; the front one is being sent.
    segments: VecDeque<mpsc::Receiver<Piece>>,
    /// Index of the next segment to queue.
    next: usize,
    /// Metric name of the last series written so far (decides whether a segment's first
    /// `# TYPE` line is needed).
    last_name: Option<String>,
    enc: Encoding,
    /// Whether the encoding's header has been sent.
    header_sent: bool,
    /// Checksum of the text sent so far, for the trailer.
    total: Checksum,
    _permit: OwnedSemaphorePermit,
    done: Done,
}

/// Records the answer's duration, or an abort, when the body is finished or dropped.
struct Done {
    metrics: Arc<Metrics>,
    started: Instant,
    complete: bool,
}

impl Drop for Done {
    fn drop(&mut self) {
        if self.complete {
            self.metrics
                .federate_duration
                .observe(self.started.elapsed().as_secs_f64());
        } else {
            self.metrics
                .federate_aborted
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn body(
    plan_rx: oneshot::Receiver<Planned>,
    pool: WorkPool,
    enc: Encoding,
    permit: OwnedSemaphorePermit,
    done: Done,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let state = BodyState {
        plan_rx: Some(plan_rx),
        plan: None,
        pool,
        segments: VecDeque::new(),
        next: 0,
        last_name: None,
        enc,
        header_sent: false,
        total: Checksum::new(enc),
        _permit: permit,
        done,
    };
    let items = futures_util::stream::unfold(Some(state), |st| async move {
        let mut st = st?;
        if let Some(rx) = st.plan_rx.take() {
            let Ok((plan, first)) = rx.await else {
                tracing::error!("federate planning failed; empty response");
                return None;
            };
            st.next = first.len();
            st.segments = first;
            st.plan = Some(plan);
        }
        loop {
            let Some(cur) = st.segments.front_mut() else {
                // Complete: the header if nothing was sent, then the trailer.
                let mut end = Vec::new();
                if !st.header_sent {
                    end.extend_from_slice(st.enc.stream_header());
                }
                end.extend_from_slice(&st.enc.stream_trailer(&st.total));
                st.done.complete = true;
                drop(st); // records the duration now, not when the body is dropped
                return Some((Bytes::from(end), None));
            };
            match cur.recv().await {
                Some(Piece::First { name, bytes, check }) => {
                    if st.last_name.as_deref() != Some(name.as_str()) {
                        st.total.combine(&check);
                        let out = with_header(&mut st, bytes);
                        return Some((out, Some(st)));
                    }
                }
                Some(Piece::Chunk(bytes)) => {
                    let out = with_header(&mut st, bytes);
                    return Some((out, Some(st)));
                }
                Some(Piece::End { last_name, check }) => {
                    st.total.combine(&check);
                    if last_name.is_some() {
                        st.last_name = last_name;
                    }
                    st.segments.pop_front();
                    if let Some(plan) = &st.plan
                        && st.next < plan.segments
                    {
                        st.segments.push_back(plan.spawn(&st.pool, st.next));
                        st.next += 1;
                    }
                }
                None => {
                    // The renderer stopped without `End` (it panicked): the body is truncated,
                    // as Prometheus truncates on an encode error.
                    tracing::error!("federate segment ended early; response truncated");
                    return None;
                }
            }
        }
    });
    futures_util::StreamExt::filter_map(items, |b| async move {
        (!b.is_empty()).then_some(Ok::<_, Infallible>(b))
    })
}

/// Prefixes the encoding's header to the body's first bytes.
fn with_header(st: &mut BodyState, bytes: Bytes) -> Bytes {
    if st.header_sent {
        return bytes;
    }
    st.header_sent = true;
    let header = st.enc.stream_header();
    if header.is_empty() {
        return bytes;
    }
    let mut v = Vec::with_capacity(header.len() + bytes.len());
    v.extend_from_slice(header);
    v.extend_from_slice(&bytes);
    Bytes::from(v)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use fedstore_promql::parse_selector;
    use fedstore_storage::{HeadOptions, Labels};

    use super::*;

    fn job(head: &Arc<Head>, selectors: &[&str], enc: Encoding) -> FederateJob {
        FederateJob {
            head: head.clone(),
            sets: selectors
                .iter()
                .map(|s| parse_selector(s).unwrap())
                .collect(),
            mint_ms: 0,
            maxt_ms: 10_000,
            ext: Arc::new(ExternalLabels::new(&[("zone".into(), "eu".into())])),
            enc,
            shard: None,
            meta: None,
        }
    }

    #[test]
    fn inline_only_when_postings_bound_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let head = Arc::new(Head::open(&dir.path().join("head"), HeadOptions::default()).unwrap());
        let mut app = head.appender();
        let n = INLINE_SERIES + 100;
        for i in 0..n {
            let l = Labels::from_pairs([
                ("__name__", "m".to_owned()),
                ("job", "big".to_owned()),
                ("i", i.to_string()),
            ]);
            app.append(&l, 1_000, 1.0).unwrap();
        }
        app.commit().unwrap();
        let cases: &[(&[&str], Option<usize>)] = &[
            // Lookups, but the answer may exceed the bound: the pool selects.
            (&[r#"{job="big"}"#], None),
            (&["m"], None),
            // The smallest postings list bounds it.
            (&[r#"{job="big", i="7"}"#], Some(1)),
            (&[r#"{i=~"1|2|3"}"#, r#"m{i="4"}"#], Some(4)),
            // Bounds add up across match[].
            (&[r#"{i="1"}"#, r#"{job="big"}"#], None),
            // No literal matcher to bound it.
            (&[r#"{job!="x"}"#], None),
        ];
        for &(selectors, want) in cases {
            let j = job(&head, selectors, Encoding::Identity);
            assert_eq!(
                select_inline(&j).as_ref().map(Vec::len),
                want,
                "case {selectors:?}"
            );
        }
    }

    #[test]
    fn inline_only_for_lookup_selectors_and_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let head = Arc::new(Head::open(&dir.path().join("head"), HeadOptions::default()).unwrap());
        let mut app = head.appender();
        for i in 0..50 {
            let l = Labels::from_pairs([
                ("__name__", format!("m{}", i % 5)),
                ("job", "node".to_owned()),
                ("i", i.to_string()),
            ]);
            app.append(&l, 1_000, f64::from(i)).unwrap();
        }
        app.commit().unwrap();
        let cases: &[(&[&str], Option<usize>)] = &[
            (&[r#"{job="node"}"#], Some(50)),
            (&["m1"], Some(10)),
            (&[r#"{__name__=~"m1|m2", job="node"}"#], Some(20)),
            (&[r#"m1{i!="1"}"#], Some(9)),
            (&[r#"{__name__=~"m.*"}"#], None),
            (&[r#"{job=~"no.*", __name__="m1"}"#], None),
            (&["m1", r#"{job!="x"}"#], None),
            (&[r#"{job="absent"}"#], Some(0)),
        ];
        for &(selectors, want) in cases {
            let j = job(&head, selectors, Encoding::Identity);
            let got = select_inline(&j);
            assert_eq!(got.as_ref().map(Vec::len), want, "case {selectors:?}");
            let refs = got.unwrap_or_else(|| head.select(&j.sets).refs);
            let text = render_inline(&j, &refs).bytes();
            for enc in [Encoding::Gzip, Encoding::Deflate] {
                let body = render_inline(&job(&head, selectors, enc), &refs).bytes();
                let mut out = Vec::new();
                match enc {
                    Encoding::Gzip => flate2::read::GzDecoder::new(&body[..])
                        .read_to_end(&mut out)
                        .unwrap(),
                    _ => flate2::read::ZlibDecoder::new(&body[..])
                        .read_to_end(&mut out)
                        .unwrap(),
                };
                assert_eq!(out, text, "case {selectors:?} {enc:?}");
            }
            let lines = text
                .split(|&b| b == b'\n')
                .filter(|l| l.starts_with(b"m"))
                .count();
            assert_eq!(lines, refs.len(), "case {selectors:?}: one line per series");
        }
    }
}
