//! The status part of the API (`monitor-server/src/api/status.rs`) through
//! the router, without a socket, on a real SQLite store: health, `/metrics`,
//! the live stream, the OpenAPI document and request timeouts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_common;
mod common;

use api_common::{Fixture, call, fixture, fixture_with, get, post, register, snapshot};
use common::Dir;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use monitor_core::{Collection, Labels, Timestamp, Unit, wire};
use monitor_server::api::{AppState, router};
use monitor_server::auth::Token;
use monitor_server::config::{LimitSettings, StreamSettings};
use monitor_store::{SqlStore, StoreOptions};
use serde_json::Value;
use tower::ServiceExt;

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

/// `docs/openapi.json` is the document this build serves: the dashboard's
/// TypeScript types are generated from it (`npm run types` in
/// `monitor-server/web`), and readers of the repository find it there.
/// `MONITOR_UPDATE_OPENAPI=1 cargo test -p monitor-server --test api_status`
/// writes it anew after a change of the API.
#[tokio::test]
async fn the_committed_openapi_document_is_the_one_served() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let f = fixture(None).await;
    let (status, served) = call(&f.app, get("/api/openapi.json", &[])).await;
    assert_eq!(status, StatusCode::OK);
    let mut text = serde_json::to_string_pretty(&served).unwrap();
    text.push('\n');
    if std::env::var_os("MONITOR_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "docs/openapi.json is not the document this build serves: run \
         `MONITOR_UPDATE_OPENAPI=1 cargo test -p monitor-server --test api_status` \
         and then `npm run types` in monitor-server/web, and commit both"
    );
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
        // Built-in metrics under the monitor_ namespace, percentages as ratios.
        "# TYPE monitor_cpu_usage_ratio gauge\nmonitor_cpu_usage_ratio{server_id=\"srv-01\"} 0.425\n",
        "monitor_filesystem_used_ratio{server_id=\"srv-01\",mountpoint=\"/\"} 0.7\n",
        "# TYPE monitor_network_receive_bytes_total counter\nmonitor_network_receive_bytes_total{server_id=\"srv-01\",interface=\"eth0\"} 123456\n",
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
    assert!(!text.contains("monitor_cpu_usage_ratio{server_id=\"srv-02\"}"));
    assert!(!text.contains("\ncpu_usage_percent"), "{text}");
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
