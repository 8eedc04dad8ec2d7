//! The PostgreSQL store passes the store conformance suite, against a real
//! server: `DATABASE_URL` when set, else a throwaway cluster started from
//! the system's `initdb` and `pg_ctl` in a temporary directory on a free
//! port. Without either, it prints "skipped: no PostgreSQL" — unless
//! `MONITOR_REQUIRE_POSTGRES=1` (set by the test script), where it fails.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod limits;

use monitor_core::{Collection, Labels, ServerId, Snapshot, Store, StoreError, Timestamp, Unit};
use monitor_store::{SqlStore, StoreOptions};

/// A throwaway PostgreSQL cluster, stopped and removed on drop.
struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    url: String,
}

fn pg_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root
/// (initdb refuses to run as root).
fn run(bin: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    let root = rustix::process::geteuid().is_root();
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    };
    cmd.args(args).output().expect("run a PostgreSQL tool")
}

impl Cluster {
    fn start() -> Option<Cluster> {
        let bin = pg_bin()?;
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("monitor-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if rustix::process::geteuid().is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success(), "chown the cluster directory to postgres");
        }
        let data = dir.join("data");
        let out = run(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str()?,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c shared_buffers=64MB",
            dir.display()
        );
        let log = dir.join("log");
        let out = run(
            &bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str()?,
                "-o",
                &options,
                "-l",
                log.to_str()?,
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Cluster {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            bin,
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = run(
            &self.bin,
            "pg_ctl",
            &["-D", data.to_str().unwrap_or(""), "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A URL to a fresh, empty database, and the cluster that serves it.
async fn database() -> Option<(String, Option<Cluster>)> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        // A new database inside the given server, so runs never collide.
        use sqlx::Connection;
        let name = format!("monitor_test_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&url)
            .await
            .expect("connect to DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
        return Some((format!("{base}/{name}"), None));
    }
    match Cluster::start() {
        Some(cluster) => Some((cluster.url.clone(), Some(cluster))),
        None => {
            if std::env::var("MONITOR_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!(
                    "MONITOR_REQUIRE_POSTGRES=1 but no DATABASE_URL and no initdb under /usr/lib/postgresql"
                );
            }
            eprintln!(
                "skipped: no PostgreSQL (set DATABASE_URL or install the postgresql package)"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    let Some((url, _cluster)) = database().await else {
        return;
    };
    let store = SqlStore::open(StoreOptions::postgres(&url)).await.unwrap();
    monitor_core::Store::health(&store).await.unwrap();
    assert_eq!(monitor_core::Store::name(&store), "postgres");
    monitor_core::testing::store::conformance(&store).await;
    monitor_core::Store::shutdown(&store).await.unwrap();
    // Reopening applies no migration twice and finds the data.
    let again = SqlStore::open(StoreOptions::postgres(&url)).await.unwrap();
    let servers = monitor_core::Store::servers(&again).await.unwrap();
    assert!(servers.iter().any(|s| s.id.as_str() == "conf-roll"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_holds_its_limits_and_isolates_a_bad_report() {
    let Some((url, _cluster)) = database().await else {
        return;
    };
    let mut options = StoreOptions::postgres(&url);
    options.max_series_per_server = limits::LIMIT;
    let store = SqlStore::open(options).await.unwrap();
    limits::all(&store).await;

    // Sixteen labels of 250 random characters: more than a btree entry
    // holds (2,704 bytes). Such a report failed its whole group commit with
    // 500, for every agent in it, and its sender retried it for ever.
    for id in ["poison-a", "poison-b", "poison-c"] {
        store
            .register_server(monitor_core::store::NewServer {
                id: ServerId::new(id).unwrap(),
                name: String::new(),
                tags: vec![],
                token_hash: monitor_core::TokenHash([id.len() as u8 ^ id.as_bytes()[7]; 32]),
                created: Timestamp::now(),
            })
            .await
            .unwrap();
    }
    let now = Timestamp::now();
    let mut c = Collection::new();
    let mut labels = Labels::new();
    for i in 0..16 {
        let value: String = (0..250)
            .map(|j| char::from(b'a' + ((i * 7 + j * 13) % 26) as u8))
            .collect();
        labels.insert(format!("l{i:02}"), value);
    }
    c.gauge("big_labels", Unit::NONE, labels, 1.0);
    let long = Snapshot::new(ServerId::new("poison-a").unwrap(), now, c);
    // And a report PostgreSQL refuses whatever the index: a NUL in a text
    // column (the wire format refuses such a name; a store caller may not).
    let mut c = Collection::new();
    c.gauge("nul\0name", Unit::NONE, Labels::new(), 1.0);
    let nul = Snapshot::new(ServerId::new("poison-b").unwrap(), now, c);
    let fine = limits::report("poison-c", now.as_millis(), "fs_used_percent", 0, 5);
    let (long, nul, fine) = tokio::join!(
        store.ingest(vec![long]),
        store.ingest(vec![nul]),
        store.ingest(vec![fine]),
    );
    assert_eq!(long.unwrap().stored, 1, "long labels are stored");
    assert_eq!(
        fine.unwrap().stored,
        1,
        "a report committed beside a bad one is stored"
    );
    match nul {
        Err(StoreError::InvalidInput(_)) => {}
        other => panic!("a report PostgreSQL refuses is invalid input (a 4xx), not {other:?}"),
    }
}
