//! Sending snapshots to the server: HTTPS with rustls, a bounded on-disk
//! spool, batches in order, retries with exponential backoff and jitter.
//!
//! Every snapshot is first written to the spool directory (one file each,
//! written to a temporary name and renamed, so a crash never leaves half a
//! file under a real name), then the oldest files are sent in batches and
//! deleted once the server acknowledged them. The server's idempotency
//! removes the duplicates a crash between send and delete can cause.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use monitor_core::{Snapshot, wire};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Most snapshots sent in one request.
pub const BATCH: usize = 100;

/// How the agent reaches the server. Its `Debug` form hides the token.
#[derive(Clone)]
pub struct PushConfig {
    /// The server's base URL (`https://monitor.example:8443`).
    pub server: String,
    /// The agent token.
    pub token: String,
    /// CA bundle the server's certificate must chain to (system roots when absent).
    pub verify: Option<PathBuf>,
    /// The spool directory.
    pub spool_dir: PathBuf,
    /// Largest spool size; the oldest snapshots are dropped beyond it.
    pub spool_max_bytes: u64,
    /// Bound on each request.
    pub timeout: Duration,
}

impl std::fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConfig")
            .field("server", &self.server)
            .field("token", &"<hidden>")
            .field("verify", &self.verify)
            .field("spool_dir", &self.spool_dir)
            .field("spool_max_bytes", &self.spool_max_bytes)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a push attempt did not empty the spool.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The server or the network failed; retried with backoff.
    #[error("server unreachable or failing: {0}")]
    Retry(String),
    /// The token was refused: fix the configuration (not retried in a tight loop).
    #[error("the server refused the token ({0}): check --token-file/MONITOR_TOKEN and --server-id")]
    Auth(u16),
    /// The server says the agent is set up wrong (plain HTTP to its HTTPS
    /// port): fix the configuration (kept and retried every minute).
    #[error("{0}")]
    Config(String),
    /// Setting up the client failed.
    #[error("{0}")]
    Setup(String),
}

/// Sends spooled snapshots to the server.
#[derive(Debug)]
pub struct Pusher {
    config: PushConfig,
    client: reqwest::Client,
    url: String,
}

pub(crate) fn tls_config(verify: Option<&Path>) -> Result<rustls::ClientConfig, PushError> {
    let mut roots = rustls::RootCertStore::empty();
    let mut pinned = Vec::new();
    match verify {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| PushError::Setup(format!("--verify {}: {e}", path.display())))?;
            for cert in certs {
                let cert = cert
                    .map_err(|e| PushError::Setup(format!("--verify {}: {e}", path.display())))?;
                pinned.push(cert.clone());
                roots
                    .add(cert)
                    .map_err(|e| PushError::Setup(format!("--verify {}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(PushError::Setup(format!(
                    "--verify {}: no certificate in this file",
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
                return Err(PushError::Setup(
                    "no system CA certificates found: give the server's CA with --verify".into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .map_err(|e| PushError::Setup(format!("certificate verifier: {e}")))?;
    let verifier = PinnedOrChained {
        chained: webpki,
        pinned,
        algorithms: provider.signature_verification_algorithms,
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PushError::Setup(e.to_string()))?
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

/// One DER element: (whole element, content, rest of the input).
fn der_element(input: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (&_tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((&input[..header + len], &rest[..len], &rest[len..]))
}

/// The SubjectPublicKeyInfo of an X.509 certificate.
fn spki_of(cert: &[u8]) -> Option<&[u8]> {
    let (_, certificate, _) = der_element(cert)?;
    let (_, tbs, _) = der_element(certificate)?;
    let mut rest = tbs;
    // An explicit version is tagged [0].
    if rest.first() == Some(&0xa0) {
        rest = der_element(rest)?.2;
    }
    // serial, signature algorithm, issuer, validity, subject.
    for _ in 0..5 {
        rest = der_element(rest)?.2;
    }
    Some(der_element(rest)?.0)
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
            let spki = spki_of(cert.as_ref()).ok_or(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadEncoding,
            ))?;
            return rustls::crypto::verify_tls13_signature_with_raw_key(
                message,
                &rustls::pki_types::SubjectPublicKeyInfoDer::from(spki),
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

impl Pusher {
    /// A pusher for `config`; creates the spool directory.
    ///
    /// # Errors
    /// [`PushError::Setup`] for an unreadable CA file or spool directory.
    pub fn new(config: PushConfig) -> Result<Self, PushError> {
        std::fs::create_dir_all(&config.spool_dir)
            .map_err(|e| PushError::Setup(format!("spool {}: {e}", config.spool_dir.display())))?;
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            // Below the server's default idle timeout (30 s): an agent
            // never reuses a connection the server is closing.
            .pool_idle_timeout(Duration::from_secs(20))
            .user_agent(concat!("monitor-agent/", env!("CARGO_PKG_VERSION")));
        // reqwest needs a TLS setup even for http:// URLs; those never use it.
        let tls = if config.server.starts_with("https://") {
            tls_config(config.verify.as_deref())?
        } else {
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| PushError::Setup(e.to_string()))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
        };
        builder = builder.tls_backend_preconfigured(tls);
        let client = builder
            .build()
            .map_err(|e| PushError::Setup(format!("HTTP client: {e}")))?;
        let url = format!("{}/api/metrics", config.server.trim_end_matches('/'));
        Ok(Pusher {
            config,
            client,
            url,
        })
    }

    /// Writes a snapshot to the spool, dropping the oldest beyond the bound.
    ///
    /// # Errors
    /// When the spool cannot be written (disk full): the snapshot is lost.
    pub fn spool(&self, snapshot: &Snapshot) -> std::io::Result<()> {
        let body = wire::encode(snapshot)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let name = format!("{:016}.json", snapshot.timestamp.as_millis().max(0));
        let tmp = self.config.spool_dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, &body)?;
        std::fs::rename(&tmp, self.config.spool_dir.join(&name))?;
        self.enforce_bound();
        Ok(())
    }

    /// Spooled files, oldest first, with their sizes.
    fn spooled(&self) -> Vec<(PathBuf, u64)> {
        let Ok(entries) = std::fs::read_dir(&self.config.spool_dir) else {
            return Vec::new();
        };
        let mut files: Vec<(PathBuf, u64)> = entries
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                (name.ends_with(".json") && !name.starts_with('.'))
                    .then(|| (e.path(), e.metadata().map(|m| m.len()).unwrap_or(0)))
            })
            .collect();
        files.sort();
        files
    }

    fn enforce_bound(&self) {
        let files = self.spooled();
        let mut total: u64 = files.iter().map(|(_, s)| s).sum();
        let mut dropped = 0;
        for (path, size) in &files {
            if total <= self.config.spool_max_bytes {
                break;
            }
            if std::fs::remove_file(path).is_ok() {
                total -= size;
                dropped += 1;
            }
        }
        if dropped > 0 {
            tracing::warn!(dropped, "Spool full: dropped the oldest snapshots.");
        }
    }

    /// Number of snapshots waiting in the spool.
    pub fn backlog(&self) -> usize {
        self.spooled().len()
    }

    /// Sends the spool, oldest first, in batches, until it is empty or a
    /// request fails. Returns how many snapshots the server acknowledged.
    ///
    /// # Errors
    /// [`PushError::Retry`] to retry later, [`PushError::Auth`] when the
    /// token is refused.
    pub async fn flush(&self) -> Result<usize, PushError> {
        let mut sent = 0;
        loop {
            let files = self.spooled();
            if files.is_empty() {
                return Ok(sent);
            }
            let mut batch = Vec::with_capacity(BATCH);
            let mut paths = Vec::with_capacity(BATCH);
            for (path, _) in files.into_iter().take(BATCH) {
                match std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Snapshot>(&b).ok())
                {
                    Some(s) => batch.push(s),
                    None => {
                        tracing::warn!(file = %path.display(), "Unreadable spool file removed.");
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                }
                paths.push(path);
            }
            if batch.is_empty() {
                continue;
            }
            let body = wire::encode_batch(&batch).map_err(|e| PushError::Retry(e.to_string()))?;
            let response = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .header("x-auth-token", &self.config.token)
                .body(gzip(&body))
                .send()
                .await
                .map_err(|e| PushError::Retry(error_chain(&e)))?;
            let status = response.status().as_u16();
            match status {
                200..=299 => {
                    for p in &paths {
                        let _ = std::fs::remove_file(p);
                    }
                    sent += paths.len();
                }
                401 | 403 => return Err(PushError::Auth(status)),
                400 if response
                    .headers()
                    .get("connection")
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close")) =>
                {
                    // Not the API's answer: the TLS port telling a plain
                    // HTTP client what to do. Keep the snapshots.
                    let text = response.text().await.unwrap_or_default();
                    if text.contains("\"https_required\"") {
                        return Err(PushError::Config(format!(
                            "{} serves HTTPS: give --server an https:// address",
                            self.config.server
                        )));
                    }
                    return Err(PushError::Retry(format!("HTTP 400: {text}")));
                }
                408 | 429 | 500..=599 => {
                    return Err(PushError::Retry(format!("HTTP {status}")));
                }
                _ => {
                    // The server will never accept these: keep them aside.
                    let text = response.text().await.unwrap_or_default();
                    let rejected = self.config.spool_dir.join("rejected");
                    let _ = std::fs::create_dir_all(&rejected);
                    for p in &paths {
                        if let Some(name) = p.file_name() {
                            let _ = std::fs::rename(p, rejected.join(name));
                        }
                    }
                    tracing::error!(status, response = %text.chars().take(300).collect::<String>(), count = paths.len(),
                        "The server rejected snapshots; they were moved to the spool's rejected/ folder.");
                }
            }
        }
    }
}

pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Exponential backoff with full jitter: 1 s doubling to 60 s.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The wait before the next attempt after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let cap = 60_000u64.min(1000u64 << self.failures.min(6));
        let mut byte = [0u8; 8];
        let jitter = match getrandom::fill(&mut byte) {
            Ok(()) => u64::from_le_bytes(byte) % cap.max(1),
            Err(_) => cap / 2,
        };
        Duration::from_millis(jitter.max(100))
    }

    /// Forgets the failures after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// The agent's push loop: collects every `interval`, spools, and sends;
/// keeps collecting while the server is unreachable and sends the backlog in
/// order once it is back. Returns when `stop` completes, after one last
/// attempt to send what is spooled.
pub async fn run(
    agent: &mut crate::Agent,
    pusher: &Pusher,
    interval: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    tracing::info!(server = %pusher.config.server, backlog = pusher.backlog(), "Pushing to the server.");
    let spooled = tokio::sync::Notify::new();
    // Collecting never waits for the network: a slow or hung server delays
    // delivery, never a collection.
    let collect = async {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = ticker.tick() => {}
            }
            let snapshot = agent.tick().await;
            if let Err(error) = pusher.spool(&snapshot) {
                tracing::error!(%error, "Cannot write the spool: this snapshot is lost.");
            }
            spooled.notify_one();
        }
    };
    let send = async {
        let mut backoff = Backoff::default();
        let mut failing = false;
        loop {
            spooled.notified().await;
            let wait = match pusher.flush().await {
                Ok(_) => {
                    if failing {
                        tracing::info!("The server accepts snapshots again; the backlog was sent.");
                        failing = false;
                    }
                    backoff.reset();
                    continue;
                }
                Err(PushError::Auth(status)) => {
                    if !failing {
                        tracing::error!(
                            status,
                            "The server refused the token: check --token-file/MONITOR_TOKEN and --server-id. Snapshots are kept in the spool; retrying every minute."
                        );
                    }
                    Duration::from_secs(60)
                }
                Err(PushError::Config(message)) => {
                    if !failing {
                        tracing::error!(
                            "{message}. Snapshots are kept in the spool; retrying every minute."
                        );
                    }
                    Duration::from_secs(60)
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, backlog = pusher.backlog(), "Cannot reach the server; snapshots are spooled and retried with backoff.");
                    }
                    backoff.next_delay()
                }
            };
            failing = true;
            // Snapshots spooled meanwhile leave a permit: the next attempt
            // follows the wait at once.
            tokio::time::sleep(wait).await;
        }
    };
    tokio::select! {
        _ = collect => {}
        _ = send => {}
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), pusher.flush()).await;
}

/// The body gzip-compressed (JSON of snapshots shrinks about tenfold); fast
/// level, as the agent's CPU matters more than a few bytes.
pub(crate) fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}
