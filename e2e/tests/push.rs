//! The agent as a process pushing to the real server code over TLS on
//! loopback: data arrives; a server whose certificate does not chain to
//! --verify gets nothing; an outage loses nothing and duplicates nothing;
//! a report at a millisecond another program took is set aside.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_core::Catalog;
mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Dir, Process};
use monitor_core::catalog::NewServer;
use monitor_core::store::HistoryQuery;
use monitor_core::{ServerId, Store, Timestamp};
use monitor_server::api::{AppState, router};
use monitor_server::auth::{Scope, Token};
use monitor_server::tls;
use monitor_store::{SqlStore, StoreOptions};

fn dir(name: &str) -> Dir {
    common::dir("push", name)
}

/// The server's router over TLS on `addr`, until the task is aborted.
async fn serve(
    store: Arc<SqlStore>,
    certs: &tls::SelfSigned,
    addr: SocketAddr,
) -> tokio::task::JoinHandle<()> {
    let admin = Token::generate(Scope::Admin).unwrap();
    let app = router(AppState::new(store, &admin, None));
    let config = tls::server_config(&certs.cert, &certs.key).unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let options = monitor_server::serve::ServeOptions {
        tls: Some(config),
        ..Default::default()
    };
    tokio::spawn(async move {
        monitor_server::serve::serve(listener, app, options, std::future::pending())
            .await
            .unwrap();
    })
}

fn agent(
    addr: SocketAddr,
    id: &str,
    token_file: &std::path::Path,
    ca: &std::path::Path,
    spool: &std::path::Path,
) -> Process {
    Process(
        Command::new(common::AGENT)
            .args([
                "--server",
                &format!("https://localhost:{}", addr.port()),
                "--server-id",
                id,
                "--token-file",
                token_file.to_str().unwrap(),
                "--verify",
                ca.to_str().unwrap(),
                "--interval",
                "0.3",
                "--collectors",
                "memory,cpu",
                "--spool-dir",
                spool.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Registers `id` in `store` and writes its new agent token to `file`.
async fn register(store: &SqlStore, id: &str, file: &std::path::Path) {
    let token = Token::generate(Scope::Agent).unwrap();
    store
        .register_server(NewServer {
            id: ServerId::new(id).unwrap(),
            name: String::new(),
            tags: vec![],
            token_hash: token.hash(),
            created: Timestamp::now(),
        })
        .await
        .unwrap();
    std::fs::write(file, token.expose()).unwrap();
}

async fn points(store: &SqlStore, id: &str) -> Vec<i64> {
    let h = store
        .history(&HistoryQuery {
            server_id: ServerId::new(id).unwrap(),
            metric: "memory_used_bytes".into(),
            matchers: vec![],
            from: Timestamp::now().add_millis(-600_000),
            to: Timestamp::now().add_millis(60_000),
            step: Some(Duration::from_secs(1)),
            max_points: 100_000,
        })
        .await
        .unwrap();
    // One-second buckets (reports come every 300 ms; the store's own
    // conformance suite proves a replay is stored once).
    h.series.first().map_or_else(Vec::new, |s| {
        s.points.iter().map(|p| p.t.as_millis()).collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_over_tls_survives_an_outage_and_refuses_a_foreign_ca() {
    let d = dir("flow");
    let store = Arc::new(
        SqlStore::open(StoreOptions::sqlite(d.0.join("db")))
            .await
            .unwrap(),
    );
    for (id, seed) in [("srv-01", 1u8), ("srv-02", 2)] {
        register(&store, id, &d.0.join(format!("token-{seed}"))).await;
    }
    let certs = tls::self_signed(&d.0.join("tls"), &[]).unwrap();
    let foreign = tls::self_signed(&d.0.join("foreign"), &[]).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = serve(store.clone(), &certs, addr).await;

    let _good = agent(
        addr,
        "srv-01",
        &d.0.join("token-1"),
        &certs.ca,
        &d.0.join("spool-1"),
    );
    let _bad = agent(
        addr,
        "srv-02",
        &d.0.join("token-2"),
        &foreign.ca,
        &d.0.join("spool-2"),
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    while points(&store, "srv-01").await.len() < 3 {
        assert!(Instant::now() < deadline, "no data arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Outage: the server goes away for 2 s, then comes back on the same port.
    server.abort();
    let _ = server.await;
    let down_at = Timestamp::now().as_millis();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let server = serve(store.clone(), &certs, addr).await;
    let up_at = Timestamp::now().as_millis();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ts = points(&store, "srv-01").await;
        let after = ts.iter().filter(|t| **t > up_at + 1000).count();
        if after >= 2 {
            // No gap: a report in every second right through the outage.
            let gaps: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
            let widest = gaps.iter().copied().max().unwrap_or(0);
            assert!(
                widest <= 2000,
                "a gap of {widest} ms (outage from {down_at} to {up_at})"
            );
            assert!(
                ts.iter().any(|t| (down_at..up_at).contains(t)),
                "nothing spooled during the outage"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the backlog never arrived");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The agent that trusts another CA delivered nothing.
    assert!(points(&store, "srv-02").await.is_empty());
    assert!(
        std::fs::read_dir(d.0.join("spool-2")).unwrap().count() > 0,
        "it keeps its data spooled"
    );
    server.abort();
}

#[test]
fn plain_http_to_a_remote_server_is_refused() {
    let out = Command::new(common::AGENT)
        .args([
            "--server",
            "http://192.0.2.10:8001",
            "--server-id",
            "a",
            "--token",
            "t",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("clear text"));
}

/// SPEC.md's self-signed certificate, made by `openssl req -x509`, works as is:
/// the server serves it and an agent given `--verify server.crt` trusts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openssl_self_signed_certificate_works_as_is() {
    let d = dir("openssl");
    let (crt, key) = (d.0.join("server.crt"), d.0.join("server.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Arc::new(
        SqlStore::open(StoreOptions::sqlite(d.0.join("db")))
            .await
            .unwrap(),
    );
    register(&store, "srv-01", &d.0.join("token")).await;
    let certs = tls::SelfSigned {
        ca: crt.clone(),
        cert: crt.clone(),
        key,
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = serve(store.clone(), &certs, addr).await;
    let _agent = agent(addr, "srv-01", &d.0.join("token"), &crt, &d.0.join("spool"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while points(&store, "srv-01").await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the agent did not trust the openssl certificate"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_tls_port_says_so_and_keeps_the_snapshots() {
    let d = dir("plain-to-tls");
    let certs = tls::self_signed(&d.0.join("tls"), &[]).unwrap();
    let store = Arc::new(
        SqlStore::open(StoreOptions::sqlite(d.0.join("db")))
            .await
            .unwrap(),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = serve(store, &certs, addr).await;
    std::fs::write(d.0.join("token"), "smk_ing_unused").unwrap();
    let spool = d.0.join("spool");
    let mut child = Command::new(common::AGENT)
        .args([
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--server-id",
            "srv-01",
        ])
        .arg("--token-file")
        .arg(d.0.join("token"))
        .args(["--interval", "0.3", "--collectors", "memory"])
        .arg("--spool-dir")
        .arg(&spool)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("serves HTTPS: give --server an https:// address"),
        "{stderr}"
    );
    // Nothing was set aside as rejected; the snapshots wait in the spool.
    assert!(!spool.join("rejected").exists());
    let spooled = std::fs::read_dir(&spool)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_file())
        .count();
    assert!(spooled >= 2, "{spooled} snapshots in the spool");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_at_a_taken_millisecond_is_set_aside_and_the_agent_goes_on() {
    let d = dir("conflict");
    let store = Arc::new(
        SqlStore::open(StoreOptions::sqlite(d.0.join("db")))
            .await
            .unwrap(),
    );
    register(&store, "srv-01", &d.0.join("token")).await;
    let id = ServerId::new("srv-01").unwrap();
    // Another program reported under this id at a millisecond the agent's
    // spool also holds, with other values.
    let at = Timestamp::now().add_millis(-10_000);
    let report = |used: f64| {
        let mut c = monitor_core::Collection::new();
        c.gauge(
            "memory_used_bytes",
            monitor_core::Unit::BYTES,
            monitor_core::Labels::new(),
            used,
        );
        monitor_core::Snapshot::new(id.clone(), at, c)
    };
    store.ingest(vec![report(1_000.0)]).await.unwrap();
    let spool = d.0.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let name = format!("{:016}.json", at.as_millis());
    std::fs::write(
        spool.join(&name),
        monitor_core::wire::encode(&report(2_000.0)).unwrap(),
    )
    .unwrap();

    let certs = tls::self_signed(&d.0.join("tls"), &[]).unwrap();
    let port = common::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = serve(store.clone(), &certs, addr).await;
    let _agent = agent(addr, "srv-01", &d.0.join("token"), &certs.ca, &spool);

    // The batch holding it is refused (409) and moved aside, not retried
    // forever; the agent's next reports arrive.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !spool.join("rejected").join(&name).exists() {
        assert!(
            Instant::now() < deadline,
            "the conflicting report was not set aside"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let set_aside = points(&store, "srv-01").await.len();
    while points(&store, "srv-01").await.len() < set_aside + 3 {
        assert!(
            Instant::now() < deadline,
            "the agent's reports stopped arriving"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The report stored first keeps its values.
    let h = store
        .history(&HistoryQuery {
            server_id: id.clone(),
            metric: "memory_used_bytes".into(),
            matchers: vec![],
            from: at,
            to: at.add_millis(1),
            step: Some(Duration::from_secs(1)),
            max_points: 10,
        })
        .await
        .unwrap();
    assert_eq!(h.series[0].points[0].last, 1_000.0);
    server.abort();
}
