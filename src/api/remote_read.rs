//! `POST /api/v1/read`: Prometheus remote read (thin glue over [`crate::remote::read`]).
//!
//! Waits for a slot of `--storage.remote.read-concurrent-limit`, reads at most 32 MiB of body,
//! then does all storage work on the remote-read pool (`RemoteRead::pool`): the SAMPLES answer
//! is built whole and snappy-compressed; the streamed answer flows through a bounded channel
//! as frames are cut.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use fedstore_storage::Cancel;
use futures_util::StreamExt as _;

use crate::api::peer;
use crate::query::CancelOnDrop;
use crate::query::storage::StoppingQueryable;
use crate::remote::read::{self, ExternalLabels, ReadError, ResponseType, samples, streamed};
use crate::server::AppState;

/// `Content-Type` of the SAMPLES answer.
const SAMPLES_CONTENT_TYPE: &str = "application/x-protobuf";
/// `Content-Type` of the streamed answer (Prometheus `remote.ContentTypeHeader` for chunks).
const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";
/// Batches of frames in flight between the remote-read pool and the socket.
const STREAM_CHANNEL: usize = 8;

/// What the streaming job hands the response body.
enum Piece {
    /// Whole frames.
    Frames(Bytes),
    /// The error that ended the stream.
    Failed(ReadError),
}

/// Answers a remote-read request as Prometheus 2.42.
pub async fn handle(
    http: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> HttpResponse {
    let rr = state.remote_read.clone();
    // Prometheus takes its gate before reading the body.
    let permit = match rr.gate() {
        Some(gate) => match gate.clone().acquire_owned().await {
            Ok(p) => Some(p),
            Err(e) => return error_response(&ReadError::internal(e.to_string()), false),
        },
        None => None,
    };
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => return error_response(&ReadError::bad_request(e.to_string()), false),
        };
        // `io.LimitReader`: bytes past the limit are not read (the snappy decode then fails).
        let room = read::MAX_REQUEST_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == read::MAX_REQUEST_BYTES {
            break;
        }
    }
    let req = match read::decode_request(&body) {
        Ok(r) => r,
        Err(e) => return error_response(&e, false),
    };
    let ext = ExternalLabels::new(state.external_labels.read().pairs());
    let response_type = match read::negotiate(&req.accepted_response_types) {
        Ok(t) => t,
        Err(e) => return error_response(&e, false),
    };
    let storage = rr.storage.clone();
    let limits = rr.limits;
    match response_type {
        ResponseType::Samples => {
            // Raised when the client leaves (or this future is dropped): the walk stops.
            let cancel = Cancel::default();
            let cancel_on_drop = CancelOnDrop(cancel.clone());
            let storage = StoppingQueryable::new(storage, cancel);
            let job = move || {
                let raw = samples::encode(&storage, &req.queries, &ext, limits.sample_limit)?;
                snap::raw::Encoder::new()
                    .compress_vec(&raw)
                    .map_err(|e| ReadError::internal(e.to_string()))
            };
            let peer = peer::of(&http);
            let left = || state.query.abandoned();
            let answer = peer::watch(rr.pool().run(job), peer.as_ref(), &cancel_on_drop.0, left)
                .await
                .unwrap_or_else(|e| Err(ReadError::internal(e.to_string())));
            drop(permit);
            crate::alloc::trim_soon();
            match answer {
                Ok(compressed) => HttpResponse::Ok()
                    .insert_header((
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(SAMPLES_CONTENT_TYPE),
                    ))
                    .insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("snappy")))
                    .body(compressed),
                Err(e) => error_response(&e, true),
            }
        }
        ResponseType::StreamedXorChunks => {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(STREAM_CHANNEL);
            rr.pool().spawn(move || {
                let _permit = permit;
                let mut emit =
                    |frames: Vec<u8>| tx.blocking_send(Piece::Frames(Bytes::from(frames))).is_ok();
                if let Err(e) = streamed::stream(
                    storage.as_ref(),
                    &req.queries,
                    &ext,
                    limits.max_bytes_in_frame,
                    limits.chunk_range_ms,
                    &mut emit,
                ) {
                    let _ = tx.blocking_send(Piece::Failed(e));
                }
                crate::alloc::trim_soon();
            });
            // The status is only known once the first piece is: an error before any frame is
            // an error response; after frames, 2.42 appends the text to the 200 body.
            let first = match rx.recv().await {
                None => Bytes::new(),
                Some(Piece::Failed(e)) => return error_response(&e, false),
                Some(Piece::Frames(b)) => b,
            };
            let rest = futures_util::stream::unfold(rx, |mut rx| async move {
                let bytes = match rx.recv().await? {
                    Piece::Frames(b) => b,
                    Piece::Failed(e) => Bytes::from(format!("{e}\n")),
                };
                Some((Ok::<_, std::convert::Infallible>(bytes), rx))
            });
            let body = futures_util::stream::once(async move { Ok(first) }).chain(rest);
            HttpResponse::Ok()
                .insert_header((
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(STREAMED_CONTENT_TYPE),
                ))
                .streaming(body)
        }
    }
}

/// Go's `http.Error`: the message and a newline as `text/plain`, with `nosniff`. In the SAMPLES
/// answer 2.42 has already set `Content-Encoding: snappy`, which stays on the plain-text error.
fn error_response(e: &ReadError, samples_mode: bool) -> HttpResponse {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = HttpResponse::build(status);
    if samples_mode {
        resp.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(SAMPLES_CONTENT_TYPE),
        ));
        resp.insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("snappy")));
    }
    resp.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    ))
    .insert_header((
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
    .body(format!("{e}\n"))
}

/// Other methods: 405 as Prometheus's router answers them.
pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, HeaderValue::from_static("OPTIONS, POST")))
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .body("Method Not Allowed\n")
}
