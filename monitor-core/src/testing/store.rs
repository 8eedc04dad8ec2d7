//! The conformance suite of [`Store`]: every case a metric store must
//! pass, written once and run against SQLite, PostgreSQL, the memory store
//! and any store of yours.
//!
//! The cases use their own server ids (`conf-*`), timestamps within the
//! last few hours, and [`Store::enforce_retention`] with a generous policy
//! to make a store compact what it buffers.
//!
//! ```text
//! #[tokio::test]
//! async fn my_store_conforms() {
//!     monitor_core::testing::store::conformance(&MyStore::default()).await;
//! }
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use crate::StoreError;
use crate::catalog::Catalog;
use crate::model::{Collection, LabelMatcher, Labels, ServerId, Snapshot, Timestamp, Unit};
use crate::store::{HistoryQuery, Point, RetentionPolicy, Store, Tier};
use crate::testing::Rng;

/// Runs every case a store keeping raw samples must pass against `store`
/// (see [`Suite`] for a store with rollups or a catalog of its own).
pub async fn conformance(store: &dyn Store) {
    Suite::new(store).run().await;
}

/// The suite with what it may assume of a store: by default a store that
/// takes any server's reports and answers history from raw samples.
#[derive(Clone, Copy)]
pub struct Suite<'a> {
    store: &'a dyn Store,
    catalog: Option<&'a dyn Catalog>,
    rollups: bool,
}

impl<'a> Suite<'a> {
    /// The suite for `store`.
    pub fn new(store: &'a dyn Store) -> Self {
        Suite {
            store,
            catalog: None,
            rollups: false,
        }
    }

    /// For a store that keeps metrics only for the servers of `catalog`
    /// (as the SQL stores do): each case registers its servers there
    /// first, and a report of an unknown server must be refused with
    /// [`StoreError::NotFound`].
    pub fn with_catalog(mut self, catalog: &'a dyn Catalog) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// For a store that keeps minute and hour rollups: history at a step
    /// of a minute or more must come from them ([`Tier::Minute`],
    /// [`Tier::Hour`]), and each tier's retention must hold on its own.
    pub fn with_rollups(mut self) -> Self {
        self.rollups = true;
        self
    }

    /// Runs the cases.
    pub async fn run(self) {
        idempotent_ingest(self).await;
        downsampling_matches_brute_force(self).await;
        series(self).await;
        if self.rollups {
            rollup_tiers(self).await;
            retention(self).await;
        } else {
            raw_retention(self).await;
        }
        deletes(self).await;
    }

    async fn register(&self, name: &str, seed: u8) {
        if let Some(catalog) = self.catalog {
            crate::testing::catalog::register(catalog, name, seed).await;
        }
    }
}

fn id(name: &str) -> ServerId {
    ServerId::new(name).unwrap()
}

/// A snapshot with a gauge per core, a memory gauge, a counter and a
/// process.
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
    // The top processes, which a store keeps with the newest snapshot.
    c.processes = Some(vec![crate::ProcessInfo {
        pid: 4242,
        name: "postgres".into(),
        user: "postgres".into(),
        cpu_percent: Some((rng.next_u64() % 1000) as f64 / 10.0),
        rss_bytes: 64 << 20,
        command: "postgres: checkpointer".into(),
    }]);
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

async fn idempotent_ingest(suite: Suite<'_>) {
    let store = suite.store;
    suite.register("conf-idem", 10).await;
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
    suite.register("conf-clash", 11).await;
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
    // With a catalog, a snapshot of a server it does not know is refused
    // and stores nothing.
    if suite.catalog.is_some() {
        let stranger = snapshot("conf-stranger", t0, &mut rng);
        assert!(matches!(
            store.ingest(vec![stranger]).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(
            store
                .latest_snapshot(&id("conf-stranger"))
                .await
                .unwrap()
                .is_none()
        );
    }
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
async fn two_hours(suite: Suite<'_>, server: &str, seed: u64) -> (i64, Vec<Snapshot>) {
    let store = suite.store;
    suite.register(server, seed as u8).await;
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

async fn downsampling_matches_brute_force(suite: Suite<'_>) {
    let store = suite.store;
    let (t0, snapshots) = two_hours(suite, "conf-down", 20).await;
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
    assert!(
        matches!(&unknown, Err(StoreError::NotFound(_)))
            || matches!(&unknown, Ok(h) if h.series.is_empty()),
        "a server without data: {unknown:?}"
    );
}

async fn rollup_tiers(suite: Suite<'_>) {
    let store = suite.store;
    let (t0, snapshots) = two_hours(suite, "conf-roll", 30).await;
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
}

/// Every series of a server, with its newest value.
async fn series(suite: Suite<'_>) {
    let store = suite.store;
    let (_, snapshots) = two_hours(suite, "conf-series", 60).await;
    compact(store).await;
    let series = store.series(&id("conf-series")).await.unwrap();
    assert_eq!(series.len(), 5);
    let memory = series
        .iter()
        .find(|s| s.metric == "memory_used_bytes")
        .unwrap();
    let last = snapshots.last().unwrap();
    assert_eq!(
        memory.last_value,
        last.value("memory_used_bytes", &Labels::new())
    );
    assert_eq!(memory.last_seen, Some(last.timestamp));
    let none = store.series(&id("conf-nobody")).await;
    assert!(
        matches!(&none, Err(StoreError::NotFound(_))) || matches!(&none, Ok(s) if s.is_empty()),
        "a server without data: {none:?}"
    );
}

/// A store without rollups: raw samples older than the policy go.
async fn raw_retention(suite: Suite<'_>) {
    let store = suite.store;
    let (t0, _) = two_hours(suite, "conf-ret", 40).await;
    let history = || async {
        store
            .history(&HistoryQuery {
                server_id: id("conf-ret"),
                metric: "memory_used_bytes".into(),
                matchers: vec![],
                from: Timestamp::from_millis(t0),
                to: Timestamp::from_millis(t0 + 7_200_000),
                step: Some(Duration::from_secs(5)),
                max_points: 100_000,
            })
            .await
            .unwrap()
    };
    let before = history().await.series[0].points.len();
    // The first hour goes: its raw samples are older than the policy.
    let policy = RetentionPolicy {
        raw: Duration::from_secs(3600),
        ..RetentionPolicy::default()
    };
    let now = Timestamp::from_millis(t0 + 2 * 3_600_000);
    let report = store.enforce_retention(&policy, now).await.unwrap();
    assert!(report.raw_deleted > 0, "{report:?}");
    let after = history().await;
    let points = &after.series[0].points;
    assert!(points.len() < before, "{} of {before}", points.len());
    assert!(
        points.iter().all(|p| p.t.as_millis() >= t0 + 3_600_000),
        "only the second hour is left"
    );
}

async fn retention(suite: Suite<'_>) {
    let store = suite.store;
    let (t0, _) = two_hours(suite, "conf-ret", 40).await;
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

async fn deletes(suite: Suite<'_>) {
    let store = suite.store;
    let (t0, _) = two_hours(suite, "conf-del", 50).await;
    compact(store).await;
    store.delete_server_data(&id("conf-del")).await.unwrap();
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
    assert!(store.series(&id("conf-del")).await.unwrap().is_empty());
    assert!(
        !store
            .latest_snapshots()
            .await
            .unwrap()
            .iter()
            .any(|s| s.server_id == id("conf-del"))
    );
    // Again, and for a server without data: no error.
    store.delete_server_data(&id("conf-del")).await.unwrap();
    store.delete_server_data(&id("conf-nobody")).await.unwrap();
    // Other servers keep theirs.
    assert!(
        store
            .latest_snapshot(&id("conf-down"))
            .await
            .unwrap()
            .is_some()
    );
}
