//! JSON answers too large to hold whole (`/api/v1/series` over every series: 307 MB at 1M
//! series), written piece by piece on a query thread and sent as they come through a bounded
//! channel, so a request holds at most [`WHOLE_BYTES`] plus a few pieces of [`PIECE_BYTES`]
//! whatever the answer's size.
//!
//! The first [`WHOLE_BYTES`] decide the status: an answer that ends (or fails) within them is
//! sent whole by [`respond::json`], or as its error, as if it had never been streamed. A longer
//! one is a 200 sent in chunks (compressed by the federate body's encoder when the client asks);
//! a failure after its first bytes (deadline, panic) ends the body without HTTP's last chunk,
//! so the client sees an incomplete transfer, never a short answer that looks whole
//! (docs/api.md).

use std::time::Instant;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use fedstore_storage::Cancel;
use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use super::respond::{self, Encoding};
use crate::api::federate::encode::SegmentEncoder;
use crate::api::{ApiError, peer};
use crate::query::{QueryFailure, QueryService, STOP_GRACE};

/// Text buffered before an answer is streamed: answers up to this size are sent whole, with
/// their length and, when they fail, their error status. Large enough for every answer but
/// the huge ones (a `/series` of ~100k series), small next to what it saves on those.
pub const WHOLE_BYTES: usize = 4 << 20;
/// Text per streamed piece after the first.
pub const PIECE_BYTES: usize = 64 << 10;
/// Room past [`PIECE_BYTES`] for the entry that crosses it.
const PIECE_SLACK: usize = 4096;
/// Pieces in flight between the query thread and the socket: the writer runs ahead of a slow
/// client by at most this many, then waits.
const CHANNEL_PIECES: usize = 16;

/// What the query thread hands the response.
enum Piece {
    /// The whole answer, not encoded: it ended within [`WHOLE_BYTES`].
    Whole(Vec<u8>),
    /// Encoded bytes of a streamed answer; the first starts with the encoding's header.
    Part(Bytes),
    /// The last encoded bytes of a streamed answer, the encoding's trailer included.
    Last(Bytes),
    /// The answer failed.
    Failed(ApiError),
}

/// Where a query thread writes an answer's JSON: append to [`PieceWriter::buf`], then call
/// [`PieceWriter::flush_if_full`], which sends the text on once there is enough of it.
pub struct PieceWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Piece>,
    enc: Encoding,
    /// Whether the first part was sent (the answer is being streamed).
    started: bool,
    /// The compressor of a streamed, compressed answer (created with its first part).
    encoder: Option<SegmentEncoder>,
}

impl PieceWriter {
    fn new(tx: mpsc::Sender<Piece>, enc: Encoding) -> Self {
        PieceWriter {
            buf: Vec::with_capacity(PIECE_BYTES + PIECE_SLACK),
            tx,
            enc,
            started: false,
            encoder: None,
        }
    }

    /// The text not sent yet.
    #[inline]
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Sends the buffered text on once it is long enough: [`WHOLE_BYTES`] for the first part,
    /// [`PIECE_BYTES`] after. `Err` (`canceled`) when the client is gone: stop writing.
    #[inline]
    pub fn flush_if_full(&mut self) -> Result<(), ApiError> {
        let limit = if self.started {
            PIECE_BYTES
        } else {
            WHOLE_BYTES
        };
        if self.buf.len() < limit {
            return Ok(());
        }
        let bytes = self.encode_buffered();
        self.send(Piece::Part(Bytes::from(bytes)))
    }

    /// Encodes the buffered text (the stream's header first) and empties the buffer.
    fn encode_buffered(&mut self) -> Vec<u8> {
        let first = !self.started;
        self.started = true;
        if self.enc == Encoding::Identity {
            // The text is the body: sent without a copy.
            let next = Vec::with_capacity(PIECE_BYTES + PIECE_SLACK);
            return std::mem::replace(&mut self.buf, next);
        }
        let mut out = Vec::new();
        if first {
            out.extend_from_slice(self.enc.stream_header());
        }
        let encoder = self
            .encoder
            .get_or_insert_with(|| SegmentEncoder::new(self.enc));
        encoder.write(&self.buf);
        out.append(encoder.pending());
        self.buf.clear();
        // The first part's buffer (WHOLE_BYTES) is not kept for the small ones after it.
        self.buf.shrink_to(PIECE_BYTES + PIECE_SLACK);
        out
    }

    fn send(&self, piece: Piece) -> Result<(), ApiError> {
        self.tx
            .blocking_send(piece)
            .map_err(|_| ApiError::json("canceled", "the client went away"))
    }

    /// Ends the answer: whole if it was never streamed, else its last part.
    fn finish(mut self) {
        let piece = if self.started {
            let mut out = self.encode_buffered();
            if let Some(e) = self.encoder.take() {
                let (rest, check) = e.finish();
                out.extend_from_slice(&rest);
                out.extend_from_slice(&self.enc.stream_trailer(&check));
            }
            Piece::Last(Bytes::from(out))
        } else {
            Piece::Whole(std::mem::take(&mut self.buf))
        };
        // A client gone by now needs nothing more.
        let _ = self.send(piece);
    }

    fn fail(self, e: ApiError) {
        let _ = self.send(Piece::Failed(e));
    }
}

/// Answers with the JSON that `write` produces on a query thread, which it gets once a query
/// slot is free before `deadline` (as every query) and keeps until `write` returns. `write`
/// gets the query's stop signal (the deadline, or the client gone) and returns the answer's
/// error, if any: an error within the first [`WHOLE_BYTES`] is the response.
pub async fn respond(
    req: &HttpRequest,
    query: &QueryService,
    deadline: Instant,
    write: impl FnOnce(&mut PieceWriter, &Cancel) -> Result<(), ApiError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let enc = respond::encoding(req);
    let (tx, mut rx) = mpsc::channel(CHANNEL_PIECES);
    let peer = peer::of(req);
    let guard = query
        .spawn(deadline, peer.as_ref(), move |cancel| {
            let mut w = PieceWriter::new(tx, enc);
            match write(&mut w, cancel) {
                Ok(()) => w.finish(),
                Err(e) => w.fail(e),
            }
        })
        .await
        .map_err(|e| e.api_error())?;
    // As `QueryService::run`: a writer past its deadline has a grace to stop at a check and
    // say so; one that does not gets the execution step's timeout.
    let until = tokio::time::Instant::from_std(deadline + STOP_GRACE);
    // Until the first piece the body is not sent, so only a look at the socket tells that
    // the client left (actix-web keeps awaiting this handler).
    let first = peer::watch(rx.recv(), peer.as_ref(), &guard.0, || query.abandoned());
    let (first, more) = match tokio::time::timeout_at(until, first).await {
        Err(_) => return Err(QueryFailure::ExecTimeout.api_error()),
        Ok(None) => return Err(QueryFailure::Panicked.api_error()),
        Ok(Some(Piece::Whole(body))) => return Ok(respond::json(req, body)),
        Ok(Some(Piece::Failed(e))) => return Err(e),
        Ok(Some(Piece::Part(b))) => (b, true),
        Ok(Some(Piece::Last(b))) => (b, false),
    };
    // The guard goes with the body: dropping the body (client gone) stops the writer.
    let rest = futures_util::stream::unfold(more.then_some((rx, guard)), |st| async move {
        let (mut rx, guard) = st?;
        let fail = |why: String| {
            tracing::warn!("streamed answer cut short: {why}");
            Some((Err(std::io::Error::other(why)), None))
        };
        match rx.recv().await {
            Some(Piece::Part(b)) => Some((Ok(b), Some((rx, guard)))),
            Some(Piece::Last(b)) => Some((Ok(b), None)),
            Some(Piece::Failed(e)) => fail(e.to_string()),
            Some(Piece::Whole(_)) | None => fail("the writer stopped early".to_owned()),
        }
    });
    let body = futures_util::stream::once(async move { Ok(first) }).chain(rest);
    let mut resp = HttpResponse::Ok();
    resp.content_type("application/json");
    if let Some(ce) = enc.header_value() {
        resp.insert_header((header::CONTENT_ENCODING, ce));
    }
    Ok(resp.streaming(body))
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use actix_web::http::StatusCode;
    use fedstore_promql::EngineOptions;

    use super::*;

    fn request(accept: Option<&str>) -> HttpRequest {
        let mut r = actix_web::test::TestRequest::default();
        if let Some(a) = accept {
            r = r.insert_header(("Accept-Encoding", a));
        }
        r.to_http_request()
    }

    fn decode(enc: &str, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match enc {
            "gzip" => {
                let mut d = flate2::read::GzDecoder::new(body);
                d.read_to_end(&mut out).unwrap();
                let mut rest = Vec::new();
                d.into_inner().read_to_end(&mut rest).unwrap();
                assert!(rest.is_empty(), "one gzip member");
            }
            "deflate" => {
                flate2::read::ZlibDecoder::new(body)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            _ => out = body.to_vec(),
        }
        out
    }

    /// Text of `len` bytes written in entries of varied sizes, as `write` hands it out.
    fn text(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| b"{\"a\":\"b<c>&\"},0123456789xyz"[(i * 7 + i / 3) % 27])
            .collect()
    }

    /// Runs `write` through [`respond`] and returns the status, `Content-Encoding` and body
    /// (`Err` when the body was cut short).
    fn answer(
        accept: Option<&str>,
        write: impl FnOnce(&mut PieceWriter, &Cancel) -> Result<(), ApiError> + Send + 'static,
    ) -> (StatusCode, String, Result<Vec<u8>, String>) {
        actix_web::rt::System::new().block_on(async move {
            let query = QueryService::new(EngineOptions::default(), 2);
            let deadline = Instant::now() + std::time::Duration::from_secs(60);
            let resp = match respond(&request(accept), &query, deadline, write).await {
                Ok(r) => r,
                Err(e) => actix_web::ResponseError::error_response(&e),
            };
            let status = resp.status();
            let ce = resp
                .headers()
                .get(header::CONTENT_ENCODING)
                .map_or("", |v| v.to_str().unwrap())
                .to_owned();
            let body = actix_web::body::to_bytes(resp.into_body())
                .await
                .map(|b| b.to_vec())
                .map_err(|e| e.to_string());
            (status, ce, body)
        })
    }

    /// Small and large answers, in every encoding, decode to the text written, whatever the
    /// sizes of the writes; large ones span many pieces.
    #[test]
    fn streamed_answers_are_the_text_written() {
        let sizes = [
            0,
            10,
            WHOLE_BYTES - 1,
            WHOLE_BYTES,
            WHOLE_BYTES + 1,
            WHOLE_BYTES + 5 * PIECE_BYTES + 12_345,
        ];
        for len in sizes {
            let want = text(len);
            for accept in [None, Some("gzip"), Some("deflate")] {
                let src = want.clone();
                let (status, ce, body) = answer(accept, move |w, _| {
                    let mut at = 0;
                    let mut step = 1;
                    while at < src.len() {
                        let end = (at + step).min(src.len());
                        w.buf().extend_from_slice(&src[at..end]);
                        w.flush_if_full()?;
                        at = end;
                        step = step * 3 % 5003 + 1;
                    }
                    Ok(())
                });
                assert_eq!(status, StatusCode::OK, "{len} {accept:?}");
                assert_eq!(ce, accept.unwrap_or(""), "{len} {accept:?}");
                let got = decode(&ce, &body.unwrap());
                assert!(got == want, "{len} {accept:?}: body differs");
            }
        }
    }

    /// An error within the first [`WHOLE_BYTES`] is the response (2.42's JSON error and
    /// status); after them, the body is cut short (an error for the client's reader).
    #[test]
    fn errors_before_the_first_bytes_are_responses_after_them_cut_the_body() {
        for accept in [None, Some("gzip")] {
            let (status, _, body) = answer(accept, |w, _| {
                w.buf().extend_from_slice(&text(WHOLE_BYTES - 1));
                w.flush_if_full()?;
                Err(ApiError::json(
                    "timeout",
                    "query timed out in expression evaluation",
                ))
            });
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                String::from_utf8(body.unwrap()).unwrap(),
                r#"{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}"#
            );
            let (status, _, body) = answer(accept, |w, _| {
                w.buf().extend_from_slice(&text(WHOLE_BYTES + 1));
                w.flush_if_full()?;
                Err(ApiError::json("timeout", "query timed out"))
            });
            assert_eq!(status, StatusCode::OK);
            assert!(
                body.is_err(),
                "{accept:?}: a cut body must not read as whole"
            );
            // A writer that panics mid-stream cuts the body too.
            let (status, _, body) = answer(accept, |w, _| {
                w.buf().extend_from_slice(&text(WHOLE_BYTES + 1));
                w.flush_if_full()?;
                panic!("writer bug");
            });
            assert_eq!(status, StatusCode::OK);
            assert!(body.is_err());
        }
    }

    /// A client that goes away mid-answer stops the writer (its sends fail), so the query's
    /// slot is freed.
    #[test]
    fn a_dropped_body_stops_the_writer() {
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        actix_web::rt::System::new().block_on(async move {
            let query = QueryService::new(EngineOptions::default(), 1);
            let deadline = Instant::now() + std::time::Duration::from_secs(600);
            let resp = respond(&request(None), &query, deadline, move |w, _| {
                let mut pieces = 0u64;
                let stop = loop {
                    w.buf().extend_from_slice(&text(1000));
                    if let Err(e) = w.flush_if_full() {
                        break e.to_string();
                    }
                    pieces += 1;
                    assert!(pieces < 100_000_000, "the writer was never stopped");
                };
                let _ = seen_tx.send(stop);
                Ok(())
            })
            .await
            .unwrap();
            let mut body = resp.into_body();
            // Read the first piece, then hang up.
            let first = std::future::poll_fn(|cx| {
                actix_web::body::MessageBody::poll_next(std::pin::Pin::new(&mut body), cx)
            })
            .await;
            assert!(matches!(first, Some(Ok(b)) if b.len() >= WHOLE_BYTES));
            drop(body);
            // The slot is free again once the writer noticed.
            let again = query
                .spawn(deadline, None, |_| {})
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"));
            assert_eq!(again, Ok(()));
        });
        assert_eq!(seen_rx.recv().unwrap(), "the client went away");
    }
}
