//! Two server processes on one real PostgreSQL (a throwaway cluster from
//! the system's `initdb`): what one of them changes in the catalog applies
//! on the other at once. A token rotated or a server deleted through one
//! process stops authenticating on the other (each process caches checked
//! agent tokens for a minute: before the catalog told its changes, the old
//! token kept working there for up to that minute), and thresholds changed
//! through one are what the other's alert engine evaluates on its next
//! report (before, up to its 30-s reload later). A dashboard connected to
//! either process sees the live reports and alert transitions of hosts
//! reporting to the other (before, only its own process's).
//!
//! Skipped without PostgreSQL unless MONITOR_REQUIRE_POSTGRES=1.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Process, free_port};
use monitor_core::{Collection, Labels, ServerId, Snapshot, Timestamp, Unit, names, wire};
use serde_json::Value;

const ADMIN: &str = "smk_adm_two_processes_admin_token_0123";

/// A server process on the shared database, once it answers.
async fn start(dir: &std::path::Path, name: &str, database: &str) -> (Process, String) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let process = Process(
        Command::new(common::SERVER)
            .args(["--listen", &addr.to_string(), "--data-dir"])
            .arg(dir.join(name))
            .env("MONITOR_ADMIN_TOKEN", ADMIN)
            .env("MONITOR_DATABASE_URL", database)
            .env_remove("DASHBOARD_TOKEN")
            .env_remove("MONITOR_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://{addr}");
    let client = common::client(None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/api/health"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "server {name} did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (process, base)
}

fn report(id: &str, cpu: f64) -> Vec<u8> {
    let mut c = Collection::new();
    c.gauge(names::CPU_USAGE_PERCENT, Unit::PERCENT, Labels::new(), cpu);
    c.gauge(
        names::MEMORY_USED_PERCENT,
        Unit::PERCENT,
        Labels::new(),
        10.0,
    );
    wire::encode(&Snapshot::new(
        ServerId::new(id).unwrap(),
        Timestamp::now(),
        c,
    ))
    .unwrap()
}

/// The status of a report to `base` with `token`.
async fn send(client: &reqwest::Client, base: &str, token: &str, id: &str, cpu: f64) -> u16 {
    client
        .post(format!("{base}/api/metrics"))
        .header("x-auth-token", token)
        .header("content-type", "application/json")
        .body(report(id, cpu))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Everything the live stream at `base` sends from now on, as text.
fn follow(client: &reqwest::Client, base: &str) -> std::sync::Arc<std::sync::Mutex<String>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&seen);
    let request = client.get(format!("{base}/api/stream")).send();
    tokio::spawn(async move {
        let mut response = request.await.unwrap();
        assert_eq!(response.status(), 200);
        while let Ok(Some(chunk)) = response.chunk().await {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    seen
}

/// Waits up to two seconds for `check` to hold: "at once" with the time a
/// notification takes, far below the minute the cache kept a token.
async fn within_two_seconds<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(2);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 2 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn admin(client: &reqwest::Client, method: &str, url: String, body: &str) -> Value {
    let answer = client
        .request(method.parse().unwrap(), url)
        .header("x-admin-token", ADMIN)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    answer.json().await.unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_database_share_tokens_alert_settings_and_live_events() {
    let Some(cluster) = common::postgres() else {
        return;
    };
    let dir = common::dir("processes", "catalog");
    let (_a, a) = start(&dir.0, "a", &cluster.url).await;
    let (_b, b) = start(&dir.0, "b", &cluster.url).await;
    let client = common::client(None);

    // Registered through A; B checks the token and caches it.
    let registered = admin(
        &client,
        "POST",
        format!("{a}/api/register"),
        r#"{"server_id": "two-01"}"#,
    )
    .await;
    let first = registered["token"].as_str().unwrap().to_owned();
    assert_eq!(send(&client, &b, &first, "two-01", 5.0).await, 200);

    // Rotated through A: the old token is refused by B at once.
    let rotated = admin(&client, "POST", format!("{a}/api/servers/two-01/token"), "").await;
    let second = rotated["token"].as_str().unwrap().to_owned();
    within_two_seconds("B refuses the rotated token", || async {
        send(&client, &b, &first, "two-01", 5.0).await == 401
    })
    .await;
    assert_eq!(send(&client, &b, &second, "two-01", 5.0).await, 200);

    // Deleted through A: B refuses its token at once too.
    admin(&client, "DELETE", format!("{a}/api/servers/two-01"), "").await;
    within_two_seconds("B refuses a deleted server's token", || async {
        send(&client, &b, &second, "two-01", 5.0).await == 401
    })
    .await;

    // Live streams on both processes.
    let on_a = follow(&client, &a);
    let on_b = follow(&client, &b);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Thresholds changed through A: B's engine fires on them at once
    // (its own reload comes every 30 s).
    let registered = admin(
        &client,
        "POST",
        format!("{a}/api/register"),
        r#"{"server_id": "two-02"}"#,
    )
    .await;
    let token = registered["token"].as_str().unwrap().to_owned();
    assert_eq!(send(&client, &b, &token, "two-02", 50.0).await, 200);
    admin(
        &client,
        "POST",
        format!("{a}/api/alerts"),
        r#"{"cpu_total_percent": 20, "memory_used_percent": 90, "disk_used_percent": 90}"#,
    )
    .await;
    within_two_seconds("B's engine fires on A's threshold", || async {
        assert_eq!(send(&client, &b, &token, "two-02", 50.0).await, 200);
        let firing: Value = client
            .get(format!("{b}/api/alerts/firing"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        firing
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule_id"] == "cpu_total_percent" && f["server_id"] == "two-02")
    })
    .await;

    // The reports to B and the alert B's engine raised reach A's dashboard,
    // and B's own.
    let shown = |seen: &std::sync::Arc<std::sync::Mutex<String>>, kind: &str| {
        let text = seen.lock().unwrap().clone();
        text.split("\n\n").any(|event| {
            event.contains(&format!("event: {kind}\n")) && event.contains("\"two-02\"")
        })
    };
    within_two_seconds("A's stream shows B's report and alert", || async {
        shown(&on_a, "snapshot") && shown(&on_a, "alert")
    })
    .await;
    assert!(shown(&on_b, "snapshot") && shown(&on_b, "alert"));
}
