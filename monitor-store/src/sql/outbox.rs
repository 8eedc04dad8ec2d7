//! Alert rules, events and states, settings, and the notifiers' queue of
//! deliveries: small tables of JSON bodies beside the time series.

use monitor_core::catalog::{AlertStateRecord, Delivery, DeliveryBacklog, EventFilter};
use monitor_core::{AlertEvent, AlertRule, StoreError, Timestamp};
use sqlx::{Any, Row};

use super::dialect::{json_err, labels_key, map_err};
use super::reach::Reachability;
use super::{AnyPool, SqlStore};

/// A row of the deliveries table: id, notifier, body, attempts, next
/// attempt, created, last error.
type DeliveryRow = (i64, String, String, i64, i64, i64, Option<String>);

impl SqlStore {
    pub(super) async fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        json_bodies(&self.inner.read, "SELECT body FROM alert_rules ORDER BY id").await
    }

    pub(super) async fn put_alert_rule(
        &self,
        mut rule: AlertRule,
    ) -> Result<AlertRule, StoreError> {
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

    pub(super) async fn delete_alert_rule(&self, id: &str) -> Result<(), StoreError> {
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

    /// The events and their deliveries in one transaction.
    pub(super) async fn record_alert_transitions(
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

    pub(super) async fn alert_events(
        &self,
        filter: &EventFilter,
    ) -> Result<Vec<AlertEvent>, StoreError> {
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

    pub(super) async fn alert_states(&self) -> Result<Vec<AlertStateRecord>, StoreError> {
        json_bodies(&self.inner.read, "SELECT body FROM alert_states").await
    }

    pub(super) async fn save_alert_states(
        &self,
        states: &[AlertStateRecord],
    ) -> Result<(), StoreError> {
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

    pub(super) async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.inner.read)
            .await
            .map_err(map_err)?;
        value
            .map(|v| serde_json::from_str(&v).map_err(json_err))
            .transpose()
    }

    pub(super) async fn put_setting(
        &self,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value.to_string())
            .execute(&self.inner.write)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn queue_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let mut tx = self.inner.write.begin().await.map_err(map_err)?;
        insert_deliveries(&mut tx, deliveries).await?;
        tx.commit().await.map_err(map_err)
    }

    pub(super) async fn waiting_deliveries(
        &self,
        notifier: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
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

    pub(super) async fn remove_delivery(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM deliveries WHERE id = $1")
            .bind(id)
            .execute(&self.inner.write)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn postpone_delivery(
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

    pub(super) async fn delivery_backlog(&self) -> Result<Vec<DeliveryBacklog>, StoreError> {
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
