//! Run with: `cargo run -p example-custom-store`
//!
//! A store of your own: a mirror that writes everything to two stores and
//! reads from the first. Useful to move a live server from one database to
//! another (SQLite to PostgreSQL): run with the mirror until the second
//! holds enough history, then switch. It passes the store conformance suite
//! of `monitor-core::testing` (the test below), and serves here as the store
//! of a server on 127.0.0.1:8001 that keeps two SQLite files in step.
//!
//! A failure of the second store is logged and does not fail the write:
//! the first is the one of record. The notification outbox lives in the
//! first only: it is the server's work in progress, not history.

use std::sync::Arc;

use async_trait::async_trait;
use monitor_core::alert::{AlertEvent, AlertRule};
use monitor_core::catalog::{AlertStateRecord, Delivery, DeliveryBacklog, EventFilter, NewServer, ServerRecord, TokenHash};
use monitor_core::store::{History, HistoryQuery, IngestReceipt, RetentionPolicy, RetentionReport, SeriesInfo};
use monitor_core::{ServerId, Snapshot, Store, StoreError, Timestamp};

/// Writes to both stores, reads from the first.
pub struct Mirror {
    primary: Arc<dyn Store>,
    secondary: Arc<dyn Store>,
}

impl Mirror {
    /// A mirror of `primary` into `secondary`.
    pub fn new(primary: Arc<dyn Store>, secondary: Arc<dyn Store>) -> Self {
        Mirror { primary, secondary }
    }

    /// Logs a failure of the second store; the first one's answer stands.
    fn second<T>(&self, what: &str, result: Result<T, StoreError>) {
        if let Err(error) = result {
            tracing::warn!(%error, store = self.secondary.name(), what, "The mirror's second store failed.");
        }
    }
}

#[async_trait]
impl Store for Mirror {
    fn name(&self) -> &str {
        "mirror"
    }

    async fn register_server(&self, server: NewServer) -> Result<ServerRecord, StoreError> {
        let record = self.primary.register_server(server.clone()).await?;
        self.second(
            "register_server",
            self.secondary.register_server(server).await,
        );
        Ok(record)
    }

    async fn server(&self, id: &ServerId) -> Result<Option<ServerRecord>, StoreError> {
        self.primary.server(id).await
    }

    async fn servers(&self) -> Result<Vec<ServerRecord>, StoreError> {
        self.primary.servers().await
    }

    async fn server_by_token(&self, hash: &TokenHash) -> Result<Option<ServerRecord>, StoreError> {
        self.primary.server_by_token(hash).await
    }

    async fn rotate_token(&self, id: &ServerId, hash: TokenHash) -> Result<(), StoreError> {
        self.primary.rotate_token(id, hash).await?;
        self.second("rotate_token", self.secondary.rotate_token(id, hash).await);
        Ok(())
    }

    async fn delete_server(&self, id: &ServerId) -> Result<(), StoreError> {
        self.primary.delete_server(id).await?;
        self.second("delete_server", self.secondary.delete_server(id).await);
        Ok(())
    }

    async fn ingest(&self, snapshots: Vec<Snapshot>) -> Result<IngestReceipt, StoreError> {
        let receipt = self.primary.ingest(snapshots.clone()).await?;
        self.second("ingest", self.secondary.ingest(snapshots).await);
        Ok(receipt)
    }

    async fn latest_snapshot(&self, id: &ServerId) -> Result<Option<Arc<Snapshot>>, StoreError> {
        self.primary.latest_snapshot(id).await
    }

    async fn latest_timestamp(&self, id: &ServerId) -> Result<Option<Timestamp>, StoreError> {
        self.primary.latest_timestamp(id).await
    }

    async fn latest_snapshots(&self) -> Result<Vec<Arc<Snapshot>>, StoreError> {
        self.primary.latest_snapshots().await
    }

    async fn history(&self, query: &HistoryQuery) -> Result<History, StoreError> {
        self.primary.history(query).await
    }

    async fn series(&self, id: &ServerId) -> Result<Vec<SeriesInfo>, StoreError> {
        self.primary.series(id).await
    }

    async fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        self.primary.alert_rules().await
    }

    async fn put_alert_rule(&self, rule: AlertRule) -> Result<AlertRule, StoreError> {
        // The second store keeps the id the first one gave.
        let saved = self.primary.put_alert_rule(rule).await?;
        self.second(
            "put_alert_rule",
            self.secondary.put_alert_rule(saved.clone()).await,
        );
        Ok(saved)
    }

    async fn delete_alert_rule(&self, id: &str) -> Result<(), StoreError> {
        self.primary.delete_alert_rule(id).await?;
        self.second(
            "delete_alert_rule",
            self.secondary.delete_alert_rule(id).await,
        );
        Ok(())
    }

    async fn append_alert_events(
        &self,
        events: &[AlertEvent],
    ) -> Result<Vec<AlertEvent>, StoreError> {
        let stored = self.primary.append_alert_events(events).await?;
        self.second(
            "append_alert_events",
            self.secondary.append_alert_events(events).await,
        );
        Ok(stored)
    }

    async fn record_alert_transitions(
        &self,
        events: &[AlertEvent],
        deliveries: &[Delivery],
    ) -> Result<Vec<AlertEvent>, StoreError> {
        let stored = self
            .primary
            .record_alert_transitions(events, deliveries)
            .await?;
        self.second(
            "append_alert_events",
            self.secondary.append_alert_events(events).await,
        );
        Ok(stored)
    }

    async fn queue_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        self.primary.queue_deliveries(deliveries).await
    }

    async fn waiting_deliveries(
        &self,
        notifier: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.primary.waiting_deliveries(notifier, limit).await
    }

    async fn remove_delivery(&self, id: i64) -> Result<(), StoreError> {
        self.primary.remove_delivery(id).await
    }

    async fn postpone_delivery(
        &self,
        id: i64,
        attempts: u32,
        next_at: Timestamp,
        error: &str,
    ) -> Result<(), StoreError> {
        self.primary
            .postpone_delivery(id, attempts, next_at, error)
            .await
    }

    async fn delivery_backlog(&self) -> Result<Vec<DeliveryBacklog>, StoreError> {
        self.primary.delivery_backlog().await
    }

    async fn alert_events(&self, filter: &EventFilter) -> Result<Vec<AlertEvent>, StoreError> {
        self.primary.alert_events(filter).await
    }

    async fn alert_states(&self) -> Result<Vec<AlertStateRecord>, StoreError> {
        self.primary.alert_states().await
    }

    async fn save_alert_states(&self, states: &[AlertStateRecord]) -> Result<(), StoreError> {
        self.primary.save_alert_states(states).await?;
        self.second(
            "save_alert_states",
            self.secondary.save_alert_states(states).await,
        );
        Ok(())
    }

    async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.primary.setting(key).await
    }

    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.primary.put_setting(key, value).await?;
        self.second("put_setting", self.secondary.put_setting(key, value).await);
        Ok(())
    }

    async fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        now: Timestamp,
    ) -> Result<RetentionReport, StoreError> {
        let report = self.primary.enforce_retention(policy, now).await?;
        self.second(
            "enforce_retention",
            self.secondary.enforce_retention(policy, now).await,
        );
        Ok(report)
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.primary.health().await?;
        self.secondary.health().await
    }

    async fn shutdown(&self) -> Result<(), StoreError> {
        let first = self.primary.shutdown().await;
        self.second("shutdown", self.secondary.shutdown().await);
        first
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use monitor_store::{SqlStore, StoreOptions};
    let primary =
        Arc::new(SqlStore::open(StoreOptions::sqlite("./.example-data/primary.db")).await?);
    let secondary =
        Arc::new(SqlStore::open(StoreOptions::sqlite("./.example-data/mirror.db")).await?);
    let config = monitor_server::config::ServerConfig {
        listen: "127.0.0.1:8001".parse()?,
        data_dir: "./.example-data".into(),
        ..Default::default()
    };
    let server = monitor_server::server::Server::builder()
        .with_config(config)
        .with_store(Arc::new(Mirror::new(primary, secondary)))
        .build()
        .await?;
    println!(
        "serving http://127.0.0.1:8001 with ./.example-data/primary.db mirrored into mirror.db"
    );
    server
        .serve(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_core::testing::MemoryStore;

    #[tokio::test]
    async fn the_mirror_passes_the_store_conformance_suite_and_fills_the_second_store() {
        let (first, second) = (Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()));
        let mirror = Mirror::new(first.clone(), second.clone());
        monitor_core::testing::store::conformance(&mirror).await;
        // What the suite wrote is in both.
        assert_eq!(
            first.servers().await.unwrap_or_default(),
            second.servers().await.unwrap_or_default()
        );
        assert!(
            !second
                .latest_snapshots()
                .await
                .unwrap_or_default()
                .is_empty()
        );
    }
}
