//! `/api/v1/series`, `/api/v1/labels` and `/api/v1/label/<name>/values` over head and
//! blocks (Prometheus 2.42 `api.series`, `api.labelNames`, `api.labelValues`): each wraps its
//! errors differently, as 2.42 does; the storage walk runs on the query threads, and a label
//! lookup without `match[]` is answered again from the kept bytes while the indexes are
//! unchanged.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use fedstore_storage::{Cancel, Matcher};

use super::index_answers::Key;
use super::json;
use super::params::{Form, MAX_TIME_MS, MIN_TIME_MS, parse_time};
use super::respond;
use super::streamed::{self, PieceWriter};
use crate::api::{ApiError, peer};
use crate::query::QueryFailure;
use crate::server::AppState;

/// `start`/`end` with `Invalid time value for '<name>'` inside `invalid parameter "<name>"`.
fn time_param(form: &Form, name: &str, default: i64) -> Result<i64, ApiError> {
    let v = form.value(name);
    if v.is_empty() {
        return Ok(default);
    }
    parse_time(&v).map_err(|e| {
        ApiError::bad_data(format!(
            "invalid parameter \"{name}\": Invalid time value for '{name}': {e}"
        ))
    })
}

/// Prometheus `parseMatchersParam`: each `match[]` a selector, each with a matcher that
/// does not match the empty string.
fn matcher_sets(form: &Form) -> Result<Vec<Vec<Matcher>>, String> {
    let mut sets = Vec::new();
    for v in form.values("match[]") {
        sets.push(parse_match(v).map_err(|e| e.to_string())?);
    }
    if sets.iter().any(|s| s.iter().all(Matcher::matches_empty)) {
        return Err("match[] must contain at least one non-empty matcher".to_owned());
    }
    Ok(sets)
}

/// Parses one `match[]` value (raw bytes: Go reports bad UTF-8 at its column).
fn parse_match(v: &[u8]) -> Result<Vec<Matcher>, impl std::fmt::Display> {
    fedstore_promql::parser::parse_selector_bytes(v)
}

/// Runs a storage walk on the query threads under `--query.timeout`; the walk stops when
/// its [`Cancel`] says so (deadline, request dropped).
async fn on_query_threads<T: Send + 'static>(
    state: &AppState,
    req: &HttpRequest,
    job: impl FnOnce(&Cancel) -> Result<T, fedstore_storage::Error> + Send + 'static,
) -> Result<T, ApiError> {
    let deadline = state.query.deadline(None);
    state
        .query
        .run(deadline, peer::of(req), move |_, cancel| {
            job(cancel).map_err(crate::query::eval_error)
        })
        .await
        .map_err(|e: QueryFailure| e.api_error())
}

/// `GET|POST /api/v1/series`: the answer is written on a query thread and streamed as it
/// is written ([`streamed`]), so its size (307 MB for 1M series) is never held.
pub async fn series(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = Form::parse_checked(&req, &body).map_err(ApiError::bad_data)?;
    if form.values("match[]").is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = time_param(&form, "start", MIN_TIME_MS)?;
    let end = time_param(&form, "end", MAX_TIME_MS)?;
    let sets = matcher_sets(&form)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"match[]\": {e}")))?;
    let db = state.db.clone();
    let deadline = state.query.deadline(None);
    streamed::respond(&req, &state.query, deadline, move |w, cancel| {
        write_series(&db, &sets, start, end, cancel, w).map_err(storage_failure)
    })
    .await
}

/// Writes the `/series` answer: every selected series with a sample in `[start, end]` (all
/// of them when the range is unbounded), as its label object, in label order.
fn write_series(
    db: &fedstore_storage::Db,
    sets: &[Vec<Matcher>],
    start: i64,
    end: i64,
    cancel: &Cancel,
    w: &mut PieceWriter,
) -> Result<(), WriteError> {
    let q = db.querier(start, end).with_cancel(cancel.clone());
    let set = q.select(sets)?;
    let whole = start <= MIN_TIME_MS && end >= MAX_TIME_MS;
    w.buf().extend_from_slice(json::SUCCESS_PREFIX);
    w.buf().push(b'[');
    let mut samples = Vec::new();
    let mut first = true;
    for i in 0..set.len() {
        cancel.check_at(i)?;
        if !whole && !set.has_samples(i, &mut samples)? {
            continue;
        }
        let buf = w.buf();
        if !first {
            buf.push(b',');
        }
        first = false;
        // Straight from the head's symbols, as `json::write_labels` writes a label set.
        buf.push(b'{');
        let mut sep = false;
        set.for_each_label(i, &mut |name, value| {
            if sep {
                buf.push(b',');
            }
            sep = true;
            json::write_str(buf, name);
            buf.push(b':');
            json::write_str(buf, value);
        })?;
        buf.push(b'}');
        w.flush_if_full().map_err(WriteError::Api)?;
    }
    w.buf().extend_from_slice(b"]}");
    Ok(())
}

/// Why writing an answer stopped.
enum WriteError {
    Storage(fedstore_storage::Error),
    Api(ApiError),
}

impl From<fedstore_storage::Error> for WriteError {
    fn from(e: fedstore_storage::Error) -> Self {
        WriteError::Storage(e)
    }
}

/// The API error of a failed walk: a stop keeps its reason (503 `timeout` or `canceled`).
fn storage_failure(e: WriteError) -> ApiError {
    match e {
        WriteError::Storage(e) => QueryFailure::Eval(crate::query::eval_error(e)).api_error(),
        WriteError::Api(e) => e,
    }
}

/// Label names (`label` `None`) or one label's values, without `match[]`: the kept answer
/// while the indexes are as they were when it was read
/// ([`IndexAnswers`](super::index_answers::IndexAnswers)), else read from
/// the indexes on the query threads and kept.
async fn unmatched_lookup(
    req: &HttpRequest,
    state: &AppState,
    label: Option<String>,
    start: i64,
    end: i64,
) -> Result<HttpResponse, ApiError> {
    // The version before the read: an index changing meanwhile makes the key older than the
    // answer, never newer.
    let key = Key::new(label.as_deref(), start, end, state.db.index_version());
    if let Some(body) = state.index_answers.get(&key) {
        return Ok(respond::json(req, body.to_vec()));
    }
    let db = state.db.clone();
    let items = on_query_threads(state, req, move |cancel| {
        let q = db.querier(start, end).with_cancel(cancel.clone());
        match &label {
            Some(name) => q.label_values(name, &[]),
            None => q.label_names(&[]),
        }
    })
    .await?;
    let mut buf = json::begin_success(16 * items.len());
    json::write_str_array(&mut buf, &items);
    let body = json::finish(buf);
    state.index_answers.put(key, Arc::new(body.clone()));
    Ok(respond::json(req, body))
}

/// `GET|POST /api/v1/labels`.
pub async fn labels(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = Form::parse(&req, &body);
    let start = time_param(&form, "start", MIN_TIME_MS)?;
    let end = time_param(&form, "end", MAX_TIME_MS)?;
    let sets = matcher_sets(&form).map_err(ApiError::bad_data)?;
    if sets.is_empty() {
        return unmatched_lookup(&req, &state, None, start, end).await;
    }
    let db = state.db.clone();
    let names = on_query_threads(&state, &req, move |cancel| {
        db.querier(start, end)
            .with_cancel(cancel.clone())
            .label_names(&sets)
    })
    .await?;
    let mut buf = json::begin_success(16 * names.len());
    json::write_str_array(&mut buf, &names);
    Ok(respond::json(&req, json::finish(buf)))
}

/// `GET /api/v1/label/<name>/values`.
pub async fn label_values(
    req: HttpRequest,
    body: web::Bytes,
    name: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    if !fedstore_storage::is_valid_label_name(&name) {
        return Err(ApiError::bad_data(format!(
            "invalid label name: {}",
            crate::exposition::parse::go_quote(name.as_bytes())
        )));
    }
    let form = Form::parse(&req, &body);
    let start = time_param(&form, "start", MIN_TIME_MS)?;
    let end = time_param(&form, "end", MAX_TIME_MS)?;
    let sets = matcher_sets(&form).map_err(ApiError::bad_data)?;
    if sets.is_empty() {
        return unmatched_lookup(&req, &state, Some(name), start, end).await;
    }
    let db = state.db.clone();
    let values = on_query_threads(&state, &req, move |cancel| {
        db.querier(start, end)
            .with_cancel(cancel.clone())
            .label_values(&name, &sets)
    })
    .await?;
    let mut buf = json::begin_success(16 * values.len());
    json::write_str_array(&mut buf, &values);
    Ok(respond::json(&req, json::finish(buf)))
}
