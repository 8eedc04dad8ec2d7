//! The agent's own `/metrics` endpoint (`--listen`) as a process: plain
//! HTTP with no server at all, and HTTPS behind basic authentication.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Dir, Process, client, free_port};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn dir(name: &str) -> Dir {
    common::dir("listen", name)
}

fn agent(args: &[&str]) -> Process {
    Process(
        Command::new(common::AGENT)
            .args(["--interval", "0.3", "--collectors", "memory,cpu"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// MemTotal of this machine in bytes.
fn mem_total() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text.lines().find(|l| l.starts_with("MemTotal:")).unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024.0
}

/// GETs `url` until it answers 200 with `monitor_memory_total_bytes` in it.
async fn scrape(
    client: &reqwest::Client,
    url: &str,
    auth: Option<(&str, &str)>,
) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut request = client.get(url);
        if let Some((user, password)) = auth {
            request = request.basic_auth(user, Some(password));
        }
        if let Ok(response) = request.send().await
            && response.status() == 200
        {
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let body = response.text().await.unwrap();
            if body.contains("monitor_memory_total_bytes ") {
                return (content_type, body);
            }
        }
        assert!(Instant::now() < deadline, "no metrics at {url}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn value(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{body}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn prometheus_scrapes_the_host_with_no_server_at_all() {
    let port = free_port();
    let _agent = agent(&["--listen", &format!("127.0.0.1:{port}")]);
    let client = client(None);
    let (content_type, body) =
        scrape(&client, &format!("http://127.0.0.1:{port}/metrics"), None).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(
        body.contains("# TYPE monitor_memory_total_bytes gauge\n"),
        "{body}"
    );
    assert!(
        body.contains("# HELP monitor_memory_total_bytes Installed memory.\n"),
        "{body}"
    );
    assert_eq!(value(&body, "monitor_memory_total_bytes"), mem_total());
    // No server_id label on one host's endpoint (node_exporter style).
    assert!(!body.contains("server_id="), "{body}");
    let other = client
        .get(format!("http://127.0.0.1:{port}/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let post = client
        .post(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
}

#[tokio::test]
async fn https_and_basic_auth_guard_the_endpoint() {
    let d = dir("tls");
    let certs = monitor_server::tls::self_signed(&d.0.join("tls"), &[]).unwrap();
    let auth = d.0.join("auth");
    std::fs::write(&auth, "prom:a-long-password\n").unwrap();
    let port = free_port();
    let _agent = agent(&[
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--listen-tls-cert",
        certs.cert.to_str().unwrap(),
        "--listen-tls-key",
        certs.key.to_str().unwrap(),
        "--listen-basic-auth-file",
        auth.to_str().unwrap(),
    ]);
    let client = client(Some(&certs.ca));
    let url = format!("https://localhost:{port}/metrics");
    let (_, body) = scrape(&client, &url, Some(("prom", "a-long-password"))).await;
    assert_eq!(value(&body, "monitor_memory_total_bytes"), mem_total());
    for auth in [
        None,
        Some(("prom", "wrong")),
        Some(("other", "a-long-password")),
    ] {
        let mut request = client.get(&url);
        if let Some((user, password)) = auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"monitor-agent\""
        );
    }
}

#[test]
fn listen_options_without_listen_are_refused_clearly() {
    let out = Command::new(common::AGENT)
        .args([
            "--listen-basic-auth-file",
            "/nonexistent",
            "--server",
            "https://x:8443",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--listen-basic-auth-file needs --listen ADDR"),
        "{stderr}"
    );
}
