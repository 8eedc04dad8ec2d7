//! The SQL store: SQLite (one file, WAL mode) or PostgreSQL, one writer
//! task with group commit, a pool of readers that never block it.
//!
//! This module holds [`SqlStore`] itself, its jobs for the writer and its
//! [`Store`] implementation, whose longer methods live by subsystem:
//! `options` (what a store is opened with, and connecting), `dialect`
//! (where SQLite and PostgreSQL differ; errors; multi-row statements),
//! `reach` (whether the database answers), `reads` (servers, snapshots,
//! history, series), `outbox` (alerts, settings, deliveries) and `writer`
//! (the writer task: group commit in `writer::ingest`, compaction and
//! retention in `writer::compact`).

mod changes;
mod dialect;
mod options;
mod outbox;
mod reach;
mod reads;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use monitor_core::catalog::{
    AlertStateRecord, CatalogChange, ChangeHandler, Delivery, DeliveryBacklog, EventFilter,
    NewServer, ServerRecord,
};
use monitor_core::store::{
    History, HistoryQuery, IngestReceipt, RetentionPolicy, RetentionReport, SeriesInfo,
};
use monitor_core::{
    AlertEvent, AlertRule, Catalog, ServerId, Snapshot, Store, StoreError, Timestamp, TokenHash,
};
use sqlx::Any;
use tokio::sync::{mpsc, oneshot};

use crate::latest::Latest;
use dialect::{Dialect, json_err, map_err};
use reach::Reachability;
use writer::Writer;

pub use options::{DEFAULT_MAX_SERIES, Database, Durability, StoreOptions};

type AnyPool = sqlx::Pool<Any>;

/// How [`SqlStore`]'s health check begins its message when the database
/// answers reads but its writes fail.
pub const WRITES_FAILING: &str = "writes are failing";

/// The PostgreSQL advisory lock a retention pass holds for its
/// transaction (`pg_locks.objid`): with several server processes on one
/// database, a process that finds it taken skips its pass (another is
/// deleting the same rows), so retention never runs twice at once.
pub const RETENTION_LOCK: i64 = -0x006d_6f6e_6974_6f72;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Job {
    Ingest(Vec<Snapshot>, Reply<IngestReceipt>),
    Flush(Reply<()>),
    /// Deletes a server's metrics; with `true`, the server too.
    DeleteServer(ServerId, bool, Reply<()>),
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
    /// The PostgreSQL URL that [`Catalog::watch`] listens on (none for
    /// SQLite, which one process serves).
    listen_url: Option<String>,
}

/// The newest snapshot of each server (see [`Latest`]): the writer keeps
/// them here and flushes them every few seconds (and at shutdown) instead of
/// rewriting a row per report; readers look here first. The samples
/// themselves are durable at once in the head table.
type Pending = Arc<Latest>;

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

impl SqlStore {
    /// Tells the other server processes on this PostgreSQL database of
    /// `change` when `tx` commits (nothing on SQLite).
    async fn announce(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        change: &CatalogChange,
    ) -> Result<(), StoreError> {
        if self.inner.listen_url.is_none() {
            return Ok(());
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(changes::CHANNEL)
            .bind(changes::payload(change))
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// [`SqlStore::announce`] after a write that committed on its own: a
    /// failure is logged (the write stands; the other processes read alert
    /// settings again within their 30-s reload anyway).
    async fn announce_now(&self, change: CatalogChange) {
        if self.inner.listen_url.is_none() {
            return;
        }
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(changes::CHANNEL)
            .bind(changes::payload(&change))
            .execute(&self.inner.write)
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, ?change, "Could not tell the other server processes of a catalog change.");
        }
    }

    /// Opens (or creates) the database, applies migrations and starts the
    /// writer task. Needs a Tokio runtime.
    ///
    /// # Errors
    /// [`StoreError::SchemaTooNew`] when the database was written by a newer
    /// version; [`StoreError::Unavailable`] when it cannot be reached.
    pub async fn open(options: StoreOptions) -> Result<Self, StoreError> {
        let (write, read, dialect) = options::connect(&options).await?;
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
                listen_url: match &options.database {
                    options::Database::Postgres(url) => Some(url.clone()),
                    options::Database::Sqlite(_) => None,
                },
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
}

#[async_trait]
impl Catalog for SqlStore {
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
        SqlStore::server(self, id).await
    }

    async fn servers(&self) -> Result<Vec<ServerRecord>, StoreError> {
        SqlStore::servers(self).await
    }

    async fn server_by_token(&self, hash: &TokenHash) -> Result<Option<ServerRecord>, StoreError> {
        SqlStore::server_by_token(self, hash).await
    }

    /// The new hash and the notification to other processes commit
    /// together: no process trusts the old token once it is replaced.
    async fn rotate_token(&self, id: &ServerId, hash: TokenHash) -> Result<(), StoreError> {
        let mut tx = self.inner.write.begin().await.map_err(map_err)?;
        let done = sqlx::query("UPDATE servers SET token_hash = $1 WHERE name = $2")
            .bind(&hash.0[..])
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("server {id}")));
        }
        self.announce(&mut tx, &CatalogChange::TokenRotated(id.clone()))
            .await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete_server(&self, id: &ServerId) -> Result<(), StoreError> {
        self.job(|tx| Job::DeleteServer(id.clone(), true, tx))
            .await?;
        self.announce_now(CatalogChange::ServerDeleted(id.clone()))
            .await;
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

    async fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        SqlStore::alert_rules(self).await
    }

    async fn put_alert_rule(&self, rule: AlertRule) -> Result<AlertRule, StoreError> {
        let rule = SqlStore::put_alert_rule(self, rule).await?;
        self.announce_now(CatalogChange::AlertSettings).await;
        Ok(rule)
    }

    async fn delete_alert_rule(&self, id: &str) -> Result<(), StoreError> {
        SqlStore::delete_alert_rule(self, id).await?;
        self.announce_now(CatalogChange::AlertSettings).await;
        Ok(())
    }

    async fn append_alert_events(
        &self,
        events: &[AlertEvent],
    ) -> Result<Vec<AlertEvent>, StoreError> {
        SqlStore::record_alert_transitions(self, events, &[]).await
    }

    /// The events and their deliveries in one transaction.
    async fn record_alert_transitions(
        &self,
        events: &[AlertEvent],
        deliveries: &[Delivery],
    ) -> Result<Vec<AlertEvent>, StoreError> {
        SqlStore::record_alert_transitions(self, events, deliveries).await
    }

    async fn alert_events(&self, filter: &EventFilter) -> Result<Vec<AlertEvent>, StoreError> {
        SqlStore::alert_events(self, filter).await
    }

    async fn alert_states(&self) -> Result<Vec<AlertStateRecord>, StoreError> {
        SqlStore::alert_states(self).await
    }

    async fn save_alert_states(&self, states: &[AlertStateRecord]) -> Result<(), StoreError> {
        SqlStore::save_alert_states(self, states).await
    }

    async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        SqlStore::setting(self, key).await
    }

    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        SqlStore::put_setting(self, key, value).await?;
        self.announce_now(CatalogChange::AlertSettings).await;
        Ok(())
    }

    /// On PostgreSQL, hears every process's changes (see `changes.rs`).
    fn watch(&self, handler: ChangeHandler) -> bool {
        #[cfg(feature = "postgres")]
        if let Some(url) = &self.inner.listen_url {
            changes::spawn_listener(url.clone(), handler);
            return true;
        }
        let _ = handler;
        false
    }

    async fn queue_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        SqlStore::queue_deliveries(self, deliveries).await
    }

    async fn waiting_deliveries(
        &self,
        notifier: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        SqlStore::waiting_deliveries(self, notifier, limit).await
    }

    async fn remove_delivery(&self, id: i64) -> Result<(), StoreError> {
        SqlStore::remove_delivery(self, id).await
    }

    async fn postpone_delivery(
        &self,
        id: i64,
        attempts: u32,
        next_at: Timestamp,
        error: &str,
    ) -> Result<(), StoreError> {
        SqlStore::postpone_delivery(self, id, attempts, next_at, error).await
    }

    async fn delivery_backlog(&self) -> Result<Vec<DeliveryBacklog>, StoreError> {
        SqlStore::delivery_backlog(self).await
    }

    async fn catalog_health(&self) -> Result<(), StoreError> {
        Store::health(self).await
    }

    /// Closes the pools once (after [`Store::shutdown`], a no-op).
    async fn close_catalog(&self) -> Result<(), StoreError> {
        Store::shutdown(self).await
    }
}

#[async_trait]
impl Store for SqlStore {
    fn name(&self) -> &str {
        match self.inner.dialect {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    async fn ingest(&self, snapshots: Vec<Snapshot>) -> Result<IngestReceipt, StoreError> {
        if snapshots.is_empty() {
            return Ok(IngestReceipt::default());
        }
        self.job(|tx| Job::Ingest(snapshots, tx)).await
    }

    async fn latest_snapshot(&self, id: &ServerId) -> Result<Option<Arc<Snapshot>>, StoreError> {
        SqlStore::latest_snapshot(self, id).await
    }

    async fn latest_timestamp(&self, id: &ServerId) -> Result<Option<Timestamp>, StoreError> {
        if let Some(s) = self.inner.pending.packed(id.as_str()) {
            return Ok(Some(s.timestamp));
        }
        Ok(self.latest_snapshot(id).await?.map(|s| s.timestamp))
    }

    async fn latest_snapshots(&self) -> Result<Vec<Arc<Snapshot>>, StoreError> {
        SqlStore::latest_snapshots(self).await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<History, StoreError> {
        SqlStore::history(self, query).await
    }

    async fn series(&self, id: &ServerId) -> Result<Vec<SeriesInfo>, StoreError> {
        SqlStore::series(self, id).await
    }

    /// Deletes the server's reports, series, chunks and rollups; its row,
    /// token, alert states and events stay (the catalog's
    /// [`Catalog::delete_server`] deletes those, and the metrics with them).
    async fn delete_server_data(&self, id: &ServerId) -> Result<(), StoreError> {
        self.job(|tx| Job::DeleteServer(id.clone(), false, tx))
            .await
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
