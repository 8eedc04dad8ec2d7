//! The store's reads: servers, newest snapshots, history and series, from
//! the readers' pool, with what memory holds laid over the database's rows
//! and answered alone while the database does not answer.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use monitor_core::catalog::ServerRecord;
use monitor_core::store::{History, HistoryQuery, MAX_HISTORY_POINTS, SeriesInfo, Tier};
use monitor_core::{Labels, ServerId, Snapshot, StoreError, Timestamp, TokenHash, Unit};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::dialect::{Dialect, json_err, kind_from, map_err, placeholders};
use super::reach::Reachability;
use super::{Pending, SqlStore};
use crate::engine::{
    self, Bucket, Downsampler, HOUR, MINUTE, RAW_WINDOW, RawWindow, TIER_HOUR, TIER_MINUTE,
    window_of,
};

/// Series ids per `IN (...)` of a read: far under both databases' limits
/// on parameters (SQLite 32,766, PostgreSQL 65,535).
const SERIES_PER_QUERY: usize = 500;

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

impl SqlStore {
    /// Notes a failure to reach the database (when `error` says so) and
    /// passes `error` on.
    pub(super) fn unreached(&self, error: StoreError) -> StoreError {
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

    async fn server_row(&self, id: &ServerId) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT id FROM servers WHERE name = $1")
            .bind(id.as_str())
            .fetch_optional(&self.inner.read)
            .await
            .map_err(map_err)
    }

    pub(super) async fn server(&self, id: &ServerId) -> Result<Option<ServerRecord>, StoreError> {
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

    pub(super) async fn servers(&self) -> Result<Vec<ServerRecord>, StoreError> {
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

    pub(super) async fn server_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<ServerRecord>, StoreError> {
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

    pub(super) async fn latest_snapshot(
        &self,
        id: &ServerId,
    ) -> Result<Option<Arc<Snapshot>>, StoreError> {
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

    pub(super) async fn latest_snapshots(&self) -> Result<Vec<Arc<Snapshot>>, StoreError> {
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

    pub(super) async fn history(&self, query: &HistoryQuery) -> Result<History, StoreError> {
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

    pub(super) async fn series(&self, id: &ServerId) -> Result<Vec<SeriesInfo>, StoreError> {
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
}
