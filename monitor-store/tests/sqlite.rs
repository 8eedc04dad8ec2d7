//! The SQLite store passes the store and catalog conformance suites, holds its limits,
//! and says when its disk is full.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod limits;

use monitor_core::{Catalog, Store, StoreError, Timestamp};
use monitor_store::{SqlStore, StoreOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let dir = std::env::temp_dir().join(format!("monitor-store-conf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = SqlStore::open(StoreOptions::sqlite(dir.join("monitor.db")))
        .await
        .unwrap();
    monitor_core::testing::store::Suite::new(&store)
        .with_catalog(&store)
        .with_rollups()
        .run()
        .await;
    monitor_core::testing::catalog::conformance(&store).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_holds_its_limits() {
    let dir = std::env::temp_dir().join(format!("monitor-store-limits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut options = StoreOptions::sqlite(dir.join("monitor.db"));
    options.max_series_per_server = limits::LIMIT;
    let store = SqlStore::open(options).await.unwrap();
    limits::all(&store).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A full disk (here the database's size limit, which SQLite reports the
/// same way): ingest fails with `Full` (the server answers 507), the health
/// check says writes fail, and what was stored before is still read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_reported_as_such() {
    let dir = std::env::temp_dir().join(format!("monitor-store-full-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut options = StoreOptions::sqlite(dir.join("monitor.db"));
    options.max_size_bytes = Some(400 << 10);
    let store = SqlStore::open(options).await.unwrap();
    store
        .register_server(monitor_core::catalog::NewServer {
            id: monitor_core::ServerId::new("full-a").unwrap(),
            name: String::new(),
            tags: vec![],
            token_hash: monitor_core::TokenHash([7; 32]),
            created: Timestamp::now(),
        })
        .await
        .unwrap();
    store.health().await.unwrap();
    let now = Timestamp::now().as_millis();
    let mut stored = 0;
    let error = loop {
        let t = now - 3_000_000 + stored as i64 * 1000;
        match store
            .ingest(vec![limits::report(
                "full-a",
                t,
                "fs_used_percent",
                stored * 200,
                200,
            )])
            .await
        {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 10_000, "the database never filled");
    };
    assert!(matches!(error, StoreError::Full(_)), "{error}");
    assert!(matches!(store.health().await, Err(StoreError::Full(_))));
    // The writer's own writes fail for want of space too (the newest
    // snapshots flushed to their rows); the next report is still told the
    // disk is full, not that the database does not answer (before: 503
    // "does not answer" for a second after each such failure).
    let _ = store.flush().await;
    let again = store
        .ingest(vec![limits::report(
            "full-a",
            now + 1000,
            "fs_used_percent",
            stored * 200,
            200,
        )])
        .await;
    assert!(matches!(again, Err(StoreError::Full(_))), "{again:?}");
    // Reads still work.
    let series = store
        .series(&monitor_core::ServerId::new("full-a").unwrap())
        .await
        .unwrap();
    assert!(!series.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A damaged row (a report that cannot be decoded, a value of the wrong
/// type) stopped compaction and retention for every server, and a
/// mistyped server row panicked at start (the release build aborts: a
/// crash loop). Now the row is left out, logged with its key and counted,
/// and everything else goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_row_stops_nothing_else() {
    use sqlx::Connection;
    let dir = std::env::temp_dir().join(format!("monitor-store-damaged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("monitor.db");
    let mut options = StoreOptions::sqlite(&db);
    // No compaction on its own while the test damages a report.
    options.compaction_grace = std::time::Duration::from_secs(86_400);
    let store = SqlStore::open(options).await.unwrap();
    let hour = 3_600_000;
    let now = Timestamp::now().as_millis();
    let start = now - now.rem_euclid(hour) - 3 * hour;
    for (i, id) in ["damaged-a", "damaged-b"].into_iter().enumerate() {
        store
            .register_server(monitor_core::catalog::NewServer {
                id: monitor_core::ServerId::new(id).unwrap(),
                name: String::new(),
                tags: vec![],
                token_hash: monitor_core::TokenHash([i as u8 + 40; 32]),
                created: Timestamp::now(),
            })
            .await
            .unwrap();
        let reports: Vec<_> = (0..10)
            .map(|r| limits::report(id, start + r * 60_000, "fs_used_percent", 0, 3))
            .collect();
        store.ingest(reports).await.unwrap();
    }
    // Another program damages one report of damaged-a.
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let damaged = sqlx::query(
        "UPDATE head SET body = X'FFFFFFFF' WHERE ts = $1 AND server = (SELECT id FROM servers WHERE name = 'damaged-a')",
    )
    .bind(start + 3 * 60_000)
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(damaged.rows_affected(), 1);
    // Both servers' windows compact; the damaged report alone is left out.
    store
        .compact(Timestamp::now().add_millis(2 * 86_400_000))
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM head")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0, "every window was compacted");
    assert_eq!(store.stats().corrupt_rows, 1);
    let count = |id: &str| {
        let store = store.clone();
        let id = monitor_core::ServerId::new(id).unwrap();
        async move {
            store
                .history(&monitor_core::store::HistoryQuery {
                    server_id: id,
                    metric: "fs_used_percent".into(),
                    matchers: vec![monitor_core::LabelMatcher::equal("mountpoint", "/mnt/0")],
                    from: Timestamp::from_millis(start - hour),
                    to: Timestamp::now(),
                    step: Some(std::time::Duration::from_secs(1)),
                    max_points: 100_000,
                })
                .await
                .unwrap()
                .series[0]
                .points
                .len()
        }
    };
    assert_eq!(count("damaged-a").await, 9);
    assert_eq!(count("damaged-b").await, 10);
    store
        .enforce_retention(
            &monitor_core::store::RetentionPolicy::default(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    store.shutdown().await.unwrap();
    drop(store);
    // A value of the wrong type in a server's row: the store still opens.
    sqlx::query("UPDATE servers SET last_seen = 'not a time' WHERE name = 'damaged-b'")
        .execute(&mut conn)
        .await
        .unwrap();
    let again = SqlStore::open(StoreOptions::sqlite(&db)).await.unwrap();
    let servers = monitor_core::Catalog::servers(&again).await.unwrap();
    let names: Vec<&str> = servers.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        names,
        ["damaged-a"],
        "the damaged row is left out, the others listed"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
