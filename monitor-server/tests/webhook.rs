//! The webhook notifier against a real HTTP receiver on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use monitor_core::{
    AlertEvent, AlertState, Labels, Notification, Notifier, NotifyError, ServerId, Severity,
    Timestamp,
};
use monitor_server::webhook::{Webhook, WebhookConfig, WebhookFormat, hmac_sha256, signed};

/// What the receiver got: headers and body of each request.
type Log = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A receiver that answers `statuses` in turn (then 200), or hangs when
/// `hang` is set.
async fn receiver(statuses: Vec<u16>, hang: bool) -> (String, Log) {
    let log: Log = Arc::default();
    let left = Arc::new(Mutex::new(statuses));
    let seen = Arc::clone(&log);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (seen, left) = (Arc::clone(&seen), Arc::clone(&left));
            async move {
                seen.lock().unwrap().push((headers, body.to_vec()));
                if hang {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                let mut left = left.lock().unwrap();
                let status = if left.is_empty() { 200 } else { left.remove(0) };
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, log)
}

fn tls() -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth(),
    )
}

fn config(url: &str) -> WebhookConfig {
    WebhookConfig {
        name: "ops".into(),
        url: url.into(),
        secret: Some("s3cret".into()),
        headers: [("authorization".to_owned(), "Bearer abc".to_owned())].into(),
        format: WebhookFormat::Json,
        timeout_secs: 1,
        allow: vec!["127.0.0.1".into()],
    }
}

fn notification() -> Notification {
    Notification {
        event: AlertEvent {
            id: 7,
            rule_id: "cpu_total_percent".into(),
            rule_name: "cpu_total_percent".into(),
            server_id: ServerId::new("srv-01").unwrap(),
            metric: "cpu_usage_percent".into(),
            labels: Labels::new(),
            from: AlertState::Inactive,
            state: AlertState::Firing,
            value: Some(97.5),
            threshold: 90.0,
            severity: Severity::Critical,
            at: Timestamp::from_millis(1_795_000_000_000),
            message: "cpu_total_percent: cpu_usage_percent = 97.5 > 90 on srv-01".into(),
        },
        server_name: "srv-01".into(),
        dashboard_url: Some("https://monitor.example/#/server/srv-01".into()),
        repeat: false,
        delivery_id: "7f3a".into(),
    }
}

#[tokio::test]
async fn a_signed_delivery_a_receiver_can_check() {
    let (url, log) = receiver(vec![], false).await;
    let hook = Webhook::new(config(&url), tls()).unwrap();
    assert_eq!(hook.name(), "webhook:ops");
    hook.notify(&notification()).await.unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1);
    let (headers, body) = &log[0];
    let timestamp = headers["x-monitor-timestamp"].to_str().unwrap();
    let expected: String = hmac_sha256(b"s3cret", &signed(timestamp, body))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(headers["x-monitor-signature"], format!("sha256={expected}"));
    assert_eq!(headers["authorization"], "Bearer abc");
    assert!(headers.contains_key("x-monitor-timestamp"));
    assert_eq!(headers["x-monitor-delivery"], "7f3a", "the idempotency key");
    let sent: Notification = serde_json::from_slice(body).unwrap();
    assert_eq!(sent, notification());
}

#[tokio::test]
async fn loopback_is_refused_unless_allowed() {
    let (url, log) = receiver(vec![], false).await;
    let mut c = config(&url);
    c.allow.clear();
    let hook = Webhook::new(c, tls()).unwrap();
    let err = hook.notify(&notification()).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::DestinationNotAllowed(_)),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(log.lock().unwrap().is_empty(), "nothing was sent");
    let mut bad = config(&url);
    bad.url = "ftp://example.com/x".into();
    assert!(matches!(
        Webhook::new(bad, tls()),
        Err(NotifyError::InvalidConfig(_))
    ));
}

#[tokio::test]
async fn errors_say_whether_to_retry_and_a_hung_receiver_times_out() {
    let (url, _) = receiver(vec![500, 404], false).await;
    let hook = Webhook::new(config(&url), tls()).unwrap();
    let first = hook.notify(&notification()).await.unwrap_err();
    assert!(first.is_retryable(), "500: {first}");
    let second = hook.notify(&notification()).await.unwrap_err();
    assert!(matches!(second, NotifyError::Rejected(_)), "404: {second}");
    hook.notify(&notification()).await.unwrap();

    let (url, log) = receiver(vec![], true).await;
    let hook = Webhook::new(config(&url), tls()).unwrap();
    let started = Instant::now();
    let err = hook.notify(&notification()).await.unwrap_err();
    assert!(matches!(err, NotifyError::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn chat_formats() {
    let (url, log) = receiver(vec![], false).await;
    for format in [
        WebhookFormat::Slack,
        WebhookFormat::Discord,
        WebhookFormat::Ntfy,
    ] {
        let mut c = config(&url);
        c.format = format;
        Webhook::new(c, tls())
            .unwrap()
            .notify(&notification())
            .await
            .unwrap();
    }
    let log = log.lock().unwrap();
    let slack: serde_json::Value = serde_json::from_slice(&log[0].1).unwrap();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING] cpu_total_percent on srv-01")
    );
    let discord: serde_json::Value = serde_json::from_slice(&log[1].1).unwrap();
    assert!(discord["content"].as_str().unwrap().contains("97.5 > 90"));
    assert_eq!(log[2].0["priority"], "5");
    assert!(String::from_utf8_lossy(&log[2].1).contains("97.5"));
}

#[tokio::test]
async fn the_webhook_passes_the_notifier_conformance_suite() {
    for format in [
        WebhookFormat::Json,
        WebhookFormat::Slack,
        WebhookFormat::Discord,
        WebhookFormat::Ntfy,
    ] {
        let (url, log) = receiver(vec![], false).await;
        let hook = Webhook::new(
            WebhookConfig {
                format,
                ..config(&url)
            },
            tls(),
        )
        .unwrap();
        monitor_core::testing::notifier::conformance(&hook, || log.lock().unwrap().len()).await;
        // The server name's HTML-ish characters arrive as text in the body.
        let log = log.lock().unwrap();
        let body = String::from_utf8_lossy(&log[0].1);
        assert!(body.contains("conformance"), "{format:?}: {body}");
    }
}

#[tokio::test]
async fn the_recording_double_passes_it_too() {
    let recorder = monitor_core::testing::RecordingNotifier::new();
    let seen = recorder.clone();
    monitor_core::testing::notifier::conformance(&recorder, || seen.notifications().len()).await;
    recorder.fail_next(NotifyError::Unavailable("down".into()));
    assert!(recorder.notify(&notification()).await.is_err());
    assert!(recorder.notify(&notification()).await.is_ok());
    assert_eq!(seen.notifications().len(), 3);
}

/// The server process with two webhooks and a proxy in its environment:
/// deliveries go straight to the checked address (a proxy would resolve
/// the name itself, and the address check would be worth nothing), and
/// the webhooks' URLs, whose path, query or credentials are often the
/// secret, show neither in the log nor in `GET /api/alerts/notifiers`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_never_goes_through_a_proxy_and_its_url_never_shows() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // A "proxy" that counts who comes.
    let canary = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", canary.local_addr().unwrap());
    let proxied = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&proxied);
    tokio::spawn(async move {
        while let Ok((stream, _)) = canary.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let (good, delivered) = receiver(vec![], false).await;
    let (refusing, _) = receiver(vec![404], false).await;
    let refusing = refusing.replace("http://", "http://user:SECRETU@") + "?token=SECRETQ";
    let dir = std::env::temp_dir().join(format!("monitor-webhook-proc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        r#"listen = "127.0.0.1:{port}"
data_dir = "{dir}"

[[alerts.webhooks]]
name = "good"
url = "{good}"
allow = ["127.0.0.1"]

[[alerts.webhooks]]
name = "refusing"
url = "{refusing}"
allow = ["127.0.0.1"]

[[alerts.webhooks]]
name = "down"
url = "http://127.0.0.1:1/services/T000/B000/SECRETXYZ"
allow = ["127.0.0.1"]
"#,
        dir = dir.display()
    );
    std::fs::write(dir.join("server.toml"), config).unwrap();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    const ADMIN: &str = "smk_adm_webhook_process_test_0123456789";
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_monitor-server"))
        .arg("--config")
        .arg(dir.join("server.toml"))
        .env("MONITOR_ADMIN_TOKEN", ADMIN)
        .env("RUST_LOG", "info")
        .env("HTTP_PROXY", &proxy)
        .env("http_proxy", &proxy)
        .env("HTTPS_PROXY", &proxy)
        .env("ALL_PROXY", &proxy)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .stderr(log)
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Kill(child);
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured((*tls()).clone())
        .no_proxy()
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client
        .get(format!("{base}/api/health"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let registered: serde_json::Value = client
        .post(format!("{base}/api/register"))
        .header("x-admin-token", ADMIN)
        .header("content-type", "application/json")
        .body(r#"{"server_id":"srv-01"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["token"].as_str().unwrap();
    let report = serde_json::json!({
        "version": 1, "server_id": "srv-01", "timestamp": Timestamp::now(), "interval_secs": 5,
        "metrics": [{"name": "cpu_usage_percent", "unit": "percent", "samples": [{"value": 99.0}]}]
    });
    let sent = client
        .post(format!("{base}/api/metrics"))
        .header("x-auth-token", token)
        .header("content-type", "application/json")
        .body(report.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    // The CPU threshold fires: "good" gets it directly, "refusing" answers
    // 404 (given up at once), "down" is retried.
    let deadline = Instant::now() + Duration::from_secs(20);
    let notifiers = loop {
        let notifiers: serde_json::Value = client
            .get(format!("{base}/api/alerts/notifiers"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let text = notifiers.to_string();
        if !delivered.lock().unwrap().is_empty() && text.contains("answered 404") {
            break text;
        }
        assert!(Instant::now() < deadline, "no delivery: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Let "down" fail and be retried once at least.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        proxied.load(Ordering::SeqCst),
        0,
        "a delivery went through the proxy"
    );
    let logged = std::fs::read_to_string(dir.join("server.log")).unwrap();
    assert!(
        logged.contains("Delivery failed; it is tried again"),
        "{logged}"
    );
    for secret in ["SECRETXYZ", "SECRETQ", "SECRETU"] {
        assert!(!notifiers.contains(secret), "{secret} in {notifiers}");
        assert!(!logged.contains(secret), "{secret} in the log:\n{logged}");
    }
    assert!(notifiers.contains("http://127.0.0.1:"), "{notifiers}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A listener on loopback that counts the connections it accepts.
async fn canary() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, accepted)
}

/// RELIABILITY.md W5: a host name that resolves to loopback (what DNS
/// rebinding gives) is refused like the address itself, and an allowed
/// receiver's redirect to loopback is not followed: the canary behind both
/// is never reached.
#[tokio::test]
async fn a_name_resolving_to_loopback_and_a_redirect_reach_nothing() {
    let (port, accepted) = canary().await;
    let mut by_name = config(&format!("http://localhost:{port}/hook"));
    by_name.allow.clear();
    let err = Webhook::new(by_name, tls())
        .unwrap()
        .notify(&notification())
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::DestinationNotAllowed(_)),
        "{err}"
    );

    // An allowed receiver that answers with a redirect to the canary.
    let target = format!("http://127.0.0.1:{port}/");
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let target = target.clone();
            async move { (StatusCode::FOUND, [(axum::http::header::LOCATION, target)]) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut redirected = config(&url);
    redirected.allow = vec!["127.0.0.2".into()];
    let err = Webhook::new(redirected, tls())
        .unwrap()
        .notify(&notification())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("302"), "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the canary on loopback was reached"
    );
}
