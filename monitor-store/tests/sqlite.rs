//! The SQLite store passes the store conformance suite, holds its limits,
//! and says when its disk is full.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod limits;

use monitor_core::{Store, StoreError, Timestamp};
use monitor_store::{SqlStore, StoreOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let dir = std::env::temp_dir().join(format!("monitor-store-conf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = SqlStore::open(StoreOptions::sqlite(dir.join("monitor.db")))
        .await
        .unwrap();
    monitor_core::testing::store::conformance(&store).await;
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
        .register_server(monitor_core::store::NewServer {
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
    // Reads still work.
    let series = store
        .series(&monitor_core::ServerId::new("full-a").unwrap())
        .await
        .unwrap();
    assert!(!series.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
