//! TLS with rustls: certificates from PEM files, or a local CA and server
//! certificate made once with rcgen. Connections are served by
//! [`crate::serve`], which does each handshake in its own task with a
//! timeout so a slow client cannot stall the others.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS setup problem, with the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the certificate and key.
    #[error("the certificate and key do not make a valid TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// Making the local CA failed.
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing the generated files failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

fn pem_err(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A rustls server configuration (TLS 1.2 and 1.3 only) from a certificate
/// chain and a private key in PEM files.
///
/// # Errors
/// [`TlsError`] naming the file that is missing or malformed.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_err(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(cert, e))?;
    if certs.is_empty() {
        return Err(pem_err(cert, "no certificate in this PEM file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The DNS names of the first certificate of a PEM chain (its subject
/// alternative names, wildcards as `*.example.com`): the names clients
/// reach this server by, which [`crate::guard`] allows as `Host`. Empty
/// when the file cannot be read (the TLS setup reports that).
pub fn certificate_names(cert: &Path) -> Vec<String> {
    let Ok(mut certs) = CertificateDer::pem_file_iter(cert) else {
        return Vec::new();
    };
    let Some(Ok(first)) = certs.next() else {
        return Vec::new();
    };
    match webpki::EndEntityCert::try_from(&first) {
        Ok(end) => end.valid_dns_names().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    }
}

/// The files of a self-signed setup in a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfSigned {
    /// The local CA certificate: give it to agents with `--verify`.
    pub ca: PathBuf,
    /// The server's certificate chain (server, then CA).
    pub cert: PathBuf,
    /// The server's private key (mode 0600).
    pub key: PathBuf,
}

/// Makes a local CA and a server certificate for `names` (host names or IP
/// addresses) in `dir`, once; later calls reuse them.
///
/// # Errors
/// [`TlsError`] when generating or writing fails.
pub fn self_signed(dir: &Path, names: &[String]) -> Result<SelfSigned, TlsError> {
    let files = SelfSigned {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    };
    if files.ca.exists() && files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "monitor local CA");
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, &ca_key);

    let mut all_names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for n in names {
        if !all_names.contains(n) {
            all_names.push(n.clone());
        }
    }
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(all_names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "monitor server");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = params.signed_by(&key, &issuer)?;

    write(&files.ca, &ca_cert.pem(), false)?;
    write(
        &files.cert,
        &format!("{}{}", cert.pem(), ca_cert.pem()),
        false,
    )?;
    write(&files.key, &key.serialize_pem(), true)?;
    Ok(files)
}

fn write(path: &Path, text: &str, private: bool) -> Result<(), TlsError> {
    // Whole or not at all, with its mode from the start (a key was
    // rewritten in place before: a crash left a cut-off file, and the mode
    // of an existing file was kept).
    crate::files::write_atomic(
        path,
        text.as_bytes(),
        if private { 0o600 } else { 0o644 },
        true,
    )
    .map_err(|source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    })
}
