//! A minimal blocking HTTP/1.1 client for measurements: one request per connection, exact
//! body byte counts (chunked or not, compressed bytes as sent), time to the last byte, and a
//! streaming sink so a 100 MB body need not be kept.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What a request returned.
#[derive(Debug, Default)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Response headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes as transferred (after de-chunking, before any decompression).
    pub body_bytes: u64,
    /// Time from connect to the last body byte.
    pub elapsed: Duration,
}

impl Response {
    /// First header value named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Percent-encodes a query component (everything but unreserved characters).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/federate?match[]=..&match[]=..` for the given selectors (none: bare `/federate`).
pub fn federate_path(selectors: &[String]) -> String {
    let q: Vec<String> = selectors
        .iter()
        .map(|s| format!("match%5B%5D={}", encode_component(s)))
        .collect();
    if q.is_empty() {
        "/federate".to_string()
    } else {
        format!("/federate?{}", q.join("&"))
    }
}

/// Sends `GET path` with extra headers; body chunks are passed to `sink` as they arrive.
pub fn get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
    sink: &mut dyn FnMut(&[u8]),
) -> io::Result<Response> {
    let start = Instant::now();
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    (&stream).write_all(req.as_bytes())?;
    let mut r = BufReader::with_capacity(256 * 1024, stream);
    let mut resp = read_head(&mut r)?;
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = resp
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut counted = |b: &[u8]| {
        resp.body_bytes += b.len() as u64;
        sink(b);
    };
    if chunked {
        read_chunked(&mut r, &mut counted)?;
    } else if let Some(n) = length {
        copy_limited(&mut r, n, &mut counted)?;
    } else {
        copy_limited(&mut r, u64::MAX, &mut counted)?;
    }
    resp.elapsed = start.elapsed();
    Ok(resp)
}

/// [`get`] that keeps the body.
pub fn get_body(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> io::Result<(Response, Vec<u8>)> {
    let mut body = Vec::new();
    let resp = get(addr, path, headers, timeout, &mut |b| {
        body.extend_from_slice(b)
    })?;
    Ok((resp, body))
}

fn read_head(r: &mut impl BufRead) -> io::Result<Response> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {line:?}"),
            )
        })?;
    let mut resp = Response {
        status,
        ..Response::default()
    };
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            return Ok(resp);
        }
        if let Some((n, v)) = l.split_once(':') {
            resp.headers
                .push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
}

fn copy_limited(r: &mut impl BufRead, mut n: u64, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
    while n > 0 {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            if n == u64::MAX {
                return Ok(());
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let take = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        sink(&buf[..take]);
        r.consume(take);
        if n != u64::MAX {
            n -= take as u64;
        }
    }
    Ok(())
}

fn read_chunked(r: &mut impl BufRead, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let size_hex = line.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size_hex, 16).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad chunk size {line:?}"),
            )
        })?;
        if size == 0 {
            // Trailers until the empty line.
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(());
                }
            }
        }
        copy_limited(r, size, sink)?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
    }
}

/// Counts sample lines (lines not starting with `#`) of a streamed exposition body.
#[derive(Debug, Default)]
pub struct LineCounter {
    at_line_start: bool,
    started: bool,
    /// Sample lines seen so far.
    pub samples: u64,
}

impl LineCounter {
    /// Feeds the next body bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if !self.started || self.at_line_start {
                self.started = true;
                if b != b'#' && b != b'\n' {
                    self.samples += 1;
                }
            }
            self.at_line_start = b == b'\n';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::thread;

    fn serve_once(raw: &'static [u8]) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            s.write_all(raw).unwrap();
        });
        addr
    }

    #[test]
    fn reads_chunked_and_length_bodies() {
        let cases: [(&'static [u8], u16, &str); 3] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, "hello"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
                200,
                "abcde",
            ),
            (b"HTTP/1.1 400 Bad Request\r\n\r\nbad\n", 400, "bad\n"),
        ];
        for (raw, status, body) in cases {
            let addr = serve_once(raw);
            let (resp, got) = get_body(addr, "/x", &[], Duration::from_secs(5)).unwrap();
            assert_eq!(resp.status, status);
            assert_eq!(String::from_utf8(got).unwrap(), body);
            assert_eq!(resp.body_bytes, body.len() as u64);
        }
    }

    #[test]
    fn counts_sample_lines_across_chunks() {
        let body = "# TYPE a untyped\na 1 2\na{x=\"#\"} 1 2\n# TYPE b untyped\nb 3 4\n";
        for split in 0..body.len() {
            let mut c = LineCounter::default();
            c.feed(&body.as_bytes()[..split]);
            c.feed(&body.as_bytes()[split..]);
            assert_eq!(c.samples, 3, "split at {split}");
        }
    }

    #[test]
    fn federate_paths_encode_selectors() {
        let cases = [
            (vec![], "/federate"),
            (
                vec![r#"{a="b c"}"#.to_string()],
                "/federate?match%5B%5D=%7Ba%3D%22b%20c%22%7D",
            ),
            (
                vec!["up".to_string(), "x".to_string()],
                "/federate?match%5B%5D=up&match%5B%5D=x",
            ),
        ];
        for (sel, want) in cases {
            assert_eq!(federate_path(&sel), want);
        }
    }
}
