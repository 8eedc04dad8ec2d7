//! The alerts part of the API (`monitor-server/src/api/alerts.rs`) through
//! the router, without a socket, on a real SQLite store: thresholds, rules
//! and their preview, firing alerts, events, silences. Delivery to the
//! notifiers is in `api_notifiers.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_common;
mod common;

use api_common::{
    Fixture, call, fixture, fixture_with_alerts, get, hook_receiver, notify_options, poll, post,
    register, report_cpu, snapshot,
};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use monitor_core::{Collection, Labels, ServerId, Snapshot, Timestamp, Unit, wire};
use serde_json::{Value, json};

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

/// Reports of `srv-01` over the last five minutes, one per entry of
/// `points`, each with the samples of the counter `metric` it gives.
async fn report_counter(f: &Fixture, token: &str, metric: &str, points: &[Vec<(Labels, f64)>]) {
    for (i, samples) in points.iter().enumerate() {
        let mut c = Collection::new();
        for (labels, value) in samples {
            c.counter(metric, Unit::COUNT, labels.clone(), *value);
        }
        // (Within the last ten minutes: the trends forget a series unseen
        // longer, by the clock.)
        let at = Timestamp::now().add_millis(-300_000 + i as i64 * 100_000);
        let s = Snapshot::new(ServerId::new("srv-01").unwrap(), at, c);
        let req = post(
            "/api/metrics",
            &[("x-auth-token", token)],
            wire::encode(&s).unwrap(),
        );
        assert_eq!(call(&f.app, req).await.0, StatusCode::OK);
    }
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
    let points: Vec<Vec<(Labels, f64)>> = [(0.0, 5.0), (1.0, 5.0), (2.0, 6.0), (3.0, 6.0)]
        .into_iter()
        .map(|(web, work)| vec![(app.clone(), web), (worker.clone(), work)])
        .collect();
    report_counter(&f, &token, "container_restarts_total", &points).await;
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
async fn a_container_killed_for_lack_of_memory_fires_the_built_in_rule() {
    let dir = std::env::temp_dir().join(format!("monitor-oom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, _alerts, _store) = fixture_with_alerts(&dir, Default::default()).await;
    let token = register(&f, "srv-01").await;
    let db = Labels::new().with("name", "db");
    let web = Labels::new().with("name", "web");
    // "db" is killed once; "web" never is.
    let points: Vec<Vec<(Labels, f64)>> = [0.0, 0.0, 1.0]
        .into_iter()
        .map(|kills| vec![(db.clone(), kills), (web.clone(), 0.0)])
        .collect();
    report_counter(&f, &token, "container_oom_kills_total", &points).await;
    let firing = poll(&f, "/api/alerts/firing", |b| {
        b.as_array().unwrap().len() == 1
    })
    .await;
    assert_eq!(firing[0]["rule_id"], "container_oom_killed");
    assert_eq!(firing[0]["labels"]["name"], "db");
    let events = poll(&f, "/api/alerts/events?rule_id=container_oom_killed", |b| {
        b.as_array().unwrap().len() == 1
    })
    .await;
    assert_eq!(events[0]["severity"], "critical");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A report of `srv-01` at `at` holding the gauges `(metric, unit,
/// labels, value)`.
fn gauges_at(token: &str, at: Timestamp, gauges: &[(&str, Unit, Labels, f64)]) -> Request<Body> {
    let mut c = Collection::new();
    for (metric, unit, labels, value) in gauges {
        c.gauge(metric, unit.clone(), labels.clone(), *value);
    }
    let s = Snapshot::new(ServerId::new("srv-01").unwrap(), at, c);
    post(
        "/api/metrics",
        &[("x-auth-token", token)],
        wire::encode(&s).unwrap(),
    )
}

#[tokio::test]
async fn a_probe_down_and_a_certificate_expiring_fire_the_built_in_rules() {
    let dir = std::env::temp_dir().join(format!("monitor-probes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, _alerts, _store) = fixture_with_alerts(&dir, Default::default()).await;
    let token = register(&f, "srv-01").await;
    let shop = Labels::new().with("probe", "shop");
    let api = Labels::new().with("probe", "api");
    let day = 86_400.0;
    // "shop" is down and its certificate has 10 days left; "api" answers
    // and has 60.
    let left = "probe_tls_cert_expires_in_seconds";
    let gauges = [
        ("probe_success", Unit::NONE, shop.clone(), 0.0),
        ("probe_success", Unit::NONE, api.clone(), 1.0),
        (left, Unit::SECONDS, shop, 10.0 * day),
        (left, Unit::SECONDS, api, 60.0 * day),
    ];
    let report = |at: Timestamp| gauges_at(&token, at, &gauges);
    let now = Timestamp::now();
    // The certificate's rule fires at once, the probe's is pending.
    let minute_ago = now.add_millis(-61_000);
    assert_eq!(call(&f.app, report(minute_ago)).await.0, StatusCode::OK);
    let firing = poll(&f, "/api/alerts/firing", |b| {
        b.as_array().unwrap().len() == 1
    })
    .await;
    assert_eq!(firing[0]["rule_id"], "probe_certificate_expiring");
    assert_eq!(firing[0]["labels"]["probe"], "shop");
    let events = poll(
        &f,
        "/api/alerts/events?rule_id=probe_certificate_expiring",
        |b| b.as_array().unwrap().len() == 1,
    )
    .await;
    assert_eq!(events[0]["severity"], "warning");
    assert_eq!(events[0]["threshold"], 14.0 * day);
    // Still down a minute later: the probe's rule fires.
    assert_eq!(call(&f.app, report(now)).await.0, StatusCode::OK);
    let down = poll(&f, "/api/alerts/events?rule_id=probe_down", |b| {
        b.as_array().unwrap().len() == 1
    })
    .await;
    assert_eq!(down[0]["labels"]["probe"], "shop");
    assert_eq!(down[0]["severity"], "critical");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_temperature_near_critical_fires_the_built_in_rule() {
    let dir = std::env::temp_dir().join(format!("monitor-hot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (f, _alerts, _store) = fixture_with_alerts(&dir, Default::default()).await;
    let token = register(&f, "srv-01").await;
    let sensor = |chip: &str| Labels::new().with("chip", chip).with("sensor", "Tctl");
    // k10temp is 2 °C from its critical threshold for a minute, nvme 40.
    let headroom = "sensor_temperature_headroom_celsius";
    let gauges = [
        (headroom, Unit::new("celsius"), sensor("k10temp"), 2.0),
        (headroom, Unit::new("celsius"), sensor("nvme"), 40.0),
    ];
    let report = |at: Timestamp| gauges_at(&token, at, &gauges);
    let now = Timestamp::now();
    assert_eq!(
        call(&f.app, report(now.add_millis(-61_000))).await.0,
        StatusCode::OK
    );
    assert_eq!(call(&f.app, report(now)).await.0, StatusCode::OK);
    let events = poll(&f, "/api/alerts/events?rule_id=temperature_critical", |b| {
        b.as_array().unwrap().len() == 1
    })
    .await;
    assert_eq!(events[0]["labels"]["chip"], "k10temp");
    assert_eq!(events[0]["severity"], "critical");
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
            "container_oom_killed",
            "container_stopped",
            "probe_down",
            "probe_certificate_expiring",
            "temperature_critical",
            "disk_failing"
        ]
    );
    let stopped = &rules[8];
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
    assert_eq!(rules.len(), 14, "3 thresholds, 10 built-in rules, 1 stored");
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
