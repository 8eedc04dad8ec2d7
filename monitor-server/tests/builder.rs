//! A server of your own from the builder: a store, a notifier and an
//! exporter of yours (here the in-memory doubles of monitor-core), served
//! through its router.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_core::Catalog;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use monitor_core::testing::{MemoryStore, RecordingExporter, RecordingNotifier};
use monitor_core::{Collection, Labels, ServerId, Snapshot, Store, Timestamp, Unit, wire};
use monitor_server::auth::{Scope, Token};
use monitor_server::config::ServerConfig;
use monitor_server::server::Server;
use tower::ServiceExt;

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    use http_body_util::BodyExt;
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_of_your_own_with_its_store_notifier_and_exporter() {
    let dir = std::env::temp_dir().join(format!("monitor-builder-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.clone(),
        ..ServerConfig::default()
    };
    let store = Arc::new(MemoryStore::new());
    let notifier = RecordingNotifier::new();
    let exporter = RecordingExporter::new();
    let admin = Token::generate(Scope::Admin).unwrap();
    let server = Server::builder()
        .with_config(config)
        .with_storage(store.clone())
        .with_notifier(Arc::new(notifier.clone()))
        .with_exporter(Box::new(exporter.clone()))
        .with_admin_token(admin.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(server.storage().metrics().name(), "memory");
    let app = server.router();
    let json = |method: &str, path: &str, headers: &[(&str, &str)], body: String| {
        let mut r = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(Body::from(body)).unwrap()
    };
    let (status, registered) = send(
        &app,
        json(
            "POST",
            "/api/register",
            &[("x-admin-token", admin.expose())],
            r#"{"server_id":"own-01"}"#.into(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = registered["token"].as_str().unwrap().to_owned();
    let (status, _) = send(
        &app,
        json(
            "POST",
            "/api/alerts",
            &[],
            r#"{"cpu_total_percent": 50, "memory_used_percent": 90, "disk_used_percent": 90}"#
                .into(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut c = Collection::new();
    c.gauge("cpu_usage_percent", Unit::PERCENT, Labels::new(), 97.0);
    let mut s = Snapshot::new(ServerId::new("own-01").unwrap(), Timestamp::now(), c);
    s.interval_secs = Some(5.0);
    let (status, body) = send(
        &app,
        json(
            "POST",
            "/api/metrics",
            &[("x-auth-token", &token)],
            String::from_utf8(wire::encode(&s).unwrap()).unwrap(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Stored in your store, exported by your exporter, alerted through
    // your notifier.
    assert!(
        store
            .latest_snapshot(&ServerId::new("own-01").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while exporter.snapshots().is_empty() || notifier.notifications().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the exporter or the notifier got nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(exporter.snapshots()[0].server_id.as_str(), "own-01");
    let n = &notifier.notifications()[0];
    assert_eq!(n.event.rule_id, "cpu_total_percent");
    assert_eq!(n.event.server_id.as_str(), "own-01");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A store given to the builder has retention enforced by the server (the
/// SQL store does it in its own writer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_yours_has_retention_enforced() {
    let dir = std::env::temp_dir().join(format!("monitor-builder-ret-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = ServerConfig {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        data_dir: dir.clone(),
        ..ServerConfig::default()
    };
    let store = Arc::new(MemoryStore::new());
    let id = ServerId::new("old-01").unwrap();
    store
        .register_server(monitor_core::catalog::NewServer {
            id: id.clone(),
            name: String::new(),
            tags: Vec::new(),
            token_hash: Token::generate(Scope::Agent).unwrap().hash(),
            created: Timestamp::from_millis(0),
        })
        .await
        .unwrap();
    // Older than every tier's retention (two years by default).
    let long_ago = Timestamp::now().add_millis(-800 * 86_400_000);
    let mut c = Collection::new();
    c.gauge("cpu_usage_percent", Unit::PERCENT, Labels::new(), 5.0);
    store
        .ingest(vec![Snapshot::new(id.clone(), long_ago, c)])
        .await
        .unwrap();
    let query = monitor_core::store::HistoryQuery {
        server_id: id,
        metric: "cpu_usage_percent".into(),
        matchers: Vec::new(),
        from: long_ago.add_millis(-3_600_000),
        to: long_ago.add_millis(3_600_000),
        step: Some(Duration::from_secs(60)),
        max_points: 1000,
    };
    assert_eq!(store.history(&query).await.unwrap().series.len(), 1);
    let server = Server::builder()
        .with_config(config)
        .with_storage(store.clone())
        .build()
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !store.history(&query).await.unwrap().series.is_empty() {
        assert!(
            Instant::now() < deadline,
            "retention never ran on the store"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_bad_configuration_is_refused_by_build() {
    let config = ServerConfig {
        listen: "0.0.0.0:8443".parse().unwrap(),
        ..ServerConfig::default()
    };
    let error = Server::builder()
        .with_config(config)
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("--tls-self-signed"), "{error}");
}

#[tokio::test]
async fn an_empty_or_short_admin_token_file_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("monitor-admin-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let build = || {
        Server::builder()
            .with_config(ServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                data_dir: dir.clone(),
                ..ServerConfig::default()
            })
            .with_storage(Arc::new(MemoryStore::new()))
            .build()
    };
    let file = dir.join("admin.token");
    // The first start writes a token, whole, readable by its owner only.
    let first = build().await.unwrap();
    let token = std::fs::read_to_string(&file).unwrap();
    assert!(
        token.trim().starts_with("smk_adm_") && token.trim().len() == 72,
        "{token}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(first.admin_token_file(), Some(file.as_path()));
    drop(first);
    // An empty file (a full disk at the first start, a crash, `touch`) made
    // an empty X-Admin-Token header the admin token; now the start fails
    // and says what to do.
    for content in ["", "\n", "   \n", "smk_adm_short"] {
        std::fs::write(&file, content).unwrap();
        let error = build().await.unwrap_err().to_string();
        assert!(error.contains("admin.token"), "{error}");
        assert!(error.contains("delete the file"), "{error}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A graceful stop right after reports that start alerts: every transition
/// the engine found is stored before the store closes. Before, those still
/// waiting for the engine's task when the store closed failed against it,
/// were "kept for the next tick" that never came, and were lost with the
/// process (each with an error in the log).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_stores_the_alerts_its_last_reports_started() {
    let dir = std::env::temp_dir().join(format!("monitor-builder-stop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.clone(),
        ..ServerConfig::default()
    };
    let admin = Token::generate(Scope::Admin).unwrap();
    let server = Server::builder()
        .with_config(config)
        .with_admin_token(admin.clone())
        .build()
        .await
        .unwrap();
    let app = server.router();
    let post = |path: &str, header: (&str, &str), body: Vec<u8>| {
        Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/json")
            .header(header.0, header.1)
            .body(Body::from(body))
            .unwrap()
    };
    // 300 hosts, each reporting a CPU over the default 90 % threshold, all
    // at once.
    let hosts = 300;
    let mut tokens = Vec::new();
    for i in 0..hosts {
        let (status, body) = send(
            &app,
            post(
                "/api/register",
                ("x-admin-token", admin.expose()),
                format!(r#"{{"server_id": "stop-{i:03}"}}"#).into_bytes(),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    let reports = tokens.iter().enumerate().map(|(i, token)| {
        let mut c = Collection::new();
        c.gauge("cpu_usage_percent", Unit::PERCENT, Labels::new(), 99.0);
        let id = ServerId::new(format!("stop-{i:03}")).unwrap();
        let body = wire::encode(&Snapshot::new(id, Timestamp::now(), c)).unwrap();
        let (app, request) = (
            app.clone(),
            post("/api/metrics", ("x-auth-token", token), body),
        );
        async move { send(&app, request).await.0 }
    });
    for status in futures_util::future::join_all(reports).await {
        assert_eq!(status, StatusCode::OK);
    }

    // Stopped at once, then the store opened again.
    server.serve(async {}).await.unwrap();
    let store = monitor_store::SqlStore::open_url(&format!(
        "sqlite://{}",
        dir.join("monitor.db").display()
    ))
    .await
    .unwrap();
    let firing = store
        .alert_states()
        .await
        .unwrap()
        .iter()
        .filter(|s| s.rule_id == "cpu_total_percent")
        .count();
    let events = store
        .alert_events(&monitor_core::catalog::EventFilter {
            limit: 1_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    assert_eq!(
        (firing, events),
        (hosts, hosts),
        "alerts stored at the stop"
    );
    store.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
