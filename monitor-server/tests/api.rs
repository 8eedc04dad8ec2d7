//! The API through the router, without a socket, on a real SQLite store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Dir;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use monitor_core::{Collection, Labels, ServerId, Snapshot, Timestamp, Unit, wire};
use monitor_server::api::{AppState, router};
use monitor_server::auth::Token;
use monitor_server::config::{LimitSettings, StreamSettings};
use monitor_store::{SqlStore, StoreOptions};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Fixture {
    app: axum::Router,
    admin: Token,
    _dir: Dir,
}

async fn fixture(dashboard: Option<&str>) -> Fixture {
    fixture_with(dashboard, |state| state).await
}

async fn fixture_with(
    dashboard: Option<&str>,
    configure: impl FnOnce(AppState) -> AppState,
) -> Fixture {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("monitor-api-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = SqlStore::open(StoreOptions::sqlite(dir.join("db")))
        .await
        .unwrap();
    let admin = Token::from_secret("smk_adm_test_admin_token_0123456789").unwrap();
    let dashboard = dashboard.map(|t| Token::from_secret(t).unwrap());
    let store = Arc::new(store);
    let stats = Arc::clone(&store);
    let state = AppState::new(store, &admin, dashboard.as_ref())
        .with_store_stats(Arc::new(move || stats.stats()));
    let app = router(configure(state));
    Fixture {
        app,
        admin,
        _dir: Dir(dir),
    }
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, value)
}

fn post(path: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::post(path).header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.into()).unwrap()
}

fn get(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::get(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::empty()).unwrap()
}

fn snapshot(id: &str, t: Timestamp) -> Snapshot {
    let mut c = Collection::new();
    c.gauge("cpu_usage_percent", Unit::PERCENT, Labels::new(), 42.5);
    c.gauge("memory_used_percent", Unit::PERCENT, Labels::new(), 61.0);
    c.gauge(
        "filesystem_used_percent",
        Unit::PERCENT,
        Labels::new().with("mountpoint", "/"),
        70.0,
    );
    let mut s = Snapshot::new(ServerId::new(id).unwrap(), t, c);
    s.interval_secs = Some(5.0);
    s
}

async fn register(f: &Fixture, id: &str) -> String {
    let (status, body) = call(
        &f.app,
        post(
            "/api/register",
            &[("x-admin-token", f.admin.expose())],
            json!({"server_id": id}).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["server_id"], id);
    body["token"].as_str().unwrap().to_owned()
}

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

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_loses_nothing() {
    let f = fixture(None).await;
    let token = register(&f, "srv-01").await;
    let good = wire::encode(&snapshot("srv-01", Timestamp::now())).unwrap();
    let (status, _) = call(
        &f.app,
        post("/api/metrics", &[("x-auth-token", &token)], good),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let future = wire::encode(&snapshot("srv-01", Timestamp::now().add_millis(3_600_000))).unwrap();
    // Older than the raw retention (7 days): it would be deleted at once.
    let old = wire::encode(&snapshot(
        "srv-01",
        Timestamp::now().add_millis(-8 * 86_400_000),
    ))
    .unwrap();
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (b"{not json".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
        (br#"{"version":1,"server_id":"srv-01","timestamp":1795000000,"metrics":[{"name":"bad-name","samples":[]}]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_snapshot"),
        (future, StatusCode::UNPROCESSABLE_ENTITY, "timestamp_out_of_range"),
        (old, StatusCode::UNPROCESSABLE_ENTITY, "timestamp_out_of_range"),
        ("[".repeat(100_000).into_bytes(), StatusCode::BAD_REQUEST, "invalid_json"),
    ];
    for (body, status, code) in cases {
        let (got, err) = call(
            &f.app,
            post("/api/metrics", &[("x-auth-token", &token)], body),
        )
        .await;
        assert_eq!(got, status, "{err}");
        assert_eq!(err["error"], code, "{err}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (status, err) = call(
        &f.app,
        post(
            "/api/alerts",
            &[],
            r#"{"cpu_total_percent": 185, "memory_used_percent": 80, "disk_used_percent": 90}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("cpu_total_percent")
    );
    let (status, err) = call(
        &f.app,
        get("/api/metrics/history?server_id=srv-01&from=yesterday", &[]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_time");
    let (status, _) = call(&f.app, get("/api/metrics/history?server_id=nobody", &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The good snapshot is still there.
    let (_, h) = call(
        &f.app,
        get(
            "/api/metrics/history?server_id=srv-01&metric=cpu_usage_percent&step=1",
            &[],
        ),
    )
    .await;
    assert_eq!(h["series"][0]["points"].as_array().unwrap().len(), 1);
}

/// RELIABILITY.md R9: a fleet coming back at once is shed with deliberate
/// 503s once the reports in progress fill `limits.ingest_bytes_in_flight`,
/// instead of holding every batch in memory (1.6 GB for a thousand agents
/// with 300 reports each before the budget); nothing shed is stored, and it
/// is taken when sent again.
#[tokio::test(start_paused = true)]
async fn reports_beyond_the_ingest_budget_are_shed_with_503_and_taken_on_retry() {
    let store = Arc::new(monitor_core::testing::MemoryStore::new());
    let admin = Token::from_secret("smk_adm_test_admin_token_0123456789").unwrap();
    let limits = LimitSettings {
        ingest_bytes_in_flight: 64 << 10,
        ..LimitSettings::default()
    };
    let f = Fixture {
        app: router(AppState::new(store.clone(), &admin, None).with_limits(&limits)),
        admin,
        _dir: Dir(std::env::temp_dir().join("monitor-api-unused")),
    };
    let first = register(&f, "srv-01").await;
    let second = register(&f, "srv-02").await;
    let now = Timestamp::now();
    let batch = |id: &str, token: &str| {
        let batch: Vec<Snapshot> = (0..100)
            .map(|i| snapshot(id, now.add_millis(-200_000 + i * 1000)))
            .collect();
        let body = gzip(&wire::encode_batch(&batch).unwrap());
        let mut req = post("/api/metrics", &[("x-auth-token", token)], body);
        req.headers_mut()
            .insert("content-encoding", "gzip".parse().unwrap());
        req
    };
    assert!(
        wire::encode_batch(
            &(0..100)
                .map(|i| snapshot("srv-01", now.add_millis(i)))
                .collect::<Vec<_>>()
        )
        .unwrap()
        .len()
            > 32 << 10,
        "each batch takes more than half the budget"
    );

    // A first report from each: their tokens are known without the store.
    for (id, token) in [("srv-01", &first), ("srv-02", &second)] {
        let body = wire::encode(&snapshot(id, now)).unwrap();
        let (status, _) = call(
            &f.app,
            post("/api/metrics", &[("x-auth-token", token)], body),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }

    // The first batch holds its room while the store is busy with it.
    let stall = store.stall();
    let held = tokio::spawn({
        let app = f.app.clone();
        let req = batch("srv-01", &first);
        async move { call(&app, req).await }
    });
    // (The clock is paused: it moves on once the first batch waits.)
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = tokio::time::Instant::now();
    let response = f
        .app
        .clone()
        .oneshot(batch("srv-02", &second))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after = response.headers()["retry-after"].clone();
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["error"], "overloaded", "{body}");
    assert_eq!(retry_after, "2");
    assert_eq!(started.elapsed().as_secs(), 2, "it waited its turn for 2 s");

    drop(stall);
    let (status, body) = held.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stored"], 100);
    // Sent again, the shed batch is taken whole.
    let (status, body) = call(&f.app, batch("srv-02", &second)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stored"], 100);
    let response = f.app.clone().oneshot(get("/metrics", &[])).await.unwrap();
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    for expected in [
        "monitor_ingest_requests_total{outcome=\"unavailable\"} 1\n",
        "monitor_ingest_requests_total{outcome=\"accepted\"} 4\n",
        "monitor_ingest_bytes_in_flight 0\n",
        "monitor_ingest_bytes_in_flight_limit 65536\n",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_store_that_stops_answering_gets_503_not_a_hang() {
    let store = Arc::new(monitor_core::testing::MemoryStore::new());
    let admin = Token::from_secret("smk_adm_test_admin_token_0123456789").unwrap();
    let limits = LimitSettings {
        request_timeout: std::time::Duration::from_secs(20),
        ..LimitSettings::default()
    };
    let f = Fixture {
        app: router(AppState::new(store.clone(), &admin, None).with_limits(&limits)),
        admin,
        _dir: Dir(std::env::temp_dir().join("monitor-api-unused")),
    };
    let token = register(&f, "srv-01").await;
    let body = wire::encode(&snapshot("srv-01", Timestamp::now())).unwrap();
    let report = || post("/api/metrics", &[("x-auth-token", &token)], body.clone());

    let stall = store.stall();
    let started = tokio::time::Instant::now();
    let (status, body) = call(&f.app, get("/api/health", &[])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["database"], "unreachable");
    assert_eq!(started.elapsed().as_secs(), 5, "health waits 5 s at most");
    for req in [get("/api/servers", &[]), report()] {
        let started = tokio::time::Instant::now();
        let (status, body) = call(&f.app, req).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"], "timeout");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("within 20s (limits.request_timeout)"),
            "{body}"
        );
        assert_eq!(started.elapsed().as_secs(), 20);
    }

    // Answering again: the report cut off is taken on its retry.
    drop(stall);
    let (status, body) = call(&f.app, report()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stored"], 1);
    let (status, _) = call(&f.app, get("/api/health", &[])).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_rule_previewed_on_stored_history() {
    let f = fixture(None).await;
    let one = register(&f, "srv-01").await;
    let two = register(&f, "srv-02").await;
    // srv-01: 50 %, then 95 % for a minute, then 50 % again; srv-02: 50 %.
    let start = Timestamp::now().add_millis(-3_600_000);
    let batch = |id: &str, hot: &dyn Fn(i64) -> bool| {
        let snapshots: Vec<Snapshot> = (0..60)
            .map(|i| {
                let mut s = snapshot(id, start.add_millis(i * 10_000));
                s.metrics[0].samples[0].value = if hot(i) { 95.0 } else { 50.0 };
                s
            })
            .collect();
        wire::encode_batch(&snapshots).unwrap()
    };
    for (token, body) in [
        (&one, batch("srv-01", &|i| (20..26).contains(&i))),
        (&two, batch("srv-02", &|_| false)),
    ] {
        let req = post("/api/metrics", &[("x-auth-token", token)], body);
        assert_eq!(call(&f.app, req).await.0, StatusCode::OK);
    }
    let preview = |query: &str, rule: Value| {
        post(
            &format!("/api/alerts/preview{query}"),
            &[],
            rule.to_string(),
        )
    };
    let hot = json!({"metric": "cpu_usage_percent", "op": ">", "threshold": 90, "for_secs": 30});
    let (status, body) = call(&f.app, preview("", hot.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["fired"], 1, "{body}");
    let servers = body["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    let first = servers.iter().find(|s| s["server_id"] == "srv-01").unwrap();
    assert_eq!(first["tier"], "raw");
    assert_eq!(first["reports"], 60);
    assert_eq!(
        (first["fired"].as_u64(), first["firing_at_end"].as_u64()),
        (Some(1), Some(0))
    );
    let states: Vec<&str> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["pending", "firing", "resolved"], "oldest first");
    let at = |i: usize| {
        Timestamp::parse(first["events"][i]["at"].as_str().unwrap())
            .unwrap()
            .as_millis()
    };
    assert_eq!(at(1) - at(0), 30_000, "firing after 30 s over");
    assert_eq!(at(2) - at(0), 60_000, "resolved at the first cool report");
    let second = servers.iter().find(|s| s["server_id"] == "srv-02").unwrap();
    assert_eq!(
        (
            second["fired"].as_u64(),
            second["events"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    // Nothing was stored: no rule, no event, no alert.
    let (_, events) = call(&f.app, get("/api/alerts/events", &[])).await;
    assert_eq!(events, json!([]));
    let (_, rules) = call(&f.app, get("/api/alerts/rules", &[])).await;
    assert!(!rules.to_string().contains("preview"));

    // One server, or a range before the reports: nothing to replay.
    let (_, body) = call(&f.app, preview("?server_id=srv-02", hot.clone())).await;
    assert_eq!(body["servers"].as_array().map(Vec::len), Some(1));
    let before = format!("?to={}", start.as_millis() / 1000);
    let (_, body) = call(&f.app, preview(&before, hot.clone())).await;
    assert_eq!(body["servers"][0]["reports"], 0, "{body}");

    for (query, rule, status, code) in [
        (
            "",
            json!({"metric": "host_offline", "op": ">", "threshold": 3}),
            422,
            "not_previewable",
        ),
        (
            "",
            json!({"metric": "cpu usage", "op": ">", "threshold": 3}),
            422,
            "invalid_rule",
        ),
        ("?server_id=nope", hot.clone(), 404, "not_found"),
        ("?from=0&to=4000000", hot.clone(), 400, "invalid_range"),
        ("?from=yesterday", hot.clone(), 400, "invalid_time"),
        ("?step=5", hot.clone(), 400, "bad_request"),
    ] {
        let (got, body) = call(&f.app, preview(query, rule)).await;
        assert_eq!(got.as_u16(), status, "{query}: {body}");
        assert_eq!(body["error"], code, "{query}: {body}");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_each_answers() {
    let f = fixture(None).await;
    let (status, doc) = call(&f.app, get("/api/openapi.json", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 22);
    for (path, methods) in paths {
        // (A path item's "parameters" are shared by its methods.)
        let methods = methods.as_object().unwrap().keys();
        for method in methods.filter(|k| *k != "parameters") {
            let uri = path.replace("{id}", "srv-x");
            let req = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let response = f.app.clone().oneshot(req).await.unwrap();
            // Documented routes exist: whatever they answer, it is not "no such route".
            let status = response.status();
            if status == StatusCode::NOT_FOUND {
                // A handler's own 404 says what is missing; the router's says no such route.
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                let body: Value = serde_json::from_slice(&bytes).unwrap();
                assert_ne!(body["error"], "no_such_route", "{method} {uri}");
            }
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        }
    }
}

/// SQLite locked by another process (a tool holding a write transaction)
/// past `busy_timeout`: ingest answers 503 with `Retry-After` and a JSON
/// error, the newest values and the overview are still read, and once the
/// lock is gone ingest resumes by itself; nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_process_answers_503_and_loses_nothing() {
    use sqlx::Connection;
    let dir = std::env::temp_dir().join(format!("monitor-locked-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut options = StoreOptions::sqlite(dir.join("db"));
    options.busy_timeout = std::time::Duration::from_millis(300);
    let store = Arc::new(SqlStore::open(options).await.unwrap());
    let admin = Token::from_secret("smk_adm_test_admin_token_0123456789").unwrap();
    let f = Fixture {
        app: router(AppState::new(store.clone(), &admin, None)),
        admin,
        _dir: Dir(dir.clone()),
    };
    let token = register(&f, "srv-01").await;
    let now = Timestamp::now().as_millis() / 1000 * 1000;
    let report = |t: i64| {
        post(
            "/api/metrics",
            &[("x-auth-token", &token)],
            wire::encode(&snapshot("srv-01", Timestamp::from_millis(t))).unwrap(),
        )
    };
    let mut acked = Vec::new();
    for t in [now - 30_000, now - 29_000, now - 28_000] {
        assert_eq!(call(&f.app, report(t)).await.0, StatusCode::OK);
        acked.push(t);
    }
    assert_eq!(
        call(&f.app, get("/api/servers", &[])).await.0,
        StatusCode::OK
    );

    let mut other =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", dir.join("db").display()))
            .await
            .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let refused = f.app.clone().oneshot(report(now - 27_000)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let body = refused.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "storage_unavailable", "{body}");
    for path in ["/api/servers/srv-01/latest", "/api/servers", "/metrics"] {
        let response = f.app.clone().oneshot(get(path, &[])).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{path} while SQLite is locked"
        );
    }
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    other.close().await.unwrap();

    // The report refused is sent again, as an agent does after Retry-After.
    let mut stored = false;
    for _ in 0..50 {
        if call(&f.app, report(now - 27_000)).await.0 == StatusCode::OK {
            stored = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(stored, "ingest did not resume after the lock was released");
    acked.push(now - 27_000);
    let (status, history) = call(
        &f.app,
        get(
            &format!(
                "/api/metrics/history?server_id=srv-01&metric=cpu_usage_percent&from={}&to={}&step=1",
                (now - 60_000) / 1000,
                now / 1000
            ),
            &[],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let times: Vec<i64> = history["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            Timestamp::parse(p["t"].as_str().unwrap())
                .unwrap()
                .as_millis()
        })
        .collect();
    assert_eq!(times, acked, "every acknowledged report, once");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads SSE frames from a response body until `want` events have arrived.
async fn events(body: Body, want: usize) -> Vec<String> {
    let mut body = body;
    let mut text = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while text.matches("\nid: ").count() + usize::from(text.starts_with("id: ")) < want {
        assert!(
            std::time::Instant::now() < deadline,
            "events did not arrive: {text}"
        );
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
            .await
            .expect("a frame in time")
            .expect("the stream goes on")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    text.split("\n\n")
        .filter(|e| e.contains("id: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_stream_carries_accepted_snapshots_and_replays_after_last_event_id() {
    let f = fixture(Some("smk_dsh_stream_reader")).await;
    let token = register(&f, "srv-01").await;
    let (status, _) = call(&f.app, get("/api/stream", &[])).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the stream needs the read token"
    );
    let response = f
        .app
        .clone()
        .oneshot(get(
            "/api/stream",
            &[("x-dashboard-token", "smk_dsh_stream_reader")],
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let now = Timestamp::now();
    for i in 0..3 {
        let body = wire::encode(&snapshot("srv-01", now.add_millis(i * 1000 - 5000))).unwrap();
        let (status, _) = call(
            &f.app,
            post("/api/metrics", &[("x-auth-token", &token)], body),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    // A replay (nothing new stored) publishes nothing.
    let body = wire::encode(&snapshot("srv-01", now.add_millis(-5000))).unwrap();
    call(
        &f.app,
        post("/api/metrics", &[("x-auth-token", &token)], body),
    )
    .await;
    let live = events(response.into_body(), 3).await;
    assert_eq!(live.len(), 3);
    assert!(
        live[0].contains("event: snapshot") && live[0].contains("\"server_id\":\"srv-01\""),
        "{}",
        live[0]
    );
    let ids: Vec<u64> = live
        .iter()
        .map(|e| {
            e.lines()
                .find_map(|l| l.strip_prefix("id: "))
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        ids[1] == ids[0] + 1 && ids[2] == ids[0] + 2,
        "consecutive ids: {ids:?}"
    );
    // Ids start from the process's start time, so a client's id from before
    // a restart is below the new ones.
    assert!(ids[0] > 1_700_000_000_000_000, "{ids:?}");
    let first = ids[0].to_string();
    // Reconnecting after event 1 gets 2 and 3 from the buffer.
    let again = f
        .app
        .clone()
        .oneshot(get(
            "/api/stream",
            &[
                ("x-dashboard-token", "smk_dsh_stream_reader"),
                ("last-event-id", &first),
            ],
        ))
        .await
        .unwrap();
    let replayed = events(again.into_body(), 2).await;
    assert!(
        replayed[0].contains(&format!("id: {}", ids[1]))
            && replayed[1].contains(&format!("id: {}", ids[2])),
        "{replayed:?}"
    );
    let (status, err) = call(
        &f.app,
        get(
            "/api/stream",
            &[
                ("x-dashboard-token", "smk_dsh_stream_reader"),
                ("last-event-id", "x"),
            ],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"], "invalid_last_event_id");
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body).unwrap();
    e.finish().unwrap()
}

fn from(ip: [u8; 4], mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut().insert(axum::extract::ConnectInfo(
        monitor_server::limit::ClientAddr(std::net::SocketAddr::from((ip, 40000))),
    ));
    req
}

#[tokio::test]
async fn gzip_bodies_are_accepted_within_the_body_limit() {
    let f = fixture_with(None, |s| {
        s.with_limits(&LimitSettings {
            max_body_bytes: 64 << 10,
            ..LimitSettings::default()
        })
    })
    .await;
    let token = register(&f, "srv-01").await;
    let now = Timestamp::now();
    let batch: Vec<Snapshot> = (0..3)
        .map(|i| snapshot("srv-01", now.add_millis(-10_000 + i * 1000)))
        .collect();
    let mut req = post(
        "/api/metrics",
        &[("x-auth-token", &token)],
        gzip(&wire::encode_batch(&batch).unwrap()),
    );
    req.headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    let (status, body) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stored"], 3);
    // A small gzip body that inflates past the limit is refused.
    let bomb = gzip(&vec![b' '; 1 << 20]);
    assert!(bomb.len() < 4096);
    let mut req = post("/api/metrics", &[("x-auth-token", &token)], bomb);
    req.headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    let (status, body) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "body_too_large");
    // A body that says gzip but is not, and an encoding the server does not
    // read, are refused by name.
    let mut req = post("/api/metrics", &[("x-auth-token", &token)], b"{}".to_vec());
    req.headers_mut()
        .insert("content-encoding", "gzip".parse().unwrap());
    let (status, body) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_gzip", "{body}");
    let mut req = post("/api/metrics", &[("x-auth-token", &token)], b"{}".to_vec());
    req.headers_mut()
        .insert("content-encoding", "br".parse().unwrap());
    let (status, body) = call(&f.app, req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        body["message"].as_str().unwrap().contains("\"br\""),
        "{body}"
    );
    // The router's own errors are JSON too.
    let (status, body) = call(&f.app, get("/api/nothing", &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no_such_route");
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_and_what_was_accepted_stays() {
    let f = fixture_with(None, |s| {
        s.with_limits(&LimitSettings {
            ingest_per_token_per_second: 0.01,
            ingest_burst: 3,
            ..LimitSettings::default()
        })
    })
    .await;
    let token = register(&f, "srv-01").await;
    let other = register(&f, "srv-02").await;
    let now = Timestamp::now();
    let send = |id: &'static str, token: String, from: i64, n: i64| {
        let batch: Vec<Snapshot> = (from..from + n)
            .map(|i| snapshot(id, now.add_millis(-60_000 + i * 1000)))
            .collect();
        post(
            "/api/metrics",
            &[("x-auth-token", &token)],
            wire::encode_batch(&batch).unwrap(),
        )
    };
    let (status, _) = call(&f.app, send("srv-01", token.clone(), 0, 2)).await;
    assert_eq!(status, StatusCode::OK);
    let response = f
        .app
        .clone()
        .oneshot(send("srv-01", token.clone(), 2, 2))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let (status, _) = call(&f.app, send("srv-02", other, 0, 3)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another token has its own allowance"
    );
    let from = now.as_millis() / 1000 - 3600;
    let (_, h) = call(
        &f.app,
        get(
            &format!(
                "/api/metrics/history?server_id=srv-01&metric=cpu_usage_percent&step=1&from={from}"
            ),
            &[],
        ),
    )
    .await;
    assert_eq!(
        h["series"][0]["points"].as_array().unwrap().len(),
        2,
        "the accepted batch is stored, the refused one is not"
    );
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

#[tokio::test]
async fn live_streams_are_capped_per_token() {
    let f = fixture_with(Some("smk_dsh_stream_reader"), |s| {
        s.with_stream_limits(&StreamSettings {
            max_clients: 10,
            max_clients_per_token: 1,
            ..StreamSettings::default()
        })
    })
    .await;
    let open = || {
        get(
            "/api/stream",
            &[("x-dashboard-token", "smk_dsh_stream_reader")],
        )
    };
    let first = f.app.clone().oneshot(open()).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let (status, body) = call(&f.app, open()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"], "too_many_streams");
    let admin = f
        .app
        .clone()
        .oneshot(get("/api/stream", &[("x-admin-token", f.admin.expose())]))
        .await
        .unwrap();
    assert_eq!(
        admin.status(),
        StatusCode::OK,
        "another token has its own cap"
    );
    drop(first);
    let again = f.app.clone().oneshot(open()).await.unwrap();
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "a closed stream frees its place"
    );
}

#[tokio::test]
async fn streams_end_at_shutdown_and_an_unknown_id_gets_what_comes_next() {
    let f = fixture(None).await;
    let hub_state = AppState::new(
        Arc::new(
            SqlStore::open(StoreOptions::sqlite(f._dir.0.join("second")))
                .await
                .unwrap(),
        ),
        &f.admin,
        None,
    );
    let hub = hub_state.stream_hub();
    let app = router(hub_state);
    // An id from the future (another process's) replays nothing and still
    // gets the live events.
    let response = app
        .clone()
        .oneshot(get("/api/stream", &[("last-event-id", "9999999999999999")]))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    hub.publish(
        "snapshot",
        monitor_server::stream::Payload::ready("{}".into()),
    );
    let live = events(response.into_body(), 1).await;
    assert!(live[0].contains("event: snapshot"), "{live:?}");
    // Closing ends every open stream.
    let open = app.clone().oneshot(get("/api/stream", &[])).await.unwrap();
    hub.close();
    let rest = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        open.into_body().collect(),
    )
    .await
    .expect("the stream ended");
    assert!(rest.is_ok());
}

/// A fixture whose state runs the alert engine over its store.
async fn fixture_with_alerts(
    dir: &std::path::Path,
    options: monitor_server::alerts::AlertOptions,
) -> (Fixture, monitor_server::alerts::Alerts, Arc<SqlStore>) {
    let store = Arc::new(
        SqlStore::open(StoreOptions::sqlite(dir.join("db")))
            .await
            .unwrap(),
    );
    let admin = Token::from_secret("smk_adm_test_admin_token_0123456789").unwrap();
    let state = AppState::new(store.clone(), &admin, None);
    let alerts = monitor_server::alerts::Alerts::start(store.clone(), state.stream_hub(), options)
        .await
        .unwrap();
    let app = router(state.with_alerts(alerts.clone()));
    let fixture = Fixture {
        app,
        admin,
        _dir: Dir(dir.join("unused")),
    };
    (fixture, alerts, store)
}

/// Polls `GET path` until `done` holds for its JSON (the engine runs beside
/// ingest), for up to 5 s.
async fn poll(f: &Fixture, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let (status, body) = call(&f.app, get(path, &[])).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if done(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path} never got there; last: {last}");
}

#[tokio::test]
async fn thresholds_fire_resolve_and_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("monitor-alerts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, alerts, store) = fixture_with_alerts(&dir, Default::default()).await;
    let token = register(&f, "srv-01").await;
    let send = |s: Snapshot| {
        post(
            "/api/metrics",
            &[("x-auth-token", &token)],
            wire::encode(&s).unwrap(),
        )
    };

    // 99 % CPU over the default 90 % threshold: firing at once.
    let now = Timestamp::now();
    let mut hot = snapshot("srv-01", now.add_millis(-20_000));
    hot.metrics[0].samples[0].value = 99.0;
    assert_eq!(call(&f.app, send(hot)).await.0, StatusCode::OK);
    let firing = poll(&f, "/api/alerts/firing", |b| {
        b.as_array().unwrap().len() == 1
    })
    .await;
    assert_eq!(firing[0]["rule_id"], "cpu_total_percent");
    assert_eq!(firing[0]["server_id"], "srv-01");

    // The original's curl raises the threshold; the next report resolves.
    let body = r#"{"cpu_total_percent": 99.5, "memory_used_percent": 80, "disk_used_percent": 90}"#;
    let (status, _) = call(&f.app, post("/api/alerts", &[], body)).await;
    assert_eq!(status, StatusCode::OK);
    // (Recent enough that the engine's own 5-s tick does not find the host
    // offline before the test does.)
    let mut still = snapshot("srv-01", now.add_millis(-5_000));
    still.metrics[0].samples[0].value = 99.0;
    assert_eq!(call(&f.app, send(still)).await.0, StatusCode::OK);
    let events = poll(&f, "/api/alerts/events?server_id=srv-01", |b| {
        b.as_array().unwrap().len() == 2
    })
    .await;
    assert_eq!(events[0]["state"], "resolved", "newest first: {events}");
    assert_eq!(events[0]["value"], 99.0);
    assert_eq!(events[1]["state"], "firing");
    assert_eq!(events[1]["threshold"], 90.0);
    // A page at a time.
    let (_, page) = call(
        &f.app,
        get("/api/alerts/events?server_id=srv-01&limit=1", &[]),
    )
    .await;
    assert_eq!(page, json!([events[0]]));
    let next = format!(
        "/api/alerts/events?server_id=srv-01&limit=1&before={}",
        events[0]["id"]
    );
    let (_, page) = call(&f.app, get(&next, &[])).await;
    assert_eq!(page, json!([events[1]]));
    assert!(
        call(&f.app, get("/api/alerts/firing", &[]))
            .await
            .1
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Three missed 5-s intervals later the host is offline (counted from
    // its last report, or from the engine's start when that is later).
    let later = now.add_millis(-5_000 + 21_000);
    let offline = alerts.tick(later).await.unwrap();
    assert_eq!(offline.len(), 1);
    assert_eq!(offline[0].rule_id, "host_offline");
    assert!(offline[0].id > 0, "stored");

    // A restart resumes the firing alert without a second event.
    drop(alerts);
    drop(f);
    monitor_core::Store::shutdown(&*store).await.unwrap();
    drop(store);
    let (f, alerts, _store) = fixture_with_alerts(&dir, Default::default()).await;
    let firing = poll(&f, "/api/alerts/firing", |b| {
        b.as_array().unwrap().len() == 1
    })
    .await;
    assert_eq!(firing[0]["rule_id"], "host_offline");
    assert!(
        alerts
            .tick(later.add_millis(5_000))
            .await
            .unwrap()
            .is_empty()
    );
    let (status, body) = call(&f.app, get("/api/alerts/events?since=yesterday", &[])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_time");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_deleted_server_is_never_reported_offline() {
    let dir = std::env::temp_dir().join(format!("monitor-forget-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, alerts, _store) = fixture_with_alerts(&dir, Default::default()).await;
    let token = register(&f, "srv-01").await;
    report_cpu(&f, &token, 10.0, 0).await;
    // The engine knows the server (a tick reads the new one in).
    assert!(alerts.tick(Timestamp::now()).await.unwrap().is_empty());
    let req = Request::delete("/api/servers/srv-01")
        .header("x-admin-token", f.admin.expose())
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&f.app, req).await.0, StatusCode::NO_CONTENT);
    let later = Timestamp::now().add_millis(60_000);
    assert!(alerts.tick(later).await.unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn hosts_silent_while_the_server_was_down_are_not_offline_at_once() {
    let dir = std::env::temp_dir().join(format!("monitor-grace-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, alerts, _store) = fixture_with_alerts(&dir, Default::default()).await;
    let token = register(&f, "srv-01").await;
    // Its last report is two minutes old, from before the engine started.
    report_cpu(&f, &token, 10.0, 120_000).await;
    assert!(alerts.tick(Timestamp::now()).await.unwrap().is_empty());
    // Three intervals after the start with no report, it is offline.
    let offline = alerts
        .tick(Timestamp::now().add_millis(16_000))
        .await
        .unwrap();
    assert_eq!(offline.len(), 1);
    assert_eq!(offline[0].rule_id, "host_offline");
    assert_eq!(offline[0].state, monitor_core::AlertState::Firing);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_container_restarting_repeatedly_fires_the_built_in_rule() {
    let dir = std::env::temp_dir().join(format!("monitor-restarts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, _alerts, _store) = fixture_with_alerts(&dir, Default::default()).await;
    let token = register(&f, "srv-01").await;
    let app = Labels::new().with("name", "web");
    let worker = Labels::new().with("name", "worker");
    // Over five minutes, "web" restarts three times, "worker" once.
    for (i, (web, work)) in [(0.0, 5.0), (1.0, 5.0), (2.0, 6.0), (3.0, 6.0)]
        .into_iter()
        .enumerate()
    {
        let mut c = Collection::new();
        c.counter("container_restarts_total", Unit::COUNT, app.clone(), web);
        c.counter(
            "container_restarts_total",
            Unit::COUNT,
            worker.clone(),
            work,
        );
        // (Within the last ten minutes: the trends forget a series unseen
        // longer, by the clock.)
        let at = Timestamp::now().add_millis(-300_000 + i as i64 * 100_000);
        let s = Snapshot::new(ServerId::new("srv-01").unwrap(), at, c);
        let req = post(
            "/api/metrics",
            &[("x-auth-token", token.as_str())],
            wire::encode(&s).unwrap(),
        );
        assert_eq!(call(&f.app, req).await.0, StatusCode::OK);
    }
    let firing = poll(&f, "/api/alerts/firing", |b| {
        b.as_array().unwrap().len() == 1
    })
    .await;
    assert_eq!(firing[0]["rule_id"], "container_restarting");
    assert_eq!(firing[0]["labels"]["name"], "web");
    let events = poll(&f, "/api/alerts/events?rule_id=container_restarting", |b| {
        b.as_array().unwrap().len() == 1
    })
    .await;
    assert_eq!(events[0]["value"], 3.0);
    let message = events[0]["message"].as_str().unwrap();
    assert!(
        message.contains("increase of container_restarts_total"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn rules_on_plugin_metrics_through_the_api() {
    let dir = std::env::temp_dir().join(format!("monitor-rules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, _alerts, _store) = fixture_with_alerts(&dir, Default::default()).await;
    let token = register(&f, "srv-01").await;
    let (_, rules) = call(&f.app, get("/api/alerts/rules", &[])).await;
    let ids: Vec<&str> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "cpu_total_percent",
            "memory_used_percent",
            "disk_used_percent",
            "host_offline",
            "filesystem_will_fill",
            "container_unhealthy",
            "container_restarting",
            "container_stopped"
        ]
    );
    let stopped = &rules[7];
    assert_eq!(stopped["enabled"], false, "off by default: {stopped}");
    assert_eq!(rules[6]["function"]["kind"], "increase");

    let flapping = json!({"name": "queue deep", "metric": "queue_depth", "op": ">", "threshold": 100, "resolve_threshold": 120});
    let (status, body) = call(&f.app, post("/api/alerts/rules", &[], flapping.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "invalid_rule");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("resolve_threshold"),
        "{body}"
    );
    let (status, body) = call(
        &f.app,
        post(
            "/api/alerts/rules",
            &[],
            json!({"name": "x", "metric": "m", "op": ">", "threshold": 1, "id": "host_offline"})
                .to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let rule = json!({"name": "queue deep", "metric": "queue_depth", "op": ">", "threshold": 100, "resolve_threshold": 80, "severity": "critical"});
    let (status, created) = call(&f.app, post("/api/alerts/rules", &[], rule.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(!id.is_empty());

    // A plugin's metric fires it like a built-in one.
    let mut c = Collection::new();
    c.gauge(
        "queue_depth",
        Unit::COUNT,
        Labels::new().with("queue", "mail"),
        150.0,
    );
    let mut s = Snapshot::new(
        ServerId::new("srv-01").unwrap(),
        Timestamp::now().add_millis(-1000),
        c,
    );
    s.interval_secs = Some(5.0);
    let req = post(
        "/api/metrics",
        &[("x-auth-token", &token)],
        wire::encode(&s).unwrap(),
    );
    assert_eq!(call(&f.app, req).await.0, StatusCode::OK);
    let firing = poll(&f, "/api/alerts/firing", |b| {
        b.as_array().unwrap().len() == 1
    })
    .await;
    assert_eq!(firing[0]["rule_id"], id.as_str());
    assert_eq!(firing[0]["labels"]["queue"], "mail");
    let events = poll(&f, &format!("/api/alerts/events?rule_id={id}"), |b| {
        !b.as_array().unwrap().is_empty()
    })
    .await;
    assert_eq!(events[0]["severity"], "critical");

    // A built-in rule replaced, then the stored rule deleted with its alert.
    let offline =
        json!({"name": "host offline", "metric": "host_offline", "op": ">", "threshold": 10});
    let (status, body) = call(
        &f.app,
        Request::put("/api/alerts/rules/host_offline")
            .header("content-type", "application/json")
            .body(Body::from(offline.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, rules) = call(&f.app, get("/api/alerts/rules", &[])).await;
    let rules = rules.as_array().unwrap();
    assert_eq!(rules.len(), 9, "3 thresholds, 5 built-in rules, 1 stored");
    assert!(
        rules
            .iter()
            .any(|r| r["id"] == "host_offline" && r["threshold"] == 10.0)
    );
    let (status, _) = call(
        &f.app,
        Request::put("/api/alerts/rules/nothing")
            .header("content-type", "application/json")
            .body(Body::from(offline.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let delete = |id: &str| {
        Request::delete(format!("/api/alerts/rules/{id}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(call(&f.app, delete(&id)).await.0, StatusCode::NO_CONTENT);
    assert!(
        call(&f.app, get("/api/alerts/firing", &[]))
            .await
            .1
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (status, body) = call(&f.app, delete(&id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}

type Received = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

/// A webhook receiver on loopback that answers 500 to its first `failures`
/// requests, then 200; and a webhook notifier for it.
async fn hook_receiver(failures: usize) -> (Arc<dyn monitor_core::Notifier>, Received) {
    let got: Received = Arc::default();
    let seen = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = Arc::clone(&seen);
            async move {
                let mut seen = seen.lock().unwrap();
                seen.push(body.to_vec());
                if seen.len() <= failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (webhook_to("ops", url, 2), got)
}

/// A webhook notifier named `name` to `url` on loopback.
fn webhook_to(name: &str, url: String, timeout_secs: u64) -> Arc<dyn monitor_core::Notifier> {
    let tls = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth(),
    );
    let hook = monitor_server::webhook::Webhook::new(
        monitor_server::webhook::WebhookConfig {
            name: name.into(),
            url,
            secret: None,
            headers: Default::default(),
            format: Default::default(),
            timeout_secs,
            allow: vec!["127.0.0.0/8".into()],
        },
        tls,
    )
    .unwrap();
    Arc::new(hook)
}

/// A notifier of yours whose calls never end.
struct NeverAnswers;

#[async_trait::async_trait]
impl monitor_core::Notifier for NeverAnswers {
    fn name(&self) -> &str {
        "never"
    }
    async fn notify(
        &self,
        _notification: &monitor_core::Notification,
    ) -> Result<(), monitor_core::NotifyError> {
        std::future::pending().await
    }
}

/// Each delivery attempt is cut off after `notify_timeout`: a plugin
/// notifier that hangs gives up its notifications (after `retry_for`) and
/// holds up no other notifier.
#[tokio::test]
async fn a_notifier_that_never_answers_is_cut_off() {
    let (good, got) = hook_receiver(0).await;
    let options = monitor_server::alerts::AlertOptions {
        notifiers: vec![Arc::new(NeverAnswers), good],
        retry_base: std::time::Duration::from_millis(10),
        notify_timeout: std::time::Duration::from_millis(50),
        retry_for: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let dir = std::env::temp_dir().join(format!("monitor-never-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, _alerts, _store) = fixture_with_alerts(&dir, options).await;
    let token = register(&f, "srv-01").await;
    report_cpu(&f, &token, 99.0, 1_000).await;
    let status = poll(&f, "/api/alerts/notifiers", |b| {
        b[0]["failed"] == 1 && b[0]["queued"] == 0 && b[1]["delivered"] == 1
    })
    .await;
    assert_eq!(status[0]["notifier"], "never");
    assert_eq!(
        status[0]["last_error"], "delivery timed out after 50ms",
        "{status}"
    );
    assert_eq!(got.lock().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_hung_receiver_delays_nothing_flapping_sends_no_storm_offline_fires_and_resolves() {
    // A receiver that accepts connections and never answers.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_url = format!("http://{}/hook", hung.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hung.accept().await {
            held.push(socket);
        }
    });
    let (good, got) = hook_receiver(0).await;
    let options = monitor_server::alerts::AlertOptions {
        notifiers: vec![webhook_to("hung", hung_url, 30), good],
        retry_base: std::time::Duration::from_millis(50),
        ..Default::default()
    };
    let dir = std::env::temp_dir().join(format!("monitor-hung-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, alerts, _store) = fixture_with_alerts(&dir, options).await;
    let token = register(&f, "srv-01").await;
    // The original's CPU threshold out of the way; a rule with hysteresis.
    let body =
        r#"{"cpu_total_percent": 100, "memory_used_percent": 100, "disk_used_percent": 100}"#;
    assert_eq!(
        call(&f.app, post("/api/alerts", &[], body)).await.0,
        StatusCode::OK
    );
    let rule = json!({"name": "cpu hot", "metric": "cpu_usage_percent",
        "matchers": [{"name": "cpu", "op": "=", "value": ""}],
        "op": ">", "threshold": 90, "resolve_threshold": 80});
    let (status, created) = call(&f.app, post("/api/alerts/rules", &[], rule.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // Forty reports hovering around 90: one alert, one notification, and
    // ingest never waits for the receiver that hangs (30-s timeout).
    let started = std::time::Instant::now();
    for i in 0..40 {
        let cpu = if i % 2 == 0 { 95.0 } else { 85.0 };
        report_cpu(&f, &token, cpu, 40_000 - i * 1000).await;
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "ingest waited for a receiver: {:?}",
        started.elapsed()
    );
    poll(&f, "/api/alerts/notifiers", |b| b[1]["delivered"] == 1).await;
    report_cpu(&f, &token, 70.0, 500).await;
    poll(&f, "/api/alerts/notifiers", |b| b[1]["delivered"] == 2).await;

    // Silent for six intervals: offline; its next report resolves it.
    let offline = alerts
        .tick(Timestamp::now().add_millis(30_000))
        .await
        .unwrap();
    assert_eq!(offline.len(), 1, "{offline:?}");
    assert_eq!(offline[0].rule_id, "host_offline");
    // (Dated after the tick's time, which the test moved 30 s ahead.)
    report_cpu(&f, &token, 70.0, -31_000).await;
    let notifiers = poll(&f, "/api/alerts/notifiers", |b| b[1]["delivered"] == 4).await;
    assert_eq!(notifiers[0]["notifier"], "webhook:hung");
    assert_eq!(notifiers[0]["delivered"], 0, "{notifiers}");
    assert!(notifiers[0]["queued"].as_u64().unwrap() >= 1, "{notifiers}");
    let sent: Vec<(String, String)> = got
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            let v: Value = serde_json::from_slice(b).unwrap();
            (
                v["event"]["rule_name"].as_str().unwrap().to_owned(),
                v["event"]["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("cpu hot", "firing"),
        ("cpu hot", "resolved"),
        ("host offline", "firing"),
        ("host offline", "resolved"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(sent, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Posts a report of `srv-01` dated `ago_ms` ago with the whole machine's
/// CPU at `cpu` percent.
#[tokio::test]
async fn a_report_refused_as_a_conflict_does_not_reach_the_rules() {
    let dir = std::env::temp_dir().join(format!("monitor-conflict-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, _alerts, _store) = fixture_with_alerts(&dir, Default::default()).await;
    let token = register(&f, "srv-01").await;
    // Another program's report at the agent's millisecond, over the
    // threshold: refused, and no alert from it.
    let t = Timestamp::now().add_millis(-5_000);
    let mut cool = snapshot("srv-01", t);
    cool.metrics[0].samples[0].value = 10.0;
    let mut clash = snapshot("srv-01", t);
    clash.metrics[0].samples[0].value = 98.0;
    for (s, want) in [(cool, StatusCode::OK), (clash, StatusCode::CONFLICT)] {
        let req = post(
            "/api/metrics",
            &[("x-auth-token", &token)],
            wire::encode(&s).unwrap(),
        );
        assert_eq!(call(&f.app, req).await.0, want);
    }
    // The next real report is the one that fires, with its own value.
    report_cpu(&f, &token, 99.0, 0).await;
    let events = poll(&f, "/api/alerts/events?server_id=srv-01", |b| {
        !b.as_array().unwrap().is_empty()
    })
    .await;
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["state"], "firing");
    assert_eq!(events[0]["value"], 99.0, "not the refused report's 98");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn report_cpu(f: &Fixture, token: &str, cpu: f64, ago_ms: i64) {
    let mut s = snapshot("srv-01", Timestamp::now().add_millis(-ago_ms));
    s.metrics[0].samples[0].value = cpu;
    let req = post(
        "/api/metrics",
        &[("x-auth-token", token)],
        wire::encode(&s).unwrap(),
    );
    assert_eq!(call(&f.app, req).await.0, StatusCode::OK);
}

fn notify_options(hook: &Arc<dyn monitor_core::Notifier>) -> monitor_server::alerts::AlertOptions {
    monitor_server::alerts::AlertOptions {
        notifiers: vec![Arc::clone(hook)],
        dashboard_url: Some("https://monitor.example".into()),
        retry_base: std::time::Duration::from_millis(50),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_flaky_receiver_gets_each_transition_once() {
    let (hook, got) = hook_receiver(2).await;
    let dir = std::env::temp_dir().join(format!("monitor-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, alerts, store) = fixture_with_alerts(&dir, notify_options(&hook)).await;
    let token = register(&f, "srv-01").await;
    report_cpu(&f, &token, 99.0, 2_000).await;
    let status = poll(&f, "/api/alerts/notifiers", |b| b[0]["delivered"] == 1).await;
    assert_eq!(status[0]["failed"], 0, "{status}");
    assert_eq!(status[0]["notifier"], "webhook:ops");
    {
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 3, "two failures, then the delivery");
        assert!(
            got.windows(2).all(|w| w[0] == w[1]),
            "the same notification each time"
        );
        let sent: serde_json::Value = serde_json::from_slice(&got[2]).unwrap();
        assert_eq!(sent["event"]["state"], "firing");
        assert_eq!(
            sent["dashboard_url"],
            "https://monitor.example/#/server/srv-01"
        );
    }
    // A restart sends nothing again for the same firing alert.
    drop(alerts);
    drop(f);
    monitor_core::Store::shutdown(&*store).await.unwrap();
    drop(store);
    let (f, _alerts, _store) = fixture_with_alerts(&dir, notify_options(&hook)).await;
    report_cpu(&f, &token, 99.0, 1_000).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(got.lock().unwrap().len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits up to 5 s for `done` to hold for what a receiver got.
async fn received(got: &Received, done: impl Fn(&[Vec<u8>]) -> bool) -> Vec<Vec<u8>> {
    for _ in 0..100 {
        if done(&got.lock().unwrap()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    got.lock().unwrap().clone()
}

/// A receiver down for longer than six attempts (the old retries gave up
/// there, and the notification was lost) gets it when it is back, the
/// same notification each time, with the same idempotency key.
#[tokio::test]
async fn a_receiver_down_through_many_retries_gets_the_notification() {
    let (hook, got) = hook_receiver(8).await;
    let dir = std::env::temp_dir().join(format!("monitor-down-long-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = monitor_server::alerts::AlertOptions {
        notifiers: vec![Arc::clone(&hook)],
        retry_base: std::time::Duration::from_millis(5),
        ..Default::default()
    };
    let (f, _alerts, _store) = fixture_with_alerts(&dir, options).await;
    let token = register(&f, "srv-01").await;
    report_cpu(&f, &token, 99.0, 1_000).await;
    let status = poll(&f, "/api/alerts/notifiers", |b| b[0]["delivered"] == 1).await;
    assert_eq!(status[0]["failed"], 0, "{status}");
    assert_eq!(status[0]["queued"], 0, "{status}");
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 9, "eight failures, then the delivery");
    assert!(got.windows(2).all(|w| w[0] == w[1]), "the same each time");
    let sent: Value = serde_json::from_slice(&got[0]).unwrap();
    assert_eq!(
        sent["delivery_id"].as_str().map(str::len),
        Some(32),
        "{sent}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A notification waiting for a receiver that is down survives a restart
/// of the server (it lived in memory, and a restart lost it) and goes out
/// when the receiver is back.
#[tokio::test]
async fn a_queued_notification_survives_a_restart() {
    let (down, tried) = hook_receiver(usize::MAX).await;
    let dir = std::env::temp_dir().join(format!("monitor-outbox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, alerts, store) = fixture_with_alerts(&dir, notify_options(&down)).await;
    let token = register(&f, "srv-01").await;
    report_cpu(&f, &token, 99.0, 1_000).await;
    let status = poll(&f, "/api/alerts/notifiers", |b| {
        b[0]["queued"] == 1 && b[0]["last_error"].is_string()
    })
    .await;
    assert_eq!(status[0]["delivered"], 0, "{status}");
    assert!(status[0]["oldest_queued"].is_string(), "{status}");
    drop(alerts);
    drop(f);
    monitor_core::Store::shutdown(&*store).await.unwrap();
    drop(store);

    // The same notifier (by name), its receiver back.
    let (up, got) = hook_receiver(0).await;
    let (f, _alerts, _store) = fixture_with_alerts(&dir, notify_options(&up)).await;
    let status = poll(&f, "/api/alerts/notifiers", |b| b[0]["delivered"] == 1).await;
    assert_eq!(status[0]["queued"], 0, "{status}");
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let sent: Value = serde_json::from_slice(&got[0]).unwrap();
    assert_eq!(sent["event"]["state"], "firing");
    let first: Value = serde_json::from_slice(&tried.lock().unwrap()[0]).unwrap();
    assert_eq!(
        sent["delivery_id"], first["delivery_id"],
        "one key for all attempts"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// While the store refuses writes, a transition is kept and written (and
/// notified) when it answers again: before, the event was lost (and the
/// alert notified without one).
#[tokio::test]
async fn a_store_outage_delays_a_transition_and_loses_nothing() {
    let store = Arc::new(monitor_core::testing::MemoryStore::new());
    let admin = Token::from_secret("smk_adm_test_admin_token_0123456789").unwrap();
    let hub = AppState::new(store.clone(), &admin, None).stream_hub();
    monitor_core::Catalog::register_server(
        &*store,
        monitor_core::catalog::NewServer {
            id: ServerId::new("srv-01").unwrap(),
            name: String::new(),
            tags: vec![],
            token_hash: Token::from_secret("smk_ing_srv_01_token_000000000000")
                .unwrap()
                .hash(),
            created: Timestamp::now(),
        },
    )
    .await
    .unwrap();
    let (hook, got) = hook_receiver(0).await;
    let alerts = monitor_server::alerts::Alerts::start(store.clone(), hub, notify_options(&hook))
        .await
        .unwrap();

    store.fail_writes(true);
    let mut s = snapshot("srv-01", Timestamp::now());
    s.metrics[0].samples[0].value = 99.0;
    alerts.evaluate(&s);
    // The engine's task tries, then each tick.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(alerts.tick(Timestamp::now()).await.is_err(), "writes fail");
    assert!(
        got.lock().unwrap().is_empty(),
        "not told before it is stored"
    );

    store.fail_writes(false);
    alerts.tick(Timestamp::now()).await.unwrap();
    let events = monitor_core::Catalog::alert_events(&*store, &Default::default())
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].state, monitor_core::AlertState::Firing);
    assert_eq!(received(&got, |g| !g.is_empty()).await.len(), 1);
    // Nothing owed: the next ticks tell nothing again.
    alerts.tick(Timestamp::now()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(got.lock().unwrap().len(), 1);
    let states = monitor_core::Catalog::alert_states(&*store).await.unwrap();
    assert!(
        states.iter().any(|r| r.last_notified.is_some()),
        "the notified mark is saved: {states:?}"
    );
}

/// A receiver that answers 503 while `up` is false; each request's body
/// and whether it was accepted.
async fn switched_receiver() -> (
    Arc<dyn monitor_core::Notifier>,
    Arc<std::sync::Mutex<Vec<(Value, bool)>>>,
    Arc<std::sync::atomic::AtomicBool>,
) {
    let got: Arc<std::sync::Mutex<Vec<(Value, bool)>>> = Arc::default();
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (seen, on) = (Arc::clone(&got), Arc::clone(&up));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let (seen, on) = (Arc::clone(&seen), Arc::clone(&on));
            async move {
                let accepted = on.load(std::sync::atomic::Ordering::SeqCst);
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                seen.lock().unwrap().push((body, accepted));
                if accepted {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (webhook_to("switched", url, 2), got, up)
}

/// A receiver down through many transitions (ten minutes compressed: the
/// retries' backoff grows to seconds meanwhile), then back: every
/// transition is delivered, in the order it happened, each once; the
/// attempts before were the same notifications (same keys).
#[tokio::test]
async fn a_receiver_down_ten_minutes_gets_every_transition_once_in_order() {
    let (hook, got, up) = switched_receiver().await;
    let dir = std::env::temp_dir().join(format!("monitor-down-ten-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = monitor_server::alerts::AlertOptions {
        notifiers: vec![hook],
        retry_base: std::time::Duration::from_millis(20),
        ..Default::default()
    };
    let (f, _alerts, _store) = fixture_with_alerts(&dir, options).await;
    let token = register(&f, "srv-01").await;
    // Fire, resolve, fire, resolve, fire: five transitions while down.
    for (i, cpu) in [99.0, 10.0, 99.0, 10.0, 99.0].into_iter().enumerate() {
        report_cpu(&f, &token, cpu, 10_000 - i as i64 * 1000).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let tried = got.lock().unwrap().len();
    assert!(tried >= 3, "retried while down: {tried} attempts");
    let status = poll(&f, "/api/alerts/notifiers", |b| b[0]["queued"] == 5).await;
    assert_eq!(status[0]["delivered"], 0, "{status}");

    up.store(true, std::sync::atomic::Ordering::SeqCst);
    // Within the backoff reached (a few seconds).
    let mut status = Value::Null;
    for _ in 0..60 {
        status = poll(&f, "/api/alerts/notifiers", |_| true).await;
        if status[0]["delivered"] == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(status[0]["delivered"], 5, "{status}");
    assert_eq!(status[0]["queued"], 0, "{status}");
    assert_eq!(status[0]["failed"], 0, "{status}");
    let got = got.lock().unwrap().clone();
    let delivered: Vec<&Value> = got.iter().filter(|(_, ok)| *ok).map(|(b, _)| b).collect();
    let states: Vec<&str> = delivered
        .iter()
        .map(|b| b["event"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["firing", "resolved", "firing", "resolved", "firing"]
    );
    let keys: std::collections::HashSet<&str> = delivered
        .iter()
        .map(|b| b["delivery_id"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 5, "five notifications, none twice");
    for (body, _) in got.iter().filter(|(_, ok)| !*ok) {
        let key = body["delivery_id"].as_str().unwrap();
        assert!(
            keys.contains(key),
            "an attempt of another notification: {body}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tick's catch-up running between an evaluation and the write of its
/// firing transition must not make a second notification.
#[tokio::test]
async fn a_tick_racing_a_transition_notifies_once() {
    let (hook, got) = hook_receiver(0).await;
    let dir = std::env::temp_dir().join(format!("monitor-race-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, alerts, _store) = fixture_with_alerts(&dir, notify_options(&hook)).await;
    register(&f, "srv-01").await;
    for round in 0..20 {
        let mut s = snapshot("srv-01", Timestamp::now());
        s.metrics[0].samples[0].value = if round % 2 == 0 { 99.0 } else { 10.0 };
        alerts.evaluate(&s);
        alerts.tick(Timestamp::now()).await.unwrap();
    }
    let status = poll(&f, "/api/alerts/notifiers", |b| b[0]["delivered"] == 20).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let got = got.lock().unwrap();
    let states: Vec<String> = got
        .iter()
        .map(|b| {
            let v: Value = serde_json::from_slice(b).unwrap();
            v["event"]["state"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(got.len(), 20, "{status} {states:?}");
    assert!(
        states.chunks(2).all(|c| c == ["firing", "resolved"]),
        "{states:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_silence_holds_notifications_until_it_ends() {
    let (hook, got) = hook_receiver(0).await;
    let dir = std::env::temp_dir().join(format!("monitor-silence-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, alerts, _store) = fixture_with_alerts(&dir, notify_options(&hook)).await;
    let token = register(&f, "srv-01").await;
    let silence = |body: Value| post("/api/alerts/silences", &[], body.to_string());
    let in_an_hour = Timestamp::now().add_millis(3_600_000).to_rfc3339();
    let (status, body) = call(&f.app, silence(json!({"until": in_an_hour}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "invalid_silence");
    let (status, _) = call(&f.app, silence(json!({"server_id": "srv-01", "until": 1}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "in the past");
    let (status, created) = call(
        &f.app,
        silence(json!({"server_id": "srv-01", "until": in_an_hour, "comment": "maintenance"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, list) = call(&f.app, get("/api/alerts/silences", &[])).await;
    assert_eq!(list[0]["comment"], "maintenance");

    // Firing under the silence: recorded, not sent.
    report_cpu(&f, &token, 99.0, 1_000).await;
    poll(&f, "/api/alerts/firing", |b| {
        b.as_array().unwrap().len() == 1
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(got.lock().unwrap().is_empty());

    // The silence ends: the still-firing alert is told at the next tick.
    let id = created["id"].as_str().unwrap();
    let req = Request::delete(format!("/api/alerts/silences/{id}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&f.app, req).await.0, StatusCode::NO_CONTENT);
    alerts.tick(Timestamp::now()).await.unwrap();
    poll(&f, "/api/alerts/notifiers", |b| b[0]["delivered"] == 1).await;
    let sent: Value = serde_json::from_slice(&got.lock().unwrap()[0]).unwrap();
    assert_eq!(sent["event"]["state"], "firing");
    assert_eq!(sent["repeat"], false);
    alerts.tick(Timestamp::now()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(got.lock().unwrap().len(), 1, "told once");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn call_text(app: &axum::Router, req: Request<Body>) -> (StatusCode, String, String) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

/// What `promtool check metrics` says of an exposition: None when it is
/// clean. Without promtool the check is skipped, unless
/// MONITOR_REQUIRE_PROMETHEUS is set (scripts/test.sh installs it).
fn promtool_problems(text: &str) -> Option<String> {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            assert!(
                std::env::var_os("MONITOR_REQUIRE_PROMETHEUS").is_none(),
                "promtool is required: {e}"
            );
            eprintln!("skipped: promtool not installed ({e})");
            return None;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (!out.status.success() || !said.trim().is_empty()).then_some(said)
}

#[tokio::test]
async fn metrics_show_every_reporting_host_and_the_servers_health() {
    let f = fixture(None).await;
    let token = register(&f, "srv-01").await;
    register(&f, "srv-02").await;
    let mut s = snapshot("srv-01", Timestamp::now());
    let mut c = Collection::new();
    c.counter(
        "network_receive_bytes_total",
        Unit::BYTES,
        Labels::new().with("interface", "eth0"),
        123456.0,
    );
    c.gauge(
        "jobs_waiting",
        Unit::NONE,
        Labels::new().with("queue", "mail"),
        7.0,
    );
    // A plugin metric named like one of the server's own: Prometheus would
    // refuse the whole scrape with the name twice.
    c.gauge("monitor_host_up", Unit::NONE, Labels::new(), 0.0);
    s.metrics.extend(c.families);
    let body = wire::encode_batch(&[s]).unwrap();
    let (status, _) = call(
        &f.app,
        post("/api/metrics", &[("x-auth-token", &token)], body),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &f.app,
        post("/api/metrics", &[("x-auth-token", "wrong")], "{}"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, content_type, text) = call_text(&f.app, get("/metrics", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    for expected in [
        "# TYPE cpu_usage_percent gauge\ncpu_usage_percent{server_id=\"srv-01\"} 42.5\n",
        "filesystem_used_percent{server_id=\"srv-01\",mountpoint=\"/\"} 70\n",
        "# TYPE network_receive_bytes_total counter\nnetwork_receive_bytes_total{server_id=\"srv-01\",interface=\"eth0\"} 123456\n",
        // A plugin's metric, with a help line made for it.
        "# HELP jobs_waiting jobs_waiting (reported by a monitor agent).\n# TYPE jobs_waiting gauge\njobs_waiting{server_id=\"srv-01\",queue=\"mail\"} 7\n",
        "monitor_host_up{server_id=\"srv-01\"} 1\nmonitor_host_up{server_id=\"srv-02\"} 0\n",
        "monitor_ingest_requests_total{outcome=\"accepted\"} 1\n",
        "monitor_ingest_requests_total{outcome=\"unauthorized\"} 1\n",
        "monitor_ingest_snapshots_total 1\n",
        "# TYPE monitor_ingest_duration_seconds histogram\n",
        "monitor_ingest_duration_seconds_count 1\n",
        "monitor_stream_clients 0\n",
        "monitor_ingest_bytes_in_flight 0\n",
        "monitor_ingest_bytes_in_flight_limit 33554432\n",
        "monitor_store_commit_duration_seconds_count 1\n",
        "monitor_store_reports_total 1\n",
        "monitor_store_queue_capacity 1024\n",
        "# TYPE process_resident_memory_bytes gauge\n",
        "monitor_build_info{version=\"",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    // srv-02 never reported: it is down, and has no values.
    assert!(!text.contains("cpu_usage_percent{server_id=\"srv-02\"}"));
    assert!(!text.contains("monitor_host_last_report_timestamp_seconds{server_id=\"srv-02\"}"));
    assert_eq!(promtool_problems(&text), None, "{text}");
}

#[tokio::test]
async fn metrics_need_the_read_token_when_there_is_one() {
    let f = fixture(Some("smk_dsh_dashboard_token_0123456789")).await;
    let (status, _, _) = call_text(&f.app, get("/metrics", &[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call_text(
        &f.app,
        get("/metrics", &[("authorization", "Bearer wrong")]),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let admin = format!("Bearer {}", f.admin.expose());
    for headers in [
        [("authorization", "Bearer smk_dsh_dashboard_token_0123456789")],
        [("x-dashboard-token", "smk_dsh_dashboard_token_0123456789")],
        [("authorization", admin.as_str())],
    ] {
        let (status, _, text) = call_text(&f.app, get("/metrics", &headers)).await;
        assert_eq!(status, StatusCode::OK, "{headers:?}");
        assert!(text.contains("monitor_build_info"));
    }
}

/// One agent token sending fresh series at every report: accepted up to
/// `limits.max_series_per_server` (it was without limit), then 422
/// `too_many_series` naming the limit, counted on /metrics; and history of
/// that metric answers (it was 500 once its series passed SQLite's 32,766
/// parameters), within the point budget; a step of one second over a week
/// is widened to the point cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_cannot_flood_series_or_break_history() {
    let f = fixture(None).await;
    let token = register(&f, "flood-01").await;
    let now = Timestamp::now();
    let report = |r: usize| {
        let mut c = Collection::new();
        for i in r * 2000..(r + 1) * 2000 {
            c.gauge(
                "filesystem_used_percent",
                Unit::PERCENT,
                Labels::new().with("mountpoint", format!("/random/{i}")),
                50.0,
            );
        }
        let mut s = Snapshot::new(
            ServerId::new("flood-01").unwrap(),
            now.add_millis(r as i64 * 1000 - 60_000),
            c,
        );
        s.interval_secs = Some(1.0);
        wire::encode(&s).unwrap()
    };
    for r in 0..5 {
        let (status, body) = call(
            &f.app,
            post("/api/metrics", &[("x-auth-token", &token)], report(r)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "report {r}: {body}");
    }
    let (status, body) = call(
        &f.app,
        post("/api/metrics", &[("x-auth-token", &token)], report(5)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "too_many_series");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("limits.max_series_per_server") && message.contains("10000"),
        "{message}"
    );
    let response = f.app.clone().oneshot(get("/metrics", &[])).await.unwrap();
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains("monitor_store_series_refused_total 1"),
        "{text}"
    );
    // History of the flooded metric: every series, within the budget.
    let (status, body) = call(
        &f.app,
        get(
            "/api/metrics/history?server_id=flood-01&metric=filesystem_used_percent",
            &[],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 10_000);
    let points: usize = series
        .iter()
        .map(|s| s["points"].as_array().unwrap().len())
        .sum();
    assert!(
        points <= monitor_core::store::MAX_HISTORY_POINTS,
        "{points}"
    );
    // A step of one second over a week asks for 604,800 buckets per series.
    let from = now.add_millis(-7 * 86_400_000).as_millis() / 1000;
    let (status, body) = call(
        &f.app,
        get(
            &format!("/api/metrics/history?server_id=flood-01&metric=cpu_usage_percent&from={from}&step=1"),
            &[],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["step_secs"].as_u64().unwrap() >= 7, "{body}");
}

/// A full disk (the database's size limit, which SQLite reports the same
/// way): ingest answers 507 `storage_full` (it was 503), `/api/health`
/// says writes are failing, and what was stored is still read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_507_and_health_says_writes_fail() {
    let dir = std::env::temp_dir().join(format!("monitor-api-full-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut options = StoreOptions::sqlite(dir.join("db"));
    options.max_size_bytes = Some(400 << 10);
    let store = Arc::new(SqlStore::open(options).await.unwrap());
    let admin = Token::from_secret("smk_adm_test_admin_token_0123456789").unwrap();
    let f = Fixture {
        app: router(AppState::new(store, &admin, None)),
        admin,
        _dir: Dir(dir),
    };
    let token = register(&f, "full-01").await;
    let now = Timestamp::now();
    let mut sent = 0;
    let (status, body) = loop {
        let mut c = Collection::new();
        for i in 0..200 {
            c.gauge(
                "filesystem_used_percent",
                Unit::PERCENT,
                Labels::new().with("mountpoint", format!("/m/{}", sent * 200 + i)),
                1.0,
            );
        }
        let s = Snapshot::new(
            ServerId::new("full-01").unwrap(),
            now.add_millis(sent as i64 * 1000 - 3_000_000),
            c,
        );
        let (status, body) = call(
            &f.app,
            post(
                "/api/metrics",
                &[("x-auth-token", &token)],
                wire::encode(&s).unwrap(),
            ),
        )
        .await;
        if status != StatusCode::OK {
            break (status, body);
        }
        sent += 1;
        assert!(sent < 10_000, "the database never filled");
    };
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
    assert_eq!(body["error"], "storage_full");
    let (status, health) = call(&f.app, get("/api/health", &[])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["database"], "reachable");
    assert_eq!(health["writes"], "failing");
    let (status, _) = call(&f.app, get("/api/servers/full-01/series", &[])).await;
    assert_eq!(status, StatusCode::OK, "reads still work");
}
