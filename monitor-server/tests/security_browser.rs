//! Attacks through the router, each as an attacker would try it, and what
//! must hold (docs/security.md), from a web page in the operator's browser
//! or a rebound host name: a web page cannot write through the operator's
//! browser, a rebound host name gets nothing, a token in the address is
//! refused, and no answer grants CORS. A token's holder or guesser is in
//! `security_tokens.rs`, exhaustion in `security_limits.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod security_common;

use security_common::{app, call, request, tokens};
use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use monitor_core::Catalog;
use monitor_core::testing::MemoryStore;
use tower::ServiceExt;

const SILENCE: &str = r#"{"server_id":"local","until":"2099-01-01T00:00:00Z"}"#;

#[tokio::test]
async fn a_web_page_cannot_write_through_the_operators_browser() {
    let t = tokens();
    let store = Arc::new(MemoryStore::new());
    let app = app(&t, false, store.clone());
    // What a page on another site can send without asking: a "simple"
    // POST, text/plain, with its Origin.
    let (status, body) = call(
        &app,
        request(
            "POST",
            "/api/alerts/silences",
            &[
                ("content-type", "text/plain;charset=UTF-8"),
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:8001"),
            ],
            Body::from(SILENCE),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "cross_origin");
    // Without an Origin (an old browser, a form): the body type is refused.
    for (path, payload) in [
        ("/api/alerts/silences", SILENCE),
        (
            "/api/alerts",
            r#"{"cpu_total_percent":100,"memory_used_percent":100,"disk_used_percent":100}"#,
        ),
        (
            "/api/alerts/rules",
            r#"{"name":"x","metric":"x","op":">","threshold":1}"#,
        ),
        (
            "/api/alerts/preview",
            r#"{"metric":"x","op":">","threshold":1}"#,
        ),
    ] {
        for content_type in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            let (status, body) = call(
                &app,
                request(
                    "POST",
                    path,
                    &[("content-type", content_type)],
                    Body::from(payload),
                ),
            )
            .await;
            assert_eq!(
                status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{path} {content_type}: {body}"
            );
            assert_eq!(body["error"], "unsupported_media_type");
        }
    }
    // JSON from a foreign origin: refused too (a preflight would stop a
    // browser first; this holds without one).
    let (status, body) = call(
        &app,
        request(
            "POST",
            "/api/alerts/silences",
            &[
                ("content-type", "application/json"),
                ("origin", "http://evil.example:8001"),
            ],
            Body::from(SILENCE),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        store.setting("silences").await.unwrap().is_none(),
        "nothing was written"
    );
    let (_, thresholds) = call(&app, request("GET", "/api/alerts", &[], Body::empty())).await;
    assert_ne!(thresholds["cpu_total_percent"], 100.0, "{thresholds}");
    // The original's curl command, and the server's own page, still write.
    let (status, body) = call(
        &app,
        request(
            "POST",
            "/api/alerts",
            &[("content-type", "application/json")],
            Body::from(
                r#"{"cpu_total_percent": 85, "memory_used_percent": 80, "disk_used_percent": 90}"#,
            ),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        &app,
        request(
            "POST",
            "/api/alerts/silences",
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("origin", "http://127.0.0.1:8001"),
                ("host", "127.0.0.1:8001"),
            ],
            Body::from(SILENCE),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Behind nginx the page's name is listed in allowed_hosts.
    let (status, body) = call(
        &app,
        request(
            "POST",
            "/api/alerts/silences",
            &[
                ("content-type", "application/json"),
                ("origin", "https://monitor.example"),
                ("host", "monitor.example"),
            ],
            Body::from(SILENCE),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_rebound_host_name_gets_nothing() {
    let t = tokens();
    let app = app(&t, false, Arc::new(MemoryStore::new()));
    // evil.example resolves to 127.0.0.1 after the page loaded: the page is
    // "same origin" with the server, and its requests say Host: evil.example.
    for (method, path) in [
        ("GET", "/api/servers"),
        ("GET", "/api/alerts"),
        ("GET", "/metrics"),
        ("GET", "/"),
        ("GET", "/api/health"),
    ] {
        let (status, body) = call(
            &app,
            request(
                method,
                path,
                &[("host", "evil.example:8001")],
                Body::empty(),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"], "host_not_allowed");
        assert!(
            body["message"].as_str().unwrap().contains("allowed_hosts"),
            "{body}"
        );
    }
    let (status, _) = call(
        &app,
        request("GET", "http://evil.example/api/servers", &[], Body::empty()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an absolute-form target");
    for host in [
        "127.0.0.1:8001",
        "localhost:8001",
        "[::1]:8001",
        "10.1.2.3:8443",
        "monitor.example",
    ] {
        let (status, body) = call(
            &app,
            request("GET", "/api/servers", &[("host", host)], Body::empty()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
    }
    let response = app
        .clone()
        .oneshot(request("GET", "/api/servers", &[], Body::empty()))
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

/// RELIABILITY.md S5: a token in the address (`?token=`, `?access_token=`)
/// is refused on every API route, the live stream and `/metrics` included:
/// addresses end up in proxies' access logs and browser histories. (The
/// dashboard's page keeps its `/?token=`, which the page reads and removes
/// from the address bar; no request carries it to the API.)
#[tokio::test]
async fn a_token_in_the_address_is_refused() {
    let t = tokens();
    let app = app(&t, true, Arc::new(MemoryStore::new()));
    let secret = t.dashboard.expose().to_owned();
    for path in [
        format!("/api/servers?token={secret}"),
        format!("/api/stream?access_token={secret}"),
        format!("/metrics?token={secret}"),
        format!("/api/alerts/events?limit=5&Token={secret}"),
    ] {
        let (status, body) = call(&app, request("GET", &path, &[], Body::empty())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"], "token_in_url_forbidden", "{path}");
        assert!(
            !body.to_string().contains(&secret),
            "the answer repeats the token"
        );
    }
    // With the token in a header, the same reads work.
    let header = [("x-dashboard-token", secret.as_str())];
    let (status, _) = call(&app, request("GET", "/api/servers", &header, Body::empty())).await;
    assert_eq!(status, StatusCode::OK);
    // The page itself still takes ?token=.
    let (status, _) = call(
        &app,
        request("GET", &format!("/?token={secret}"), &[], Body::empty()),
    )
    .await;
    assert_ne!(status, StatusCode::BAD_REQUEST);
}

/// RELIABILITY.md W3: no answer grants a foreign web page anything through
/// CORS, preflight or not, with a token or without.
#[tokio::test]
async fn no_answer_grants_cross_origin_access() {
    let t = tokens();
    let app = app(&t, true, Arc::new(MemoryStore::new()));
    let evil = [("origin", "https://evil.example")];
    let dashboard = t.dashboard.expose().to_owned();
    for (method, path, headers) in [
        (
            "OPTIONS",
            "/api/servers",
            vec![
                ("origin", "https://evil.example"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "x-dashboard-token"),
            ],
        ),
        (
            "OPTIONS",
            "/api/alerts",
            vec![
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
        ),
        (
            "GET",
            "/api/servers",
            vec![evil[0], ("x-dashboard-token", dashboard.as_str())],
        ),
        ("GET", "/api/health", evil.to_vec()),
        (
            "GET",
            "/metrics",
            vec![evil[0], ("x-dashboard-token", dashboard.as_str())],
        ),
        ("GET", "/", evil.to_vec()),
    ] {
        let response = app
            .clone()
            .oneshot(request(method, path, &headers, Body::empty()))
            .await
            .unwrap();
        let granted: Vec<_> = response
            .headers()
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .collect();
        assert!(granted.is_empty(), "{method} {path}: {granted:?}");
    }
}
