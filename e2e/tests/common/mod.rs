//! What the end-to-end tests share: the two binaries, a directory per
//! test, and the server tests' helpers (a child process and a directory
//! that clean up after themselves, a free port, TLS clients trusting one
//! CA).

#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../monitor-server/tests/common/mod.rs"]
mod server;

pub(crate) use server::*;

/// A throwaway PostgreSQL cluster (the system's `initdb`).
#[cfg(feature = "postgres")]
#[path = "../../../monitor-store/tests/pg_cluster/mod.rs"]
pub(crate) mod pg_cluster;

/// A throwaway PostgreSQL cluster, or `None` (the test is skipped) where
/// the system has none, unless MONITOR_REQUIRE_POSTGRES=1.
#[cfg(feature = "postgres")]
pub(crate) fn postgres() -> Option<pg_cluster::Cluster> {
    let cluster = pg_cluster::Cluster::start();
    if cluster.is_none() {
        assert!(
            std::env::var("MONITOR_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "MONITOR_REQUIRE_POSTGRES=1 but no initdb under /usr/lib/postgresql"
        );
        eprintln!("skipped: no PostgreSQL (install the postgresql package)");
    }
    cluster
}

/// The agent binary: `monitor-agent`'s own main.rs, built by this package.
pub(crate) const AGENT: &str = env!("CARGO_BIN_EXE_e2e-monitor-agent");

/// The server binary: `monitor-server`'s own main.rs, built by this package.
pub(crate) const SERVER: &str = env!("CARGO_BIN_EXE_e2e-monitor-server");

/// An empty directory `monitor-<test>-<name>-<pid>` under the temp dir.
pub(crate) fn dir(test: &str, name: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("monitor-{test}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}

/// Whether `program` (`prometheus`, `promtool`) is installed: the test is
/// skipped without it, unless MONITOR_REQUIRE_PROMETHEUS asks for it
/// (scripts/test.sh sets it after installing Debian's `prometheus`).
pub(crate) fn have_prometheus(program: &str) -> bool {
    let found = std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("MONITOR_REQUIRE_PROMETHEUS").is_none(),
            "{program} is required (scripts/services.sh prometheus installs it)"
        );
        eprintln!("skipped: {program} is not installed");
    }
    found
}

/// A real Prometheus listening on `addr` with the configuration file
/// `config`, its data under `dir`, and `args` besides, once it is ready:
/// the process (stopped when dropped) and its base URL.
pub(crate) async fn start_prometheus(
    dir: &std::path::Path,
    config: &std::path::Path,
    addr: std::net::SocketAddr,
    args: &[&str],
) -> (Process, String) {
    let process = Process(
        std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://{addr}");
    let client = client(None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let ready = client.get(format!("{url}/-/ready")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return (process, url);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Prometheus did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Server processes on one database and simulated agents.
pub(crate) mod fleet;

/// Waits (up to 60 s) until `GET {base}/api/health` answers 200.
pub(crate) async fn wait_healthy(web: &reqwest::Client, base: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let health = web.get(format!("{base}/api/health")).send().await;
        if health.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{base} never answered /api/health"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Registers `server_id` with the admin token; its agent token.
pub(crate) async fn register(
    web: &reqwest::Client,
    base: &str,
    admin: &str,
    server_id: &str,
) -> String {
    let response = web
        .post(format!("{base}/api/register"))
        .header("x-admin-token", admin)
        .json(&serde_json::json!({ "server_id": server_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "registering {server_id}");
    let registered: serde_json::Value = response.json().await.unwrap();
    registered["token"].as_str().unwrap().to_owned()
}

/// `GET url` as JSON.
pub(crate) async fn get_json(web: &reqwest::Client, url: &str) -> serde_json::Value {
    web.get(url).send().await.unwrap().json().await.unwrap()
}

/// Runs a package build script of `deploy/` (`debian/build.sh`,
/// `rpm/build.sh`) for `version` into `out` with the test binaries and
/// `env`; the two packages it prints (server first).
pub(crate) fn build_packages(
    script: &str,
    env: (&str, &str),
    version: &str,
    out: &std::path::Path,
) -> Vec<std::path::PathBuf> {
    let built = std::process::Command::new("bash")
        .env(env.0, env.1)
        .arg(format!("{}/../deploy/{script}", env!("CARGO_MANIFEST_DIR")))
        .args([version, out.to_str().unwrap(), SERVER, AGENT])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&built.stdout).into_owned();
    assert!(
        built.status.success(),
        "{script}: {said}{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let packages: Vec<std::path::PathBuf> = said.lines().map(std::path::PathBuf::from).collect();
    assert_eq!(packages.len(), 2, "{said}");
    for package in &packages {
        assert!(package.is_file(), "{said}");
    }
    packages
}

/// Runs `program` with `args`, which must succeed; what it wrote to
/// standard output, then to standard error.
pub(crate) fn run(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?}: {said}");
    said
}
