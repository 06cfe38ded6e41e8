//! Streams a federate answer: selection, segments rendered in parallel on the render pool, and
//! an ordered, back-pressured body.
//!
//! The selection is cut into segments of [`SEGMENT_SERIES`] series. Each segment renders (and
//! compresses, as its own gzip member) into a small bounded channel; the body drains the
//! channels in order, so memory stays flat whatever the answer's size, and a client that hangs up
//! stops the rendering at the next chunk.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use fedstore_storage::{Head, Matcher, SeriesRef};
use futures_util::Stream;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::render::{Encoding, ExternalLabels, Piece, Renderer};
use crate::metrics::Metrics;
use crate::pool::RenderPool;

/// Series per segment: big enough that per-segment costs vanish, small enough to spread a
/// million-series answer over both cores.
pub const SEGMENT_SERIES: usize = 32 * 1024;
/// Pieces buffered per segment ahead of the client (each up to ~64 KiB).
const SEGMENT_CHANNEL: usize = 16;

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
}

/// Starts rendering `job` on `pool` and returns the response body. `permit` (a federate
/// concurrency slot) is held until the body is done or dropped.
pub fn start(
    pool: &RenderPool,
    job: FederateJob,
    permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + use<> {
    let started = Instant::now();
    let (seg_tx, seg_rx) = mpsc::unbounded_channel::<mpsc::Receiver<Piece>>();
    let pool2 = pool.clone();
    pool.spawn(move || plan(&pool2, job, seg_tx));
    body(
        seg_rx,
        permit,
        Done {
            metrics,
            started,
            complete: false,
        },
    )
}

/// Selects, cuts into segments, queues segments 1.. and renders segment 0 on this thread.
fn plan(pool: &RenderPool, job: FederateJob, seg_tx: mpsc::UnboundedSender<mpsc::Receiver<Piece>>) {
    let refs: Arc<Vec<SeriesRef>> = Arc::new(job.head.select(&job.sets).refs);
    let job = Arc::new(job);
    let segments = refs.len().div_ceil(SEGMENT_SERIES).max(1);
    let mut first = None;
    for i in 0..segments {
        let (tx, rx) = mpsc::channel(SEGMENT_CHANNEL);
        if seg_tx.send(rx).is_err() {
            return; // client already gone
        }
        let range = i * SEGMENT_SERIES..((i + 1) * SEGMENT_SERIES).min(refs.len());
        if i == 0 {
            first = Some((range, tx));
        } else {
            let (job, refs) = (job.clone(), refs.clone());
            pool.spawn(move || render_segment(&job, &refs[range], tx));
        }
    }
    drop(seg_tx);
    if let Some((range, tx)) = first {
        render_segment(&job, &refs[range], tx);
    }
}

fn render_segment(job: &FederateJob, refs: &[SeriesRef], tx: mpsc::Sender<Piece>) {
    if tx.is_closed() {
        return;
    }
    let mut r = Renderer::new(&job.ext, job.enc, |p| tx.blocking_send(p).is_ok());
    job.head.latest(refs, job.mint_ms, job.maxt_ms, &mut r);
    if r.is_alive() {
        r.finish();
    } else {
        tracing::debug!("federate client went away; rendering stopped");
    }
}

struct BodyState {
    segments: mpsc::UnboundedReceiver<mpsc::Receiver<Piece>>,
    current: Option<mpsc::Receiver<Piece>>,
    /// Metric name of the last series written so far (decides whether a segment's first
    /// `# TYPE` line is needed).
    last_name: Option<String>,
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
    segments: mpsc::UnboundedReceiver<mpsc::Receiver<Piece>>,
    permit: OwnedSemaphorePermit,
    done: Done,
) -> impl Stream<Item = Result<Bytes, Infallible>> {
    let state = BodyState {
        segments,
        current: None,
        last_name: None,
        _permit: permit,
        done,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            let cur = match st.current.as_mut() {
                Some(cur) => cur,
                None => match st.segments.recv().await {
                    Some(next) => {
                        st.current = Some(next);
                        continue;
                    }
                    None => {
                        st.done.complete = true;
                        drop(st); // records the duration now, not when the body is dropped
                        return None;
                    }
                },
            };
            match cur.recv().await {
                Some(Piece::First { name, bytes }) => {
                    if st.last_name.as_deref() != Some(name.as_str()) {
                        return Some((Ok(bytes), st));
                    }
                }
                Some(Piece::Chunk(bytes)) => return Some((Ok(bytes), st)),
                Some(Piece::End { last_name }) => {
                    if last_name.is_some() {
                        st.last_name = last_name;
                    }
                    st.current = None;
                }
                None => {
                    // The renderer stopped without `End` (it panicked): the body is truncated,
                    // as Prometheus truncates on an encode error.
                    tracing::error!("federate segment ended early; response truncated");
                    return None;
                }
            }
        }
    })
}
