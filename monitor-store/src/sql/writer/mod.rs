//! The single writer task: it owns the write pool, commits many ingest
//! calls in one transaction (group commit, in `ingest`), writes the newest
//! snapshots to the servers' rows every second, deletes servers, and
//! compacts and expires data (in `compact`).

mod compact;
mod ingest;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use monitor_core::store::IngestReceipt;
use monitor_core::{ServerId, Snapshot, StoreError, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;
use tokio::sync::mpsc;

use super::dialect::{Dialect, json_err, map_err, values_sql};
use super::reach::Reachability;
use super::{AnyPool, Job, Pending, Reply, StoreOptions};
use crate::engine::RAW_WINDOW;

/// Newest snapshots written per flush step.
const FLUSH_CHUNK: usize = 50;

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
pub(super) struct Writer {
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

impl Writer {
    pub(super) async fn load(
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

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
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
            Job::DeleteServer(id, whole, reply) => {
                let _ = reply.send(self.delete_server(&id, whole).await);
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
    /// unreachable less than [`RECONNECT_PAUSE`](super::reach::RECONNECT_PAUSE) ago.
    fn unreachable(&self) -> Option<StoreError> {
        self.reach.down().then(Reachability::error)
    }

    /// Notes whether a call reached the database.
    fn observe<T>(&self, result: &Result<T, StoreError>) {
        self.reach.observe(result);
    }

    /// Forgets what the writer knows of every server (their caches may
    /// hold ids of rows rolled back, or deleted).
    fn forget_servers(&mut self) {
        self.servers.clear();
        self.maps.clear();
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
        let sql = values_sql(
            self.dialect,
            "UPDATE servers SET last_seen = v.column1, hostname = COALESCE(v.column2, servers.hostname), \
             os = COALESCE(v.column3, servers.os), interval_secs = COALESCE(v.column4, servers.interval_secs) FROM (VALUES ",
            pending.len(),
            &["::bigint", "::text", "::text", "::float8", "::text"],
            ") AS v WHERE servers.name = v.column5 RETURNING servers.id, servers.name",
        );
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
            let sql = values_sql(
                self.dialect,
                "INSERT INTO latest (server, body) VALUES ",
                rows.len(),
                &[""; 2],
                " ON CONFLICT (server) DO UPDATE SET body = excluded.body",
            );
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

    /// Deletes a server's metrics, and with `whole` its row, alert events
    /// and states too (then an unknown server is [`StoreError::NotFound`]).
    async fn delete_server(&mut self, id: &ServerId, whole: bool) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let server: Option<i64> = sqlx::query_scalar("SELECT id FROM servers WHERE name = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let Some(server) = server else {
            return if whole {
                Err(StoreError::NotFound(format!("server {id}")))
            } else {
                Ok(())
            };
        };
        let metrics = [
            "DELETE FROM chunks WHERE series IN (SELECT id FROM series WHERE server = $1)",
            "DELETE FROM rollups WHERE series IN (SELECT id FROM series WHERE server = $1)",
            "DELETE FROM chunk_times WHERE server = $1",
            "DELETE FROM head WHERE server = $1",
            "DELETE FROM series WHERE server = $1",
            "DELETE FROM latest WHERE server = $1",
        ];
        let record = if whole {
            &["DELETE FROM servers WHERE id = $1"][..]
        } else {
            &[][..]
        };
        for sql in metrics.iter().chain(record) {
            sqlx::query(*sql)
                .bind(server)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        if whole {
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
        }
        tx.commit().await.map_err(map_err)?;
        self.servers.remove(id.as_str());
        self.pending.remove(id.as_str());
        Ok(())
    }
}
