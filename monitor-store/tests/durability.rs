//! Acknowledged means durable: a child process ingests and is killed with
//! SIGKILL; every batch it had acknowledged is there after reopening. Also:
//! a database written by a newer version is refused with a clear error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use monitor_core::catalog::NewServer;
use monitor_core::store::HistoryQuery;
use monitor_core::{
    Catalog, Collection, Labels, ServerId, Snapshot, Store, StoreError, Timestamp, TokenHash, Unit,
};
use monitor_store::{SqlStore, StoreOptions};

const CHILD_ENV: &str = "MONITOR_CRASH_CHILD_DB";

fn snapshot(t: i64, i: i64) -> Snapshot {
    let mut c = Collection::new();
    c.gauge(
        "memory_used_bytes",
        Unit::BYTES,
        Labels::new(),
        (i * 4096) as f64,
    );
    c.gauge(
        "cpu_usage_percent",
        Unit::PERCENT,
        Labels::new(),
        (i % 100) as f64,
    );
    Snapshot::new(
        ServerId::new("crash").unwrap(),
        Timestamp::from_millis(t),
        c,
    )
}

fn start_ms() -> i64 {
    let now = Timestamp::now().as_millis();
    now - now.rem_euclid(3_600_000) - 3 * 3_600_000
}

/// The child: ingests batches forever, printing each acknowledged batch.
#[tokio::test]
async fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = SqlStore::open(StoreOptions::sqlite(&path)).await.unwrap();
    let _ = store
        .register_server(NewServer {
            id: ServerId::new("crash").unwrap(),
            name: String::new(),
            tags: vec![],
            token_hash: TokenHash([7; 32]),
            created: Timestamp::now(),
        })
        .await;
    let t0 = start_ms();
    let mut stdout = std::io::stdout();
    for batch in 0i64.. {
        let snapshots: Vec<Snapshot> = (0..20)
            .map(|k| {
                let i = batch * 20 + k;
                snapshot(t0 + i * 1000, i)
            })
            .collect();
        let receipt = store.ingest(snapshots).await.unwrap();
        assert_eq!(receipt.stored + receipt.duplicates, 20);
        writeln!(stdout, "ack {batch}").unwrap();
        stdout.flush().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_batches_survive_sigkill() {
    let dir = std::env::temp_dir().join(format!("monitor-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("monitor.db");
    let mut acked = -1i64;
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_millis(700 + round * 300);
        let mut last = -1;
        while Instant::now() < deadline {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(n) = line.strip_prefix("ack ") {
                        last = n.trim().parse().unwrap();
                    }
                }
                _ => break,
            }
        }
        child.kill().unwrap(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        // Batches restart at 0 in each round: duplicates count once.
        acked = acked.max(last);
        assert!(
            last >= 0,
            "the child acknowledged nothing in round {round}; it said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = SqlStore::open(StoreOptions::sqlite(&db)).await.unwrap();
    let t0 = start_ms();
    let reports = (acked + 1) * 20;
    let history = store
        .history(&HistoryQuery {
            server_id: ServerId::new("crash").unwrap(),
            metric: "memory_used_bytes".into(),
            matchers: vec![],
            from: Timestamp::from_millis(t0),
            to: Timestamp::from_millis(t0 + (reports + 1) * 1000),
            step: Some(Duration::from_secs(1)),
            max_points: 100_000,
        })
        .await
        .unwrap();
    let points = &history.series[0].points;
    for i in 0..reports {
        let t = t0 + i * 1000;
        let p = points.iter().find(|p| p.t.as_millis() == t);
        let p = p.unwrap_or_else(|| panic!("acknowledged report {i} is missing"));
        assert_eq!(p.count, 1, "report {i} stored once");
        assert_eq!(p.last, (i * 4096) as f64);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_newer_database_is_refused() {
    let dir = std::env::temp_dir().join(format!("monitor-newer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("monitor.db");
    let store = SqlStore::open(StoreOptions::sqlite(&db)).await.unwrap();
    store.shutdown().await.unwrap();
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'from the future', 1, x'00', 0)")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    match SqlStore::open(StoreOptions::sqlite(&db)).await {
        Err(
            e @ StoreError::SchemaTooNew {
                found: 9999,
                supported: 4,
            },
        ) => {
            assert!(e.to_string().contains("newer than this build"), "{e}");
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn bad_urls_say_what_to_use() {
    let err = StoreOptions::from_url("mysql://x").unwrap_err().to_string();
    assert!(err.contains("sqlite:///path/to/file.db"), "{err}");
    assert!(StoreOptions::from_url("sqlite://").is_err());
    assert!(StoreOptions::from_url("sqlite:///tmp/a.db").is_ok());
    assert!(StoreOptions::from_url("postgresql://u@h/db").is_ok());
}

/// RELIABILITY.md R7: a burst of writes while a long read holds the log
/// grows the write-ahead log; once the reader is gone, the next checkpoint
/// cuts it back to `wal_max_bytes` (it kept its high-water size on disk for
/// ever before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_is_cut_back_after_a_burst() {
    use sqlx::Connection;
    let dir = std::env::temp_dir().join(format!("monitor-wal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("db");
    let mut options = StoreOptions::sqlite(&db);
    options.wal_max_bytes = 1 << 20;
    options.durability = monitor_store::Durability::Normal;
    let store = SqlStore::open(options).await.unwrap();
    store
        .register_server(NewServer {
            id: ServerId::new("crash").unwrap(),
            name: String::new(),
            tags: vec![],
            token_hash: TokenHash([7; 32]),
            created: Timestamp::now(),
        })
        .await
        .unwrap();
    let wal = || std::fs::metadata(dir.join("db-wal")).map_or(0, |m| m.len());
    // A reader in a transaction: no checkpoint can go past its view.
    let mut reader = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
    let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM servers")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    let start = start_ms();
    let mut i = 0;
    while wal() < 6 << 20 {
        store
            .ingest(vec![snapshot(start + i * 1000, i)])
            .await
            .unwrap();
        i += 1;
        assert!(i < 20_000, "the log did not grow: {} bytes", wal());
    }
    let grown = wal();
    sqlx::query("ROLLBACK").execute(&mut reader).await.unwrap();
    reader.close().await.unwrap();
    // Writes go on; a checkpoint runs and the log is cut back.
    let deadline = Instant::now() + Duration::from_secs(30);
    while wal() > 1 << 20 {
        assert!(
            Instant::now() < deadline,
            "the log stayed at {} bytes (it grew to {grown})",
            wal()
        );
        store
            .ingest(vec![snapshot(start + i * 1000, i)])
            .await
            .unwrap();
        i += 1;
    }
    eprintln!(
        "the log grew to {grown} bytes under a long read, then was cut back to {}",
        wal()
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
