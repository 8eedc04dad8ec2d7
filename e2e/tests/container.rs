//! The container images (`deploy/container/build.sh`, `FROM scratch`) with
//! this machine's Docker engine: they build; the agent's image, given the
//! host's /proc, /sys and /, reports the host's memory total and root file
//! system (not the container's); and `docker-compose.yml` runs the server
//! and an agent that reports to it (Debian's docker-compose).
//!
//! Skipped without Docker unless MONITOR_REQUIRE_DOCKER=1 (CI sets it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use monitor_core::host::HostMetrics;

const TAG: &str = "e2e-test";
const COMPOSE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/container/docker-compose.yml"
);

fn docker_answers() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("MONITOR_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "MONITOR_REQUIRE_DOCKER=1 but Docker does not answer"
        );
        eprintln!("skipped: Docker does not answer");
    }
    ok
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn build_images() {
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/container/build.sh"
        ))
        .args([TAG, common::SERVER, common::AGENT])
        .output()
        .unwrap();
    assert!(out.status.success(), "build.sh: {}", said(&out));
    let images = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        images.lines().collect::<Vec<_>>(),
        [
            format!("monitor-server:{TAG}"),
            format!("monitor-agent:{TAG}")
        ],
    );
}

fn meminfo_total() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// `docker-compose` for this test's project, removed with its volumes when
/// dropped.
struct Compose {
    project: String,
    env: Vec<(String, String)>,
}

impl Compose {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("docker-compose")
            .args(["-f", COMPOSE, "-p", &self.project])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self.run(&["down", "--volumes", "--timeout", "2"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_images_build_read_the_host_and_run_together_with_compose() {
    if !docker_answers() {
        return;
    }
    build_images();

    // The agent's image on its own, given the host: the host's memory and
    // root file system. (Its own root is an overlay, which is never
    // reported: without --host-root there would be no "/".)
    let out = Command::new("docker")
        .args(["run", "--rm", "--pid", "host"])
        .args(["-v", "/proc:/host/proc:ro", "-v", "/sys:/host/sys:ro"])
        .args(["-v", "/:/host/root:ro"])
        .arg(format!("monitor-agent:{TAG}"))
        .args(["--host-proc", "/host/proc", "--host-sys", "/host/sys"])
        .args(["--host-root", "/host/root", "--once"])
        .args(["--collectors", "memory,disk"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    let snapshot: monitor_core::Snapshot = serde_json::from_slice(&out.stdout).unwrap();
    let host = HostMetrics::from_snapshot(&snapshot);
    assert_eq!(
        host.memory.as_ref().map(|m| m.total_bytes),
        Some(meminfo_total())
    );
    let root = host
        .filesystems
        .iter()
        .find(|f| f.mountpoint == "/")
        .unwrap_or_else(|| panic!("no / in {:?}", host.filesystems));
    let st = rustix::fs::statvfs(Path::new("/")).unwrap();
    assert_eq!(root.size_bytes, st.f_blocks * st.f_frsize);
    assert_ne!(root.fstype, "overlay");

    // The compose file: the server first, a token, then the agent.
    let port = common::free_port();
    let admin = "smk_adm_compose_admin_token_0123456789abcdef";
    let docker_gid = Command::new("getent")
        .args(["group", "docker"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split(':')
                .nth(2)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "0".into());
    let mut compose = Compose {
        project: format!("monitore2e{}", std::process::id()),
        env: vec![
            ("MONITOR_VERSION".into(), TAG.into()),
            ("MONITOR_PORT".into(), port.to_string()),
            ("MONITOR_ADMIN_TOKEN".into(), admin.into()),
            ("MONITOR_SERVER_ID".into(), "compose-host".into()),
            ("MONITOR_ROOT_MOUNT".into(), "ro".into()),
            ("DOCKER_GID".into(), docker_gid),
        ],
    };
    let out = compose.run(&["up", "-d", "server"]);
    assert!(out.status.success(), "compose up server: {}", said(&out));
    // The local CA the server made in its volume (the image has no shell:
    // docker cp).
    let dir = common::dir("container", "ca");
    let ca_file = dir.0.join("ca.pem");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let copied = Command::new("docker")
            .arg("cp")
            .arg(format!(
                "{}_server_1:/var/lib/monitor-server/tls/ca.pem",
                compose.project
            ))
            .arg(&ca_file)
            .output()
            .unwrap();
        if copied.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no CA in the server's volume: {}",
            said(&copied)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let web = common::client(Some(&ca_file));
    let base = format!("https://localhost:{port}");
    common::wait_healthy(&web, &base).await;
    let token = common::register(&web, &base, admin, "compose-host").await;
    compose.env.push(("MONITOR_TOKEN".into(), token));
    let out = compose.run(&["up", "-d", "agent"]);
    assert!(out.status.success(), "compose up agent: {}", said(&out));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let servers = common::get_json(&web, &format!("{base}/api/servers")).await;
        if servers[0]["online"] == true && servers[0]["memory_used_percent"].is_number() {
            break;
        }
        if Instant::now() > deadline {
            let logs = compose.run(&["logs", "agent"]);
            panic!(
                "the agent's container never reported: {servers}\n{}",
                said(&logs)
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
