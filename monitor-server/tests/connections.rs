//! Connection handling over real sockets on loopback: slow and silent
//! clients are closed by the timeouts, the connection cap holds new
//! connections back, and the peer's address reaches the handlers (or the
//! client's, from a trusted proxy).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Dir, serve_on_loopback};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monitor_server::serve::{ServeOptions, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server's router on a loopback port with `options`.
async fn start(options: ServeOptions) -> (SocketAddr, Dir) {
    let (addr, dir, _) = serve_on_loopback(options, std::future::pending()).await;
    (addr, dir)
}

fn short(options: ServeOptions) -> ServeOptions {
    ServeOptions {
        handshake_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        ..options
    }
}

/// Reads until the server closes the connection (or 10 s pass); what it
/// sent, and how long that took.
async fn read_to_close(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server kept the connection open for 10 s");
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

const HEALTH: &[u8] = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#[tokio::test]
async fn a_request_head_sent_slowly_is_cut_off() {
    let (addr, _dir) = start(short(ServeOptions::default())).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // Slowloris: a head that is never finished.
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let (_, took) = read_to_close(&mut stream).await;
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let (addr, _dir) = start(short(ServeOptions::default())).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(HEALTH).await.unwrap();
    let (got, took) = read_to_close(&mut stream).await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
}

#[tokio::test]
async fn a_client_that_keeps_reporting_keeps_its_connection() {
    let (addr, _dir) = start(short(ServeOptions::default())).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // Three requests 0.6 s apart, each within the 1-s idle timeout of the
    // previous answer, on one connection.
    for _ in 0..3 {
        stream.write_all(HEALTH).await.unwrap();
        let mut buf = vec![0; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
}

/// Reads one response with a `Content-Length` body from `stream`, after
/// `pending` (bytes of it already read).
async fn read_response(stream: &mut TcpStream, pending: &mut Vec<u8>) -> String {
    loop {
        let text = String::from_utf8_lossy(pending).into_owned();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .expect("a response without Content-Length");
            let end = head_end + 4 + length;
            if pending.len() >= end {
                let response = String::from_utf8_lossy(&pending[..end]).into_owned();
                pending.drain(..end);
                return response;
            }
        }
        let mut buf = vec![0; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("no response within 5 s")
            .unwrap();
        assert_ne!(n, 0, "closed before a whole response: {text}");
        pending.extend_from_slice(&buf[..n]);
    }
}

/// Between requests a connection holds no HTTP state (it is parked): the
/// requests a client sends in one go (pipelined) are each answered, in
/// order, and the connection still carries more afterwards.
#[tokio::test]
async fn pipelined_requests_are_each_answered_in_order() {
    let (addr, _dir) = start(short(ServeOptions::default())).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let missing = b"GET /api/nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut batch = Vec::new();
    for _ in 0..3 {
        batch.extend_from_slice(HEALTH);
        batch.extend_from_slice(missing);
    }
    stream.write_all(&batch).await.unwrap();
    let mut pending = Vec::new();
    for _ in 0..3 {
        let health = read_response(&mut stream, &mut pending).await;
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        assert!(
            !health.to_ascii_lowercase().contains("connection: close"),
            "{health}"
        );
        let missing = read_response(&mut stream, &mut pending).await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    }
    assert!(pending.is_empty(), "{}", String::from_utf8_lossy(&pending));
    stream.write_all(HEALTH).await.unwrap();
    let again = read_response(&mut stream, &mut pending).await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
}

/// A client that asks to close (`Connection: close`, or HTTP/1.0) gets its
/// answer and the end of the connection, not a parked connection waiting
/// for a request that never comes.
#[tokio::test]
async fn a_client_that_asks_to_close_is_answered_and_closed_at_once() {
    let (addr, _dir) = start(ServeOptions::default()).await;
    for request in [
        &b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"[..],
        b"GET /api/health HTTP/1.0\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let (got, took) = read_to_close(&mut stream).await;
        assert!(
            got.starts_with("HTTP/1.") && got.contains(" 200 OK"),
            "{got}"
        );
        assert!(got.contains("\"status\""), "{got}");
        assert!(took < Duration::from_secs(5), "closed after {took:?}");
    }
}

/// A request answered without its body being read (refused before the
/// body matters): what is left of the body must not be read as the next
/// request. The client gets its answer and the connection ends.
#[tokio::test]
async fn a_body_left_unread_is_not_taken_for_the_next_request() {
    let (addr, _dir) = start(short(ServeOptions::default())).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // No token: refused before the body is read. The body is larger than
    // what a first read takes, and looks like a request.
    let mut body = Vec::new();
    while body.len() < 200_000 {
        body.extend_from_slice(HEALTH);
    }
    stream
        .write_all(
            format!(
                "POST /api/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let writing = tokio::spawn(async move {
        let _ = stream.write_all(&body).await;
        stream
    });
    let mut stream = writing.await.unwrap();
    let (got, _) = read_to_close(&mut stream).await;
    assert!(got.starts_with("HTTP/1.1 401"), "{got}");
    assert_eq!(got.matches("HTTP/1.1").count(), 1, "{got}");
}

/// At shutdown a parked connection is closed at once, a request in progress
/// is let finish (told to close), and `serve` returns within the grace.
#[tokio::test]
async fn a_shutdown_closes_parked_connections_and_lets_requests_finish() {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr, _dir, serving) = serve_on_loopback(
        ServeOptions {
            shutdown_grace: Duration::from_secs(5),
            ..ServeOptions::default()
        },
        async move {
            let _ = stopped.await;
        },
    )
    .await;
    let mut parked = TcpStream::connect(addr).await.unwrap();
    parked.write_all(HEALTH).await.unwrap();
    let mut pending = Vec::new();
    let answer = read_response(&mut parked, &mut pending).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // In progress: a registration whose body has not all arrived.
    let mut busy = TcpStream::connect(addr).await.unwrap();
    let body = br#"{"name":"shutdown-test"}"#;
    busy.write_all(
        format!(
            "POST /api/register HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Admin-Token: smk_adm_test_admin_token_0123456789\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    busy.write_all(&body[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = Instant::now();
    stop.send(()).unwrap();
    let (rest, _) = read_to_close(&mut parked).await;
    assert_eq!(rest, "", "the parked connection got more than its end");
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "the parked connection was closed after {:?}",
        stopping.elapsed()
    );
    busy.write_all(&body[5..]).await.unwrap();
    let (got, _) = read_to_close(&mut busy).await;
    assert!(
        got.starts_with("HTTP/1.1 200") || got.starts_with("HTTP/1.1 201"),
        "{got}"
    );
    assert!(
        got.to_ascii_lowercase().contains("connection: close"),
        "{got}"
    );
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("serve did not return within the grace")
        .unwrap();
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_answered_408() {
    let (addr, _dir) = start(short(ServeOptions::default())).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /api/register HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Admin-Token: smk_adm_test_admin_token_0123456789\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"version\":",
        )
        .await
        .unwrap();
    let (got, took) = read_to_close(&mut stream).await;
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("\"error\":\"body_timeout\""), "{got}");
    assert!(got.contains("limits.body_timeout"), "{got}");
    assert!(
        took >= Duration::from_millis(900),
        "answered after {took:?}"
    );
}

#[tokio::test]
async fn a_tls_client_that_never_says_hello_is_closed_after_the_handshake_timeout() {
    let dir = std::env::temp_dir().join(format!("monitor-conn-tls-{}", std::process::id()));
    let certs = monitor_server::tls::self_signed(&dir, &[]).unwrap();
    let tls = monitor_server::tls::server_config(&certs.cert, &certs.key).unwrap();
    let (addr, _dir) = start(short(ServeOptions {
        tls: Some(tls),
        ..ServeOptions::default()
    }))
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (got, took) = read_to_close(&mut stream).await;
    assert!(got.is_empty());
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn beyond_the_connection_cap_new_connections_wait_for_a_free_slot() {
    let (addr, _dir) = start(ServeOptions {
        max_connections: 2,
        ..ServeOptions::default()
    })
    .await;
    let first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    // The second is served: both slots are taken once it has answered.
    second.write_all(HEALTH).await.unwrap();
    let mut buf = vec![0; 4096];
    let n = second.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // The third connects (the kernel's queue) but is not served...
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(HEALTH).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(waited.is_err(), "served beyond the cap");
    // ...until a slot is free.
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(10), third.read(&mut buf))
        .await
        .expect("a free slot was not given to the waiting connection")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn the_live_stream_outlives_the_idle_timeout() {
    let (addr, _dir) = start(short(ServeOptions::default())).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n",
        )
        .await
        .unwrap();
    let mut buf = vec![0; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Well past the 1-s idle timeout, the response is still open: a read
    // either waits or gets a keep-alive comment, never the end.
    let deadline = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await {
            Err(_) => {}
            Ok(read) => assert_ne!(read.unwrap(), 0, "the stream was closed"),
        }
    }
}

/// A client that asks and never reads (its receive window closed) held its
/// connection, and its slot of `max_connections`, for ever: with all slots
/// so held, nobody else was served. Now the response write gives up after
/// `write_timeout` without progress and the slot is free again.
#[tokio::test]
async fn a_client_that_never_reads_is_cut_off() {
    let (addr, _dir) = start(ServeOptions {
        max_connections: 3,
        write_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    })
    .await;
    let pipelined = b"GET /api/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(300);
    let mut holders = Vec::new();
    for _ in 0..3 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(1024).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        stream.write_all(&pipelined).await.unwrap();
        holders.push(stream);
    }
    // Let the server fill what the kernel buffers hold.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(HEALTH).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut buf))
        .await
        .expect("every connection slot is still held by a client that does not read")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(holders);
}

/// This machine's address on its default route, not loopback: `None`
/// where it has none (the test is skipped).
fn outward_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("203.0.113.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// What the server takes for the client's address when a peer that is not
/// on loopback sends `X-Forwarded-For`: the peer, unless it is in
/// `trusted_proxies` (a load balancer on another machine), whose header is
/// then believed. Before `trusted_proxies`, only a proxy on loopback was,
/// so behind a load balancer every client shared its address (and one
/// guesser's wrong tokens locked out every agent).
#[tokio::test]
async fn a_trusted_proxy_on_another_machine_names_the_client() {
    let Some(ip) = outward_address() else {
        eprintln!("skipped: no address besides loopback");
        return;
    };
    let who = axum::Router::new().route(
        "/who",
        axum::routing::get(|request: axum::extract::Request| async move {
            let (parts, _) = request.into_parts();
            monitor_server::limit::client_ip(&parts).map_or(String::new(), |ip| ip.to_string())
        }),
    );
    let ask = |trusted: Vec<monitor_server::limit::Network>| {
        let who = who.clone();
        async move {
            let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let options = ServeOptions {
                trusted_proxies: trusted,
                ..ServeOptions::default()
            };
            let server = tokio::spawn(serve(listener, who, options, std::future::pending()));
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(
                    b"GET /who HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.1, 203.0.113.7\r\nConnection: close\r\n\r\n",
                )
                .await
                .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            server.abort();
            answer.rsplit("\r\n").next().unwrap_or_default().to_owned()
        }
    };
    assert_eq!(
        ask(Vec::new()).await,
        ip.to_string(),
        "an untrusted peer's header is not believed"
    );
    let own: monitor_server::limit::Network = ip.to_string().parse().unwrap();
    assert_eq!(
        ask(vec![own]).await,
        "203.0.113.7",
        "a trusted proxy names the client"
    );
}
