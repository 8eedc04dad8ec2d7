//! The SQLite store: one file, WAL mode, one writer task with group commit,
//! a pool of readers that never block it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use monitor_core::store::{
    AlertStateRecord, EventFilter, History, HistoryQuery, IngestReceipt, NewServer,
    RetentionPolicy, RetentionReport, SeriesInfo, ServerRecord, Tier,
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
    /// How long after a one-hour window ends its reports are compacted (late
    /// replays within it are merged without rewriting a chunk).
    pub compaction_grace: Duration,
    /// What retention keeps; enforced hourly by the writer task.
    pub retention: RetentionPolicy,
    /// How many servers' newest snapshots stay in memory for the overview
    /// (the server's `CACHE_MAX_ITEMS`); the others are read from the
    /// database when asked for.
    pub latest_in_memory: usize,
}

impl StoreOptions {
    fn with(database: Database) -> Self {
        StoreOptions {
            database,
            durability: Durability::Full,
            connections: 4,
            busy_timeout: Duration::from_secs(5),
            compaction_grace: Duration::from_secs(300),
            retention: RetentionPolicy::default(),
            latest_in_memory: 1000,
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
            let code = db.code().unwrap_or_default();
            // SQLite result codes: 5 BUSY, 6 LOCKED, 13 FULL (extended codes keep the low byte).
            match code.parse::<i32>().map(|c| c & 0xff) {
                Ok(13) => StoreError::Full(db.message().to_owned()),
                Ok(5 | 6) => StoreError::Unavailable(db.message().to_owned()),
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
                let setup = format!(
                    "PRAGMA busy_timeout = {busy}; PRAGMA journal_mode = WAL; PRAGMA synchronous = {sync}; \
                     PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -8192;"
                );
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
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
                    .acquire_timeout(Duration::from_secs(30))
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
        let writer = Writer::load(
            write.clone(),
            options.clone(),
            dialect,
            Arc::clone(&pending),
            Arc::clone(&stats),
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
            }),
        })
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
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SERVER_COLUMNS} FROM servers WHERE name = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.inner.read)
        .await
        .map_err(map_err)?;
        Ok(row
            .as_ref()
            .map(record_from)
            .transpose()?
            .map(|r| overlay(r, &self.inner.pending)))
    }

    async fn servers(&self) -> Result<Vec<ServerRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SERVER_COLUMNS} FROM servers ORDER BY name"
        )))
        .fetch_all(&self.inner.read)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| record_from(row).map(|r| overlay(r, &self.inner.pending)))
            .collect()
    }

    async fn server_by_token(&self, hash: &TokenHash) -> Result<Option<ServerRecord>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SERVER_COLUMNS} FROM servers WHERE token_hash = $1"
        )))
        .bind(&hash.0[..])
        .fetch_optional(&self.inner.read)
        .await
        .map_err(map_err)?;
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
        let id = id.clone();
        self.job(|tx| Job::DeleteServer(id, tx)).await
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
        let stored: Vec<(String, Option<i64>)> =
            sqlx::query_as("SELECT name, last_seen FROM servers WHERE last_seen IS NOT NULL")
                .fetch_all(&self.inner.read)
                .await
                .map_err(map_err)?;
        let held = self.inner.pending.all();
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
        let step = engine::plan_step(
            to - from,
            query.step.map(|s| s.as_millis() as i64),
            query.max_points,
        );
        let tier = engine::choose_tier(
            step,
            from,
            Timestamp::now().as_millis(),
            &self.inner.retention,
        );
        let ids: Vec<i64> = wanted.iter().map(|w| w.0).collect();
        // Per series, (time, bucket) in any order; sorted before downsampling.
        let mut data: HashMap<i64, Vec<(i64, Bucket)>> = HashMap::new();
        if !ids.is_empty() {
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
            match tier {
                Tier::Raw => {
                    let first = window_of(from, RAW_WINDOW);
                    let times = sqlx::query("SELECT win, times FROM chunk_times WHERE server = $1 AND win >= $2 AND win < $3")
                        .bind(server)
                        .bind(first)
                        .bind(to)
                        .fetch_all(&mut *conn)
                        .await
                        .map_err(map_err)?;
                    let sql = format!(
                        "SELECT series, win, data FROM chunks WHERE win >= $1 AND win < $2 AND series IN ({})",
                        placeholders(3, ids.len())
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(first).bind(to);
                    for id in &ids {
                        q = q.bind(*id);
                    }
                    let chunk_rows = q.fetch_all(&mut *conn).await.map_err(map_err)?;
                    let mut by_window: HashMap<i64, Vec<(i64, Vec<u8>)>> = HashMap::new();
                    for row in chunk_rows {
                        by_window
                            .entry(row.get("win"))
                            .or_default()
                            .push((row.get("series"), row.get("data")));
                    }
                    for row in times {
                        let win: i64 = row.get("win");
                        let chunks = by_window.remove(&win).unwrap_or_default();
                        let window = RawWindow::decode(&row.get::<Vec<u8>, _>("times"), &chunks)
                            .map_err(engine::corrupt("chunk"))?;
                        for id in &ids {
                            let points = data.entry(*id).or_default();
                            points.extend(
                                window
                                    .points(*id)
                                    .into_iter()
                                    .map(|(t, v)| (t, Bucket::one(v))),
                            );
                        }
                    }
                }
                Tier::Minute | Tier::Hour => {
                    let (code, (width, span)) = if tier == Tier::Minute {
                        (TIER_MINUTE, MINUTE)
                    } else {
                        (TIER_HOUR, HOUR)
                    };
                    let sql = format!(
                        "SELECT series, win, data FROM rollups WHERE tier = $1 AND win >= $2 AND win < $3 AND series IN ({})",
                        placeholders(4, ids.len())
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(code)
                        .bind(window_of(from, span))
                        .bind(to);
                    for id in &ids {
                        q = q.bind(*id);
                    }
                    for row in q.fetch_all(&mut *conn).await.map_err(map_err)? {
                        let buckets = engine::decode_rollup(
                            &row.get::<Vec<u8>, _>("data"),
                            row.get("win"),
                            width,
                        )
                        .map_err(engine::corrupt("rollup"))?;
                        data.entry(row.get("series")).or_default().extend(buckets);
                    }
                }
            }
            // Reports not compacted yet.
            let wanted_ids: HashSet<i64> = ids.iter().copied().collect();
            let head =
                sqlx::query("SELECT ts, body FROM head WHERE server = $1 AND ts >= $2 AND ts < $3")
                    .bind(server)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(map_err)?;
            for row in head {
                let ts: i64 = row.get("ts");
                let samples = engine::decode_report(&row.get::<Vec<u8>, _>("body"))
                    .map_err(engine::corrupt("report"))?;
                for (id, value) in samples {
                    if wanted_ids.contains(&id) {
                        data.entry(id).or_default().push((ts, Bucket::one(value)));
                    }
                }
            }
            conn.commit().await.map_err(map_err)?;
        }
        let series = wanted
            .into_iter()
            .map(|(id, labels, kind, unit)| {
                let mut points = data.remove(&id).unwrap_or_default();
                points.sort_by_key(|(t, _)| *t);
                let mut down = Downsampler::new(step, from, to);
                for (t, b) in &points {
                    down.add(*t, b);
                }
                monitor_core::store::Series {
                    metric: query.metric.clone(),
                    labels,
                    kind,
                    unit,
                    points: down.finish(),
                }
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
        let mut tx = self.inner.write.begin().await.map_err(map_err)?;
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

    async fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        now: Timestamp,
    ) -> Result<RetentionReport, StoreError> {
        let policy = *policy;
        self.job(|tx| Job::Retention(policy, now.as_millis(), tx))
            .await
    }

    async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.inner.read)
            .await
            .map(|_| ())
            .map_err(map_err)
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

/// Series rows per INSERT statement (5 parameters each).
const SERIES_PER_INSERT: usize = 100;

/// Head rows per INSERT statement (3 parameters each, well under both
/// databases' parameter limits).
const HEAD_ROWS_PER_INSERT: usize = 500;

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
}

/// What one group commit answers: a receipt per job, and the (job, index)
/// of each server's newest new report.
type IngestDone = (Vec<IngestReceipt>, Vec<(usize, usize)>);

/// The single writer: group commit, compaction, retention.
struct Writer {
    pool: AnyPool,
    options: StoreOptions,
    dialect: Dialect,
    pending: Pending,
    servers: HashMap<String, ServerCache>,
    /// Servers whose newest snapshot the flush in progress writes.
    flush_queue: Vec<String>,
    stats: Arc<crate::stats::Counters>,
}

/// What the writer needs to know of each server at start-up.
const SERVER_STATE: &str = "SELECT s.name, s.id, s.last_seen, \
     (SELECT MIN(ts) FROM head h WHERE h.server = s.id) AS head_min, \
     (SELECT MAX(ts) FROM head h WHERE h.server = s.id) AS head_max, \
     (SELECT MAX(win) FROM chunk_times c WHERE c.server = s.id) AS last_win \
     FROM servers s";

fn server_cache(row: &AnyRow) -> ServerCache {
    ServerCache {
        id: row.get("id"),
        last_seen: row.get("last_seen"),
        head_min: row.get("head_min"),
        head_max: row.get("head_max"),
        compacted_until: row
            .get::<Option<i64>, _>("last_win")
            .map_or(i64::MIN, |w| w + RAW_WINDOW),
        ..ServerCache::default()
    }
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
    ) -> Result<Self, StoreError> {
        let mut writer = Writer {
            pool,
            options,
            dialect,
            pending,
            servers: HashMap::new(),
            flush_queue: Vec::new(),
            stats,
        };
        let rows = sqlx::query(SERVER_STATE)
            .fetch_all(&writer.pool)
            .await
            .map_err(map_err)?;
        for row in rows {
            writer.servers.insert(row.get("name"), server_cache(&row));
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
                    if flushing {
                        match self.flush_some(FLUSH_CHUNK).await {
                            Ok(more) => flushing = more,
                            Err(error) => {
                                flushing = false;
                                tracing::warn!(%error, "Could not write the newest snapshots; retried at the next tick.");
                            }
                        }
                    } else {
                        let now = Timestamp::now().as_millis();
                        match self.compact_due(now, 1).await {
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
            let fresh = server_cache(&row);
            let name: String = row.get("name");
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
            self.servers.insert(name.to_owned(), server_cache(&row));
        }
        Ok(self.servers.get_mut(name))
    }

    /// Commits many ingest calls in one transaction, then answers each.
    async fn ingest(&mut self, jobs: Vec<(Vec<Snapshot>, Reply<IngestReceipt>)>) {
        // Refuse a whole call whose server is unknown; keep the others.
        let mut accepted = Vec::with_capacity(jobs.len());
        for (batch, reply) in jobs {
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
                    let _ = reply.send(Err(e));
                }
                None => accepted.push((batch, reply)),
            }
        }
        if accepted.is_empty() {
            return;
        }
        let started = std::time::Instant::now();
        let mut result = self.ingest_tx(&accepted).await;
        if matches!(result, Ok(None)) {
            // Another process stored some of these reports meanwhile: learn
            // what the database holds now and try once more.
            self.servers.clear();
            result = match self.reload(&accepted).await {
                Ok(()) => self.ingest_tx(&accepted).await,
                Err(error) => Err(error),
            };
        }
        let result = result.and_then(|done| {
            done.ok_or_else(|| {
                StoreError::Unavailable("another process is storing the same reports; retry".into())
            })
        });
        self.stats.commits.observe(started.elapsed());
        match result {
            Ok((receipts, mut newest)) => {
                let stored: usize = receipts.iter().map(|r| r.stored).sum();
                self.stats
                    .reports
                    .fetch_add(stored as u64, std::sync::atomic::Ordering::Relaxed);
                // Move each server's newest snapshot out of its batch (highest
                // index first, so swap_remove leaves the others in place).
                newest.sort_unstable_by(|a, b| b.cmp(a));
                for (job, index) in newest {
                    self.pending.put(accepted[job].0.swap_remove(index));
                }
                for ((_, reply), receipt) in accepted.into_iter().zip(receipts) {
                    let _ = reply.send(Ok(receipt));
                }
            }
            Err(error) => {
                self.stats
                    .failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Caches may hold ids of rows that were rolled back.
                self.servers.clear();
                let message = match &error {
                    StoreError::Unavailable(m) => m.clone(),
                    other => other.to_string(),
                };
                let retryable = error.is_retryable();
                for (_, reply) in accepted {
                    let _ = reply.send(Err(if retryable {
                        StoreError::Unavailable(message.clone())
                    } else {
                        StoreError::Other(message.clone().into())
                    }));
                }
            }
        }
    }

    /// Loads the cache entry of every server of `jobs`.
    async fn reload(
        &mut self,
        jobs: &[(Vec<Snapshot>, Reply<IngestReceipt>)],
    ) -> Result<(), StoreError> {
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
    async fn ingest_tx(
        &mut self,
        jobs: &[(Vec<Snapshot>, Reply<IngestReceipt>)],
    ) -> Result<Option<IngestDone>, StoreError> {
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
        let mut rows: Vec<Row<'_>> = Vec::new();
        // The row of each (server, timestamp) met in this call.
        let mut seen: HashMap<(i64, i64), usize> = HashMap::new();
        // Per server, the time range of reports that may be in the head
        // table already (replays, late reports).
        let mut maybe: HashMap<i64, (i64, i64)> = HashMap::new();
        for (job, (batch, _)) in jobs.iter().enumerate() {
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
                let ids = series_ids(cache, snapshot, &mut tx, self.dialect).await?;
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
        Ok(Some((receipts, newest.into_values().collect())))
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
    async fn compact_due(&mut self, now: i64, limit: usize) -> Result<usize, StoreError> {
        let grace = self.options.compaction_grace.as_millis() as i64;
        let mut done = 0;
        while done < limit {
            let due = self.servers.iter().find_map(|(name, c)| {
                let min = c.head_min?;
                let win = window_of(min, RAW_WINDOW);
                (win + RAW_WINDOW + grace <= now).then(|| (name.clone(), c.id, win))
            });
            let Some((name, server, win)) = due else {
                break;
            };
            self.compact_window(server, win).await?;
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
            let body = engine::decode_report(&row.get::<Vec<u8>, _>("body"))
                .map_err(engine::corrupt("report"))?;
            reports.push((row.get::<i64, _>("ts"), body));
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
                RawWindow::decode(&times, &chunks).map_err(engine::corrupt("chunk"))?
            }
        };
        window.add(reports);
        let (times, chunks) = window.encode();
        sqlx::query("INSERT INTO chunk_times (server, win, times) VALUES ($1, $2, $3) ON CONFLICT (server, win) DO UPDATE SET times = excluded.times")
            .bind(server)
            .bind(win)
            .bind(times)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        for (series, data) in chunks {
            sqlx::query("INSERT INTO chunks (series, win, data) VALUES ($1, $2, $3) ON CONFLICT (series, win) DO UPDATE SET data = excluded.data")
                .bind(series)
                .bind(win)
                .bind(data)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        for (code, (width, span)) in [(TIER_MINUTE, MINUTE), (TIER_HOUR, HOUR)] {
            let row_win = window_of(win, span);
            for (series, buckets) in window.buckets(width) {
                let existing: Option<Vec<u8>> = sqlx::query_scalar(
                    "SELECT data FROM rollups WHERE series = $1 AND tier = $2 AND win = $3",
                )
                .bind(series)
                .bind(code)
                .bind(row_win)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                let mut all: BTreeMap<i64, Bucket> = match existing {
                    Some(blob) => engine::decode_rollup(&blob, row_win, width)
                        .map_err(engine::corrupt("rollup"))?,
                    None => BTreeMap::new(),
                };
                // The raw window is complete: its buckets replace any earlier ones.
                all.retain(|t, _| *t < win || *t >= end);
                all.extend(buckets);
                sqlx::query("INSERT INTO rollups (series, tier, win, data) VALUES ($1, $2, $3, $4) ON CONFLICT (series, tier, win) DO UPDATE SET data = excluded.data")
                    .bind(series)
                    .bind(code)
                    .bind(row_win)
                    .bind(engine::encode_rollup(&all, row_win, width))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
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
        tx.commit().await.map_err(map_err)?;
        for cache in self.servers.values_mut() {
            cache.head_min = cache.head_min.filter(|m| *m >= raw);
        }
        Ok(report)
    }
}

/// The series id of every sample of `snapshot`, in sample order, creating
/// the series that are new (in multi-row inserts: a new host's first report
/// makes some fifty series at once).
async fn series_ids(
    cache: &mut ServerCache,
    snapshot: &Snapshot,
    tx: &mut sqlx::Transaction<'static, Any>,
    dialect: Dialect,
) -> Result<Vec<i64>, StoreError> {
    let shape = shape_of(snapshot);
    if let Some((known, ids)) = &cache.shape
        && *known == shape
    {
        return Ok(ids.clone());
    }
    // A new shape: resolve it against the server's series, then forget them
    // (only the shape's ids stay in memory).
    let mut known = server_series(cache.id, tx).await?;
    let keys: Vec<(&MetricFamily, String)> = snapshot
        .metrics
        .iter()
        .flat_map(|f| f.samples.iter().map(move |s| (f, labels_key(&s.labels))))
        .collect();
    let mut missing: Vec<&(&MetricFamily, String)> = Vec::new();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for key in &keys {
        let name = (key.0.name.as_str(), key.1.as_str());
        if !known.contains_key(&(name.0.to_owned(), name.1.to_owned())) && seen.insert(name) {
            missing.push(key);
        }
    }
    if !missing.is_empty() {
        for part in missing.chunks(SERIES_PER_INSERT) {
            let mut sql =
                String::from("INSERT INTO series (server, metric, labels, kind, unit) VALUES ");
            for i in 0..part.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                match dialect {
                    Dialect::Sqlite => sql.push_str("(?, ?, ?, ?, ?)"),
                    Dialect::Postgres => {
                        let n = i * 5;
                        sql.push_str(&format!(
                            "(${}, ${}, ${}, ${}, ${})",
                            n + 1,
                            n + 2,
                            n + 3,
                            n + 4,
                            n + 5
                        ));
                    }
                }
            }
            // Another process sharing the database may have made one meanwhile.
            sql.push_str(" ON CONFLICT DO NOTHING");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (family, labels) in part.iter().copied() {
                q = q
                    .bind(cache.id)
                    .bind(family.name.as_str())
                    .bind(labels.as_str())
                    .bind(kind_code(family.kind))
                    .bind(family.unit.as_str());
            }
            q.execute(&mut **tx).await.map_err(map_err)?;
        }
        known = server_series(cache.id, tx).await?;
    }
    let mut ids = Vec::with_capacity(keys.len());
    for (family, labels) in &keys {
        let id = known
            .get(&(family.name.clone(), labels.clone()))
            .ok_or_else(|| {
                StoreError::Other(format!("series {}{labels} was not created", family.name).into())
            })?;
        ids.push(*id);
    }
    cache.shape = Some((shape, ids.clone()));
    Ok(ids)
}

/// (metric, labels key) → id of every series of a server.
async fn server_series(
    server: i64,
    tx: &mut sqlx::Transaction<'static, Any>,
) -> Result<HashMap<(String, String), i64>, StoreError> {
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, metric, labels FROM series WHERE server = $1")
            .bind(server)
            .fetch_all(&mut **tx)
            .await
            .map_err(map_err)?;
    Ok(rows
        .into_iter()
        .map(|(id, metric, labels)| ((metric, labels), id))
        .collect())
}
