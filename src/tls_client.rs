//! Client-side TLS from a `tls_config` block (prometheus/common v0.39 `TLSConfig`), for every
//! outgoing connection fedstore makes: scrapes, and the remote-write and Alertmanager senders.
//! rustls with the ring provider; no OpenSSL.
//!
//! The API is three items:
//! - [`client_config`] reads the files of a [`TlsConfig`] and builds an
//!   `Arc<rustls::ClientConfig>` (Go's `config.NewTLSConfig`);
//! - [`ReloadingClientConfig`] keeps one and rebuilds it when the CA, certificate or key file
//!   changes on disk (Go's `tlsRoundTripper`, which re-reads them on every request), so call
//!   [`ReloadingClientConfig::get`] each time a new connection is opened;
//! - [`server_name`] is the name to send (SNI) and verify: `server_name`, else the host of the
//!   address being dialled; [`describe_error`] words a handshake failure as Go does
//!   (`x509: certificate signed by unknown authority`), for `lastError` and logs.
//!
//! Go behaviours kept: with `ca_file` only that CA is trusted, otherwise the system bundle
//! (`SSL_CERT_FILE`, else the first of Go's well-known bundle paths); `cert_file` and `key_file`
//! go together; `insecure_skip_verify` skips the chain and name checks (handshake signatures
//! are still verified); `max_version` below `min_version` is refused. Differences: rustls has
//! no TLS 1.0/1.1, so `min_version: TLS10`/`TLS11` means TLS 1.2 and `max_version: TLS10`/`TLS11`
//! is refused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::config::TlsConfig;

/// A `tls_config` that cannot be turned into a client configuration. The text follows
/// prometheus/common (`unable to load specified CA cert <file>: ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsClientError(pub String);

/// Go's list of system CA bundle files on Linux (`crypto/x509/root_linux.go`), tried in order.
const SYSTEM_BUNDLES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

#[expect(
    deprecated,
    reason = "ring keeps the build lean (aws-lc-rs needs cmake), as for the server side"
)]
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The system roots, read once per process (Go caches them too).
fn system_roots() -> Arc<rustls::RootCertStore> {
    static ROOTS: OnceLock<Arc<rustls::RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
            let files = env
                .into_iter()
                .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from));
            for f in files {
                if let Ok(iter) = CertificateDer::pem_file_iter(&f) {
                    roots.add_parsable_certificates(iter.filter_map(Result::ok));
                    if !roots.is_empty() {
                        break;
                    }
                }
            }
            Arc::new(roots)
        })
        .clone()
}

/// `TLS10`..`TLS13` (empty: `default`) as 10..13.
fn version(v: &str, default: u8) -> Result<u8, TlsClientError> {
    match v {
        "" => Ok(default),
        "TLS10" => Ok(10),
        "TLS11" => Ok(11),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        other => Err(TlsClientError(format!("unknown TLS version: {other}"))),
    }
}

/// Builds the rustls client configuration for `tls`, reading its files now. Fails as
/// prometheus/common's `NewTLSConfig` does: unreadable or empty CA file, a certificate without
/// its key (or the reverse), an unusable key pair, `max_version` below `min_version`.
pub fn client_config(tls: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, TlsClientError> {
    let min = version(&tls.min_version, 12)?;
    let max = version(&tls.max_version, 13)?;
    if !tls.min_version.is_empty() && !tls.max_version.is_empty() && max < min {
        return Err(TlsClientError("tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified".into()));
    }
    if max < 12 {
        return Err(TlsClientError(format!(
            "tls_config.max_version {} is not supported by fedstore (TLS12 or TLS13)",
            tls.max_version
        )));
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min.max(12)..=max).contains(v))
            .map(|(_, p)| p)
            .collect();
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| TlsClientError(format!("tls_config: {e}")))?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let roots = match &tls.ca_file {
            Some(ca) => Arc::new(ca_roots(ca)?),
            None => system_roots(),
        };
        builder.with_root_certificates(roots)
    };
    let mut cfg = match (&tls.cert_file, &tls.key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), None) => {
            return Err(TlsClientError(format!(
                "client cert file {:?} specified without client key file",
                cert.display().to_string()
            )));
        }
        (None, Some(key)) => {
            return Err(TlsClientError(format!(
                "client key file {:?} specified without client cert file",
                key.display().to_string()
            )));
        }
        (Some(cert), Some(key)) => {
            let (chain, private) = key_pair(cert, key)?;
            builder.with_client_auth_cert(chain, private).map_err(|e| {
                TlsClientError(format!(
                    "unable to use specified client cert ({}) & key ({}): {e}",
                    cert.display(),
                    key.display()
                ))
            })?
        }
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

fn ca_roots(ca: &Path) -> Result<rustls::RootCertStore, TlsClientError> {
    let data = std::fs::read(ca).map_err(|e| {
        TlsClientError(format!(
            "unable to load specified CA cert {}: {e}",
            ca.display()
        ))
    })?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&data).filter_map(Result::ok));
    if roots.is_empty() {
        return Err(TlsClientError(format!(
            "unable to use specified CA cert {}",
            ca.display()
        )));
    }
    Ok(roots)
}

type KeyPair = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn key_pair(cert: &Path, key: &Path) -> Result<KeyPair, TlsClientError> {
    let unable = |verb: &str, e: &dyn std::fmt::Display| {
        TlsClientError(format!(
            "unable to {verb} specified client cert ({}) & key ({}): {e}",
            cert.display(),
            key.display()
        ))
    };
    let cert_pem = std::fs::read(cert).map_err(|e| unable("read", &e))?;
    let key_pem = std::fs::read(key).map_err(|e| unable("read", &e))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| unable("use", &e))?;
    if chain.is_empty() {
        return Err(unable(
            "use",
            &"tls: failed to find any PEM data in certificate input",
        ));
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| unable("use", &e))?;
    Ok((chain, private))
}

/// The name sent in SNI and checked against the certificate: `tls.server_name` when set,
/// otherwise the host of `address` (`host:port` or `[v6]:port`); an IP address is checked
/// against the certificate's IP SANs, as Go does.
pub fn server_name(tls: &TlsConfig, address: &str) -> Result<ServerName<'static>, TlsClientError> {
    let host = if tls.server_name.is_empty() {
        host_of(address)
    } else {
        tls.server_name.as_str()
    };
    ServerName::try_from(host.to_owned())
        .map_err(|_| TlsClientError(format!("tls: invalid server name {host:?}")))
}

/// The host part of `host:port`, `[v6]:port` or a bare host.
fn host_of(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((h, _)) if !h.contains(':') => h,
        _ => address,
    }
}

/// Go's wording of a failed TLS handshake (`x509: certificate signed by unknown authority`,
/// `remote error: tls: bad certificate`), from the I/O error tokio-rustls returns; other
/// errors keep their own text.
pub fn describe_error(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<TlsError>()) {
        Some(t) => describe_tls(t),
        None => e.to_string(),
    }
}

fn describe_tls(e: &TlsError) -> String {
    match e {
        TlsError::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => {
                "x509: certificate signed by unknown authority".to_owned()
            }
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => {
                let want = expected.to_str();
                let ip = matches!(expected, ServerName::IpAddress(_));
                // webpki presents `DnsName("x")` and `IpAddress(1.2.3.4)`; Go lists the
                // names of the kind it checked: IP SANs for an IP, DNS names otherwise.
                let names: Vec<&str> = presented
                    .iter()
                    .filter_map(|p| {
                        if ip {
                            p.strip_prefix("IpAddress(")?.strip_suffix(')')
                        } else {
                            p.strip_prefix("DnsName(\"")?.strip_suffix("\")")
                        }
                    })
                    .collect();
                if ip && names.is_empty() {
                    format!(
                        "x509: cannot validate certificate for {want} because it doesn't contain any IP SANs"
                    )
                } else {
                    format!(
                        "x509: certificate is valid for {}, not {want}",
                        names.join(", ")
                    )
                }
            }
            CertificateError::NotValidForName => {
                "x509: certificate is not valid for the requested name".to_owned()
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                format!("x509: certificate has expired or is not yet valid: {c}")
            }
            other => format!("x509: {other}"),
        },
        TlsError::AlertReceived(alert) => {
            let text = match alert {
                rustls::AlertDescription::BadCertificate => "bad certificate".to_owned(),
                rustls::AlertDescription::CertificateRequired => "certificate required".to_owned(),
                rustls::AlertDescription::UnknownCA => "unknown certificate authority".to_owned(),
                rustls::AlertDescription::HandshakeFailure => "handshake failure".to_owned(),
                rustls::AlertDescription::ProtocolVersion => {
                    "protocol version not supported".to_owned()
                }
                rustls::AlertDescription::CertificateExpired => "expired certificate".to_owned(),
                other => format!("{other:?}").to_ascii_lowercase(),
            };
            format!("remote error: tls: {text}")
        }
        TlsError::InvalidMessage(_) => {
            "tls: first record does not look like a TLS handshake".to_owned()
        }
        other => format!("tls: {other}"),
    }
}

/// A client configuration that follows its files: [`get`](Self::get) re-reads the CA,
/// certificate and key files and rebuilds the configuration when their contents changed.
#[derive(Debug)]
pub struct ReloadingClientConfig {
    tls: TlsConfig,
    current: Mutex<(Vec<Vec<u8>>, Arc<rustls::ClientConfig>)>,
}

impl ReloadingClientConfig {
    /// Builds the first configuration; fails as [`client_config`].
    pub fn new(tls: TlsConfig) -> Result<ReloadingClientConfig, TlsClientError> {
        let files = file_contents(&tls);
        let cfg = client_config(&tls)?;
        Ok(ReloadingClientConfig {
            tls,
            current: Mutex::new((files, cfg)),
        })
    }

    /// The `tls_config` this was built from.
    pub fn tls_config(&self) -> &TlsConfig {
        &self.tls
    }

    /// The configuration for a new connection: the cached one while the files are unchanged,
    /// a rebuilt one after they changed. When a changed file cannot be used the error is
    /// returned (the connection fails, as in Prometheus) and the next call tries again.
    pub fn get(&self) -> Result<Arc<rustls::ClientConfig>, TlsClientError> {
        let files = file_contents(&self.tls);
        let mut cur = self.current.lock();
        if cur.0 != files {
            let cfg = client_config(&self.tls)?;
            *cur = (files, cfg);
        }
        Ok(cur.1.clone())
    }
}

/// The bytes of the configured files (an unreadable file reads as empty, so that its return
/// is noticed).
fn file_contents(tls: &TlsConfig) -> Vec<Vec<u8>> {
    [&tls.ca_file, &tls.cert_file, &tls.key_file]
        .into_iter()
        .map(|f| {
            f.as_deref()
                .and_then(|p| std::fs::read(p).ok())
                .unwrap_or_default()
        })
        .collect()
}

/// `insecure_skip_verify`: any certificate and name are accepted; the handshake signatures
/// are still checked, so the peer must hold the key of the certificate it shows.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_server_name() {
        assert_eq!(host_of("h:1"), "h");
        assert_eq!(host_of("[::1]:9"), "::1");
        assert_eq!(host_of("h"), "h");
        let mut t = TlsConfig::default();
        assert_eq!(
            server_name(&t, "127.0.0.1:9").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
        t.server_name = "localhost".into();
        assert_eq!(
            server_name(&t, "127.0.0.1:9").unwrap(),
            ServerName::try_from("localhost").unwrap()
        );
    }

    #[test]
    fn config_errors_name_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let cases: Vec<(TlsConfig, &str)> = vec![
            (
                TlsConfig {
                    ca_file: Some(dir.path().join("missing.pem")),
                    ..TlsConfig::default()
                },
                "unable to load specified CA cert ",
            ),
            (
                TlsConfig {
                    ca_file: Some(junk.clone()),
                    ..TlsConfig::default()
                },
                "unable to use specified CA cert ",
            ),
            (
                TlsConfig {
                    cert_file: Some(junk.clone()),
                    ..TlsConfig::default()
                },
                "specified without client key file",
            ),
            (
                TlsConfig {
                    key_file: Some(junk.clone()),
                    ..TlsConfig::default()
                },
                "specified without client cert file",
            ),
            (
                TlsConfig {
                    cert_file: Some(junk.clone()),
                    key_file: Some(junk.clone()),
                    ..TlsConfig::default()
                },
                "unable to use specified client cert (",
            ),
            (
                TlsConfig {
                    min_version: "TLS13".into(),
                    max_version: "TLS12".into(),
                    ..TlsConfig::default()
                },
                "max_version must be greater than or equal",
            ),
            (
                TlsConfig {
                    max_version: "TLS11".into(),
                    ..TlsConfig::default()
                },
                "is not supported by fedstore",
            ),
        ];
        for (cfg, want) in cases {
            let e = client_config(&cfg).unwrap_err().0;
            assert!(e.contains(want), "{cfg:?}: {e}");
        }
        // Defaults and an insecure configuration build without files.
        client_config(&TlsConfig::default()).unwrap();
        let insecure = TlsConfig {
            insecure_skip_verify: true,
            min_version: "TLS10".into(),
            ..TlsConfig::default()
        };
        client_config(&insecure).unwrap();
    }

    #[test]
    fn go_wording_of_certificate_errors() {
        let cases = [
            (
                TlsError::InvalidCertificate(CertificateError::UnknownIssuer),
                "x509: certificate signed by unknown authority",
            ),
            (
                TlsError::InvalidCertificate(CertificateError::NotValidForNameContext {
                    expected: ServerName::try_from("127.0.0.1").unwrap(),
                    presented: vec!["DnsName(\"localhost\")".into()],
                }),
                "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs",
            ),
            (
                TlsError::InvalidCertificate(CertificateError::NotValidForNameContext {
                    expected: ServerName::try_from("example.org").unwrap(),
                    presented: vec![
                        "DnsName(\"localhost\")".into(),
                        "IpAddress(127.0.0.1)".into(),
                        "DnsName(\"fed\")".into(),
                    ],
                }),
                "x509: certificate is valid for localhost, fed, not example.org",
            ),
            (
                TlsError::AlertReceived(rustls::AlertDescription::CertificateRequired),
                "remote error: tls: certificate required",
            ),
        ];
        for (e, want) in cases {
            let io = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
            assert_eq!(describe_error(&io), want);
        }
    }
}
