//! Metrics from outside programs, with no Rust: a `*.prom` file, a
//! command's output and an HTTP push with a server's agent token. Each is
//! stored, listed for the dashboard's charts, alerted on and exported to
//! Prometheus exactly like a built-in metric.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Process, client, free_port};
use monitor_server::auth::{Scope, Token};
use monitor_server::config::ServerConfig;
use monitor_server::server::Server;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn textfile_exec_and_push_metrics_travel_like_built_in_ones() {
    let dir = std::env::temp_dir().join(format!("monitor-outside-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let textfiles = dir.join("textfiles");
    std::fs::create_dir_all(&textfiles).unwrap();
    std::fs::write(
        textfiles.join("backup.prom"),
        "# HELP backup_age_seconds Since the last good backup.\n# TYPE backup_age_seconds gauge\nbackup_age_seconds 500\n\
         # TYPE jobs_done_total counter\njobs_done_total{queue=\"mail\"} 7\n",
    )
    .unwrap();

    // The server, from the builder, on loopback.
    let port = free_port();
    let admin = Token::generate(Scope::Admin).unwrap();
    let config = ServerConfig {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        data_dir: dir.join("server"),
        ..ServerConfig::default()
    };
    let server = Server::builder()
        .with_config(config)
        .with_admin_token(admin.clone())
        .build()
        .await
        .unwrap();
    tokio::spawn(server.serve(std::future::pending()));
    let base = format!("http://127.0.0.1:{port}");
    let http = client(None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while http.get(format!("{base}/api/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let get_json = |path: &str| {
        let request = http.get(format!("{base}{path}"));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let register = |id: &'static str| {
        let request = http
            .post(format!("{base}/api/register"))
            .header("x-admin-token", admin.expose())
            .json(&json!({ "server_id": id }));
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let token = register("outside-01").await;
    std::fs::write(dir.join("token"), &token).unwrap();
    // A program pushing its own samples does it under a server id of its
    // own (docs/writing-plugins.md): a push at the same millisecond as an
    // agent's report of the same server would be taken for a replay.
    let jobs_token = register("outside-01-jobs").await;
    // A rule on the textfile's metric, like on any other.
    let rule = http
        .post(format!("{base}/api/alerts/rules"))
        .json(&json!({"name": "backup too old", "metric": "backup_age_seconds", "op": ">", "threshold": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(rule.status(), 201, "{}", rule.text().await.unwrap());

    let _agent = Process(
        Command::new(common::AGENT)
            .args(["--server", &base, "--server-id", "outside-01"])
            .arg("--token-file")
            .arg(dir.join("token"))
            .args(["--collectors", "memory", "--interval", "0.3"])
            .arg("--textfile-dir")
            .arg(&textfiles)
            .args([
                "--exec",
                r#"echo '[{"name": "queue_depth", "kind": "gauge", "unit": "count", "samples": [{"labels": {"queue": "sms"}, "value": 3}]}]'"#,
            ])
            // A plugin repeating a built-in series: the built-in one is
            // kept and the snapshot still valid (the server refuses a
            // snapshot with a series twice).
            .args([
                "--exec",
                r#"echo '[{"name": "memory_used_percent", "kind": "gauge", "unit": "percent", "samples": [{"value": 1.5}]}]'"#,
            ])
            .arg("--spool-dir")
            .arg(dir.join("spool"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // A program pushing a sample of its own with its token.
    let pushed = http
        .post(format!("{base}/api/metrics"))
        .header("x-auth-token", &jobs_token)
        .json(&json!({
            "version": 1, "server_id": "outside-01-jobs",
            "timestamp": "2026-01-01T00:00:00Z",
            "metrics": [{"name": "deploys_total", "kind": "counter", "samples": [{"value": 12}]}]
        }))
        .send()
        .await
        .unwrap();
    // (Dated long ago for the test: older than the raw retention is refused.)
    assert_eq!(pushed.status(), 422);
    let now = monitor_core::Timestamp::now().to_rfc3339();
    let pushed = http
        .post(format!("{base}/api/metrics"))
        .header("x-auth-token", &jobs_token)
        .json(&json!({
            "version": 1, "server_id": "outside-01-jobs", "timestamp": now,
            "metrics": [{"name": "deploys_total", "kind": "counter", "samples": [{"value": 12}]}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 200, "{}", pushed.text().await.unwrap());

    // Listed for the charts.
    let deadline = Instant::now() + Duration::from_secs(20);
    let series = loop {
        let series: Value = get_json("/api/servers/outside-01/series").await;
        let names: Vec<String> = series
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["metric"].as_str().unwrap().to_owned())
            .collect();
        if [
            "backup_age_seconds",
            "jobs_done_total",
            "queue_depth",
            "textfile_mtime_seconds",
        ]
        .iter()
        .all(|n| names.iter().any(|m| m == n))
        {
            break series;
        }
        assert!(
            Instant::now() < deadline,
            "not all outside metrics listed: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let jobs = series
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metric"] == "jobs_done_total")
        .unwrap();
    assert_eq!(jobs["kind"], "counter");
    assert_eq!(jobs["labels"]["queue"], "mail");
    // Stored with history.
    let history: Value =
        get_json("/api/metrics/history?server_id=outside-01&metric=queue_depth&step=1").await;
    assert_eq!(history["series"][0]["points"][0]["max"], 3.0, "{history}");
    // Alerted on.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let firing: Value = get_json("/api/alerts/firing").await;
        if firing
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["server_id"] == "outside-01" && a["last_value"] == 500.0)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the textfile's metric never fired: {firing}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Exported to Prometheus.
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "# HELP backup_age_seconds Since the last good backup.\n# TYPE backup_age_seconds gauge\nbackup_age_seconds{server_id=\"outside-01\"} 500\n",
        "# TYPE jobs_done_total counter\njobs_done_total{server_id=\"outside-01\",queue=\"mail\"} 7\n",
        "queue_depth{server_id=\"outside-01\",queue=\"sms\"} 3\n",
        "# TYPE deploys_total counter\ndeploys_total{server_id=\"outside-01-jobs\"} 12\n",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    let memory = text
        .lines()
        .find(|l| l.starts_with("monitor_memory_used_ratio{"))
        .expect("the built-in memory metric");
    assert!(
        !memory.ends_with(" 0.015"),
        "the plugin's copy won: {memory}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
