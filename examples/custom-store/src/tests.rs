//! The store passes the metric store conformance suite, and runs under the
//! stock server with the catalog on SQLite.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use monitor_core::{Collection, Labels, ServerId, Snapshot, Store, Timestamp, Unit, wire};
use monitor_server::auth::{Scope, Token};
use monitor_server::config::ServerConfig;
use monitor_server::server::Server;
use tower::ServiceExt;

use super::MemoryMetrics;

#[tokio::test]
async fn the_store_passes_the_metric_store_conformance_suite() {
    monitor_core::testing::store::conformance(&MemoryMetrics::default()).await;
}

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn request(method: &str, uri: &str, header: (&str, &str), body: Vec<u8>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header.0, header.1)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn the_stock_server_keeps_its_metrics_there_and_its_servers_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("monitor-custom-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let metrics = Arc::new(MemoryMetrics::default());
    let admin = Token::generate(Scope::Admin).unwrap();
    let server = Server::builder()
        .with_config(ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.clone(),
            ..ServerConfig::default()
        })
        .with_store(metrics.clone())
        .with_admin_token(admin.clone())
        .build()
        .await
        .unwrap();
    let app = server.router();
    let admin = ("x-admin-token", admin.expose());
    let body = br#"{"server_id":"pi-01"}"#.to_vec();
    let (status, registered) = send(&app, request("POST", "/api/register", admin, body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = registered["token"].as_str().unwrap().to_owned();
    let mut c = Collection::new();
    c.gauge("cpu_usage_percent", Unit::PERCENT, Labels::new(), 42.0);
    let id = ServerId::new("pi-01").unwrap();
    let report = Snapshot::new(id.clone(), Timestamp::now(), c);
    let body = wire::encode(&report).unwrap();
    let ingest = request("POST", "/api/metrics", ("x-auth-token", &token), body);
    assert_eq!(send(&app, ingest).await.0, StatusCode::OK);
    assert_eq!(
        metrics
            .latest_snapshot(&id)
            .await
            .unwrap()
            .unwrap()
            .timestamp,
        report.timestamp
    );
    // The server lists it as seen, from this store's newest report.
    let (_, servers) = send(&app, request("GET", "/api/servers", admin, Vec::new())).await;
    assert_eq!(servers[0]["server_id"], "pi-01");
    assert_eq!(servers[0]["online"], true);
    assert_eq!(servers[0]["cpu_total_percent"], 42.0);
    let uri = "/api/metrics/history?server_id=pi-01&metric=cpu_usage_percent";
    let (status, history) = send(&app, request("GET", uri, admin, Vec::new())).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(history["series"][0]["points"][0]["last"], 42.0);
    // The catalog is on SQLite: the server survives a restart of the catalog.
    assert!(dir.join("monitor.db").exists());
    // Deleting the server deletes its metrics here.
    let delete = request("DELETE", "/api/servers/pi-01", admin, Vec::new());
    assert_eq!(send(&app, delete).await.0, StatusCode::NO_CONTENT);
    assert!(metrics.latest_snapshot(&id).await.unwrap().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
