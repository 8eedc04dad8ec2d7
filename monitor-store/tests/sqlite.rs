//! The SQLite store passes the store conformance suite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

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
