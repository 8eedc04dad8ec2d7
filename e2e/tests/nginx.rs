//! The deployment guide's nginx configuration (`deploy/nginx/monitor.conf`)
//! as written, with only its ports, certificate paths and upstream address
//! replaced, in Debian's nginx on loopback in front of the server: an agent
//! pushes through it over TLS, a browser-style client reads the dashboard,
//! the API and the live stream through it, and port 80 redirects to HTTPS.
//!
//! Skipped without nginx unless MONITOR_REQUIRE_NGINX is set
//! (scripts/test.sh installs it and sets it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Process, client, free_port};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use monitor_core::ServerId;

const ADMIN: &str = "smk_adm_nginx_admin_token_0123456789abcdef";

fn nginx() -> Option<PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("MONITOR_REQUIRE_NGINX").is_none(),
            "nginx is required (scripts/services.sh nginx installs it)"
        );
        eprintln!("skipped: nginx is not installed");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_recipe_in_front_of_the_server() {
    let Some(nginx) = nginx() else { return };
    let dir = std::env::temp_dir().join(format!("monitor-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let certs = monitor_server::tls::self_signed(&dir.join("tls"), &[]).unwrap();

    // The server on loopback, plain HTTP, as the guide says.
    let server_port = free_port();
    let _server = Process(
        Command::new(common::SERVER)
            .args(["--listen", &format!("127.0.0.1:{server_port}")])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("MONITOR_ADMIN_TOKEN", ADMIN)
            .env_remove("DASHBOARD_TOKEN")
            .env_remove("MONITOR_CONFIG")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // The recipe, with this test's ports and files.
    let (https, http) = (free_port(), free_port());
    let recipe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/nginx/monitor.conf"
    ))
    .unwrap();
    let site = recipe
        .replace(
            "server 127.0.0.1:8001;",
            &format!("server 127.0.0.1:{server_port};"),
        )
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{https} ssl;"))
        .replace("listen 80;", &format!("listen 127.0.0.1:{http};"))
        .replace(
            "/etc/nginx/tls/monitor.example.crt",
            certs.cert.to_str().unwrap(),
        )
        .replace(
            "/etc/nginx/tls/monitor.example.key",
            certs.key.to_str().unwrap(),
        )
        .replace("server_name monitor.example;", "server_name localhost;");
    assert_ne!(site, recipe);
    let main = format!(
        "user root;\nworker_processes 1;\nerror_log {logs}/error.log warn;\npid {logs}/nginx.pid;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log {logs}/access.log;\n  client_body_temp_path {logs}/body;\n  proxy_temp_path {logs}/proxy;\n\
           fastcgi_temp_path {logs}/fastcgi;\n  uwsgi_temp_path {logs}/uwsgi;\n  scgi_temp_path {logs}/scgi;\n{site}\n}}\n",
        logs = dir.join("logs").display()
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, main).unwrap();
    let test = Command::new(&nginx)
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "nginx -t refused the recipe: {}",
        String::from_utf8_lossy(&test.stderr)
    );
    let _nginx = Process(
        Command::new(&nginx)
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let front = format!("https://localhost:{https}");
    let web = client(Some(&certs.ca));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = web.get(format!("{front}/api/health")).send().await;
        if ok.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not answer through nginx"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Port 80 sends browsers to HTTPS.
    let redirect = web
        .get(format!("http://127.0.0.1:{http}/api/servers"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 301);
    assert!(
        redirect.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://")
    );

    // Register through nginx, open the live stream, then start an agent
    // that pushes through nginx with the guide's --verify.
    let registered: serde_json::Value = web
        .post(format!("{front}/api/register"))
        .header("x-admin-token", ADMIN)
        .json(&serde_json::json!({"server_id": "behind-nginx"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["token"].as_str().unwrap().to_owned();
    let mut stream = web
        .get(format!("{front}/api/stream"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let pusher = monitor_agent::push::Pusher::new(monitor_agent::push::PushConfig {
        server: front.clone(),
        failover: Vec::new(),
        token: token.clone(),
        verify: Some(certs.ca.clone()),
        spool_dir: dir.join("spool"),
        spool_max_bytes: 1 << 20,
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let mut agent = monitor_agent::Agent::builder()
        .with_server_id(ServerId::new("behind-nginx").unwrap())
        .with_interval(Duration::from_millis(300))
        .with_builtin_collectors(&["memory"])
        .build()
        .unwrap();
    let agent = tokio::spawn(async move {
        monitor_agent::push::run(
            &mut agent,
            &pusher,
            Duration::from_millis(300),
            std::future::pending(),
        )
        .await;
    });

    // Each event arrives through nginx as it is sent (no buffering).
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains("\"server_id\":\"behind-nginx\"") {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no snapshot event through nginx: {seen}");
        match tokio::time::timeout(left, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("the stream ended through nginx: {other:?} after {seen}"),
        }
    }
    assert!(seen.contains("event: snapshot"), "{seen}");

    // The agent's reports are stored; the dashboard and the API answer.
    let servers: serde_json::Value = web
        .get(format!("{front}/api/servers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me = servers
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["server_id"] == "behind-nginx")
        .unwrap();
    assert_eq!(me["online"], true, "{servers}");
    if monitor_server::dashboard::embedded() {
        let page = web.get(format!("{front}/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.headers().contains_key("content-security-policy"));
        assert!(page.text().await.unwrap().contains("<div id=\"root\">"));
    }
    // A body over the server's limit gets the server's JSON 413, not nginx's page.
    let big = web
        .post(format!("{front}/api/metrics"))
        .header("x-auth-token", &token)
        .header("content-type", "application/json")
        .body(vec![b' '; 4_300_000])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    assert!(big.text().await.unwrap().contains("\"error\""));
    // A wrong token with a big body: the server's 401, not a broken
    // connection (the body it does not read is drained first).
    let refused = web
        .post(format!("{front}/api/metrics"))
        .header("x-auth-token", "smk_ing_a_wrong_token_of_nobody_000")
        .header("content-type", "application/json")
        .body(vec![b' '; 3_000_000])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.unwrap().contains("\"unauthorized\""));
    agent.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
