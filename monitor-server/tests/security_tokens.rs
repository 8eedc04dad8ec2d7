//! Attacks through the router, each as an attacker would try it, and what
//! must hold (docs/security.md), by a token's holder or guesser: each token
//! does what its role allows and no more, a request is never read before
//! its token is checked, concurrent guesses get no more checks than the
//! limit, agents sharing an address with a guesser keep reporting, and no
//! token reaches the server's log. A web page is in `security_browser.rs`,
//! exhaustion in `security_limits.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod security_common;

use security_common::{app, call, from, request, tokens};
use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use monitor_core::testing::MemoryStore;
use monitor_core::{Collection, ServerId, Snapshot, Timestamp, wire};
use monitor_server::api::{AppState, router};
use monitor_server::config::LimitSettings;
use serde_json::{Value, json};
use tower::ServiceExt;

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
