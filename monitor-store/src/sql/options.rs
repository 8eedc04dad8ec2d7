//! What a [`SqlStore`](crate::SqlStore) is opened with: [`StoreOptions`]
//! and its parts, the migrations of each database, and [`connect`], which
//! opens the pools and brings the schema up to date.

use std::path::PathBuf;
use std::time::Duration;

use monitor_core::StoreError;
use monitor_core::store::RetentionPolicy;
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

use super::AnyPool;
use super::dialect::{Dialect, map_err, migrate_err};

/// How often SQLite syncs to disk on commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Sync the WAL on every commit: an acknowledged batch survives a power
    /// loss (the default).
    #[default]
    Full,
    /// Sync at checkpoints only: an acknowledged batch survives a crash of the
    /// process but may be lost on power loss; faster.
    Normal,
}

/// The default of [`StoreOptions::max_series_per_server`]: a host with 64
/// CPUs, 100 containers and a few plugins uses about 2,000.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// Which database a [`SqlStore`](crate::SqlStore) uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://user:password@host/db`).
    Postgres(String),
}

/// Settings of a [`SqlStore`](crate::SqlStore).
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The database.
    pub database: Database,
    /// Sync policy (SQLite; PostgreSQL always commits durably).
    pub durability: Durability,
    /// Connections for reads (SQLite) or in all (PostgreSQL).
    pub connections: u32,
    /// How long a writer or reader waits on a lock before failing (SQLite).
    pub busy_timeout: Duration,
    /// How long a call waits for a database connection (PostgreSQL down,
    /// or every connection busy) before it fails as unavailable, which the
    /// server answers with 503 and `Retry-After`. Once the writer has failed
    /// to reach the database, ingest calls fail at once for a second, then
    /// the next one tries again: a stopped database costs callers an
    /// answer within this time, not a queue of waits.
    pub acquire_timeout: Duration,
    /// How long after a one-hour window ends its reports are compacted (late
    /// replays within it are merged without rewriting a chunk).
    pub compaction_grace: Duration,
    /// What retention keeps; enforced hourly by the writer task.
    pub retention: RetentionPolicy,
    /// How many servers' newest snapshots stay in memory for the overview
    /// (the server's `CACHE_MAX_ITEMS`); the others are read from the
    /// database when asked for.
    pub latest_in_memory: usize,
    /// The most series one server may have in use (reported within the raw
    /// retention): a report that would add more is refused whole with
    /// [`StoreError::TooManySeries`], so one agent cannot fill the
    /// database with label values that change at every report.
    pub max_series_per_server: usize,
    /// SQLite only: the largest the database may grow, in bytes (its
    /// writes then fail as on a full disk). None: as large as the disk.
    pub max_size_bytes: Option<u64>,
    /// SQLite only: the size the write-ahead log is cut back to after each
    /// checkpoint (`journal_size_limit`; 64 MiB). A burst (a replay after
    /// an outage, a compaction while a long read held the log) grows the
    /// log; without a limit it kept that size on disk for ever.
    pub wal_max_bytes: u64,
}

impl StoreOptions {
    fn with(database: Database) -> Self {
        StoreOptions {
            database,
            durability: Durability::Full,
            connections: 4,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            compaction_grace: Duration::from_secs(300),
            retention: RetentionPolicy::default(),
            latest_in_memory: 1000,
            max_series_per_server: DEFAULT_MAX_SERIES,
            max_size_bytes: None,
            wal_max_bytes: 64 << 20,
        }
    }

    /// Defaults for the SQLite file at `path`.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        Self::with(Database::Sqlite(path.into()))
    }

    /// Defaults for the PostgreSQL database at `url`.
    pub fn postgres(url: impl Into<String>) -> Self {
        let mut options = Self::with(Database::Postgres(url.into()));
        options.connections = 8;
        options
    }

    /// Defaults for a URL: `sqlite:///var/lib/monitor/monitor.db`,
    /// `sqlite://relative.db`, or `postgres://...` / `postgresql://...`.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for another scheme.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() {
                return Err(StoreError::InvalidInput(format!("{url:?} names no file")));
            }
            return Ok(Self::sqlite(path));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::postgres(url));
        }
        Err(StoreError::InvalidInput(format!(
            "unsupported database URL {url:?}: use sqlite:///path/to/file.db or postgres://user@host/db"
        )))
    }
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Opens the pools of `options.database` (SQLite: one writer connection and
/// read-only readers; PostgreSQL: one pool for both) and applies the
/// migrations: the writer's pool, the readers' pool and the dialect.
///
/// # Errors
/// As [`SqlStore::open`](crate::SqlStore::open).
pub(super) async fn connect(
    options: &StoreOptions,
) -> Result<(AnyPool, AnyPool, Dialect), StoreError> {
    sqlx::any::install_default_drivers();
    let (write, read, migrator) = match &options.database {
        Database::Sqlite(path) => {
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let path = path.to_str().ok_or_else(|| {
                StoreError::InvalidInput(format!("{} is not valid UTF-8", path.display()))
            })?;
            let busy = options.busy_timeout.as_millis();
            let sync = match options.durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            };
            let mut setup = format!(
                "PRAGMA busy_timeout = {busy}; PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; \
                 PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8192; \
                 PRAGMA journal_size_limit = {wal};",
                wal = options.wal_max_bytes
            );
            if let Some(bytes) = options.max_size_bytes {
                // Pages of 4 KiB, SQLite's default.
                setup.push_str(&format!(
                    " PRAGMA max_page_count = {};",
                    (bytes / 4096).max(16)
                ));
            }
            let write = AnyPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(options.acquire_timeout.max(options.busy_timeout))
                .after_connect(move |conn, _| {
                    let setup = setup.clone();
                    Box::pin(
                        async move { conn.execute(sqlx::AssertSqlSafe(setup)).await.map(|_| ()) },
                    )
                })
                .connect(&format!("sqlite://{path}?mode=rwc"))
                .await
                .map_err(map_err)?;
            // Readers share the OS page cache: a few MiB each is enough
            // (the writer keeps 8 MiB of its own).
            let reader_setup = format!("PRAGMA busy_timeout = {busy}; PRAGMA cache_size = -2048;");
            // The writer's first connection switched the file to WAL.
            let read = AnyPoolOptions::new()
                .max_connections(options.connections.max(1))
                .acquire_timeout(options.acquire_timeout.max(options.busy_timeout))
                .after_connect(move |conn, _| {
                    let setup = reader_setup.clone();
                    Box::pin(
                        async move { conn.execute(sqlx::AssertSqlSafe(setup)).await.map(|_| ()) },
                    )
                })
                .connect_lazy(&format!("sqlite://{path}?mode=ro"))
                .map_err(map_err)?;
            (write, read, &SQLITE_MIGRATOR)
        }
        Database::Postgres(url) => {
            let pool = AnyPoolOptions::new()
                .max_connections(options.connections.max(2))
                .acquire_timeout(options.acquire_timeout)
                .connect(url)
                .await
                .map_err(map_err)?;
            (pool.clone(), pool, &POSTGRES_MIGRATOR)
        }
    };
    migrator
        .run(&write)
        .await
        .map_err(|e| migrate_err(e, migrator))?;
    let dialect = match options.database {
        Database::Sqlite(_) => Dialect::Sqlite,
        Database::Postgres(_) => Dialect::Postgres,
    };
    Ok((write, read, dialect))
}
