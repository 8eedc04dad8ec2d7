//! The server as a process: HTTPS with its self-signed CA, plain HTTP
//! refused on the TLS port, a client that trusts another CA refused, a
//! clean exit on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{free_port, tls_config};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Server {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(name: &str, args: &[&str]) -> Server {
    let dir = std::env::temp_dir().join(format!("monitor-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A port picked free can be taken by a parallel test before the server
    // binds it: then the server exits and we try another.
    for _ in 0..5 {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_monitor-server"))
            .args([
                "--listen",
                &addr.to_string(),
                "--data-dir",
                dir.to_str().unwrap(),
            ])
            .args(args)
            .env_remove("MONITOR_ADMIN_TOKEN")
            .env_remove("DASHBOARD_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if std::net::TcpStream::connect(addr).is_ok() {
                // Connected: make sure it is ours that listens.
                std::thread::sleep(Duration::from_millis(100));
                if child.try_wait().unwrap().is_none() {
                    return Server { child, addr, dir };
                }
                break;
            }
            assert!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("the server did not start on any of 5 ports");
}

fn client(ca: &Path) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(Arc::new(tls_config(Some(ca))))
}

async fn https_get(addr: SocketAddr, ca: &Path, path: &str) -> std::io::Result<String> {
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = client(ca)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::test]
async fn https_with_the_self_signed_ca() {
    let server = start("self", &["--tls-self-signed"]);
    let ca = server.dir.join("tls/ca.pem");
    assert!(ca.exists());
    let response = https_get(server.addr, &ca, "/api/health").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");

    // Plain HTTP to the TLS port is told to use HTTPS, and served nothing.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(
        b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: smk_ing_secret\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    let answer = String::from_utf8_lossy(&buf);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains(r#""error":"https_required""#), "{answer}");
    assert!(!answer.contains("\"status\":\"ok\""), "{answer}");

    // A client that trusts another CA refuses the server.
    let other = start("other", &["--tls-self-signed"]);
    let err = https_get(server.addr, &other.dir.join("tls/ca.pem"), "/api/health")
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn the_generated_files_are_reused_and_the_key_is_private() {
    let server = start("reuse", &["--tls-self-signed"]);
    let ca = std::fs::read(server.dir.join("tls/ca.pem")).unwrap();
    let key = server.dir.join("tls/server-key.pem");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let admin = server.dir.join("admin.token");
    assert_eq!(
        std::fs::metadata(&admin).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let dir = server.dir.clone();
    let addr = server.addr;
    // SIGTERM: a clean exit.
    let mut server = server;
    Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    // Restart on the same directory: the same CA.
    let again = Command::new(env!("CARGO_BIN_EXE_monitor-server"))
        .args([
            "--listen",
            &addr.to_string(),
            "--data-dir",
            dir.to_str().unwrap(),
            "--tls-self-signed",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut again = Server {
        child: again,
        addr,
        dir: dir.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read(dir.join("tls/ca.pem")).unwrap(), ca);
    let response = https_get(addr, &dir.join("tls/ca.pem"), "/api/health")
        .await
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"));
    let _ = again.child.kill();
    // `server` was already waited for; keep its directory for `again`.
    server.dir = PathBuf::from("/nonexistent-monitor-test-dir");
}

#[test]
fn plain_http_beyond_loopback_is_refused_with_the_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_monitor-server"))
        .args([
            "--listen",
            "0.0.0.0:0",
            "--data-dir",
            "/tmp/monitor-never-created",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--tls-self-signed") && stderr.contains("--insecure-http"),
        "{stderr}"
    );
}
