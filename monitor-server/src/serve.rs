//! Serving connections: TLS handshakes, HTTP/1.1, the timeouts that keep a
//! slow or silent client from holding a connection, a cap on open
//! connections, and graceful shutdown.
//!
//! `axum::serve` gives no access to hyper's settings, so a client that sent
//! half a request head, or nothing after the handshake, held its connection
//! (and its ~21 KiB of buffers) for ever. Here every connection is bounded:
//!
//! | phase | bound |
//! | --- | --- |
//! | TLS handshake | [`ServeOptions::handshake_timeout`]; a client that speaks plain HTTP to the TLS port is answered 400 `https_required` in plain HTTP |
//! | waiting for a request head, between requests included (keep-alive idle) | [`ServeOptions::idle_timeout`] |
//! | reading a request body | [`ServeOptions::body_timeout`] |
//! | writing a response (the live stream included): no byte taken by the client for this long | [`ServeOptions::write_timeout`]; the connection is closed |
//! | open connections, handshakes included | [`ServeOptions::max_connections`]; beyond it new ones wait in the kernel's accept queue |
//!
//! ```no_run
//! use std::future::pending;
//! use monitor_server::serve::{ServeOptions, serve};
//!
//! # async fn run(app: axum::Router) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8001").await?;
//! serve(listener, app, ServeOptions::default(), pending()).await
//! # }
//! ```

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::Service;

use crate::limit::ClientAddr;

/// How connections are served.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// TLS (rustls); `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Open connections at most, TLS handshakes in progress included. The
    /// server stops accepting while it holds this many; each idle one costs
    /// about 21 KiB (docs/performance.md).
    pub max_connections: usize,
    /// How long a client may take to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// How long a connection may go without sending a complete request
    /// head: a slow head, or keep-alive idleness between requests. Agents
    /// reporting more often than this keep their connection.
    pub idle_timeout: Duration,
    /// How long a client may take to send a request body once the head has
    /// arrived (408 `body_timeout` after it).
    pub body_timeout: Duration,
    /// How long a response may wait for the client to take any of it
    /// (its receive window closed): then the connection is closed. Without
    /// it a client that never reads held its connection, and its slot of
    /// `max_connections`, for ever.
    pub write_timeout: Duration,
    /// At shutdown, how long requests in progress may take to finish.
    pub shutdown_grace: Duration,
    /// Peers besides loopback whose `X-Forwarded-For` names the client
    /// (proxies on other machines): their requests carry
    /// [`crate::limit::TrustedProxy`].
    pub trusted_proxies: Vec<crate::limit::Network>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            tls: None,
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting, lets requests in progress finish (at most
/// [`ServeOptions::shutdown_grace`]) and returns. Handlers see the peer's
/// address as `ConnectInfo<ClientAddr>`.
///
/// # Errors
/// None in practice: accept errors (out of file descriptors and the like)
/// are logged and retried; the `Result` is for future settings that can
/// fail.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let acceptor = options.tls.clone().map(TlsAcceptor::from);
    let options = Arc::new(options);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "Accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, %error, "Could not set TCP_NODELAY.");
        }
        let tcp = WriteTimeout::new(tcp, options.write_timeout);
        let (app, options, acceptor) = (app.clone(), Arc::clone(&options), acceptor.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => connection(tcp, peer, app, &options, watcher).await,
                Some(acceptor) => {
                    let handshake = async {
                        if speaks_plain_http(&tcp).await {
                            answer_https_required(tcp).await;
                            return None;
                        }
                        Some(acceptor.accept(tcp).await)
                    };
                    match tokio::time::timeout(options.handshake_timeout, handshake).await {
                        Ok(Some(Ok(tls))) => connection(tls, peer, app, &options, watcher).await,
                        Ok(Some(Err(error))) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed.");
                        }
                        Ok(None) => tracing::debug!(%peer, "Plain HTTP on the TLS port."),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out."),
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?options.shutdown_grace,
            "Requests still in progress at the end of the shutdown grace period were cut."
        );
    }
    Ok(())
}

/// Whether a client on the TLS port began with plain text (an HTTP method)
/// rather than a TLS record (its first byte is 0x16, a handshake).
async fn speaks_plain_http(tcp: &WriteTimeout<tokio::net::TcpStream>) -> bool {
    let mut first = [0u8; 1];
    matches!(tcp.inner.peek(&mut first).await, Ok(1) if first[0].is_ascii_uppercase())
}

/// Tells a plain-HTTP client on the TLS port what to do, in plain HTTP (as
/// nginx does), then closes.
async fn answer_https_required(mut tcp: WriteTimeout<tokio::net::TcpStream>) {
    use tokio::io::AsyncWriteExt;
    let body = r#"{"error":"https_required","message":"this port serves HTTPS: use an https:// address (an agent given a private CA also needs --verify CA.pem)"}"#;
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(response.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

/// Serves one connection's requests with hyper's HTTP/1.1.
async fn connection<I>(
    io: I,
    peer: std::net::SocketAddr,
    app: Router,
    options: &ServeOptions,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let body_timeout = options.body_timeout;
    let trusted = options
        .trusted_proxies
        .iter()
        .any(|proxy| proxy.contains(peer.ip()));
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request =
            request.map(|body| axum::body::Body::new(Deadline::new(body, body_timeout)));
        request
            .extensions_mut()
            .insert(ConnectInfo(ClientAddr(peer)));
        if trusted {
            request.extensions_mut().insert(crate::limit::TrustedProxy);
        }
        app.clone().call(request)
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.idle_timeout)
        .keep_alive(true);
    let conn = http.serve_connection(TokioIo::new(io), service);
    if let Err(error) = watcher.watch(conn).await {
        // Closed by the client, timed out, or not HTTP at all.
        tracing::debug!(%peer, %error, "Connection ended with an error.");
    }
}

/// A connection whose writes fail once the client has taken nothing for
/// the timeout: each write that cannot go on starts a timer, each byte
/// taken stops it. Reads pass through (their phases have timeouts of their
/// own).
struct WriteTimeout<I> {
    inner: I,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<I> WriteTimeout<I> {
    fn new(inner: I, timeout: Duration) -> Self {
        WriteTimeout {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// After a write that could not go on: pending until the timeout, then
    /// the error that ends the connection.
    fn stall<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.timeout;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the client took nothing of the response for {timeout:?} (limits.write_timeout)"
                ),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<T>(
        &mut self,
        result: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(done) => {
                self.stalled = None;
                Poll::Ready(done)
            }
            Poll::Pending => self.stall(cx),
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteTimeout<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progress(result, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progress(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.progress(result, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.progress(result, cx)
    }
}

/// The request body took longer than [`ServeOptions::body_timeout`].
#[derive(Debug, thiserror::Error)]
#[error("the request body took longer than {0:?} to arrive (limits.body_timeout)")]
pub struct BodyTimeout(pub Duration);

/// A request body that fails with [`BodyTimeout`] once its deadline has
/// passed. The timer is only made if the body is not already there.
struct Deadline {
    inner: Incoming,
    timeout: Duration,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Deadline {
            inner,
            timeout,
            deadline: Instant::now() + timeout,
            sleep: None,
        }
    }
}

impl HttpBody for Deadline {
    type Data = hyper::body::Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether an error (a body rejection's cause chain) is a [`BodyTimeout`].
pub fn is_body_timeout(error: &(dyn StdError + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<BodyTimeout>() {
            return true;
        }
        cause = e.source();
    }
    false
}
