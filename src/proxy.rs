//! `proxy_url` as Go's `http.Transport` uses it, shared by the scrape dialer (tokio,
//! src/scrape/dial.rs) and the blocking POST client (src/http_post.rs): an `http` request
//! goes to the proxy with the absolute URL and `Proxy-Authorization`; an `https` one opens a
//! `CONNECT host:port` tunnel (with `proxy_connect_header`) and speaks TLS through it. Only
//! the bytes live here; each caller does its own I/O.

use crate::config::HttpClientConfig;

/// Largest `CONNECT` response head accepted from a proxy.
pub const MAX_CONNECT_HEAD: usize = 16 << 10;

/// A configured proxy: where to connect and what to send it. `Debug` shows the address only.
#[derive(Clone)]
pub struct Proxy {
    /// `host:port` of the proxy.
    pub address: String,
    /// `Proxy-Authorization` value from the URL's user info (a secret).
    authorization: Option<String>,
    /// `proxy_connect_header` lines plus `Proxy-Authorization`, ready to send.
    connect_headers: String,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// The proxy of `http` (`None` without `proxy_url`).
    pub fn new(http: &HttpClientConfig) -> Option<Proxy> {
        let p = http.proxy_url.as_ref()?;
        let authorization = p.authorization.as_ref().map(|a| a.expose().to_owned());
        let mut connect_headers = String::new();
        for (name, values) in &http.proxy_connect_header {
            for v in values {
                connect_headers.push_str(&format!("{name}: {}\r\n", v.expose()));
            }
        }
        if let Some(a) = &authorization {
            connect_headers.push_str(&format!("Proxy-Authorization: {a}\r\n"));
        }
        Some(Proxy {
            address: p.address.clone(),
            authorization,
            connect_headers,
        })
    }

    /// The `Proxy-Authorization` value for plain-HTTP requests through the proxy.
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    /// The `CONNECT` request opening a tunnel to `address` (`host:port`).
    pub fn connect_request(&self, address: &str) -> String {
        format!(
            "CONNECT {address} HTTP/1.1\r\nHost: {address}\r\n{}\r\n",
            self.connect_headers
        )
    }
}

/// The verdict on a complete `CONNECT` response head (through its blank line): `Ok` on a 200,
/// else Go's error text (the status text after the code, as `Forbidden`).
pub fn connect_answer(head: &[u8]) -> Result<(), String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err("proxyconnect tcp: malformed HTTP response".into()),
    }
    match resp.code {
        Some(200) => Ok(()),
        Some(_) => Err(resp.reason.unwrap_or("unknown status code").to_owned()),
        None => Err("unknown status code".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_request_and_answers() {
        let mut http = HttpClientConfig::default();
        assert!(Proxy::new(&http).is_none());
        http.proxy_url = Some(
            crate::config::http_client::ProxyUrl::parse("http://u:pw@proxy.local:3128").unwrap(),
        );
        http.proxy_connect_header = vec![(
            "X-Tenant".into(),
            vec![crate::config::http_client::Secret::new("a")],
        )];
        let p = Proxy::new(&http).unwrap();
        assert_eq!(p.address, "proxy.local:3128");
        assert_eq!(p.authorization(), Some("Basic dTpwdw=="));
        assert_eq!(
            p.connect_request("t:443"),
            "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\nX-Tenant: a\r\nProxy-Authorization: Basic dTpwdw==\r\n\r\n"
        );
        assert_eq!(
            connect_answer(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Ok(())
        );
        assert_eq!(
            connect_answer(b"HTTP/1.1 403 Forbidden\r\n\r\n"),
            Err("Forbidden".into())
        );
        assert!(connect_answer(b"nonsense\r\n\r\n").is_err());
    }
}
