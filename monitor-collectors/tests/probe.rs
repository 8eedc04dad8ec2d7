//! The probes against real servers on this host: HTTP and HTTPS servers
//! (TLS by rustls, certificates of known expiry made with rcgen) and TCP
//! ports, open and closed.
#![cfg(feature = "probe")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use monitor_collectors::{ProbeCollector, ProbeConfig};
use monitor_core::{CollectContext, Collection, Collector, Labels, Timestamp, names};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

const DAY: i64 = 86_400;

/// A server on 127.0.0.1: plain HTTP, or HTTPS with `tls`. `/status/N`
/// answers N, `/redirect` redirects to `/`, `/slow` never answers,
/// anything else answers 200.
/// Counts the connections it accepts.
async fn server(tls: Option<Arc<rustls::ServerConfig>>) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(config) => {
                        if let Ok(stream) =
                            tokio_rustls::TlsAcceptor::from(config).accept(tcp).await
                        {
                            answer(stream).await;
                        }
                    }
                    None => answer(tcp).await,
                }
            });
        }
    });
    (port, hits)
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let (status, extra) = match path.strip_prefix("/status/") {
        Some(code) => (format!("{code} Status"), ""),
        None if path == "/redirect" => ("302 Found".to_owned(), "Location: /\r\n"),
        None if path == "/slow" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
        None => ("200 OK".to_owned(), ""),
    };
    let response =
        format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A rustls server configuration serving `cert`.
fn serving(cert: &rcgen::Certificate, key: &KeyPair) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    Arc::new(config)
}

/// Certificates for `localhost`, valid from `from` to `until` days from
/// now: signed by a CA whose PEM goes to `dir/ca.pem`, and self-signed
/// (its PEM in `dir/self-<until>.pem`).
struct Certificates {
    ca_file: PathBuf,
    dir: PathBuf,
    ca: Issuer<'static, KeyPair>,
}

impl Certificates {
    fn new(dir: &Path) -> Certificates {
        std::fs::create_dir_all(dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, cert.pem()).unwrap();
        Certificates {
            ca_file,
            dir: dir.to_owned(),
            ca: Issuer::new(params, key),
        }
    }

    fn params(from_days: i64, until_days: i64) -> CertificateParams {
        let now = time::OffsetDateTime::now_utc();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_before = now + time::Duration::days(from_days);
        params.not_after = now + time::Duration::days(until_days);
        params
    }

    /// A server certificate signed by the CA.
    fn signed(&self, from_days: i64, until_days: i64) -> Arc<rustls::ServerConfig> {
        let key = KeyPair::generate().unwrap();
        let cert = Self::params(from_days, until_days)
            .signed_by(&key, &self.ca)
            .unwrap();
        serving(&cert, &key)
    }

    /// A self-signed server certificate and the file that pins it.
    fn self_signed(&self, from_days: i64, until_days: i64) -> (Arc<rustls::ServerConfig>, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let cert = Self::params(from_days, until_days)
            .self_signed(&key)
            .unwrap();
        let file = self.dir.join(format!("self{until_days}.pem"));
        std::fs::write(&file, cert.pem()).unwrap();
        (serving(&cert, &key), file)
    }
}

fn probe(name: &str, target: &str) -> ProbeConfig {
    let mut probe = ProbeConfig::new(target).unwrap();
    probe.name = name.to_owned();
    probe.interval = Duration::from_secs(1);
    probe.timeout = Duration::from_secs(3);
    probe
}

fn value(collection: &Collection, metric: &str, probe: &str) -> Option<f64> {
    let labels = Labels::new().with(names::label::PROBE, probe);
    collection
        .families
        .iter()
        .find(|f| f.name == metric)?
        .samples
        .iter()
        .find(|s| s.labels == labels)
        .map(|s| s.value)
}

fn ctx_at(now: Timestamp) -> CollectContext {
    CollectContext::new(now, Duration::from_secs(1))
}

/// Collects until every probe of `names` has a result.
async fn results(collector: &mut ProbeCollector, names: &[&str]) -> Collection {
    for _ in 0..100 {
        let collection = collector.collect(&ctx_at(Timestamp::now())).await.unwrap();
        if names
            .iter()
            .all(|n| value(&collection, names::PROBE_SUCCESS, n).is_some())
        {
            return collection;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not every probe reported within 10 s");
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("monitor-probe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn http_probes_report_status_latency_and_certificate() {
    let dir = temp_dir("http");
    let certs = Certificates::new(&dir);
    let (plain, _) = server(None).await;
    let (valid, _) = server(Some(certs.signed(-1, 10))).await;
    let (expired, _) = server(Some(certs.signed(-30, -1))).await;
    let (pinned_config, pinned_file) = certs.self_signed(-1, 40);
    let (pinned, _) = server(Some(pinned_config)).await;
    let (pinned_expired_config, pinned_expired_file) = certs.self_signed(-30, -2);
    let (pinned_expired, _) = server(Some(pinned_expired_config)).await;

    let mut https_valid = probe("valid", &format!("https://localhost:{valid}/"));
    https_valid.ca_file = Some(certs.ca_file.clone());
    let mut https_expired = probe("expired", &format!("https://localhost:{expired}/"));
    https_expired.ca_file = Some(certs.ca_file.clone());
    let unknown_ca = probe("unknown-ca", &format!("https://localhost:{valid}/"));
    let mut self_signed = probe("pinned", &format!("https://localhost:{pinned}/"));
    self_signed.ca_file = Some(pinned_file);
    let mut self_signed_expired = probe(
        "pinned-expired",
        &format!("https://localhost:{pinned_expired}/"),
    );
    self_signed_expired.ca_file = Some(pinned_expired_file);
    let mut wanted_500 = probe(
        "wanted-500",
        &format!("http://127.0.0.1:{plain}/status/500"),
    );
    wanted_500.expect_status = vec![500, 503];
    let mut slow = probe("slow", &format!("http://127.0.0.1:{plain}/slow"));
    slow.timeout = Duration::from_millis(300);

    let mut collector = ProbeCollector::new(vec![
        https_valid,
        https_expired,
        unknown_ca,
        self_signed,
        self_signed_expired,
        probe("ok", &format!("http://127.0.0.1:{plain}/")),
        probe("error-500", &format!("http://127.0.0.1:{plain}/status/500")),
        probe("not-found", &format!("http://127.0.0.1:{plain}/status/404")),
        wanted_500,
        probe("redirect", &format!("http://127.0.0.1:{plain}/redirect")),
        slow,
    ])
    .unwrap();
    let all = [
        "valid",
        "expired",
        "unknown-ca",
        "pinned",
        "pinned-expired",
        "ok",
        "error-500",
        "not-found",
        "wanted-500",
        "redirect",
        "slow",
    ];
    let got = results(&mut collector, &all).await;
    let success = |p: &str| value(&got, names::PROBE_SUCCESS, p).unwrap();
    let status = |p: &str| value(&got, names::PROBE_HTTP_STATUS_CODE, p);
    let left = |p: &str| value(&got, names::PROBE_TLS_CERT_EXPIRES_IN_SECONDS, p);

    for (name, succeeded, code) in [
        ("valid", 1.0, Some(200.0)),
        ("ok", 1.0, Some(200.0)),
        ("redirect", 1.0, Some(200.0)),
        ("wanted-500", 1.0, Some(500.0)),
        ("error-500", 0.0, Some(500.0)),
        ("not-found", 0.0, Some(404.0)),
        // Refused in the handshake: no answer, no status.
        ("expired", 0.0, None),
        ("unknown-ca", 0.0, None),
        ("pinned", 1.0, Some(200.0)),
        // Pinning trusts the exact certificate, but not past its expiry.
        ("pinned-expired", 0.0, Some(200.0)),
        // Cut off by its timeout.
        ("slow", 0.0, None),
    ] {
        assert_eq!(success(name), succeeded, "{name}");
        assert_eq!(status(name), code, "{name}");
        let took = value(&got, names::PROBE_DURATION_SECONDS, name).unwrap();
        assert!(took > 0.0 && took < 3.0, "{name}: {took}");
    }
    let took = value(&got, names::PROBE_DURATION_SECONDS, "slow").unwrap();
    assert!(
        (0.3..1.0).contains(&took),
        "cut off by its 300 ms timeout: {took}"
    );
    // Ten days, less the seconds since the certificate was made.
    let valid_left = left("valid").unwrap();
    assert!(
        (10 * DAY - 120) as f64 <= valid_left && valid_left <= (10 * DAY) as f64,
        "{valid_left}"
    );
    let pinned_left = left("pinned").unwrap();
    assert!(pinned_left > (39 * DAY) as f64, "{pinned_left}");
    let gone = left("pinned-expired").unwrap();
    assert!(gone < (-DAY) as f64, "{gone}");
    assert_eq!(left("ok"), None);
    assert_eq!(left("expired"), None);

    // The time left counts down at each collection, between checks.
    let later = Timestamp::now().add_millis(5 * DAY * 1000);
    let then = collector.collect(&ctx_at(later)).await.unwrap();
    let then_left = value(&then, names::PROBE_TLS_CERT_EXPIRES_IN_SECONDS, "valid").unwrap();
    assert!(
        (5 * DAY - 120) as f64 <= then_left && then_left <= (5 * DAY) as f64,
        "{then_left}"
    );
    collector.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A port of 127.0.0.1 held by a socket that does not listen: connections
/// to it are refused, and no other test can take it.
fn held_port(port: u16) -> tokio::net::TcpSocket {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(([127, 0, 0, 1], port).into()).unwrap();
    socket
}

/// Collects until the probe `name` reports `success`.
async fn until(collector: &mut ProbeCollector, name: &str, success: f64) -> bool {
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = collector.collect(&ctx_at(Timestamp::now())).await.unwrap();
        if value(&now, names::PROBE_SUCCESS, name) == Some(success) {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn tcp_probes_see_a_port_open_and_close() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = held_port(0);
    let closed_port = closed.local_addr().unwrap().port();
    let later = held_port(0);
    let later_port = later.local_addr().unwrap().port();
    let mut collector = ProbeCollector::new(vec![
        // localhost is ::1 too, where nothing listens: the next address.
        probe("open", &format!("tcp://localhost:{open}")),
        probe("closed", &format!("tcp://127.0.0.1:{closed_port}")),
        probe("later", &format!("tcp://127.0.0.1:{later_port}")),
    ])
    .unwrap();
    let got = results(&mut collector, &["open", "closed", "later"]).await;
    assert_eq!(value(&got, names::PROBE_SUCCESS, "open"), Some(1.0));
    assert_eq!(value(&got, names::PROBE_SUCCESS, "closed"), Some(0.0));
    assert_eq!(value(&got, names::PROBE_SUCCESS, "later"), Some(0.0));
    assert_eq!(value(&got, names::PROBE_HTTP_STATUS_CODE, "open"), None);

    // The port opens: the next checks succeed; it closes: they fail.
    let listening = later.listen(8).unwrap();
    assert!(
        until(&mut collector, "later", 1.0).await,
        "never saw it open"
    );
    drop(listening);
    let _held = held_port(later_port);
    assert!(
        until(&mut collector, "later", 0.0).await,
        "never saw it close"
    );
    drop(listener);
}

#[tokio::test]
async fn probes_run_on_their_interval_and_stop_with_the_collector() {
    let (port, hits) = server(None).await;
    let mut collector =
        ProbeCollector::new(vec![probe("ok", &format!("http://127.0.0.1:{port}/"))]).unwrap();
    // Nothing runs before the first collection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    results(&mut collector, &["ok"]).await;
    // Collecting often does not check more often than the interval (1 s).
    for _ in 0..20 {
        collector.collect(&ctx_at(Timestamp::now())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let checked = hits.load(Ordering::SeqCst);
    assert!((1..=4).contains(&checked), "{checked} checks in about 2 s");
    drop(collector);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = hits.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "no check after the drop"
    );
}
