//! Group commit: the writer stores the reports of many ingest calls in one
//! transaction, finding or creating the series of each report under the
//! series limit, and answers each call after the commit.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use monitor_core::store::IngestReceipt;
use monitor_core::{MetricFamily, Snapshot, StoreError, Timestamp};
use sqlx::{Any, Row};

use super::super::dialect::{Dialect, kind_code, labels_key, map_err, placeholders, values_sql};
use super::{IngestDone, IngestJob, SeriesMap, ServerCache, TOUCH_AFTER, Writer};
use crate::engine::{self, RAW_WINDOW, window_of};

/// Series rows per INSERT statement (6 parameters each).
const SERIES_PER_INSERT: usize = 100;

/// Head rows per INSERT statement (3 parameters each, well under both
/// databases' parameter limits).
const HEAD_ROWS_PER_INSERT: usize = 500;

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
    /// Commits many ingest calls in one transaction, then answers each.
    pub(super) async fn ingest(&mut self, jobs: Vec<IngestJob>) {
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
            let sql = values_sql(
                self.dialect,
                "INSERT INTO head (server, ts, body) VALUES ",
                part.len(),
                &[""; 3],
                " ON CONFLICT DO NOTHING",
            );
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
            // Another process sharing the database may have made one
            // meanwhile: it is then not returned, and read below.
            let sql = values_sql(
                dialect,
                "INSERT INTO series (server, metric, labels, kind, unit, last_used) VALUES ",
                part.len(),
                &[""; 6],
                " ON CONFLICT DO NOTHING RETURNING id, metric, labels",
            );
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
