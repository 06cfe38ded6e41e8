//! The HTTP client fields of a scrape config (prometheus/common v0.39.0 `HTTPClientConfig`,
//! inlined into `scrape_configs` entries): `basic_auth`, `authorization`, the legacy
//! `bearer_token`/`bearer_token_file`, `tls_config`, `proxy_url`, `proxy_connect_header`,
//! `follow_redirects`, `enable_http2`. Validation and the bearer-token folding follow
//! `HTTPClientConfig.Validate`; [`crate::tls_client`] turns `tls_config` into rustls.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::yaml;

/// A secret from the configuration; `Debug` does not print it (Prometheus shows `<secret>`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `s`.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret text, for building a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (unset).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// `basic_auth`: at most one of `password` and `password_file` is set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The user name.
    #[serde(default, deserialize_with = "yaml::string")]
    pub username: String,
    /// The password, when given inline.
    #[serde(default, deserialize_with = "secret")]
    pub password: Secret,
    /// A file holding the password (read at scrape time; relative paths are resolved against
    /// the configuration file's directory by `Config::load`).
    #[serde(default, deserialize_with = "path")]
    pub password_file: Option<PathBuf>,
}

/// `authorization` (also what `bearer_token`/`bearer_token_file` become): sends
/// `Authorization: <type> <credentials>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// The scheme, `Bearer` when unset (whitespace trimmed); never `basic`.
    #[serde(default, rename = "type", deserialize_with = "yaml::string")]
    pub kind: String,
    /// The credentials, when given inline.
    #[serde(default, deserialize_with = "secret")]
    pub credentials: Secret,
    /// A file holding the credentials (read at scrape time).
    #[serde(default, deserialize_with = "path")]
    pub credentials_file: Option<PathBuf>,
}

/// `tls_config` (v0.39.0 fields), used by [`crate::tls_client::client_config`].
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA certificate file to verify the target with.
    #[serde(default, deserialize_with = "path")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate file.
    #[serde(default, deserialize_with = "path")]
    pub cert_file: Option<PathBuf>,
    /// Client key file.
    #[serde(default, deserialize_with = "path")]
    pub key_file: Option<PathBuf>,
    /// Server name to verify instead of the target host.
    #[serde(default, deserialize_with = "yaml::string")]
    pub server_name: String,
    /// Skip certificate verification.
    #[serde(default, deserialize_with = "yaml::bool")]
    pub insecure_skip_verify: bool,
    /// Minimum TLS version (`TLS10`..`TLS13`), empty when unset.
    #[serde(default, deserialize_with = "tls_version")]
    pub min_version: String,
    /// Maximum TLS version (`TLS10`..`TLS13`), empty when unset.
    #[serde(default, deserialize_with = "tls_version")]
    pub max_version: String,
}

/// The HTTP client settings of one scrape config, validated and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpClientConfig {
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// `Authorization` header; `bearer_token`/`bearer_token_file` are folded in here as
    /// `type: Bearer`, as Prometheus does.
    pub authorization: Option<Authorization>,
    /// TLS settings.
    pub tls_config: TlsConfig,
    /// Follow HTTP 3xx redirects (default true).
    pub follow_redirects: bool,
    /// Allow HTTP/2 (default true).
    pub enable_http2: bool,
    /// `proxy_url`: an `http://` proxy (CONNECT for https targets, absolute-URI requests for
    /// http ones).
    pub proxy_url: Option<ProxyUrl>,
    /// `proxy_connect_header`: headers sent with CONNECT (values are secrets).
    pub proxy_connect_header: Vec<(String, Vec<Secret>)>,
}

/// A parsed `proxy_url`. `Debug` hides the password as Go's `URL.Redacted` does.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// `host:port` to connect to (port 80 when absent).
    pub address: String,
    /// `Basic ...` value of `Proxy-Authorization`, from the URL's user info.
    pub authorization: Option<Secret>,
    redacted: String,
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl ProxyUrl {
    /// Parses `http://[user[:password]@]host[:port][/]`. Other schemes (Go also has `https`
    /// and `socks5` proxies) are refused with a message saying so.
    pub fn parse(text: &str) -> Result<ProxyUrl, String> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!(
                "proxy_url {text:?}: missing scheme (http://host:port)"
            ));
        };
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!(
                "proxy_url {:?}: scheme {scheme:?} is not supported by fedstore (http only)",
                redact(text)
            ));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(format!("proxy_url {:?}: no host", redact(text)));
        }
        let has_port = match host.strip_prefix('[') {
            Some(v6) => v6.split_once(']').is_some_and(|(_, p)| p.starts_with(':')),
            None => host.contains(':'),
        };
        let address = if has_port {
            host.to_owned()
        } else {
            format!("{host}:80")
        };
        let authorization = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let mut token = String::new();
            base64_encode(
                format!("{}:{}", percent_decode(user), percent_decode(pass)).as_bytes(),
                &mut token,
            );
            Secret::new(format!("Basic {token}"))
        });
        Ok(ProxyUrl {
            address,
            authorization,
            redacted: redact(text),
        })
    }
}

/// The URL with its password replaced by `xxxxx` (Go's `URL.Redacted`).
fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:xxxxx@{host}{}", &rest[end..]),
            None => text.to_owned(),
        },
        None => text.to_owned(),
    }
}

/// `%XX` decoding of URL user info (invalid escapes are kept as written).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
            proxy_url: None,
            proxy_connect_header: Vec::new(),
        }
    }
}

/// The raw fields, before validation (taken out of a section's raw struct declared with
/// [`raw_with_http_client!`]).
#[derive(Debug, Default)]
pub(crate) struct RawHttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub bearer_token: Secret,
    pub bearer_token_file: Option<PathBuf>,
    pub tls_config: Option<TlsConfig>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
    pub oauth2: Option<serde_yaml_ng::Value>,
    pub proxy_url: Option<String>,
    pub proxy_connect_header: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// Declares a section's raw (serde) struct with prometheus/common's inlined
/// `HTTPClientConfig` fields spliced in after its own, and `take_http_client` to hand them to
/// [`RawHttpClientConfig::validate`]. serde's `flatten` cannot be used: it disables
/// `deny_unknown_fields`, and an unknown key must stay an error naming it.
macro_rules! raw_with_http_client {
    ($(#[$attr:meta])* struct $name:ident { $($body:tt)* }) => {
        $(#[$attr])*
        struct $name {
            $($body)*
            #[serde(default)]
            basic_auth: Option<$crate::config::http_client::BasicAuth>,
            #[serde(default)]
            authorization: Option<$crate::config::http_client::Authorization>,
            #[serde(default, deserialize_with = "crate::config::http_client::secret")]
            bearer_token: $crate::config::http_client::Secret,
            #[serde(default, deserialize_with = "crate::config::http_client::path")]
            bearer_token_file: Option<std::path::PathBuf>,
            #[serde(default)]
            tls_config: Option<$crate::config::http_client::TlsConfig>,
            #[serde(default, deserialize_with = "crate::config::http_client::opt_bool")]
            follow_redirects: Option<bool>,
            #[serde(default, deserialize_with = "crate::config::http_client::opt_bool")]
            enable_http2: Option<bool>,
            // Recognised so that the error says "not supported" instead of "unknown field".
            #[serde(default)]
            oauth2: Option<serde_yaml_ng::Value>,
            #[serde(default, deserialize_with = "crate::config::yaml::opt_string")]
            proxy_url: Option<String>,
            #[serde(default)]
            proxy_connect_header: Option<std::collections::BTreeMap<String, Vec<String>>>,
        }

        impl $name {
            /// Moves the HTTP client fields out, for validation.
            fn take_http_client(&mut self) -> $crate::config::http_client::RawHttpClientConfig {
                $crate::config::http_client::RawHttpClientConfig {
                    basic_auth: self.basic_auth.take(),
                    authorization: self.authorization.take(),
                    bearer_token: std::mem::take(&mut self.bearer_token),
                    bearer_token_file: self.bearer_token_file.take(),
                    tls_config: self.tls_config.take(),
                    follow_redirects: self.follow_redirects.take(),
                    enable_http2: self.enable_http2.take(),
                    oauth2: self.oauth2.take(),
                    proxy_url: self.proxy_url.take(),
                    proxy_connect_header: self.proxy_connect_header.take(),
                }
            }
        }
    };
}
pub(crate) use raw_with_http_client;

/// A YAML boolean (Go's spellings) that may be absent.
pub(crate) fn opt_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    yaml::bool(d).map(Some)
}

impl RawHttpClientConfig {
    /// `HTTPClientConfig.Validate`, in its order and with its messages; `oauth2` is refused
    /// as unsupported.
    pub fn validate(self) -> Result<HttpClientConfig, String> {
        if self.oauth2.is_some() {
            return Err("oauth2 is not supported by fedstore".to_owned());
        }
        let has_bearer = !self.bearer_token.is_empty() || self.bearer_token_file.is_some();
        if !self.bearer_token.is_empty() && self.bearer_token_file.is_some() {
            return Err(
                "at most one of bearer_token & bearer_token_file must be configured".into(),
            );
        }
        if self.basic_auth.is_some() && has_bearer {
            return Err(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
                    .into(),
            );
        }
        if let Some(b) = &self.basic_auth
            && !b.password.is_empty()
            && b.password_file.is_some()
        {
            return Err(
                "at most one of basic_auth password & password_file must be configured".into(),
            );
        }
        let mut authorization = self.authorization;
        if let Some(a) = &mut authorization {
            if has_bearer {
                return Err(
                    "authorization is not compatible with bearer_token & bearer_token_file".into(),
                );
            }
            if !a.credentials.is_empty() && a.credentials_file.is_some() {
                return Err(
                    "at most one of authorization credentials & credentials_file must be configured"
                        .into(),
                );
            }
            a.kind = a.kind.trim().to_owned();
            if a.kind.is_empty() {
                a.kind = "Bearer".to_owned();
            }
            if a.kind.eq_ignore_ascii_case("basic") {
                return Err(
                    r#"authorization type cannot be set to "basic", use "basic_auth" instead"#
                        .into(),
                );
            }
            if self.basic_auth.is_some() {
                return Err(
                    "at most one of basic_auth, oauth2 & authorization must be configured".into(),
                );
            }
        } else if !self.bearer_token.is_empty() {
            authorization = Some(Authorization {
                kind: "Bearer".to_owned(),
                credentials: self.bearer_token,
                credentials_file: None,
            });
        } else if let Some(file) = self.bearer_token_file {
            authorization = Some(Authorization {
                kind: "Bearer".to_owned(),
                credentials: Secret::default(),
                credentials_file: Some(file),
            });
        }
        let proxy_url = match self.proxy_url.as_deref() {
            None | Some("") => None,
            Some(u) => Some(ProxyUrl::parse(u)?),
        };
        let proxy_connect_header: Vec<(String, Vec<Secret>)> = self
            .proxy_connect_header
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().map(Secret::new).collect()))
            .collect();
        if !proxy_connect_header.is_empty() && proxy_url.is_none() {
            return Err(
                "if proxy_connect_header is configured proxy_url must also be configured".into(),
            );
        }
        Ok(HttpClientConfig {
            basic_auth: self.basic_auth,
            authorization,
            tls_config: self.tls_config.unwrap_or_default(),
            follow_redirects: self.follow_redirects.unwrap_or(true),
            enable_http2: self.enable_http2.unwrap_or(true),
            proxy_url,
            proxy_connect_header,
        })
    }
}

impl HttpClientConfig {
    /// The `Authorization` header value to send, if any, as prometheus/common v0.39.0's round
    /// trippers build it: `Basic base64(user:password)` or `<type> <credentials>`. Secret files
    /// are read on every call (Prometheus re-reads them per request) and trimmed of whitespace;
    /// the error is Prometheus's text, e.g. `unable to read basic auth password file pw: ...`.
    pub fn authorization_header(&self) -> Result<Option<String>, String> {
        if let Some(b) = &self.basic_auth {
            let password = match &b.password_file {
                Some(file) => read_secret(file, "basic auth password")?,
                None => b.password.expose().trim().to_owned(),
            };
            let mut token = String::new();
            base64_encode(format!("{}:{password}", b.username).as_bytes(), &mut token);
            return Ok(Some(format!("Basic {token}")));
        }
        let Some(a) = &self.authorization else {
            return Ok(None);
        };
        if !a.credentials.is_empty() {
            return Ok(Some(format!("{} {}", a.kind, a.credentials.expose())));
        }
        match &a.credentials_file {
            Some(file) => {
                let credentials = read_secret(file, "authorization credentials")?;
                Ok(Some(format!("{} {credentials}", a.kind)))
            }
            None => Ok(None),
        }
    }

    /// Resolves relative file paths against `dir` (Prometheus `SetDirectory`).
    pub fn set_directory(&mut self, dir: &Path) {
        if let Some(b) = &mut self.basic_auth {
            join_dir(dir, &mut b.password_file);
        }
        if let Some(a) = &mut self.authorization {
            join_dir(dir, &mut a.credentials_file);
        }
        let tls = &mut self.tls_config;
        for p in [&mut tls.ca_file, &mut tls.cert_file, &mut tls.key_file] {
            join_dir(dir, p);
        }
    }
}

fn read_secret(file: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(file)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("unable to read {what} file {}: {e}", file.display()))
}

/// Standard base64 with padding (RFC 4648), as Go's `base64.StdEncoding` in `SetBasicAuth`.
fn base64_encode(input: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
}

/// Prometheus `config.JoinDir`: relative, non-empty paths are joined to `dir`.
pub(crate) fn join_dir(dir: &Path, p: &mut Option<PathBuf>) {
    if let Some(path) = p
        && !path.as_os_str().is_empty()
        && path.is_relative()
    {
        *path = dir.join(&*path);
    }
}

pub(crate) fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    yaml::string(d).map(Secret)
}

/// A file path; empty (or `key:`) is unset.
pub(crate) fn path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let s = yaml::string(d)?;
    Ok((!s.is_empty()).then(|| PathBuf::from(s)))
}

fn tls_version<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = yaml::string(d)?;
    match s.as_str() {
        "" | "TLS10" | "TLS11" | "TLS12" | "TLS13" => Ok(s),
        _ => Err(serde::de::Error::custom(format_args!(
            "unknown TLS version: {s}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        let p = ProxyUrl::parse("http://u%40x:p%3Ass@proxy.local:3128/").unwrap();
        assert_eq!(p.address, "proxy.local:3128");
        // base64("u@x:p:ss")
        assert_eq!(
            p.authorization.as_ref().map(Secret::expose),
            Some("Basic dUB4OnA6c3M=")
        );
        assert_eq!(format!("{p:?}"), "http://u%40x:xxxxx@proxy.local:3128/");
        let p = ProxyUrl::parse("http://[::1]").unwrap();
        assert_eq!(p.address, "[::1]:80");
        assert!(p.authorization.is_none());
        for (bad, want) in [
            ("proxy:3128", "missing scheme"),
            ("socks5://h:1", "not supported by fedstore"),
            ("https://user:pw@h:1", "https://user:xxxxx@h:1"),
            ("http:///x", "no host"),
        ] {
            let e = ProxyUrl::parse(bad).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn base64_table() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("user:pa ss", "dXNlcjpwYSBzcw=="),
            ("\u{ff}\u{fe}", "w7/Dvg=="),
        ];
        for (input, want) in cases {
            let mut out = String::new();
            base64_encode(input.as_bytes(), &mut out);
            assert_eq!(out, want, "{input:?}");
        }
    }

    #[test]
    fn authorization_headers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "  from-file\n").expect("write");
        let missing = dir.path().join("missing");
        let basic = |password: &str, file: Option<&Path>| HttpClientConfig {
            basic_auth: Some(BasicAuth {
                username: "user".into(),
                password: Secret::new(password),
                password_file: file.map(Path::to_owned),
            }),
            ..HttpClientConfig::default()
        };
        let authz = |kind: &str, credentials: &str, file: Option<&Path>| HttpClientConfig {
            authorization: Some(Authorization {
                kind: kind.into(),
                credentials: Secret::new(credentials),
                credentials_file: file.map(Path::to_owned),
            }),
            ..HttpClientConfig::default()
        };
        type Case<'a> = (&'a str, HttpClientConfig, Result<Option<String>, String>);
        let cases: Vec<Case<'_>> = vec![
            ("none", HttpClientConfig::default(), Ok(None)),
            (
                "basic",
                basic(" secret ", None),
                Ok(Some("Basic dXNlcjpzZWNyZXQ=".into())),
            ),
            (
                "basic, empty password",
                basic("", None),
                Ok(Some("Basic dXNlcjo=".into())),
            ),
            (
                "basic from file",
                basic("", Some(&pw)),
                Ok(Some("Basic dXNlcjpmcm9tLWZpbGU=".into())),
            ),
            (
                "bearer",
                authz("Bearer", "tok", None),
                Ok(Some("Bearer tok".into())),
            ),
            (
                "bearer from file",
                authz("Token", "", Some(&pw)),
                Ok(Some("Token from-file".into())),
            ),
            (
                "authorization without credentials",
                authz("Bearer", "", None),
                Ok(None),
            ),
        ];
        for (name, cfg, want) in cases {
            assert_eq!(cfg.authorization_header(), want, "{name}");
        }
        let err = basic("", Some(&missing))
            .authorization_header()
            .expect_err("missing file");
        assert!(
            err.starts_with("unable to read basic auth password file "),
            "{err}"
        );
        let err = authz("Bearer", "", Some(&missing))
            .authorization_header()
            .expect_err("missing");
        assert!(
            err.starts_with("unable to read authorization credentials file "),
            "{err}"
        );
    }
}
