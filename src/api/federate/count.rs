//! `GET`/`POST /api/v1/federate/count?match[]=...`: how many series a `/federate` with the
//! same parameters would answer, per `match[]` and in total (a series matched by several
//! selectors counts once in the total), without rendering the body: for sizing a federation
//! before running it. `shard`/`shards` are honoured, so each shard's size can be checked.

use actix_web::{HttpRequest, HttpResponse, web};
use fedstore_storage::{Head, LabelsRef, LatestSink, Matcher, SeriesRef};
use tokio::sync::oneshot;

use super::options::{FederateOptions, Shard};
use super::{parse_matches, read_form};
use crate::api::ApiError;
use crate::api::v1::json;
use crate::server::AppState;

/// Handles `/api/v1/federate/count`.
pub async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let as_json = |e: ApiError| ApiError::bad_data(e.to_string());
    let form = read_form(&req, &body).map_err(as_json)?;
    let (sets, texts) = parse_matches(&form).map_err(as_json)?;
    let opts = FederateOptions::parse(&form).map_err(as_json)?;
    let now = (state.clock)();
    let (mint, maxt) = (now - state.lookback_ms, now);
    let head = state.head().clone();
    let (tx, rx) = oneshot::channel();
    // Selection over a large head takes milliseconds: keep it off the HTTP workers.
    state.render_pool.spawn(move || {
        let _ = tx.send(count(&head, &sets, opts.shard, mint, maxt));
    });
    let (per_match, total) = rx
        .await
        .map_err(|_| ApiError::json("internal", "federate count failed"))?;
    let mut buf = json::begin_success(64 + 32 * texts.len());
    buf.extend_from_slice(b"{\"series\":");
    buf.extend_from_slice(itoa::Buffer::new().format(total).as_bytes());
    buf.extend_from_slice(b",\"matches\":[");
    for (i, (text, n)) in texts.iter().zip(&per_match).enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(b"{\"match\":");
        json::write_str(&mut buf, text);
        buf.extend_from_slice(b",\"series\":");
        buf.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes());
        buf.push(b'}');
    }
    buf.extend_from_slice(b"]}");
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json::finish(buf)))
}

/// Series with a sample in `[mint, maxt]` per matcher set, and in their union.
pub fn count(
    head: &Head,
    sets: &[Vec<Matcher>],
    shard: Option<Shard>,
    mint: i64,
    maxt: i64,
) -> (Vec<usize>, usize) {
    let live = |sets: &[Vec<Matcher>]| {
        let mut refs: Vec<SeriesRef> = head.select(sets).refs;
        if let Some(s) = shard {
            head.retain_by_hash(&mut refs, |h| s.owns(h));
        }
        let mut c = Counter(0);
        head.latest(&refs, mint, maxt, &mut c);
        c.0
    };
    let per = sets.iter().map(|s| live(std::slice::from_ref(s))).collect();
    (per, live(sets))
}

/// Counts the series `Head::latest` yields: those `/federate` would write.
struct Counter(usize);

impl LatestSink for Counter {
    fn sample(&mut self, labels: &dyn LabelsRef, _: i64, _: f64) -> bool {
        // The renderer skips nameless series too.
        self.0 += usize::from(!labels.metric_name().is_empty());
        true
    }
}
