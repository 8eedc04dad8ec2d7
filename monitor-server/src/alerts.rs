//! The alert engine: evaluates the rules on every accepted snapshot and on a
//! timer (host offline), stores each transition as an event, saves the
//! alerts' states (so a restart neither forgets nor repeats them) and
//! publishes the events on the live stream.
//!
//! Ingest evaluates each accepted snapshot in place (a few microseconds
//! under a lock: [`monitor_core::alert::Evaluator`] keeps state only for
//! alerts that left `inactive`) and hands the rare transitions to the
//! engine's task, which stores and sends them in order: ingest never waits
//! for the database or a receiver, and no snapshot goes unevaluated.
//!
//! # Notifications
//! An alert that starts firing is notified once, and once more when it
//! resolves (again every `repeat_every` while it fires, when set). Each
//! notifier has its own queue and worker: deliveries to one receiver keep
//! their order, a retryable failure is retried with exponential backoff, and
//! a slow or dead receiver delays neither ingest nor the other notifiers.
//! An alert is marked notified when its notification is queued, and that
//! mark is saved with its state: a restart sends nothing twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use monitor_core::alert::{Evaluator, LastSeen, OFFLINE_METRIC, ServerFacts};
use monitor_core::store::{AlertStateRecord, ServerRecord};
use monitor_core::{
    AlertEvent, AlertRule, AlertState, Notification, Notifier, ServerId, Silence, Snapshot, Store,
    StoreError, Thresholds, Timestamp,
};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::stream::{Payload, StreamHub};

/// The setting key of the original's three thresholds.
pub const THRESHOLDS_KEY: &str = "thresholds";

/// The setting key of the silences.
pub const SILENCES_KEY: &str = "silences";

/// The stored silences (expired ones included).
///
/// # Errors
/// [`StoreError`] when the setting cannot be read.
pub async fn silences(store: &dyn Store) -> Result<Vec<Silence>, StoreError> {
    Ok(match store.setting(SILENCES_KEY).await? {
        Some(value) => serde_json::from_value(value).unwrap_or_default(),
        None => Vec::new(),
    })
}

/// How often host-offline rules are evaluated.
const TICK: Duration = Duration::from_secs(5);

/// Deliveries waiting per notifier; beyond this, new ones are dropped
/// (and counted as failed).
const DELIVERY_QUEUE: usize = 1000;

/// How notifications go out.
#[derive(Clone, Default)]
pub struct AlertOptions {
    /// Where notifications go.
    pub notifiers: Vec<Arc<dyn Notifier>>,
    /// Notify a still-firing alert again this often (never when `None`).
    pub repeat_every: Option<Duration>,
    /// The dashboard's address, for links in notifications
    /// (`https://monitor.example`).
    pub dashboard_url: Option<String>,
    /// The first retry's delay (doubled at each attempt, six attempts in
    /// all); one second when zero.
    pub retry_base: Duration,
    /// How long one delivery attempt may take before it is given up on
    /// (and retried: [`monitor_core::NotifyError::Timeout`]); 30 s when
    /// zero. A notifier that hangs holds only its own queue, and only
    /// this long.
    pub notify_timeout: Duration,
}

impl std::fmt::Debug for AlertOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertOptions")
            .field(
                "notifiers",
                &self.notifiers.iter().map(|n| n.name()).collect::<Vec<_>>(),
            )
            .field("repeat_every", &self.repeat_every)
            .finish_non_exhaustive()
    }
}

/// How one notifier's deliveries went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryStatus {
    /// The notifier's name.
    pub notifier: String,
    /// Notifications delivered.
    pub delivered: u64,
    /// Notifications given up on (after retries, refused, or dropped from a
    /// full queue).
    pub failed: u64,
    /// Notifications waiting or being retried.
    pub queued: u64,
    /// The last failure's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<Timestamp>,
}

/// One notifier's queue.
struct Outbox {
    tx: mpsc::Sender<Notification>,
    status: Arc<std::sync::Mutex<DeliveryStatus>>,
}

/// Handle to the running engine: cheap to clone, shared by the handlers.
/// The engine's task ends when the last handle is dropped.
#[derive(Clone, Debug)]
pub struct Alerts {
    /// Transitions found by [`Alerts::evaluate`], to store in order.
    tx: mpsc::UnboundedSender<Vec<AlertEvent>>,
    engine: Arc<Engine>,
}

struct Engine {
    store: Arc<dyn Store>,
    stream: Arc<StreamHub>,
    /// Never held across an await.
    state: std::sync::Mutex<State>,
    /// Held while events and states are written, so that the states saved
    /// last are the newest.
    io: tokio::sync::Mutex<()>,
    outboxes: Vec<Outbox>,
    repeat_every: Option<Duration>,
    dashboard_url: Option<String>,
    /// When the engine started: hosts not heard from since then are
    /// counted offline from this time, not from their last report (the
    /// server could not hear them while it was down).
    started: Timestamp,
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
    /// Kept current by the snapshots evaluated (last seen, interval) and
    /// read again from the store every 30 s.
    servers: HashMap<ServerId, ServerRecord>,
    silences: Vec<Silence>,
    /// A snapshot came from a server not in `servers` (registered since the
    /// last reload): the next tick reloads.
    unknown: bool,
    /// Alerts with transitions evaluated but not yet stored (and told):
    /// the catch-up leaves them alone, or it would tell a firing that its
    /// own event tells again, or tell it after it resolved.
    unrecorded: HashMap<monitor_core::alert::AlertKey, usize>,
}

impl Alerts {
    /// Loads the rules and saved states and starts the engine's task and
    /// one delivery worker per notifier.
    ///
    /// # Errors
    /// [`StoreError`] when the rules or states cannot be read.
    pub async fn start(
        store: Arc<dyn Store>,
        stream: Arc<StreamHub>,
        options: AlertOptions,
    ) -> Result<Self, StoreError> {
        let evaluator = Evaluator::from_records(store.alert_states().await?);
        let retry_base = if options.retry_base.is_zero() {
            Duration::from_secs(1)
        } else {
            options.retry_base
        };
        let timeout = if options.notify_timeout.is_zero() {
            Duration::from_secs(30)
        } else {
            options.notify_timeout
        };
        let outboxes = options
            .notifiers
            .into_iter()
            .map(|notifier| {
                let (tx, rx) = mpsc::channel(DELIVERY_QUEUE);
                let status = Arc::new(std::sync::Mutex::new(DeliveryStatus {
                    notifier: notifier.name().to_owned(),
                    ..DeliveryStatus::default()
                }));
                tokio::spawn(deliver(
                    notifier,
                    rx,
                    Arc::clone(&status),
                    retry_base,
                    timeout,
                ));
                Outbox { tx, status }
            })
            .collect();
        let engine = Arc::new(Engine {
            store,
            stream,
            state: std::sync::Mutex::new(State {
                evaluator,
                rules: Vec::new(),
                servers: HashMap::new(),
                silences: Vec::new(),
                unknown: false,
                unrecorded: HashMap::new(),
            }),
            io: tokio::sync::Mutex::new(()),
            outboxes,
            repeat_every: options.repeat_every,
            dashboard_url: options.dashboard_url,
            started: Timestamp::now(),
        });
        engine.reload().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(Arc::clone(&engine).run(rx));
        Ok(Alerts { tx, engine })
    }

    /// Evaluates the rules on an accepted snapshot (the newest of its
    /// server) and queues the transitions for storing and sending; never
    /// waits for I/O.
    pub fn evaluate(&self, snapshot: &Snapshot) {
        let mut state = lock(&self.engine.state);
        let State {
            evaluator,
            rules,
            servers,
            unknown,
            unrecorded,
            ..
        } = &mut *state;
        // A server registered since the last reload is noted as seen now
        // (its name and tags come with the next tick's reload).
        let server = servers
            .entry(snapshot.server_id.clone())
            .or_insert_with(|| {
                *unknown = true;
                ServerRecord {
                    id: snapshot.server_id.clone(),
                    name: snapshot.server_id.to_string(),
                    tags: Vec::new(),
                    hostname: None,
                    os: None,
                    created: snapshot.timestamp,
                    last_seen: None,
                    interval_secs: None,
                }
            });
        if server.last_seen.is_none_or(|t| t < snapshot.timestamp) {
            server.last_seen = Some(snapshot.timestamp);
        }
        if snapshot.interval_secs.is_some() {
            server.interval_secs = snapshot.interval_secs;
        }
        let tags: &[String] = &server.tags;
        let facts = ServerFacts::new(&snapshot.server_id, tags);
        let events = evaluator.on_snapshot(rules, &facts, snapshot);
        if events.is_empty() {
            return;
        }
        for event in &events {
            *unrecorded.entry(event.key()).or_default() += 1;
        }
        // Sent under the lock: the task stores transitions in the order
        // they happened.
        if self.tx.send(events).is_err() {
            tracing::error!("The alert engine has stopped; a transition was not stored.");
        }
    }

    /// Reads the rules and servers again (after a change through the API).
    ///
    /// # Errors
    /// [`StoreError`] when they cannot be read.
    pub async fn reload(&self) -> Result<(), StoreError> {
        self.engine.reload().await
    }

    /// Forgets a deleted server: its alerts end without an event, and it is
    /// never reported offline.
    pub fn forget(&self, server: &ServerId) {
        let mut state = lock(&self.engine.state);
        let State {
            evaluator,
            rules,
            servers,
            ..
        } = &mut *state;
        servers.remove(server);
        evaluator.retain(rules, |id| id != server);
    }

    /// Evaluates host-offline rules now (the engine also does every 5 s).
    ///
    /// # Errors
    /// [`StoreError`] when the events or states cannot be stored.
    pub async fn tick(&self, now: Timestamp) -> Result<Vec<AlertEvent>, StoreError> {
        self.engine.tick(now).await
    }

    /// How each notifier's deliveries went.
    pub fn deliveries(&self) -> Vec<DeliveryStatus> {
        self.engine
            .outboxes
            .iter()
            .map(|o| lock(&o.status).clone())
            .collect()
    }

    /// The alerts firing now.
    pub async fn firing(&self) -> Vec<monitor_core::store::AlertStateRecord> {
        let state = lock(&self.engine.state);
        state
            .evaluator
            .active()
            .filter(|r| r.state == monitor_core::AlertState::Firing)
            .cloned()
            .collect()
    }
}

/// The rules in force: the original's three thresholds, the built-in
/// rules ([`monitor_core::alert::builtin_rules`]: host offline, filesystem
/// filling up, containers), then the stored rules.
pub fn effective_rules(thresholds: &Thresholds, stored: Vec<AlertRule>) -> Vec<AlertRule> {
    let mut rules = thresholds.to_rules();
    rules.extend(monitor_core::alert::builtin_rules());
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
    async fn run(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Vec<AlertEvent>>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                events = rx.recv() => {
                    let Some(events) = events else { break };
                    let count = events.len();
                    let keys: Vec<_> = events.iter().map(AlertEvent::key).collect();
                    if let Err(error) = self.record(events).await {
                        tracing::error!(%error, count, "Could not store alert transitions; the alerts keep their new states.");
                    }
                    self.recorded(keys);
                }
                _ = tick.tick() => {
                    ticks += 1;
                    // A safety net (a server registered or deleted by
                    // another process sharing the database): this one's
                    // changes reach the engine at once.
                    if ticks.is_multiple_of(60)
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

    /// Notes that the transitions of `keys`, sent by [`Alerts::evaluate`],
    /// are stored.
    fn recorded(&self, keys: Vec<monitor_core::alert::AlertKey>) {
        let mut state = lock(&self.state);
        for key in keys {
            if let std::collections::hash_map::Entry::Occupied(mut entry) =
                state.unrecorded.entry(key)
            {
                *entry.get_mut() -= 1;
                if *entry.get() == 0 {
                    entry.remove();
                }
            }
        }
    }

    async fn reload(&self) -> Result<(), StoreError> {
        let thresholds = thresholds(&*self.store).await?;
        let rules = effective_rules(&thresholds, self.store.alert_rules().await?);
        let mut servers: HashMap<ServerId, ServerRecord> = self
            .store
            .servers()
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let silences = silences(&*self.store).await?;
        let mut state = lock(&self.state);
        // A report evaluated while the list was read may not be in it yet:
        // the newer of the two last-seen times stays.
        for (id, server) in &mut servers {
            if let Some(known) = state.servers.get(id)
                && known.last_seen > server.last_seen
            {
                server.last_seen = known.last_seen;
                server.interval_secs = known.interval_secs.or(server.interval_secs);
            }
        }
        state
            .evaluator
            .retain(&rules, |id| servers.contains_key(id));
        state.rules = rules;
        state.servers = servers;
        state.silences = silences;
        Ok(())
    }

    async fn tick(&self, now: Timestamp) -> Result<Vec<AlertEvent>, StoreError> {
        let registered = std::mem::take(&mut lock(&self.state).unknown);
        if registered {
            self.reload().await?;
        }
        let events = {
            let mut state = lock(&self.state);
            let State {
                evaluator,
                rules,
                servers,
                ..
            } = &mut *state;
            // Offline since before the start: these keep their alerts.
            let down: std::collections::HashSet<ServerId> = evaluator
                .active()
                .filter(|a| {
                    rules
                        .iter()
                        .any(|r| r.id == a.rule_id && r.metric == OFFLINE_METRIC)
                })
                .map(|a| a.server_id.clone())
                .collect();
            let seen: Vec<LastSeen<'_>> = servers
                .values()
                .map(|s| LastSeen {
                    server: ServerFacts::new(&s.id, &s.tags),
                    at: s.last_seen.map(|t| {
                        if t < self.started && !down.contains(&s.id) {
                            self.started
                        } else {
                            t
                        }
                    }),
                    interval_secs: s.interval_secs.unwrap_or(0.0),
                })
                .collect();
            evaluator.on_tick(rules, &seen, now)
        };
        let stored = self.record(events).await?;
        self.catch_up(now).await?;
        Ok(stored)
    }

    /// Notifies firing alerts not notified since they started (silenced
    /// then, or their notification could not be queued) and, with
    /// `repeat_every`, those whose last notification is that old.
    async fn catch_up(&self, now: Timestamp) -> Result<(), StoreError> {
        let _io = self.io.lock().await;
        let Some(changed) = self.due(now) else {
            return Ok(());
        };
        self.store.save_alert_states(&changed).await
    }

    /// Queues the notifications [`Engine::catch_up`] owes; the changed
    /// states to save, or `None` when nothing was queued.
    fn due(&self, now: Timestamp) -> Option<Vec<AlertStateRecord>> {
        let mut state = lock(&self.state);
        let state = &mut *state;
        let still = |r: &AlertStateRecord, repeat: bool| {
            let rule = state.rules.iter().find(|rule| rule.id == r.rule_id)?;
            let event = AlertEvent {
                id: 0,
                rule_id: rule.id.clone(),
                rule_name: rule.name.clone(),
                server_id: r.server_id.clone(),
                metric: rule.metric.clone(),
                labels: r.labels.clone(),
                from: AlertState::Firing,
                state: AlertState::Firing,
                value: r.last_value,
                threshold: rule.threshold,
                severity: rule.severity,
                at: now,
                message: format!("{}: firing on {} since {}", rule.name, r.server_id, r.since),
            };
            Some((event, repeat))
        };
        let waiting = |r: &AlertStateRecord| {
            state
                .unrecorded
                .contains_key(&monitor_core::alert::AlertKey {
                    rule_id: r.rule_id.clone(),
                    server_id: r.server_id.clone(),
                    labels: r.labels.clone(),
                })
        };
        let mut due: Vec<(AlertEvent, bool)> = state
            .evaluator
            .unnotified_firing()
            .into_iter()
            .filter(|r| !waiting(r))
            .filter_map(|r| still(r, false))
            .collect();
        if let Some(every) = self.repeat_every {
            due.extend(
                state
                    .evaluator
                    .due_repeats(every.as_millis() as i64, now)
                    .into_iter()
                    .filter(|r| r.last_notified.is_some_and(|t| t >= r.since))
                    .filter_map(|r| still(r, true)),
            );
        }
        let mut sent = false;
        for (event, repeat) in &due {
            sent |= self.send(state, event, *repeat);
        }
        sent.then(|| state.evaluator.take_changed())
    }

    /// Queues `event` for every notifier and marks its alert notified;
    /// false when a silence covers it or no queue took it (it is then
    /// caught up with later).
    fn send(&self, state: &mut State, event: &AlertEvent, repeat: bool) -> bool {
        let now = Timestamp::now();
        if state
            .silences
            .iter()
            .any(|s| s.covers(&event.rule_id, &event.server_id, now))
        {
            return false;
        }
        let key = monitor_core::alert::AlertKey {
            rule_id: event.rule_id.clone(),
            server_id: event.server_id.clone(),
            labels: event.labels.clone(),
        };
        let notification = Notification {
            event: event.clone(),
            server_name: state
                .servers
                .get(&event.server_id)
                .map_or_else(|| event.server_id.to_string(), |s| s.name.clone()),
            dashboard_url: self.dashboard_url.as_ref().map(|base| {
                format!(
                    "{}/#/server/{}",
                    base.trim_end_matches('/'),
                    event.server_id
                )
            }),
            repeat,
        };
        let mut queued = self.outboxes.is_empty();
        for outbox in &self.outboxes {
            let mut status = lock(&outbox.status);
            if outbox.tx.try_send(notification.clone()).is_ok() {
                status.queued += 1;
                queued = true;
            } else {
                status.failed += 1;
                status.last_error = Some("the delivery queue is full".into());
                status.last_error_at = Some(Timestamp::now());
                tracing::error!(notifier = %status.notifier, "The delivery queue is full; a notification was dropped.");
            }
        }
        if queued {
            state.evaluator.notified(&key, event.at);
        }
        queued
    }

    /// Stores `events` and the changed states, sends the events that
    /// notify, and publishes them.
    async fn record(&self, events: Vec<AlertEvent>) -> Result<Vec<AlertEvent>, StoreError> {
        if events.is_empty() {
            return Ok(events);
        }
        let _io = self.io.lock().await;
        let stored = self.store.append_alert_events(&events).await?;
        let changed = {
            let mut state = lock(&self.state);
            for event in stored.iter().filter(|e| e.notifies()) {
                // A resolution under a silence is simply not told.
                self.send(&mut state, event, false);
            }
            state.evaluator.take_changed()
        };
        self.store.save_alert_states(&changed).await?;
        for event in &stored {
            tracing::info!(server = %event.server_id, rule = %event.rule_id, state = ?event.state, "{}", event.message);
            let json = serde_json::to_string(event).unwrap_or_default();
            self.stream.publish("alert", Payload::ready(json));
        }
        Ok(stored)
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters and states stay usable after a panic elsewhere.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One notifier's worker: its notifications in order, each attempt cut off
/// after `timeout`, each retried with exponential backoff (six attempts)
/// while the failure is retryable.
async fn deliver(
    notifier: Arc<dyn Notifier>,
    mut rx: mpsc::Receiver<Notification>,
    status: Arc<std::sync::Mutex<DeliveryStatus>>,
    retry_base: Duration,
    timeout: Duration,
) {
    const ATTEMPTS: u32 = 6;
    while let Some(notification) = rx.recv().await {
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let attempted = tokio::time::timeout(timeout, notifier.notify(&notification))
                .await
                .unwrap_or(Err(monitor_core::NotifyError::Timeout(timeout)));
            match attempted {
                Ok(()) => break Ok(()),
                Err(error) if error.is_retryable() && attempt < ATTEMPTS => {
                    let error = crate::webhook::redact_urls(&error.to_string());
                    tracing::warn!(notifier = notifier.name(), %error, attempt, "Delivery failed; retrying.");
                    tokio::time::sleep(retry_base * 2u32.pow(attempt - 1)).await;
                }
                Err(error) => break Err(error),
            }
        };
        let mut status = lock(&status);
        status.queued = status.queued.saturating_sub(1);
        match outcome {
            Ok(()) => status.delivered += 1,
            Err(error) => {
                // A notifier of yours may quote its URL, which is often its
                // secret: shown without path, query or credentials.
                let error = crate::webhook::redact_urls(&error.to_string());
                tracing::error!(notifier = notifier.name(), %error, rule = %notification.event.rule_id, server = %notification.event.server_id, "Notification not delivered.");
                status.failed += 1;
                status.last_error = Some(error);
                status.last_error_at = Some(Timestamp::now());
            }
        }
    }
}
