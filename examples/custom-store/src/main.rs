//! Run with: `cargo run -p example-custom-store`
//!
//! A metric store of your own, under the stock server: every report kept
//! in memory for as long as the raw retention allows (`retention.raw_days`,
//! 7 days by default), nothing written to disk for metrics (a small board
//! whose SD card should not wear out). The server's own state (servers,
//! tokens, alert rules, events) stays on SQLite in `./.example-data`.
//! It passes the metric store conformance suite (the tests below).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use monitor_core::store::{History, HistoryQuery, IngestReceipt, RetentionPolicy, RetentionReport};
use monitor_core::store::{SeriesInfo, history_of, series_of};
use monitor_core::{ServerId, Snapshot, Store, StoreError, Timestamp};

type Reports = HashMap<ServerId, BTreeMap<i64, Arc<Snapshot>>>;

/// Each server's reports by their time in milliseconds, in memory.
#[derive(Default)]
pub struct MemoryMetrics(Mutex<Reports>);

impl MemoryMetrics {
    fn reports(&self) -> MutexGuard<'_, Reports> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reports of `id`, oldest first.
    fn of(&self, id: &ServerId) -> Vec<Arc<Snapshot>> {
        self.reports()
            .get(id)
            .map_or_else(Vec::new, |r| r.values().cloned().collect())
    }
}

#[async_trait]
impl Store for MemoryMetrics {
    fn name(&self) -> &str {
        "memory-metrics"
    }

    async fn ingest(&self, snapshots: Vec<Snapshot>) -> Result<IngestReceipt, StoreError> {
        let (mut servers, mut receipt) = (self.reports(), IngestReceipt::default());
        for s in snapshots {
            let reports = servers.entry(s.server_id.clone()).or_default();
            if receipt.count(reports.get(&s.timestamp.as_millis()).map(|h| &**h), &s) {
                reports.insert(s.timestamp.as_millis(), Arc::new(s));
            }
        }
        Ok(receipt)
    }

    async fn latest_snapshot(&self, id: &ServerId) -> Result<Option<Arc<Snapshot>>, StoreError> {
        Ok(self
            .reports()
            .get(id)
            .and_then(|r| r.values().last().cloned()))
    }

    async fn latest_snapshots(&self) -> Result<Vec<Arc<Snapshot>>, StoreError> {
        let servers = self.reports();
        Ok(servers
            .values()
            .filter_map(|r| r.values().last().cloned())
            .collect())
    }

    async fn history(&self, query: &HistoryQuery) -> Result<History, StoreError> {
        history_of(query, self.of(&query.server_id).iter().map(|s| &**s))
    }

    async fn series(&self, id: &ServerId) -> Result<Vec<SeriesInfo>, StoreError> {
        Ok(series_of(self.of(id).iter().map(|s| &**s)))
    }

    async fn delete_server_data(&self, id: &ServerId) -> Result<(), StoreError> {
        self.reports().remove(id);
        Ok(())
    }

    async fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        now: Timestamp,
    ) -> Result<RetentionReport, StoreError> {
        let mut report = RetentionReport::default();
        for reports in self.reports().values_mut() {
            let kept = reports.split_off(&policy.raw_cutoff(now).as_millis());
            report.raw_deleted += reports
                .values()
                .map(|s| s.sample_count() as u64)
                .sum::<u64>();
            *reports = kept;
        }
        Ok(report)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = monitor_server::config::ServerConfig {
        listen: "127.0.0.1:8001".parse()?,
        data_dir: "./.example-data".into(),
        ..Default::default()
    };
    let server = monitor_server::server::Server::builder()
        .with_config(config)
        .with_store(Arc::new(MemoryMetrics::default()))
        .build()
        .await?;
    println!(
        "serving http://127.0.0.1:8001: metrics in memory, servers and rules in ./.example-data"
    );
    server
        .serve(async { drop(tokio::signal::ctrl_c().await) })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
