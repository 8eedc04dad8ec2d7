//! The SQLite store: one file, WAL mode, one writer task with group commit,
//! a pool of readers that never block it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use monitor_core::store::{
    AlertStateRecord, Delivery, DeliveryBacklog, EventFilter, History, HistoryQuery, IngestReceipt,
    MAX_HISTORY_POINTS, NewServer, RetentionPolicy, RetentionReport, SeriesInfo, ServerRecord,
    Tier,
};
use monitor_core::{
    AlertEvent, AlertRule, Labels, MetricFamily, MetricKind, ServerId, Snapshot, Store, StoreError,
    Timestamp, TokenHash, Unit,
};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, Executor, Row};

type AnyPool = sqlx::Pool<Any>;
use tokio::sync::{mpsc, oneshot};

use crate::engine::{
    self, Bucket, Downsampler, HOUR, MINUTE, RAW_WINDOW, RawWindow, TIER_HOUR, TIER_MINUTE,
    window_of,
};
use crate::latest::Latest;

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

/// How [`SqlStore`]'s health check begins its message when the database
/// answers reads but its writes fail.
pub const WRITES_FAILING: &str = "writes are failing";

/// Which database a [`SqlStore`] uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://user:password@host/db`).
    Postgres(String),
}

/// Settings of a [`SqlStore`].
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

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Job {
    Ingest(Vec<Snapshot>, Reply<IngestReceipt>),
    Flush(Reply<()>),
    DeleteServer(ServerId, Reply<()>),
    Compact(i64, Reply<usize>),
    Retention(RetentionPolicy, i64, Reply<RetentionReport>),
}

/// A [`Store`] on SQLite or PostgreSQL.
///
/// Writes go through one task that commits many ingest calls in one
/// transaction (group commit) and acknowledges each only after the commit;
/// reads use a separate pool of connections (WAL mode: readers never block
/// the writer). The same task compacts finished hours into compressed
/// chunks and rollups and enforces retention.
#[derive(Debug, Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    write: AnyPool,
    read: AnyPool,
    jobs: mpsc::Sender<Job>,
    retention: RetentionPolicy,
    dialect: Dialect,
    pending: Pending,
    stats: Arc<crate::stats::Counters>,
    /// The server list as last read: answered, with the newest reports'
    /// facts, while the database does not answer (the overview and
    /// `/metrics` keep working through an outage).
    known_servers: std::sync::Mutex<Option<Vec<ServerRecord>>>,
    /// Whether the database answered lately (shared with the writer).
    reach: Arc<Reachability>,
}

/// The newest snapshot of each server (see [`Latest`]): the writer keeps
/// them here and flushes them every few seconds (and at shutdown) instead of
/// rewriting a row per report; readers look here first. The samples
/// themselves are durable at once in the head table.
type Pending = Arc<Latest>;

/// Newer facts from a held snapshot over a stored record.
fn overlay(mut record: ServerRecord, pending: &Pending) -> ServerRecord {
    if let Some(s) = pending.packed(record.id.as_str())
        && record.last_seen.is_none_or(|seen| s.timestamp >= seen)
    {
        record.last_seen = Some(s.timestamp);
        record.interval_secs = s.interval_secs.or(record.interval_secs);
        if let Some(host) = &s.host {
            record.hostname = Some(host.hostname.clone());
            record.os = Some(host.os.clone());
        }
    }
    record
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Ingest(..) => "Ingest",
            Job::Flush(..) => "Flush",
            Job::DeleteServer(..) => "DeleteServer",
            Job::Compact(..) => "Compact",
            Job::Retention(..) => "Retention",
        })
    }
}

pub(crate) fn map_err(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => {
            #[cfg(feature = "postgres")]
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                return postgres_error(pg.code(), pg.message())
                    .unwrap_or(StoreError::Other(Box::new(error)));
            }
            let code = db.code().unwrap_or_default();
            // SQLite result codes (extended codes keep the low byte): 5
            // BUSY, 6 LOCKED, 13 FULL; 10 IOERR and 14 CANTOPEN (the disk or
            // the file went away); 18 TOOBIG; 19 CONSTRAINT.
            match code.parse::<i32>().map(|c| c & 0xff) {
                Ok(13) => StoreError::Full(db.message().to_owned()),
                Ok(5 | 6 | 10 | 14) => StoreError::Unavailable(db.message().to_owned()),
                Ok(18) => StoreError::InvalidInput(db.message().to_owned()),
                _ if db.is_unique_violation() => StoreError::Conflict(db.message().to_owned()),
                _ => StoreError::Other(Box::new(error)),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.to_string())
        }
        _ => StoreError::Other(Box::new(error)),
    }
}

/// What a PostgreSQL error (its SQLSTATE) means for a caller; `None` for
/// an error to pass on as is. PostgreSQL's codes are five characters in
/// classes, not SQLite's numbers: read as SQLite's, 42501 (no privilege)
/// looked like "busy" and a full disk like an internal error.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn postgres_error(code: &str, message: &str) -> Option<StoreError> {
    let message = message.to_owned();
    Some(match code {
        // disk_full
        "53100" => StoreError::Full(message),
        // insufficient resources, too many connections, serialization
        // failures and deadlocks, shutdowns and restarts, connection
        // problems, a read-only standby: worth retrying.
        c if c.starts_with("53") || c.starts_with("08") || c.starts_with("57P") => {
            StoreError::Unavailable(message)
        }
        "40001" | "40P01" | "25006" | "55P03" => StoreError::Unavailable(message),
        "23505" => StoreError::Conflict(message),
        // program_limit_exceeded (an index entry too large), data
        // exceptions (a value out of range): this input, not the database.
        c if c.starts_with("54") || c.starts_with("22") => StoreError::InvalidInput(message),
        _ => return None,
    })
}

fn migrate_err(
    error: sqlx::migrate::MigrateError,
    migrator: &sqlx::migrate::Migrator,
) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::VersionMissing(found) => StoreError::SchemaTooNew {
            found,
            supported: migrator.iter().map(|m| m.version).max().unwrap_or(0),
        },
        sqlx::migrate::MigrateError::Execute(e) => map_err(e),
        other => StoreError::Other(Box::new(other)),
    }
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The SQL dialect, where the two databases differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

fn kind_code(kind: MetricKind) -> i64 {
    match kind {
        MetricKind::Gauge => 0,
        MetricKind::Counter => 1,
    }
}

fn kind_from(code: i64) -> MetricKind {
    if code == 1 {
        MetricKind::Counter
    } else {
        MetricKind::Gauge
    }
}

fn labels_key(labels: &Labels) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".into())
}

fn json_err(error: serde_json::Error) -> StoreError {
    StoreError::Other(Box::new(error))
}

impl SqlStore {
    /// Opens (or creates) the database, applies migrations and starts the
    /// writer task. Needs a Tokio runtime.
    ///
    /// # Errors
    /// [`StoreError::SchemaTooNew`] when the database was written by a newer
    /// version; [`StoreError::Unavailable`] when it cannot be reached.
    pub async fn open(options: StoreOptions) -> Result<Self, StoreError> {
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
                        Box::pin(async move {
                            conn.execute(sqlx::AssertSqlSafe(setup)).await.map(|_| ())
                        })
                    })
                    .connect(&format!("sqlite://{path}?mode=rwc"))
                    .await
                    .map_err(map_err)?;
                // Readers share the OS page cache: a few MiB each is enough
                // (the writer keeps 8 MiB of its own).
                let reader_setup =
                    format!("PRAGMA busy_timeout = {busy}; PRAGMA cache_size = -2048;");
                // The writer's first connection switched the file to WAL.
                let read = AnyPoolOptions::new()
                    .max_connections(options.connections.max(1))
                    .acquire_timeout(options.acquire_timeout.max(options.busy_timeout))
                    .after_connect(move |conn, _| {
                        let setup = reader_setup.clone();
                        Box::pin(async move {
                            conn.execute(sqlx::AssertSqlSafe(setup)).await.map(|_| ())
                        })
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
        let (jobs, rx) = mpsc::channel(1024);
        let pending: Pending = Arc::new(Latest::new(options.latest_in_memory));
        let stats = Arc::new(crate::stats::Counters::default());
        let reach = Arc::new(Reachability::default());
        let writer = Writer::load(
            write.clone(),
            options.clone(),
            dialect,
            Arc::clone(&pending),
            Arc::clone(&stats),
            Arc::clone(&reach),
        )
        .await?;
        tokio::spawn(writer.run(rx));
        Ok(SqlStore {
            inner: Arc::new(Inner {
                write,
                read,
                jobs,
                retention: options.retention,
                dialect,
                pending,
                stats,
                known_servers: std::sync::Mutex::new(None),
                reach,
            }),
        })
    }

    /// Notes a failure to reach the database (when `error` says so) and
    /// passes `error` on.
    fn unreached(&self, error: StoreError) -> StoreError {
        self.inner.reach.observe(&Err::<(), _>(error.duplicate()));
        error
    }

    /// The server list as last read, when the database failed with
    /// `error` and a list was read before; else the error.
    fn known_servers(&self, error: StoreError) -> Result<Vec<ServerRecord>, StoreError> {
        if !error.is_retryable() {
            return Err(error);
        }
        let known = self
            .inner
            .known_servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match known {
            Some(list) => {
                tracing::debug!(%error, "The database does not answer; the server list as last read is used.");
                Ok(list
                    .into_iter()
                    .map(|r| overlay(r, &self.inner.pending))
                    .collect())
            }
            None => Err(error),
        }
    }

    /// What the writer has done so far, and how many calls wait for it.
    pub fn stats(&self) -> crate::stats::WriterStats {
        let jobs = &self.inner.jobs;
        let capacity = jobs.max_capacity();
        self.inner
            .stats
            .read(capacity.saturating_sub(jobs.capacity()), capacity)
    }

    /// Opens the database of a URL with default options (see
    /// [`StoreOptions::from_url`]).
    ///
    /// # Errors
    /// As [`SqlStore::open`], and [`StoreError::InvalidInput`] for a bad URL.
    pub async fn open_url(url: &str) -> Result<Self, StoreError> {
        SqlStore::open(StoreOptions::from_url(url)?).await
    }

    async fn job<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .jobs
            .send(make(tx))
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?
    }

    /// Compacts every window that has ended by `now` (plus the grace
    /// period); returns how many. The writer does this on its own every
    /// few seconds; tests and benchmarks call it to be deterministic.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub async fn compact(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.job(|tx| Job::Compact(now.as_millis(), tx)).await
    }

    /// Writes the newest snapshots held in memory to their servers' rows
    /// now; the writer does it every second and at shutdown (the
    /// samples themselves are durable when `ingest` answers).
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.job(Job::Flush).await
    }

    /// Bytes used by the database file and its WAL.
    pub fn disk_usage(path: &std::path::Path) -> u64 {
        let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        size(path.to_path_buf()) + size(PathBuf::from(wal))
    }

    async fn server_row(&self, id: &ServerId) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT id FROM servers WHERE name = $1")
            .bind(id.as_str())
            .fetch_optional(&self.inner.read)
            .await
            .map_err(map_err)
    }
}

fn record_from(row: &AnyRow) -> Result<ServerRecord, StoreError> {
    let name: String = row.try_get("name").map_err(map_err)?;
    let tags: String = row.try_get("tags").map_err(map_err)?;
    Ok(ServerRecord {
        id: ServerId::new(name).map_err(|e| StoreError::Other(Box::new(e)))?,
        name: row.try_get("display_name").map_err(map_err)?,
        tags: serde_json::from_str(&tags).map_err(json_err)?,
        hostname: row.try_get("hostname").map_err(map_err)?,
        os: row.try_get("os").map_err(map_err)?,
        created: Timestamp::from_millis(row.try_get("created").map_err(map_err)?),
        last_seen: row
            .try_get::<Option<i64>, _>("last_seen")
            .map_err(map_err)?
            .map(Timestamp::from_millis),
        interval_secs: row.try_get("interval_secs").map_err(map_err)?,
    })
}

const SERVER_COLUMNS: &str =
    "name, display_name, tags, hostname, os, created, last_seen, interval_secs";

#[async_trait]
impl Store for SqlStore {
    fn name(&self) -> &str {
        match self.inner.dialect {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    async fn register_server(&self, server: NewServer) -> Result<ServerRecord, StoreError> {
        let name = if server.name.is_empty() {
            server.id.to_string()
        } else {
            server.name.clone()
        };
        let tags = serde_json::to_string(&server.tags).map_err(json_err)?;
        let result = sqlx::query(
            "INSERT INTO servers (name, display_name, tags, token_hash, created) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(server.id.as_str())
        .bind(&name)
        .bind(&tags)
        .bind(&server.token_hash.0[..])
        .bind(server.created.as_millis())
        .execute(&self.inner.write)
        .await;
        match result.map_err(map_err) {
            Err(StoreError::Conflict(_)) => {
                return Err(StoreError::Conflict(format!("server {}", server.id)));
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        Ok(ServerRecord {
            id: server.id,
            name,
            tags: server.tags,
            hostname: None,
            os: None,
            created: server.created,
            last_seen: None,
            interval_secs: None,
        })
    }

    async fn server(&self, id: &ServerId) -> Result<Option<ServerRecord>, StoreError> {
        if self.inner.reach.down() {
            return Err(Reachability::error());
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SERVER_COLUMNS} FROM servers WHERE name = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.inner.read)
        .await
        .map_err(|e| self.unreached(map_err(e)))?;
        self.inner.reach.observe(&Ok(()));
        Ok(row
            .as_ref()
            .map(record_from)
            .transpose()?
            .map(|r| overlay(r, &self.inner.pending)))
    }

    async fn servers(&self) -> Result<Vec<ServerRecord>, StoreError> {
        if self.inner.reach.down() {
            return self.known_servers(Reachability::error());
        }
        let rows = match sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SERVER_COLUMNS} FROM servers ORDER BY name"
        )))
        .fetch_all(&self.inner.read)
        .await
        {
            Ok(rows) => {
                self.inner.reach.observe(&Ok(()));
                rows
            }
            Err(error) => return self.known_servers(self.unreached(map_err(error))),
        };
        // A damaged row is logged and left out: one server's row must not
        // make the list of all of them fail.
        let list: Vec<ServerRecord> = rows
            .iter()
            .filter_map(|row| match record_from(row) {
                Ok(r) => Some(r),
                Err(error) => {
                    self.inner
                        .stats
                        .corrupt_rows
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(%error, "A server row cannot be read; it is left out of the list.");
                    None
                }
            })
            .collect();
        *self
            .inner
            .known_servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(list.clone());
        Ok(list
            .into_iter()
            .map(|r| overlay(r, &self.inner.pending))
            .collect())
    }

    async fn server_by_token(&self, hash: &TokenHash) -> Result<Option<ServerRecord>, StoreError> {
        if self.inner.reach.down() {
            return Err(Reachability::error());
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SERVER_COLUMNS} FROM servers WHERE token_hash = $1"
        )))
        .bind(&hash.0[..])
        .fetch_optional(&self.inner.read)
        .await
        .map_err(|e| self.unreached(map_err(e)))?;
        self.inner.reach.observe(&Ok(()));
        Ok(row
            .as_ref()
            .map(record_from)
            .transpose()?
            .map(|r| overlay(r, &self.inner.pending)))
    }

    async fn rotate_token(&self, id: &ServerId, hash: TokenHash) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE servers SET token_hash = $1 WHERE name = $2")
            .bind(&hash.0[..])
            .bind(id.as_str())
            .execute(&self.inner.write)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("server {id}")));
        }
        Ok(())
    }

    async fn delete_server(&self, id: &ServerId) -> Result<(), StoreError> {
        self.job(|tx| Job::DeleteServer(id.clone(), tx)).await?;
        if let Some(list) = self
            .inner
            .known_servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
        {
            list.retain(|r| &r.id != id);
        }
        Ok(())
    }

    async fn ingest(&self, snapshots: Vec<Snapshot>) -> Result<IngestReceipt, StoreError> {
        if snapshots.is_empty() {
            return Ok(IngestReceipt::default());
        }
        self.job(|tx| Job::Ingest(snapshots, tx)).await
    }

    async fn latest_snapshot(&self, id: &ServerId) -> Result<Option<Arc<Snapshot>>, StoreError> {
        if let Some(s) = self.inner.pending.get(id.as_str()) {
            return Ok(Some(s));
        }
        let blob: Option<Option<Vec<u8>>> = sqlx::query_scalar(
            "SELECT l.body FROM latest l JOIN servers s ON s.id = l.server WHERE s.name = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.inner.read)
        .await
        .map_err(map_err)?;
        match blob.flatten() {
            Some(bytes) => Ok(Some(Arc::new(
                serde_json::from_slice(&bytes).map_err(json_err)?,
            ))),
            None => Ok(None),
        }
    }

    async fn latest_timestamp(&self, id: &ServerId) -> Result<Option<Timestamp>, StoreError> {
        if let Some(s) = self.inner.pending.packed(id.as_str()) {
            return Ok(Some(s.timestamp));
        }
        Ok(self.latest_snapshot(id).await?.map(|s| s.timestamp))
    }

    async fn latest_snapshots(&self) -> Result<Vec<Arc<Snapshot>>, StoreError> {
        // Which servers have a newest snapshot, and how new: a held snapshot
        // at least as new as the database's (another process sharing a
        // PostgreSQL database may have stored a newer one) is used as is.
        let held = self.inner.pending.all();
        if self.inner.reach.down() {
            return Ok(held.into_values().collect());
        }
        let stored: Vec<(String, Option<i64>)> =
            match sqlx::query_as("SELECT name, last_seen FROM servers WHERE last_seen IS NOT NULL")
                .fetch_all(&self.inner.read)
                .await
            {
                Ok(stored) => {
                    self.inner.reach.observe(&Ok(()));
                    stored
                }
                Err(error) => {
                    let error = self.unreached(map_err(error));
                    if error.is_retryable() {
                        // The database does not answer: those held in memory.
                        return Ok(held.into_values().collect());
                    }
                    return Err(error);
                }
            };
        let mut all: BTreeMap<String, Arc<Snapshot>> = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, last_seen) in stored {
            match held.get(&name) {
                Some(s) if last_seen.is_none_or(|t| s.timestamp.as_millis() >= t) => {}
                _ => missing.push(name),
            }
        }
        for names in missing.chunks(500) {
            let sql = format!(
                "SELECT l.body FROM latest l JOIN servers s ON s.id = l.server WHERE s.name IN ({})",
                placeholders(1, names.len())
            );
            let mut q = sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(sql));
            for name in names {
                q = q.bind(name.as_str());
            }
            for blob in q.fetch_all(&self.inner.read).await.map_err(map_err)? {
                let s: Snapshot = serde_json::from_slice(&blob).map_err(json_err)?;
                all.insert(s.server_id.to_string(), Arc::new(s));
            }
        }
        for (name, s) in held {
            all.entry(name).or_insert(s);
        }
        Ok(all.into_values().collect())
    }

    async fn history(&self, query: &HistoryQuery) -> Result<History, StoreError> {
        let (from, to) = (query.from.as_millis(), query.to.as_millis());
        if from >= to {
            return Err(StoreError::InvalidInput(format!(
                "the range is empty: from {} is not before to {}",
                query.from, query.to
            )));
        }
        let server = self
            .server_row(&query.server_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("server {}", query.server_id)))?;
        let rows = sqlx::query("SELECT id, labels, kind, unit FROM series WHERE server = $1 AND metric = $2 ORDER BY labels")
            .bind(server)
            .bind(&query.metric)
            .fetch_all(&self.inner.read)
            .await
            .map_err(map_err)?;
        let mut wanted = Vec::new();
        for row in &rows {
            let labels: Labels =
                serde_json::from_str(&row.get::<String, _>("labels")).map_err(json_err)?;
            if monitor_core::model::matches_all(&query.matchers, &labels) {
                wanted.push((
                    row.get::<i64, _>("id"),
                    labels,
                    kind_from(row.get("kind")),
                    Unit::new(row.get::<String, _>("unit")),
                ));
            }
        }
        // The answer holds at most MAX_HISTORY_POINTS in all: with many
        // series, each gets fewer (coarser) buckets.
        let per_series = u32::try_from(MAX_HISTORY_POINTS / wanted.len().max(1))
            .unwrap_or(u32::MAX)
            .clamp(1, query.max_points.max(1));
        let step = engine::plan_step(
            to - from,
            query.step.map(|s| s.as_millis() as i64),
            per_series,
        );
        let tier = engine::choose_tier(
            step,
            from,
            Timestamp::now().as_millis(),
            &self.inner.retention,
        );
        // Each series' buckets, filled in any order; what is read is folded
        // in at once, so memory holds the answer, not the samples.
        let mut down: HashMap<i64, Downsampler> = wanted
            .iter()
            .map(|w| (w.0, Downsampler::new(step, from, to)))
            .collect();
        if !wanted.is_empty() {
            // One snapshot of the database for the stored tier and the head
            // table: a compaction between the two reads would otherwise
            // move reports out of the head table after the tier was read,
            // and they would be missing from the answer.
            let mut conn = self.inner.read.begin().await.map_err(map_err)?;
            if self.inner.dialect == Dialect::Postgres {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
            }
            let ids: Vec<i64> = wanted.iter().map(|w| w.0).collect();
            match tier {
                Tier::Raw => {
                    let first = window_of(from, RAW_WINDOW);
                    let times: Vec<(i64, Vec<u8>)> = sqlx::query_as("SELECT win, times FROM chunk_times WHERE server = $1 AND win >= $2 AND win < $3")
                        .bind(server)
                        .bind(first)
                        .bind(to)
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    // The series a few hundred at a time: any number of
                    // series fits the databases' limits on parameters.
                    for group in ids.chunks(SERIES_PER_QUERY) {
                        let sql = format!(
                            "SELECT series, win, data FROM chunks WHERE win >= $1 AND win < $2 AND series IN ({})",
                            placeholders(3, group.len())
                        );
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(first).bind(to);
                        for id in group {
                            q = q.bind(*id);
                        }
                        let chunk_rows = q.fetch_all(&mut *conn).await.map_err(map_err)?;
                        let mut by_window: HashMap<i64, Vec<(i64, Vec<u8>)>> = HashMap::new();
                        for row in chunk_rows {
                            by_window
                                .entry(row.try_get("win").map_err(map_err)?)
                                .or_default()
                                .push((
                                    row.try_get("series").map_err(map_err)?,
                                    row.try_get("data").map_err(map_err)?,
                                ));
                        }
                        for (win, window_times) in &times {
                            let chunks = by_window.remove(win).unwrap_or_default();
                            let window = RawWindow::decode(window_times, &chunks)
                                .map_err(engine::corrupt("chunk"))?;
                            for id in group {
                                if let Some(d) = down.get_mut(id) {
                                    for (t, v) in window.points(*id) {
                                        d.add(t, &Bucket::one(v));
                                    }
                                }
                            }
                        }
                    }
                }
                Tier::Minute | Tier::Hour => {
                    let (code, (width, span)) = if tier == Tier::Minute {
                        (TIER_MINUTE, MINUTE)
                    } else {
                        (TIER_HOUR, HOUR)
                    };
                    for group in ids.chunks(SERIES_PER_QUERY) {
                        let sql = format!(
                            "SELECT series, win, data FROM rollups WHERE tier = $1 AND win >= $2 AND win < $3 AND series IN ({})",
                            placeholders(4, group.len())
                        );
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(code)
                            .bind(window_of(from, span))
                            .bind(to);
                        for id in group {
                            q = q.bind(*id);
                        }
                        for row in q.fetch_all(&mut *conn).await.map_err(map_err)? {
                            let series: i64 = row.try_get("series").map_err(map_err)?;
                            let buckets = engine::decode_rollup(
                                &row.try_get::<Vec<u8>, _>("data").map_err(map_err)?,
                                row.try_get("win").map_err(map_err)?,
                                width,
                            )
                            .map_err(engine::corrupt("rollup"))?;
                            if let Some(d) = down.get_mut(&series) {
                                for (t, b) in &buckets {
                                    d.add(*t, b);
                                }
                            }
                        }
                    }
                }
            }
            // Reports not compacted yet, one row at a time (a row holds
            // every sample of one report).
            {
                use futures_util::TryStreamExt;
                let mut head = sqlx::query(
                    "SELECT ts, body FROM head WHERE server = $1 AND ts >= $2 AND ts < $3",
                )
                .bind(server)
                .bind(from)
                .bind(to)
                .fetch(&mut *conn);
                while let Some(row) = head.try_next().await.map_err(map_err)? {
                    let ts: i64 = row.try_get("ts").map_err(map_err)?;
                    let samples =
                        engine::decode_report(&row.try_get::<Vec<u8>, _>("body").map_err(map_err)?)
                            .map_err(engine::corrupt("report"))?;
                    for (id, value) in samples {
                        if let Some(d) = down.get_mut(&id) {
                            d.add(ts, &Bucket::one(value));
                        }
                    }
                }
            }
            conn.commit().await.map_err(map_err)?;
        }
        let series = wanted
            .into_iter()
            .map(|(id, labels, kind, unit)| monitor_core::store::Series {
                metric: query.metric.clone(),
                labels,
                kind,
                unit,
                points: down
                    .remove(&id)
                    .map(Downsampler::finish)
                    .unwrap_or_default(),
            })
            .collect();
        Ok(History {
            step_secs: (step / 1000) as u64,
            tier,
            series,
        })
    }

    async fn series(&self, id: &ServerId) -> Result<Vec<SeriesInfo>, StoreError> {
        let server = self
            .server_row(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("server {id}")))?;
        let latest = self.latest_snapshot(id).await?;
        let rows = sqlx::query("SELECT metric, labels, kind, unit FROM series WHERE server = $1 ORDER BY metric, labels")
            .bind(server)
            .fetch_all(&self.inner.read)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let metric: String = row.get("metric");
                let labels: Labels =
                    serde_json::from_str(&row.get::<String, _>("labels")).map_err(json_err)?;
                let last_value = latest.as_ref().and_then(|s| s.value(&metric, &labels));
                Ok(SeriesInfo {
                    last_seen: last_value.and(latest.as_ref().map(|s| s.timestamp)),
                    last_value,
                    metric,
                    labels,
                    kind: kind_from(row.get("kind")),
                    unit: Unit::new(row.get::<String, _>("unit")),
                })
            })
            .collect()
    }

    async fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        json_bodies(&self.inner.read, "SELECT body FROM alert_rules ORDER BY id").await
    }

    async fn put_alert_rule(&self, mut rule: AlertRule) -> Result<AlertRule, StoreError> {
        if rule.id.is_empty() {
            rule.id = new_id();
        }
        let body = serde_json::to_string(&rule).map_err(json_err)?;
        sqlx::query("INSERT INTO alert_rules (id, body) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = excluded.body")
            .bind(&rule.id)
            .bind(body)
            .execute(&self.inner.write)
            .await
            .map_err(map_err)?;
        Ok(rule)
    }

    async fn delete_alert_rule(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM alert_rules WHERE id = $1")
            .bind(id)
            .execute(&self.inner.write)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("alert rule {id}")));
        }
        Ok(())
    }

    async fn append_alert_events(
        &self,
        events: &[AlertEvent],
    ) -> Result<Vec<AlertEvent>, StoreError> {
        self.record_alert_transitions(events, &[]).await
    }

    /// The events and their deliveries in one transaction.
    async fn record_alert_transitions(
        &self,
        events: &[AlertEvent],
        deliveries: &[Delivery],
    ) -> Result<Vec<AlertEvent>, StoreError> {
        let mut tx = self.inner.write.begin().await.map_err(map_err)?;
        insert_deliveries(&mut tx, deliveries).await?;
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let body = serde_json::to_string(event).map_err(json_err)?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO alert_events (server, rule_id, at, body) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(event.server_id.as_str())
            .bind(&event.rule_id)
            .bind(event.at.as_millis())
            .bind(body)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
            let mut stored = event.clone();
            stored.id = id;
            out.push(stored);
        }
        tx.commit().await.map_err(map_err)?;
        Ok(out)
    }

    async fn alert_events(&self, filter: &EventFilter) -> Result<Vec<AlertEvent>, StoreError> {
        let limit = filter.effective_limit();
        // The page after event `before`: what comes after it in the
        // (at, id) descending order (an unknown id lists nothing).
        let cursor = match filter.before {
            None => None,
            Some(before) => {
                let at: Option<i64> =
                    sqlx::query_scalar("SELECT at FROM alert_events WHERE id = $1")
                        .bind(before)
                        .fetch_optional(&self.inner.read)
                        .await
                        .map_err(map_err)?;
                match at {
                    Some(at) => Some((at, before)),
                    None => return Ok(Vec::new()),
                }
            }
        };
        let rows = sqlx::query(
            "SELECT id, body FROM alert_events \
             WHERE ($1 IS NULL OR server = $1) AND ($2 IS NULL OR rule_id = $2) AND ($3 IS NULL OR at >= $3) \
             AND ($5 IS NULL OR at < $5 OR (at = $5 AND id < $6)) \
             ORDER BY at DESC, id DESC LIMIT $4",
        )
        .bind(filter.server_id.as_ref().map(|s| s.as_str().to_owned()))
        .bind(filter.rule_id.clone())
        .bind(filter.since.map(Timestamp::as_millis))
        .bind(limit as i64)
        .bind(cursor.map(|c| c.0))
        .bind(cursor.map(|c| c.1))
        .fetch_all(&self.inner.read)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let mut event: AlertEvent =
                    serde_json::from_str(&row.get::<String, _>("body")).map_err(json_err)?;
                event.id = row.get("id");
                Ok(event)
            })
            .collect()
    }

    async fn alert_states(&self) -> Result<Vec<AlertStateRecord>, StoreError> {
        json_bodies(&self.inner.read, "SELECT body FROM alert_states").await
    }

    async fn save_alert_states(&self, states: &[AlertStateRecord]) -> Result<(), StoreError> {
        let mut tx = self.inner.write.begin().await.map_err(map_err)?;
        for state in states {
            sqlx::query("INSERT INTO alert_states (rule_id, server, labels, body) VALUES ($1, $2, $3, $4) ON CONFLICT (rule_id, server, labels) DO UPDATE SET body = excluded.body")
                .bind(&state.rule_id)
                .bind(state.server_id.as_str())
                .bind(labels_key(&state.labels))
                .bind(serde_json::to_string(state).map_err(json_err)?)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.inner.read)
            .await
            .map_err(map_err)?;
        value
            .map(|v| serde_json::from_str(&v).map_err(json_err))
            .transpose()
    }

    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value.to_string())
            .execute(&self.inner.write)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn queue_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let mut tx = self.inner.write.begin().await.map_err(map_err)?;
        insert_deliveries(&mut tx, deliveries).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn waiting_deliveries(
        &self,
        notifier: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<(i64, String, String, i64, i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT id, notifier, body, attempts, next_at, created, last_error FROM deliveries \
             WHERE notifier = $1 ORDER BY id LIMIT $2",
        )
        .bind(notifier)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.inner.write)
        .await
        .map_err(map_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, notifier, body, attempts, next_at, created, last_error) in rows {
            match serde_json::from_str(&body) {
                Ok(notification) => out.push(Delivery {
                    id,
                    notifier,
                    notification,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    next_at: Timestamp::from_millis(next_at),
                    created: Timestamp::from_millis(created),
                    last_error,
                }),
                Err(error) => {
                    // A damaged row would hold up the notifier's queue for
                    // ever: it goes, said and counted.
                    self.inner
                        .stats
                        .corrupt_rows
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(%error, id, %notifier, "A queued notification cannot be read; it is removed.");
                    self.remove_delivery(id).await?;
                }
            }
        }
        Ok(out)
    }

    async fn remove_delivery(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM deliveries WHERE id = $1")
            .bind(id)
            .execute(&self.inner.write)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn postpone_delivery(
        &self,
        id: i64,
        attempts: u32,
        next_at: Timestamp,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET attempts = $1, next_at = $2, last_error = $3 WHERE id = $4",
        )
        .bind(i64::from(attempts))
        .bind(next_at.as_millis())
        .bind(error)
        .bind(id)
        .execute(&self.inner.write)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn delivery_backlog(&self) -> Result<Vec<DeliveryBacklog>, StoreError> {
        // Asked by every scrape of /metrics: at once while the database
        // does not answer (the caller keeps the figures it had).
        if self.inner.reach.down() {
            return Err(Reachability::error());
        }
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT notifier, COUNT(*), MIN(created) FROM deliveries GROUP BY notifier ORDER BY notifier",
        )
        .fetch_all(&self.inner.read)
        .await
        .map_err(|e| self.unreached(map_err(e)))?;
        self.inner.reach.observe(&Ok(()));
        Ok(rows
            .into_iter()
            .map(|(notifier, waiting, oldest)| DeliveryBacklog {
                notifier,
                waiting: usize::try_from(waiting).unwrap_or(0),
                oldest: oldest.map(Timestamp::from_millis),
            })
            .collect())
    }

    async fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        now: Timestamp,
    ) -> Result<RetentionReport, StoreError> {
        let policy = *policy;
        self.job(|tx| Job::Retention(policy, now.as_millis(), tx))
            .await
    }

    /// The database answers a read, and the writer's last commit did not
    /// fail: [`StoreError::Full`] while writes fail for lack of space,
    /// [`StoreError::Unavailable`] while they fail otherwise (reads may
    /// still work).
    async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.inner.read)
            .await
            .map_err(map_err)?;
        if self.inner.jobs.is_closed() {
            return Err(StoreError::Unavailable(
                "the store's writer has stopped".into(),
            ));
        }
        match self.inner.stats.write_failure() {
            None => Ok(()),
            Some(f) if f.full => Err(StoreError::Full(format!("{WRITES_FAILING}: {}", f.message))),
            Some(f) => Err(StoreError::Unavailable(format!(
                "{WRITES_FAILING}: {}",
                f.message
            ))),
        }
    }

    async fn shutdown(&self) -> Result<(), StoreError> {
        // Every acknowledged write is committed; write the newest snapshots
        // to their rows and close the pools cleanly.
        self.job(Job::Flush).await?;
        self.inner.read.close().await;
        self.inner.write.close().await;
        Ok(())
    }
}

/// Inserts deliveries in `tx`.
async fn insert_deliveries(
    tx: &mut sqlx::Transaction<'static, Any>,
    deliveries: &[Delivery],
) -> Result<(), StoreError> {
    for d in deliveries {
        let body = serde_json::to_string(&d.notification).map_err(json_err)?;
        sqlx::query(
            "INSERT INTO deliveries (notifier, body, attempts, next_at, created, last_error) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&d.notifier)
        .bind(body)
        .bind(i64::from(d.attempts))
        .bind(d.next_at.as_millis())
        .bind(d.created.as_millis())
        .bind(d.last_error.clone())
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

/// Every row of a one-column query of JSON texts, decoded.
async fn json_bodies<T: serde::de::DeserializeOwned>(
    pool: &AnyPool,
    sql: &'static str,
) -> Result<Vec<T>, StoreError> {
    let bodies: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(pool)
        .await
        .map_err(map_err)?;
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(json_err))
        .collect()
}

/// Newest snapshots written per flush step.
const FLUSH_CHUNK: usize = 50;

/// Series rows per INSERT statement (6 parameters each).
const SERIES_PER_INSERT: usize = 100;

/// Series ids per `IN (...)` of a read: far under both databases' limits
/// on parameters (SQLite 32,766, PostgreSQL 65,535).
const SERIES_PER_QUERY: usize = 500;

/// Head rows per INSERT statement (3 parameters each, well under both
/// databases' parameter limits).
const HEAD_ROWS_PER_INSERT: usize = 500;

/// Rows per multi-row upsert of compaction (4 parameters each at most).
const ROWS_PER_UPSERT: usize = 500;

/// Appends `rows` parenthesized groups of `width` placeholders to a
/// multi-row `VALUES` list: anonymous ones for SQLite (it finds a numbered
/// one by a linear search), numbered ones for PostgreSQL.
fn push_rows(sql: &mut String, dialect: Dialect, rows: usize, width: usize) {
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for j in 0..width {
            if j > 0 {
                sql.push_str(", ");
            }
            match dialect {
                Dialect::Sqlite => sql.push('?'),
                Dialect::Postgres => sql.push_str(&format!("${}", i * width + j + 1)),
            }
        }
        sql.push(')');
    }
}

/// `$first, $first+1, ...`: `n` numbered placeholders.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A random-enough id for rules: time and a counter.
fn new_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "r{:x}{:04x}",
        Timestamp::now().as_millis(),
        COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff
    )
}

/// What the writer remembers about one server.
#[derive(Debug, Default)]
struct ServerCache {
    id: i64,
    last_seen: Option<i64>,
    /// The last snapshot's shape (a hash of its names and labels) and the
    /// series ids in sample order: most reports have the same shape.
    shape: Option<(u64, Vec<i64>)>,
    /// Oldest report still in the head table.
    head_min: Option<i64>,
    /// An upper bound of the newest report in the head table: a report
    /// after it is new without asking the database.
    head_max: Option<i64>,
    /// Every window before this one is compacted.
    compacted_until: i64,
    /// The server's series, when loaded (see [`SeriesMap`]).
    series: Option<SeriesMap>,
}

/// One server's series as the writer knows them: (metric, labels key) →
/// (id, last used). Loaded when a report of a new shape comes and kept for
/// the servers whose shapes changed last ([`MAPS_KEPT`]), so that a server
/// whose series change at every report costs a lookup per series, not a
/// read of all of them.
#[derive(Debug, Default)]
struct SeriesMap {
    ids: HashMap<(String, String), (i64, i64)>,
}

impl SeriesMap {
    /// Series used at or after `since`.
    fn in_use(&self, since: i64) -> usize {
        self.ids.values().filter(|(_, used)| *used >= since).count()
    }
}

/// How many servers' [`SeriesMap`]s the writer keeps.
const MAPS_KEPT: usize = 64;

/// A series' last use is written when it is older than this (once a day
/// per series at most, not at every report).
const TOUCH_AFTER: i64 = 86_400_000;

/// What one group commit answers: a receipt or an error of its own per
/// job (a report over the series limit fails its call alone), and the
/// (job, index) of each server's newest new report.
type IngestDone = (Vec<Result<IngestReceipt, StoreError>>, Vec<(usize, usize)>);

/// One ingest call waiting for the writer: its snapshots and where to
/// answer.
type IngestJob = (Vec<Snapshot>, Reply<IngestReceipt>);

/// The single writer: group commit, compaction, retention.
struct Writer {
    pool: AnyPool,
    options: StoreOptions,
    dialect: Dialect,
    pending: Pending,
    servers: HashMap<String, ServerCache>,
    /// The servers whose [`SeriesMap`] is loaded, the last used last.
    maps: std::collections::VecDeque<String>,
    /// Servers whose newest snapshot the flush in progress writes.
    flush_queue: Vec<String>,
    stats: Arc<crate::stats::Counters>,
    /// Whether the database answered lately (shared with the readers).
    reach: Arc<Reachability>,
}

/// How long, after a call failed to reach the database, ingest is refused
/// at once and reads use what memory holds, before the next call tries
/// again.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Whether the database answered lately: shared by the writer and the
/// readers, so that a stopped database is probed by one call at a time
/// (every [`RECONNECT_PAUSE`] at most) while the others fail at once,
/// rather than every call waiting a connection timeout.
#[derive(Debug, Default)]
struct Reachability {
    /// Wall-clock milliseconds until which the database counts as
    /// unreachable; 0 when it answered last.
    until: std::sync::atomic::AtomicI64,
}

/// How long one probe of a database that did not answer may take before
/// another call probes too (its own result normally ends it sooner).
const PROBE_MS: i64 = 60_000;

impl Reachability {
    /// True while the database counts as unreachable: the caller fails at
    /// once. After a pause, one caller gets false (it probes) and the
    /// others keep getting true until its result is observed.
    fn down(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let until = self.until.load(Relaxed);
        if until == 0 {
            return false;
        }
        let now = Timestamp::now().as_millis();
        if now < until {
            return true;
        }
        self.until
            .compare_exchange(until, now + PROBE_MS, Relaxed, Relaxed)
            .is_err()
    }

    /// Notes whether a call reached the database.
    fn observe<T>(&self, result: &Result<T, StoreError>) {
        use std::sync::atomic::Ordering::Relaxed;
        match result {
            Ok(_) => {
                if self.until.swap(0, Relaxed) != 0 {
                    tracing::info!("The database answers again.");
                }
            }
            Err(error) if error.is_retryable() => {
                let until = Timestamp::now().as_millis()
                    + i64::try_from(RECONNECT_PAUSE.as_millis()).unwrap_or(1000);
                if self.until.swap(until, Relaxed) == 0 {
                    tracing::warn!(%error, "The database does not answer; ingest is refused with 503 and reads use what memory holds until it does.");
                }
            }
            Err(_) => {}
        }
    }

    /// The error for a call not made while the database is down.
    fn error() -> StoreError {
        StoreError::Unavailable(
            "the database does not answer; the server keeps trying to reconnect".into(),
        )
    }
}

/// What the writer needs to know of each server at start-up.
const SERVER_STATE: &str = "SELECT s.name, s.id, s.last_seen, \
     (SELECT MIN(ts) FROM head h WHERE h.server = s.id) AS head_min, \
     (SELECT MAX(ts) FROM head h WHERE h.server = s.id) AS head_max, \
     (SELECT MAX(win) FROM chunk_times c WHERE c.server = s.id) AS last_win \
     FROM servers s";

/// The writer's view of one server from a row of [`SERVER_STATE`], with its
/// name; `None` for a row whose id cannot be read (logged). A value of the
/// wrong type elsewhere is logged and taken as absent: a damaged row must
/// not stop the store from opening (a panic here aborted the process at
/// every start).
fn server_cache(row: &AnyRow) -> Option<(String, ServerCache)> {
    let name: String = match row.try_get("name") {
        Ok(name) => name,
        Err(error) => {
            tracing::error!(%error, "A server row has no readable name; it is left out.");
            return None;
        }
    };
    let id: i64 = match row.try_get("id") {
        Ok(id) => id,
        Err(error) => {
            tracing::error!(%error, server = %name, "A server row has no readable id; it is left out.");
            return None;
        }
    };
    let optional = |column: &str| match row.try_get::<Option<i64>, _>(column) {
        Ok(value) => value,
        Err(error) => {
            tracing::error!(%error, server = %name, column, "A value of the wrong type in the database; taken as absent.");
            None
        }
    };
    let cache = ServerCache {
        id,
        last_seen: optional("last_seen"),
        head_min: optional("head_min"),
        head_max: optional("head_max"),
        compacted_until: optional("last_win").map_or(i64::MIN, |w| w + RAW_WINDOW),
        ..ServerCache::default()
    };
    Some((name, cache))
}

/// A hash of a snapshot's metric names and labels (a fast one: it runs for
/// every report, and a collision could only mislabel the sender's own data).
fn shape_of(snapshot: &Snapshot) -> u64 {
    use std::hash::BuildHasher;
    let mut h = foldhash::fast::FixedState::with_seed(0x006d_6f6e_6974_6f72).build_hasher();
    for family in &snapshot.metrics {
        family.name.hash(&mut h);
        family.samples.len().hash(&mut h);
        for sample in &family.samples {
            sample.labels.hash(&mut h);
        }
    }
    h.finish()
}

impl Writer {
    async fn load(
        pool: AnyPool,
        options: StoreOptions,
        dialect: Dialect,
        pending: Pending,
        stats: Arc<crate::stats::Counters>,
        reach: Arc<Reachability>,
    ) -> Result<Self, StoreError> {
        let mut writer = Writer {
            pool,
            options,
            dialect,
            pending,
            servers: HashMap::new(),
            maps: std::collections::VecDeque::new(),
            flush_queue: Vec::new(),
            stats,
            reach,
        };
        let rows = sqlx::query(SERVER_STATE)
            .fetch_all(&writer.pool)
            .await
            .map_err(map_err)?;
        for row in rows {
            if let Some((name, cache)) = server_cache(&row) {
                writer.servers.insert(name, cache);
            }
        }
        Ok(writer)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_retention = 0i64;
        let mut ticks = 0u64;
        let (mut flushing, mut compacting) = (false, false);
        loop {
            tokio::select! {
                job = rx.recv() => {
                    let Some(job) = job else { break };
                    let mut ingest = Vec::new();
                    let mut other = Vec::new();
                    let mut next = Some(job);
                    while let Some(job) = next.take() {
                        match job {
                            Job::Ingest(batch, reply) => ingest.push((batch, reply)),
                            job => other.push(job),
                        }
                        if ingest.len() + other.len() < 512 {
                            next = rx.try_recv().ok();
                        }
                    }
                    if !ingest.is_empty() {
                        self.ingest(ingest).await;
                    }
                    for job in other {
                        self.other(job).await;
                    }
                }
                // Maintenance goes in small steps between ingest jobs, so
                // an acknowledgement never waits for a whole flush or
                // compaction pass.
                _ = std::future::ready(()), if flushing || compacting => {
                    if self.unreachable().is_some() {
                        // Retried at the next tick after the pause.
                        (flushing, compacting) = (false, false);
                    } else if flushing {
                        let result = self.flush_some(FLUSH_CHUNK).await;
                        self.observe(&result);
                        match result {
                            Ok(more) => flushing = more,
                            Err(error) => {
                                flushing = false;
                                tracing::warn!(%error, "Could not write the newest snapshots; retried at the next tick.");
                            }
                        }
                    } else {
                        let now = Timestamp::now().as_millis();
                        let result = self.compact_due(now, 1).await;
                        self.observe(&result);
                        match result {
                            Ok(done) => compacting = done > 0,
                            Err(error) => {
                                compacting = false;
                                tracing::error!(%error, "Compaction failed; the reports stay in the head table and are retried.");
                            }
                        }
                    }
                }
                _ = tick.tick() => {
                    let now = Timestamp::now().as_millis();
                    self.flush_queue = self.pending.dirty_names();
                    flushing = true;
                    compacting = true;
                    ticks += 1;
                    if ticks.is_multiple_of(60) {
                        // Another process sharing the database may have
                        // ingested or compacted: learn what is pending.
                        if let Err(error) = self.refresh().await {
                            tracing::warn!(%error, "Could not refresh the writer's view of pending reports.");
                        }
                    }
                    if now - last_retention >= 3_600_000 {
                        last_retention = now;
                        let policy = self.options.retention;
                        if let Err(error) = self.retention(&policy, now).await {
                            tracing::error!(%error, "Retention pass failed; retried in an hour.");
                        }
                    }
                }
            }
        }
    }

    async fn refresh(&mut self) -> Result<(), StoreError> {
        let rows = sqlx::query(SERVER_STATE)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        for row in rows {
            let Some((name, fresh)) = server_cache(&row) else {
                continue;
            };
            match self.servers.get_mut(&name) {
                Some(cache) => {
                    cache.head_min = fresh.head_min;
                    cache.head_max = cache.head_max.max(fresh.head_max);
                    cache.compacted_until = cache.compacted_until.max(fresh.compacted_until);
                }
                None => {
                    self.servers.insert(name, fresh);
                }
            }
        }
        Ok(())
    }

    async fn other(&mut self, job: Job) {
        match job {
            Job::Ingest(..) => {}
            Job::DeleteServer(id, reply) => {
                let _ = reply.send(self.delete_server(&id).await);
            }
            Job::Flush(reply) => {
                let _ = reply.send(self.flush().await);
            }
            Job::Compact(now, reply) => {
                let _ = reply.send(self.compact_due(now, usize::MAX).await);
            }
            Job::Retention(policy, now, reply) => {
                let _ = reply.send(self.retention(&policy, now).await);
            }
        }
    }

    async fn server(&mut self, name: &str) -> Result<Option<&mut ServerCache>, StoreError> {
        if !self.servers.contains_key(name) {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{SERVER_STATE} WHERE s.name = $1"
            )))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
            let Some(row) = row else { return Ok(None) };
            let Some((_, cache)) = server_cache(&row) else {
                return Err(StoreError::Other(
                    format!("the row of server {name} cannot be read").into(),
                ));
            };
            self.servers.insert(name.to_owned(), cache);
        }
        Ok(self.servers.get_mut(name))
    }

    /// The error to answer at once while the database was found
    /// unreachable less than [`RECONNECT_PAUSE`] ago.
    fn unreachable(&self) -> Option<StoreError> {
        self.reach.down().then(Reachability::error)
    }

    /// Notes whether a call reached the database.
    fn observe<T>(&self, result: &Result<T, StoreError>) {
        self.reach.observe(result);
    }

    /// Commits many ingest calls in one transaction, then answers each.
    async fn ingest(&mut self, jobs: Vec<IngestJob>) {
        if let Some(error) = self.unreachable() {
            for (_, reply) in jobs {
                let _ = reply.send(Err(error.duplicate()));
            }
            return;
        }
        // Refuse a whole call whose server is unknown; keep the others.
        let mut accepted = Vec::with_capacity(jobs.len());
        let mut down: Option<StoreError> = None;
        for (batch, reply) in jobs {
            if let Some(error) = &down {
                let _ = reply.send(Err(error.duplicate()));
                continue;
            }
            let mut unknown = None;
            for s in &batch {
                match self.server(s.server_id.as_str()).await {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        unknown = Some(StoreError::NotFound(format!("server {}", s.server_id)));
                        break;
                    }
                    Err(e) => {
                        unknown = Some(e);
                        break;
                    }
                }
            }
            match unknown {
                Some(e) => {
                    if e.is_retryable() {
                        // The database did not answer: the other calls
                        // would wait as long each.
                        let result: Result<(), StoreError> = Err(e.duplicate());
                        self.observe(&result);
                        down = Some(e.duplicate());
                    }
                    let _ = reply.send(Err(e));
                }
                None => accepted.push((batch, reply)),
            }
        }
        if let Some(error) = down {
            for (_, reply) in accepted {
                let _ = reply.send(Err(error.duplicate()));
            }
            return;
        }
        if accepted.is_empty() {
            return;
        }
        let result = self.commit(&accepted).await;
        self.observe(&result);
        match result {
            // One call's reports broke something the checks before the
            // transaction do not see (a database limit): every call of the
            // group failed with it. Each is tried alone, so the one at
            // fault fails alone and the others are stored.
            Err(error) if !error.is_retryable() && accepted.len() > 1 => {
                tracing::warn!(%error, calls = accepted.len(), "A group commit failed; committing its calls one by one.");
                for job in accepted {
                    let one = [job];
                    let result = self.commit(&one).await;
                    let [job] = one;
                    self.answer(vec![job], result);
                }
            }
            result => self.answer(accepted, result),
        }
    }

    /// Commits `jobs` in one transaction (twice when another process
    /// stored some of the reports meanwhile).
    async fn commit(&mut self, jobs: &[IngestJob]) -> Result<IngestDone, StoreError> {
        let started = std::time::Instant::now();
        // A failed commit before this one forgot the servers' caches.
        self.reload(jobs).await?;
        let mut result = self.ingest_tx(jobs).await;
        if matches!(result, Ok(None)) {
            // Another process stored some of these reports meanwhile: learn
            // what the database holds now and try once more.
            self.forget_servers();
            result = match self.reload(jobs).await {
                Ok(()) => self.ingest_tx(jobs).await,
                Err(error) => Err(error),
            };
        }
        self.stats.commits.observe(started.elapsed());
        let result = result.and_then(|done| {
            done.ok_or_else(|| {
                StoreError::Unavailable("another process is storing the same reports; retry".into())
            })
        });
        match &result {
            Ok(_) => self.stats.write_succeeded(),
            Err(error) => {
                self.stats
                    .failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.stats.write_failed(error);
                // Caches may hold ids of rows that were rolled back.
                self.forget_servers();
            }
        }
        result
    }

    /// Answers each call of a group commit, and keeps each server's newest
    /// stored snapshot.
    fn answer(&mut self, mut jobs: Vec<IngestJob>, result: Result<IngestDone, StoreError>) {
        match result {
            Ok((receipts, mut newest)) => {
                let stored: usize = receipts.iter().flatten().map(|r| r.stored).sum();
                self.stats
                    .reports
                    .fetch_add(stored as u64, std::sync::atomic::Ordering::Relaxed);
                // Move each server's newest snapshot out of its batch (highest
                // index first, so swap_remove leaves the others in place).
                newest.sort_unstable_by(|a, b| b.cmp(a));
                for (job, index) in newest {
                    self.pending.put(jobs[job].0.swap_remove(index));
                }
                for ((_, reply), receipt) in jobs.into_iter().zip(receipts) {
                    let _ = reply.send(receipt);
                }
            }
            Err(error) => {
                for (_, reply) in jobs {
                    let _ = reply.send(Err(error.duplicate()));
                }
            }
        }
    }

    /// Forgets what the writer knows of every server (their caches may
    /// hold ids of rows rolled back, or deleted).
    fn forget_servers(&mut self) {
        self.servers.clear();
        self.maps.clear();
    }

    /// Loads the cache entry of every server of `jobs`.
    async fn reload(&mut self, jobs: &[IngestJob]) -> Result<(), StoreError> {
        for (batch, _) in jobs {
            for snapshot in batch {
                self.server(snapshot.server_id.as_str()).await?;
            }
        }
        Ok(())
    }

    /// Stores the reports of `jobs` in one transaction: the receipt of each
    /// job and the (job, index) of each server's newest new report, or
    /// `None` when another process inserted some of them meanwhile (the
    /// transaction is then rolled back).
    async fn ingest_tx(&mut self, jobs: &[IngestJob]) -> Result<Option<IngestDone>, StoreError> {
        /// A report to insert: which job, which snapshot, its head row.
        struct Row<'a> {
            job: usize,
            index: usize,
            snapshot: &'a Snapshot,
            server: i64,
            ts: i64,
            body: Vec<u8>,
        }
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let mut receipts = vec![IngestReceipt::default(); jobs.len()];
        // The series of every report first: a call whose reports would
        // pass the series limit fails alone (its series made so far stay,
        // unused, and expire), before any of its reports is written.
        let mut failed: Vec<Option<StoreError>> = (0..jobs.len()).map(|_| None).collect();
        let mut series: Vec<Vec<Vec<i64>>> = Vec::with_capacity(jobs.len());
        let now = Timestamp::now().as_millis();
        let in_use_since = now.saturating_sub(self.options.retention.raw.as_millis() as i64);
        for (job, (batch, _)) in jobs.iter().enumerate() {
            let mut ids = Vec::with_capacity(batch.len());
            for snapshot in batch {
                let name = snapshot.server_id.as_str();
                if !self.servers.contains_key(name) {
                    return Err(StoreError::NotFound(format!("server {name}")));
                }
                self.keep_map(name);
                let Some(cache) = self.servers.get_mut(name) else {
                    return Err(StoreError::NotFound(format!("server {name}")));
                };
                let limits = SeriesLimits {
                    max: self.options.max_series_per_server,
                    in_use_since,
                    now,
                };
                match series_ids(cache, snapshot, &mut tx, self.dialect, &limits).await {
                    Ok(found) => ids.push(found),
                    Err(error @ StoreError::TooManySeries { .. }) => {
                        self.stats
                            .series_refused
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        failed[job] = Some(error);
                        break;
                    }
                    Err(error) => return Err(error),
                }
            }
            series.push(ids);
        }
        let mut rows: Vec<Row<'_>> = Vec::new();
        // The row of each (server, timestamp) met in this call.
        let mut seen: HashMap<(i64, i64), usize> = HashMap::new();
        // Per server, the time range of reports that may be in the head
        // table already (replays, late reports).
        let mut maybe: HashMap<i64, (i64, i64)> = HashMap::new();
        for (job, (batch, _)) in jobs.iter().enumerate() {
            if failed[job].is_some() {
                continue;
            }
            for (index, snapshot) in batch.iter().enumerate() {
                let name = snapshot.server_id.as_str();
                let ts = snapshot.timestamp.as_millis();
                let Some(cache) = self.servers.get_mut(name) else {
                    return Err(StoreError::NotFound(format!("server {name}")));
                };
                let server = cache.id;
                // A replay of a report already compacted?
                if ts < cache.compacted_until {
                    let times: Option<Vec<u8>> = sqlx::query_scalar(
                        "SELECT times FROM chunk_times WHERE server = $1 AND win = $2",
                    )
                    .bind(server)
                    .bind(window_of(ts, RAW_WINDOW))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if let Some(times) = times {
                        let times = crate::codec::decode_times(&times)
                            .map_err(engine::corrupt("chunk times"))?;
                        if times.binary_search(&ts).is_ok() {
                            receipts[job].duplicates += 1;
                            continue;
                        }
                    }
                }
                // A replay of a report in the head table: a recent one, or
                // a late one that waits to be merged into its compacted
                // window (a replay of that is no error either).
                let in_head = cache.head_max.is_some_and(|max| ts <= max);
                let ids = &series[job][index];
                let mut samples: Vec<(i64, f64)> = Vec::with_capacity(ids.len());
                let values = snapshot
                    .metrics
                    .iter()
                    .flat_map(|f| f.samples.iter().map(|s| s.value));
                samples.extend(ids.iter().copied().zip(values));
                samples.sort_unstable_by_key(|(id, _)| *id);
                let body = engine::encode_report(&samples);
                // Twice in this call: the same report, or another one at
                // a taken millisecond.
                if let Some(&first) = seen.get(&(server, ts)) {
                    if rows[first].body == body {
                        receipts[job].duplicates += 1;
                    } else {
                        receipts[job].conflicts += 1;
                    }
                    continue;
                }
                if in_head {
                    let range = maybe.entry(server).or_insert((ts, ts));
                    range.0 = range.0.min(ts);
                    range.1 = range.1.max(ts);
                }
                seen.insert((server, ts), rows.len());
                rows.push(Row {
                    job,
                    index,
                    snapshot,
                    server,
                    ts,
                    body,
                });
            }
        }
        // The reports in the head table at those times, to tell a replay
        // (the same body) from another report at a taken millisecond.
        let mut stored: HashMap<(i64, i64), Vec<u8>> = HashMap::new();
        for (server, (from, to)) in maybe {
            let found =
                sqlx::query("SELECT ts, body FROM head WHERE server = $1 AND ts BETWEEN $2 AND $3")
                    .bind(server)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_err)?;
            stored.extend(found.iter().map(|row| {
                (
                    (server, row.get::<i64, _>("ts")),
                    row.get::<Vec<u8>, _>("body"),
                )
            }));
        }
        rows.retain(|row| match stored.get(&(row.server, row.ts)) {
            None => true,
            Some(body) => {
                if *body == row.body {
                    receipts[row.job].duplicates += 1;
                } else {
                    receipts[row.job].conflicts += 1;
                }
                false
            }
        });
        // Multi-row inserts of reports known to be new; a conflict means
        // another process inserted one since the check.
        for part in rows.chunks(HEAD_ROWS_PER_INSERT) {
            let mut sql = String::from("INSERT INTO head (server, ts, body) VALUES ");
            for i in 0..part.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                match self.dialect {
                    // Anonymous parameters: SQLite finds a named one by a
                    // linear search, which costs O(n²) over 1,500 of them.
                    Dialect::Sqlite => sql.push_str("(?, ?, ?)"),
                    Dialect::Postgres => {
                        let n = i * 3;
                        sql.push_str(&format!("(${}, ${}, ${})", n + 1, n + 2, n + 3));
                    }
                }
            }
            sql.push_str(" ON CONFLICT DO NOTHING");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in part {
                q = q.bind(row.server).bind(row.ts).bind(row.body.as_slice());
            }
            let done = q.execute(&mut *tx).await.map_err(map_err)?;
            if done.rows_affected() != part.len() as u64 {
                return Ok(None);
            }
        }
        // Newest stored snapshot per server in this transaction.
        let mut newest: HashMap<&str, (usize, usize)> = HashMap::new();
        for row in &rows {
            receipts[row.job].stored += 1;
            let name = row.snapshot.server_id.as_str();
            if let Some(cache) = self.servers.get_mut(name) {
                cache.head_min = Some(cache.head_min.map_or(row.ts, |m| m.min(row.ts)));
                cache.head_max = Some(cache.head_max.map_or(row.ts, |m| m.max(row.ts)));
                if cache.last_seen.is_none_or(|seen| row.ts >= seen) {
                    cache.last_seen = Some(row.ts);
                    newest.insert(name, (row.job, row.index));
                }
            }
        }
        tx.commit().await.map_err(map_err)?;
        let answers = receipts
            .into_iter()
            .zip(failed)
            .map(|(receipt, failed)| match failed {
                Some(error) => Err(error),
                None => Ok(receipt),
            })
            .collect();
        Ok(Some((answers, newest.into_values().collect())))
    }

    /// Marks `name`'s series map as the last used, and forgets the map of
    /// the server used longest ago beyond [`MAPS_KEPT`].
    fn keep_map(&mut self, name: &str) {
        if let Some(at) = self.maps.iter().position(|n| n == name) {
            let moved = self.maps.remove(at);
            self.maps.extend(moved);
            return;
        }
        self.maps.push_back(name.to_owned());
        while self.maps.len() > MAPS_KEPT {
            if let Some(old) = self.maps.pop_front()
                && let Some(cache) = self.servers.get_mut(&old)
            {
                cache.series = None;
            }
        }
    }

    /// Writes every pending newest snapshot to its server's rows.
    async fn flush(&mut self) -> Result<(), StoreError> {
        self.flush_queue = self.pending.dirty_names();
        while self.flush_some(FLUSH_CHUNK).await? {}
        Ok(())
    }

    /// Writes the newest snapshots of up to `max` servers of the flush
    /// queue (the servers that had one to write at the last tick); true
    /// when the queue is not empty yet.
    async fn flush_some(&mut self, max: usize) -> Result<bool, StoreError> {
        let from = self.flush_queue.len().saturating_sub(max);
        let pending: Vec<Arc<crate::latest::Packed>> = self
            .flush_queue
            .drain(from..)
            .filter_map(|name| self.pending.dirty_one(&name))
            .collect();
        let more = !self.flush_queue.is_empty();
        if pending.is_empty() {
            return Ok(more);
        }
        let bodies: Vec<Vec<u8>> = pending
            .iter()
            .map(|s| serde_json::to_vec(&s.unpack()).map_err(json_err))
            .collect::<Result<_, _>>()?;
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // One statement updates every server row of the step; servers
        // deleted meanwhile are not returned and get no latest row.
        let mut sql = String::from(
            "UPDATE servers SET last_seen = v.column1, hostname = COALESCE(v.column2, servers.hostname), \
             os = COALESCE(v.column3, servers.os), interval_secs = COALESCE(v.column4, servers.interval_secs) FROM (VALUES ",
        );
        for i in 0..pending.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            match self.dialect {
                Dialect::Sqlite => sql.push_str("(?, ?, ?, ?, ?)"),
                Dialect::Postgres => {
                    let n = i * 5;
                    sql.push_str(&format!(
                        "(${}::bigint, ${}::text, ${}::text, ${}::float8, ${}::text)",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5
                    ));
                }
            }
        }
        sql.push_str(") AS v WHERE servers.name = v.column5 RETURNING servers.id, servers.name");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for snapshot in &pending {
            let host = snapshot.host.as_ref();
            q = q
                .bind(snapshot.timestamp.as_millis())
                .bind(host.map(|h| h.hostname.clone()))
                .bind(host.map(|h| h.os.clone()))
                .bind(snapshot.interval_secs)
                .bind(snapshot.server_id.as_str());
        }
        let updated: HashMap<String, i64> = q
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(|row| Ok((row.try_get::<String, _>(1)?, row.try_get::<i64, _>(0)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(map_err)?;
        let rows: Vec<(i64, &[u8])> = pending
            .iter()
            .zip(&bodies)
            .filter_map(|(s, body)| Some((*updated.get(s.server_id.as_str())?, body.as_slice())))
            .collect();
        if !rows.is_empty() {
            let mut sql = String::from("INSERT INTO latest (server, body) VALUES ");
            for i in 0..rows.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                match self.dialect {
                    Dialect::Sqlite => sql.push_str("(?, ?)"),
                    Dialect::Postgres => sql.push_str(&format!("(${}, ${})", 2 * i + 1, 2 * i + 2)),
                }
            }
            sql.push_str(" ON CONFLICT (server) DO UPDATE SET body = excluded.body");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (server, body) in &rows {
                q = q.bind(*server).bind(*body);
            }
            q.execute(&mut *tx).await.map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        self.pending.written(&pending);
        Ok(more)
    }

    async fn delete_server(&mut self, id: &ServerId) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let server: Option<i64> = sqlx::query_scalar("SELECT id FROM servers WHERE name = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let Some(server) = server else {
            return Err(StoreError::NotFound(format!("server {id}")));
        };
        for sql in [
            "DELETE FROM chunks WHERE series IN (SELECT id FROM series WHERE server = $1)",
            "DELETE FROM rollups WHERE series IN (SELECT id FROM series WHERE server = $1)",
            "DELETE FROM chunk_times WHERE server = $1",
            "DELETE FROM head WHERE server = $1",
            "DELETE FROM series WHERE server = $1",
            "DELETE FROM latest WHERE server = $1",
            "DELETE FROM servers WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(server)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        for sql in [
            "DELETE FROM alert_events WHERE server = $1",
            "DELETE FROM alert_states WHERE server = $1",
        ] {
            sqlx::query(sql)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        self.servers.remove(id.as_str());
        self.pending.remove(id.as_str());
        Ok(())
    }

    /// Compacts up to `limit` windows that ended before `now - grace`.
    /// Compacts up to `limit` windows that ended before `now - grace`. A
    /// window that fails (the database refused a statement) is logged and
    /// passed over for this pass: one server's trouble never stops the
    /// others' compaction, nor retention, which compacts first.
    async fn compact_due(&mut self, now: i64, limit: usize) -> Result<usize, StoreError> {
        let grace = self.options.compaction_grace.as_millis() as i64;
        let mut done = 0;
        let mut failed: HashSet<i64> = HashSet::new();
        while done < limit {
            let due = self.servers.iter().find_map(|(name, c)| {
                let min = c.head_min?;
                let win = window_of(min, RAW_WINDOW);
                (win + RAW_WINDOW + grace <= now && !failed.contains(&c.id))
                    .then(|| (name.clone(), c.id, win))
            });
            let Some((name, server, win)) = due else {
                break;
            };
            if let Err(error) = self.compact_window(server, win).await {
                if error.is_retryable() && failed.is_empty() && done == 0 {
                    // The database itself is away: nothing will compact now.
                    return Err(error);
                }
                tracing::error!(%error, server = %name, window = win, "Could not compact a window; the other servers go on, this one is tried again later.");
                failed.insert(server);
                continue;
            }
            let head_min: Option<i64> =
                sqlx::query_scalar("SELECT MIN(ts) FROM head WHERE server = $1")
                    .bind(server)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
            if let Some(cache) = self.servers.get_mut(&name) {
                cache.head_min = head_min;
                cache.compacted_until = cache.compacted_until.max(win + RAW_WINDOW);
            }
            done += 1;
        }
        Ok(done)
    }

    /// A row that cannot be read: logged once with its key (what, server,
    /// time), counted, and left out.
    fn corrupt(&self, what: &str, server: i64, at: Option<i64>) {
        self.stats
            .corrupt_rows
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = self
            .servers
            .iter()
            .find(|(_, c)| c.id == server)
            .map_or_else(|| server.to_string(), |(n, _)| n.clone());
        tracing::error!(what, server = %name, at = ?at, "A damaged row cannot be read; it is left out (its data is lost) and everything else goes on.");
    }

    async fn compact_window(&mut self, server: i64, win: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        if self.dialect == Dialect::Postgres {
            // Several server processes may share the database: one compacts a
            // server's window at a time; the others then find nothing to do.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(server)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        let end = win + RAW_WINDOW;
        let rows =
            sqlx::query("SELECT ts, body FROM head WHERE server = $1 AND ts >= $2 AND ts < $3")
                .bind(server)
                .bind(win)
                .bind(end)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
        let mut reports = Vec::with_capacity(rows.len());
        for row in &rows {
            // A report that cannot be read (a damaged row) is left out of
            // the window, logged with its key and counted: it cannot stop
            // the compaction and retention of everything else.
            let ts = row.try_get::<i64, _>("ts");
            let body = row
                .try_get::<Vec<u8>, _>("body")
                .ok()
                .and_then(|b| engine::decode_report(&b).ok());
            match (ts, body) {
                (Ok(ts), Some(body)) => reports.push((ts, body)),
                (ts, _) => self.corrupt("report", server, ts.ok()),
            }
        }
        let existing: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT times FROM chunk_times WHERE server = $1 AND win = $2")
                .bind(server)
                .bind(win)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
        let mut window = match existing {
            None => RawWindow::default(),
            Some(times) => {
                let chunks: Vec<(i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT series, data FROM chunks WHERE win = $1 AND series IN (SELECT id FROM series WHERE server = $2)",
                )
                .bind(win)
                .bind(server)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
                match RawWindow::decode(&times, &chunks) {
                    Ok(window) => window,
                    Err(_) => {
                        self.corrupt("compacted window", server, Some(win));
                        RawWindow::default()
                    }
                }
            }
        };
        window.add(reports);
        let (times, chunks) = window.encode();
        let used: Vec<i64> = chunks.iter().map(|(series, _)| *series).collect();
        sqlx::query("INSERT INTO chunk_times (server, win, times) VALUES ($1, $2, $3) ON CONFLICT (server, win) DO UPDATE SET times = excluded.times")
            .bind(server)
            .bind(win)
            .bind(times)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        // Many rows per statement: a server with ten thousand series
        // compacted a window in some 40,000 statements, 40 s on
        // PostgreSQL, with every ingest waiting for the writer.
        for part in chunks.chunks(ROWS_PER_UPSERT) {
            let mut sql = String::from("INSERT INTO chunks (series, win, data) VALUES ");
            push_rows(&mut sql, self.dialect, part.len(), 3);
            sql.push_str(" ON CONFLICT (series, win) DO UPDATE SET data = excluded.data");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (series, data) in part {
                q = q.bind(*series).bind(win).bind(data.as_slice());
            }
            q.execute(&mut *tx).await.map_err(map_err)?;
        }
        for (code, (width, span)) in [(TIER_MINUTE, MINUTE), (TIER_HOUR, HOUR)] {
            let row_win = window_of(win, span);
            let buckets = window.buckets(width);
            for part in buckets.chunks(ROWS_PER_UPSERT) {
                let sql = format!(
                    "SELECT series, data FROM rollups WHERE tier = $1 AND win = $2 AND series IN ({})",
                    placeholders(3, part.len())
                );
                let mut q = sqlx::query_as::<_, (i64, Vec<u8>)>(sqlx::AssertSqlSafe(sql))
                    .bind(code)
                    .bind(row_win);
                for (series, _) in part {
                    q = q.bind(*series);
                }
                let existing: HashMap<i64, Vec<u8>> = q
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .into_iter()
                    .collect();
                let mut rows = Vec::with_capacity(part.len());
                for (series, buckets) in part {
                    let mut all: BTreeMap<i64, Bucket> = match existing.get(series) {
                        Some(blob) => match engine::decode_rollup(blob, row_win, width) {
                            Ok(all) => all,
                            Err(_) => {
                                self.corrupt("rollup", server, Some(row_win));
                                BTreeMap::new()
                            }
                        },
                        None => BTreeMap::new(),
                    };
                    // The raw window is complete: its buckets replace any earlier ones.
                    all.retain(|t, _| *t < win || *t >= end);
                    all.extend(buckets.iter().copied());
                    rows.push((*series, engine::encode_rollup(&all, row_win, width)));
                }
                let mut sql = String::from("INSERT INTO rollups (series, tier, win, data) VALUES ");
                push_rows(&mut sql, self.dialect, rows.len(), 4);
                sql.push_str(" ON CONFLICT (series, tier, win) DO UPDATE SET data = excluded.data");
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (series, data) in &rows {
                    q = q
                        .bind(*series)
                        .bind(code)
                        .bind(row_win)
                        .bind(data.as_slice());
                }
                q.execute(&mut *tx).await.map_err(map_err)?;
            }
        }
        // The window's series were in use until its end (written once a
        // day per series at most).
        for part in used.chunks(500) {
            let sql = format!(
                "UPDATE series SET last_used = $1 WHERE last_used < $2 AND id IN ({})",
                placeholders(3, part.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(end)
                .bind(end - TOUCH_AFTER);
            for id in part {
                q = q.bind(*id);
            }
            q.execute(&mut *tx).await.map_err(map_err)?;
        }
        sqlx::query("DELETE FROM head WHERE server = $1 AND ts >= $2 AND ts < $3")
            .bind(server)
            .bind(win)
            .bind(end)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn retention(
        &mut self,
        policy: &RetentionPolicy,
        now: i64,
    ) -> Result<RetentionReport, StoreError> {
        let cutoff = |d: Duration| now.saturating_sub(d.as_millis() as i64);
        let raw = cutoff(policy.raw);
        // Compact what is due first, so nothing expires without its rollups.
        self.compact_due(now, usize::MAX).await?;
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let mut report = RetentionReport::default();
        report.raw_deleted += sqlx::query("DELETE FROM chunks WHERE win + $1 <= $2")
            .bind(RAW_WINDOW)
            .bind(raw)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        sqlx::query("DELETE FROM chunk_times WHERE win + $1 <= $2")
            .bind(RAW_WINDOW)
            .bind(raw)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        report.raw_deleted += sqlx::query("DELETE FROM head WHERE ts < $1")
            .bind(raw)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        for (code, span, keep, slot) in [
            (
                TIER_MINUTE,
                MINUTE.1,
                policy.minute,
                &mut report.minute_deleted,
            ),
            (TIER_HOUR, HOUR.1, policy.hour, &mut report.hour_deleted),
        ] {
            *slot += sqlx::query("DELETE FROM rollups WHERE tier = $1 AND win + $2 <= $3")
                .bind(code)
                .bind(span)
                .bind(cutoff(keep))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
        }
        // Series whose data has all expired, unused for longer than every
        // tier is kept, expire with it; alert events as old too.
        let longest = cutoff(policy.raw.max(policy.minute).max(policy.hour));
        let expired = sqlx::query(
            "DELETE FROM series WHERE last_used < $1 \
             AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.series = series.id) \
             AND NOT EXISTS (SELECT 1 FROM rollups r WHERE r.series = series.id)",
        )
        .bind(longest)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected();
        sqlx::query("DELETE FROM alert_events WHERE at < $1")
            .bind(longest)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        for cache in self.servers.values_mut() {
            cache.head_min = cache.head_min.filter(|m| *m >= raw);
        }
        if expired > 0 {
            tracing::info!(
                series = expired,
                "Series unused for longer than the retention expired."
            );
            // The writer's maps and shapes may name them.
            for cache in self.servers.values_mut() {
                cache.shape = None;
                cache.series = None;
            }
            self.maps.clear();
        }
        Ok(report)
    }
}

/// What [`series_ids`] holds a report to.
struct SeriesLimits {
    /// Series in use per server, at most.
    max: usize,
    /// Series used at or after this are in use.
    in_use_since: i64,
    /// Now, for the series' last use.
    now: i64,
}

/// The series id of every sample of `snapshot`, in sample order, creating
/// the series that are new (in multi-row inserts: a new host's first report
/// makes some fifty series at once).
///
/// # Errors
/// [`StoreError::TooManySeries`] when the new series would take the
/// server past `limits.max` series in use (nothing is created then).
async fn series_ids(
    cache: &mut ServerCache,
    snapshot: &Snapshot,
    tx: &mut sqlx::Transaction<'static, Any>,
    dialect: Dialect,
    limits: &SeriesLimits,
) -> Result<Vec<i64>, StoreError> {
    let shape = shape_of(snapshot);
    if let Some((known, ids)) = &cache.shape
        && *known == shape
    {
        return Ok(ids.clone());
    }
    // A new shape: resolve it against the server's series.
    if cache.series.is_none() {
        cache.series = Some(server_series(cache.id, tx).await?);
    }
    let Some(map) = cache.series.as_mut() else {
        return Err(StoreError::Other("the series map was not loaded".into()));
    };
    let keys: Vec<(&MetricFamily, String)> = snapshot
        .metrics
        .iter()
        .flat_map(|f| f.samples.iter().map(move |s| (f, labels_key(&s.labels))))
        .collect();
    let mut missing: Vec<&(&MetricFamily, String)> = Vec::new();
    let mut stale: Vec<i64> = Vec::new();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for key in &keys {
        let name = (key.0.name.as_str(), key.1.as_str());
        if !seen.insert(name) {
            continue;
        }
        match map.ids.get_mut(&(name.0.to_owned(), name.1.to_owned())) {
            None => missing.push(key),
            Some((id, used)) if *used < limits.now - TOUCH_AFTER => {
                stale.push(*id);
                *used = limits.now;
            }
            Some(_) => {}
        }
    }
    if !missing.is_empty() {
        let active = map.in_use(limits.in_use_since);
        if active + missing.len() > limits.max {
            return Err(StoreError::TooManySeries {
                server: snapshot.server_id.to_string(),
                active,
                adding: missing.len(),
                limit: limits.max,
            });
        }
        for part in missing.chunks(SERIES_PER_INSERT) {
            let mut sql = String::from(
                "INSERT INTO series (server, metric, labels, kind, unit, last_used) VALUES ",
            );
            for i in 0..part.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                match dialect {
                    Dialect::Sqlite => sql.push_str("(?, ?, ?, ?, ?, ?)"),
                    Dialect::Postgres => {
                        let n = i * 6;
                        sql.push_str(&format!(
                            "(${}, ${}, ${}, ${}, ${}, ${})",
                            n + 1,
                            n + 2,
                            n + 3,
                            n + 4,
                            n + 5,
                            n + 6
                        ));
                    }
                }
            }
            // Another process sharing the database may have made one
            // meanwhile: it is then not returned, and read below.
            sql.push_str(" ON CONFLICT DO NOTHING RETURNING id, metric, labels");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (family, labels) in part.iter().copied() {
                q = q
                    .bind(cache.id)
                    .bind(family.name.as_str())
                    .bind(labels.as_str())
                    .bind(kind_code(family.kind))
                    .bind(family.unit.as_str())
                    .bind(limits.now);
            }
            let made = q.fetch_all(&mut **tx).await.map_err(map_err)?;
            for row in &made {
                let id: i64 = row.try_get(0).map_err(map_err)?;
                let metric: String = row.try_get(1).map_err(map_err)?;
                let labels: String = row.try_get(2).map_err(map_err)?;
                map.ids.insert((metric, labels), (id, limits.now));
            }
        }
        if missing
            .iter()
            .any(|(f, l)| !map.ids.contains_key(&(f.name.clone(), l.clone())))
        {
            *map = server_series(cache.id, tx).await?;
        }
    }
    // Series back after a pause: in use again.
    for part in stale.chunks(SERIES_PER_INSERT) {
        let sql = format!(
            "UPDATE series SET last_used = $1 WHERE id IN ({})",
            placeholders(2, part.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limits.now);
        for id in part {
            q = q.bind(*id);
        }
        q.execute(&mut **tx).await.map_err(map_err)?;
    }
    let mut ids = Vec::with_capacity(keys.len());
    for (family, labels) in &keys {
        let (id, _) = map
            .ids
            .get(&(family.name.clone(), labels.clone()))
            .ok_or_else(|| {
                StoreError::Other(format!("series {}{labels} was not created", family.name).into())
            })?;
        ids.push(*id);
    }
    cache.shape = Some((shape, ids.clone()));
    Ok(ids)
}

/// Every series of a server: (metric, labels key) → (id, last used).
async fn server_series(
    server: i64,
    tx: &mut sqlx::Transaction<'static, Any>,
) -> Result<SeriesMap, StoreError> {
    let rows: Vec<(i64, String, String, i64)> =
        sqlx::query_as("SELECT id, metric, labels, last_used FROM series WHERE server = $1")
            .bind(server)
            .fetch_all(&mut **tx)
            .await
            .map_err(map_err)?;
    Ok(SeriesMap {
        ids: rows
            .into_iter()
            .map(|(id, metric, labels, used)| ((metric, labels), (id, used)))
            .collect(),
    })
}
