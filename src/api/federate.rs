//! `GET`/`POST /federate`: the latest sample of every series matched by any `match[]`.
//!
//! Glue only: parse the form and selectors (errors first, as Prometheus does), pick the
//! encoding, take a concurrency slot, and hand the work to [`stream`] on the render pool.

pub mod encode;
pub mod render;
pub mod stream;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use fedstore_promql::parse_selector_bytes;
use fedstore_storage::Matcher;

use self::render::Encoding;
use self::stream::FederateJob;
use super::ApiError;
use super::form::parse_query;
use crate::server::AppState;

/// The text format's content type (prometheus/common `expfmt.FmtText`).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Handles `/federate`.
pub async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let enc = Encoding::negotiate(
        req.headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    );
    match prepare(&req, &body, &state, enc) {
        Ok(job) => {
            state.metrics.record_federate(true);
            respond(job, &state, enc).await
        }
        Err(e) => {
            state.metrics.record_federate(false);
            error_response(&e, enc)
        }
    }
}

/// Parses the request into a job, with Prometheus's error order: form, then selectors.
fn prepare(
    req: &HttpRequest,
    body: &[u8],
    state: &AppState,
    enc: Encoding,
) -> Result<FederateJob, ApiError> {
    let mut form = Vec::new();
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let mut result = Ok(());
    if req.method() == actix_web::http::Method::POST && is_form {
        let text = std::str::from_utf8(body).map_err(|_| {
            ApiError::BadRequestText("error parsing form values: body is not valid UTF-8".into())
        })?;
        result = parse_query(text, &mut form);
    }
    let query_result = parse_query(req.query_string(), &mut form);
    result
        .and(query_result)
        .map_err(|e| ApiError::BadRequestText(format!("error parsing form values: {e}")))?;

    let mut sets: Vec<Vec<Matcher>> = Vec::new();
    for (k, v) in &form {
        if k != b"match[]" {
            continue;
        }
        // Bytes, not lossy text: Go reports invalid UTF-8 at its exact column.
        sets.push(parse_selector_bytes(v).map_err(|e| ApiError::BadRequestText(e.to_string()))?);
    }
    if sets.is_empty() {
        // Deliberate deviation: Prometheus answers an empty 200, hiding broken federation jobs.
        return Err(ApiError::BadRequestText(
            "no match[] parameter given: /federate needs at least one selector, e.g. match[]={job=\"prometheus\"}".into(),
        ));
    }
    let now = (state.clock)();
    Ok(FederateJob {
        head: state.head().clone(),
        sets,
        mint_ms: now - state.lookback_ms,
        maxt_ms: now,
        ext: state.external_labels.read().clone(),
        enc,
    })
}

async fn respond(job: FederateJob, state: &AppState, enc: Encoding) -> HttpResponse {
    let Ok(permit) = state.federate_slots.clone().acquire_owned().await else {
        return error_response(
            &ApiError::UnavailableText("server is shutting down".into()),
            enc,
        );
    };
    let mut resp = HttpResponse::Ok();
    resp.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static(TEXT_CONTENT_TYPE),
    ));
    if let Some(ce) = enc.header_value() {
        resp.insert_header((header::CONTENT_ENCODING, HeaderValue::from_static(ce)));
    }
    let refs = stream::select_inline(&job);
    if let Some(refs) = &refs {
        let started = std::time::Instant::now();
        let body = stream::render_inline(&job, refs);
        drop(permit);
        state
            .metrics
            .federate_duration
            .observe(started.elapsed().as_secs_f64());
        return resp.body(body);
    }
    let body = stream::start(&state.render_pool, job, None, permit, state.metrics.clone());
    resp.streaming(body)
}

/// Prometheus compresses error bodies too (its compression handler wraps the whole handler).
fn error_response(e: &ApiError, enc: Encoding) -> HttpResponse {
    let mut resp = e.error_response();
    let Some(ce) = enc.header_value() else {
        return resp;
    };
    let text = format!("{e}\n");
    resp.headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static(ce));
    resp.set_body(enc.encode_all(text.as_bytes()))
        .map_into_boxed_body()
}
