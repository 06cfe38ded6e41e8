//! `tls_server_config` followed on disk, as exporter-toolkit builds its `tls.Config` anew for
//! every handshake: the certificate and key ([`LiveCert`]) and the client CA and
//! `client_auth_type` ([`LiveClientVerifier`]) come from the web config file and the files it
//! names as they are at handshake time. Changed files are parsed once (contents are compared);
//! a file that cannot be used fails the handshake (logged), never falls back silently.
//!
//! Fixed at start: whether the server speaks TLS at all, and `min_version`/`max_version`
//! (a rustls configuration's protocol versions cannot change per handshake).

use std::sync::Arc;

use parking_lot::Mutex;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::reload::Live;
use super::{TlsServerConfig, WebConfigError, tls};

/// The rustls server configuration following `live`: versions from the file as it is now,
/// certificate and client verification re-read per handshake. Fails at once when the
/// current files cannot be used, so a bad start is reported before listening.
pub fn live_server_config(live: Arc<Live>) -> Result<rustls::ServerConfig, WebConfigError> {
    let cfg = live.current().map_err(WebConfigError::Invalid)?;
    let t = cfg
        .tls_server_config
        .as_ref()
        .ok_or_else(|| WebConfigError::Invalid("no tls_server_config".into()))?;
    // Everything the per-handshake path reads, checked now.
    tls::server_config(t)?;
    let provider = tls::provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&tls::versions(t)?)
        .map_err(|e| WebConfigError::Invalid(format!("tls_server_config: versions: {e}")))?;
    let verifier = Arc::new(LiveClientVerifier {
        live: live.clone(),
        provider: provider.clone(),
        cached: Mutex::new(None),
    });
    let resolver = Arc::new(LiveCert {
        live,
        provider,
        cached: Mutex::new(None),
    });
    let mut cfg = builder
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The current `tls_server_config`, or why there is none usable (logged by `Live`).
fn current_tls(live: &Live) -> Option<TlsServerConfig> {
    live.current().ok()?.tls_server_config.clone()
}

/// (certificate file bytes, key file bytes, the key built from them).
type CachedCert = (Vec<u8>, Vec<u8>, Arc<CertifiedKey>);

/// (client_auth_type, CA file bytes, the verifier built from them).
type CachedVerifier = (String, Vec<u8>, Arc<dyn ClientCertVerifier>);

/// The server certificate, from `cert_file`/`key_file` as they are now.
#[derive(Debug)]
struct LiveCert {
    live: Arc<Live>,
    provider: Arc<CryptoProvider>,
    cached: Mutex<Option<CachedCert>>,
}

impl ResolvesServerCert for LiveCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let t = current_tls(&self.live)?;
        let (cert, key) = match (std::fs::read(&t.cert_file), std::fs::read(&t.key_file)) {
            (Ok(c), Ok(k)) => (c, k),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(err = %e, "tls_server_config: cannot read cert_file/key_file; handshake refused");
                return None;
            }
        };
        let mut cached = self.cached.lock();
        if let Some((c, k, ck)) = cached.as_ref()
            && *c == cert
            && *k == key
        {
            return Some(ck.clone());
        }
        match tls::certified_key(&t, &cert, &key, &self.provider) {
            Ok(ck) => {
                let ck = Arc::new(ck);
                if cached.is_some() {
                    tracing::info!(cert_file = %t.cert_file.display(), "server certificate reloaded");
                }
                *cached = Some((cert, key, ck.clone()));
                Some(ck)
            }
            Err(e) => {
                tracing::error!(err = %e, "tls_server_config: unusable certificate; handshake refused");
                None
            }
        }
    }
}

/// Client-certificate checks per the current `client_auth_type` and `client_ca_file`.
#[derive(Debug)]
struct LiveClientVerifier {
    live: Arc<Live>,
    provider: Arc<CryptoProvider>,
    cached: Mutex<Option<CachedVerifier>>,
}

impl LiveClientVerifier {
    /// The verifier for the file as it is now; `None` without client authentication (or
    /// when the configuration is unusable: then no certificate is asked for, and the
    /// certificate resolver refuses the handshake).
    fn current(&self) -> Option<(String, Arc<dyn ClientCertVerifier>)> {
        let t = current_tls(&self.live)?;
        let kind = t.client_auth_type.clone();
        if kind.is_empty() || kind == "NoClientCert" {
            return None;
        }
        let ca = std::fs::read(&t.client_ca_file).ok()?;
        let mut cached = self.cached.lock();
        if let Some((k, c, v)) = cached.as_ref()
            && *k == kind
            && *c == ca
        {
            return Some((kind, v.clone()));
        }
        match tls::client_verifier(&t, &ca, self.provider.clone()) {
            Ok(v) => {
                *cached = Some((kind.clone(), ca, v.clone()));
                Some((kind, v))
            }
            Err(e) => {
                tracing::error!(err = %e, "tls_server_config: unusable client_ca_file");
                None
            }
        }
    }
}

impl ClientCertVerifier for LiveClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.current().is_some()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.current()
            .is_some_and(|(kind, _)| kind == "RequireAndVerifyClientCert")
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // The hints live in the current verifier, behind a lock; sending none is allowed
        // (clients then offer whatever certificate they have).
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self.current() {
            Some((_, v)) => v.verify_client_cert(end_entity, intermediates, now),
            None => Err(rustls::Error::General(
                "client certificates are not configured".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
