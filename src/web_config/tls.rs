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

/// Reads the files and builds the rustls configuration.
pub fn server_config(t: &TlsServerConfig) -> Result<rustls::ServerConfig, WebConfigError> {
    let err = |what: &str, e: &dyn std::fmt::Display| {
        WebConfigError::Invalid(format!("tls_server_config: {what}: {e}"))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.cert_file)
        .map_err(|e| err(&format!("cert_file {}", t.cert_file.display()), &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(&format!("cert_file {}", t.cert_file.display()), &e))?;
    if certs.is_empty() {
        return Err(err(
            &format!("cert_file {}", t.cert_file.display()),
            &"no certificate",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&t.key_file)
        .map_err(|e| err(&format!("key_file {}", t.key_file.display()), &e))?;
    let min = version(&t.min_version, 12, "min_version")?;
    let max = version(&t.max_version, 13, "max_version")?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (min..=max).contains(v))
            .map(|(_, p)| p)
            .collect();
    #[expect(
        deprecated,
        reason = "ring keeps the build lean (aws-lc-rs needs cmake); classic X25519/P-256 key exchange is what Prometheus 2.42's Go TLS offers too"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| err("versions", &e))?;
    let builder = match t.client_auth_type.as_str() {
        "" | "NoClientCert" => builder.with_no_client_auth(),
        kind => {
            let mut roots = RootCertStore::empty();
            let cas = CertificateDer::pem_file_iter(&t.client_ca_file).map_err(|e| {
                err(
                    &format!("client_ca_file {}", t.client_ca_file.display()),
                    &e,
                )
            })?;
            for ca in cas {
                let ca = ca.map_err(|e| {
                    err(
                        &format!("client_ca_file {}", t.client_ca_file.display()),
                        &e,
                    )
                })?;
                roots.add(ca).map_err(|e| {
                    err(
                        &format!("client_ca_file {}", t.client_ca_file.display()),
                        &e,
                    )
                })?;
            }
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if kind == "VerifyClientCertIfGiven" {
                v = v.allow_unauthenticated();
            }
            let v = v.build().map_err(|e| err("client_ca_file", &e))?;
            builder.with_client_cert_verifier(v)
        }
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| err("cert_file/key_file", &e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}
