//! Compaction and retention: the writer turns each finished hour of a
//! server's reports into compressed chunks and minute and hour rollups,
//! and deletes what the retention policy no longer keeps.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use monitor_core::StoreError;
use monitor_core::store::{RetentionPolicy, RetentionReport};
use sqlx::Row;

use super::super::dialect::{Dialect, map_err, placeholders, values_sql};
use super::{TOUCH_AFTER, Writer};
use crate::engine::{
    self, Bucket, HOUR, MINUTE, RAW_WINDOW, RawWindow, TIER_HOUR, TIER_MINUTE, window_of,
};

/// Rows per multi-row upsert of compaction (4 parameters each at most).
const ROWS_PER_UPSERT: usize = 500;

impl Writer {
    /// Compacts up to `limit` windows that ended before `now - grace`. A
    /// window that fails (the database refused a statement) is logged and
    /// passed over for this pass: one server's trouble never stops the
    /// others' compaction, nor retention, which compacts first.
    pub(super) async fn compact_due(
        &mut self,
        now: i64,
        limit: usize,
    ) -> Result<usize, StoreError> {
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
            let sql = values_sql(
                self.dialect,
                "INSERT INTO chunks (series, win, data) VALUES ",
                part.len(),
                &[""; 3],
                " ON CONFLICT (series, win) DO UPDATE SET data = excluded.data",
            );
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
                let sql = values_sql(
                    self.dialect,
                    "INSERT INTO rollups (series, tier, win, data) VALUES ",
                    rows.len(),
                    &[""; 4],
                    " ON CONFLICT (series, tier, win) DO UPDATE SET data = excluded.data",
                );
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

    pub(super) async fn retention(
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
        if self.dialect == Dialect::Postgres {
            // Another server process on this database is running its pass:
            // the same rows, deleted once.
            let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(super::super::RETENTION_LOCK)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
            if !ours {
                return Ok(report);
            }
        }
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
