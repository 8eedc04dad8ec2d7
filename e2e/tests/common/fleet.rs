//! A fleet for the multi-process tests: server processes on one shared
//! database, the admin calls they take, live streams followed as text,
//! and simulated agents whose every acknowledged report can be checked in
//! the store afterwards.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use monitor_core::{Collection, Labels, ServerId, Snapshot, Timestamp, Unit, wire};
use serde_json::Value;

use super::{Process, free_port};

/// The admin token of every fleet server.
pub(crate) const ADMIN: &str = "smk_adm_two_processes_admin_token_0123";

/// A server process on the shared database, once it answers.
pub(crate) async fn start(dir: &Path, name: &str, database: &str) -> (Process, String) {
    start_with(dir, name, database, "").await
}

/// The same with `config` as its configuration file.
pub(crate) async fn start_with(
    dir: &Path,
    name: &str,
    database: &str,
    config: &str,
) -> (Process, String) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, config).unwrap();
    let process = Process(
        Command::new(super::SERVER)
            .args(["--listen", &addr.to_string(), "--config"])
            .arg(&file)
            .arg("--data-dir")
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
    let client = super::client(None);
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

/// Everything the live stream at `base` sends from now on, as text.
pub(crate) fn follow(client: &reqwest::Client, base: &str) -> Arc<Mutex<String>> {
    let seen = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&seen);
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

pub(crate) async fn admin(
    client: &reqwest::Client,
    method: &str,
    url: String,
    body: &str,
) -> Value {
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

/// Registers `id` through the server at `base`: its agent token.
pub(crate) async fn register(client: &reqwest::Client, base: &str, id: &str) -> String {
    let registered = admin(
        client,
        "POST",
        format!("{base}/api/register"),
        &format!(r#"{{"server_id": "{id}"}}"#),
    )
    .await;
    registered["token"].as_str().unwrap().to_owned()
}

/// A report of simulated host `id` carrying its number `seq`.
pub(crate) fn numbered(id: &str, seq: u64) -> Vec<u8> {
    let mut c = Collection::new();
    c.gauge("load_seq", Unit::NONE, Labels::new(), seq as f64);
    wire::encode(&Snapshot::new(
        ServerId::new(id).unwrap(),
        Timestamp::now(),
        c,
    ))
    .unwrap()
}

/// What a simulated agent did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    /// Reports acknowledged (numbered 1 to this).
    pub(crate) acknowledged: u64,
    /// Attempts that failed and were made again.
    pub(crate) failures: u64,
}

/// A simulated agent: reports numbered 1, 2, … to the first of `servers`,
/// failing over to the next (and round) whenever one does not take a
/// report, each report sent again until one acknowledges it, as the
/// agent's spool does. Stops at `stop`.
pub(crate) async fn simulated_agent(
    client: reqwest::Client,
    servers: Vec<String>,
    token: String,
    id: String,
    stop: Arc<AtomicBool>,
) -> Sent {
    let mut at = 0;
    let mut sent = Sent {
        acknowledged: 0,
        failures: 0,
    };
    while !stop.load(Ordering::Relaxed) {
        let seq = sent.acknowledged + 1;
        let body = numbered(&id, seq);
        loop {
            let answer = client
                .post(format!("{}/api/metrics", servers[at]))
                .header("x-auth-token", &token)
                .header("content-type", "application/json")
                .timeout(Duration::from_secs(5))
                .body(body.clone())
                .send()
                .await;
            match answer.map(|a| a.status().as_u16()) {
                Ok(200) => break,
                Ok(status) if status != 429 && status < 500 => {
                    panic!("{id}: report {seq} refused with {status}")
                }
                _ => {
                    sent.failures += 1;
                    at = (at + 1) % servers.len();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        sent.acknowledged = seq;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    sent
}

/// Checks that the `n` reports of a simulated agent `id` are stored, each
/// once: report k carried k, so `n` reports sum to n(n+1)/2. Read through
/// the server (or proxy) at `base`.
pub(crate) async fn assert_stored_once(client: &reqwest::Client, base: &str, id: &str, n: u64) {
    let (count, sum) = stored_sequence(client, base, id).await;
    assert_eq!(count, n, "{id}: {n} acknowledged, {count} stored");
    let expected = (n * (n + 1) / 2) as f64;
    assert!(
        (sum - expected).abs() < 1e-6 * expected,
        "{id}: sum {sum}, expected {expected}"
    );
}

/// The number of `load_seq` samples stored for `id` and their sum, read
/// through the process at `base`.
async fn stored_sequence(client: &reqwest::Client, base: &str, id: &str) -> (u64, f64) {
    let history: Value = client
        .get(format!("{base}/api/metrics/history"))
        .query(&[
            ("server_id", id),
            ("metric", "load_seq"),
            (
                "from",
                &(Timestamp::now().as_millis() / 1000 - 600).to_string(),
            ),
            (
                "to",
                &(Timestamp::now().as_millis() / 1000 + 60).to_string(),
            ),
            ("step", "1"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let points = history["series"][0]["points"].as_array().unwrap();
    points.iter().fold((0, 0.0), |(n, sum), p| {
        let count = p["count"].as_u64().unwrap();
        (n + count, sum + p["avg"].as_f64().unwrap() * count as f64)
    })
}

/// Whether the live stream's `text` holds an event of `kind` (`snapshot`,
/// `alert`) about the host `id`.
pub(crate) fn streamed(text: &str, kind: &str, id: &str) -> bool {
    text.split("\n\n").any(|event| {
        event.contains(&format!("event: {kind}\n")) && event.contains(&format!("\"{id}\""))
    })
}
