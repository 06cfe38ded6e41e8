//! `--web.config.file`: TLS, basic auth and response headers for fedstore's own HTTP server,
//! in the exporter-toolkit format Prometheus 2.42 reads (`tls_server_config`,
//! `http_server_config`, `basic_auth_users`). Everything the server answers is behind it,
//! `/-/healthy` and `/-/ready` included, as in Prometheus.

pub mod auth;
pub mod reload;
pub mod tls;
pub mod tls_live;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The parsed web configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// TLS for the listener; absent: plain HTTP.
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
    /// Response headers and HTTP/2.
    #[serde(default)]
    pub http_server_config: HttpServerConfig,
    /// User name to bcrypt hash; non-empty: every request needs one of them.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    /// The file this was read from (set by [`WebConfig::load`]); the server follows its
    /// changes ([`reload::Live`]).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `tls_server_config`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// PEM certificate chain.
    #[serde(default)]
    pub cert_file: PathBuf,
    /// PEM private key.
    #[serde(default)]
    pub key_file: PathBuf,
    /// `NoClientCert` (default), `VerifyClientCertIfGiven` or `RequireAndVerifyClientCert`.
    #[serde(default)]
    pub client_auth_type: String,
    /// PEM CA certificates that client certificates are verified against.
    #[serde(default)]
    pub client_ca_file: PathBuf,
    /// `TLS12` (default) or `TLS13`.
    #[serde(default)]
    pub min_version: String,
    /// `TLS12` or `TLS13` (default).
    #[serde(default)]
    pub max_version: String,
    /// Go cipher suite names; accepted only when empty (see docs/configuration.md).
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    /// Accepted for compatibility; rustls picks the server's preference.
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
    /// Go curve names; accepted only when empty.
    #[serde(default)]
    pub curve_preferences: Vec<String>,
}

/// `http_server_config`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Accepted for compatibility (fedstore serves HTTP/1.1).
    #[serde(default)]
    pub http2: Option<bool>,
    /// Headers added to every response.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// The headers exporter-toolkit lets `http_server_config.headers` set.
pub const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// A web config that cannot be used, with what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML is invalid or has unknown fields.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value is not allowed.
    #[error("{0}")]
    Invalid(String),
}

impl WebConfig {
    /// Reads and validates `path`; relative file names inside are relative to its directory.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut cfg: WebConfig = if text.trim().is_empty() {
            WebConfig::default()
        } else {
            serde_yaml_ng::from_str(&text).map_err(|e| WebConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        if let Some(t) = &mut cfg.tls_server_config {
            for f in [&mut t.cert_file, &mut t.key_file, &mut t.client_ca_file] {
                if !f.as_os_str().is_empty() && f.is_relative() {
                    *f = dir.join(&*f);
                }
            }
        }
        cfg.validate()?;
        cfg.source = Some(path.to_owned());
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), WebConfigError> {
        let bad = |m: String| Err(WebConfigError::Invalid(m));
        for name in self.http_server_config.headers.keys() {
            if !ALLOWED_HEADERS.iter().any(|a| a.eq_ignore_ascii_case(name)) {
                return bad(format!(
                    "http_server_config.headers: {name:?} can't be set (allowed: {})",
                    ALLOWED_HEADERS.join(", ")
                ));
            }
        }
        for (user, hash) in &self.basic_auth_users {
            if !hash.starts_with("$2") {
                return bad(format!(
                    "basic_auth_users: the password of {user:?} is not a bcrypt hash"
                ));
            }
        }
        if let Some(t) = &self.tls_server_config {
            tls::validate(t)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_rejects_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let load = |yaml: &str| {
            let p = dir.path().join("web.yml");
            std::fs::write(&p, yaml).unwrap();
            WebConfig::load(&p)
        };
        let ok = load(
            "basic_auth_users:\n  alice: $2y$10$abc\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        )
        .unwrap();
        assert_eq!(ok.basic_auth_users["alice"], "$2y$10$abc");
        assert_eq!(ok.http_server_config.headers["X-Frame-Options"], "deny");
        assert!(load("").unwrap().tls_server_config.is_none());
        let bad: &[(&str, &str)] = &[
            ("unknown: 1\n", "unknown field"),
            ("basic_auth_users:\n  bob: plain\n", "not a bcrypt hash"),
            (
                "http_server_config:\n  headers:\n    Server: x\n",
                "\"Server\" can't be set",
            ),
            ("tls_server_config:\n  cert_file: a.pem\n", "key_file"),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
                "min_version TLS10",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
                "client_ca_file",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n",
                "client_auth_type \"Sometimes\"",
            ),
        ];
        for (yaml, want) in bad {
            let e = load(yaml).unwrap_err().to_string();
            assert!(e.contains(want), "{yaml:?}: {e}");
        }
    }
}
