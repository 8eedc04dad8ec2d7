//! What the agent's push and the OTLP exporter share as HTTP clients: the
//! TLS setup (system roots, or a CA file whose certificates are also
//! pinned), gzip bodies and error messages with their causes (feature
//! `client`).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A TLS setup that could not be made.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientError(String);

/// A TLS client setup: the roots of the system (none found is an error),
/// or the certificates of the PEM file `verify` (`--verify`), each also
/// trusted as itself: a self-signed certificate pinned exactly, over TLS
/// 1.3 only.
///
/// # Errors
/// [`ClientError`] naming the file or what is missing.
pub fn tls_config(verify: Option<&Path>) -> Result<rustls::ClientConfig, ClientError> {
    tls_config_for("--verify", verify)
}

/// [`tls_config`] for a setting other than `--verify`: its errors name
/// `setting` (`probe "web": ca_file`).
///
/// # Errors
/// [`ClientError`] naming the setting, the file or what is missing.
pub fn tls_config_for(
    setting: &str,
    verify: Option<&Path>,
) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    let mut pinned = Vec::new();
    match verify {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| ClientError(format!("{setting} {}: {e}", path.display())))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| ClientError(format!("{setting} {}: {e}", path.display())))?;
                pinned.push(cert.clone());
                roots
                    .add(cert)
                    .map_err(|e| ClientError(format!("{setting} {}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(ClientError(format!(
                    "{setting} {}: no certificate in this file",
                    path.display()
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(ClientError(format!(
                    "no system CA certificates found: give the server's CA with {setting}"
                )));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .map_err(|e| ClientError(format!("certificate verifier: {e}")))?;
    let verifier = PinnedOrChained {
        chained: webpki,
        pinned,
        algorithms: provider.signature_verification_algorithms,
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// Trusts a server whose certificate chains to the roots (the normal case),
/// or whose certificate is exactly one of the certificates given with
/// `--verify`. The second case is the self-signed certificate made by
/// `openssl req -x509`, which webpki refuses as a server certificate because
/// it is marked as a CA; pinning the exact certificate is as strict as a CA
/// of one. Such a connection must use TLS 1.3, whose signature check needs
/// only the certificate's public key.
#[derive(Debug)]
struct PinnedOrChained {
    chained: Arc<rustls::client::WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl PinnedOrChained {
    fn is_pinned(&self, cert: &CertificateDer<'_>) -> bool {
        self.pinned.iter().any(|p| p.as_ref() == cert.as_ref())
    }
}

impl rustls::client::danger::ServerCertVerifier for PinnedOrChained {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self.chained.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            Err(error) => {
                if self.is_pinned(end_entity) {
                    Ok(rustls::client::danger::ServerCertVerified::assertion())
                } else {
                    Err(error)
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        if self.is_pinned(cert) {
            return Err(rustls::Error::General(
                "a certificate pinned with --verify needs TLS 1.3".into(),
            ));
        }
        self.chained.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        if self.is_pinned(cert) {
            let spki = webpki::EndEntityCert::try_from(cert)
                .map_err(|_| {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
                })?
                .subject_public_key_info();
            return rustls::crypto::verify_tls13_signature_with_raw_key(
                message,
                &spki,
                dss,
                &self.algorithms,
            );
        }
        self.chained.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.chained.supported_verify_schemes()
    }
}

/// An error with its sources, `a: b: c`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The body gzip-compressed (JSON of snapshots shrinks about tenfold); fast
/// level, as the agent's CPU matters more than a few bytes.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}
