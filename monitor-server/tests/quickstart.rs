//! README's first command: `monitor-server quickstart` runs the server, registers
//! this host and reports it with an in-process agent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn quickstart_shows_this_host_with_live_values() {
    let dir = std::env::temp_dir().join(format!("monitor-quickstart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_monitor-server"))
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "quickstart",
            "--port",
            &port.to_string(),
            "--interval",
            "0.5",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let servers = loop {
        if let Some(body) = get(port, "/api/servers")
            && body.contains("\"memory_used_percent\":")
            && body.contains("\"online\":true")
            && !body.contains("\"memory_used_percent\":null")
        {
            break body;
        }
        assert!(Instant::now() < deadline, "the local host never showed up");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(servers.contains("\"server_id\":\"local\""), "{servers}");
    let history = get(
        port,
        "/api/metrics/history?server_id=local&metric=memory_used_bytes&step=1",
    )
    .unwrap();
    assert!(history.contains("\"points\":[{"), "{history}");
    if monitor_server::dashboard::embedded() {
        let page = get(port, "/").unwrap();
        assert!(page.contains("<div id=\"root\">"), "{page}");
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    // Standard error is a pipe here, as under systemd: no colour codes.
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes in logs that go to a pipe: {stderr:?}"
    );
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{port}")),
        "the URL is printed: {stderr}"
    );
    if monitor_server::dashboard::embedded() {
        assert!(
            stderr.contains(&format!("Dashboard: http://127.0.0.1:{port}/")),
            "the dashboard's URL is printed: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
