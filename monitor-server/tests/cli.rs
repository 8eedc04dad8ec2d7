//! The `monitor-server` command as systemd and operators run it: the exit
//! status tells a configuration error from a failure while running,
//! `check-config`, JSON logs, `--version`, and settings from the
//! environment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CONFIG: i32 = 78;
const USAGE: i32 = 2;
const FAILED: i32 = 1;

/// The server command with no file or variable of this machine in the way.
fn server(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_monitor-server"));
    command
        .env_clear()
        .env("MONITOR_CONFIG", "")
        .env("MONITOR_DATA_DIR", data)
        .stdin(Stdio::null());
    command
}

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("monitor-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `command`, which must exit 78 (a configuration error) with
/// `message` in what it says.
fn refused(command: &mut Command, message: &str) {
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(CONFIG), "{}", said(&out));
    assert!(
        said(&out).contains(message),
        "no {message:?} in {}",
        said(&out)
    );
}

#[test]
fn a_configuration_error_exits_78_and_a_failure_while_running_1() {
    let data = dir("exit");
    // Not loopback, no TLS: refused before anything starts.
    refused(
        server(&data).args(["--listen", "0.0.0.0:8443"]),
        "serve TLS",
    );

    refused(
        server(&data).env("MONITOR_RETENTION_RAW", "a week"),
        "MONITOR_RETENTION_RAW: \"a week\"",
    );

    let short = data.join("short.token");
    std::fs::write(&short, "abc").unwrap();
    refused(
        server(&data)
            .args(["--listen", "127.0.0.1:0"])
            .env("MONITOR_TOKENS_READ_TOKEN_FILE", &short),
        "holds no usable token",
    );

    refused(
        server(&data)
            .args(["--listen", "127.0.0.1:0"])
            .env("DASHBOARD_TOKEN", "short"),
        "DASHBOARD_TOKEN",
    );

    let out = server(&data).arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(USAGE), "{}", said(&out));

    // The port is taken: starting again later may work.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = server(&data).args(["--listen", &address]).output().unwrap();
    assert_eq!(out.status.code(), Some(FAILED), "{}", said(&out));
}

#[test]
fn check_config_names_what_it_checked_or_what_to_fix() {
    let data = dir("check");
    let out = server(&data)
        .args(["--listen", "127.0.0.1:8001", "check-config"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "file: none",
        "listen: 127.0.0.1:8001",
        "admin token: will be generated",
        "database: sqlite://",
        "The configuration is valid",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in\n{stdout}");
    }
    // It made nothing.
    assert!(std::fs::read_dir(&data).unwrap().next().is_none());

    let file = data.join("server.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:8001\"\n[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
    )
    .unwrap();
    refused(
        server(&data).args(["--config", file.to_str().unwrap(), "check-config"]),
        "/nonexistent/cert.pem",
    );

    // A token file that is not there: the configuration's fault too.
    refused(
        server(&data)
            .args(["--listen", "127.0.0.1:8001", "check-config"])
            .env(
                "MONITOR_TOKENS_DASHBOARD_TOKEN_FILE",
                data.join("missing.token"),
            ),
        "tokens.dashboard_token_file: cannot read",
    );

    std::fs::write(&file, "listen = \"127.0.0.1:8001\"\nretention = 7\n").unwrap();
    refused(
        server(&data).args(["--config", file.to_str().unwrap(), "check-config"]),
        "server.toml",
    );

    // The file comes from MONITOR_CONFIG too, and is named.
    std::fs::write(&file, "listen = \"127.0.0.1:8002\"\n").unwrap();
    let out = server(&data)
        .env("MONITOR_CONFIG", &file)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("file: {}", file.display())),
        "{stdout}"
    );
    assert!(stdout.contains("listen: 127.0.0.1:8002"), "{stdout}");
}

#[test]
fn json_logs_are_one_object_a_line_from_the_first_to_the_last() {
    let data = dir("json");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = server(&data)
        .args([
            "--log-format",
            "json",
            "quickstart",
            "--port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let running = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no \"monitor is running\" line in {seen:#?}"));
        let object: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line:?}"));
        seen.push(line);
        if object["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("monitor is running"))
        {
            break object;
        }
    };
    assert_eq!(
        running["fields"]["server"],
        format!("http://127.0.0.1:{port}"),
        "{running}"
    );
    assert!(
        seen.iter().any(|l| l.contains("Generated the admin token")),
        "{seen:#?}"
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let rest: Vec<String> = lines.iter().collect();
    assert!(status.success(), "{status}: {rest:#?}");
    for line in rest {
        serde_json::from_str::<serde_json::Value>(&line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line:?}"));
    }

    // A configuration error too is one JSON line.
    let out = server(&data)
        .env("MONITOR_LOG_FORMAT", "json")
        .args(["--listen", "0.0.0.0:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(CONFIG));
    let line = String::from_utf8(out.stderr).unwrap();
    let object: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(object["level"], "ERROR", "{object}");
    assert_eq!(object["fields"]["configuration"], true, "{object}");
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let out = Command::new(env!("CARGO_BIN_EXE_monitor-server"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let shown = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        shown.trim(),
        format!("monitor-server {}", monitor_server::VERSION)
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let expected = if head.status.success() {
        String::from_utf8_lossy(&head.stdout).trim().to_owned()
    } else {
        "unknown".into()
    };
    assert_eq!(monitor_server::COMMIT, expected);
}

#[test]
fn every_setting_comes_from_the_environment_by_one_rule() {
    let data = dir("env");
    let out = server(&data)
        .args(["--listen", "127.0.0.1:0", "--print-config"])
        .env("MONITOR_RETENTION_RAW", "3d")
        .env("MONITOR_LIMITS_INGEST_PER_TOKEN_PER_SECOND", "2.5")
        .env("MONITOR_STREAM_MAX_CLIENTS", "12")
        .env("MONITOR_TLS_NAMES", "a.example, b.example")
        .env("MONITOR_ALERTS_REPEAT_EVERY", "")
        .env(
            "MONITOR_ALERTS_WEBHOOKS",
            r#"[{ name = "ops", url = "https://hooks.example/m", secret = "s3cret-value" }]"#,
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    let shown: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(shown["retention"]["raw"].as_str(), Some("3d"));
    assert_eq!(
        shown["limits"]["ingest_per_token_per_second"].as_float(),
        Some(2.5)
    );
    assert_eq!(shown["stream"]["max_clients"].as_integer(), Some(12));
    assert_eq!(
        shown["tls"]["names"],
        toml::Value::Array(vec!["a.example".into(), "b.example".into()])
    );
    // Empty counts as unset.
    assert_eq!(shown["alerts"]["repeat_every"].as_str(), Some("0s"));
    assert_eq!(
        shown["alerts"]["webhooks"][0]["url"].as_str(),
        Some("https://hooks.example/m")
    );
    assert_eq!(
        shown["alerts"]["webhooks"][0]["secret"].as_str(),
        Some("<hidden>")
    );
    // The flag wins over the variable.
    assert_eq!(shown["listen"].as_str(), Some("127.0.0.1:0"));
}

#[test]
fn a_stop_during_start_up_is_a_clean_stop() {
    // systemd may stop the server while it starts (a restart, a shutdown):
    // the stop must be the graceful one, never the default disposition of
    // SIGTERM, which kills before the store is closed.
    let data = dir("early-stop");
    let mut child = server(&data)
        .args(["--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first line (the admin token was generated) comes before the
    // store is opened and the port bound.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("admin token"), "{first}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    assert!(status.success(), "{status}: {first}{rest}");
}
