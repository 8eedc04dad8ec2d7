//! The agent's own `/metrics` endpoint (`--listen`), node_exporter style:
//! Prometheus scrapes the host directly, with or without a monitor server.
//!
//! It serves the newest snapshot a [`PrometheusExporter`] holds, over plain
//! HTTP or TLS (rustls), optionally behind HTTP basic authentication. It is
//! made for one scraper: connections are capped at [`MAX_CONNECTIONS`], a
//! request head must arrive within [`REQUEST_TIMEOUT`], and only `GET` (and
//! `HEAD`) of `/metrics` and `/` are answered.
//!
//! ```no_run
//! use std::sync::Arc;
//! use monitor_agent::export::listen::{ListenConfig, serve};
//! use monitor_agent::export::prometheus::PrometheusExporter;
//!
//! # async fn run() -> std::io::Result<()> {
//! let exporter = Arc::new(PrometheusExporter::new());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9101").await?;
//! serve(listener, ListenConfig::default(), exporter, std::future::pending()).await
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::prometheus::{CONTENT_TYPE as METRICS_CONTENT_TYPE, PrometheusExporter};

/// Open connections at most; more wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to finish the TLS handshake or send a request
/// head (idle keep-alive included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A problem with the endpoint's settings, naming the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the certificate and key.
    #[error("the certificate and key do not make a valid TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

fn file_err(path: &Path, reason: impl ToString) -> ListenError {
    ListenError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A user name and password that scrapers must present (HTTP basic
/// authentication). The password never appears in `Debug` output.
#[derive(Clone)]
pub struct BasicAuth {
    expected: Vec<u8>,
    user: String,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl BasicAuth {
    /// Credentials from a user name and a password.
    pub fn new(user: &str, password: &str) -> Self {
        BasicAuth {
            expected: format!("{user}:{password}").into_bytes(),
            user: user.to_owned(),
        }
    }

    /// Credentials from a file holding `user:password` on its first line.
    /// A file that others can read is accepted with a warning.
    ///
    /// # Errors
    /// [`ListenError::File`] when the file is unreadable or has no `user:password`.
    pub fn from_file(path: &Path) -> Result<Self, ListenError> {
        let text = std::fs::read_to_string(path).map_err(|e| file_err(path, e))?;
        let line = text.lines().next().unwrap_or("").trim();
        let (user, password) = line
            .split_once(':')
            .filter(|(u, p)| !u.is_empty() && !p.is_empty())
            .ok_or_else(|| file_err(path, "expected one line user:password"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(path = %path.display(), "The basic-auth file can be read by other users: chmod 600 it.");
            }
        }
        Ok(Self::new(user, password))
    }

    /// Whether an `Authorization` header value carries these credentials
    /// (compared in constant time).
    pub fn accepts(&self, header: Option<&HeaderValue>) -> bool {
        let Some(given) = header
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
        else {
            return false;
        };
        given.len() == self.expected.len() && bool::from(given.ct_eq(&self.expected))
    }
}

/// How the endpoint is served.
#[derive(Debug, Clone, Default)]
pub struct ListenConfig {
    /// TLS; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Credentials scrapers must present; `None` leaves the endpoint open.
    pub basic_auth: Option<BasicAuth>,
}

/// A rustls server configuration from a PEM certificate chain and key.
///
/// # Errors
/// [`ListenError`] naming the file that is missing or malformed.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ListenError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_err(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(cert, e))?;
    if certs.is_empty() {
        return Err(file_err(cert, "no certificate in this PEM file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `/metrics` from `exporter` on `listener` until `shutdown`
/// completes.
///
/// # Errors
/// None in practice (accept errors are logged and retried); the `Result`
/// leaves room for settings that can fail.
pub async fn serve(
    listener: TcpListener,
    config: ListenConfig,
    exporter: Arc<PrometheusExporter>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let acceptor = config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let auth = config.basic_auth.map(Arc::new);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => return Ok(()),
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return Ok(()),
            },
        };
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "Accept failed on the metrics endpoint.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (exporter, auth, acceptor) = (Arc::clone(&exporter), auth.clone(), acceptor.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => connection(tcp, exporter, auth).await,
                Some(acceptor) => {
                    match tokio::time::timeout(REQUEST_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => connection(tls, exporter, auth).await,
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed."),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out."),
                    }
                }
            }
        });
    }
}

async fn connection<I>(io: I, exporter: Arc<PrometheusExporter>, auth: Option<Arc<BasicAuth>>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let response = respond(&request, &exporter, auth.as_deref());
        async move { Ok::<_, Infallible>(response) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(REQUEST_TIMEOUT);
    if let Err(error) = http.serve_connection(TokioIo::new(io), service).await {
        tracing::debug!(%error, "Metrics connection ended with an error.");
    }
}

fn respond(
    request: &Request<Incoming>,
    exporter: &PrometheusExporter,
    auth: Option<&BasicAuth>,
) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    };
    if let Some(auth) = auth
        && !auth.accepts(request.headers().get(AUTHORIZATION))
    {
        let mut response = text(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: give the user and password of --listen-basic-auth-file.\n".into(),
        );
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"monitor-agent\""),
        );
        return response;
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Use GET.\n".into());
        response
            .headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = text(StatusCode::OK, exporter.render());
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            response
        }
        "/" => text(
            StatusCode::OK,
            format!(
                "monitor-agent {}: this host's metrics are at /metrics\n",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        path => text(
            StatusCode::NOT_FOUND,
            format!("{path} not found: the metrics are at /metrics\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {token}")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn basic_auth_takes_exactly_the_right_user_and_password() {
        let auth = BasicAuth::new("prom", "s3cret:with:colons");
        assert!(auth.accepts(Some(&header("prom", "s3cret:with:colons"))));
        assert!(!auth.accepts(Some(&header("prom", "s3cret"))));
        assert!(!auth.accepts(Some(&header("other", "s3cret:with:colons"))));
        assert!(!auth.accepts(Some(&HeaderValue::from_static("Bearer x"))));
        assert!(!auth.accepts(Some(&HeaderValue::from_static("Basic !!notbase64"))));
        assert!(!auth.accepts(None));
        assert!(!format!("{auth:?}").contains("s3cret"));
    }

    #[test]
    fn the_auth_file_needs_user_and_password() {
        let dir = std::env::temp_dir().join(format!("monitor-listen-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let good = dir.join("good");
        std::fs::write(&good, "prom:pw\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(BasicAuth::from_file(&good).is_ok_and(|a| a.user == "prom"));
        let bad = dir.join("bad");
        std::fs::write(&bad, "just-a-password\n").unwrap_or_else(|e| panic!("{e}"));
        let error = BasicAuth::from_file(&bad)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(error.contains("user:password"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
