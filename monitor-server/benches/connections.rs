//! What open agent connections cost the server: 10,000 simulated agents
//! (`BENCH_AGENTS`) each hold a TLS connection to one server process
//! (SQLite, the release binary) after sending a report on it, as agents at
//! the default 5-s interval do. Prints the whole process's RSS before and
//! with the connections open, and what each connection costs.
//!
//! Run with: `cargo bench -p monitor-server --bench connections`
//!
//! The server's `limits.max_connections` (10,000 by default) is raised for
//! the run so that the bench's own connections fit beside the agents'.
//! Every host's first report goes before the measurement, on a few
//! connections, so that what the hosts themselves cost (their newest
//! values, their alert state) is in the "before" figure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::traffic::{Fleet, Target, bodies, client, hold, print, register_hosts, saturate};
use monitor_core::Timestamp;

const ADMIN: &str = "connections-bench-admin-token-0123456789";

fn main() {
    let agents = common::env("BENCH_AGENTS", 10_000);
    let rt = common::runtime();
    let config = format!("[limits]\nmax_connections = {}\n", agents + 1_000);
    let server = common::ServerProcess::launch("connections", ADMIN, "warn", None, &config);
    let pid = server.pid();
    let base_url = format!("https://localhost:{}", server.port);
    let tls = common::tls_config(&server.certs.ca);
    let client = client(&tls);
    let target = Target {
        tls: Arc::clone(&tls),
        addr: SocketAddr::from(([127, 0, 0, 1], server.port)),
        path: "/api/metrics".to_owned(),
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.get(format!("{base_url}/api/health")).send().await.is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (_, empty) = common::usage(pid);
        let hosts = register_hosts(&client, &base_url, ADMIN, "host", agents).await;
        let base = Timestamp::now().as_millis();
        let first = saturate(
            std::slice::from_ref(&target),
            Arc::new(bodies(&hosts, agents, 0, base, Fleet::Steady)),
            64,
            600,
            true,
        )
        .await;
        print("first report of every host, on 64 connections", &first);
        drop(client);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (_, before) = common::usage(pid);
        println!(
            "server RSS: {:.1} MiB empty, {:.1} MiB with {agents} hosts known and reporting, no agent connected",
            mib(empty),
            mib(before)
        );

        // Every agent opens its connection, sends its next report on it and
        // keeps it open; 64 at a time.
        let second = bodies(&hosts, agents, 1, base, Fleet::Steady);
        let opened = Instant::now();
        let held = hold(&target, &second).await;
        let opened = opened.elapsed().as_secs_f64();
        for wait in [1, 10] {
            tokio::time::sleep(Duration::from_secs(if wait == 1 { 1 } else { 9 })).await;
            let (_, with) = common::usage(pid);
            println!(
                "{agents} agents connected over TLS (opened in {opened:.1} s), {wait} s later: server RSS {:.1} MiB, {:.1} KiB a connection; open files {}",
                mib(with),
                (with as f64 - before as f64) / agents as f64,
                std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
            );
        }
        drop(held);
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!(
            "server RSS 2 s after the agents left: {:.1} MiB",
            mib(common::usage(pid).1)
        );
    });
    drop(server);
}
