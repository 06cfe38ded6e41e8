//! Answers of the JSON API: `application/json`, gzip- or deflate-compressed when the client
//! accepts it (Prometheus wraps the API in the same compression handler as `/federate`), and
//! the CORS and `OPTIONS` behaviour of 2.42's API router.

use std::io::Write as _;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse};

pub use crate::api::federate::encode::Encoding;

/// Initial output buffer of the compressor (2.42 compresses every answer when asked).
const COMPRESS_BUFFER_BYTES: usize = 4096;

/// The content-coding of the request's JSON answer: gzip when offered, else deflate (zlib),
/// as prometheus/common's handler picks.
pub fn encoding(req: &HttpRequest) -> Encoding {
    let accept = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let offered = |enc: &str| {
        accept.split(',').any(|p| {
            p.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(enc)
        })
    };
    if offered("gzip") {
        Encoding::Gzip
    } else if offered("deflate") {
        Encoding::Deflate
    } else {
        Encoding::Identity
    }
}

/// A 200 JSON answer with `body`, compressed as the request accepts.
pub fn json(req: &HttpRequest, body: Vec<u8>) -> HttpResponse {
    let enc = encoding(req);
    let mut resp = HttpResponse::Ok();
    resp.content_type("application/json");
    if enc == Encoding::Gzip {
        let mut e = flate2::write::GzEncoder::new(
            Vec::with_capacity(COMPRESS_BUFFER_BYTES.min(body.len())),
            flate2::Compression::default(),
        );
        if e.write_all(&body).is_ok()
            && let Ok(z) = e.finish()
        {
            resp.insert_header((header::CONTENT_ENCODING, "gzip"));
            return resp.body(z);
        }
    } else if enc == Encoding::Deflate {
        let mut e = flate2::write::ZlibEncoder::new(
            Vec::with_capacity(COMPRESS_BUFFER_BYTES.min(body.len())),
            flate2::Compression::default(),
        );
        if e.write_all(&body).is_ok()
            && let Ok(z) = e.finish()
        {
            resp.insert_header((header::CONTENT_ENCODING, "deflate"));
            return resp.body(z);
        }
    }
    resp.body(body)
}

/// `405 Method Not Allowed` as Go's router writes it.
pub async fn method_not_allowed() -> HttpResponse {
    plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n")
}

/// `404 page not found` as Go's `http.NotFound` writes it.
pub async fn not_found() -> HttpResponse {
    plain(StatusCode::NOT_FOUND, "404 page not found\n")
}

fn plain(status: StatusCode, text: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .body(text)
}

/// Middleware for `/api/v1/*`: `OPTIONS` answers 204 with no body; a request with an
/// `Origin` gets 2.42's CORS headers (default `--web.cors.origin=.*`: any origin).
pub async fn api_wrapper(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path();
    if !path.starts_with("/api/v1/") {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let cors = req.headers().contains_key(header::ORIGIN)
        && path != "/api/v1/read"
        && path != "/api/v1/write";
    let mut resp = if req.method() == Method::OPTIONS {
        let (r, _) = req.into_parts();
        ServiceResponse::new(r, HttpResponse::NoContent().finish())
    } else {
        next.call(req).await?.map_into_boxed_body()
    };
    if cors {
        let h = resp.headers_mut();
        let set = |h: &mut header::HeaderMap, k: &'static str, v: &'static str| {
            h.insert(
                header::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            );
        };
        set(
            h,
            "access-control-allow-headers",
            "Accept, Authorization, Content-Type, Origin",
        );
        set(h, "access-control-allow-methods", "GET, POST, OPTIONS");
        set(h, "access-control-allow-origin", "*");
        set(h, "access-control-expose-headers", "Date");
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(resp)
}
