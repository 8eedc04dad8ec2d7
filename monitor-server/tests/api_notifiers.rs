//! The alerts part of the API (`monitor-server/src/api/alerts.rs`), its
//! notifiers: delivery through `/api/alerts/notifiers`, retries, the outbox
//! across restarts and store outages, timeouts, each transition once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_common;
mod common;

use api_common::{
    Received, call, fixture_with_alerts, hook_receiver, notify_options, poll, post, register,
    report_cpu, snapshot, webhook_to,
};
use std::sync::Arc;

use axum::http::StatusCode;
use monitor_core::{ServerId, Timestamp};
use monitor_server::api::AppState;
use monitor_server::auth::Token;
use serde_json::{Value, json};

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
    // Delivered, and out of the outbox: under load the removal may wait for
    // the store and be retried, so both are awaited.
    let status = poll(&f, "/api/alerts/notifiers", |b| {
        b[0]["delivered"] == 1 && b[0]["queued"] == 0
    })
    .await;
    assert_eq!(status[0]["failed"], 0, "{status}");
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "delivered once");
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
