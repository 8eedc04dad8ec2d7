//! The Debian packages (`deploy/debian/build.sh`) on this Debian machine:
//! they build, install with `dpkg -i`, `systemd-analyze verify` accepts
//! their units, the installed binaries run as their own users with the
//! installed configuration and the agent reports to the server, an upgrade
//! keeps configuration, tokens and data, and purge removes what they added.
//!
//! It changes the machine (packages, users, /etc/monitor), so it runs only
//! as root with dpkg, and purges the packages before and after. Skipped
//! elsewhere unless MONITOR_REQUIRE_PACKAGES is set (scripts/test.sh sets
//! it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Process, client, free_port, run};

const PACKAGES: [&str; 2] = ["monitor-agent", "monitor-server"];

fn can_install() -> bool {
    let root = rustix::process::geteuid().is_root();
    let dpkg = Command::new("dpkg-deb")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !(root && dpkg) {
        assert!(
            std::env::var_os("MONITOR_REQUIRE_PACKAGES").is_none(),
            "the package test needs root and dpkg (root: {root}, dpkg: {dpkg})"
        );
        eprintln!("skipped: the package test needs root and dpkg");
    }
    root && dpkg
}

/// Purges the packages and the administrator's files of this test, now and
/// when dropped (a failed test leaves nothing installed).
struct Installed;

impl Installed {
    fn clean() {
        let _ = Command::new("dpkg")
            .arg("--purge")
            .args(PACKAGES)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for file in ["/etc/monitor/agent.token", "/etc/monitor/ca.pem"] {
            let _ = std::fs::remove_file(file);
        }
        let _ = std::fs::remove_dir("/etc/monitor");
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        Installed::clean();
    }
}

fn build(version: &str, out: &Path) -> Vec<PathBuf> {
    // Uncompressed: the debug binaries take a minute to compress.
    common::build_packages("debian/build.sh", ("DEB_COMPRESSION", "none"), version, out)
}

fn install(debs: &[PathBuf]) {
    let mut args = vec!["--force-confold", "-i"];
    args.extend(debs.iter().map(|d| d.to_str().unwrap()));
    run("dpkg", &args);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_packages_install_run_upgrade_and_purge() {
    if !can_install() {
        return;
    }
    Installed::clean();
    let _installed = Installed;
    let dir = common::dir("debian", "packages");

    let debs = build("0.1.0", &dir.0.join("0.1.0"));
    install(&debs);
    for file in [
        "/usr/bin/monitor-server",
        "/usr/bin/monitor-agent",
        "/lib/systemd/system/monitor-server.service",
        "/lib/systemd/system/monitor-agent.service",
        "/usr/lib/sysusers.d/monitor-server.conf",
        "/etc/monitor/server.toml",
        "/etc/monitor/agent.toml",
        "/usr/share/man/man1/monitor-server.1.gz",
        "/usr/share/man/man1/monitor-agent.1.gz",
        "/usr/share/bash-completion/completions/monitor-agent",
        "/usr/share/zsh/vendor-completions/_monitor-server",
        "/usr/share/fish/vendor_completions.d/monitor-server.fish",
        "/usr/share/doc/monitor-agent/examples/monitor-legacy-names.rules.yml",
    ] {
        assert!(Path::new(file).exists(), "{file} was not installed");
    }
    run("id", &["monitor"]);
    run("id", &["monitor-agent"]);
    let said = run(
        "systemd-analyze",
        &[
            "verify",
            "/lib/systemd/system/monitor-server.service",
            "/lib/systemd/system/monitor-agent.service",
        ],
    );
    assert!(!said.contains("monitor-"), "systemd-analyze: {said}");
    // The server is enabled at install, the agent once configured.
    assert!(
        Path::new("/etc/systemd/system/multi-user.target.wants/monitor-server.service").exists()
    );
    assert!(
        !Path::new("/etc/systemd/system/multi-user.target.wants/monitor-agent.service").exists()
    );
    let checked = run("/usr/bin/monitor-server", &["check-config"]);
    assert!(
        checked.contains("file: /etc/monitor/server.toml"),
        "{checked}"
    );

    // The installed server as its user, with the installed configuration
    // (only its port changed, through the environment).
    let port = free_port();
    let server = Process(
        Command::new("runuser")
            .args(["-u", "monitor", "--", "/usr/bin/monitor-server"])
            .env("MONITOR_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ca = Path::new("/var/lib/monitor-server/tls/ca.pem");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ca.exists() {
        assert!(Instant::now() < deadline, "the server made no CA");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::copy(ca, "/etc/monitor/ca.pem").unwrap();
    let web = client(Some(Path::new("/etc/monitor/ca.pem")));
    let base = format!("https://localhost:{port}");
    common::wait_healthy(&web, &base).await;
    let admin = std::fs::read_to_string("/var/lib/monitor-server/admin.token").unwrap();
    let token = &common::register(&web, &base, admin.trim(), "packaged").await;

    // The agent configured as its file says to.
    std::fs::write("/etc/monitor/agent.token", token).unwrap();
    run("chown", &["monitor-agent:", "/etc/monitor/agent.token"]);
    run("chmod", &["0600", "/etc/monitor/agent.token"]);
    let file = std::fs::read_to_string("/etc/monitor/agent.toml").unwrap();
    let configured = file
        .replace(
            "# server = \"https://monitor.example:8443\"",
            &format!("server = \"{base}\""),
        )
        .replace("# server_id = \"srv-01\"", "server_id = \"packaged\"")
        .replace(
            "verify = \"/etc/ssl/certs/ca-certificates.crt\"",
            "verify = \"/etc/monitor/ca.pem\"",
        );
    assert_ne!(configured, file, "the agent's file changed shape");
    std::fs::write("/etc/monitor/agent.toml", &configured).unwrap();
    let agent = Process(
        Command::new("runuser")
            .args(["-u", "monitor-agent", "--", "/usr/bin/monitor-agent"])
            .env("MONITOR_INTERVAL", "0.5")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let servers = common::get_json(&web, &format!("{base}/api/servers")).await;
        if servers[0]["server_id"] == "packaged" && servers[0]["online"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the installed agent never reported: {servers}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(agent);
    drop(server);

    // An upgrade keeps the configuration, the tokens and the data.
    let debs = build("0.1.1", &dir.0.join("0.1.1"));
    install(&debs);
    let version = run("dpkg-query", &["-W", "-f", "${Version}", "monitor-server"]);
    assert_eq!(version, "0.1.1");
    assert_eq!(
        std::fs::read_to_string("/etc/monitor/agent.toml").unwrap(),
        configured
    );
    assert_eq!(
        std::fs::read_to_string("/var/lib/monitor-server/admin.token").unwrap(),
        admin
    );
    assert!(Path::new("/var/lib/monitor-server/monitor.db").exists());
    let checked = run("/usr/bin/monitor-server", &["check-config"]);
    assert!(
        checked.contains("admin token: /var/lib/monitor-server/admin.token holds one"),
        "{checked}"
    );

    // Purge removes what the packages added; the administrator's own files
    // in /etc/monitor stay.
    let mut args = vec!["--purge"];
    args.extend(PACKAGES);
    run("dpkg", &args);
    for gone in [
        "/usr/bin/monitor-server",
        "/usr/bin/monitor-agent",
        "/lib/systemd/system/monitor-server.service",
        "/etc/monitor/server.toml",
        "/etc/monitor/agent.toml",
        "/var/lib/monitor-server",
        "/var/lib/monitor-agent",
        "/usr/share/man/man1/monitor-server.1.gz",
        "/etc/systemd/system/multi-user.target.wants/monitor-server.service",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} is left after purge");
    }
    assert!(Path::new("/etc/monitor/agent.token").exists());
}
