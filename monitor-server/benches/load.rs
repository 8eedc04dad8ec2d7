//! Load test: simulated agents over HTTPS against the server process (the
//! release binary, SQLite, durable acknowledgements), next to an HTTP floor
//! measured in the same run: an axum handler that only parses a 2 KB JSON
//! body over the same TLS.
//!
//! Run with: `cargo bench -p monitor-server --bench load`
//!
//! One benchmark with its phases in run order, kept in one file (over 800
//! lines) so that a phase reads next to the state the previous one left.
//!
//! Environment: `BENCH_HOSTS` simulated hosts (10,000, each registered with
//! its own token), `BENCH_CONNECTIONS` concurrent keep-alive connections
//! (64), `BENCH_SECS` of saturation (15), `BENCH_RATE` reports per second of
//! the latency phase (1,000, for 10 s), `BENCH_IDLE_CONNECTIONS` agent
//! connections held open to measure what each costs (2,000), `BENCH_HERD`
//! agents coming back at once after an outage (1,000) with
//! `BENCH_HERD_BACKLOG` reports spooled each (300: five minutes),
//! `BENCH_FLEET` agents each on a connection of its own sending a report a
//! second (1,000) for `BENCH_FLEET_SECS` (60; RELIABILITY.md R8 says 600).
//!
//! The load generator shares the two cores with the server. To leave the
//! server as much CPU as a real deployment (agents on other machines) would,
//! every request body (a 52-sample report, JSON, gzip as the agent sends it)
//! is made before the clock starts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::traffic::{
    Conn, Fleet, PeakRss, Request, Target, bodies, client, gzip, hold, paced, print,
    register_hosts, saturate, send,
};
use monitor_core::testing::{Rng, report};
use monitor_core::{Timestamp, wire};

const ADMIN: &str = "load-test-admin-token-0123456789abcdef";

/// RELIABILITY.md R9, the thundering herd: the agents of `hosts`, whose
/// server was down, come back at once, each with `backlog` reports spooled
/// (one a second, in the past), sent as the agent does: batches of 100 on
/// a fresh connection, one after the other, a batch refused with 429 or
/// 503 (or a failed connection) sent again after a second. Prints how long
/// the backlog took to drain, the answers by status, and the server's CPU
/// and peak memory meanwhile.
async fn herd(target: &Target, hosts: &[(String, Arc<str>)], backlog: usize, pid: u32) {
    use std::collections::BTreeMap;
    let n = hosts.len();
    let since = Timestamp::now().as_millis() - (backlog as i64 + 60) * 1000;
    let made = Instant::now();
    let mut rng = Rng(7);
    let work: Vec<(Arc<str>, Vec<axum::body::Bytes>)> = hosts
        .iter()
        .map(|(id, token)| {
            let snapshots: Vec<_> = (0..backlog)
                .map(|i| report(id, since + i as i64 * 1000, i as i64, &mut rng))
                .collect();
            let bodies = snapshots
                .chunks(100)
                .map(|c| gzip(&wire::encode_batch(c).unwrap()).into())
                .collect();
            (Arc::clone(token), bodies)
        })
        .collect();
    println!(
        "made the backlogs of {n} agents ({backlog} reports each, batches of 100) in {:.1} s",
        made.elapsed().as_secs_f64()
    );
    let peak = PeakRss::start(pid);
    let (cpu0, _) = common::usage(pid);
    let started = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|(token, bodies)| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
                let (mut failures, mut acked) = (0usize, 0usize);
                let mut conn: Option<Conn> = None;
                for body in bodies {
                    let r = Request {
                        token: Arc::clone(&token),
                        body,
                    };
                    loop {
                        if conn.is_none() {
                            conn = Conn::open(&target.tls, target.addr).await.ok();
                        }
                        let status = match conn.as_mut() {
                            Some(c) => c.post(&target.path, &r, true).await.ok(),
                            None => None,
                        };
                        match status {
                            Some(s) => {
                                *statuses.entry(s).or_default() += 1;
                                if (200..300).contains(&s) {
                                    acked += 1;
                                    break;
                                }
                                if s != 429 && s != 503 {
                                    break;
                                }
                            }
                            None => {
                                conn = None;
                                failures += 1;
                            }
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                (statuses, failures, acked)
            })
        })
        .collect();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let (mut failures, mut acked) = (0, 0);
    for t in tasks {
        let (s, f, a) = t.await.unwrap();
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
        failures += f;
        acked += a;
    }
    let drained = started.elapsed().as_secs_f64();
    let (cpu1, _) = common::usage(pid);
    let peak = peak.stop().await;
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    println!(
        "herd: {n} agents back at once with {backlog} reports each: {acked} batches of {} acknowledged, drained in {drained:.1} s ({:.0} reports/s); answers by status {statuses:?}, {failures} failed connections; server {:.0} ms CPU per second, peak RSS {:.1} MiB",
        n * backlog.div_ceil(100),
        (n * backlog) as f64 / drained,
        (cpu1 - cpu0) as f64 / ticks * 1000.0 / drained,
        peak as f64 / 1024.0
    );
}

/// The server's open file descriptors.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The server's `monitor_store_reports_total`.
async fn reports_stored(client: &reqwest::Client, base_url: &str) -> u64 {
    let r = client
        .get(format!("{base_url}/metrics"))
        .header("x-admin-token", ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("monitor_store_reports_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("monitor_store_reports_total on /metrics") as u64
}

/// RELIABILITY.md R8: the agents of `hosts` each hold a connection of
/// their own and send one report a second, spread over the second, for
/// `secs`, starting at `from` (ms, later than anything sent before). Prints
/// the answers by status, what was acknowledged against what the store
/// counted, the latency, the server's CPU and peak RSS, and its open files
/// before, during and until they are back within 10 of the start after
/// the agents leave.
async fn fleet(
    target: &Target,
    hosts: &[(String, Arc<str>)],
    secs: u64,
    from: i64,
    pid: u32,
    stored: impl AsyncFn() -> u64,
) {
    use std::collections::BTreeMap;
    let n = hosts.len();
    let fds0 = open_fds(pid);
    // The count before, from a scrape of /metrics, which renders every
    // reporting host's newest values at once: what that costs, and a pause
    // for the allocator to give it back before the fleet's figures.
    let (_, rss0) = common::usage(pid);
    let peak = PeakRss::start(pid);
    let scrape = Instant::now();
    let stored0 = stored().await;
    let scrape = scrape.elapsed().as_secs_f64();
    println!(
        "a scrape of /metrics with every host reporting: {:.0} ms, server RSS {:.1} MiB before, peak {:.1} MiB",
        scrape * 1000.0,
        rss0 as f64 / 1024.0,
        peak.stop().await as f64 / 1024.0
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, rss_start) = common::usage(pid);
    let peak = PeakRss::start(pid);
    let (cpu0, _) = common::usage(pid);
    let started = Instant::now();
    let tasks: Vec<_> = hosts
        .iter()
        .enumerate()
        .map(|(h, (id, token))| {
            let (target, id, token) = (target.clone(), id.clone(), Arc::clone(token));
            tokio::spawn(async move {
                let mut rng = Rng(h as u64 + 1);
                let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
                let mut latencies = Vec::with_capacity(secs as usize);
                let (mut failures, mut acked) = (0usize, 0usize);
                let mut conn = Conn::open(&target.tls, target.addr).await.ok();
                let phase = Duration::from_millis((h * 997 % 1000) as u64);
                let mut ticks = tokio::time::interval_at(
                    tokio::time::Instant::now() + phase,
                    Duration::from_secs(1),
                );
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                for k in 0..secs {
                    ticks.tick().await;
                    let t = from + k as i64 * 1000 + (h % 1000) as i64;
                    let snapshot = report(&id, t, k as i64, &mut rng);
                    let r = Request {
                        token: Arc::clone(&token),
                        body: gzip(&wire::encode(&snapshot).unwrap()).into(),
                    };
                    let (ok, refused, us) = send(&mut conn, &target, &r, true).await;
                    if ok {
                        acked += 1;
                        *statuses.entry(200).or_default() += 1;
                    } else if refused {
                        *statuses.entry(0).or_default() += 1;
                    } else {
                        failures += 1;
                    }
                    latencies.push(us);
                }
                (statuses, failures, acked, latencies, conn)
            })
        })
        .collect();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let (mut failures, mut acked) = (0, 0);
    let mut latencies = Vec::new();
    let mut conns = Vec::new();
    for t in tasks {
        let (s, f, a, l, c) = t.await.unwrap();
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
        failures += f;
        acked += a;
        latencies.extend(l);
        conns.push(c);
    }
    let took = started.elapsed().as_secs_f64();
    let (cpu1, _) = common::usage(pid);
    let (_, rss_end) = common::usage(pid);
    let fds_held = open_fds(pid);
    let peak = peak.stop().await;
    let stored = stored().await - stored0;
    latencies.sort_unstable();
    let pct = |p: f64| f64::from(latencies[((latencies.len() - 1) as f64 * p) as usize]) / 1000.0;
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    println!(
        "fleet: {n} agents, each on its own connection, one report a second for {secs} s: {acked} of {} acknowledged, {stored} stored by the server ({} lost or doubled); not 2xx: {} refused, {failures} failed; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; server {:.0} ms CPU per second, RSS {:.1} MiB at the start, peak {:.1}, {:.1} at the end",
        n as u64 * secs,
        acked as i64 - stored as i64,
        statuses.get(&0).copied().unwrap_or(0),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        (cpu1 - cpu0) as f64 / ticks * 1000.0 / took,
        rss_start as f64 / 1024.0,
        peak as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    drop(conns);
    let left = Instant::now();
    while open_fds(pid) > fds0 + 10 && left.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "fleet: server open files {fds0} before, {fds_held} with the agents connected, {} {:.1} s after they left",
        open_fds(pid),
        left.elapsed().as_secs_f64()
    );
}

/// The floor: axum over the same TLS, a handler that parses the JSON body
/// and answers 200, on its own two-thread runtime.
fn floor_server(cert: &Path, key: &Path) -> SocketAddr {
    let config = monitor_server::tls::server_config(cert, key).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    std::thread::spawn(move || {
        let rt = common::runtime();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/floor",
                axum::routing::post(|body: axum::body::Bytes| async move {
                    match serde_json::from_slice::<serde_json::Value>(&body) {
                        Ok(_) => axum::http::StatusCode::OK,
                        Err(_) => axum::http::StatusCode::BAD_REQUEST,
                    }
                }),
            );
            // The server's own connection handling, so that the floor
            // differs from ingest only in what the handler does.
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            let options = monitor_server::serve::ServeOptions {
                tls: Some(config),
                ..Default::default()
            };
            monitor_server::serve::serve(listener, app, options, std::future::pending())
                .await
                .unwrap();
        });
    });
    addr
}

fn main() {
    let hosts_n = common::env("BENCH_HOSTS", 10_000);
    let connections = common::env("BENCH_CONNECTIONS", 512);
    let secs = common::env("BENCH_SECS", 15);
    let rate = common::env("BENCH_RATE", 1000);
    let idle_n = common::env("BENCH_IDLE_CONNECTIONS", 2000);
    let rt = common::runtime();
    let server = common::ServerProcess::start("load", ADMIN, "warn");
    let (pid, port) = (server.pid(), server.port);
    let base_url = format!("https://localhost:{port}");
    let tls = common::tls_config(&server.certs.ca);
    let client = client(&tls);
    let target = |addr: SocketAddr, path: &str| Target {
        tls: Arc::clone(&tls),
        addr,
        path: path.to_owned(),
    };
    let ingest = target(SocketAddr::from(([127, 0, 0, 1], port)), "/api/metrics");
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.get(format!("{base_url}/api/health")).send().await.is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (_, rss_empty) = common::usage(pid);
        // Register the hosts, 32 at a time.
        let started = Instant::now();
        let hosts = register_hosts(&client, &base_url, ADMIN, "host", hosts_n).await;
        println!(
            "registered {hosts_n} hosts in {:.1} s; server RSS {:.1} MiB before any report",
            started.elapsed().as_secs_f64(),
            rss_empty as f64 / 1024.0
        );
        // A first report from every host (its series are created), untimed:
        // the figures are for the steady state.
        // Reports start now: each host's come faster than every 5 s, so
        // their timestamps run ahead of the clock (up to 3 minutes with the
        // defaults; the server accepts 5); none is late enough to count as
        // offline.
        let base = Timestamp::now().as_millis();
        let first = saturate(
            std::slice::from_ref(&ingest),
            Arc::new(bodies(&hosts, hosts_n, 0, base, Fleet::Steady)),
            connections,
            600,
            true,
        )
        .await;
        print("first report of every host (untimed warm-up)", &first);
        println!("server: RSS {:.1} MiB after the first reports", common::usage(pid).1 as f64 / 1024.0);
        // Saturation: bodies for up to 20,000 reports a second.
        let count = secs * 20_000;
        let made = Instant::now();
        let requests = Arc::new(bodies(&hosts, count, 1, base, Fleet::Steady));
        let mean = requests.iter().map(|r| r.body.len()).sum::<usize>() / count;
        println!(
            "made {count} report bodies (52 samples, gzip, {mean} bytes on average) in {:.1} s",
            made.elapsed().as_secs_f64()
        );
        let (cpu0, _) = common::usage(pid);
        let o = saturate(std::slice::from_ref(&ingest), requests, connections, secs as u64, true).await;
        let (cpu1, rss) = common::usage(pid);
        let n = o.ok + o.refused + o.errors;
        print(&format!("ingest, {connections} connections, saturated"), &o);
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        println!(
            "server: {:.0} ms CPU per second of load ({:.3} ms per report), RSS {:.1} MiB with {hosts_n} hosts reporting",
            (cpu1 - cpu0) as f64 / ticks * 1000.0 / o.secs,
            (cpu1 - cpu0) as f64 / ticks * 1000.0 / n as f64,
            rss as f64 / 1024.0
        );
        let ingest_rate = o.ok as f64 / o.secs;
        // Latency at a fixed rate.
        let rounds = count.div_ceil(hosts_n) + 2;
        let paced_requests = bodies(&hosts, rate * 10, rounds, base, Fleet::Steady);
        let (cpu0, _) = common::usage(pid);
        let o = paced(std::slice::from_ref(&ingest), paced_requests, rate).await;
        let (cpu1, rss) = common::usage(pid);
        print(&format!("ingest at {rate}/s"), &o);
        println!(
            "server: {:.0} ms CPU per second at {rate}/s, RSS {:.1} MiB",
            (cpu1 - cpu0) as f64 / ticks * 1000.0 / o.secs,
            rss as f64 / 1024.0
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        println!(
            "server: RSS {:.1} MiB after 5 s without reports ({hosts_n} hosts known)",
            common::usage(pid).1 as f64 / 1024.0
        );
        // What each open agent connection costs the server (a real fleet
        // keeps one per agent): connections that sent one report each and
        // stay open.
        let (_, rss0) = common::usage(pid);
        let idle_bodies = bodies(&hosts, idle_n.min(hosts_n), rounds + 1, base, Fleet::Steady);
        let held = hold(&ingest, &idle_bodies).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (_, rss1) = common::usage(pid);
        println!(
            "server: {} idle agent connections (one report each): RSS {:.1} -> {:.1} MiB, {:.1} KiB per connection",
            held.len(),
            rss0 as f64 / 1024.0,
            rss1 as f64 / 1024.0,
            (rss1 as f64 - rss0 as f64) / held.len().max(1) as f64
        );
        drop(held);
        // A fleet-wide incident at the same rate: every report starts an
        // alert (stored, saved, published on the stream).
        let firing = |client: reqwest::Client| {
            let url = format!("{base_url}/api/alerts/firing");
            async move {
                let r = client.get(url).header("x-admin-token", ADMIN).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
                v.as_array().unwrap().len()
            }
        };
        let before = firing(client.clone()).await;
        let incident = bodies(&hosts, rate * 10, rounds + 2, base, Fleet::Incident);
        let (cpu0, _) = common::usage(pid);
        let o = paced(std::slice::from_ref(&ingest), incident, rate).await;
        let (cpu1, rss) = common::usage(pid);
        print(&format!("incident at {rate}/s"), &o);
        println!(
            "server: {:.0} ms CPU per second at {rate}/s, RSS {:.1} MiB; alerts firing {before} before, {} after",
            (cpu1 - cpu0) as f64 / ticks * 1000.0 / o.secs,
            rss as f64 / 1024.0,
            firing(client.clone()).await
        );
        // The herd after an outage.
        let herd_n = common::env("BENCH_HERD", 1000).min(hosts.len());
        let backlog = common::env("BENCH_HERD_BACKLOG", 300);
        herd(&ingest, &hosts[..herd_n], backlog, pid).await;
        // A fleet of agents on connections of their own, after every
        // earlier report (those ran ahead of the clock).
        let fleet_n = common::env("BENCH_FLEET", 1000).min(hosts.len());
        let fleet_secs = common::env("BENCH_FLEET_SECS", 60) as u64;
        let from = (base + (rounds as i64 + 4) * 5000).max(Timestamp::now().as_millis());
        fleet(&ingest, &hosts[hosts.len() - fleet_n..], fleet_secs, from, pid, async || {
            reports_stored(&client, &base_url).await
        })
        .await;
        // The floor, same TLS, same connections, a 2 KB JSON body.
        let floor = floor_server(&server.certs.cert, &server.certs.key);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut json = String::from("{\"samples\":[");
        while json.len() < 2000 {
            json.push_str("{\"name\":\"cpu_usage_percent\",\"value\":42.5},");
        }
        json.pop();
        json.push_str("]}");
        let token: Arc<str> = Arc::from("x");
        let json = axum::body::Bytes::from(json);
        let floor_requests: Vec<Request> = (0..10 * 100_000)
            .map(|_| Request {
                token: Arc::clone(&token),
                body: json.clone(),
            })
            .collect();
        let f = saturate(&[target(floor, "/floor")], Arc::new(floor_requests), connections, 10, false).await;
        print("floor (parse a 2 KB JSON body over TLS)", &f);
        let floor_rate = f.ok as f64 / f.secs;
        println!(
            "ingest / floor: {:.2} ({:.0} reports/s against {:.0} requests/s)",
            ingest_rate / floor_rate,
            ingest_rate,
            floor_rate
        );
    });
    drop(server);
}
