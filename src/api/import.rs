//! `POST /api/v1/import/prometheus` (VictoriaMetrics's endpoint name): a text-format body, with
//! or without timestamps, appended atomically: a malformed line is a 400 naming the line, and
//! nothing of that request is stored.

use crate::limits::RequestLimit;
use std::io::Read;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use fedstore_storage::{AppendError, AppendStats, Head};

use super::ApiError;
use crate::exposition::parse::{Entry, Format, Parser, to_labels};
use crate::metrics::Source;
use crate::server::AppState;

/// Largest accepted body (after gzip decoding); `fedstore import` sends files in pieces.
pub const MAX_IMPORT_BYTES: usize = 256 << 20;

/// Handles the import endpoint.
pub async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let gzip = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let now = (state.clock)();
    let head = state.head().clone();
    let limit = state.import_limit;
    let result = state
        .ingest_pool
        .run(move || {
            let text = if gzip { gunzip(&body)? } else { body.to_vec() };
            import_text_limited(&head, &text, now, limit)
        })
        .await
        .map_err(|e| ApiError::InternalText(format!("import worker failed: {e}")))?;
    let stats = result.inspect_err(|e| {
        let reason = match e {
            ApiError::PayloadTooLarge(m) if m.starts_with("request has") => {
                "too_many_series_or_samples"
            }
            ApiError::PayloadTooLarge(_) => "too_large",
            _ => return,
        };
        state
            .metrics
            .refusals
            .count("/api/v1/import/prometheus", reason);
    })?;
    state.metrics.record_append(Source::Import, &stats);
    tracing::debug!(?stats, "import done");
    if let Some(msg) = rejected_message(&stats) {
        return Err(ApiError::BadRequestText(msg));
    }
    Ok(HttpResponse::NoContent().finish())
}

fn gunzip(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(MAX_IMPORT_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::BadRequestText(format!("gzip: {e}")))?;
    if out.len() > MAX_IMPORT_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "decompressed body is over {MAX_IMPORT_BYTES} bytes"
        )));
    }
    Ok(out)
}

/// Parses `text` completely, then appends it in one batch; samples without a timestamp get
/// `now_ms`. Nothing is stored when any line or label set is invalid.
pub fn import_text(head: &Head, text: &[u8], now_ms: i64) -> Result<AppendStats, ApiError> {
    import_text_limited(head, text, now_ms, RequestLimit::default())
}

/// [`import_text`], refusing (413, nothing stored) a body with more series or samples than
/// `limit`; series are told apart by their text as written.
pub fn import_text_limited(
    head: &Head,
    text: &[u8],
    now_ms: i64,
    limit: RequestLimit,
) -> Result<AppendStats, ApiError> {
    // First pass: syntax and size only, so a bad last line costs no appends.
    let mut parser = Parser::new(text, Format::Text);
    let mut samples = 0usize;
    let mut series = hashbrown::HashSet::new();
    let count_series = limit.max_series.is_some();
    while let Some(e) = parser
        .next()
        .map_err(|e| ApiError::BadRequestText(e.to_string()))?
    {
        if let Entry::Sample(s) = e {
            samples += 1;
            if count_series {
                series.insert(xxhash_rust::xxh3::xxh3_64(s.series.as_bytes()));
            }
        }
    }
    if let Some(msg) = limit.check(series.len(), samples, "web.import") {
        return Err(ApiError::PayloadTooLarge(msg));
    }

    let mut app = head.appender();
    let mut parser = Parser::new(text, Format::Text);
    while let Some(entry) = parser
        .next()
        .map_err(|e| ApiError::BadRequestText(e.to_string()))?
    {
        let Entry::Sample(s) = entry else { continue };
        let labels = to_labels(&s);
        if let Err(e) = app.append(&labels, s.timestamp_ms.unwrap_or(now_ms), s.value) {
            app.rollback();
            let msg = format!("line {}: {e}", s.line);
            // The head could not grow its files (disk full, I/O error): not the sender's
            // fault, and worth a retry.
            return Err(match e {
                AppendError::Storage(_) => ApiError::InternalText(msg),
                _ => ApiError::BadRequestText(msg),
            });
        }
    }
    app.commit()
        .map_err(|e| ApiError::InternalText(e.to_string()))
}

/// Prometheus-style text for samples refused by the append rules (the rest was stored).
/// `None` when every sample was stored.
pub fn rejected_message(stats: &AppendStats) -> Option<String> {
    let mut parts = Vec::new();
    if stats.out_of_order > 0 {
        parts.push(format!(
            "out of order sample ({} samples)",
            stats.out_of_order
        ));
    }
    if stats.duplicate > 0 {
        parts.push(format!(
            "duplicate sample for timestamp ({} samples)",
            stats.duplicate
        ));
    }
    if stats.out_of_bounds > 0 {
        parts.push(format!("out of bounds ({} samples)", stats.out_of_bounds));
    }
    (!parts.is_empty()).then(|| {
        format!(
            "{}; {} other samples were stored",
            parts.join(", "),
            stats.appended
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_below_the_head_floor_are_refused_by_name_and_the_rest_stored() {
        let dir = tempfile::tempdir().unwrap();
        let head = Head::open(&dir.path().join("head"), Default::default()).unwrap();
        let text = b"m{a=\"1\"} 1 1000\nm{a=\"1\"} 2 6000\n";
        let stats = import_text_limited(&head, text, 0, RequestLimit::default()).unwrap();
        assert_eq!(rejected_message(&stats), None);
        // The floor rises past the next request's first sample (its range is in a block).
        head.set_min_valid_time(7_000);
        let text = b"m{a=\"1\"} 3 6500\nm{a=\"1\"} 4 8000\n";
        let stats = import_text_limited(&head, text, 0, RequestLimit::default()).unwrap();
        assert_eq!(
            rejected_message(&stats).as_deref(),
            Some("out of bounds (1 samples); 1 other samples were stored")
        );
    }
}
