//! The conformance suite of [`Store`]: every case a store must pass,
//! written once and run against SQLite, PostgreSQL and any store of yours.
//!
//! The cases use their own server ids (`conf-*`), timestamps within the
//! last few hours, and [`Store::enforce_retention`] with a generous policy
//! to make a store compact what it buffers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use crate::StoreError;
use crate::alert::{AlertEvent, AlertRule, AlertState, Comparison, Scope, Severity};
use crate::model::{Collection, LabelMatcher, Labels, ServerId, Snapshot, Timestamp, Unit};
use crate::store::{
    AlertStateRecord, Delivery, EventFilter, HistoryQuery, NewServer, Point, RetentionPolicy,
    Store, Tier, TokenHash,
};
use crate::testing::Rng;

/// Runs every case against `store`.
pub async fn conformance(store: &dyn Store) {
    servers(store).await;
    idempotent_ingest(store).await;
    downsampling_matches_brute_force(store).await;
    rollup_tiers(store).await;
    retention(store).await;
    deletes(store).await;
    alerts_and_settings(store).await;
    deliveries(store).await;
}

fn id(name: &str) -> ServerId {
    ServerId::new(name).unwrap()
}

fn hash(seed: u8) -> TokenHash {
    TokenHash([seed; 32])
}

async fn register(store: &dyn Store, name: &str, seed: u8) {
    store
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

/// A snapshot with a gauge per core, a memory gauge and a counter.
fn snapshot(server: &str, t: i64, rng: &mut Rng) -> Snapshot {
    let mut c = Collection::new();
    c.gauge(
        "cpu_usage_percent",
        Unit::PERCENT,
        Labels::new(),
        (rng.next_u64() % 10_000) as f64 / 100.0,
    );
    for core in 0..2 {
        c.gauge(
            "cpu_usage_percent",
            Unit::PERCENT,
            Labels::new().with("cpu", core.to_string()),
            (rng.next_u64() % 10_000) as f64 / 100.0,
        );
    }
    c.gauge(
        "memory_used_bytes",
        Unit::BYTES,
        Labels::new(),
        ((rng.next_u64() % 1000 + 1000) * 4096) as f64,
    );
    c.counter(
        "plugin_events_total",
        Unit::COUNT,
        Labels::new().with("kind", "x"),
        (t / 1000) as f64,
    );
    let mut s = Snapshot::new(id(server), Timestamp::from_millis(t), c);
    s.interval_secs = Some(5.0);
    s
}

/// An hour boundary a few hours ago, so every tier's retention covers it.
fn base() -> i64 {
    let now = Timestamp::now().as_millis();
    now - now.rem_euclid(3_600_000) - 3 * 3_600_000
}

/// Makes the store compact everything it buffers, deleting nothing.
async fn compact(store: &dyn Store) {
    let keep = RetentionPolicy {
        raw: Duration::from_secs(3_650 * 86_400),
        minute: Duration::from_secs(3_650 * 86_400),
        hour: Duration::from_secs(3_650 * 86_400),
    };
    store
        .enforce_retention(
            &keep,
            Timestamp::from_millis(Timestamp::now().as_millis() + 86_400_000),
        )
        .await
        .unwrap();
}

async fn servers(store: &dyn Store) {
    register(store, "conf-a", 1).await;
    register(store, "conf-b", 2).await;
    let err = store
        .register_server(NewServer {
            id: id("conf-a"),
            name: "again".into(),
            tags: vec![],
            token_hash: hash(3),
            created: Timestamp::now(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let a = store.server(&id("conf-a")).await.unwrap().unwrap();
    assert_eq!(a.name, "conf-a", "an empty display name defaults to the id");
    assert_eq!(a.tags, vec!["conformance".to_owned()]);
    assert!(a.last_seen.is_none());
    let all = store.servers().await.unwrap();
    let names: Vec<&str> = all
        .iter()
        .map(|s| s.id.as_str())
        .filter(|s| s.starts_with("conf-"))
        .collect();
    assert_eq!(names, ["conf-a", "conf-b"]);
    assert_eq!(
        store.server_by_token(&hash(2)).await.unwrap().unwrap().id,
        id("conf-b")
    );
    assert!(store.server_by_token(&hash(99)).await.unwrap().is_none());
    store.rotate_token(&id("conf-b"), hash(4)).await.unwrap();
    assert!(store.server_by_token(&hash(2)).await.unwrap().is_none());
    assert_eq!(
        store.server_by_token(&hash(4)).await.unwrap().unwrap().id,
        id("conf-b")
    );
    assert!(matches!(
        store.rotate_token(&id("conf-none"), hash(5)).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.server(&id("conf-none")).await.unwrap().is_none());
}

async fn idempotent_ingest(store: &dyn Store) {
    register(store, "conf-idem", 10).await;
    let mut rng = Rng(1);
    let t0 = base();
    let batch: Vec<Snapshot> = (0..10)
        .map(|i| snapshot("conf-idem", t0 + i * 5000, &mut rng))
        .collect();
    let first = store.ingest(batch.clone()).await.unwrap();
    assert_eq!((first.stored, first.duplicates), (10, 0));
    let again = store.ingest(batch.clone()).await.unwrap();
    assert_eq!(
        (again.stored, again.duplicates),
        (0, 10),
        "a replay counts once"
    );
    let latest = store
        .latest_snapshot(&id("conf-idem"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*latest, batch[9]);
    assert_eq!(
        store.latest_timestamp(&id("conf-idem")).await.unwrap(),
        Some(batch[9].timestamp)
    );
    assert_eq!(
        store.latest_timestamp(&id("conf-none")).await.unwrap(),
        None
    );
    // Another report at a taken millisecond is a conflict, not stored.
    // So is the second of two reports at one millisecond in one batch.
    // Recent reports, of a server of their own: a store may compact an
    // hour that ended during the test (the SQL store's writer does, in the
    // background), and a report at a taken millisecond of a compacted hour
    // counts as a duplicate whatever its values (docs/http-api.md, 409).
    register(store, "conf-clash", 11).await;
    let differ = |s: &Snapshot| {
        let mut other = s.clone();
        other.metrics[0].samples[0].value += 1.0;
        other
    };
    let now = Timestamp::now().as_millis();
    let before = snapshot("conf-clash", now - 40_000, &mut rng);
    let taken = snapshot("conf-clash", now - 30_000, &mut rng);
    let first = store.ingest(vec![before.clone(), taken.clone()]).await;
    assert_eq!(first.unwrap().stored, 2);
    let fresh = snapshot("conf-clash", now - 20_000, &mut rng);
    let clash = store
        .ingest(vec![
            differ(&taken),
            before.clone(),
            fresh.clone(),
            differ(&fresh),
        ])
        .await
        .unwrap();
    assert_eq!(
        (clash.stored, clash.duplicates, clash.conflicts),
        (1, 1, 2),
        "other values at a taken millisecond"
    );
    assert_eq!(
        *store
            .latest_snapshot(&id("conf-clash"))
            .await
            .unwrap()
            .unwrap(),
        fresh,
        "the first of two reports at one millisecond is the one stored"
    );
    assert_eq!(
        *store
            .latest_snapshot(&id("conf-idem"))
            .await
            .unwrap()
            .unwrap(),
        batch[9],
        "the stored report stays"
    );
    let record = store.server(&id("conf-idem")).await.unwrap().unwrap();
    assert_eq!(record.last_seen, Some(batch[9].timestamp));
    assert_eq!(record.interval_secs, Some(5.0));
    // Before compaction: a batch of two replays around a late report
    // between two stored ones stores the late one only.
    let mixed = vec![
        batch[2].clone(),
        snapshot("conf-idem", t0 + 7500, &mut rng),
        batch[8].clone(),
    ];
    let mixed = store.ingest(mixed).await.unwrap();
    assert_eq!((mixed.stored, mixed.duplicates), (1, 2));
    // After compaction a replay is still a duplicate, and a late report is merged.
    compact(store).await;
    let replay = store.ingest(batch[3..5].to_vec()).await.unwrap();
    assert_eq!((replay.stored, replay.duplicates), (0, 2));
    let late = snapshot("conf-idem", t0 + 2500, &mut rng);
    assert_eq!(store.ingest(vec![late.clone()]).await.unwrap().stored, 1);
    // The late report waits for the next compaction; a replay of it (an
    // agent's spool after an outage) is a duplicate too, not an error.
    let replay = store.ingest(vec![late.clone(), batch[4].clone()]).await;
    let replay = replay.unwrap_or_else(|e| panic!("replaying a late report: {e}"));
    assert_eq!((replay.stored, replay.duplicates), (0, 2));
    compact(store).await;
    let h = store
        .history(&HistoryQuery {
            server_id: id("conf-idem"),
            metric: "memory_used_bytes".into(),
            matchers: vec![],
            from: Timestamp::from_millis(t0),
            to: Timestamp::from_millis(t0 + 3_600_000),
            step: Some(Duration::from_secs(1)),
            max_points: 100_000,
        })
        .await
        .unwrap();
    assert_eq!(h.tier, Tier::Raw);
    assert_eq!(h.series.len(), 1);
    assert_eq!(
        h.series[0].points.len(),
        12,
        "10 reports and the two late ones, each once"
    );
    // A step finer than max_points allows is widened to keep it.
    let capped = store
        .history(&HistoryQuery {
            server_id: id("conf-idem"),
            metric: "memory_used_bytes".into(),
            matchers: vec![],
            from: Timestamp::from_millis(t0),
            to: Timestamp::from_millis(t0 + 3_600_000),
            step: Some(Duration::from_secs(1)),
            max_points: 4,
        })
        .await
        .unwrap();
    assert!(capped.step_secs >= 900, "step {}", capped.step_secs);
    assert!(capped.series[0].points.len() <= 4);
    // A snapshot of an unknown server is refused and stores nothing.
    let stranger = snapshot("conf-stranger", t0, &mut rng);
    assert!(matches!(
        store.ingest(vec![stranger]).await,
        Err(StoreError::NotFound(_))
    ));
    let overview = store.latest_snapshots().await.unwrap();
    assert!(
        overview.iter().any(|s| **s == batch[9]),
        "the overview has the newest snapshot"
    );
    // The latest snapshot did not move back in time.
    assert_eq!(
        *store
            .latest_snapshot(&id("conf-idem"))
            .await
            .unwrap()
            .unwrap(),
        batch[9]
    );
}

/// avg, min, max, last and count per epoch-aligned bucket, computed naively.
fn brute_force(points: &[(i64, f64)], step: i64, from: i64, to: i64) -> Vec<Point> {
    let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for &(t, v) in points {
        if t >= from && t < to {
            buckets.entry(t - t.rem_euclid(step)).or_default().push(v);
        }
    }
    buckets
        .into_iter()
        .map(|(t, vs)| Point {
            t: Timestamp::from_millis(t),
            avg: vs.iter().sum::<f64>() / vs.len() as f64,
            min: vs.iter().copied().fold(f64::INFINITY, f64::min),
            max: vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            last: *vs.last().unwrap(),
            count: vs.len() as u64,
        })
        .collect()
}

fn assert_points(got: &[Point], want: &[Point], context: &str) {
    assert_eq!(got.len(), want.len(), "{context}: bucket count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.t, w.t, "{context}");
        assert_eq!(g.count, w.count, "{context} at {}", g.t);
        assert_eq!(
            (g.min, g.max, g.last),
            (w.min, w.max, w.last),
            "{context} at {}",
            g.t
        );
        assert!(
            (g.avg - w.avg).abs() <= 1e-9 * w.avg.abs().max(1.0),
            "{context} avg at {}: {} vs {}",
            g.t,
            g.avg,
            w.avg
        );
    }
}

/// Ingests two hours at 5 s with a 10-minute outage, half compacted.
async fn two_hours(store: &dyn Store, server: &str, seed: u64) -> (i64, Vec<Snapshot>) {
    register(store, server, seed as u8).await;
    let mut rng = Rng(seed);
    let t0 = base();
    let times: Vec<i64> = (0..1440)
        .map(|i| t0 + i * 5000 + (rng.next_u64() % 5) as i64)
        .filter(|t| !(t0 + 1_800_000..t0 + 2_400_000).contains(t))
        .collect();
    let snapshots: Vec<Snapshot> = times
        .into_iter()
        .map(|t| snapshot(server, t, &mut rng))
        .collect();
    for chunk in snapshots.chunks(100) {
        store.ingest(chunk.to_vec()).await.unwrap();
    }
    (t0, snapshots)
}

fn points_of(snapshots: &[Snapshot], metric: &str, labels: &Labels) -> Vec<(i64, f64)> {
    snapshots
        .iter()
        .filter_map(|s| Some((s.timestamp.as_millis(), s.value(metric, labels)?)))
        .collect()
}

async fn downsampling_matches_brute_force(store: &dyn Store) {
    let (t0, snapshots) = two_hours(store, "conf-down", 20).await;
    let query =
        |metric: &str, matchers: Vec<LabelMatcher>, step: u64, from: i64, to: i64| HistoryQuery {
            server_id: id("conf-down"),
            metric: metric.into(),
            matchers,
            from: Timestamp::from_millis(from),
            to: Timestamp::from_millis(to),
            step: Some(Duration::from_secs(step)),
            max_points: 100_000,
        };
    for compacted in [false, true] {
        if compacted {
            compact(store).await;
        }
        for (step, from, to) in [
            (5, t0, t0 + 7_200_000),
            (30, t0 + 1234, t0 + 5_000_000),
            (7, t0 + 3_500_000, t0 + 3_700_000),
        ] {
            let h = store
                .history(&query(
                    "cpu_usage_percent",
                    vec![LabelMatcher::equal("cpu", "1")],
                    step,
                    from,
                    to,
                ))
                .await
                .unwrap();
            assert_eq!(h.tier, Tier::Raw);
            assert_eq!(h.step_secs, step);
            assert_eq!(h.series.len(), 1);
            let labels = Labels::new().with("cpu", "1");
            assert_eq!(h.series[0].labels, labels);
            let want = brute_force(
                &points_of(&snapshots, "cpu_usage_percent", &labels),
                step as i64 * 1000,
                from,
                to,
            );
            assert_points(
                &h.series[0].points,
                &want,
                &format!("step {step}s compacted={compacted}"),
            );
            // The outage stays a gap.
            assert!(
                h.series[0]
                    .points
                    .iter()
                    .all(|p| !(t0 + 1_800_000..t0 + 2_400_000).contains(&p.t.as_millis()))
            );
        }
        // Without matchers: every series of the metric; `cpu=""` selects the total.
        let all = store
            .history(&query("cpu_usage_percent", vec![], 60, t0, t0 + 7_200_000))
            .await
            .unwrap();
        assert_eq!(all.series.len(), 3);
        let total = store
            .history(&query(
                "cpu_usage_percent",
                vec![LabelMatcher::equal("cpu", "")],
                60,
                t0,
                t0 + 7_200_000,
            ))
            .await
            .unwrap();
        assert_eq!(total.series.len(), 1);
        assert!(total.series[0].labels.is_empty());
        // max_points picks the step.
        let auto = store
            .history(&HistoryQuery {
                step: None,
                max_points: 100,
                ..query("memory_used_bytes", vec![], 0, t0, t0 + 7_200_000)
            })
            .await
            .unwrap();
        assert!(auto.series[0].points.len() <= 100);
        assert_eq!(
            auto.step_secs, 120,
            "2 h over 100 points, rounded to whole minutes"
        );
    }
    let missing = store
        .history(&query("nothing_here", vec![], 60, t0, t0 + 60_000))
        .await
        .unwrap();
    assert!(missing.series.is_empty());
    let reversed = store
        .history(&query("memory_used_bytes", vec![], 60, t0 + 10, t0))
        .await;
    assert!(matches!(reversed, Err(StoreError::InvalidInput(_))));
    let unknown = store
        .history(&HistoryQuery {
            server_id: id("conf-nobody"),
            ..query("x", vec![], 60, t0, t0 + 1)
        })
        .await;
    assert!(matches!(unknown, Err(StoreError::NotFound(_))));
}

async fn rollup_tiers(store: &dyn Store) {
    let (t0, snapshots) = two_hours(store, "conf-roll", 30).await;
    compact(store).await;
    let labels = Labels::new();
    let points = points_of(&snapshots, "memory_used_bytes", &labels);
    for (step, tier) in [
        (60u64, Tier::Minute),
        (300, Tier::Minute),
        (3600, Tier::Hour),
    ] {
        let (from, to) = (t0, t0 + 7_200_000);
        let h = store
            .history(&HistoryQuery {
                server_id: id("conf-roll"),
                metric: "memory_used_bytes".into(),
                matchers: vec![],
                from: Timestamp::from_millis(from),
                to: Timestamp::from_millis(to),
                step: Some(Duration::from_secs(step)),
                max_points: 100_000,
            })
            .await
            .unwrap();
        assert_eq!(h.tier, tier, "step {step}");
        let want = brute_force(&points, step as i64 * 1000, from, to);
        assert_points(&h.series[0].points, &want, &format!("rollup step {step}s"));
    }
    let series = store.series(&id("conf-roll")).await.unwrap();
    assert_eq!(series.len(), 5);
    let memory = series
        .iter()
        .find(|s| s.metric == "memory_used_bytes")
        .unwrap();
    let last = snapshots.last().unwrap();
    assert_eq!(memory.last_value, last.value("memory_used_bytes", &labels));
    assert_eq!(memory.last_seen, Some(last.timestamp));
}

async fn retention(store: &dyn Store) {
    let (t0, _) = two_hours(store, "conf-ret", 40).await;
    let keep_all = RetentionPolicy {
        raw: Duration::from_secs(3_650 * 86_400),
        minute: Duration::from_secs(3_650 * 86_400),
        hour: Duration::from_secs(3_650 * 86_400),
    };
    store
        .enforce_retention(&keep_all, Timestamp::now())
        .await
        .unwrap();
    let query = |step: u64| HistoryQuery {
        server_id: id("conf-ret"),
        metric: "memory_used_bytes".into(),
        matchers: vec![],
        from: Timestamp::from_millis(t0),
        to: Timestamp::from_millis(t0 + 7_200_000),
        step: Some(Duration::from_secs(step)),
        max_points: 100_000,
    };
    let now = Timestamp::from_millis(t0 + 7_200_000 + 600_000);
    // Raw data older than 1 second goes; rollups stay.
    let short_raw = RetentionPolicy {
        raw: Duration::from_secs(1),
        ..keep_all
    };
    let report = store.enforce_retention(&short_raw, now).await.unwrap();
    assert!(report.raw_deleted > 0, "{report:?}");
    assert_eq!(report.minute_deleted + report.hour_deleted, 0);
    let minute = store.history(&query(60)).await.unwrap();
    assert_eq!(
        minute.series[0].points.len(),
        120 - 10,
        "two hours of minutes but the outage"
    );
    // Minute rollups go next; hour rollups stay.
    let short_minute = RetentionPolicy {
        minute: Duration::from_secs(1),
        ..short_raw
    };
    let report = store
        .enforce_retention(&short_minute, Timestamp::from_millis(t0 + 86_400_000 * 2))
        .await
        .unwrap();
    assert!(report.minute_deleted > 0, "{report:?}");
    let hour = store.history(&query(3600)).await.unwrap();
    assert_eq!(hour.tier, Tier::Hour);
    assert_eq!(hour.series[0].points.len(), 2);
    assert_eq!(
        hour.series[0].points.iter().map(|p| p.count).sum::<u64>(),
        1320
    );
}

async fn deletes(store: &dyn Store) {
    let (t0, _) = two_hours(store, "conf-del", 50).await;
    compact(store).await;
    store.delete_server(&id("conf-del")).await.unwrap();
    assert!(store.server(&id("conf-del")).await.unwrap().is_none());
    assert!(matches!(
        store.delete_server(&id("conf-del")).await,
        Err(StoreError::NotFound(_))
    ));
    register(store, "conf-del", 51).await;
    let h = store
        .history(&HistoryQuery {
            server_id: id("conf-del"),
            metric: "memory_used_bytes".into(),
            matchers: vec![],
            from: Timestamp::from_millis(t0),
            to: Timestamp::from_millis(t0 + 7_200_000),
            step: Some(Duration::from_secs(60)),
            max_points: 100_000,
        })
        .await
        .unwrap();
    assert!(h.series.is_empty(), "a deleted server's data is gone");
    assert!(
        store
            .latest_snapshot(&id("conf-del"))
            .await
            .unwrap()
            .is_none()
    );
    // Other servers keep theirs.
    assert!(
        store
            .latest_snapshot(&id("conf-roll"))
            .await
            .unwrap()
            .is_some()
    );
}

async fn alerts_and_settings(store: &dyn Store) {
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
    let saved = store.put_alert_rule(rule.clone()).await.unwrap();
    assert!(!saved.id.is_empty());
    let mut changed = saved.clone();
    changed.threshold = 95.0;
    store.put_alert_rule(changed.clone()).await.unwrap();
    let rules = store.alert_rules().await.unwrap();
    assert!(rules.contains(&changed));
    assert!(!rules.contains(&saved));
    store.delete_alert_rule(&saved.id).await.unwrap();
    assert!(matches!(
        store.delete_alert_rule(&saved.id).await,
        Err(StoreError::NotFound(_))
    ));

    let event = |at: i64, state: AlertState| AlertEvent {
        id: 0,
        rule_id: "r1".into(),
        rule_name: "cpu".into(),
        server_id: id("conf-a"),
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
    let stored = store
        .append_alert_events(&[
            event(1000, AlertState::Firing),
            event(2000, AlertState::Resolved),
        ])
        .await
        .unwrap();
    assert!(stored[0].id > 0 && stored[1].id > stored[0].id);
    let listed = store
        .alert_events(&EventFilter {
            server_id: Some(id("conf-a")),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].state, AlertState::Resolved, "newest first");
    let since = store
        .alert_events(&EventFilter {
            since: Some(Timestamp::from_millis(1500)),
            server_id: Some(id("conf-a")),
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(since.len(), 1);
    // Pages: newest first, each after the last event of the one before;
    // an event recorded late for an earlier time sorts by its time.
    store
        .append_alert_events(&[event(1500, AlertState::Pending)])
        .await
        .unwrap();
    let page = |before: Option<i64>| EventFilter {
        server_id: Some(id("conf-a")),
        before,
        limit: 2,
        ..EventFilter::default()
    };
    let first = store.alert_events(&page(None)).await.unwrap();
    let times: Vec<i64> = first.iter().map(|e| e.at.as_millis()).collect();
    assert_eq!(times, [2000, 1500]);
    let second = store.alert_events(&page(Some(first[1].id))).await.unwrap();
    let times: Vec<i64> = second.iter().map(|e| e.at.as_millis()).collect();
    assert_eq!(times, [1000], "the rest, once");
    assert!(
        store
            .alert_events(&page(Some(i64::MAX)))
            .await
            .unwrap()
            .is_empty(),
        "after an unknown event: nothing"
    );

    let state = AlertStateRecord {
        rule_id: "r1".into(),
        server_id: id("conf-a"),
        labels: Labels::new().with("cpu", "0"),
        state: AlertState::Firing,
        since: Timestamp::from_millis(1000),
        last_value: Some(97.5),
        last_notified: None,
    };
    store
        .save_alert_states(std::slice::from_ref(&state))
        .await
        .unwrap();
    let notified = AlertStateRecord {
        last_notified: Some(Timestamp::from_millis(1001)),
        ..state.clone()
    };
    store
        .save_alert_states(std::slice::from_ref(&notified))
        .await
        .unwrap();
    let states = store.alert_states().await.unwrap();
    assert_eq!(states.iter().filter(|s| s.rule_id == "r1").count(), 1);
    assert!(states.contains(&notified));

    assert!(store.setting("conf-thresholds").await.unwrap().is_none());
    let value = serde_json::json!({"cpu_total_percent": 85, "memory_used_percent": 80, "disk_used_percent": 90});
    store.put_setting("conf-thresholds", &value).await.unwrap();
    store.put_setting("conf-thresholds", &value).await.unwrap();
    assert_eq!(store.setting("conf-thresholds").await.unwrap(), Some(value));
}

/// The outbox: deliveries kept in order per notifier, postponed and removed,
/// counted, and recorded with their transition.
async fn deliveries(store: &dyn Store) {
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
    store.queue_deliveries(&queued).await.unwrap();
    store
        .queue_deliveries(&[delivery("conf-n2", 9)])
        .await
        .unwrap();
    let waiting = store.waiting_deliveries("conf-n1", 10).await.unwrap();
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
        store.waiting_deliveries("conf-n1", 2).await.unwrap().len(),
        2
    );
    let first = waiting[0].id;
    store
        .postpone_delivery(
            first,
            3,
            Timestamp::from_millis(1_795_000_099_000),
            "HTTP 503",
        )
        .await
        .unwrap();
    let again = store.waiting_deliveries("conf-n1", 10).await.unwrap();
    assert_eq!(again[0].id, first, "a postponed delivery keeps its place");
    assert_eq!(again[0].attempts, 3);
    assert_eq!(again[0].next_at, Timestamp::from_millis(1_795_000_099_000));
    assert_eq!(again[0].last_error.as_deref(), Some("HTTP 503"));
    let backlog = store.delivery_backlog().await.unwrap();
    let of = |name: &str| backlog.iter().find(|b| b.notifier == name).cloned();
    assert_eq!(of("conf-n1").map(|b| b.waiting), Some(3));
    assert_eq!(
        of("conf-n1").and_then(|b| b.oldest),
        Some(Timestamp::from_millis(1_795_000_000_000))
    );
    assert_eq!(of("conf-n2").map(|b| b.waiting), Some(1));
    store.remove_delivery(first).await.unwrap();
    store.remove_delivery(first).await.unwrap();
    assert_eq!(
        store.waiting_deliveries("conf-n1", 10).await.unwrap().len(),
        2
    );
    // A transition with its deliveries.
    let recorded = store
        .record_alert_transitions(&[event(7)], &[delivery("conf-n2", 7)])
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
    assert!(recorded[0].id > 0);
    let n2 = store.waiting_deliveries("conf-n2", 10).await.unwrap();
    assert_eq!(n2.len(), 2);
    assert_eq!(n2[1].notification.delivery_id, "conf-n2-7");
    for d in store
        .waiting_deliveries("conf-n1", 10)
        .await
        .unwrap()
        .into_iter()
        .chain(n2)
    {
        store.remove_delivery(d.id).await.unwrap();
    }
    assert!(
        store
            .delivery_backlog()
            .await
            .unwrap()
            .iter()
            .all(|b| !b.notifier.starts_with("conf-")),
        "nothing left"
    );
}
