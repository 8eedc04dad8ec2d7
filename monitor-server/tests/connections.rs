//! Connection handling over real sockets on loopback: slow and silent
//! clients are closed by the timeouts, the connection cap holds new
//! connections back, and the peer's address reaches the handlers (or the
//! client's, from a trusted proxy).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Dir;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monitor_server::api::{AppState, router};
use monitor_server::auth::Token;
use monitor_server::serve::{ServeOptions, serve};
use monitor_store::{SqlStore, StoreOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server's router on a loopback port with `options`.
async fn start(options: ServeOptions) -> (SocketAddr, Dir) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("monitor-conn-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = SqlStore::open(StoreOptions::sqlite(dir.join("db")))
        .await
        .unwrap();
    let admin = Token::from_secret("smk_adm_test_admin_token_0123456789").unwrap();
    let app = router(AppState::new(Arc::new(store), &admin, None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        serve(listener, app, options, std::future::pending())
            .await
            .unwrap();
    });
    (addr, Dir(dir))
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
