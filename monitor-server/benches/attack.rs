//! One agent token attacks, a well-behaved agent reports: what the attack
//! costs the server and the other agent. The server is the release binary
//! over HTTPS with SQLite and durable acknowledgements, as in production.
//!
//! Run with: `cargo bench -p monitor-server --bench attack`
//!
//! Phases:
//! 1. the well-behaved agent alone (`BENCH_RATE` reports a second, 10, for
//!    `BENCH_SECS`, 20): its latency;
//! 2. the same while the attacker sends, each on its own connection as fast
//!    as it is answered: label bombs (a sample with 280,000 labels in
//!    descending order, 3.8 MB), fresh series at its full rate (reports of
//!    2,000 new label values, refused once past `max_series_per_server`),
//!    bodies over `max_body_bytes`, and 4 MB bodies malformed at their
//!    end; the agent's latency and errors, the server's CPU and peak RSS;
//! 3. what one refused request costs the server, in CPU, next to what
//!    reading the same bytes costs (a body of that size refused at its
//!    first byte): each kind sent `BENCH_COST_REQUESTS` (40) times in turn.
//!
//! The load generator shares the two cores with the server; every body is
//! made before the clock starts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::traffic::gzip;
use monitor_core::testing::{Rng, report};
use monitor_core::wire;

const ADMIN: &str = "attack-bench-admin-token-0123456789abcdef";

/// One keep-alive HTTPS connection posting prepared bodies.
struct Conn {
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(tls: &Arc<rustls::ClientConfig>, addr: SocketAddr) -> std::io::Result<Conn> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
            .connect(name, tcp)
            .await?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Posts `body` (a prepared request: head and body) and reads the
    /// answer; its status.
    async fn send(&mut self, request: &[u8]) -> std::io::Result<u16> {
        use std::io::{Error, ErrorKind};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(request).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "closed"));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        while self.buf.len() < head_end + length {
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "closed"));
            }
        }
        if head.to_ascii_lowercase().contains("connection: close") {
            return Err(Error::new(
                ErrorKind::ConnectionAborted,
                "closed by the server",
            ));
        }
        Ok(status)
    }
}

/// A prepared `POST /api/metrics` with `token` and `body`.
fn request(token: &str, body: &[u8], gzip: bool) -> Vec<u8> {
    let mut out = format!(
        "POST /api/metrics HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\nx-auth-token: {token}\r\n{}content-length: {}\r\n\r\n",
        if gzip { "content-encoding: gzip\r\n" } else { "" },
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A snapshot of `id` whose one sample has `n` labels in descending order.
fn label_bomb(id: &str, n: usize) -> Vec<u8> {
    let mut body = format!(
        r#"{{"version":1,"server_id":"{id}","timestamp":{},"metrics":[{{"name":"x","samples":[{{"value":1,"labels":{{"#,
        monitor_core::Timestamp::now().as_secs_f64()
    );
    for i in (0..n).rev() {
        if i + 1 < n {
            body.push(',');
        }
        body.push_str(&format!("\"l{i:07}\":\"v\""));
    }
    body.push_str("}}]}]}");
    body.into_bytes()
}

/// A snapshot of `id` at `ms` with `n` samples whose label values start
/// at `first`: fresh series.
fn fresh_series(id: &str, ms: i64, first: usize, n: usize) -> Vec<u8> {
    let mut c = monitor_core::Collection::new();
    for i in first..first + n {
        c.gauge(
            "filesystem_used_percent",
            monitor_core::Unit::PERCENT,
            monitor_core::Labels::new().with("mountpoint", format!("/random/{i}")),
            1.0,
        );
    }
    let s = monitor_core::Snapshot::new(
        monitor_core::ServerId::new(id).unwrap(),
        monitor_core::Timestamp::from_millis(ms),
        c,
    );
    wire::encode(&s).unwrap()
}

/// About `size` bytes of valid samples, then a broken end.
fn malformed_at_end(id: &str, size: usize) -> Vec<u8> {
    let mut body = format!(
        r#"{{"version":1,"server_id":"{id}","timestamp":1,"metrics":[{{"name":"x","samples":["#
    );
    let mut i = 0;
    while body.len() < size {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(r#"{{"labels":{{"k":"{i}"}},"value":{i}}}"#));
        i += 1;
    }
    body.push_str("]}],#");
    body.into_bytes()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// The well-behaved agent: `rate` reports a second for `secs`, each a
/// 52-sample report at its own time; latencies in µs and errors.
async fn good_agent(
    tls: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    token: String,
    rate: usize,
    secs: usize,
    start_ms: i64,
) -> (Vec<u32>, usize) {
    let mut rng = Rng(7);
    let bodies: Vec<Vec<u8>> = (0..rate * secs)
        .map(|i| {
            let s = report("good-01", start_ms + i as i64 * 100, i as i64, &mut rng);
            request(&token, &gzip(&wire::encode(&s).unwrap()), true)
        })
        .collect();
    let mut conn = Conn::open(&tls, addr).await.unwrap();
    let mut latencies = Vec::with_capacity(bodies.len());
    let mut errors = 0;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for body in &bodies {
        tick.tick().await;
        let started = Instant::now();
        match conn.send(body).await {
            Ok(200) => {}
            Ok(status) => {
                errors += 1;
                eprintln!("the good agent got {status}");
            }
            Err(e) => {
                errors += 1;
                eprintln!("the good agent's connection failed: {e}");
                conn = Conn::open(&tls, addr).await.unwrap();
            }
        }
        latencies.push(started.elapsed().as_micros() as u32);
    }
    latencies.sort_unstable();
    (latencies, errors)
}

/// Sends `requests` in turn, again and again, until `stop`; counts answers.
async fn attacker(
    tls: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) {
    let mut conn = None;
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            conn = Conn::open(&tls, addr).await.ok();
        }
        if let Some(c) = conn.as_mut()
            && c.send(&requests[i % requests.len()]).await.is_err()
        {
            conn = None;
        }
        sent.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
}

fn main() {
    let rate = common::env("BENCH_RATE", 10);
    let secs = common::env("BENCH_SECS", 20);
    let cost_n = common::env("BENCH_COST_REQUESTS", 40);
    let rt = common::runtime();
    let server = common::ServerProcess::start("attack", ADMIN, "error");
    let (pid, port) = (server.pid(), server.port);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let tls = common::tls_config(&server.certs.ca);
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.get(format!("{base}/api/health")).send().await.is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut tokens = Vec::new();
        for id in ["good-01", "evil-01", "evil-02"] {
            let r: serde_json::Value = client
                .post(format!("{base}/api/register"))
                .header("x-admin-token", ADMIN)
                .header("content-type", "application/json")
                .body(format!(r#"{{"server_id":"{id}"}}"#))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            tokens.push(r["token"].as_str().unwrap().to_owned());
        }
        let (good, evil, evil_series) = (tokens[0].clone(), tokens[1].clone(), tokens[2].clone());
        let now = monitor_core::Timestamp::now().as_millis();
        let (_, rss0) = common::usage(pid);
        println!("server at rest: {:.1} MiB", rss0 as f64 / 1024.0);

        // 1. The good agent alone.
        let (alone, errors) = good_agent(
            Arc::clone(&tls),
            addr,
            good.clone(),
            rate,
            secs,
            now - 3_600_000,
        )
        .await;
        println!(
            "good agent alone: {} reports, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {errors} errors",
            alone.len(),
            percentile(&alone, 0.5),
            percentile(&alone, 0.99),
            percentile(&alone, 1.0)
        );

        // The attacker's bodies.
        let bomb = label_bomb("evil-01", 250_000);
        let bomb_gz = request(&evil, &gzip(&bomb), true);
        let bomb_raw = request(&evil, &bomb, false);
        let series: Vec<Vec<u8>> = (0..64)
            .map(|r| {
                request(
                    &evil_series,
                    &gzip(&fresh_series("evil-02", now - 1_800_000 + r as i64 * 100, r * 2000, 2000)),
                    true,
                )
            })
            .collect();
        let oversized = request(&evil, &vec![b' '; 5 << 20], false);
        let malformed = malformed_at_end("evil-01", 4_000_000);
        let malformed_raw = request(&evil, &malformed, false);
        println!(
            "attack bodies: label bomb {:.1} MB ({:.0} KB gzip), fresh series {:.0} KB gzip, oversized {:.1} MB, malformed {:.1} MB",
            bomb.len() as f64 / 1e6,
            bomb_gz.len() as f64 / 1e3,
            series[0].len() as f64 / 1e3,
            oversized.len() as f64 / 1e6,
            malformed.len() as f64 / 1e6
        );

        // 2. The good agent while the attacker sends.
        let stop = Arc::new(AtomicBool::new(false));
        let mut attackers = Vec::new();
        let mut counters = Vec::new();
        for (name, requests) in [
            ("label bombs (gzip)", vec![bomb_gz.clone()]),
            ("label bombs (plain)", vec![bomb_raw.clone()]),
            ("fresh series", series.clone()),
            ("oversized", vec![oversized.clone()]),
            ("malformed", vec![malformed_raw.clone()]),
        ] {
            let sent = Arc::new(AtomicU64::new(0));
            counters.push((name, Arc::clone(&sent)));
            attackers.push(tokio::spawn(attacker(
                Arc::clone(&tls),
                addr,
                Arc::new(requests),
                Arc::clone(&stop),
                sent,
            )));
        }
        let peak = Arc::new(AtomicU64::new(0));
        let sampling = {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(common::usage(pid).1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let (cpu0, _) = common::usage(pid);
        let started = Instant::now();
        let (attacked, errors) =
            good_agent(Arc::clone(&tls), addr, good.clone(), rate, secs, now - 1_800_000).await;
        let took = started.elapsed().as_secs_f64();
        let (cpu1, _) = common::usage(pid);
        stop.store(true, Ordering::Relaxed);
        for a in attackers {
            let _ = a.await;
        }
        let _ = sampling.await;
        println!(
            "good agent under attack: {} reports, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {errors} errors",
            attacked.len(),
            percentile(&attacked, 0.5),
            percentile(&attacked, 0.99),
            percentile(&attacked, 1.0)
        );
        for (name, sent) in &counters {
            println!(
                "  attacker, {name}: {} requests ({:.1}/s)",
                sent.load(Ordering::Relaxed),
                sent.load(Ordering::Relaxed) as f64 / took
            );
        }
        println!(
            "  server CPU {:.0} % of one core, peak RSS {:.1} MiB",
            (cpu1 - cpu0) as f64 / took,
            peak.load(Ordering::Relaxed) as f64 / 1024.0
        );

        // 3. What one refused request costs, next to reading its bytes.
        let mut conn = Conn::open(&tls, addr).await.unwrap();
        async fn measure(
            conn: &mut Conn,
            tls: &Arc<rustls::ClientConfig>,
            addr: SocketAddr,
            pid: u32,
            request: &[u8],
            n: usize,
        ) -> (f64, u16) {
            let (cpu0, _) = common::usage(pid);
            let mut status = 0;
            for _ in 0..n {
                match conn.send(request).await {
                    Ok(s) => status = s,
                    Err(_) => *conn = Conn::open(tls, addr).await.unwrap(),
                }
            }
            let (cpu1, _) = common::usage(pid);
            ((cpu1 - cpu0) as f64 * 10.0 / n as f64, status)
        }
        // The same bytes with the first one broken, refused at it: what
        // reading them costs (TLS, HTTP, inflating the gzip ones), with the
        // same size and the same compressibility.
        let broken = |body: &[u8]| {
            let mut b = body.to_vec();
            b[0] = b'#';
            b
        };
        let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
            (
                "label bomb, gzip",
                bomb_gz.clone(),
                request(&evil, &gzip(&broken(&bomb)), true),
            ),
            (
                "label bomb, plain",
                bomb_raw.clone(),
                request(&evil, &broken(&bomb), false),
            ),
            (
                "malformed at the end, plain",
                malformed_raw.clone(),
                request(&evil, &broken(&malformed), false),
            ),
            (
                "malformed at the end, gzip",
                request(&evil, &gzip(&malformed), true),
                request(&evil, &gzip(&broken(&malformed)), true),
            ),
            (
                "oversized, plain",
                oversized.clone(),
                request(&evil, &vec![b'#'; 4 << 20], false),
            ),
        ];
        println!("cost of one refused request (server CPU, ms), next to reading its bytes:");
        for (name, attack, baseline) in cases {
            let (read, _) = measure(&mut conn, &tls, addr, pid, &baseline, cost_n).await;
            let (refused, status) = measure(&mut conn, &tls, addr, pid, &attack, cost_n).await;
            println!(
                "  {name}: {refused:.2} ms (status {status}), reading its bytes {read:.2} ms: {:.2}x",
                refused / read.max(0.01)
            );
        }
        let (_, rss_end) = common::usage(pid);
        println!("server after the attack: {:.1} MiB", rss_end as f64 / 1024.0);
    });
    drop(server);
}
