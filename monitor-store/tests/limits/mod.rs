//! What one agent must not be able to do to a store, for both databases:
//! pass the per-server series limit (its report fails alone, the reports
//! committed with it are stored), break history with many series, keep
//! series whose data has expired.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use monitor_core::catalog::NewServer;
use monitor_core::store::{HistoryQuery, MAX_HISTORY_POINTS, RetentionPolicy};
use monitor_core::{
    Catalog, Collection, Labels, ServerId, Snapshot, Store, StoreError, Timestamp, TokenHash, Unit,
};
use monitor_store::SqlStore;

/// The series limit the stores of these checks are opened with.
pub(crate) const LIMIT: usize = 50_000;

async fn register(store: &SqlStore, id: &str) {
    let mut hash = [0u8; 32];
    for (i, b) in id.bytes().enumerate() {
        hash[i % 32] ^= b.rotate_left(i as u32);
    }
    store
        .register_server(NewServer {
            id: ServerId::new(id).unwrap(),
            name: String::new(),
            tags: vec![],
            token_hash: TokenHash(hash),
            created: Timestamp::now(),
        })
        .await
        .unwrap();
}

/// A report of `id` at `ms` with `n` series of `metric`, label values from
/// `first` on.
pub(crate) fn report(id: &str, ms: i64, metric: &str, first: usize, n: usize) -> Snapshot {
    let mut c = Collection::new();
    for i in first..first + n {
        c.gauge(
            metric,
            Unit::PERCENT,
            Labels::new().with("mountpoint", format!("/mnt/{i}")),
            (i % 100) as f64,
        );
    }
    let mut s = Snapshot::new(ServerId::new(id).unwrap(), Timestamp::from_millis(ms), c);
    s.interval_secs = Some(5.0);
    s
}

/// A report over the limit fails alone with `TooManySeries`; a call
/// committed in the same group is stored; what the server had stays.
pub(crate) async fn a_report_over_the_series_limit_fails_alone(store: &SqlStore) {
    register(store, "lim-a").await;
    register(store, "lim-b").await;
    let now = Timestamp::now().as_millis();
    let first = store
        .ingest(vec![report(
            "lim-a",
            now - 10_000,
            "fs_used_percent",
            0,
            10,
        )])
        .await
        .unwrap();
    assert_eq!(first.stored, 1);
    let refused_before = store.stats().series_refused;
    // Both calls at once: the writer commits them in one transaction.
    let (over, fine) = tokio::join!(
        store.ingest(vec![report(
            "lim-a",
            now - 5_000,
            "fs_used_percent",
            10,
            LIMIT
        )]),
        store.ingest(vec![report("lim-b", now - 5_000, "fs_used_percent", 0, 10)]),
    );
    match over {
        Err(StoreError::TooManySeries {
            active,
            adding,
            limit,
            ..
        }) => assert_eq!((active, adding, limit), (10, LIMIT, LIMIT)),
        other => panic!("expected TooManySeries, got {other:?}"),
    }
    assert_eq!(fine.unwrap().stored, 1, "the other call was stored");
    assert_eq!(store.stats().series_refused, refused_before + 1);
    let series = store
        .series(&ServerId::new("lim-a").unwrap())
        .await
        .unwrap();
    assert_eq!(series.len(), 10, "no series of the refused report");
    // Within the limit, the server goes on.
    let next = store
        .ingest(vec![report("lim-a", now, "fs_used_percent", 0, 11)])
        .await
        .unwrap();
    assert_eq!(next.stored, 1);
}

/// History of a metric with more series than a query may bind parameters
/// (SQLite 32,766, PostgreSQL 65,535) answers, within the point budget.
pub(crate) async fn history_answers_for_any_number_of_series(store: &SqlStore) {
    register(store, "many-a").await;
    let now = Timestamp::now().as_millis();
    let per_report = 4_500;
    for r in 0..8 {
        let receipt = store
            .ingest(vec![report(
                "many-a",
                now - 60_000 + r as i64 * 5_000,
                "fs_used_percent",
                r * per_report,
                per_report,
            )])
            .await
            .unwrap();
        assert_eq!(receipt.stored, 1);
    }
    let history = store
        .history(&HistoryQuery {
            server_id: ServerId::new("many-a").unwrap(),
            metric: "fs_used_percent".into(),
            matchers: vec![],
            from: Timestamp::from_millis(now - 3_600_000),
            to: Timestamp::from_millis(now + 1000),
            step: Some(Duration::from_secs(1)),
            max_points: 100_000,
        })
        .await
        .unwrap();
    assert_eq!(history.series.len(), 8 * per_report);
    let points: usize = history.series.iter().map(|s| s.points.len()).sum();
    assert_eq!(points, 8 * per_report, "each series has its one report");
    assert!(points <= MAX_HISTORY_POINTS);
    // The step was widened so that the answer stays within the budget.
    assert!(
        history.step_secs * (MAX_HISTORY_POINTS as u64 / (8 * per_report) as u64) >= 3600,
        "step {}",
        history.step_secs
    );
}

/// Series whose data has all expired go with it; the server's next report
/// makes them again.
pub(crate) async fn series_expire_with_their_data(store: &SqlStore) {
    register(store, "exp-a").await;
    let now = Timestamp::now();
    store
        .ingest(vec![report(
            "exp-a",
            now.as_millis() - 60_000,
            "fs_used_percent",
            0,
            3,
        )])
        .await
        .unwrap();
    let id = ServerId::new("exp-a").unwrap();
    assert_eq!(store.series(&id).await.unwrap().len(), 3);
    // Three years on, everything of that report is past every retention.
    let later = now.add_millis(3 * 365 * 86_400_000);
    store
        .enforce_retention(&RetentionPolicy::default(), later)
        .await
        .unwrap();
    assert_eq!(
        store.series(&id).await.unwrap().len(),
        0,
        "the series expired"
    );
    // A new report makes its series again (the writer forgot the old ids).
    store
        .ingest(vec![report(
            "exp-a",
            now.as_millis(),
            "fs_used_percent",
            1,
            3,
        )])
        .await
        .unwrap();
    let series = store.series(&id).await.unwrap();
    assert_eq!(series.len(), 3);
    let history = store
        .history(&HistoryQuery {
            server_id: id,
            metric: "fs_used_percent".into(),
            matchers: vec![],
            from: now.add_millis(-3_600_000),
            to: now.add_millis(1000),
            step: None,
            max_points: 100,
        })
        .await
        .unwrap();
    assert_eq!(history.series.len(), 3);
    assert!(history.series.iter().all(|s| s.points.len() == 1));
}

/// Every check, on a store opened with the [`LIMIT`].
pub(crate) async fn all(store: &SqlStore) {
    series_expire_with_their_data(store).await;
    a_report_over_the_series_limit_fails_alone(store).await;
    history_answers_for_any_number_of_series(store).await;
}
