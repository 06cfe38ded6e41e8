//! `GET`/`POST /federate`: the latest sample of every series matched by any `match[]`.
//!
//! Glue only: parse the form and selectors (errors first, as Prometheus does), pick the
//! encoding, take a concurrency slot, and hand the work to [`stream`] on the render pool.

pub mod count;
pub mod encode;
pub mod inline;
pub mod options;
pub mod render;
pub mod stream;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use fedstore_promql::parse_selector_bytes;
use fedstore_storage::Matcher;

use std::sync::Arc;

use self::options::{FederateOptions, merge_metadata};
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

/// Decoded form pairs, in request order.
pub type FormPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Decodes the query string and, for a form POST, the body into `(key, value)` pairs, with
/// Prometheus's error text.
pub fn read_form(req: &HttpRequest, body: &[u8]) -> Result<FormPairs, ApiError> {
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
    Ok(form)
}

/// Parses every `match[]` (at least one), keeping each one's text.
pub fn parse_matches(
    form: &[(Vec<u8>, Vec<u8>)],
) -> Result<(Vec<Vec<Matcher>>, Vec<String>), ApiError> {
    let mut sets: Vec<Vec<Matcher>> = Vec::new();
    let mut texts = Vec::new();
    for (k, v) in form {
        if k != b"match[]" {
            continue;
        }
        // Bytes, not lossy text: Go reports invalid UTF-8 at its exact column.
        sets.push(parse_selector_bytes(v).map_err(|e| ApiError::BadRequestText(e.to_string()))?);
        texts.push(String::from_utf8_lossy(v).into_owned());
    }
    if sets.is_empty() {
        // Deliberate deviation: Prometheus answers an empty 200, hiding broken federation jobs.
        return Err(ApiError::BadRequestText(
            "no match[] parameter given: /federate needs at least one selector, e.g. match[]={job=\"prometheus\"}".into(),
        ));
    }
    Ok((sets, texts))
}

/// Parses the request into a job, with Prometheus's error order: form, then selectors; then
/// fedstore's own parameters.
fn prepare(
    req: &HttpRequest,
    body: &[u8],
    state: &AppState,
    enc: Encoding,
) -> Result<FederateJob, ApiError> {
    let form = read_form(req, body)?;
    let (sets, _) = parse_matches(&form)?;
    let opts = FederateOptions::parse(&form)?;
    let meta = opts.metadata.then(|| {
        let targets = state
            .scrape
            .iter()
            .flat_map(|s| s.metadata())
            .collect::<Vec<_>>();
        Arc::new(merge_metadata(targets.iter().map(|t| &**t)))
    });
    let now = (state.clock)();
    Ok(FederateJob {
        head: state.head().clone(),
        sets,
        mint_ms: now - state.lookback_ms,
        maxt_ms: now,
        ext: state.external_labels.read().clone(),
        enc,
        shard: opts.shard,
        meta,
    })
}

async fn respond(job: FederateJob, state: &AppState, enc: Encoding) -> HttpResponse {
    let permit = match state.federate_gate.enter().await {
        Ok(p) => p,
        Err(full) => {
            state.metrics.refusals.count("/federate", "queue_full");
            let msg = format!(
                "too many concurrent federate requests: all slots busy and {} already waiting (--web.federate.max-queue); retry later",
                full.max_waiting
            );
            return error_response(&ApiError::UnavailableText(msg), enc);
        }
    };
    let mut refs = stream::select_inline(&job);
    let mut job = job;
    if let Some(max) = state.federate_max_series {
        // The limit is checked on the whole selection before the first byte, so a refused
        // answer is a clean 422 rather than a truncated 200.
        let selected = match refs {
            Some(r) => r,
            None => match state
                .render_pool
                .run(move || {
                    let r = job.select();
                    (job, r)
                })
                .await
            {
                Ok((j, r)) => {
                    job = j;
                    r
                }
                Err(e) => {
                    return error_response(
                        &ApiError::InternalText(format!("federate selection failed: {e}")),
                        enc,
                    );
                }
            },
        };
        if selected.len() > max {
            state.metrics.refusals.count("/federate", "too_many_series");
            let msg = format!(
                "federate answer would have {} series, over the limit of {max} series per answer (--web.federate.max-series); narrow match[] or split it with shard=i&shards=n",
                selected.len()
            );
            return error_response(&ApiError::UnprocessableText(msg), enc);
        }
        refs = Some(selected);
    }
    let mut resp = HttpResponse::Ok();
    resp.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static(TEXT_CONTENT_TYPE),
    ));
    if let Some(ce) = enc.header_value() {
        resp.insert_header((header::CONTENT_ENCODING, HeaderValue::from_static(ce)));
    }
    if let Some(refs) = &refs
        && refs.len() <= stream::INLINE_SERIES
    {
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
