//! The Docker collector against a real Docker engine (over its socket,
//! and over TCP and TLS through a forwarder in front of it).
//!
//! Needs a running dockerd; `scripts/services.sh` starts one. Without one
//! these tests print "skipped: no Docker engine", unless
//! `MONITOR_REQUIRE_DOCKER=1` (set by CI), where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use monitor_collectors::{DockerCollector, DockerConfig, HostPaths, MemoryCollector};
use monitor_core::{CollectError, ContainerHealth, ContainerState};

const IMAGE: &str = "monitor-test-busybox:latest";

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// True when a Docker engine answers; panics when CI requires one.
fn docker_available() -> bool {
    match docker(&["info", "--format", "{{.ServerVersion}}"]) {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("MONITOR_REQUIRE_DOCKER").as_deref() == Ok("1") {
                panic!("MONITOR_REQUIRE_DOCKER=1 but Docker does not answer: {e}");
            }
            eprintln!("skipped: no Docker engine ({e})");
            false
        }
    }
}

/// Builds a tiny image from the static busybox without any registry.
fn ensure_image() {
    if docker(&["image", "inspect", IMAGE]).is_ok() {
        return;
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect(
            "busybox-static is needed to build the test image (apt-get install busybox-static)",
        );
    let script = format!(
        "set -e; d=$(mktemp -d); mkdir -p $d/bin; cp {busybox} $d/bin/busybox; \
         for a in sh sleep true cat; do ln -s busybox $d/bin/$a; done; \
         tar -C $d -c . | docker import - {IMAGE} >/dev/null; rm -rf $d"
    );
    let status = Command::new("sh").args(["-c", &script]).status().unwrap();
    assert!(status.success(), "docker import failed");
}

/// Removes the test's containers however the test ends.
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = docker(&["rm", "-f", name]);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn states_cpu_memory_limit_health_against_a_real_engine() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let prefix = format!("monitor-test-{}", std::process::id());
    let busy = format!("{prefix}-busy");
    let idle = format!("{prefix}-idle");
    let stopped = format!("{prefix}-stopped");
    let _cleanup = Containers(vec![busy.clone(), idle.clone(), stopped.clone()]);

    docker(&[
        "run",
        "-d",
        "--name",
        &busy,
        IMAGE,
        "sh",
        "-c",
        "while :; do :; done",
    ])
    .unwrap();
    docker(&[
        "run",
        "-d",
        "--name",
        &idle,
        "--memory",
        "32m",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        IMAGE,
        "sleep",
        "3600",
    ])
    .unwrap();
    docker(&["run", "--name", &stopped, IMAGE, "true"]).unwrap();

    let mut collector = DockerCollector::new(DockerConfig::default());
    collector.read().await.unwrap(); // baseline for CPU %
    tokio::time::sleep(Duration::from_secs(3)).await; // also lets the health check pass
    let containers = collector.read().await.unwrap();
    let find = |name: &str| {
        containers
            .iter()
            .find(|c| c.info.name == name)
            .unwrap_or_else(|| panic!("{name} not listed"))
    };

    let b = find(&busy);
    assert_eq!(b.info.state, ContainerState::Running);
    assert_eq!(b.info.image, IMAGE);
    assert_eq!(b.info.id.len(), 64);
    let cpu = b.usage.cpu_percent.expect("busy container has a CPU %");
    assert!(cpu > 50.0, "busy container at {cpu}% CPU");
    // Its CPU time: more than a second after three busy seconds.
    let seconds = b
        .usage
        .cpu_seconds_total
        .expect("a running container's CPU time");
    assert!(seconds > 1.0, "busy container used {seconds} s of CPU");
    assert!(b.usage.memory_usage_bytes.unwrap() > 0);

    let i = find(&idle);
    assert_eq!(i.info.state, ContainerState::Running);
    assert_eq!(i.usage.memory_limit_bytes, Some(32 << 20));
    assert!(i.usage.cpu_percent.unwrap() < 20.0);
    assert!(i.usage.cpu_seconds_total.unwrap() < 1.0);
    assert_eq!(i.info.health, Some(ContainerHealth::Healthy));
    assert!(i.info.status.starts_with("Up"), "{}", i.info.status);

    let s = find(&stopped);
    assert_eq!(s.info.state, ContainerState::Exited);
    assert_eq!(s.info.exit_code, Some(0));
    assert_eq!(s.usage.cpu_percent, None);
    assert!(s.info.status.starts_with("Exited"), "{}", s.info.status);

    // A change seen through the event stream: stop the busy one.
    docker(&["kill", &busy]).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let containers = collector.read().await.unwrap();
    let b = containers.iter().find(|c| c.info.name == busy).unwrap();
    assert_eq!(b.info.state, ContainerState::Exited);
    assert_eq!(b.info.exit_code, Some(137));
    assert_eq!(b.usage.cpu_percent, None);
}

#[tokio::test]
async fn missing_docker_is_reported_and_retried_without_panic() {
    let mut collector = DockerCollector::new(DockerConfig {
        host: Some("unix:///nonexistent/monitor-test-docker.sock".into()),
        timeout: Duration::from_secs(2),
        ..DockerConfig::default()
    });
    for _ in 0..3 {
        match collector.read().await {
            Err(CollectError::Unavailable { what, reason }) => {
                assert!(
                    what.contains("/nonexistent/monitor-test-docker.sock"),
                    "{what}"
                );
                assert!(reason.contains("does not exist"), "{reason}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_agent_without_docker_keeps_reporting_the_rest() {
    use monitor_core::{Collector, ServerId};
    let docker: Box<dyn Collector> = Box::new(DockerCollector::new(DockerConfig {
        host: Some("unix:///nonexistent/monitor-test-docker.sock".into()),
        ..DockerConfig::default()
    }));
    let memory: Box<dyn Collector> = Box::new(MemoryCollector::new(HostPaths::default()));
    let mut collectors = vec![memory, docker];
    let ctx =
        monitor_core::CollectContext::new(monitor_core::Timestamp::now(), Duration::from_secs(1));
    let mut merged = monitor_core::Collection::new();
    let mut failures = 0;
    for c in &mut collectors {
        match c.collect(&ctx).await {
            Ok(part) => assert!(merged.merge(part).is_empty()),
            Err(_) => failures += 1,
        }
    }
    assert_eq!(failures, 1);
    assert!(merged.containers.is_none());
    let snapshot = monitor_core::Snapshot::new(ServerId::new("a").unwrap(), ctx.now, merged);
    assert!(
        monitor_core::HostMetrics::from_snapshot(&snapshot)
            .memory
            .is_some()
    );
}

/// A TCP address in front of this machine's Docker socket (with `tls`,
/// a TLS one that asks for a client certificate, as `dockerd --tlsverify`
/// does): the engine is real, only the transport is the test's.
async fn docker_over_tcp(
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                let Ok(mut socket) = tokio::net::UnixStream::connect("/var/run/docker.sock").await
                else {
                    return;
                };
                match tls {
                    None => {
                        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut socket).await;
                    }
                    Some(config) => {
                        if let Ok(mut tls) =
                            tokio_rustls::TlsAcceptor::from(config).accept(tcp).await
                        {
                            let _ = tokio::io::copy_bidirectional(&mut tls, &mut socket).await;
                        }
                    }
                }
            });
        }
    });
    address
}

/// A CA, a daemon certificate for 127.0.0.1 and a client certificate, as
/// Docker's TLS guide makes them: `dir` gets `ca.pem`, `cert.pem` and
/// `key.pem` (the client's, the layout of `DOCKER_CERT_PATH`); the daemon's
/// TLS configuration trusts client certificates of that CA only.
fn docker_tls(dir: &std::path::Path) -> std::sync::Arc<rustls::ServerConfig> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.distinguished_name
        .push(DnType::CommonName, "test Docker CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, &ca_key);
    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert, key)
    };
    let (daemon, daemon_key) = leaf(
        vec!["127.0.0.1".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client, client_key) = leaf(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), client.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), client_key.serialize_pem()).unwrap();

    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(daemon.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(daemon_key.serialize_der())),
        )
        .unwrap();
    std::sync::Arc::new(config)
}

#[tokio::test]
async fn docker_over_tcp_and_tls_with_client_certificates() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let name = format!("monitor-test-remote-{}", std::process::id());
    let _cleanup = Containers(vec![name.clone()]);
    docker(&["run", "-d", "--name", &name, IMAGE, "sleep", "3600"]).unwrap();
    let listed = |containers: &[monitor_core::host::ContainerMetrics]| {
        containers
            .iter()
            .find(|c| c.info.name == name)
            .map(|c| c.info.state)
    };

    // tcp://: plain HTTP, as dockerd -H tcp:// serves it.
    let plain = docker_over_tcp(None).await;
    let mut collector = DockerCollector::new(DockerConfig {
        host: Some(format!("tcp://{plain}")),
        ..DockerConfig::default()
    });
    let containers = collector.read().await.unwrap();
    assert_eq!(listed(&containers), Some(ContainerState::Running));

    // https:// with the client certificate of a DOCKER_CERT_PATH directory.
    let dir = std::env::temp_dir().join(format!("monitor-docker-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let tls = docker_over_tcp(Some(docker_tls(&dir))).await;
    let mut collector = DockerCollector::new(DockerConfig {
        host: Some(format!("https://{tls}")),
        cert_path: Some(dir.clone()),
        ..DockerConfig::default()
    });
    let containers = collector.read().await.unwrap();
    assert_eq!(listed(&containers), Some(ContainerState::Running));

    // A certificate directory without the files: the reason says which
    // files a TLS daemon needs.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut collector = DockerCollector::new(DockerConfig {
        host: Some(format!("https://{tls}")),
        cert_path: Some(empty),
        timeout: Duration::from_secs(5),
        ..DockerConfig::default()
    });
    match collector.read().await {
        Err(CollectError::Unavailable { reason, .. }) => {
            assert!(reason.contains("DOCKER_CERT_PATH"), "{reason}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // A scheme Docker does not speak is named.
    let mut collector = DockerCollector::new(DockerConfig {
        host: Some("ftp://127.0.0.1:1".into()),
        ..DockerConfig::default()
    });
    match collector.read().await {
        Err(CollectError::Unavailable { reason, .. }) => {
            assert!(reason.contains("unix://, tcp://"), "{reason}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_container_killed_by_its_memory_limit_is_counted() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let name = format!("monitor-test-oom-{}", std::process::id());
    let _cleanup = Containers(vec![name.clone()]);
    let mut collector = DockerCollector::new(DockerConfig::default());
    collector.read().await.unwrap(); // follows Docker's events from now on
    // A shell doubling a string until the kernel kills it: 8 MiB, no swap.
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--memory",
        "8m",
        "--memory-swap",
        "8m",
        IMAGE,
        "sh",
        "-c",
        "x=0123456789; while :; do x=$x$x; done",
    ])
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let containers = collector.read().await.unwrap();
        let hog = containers.iter().find(|c| c.info.name == name);
        if let Some(hog) = hog
            && hog.usage.oom_kills_total >= Some(1)
            && hog.info.oom_killed
        {
            assert_eq!(hog.usage.oom_kills_total, Some(1));
            assert_eq!(hog.info.state, ContainerState::Exited);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no OOM kill counted: {hog:?}, docker says {:?}",
            docker(&[
                "inspect",
                "-f",
                "{{.State.OOMKilled}} {{.State.ExitCode}}",
                &name
            ])
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Every other container has the series too, at 0.
    let containers = collector.read().await.unwrap();
    assert!(
        containers
            .iter()
            .filter(|c| c.info.name != name)
            .all(|c| c.usage.oom_kills_total == Some(0))
    );
}
