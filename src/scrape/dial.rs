//! Opening a scrape connection as Go's `http.Transport` does for Prometheus: TCP to the
//! target, or to the `proxy_url` (absolute-URI requests for `http` targets, a `CONNECT`
//! tunnel for `https` ones), then TLS for `https` targets with the job's `tls_config`.
//! Error texts are Go's (`dial tcp ...: connect: connection refused`, `proxyconnect tcp: ...`,
//! `x509: certificate signed by unknown authority`).

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::config::HttpClientConfig;
use crate::proxy::{MAX_CONNECT_HEAD, Proxy, connect_answer};
use crate::tls_client::{self, ReloadingClientConfig};

/// A byte stream a scrape is sent over: plain TCP or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How one job's targets are reached. Built once per scrape pool; the TLS files are
/// re-read when they change (see [`ReloadingClientConfig`]).
#[derive(Debug)]
pub struct Dialer {
    tls: ReloadingClientConfig,
    proxy: Option<Proxy>,
}

impl Dialer {
    /// The dialer of a job; fails as Prometheus's "error creating HTTP client" (a CA file
    /// that cannot be read, a certificate without its key, ...).
    pub fn new(http: &HttpClientConfig) -> Result<Dialer, String> {
        let tls = ReloadingClientConfig::new(http.tls_config.clone()).map_err(|e| e.0)?;
        Ok(Dialer {
            tls,
            proxy: Proxy::new(http),
        })
    }

    /// Whether `http` requests go to a forwarding proxy (they then carry the absolute URL
    /// and [`Dialer::proxy_authorization`]).
    pub fn forwards_http(&self) -> bool {
        self.proxy.is_some()
    }

    /// The `Proxy-Authorization` value for plain-HTTP requests through the proxy.
    pub fn proxy_authorization(&self) -> Option<&str> {
        self.proxy.as_ref().and_then(Proxy::authorization)
    }

    /// Connects to `address` (`host:port`), through the proxy if any, with TLS when `https`.
    /// The error is the cause part of Go's `Get "<url>": <cause>`.
    pub async fn dial(&self, address: &str, https: bool) -> Result<Box<dyn Stream>, String> {
        let tcp = match &self.proxy {
            None => connect(address).await?,
            Some(p) => connect(&p.address)
                .await
                .map_err(|e| format!("proxyconnect tcp: {e}"))?,
        };
        if !https {
            return Ok(Box::new(tcp));
        }
        let mut tcp = tcp;
        if self.proxy.is_some() {
            self.tunnel(&mut tcp, address).await?;
        }
        let cfg = self.tls.get().map_err(|e| e.0)?;
        let name = tls_client::server_name(self.tls.tls_config(), address).map_err(|e| e.0)?;
        let stream = tokio_rustls::TlsConnector::from(Arc::clone(&cfg))
            .connect(name, tcp)
            .await
            .map_err(|e| tls_client::describe_error(&e))?;
        Ok(Box::new(stream))
    }

    /// `CONNECT address` on `tcp`; on a 200 the connection is a tunnel to the target.
    async fn tunnel(&self, tcp: &mut TcpStream, address: &str) -> Result<(), String> {
        let Some(proxy) = &self.proxy else {
            return Ok(());
        };
        tcp.write_all(proxy.connect_request(address).as_bytes())
            .await
            .map_err(|e| format!("proxyconnect tcp: {}", go_io(&e, false)))?;
        // Byte by byte, so that nothing after the head (the tunnel's first bytes) is eaten.
        let mut head = Vec::with_capacity(256);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > MAX_CONNECT_HEAD {
                return Err("proxyconnect tcp: response headers too long".into());
            }
            let b = tcp
                .read_u8()
                .await
                .map_err(|_| "proxyconnect tcp: unexpected EOF".to_owned())?;
            head.push(b);
        }
        connect_answer(&head)
    }
}

/// TCP connect with Go's error text.
async fn connect(address: &str) -> Result<TcpStream, String> {
    let conn = TcpStream::connect(address)
        .await
        .map_err(|e| format!("dial tcp {address}: {}", go_io(&e, true)))?;
    let _ = conn.set_nodelay(true);
    Ok(conn)
}

/// Go-like text of an I/O error (`connection refused`, `connection reset by peer`).
pub fn go_io(e: &std::io::Error, dial: bool) -> String {
    use std::io::ErrorKind;
    let tls = e
        .get_ref()
        .is_some_and(|i| i.downcast_ref::<rustls::Error>().is_some());
    let what = match e.kind() {
        _ if tls => tls_client::describe_error(e),
        ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        ErrorKind::ConnectionReset => "connection reset by peer".to_owned(),
        ErrorKind::BrokenPipe => "broken pipe".to_owned(),
        ErrorKind::UnexpectedEof => "unexpected EOF".to_owned(),
        _ => e.to_string(),
    };
    if dial {
        format!("connect: {what}")
    } else {
        what
    }
}
