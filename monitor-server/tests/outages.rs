//! The server process killed or stopped under load: every acknowledged
//! snapshot survives a SIGKILL, and an agent that runs through a one-minute
//! outage leaves no gap and no duplicate in the history.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{client, free_port};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use monitor_core::{Collection, ServerId, Snapshot, Timestamp, Unit, wire};

const ADMIN: &str = "outage-test-admin-token-0123456789";

/// A server process on a fixed port and data directory, restartable.
struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Server {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("monitor-outage-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let port = free_port();
        Server {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        }
    }

    fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_monitor-server"))
            .args(["--listen", &self.addr.to_string(), "--data-dir"])
            .arg(&self.dir)
            .env("MONITOR_ADMIN_TOKEN", ADMIN)
            .env_remove("DASHBOARD_TOKEN")
            .env_remove("MONITOR_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(self.addr).is_err() {
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            assert!(exited.is_none(), "the server exited: {exited:?}");
            assert!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no flush, no goodbye.
    fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then wait for the exit.
    fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        let pid = rustix::process::Pid::from_child(&child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "SIGTERM exit: {status:?}");
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn register(client: &reqwest::Client, server: &Server, id: &str) -> String {
    let response = client
        .post(server.url("/api/register"))
        .header("x-admin-token", ADMIN)
        .header("content-type", "application/json")
        .body(format!(r#"{{"server_id": "{id}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// Report times (ms) of one server's `memory_used_bytes` between `from`
/// and `to`, with each one-second bucket's report count.
async fn history(
    client: &reqwest::Client,
    server: &Server,
    id: &str,
    from: i64,
    to: i64,
) -> Vec<(i64, u64)> {
    let url = server.url(&format!(
        "/api/metrics/history?server_id={id}&metric=memory_used_bytes&from={}&to={}&step=1&points=100000",
        from as f64 / 1000.0,
        to as f64 / 1000.0
    ));
    let body: serde_json::Value = client.get(url).send().await.unwrap().json().await.unwrap();
    let Some(series) = body["series"].as_array().and_then(|s| s.first()) else {
        return Vec::new();
    };
    series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let t = Timestamp::parse(p["t"].as_str().unwrap()).unwrap();
            (t.as_millis(), p["count"].as_u64().unwrap())
        })
        .collect()
}

fn snapshot(id: &str, t: i64) -> Snapshot {
    let mut c = Collection::new();
    c.gauge(
        "memory_used_bytes",
        Unit::BYTES,
        monitor_core::Labels::new(),
        (t % 1_000_000) as f64,
    );
    Snapshot::new(ServerId::new(id).unwrap(), Timestamp::from_millis(t), c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_snapshot_survives_a_sigkill() {
    let mut server = Server::new("kill");
    server.start();
    let client = client(None);
    let base = Timestamp::now().as_millis() / 1000 * 1000 - 3_600_000;
    let stop = Arc::new(AtomicBool::new(false));
    let mut pushers = Vec::new();
    for p in 0..4 {
        let id = format!("kill-{p}");
        let token = register(&client, &server, &id).await;
        let (client, url, stop) = (
            client.clone(),
            server.url("/api/metrics"),
            Arc::clone(&stop),
        );
        // Each pusher sends batches of 5 one-second reports, one batch after
        // the other, and keeps the times the server acknowledged.
        pushers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut k = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<Snapshot> =
                    (k..k + 5).map(|i| snapshot(&id, base + i * 1000)).collect();
                let sent = client
                    .post(&url)
                    .header("x-auth-token", &token)
                    .header("content-type", "application/json")
                    .body(wire::encode_batch(&batch).unwrap())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        acked.extend((k..k + 5).map(|i| base + i * 1000));
                        k += 5;
                    }
                    // Killed: what was not acknowledged may or may not be there.
                    _ => break,
                }
            }
            (id, acked)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for p in pushers {
        acked.push(p.await.unwrap());
    }
    server.start();
    for (id, times) in acked {
        assert!(
            times.len() >= 10,
            "{id}: only {} acknowledged before the kill",
            times.len()
        );
        let stored = history(&client, &server, &id, base, base + 86_400_000).await;
        let stored: std::collections::HashSet<i64> = stored.iter().map(|(t, _)| *t).collect();
        let lost: Vec<&i64> = times.iter().filter(|t| !stored.contains(t)).collect();
        assert!(
            lost.is_empty(),
            "{id}: {} acknowledged snapshots lost: {lost:?}",
            lost.len()
        );
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_through_a_one_minute_outage_leaves_no_gap_and_no_duplicate() {
    let mut server = Server::new("minute");
    server.start();
    let client = client(None);
    let token = register(&client, &server, "outage").await;
    let spool = server.dir.join("agent-spool");
    let pusher = monitor_agent::push::Pusher::new(monitor_agent::push::PushConfig {
        server: format!("http://{}", server.addr),
        failover: Vec::new(),
        token,
        verify: None,
        spool_dir: spool.clone(),
        spool_max_bytes: 64 << 20,
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let paths = monitor_collectors::HostPaths::default();
    let mut agent =
        monitor_agent::Agent::new(ServerId::new("outage").unwrap(), Duration::from_secs(1))
            .with_collector(monitor_collectors::builtin("memory", &paths).unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let agent_task = tokio::spawn(async move {
        monitor_agent::push::run(&mut agent, &pusher, Duration::from_secs(1), async {
            let _ = stop_rx.await;
        })
        .await;
    });
    let started = Timestamp::now().as_millis();
    tokio::time::sleep(Duration::from_secs(5)).await;
    server.stop();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        spool_files(&spool) >= 55,
        "the agent spooled through the outage"
    );
    server.start();
    // The backlog arrives within the agent's backoff (at most a minute).
    let deadline = Instant::now() + Duration::from_secs(90);
    while spool_files(&spool) > 1 {
        assert!(Instant::now() < deadline, "the backlog was not delivered");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_tx.send(());
    agent_task.await.unwrap();
    let now = Timestamp::now().as_millis();
    let points = history(&client, &server, "outage", started - 2000, now + 1000).await;
    server.stop();
    assert!(points.len() >= 65, "{} points", points.len());
    let first = points[0].0;
    let last = points[points.len() - 1].0;
    for pair in points.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 <= 2000,
            "a gap from {} to {} (started {started})",
            pair[0].0,
            pair[1].0
        );
    }
    // One report a second: the counts add up to the seconds covered, give
    // or take the ticker's phase at both ends; a duplicate would add one.
    let reports: u64 = points.iter().map(|(_, n)| n).sum();
    let seconds = ((last - first) / 1000 + 1) as u64;
    assert!(
        reports.abs_diff(seconds) <= 1,
        "{reports} reports over {seconds} seconds"
    );
}

fn spool_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count()
    })
}
