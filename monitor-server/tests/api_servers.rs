//! The servers part of the API (`monitor-server/src/api/servers.rs`) through
//! the router, without a socket, on a real SQLite store: registration,
//! tokens and their scopes, deletion, series, newest values and history.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_common;
mod common;

use api_common::{call, fixture, fixture_with, get, post, register, snapshot};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use monitor_core::{Timestamp, wire};
use monitor_server::config::LimitSettings;
use serde_json::json;

#[tokio::test]
async fn the_originals_real_data_flow() {
    let f = fixture(None).await;
    let (status, body) = call(&f.app, get("/api/health", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "reachable");

    let token = register(&f, "srv-01").await;
    assert!(token.starts_with("smk_ing_"));
    let now = Timestamp::now();
    let batch = wire::encode_batch(&[
        snapshot("srv-01", now.add_millis(-5000)),
        snapshot("srv-01", now),
    ])
    .unwrap();
    let (status, body) = call(
        &f.app,
        post("/api/metrics", &[("x-auth-token", &token)], batch.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"stored": 2, "duplicates": 0}));
    let (_, body) = call(
        &f.app,
        post("/api/metrics", &[("x-auth-token", &token)], batch),
    )
    .await;
    assert_eq!(
        body,
        json!({"stored": 0, "duplicates": 2}),
        "a replay counts once"
    );
    // Another report at a taken millisecond (a second agent under this
    // id) is refused and the stored one kept; the message counts the rest
    // of its batch.
    let mut other = snapshot("srv-01", now);
    other.metrics[0].samples[0].value = 7.0;
    let clash = wire::encode_batch(&[other, snapshot("srv-01", now.add_millis(-5000))]).unwrap();
    let (status, body) = call(
        &f.app,
        post("/api/metrics", &[("x-auth-token", &token)], clash),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "timestamp_taken");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("1 of the 2 snapshots")
            && message.contains("(0 stored, 1 already there)"),
        "{message}"
    );

    let (status, servers) = call(&f.app, get("/api/servers", &[])).await;
    assert_eq!(status, StatusCode::OK);
    let s = &servers[0];
    assert_eq!(s["server_id"], "srv-01");
    assert_eq!(s["online"], true);
    assert_eq!(s["cpu_total_percent"], 42.5);
    assert_eq!(s["memory_used_percent"], 61.0);
    assert_eq!(s["disk_used_percent"], 70.0);

    let (status, h) = call(&f.app, get("/api/metrics/history?server_id=srv-01", &[])).await;
    assert_eq!(status, StatusCode::OK, "{h}");
    let metrics: Vec<&str> = h["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"].as_str().unwrap())
        .collect();
    assert_eq!(
        metrics,
        [
            "cpu_usage_percent",
            "memory_used_percent",
            "filesystem_used_percent"
        ]
    );
    let (_, h) = call(
        &f.app,
        get("/api/metrics/history?server_id=srv-01&metric=filesystem_used_percent&match=mountpoint%3D%22%2F%22&step=1", &[]),
    )
    .await;
    assert_eq!(h["series"][0]["points"].as_array().unwrap().len(), 2);
    assert_eq!(h["series"][0]["points"][0]["max"], 70.0);

    // Every series of the server, with its newest value.
    let (status, series) = call(&f.app, get("/api/servers/srv-01/series", &[])).await;
    assert_eq!(status, StatusCode::OK, "{series}");
    let root = series
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metric"] == "filesystem_used_percent" && s["labels"]["mountpoint"] == "/")
        .unwrap_or_else(|| panic!("no filesystem_used_percent{{mountpoint=\"/\"}} in {series}"));
    assert_eq!(root["last_value"], 70.0);
    assert_eq!(root["unit"], "percent");
    let (status, _) = call(&f.app, get("/api/servers/nobody/series", &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The newest snapshot, whole.
    let (status, latest) = call(&f.app, get("/api/servers/srv-01/latest", &[])).await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(latest["server_id"], "srv-01");
    assert!(latest["metrics"].as_array().is_some_and(|m| !m.is_empty()));
    register(&f, "srv-quiet").await;
    let (status, body) = call(&f.app, get("/api/servers/srv-quiet/latest", &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no_snapshot_yet");

    // SPEC.md's curl commands for /api/alerts.
    let (status, t) = call(&f.app, get("/api/alerts", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(t["cpu_total_percent"].is_number());
    let body = r#"{"cpu_total_percent": 85, "memory_used_percent": 80, "disk_used_percent": 90}"#;
    let (status, _) = call(&f.app, post("/api/alerts", &[], body)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, t) = call(&f.app, get("/api/alerts", &[])).await;
    assert_eq!(
        t,
        json!({"cpu_total_percent": 85.0, "memory_used_percent": 80.0, "disk_used_percent": 90.0})
    );
}

#[tokio::test]
async fn tokens_and_scopes() {
    let f = fixture(Some("smk_dsh_read_token_for_tests")).await;
    let (status, body) = call(&f.app, post("/api/register", &[], r#"{"server_id":"a"}"#)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");
    let a = register(&f, "a").await;
    let _b = register(&f, "b").await;
    let (status, body) = call(
        &f.app,
        post(
            "/api/register",
            &[("x-admin-token", f.admin.expose())],
            r#"{"server_id":"a"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let body = wire::encode(&snapshot("b", Timestamp::now())).unwrap();
    let (status, err) = call(
        &f.app,
        post("/api/metrics", &[("x-auth-token", &a)], body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(err["error"], "identity_mismatch");
    let (status, _) = call(
        &f.app,
        post(
            "/api/metrics",
            &[("x-auth-token", "smk_ing_nope")],
            body.clone(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&f.app, post("/api/metrics", &[], body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // With DASHBOARD_TOKEN set, reads need it (or the admin token).
    let (status, _) = call(&f.app, get("/api/servers", &[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &f.app,
        get("/api/servers", &[("x-dashboard-token", "wrong")]),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &f.app,
        get(
            "/api/servers",
            &[("x-dashboard-token", "smk_dsh_read_token_for_tests")],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &f.app,
        get("/api/alerts", &[("x-admin-token", f.admin.expose())]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The agent token reads nothing.
    let (status, _) = call(&f.app, get("/api/servers", &[("x-dashboard-token", &a)])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Rotation: the old token stops working, the new one works.
    let (status, rotated) = call(
        &f.app,
        post(
            "/api/servers/a/token",
            &[("x-admin-token", f.admin.expose())],
            "",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let new = rotated["token"].as_str().unwrap();
    let body = wire::encode(&snapshot("a", Timestamp::now())).unwrap();
    let (status, _) = call(
        &f.app,
        post("/api/metrics", &[("x-auth-token", &a)], body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&f.app, post("/api/metrics", &[("x-auth-token", new)], body)).await;
    assert_eq!(status, StatusCode::OK);

    // Deletion.
    let req = Request::delete("/api/servers/a")
        .header("x-admin-token", f.admin.expose())
        .body(Body::empty())
        .unwrap();
    let (status, _) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let req = Request::delete("/api/servers/a")
        .header("x-admin-token", f.admin.expose())
        .body(Body::empty())
        .unwrap();
    let (status, _) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn from(ip: [u8; 4], mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut().insert(axum::extract::ConnectInfo(
        monitor_server::limit::ClientAddr(std::net::SocketAddr::from((ip, 40000))),
    ));
    req
}

#[tokio::test]
async fn wrong_tokens_from_one_address_get_429() {
    let f = fixture_with(None, |s| {
        s.with_limits(&LimitSettings {
            failed_auth_per_minute: 2,
            ..LimitSettings::default()
        })
    })
    .await;
    let wrong = || {
        post(
            "/api/register",
            &[("x-admin-token", "smk_adm_guess_0123456789abcdef")],
            "{}",
        )
    };
    for _ in 0..2 {
        let (status, _) = call(&f.app, from([10, 0, 0, 1], wrong())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = call(&f.app, from([10, 0, 0, 1], wrong())).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"], "too_many_failed_attempts");
    // Even the right token waits from that address; another address does not.
    let right = post(
        "/api/register",
        &[("x-admin-token", f.admin.expose())],
        json!({"server_id": "srv-09"}).to_string(),
    );
    let (status, _) = call(&f.app, from([10, 0, 0, 1], right)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _) = call(&f.app, from([10, 0, 0, 2], wrong())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A host's top processes reach the newest snapshot; a process name that
/// would mislead a reader is refused with the field named, and the report
/// is not kept.
#[tokio::test]
async fn top_processes_in_the_newest_snapshot() {
    let f = fixture(None).await;
    let token = register(&f, "srv-01").await;
    let now = Timestamp::now();
    let report = |t: Timestamp, name: &str| {
        serde_json::json!({
            "version": 1, "server_id": "srv-01", "timestamp": t.to_rfc3339(),
            "processes": [
                {"pid": 4242, "name": name, "user": "postgres", "cpu_percent": 12.5,
                 "rss_bytes": 67_108_864u64, "command": "postgres: checkpointer"},
                {"pid": 2, "name": "kthreadd", "user": "root", "rss_bytes": 0}
            ],
            "metrics": []
        })
        .to_string()
    };
    let req = post(
        "/api/metrics",
        &[("x-auth-token", &token)],
        report(now.add_millis(-1000), "postgres"),
    );
    let (status, body) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, latest) = call(&f.app, get("/api/servers/srv-01/latest", &[])).await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    assert_eq!(latest["processes"][0]["name"], "postgres");
    assert_eq!(latest["processes"][0]["cpu_percent"], 12.5);
    assert_eq!(latest["processes"][1]["pid"], 2);
    assert!(latest["processes"][1].get("cpu_percent").is_none());
    assert!(latest["processes"][1].get("command").is_none());

    let req = post(
        "/api/metrics",
        &[("x-auth-token", &token)],
        report(now, "gpj\u{202e}exe."),
    );
    let (status, body) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("processes[0].name"), "{message}");
    let (_, latest) = call(&f.app, get("/api/servers/srv-01/latest", &[])).await;
    assert_eq!(
        latest["processes"][0]["name"], "postgres",
        "the refused report is not kept"
    );
}
