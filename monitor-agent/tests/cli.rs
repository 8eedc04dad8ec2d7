//! The `monitor-agent` binary as a user runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use monitor_core::{HostMetrics, Snapshot, wire};

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_monitor-agent"))
}

#[test]
fn once_prints_one_valid_snapshot() {
    let out = agent()
        .args([
            "--once",
            "--collectors",
            "system,memory,cpu,disk,network",
            "--server-id",
            "srv-01",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snapshots = wire::decode(&out.stdout, &wire::Limits::default()).unwrap();
    assert_eq!(snapshots.len(), 1);
    let s = &snapshots[0];
    assert_eq!(s.server_id.as_str(), "srv-01");
    assert_eq!(s.interval_secs, Some(5.0));
    let host = HostMetrics::from_snapshot(s);
    assert!(host.memory.is_some());
    let cpu = host.cpu.expect("--once measures CPU over a second");
    assert!(cpu.count > 0);
    assert!(!host.filesystems.is_empty());
    let info = s.host.as_ref().unwrap();
    assert!(!info.hostname.is_empty());
    assert_eq!(info.agent_version, env!("CARGO_PKG_VERSION"));
    assert!(s.containers.is_none(), "docker was not selected");
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    // Standard error is a pipe here, as under systemd's journal; a server
    // that cannot be reached makes the agent log.
    let spool = std::env::temp_dir().join(format!("monitor-cli-colour-{}", std::process::id()));
    let mut child = agent()
        .args([
            "--server",
            "http://127.0.0.1:1",
            "--server-id",
            "srv-01",
            "--token",
            "abcdefghijklmnopqrstuvwxyz012345",
            "--interval",
            "0.5",
            "--spool-dir",
        ])
        .arg(&spool)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&spool);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN"),
        "no log line to look at: {stderr:?}"
    );
    assert!(!stderr.contains('\u{1b}'), "escape codes: {stderr:?}");
}

#[test]
fn stdout_prints_a_snapshot_per_interval_until_terminated() {
    let mut child = agent()
        .args([
            "--stdout",
            "--interval",
            "0.3",
            "--collectors",
            "memory,cpu",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut snapshots: Vec<Snapshot> = Vec::new();
    for _ in 0..3 {
        let line = lines.next().unwrap().unwrap();
        snapshots.push(serde_json::from_str(&line).unwrap());
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM ends the agent cleanly: {status}");
    assert!(snapshots[0].timestamp < snapshots[2].timestamp);
    // From the second snapshot on, CPU % is there.
    assert!(HostMetrics::from_snapshot(&snapshots[2]).cpu.is_some());
}

/// A configuration error exits with 78 (EX_CONFIG), which the systemd unit
/// does not restart on; a command line clap cannot read with 2.
#[test]
fn bad_flags_get_clear_messages_and_a_status_that_names_the_kind() {
    const CONFIG: i32 = 78;
    const USAGE: i32 = 2;
    let cases: &[(&[&str], &str, i32)] = &[
        (
            &["--once", "--interval", "0"],
            "--interval 0 is out of range",
            CONFIG,
        ),
        (
            &["--once", "--collectors", "memory,gpu"],
            "unknown collector \"gpu\"",
            CONFIG,
        ),
        (
            &["--once", "--server-id", "bad id"],
            "invalid server id",
            CONFIG,
        ),
        (
            &["--once", "--host-proc", "/nonexistent"],
            "point it at the host's /proc",
            CONFIG,
        ),
        (&[], "--server is required", CONFIG),
        (
            &["--server", "ftp://x", "--server-id", "a", "--token", "t"],
            "must be a URL",
            CONFIG,
        ),
        (
            &["--once", "--config", "/nonexistent/agent.toml"],
            "--config /nonexistent/agent.toml: cannot read it",
            CONFIG,
        ),
        (&["--once", "--stdout"], "cannot be used with", USAGE),
        (&["--interval", "abc"], "invalid value 'abc'", USAGE),
    ];
    for (args, expected, code) in cases {
        let out = agent().args(*args).output().unwrap();
        assert_eq!(out.status.code(), Some(*code), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let out = agent().arg("--version").output().unwrap();
    assert!(out.status.success());
    let shown = String::from_utf8(out.stdout).unwrap();
    let commit = shown
        .trim()
        .strip_prefix(concat!(
            "monitor-agent ",
            env!("CARGO_PKG_VERSION"),
            " (commit "
        ))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{shown:?}"));
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    if head.status.success() {
        assert_eq!(commit, String::from_utf8_lossy(&head.stdout).trim());
    } else {
        assert_eq!(commit, "unknown");
    }
}

#[test]
fn missing_docker_does_not_stop_the_agent() {
    let out = agent()
        .args([
            "--once",
            "--collectors",
            "memory,docker",
            "--docker-host",
            "unix:///nonexistent/d.sock",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Two collections ran (baseline and reading); the failure is logged once.
    assert_eq!(stderr.matches("Collector failed").count(), 1, "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    let s: Snapshot = serde_json::from_slice(&out.stdout).unwrap();
    assert!(HostMetrics::from_snapshot(&s).memory.is_some());
    assert!(s.containers.is_none());
}

/// `--probe` from the command line reaches the snapshot; a failing probe
/// is logged with its cause.
#[cfg(feature = "probe")]
#[test]
fn once_reports_probes() {
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_port = open.local_addr().unwrap().port();
    let out = agent()
        .args(["--once", "--collectors", "memory", "--server-id", "srv-01"])
        .args(["--probe", &format!("tcp://127.0.0.1:{open_port}")])
        // Port 1 of this host: nothing listens there (it needs root).
        .args(["--probe", "tcp://127.0.0.1:1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let snapshots = wire::decode(&out.stdout, &wire::Limits::default()).unwrap();
    let success = |probe: &str| {
        snapshots[0]
            .metrics
            .iter()
            .find(|f| f.name == "probe_success")
            .and_then(|f| {
                f.samples
                    .iter()
                    .find(|s| s.labels.get("probe") == Some(probe))
            })
            .map(|s| s.value)
    };
    assert_eq!(success(&format!("tcp://127.0.0.1:{open_port}")), Some(1.0));
    assert_eq!(success("tcp://127.0.0.1:1"), Some(0.0));
    assert!(
        stderr.contains("probe failing") && stderr.contains("Connection refused"),
        "{stderr}"
    );
}
