//! The fault suite: the server process killed (fifty SIGKILLs against a
//! ledger of acknowledgements) or stopped (SIGTERM) under load, and its
//! database stopped. Every acknowledged report survives, once; an agent
//! that runs through a one-minute outage of the server or 30 s of
//! PostgreSQL leaves no gap and no duplicate in the history.

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
    /// `MONITOR_DATABASE_URL` (the data directory's SQLite when `None`).
    database: Option<String>,
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
            database: None,
        }
    }

    fn start(&mut self) {
        let mut command = Command::new(common::SERVER);
        command
            .args(["--listen", &self.addr.to_string(), "--data-dir"])
            .arg(&self.dir)
            .env("MONITOR_ADMIN_TOKEN", ADMIN)
            .env_remove("DASHBOARD_TOKEN")
            .env_remove("MONITOR_CONFIG")
            .env_remove("MONITOR_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(url) = &self.database {
            command.env("MONITOR_DATABASE_URL", url);
        }
        let child = command.spawn().unwrap();
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

/// A real agent (the memory collector, one report a second) pushing to
/// `server` as `id`, spooling in `spool`; stopped by the sender.
async fn agent(
    client: &reqwest::Client,
    server: &Server,
    id: &str,
    spool: &Path,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let token = register(client, server, id).await;
    let pusher = monitor_agent::push::Pusher::new(monitor_agent::push::PushConfig {
        server: format!("http://{}", server.addr),
        failover: Vec::new(),
        token,
        verify: None,
        spool_dir: spool.to_owned(),
        spool_max_bytes: 64 << 20,
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let paths = monitor_collectors::HostPaths::default();
    let mut agent = monitor_agent::Agent::new(ServerId::new(id).unwrap(), Duration::from_secs(1))
        .with_collector(monitor_collectors::builtin("memory", &paths).unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        monitor_agent::push::run(&mut agent, &pusher, Duration::from_secs(1), async {
            let _ = stop_rx.await;
        })
        .await;
    });
    (stop_tx, task)
}

/// Waits until the agent's spool holds at most the report being sent.
async fn drained(spool: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    while spool_files(spool) > 1 {
        assert!(
            Instant::now() < deadline,
            "the backlog was not delivered: {} reports left in {}",
            spool_files(spool),
            spool.display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One report a second from `started` on: no gap over 2 s between
/// reports, and as many reports as seconds covered (a duplicate would add
/// one).
fn assert_no_gap_no_duplicate(points: &[(i64, u64)], started: i64, at_least: usize) {
    assert!(points.len() >= at_least, "{} points", points.len());
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
    // Give or take the ticker's phase at both ends.
    let reports: u64 = points.iter().map(|(_, n)| n).sum();
    let seconds = ((last - first) / 1000 + 1) as u64;
    assert!(
        reports.abs_diff(seconds) <= 1,
        "{reports} reports over {seconds} seconds"
    );
}

/// A client pushing the one-second reports of one server, from `base` on.
#[derive(Clone)]
struct Pushing {
    client: reqwest::Client,
    url: String,
    token: String,
    id: String,
    base: i64,
}

/// Pushes batches of five reports from index `from` on, until a request
/// fails or `stop` is set (and after at most `batches`): the next index to
/// send (the first not acknowledged, which may or may not be stored) and
/// the report times acknowledged.
async fn push_until_killed(
    p: Pushing,
    from: i64,
    batches: usize,
    stop: Arc<AtomicBool>,
) -> (i64, Vec<i64>) {
    let Pushing {
        client,
        url,
        token,
        id,
        base,
    } = p;
    let mut acked = Vec::new();
    let mut k = from;
    for _ in 0..batches {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let batch: Vec<Snapshot> = (k..k + 5).map(|i| snapshot(&id, base + i * 1000)).collect();
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
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (k, acked)
}

/// Fifty SIGKILLs (`MONITOR_FAULT_KILLS` for a soak) at random moments
/// under four clients pushing: every acknowledged report is stored exactly
/// once (checked against the ledger of acknowledgements), nothing is
/// stored twice, and the SQLite file passes its integrity check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sigkills_under_load_lose_nothing_acknowledged() {
    const PUSHERS: usize = 4;
    // At most 40 batches of five one-second reports a round: the reports
    // of a soak of 600 rounds span 33 hours, within the raw retention.
    let kills: usize = std::env::var("MONITOR_FAULT_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
        .clamp(1, 600);
    let mut server = Server::new("kills");
    server.start();
    let client = client(None);
    let span = i64::try_from(kills).unwrap_or(600) * 40 * 5 * 1000;
    let base = Timestamp::now().as_millis() / 1000 * 1000 - span - 3_600_000;
    let mut pushers = Vec::new();
    for p in 0..PUSHERS {
        let id = format!("kills-{p}");
        let token = register(&client, &server, &id).await;
        let pushing = Pushing {
            client: client.clone(),
            url: server.url("/api/metrics"),
            token,
            id,
            base,
        };
        pushers.push((pushing, 0i64, Vec::<i64>::new()));
    }
    // Random moments, reproducible from the seed printed.
    let mut seed = u64::try_from(Timestamp::now().as_millis()).unwrap_or(1) | 1;
    eprintln!("kill moments seeded with {seed}");
    let mut next_delay = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Duration::from_millis(50 + seed % 1000)
    };
    let started = Instant::now();
    for round in 0..kills {
        if round > 0 {
            server.start();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = pushers
            .iter()
            .map(|(pushing, from, _)| {
                tokio::spawn(push_until_killed(
                    pushing.clone(),
                    *from,
                    40,
                    Arc::clone(&stop),
                ))
            })
            .collect();
        tokio::time::sleep(next_delay()).await;
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for (task, pusher) in tasks.into_iter().zip(&mut pushers) {
            let (next, acked) = task.await.unwrap();
            pusher.1 = next;
            pusher.2.extend(acked);
        }
    }
    server.start();
    let mut acknowledged = 0;
    for (Pushing { id, .. }, next, acked) in &pushers {
        acknowledged += acked.len();
        let stored = history(&client, &server, id, base, base + 86_400_000).await;
        let twice: Vec<&(i64, u64)> = stored.iter().filter(|(_, n)| *n != 1).collect();
        assert!(twice.is_empty(), "{id}: stored more than once: {twice:?}");
        let stored: std::collections::HashSet<i64> = stored.iter().map(|(t, _)| *t).collect();
        let lost: Vec<&i64> = acked.iter().filter(|t| !stored.contains(t)).collect();
        assert!(
            lost.is_empty(),
            "{id}: {} acknowledged reports lost: {lost:?}",
            lost.len()
        );
        assert!(
            stored.iter().all(|t| *t < base + next * 1000 + 5000),
            "{id}: a report stored that was never sent"
        );
    }
    server.stop();
    eprintln!(
        "{kills} SIGKILLs in {:?}: {acknowledged} reports acknowledged, none lost, none twice",
        started.elapsed()
    );
    assert!(
        acknowledged >= kills * PUSHERS * 5,
        "too few reports acknowledged: {acknowledged}"
    );
    let problems = integrity_check(&server.dir.join("monitor.db")).await;
    assert_eq!(problems, ["ok"], "the database is damaged");
}

/// SQLite's `PRAGMA integrity_check` of a database file: `["ok"]` when it
/// is sound.
async fn integrity_check(path: &Path) -> Vec<String> {
    use sqlx::Connection;
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap();
    sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut db)
        .await
        .unwrap()
}

/// SIGTERM under four clients pushing: the server ends within its
/// shutdown grace (10 s for requests in progress) and the store's flush,
/// every acknowledged report is stored, and the file is sound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_ends_in_time_and_loses_nothing() {
    let mut server = Server::new("term");
    server.start();
    let client = client(None);
    let base = Timestamp::now().as_millis() / 1000 * 1000 - 3_600_000;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for p in 0..4 {
        let id = format!("term-{p}");
        let token = register(&client, &server, &id).await;
        let pushing = Pushing {
            client: client.clone(),
            url: server.url("/api/metrics"),
            token,
            id: id.clone(),
            base,
        };
        let task = tokio::spawn(push_until_killed(pushing, 0, usize::MAX, Arc::clone(&stop)));
        tasks.push((id, task));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let asked = Instant::now();
    server.stop();
    let took = asked.elapsed();
    stop.store(true, Ordering::Relaxed);
    eprintln!("SIGTERM under load: the server ended in {took:?}");
    assert!(took < Duration::from_secs(30), "the shutdown took {took:?}");
    server.start();
    for (id, task) in tasks {
        let (_, acked) = task.await.unwrap();
        assert!(acked.len() >= 10, "{id}: only {} acknowledged", acked.len());
        let stored = history(&client, &server, &id, base, base + 86_400_000).await;
        let stored: std::collections::HashSet<i64> = stored.iter().map(|(t, _)| *t).collect();
        let lost = acked.iter().filter(|t| !stored.contains(t)).count();
        assert_eq!(lost, 0, "{id}: acknowledged reports lost");
    }
    server.stop();
    assert_eq!(
        integrity_check(&server.dir.join("monitor.db")).await,
        ["ok"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_through_a_one_minute_outage_leaves_no_gap_and_no_duplicate() {
    let mut server = Server::new("minute");
    server.start();
    let client = client(None);
    let spool = server.dir.join("agent-spool");
    let (stop_tx, agent_task) = agent(&client, &server, "outage", &spool).await;
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
    drained(&spool, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_tx.send(());
    agent_task.await.unwrap();
    let now = Timestamp::now().as_millis();
    let points = history(&client, &server, "outage", started - 2000, now + 1000).await;
    server.stop();
    assert_no_gap_no_duplicate(&points, started, 65);
}

/// PostgreSQL stopped for 30 s under two pushing agents: ingest answers 503
/// with `Retry-After` and a JSON error, the newest values are still read
/// from memory, the agents spool and replay, the server reconnects by
/// itself, and the history has no gap and no duplicate.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_30_s_under_load_loses_nothing() {
    let Some(cluster) = common::postgres() else {
        return;
    };
    let mut server = Server::new("pg-down");
    server.database = Some(cluster.url.clone());
    server.start();
    let client = client(None);
    let ids = ["pg-a", "pg-b"];
    let mut agents = Vec::new();
    for id in ids {
        let spool = server.dir.join(format!("spool-{id}"));
        agents.push((agent(&client, &server, id, &spool).await, spool));
    }
    let started = Timestamp::now().as_millis();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let listed = client.get(server.url("/api/servers")).send().await.unwrap();
    assert_eq!(listed.status(), 200);

    cluster.stop();
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // A report now: 503, Retry-After, a JSON error; nothing half done.
    let token = register_or_none(&client, &server).await;
    assert!(token.is_none(), "registering needs the database");
    let report = wire::encode(&snapshot("pg-a", Timestamp::now().as_millis())).unwrap();
    let asked = Instant::now();
    let refused = client
        .post(server.url("/api/metrics"))
        .header("x-auth-token", "smk_ing_not_a_real_token_0000000000")
        .header("content-type", "application/json")
        .body(report)
        .send()
        .await
        .unwrap();
    eprintln!(
        "ingest with PostgreSQL down: {} after {:?}",
        refused.status(),
        asked.elapsed()
    );
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "storage_unavailable", "{body}");
    // The newest values are read from memory.
    for id in ids {
        let latest = client
            .get(server.url(&format!("/api/servers/{id}/latest")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            latest.status(),
            200,
            "{id}: {}",
            latest.text().await.unwrap()
        );
    }
    let health = client.get(server.url("/api/health")).send().await.unwrap();
    let health: serde_json::Value = health.json().await.unwrap();
    eprintln!("health with PostgreSQL down: {health}");
    // The overview and the scrape, from the list read before and the
    // newest reports held in memory.
    for path in ["/api/servers", "/metrics"] {
        let asked = Instant::now();
        let answer = client.get(server.url(path)).send().await.unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        eprintln!(
            "{path} with PostgreSQL down: {status} after {:?}",
            asked.elapsed()
        );
        assert_eq!(status, 200, "{path}: {text}");
        assert!(
            text.contains("pg-a") && text.contains("pg-b"),
            "{path}: {text}"
        );
    }
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down.elapsed())).await;
    for ((_, _), spool) in &agents {
        assert!(
            spool_files(spool) >= 20,
            "{}: the agent spooled through the outage",
            spool.display()
        );
    }

    cluster.resume();
    let back = Instant::now();
    for ((_, _), spool) in &agents {
        drained(spool, Duration::from_secs(90)).await;
    }
    eprintln!(
        "the backlogs were delivered {:?} after PostgreSQL came back",
        back.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let now = Timestamp::now().as_millis();
    for ((stop, task), _) in agents {
        let _ = stop.send(());
        task.await.unwrap();
    }
    for id in ids {
        let points = history(&client, &server, id, started - 2000, now + 1000).await;
        assert_no_gap_no_duplicate(&points, started, 35);
    }
    server.stop();
}

/// Registers a throwaway server: its token, or `None` when refused.
async fn register_or_none(client: &reqwest::Client, server: &Server) -> Option<String> {
    let response = client
        .post(server.url("/api/register"))
        .header("x-admin-token", ADMIN)
        .header("content-type", "application/json")
        .body(r#"{"server_id": "pg-new"}"#)
        .send()
        .await
        .unwrap();
    if response.status() != 201 {
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "storage_unavailable", "{body}");
        return None;
    }
    let body: serde_json::Value = response.json().await.unwrap();
    body["token"].as_str().map(str::to_owned)
}
fn spool_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .count()
    })
}
