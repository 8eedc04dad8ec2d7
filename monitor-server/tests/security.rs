//! Attacks through the router, each as an attacker would try it, and what
//! must hold (docs/security.md): a web page cannot write through the
//! operator's browser, a rebound host name gets nothing, each token does
//! what its role allows and no more, a request is never read before its
//! token is checked, concurrent guesses get no more checks than the limit,
//! agents sharing an address with a guesser keep reporting, concurrent
//! scrapes share one render,
//! a second header does not bypass the per-token stream cap, concurrent
//! silence writes lose nothing, a token in the address is refused, no
//! answer grants CORS, and no token reaches the server's log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_core::Catalog;
mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use monitor_core::testing::MemoryStore;
use monitor_core::{AlertRule, Collection, Comparison, ServerId, Snapshot, Timestamp, wire};
use monitor_server::api::{AppState, router};
use monitor_server::auth::{Scope, Token};
use monitor_server::config::{LimitSettings, StreamSettings};
use monitor_server::guard::HostPolicy;
use monitor_server::limit::ClientAddr;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Tokens {
    admin: Token,
    dashboard: Token,
    read: Token,
}

fn tokens() -> Tokens {
    Tokens {
        admin: Token::generate(Scope::Admin).unwrap(),
        dashboard: Token::generate(Scope::Dashboard).unwrap(),
        read: Token::generate(Scope::Read).unwrap(),
    }
}

/// An app over a fresh in-memory store: open reads when `closed` is false,
/// else with the dashboard and read tokens of `t`.
fn app(t: &Tokens, closed: bool, store: Arc<MemoryStore>) -> axum::Router {
    let mut state = AppState::new(
        store,
        &t.admin,
        if closed { Some(&t.dashboard) } else { None },
    )
    .with_hosts(HostPolicy::new([], ["monitor.example".to_owned()]))
    .with_stream_limits(&StreamSettings {
        max_clients: 100,
        max_clients_per_token: 2,
        ..StreamSettings::default()
    });
    if closed {
        state = state.with_read_token(&t.read);
    }
    router(state)
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Body) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body).unwrap()
}

fn from(mut req: Request<Body>, ip: &str) -> Request<Body> {
    let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(ClientAddr(addr)));
    req
}

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

/// Which credential each documented operation needs.
fn needs(method: &str, path: &str) -> &'static str {
    match (method, path) {
        ("get", "/api/health" | "/api/openapi.json") => "none",
        ("post", "/api/metrics") => "agent",
        ("post", "/api/register" | "/api/servers/{id}/token") | ("delete", "/api/servers/{id}") => {
            "admin"
        }
        ("get", _) => "read",
        ("post" | "put" | "delete", p) if p.starts_with("/api/alerts") => "edit",
        other => panic!("{other:?} is not in the scope table: say what it needs"),
    }
}

#[tokio::test]
async fn each_token_does_what_its_role_allows_and_no_more() {
    let t = tokens();
    let app = app(&t, true, Arc::new(MemoryStore::new()));
    let (_, doc) = call(
        &app,
        request("GET", "/api/openapi.json", &[], Body::empty()),
    )
    .await;
    let wrong = "smk_dsh_not_a_token_of_this_server_0000".to_owned();
    let header = |k: &str, v: String| vec![(k.to_owned(), v)];
    let credentials: Vec<(&str, Vec<(String, String)>)> = vec![
        ("none", vec![]),
        ("wrong", header("x-dashboard-token", wrong)),
        (
            "read",
            header("x-dashboard-token", t.read.expose().to_owned()),
        ),
        (
            "read-bearer",
            header("authorization", format!("Bearer {}", t.read.expose())),
        ),
        (
            "dashboard",
            header("x-dashboard-token", t.dashboard.expose().to_owned()),
        ),
        (
            "admin",
            header("x-admin-token", t.admin.expose().to_owned()),
        ),
        (
            "admin-as-dashboard",
            header("x-dashboard-token", t.admin.expose().to_owned()),
        ),
    ];
    let mut checked = 0;
    for (path, methods) in doc["paths"].as_object().unwrap() {
        // (A path item's "parameters" are shared by its methods.)
        let methods = methods.as_object().unwrap().keys();
        for method in methods.filter(|k| *k != "parameters") {
            let need = needs(method, path);
            if need == "agent" {
                continue;
            }
            let uri = path.replace("{id}", "srv-x");
            for (who, headers) in &credentials {
                let mut h: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                h.push(("content-type", "application/json"));
                let req = request(&method.to_uppercase(), &uri, &h, Body::from("{}"));
                let (status, body) = if path == "/api/stream" {
                    // A stream does not end: its status is the answer.
                    let response = app.clone().oneshot(req).await.unwrap();
                    let status = response.status();
                    if status.is_success() {
                        (status, Value::Null)
                    } else {
                        let bytes = response.into_body().collect().await.unwrap().to_bytes();
                        (
                            status,
                            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                        )
                    }
                } else {
                    call(&app, req).await
                };
                let role = who.split('-').next().unwrap();
                let allowed = match need {
                    "none" => true,
                    "read" => matches!(role, "read" | "dashboard" | "admin"),
                    "edit" => matches!(role, "dashboard" | "admin"),
                    "admin" => role == "admin",
                    _ => unreachable!(),
                };
                let expected = if allowed {
                    "allowed"
                } else if matches!(role, "none" | "wrong") {
                    "401"
                } else {
                    "403"
                };
                let got = match status {
                    StatusCode::UNAUTHORIZED => "401",
                    StatusCode::FORBIDDEN => "403",
                    _ => "allowed",
                };
                assert_eq!(got, expected, "{who} {method} {uri}: {status} {body}");
                if got == "403" {
                    assert_eq!(body["error"], "insufficient_scope", "{body}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked}");
    // What each token learns of itself.
    for (token, role, edit) in [
        (t.read.expose(), "read", false),
        (t.dashboard.expose(), "dashboard", true),
        (t.admin.expose(), "admin", true),
    ] {
        let (status, body) = call(
            &app,
            request(
                "GET",
                "/api/access",
                &[("x-dashboard-token", token)],
                Body::empty(),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["role"], role);
        assert_eq!(body["change_alerts"], edit);
    }
}

/// A gzip body that inflates to 32 MiB, far over the limit: read and
/// inflated before the token check, it would be answered 413
/// `body_too_large`, as it was before the check came first.
fn bomb() -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![b' '; 32 << 20]).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn a_body_is_never_read_before_its_token_is_checked() {
    let t = tokens();
    let app = app(&t, true, Arc::new(MemoryStore::new()));
    let bomb = bomb();
    assert!(bomb.len() < 64 << 10);
    for (path, headers, expected) in [
        (
            "/api/register",
            vec![("x-admin-token", "smk_adm_a_wrong_admin_token_000000")],
            "unauthorized",
        ),
        ("/api/register", vec![], "unauthorized"),
        (
            "/api/metrics",
            vec![("x-auth-token", "smk_ing_a_wrong_agent_token_000000")],
            "unauthorized",
        ),
        ("/api/metrics", vec![("x-auth-token", "")], "unauthorized"),
        (
            "/api/alerts/silences",
            vec![("x-dashboard-token", t.read.expose())],
            "insufficient_scope",
        ),
    ] {
        let mut h = headers.clone();
        h.extend([
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ]);
        let (status, body) = call(&app, request("POST", path, &h, Body::from(bomb.clone()))).await;
        assert_eq!(body["error"], expected, "{path}: {status} {body}");
    }
    // With the right token the same body is read, and refused for its size.
    let (status, body) = call(
        &app,
        request(
            "POST",
            "/api/register",
            &[
                ("x-admin-token", t.admin.expose()),
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            Body::from(bomb.clone()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // From one address, the wrong-token answers stop at the limit: 429.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let (status, _) = call(
            &app,
            from(
                request(
                    "POST",
                    "/api/register",
                    &[
                        ("content-type", "application/json"),
                        ("content-encoding", "gzip"),
                    ],
                    Body::from(bomb.clone()),
                ),
                "203.0.113.9",
            ),
        )
        .await;
        statuses.push(status.as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        30,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        10,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_tokens_get_no_more_checks_than_the_limit() {
    let t = tokens();
    let store = Arc::new(MemoryStore::new());
    let state = AppState::new(store, &t.admin, Some(&t.dashboard)).with_limits(&LimitSettings {
        failed_auth_per_minute: 30,
        ..LimitSettings::default()
    });
    let app = router(state);
    let tries = (0..300).map(|i| {
        let app = app.clone();
        async move {
            let req = from(
                request(
                    "POST",
                    "/api/register",
                    &[
                        ("x-admin-token", &format!("smk_adm_guess_number_{i:08}")),
                        ("content-type", "application/json"),
                    ],
                    Body::from("{}"),
                ),
                "198.51.100.7",
            );
            app.oneshot(req).await.unwrap().status()
        }
    });
    let statuses = futures_util::future::join_all(tries).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (30, 270), "{statuses:?}");
    // Another address is not held back; a right token from it works.
    let (status, _) = call(
        &app,
        from(
            request(
                "POST",
                "/api/register",
                &[
                    ("x-admin-token", t.admin.expose()),
                    ("content-type", "application/json"),
                ],
                Body::from(r#"{"server_id":"ok-1"}"#),
            ),
            "198.51.100.8",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // An IPv6 client counts per /64: a fresh address per guess gains nothing.
    let mut statuses = Vec::new();
    for i in 0..31 {
        let (status, _) = call(
            &app,
            from(
                request(
                    "GET",
                    "/api/servers",
                    &[("x-dashboard-token", "smk_dsh_wrong_guess_0000000")],
                    Body::empty(),
                ),
                &format!("[2001:db8:7:7::{i:x}]"),
            ),
        )
        .await;
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

/// Agents behind one address (NAT, a proxy): a guesser there used up the
/// address's allowance and every agent's report got 429 with it, and more
/// than `failed_auth_per_minute` right reports at once got 429 too (the
/// allowance is reserved before each check). A token the server checked a
/// moment ago takes nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agents_sharing_an_address_with_a_guesser_keep_reporting() {
    let t = tokens();
    let store = Arc::new(MemoryStore::new());
    let state = AppState::new(store, &t.admin, Some(&t.dashboard)).with_limits(&LimitSettings {
        failed_auth_per_minute: 5,
        ..LimitSettings::default()
    });
    let app = router(state);
    const NAT: &str = "203.0.113.9";
    let report = |id: String, token: String, ms: i64| {
        let snapshot = Snapshot::new(
            ServerId::new(&id).unwrap(),
            Timestamp::now().add_millis(-ms),
            Collection::new(),
        );
        from(
            request(
                "POST",
                "/api/metrics",
                &[
                    ("x-auth-token", &token),
                    ("content-type", "application/json"),
                ],
                Body::from(wire::encode(&snapshot).unwrap()),
            ),
            NAT,
        )
    };
    let mut agents = Vec::new();
    for i in 0..40 {
        let id = format!("nat-{i:02}");
        let (status, body) = call(
            &app,
            request(
                "POST",
                "/api/register",
                &[
                    ("x-admin-token", t.admin.expose()),
                    ("content-type", "application/json"),
                ],
                Body::from(json!({ "server_id": id }).to_string()),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        agents.push((id, body["token"].as_str().unwrap().to_owned()));
    }
    // Each agent's first report, one after another: each token checked.
    for (id, token) in &agents {
        let (status, body) = call(&app, report(id.clone(), token.clone(), 2000)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // A guesser behind the same address uses up its allowance.
    let mut guesses = Vec::new();
    for i in 0..10 {
        let token = format!("smk_agt_guess_number_{i:08}");
        guesses.push(call(&app, report("nat-00".into(), token, 1000)).await.0);
    }
    assert_eq!(
        guesses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{guesses:?}"
    );
    // All forty agents at once, eight times the allowance: every report taken.
    let reports = agents.iter().map(|(id, token)| {
        let app = app.clone();
        let req = report(id.clone(), token.clone(), 0);
        async move { app.oneshot(req).await.unwrap().status() }
    });
    let statuses = futures_util::future::join_all(reports).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    // The guesser is still held back.
    let (status, _) = call(
        &app,
        report("nat-00".into(), "smk_agt_guess_number_x0000000".into(), 500),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// A scrape of `/metrics` builds the whole exposition at once (with 10,000
/// hosts reporting, over 300 MB for a moment, measured by the load
/// benchmark), and every concurrent scrape built its own: a few dozen at
/// once, open to anyone without a dashboard token and to any read token,
/// could exhaust the server's memory. Concurrent scrapes share one render.
#[tokio::test(start_paused = true)]
async fn concurrent_scrapes_share_one_render() {
    let t = tokens();
    let store = Arc::new(MemoryStore::new());
    let app = app(&t, false, Arc::clone(&store));
    let scrape = |app: axum::Router| async move {
        let response = app
            .oneshot(request("GET", "/metrics", &[], Body::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    // Thirty-two scrapes at once, while the store is slow to answer.
    let stall = store.stall();
    let scrapes: Vec<_> = (0..32).map(|_| tokio::spawn(scrape(app.clone()))).collect();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(stall);
    let mut texts = Vec::new();
    for s in scrapes {
        texts.push(s.await.unwrap());
    }
    assert!(texts.iter().all(|t| *t == texts[0]), "one answer for all");
    let after = scrape(app.clone()).await;
    assert!(
        after.contains("monitor_scrape_render_duration_seconds_count 1\n"),
        "32 concurrent scrapes made one render:\n{after}"
    );
}

#[tokio::test]
async fn a_second_header_does_not_bypass_the_stream_cap() {
    let t = tokens();
    let app = app(&t, true, Arc::new(MemoryStore::new()));
    let bearer = format!("Bearer {}", t.read.expose());
    let mut open = Vec::new();
    let mut statuses = Vec::new();
    for i in 0..4 {
        let junk = format!("junk-{i}-so-every-key-would-differ");
        let response = app
            .clone()
            .oneshot(request(
                "GET",
                "/api/stream",
                &[("authorization", &bearer), ("x-dashboard-token", &junk)],
                Body::empty(),
            ))
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        open.push(response);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn silences_written_at_once_are_all_kept_and_bounded() {
    let t = tokens();
    let app = app(&t, false, Arc::new(MemoryStore::new()));
    let writes = (0..100).map(|i| {
        let app = app.clone();
        async move {
            let body = json!({"server_id": format!("srv-{i}"), "until": "2099-01-01T00:00:00Z", "comment": format!("maintenance {i}")});
            call(
                &app,
                request(
                    "POST",
                    "/api/alerts/silences",
                    &[("content-type", "application/json")],
                    Body::from(body.to_string()),
                ),
            )
            .await
            .0
        }
    });
    let statuses = futures_util::future::join_all(writes).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    let (_, list) = call(
        &app,
        request("GET", "/api/alerts/silences", &[], Body::empty()),
    )
    .await;
    assert_eq!(
        list.as_array().unwrap().len(),
        100,
        "a concurrent write was lost"
    );

    for (body, why) in [
        (
            json!({"server_id": "a", "until": "2099-01-01T00:00:00Z", "comment": "x".repeat(1001)}),
            "comment",
        ),
        (
            json!({"server_id": "a", "until": "2099-01-01T00:00:00Z", "comment": "fixed \u{202e}lanigiro"}),
            "comment",
        ),
        (
            json!({"rule_id": "a b", "until": "2099-01-01T00:00:00Z"}),
            "rule_id",
        ),
    ] {
        let (status, answer) = call(
            &app,
            request(
                "POST",
                "/api/alerts/silences",
                &[("content-type", "application/json")],
                Body::from(body.to_string()),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(why),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn rules_are_bounded_in_number_and_size() {
    let t = tokens();
    let store = Arc::new(MemoryStore::new());
    let app = app(&t, false, store.clone());
    let post = |body: Value| {
        request(
            "POST",
            "/api/alerts/rules",
            &[("content-type", "application/json")],
            Body::from(body.to_string()),
        )
    };
    let matchers: Vec<Value> = (0..17)
        .map(|i| json!({"name": "l", "value": i.to_string()}))
        .collect();
    let overrides: serde_json::Map<String, Value> = (0..1001)
        .map(|i| (format!("srv-{i}"), json!({"enabled": false})))
        .collect();
    for (rule, why) in [
        (
            json!({"name": "n".repeat(201), "metric": "x", "op": ">", "threshold": 1}),
            "name",
        ),
        (
            json!({"name": "cpu \u{200b}high", "metric": "x", "op": ">", "threshold": 1}),
            "name",
        ),
        (
            json!({"name": "x", "metric": "x", "op": ">", "threshold": 1, "matchers": matchers}),
            "matchers",
        ),
        (
            json!({"name": "x", "metric": "x", "op": ">", "threshold": 1, "overrides": overrides}),
            "overrides",
        ),
        (
            json!({"id": "../../x", "name": "x", "metric": "x", "op": ">", "threshold": 1}),
            "id",
        ),
    ] {
        let (status, answer) = call(&app, post(rule)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(why),
            "{answer}"
        );
    }
    for i in 0..monitor_server::api::MAX_RULES {
        let mut rule = AlertRule::threshold(format!("rule {i}"), "x", Comparison::Greater, 1.0);
        rule.id = format!("r{i}");
        store.put_alert_rule(rule).await.unwrap();
    }
    let (status, answer) = call(
        &app,
        post(json!({"name": "one more", "metric": "x", "op": ">", "threshold": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"], "too_many_rules");
    // A body far above any rule is refused before it is parsed.
    let (status, answer) = call(
        &app,
        request(
            "POST",
            "/api/alerts/rules",
            &[("content-type", "application/json")],
            Body::from(format!(r#"{{"name":"{}"}}"#, "x".repeat(1 << 20))),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
}

#[tokio::test]
async fn names_with_invisible_characters_are_refused() {
    let t = tokens();
    let app = app(&t, false, Arc::new(MemoryStore::new()));
    for body in [
        json!({"server_id": "srv-a", "name": "web\u{202e}1"}),
        json!({"server_id": "srv-b", "tags": ["prod\u{200b}"]}),
        json!({"server_id": "srv-c", "name": "x".repeat(201)}),
    ] {
        let (status, answer) = call(
            &app,
            request(
                "POST",
                "/api/register",
                &[
                    ("content-type", "application/json"),
                    ("x-admin-token", t.admin.expose()),
                ],
                Body::from(body.to_string()),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    }
}

/// One sample with a quarter of a million labels in descending order cost
/// about a minute of CPU before the 16-label limit refused it; now the
/// request is refused at the 17th label, whatever its size.
#[tokio::test]
async fn a_label_bomb_is_refused_while_parsing() {
    let t = tokens();
    let store = Arc::new(MemoryStore::new());
    store
        .register_server(monitor_core::catalog::NewServer {
            id: monitor_core::ServerId::new("bomb-01").unwrap(),
            name: String::new(),
            tags: vec![],
            token_hash: Token::from_secret("smk_ing_the_bombers_own_token_0000")
                .unwrap()
                .hash(),
            created: monitor_core::Timestamp::now(),
        })
        .await
        .unwrap();
    let app = app(&t, false, store);
    let mut body = format!(
        r#"{{"version":1,"server_id":"bomb-01","timestamp":{},"metrics":[{{"name":"x","samples":[{{"value":1,"labels":{{"#,
        monitor_core::Timestamp::now().as_secs_f64()
    );
    let n = 250_000;
    for i in (0..n).rev() {
        if i + 1 < n {
            body.push(',');
        }
        body.push_str(&format!("\"l{i:07}\":\"v\""));
    }
    body.push_str("}}]}]}");
    let (status, answer) = call(
        &app,
        request(
            "POST",
            "/api/metrics",
            &[
                ("content-type", "application/json"),
                ("x-auth-token", "smk_ing_the_bombers_own_token_0000"),
            ],
            Body::from(body),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"], "too_many_items");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("the labels of a sample"),
        "{answer}"
    );
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

/// RELIABILITY.md S6: the server's own log, at debug level, through a run
/// that issues, uses, misuses and rotates tokens of every kind, holds none
/// of them, nor the start of their hashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_reaches_the_log() {
    let dir = std::env::temp_dir().join(format!("monitor-log-leak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let admin = "smk_adm_log_leak_admin_token_0123456789abcdef";
    let dashboard = "smk_dsh_log_leak_dashboard_token_0123456789ab";
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_monitor-server"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"))
        .env("MONITOR_ADMIN_TOKEN", admin)
        .env("DASHBOARD_TOKEN", dashboard)
        .env("RUST_LOG", "debug")
        .env_remove("MONITOR_CONFIG")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = common::client(None);
    for _ in 0..200 {
        if client
            .get(format!("{base}/api/health"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut secrets = vec![admin.to_owned(), dashboard.to_owned()];
    let register = client
        .post(format!("{base}/api/register"))
        .header("x-admin-token", admin)
        .header("content-type", "application/json")
        .body(r#"{"server_id": "leak-01"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 201);
    let agent = register.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(agent.clone());
    let report = json!({"version": 1, "server_id": "leak-01", "timestamp": monitor_core::Timestamp::now(),
        "metrics": [{"name": "cpu_usage_percent", "unit": "percent", "samples": [{"value": 12.0}]}]})
    .to_string();
    let wrong = "smk_ing_a_wrong_token_the_attacker_tried_0000";
    secrets.push(wrong.to_owned());
    for (header, token, path) in [
        ("x-auth-token", agent.as_str(), "/api/metrics"),
        ("x-auth-token", wrong, "/api/metrics"),
        ("x-admin-token", wrong, "/api/register"),
        ("x-dashboard-token", wrong, "/api/alerts/silences"),
    ] {
        client
            .post(format!("{base}{path}"))
            .header(header, token)
            .header("content-type", "application/json")
            .body(report.clone())
            .send()
            .await
            .unwrap();
    }
    for path in [
        format!("/api/servers?token={dashboard}"),
        format!("/api/stream?access_token={agent}"),
        "/api/servers".to_owned(),
    ] {
        client
            .get(format!("{base}{path}"))
            .header("authorization", format!("Bearer {wrong}"))
            .send()
            .await
            .unwrap();
    }
    let rotated = client
        .post(format!("{base}/api/servers/leak-01/token"))
        .header("x-admin-token", admin)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    secrets.push(
        rotated.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    // The old token, now refused.
    client
        .post(format!("{base}/api/metrics"))
        .header("x-auth-token", &agent)
        .header("content-type", "application/json")
        .body(report)
        .send()
        .await
        .unwrap();
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    child.wait().unwrap();

    let logged = std::fs::read_to_string(dir.join("server.log")).unwrap();
    assert!(
        logged.contains("DEBUG") || logged.contains("debug"),
        "the log is at debug level"
    );
    for secret in &secrets {
        let hash: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // The secret part of a token, without its kind prefix.
        let tail = &secret[8..];
        assert!(!logged.contains(tail), "a token is in the log: {secret}");
        assert!(
            !logged.contains(&hash[..16]),
            "a token's hash is in the log: {secret}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
