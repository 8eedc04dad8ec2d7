//! [`Agent`]: runs collectors every interval, turns their results into
//! snapshots, and hands each to its exporters, with a timeout on every
//! call and each problem logged once. The `monitor-agent` binary adds the
//! push to a server and its spool, and the monitor server's quickstart
//! runs one in-process.
//!
//! ```no_run
//! use monitor_collectors::{Agent, HostPaths, MemoryCollector};
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
    /// How long one collector's `collect` or one exporter's `export` may
    /// take before it is given up on for that snapshot.
    call_timeout: Duration,
    /// Collectors and exporters whose last call failed.
    failing: Reported,
    /// Collectors whose last result had samples left out (see
    /// [`monitor_core::wire::clean`]).
    discarding: Reported,
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

/// Why an agent could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No server id was given.
    #[error("give the agent a server id (with_server_id)")]
    MissingServerId,
    /// The interval is out of range.
    #[error("interval {0:?} is out of range: give 100 ms to 24 h")]
    Interval(Duration),
    /// The call timeout is zero or over a day.
    #[error("call timeout {0:?} is out of range: give 100 ms to 24 h")]
    CallTimeout(Duration),
    /// No collector was added.
    #[error("give the agent at least one collector (with_collector, with_builtin_collectors)")]
    NoCollector,
    /// A built-in collector could not be made.
    #[error("collector {name}: {source}")]
    Collector {
        /// The collector's name.
        name: String,
        /// Why.
        source: monitor_core::CollectError,
    },
}

/// Assembles an [`Agent`]: collectors, exporters, interval, with a fallible
/// [`AgentBuilder::build`]. The stock binary uses it too.
///
/// ```
/// use std::time::Duration;
/// use monitor_collectors::Agent;
/// use monitor_core::ServerId;
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let agent = Agent::builder()
///     .with_server_id(ServerId::new("srv-01")?)
///     .with_interval(Duration::from_secs(5))
///     .with_builtin_collectors(&["memory", "cpu"])
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct AgentBuilder {
    server_id: Option<ServerId>,
    interval: Option<Duration>,
    paths: crate::HostPaths,
    collectors: Vec<Box<dyn Collector>>,
    builtin: Vec<String>,
    exporters: Vec<Box<dyn Exporter>>,
    call_timeout: Option<Duration>,
}

impl std::fmt::Debug for AgentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentBuilder")
            .field("server_id", &self.server_id)
            .field("interval", &self.interval)
            .field("builtin", &self.builtin)
            .field("call_timeout", &self.call_timeout)
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

impl AgentBuilder {
    /// The id snapshots carry (required).
    pub fn with_server_id(mut self, id: ServerId) -> Self {
        self.server_id = Some(id);
        self
    }

    /// How often to collect (default 5 s; 100 ms to 24 h).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// Where the host's `/proc` and `/sys` are for the built-in collectors
    /// (when the agent runs in a container).
    pub fn with_host_paths(mut self, paths: crate::HostPaths) -> Self {
        self.paths = paths;
        self
    }

    /// Built-in collectors by name (`memory`, `cpu`, `disk`, `network`,
    /// `system`, `docker`: [`crate::BUILTIN`]), made at `build`.
    pub fn with_builtin_collectors(mut self, names: &[&str]) -> Self {
        self.builtin.extend(names.iter().map(|n| (*n).to_owned()));
        self
    }

    /// A collector of yours.
    pub fn with_collector(mut self, collector: Box<dyn Collector>) -> Self {
        self.collectors.push(collector);
        self
    }

    /// An exporter given every snapshot (wrap it in an `Arc` to keep a
    /// handle).
    pub fn with_exporter(mut self, exporter: Box<dyn Exporter>) -> Self {
        self.exporters.push(exporter);
        self
    }

    /// How long one collector or exporter call may take (default: the
    /// interval, at least 5 s); see [`Agent::with_call_timeout`].
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(timeout);
        self
    }

    /// The agent.
    ///
    /// # Errors
    /// [`AgentError`]: no server id, an interval out of range, no
    /// collector, or a built-in collector that cannot be made.
    pub fn build(self) -> Result<Agent, AgentError> {
        let server_id = self.server_id.ok_or(AgentError::MissingServerId)?;
        let interval = self.interval.unwrap_or(Duration::from_secs(5));
        if !(Duration::from_millis(100)..=Duration::from_secs(86_400)).contains(&interval) {
            return Err(AgentError::Interval(interval));
        }
        let mut agent = Agent::new(server_id, interval);
        if let Some(timeout) = self.call_timeout {
            if !(Duration::from_millis(100)..=Duration::from_secs(86_400)).contains(&timeout) {
                return Err(AgentError::CallTimeout(timeout));
            }
            agent = agent.with_call_timeout(timeout);
        }
        for name in &self.builtin {
            let collector =
                crate::builtin(name, &self.paths).map_err(|source| AgentError::Collector {
                    name: name.clone(),
                    source,
                })?;
            agent = agent.with_collector(collector);
        }
        for collector in self.collectors {
            agent = agent.with_collector(collector);
        }
        if agent.collectors.is_empty() {
            return Err(AgentError::NoCollector);
        }
        for exporter in self.exporters {
            agent = agent.with_exporter(exporter);
        }
        Ok(agent)
    }
}

impl Agent {
    /// A builder (see [`AgentBuilder`]).
    pub fn builder() -> AgentBuilder {
        AgentBuilder::default()
    }

    /// Collects every interval and hands each snapshot to the exporters
    /// ([`Agent::tick`]) until `shutdown` completes; then call
    /// [`Agent::shutdown`]. For pushing to a monitor server, see
    /// `monitor_agent::push::run`.
    pub async fn run(&mut self, shutdown: impl std::future::Future<Output = ()>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticker.tick() => {
                    self.tick().await;
                }
            }
        }
    }

    /// An agent for `server_id` collecting every `interval`, with no collector yet.
    pub fn new(server_id: ServerId, interval: Duration) -> Self {
        Agent {
            server_id,
            interval,
            collectors: Vec::new(),
            exporters: Vec::new(),
            call_timeout: default_call_timeout(interval),
            failing: Reported::default(),
            discarding: Reported::default(),
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

    /// How long one collector's `collect` or one exporter's `export` may
    /// take (default: the interval, at least 5 s). A call that takes longer
    /// is dropped for that snapshot and counts as failed
    /// ([`CollectError::Timeout`](monitor_core::CollectError::Timeout),
    /// [`ExportError::Timeout`](monitor_core::ExportError::Timeout)): one
    /// hung plugin cannot stop the agent. Only a call that awaits can be
    /// cut off: do blocking work in `tokio::task::spawn_blocking`.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
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
    ///
    /// What a collector gives is cleaned first
    /// ([`monitor_core::wire::clean`]): a sample the server would refuse
    /// (a bad name, a value that is not finite, a series repeated, a series
    /// an earlier collector already gave) is left out, and said once (WARN)
    /// until it changes, so one plugin's mistake costs its own samples, not
    /// the snapshot.
    pub async fn collect(&mut self) -> Snapshot {
        let now = Timestamp::now();
        let ctx = CollectContext::new(now, self.interval);
        let limits = monitor_core::wire::Limits::default();
        let mut collection = Collection::new();
        for collector in &mut self.collectors {
            let name = collector.name().to_owned();
            let outcome = tokio::time::timeout(self.call_timeout, collector.collect(&ctx))
                .await
                .unwrap_or(Err(monitor_core::CollectError::Timeout(self.call_timeout)));
            match outcome {
                Ok(mut part) => {
                    if self.failing.cleared(&name) {
                        tracing::info!(collector = %name, "Collector recovered.");
                    }
                    let mut discarded = monitor_core::wire::clean(&mut part, &limits);
                    discarded.extend(collection.merge(part));
                    note_discarded(&mut self.discarding, &name, &discarded);
                }
                Err(error) => {
                    if self.failing.changed(&name, error.to_string()) {
                        tracing::warn!(collector = %name, %error, "Collector failed; retrying every interval.");
                    }
                }
            }
        }
        // Over the per-snapshot limit only together.
        let over = monitor_core::wire::clean(&mut collection, &limits);
        note_discarded(&mut self.discarding, "all collectors", &over);
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
            let outcome = tokio::time::timeout(self.call_timeout, exporter.export(snapshots))
                .await
                .unwrap_or(Err(monitor_core::ExportError::Timeout(self.call_timeout)));
            match outcome {
                Ok(()) => {
                    if self.failing.cleared(&key) {
                        tracing::info!(exporter = exporter.name(), "Exporter recovered.");
                    }
                }
                Err(error) => {
                    if self.failing.changed(&key, error.to_string()) {
                        tracing::warn!(exporter = exporter.name(), %error, "Export failed; trying again with the next snapshot.");
                    }
                }
            }
        }
    }

    /// Names of the collectors (and `exporter NAME`s) whose last call failed.
    pub fn failing(&self) -> impl Iterator<Item = &str> {
        self.failing.0.keys().map(String::as_str)
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

/// The interval, at least 5 s.
fn default_call_timeout(interval: Duration) -> Duration {
    interval.max(Duration::from_secs(5))
}

/// Problems said once each: per collector or exporter, the message of its
/// current problem, so a problem that lasts is logged when it starts,
/// when it changes and when it ends, not every interval.
#[derive(Debug, Default)]
struct Reported(HashMap<String, String>);

impl Reported {
    /// Notes `message` for `key`; true when it is new (log it then).
    fn changed(&mut self, key: &str, message: String) -> bool {
        if self.0.get(key) == Some(&message) {
            return false;
        }
        self.0.insert(key.to_owned(), message);
        true
    }

    /// Forgets `key`'s problem; true when it had one (log its end then).
    fn cleared(&mut self, key: &str) -> bool {
        self.0.remove(key).is_some()
    }
}

/// Logs what was left out of a collector's result when that changes
/// (WARN), and once when nothing is any more (INFO).
fn note_discarded(
    discarding: &mut Reported,
    collector: &str,
    discarded: &[monitor_core::Discarded],
) {
    if discarded.is_empty() {
        if discarding.cleared(collector) {
            tracing::info!(collector = %collector, "Collector's samples are all valid again.");
        }
        return;
    }
    // Counts change from one interval to the next; what and why do not.
    let what: Vec<String> = discarded
        .iter()
        .map(|d| format!("{:?}: {}", d.metric, d.reason))
        .collect();
    if discarding.changed(collector, what.join("; ")) {
        let said: Vec<String> = discarded.iter().map(ToString::to_string).collect();
        tracing::warn!(collector = %collector, "Samples left out of the snapshot: {}", said.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use monitor_core::testing::{RecordingExporter, StaticCollector};
    use monitor_core::{CollectError, ExportError, Labels, Unit};

    /// A plugin whose calls never end.
    struct Hung;

    #[async_trait]
    impl Collector for Hung {
        fn name(&self) -> &str {
            "hung"
        }
        async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
            std::future::pending().await
        }
    }

    #[async_trait]
    impl Exporter for Hung {
        fn name(&self) -> &str {
            "hung"
        }
        async fn export(&self, _snapshots: &[Snapshot]) -> Result<(), ExportError> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_plugin_costs_its_own_part_and_no_more() {
        let mut c = Collection::new();
        c.gauge("up", Unit::NONE, Labels::new(), 1.0);
        let recorded = RecordingExporter::new();
        let mut agent = Agent::builder()
            .with_server_id(ServerId::new("srv-01").unwrap_or_else(|e| panic!("{e}")))
            .with_interval(Duration::from_secs(1))
            .with_collector(Box::new(Hung))
            .with_collector(Box::new(StaticCollector::new("static", c)))
            .with_exporter(Box::new(Hung))
            .with_exporter(Box::new(recorded.clone()))
            .with_call_timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let started = tokio::time::Instant::now();
        let snapshot = agent.tick().await;
        assert_eq!(started.elapsed(), Duration::from_secs(4), "two timeouts");
        assert_eq!(snapshot.value("up", &Labels::new()), Some(1.0));
        assert_eq!(
            recorded.snapshots().len(),
            1,
            "the next exporter still got it"
        );
        let mut failing: Vec<&str> = agent.failing().collect();
        failing.sort_unstable();
        assert_eq!(failing, ["exporter hung", "hung"]);
    }

    #[test]
    fn the_call_timeout_is_checked() {
        let built = Agent::builder()
            .with_server_id(ServerId::new("srv-01").unwrap_or_else(|e| panic!("{e}")))
            .with_collector(Box::new(Hung))
            .with_call_timeout(Duration::ZERO)
            .build();
        assert!(matches!(built, Err(AgentError::CallTimeout(_))));
    }
}
