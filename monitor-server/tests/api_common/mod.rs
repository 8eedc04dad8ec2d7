//! What the API tests (`api_*.rs`) share: a router on a real SQLite store
//! (or with the alert engine running), requests and their JSON answers, a
//! snapshot, registration, webhook receivers on loopback. Each test binary
//! uses some of it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use crate::common::Dir;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use monitor_core::{Collection, Labels, ServerId, Snapshot, Timestamp, Unit, wire};
use monitor_server::api::{AppState, router};
use monitor_server::auth::Token;
use monitor_store::{SqlStore, StoreOptions};
use serde_json::{Value, json};
use tower::ServiceExt;

pub(crate) struct Fixture {
    pub(crate) app: axum::Router,
    pub(crate) admin: Token,
    pub(crate) _dir: Dir,
}

pub(crate) async fn fixture(dashboard: Option<&str>) -> Fixture {
    fixture_with(dashboard, |state| state).await
}

pub(crate) async fn fixture_with(
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

pub(crate) async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
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

pub(crate) fn post(path: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::post(path).header("content-type", "application/json");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.into()).unwrap()
}

pub(crate) fn get(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::get(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::empty()).unwrap()
}

pub(crate) fn snapshot(id: &str, t: Timestamp) -> Snapshot {
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

pub(crate) async fn register(f: &Fixture, id: &str) -> String {
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

/// A fixture whose state runs the alert engine over its store.
pub(crate) async fn fixture_with_alerts(
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
pub(crate) async fn poll(f: &Fixture, path: &str, done: impl Fn(&Value) -> bool) -> Value {
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

/// Posts a report of `srv-01` dated `ago_ms` ago with the whole machine's
/// CPU at `cpu` percent.
pub(crate) async fn report_cpu(f: &Fixture, token: &str, cpu: f64, ago_ms: i64) {
    let mut s = snapshot("srv-01", Timestamp::now().add_millis(-ago_ms));
    s.metrics[0].samples[0].value = cpu;
    let req = post(
        "/api/metrics",
        &[("x-auth-token", token)],
        wire::encode(&s).unwrap(),
    );
    assert_eq!(call(&f.app, req).await.0, StatusCode::OK);
}

pub(crate) type Received = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

/// A webhook receiver on loopback that answers 500 to its first `failures`
/// requests, then 200; and a webhook notifier for it.
pub(crate) async fn hook_receiver(failures: usize) -> (Arc<dyn monitor_core::Notifier>, Received) {
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
pub(crate) fn webhook_to(
    name: &str,
    url: String,
    timeout_secs: u64,
) -> Arc<dyn monitor_core::Notifier> {
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

pub(crate) fn notify_options(
    hook: &Arc<dyn monitor_core::Notifier>,
) -> monitor_server::alerts::AlertOptions {
    monitor_server::alerts::AlertOptions {
        notifiers: vec![Arc::clone(hook)],
        dashboard_url: Some("https://monitor.example".into()),
        retry_base: std::time::Duration::from_millis(50),
        ..Default::default()
    }
}
