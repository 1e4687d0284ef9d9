//! TLS for FTPS (rustls with ring): the system roots, a pinned certificate fingerprint, or, only
//! when asked, no verification. One `ClientConfig` per connection, shared by the control and data
//! connections so the data connection resumes the control connection's TLS session (vsftpd's
//! `require_ssl_reuse=YES`).

use crate::model::Site;
use crate::transport::{TransportError, TransportResult};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::Arc;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The SHA-256 fingerprint of a DER certificate, as colon-separated lower-case hex.
pub fn cert_fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Accepts exactly the certificate whose fingerprint is pinned (signatures are still checked),
/// or any certificate when `pin` is `None` (insecure mode).
#[derive(Debug)]
struct FingerprintVerifier {
    pin: Option<String>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pin) = &self.pin else {
            return Ok(ServerCertVerified::assertion());
        };
        let actual = cert_fingerprint(end_entity.as_ref());
        if &actual == pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the server's certificate {actual} is not the pinned {pin}"
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The rustls client configuration a site asks for.
pub(super) fn client_config(site: &Site) -> TransportResult<Arc<ClientConfig>> {
    let config_err = |reason: String| TransportError::Config {
        site: site.name.clone(),
        reason,
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err(e.to_string()))?;
    let pin = match &site.cert_fingerprint {
        Some(fp) => Some(
            crate::validate::normalize_cert_fingerprint("cert_fingerprint", fp)
                .map_err(|e| config_err(e.to_string()))?,
        ),
        None => None,
    };
    let config = if pin.is_some() || site.insecure_skip_verify {
        if pin.is_none() {
            tracing::warn!(
                target: "ftpman::transport",
                site = %site.name,
                "TLS certificate verification is switched off for this site (--insecure-skip-verify): anyone on the path can read and change the transfer"
            );
        }
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(FingerprintVerifier {
                pin,
                provider: provider(),
            }))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}
