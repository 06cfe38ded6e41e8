//! A small blocking HTTP/1.1 client for POSTs from dedicated threads (the remote-write
//! sender's shards, the Alertmanager notifier): plain TCP or TLS through the shared rustls
//! client configuration (src/tls_client.rs, the one scrapes use), directly or through a
//! `proxy_url` (src/proxy.rs, as scrapes), keep-alive connections pooled per endpoint. Those callers run on their own threads, so blocking sockets with
//! timeouts are simpler than the scrape client's tokio streams, and need no second HTTP stack.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::config::HttpClientConfig;
use crate::proxy::{MAX_CONNECT_HEAD, Proxy, connect_answer};
use crate::tls_client::{self, ReloadingClientConfig};

/// Most bytes of a response head.
const MAX_HEAD: usize = 64 << 10;
/// Most body bytes read (error texts are cut to the first line anyway).
const MAX_BODY: u64 = 1 << 20;

/// Where requests go: parsed once from the URL.
#[derive(Debug)]
pub struct Target {
    https: bool,
    /// `host:port` to connect to.
    address: String,
    /// The `Host` header.
    host: String,
    /// Path and query.
    path: String,
}

impl Target {
    /// Parses an absolute `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Target, String> {
        let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(format!("{url:?}: not an http:// or https:// URL"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        if authority.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let has_port = match authority.rfind(':') {
            Some(i) => !authority[i..].contains(']'),
            None => false,
        };
        let address = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:{}", if https { 443 } else { 80 })
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        Ok(Target {
            https,
            address,
            host: authority.to_owned(),
            path,
        })
    }
}

/// A connection: TCP or TLS over TCP.
enum Conn {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>>),
}

impl Conn {
    fn reader(&mut self) -> &mut dyn BufRead {
        match self {
            Conn::Plain(r) => r,
            Conn::Tls(r) => r.as_mut(),
        }
    }

    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Plain(r) => r.get_mut().write_all(b),
            Conn::Tls(r) => {
                let s = r.get_mut();
                s.write_all(b)?;
                s.flush()
            }
        }
    }
}

/// An answer: status, `Retry-After`, the start of the body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The body (at most 1 MiB).
    pub body: Vec<u8>,
}

/// A client for one target with a pool of idle keep-alive connections.
pub struct Client {
    target: Target,
    tls: Option<ReloadingClientConfig>,
    proxy: Option<Proxy>,
    timeout: Duration,
    idle: Mutex<Vec<Conn>>,
}

impl Client {
    /// A client for `url` with `http`'s `tls_config` (used for `https`; its files are re-read
    /// when they change) and `proxy_url`.
    pub fn new(url: &str, http: &HttpClientConfig, timeout: Duration) -> Result<Client, String> {
        let target = Target::parse(url)?;
        let tls = if target.https {
            Some(ReloadingClientConfig::new(http.tls_config.clone()).map_err(|e| e.0)?)
        } else {
            None
        };
        Ok(Client {
            target,
            tls,
            proxy: Proxy::new(http),
            timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// POSTs `body` with `headers` (name, value); network and protocol failures are `Err`
    /// with Go-like text. A reused connection the server closed meanwhile is retried once on
    /// a new one.
    pub fn post(&self, headers: &[(&str, &str)], body: &[u8]) -> Result<Answer, String> {
        let mut head = String::with_capacity(256);
        match &self.proxy {
            // Through a forwarding proxy an http request names the whole URL (Go's transport).
            Some(p) if !self.target.https => {
                head.push_str(&format!(
                    "POST http://{}{} HTTP/1.1\r\n",
                    self.target.host, self.target.path
                ));
                if let Some(a) = p.authorization() {
                    head.push_str(&format!("Proxy-Authorization: {a}\r\n"));
                }
            }
            _ => head.push_str(&format!("POST {} HTTP/1.1\r\n", self.target.path)),
        }
        head.push_str(&format!(
            "Host: {}\r\nContent-Length: {}\r\n",
            self.target.host,
            body.len()
        ));
        for (k, v) in headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let reused = self.idle.lock().pop();
        if let Some(mut c) = reused
            && let Ok((a, reusable)) = self.exchange(&mut c, head.as_bytes(), body)
        {
            if reusable {
                self.idle.lock().push(c);
            }
            return Ok(a);
        }
        let mut c = self.dial()?;
        let (a, reusable) = self.exchange(&mut c, head.as_bytes(), body)?;
        if reusable {
            self.idle.lock().push(c);
        }
        Ok(a)
    }

    fn dial(&self) -> Result<Conn, String> {
        let address = &self.target.address;
        let mut tcp = match &self.proxy {
            None => self.connect(address)?,
            Some(p) => self
                .connect(&p.address)
                .map_err(|e| format!("proxyconnect tcp: {e}"))?,
        };
        let Some(tls) = &self.tls else {
            return Ok(Conn::Plain(BufReader::with_capacity(16 << 10, tcp)));
        };
        if let Some(p) = &self.proxy {
            tunnel(&mut tcp, p, address)?;
        }
        // TLS through the shared builder: the same verification and wording as https scrapes.
        let cfg = tls.get().map_err(|e| e.0)?;
        let name = tls_client::server_name(tls.tls_config(), address).map_err(|e| e.0)?;
        let conn = rustls::ClientConnection::new(Arc::clone(&cfg), name)
            .map_err(|e| format!("tls: {e}"))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        // Handshake now, so that its failure reads as one (not as a write error).
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| tls_client::describe_error(&e))?;
        }
        Ok(Conn::Tls(Box::new(BufReader::with_capacity(
            16 << 10,
            stream,
        ))))
    }

    /// A TCP connection to `address` with the client's timeouts; Go's `dial tcp` errors.
    fn connect(&self, address: &str) -> Result<TcpStream, String> {
        let addrs: Vec<_> = address
            .to_socket_addrs()
            .map_err(|e| format!("dial tcp {address}: {e}"))?
            .collect();
        let mut last = format!("dial tcp {address}: no address");
        let mut tcp = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => {
                    last = format!(
                        "dial tcp {address}: {}",
                        crate::scrape::dial::go_io(&e, true)
                    )
                }
            }
        }
        let tcp = tcp.ok_or(last)?;
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(self.timeout))
            .and_then(|()| tcp.set_write_timeout(Some(self.timeout)))
            .map_err(|e| e.to_string())?;
        Ok(tcp)
    }

    /// One request and its answer on `c`; also whether `c` may be reused.
    fn exchange(&self, c: &mut Conn, head: &[u8], body: &[u8]) -> Result<(Answer, bool), String> {
        let io = |e: std::io::Error| tls_client::describe_error(&e);
        c.write_all(&[head, body].concat()).map_err(io)?;
        let r = c.reader();
        let mut raw = Vec::with_capacity(256);
        while !raw.ends_with(b"\r\n\r\n") {
            let n = r.read_until(b'\n', &mut raw).map_err(io)?;
            if n == 0 {
                return Err("EOF".into());
            }
            if raw.len() > MAX_HEAD {
                return Err("server response headers exceeded the limit".into());
            }
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        if !matches!(resp.parse(&raw), Ok(httparse::Status::Complete(_))) {
            return Err("malformed HTTP response".into());
        }
        let status = resp.code.unwrap_or(0);
        let header = |name: &str| {
            resp.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after");
        let chunked =
            header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let length: Option<u64> = header("content-length").and_then(|v| v.trim().parse().ok());
        let mut body = Vec::new();
        if status == 204 || status == 304 || (100..200).contains(&status) {
            // No body by definition (Prometheus answers a write with 204 and no length).
        } else if chunked {
            read_chunked(r, &mut body).map_err(io)?;
        } else if let Some(n) = length {
            if n > MAX_BODY {
                return Err("response body too large".into());
            }
            body.resize(n as usize, 0);
            r.read_exact(&mut body).map_err(io)?;
        } else {
            // Until close: read what fits; the connection is not reused.
            r.take(MAX_BODY).read_to_end(&mut body).map_err(io)?;
            return Ok((
                Answer {
                    status,
                    retry_after,
                    body,
                },
                false,
            ));
        }
        let reusable = !header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        Ok((
            Answer {
                status,
                retry_after,
                body,
            },
            reusable,
        ))
    }
}

/// `CONNECT address` through `proxy` on `tcp`; on a 200 the connection is a tunnel to it.
fn tunnel(tcp: &mut TcpStream, proxy: &Proxy, address: &str) -> Result<(), String> {
    tcp.write_all(proxy.connect_request(address).as_bytes())
        .map_err(|e| {
            format!(
                "proxyconnect tcp: {}",
                crate::scrape::dial::go_io(&e, false)
            )
        })?;
    // Byte by byte, so that nothing after the head (the tunnel's first bytes) is eaten.
    let mut head = Vec::with_capacity(256);
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_CONNECT_HEAD {
            return Err("proxyconnect tcp: response headers too long".into());
        }
        tcp.read_exact(&mut b)
            .map_err(|_| "proxyconnect tcp: unexpected EOF".to_owned())?;
        head.push(b[0]);
    }
    connect_answer(&head)
}

/// Reads a chunked body (at most [`MAX_BODY`] bytes kept).
fn read_chunked(r: &mut dyn BufRead, out: &mut Vec<u8>) -> std::io::Result<()> {
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| std::io::Error::other("bad chunk size"))?;
        if size == 0 {
            // Trailers until the empty line.
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(());
                }
            }
        }
        let mut chunk = vec![0; size + 2];
        r.read_exact(&mut chunk)?;
        if (out.len() as u64) < MAX_BODY {
            out.extend_from_slice(&chunk[..size]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server answering each request on a connection with the next canned response;
    /// returns its URL and how many connections it accepted.
    fn canned(
        answers: Vec<&'static str>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/w", l.local_addr().expect("addr"));
        let conns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = conns.clone();
        std::thread::spawn(move || {
            let mut answers = answers.into_iter();
            for c in l.incoming().flatten() {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut r = BufReader::new(c.try_clone().expect("clone"));
                let mut w = c;
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    loop {
                        line.clear();
                        r.read_line(&mut line).expect("header");
                        if line.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().expect("length");
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).expect("body");
                    let Some(a) = answers.next() else { return };
                    w.write_all(a.as_bytes()).expect("write");
                    if a.contains("Connection: close") {
                        break;
                    }
                }
            }
        });
        (url, conns)
    }

    #[test]
    fn answers_without_length_chunked_and_until_close() {
        let (url, conns) = canned(vec![
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nout o\r\n7\r\nf order\r\n0\r\n\r\n",
            "HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\nno",
            "HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\nclosing body",
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ]);
        let c = Client::new(&url, &HttpClientConfig::default(), Duration::from_secs(5))
            .expect("client");
        let a = c.post(&[("X", "1")], b"abc").expect("204");
        assert_eq!((a.status, a.body.len()), (204, 0));
        let a = c.post(&[], b"abc").expect("chunked");
        assert_eq!(
            (a.status, a.body.as_slice()),
            (400, b"out of order".as_slice())
        );
        let a = c.post(&[], b"").expect("429");
        assert_eq!((a.status, a.retry_after.as_deref()), (429, Some("7")));
        let a = c.post(&[], b"x").expect("until close");
        assert_eq!(
            (a.status, a.body.as_slice()),
            (500, b"closing body".as_slice())
        );
        assert_eq!(
            conns.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "kept alive so far"
        );
        let a = c.post(&[], b"x").expect("new connection");
        assert_eq!(a.status, 200);
        assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 2);
        let refused = Client::new(
            "http://127.0.0.1:1/w",
            &HttpClientConfig::default(),
            Duration::from_secs(1),
        )
        .expect("client")
        .post(&[], b"")
        .expect_err("refused");
        assert!(refused.starts_with("dial tcp 127.0.0.1:1: "), "{refused}");
    }

    /// Through `proxy_url` (the notifier's path as well as the sender's): an http target gets
    /// the absolute URL and `Proxy-Authorization`, sent to the proxy's address.
    #[test]
    fn posts_through_a_proxy_in_absolute_form() {
        use std::io::{BufRead, BufReader, Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let proxy = l.local_addr().expect("addr");
        let head = std::thread::spawn(move || {
            let (c, _) = l.accept().expect("accept");
            let mut r = BufReader::new(c.try_clone().expect("clone"));
            let mut lines = Vec::new();
            loop {
                let mut line = String::new();
                r.read_line(&mut line).expect("line");
                if line == "\r\n" {
                    break;
                }
                lines.push(line.trim_end().to_owned());
            }
            let mut body = [0u8; 3];
            r.read_exact(&mut body).expect("body");
            let mut w = c;
            w.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .expect("write");
            lines
        });
        let mut http = HttpClientConfig {
            proxy_url: Some(
                crate::config::http_client::ProxyUrl::parse(&format!("http://u:pw@{proxy}"))
                    .expect("proxy url"),
            ),
            ..HttpClientConfig::default()
        };
        let c = Client::new(
            "http://am.example:9093/api/v2/alerts",
            &http,
            Duration::from_secs(5),
        )
        .expect("client");
        assert_eq!(c.post(&[], b"[1]").expect("posted").status, 204);
        let lines = head.join().expect("proxy thread");
        assert_eq!(
            lines[0],
            "POST http://am.example:9093/api/v2/alerts HTTP/1.1"
        );
        assert!(
            lines.contains(&"Proxy-Authorization: Basic dTpwdw==".to_owned()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"Host: am.example:9093".to_owned()),
            "{lines:?}"
        );
        // An unreachable proxy fails as Go's transport words it.
        http.proxy_url =
            Some(crate::config::http_client::ProxyUrl::parse("http://127.0.0.1:1").expect("url"));
        let e = Client::new("http://am.example/x", &http, Duration::from_secs(1))
            .expect("client")
            .post(&[], b"")
            .expect_err("refused");
        assert!(
            e.starts_with("proxyconnect tcp: dial tcp 127.0.0.1:1: "),
            "{e}"
        );
    }

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:9009/api/v1/push").unwrap();
        assert_eq!(
            (t.https, t.address.as_str(), t.path.as_str()),
            (false, "127.0.0.1:9009", "/api/v1/push")
        );
        let t = Target::parse("https://mimir.example/api/v1/push?x=1").unwrap();
        assert_eq!(
            (t.https, t.address.as_str(), t.host.as_str()),
            (true, "mimir.example:443", "mimir.example")
        );
        assert_eq!(t.path, "/api/v1/push?x=1");
        let t = Target::parse("http://[::1]:8480").unwrap();
        assert_eq!((t.address.as_str(), t.path.as_str()), ("[::1]:8480", "/"));
        let t = Target::parse("http://[::1]/w").unwrap();
        assert_eq!(t.address, "[::1]:80");
        assert!(Target::parse("ftp://x/").is_err());
        assert!(Target::parse("http:///x").is_err());
    }
}
