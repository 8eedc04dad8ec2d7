//! A real Prometheus (Debian's `prometheus`, started here on loopback with a
//! generated configuration) scrapes the server's `/metrics` (with the read
//! token, as `authorization` in its scrape config) and an agent's own
//! `/metrics` (`--listen`); both targets are up, PromQL returns our values,
//! and `promtool check metrics` finds nothing to say about either endpoint.
//!
//! Skipped without the `prometheus` binary unless MONITOR_REQUIRE_PROMETHEUS
//! is set (scripts/test.sh installs it and sets it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Dir, Process, free_port};
use monitor_core::{Collection, Labels, ServerId, Snapshot, Timestamp, Unit, wire};
use monitor_server::api::{AppState, router};
use monitor_server::auth::{Scope, Token};
use monitor_store::{SqlStore, StoreOptions};
use serde_json::Value;

/// `promtool check metrics` on a scrape: its complaints, empty when clean.
fn promtool(text: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}{}",
        if out.status.success() { "" } else { "failed: " },
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// MemTotal of this machine in bytes.
fn mem_total() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text.lines().find(|l| l.starts_with("MemTotal:")).unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024.0
}

/// One instant query through Prometheus's HTTP API: each result's labels
/// and value.
async fn query(client: &reqwest::Client, prometheus: &str, promql: &str) -> Vec<(Value, f64)> {
    let response: Value = client
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["status"], "success", "{response}");
    response["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let value = r["value"][1].as_str().unwrap().parse().unwrap();
            (r["metric"].clone(), value)
        })
        .collect()
}

/// Waits until `promql` returns something, and returns it.
async fn eventually(client: &reqwest::Client, prometheus: &str, promql: &str) -> Vec<(Value, f64)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = query(client, prometheus, promql).await;
        if !found.is_empty() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus has nothing for {promql}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_server_and_an_agent() {
    if !common::have_prometheus("prometheus") || !common::have_prometheus("promtool") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("monitor-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dir = Dir(dir);

    // The server, in this process, with a read token.
    let store = Arc::new(
        SqlStore::open(StoreOptions::sqlite(dir.0.join("db")))
            .await
            .unwrap(),
    );
    let admin = Token::generate(Scope::Admin).unwrap();
    let read = Token::generate(Scope::Read).unwrap();
    let stats = Arc::clone(&store);
    let state = AppState::new(store, &admin, None)
        .with_read_token(&read)
        .with_store_stats(Arc::new(move || stats.stats()));
    let server_port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", server_port))
        .await
        .unwrap();
    tokio::spawn(monitor_server::serve::serve(
        listener,
        router(state),
        monitor_server::serve::ServeOptions::default(),
        std::future::pending(),
    ));
    let base = format!("http://127.0.0.1:{server_port}");
    // Plain HTTP on loopback only; reqwest still wants a TLS setup.
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    let registered: Value = client
        .post(format!("{base}/api/register"))
        .header("x-admin-token", admin.expose())
        .json(&serde_json::json!({"server_id": "known-01"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["token"].as_str().unwrap().to_owned();
    // A host that keeps reporting a known value.
    let pusher = {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move {
            loop {
                let mut c = Collection::new();
                c.gauge(
                    "known_value",
                    Unit::NONE,
                    Labels::new().with("kind", "test"),
                    42.5,
                );
                c.gauge(
                    "memory_used_bytes",
                    Unit::BYTES,
                    Labels::new(),
                    123_456_789.0,
                );
                let mut s = Snapshot::new(ServerId::new("known-01").unwrap(), Timestamp::now(), c);
                s.interval_secs = Some(1.0);
                let response = client
                    .post(format!("{base}/api/metrics"))
                    .header("x-auth-token", &token)
                    .header("content-type", "application/json")
                    .body(wire::encode_batch(&[s]).unwrap())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    // An agent serving its own host, with no server.
    let agent_port = free_port();
    let _agent = Process(
        Command::new(common::AGENT)
            .args(["--listen", &format!("127.0.0.1:{agent_port}")])
            .args([
                "--interval",
                "1",
                "--collectors",
                "system,memory,cpu,disk,network",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Prometheus, scraping both every second.
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files: ['{rules}']\n\
             scrape_configs:\n\
             \x20 - job_name: monitor-server\n\
             \x20   authorization:\n\
             \x20     type: Bearer\n\
             \x20     credentials: {read}\n\
             \x20   static_configs:\n\
             \x20     - targets: ['127.0.0.1:{server_port}']\n\
             \x20 - job_name: monitor-agent\n\
             \x20   static_configs:\n\
             \x20     - targets: ['127.0.0.1:{agent_port}']\n",
            read = read.expose(),
            rules = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../deploy/prometheus/monitor-legacy-names.rules.yml"
            ),
        ),
    )
    .unwrap();
    let check = Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let (_prometheus, prometheus) = common::start_prometheus(
        &dir.0,
        &config,
        std::net::SocketAddr::from(([127, 0, 0, 1], free_port())),
        &[],
    )
    .await;

    // Both targets are up.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = query(&client, &prometheus, "up").await;
        let up_jobs: Vec<&str> = up
            .iter()
            .filter(|(_, v)| *v == 1.0)
            .filter_map(|(m, _)| m["job"].as_str())
            .collect();
        if up_jobs.contains(&"monitor-server") && up_jobs.contains(&"monitor-agent") {
            break;
        }
        assert!(Instant::now() < deadline, "targets not up: {up:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Our values, through PromQL.
    let known = eventually(&client, &prometheus, r#"known_value{server_id="known-01"}"#).await;
    assert_eq!(known.len(), 1, "{known:?}");
    assert_eq!(known[0].1, 42.5);
    assert_eq!(known[0].0["kind"], "test");
    assert_eq!(known[0].0["job"], "monitor-server");
    let used = eventually(
        &client,
        &prometheus,
        r#"monitor_memory_used_bytes{job="monitor-server"}"#,
    )
    .await;
    assert_eq!(used[0].1, 123_456_789.0);
    let up = eventually(
        &client,
        &prometheus,
        r#"monitor_host_up{server_id="known-01"}"#,
    )
    .await;
    assert_eq!(up[0].1, 1.0);
    let total = eventually(
        &client,
        &prometheus,
        r#"monitor_memory_total_bytes{job="monitor-agent"}"#,
    )
    .await;
    assert_eq!(total[0].1, mem_total());
    // A percentage arrives as a 0–1 ratio; CPU time as counters that rate()
    // reads, their modes adding up to every CPU's wall time.
    let ratio = eventually(
        &client,
        &prometheus,
        r#"monitor_memory_used_ratio{job="monitor-agent"}"#,
    )
    .await;
    assert!(ratio[0].1 > 0.0 && ratio[0].1 < 1.0, "{ratio:?}");
    eventually(
        &client,
        &prometheus,
        r#"count_over_time(monitor_cpu_seconds_total{job="monitor-agent",mode="idle"}[10s]) >= 8"#,
    )
    .await;
    let rate = eventually(
        &client,
        &prometheus,
        r#"sum(rate(monitor_cpu_seconds_total{job="monitor-agent"}[10s])) > 0"#,
    )
    .await;
    assert!(rate[0].1 > 0.0, "{rate:?}");
    // Seconds, every mode: the sum is the CPUs' time since boot as
    // /proc/stat counts it now, less what passed since the last scrape.
    let total = query(
        &client,
        &prometheus,
        r#"sum(monitor_cpu_seconds_total{job="monitor-agent"})"#,
    )
    .await;
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let ticks: f64 = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .unwrap()
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse::<f64>().unwrap())
        .sum();
    let now = ticks / rustix::param::clock_ticks_per_second() as f64;
    let nproc = std::thread::available_parallelism().unwrap().get() as f64;
    assert!(
        total[0].1 <= now + 1.0 && total[0].1 >= now - 120.0 * nproc,
        "CPU seconds over every mode: {total:?}, /proc/stat now {now} s"
    );
    // The migration's recording rules give the old names back, percentages
    // in percent.
    let legacy = eventually(
        &client,
        &prometheus,
        r#"memory_total_bytes{job="monitor-agent"}"#,
    )
    .await;
    assert_eq!(legacy[0].1, mem_total());
    let percent = eventually(
        &client,
        &prometheus,
        r#"memory_used_percent{job="monitor-agent"}"#,
    )
    .await;
    assert!(
        percent[0].1 > 1.0 && percent[0].1 <= 100.0,
        "memory use in percent: {percent:?}"
    );
    let rate = eventually(
        &client,
        &prometheus,
        r#"rate(monitor_ingest_requests_total{outcome="accepted"}[10s]) > 0"#,
    )
    .await;
    assert!(rate[0].1 > 0.0);

    // promtool has nothing to say about either endpoint.
    let server_text = client
        .get(format!("{base}/metrics"))
        .bearer_auth(read.expose())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(promtool(&server_text), "", "{server_text}");
    // No built-in metric goes out under its unprefixed name.
    let bare = |text: &str| {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| {
                monitor_core::names::describe(l.split(['{', ' ']).next().unwrap_or("")).is_some()
            })
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(bare(&server_text), Vec::<String>::new());
    let agent_text = client
        .get(format!("http://127.0.0.1:{agent_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        agent_text.contains("\nmonitor_cpu_logical_cores "),
        "{agent_text}"
    );
    assert!(
        agent_text.contains("\nmonitor_cpu_seconds_total{mode=\"idle\"} "),
        "{agent_text}"
    );
    assert_eq!(promtool(&agent_text), "", "{agent_text}");
    assert_eq!(bare(&agent_text), Vec::<String>::new());
    pusher.abort();
}
