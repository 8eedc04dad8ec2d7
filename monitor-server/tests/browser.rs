//! The dashboard in a real headless Chromium (Debian's, driven by
//! playwright-core: `web/e2e/dashboard.mjs`) against the real server with a
//! real agent: `monitor-server quickstart`, with a read token.
//!
//! Skipped without Chromium and Node.js unless MONITOR_REQUIRE_CHROMIUM is
//! set (scripts/test.sh installs Chromium and sets it). Screenshots of each
//! page land in `target/e2e/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_core::Catalog;
mod common;

use common::Process;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "smk_adm_e2e_admin_token_0123456789abcdef";
const READ: &str = "smk_dsh_e2e_dashboard_token_0123456789abc";

fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    s.write_all(request.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn found(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// 30 days of one report a minute for `history-01` (the storage
/// benchmark's 52-sample host report), compacted, in the SQLite file the
/// server will open.
fn seed_history(db: &Path) {
    use monitor_core::Store;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = monitor_store::SqlStore::open(monitor_store::StoreOptions::sqlite(db))
            .await
            .unwrap();
        store
            .register_server(monitor_core::catalog::NewServer {
                id: monitor_core::ServerId::new("history-01").unwrap(),
                name: "thirty days".into(),
                tags: vec![],
                token_hash: monitor_core::TokenHash([7; 32]),
                created: monitor_core::Timestamp::now(),
            })
            .await
            .unwrap();
        let now = monitor_core::Timestamp::now().as_millis();
        let start = now - 30 * 86_400_000;
        let mut rng = monitor_core::testing::Rng(3);
        let mut batch = Vec::with_capacity(1000);
        for i in 0..30 * 1440 {
            let mut snapshot =
                monitor_core::testing::report("history-01", start + i * 60_000, i, &mut rng);
            snapshot.interval_secs = Some(60.0);
            batch.push(snapshot);
            if batch.len() == 1000 {
                store.ingest(std::mem::take(&mut batch)).await.unwrap();
            }
        }
        store.ingest(batch).await.unwrap();
        store
            .compact(monitor_core::Timestamp::from_millis(now))
            .await
            .unwrap();
        store.shutdown().await.unwrap();
    });
}

#[test]
fn the_dashboard_in_a_real_browser() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let ready = monitor_server::dashboard::embedded()
        && Path::new("/usr/bin/chromium").exists()
        && found("node", "--version")
        && web.join("node_modules/playwright-core").exists();
    if !ready {
        assert!(
            std::env::var_os("MONITOR_REQUIRE_CHROMIUM").is_none(),
            "the browser test needs the dashboard built in, /usr/bin/chromium (scripts/services.sh chromium), Node.js and web/node_modules (npm ci)"
        );
        eprintln!("skipped: no dashboard, Chromium, Node.js or web/node_modules");
        return;
    }
    let dir = std::env::temp_dir().join(format!("monitor-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::create_dir_all(&dir).unwrap();
    seed_history(&dir.join("monitor.db"));
    let _server = Process(
        Command::new(env!("CARGO_BIN_EXE_monitor-server"))
            .args(["--data-dir", dir.to_str().unwrap(), "quickstart"])
            .args(["--port", &port.to_string(), "--interval", "0.5"])
            .env("MONITOR_ADMIN_TOKEN", ADMIN)
            .env("DASHBOARD_TOKEN", READ)
            .env_remove("MONITOR_CONFIG")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let servers = http(
            port,
            "GET",
            "/api/servers",
            &[("x-dashboard-token", READ)],
            "",
        );
        if servers.is_some_and(|s| s.contains("\"online\":true")) {
            break;
        }
        assert!(Instant::now() < deadline, "the local host never showed up");
        std::thread::sleep(Duration::from_millis(200));
    }
    let registered = http(
        port,
        "POST",
        "/api/register",
        &[
            ("x-admin-token", ADMIN),
            ("content-type", "application/json"),
        ],
        r#"{"server_id":"e2e-01"}"#,
    )
    .unwrap();
    let token = registered
        .split("\"token\":\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap_or_else(|| panic!("no token in {registered}"))
        .to_owned();
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
    let out = Command::new("node")
        .arg(web.join("e2e/dashboard.mjs"))
        .current_dir(&web)
        .env("MONITOR_URL", format!("http://127.0.0.1:{port}"))
        .env("DASHBOARD_TOKEN", READ)
        .env("AGENT_TOKEN", &token)
        .env("AGENT_SERVER_ID", "e2e-01")
        .env("SCREENSHOTS", &screenshots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser test failed:\n{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
