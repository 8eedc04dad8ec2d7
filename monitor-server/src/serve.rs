//! Serving connections: TLS handshakes, HTTP/1.1, the timeouts that keep a
//! slow or silent client from holding a connection, a cap on open
//! connections, and graceful shutdown.
//!
//! `axum::serve` gives no access to hyper's settings, so a client that sent
//! half a request head, or nothing after the handshake, held its connection
//! (and its buffers) for ever. Here every connection is bounded:
//!
//! | phase | bound |
//! | --- | --- |
//! | TLS handshake | [`ServeOptions::handshake_timeout`]; a client that speaks plain HTTP to the TLS port is answered 400 `https_required` in plain HTTP |
//! | waiting for a request head, between requests included (keep-alive idle) | [`ServeOptions::idle_timeout`] |
//! | reading a request body | [`ServeOptions::body_timeout`] |
//! | writing a response (the live stream included): no byte taken by the client for this long | [`ServeOptions::write_timeout`]; the connection is closed |
//! | open connections, handshakes included | [`ServeOptions::max_connections`]; beyond it new ones wait in the kernel's accept queue |
//!
//! Between requests a connection is parked: hyper's HTTP/1.1 state, with
//! its 8 KiB read buffer and 8 KiB buffer for response heads (sizes hyper
//! does not let us change), lives only while a request is being served.
//! An agent that reports every 5 s on a keep-alive connection spends
//! almost all of its time parked, holding only its socket (and its TLS
//! state), so 10,000 agents connected over TLS cost the server about
//! 10 KiB each instead of 22 (docs/performance.md). Each request is served by a hyper
//! connection that stops after its response without closing the socket
//! (keep-alive is turned off only once the response head is written, so
//! the client is not told to close); the bytes hyper read beyond it
//! (pipelined requests) start the next one.
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
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
    /// about 10 KiB with TLS (docs/performance.md).
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
    // At most `u32::MAX` so that the shutdown can wait for every permit.
    let cap = u32::try_from(options.max_connections.max(1)).unwrap_or(u32::MAX);
    let permits = Arc::new(Semaphore::new(cap as usize));
    // Tells the connections to finish: parked ones close at once, busy
    // ones after their response.
    let (stop, stopping) = watch::channel(false);
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
        let stopping = stopping.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => connection(tcp, peer, app, &options, stopping).await,
                Some(acceptor) => {
                    let handshake = async {
                        if speaks_plain_http(&tcp).await {
                            answer_https_required(tcp).await;
                            return None;
                        }
                        Some(acceptor.accept(tcp).await)
                    };
                    match tokio::time::timeout(options.handshake_timeout, handshake).await {
                        Ok(Some(Ok(tls))) => connection(tls, peer, app, &options, stopping).await,
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
    let _ = stop.send(true);
    // Every connection holds a permit until it ends.
    if tokio::time::timeout(options.shutdown_grace, permits.acquire_many(cap))
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

/// Serves one connection's requests with hyper's HTTP/1.1, one hyper
/// connection a request, parked between them (see the module docs).
async fn connection<I>(
    io: I,
    peer: std::net::SocketAddr,
    app: Router,
    options: &ServeOptions,
    mut stopping: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let trusted = options
        .trusted_proxies
        .iter()
        .any(|proxy| proxy.contains(peer.ip()));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.idle_timeout)
        .keep_alive(true);
    let mut io = Rewind {
        inner: io,
        prefix: Bytes::new(),
    };
    loop {
        if io.prefix.is_empty() {
            // Parked: waits for the next request's first byte holding no
            // HTTP buffers.
            let mut first = [0u8; 1];
            let read = tokio::select! {
                read = tokio::time::timeout(options.idle_timeout, io.inner.read(&mut first)) => read,
                _ = stopping.wait_for(|stop| *stop) => return,
            };
            match read {
                Ok(Ok(1)) => io.prefix = Bytes::copy_from_slice(&first),
                // Closed by the client, failed, or idle too long.
                _ => return,
            }
        }
        // Boxed: the hyper connection's state is not carried by the parked
        // connection's task.
        let next = Box::pin(request(io, &http, &app, peer, trusted, options, &stopping)).await;
        match next {
            Some(rest) => io = rest,
            None => return,
        }
    }
}

/// Serves the request that begins on `io` (more if hyper takes several
/// pipelined ones in one go); the connection back when it can carry
/// another.
async fn request<I>(
    io: Rewind<I>,
    http: &hyper::server::conn::http1::Builder,
    app: &Router,
    peer: std::net::SocketAddr,
    trusted: bool,
    options: &ServeOptions,
    stopping: &watch::Receiver<bool>,
) -> Option<Rewind<I>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let round = Arc::new(Round::default());
    let service = service(app, peer, trusted, options.body_timeout, &round);
    let mut conn = http.serve_connection(TokioIo::new(io), service);
    let mut stopped = std::pin::pin!(stopped(stopping.clone()));
    let mut last = false;
    let served = std::future::poll_fn(|cx| {
        loop {
            let done = if round.spent() {
                // Hyper ends it as it would any connection (flushing and
                // shutting the socket down).
                Pin::new(&mut conn).poll(cx)
            } else {
                conn.poll_without_shutdown(cx)
            };
            if done.is_ready() {
                return done;
            }
            if !last && (round.answered() || stopped.as_mut().poll(cx).is_ready()) {
                // After the response head: this request is the last of this
                // hyper connection, but the client is not told to close
                // (or, when stopping, is).
                Pin::new(&mut conn).graceful_shutdown();
                last = true;
                continue;
            }
            return Poll::Pending;
        }
    })
    .await;
    if let Err(error) = served {
        // Closed by the client, timed out, or not HTTP at all.
        tracing::debug!(%peer, %error, "Connection ended with an error.");
        return None;
    }
    if round.spent() {
        // Hyper may have ended the exchange in the poll that read it (a
        // client's `Connection: close`): it flushes what is left and shuts
        // the socket down as it would have (TLS close_notify included).
        let _ = tokio::time::timeout(options.write_timeout, &mut conn).await;
        return None;
    }
    let parts = conn.into_parts();
    let mut io = parts.io.into_inner();
    if *stopping.borrow() {
        let _ = tokio::time::timeout(Duration::from_secs(1), io.inner.shutdown()).await;
        return None;
    }
    // A copy: the bytes hyper hands back share (and so would keep alive)
    // its whole read buffer, even when there are none.
    io.prefix = if parts.read_buf.is_empty() {
        Bytes::new()
    } else {
        Bytes::copy_from_slice(&parts.read_buf)
    };
    Some(io)
}

/// Resolves when the server stops (or has gone).
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// What one request's hyper connection tells the connection's loop.
#[derive(Default)]
struct Round {
    /// The service has answered the request it was last given, so hyper
    /// has written that response's head (in the same poll) and keep-alive
    /// may be turned off without the client being told to close. (Hyper
    /// may serve several pipelined requests in one poll: each clears it
    /// when it starts.)
    answered: AtomicBool,
    /// The connection cannot carry another request: the client asked to
    /// close (or speaks HTTP/1.0), or the request body was left unread.
    spent: AtomicBool,
}

impl Round {
    fn answered(&self) -> bool {
        self.answered.load(Ordering::Acquire)
    }

    fn spent(&self) -> bool {
        self.spent.load(Ordering::Acquire)
    }

    fn spend(&self) {
        self.spent.store(true, Ordering::Release);
    }
}

/// A boxed response future (hyper's `poll_without_shutdown` needs it
/// `Unpin`).
type Answer = Pin<
    Box<dyn Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send>,
>;

/// The service of one request's hyper connection: the router, with the
/// body's deadline, the peer's address, and the request's news for `round`.
fn service(
    app: &Router,
    peer: std::net::SocketAddr,
    trusted: bool,
    body_timeout: Duration,
    round: &Arc<Round>,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = Answer,
> + Unpin {
    let app = app.clone();
    let round = Arc::clone(round);
    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        round.answered.store(false, Ordering::Release);
        if !reusable(&request) {
            round.spend();
        }
        let body_round = Arc::clone(&round);
        let mut request = request
            .map(|body| axum::body::Body::new(Deadline::new(body, body_timeout, body_round)));
        request
            .extensions_mut()
            .insert(ConnectInfo(ClientAddr(peer)));
        if trusted {
            request.extensions_mut().insert(crate::limit::TrustedProxy);
        }
        let answer = app.clone().call(request);
        let round = Arc::clone(&round);
        Box::pin(async move {
            let response = answer.await;
            round.answered.store(true, Ordering::Release);
            response
        }) as Answer
    })
}

/// Whether the client lets the connection carry another request after
/// this one: HTTP/1.1 without `Connection: close` (as hyper decides).
fn reusable<B>(request: &hyper::Request<B>) -> bool {
    request.version() == hyper::Version::HTTP_11
        && !request
            .headers()
            .get_all(hyper::header::CONNECTION)
            .iter()
            .any(|value| {
                value
                    .to_str()
                    .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
            })
}

/// A connection with bytes already read from it in front: the first byte
/// a parked connection waited for, or what hyper read beyond a request.
struct Rewind<I> {
    inner: I,
    prefix: Bytes,
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewind<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
/// Dropped before its end, it tells its `round` that the connection
/// cannot carry another request (what is left of it would be read as one).
struct Deadline {
    inner: Incoming,
    timeout: Duration,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    round: Arc<Round>,
    ended: bool,
}

impl Deadline {
    fn new(inner: Incoming, timeout: Duration, round: Arc<Round>) -> Self {
        Deadline {
            inner,
            timeout,
            deadline: Instant::now() + timeout,
            sleep: None,
            round,
            ended: false,
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if !self.ended && !self.inner.is_end_stream() {
            self.round.spend();
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
            Poll::Ready(None) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(Into::into))),
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
