//! The OTLP relay: every interval, the newest snapshot of each host that
//! reported since the last send goes to an OpenTelemetry collector, each
//! host its own resource (`host.id` = its server id), through the agent's
//! OTLP exporter ([`monitor_collectors::export::otlp`]).
//!
//! The snapshots come from the store's newest-snapshot table (in memory for
//! `cache_max_items` hosts), so the relay costs ingest nothing. A failed
//! send is tried again at the next interval with what is newest then; a
//! collector that refuses the data for good (400) is told once and not sent
//! the same snapshots again.

use std::collections::HashMap;
use std::sync::Arc;

use monitor_collectors::export::otlp::OtlpExporter;
use monitor_core::{ServerId, Snapshot, Store, Timestamp};

/// Starts the relay; it runs until the runtime stops.
pub fn spawn(store: Arc<dyn Store>, exporter: OtlpExporter) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(store, exporter))
}

async fn run(store: Arc<dyn Store>, exporter: OtlpExporter) {
    let mut ticker = tokio::time::interval(exporter.config().interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent: HashMap<ServerId, Timestamp> = HashMap::new();
    let mut failing: Option<String> = None;
    loop {
        ticker.tick().await;
        let latest = match store.latest_snapshots().await {
            Ok(latest) => latest,
            Err(error) => {
                tracing::warn!(%error, "OTLP relay: cannot read the newest snapshots.");
                continue;
            }
        };
        // Forget deleted servers.
        sent.retain(|id, _| latest.iter().any(|s| &s.server_id == id));
        let fresh: Vec<&Snapshot> = latest
            .iter()
            .filter(|s| sent.get(&s.server_id).is_none_or(|t| *t < s.timestamp))
            .map(|s| &**s)
            .collect();
        if fresh.is_empty() {
            continue;
        }
        let result = exporter.send(&fresh).await;
        let retry = match &result {
            Ok(()) => false,
            Err(error) => error.is_retryable(),
        };
        if !retry {
            for s in &fresh {
                sent.insert(s.server_id.clone(), s.timestamp);
            }
        }
        match result {
            Ok(()) => {
                if failing.take().is_some() {
                    tracing::info!(
                        hosts = fresh.len(),
                        "OTLP relay: the collector accepts metrics again."
                    );
                }
            }
            Err(error) => {
                let message = error.to_string();
                if failing.as_deref() != Some(message.as_str()) {
                    if retry {
                        tracing::warn!(%error, hosts = fresh.len(), "OTLP relay: send failed; trying again every interval.");
                    } else {
                        tracing::error!(%error, hosts = fresh.len(), "OTLP relay: the collector refused the metrics; they are not sent again.");
                    }
                    failing = Some(message);
                }
            }
        }
    }
}
