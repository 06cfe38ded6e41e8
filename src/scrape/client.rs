//! The scrape HTTP client: a small HTTP/1.1 `GET`, one kept-alive connection per target
//! (plain TCP or TLS, direct or through a proxy: see [`crate::scrape::dial`]), sending
//! Prometheus 2.42's scrape headers and returning the raw (possibly gzip-compressed) body;
//! decompression and parsing happen off the async workers.
//!
//! Error texts follow Go's `net/http` and Prometheus's `targetScraper.scrape`.

use std::fmt::Write as _;
use std::io::Read as _;
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::scrape::dial::{Dialer, Stream, go_io};

/// Prometheus 2.42's `Accept` header for scrapes (`acceptHeader`, native histograms off).
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// The `User-Agent` fedstore scrapes with (Prometheus sends `Prometheus/<version>`).
pub const USER_AGENT: &str = concat!("fedstore/", env!("CARGO_PKG_VERSION"));

/// Largest response head (status line and headers) accepted.
const MAX_HEAD_BYTES: usize = 64 << 10;

/// Maximum number of response headers parsed.
const MAX_HEADERS: usize = 64;

/// Why a scrape request failed; `Display` is what `/api/v1/targets` shows as `lastError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    /// Connecting, writing or reading failed: Go's `Get "<url>": <cause>`.
    #[error("Get {url:?}: {cause}")]
    Transport {
        /// The scrape URL.
        url: String,
        /// Go-style cause, e.g. `dial tcp 127.0.0.1:1: connect: connection refused`.
        cause: String,
    },
    /// The scrape did not finish within `scrape_timeout`.
    #[error("Get {url:?}: context deadline exceeded")]
    Timeout {
        /// The scrape URL.
        url: String,
    },
    /// A status other than 200: `server returned HTTP status 404 Not Found`.
    #[error("server returned HTTP status {0}")]
    Status(String),
    /// The (decompressed) body reached `body_size_limit`.
    #[error("body size limit exceeded")]
    BodySizeLimit,
    /// The gzip body could not be decoded.
    #[error("{0}")]
    Gzip(String),
}

/// A prepared scrape request for one target (built once per target, reused every scrape).
#[derive(Debug, Clone)]
pub struct ScrapeRequest {
    /// The full URL, for error messages.
    pub url: String,
    /// `host:port` to connect to.
    pub address: String,
    /// The request bytes: request line and headers, ending with the blank line.
    head: Vec<u8>,
}

impl ScrapeRequest {
    /// Builds the request: `GET <path_and_query>` to `address` with Prometheus's headers,
    /// `X-Prometheus-Scrape-Timeout-Seconds: <timeout_s>` and an optional `Authorization`
    /// header value.
    pub fn new(
        url: &str,
        address: &str,
        path_and_query: &str,
        timeout_s: f64,
        authorization: Option<&str>,
    ) -> ScrapeRequest {
        let mut head = String::with_capacity(512);
        // Writing to a String cannot fail.
        let _ = write!(
            head,
            "GET {path_and_query} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: {USER_AGENT}\r\n\
             Accept: {ACCEPT_HEADER}\r\nAccept-Encoding: gzip\r\n\
             X-Prometheus-Scrape-Timeout-Seconds: {timeout_s}\r\n"
        );
        if let Some(a) = authorization {
            let _ = write!(head, "Authorization: {a}\r\n");
        }
        head.push_str("\r\n");
        ScrapeRequest {
            url: url.to_owned(),
            address: address.to_owned(),
            head: head.into_bytes(),
        }
    }

    /// Adds a header line (e.g. `Proxy-Authorization`) to the request.
    pub fn with_header(mut self, name: &str, value: &str) -> ScrapeRequest {
        // The head ends with the blank line; insert before it.
        self.head.truncate(self.head.len() - 2);
        self.head
            .extend_from_slice(format!("{name}: {value}\r\n\r\n").as_bytes());
        self
    }

    /// Whether the URL is `https://`.
    pub fn is_https(&self) -> bool {
        self.url.starts_with("https://")
    }

    /// The request bytes as sent.
    pub fn head(&self) -> &[u8] {
        &self.head
    }
}

/// A successful response: the raw body (still compressed when `gzip`) and its metadata.
#[derive(Debug, Default)]
pub struct RawBody {
    /// `Content-Type` of the response (empty when absent).
    pub content_type: String,
    /// Whether `Content-Encoding: gzip` was set.
    pub gzip: bool,
}

/// One target's connection, kept alive between scrapes when the server allows it.
pub struct Client {
    conn: Option<Box<dyn Stream>>,
    dialer: Arc<Dialer>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("connected", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with no open connection, connecting with `dialer`.
    pub fn new(dialer: Arc<Dialer>) -> Client {
        Client { conn: None, dialer }
    }

    /// Drops the open connection (its state is unknown after a timeout).
    pub fn reset(&mut self) {
        self.conn = None;
    }

    /// Sends `req` and reads the response body into `body` (cleared first). Fails on any
    /// status but 200, and with [`ScrapeError::BodySizeLimit`] when an uncompressed body
    /// reaches `limit` bytes. The caller bounds the time with `tokio::time::timeout`.
    pub async fn get(
        &mut self,
        req: &ScrapeRequest,
        limit: Option<u64>,
        body: &mut Vec<u8>,
    ) -> Result<RawBody, ScrapeError> {
        body.clear();
        // A kept-alive connection may have been closed by the server meanwhile: one retry on
        // a fresh connection when nothing of the response was read.
        if let Some(conn) = self.conn.take() {
            match exchange(conn, req, limit, body).await {
                Ok((raw, keep)) => {
                    self.conn = keep;
                    return Ok(raw);
                }
                Err(Attempt::Stale(_)) => body.clear(),
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        let conn = self
            .dialer
            .dial(&req.address, req.is_https())
            .await
            .map_err(|cause| transport(req, cause))?;
        match exchange(conn, req, limit, body).await {
            Ok((raw, keep)) => {
                self.conn = keep;
                Ok(raw)
            }
            Err(Attempt::Stale(cause)) => Err(transport(req, cause)),
            Err(Attempt::Failed(e)) => Err(e),
        }
    }
}

enum Attempt {
    /// The connection closed before any response byte (with Go's text of why): retry on a
    /// new one.
    Stale(String),
    Failed(ScrapeError),
}

fn transport(req: &ScrapeRequest, cause: String) -> ScrapeError {
    ScrapeError::Transport {
        url: req.url.clone(),
        cause,
    }
}

async fn write_all(conn: &mut Box<dyn Stream>, data: &[u8]) -> std::io::Result<()> {
    conn.write_all(data).await?;
    // TLS buffers the record until flushed.
    conn.flush().await
}

/// Reads more bytes into `buf`; `Ok(0)` at end of stream.
async fn read_more(conn: &mut Box<dyn Stream>, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    const CHUNK: usize = 64 << 10;
    if buf.capacity() - buf.len() < CHUNK {
        buf.reserve(CHUNK);
    }
    // Into the spare capacity as it is: zeroing it first cost a memset of every byte read.
    conn.read_buf(buf).await
}

/// The most a `Content-Length` reserves before any of the body arrived (a larger body grows
/// as it is read): a lying header cannot make a scrape allocate more than this up front.
const MAX_PRESIZE: u64 = 256 << 20;

/// How the body of a response is delimited.
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// One request/response on `conn`. On success returns the connection when it may be reused.
async fn exchange(
    mut conn: Box<dyn Stream>,
    req: &ScrapeRequest,
    limit: Option<u64>,
    body: &mut Vec<u8>,
) -> Result<(RawBody, Option<Box<dyn Stream>>), Attempt> {
    let fail = |cause: String| Attempt::Failed(transport(req, cause));
    if let Err(e) = write_all(&mut conn, &req.head).await {
        return Err(Attempt::Stale(go_io(&e, false)));
    }
    // Read the head; bytes after it are the start of the body.
    let mut buf: Vec<u8> = Vec::with_capacity(8 << 10);
    let head_len = loop {
        if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(fail("net/http: response headers too long".to_owned()));
        }
        match read_more(&mut conn, &mut buf).await {
            Ok(0) if buf.is_empty() => return Err(Attempt::Stale("EOF".to_owned())),
            Ok(0) => return Err(fail("unexpected EOF".to_owned())),
            Ok(_) => {}
            Err(e) if buf.is_empty() => return Err(Attempt::Stale(go_io(&e, false))),
            Err(e) => return Err(fail(go_io(&e, false))),
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(fail("net/http: malformed HTTP response".to_owned()));
        }
    }
    let code = resp.code.unwrap_or(0);
    let reason = resp.reason.unwrap_or("");
    let mut raw = RawBody::default();
    let mut framing = Framing::UntilClose;
    let mut keep_alive = resp.version == Some(1);
    for h in resp.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-type") {
            raw.content_type = value.to_owned();
        } else if h.name.eq_ignore_ascii_case("content-encoding") {
            raw.gzip = value.eq_ignore_ascii_case("gzip");
        } else if h.name.eq_ignore_ascii_case("content-length") {
            if !matches!(framing, Framing::Chunked) {
                let n = value
                    .parse::<u64>()
                    .map_err(|_| fail(format!("bad Content-Length {value:?}")))?;
                framing = Framing::Length(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().ends_with("chunked") {
                framing = Framing::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        }
    }
    if code != 200 {
        // Go closes the body without reading it; so do we (the connection is dropped).
        return Err(Attempt::Failed(ScrapeError::Status(format!(
            "{code} {reason}"
        ))));
    }
    // Uncompressed bodies are limited while reading; gzip ones when decompressed.
    let read_limit = if raw.gzip { None } else { limit };
    let over = |n: usize| read_limit.is_some_and(|l| n as u64 >= l);
    buf.drain(..head_len);
    match framing {
        Framing::Length(n) => {
            // One allocation of the announced size (within the limit) instead of doublings
            // that copy the body read so far each time.
            let cap = read_limit.unwrap_or(MAX_PRESIZE).min(MAX_PRESIZE).min(n);
            body.reserve(cap as usize);
            body.extend_from_slice(&buf[..buf.len().min(n as usize)]);
            while (body.len() as u64) < n {
                if over(body.len()) {
                    return Err(Attempt::Failed(ScrapeError::BodySizeLimit));
                }
                match read_more(&mut conn, body).await {
                    Ok(0) => return Err(fail("unexpected EOF".to_owned())),
                    Ok(_) => {}
                    Err(e) => return Err(fail(go_io(&e, false))),
                }
            }
            body.truncate(n as usize);
        }
        Framing::UntilClose => {
            keep_alive = false;
            body.extend_from_slice(&buf);
            loop {
                if over(body.len()) {
                    return Err(Attempt::Failed(ScrapeError::BodySizeLimit));
                }
                match read_more(&mut conn, body).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(fail(go_io(&e, false))),
                }
            }
        }
        Framing::Chunked => {
            let mut pos = 0usize;
            loop {
                // Chunk size line.
                let line_end = loop {
                    if let Some(i) = memchr::memmem::find(&buf[pos..], b"\r\n") {
                        break pos + i;
                    }
                    match read_more(&mut conn, &mut buf).await {
                        Ok(0) => return Err(fail("unexpected EOF".to_owned())),
                        Ok(_) => {}
                        Err(e) => return Err(fail(go_io(&e, false))),
                    }
                };
                let size_text = std::str::from_utf8(&buf[pos..line_end]).unwrap_or("");
                let size_text = size_text.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_text, 16)
                    .map_err(|_| fail("malformed chunked encoding".to_owned()))?;
                pos = line_end + 2;
                if size == 0 {
                    // Trailers, then the final CRLF.
                    loop {
                        if let Some(i) = memchr::memmem::find(&buf[pos..], b"\r\n") {
                            if i == 0 {
                                break;
                            }
                            pos += i + 2;
                            continue;
                        }
                        match read_more(&mut conn, &mut buf).await {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(e) => return Err(fail(go_io(&e, false))),
                        }
                    }
                    break;
                }
                while buf.len() < pos + size + 2 {
                    match read_more(&mut conn, &mut buf).await {
                        Ok(0) => return Err(fail("unexpected EOF".to_owned())),
                        Ok(_) => {}
                        Err(e) => return Err(fail(go_io(&e, false))),
                    }
                }
                body.extend_from_slice(&buf[pos..pos + size]);
                if over(body.len()) {
                    return Err(Attempt::Failed(ScrapeError::BodySizeLimit));
                }
                pos += size + 2;
                // Keep the buffer small: drop consumed bytes once they dominate.
                if pos > (256 << 10) {
                    buf.drain(..pos);
                    pos = 0;
                }
            }
        }
    }
    if over(body.len()) {
        return Err(Attempt::Failed(ScrapeError::BodySizeLimit));
    }
    Ok((raw, keep_alive.then_some(conn)))
}

/// Decompresses a gzip body from `compressed` into `out` (cleared first), failing with
/// [`ScrapeError::BodySizeLimit`] when the output reaches `limit` bytes.
pub fn gunzip(compressed: &[u8], limit: Option<u64>, out: &mut Vec<u8>) -> Result<(), ScrapeError> {
    out.clear();
    let mut dec = flate2::read::MultiGzDecoder::new(compressed);
    match limit {
        Some(l) => {
            let n = (&mut dec)
                .take(l)
                .read_to_end(out)
                .map_err(|e| ScrapeError::Gzip(format!("gzip: {e}")))?;
            if n as u64 >= l {
                return Err(ScrapeError::BodySizeLimit);
            }
        }
        None => {
            dec.read_to_end(out)
                .map_err(|e| ScrapeError::Gzip(format!("gzip: {e}")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_are_prometheus_like() {
        let r = ScrapeRequest::new(
            "http://h:1/metrics?a=b",
            "h:1",
            "/metrics?a=b",
            0.5,
            Some("Bearer x"),
        );
        let text = String::from_utf8(r.head().to_vec()).unwrap();
        assert!(text.starts_with("GET /metrics?a=b HTTP/1.1\r\nHost: h:1\r\n"));
        for want in [
            "\r\nAccept: application/openmetrics-text;version=1.0.0,",
            "\r\nAccept-Encoding: gzip\r\n",
            "\r\nX-Prometheus-Scrape-Timeout-Seconds: 0.5\r\n",
            "\r\nAuthorization: Bearer x\r\n",
        ] {
            assert!(text.contains(want), "{want:?} missing in {text:?}");
        }
        assert!(text.ends_with("\r\n\r\n"));
        let r = ScrapeRequest::new("u", "h:1", "/m", 10.0, None);
        let text = String::from_utf8(r.head().to_vec()).unwrap();
        assert!(text.contains("X-Prometheus-Scrape-Timeout-Seconds: 10\r\n"));
        assert!(!text.contains("Authorization"));
    }

    /// Serves `responses` in order on connections accepted from one listener; returns the
    /// address and a counter of accepted connections.
    fn serve(
        responses: Vec<&'static str>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::Write as _;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let acc = accepted.clone();
        std::thread::spawn(move || {
            let mut queue = responses.into_iter();
            while let Ok((mut c, _)) = l.accept() {
                acc.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                loop {
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") {
                        match c.read(&mut buf[..1]) {
                            Ok(1) => head.push(buf[0]),
                            _ => break,
                        }
                    }
                    if head.is_empty() {
                        break;
                    }
                    let Some(r) = queue.next() else { return };
                    c.write_all(r.as_bytes()).unwrap();
                    if r.contains("Connection: close") {
                        break;
                    }
                }
            }
        });
        (addr, accepted)
    }

    #[tokio::test]
    async fn framing_keep_alive_and_errors() {
        let (addr, accepted) = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na 1\r\n4;x=y\r\n\nb 2\r\n0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text\r\nContent-Length: 4\r\n\r\nc 3\n",
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789",
        ]);
        let req = ScrapeRequest::new("http://x/metrics", &addr, "/metrics", 1.0, None);
        let plain = || Arc::new(Dialer::new(&crate::config::HttpClientConfig::default()).unwrap());
        let mut c = Client::new(plain());
        let mut body = Vec::new();
        let r = c.get(&req, None, &mut body).await.unwrap();
        assert_eq!(body, b"a 1\nb 2");
        assert_eq!(r.content_type, "text/plain");
        let r = c.get(&req, None, &mut body).await.unwrap();
        assert_eq!(body, b"c 3\n");
        assert_eq!(r.content_type, "application/openmetrics-text");
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "kept alive"
        );
        assert_eq!(
            c.get(&req, None, &mut body).await.unwrap_err().to_string(),
            "server returned HTTP status 404 Not Found"
        );
        assert_eq!(
            c.get(&req, Some(10), &mut body).await.unwrap_err(),
            ScrapeError::BodySizeLimit,
            "a body of exactly the limit fails"
        );
        let refused = ScrapeRequest::new("http://127.0.0.1:1/m", "127.0.0.1:1", "/m", 1.0, None);
        assert_eq!(
            Client::new(plain())
                .get(&refused, None, &mut body)
                .await
                .unwrap_err()
                .to_string(),
            "Get \"http://127.0.0.1:1/m\": dial tcp 127.0.0.1:1: connect: connection refused"
        );
    }

    #[test]
    fn gunzip_honours_the_limit() {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&[b'a'; 100]).unwrap();
        let gz = enc.finish().unwrap();
        let mut out = Vec::new();
        gunzip(&gz, None, &mut out).unwrap();
        assert_eq!(out.len(), 100);
        gunzip(&gz, Some(101), &mut out).unwrap();
        assert_eq!(
            gunzip(&gz, Some(100), &mut out),
            Err(ScrapeError::BodySizeLimit)
        );
        assert!(matches!(
            gunzip(b"not gzip", None, &mut out),
            Err(ScrapeError::Gzip(_))
        ));
    }
}
