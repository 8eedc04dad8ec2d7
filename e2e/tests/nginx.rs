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

/// nginx running `site` (http-level blocks) with its logs and temporary
/// files under `dir/logs`, once `nginx -t` accepts it.
fn run_nginx(nginx: &std::path::Path, dir: &std::path::Path, site: &str) -> Process {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let main = format!(
        "user root;\nworker_processes 1;\nerror_log {logs}/error.log warn;\npid {logs}/nginx.pid;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log {logs}/access.log;\n  client_body_temp_path {logs}/body;\n  proxy_temp_path {logs}/proxy;\n\
           fastcgi_temp_path {logs}/fastcgi;\n  uwsgi_temp_path {logs}/uwsgi;\n  scgi_temp_path {logs}/scgi;\n{site}\n}}\n",
        logs = logs.display()
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, main).unwrap();
    let test = Command::new(nginx)
        .arg("-t")
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "nginx -t refused the configuration: {}",
        String::from_utf8_lossy(&test.stderr)
    );
    Process(
        Command::new(nginx)
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// nginx running the recipe.
struct Front {
    nginx: Process,
    https: u16,
    http: u16,
    certs: monitor_server::tls::SelfSigned,
}

/// Starts nginx with the deployment guide's recipe as written, with only
/// its ports, certificate paths and upstream servers (one per port of
/// `upstreams`, on the recipe's two "server" lines) replaced, once it
/// answers for the server behind it.
async fn front(nginx: &std::path::Path, dir: &std::path::Path, upstreams: &[u16]) -> Front {
    let certs = monitor_server::tls::self_signed(&dir.join("tls"), &[]).unwrap();
    let (https, http) = (free_port(), free_port());
    let recipe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/nginx/monitor.conf"
    ))
    .unwrap();
    let line = |n: usize, port: u16| {
        let from = [
            "    server 127.0.0.1:8001 max_fails",
            "    # server 127.0.0.1:8002 max_fails",
        ][n];
        (from, format!("    server 127.0.0.1:{port} max_fails"))
    };
    let mut site = recipe.clone();
    for (n, port) in upstreams.iter().enumerate() {
        let (from, to) = line(n, *port);
        assert!(site.contains(from), "the recipe has no line {from:?}");
        site = site.replace(from, &to);
    }
    let site = site
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
    let process = run_nginx(nginx, dir, &site);
    let web = client(Some(&certs.ca));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = web
            .get(format!("https://localhost:{https}/api/health"))
            .send()
            .await;
        if ok.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not answer through nginx"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Front {
        nginx: process,
        https,
        http,
        certs,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_recipe_in_front_of_the_server() {
    let Some(nginx) = nginx() else { return };
    let dir = std::env::temp_dir().join(format!("monitor-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

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

    let Front {
        nginx: _nginx,
        https,
        http,
        certs,
    } = front(&nginx, &dir, &[server_port]).await;
    let front = format!("https://localhost:{https}");
    let web = client(Some(&certs.ca));

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

/// The recipe with its second upstream line in use, in front of two server
/// processes on one real PostgreSQL: agents and dashboards know only
/// nginx's address. One process is stopped and then killed (SIGKILL) while
/// simulated agents report through nginx: not one report fails (nginx sends
/// those in flight, and the next ones, to the other process; without the
/// recipe's `non_idempotent` those in flight fail), every report is stored
/// once, and a dashboard stream opened through nginx afterwards gets the
/// live reports from the survivor.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_recipe_in_front_of_two_processes_survives_one_dying() {
    use common::fleet::{assert_stored_once, follow, register, simulated_agent, start};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let Some(nginx) = nginx() else { return };
    let Some(cluster) = common::postgres() else {
        return;
    };
    let dir = common::dir("nginx", "two");
    let (a_process, a) = start(&dir.0, "a", &cluster.url).await;
    let (_b_process, b) = start(&dir.0, "b", &cluster.url).await;
    let port = |base: &str| base.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let Front {
        nginx: _nginx,
        https,
        certs,
        ..
    } = front(&nginx, &dir.0, &[port(&a), port(&b)]).await;
    let front = format!("https://localhost:{https}");
    let web = client(Some(&certs.ca));

    // Eight simulated agents, each knowing only nginx.
    let stop = Arc::new(AtomicBool::new(false));
    let mut agents = Vec::new();
    for i in 0..8 {
        let id = format!("nginx-sim-{i}");
        let token = register(&web, &front, &id).await;
        let run = simulated_agent(
            web.clone(),
            vec![front.clone()],
            token,
            id.clone(),
            Arc::clone(&stop),
        );
        agents.push((id, tokio::spawn(run)));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Both processes took reports through nginx; then one dies.
    let accepted = |base: String| {
        let web = web.clone();
        async move {
            let text = web
                .get(format!("{base}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            text.lines()
                .filter(|l| l.starts_with("monitor_ingest_snapshots_total"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        }
    };
    assert!(accepted(a.clone()).await > 0.0, "nginx sent nothing to A");
    assert!(accepted(b.clone()).await > 0.0, "nginx sent nothing to B");
    // Stopped first, so that reports are surely in flight to it when it
    // dies: nginx must send those again (the recipe's non_idempotent).
    let pid = rustix::process::Pid::from_child(&a_process.0);
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(a_process);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let on_front = follow(&web, &front);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);

    // A dashboard that (re)connects through nginx sees every host live.
    let seen = on_front.lock().unwrap().clone();
    for (id, _) in &agents {
        assert!(
            common::fleet::streamed(&seen, "snapshot", id),
            "{id} not live through nginx after the kill"
        );
    }
    // Not one report failed through nginx, and each is stored once.
    for (id, run) in agents {
        let sent = run.await.unwrap();
        assert_eq!(sent.failures, 0, "{id}: {sent:?}");
        assert!(sent.acknowledged > 20, "{id}: {sent:?}");
        assert_stored_once(&web, &front, &id, sent.acknowledged).await;
    }
}

/// The original system's nginx block, exactly as its users have it:
/// `proxy_pass` ends in a slash, so nginx sends `/api/servers` to the
/// server as `/servers` and the agents' `POST /api/metrics` as
/// `POST /metrics`. Upgraded behind it, the server still registers, takes
/// the stock agent's reports and answers the API through it, and logs once
/// what to fix.
const ORIGINAL_BLOCK: &str = "location /api/ { proxy_pass http://127.0.0.1:8001/; }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_nginx_block_that_cuts_off_api_still_works() {
    let Some(nginx) = nginx() else { return };
    let dir = common::dir("nginx", "original");
    let server_port = free_port();
    let server_log = dir.0.join("server.log");
    let _server = Process(
        Command::new(common::SERVER)
            .args(["--listen", &format!("127.0.0.1:{server_port}")])
            .arg("--data-dir")
            .arg(dir.0.join("data"))
            .env("MONITOR_ADMIN_TOKEN", ADMIN)
            .env_remove("DASHBOARD_TOKEN")
            .env("MONITOR_CONFIG", "")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&server_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let port = free_port();
    let block = ORIGINAL_BLOCK.replace("8001", &server_port.to_string());
    let _nginx = run_nginx(
        &nginx,
        &dir.0,
        &format!("  server {{\n    listen 127.0.0.1:{port};\n    {block}\n  }}"),
    );
    let front = format!("http://127.0.0.1:{port}");
    let web = client(None);
    common::wait_healthy(&web, &front).await;

    // The original's flow: register, then the stock agent pushes.
    let token = common::register(&web, &front, ADMIN, "srv-01").await;
    let _agent = Process(
        Command::new(common::AGENT)
            .args(["--server", &front, "--server-id", "srv-01"])
            .args(["--interval", "0.5", "--collectors", "memory,cpu"])
            .arg("--spool-dir")
            .arg(dir.0.join("spool"))
            .env("MONITOR_TOKEN", &token)
            .env("MONITOR_AGENT_CONFIG", "")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let history = loop {
        let history = common::get_json(
            &web,
            &format!(
                "{front}/api/metrics/history?server_id=srv-01&metric=memory_used_bytes&step=1"
            ),
        )
        .await;
        if history.to_string().contains("\"points\":[{") {
            break history;
        }
        assert!(
            Instant::now() < deadline,
            "the agent's reports never arrived through the block: {history}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(history.to_string().contains("srv-01"), "{history}");
    let servers = common::get_json(&web, &format!("{front}/api/servers")).await;
    assert_eq!(servers[0]["server_id"], "srv-01", "{servers}");
    assert_eq!(servers[0]["online"], true, "{servers}");
    let alerts = web.get(format!("{front}/api/alerts")).send().await.unwrap();
    assert_eq!(alerts.status(), 200);

    // Writes still pass every check: a wrong token is refused.
    let refused = web
        .post(format!("{front}/api/metrics"))
        .header("x-auth-token", "smk_ing_a_wrong_token_of_nobody_000")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // The server said, once, what to change.
    let said = std::fs::read_to_string(&server_log).unwrap();
    assert_eq!(
        said.matches("without its /api/ prefix").count(),
        1,
        "{said}"
    );
    assert!(
        said.contains("write `proxy_pass http://127.0.0.1:8001;`"),
        "{said}"
    );
}
