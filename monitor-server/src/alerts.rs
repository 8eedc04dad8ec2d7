//! The alert engine: evaluates the rules on every accepted snapshot and on a
//! timer (host offline), stores each transition as an event, saves the
//! alerts' states (so a restart neither forgets nor repeats them) and
//! publishes the events on the live stream.
//!
//! Ingest hands snapshots over a bounded queue and never waits for the
//! engine; the evaluation itself is [`monitor_core::alert::Evaluator`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use monitor_core::alert::{Evaluator, LastSeen, OFFLINE_METRIC, ServerFacts};
use monitor_core::store::ServerRecord;
use monitor_core::{
    AlertEvent, AlertRule, Comparison, ServerId, Snapshot, Store, StoreError, Thresholds, Timestamp,
};
use tokio::sync::{Mutex, mpsc};

use crate::stream::{Payload, StreamHub};

/// The setting key of the original's three thresholds.
pub const THRESHOLDS_KEY: &str = "thresholds";

/// Missed reporting intervals after which the built-in offline rule fires.
pub const OFFLINE_INTERVALS: f64 = 3.0;

/// Snapshots waiting for evaluation; beyond this, ingest drops the newest
/// ones from evaluation (the next snapshot of the server is evaluated).
const QUEUE: usize = 4096;

/// How often host-offline rules are evaluated.
const TICK: Duration = Duration::from_secs(5);

/// Handle to the running engine: cheap to clone, shared by the handlers.
#[derive(Clone, Debug)]
pub struct Alerts {
    tx: mpsc::Sender<Arc<Snapshot>>,
    engine: Arc<Engine>,
}

struct Engine {
    store: Arc<dyn Store>,
    stream: Arc<StreamHub>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store.name())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct State {
    evaluator: Evaluator,
    rules: Vec<AlertRule>,
    servers: HashMap<ServerId, ServerRecord>,
}

impl Alerts {
    /// Loads the rules and saved states and starts the engine's task.
    ///
    /// # Errors
    /// [`StoreError`] when the rules or states cannot be read.
    pub async fn start(store: Arc<dyn Store>, stream: Arc<StreamHub>) -> Result<Self, StoreError> {
        let evaluator = Evaluator::from_records(store.alert_states().await?);
        let engine = Arc::new(Engine {
            store,
            stream,
            state: Mutex::new(State {
                evaluator,
                rules: Vec::new(),
                servers: HashMap::new(),
            }),
        });
        engine.reload().await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(Arc::clone(&engine).run(rx));
        Ok(Alerts { tx, engine })
    }

    /// Queues an accepted snapshot for evaluation; never waits.
    pub fn evaluate(&self, snapshot: Arc<Snapshot>) {
        if self.tx.try_send(snapshot).is_err() {
            tracing::warn!(
                "The alert engine is behind; a snapshot was not evaluated (the server's next one will be)."
            );
        }
    }

    /// Reads the rules and servers again (after a change through the API).
    ///
    /// # Errors
    /// [`StoreError`] when they cannot be read.
    pub async fn reload(&self) -> Result<(), StoreError> {
        self.engine.reload().await
    }

    /// Evaluates host-offline rules now (the engine also does every 5 s).
    ///
    /// # Errors
    /// [`StoreError`] when the events or states cannot be stored.
    pub async fn tick(&self, now: Timestamp) -> Result<Vec<AlertEvent>, StoreError> {
        self.engine.tick(now).await
    }

    /// The alerts firing now.
    pub async fn firing(&self) -> Vec<monitor_core::store::AlertStateRecord> {
        let state = self.engine.state.lock().await;
        state
            .evaluator
            .active()
            .filter(|r| r.state == monitor_core::AlertState::Firing)
            .cloned()
            .collect()
    }
}

/// The rules in force: the original's three thresholds, the built-in
/// host-offline rule, then the stored rules.
pub fn effective_rules(thresholds: &Thresholds, stored: Vec<AlertRule>) -> Vec<AlertRule> {
    let mut rules = thresholds.to_rules();
    let mut offline = AlertRule::threshold(
        "host offline",
        OFFLINE_METRIC,
        Comparison::Greater,
        OFFLINE_INTERVALS,
    );
    offline.id = OFFLINE_METRIC.to_owned();
    rules.push(offline);
    rules.retain(|r| !stored.iter().any(|s| s.id == r.id));
    rules.extend(stored);
    rules
}

/// The stored thresholds, or the defaults.
///
/// # Errors
/// [`StoreError`] when the setting cannot be read.
pub async fn thresholds(store: &dyn Store) -> Result<Thresholds, StoreError> {
    Ok(match store.setting(THRESHOLDS_KEY).await? {
        Some(value) => serde_json::from_value(value).unwrap_or_default(),
        None => Thresholds::default(),
    })
}

impl Engine {
    async fn run(self: Arc<Self>, mut rx: mpsc::Receiver<Arc<Snapshot>>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                snapshot = rx.recv() => {
                    let Some(snapshot) = snapshot else { break };
                    if let Err(error) = self.on_snapshot(&snapshot).await {
                        tracing::error!(%error, "Could not store alert events; they are evaluated again with the next snapshot.");
                    }
                }
                _ = tick.tick() => {
                    ticks += 1;
                    // Servers registered or retagged meanwhile.
                    if ticks.is_multiple_of(6)
                        && let Err(error) = self.reload().await
                    {
                        tracing::warn!(%error, "Could not reload alert rules and servers.");
                    }
                    if let Err(error) = self.tick(Timestamp::now()).await {
                        tracing::error!(%error, "Could not evaluate host-offline rules.");
                    }
                }
            }
        }
    }

    async fn reload(&self) -> Result<(), StoreError> {
        let thresholds = thresholds(&*self.store).await?;
        let rules = effective_rules(&thresholds, self.store.alert_rules().await?);
        let servers: HashMap<ServerId, ServerRecord> = self
            .store
            .servers()
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let mut state = self.state.lock().await;
        state
            .evaluator
            .retain(&rules, |id| servers.contains_key(id));
        state.rules = rules;
        state.servers = servers;
        Ok(())
    }

    async fn on_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let state = &mut *state;
        let tags = state
            .servers
            .get(&snapshot.server_id)
            .map(|s| s.tags.clone())
            .unwrap_or_default();
        let facts = ServerFacts::new(&snapshot.server_id, &tags);
        let events = state.evaluator.on_snapshot(&state.rules, &facts, snapshot);
        self.record(state, events).await.map(|_| ())
    }

    async fn tick(&self, now: Timestamp) -> Result<Vec<AlertEvent>, StoreError> {
        let mut state = self.state.lock().await;
        let state = &mut *state;
        // The newest report of each server, as the store knows it.
        let latest: HashMap<ServerId, Arc<Snapshot>> = self
            .store
            .latest_snapshots()
            .await?
            .into_iter()
            .map(|s| (s.server_id.clone(), s))
            .collect();
        let seen: Vec<LastSeen<'_>> = state
            .servers
            .values()
            .map(|s| LastSeen {
                server: ServerFacts::new(&s.id, &s.tags),
                at: latest.get(&s.id).map(|l| l.timestamp).or(s.last_seen),
                interval_secs: latest
                    .get(&s.id)
                    .and_then(|l| l.interval_secs)
                    .or(s.interval_secs)
                    .unwrap_or(0.0),
            })
            .collect();
        let events = state.evaluator.on_tick(&state.rules, &seen, now);
        self.record(state, events).await
    }

    /// Stores `events` and the changed states, and publishes the events.
    async fn record(
        &self,
        state: &mut State,
        events: Vec<AlertEvent>,
    ) -> Result<Vec<AlertEvent>, StoreError> {
        if events.is_empty() {
            return Ok(events);
        }
        let stored = self.store.append_alert_events(&events).await?;
        self.store
            .save_alert_states(&state.evaluator.take_changed())
            .await?;
        for event in &stored {
            tracing::info!(server = %event.server_id, rule = %event.rule_id, state = ?event.state, "{}", event.message);
            let json = serde_json::to_string(event).unwrap_or_default();
            self.stream.publish("alert", Payload::ready(json));
        }
        Ok(stored)
    }
}
