//! [`Storage`]: the server's two stores, the metric [`Store`] and the
//! [`Catalog`], and what needs both: servers listed with their newest
//! report, a server deleted with its data.
//!
//! The stock server opens one SQL store for both (`database_url`); a
//! program may put the metrics in a store of its own and keep the catalog
//! on SQLite or PostgreSQL ([`crate::server::ServerBuilder::with_store`]).

use std::collections::HashMap;
use std::sync::Arc;

use monitor_core::catalog::ServerRecord;
use monitor_core::{Catalog, ServerId, Snapshot, Store, StoreError};

/// Where the server keeps metrics, and its own state.
#[derive(Clone)]
pub struct Storage {
    metrics: Arc<dyn Store>,
    catalog: Arc<dyn Catalog>,
    /// Whether both are one object (then closed once).
    shared: bool,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("metrics", &self.metrics.name())
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl<S: Store + Catalog + 'static> From<Arc<S>> for Storage {
    /// One object for both (`SqlStore`, `MemoryStore`).
    fn from(store: Arc<S>) -> Self {
        Storage {
            metrics: Arc::clone(&store) as Arc<dyn Store>,
            catalog: store,
            shared: true,
        }
    }
}

impl Storage {
    /// Metrics in `metrics`, the server's own state in `catalog`.
    pub fn new(metrics: Arc<dyn Store>, catalog: Arc<dyn Catalog>) -> Self {
        Storage {
            metrics,
            catalog,
            shared: false,
        }
    }

    /// The metric store.
    pub fn metrics(&self) -> &Arc<dyn Store> {
        &self.metrics
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    /// Every registered server, with the host name, OS, interval and time
    /// of its newest report filled from the metric store, and the newest
    /// report of each (servers without one left out).
    ///
    /// # Errors
    /// [`StoreError`] when either store fails.
    pub async fn servers_with_latest(
        &self,
    ) -> Result<(Vec<ServerRecord>, Vec<Arc<Snapshot>>), StoreError> {
        let mut records = self.catalog.servers().await?;
        let mut latest = self.metrics.latest_snapshots().await?;
        let by_id: HashMap<&ServerId, &Snapshot> =
            latest.iter().map(|s| (&s.server_id, &**s)).collect();
        for record in &mut records {
            if let Some(snapshot) = by_id.get(&record.id) {
                seen(record, snapshot);
            }
        }
        let known: std::collections::HashSet<&ServerId> = records.iter().map(|r| &r.id).collect();
        latest.retain(|s| known.contains(&s.server_id));
        Ok((records, latest))
    }

    /// Every registered server with its newest report's facts, as
    /// [`Storage::servers_with_latest`] gives them, without the reports.
    /// When one object keeps both, its records already hold those facts
    /// and only the catalog is read (the alert engine asks every 30 s).
    ///
    /// # Errors
    /// [`StoreError`] when either store fails.
    pub async fn servers(&self) -> Result<Vec<ServerRecord>, StoreError> {
        if self.shared {
            return self.catalog.servers().await;
        }
        Ok(self.servers_with_latest().await?.0)
    }

    /// One server, its newest report's facts filled in as by
    /// [`Storage::servers_with_latest`].
    ///
    /// # Errors
    /// [`StoreError`] when either store fails.
    pub async fn server(&self, id: &ServerId) -> Result<Option<ServerRecord>, StoreError> {
        let Some(mut record) = self.catalog.server(id).await? else {
            return Ok(None);
        };
        if let Some(snapshot) = self.metrics.latest_snapshot(id).await? {
            seen(&mut record, &snapshot);
        }
        Ok(Some(record))
    }

    /// Deletes a server: its metrics first, then its record (token, alert
    /// states and events). A failure between the two leaves the server
    /// registered, so deleting it again finishes the job.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown server; [`StoreError`] when
    /// either store fails.
    pub async fn delete_server(&self, id: &ServerId) -> Result<(), StoreError> {
        if self.catalog.server(id).await?.is_none() {
            return Err(StoreError::NotFound(format!("server {id}")));
        }
        self.metrics.delete_server_data(id).await?;
        self.catalog.delete_server(id).await
    }

    /// Whether both answer: the metric store's health, then the catalog's
    /// when it is another object.
    ///
    /// # Errors
    /// The first failure.
    pub async fn health(&self) -> Result<(), StoreError> {
        self.metrics.health().await?;
        if !self.shared {
            self.catalog.catalog_health().await?;
        }
        Ok(())
    }

    /// Flushes and closes the metric store, then the catalog when it is
    /// another object.
    ///
    /// # Errors
    /// The first failure (the catalog is closed even when the metric store
    /// failed).
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        let metrics = self.metrics.shutdown().await;
        if !self.shared {
            self.catalog.close_catalog().await?;
        }
        metrics
    }
}

/// Fills a record's facts from its server's newest report, when that is
/// newer than what the catalog holds.
fn seen(record: &mut ServerRecord, snapshot: &Snapshot) {
    if record.last_seen.is_some_and(|t| t > snapshot.timestamp) {
        return;
    }
    record.last_seen = Some(snapshot.timestamp);
    if snapshot.interval_secs.is_some() {
        record.interval_secs = snapshot.interval_secs;
    }
    if let Some(host) = &snapshot.host {
        record.hostname = Some(host.hostname.clone());
        record.os = Some(host.os.clone());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use monitor_core::catalog::NewServer;
    use monitor_core::testing::MemoryStore;
    use monitor_core::{Collection, Timestamp, TokenHash};

    /// A metric store apart from the catalog: the server's facts come from
    /// it, and deleting a server deletes from both.
    #[tokio::test]
    async fn a_metric_store_apart_from_the_catalog() {
        let metrics = Arc::new(MemoryStore::new());
        let catalog = Arc::new(MemoryStore::new());
        let storage = Storage::new(metrics.clone(), catalog.clone());
        let id = ServerId::new("web-1").unwrap();
        for store in [&metrics, &catalog] {
            store
                .register_server(NewServer {
                    id: id.clone(),
                    name: String::new(),
                    tags: vec![],
                    token_hash: TokenHash([1; 32]),
                    created: Timestamp::now(),
                })
                .await
                .unwrap();
        }
        let mut snapshot = Snapshot::new(id.clone(), Timestamp::now(), Collection::new());
        snapshot.interval_secs = Some(10.0);
        metrics.ingest(vec![snapshot.clone()]).await.unwrap();
        let (records, latest) = storage.servers_with_latest().await.unwrap();
        assert_eq!(records[0].last_seen, Some(snapshot.timestamp));
        assert_eq!(storage.servers().await.unwrap(), records);
        assert_eq!(records[0].interval_secs, Some(10.0));
        assert_eq!(latest.len(), 1);
        assert_eq!(
            storage.server(&id).await.unwrap().unwrap().last_seen,
            Some(snapshot.timestamp)
        );
        storage.delete_server(&id).await.unwrap();
        assert!(metrics.latest_snapshot(&id).await.unwrap().is_none());
        assert!(Catalog::server(&*catalog, &id).await.unwrap().is_none());
        assert!(matches!(
            storage.delete_server(&id).await,
            Err(StoreError::NotFound(_))
        ));
    }
}
