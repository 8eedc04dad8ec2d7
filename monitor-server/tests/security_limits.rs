//! Attacks through the router, each as an attacker would try it, and what
//! must hold (docs/security.md), by a legitimate holder wearing the server
//! out: concurrent scrapes share one render, a second header does not
//! bypass the per-token stream cap, concurrent silence writes lose nothing,
//! and rules, names and labels are bounded. A web page is in
//! `security_browser.rs`, a token's holder or guesser in
//! `security_tokens.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod security_common;

use security_common::{app, call, request, tokens};
use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use monitor_core::testing::MemoryStore;
use monitor_core::{AlertRule, Catalog, Comparison};
use monitor_server::auth::Token;
use serde_json::{Value, json};
use tower::ServiceExt;

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
