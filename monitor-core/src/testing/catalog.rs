//! The conformance suite of [`Catalog`]: every case a catalog must pass,
//! written once and run against SQLite, PostgreSQL, the memory store and
//! any catalog of yours.
//!
//! The cases use their own server ids (`cat-*`) and rule ids.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::StoreError;
use crate::alert::{AlertEvent, AlertRule, AlertState, Comparison, Scope, Severity};
use crate::catalog::{AlertStateRecord, Catalog, Delivery, EventFilter, NewServer, TokenHash};
use crate::model::{LabelMatcher, Labels, ServerId, Timestamp};

/// Runs every case against `catalog`.
pub async fn conformance(catalog: &dyn Catalog) {
    servers(catalog).await;
    deletes(catalog).await;
    alerts_and_settings(catalog).await;
    deliveries(catalog).await;
}

fn id(name: &str) -> ServerId {
    ServerId::new(name).unwrap()
}

fn hash(seed: u8) -> TokenHash {
    TokenHash([seed; 32])
}

/// Registers `name` with the token hash of `seed`, tagged `conformance`.
pub(crate) async fn register(catalog: &dyn Catalog, name: &str, seed: u8) {
    catalog
        .register_server(NewServer {
            id: id(name),
            name: String::new(),
            tags: vec!["conformance".into()],
            token_hash: hash(seed),
            created: Timestamp::now(),
        })
        .await
        .unwrap();
}

async fn deletes(catalog: &dyn Catalog) {
    register(catalog, "cat-del", 150).await;
    catalog.delete_server(&id("cat-del")).await.unwrap();
    assert!(catalog.server(&id("cat-del")).await.unwrap().is_none());
    assert!(catalog.server_by_token(&hash(150)).await.unwrap().is_none());
    assert!(matches!(
        catalog.delete_server(&id("cat-del")).await,
        Err(StoreError::NotFound(_))
    ));
    register(catalog, "cat-del", 151).await;
    assert!(catalog.server(&id("cat-del")).await.unwrap().is_some());
}

async fn servers(catalog: &dyn Catalog) {
    register(catalog, "cat-a", 1).await;
    register(catalog, "cat-b", 2).await;
    let err = catalog
        .register_server(NewServer {
            id: id("cat-a"),
            name: "again".into(),
            tags: vec![],
            token_hash: hash(3),
            created: Timestamp::now(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let a = catalog.server(&id("cat-a")).await.unwrap().unwrap();
    assert_eq!(a.name, "cat-a", "an empty display name defaults to the id");
    assert_eq!(a.tags, vec!["conformance".to_owned()]);
    assert!(a.last_seen.is_none());
    let all = catalog.servers().await.unwrap();
    let names: Vec<&str> = all
        .iter()
        .map(|s| s.id.as_str())
        .filter(|s| s.starts_with("cat-"))
        .collect();
    assert_eq!(names, ["cat-a", "cat-b"]);
    assert_eq!(
        catalog.server_by_token(&hash(2)).await.unwrap().unwrap().id,
        id("cat-b")
    );
    assert!(catalog.server_by_token(&hash(99)).await.unwrap().is_none());
    catalog.rotate_token(&id("cat-b"), hash(4)).await.unwrap();
    assert!(catalog.server_by_token(&hash(2)).await.unwrap().is_none());
    assert_eq!(
        catalog.server_by_token(&hash(4)).await.unwrap().unwrap().id,
        id("cat-b")
    );
    assert!(matches!(
        catalog.rotate_token(&id("cat-none"), hash(5)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(catalog.server(&id("cat-none")).await.unwrap().is_none());
}

async fn alerts_and_settings(catalog: &dyn Catalog) {
    let rule = AlertRule {
        id: String::new(),
        name: "disk almost full".into(),
        metric: "filesystem_used_percent".into(),
        matchers: vec![LabelMatcher::equal("mountpoint", "/")],
        function: crate::alert::Function::Value,
        op: Comparison::Greater,
        threshold: 90.0,
        resolve_threshold: Some(85.0),
        for_secs: 300,
        severity: Severity::Critical,
        scope: Scope::Tag("conformance".into()),
        enabled: true,
        overrides: [(
            ServerId::new("conformance-db").unwrap(),
            crate::alert::RuleOverride {
                threshold: Some(97.0),
                ..Default::default()
            },
        )]
        .into(),
    };
    let saved = catalog.put_alert_rule(rule.clone()).await.unwrap();
    assert!(!saved.id.is_empty());
    let mut changed = saved.clone();
    changed.threshold = 95.0;
    catalog.put_alert_rule(changed.clone()).await.unwrap();
    let rules = catalog.alert_rules().await.unwrap();
    assert!(rules.contains(&changed));
    assert!(!rules.contains(&saved));
    catalog.delete_alert_rule(&saved.id).await.unwrap();
    assert!(matches!(
        catalog.delete_alert_rule(&saved.id).await,
        Err(StoreError::NotFound(_))
    ));

    let event = |at: i64, state: AlertState| AlertEvent {
        id: 0,
        rule_id: "r1".into(),
        rule_name: "cpu".into(),
        server_id: id("cat-a"),
        metric: "cpu_usage_percent".into(),
        labels: Labels::new(),
        from: AlertState::Pending,
        state,
        value: Some(97.5),
        threshold: 90.0,
        severity: Severity::Warning,
        at: Timestamp::from_millis(at),
        message: "CPU above 90%".into(),
    };
    let stored = catalog
        .append_alert_events(&[
            event(1000, AlertState::Firing),
            event(2000, AlertState::Resolved),
        ])
        .await
        .unwrap();
    assert!(stored[0].id > 0 && stored[1].id > stored[0].id);
    let listed = catalog
        .alert_events(&EventFilter {
            server_id: Some(id("cat-a")),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].state, AlertState::Resolved, "newest first");
    let since = catalog
        .alert_events(&EventFilter {
            since: Some(Timestamp::from_millis(1500)),
            server_id: Some(id("cat-a")),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(since.len(), 1);
    // Pages: newest first, each after the last event of the one before;
    // an event recorded late for an earlier time sorts by its time.
    catalog
        .append_alert_events(&[event(1500, AlertState::Pending)])
        .await
        .unwrap();
    let page = |before: Option<i64>| EventFilter {
        server_id: Some(id("cat-a")),
        before,
        limit: 2,
        ..EventFilter::default()
    };
    let first = catalog.alert_events(&page(None)).await.unwrap();
    let times: Vec<i64> = first.iter().map(|e| e.at.as_millis()).collect();
    assert_eq!(times, [2000, 1500]);
    let second = catalog
        .alert_events(&page(Some(first[1].id)))
        .await
        .unwrap();
    let times: Vec<i64> = second.iter().map(|e| e.at.as_millis()).collect();
    assert_eq!(times, [1000], "the rest, once");
    assert!(
        catalog
            .alert_events(&page(Some(i64::MAX)))
            .await
            .unwrap()
            .is_empty(),
        "after an unknown event: nothing"
    );

    let state = AlertStateRecord {
        rule_id: "r1".into(),
        server_id: id("cat-a"),
        labels: Labels::new().with("cpu", "0"),
        state: AlertState::Firing,
        since: Timestamp::from_millis(1000),
        last_value: Some(97.5),
        last_notified: None,
    };
    catalog
        .save_alert_states(std::slice::from_ref(&state))
        .await
        .unwrap();
    let notified = AlertStateRecord {
        last_notified: Some(Timestamp::from_millis(1001)),
        ..state.clone()
    };
    catalog
        .save_alert_states(std::slice::from_ref(&notified))
        .await
        .unwrap();
    let states = catalog.alert_states().await.unwrap();
    assert_eq!(states.iter().filter(|s| s.rule_id == "r1").count(), 1);
    assert!(states.contains(&notified));

    assert!(catalog.setting("conf-thresholds").await.unwrap().is_none());
    let value = serde_json::json!({"cpu_total_percent": 85, "memory_used_percent": 80, "disk_used_percent": 90});
    catalog
        .put_setting("conf-thresholds", &value)
        .await
        .unwrap();
    catalog
        .put_setting("conf-thresholds", &value)
        .await
        .unwrap();
    assert_eq!(
        catalog.setting("conf-thresholds").await.unwrap(),
        Some(value)
    );
}

async fn deliveries(catalog: &dyn Catalog) {
    let event = |n: i64| AlertEvent {
        id: 0,
        rule_id: "conf-rule".into(),
        rule_name: "conformance rule".into(),
        server_id: id("conf-outbox"),
        metric: "cpu_usage_percent".into(),
        labels: Labels::new().with("cpu", n.to_string()),
        from: AlertState::Pending,
        state: AlertState::Firing,
        value: Some(91.5),
        threshold: 90.0,
        severity: Severity::Critical,
        at: Timestamp::from_millis(1_795_000_000_000 + n),
        message: format!("conformance {n}"),
    };
    let delivery = |notifier: &str, n: i64| Delivery {
        id: 0,
        notifier: notifier.to_owned(),
        notification: crate::Notification {
            event: event(n),
            server_name: "outbox server".into(),
            dashboard_url: Some("https://monitor.example/#/server/conf-outbox".into()),
            repeat: n % 2 == 1,
            delivery_id: format!("{notifier}-{n}"),
        },
        attempts: 0,
        next_at: Timestamp::from_millis(1_795_000_000_000),
        created: Timestamp::from_millis(1_795_000_000_000 + n),
        last_error: None,
    };
    let queued: Vec<Delivery> = (0..3).map(|n| delivery("conf-n1", n)).collect();
    catalog.queue_deliveries(&queued).await.unwrap();
    catalog
        .queue_deliveries(&[delivery("conf-n2", 9)])
        .await
        .unwrap();
    let waiting = catalog.waiting_deliveries("conf-n1", 10).await.unwrap();
    assert_eq!(waiting.len(), 3);
    assert!(waiting.windows(2).all(|w| w[0].id < w[1].id), "in order");
    for (got, want) in waiting.iter().zip(&queued) {
        assert_eq!(got.notification, want.notification, "round trip");
        assert_eq!(
            (got.attempts, got.next_at, got.created),
            (0, want.next_at, want.created)
        );
    }
    assert_eq!(
        catalog
            .waiting_deliveries("conf-n1", 2)
            .await
            .unwrap()
            .len(),
        2
    );
    let first = waiting[0].id;
    catalog
        .postpone_delivery(
            first,
            3,
            Timestamp::from_millis(1_795_000_099_000),
            "HTTP 503",
        )
        .await
        .unwrap();
    let again = catalog.waiting_deliveries("conf-n1", 10).await.unwrap();
    assert_eq!(again[0].id, first, "a postponed delivery keeps its place");
    assert_eq!(again[0].attempts, 3);
    assert_eq!(again[0].next_at, Timestamp::from_millis(1_795_000_099_000));
    assert_eq!(again[0].last_error.as_deref(), Some("HTTP 503"));
    let backlog = catalog.delivery_backlog().await.unwrap();
    let of = |name: &str| backlog.iter().find(|b| b.notifier == name).cloned();
    assert_eq!(of("conf-n1").map(|b| b.waiting), Some(3));
    assert_eq!(
        of("conf-n1").and_then(|b| b.oldest),
        Some(Timestamp::from_millis(1_795_000_000_000))
    );
    assert_eq!(of("conf-n2").map(|b| b.waiting), Some(1));
    catalog.remove_delivery(first).await.unwrap();
    catalog.remove_delivery(first).await.unwrap();
    assert_eq!(
        catalog
            .waiting_deliveries("conf-n1", 10)
            .await
            .unwrap()
            .len(),
        2
    );
    // A transition with its deliveries.
    let recorded = catalog
        .record_alert_transitions(&[event(7)], &[delivery("conf-n2", 7)])
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
    assert!(recorded[0].id > 0);
    let n2 = catalog.waiting_deliveries("conf-n2", 10).await.unwrap();
    assert_eq!(n2.len(), 2);
    assert_eq!(n2[1].notification.delivery_id, "conf-n2-7");
    for d in catalog
        .waiting_deliveries("conf-n1", 10)
        .await
        .unwrap()
        .into_iter()
        .chain(n2)
    {
        catalog.remove_delivery(d.id).await.unwrap();
    }
    assert!(
        catalog
            .delivery_backlog()
            .await
            .unwrap()
            .iter()
            .all(|b| !b.notifier.starts_with("cat-")),
        "nothing left"
    );
}
