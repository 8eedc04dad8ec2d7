//! Storage benchmark: ingest throughput, bytes per sample, compaction and
//! query latency, next to a naive one-row-per-sample SQLite table.
//!
//! Run with: `cargo bench -p monitor-store --bench store --features postgres`
//!
//! Sizes (environment): `BENCH_SERVERS` (1,000; the overview reads them
//! all), `BENCH_REPORTS` per server (1,000 at a 5 s interval: one million
//! reports in all), `BENCH_LONG_DAYS` of history of one more server for the
//! long queries (30). PostgreSQL is measured when `DATABASE_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use monitor_core::catalog::NewServer;
use monitor_core::store::HistoryQuery;
use monitor_core::testing::{Rng, report};
use monitor_core::{Catalog, ServerId, Snapshot, Store, Timestamp, TokenHash};
use monitor_store::{SqlStore, StoreOptions};

fn env(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn register(store: &SqlStore, name: &str, seed: u64) {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&seed.to_le_bytes());
    store
        .register_server(NewServer {
            id: ServerId::new(name).unwrap(),
            name: String::new(),
            tags: vec![],
            token_hash: TokenHash(hash),
            created: Timestamp::now(),
        })
        .await
        .unwrap();
}

async fn measure(label: &str, mut options: StoreOptions, sqlite_path: Option<&std::path::Path>) {
    let servers = env("BENCH_SERVERS", 1_000);
    let per_server = env("BENCH_REPORTS", 1_000);
    // The reports are generated hours in the past. In production a window is
    // compacted once, after it ends, while reports arrive in the current one;
    // here the background compaction would run during the timed ingest and
    // find every window due. It waits for the explicit, separately timed
    // `compact` instead.
    options.compaction_grace = Duration::from_secs(12 * 3600);
    let store = SqlStore::open(options.clone()).await.unwrap();
    for s in 0..servers {
        register(&store, &format!("bench-{s}"), s as u64 + 1).await;
    }
    let now = Timestamp::now().as_millis();
    let t0 = now - now.rem_euclid(3_600_000) - per_server * 5000 - 2 * 3_600_000;
    let samples_per_report = report("bench-0", t0, 0, &mut Rng(1)).sample_count() as i64;

    // The timed part: up to 200,000 reports generated before the clock
    // starts (more would not fit in memory as snapshots), in batches of 100
    // round-robin over servers, ingested by 4 concurrent callers.
    let timed_rounds = per_server.min((200_000 / servers).max(1));
    let mut rng = Rng(7);
    let mut batches: Vec<Vec<Snapshot>> = Vec::new();
    let mut batch = Vec::with_capacity(100);
    for i in 0..timed_rounds {
        for s in 0..servers {
            batch.push(report(&format!("bench-{s}"), t0 + i * 5000, i, &mut rng));
            if batch.len() == 100 {
                batches.push(std::mem::take(&mut batch));
            }
        }
    }
    if !batch.is_empty() {
        batches.push(std::mem::take(&mut batch));
    }
    let queue = std::sync::Arc::new(std::sync::Mutex::new(batches.into_iter()));
    eprintln!("{label}: timed ingest starts");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        let queue = std::sync::Arc::clone(&queue);
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().unwrap().next();
                let Some(batch) = next else { break };
                store.ingest(batch).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let timed = servers * timed_rounds;
    println!(
        "{label}: ingest {timed} reports ({} samples) in {secs:.2} s: {:.0} reports/s, {:.0} samples/s",
        timed * samples_per_report,
        timed as f64 / secs,
        (timed * samples_per_report) as f64 / secs
    );
    // The rest, generated as it goes (not timed).
    for i in timed_rounds..per_server {
        for s in 0..servers {
            batch.push(report(&format!("bench-{s}"), t0 + i * 5000, i, &mut rng));
            if batch.len() == 500 {
                store.ingest(std::mem::take(&mut batch)).await.unwrap();
            }
        }
    }
    if !batch.is_empty() {
        store.ingest(batch).await.unwrap();
    }
    let reports = servers * per_server;
    let samples = reports * samples_per_report;
    println!("{label}: {reports} reports ({samples} samples) stored in all");
    let started = Instant::now();
    let windows = store
        .compact(Timestamp::from_millis(now + 86_400_000))
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{label}: compaction of {windows} server-hours in {secs:.2} s: {:.0} samples/s",
        samples as f64 / secs
    );
    // Query: 24 h (or all there is) of one series at full resolution.
    let q = |from: i64, to: i64, step: Option<u64>, points: u32| HistoryQuery {
        server_id: ServerId::new("bench-0").unwrap(),
        metric: "cpu_usage_percent".into(),
        matchers: vec![monitor_core::LabelMatcher::equal("cpu", "")],
        from: Timestamp::from_millis(from),
        to: Timestamp::from_millis(to),
        step: step.map(Duration::from_secs),
        max_points: points,
    };
    let end = t0 + per_server * 5000;
    let from = end - (24 * 3_600_000).min(per_server * 5000);
    let started = Instant::now();
    let h = store
        .history(&q(from, end, Some(5), 100_000))
        .await
        .unwrap();
    println!(
        "{label}: query {} points at full resolution ({:?} tier): {:.1} ms",
        h.series[0].points.len(),
        h.tier,
        started.elapsed().as_secs_f64() * 1e3
    );

    // Overview: the newest snapshot of every server and the server list
    // (what `GET /api/servers` reads).
    let started = Instant::now();
    let overview = store.latest_snapshots().await.unwrap();
    println!(
        "{label}: overview of {} servers (newest snapshot of each, held in memory): {:.1} ms",
        overview.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let started = Instant::now();
    let list = store.servers().await.unwrap();
    println!(
        "{label}: list of {} servers (records with last-seen times): {:.1} ms",
        list.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    // The same from the database: a second store on it that holds none in
    // memory (as right after a restart, or past `latest_in_memory`).
    store.flush().await.unwrap();
    let cold = SqlStore::open(StoreOptions {
        latest_in_memory: 0,
        ..options
    })
    .await
    .unwrap();
    let started = Instant::now();
    let overview = cold.latest_snapshots().await.unwrap();
    println!(
        "{label}: overview of {} servers read from the database: {:.1} ms",
        overview.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    cold.shutdown().await.unwrap();

    // A long history: one server, BENCH_LONG_DAYS at 5 s, then the range as
    // at most 1,000 points.
    let days = env("BENCH_LONG_DAYS", 30);
    let mut samples = samples;
    if days > 0 {
        register(&store, "long-0", 999_999).await;
        let reports = days * 86_400 / 5;
        let start = now - now.rem_euclid(3_600_000) - reports * 5000;
        let started = Instant::now();
        let mut rng = Rng(11);
        let mut batch = Vec::with_capacity(500);
        for i in 0..reports {
            batch.push(report("long-0", start + i * 5000, i, &mut rng));
            if batch.len() == 500 {
                store.ingest(std::mem::take(&mut batch)).await.unwrap();
            }
        }
        if !batch.is_empty() {
            store.ingest(batch).await.unwrap();
        }
        store
            .compact(Timestamp::from_millis(now + 86_400_000))
            .await
            .unwrap();
        samples += reports * samples_per_report;
        println!(
            "{label}: {days} days of one server ({reports} reports) generated, ingested and compacted in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let long = |step: Option<u64>, points: u32, from: i64| HistoryQuery {
            server_id: ServerId::new("long-0").unwrap(),
            from: Timestamp::from_millis(from),
            to: Timestamp::from_millis(start + reports * 5000),
            step: step.map(Duration::from_secs),
            max_points: points,
            ..q(0, 1, None, 1)
        };
        for (what, query) in [
            (
                format!("{days} days as <= 1000 points"),
                long(None, 1000, start),
            ),
            (
                "the last 24 h at full resolution".to_owned(),
                long(
                    Some(5),
                    100_000,
                    start + (reports - reports.min(17_280)) * 5000,
                ),
            ),
        ] {
            let started = Instant::now();
            let h = store.history(&query).await.unwrap();
            println!(
                "{label}: query {what}: {} points ({:?} tier, step {} s) in {:.1} ms",
                h.series[0].points.len(),
                h.tier,
                h.step_secs,
                started.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    store.shutdown().await.unwrap();
    drop(store);
    if let Some(path) = sqlite_path {
        use sqlx::{Connection, Executor};
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let payload = |table: &'static str, column: &'static str| {
            format!("SELECT COALESCE(SUM(LENGTH({column})), 0) FROM {table}")
        };
        let mut sizes = Vec::new();
        for (table, column) in [
            ("chunks", "data"),
            ("chunk_times", "times"),
            ("rollups", "data"),
        ] {
            let bytes: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(payload(table, column)))
                .fetch_one(&mut conn)
                .await
                .unwrap();
            sizes.push(bytes);
        }
        println!(
            "{label}: {samples} samples in all; encoded payload per sample: raw chunks {:.2} B (values) + {:.2} B (times), rollups {:.2} B",
            sizes[0] as f64 / samples as f64,
            sizes[1] as f64 / samples as f64,
            sizes[2] as f64 / samples as f64
        );
        // VACUUM writes through the WAL; count the pages in use.
        conn.execute("VACUUM").await.unwrap();
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .unwrap();
        let bytes: i64 = sqlx::query_scalar(
            "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        println!(
            "{label}: database after VACUUM {:.1} MiB: {:.2} bytes per sample (raw chunks, rollups, series, indexes)",
            bytes as f64 / 1048576.0,
            bytes as f64 / samples as f64
        );
    }
}

/// The naive baseline: one row per sample, 1,000-row transactions.
async fn naive(path: &std::path::Path) {
    use sqlx::{Connection, Executor};
    let servers = env("BENCH_SERVERS", 100).min(10);
    let per_server = env("BENCH_REPORTS", 2_000);
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE samples (series INTEGER NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (series, ts)) WITHOUT ROWID")
        .await
        .unwrap();
    let mut rng = Rng(3);
    let started = Instant::now();
    let mut rows = 0i64;
    let mut tx = conn.begin().await.unwrap();
    for s in 0..servers {
        for i in 0..per_server {
            let snap = report("bench-0", i * 5000, i, &mut rng);
            for (k, f) in snap
                .metrics
                .iter()
                .flat_map(|f| f.samples.iter())
                .enumerate()
            {
                sqlx::query("INSERT INTO samples (series, ts, value) VALUES ($1, $2, $3)")
                    .bind(s * 1000 + k as i64)
                    .bind(i * 5000)
                    .bind(f.value)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                rows += 1;
                if rows % 1000 == 0 {
                    tx.commit().await.unwrap();
                    tx = conn.begin().await.unwrap();
                }
            }
        }
    }
    tx.commit().await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        .await
        .unwrap();
    let bytes = SqlStore::disk_usage(path);
    println!(
        "naive sqlite (one row per sample): {rows} samples in {secs:.2} s: {:.0} samples/s; {:.2} bytes per sample",
        rows as f64 / secs,
        bytes as f64 / rows as f64
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("monitor-store-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("bench.db");
        measure("sqlite", StoreOptions::sqlite(&db), Some(&db)).await;
        if let Ok(url) = std::env::var("DATABASE_URL") {
            measure("postgres", StoreOptions::postgres(url), None).await;
        } else {
            println!("(DATABASE_URL not set: PostgreSQL figures skipped)");
        }
        naive(&dir.join("naive.db")).await;
        if std::env::var("BENCH_KEEP").is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            println!("(kept {})", dir.display());
        }
    });
}
