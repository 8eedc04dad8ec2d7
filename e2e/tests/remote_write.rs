//! The server's Prometheus remote write against a real Prometheus (Debian's
//! `prometheus`, started here with `--web.enable-remote-write-receiver`):
//! the stock server binary, configured by `MONITOR_REMOTE_WRITE_URL` alone,
//! writes every report it stores, a replayed batch included, and each
//! sample is queryable there with its report's own timestamp. Reports
//! stored while Prometheus is not running yet wait and arrive, in order,
//! once it is.
//!
//! Skipped without the `prometheus` binary unless MONITOR_REQUIRE_PROMETHEUS
//! is set (scripts/test.sh installs it and sets it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Process, free_port};
use monitor_core::{Collection, Labels, ServerId, Snapshot, Timestamp, Unit, wire};
use serde_json::Value;

const ADMIN: &str = "smk_adm_remote_write_admin_token_0123";

/// A report of `rw-01` at `t` with `value` as its memory used.
fn report(t: Timestamp, value: f64) -> Snapshot {
    let mut c = Collection::new();
    c.gauge("memory_used_bytes", Unit::BYTES, Labels::new(), value);
    c.gauge(
        "filesystem_used_percent",
        Unit::PERCENT,
        Labels::new().with("mountpoint", "/"),
        value / 1e9,
    );
    Snapshot::new(ServerId::new("rw-01").unwrap(), t, c)
}

/// Every sample Prometheus holds for `selector` over the last 15 minutes:
/// (milliseconds, value), oldest first.
async fn samples(client: &reqwest::Client, prometheus: &str, selector: &str) -> Vec<(i64, f64)> {
    let answer: Value = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", format!("{selector}[15m]"))])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "success", "{answer}");
    let Some(series) = answer["data"]["result"].as_array().and_then(|r| r.first()) else {
        return Vec::new();
    };
    series["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            let t = pair[0].as_f64().unwrap();
            let v: f64 = pair[1].as_str().unwrap().parse().unwrap();
            ((t * 1000.0).round() as i64, v)
        })
        .collect()
}

#[tokio::test]
async fn every_stored_report_reaches_a_real_prometheus_with_its_own_timestamp() {
    if !common::have_prometheus("prometheus") {
        return;
    }
    let dir = common::dir("remote-write", "all");
    let prometheus_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let prometheus = format!("http://{prometheus_addr}");
    // The server, writing to a Prometheus that is not running yet.
    let server_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _server = Process(
        Command::new(common::SERVER)
            .args(["--listen", &server_addr.to_string(), "--data-dir"])
            .arg(dir.0.join("server"))
            .env("MONITOR_ADMIN_TOKEN", ADMIN)
            .env(
                "MONITOR_REMOTE_WRITE_URL",
                format!("{prometheus}/api/v1/write"),
            )
            .env_remove("DASHBOARD_TOKEN")
            .env_remove("MONITOR_CONFIG")
            .env_remove("MONITOR_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = common::client(None);
    let base = format!("http://{server_addr}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let registered: Value = loop {
        let answer = client
            .post(format!("{base}/api/register"))
            .header("x-admin-token", ADMIN)
            .header("content-type", "application/json")
            .body(r#"{"server_id": "rw-01"}"#)
            .send()
            .await;
        if let Ok(answer) = answer {
            assert_eq!(answer.status(), 201);
            break answer.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let token = registered["token"].as_str().unwrap().to_owned();
    let post = |body: Vec<u8>| {
        client
            .post(format!("{base}/api/metrics"))
            .header("x-auth-token", &token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    // An agent's replay after an outage: five reports a minute apart, in
    // one batch, while the receiver is down.
    let now = Timestamp::now().as_millis();
    let mut expected: Vec<(i64, f64)> = Vec::new();
    let replay: Vec<Snapshot> = (0..5)
        .map(|i| {
            let t = now - (6 - i) * 60_000;
            let value = 1e9 + i as f64;
            expected.push((t, value));
            report(Timestamp::from_millis(t), value)
        })
        .collect();
    let answer = post(wire::encode_batch(&replay).unwrap()).await.unwrap();
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);

    // Prometheus comes up; then two live reports.
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
    )
    .unwrap();
    let (_prometheus, _) = common::start_prometheus(
        &dir.0,
        &config,
        prometheus_addr,
        &["--web.enable-remote-write-receiver"],
    )
    .await;
    for (i, ago) in [30_000, 0].into_iter().enumerate() {
        let t = now - ago;
        let value = 2e9 + i as f64;
        expected.push((t, value));
        let body = wire::encode(&report(Timestamp::from_millis(t), value)).unwrap();
        let answer = post(body).await.unwrap();
        assert_eq!(answer.status(), 200);
    }

    // Every report, with its own timestamp and value, in Prometheus.
    let selector = r#"monitor_memory_used_bytes{server_id="rw-01"}"#;
    let deadline = Instant::now() + Duration::from_secs(60);
    let held = loop {
        let held = samples(&client, &prometheus, selector).await;
        if held.len() >= expected.len() || Instant::now() > deadline {
            break held;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(held, expected);
    // A labelled series too, its labels as the server names them.
    let disk = samples(
        &client,
        &prometheus,
        r#"monitor_filesystem_used_ratio{server_id="rw-01", mountpoint="/"}"#,
    )
    .await;
    assert_eq!(disk.len(), expected.len(), "{disk:?}");
    // A percentage goes out as a ratio, as the /metrics endpoints show it.
    let ratios: Vec<(i64, f64)> = expected
        .iter()
        .map(|(t, v)| (*t, v / 1e9 / 100.0))
        .collect();
    assert_eq!(disk, ratios);
}
