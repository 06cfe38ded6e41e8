//! `tls_server_config` as a rustls server configuration (ring provider, no OpenSSL).

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{TlsServerConfig, WebConfigError};

/// Checks what can be checked without reading the files.
pub fn validate(t: &TlsServerConfig) -> Result<(), WebConfigError> {
    let bad = |m: String| Err(WebConfigError::Invalid(m));
    if t.cert_file.as_os_str().is_empty() || t.key_file.as_os_str().is_empty() {
        return bad("tls_server_config: cert_file and key_file are both required".into());
    }
    let min = version(&t.min_version, 12, "min_version")?;
    let max = version(&t.max_version, 13, "max_version")?;
    if min > max {
        return bad(format!(
            "tls_server_config: min_version {} is above max_version {}",
            t.min_version, t.max_version
        ));
    }
    match t.client_auth_type.as_str() {
        "" | "NoClientCert" => {}
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            if t.client_ca_file.as_os_str().is_empty() {
                return bad(format!(
                    "tls_server_config: client_auth_type {} needs client_ca_file",
                    t.client_auth_type
                ));
            }
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return bad(format!(
                "tls_server_config: client_auth_type {} (accepting unverified client certificates) is not supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert",
                t.client_auth_type
            ));
        }
        other => {
            return bad(format!(
                "tls_server_config: unknown client_auth_type {other:?} (NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
            ));
        }
    }
    if !t.cipher_suites.is_empty() || !t.curve_preferences.is_empty() {
        return bad("tls_server_config: cipher_suites and curve_preferences are not supported (rustls offers only modern AEAD suites and curves); remove them".into());
    }
    Ok(())
}

/// `TLS12` → 12, `TLS13` → 13, `""` → `default`; TLS 1.0 and 1.1 are refused (rustls has
/// neither).
fn version(v: &str, default: u8, field: &str) -> Result<u8, WebConfigError> {
    match v {
        "" => Ok(default),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(WebConfigError::Invalid(format!(
            "tls_server_config: {field} {v} is not supported (TLS12 or TLS13)"
        ))),
        _ => Err(WebConfigError::Invalid(format!(
            "tls_server_config: unknown {field} {v:?} (TLS12 or TLS13)"
        ))),
    }
}

/// The ring provider, shared.
pub(super) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[expect(
        deprecated,
        reason = "ring keeps the build lean (aws-lc-rs needs cmake); classic X25519/P-256 key exchange is what Prometheus 2.42's Go TLS offers too"
    )]
    let p = rustls::crypto::ring::default_provider();
    Arc::new(p)
}

/// The protocol versions `min_version..=max_version`.
pub(super) fn versions(
    t: &TlsServerConfig,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, WebConfigError> {
    let min = version(&t.min_version, 12, "min_version")?;
    let max = version(&t.max_version, 13, "max_version")?;
    Ok(
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, p)| p)
            .collect(),
    )
}

fn err(what: &str, e: &dyn std::fmt::Display) -> WebConfigError {
    WebConfigError::Invalid(format!("tls_server_config: {what}: {e}"))
}

/// The server's certificate chain and key from the PEM bytes of `cert_file`/`key_file`.
pub(super) fn certified_key(
    t: &TlsServerConfig,
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &rustls::crypto::CryptoProvider,
) -> Result<rustls::sign::CertifiedKey, WebConfigError> {
    let cert_what = format!("cert_file {}", t.cert_file.display());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| err(&cert_what, &e))?;
    if certs.is_empty() {
        return Err(err(&cert_what, &"no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| err(&format!("key_file {}", t.key_file.display()), &e))?;
    rustls::sign::CertifiedKey::from_der(certs, key, provider)
        .map_err(|e| err("cert_file/key_file", &e))
}

/// The client-certificate verifier for `client_auth_type` with the PEM bytes of
/// `client_ca_file` (not called for `NoClientCert`).
pub(super) fn client_verifier(
    t: &TlsServerConfig,
    ca_pem: &[u8],
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, WebConfigError> {
    let what = format!("client_ca_file {}", t.client_ca_file.display());
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem) {
        let ca = ca.map_err(|e| err(&what, &e))?;
        roots.add(ca).map_err(|e| err(&what, &e))?;
    }
    let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if t.client_auth_type == "VerifyClientCertIfGiven" {
        v = v.allow_unauthenticated();
    }
    v.build().map_err(|e| err("client_ca_file", &e))
}

/// Reads the files and builds the rustls configuration (fixed: the server follows the
/// files with [`super::tls_live::live_server_config`]).
pub fn server_config(t: &TlsServerConfig) -> Result<rustls::ServerConfig, WebConfigError> {
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read(p).map_err(|e| err(&format!("{what} {}", p.display()), &e))
    };
    let cert = read(&t.cert_file, "cert_file")?;
    let key = read(&t.key_file, "key_file")?;
    let provider = provider();
    let ck = certified_key(t, &cert, &key, &provider)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(t)?)
        .map_err(|e| err("versions", &e))?;
    let builder = match t.client_auth_type.as_str() {
        "" | "NoClientCert" => builder.with_no_client_auth(),
        _ => {
            let ca = read(&t.client_ca_file, "client_ca_file")?;
            builder.with_client_cert_verifier(client_verifier(t, &ca, provider)?)
        }
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(ck)));
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}
