//! `POST /api/metrics` (`monitor-server/src/api/ingest.rs`) through the
//! router, without a socket, on a real SQLite store: bad input, gzip, rate
//! limits, the ingest budget, the series cap, a locked or full database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_common;
mod common;

use api_common::{Fixture, call, fixture, fixture_with, get, post, register, snapshot};
use common::Dir;
use std::sync::Arc;

use axum::http::StatusCode;
use http_body_util::BodyExt;
use monitor_core::{Collection, Labels, ServerId, Snapshot, Timestamp, Unit, wire};
use monitor_server::api::{AppState, router};
use monitor_server::auth::Token;
use monitor_server::config::LimitSettings;
use monitor_store::{SqlStore, StoreOptions};
use serde_json::Value;
use tower::ServiceExt;

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

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body).unwrap();
    e.finish().unwrap()
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
