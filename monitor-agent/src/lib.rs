//! # monitor-agent
//!
//! The agent: it runs [`Collector`]s every interval, turns their results
//! into [`Snapshot`]s and hands them to [`Exporter`]s. The `monitor-agent`
//! binary is a thin command line over [`Agent`], [`push`] (to a monitor
//! server) and [`export`] (Prometheus, OTLP); your own program can use them
//! the same way.
//!
//! # Example
//! ```no_run
//! use monitor_agent::Agent;
//! use monitor_collectors::{HostPaths, MemoryCollector};
//! use monitor_core::ServerId;
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut agent = Agent::new(ServerId::new("srv-01")?, Duration::from_secs(5))
//!     .with_collector(Box::new(MemoryCollector::new(HostPaths::default())));
//! let snapshot = agent.collect().await;
//! println!("{}", serde_json::to_string(&snapshot)?);
//! # Ok(())
//! # }
//! ```

pub mod export;
pub mod push;

use std::collections::HashMap;
use std::time::Duration;

use monitor_core::{
    CollectContext, Collection, Collector, Exporter, ServerId, Snapshot, Timestamp,
};

/// Runs collectors, assembles their results into snapshots, and hands each
/// snapshot to its exporters.
pub struct Agent {
    server_id: ServerId,
    interval: Duration,
    collectors: Vec<Box<dyn Collector>>,
    exporters: Vec<Box<dyn Exporter>>,
    /// Collectors and exporters whose last call failed, with the message
    /// logged then.
    failing: HashMap<String, String>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("server_id", &self.server_id)
            .field("interval", &self.interval)
            .field(
                "collectors",
                &self.collectors.iter().map(|c| c.name()).collect::<Vec<_>>(),
            )
            .field(
                "exporters",
                &self.exporters.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Agent {
    /// An agent for `server_id` collecting every `interval`, with no collector yet.
    pub fn new(server_id: ServerId, interval: Duration) -> Self {
        Agent {
            server_id,
            interval,
            collectors: Vec::new(),
            exporters: Vec::new(),
            failing: HashMap::new(),
        }
    }

    /// Adds a collector.
    pub fn with_collector(mut self, collector: Box<dyn Collector>) -> Self {
        self.collectors.push(collector);
        self
    }

    /// Adds an exporter: [`Agent::tick`] gives it every snapshot. Wrap it in
    /// an `Arc` to keep a handle of your own (a Prometheus exporter's
    /// scrape handler).
    pub fn with_exporter(mut self, exporter: Box<dyn Exporter>) -> Self {
        self.exporters.push(exporter);
        self
    }

    /// The collection interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Runs every collector once and returns the snapshot.
    ///
    /// A collector that fails is left out of this snapshot; its failure is
    /// logged once (WARN), and its recovery once (INFO), however many
    /// intervals it lasts, so a missing Docker never floods the log.
    pub async fn collect(&mut self) -> Snapshot {
        let now = Timestamp::now();
        let ctx = CollectContext::new(now, self.interval);
        let mut collection = Collection::new();
        for collector in &mut self.collectors {
            let name = collector.name().to_owned();
            match collector.collect(&ctx).await {
                Ok(part) => {
                    if self.failing.remove(&name).is_some() {
                        tracing::info!(collector = %name, "Collector recovered.");
                    }
                    collection.merge(part);
                }
                Err(error) => {
                    let message = error.to_string();
                    if self.failing.get(&name) != Some(&message) {
                        tracing::warn!(collector = %name, %error, "Collector failed; retrying every interval.");
                        self.failing.insert(name, message);
                    }
                }
            }
        }
        let mut snapshot = Snapshot::new(self.server_id.clone(), now, collection);
        snapshot.interval_secs = Some(self.interval.as_secs_f64());
        if let Some(host) = &mut snapshot.host {
            host.agent_version = env!("CARGO_PKG_VERSION").to_owned();
        }
        snapshot
    }

    /// Collects a snapshot ([`Agent::collect`]) and gives it to every
    /// exporter. An exporter that fails is logged once (WARN) and its
    /// recovery once (INFO), like a collector.
    pub async fn tick(&mut self) -> Snapshot {
        let snapshot = self.collect().await;
        self.export(&snapshot).await;
        snapshot
    }

    /// Gives `snapshot` to every exporter (see [`Agent::tick`]).
    pub async fn export(&mut self, snapshot: &Snapshot) {
        let snapshots = std::slice::from_ref(snapshot);
        for exporter in &self.exporters {
            let key = format!("exporter {}", exporter.name());
            match exporter.export(snapshots).await {
                Ok(()) => {
                    if self.failing.remove(&key).is_some() {
                        tracing::info!(exporter = exporter.name(), "Exporter recovered.");
                    }
                }
                Err(error) => {
                    let message = error.to_string();
                    if self.failing.get(&key) != Some(&message) {
                        tracing::warn!(exporter = exporter.name(), %error, "Export failed; trying again with the next snapshot.");
                        self.failing.insert(key, message);
                    }
                }
            }
        }
    }

    /// Names of the collectors (and `exporter NAME`s) whose last call failed.
    pub fn failing(&self) -> impl Iterator<Item = &str> {
        self.failing.keys().map(String::as_str)
    }

    /// Shuts every collector and exporter down (an exporter flushes what it
    /// holds).
    pub async fn shutdown(&mut self) {
        for collector in &mut self.collectors {
            if let Err(error) = collector.shutdown().await {
                tracing::warn!(collector = collector.name(), %error, "Collector shutdown failed.");
            }
        }
        for exporter in &self.exporters {
            if let Err(error) = exporter.shutdown().await {
                tracing::warn!(exporter = exporter.name(), %error, "Exporter shutdown failed.");
            }
        }
    }
}
