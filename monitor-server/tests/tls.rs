//! The server as a process: HTTPS with its self-signed CA, plain HTTP
//! refused on the TLS port, a client that trusts another CA refused, a
//! certificate for another name or expired refused, TLS 1.2 and 1.3 and
//! nothing older, a clean exit on SIGTERM.

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

/// A client that asks to close gets its answer and TLS's close_notify,
/// every time. Since connections are parked between requests, hyper could
/// end such an exchange in the poll that read it, and the socket was then
/// dropped without close_notify (in one run in six of the old TLS test,
/// and within the first ten of these sixty requests in two runs): a TLS
/// client sees a truncation attack, as rustls's error says.
#[tokio::test]
async fn a_client_that_asks_to_close_gets_close_notify_every_time() {
    let server = start("close", &["--tls-self-signed"]);
    let ca = server.dir.join("tls/ca.pem");
    for i in 0..60 {
        let response = https_get(server.addr, &ca, "/api/health")
            .await
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
}

#[tokio::test]
async fn https_with_the_self_signed_ca() {
    let server = start("self", &["--tls-self-signed"]);
    let ca = server.dir.join("tls/ca.pem");
    assert!(ca.exists());
    let response = https_get(server.addr, &ca, "/api/health").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");
    // The key exchange is post-quantum (X25519MLKEM768, rustls's default
    // provider aws-lc-rs); with ring it was X25519, which recorded traffic
    // could be decrypted with in a future.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let tls = client(&ca)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let group = tls
        .get_ref()
        .1
        .negotiated_key_exchange_group()
        .map(|g| g.name());
    assert_eq!(group, Some(rustls::NamedGroup::X25519MLKEM768));

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

/// A CA and a leaf for `localhost` signed by it, valid until `not_after`
/// (in the past for an expired leaf), written to `dir`: the CA's, the
/// chain's and the key's paths.
fn issue(dir: &Path, not_after: (i32, u8, u8)) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, &ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let leaf = params.signed_by(&key, &issuer).unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, format!("{}{}", leaf.pem(), ca.pem())).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

/// Connects with `config` to `addr` as `name`: the TLS version spoken, or
/// the handshake's error.
async fn handshake(
    addr: SocketAddr,
    config: rustls::ClientConfig,
    name: &str,
) -> std::io::Result<rustls::ProtocolVersion> {
    let tcp = TcpStream::connect(addr).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(name.to_owned()).unwrap(), tcp)
        .await?;
    Ok(tls.get_ref().1.protocol_version().unwrap())
}

/// RELIABILITY.md T2 and T4: a certificate for another name, an expired
/// certificate and a certificate nobody vouches for are refused by a
/// client that checks (as the agent does); the server speaks TLS 1.2 and
/// 1.3, and a TLS 1.1 client gets nothing.
#[tokio::test]
async fn wrong_names_expired_certificates_and_old_protocols_are_refused() {
    let server = start("floor", &["--tls-self-signed"]);
    let ca = server.dir.join("tls/ca.pem");
    // Another name than the certificate's.
    let err = handshake(server.addr, tls_config(Some(&ca)), "monitor.example")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid for name"), "{err}");
    // A client that trusts nothing of this server's (the server's own
    // self-signed certificate, not in the client's roots).
    let err = handshake(server.addr, tls_config(None), "localhost")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("UnknownIssuer") || err.to_string().contains("unknown issuer"),
        "{err}"
    );
    // TLS 1.2 and 1.3, each alone.
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        for cert in CertificateDer::pem_file_iter(&ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let spoken = handshake(server.addr, config, "localhost").await.unwrap();
        assert_eq!(spoken, version.version);
    }
    // TLS 1.1, where openssl can still speak it.
    let tls11 = Command::new("openssl")
        .args(["s_client", "-connect", &server.addr.to_string(), "-tls1_1"])
        .args(["-cipher", "DEFAULT@SECLEVEL=0", "-servername", "localhost"])
        .stdin(Stdio::null())
        .output();
    match tls11 {
        Ok(out) => {
            let said = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "TLS 1.1 was accepted: {said}");
            // (openssl names the version it offered even when refused.)
            assert!(
                said.contains("Cipher is (NONE)") && said.contains("no peer certificate"),
                "a TLS 1.1 session was set up: {said}"
            );
        }
        Err(error) => eprintln!("no openssl to try TLS 1.1 with: {error}"),
    }

    // An expired certificate.
    let dir =
        std::env::temp_dir().join(format!("monitor-tls-expired-certs-{}", std::process::id()));
    let (ca, cert, key) = issue(&dir, (2021, 1, 1));
    let expired = start(
        "expired",
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let err = handshake(expired.addr, tls_config(Some(&ca)), "localhost")
        .await
        .unwrap_err();
    assert!(err.to_string().to_lowercase().contains("expired"), "{err}");
    // The same chain, valid: accepted (the refusal above is the date's).
    let (ca, cert, key) = issue(&dir.join("valid"), (2099, 1, 1));
    let valid = start(
        "valid",
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    handshake(valid.addr, tls_config(Some(&ca)), "localhost")
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
