//! `POST /api/v1/write`: the Prometheus remote-write 1.0 receiver (thin glue).
//!
//! Reads the body under a size cap, refuses oversized bodies from the snappy header before
//! receiving the rest, runs decode + append on the ingest pool (`AppState::ingest_pool`), and
//! then awaits the WAL's group fsync without holding a thread: an ingest thread never sits in
//! an fsync, so the pool's few threads keep decoding while the disk syncs. All protocol logic
//! is in [`crate::remote::receiver`]. Like Prometheus 2.42, no request header is checked.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use bytes::BytesMut;
use futures_util::StreamExt as _;

use crate::metrics::Source;
use crate::remote::snappy;
use crate::remote::{RemoteWriteError, RemoteWriteReceiver};
use crate::server::AppState;

/// Answers 204 on success, or the receiver's error as Prometheus's plain-text `http.Error`.
/// Needs `web::Data<RemoteWriteReceiver>` in the app data.
pub async fn handle(
    receiver: web::Data<RemoteWriteReceiver>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, RemoteWriteError> {
    let res = receive(receiver, req.clone(), payload).await;
    if let Err(e) = &res {
        let reason = match e {
            RemoteWriteError::TooLarge { .. } => Some("too_large"),
            RemoteWriteError::TooMany(_) => Some("too_many_series_or_samples"),
            _ => None,
        };
        if let (Some(r), Some(state)) = (reason, req.app_data::<web::Data<AppState>>()) {
            state.metrics.refusals.count("/api/v1/write", r);
        }
    }
    res
}

async fn receive(
    receiver: web::Data<RemoteWriteReceiver>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, RemoteWriteError> {
    let max = receiver.max_decompressed_bytes();
    let max_compressed = snappy::max_compressed_len(max);
    let too_large = |len: u64| RemoteWriteError::TooLarge { len, max };

    let content_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = content_length
        && n > max_compressed
    {
        // Any snappy block this long decompresses to more than `max`.
        return Err(too_large(n as u64));
    }

    let mut body = BytesMut::with_capacity(content_length.unwrap_or(0).min(max_compressed));
    let mut header_checked = false;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| RemoteWriteError::Storage(format!("reading body: {e}")))?;
        if body.len() + chunk.len() > max_compressed {
            return Err(too_large((body.len() + chunk.len()) as u64));
        }
        body.extend_from_slice(&chunk);
        if !header_checked && snappy::has_complete_header(&body) {
            header_checked = true;
            // Refuse before receiving the rest; a corrupt header is reported by `ingest`.
            if let Ok(len) = snappy::decompressed_len(&body)
                && len > max as u64
            {
                return Err(too_large(len));
            }
        }
    }
    let body = body.freeze();

    let pool = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.ingest_pool.clone());
    let stats = match pool {
        Some(pool) => {
            let rx = receiver.into_inner();
            let worker = rx.clone();
            let (stats, durable) = pool
                .run(move || worker.ingest_deferred(&body))
                .await
                .map_err(|e| RemoteWriteError::Storage(format!("remote write worker: {e}")))?;
            // The ingest thread is free again; this request alone waits for the WAL's group
            // fsync, acknowledging only once its samples are durable.
            let (tx, done) = tokio::sync::oneshot::channel();
            rx.on_durable(durable, move |r| {
                let _ = tx.send(r);
            });
            match done.await {
                Ok(Ok(())) => stats,
                Ok(Err(e)) => Err(RemoteWriteError::Storage(e.to_string())),
                Err(_) => Err(RemoteWriteError::Storage(
                    "WAL closed before the commit was durable".into(),
                )),
            }
        }
        None => {
            let rx = receiver.into_inner();
            web::block(move || rx.ingest(&body))
                .await
                .map_err(|e| RemoteWriteError::Storage(format!("remote write worker: {e}")))?
        }
    };
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        let counted = match &stats {
            Ok(s) => Some(*s),
            Err(e) => e.stored(),
        };
        if let Some(s) = counted {
            state.metrics.record_append(Source::RemoteWrite, &s);
        }
    }
    stats.map(|_| HttpResponse::NoContent().finish())
}

impl ResponseError for RemoteWriteError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        crate::api::http_error(self.status_code(), self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use actix_web::http::header::HeaderValue;
    use actix_web::{App, test};
    use fedstore_storage::{Head, HeadOptions};

    use super::*;

    #[actix_web::test]
    async fn responses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let head = Arc::new(Head::open(dir.path(), HeadOptions::default()).expect("head"));
        let rx = web::Data::new(RemoteWriteReceiver::new(head.clone(), 1 << 20));
        let app = test::init_service(
            App::new()
                .app_data(rx)
                .route("/api/v1/write", web::post().to(handle)),
        )
        .await;

        let raw = {
            use crate::remote::proto::{Label, Sample, TimeSeries, WriteRequest};
            use prost::Message as _;
            let timeseries = (0..2000)
                .map(|i| TimeSeries {
                    labels: vec![
                        Label {
                            name: "__name__".into(),
                            value: "m".into(),
                        },
                        Label {
                            name: "i".into(),
                            value: format!("{}", i * 7919 % 100_003),
                        },
                    ],
                    samples: vec![Sample {
                        value: f64::from(i) / 3.0,
                        timestamp: 1000 + i64::from(i),
                    }],
                    ..TimeSeries::default()
                })
                .collect();
            WriteRequest {
                timeseries,
                metadata: vec![],
            }
            .encode_to_vec()
        };
        let good = snap::raw::Encoder::new()
            .compress_vec(&raw)
            .expect("encode");
        let huge = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 2 << 20])
            .expect("encode");
        // (case, body, status, response body)
        let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
            ("valid, no headers", good.clone(), 204, ""),
            ("same again: identical samples are no-ops", good, 204, ""),
            (
                "corrupt",
                b"garbage".to_vec(),
                400,
                "snappy: corrupt input\n",
            ),
            (
                "oversized by its header",
                huge,
                413,
                "decompressed body of 2097152 bytes exceeds the limit of 1048576 bytes\n",
            ),
        ];
        for (case, body, status, text) in cases {
            let req = test::TestRequest::post()
                .uri("/api/v1/write")
                .set_payload(body)
                .to_request();
            let resp = test::call_service(&app, req).await;
            assert_eq!(resp.status().as_u16(), status, "case {case}");
            if status != 204 {
                let ct = resp.headers().get(header::CONTENT_TYPE).cloned();
                assert_eq!(
                    ct,
                    Some(HeaderValue::from_static("text/plain; charset=utf-8"))
                );
            }
            let got = test::read_body(resp).await;
            assert_eq!(
                std::str::from_utf8(&got).expect("utf-8"),
                text,
                "case {case}"
            );
        }
        assert_eq!(head.num_series(), 2000);
    }
}
