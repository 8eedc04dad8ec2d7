//! What an idle keep-alive connection costs the server, counted by an
//! allocator that keeps the sum of the bytes allocated and freed (this
//! test binary's own; the server runs in it on loopback).
//!
//! Agents keep their connection open between reports, so a server with
//! 10,000 agents holds 10,000 mostly idle connections. hyper's HTTP/1.1
//! state allocates an 8 KiB read buffer and an 8 KiB buffer for response
//! heads that it keeps for the connection's life: 16 KiB an agent doing
//! nothing. Between requests the server parks the connection instead,
//! holding only its socket and task.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::alloc::System;
use std::time::Duration;

use monitor_server::serve::ServeOptions;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The bytes allocated and not yet freed, by the whole process.
fn in_use() -> isize {
    // (A reallocation's growth or shrinking is counted in these two.)
    let stats = ALLOCATOR.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

const HEALTH: &[u8] = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Sends a request on `stream` and reads its answer (one read: it is small).
async fn ask(stream: &mut TcpStream) {
    stream.write_all(HEALTH).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("no answer within 10 s")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
}

/// The bytes in use once the count has settled (the server's tasks
/// finish their work after the client has read the answer).
async fn settled() -> isize {
    let mut last = in_use();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = in_use();
        if (now - last).abs() < 4096 {
            return now;
        }
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_holds_no_http_buffers() {
    let (addr, _dir, _) =
        common::serve_on_loopback(ServeOptions::default(), std::future::pending()).await;
    // Warm up what the first requests set up once.
    for _ in 0..3 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        ask(&mut stream).await;
    }
    const CONNECTIONS: usize = 400;
    let mut clients = Vec::with_capacity(CONNECTIONS);
    let before = settled().await;
    for _ in 0..CONNECTIONS {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        ask(&mut stream).await;
        clients.push(stream);
    }
    let after = settled().await;
    let each = (after - before) / CONNECTIONS as isize;
    eprintln!(
        "{CONNECTIONS} idle keep-alive connections: {} bytes each (server and client together)",
        each
    );
    // hyper's two buffers alone would be 16,384 bytes.
    assert!(
        each < 8 * 1024,
        "an idle connection holds {each} bytes: more than its socket and task"
    );
    // And each connection still carries requests.
    for stream in &mut clients {
        ask(stream).await;
    }
}
