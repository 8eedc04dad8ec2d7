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
//! resolves (again every `repeat_every` while it fires, when set). A
//! transition and its notifications are written in one transaction: the
//! store's outbox ([`monitor_core::store::Delivery`]) holds each
//! notification until it is delivered, through a receiver down for hours
//! and a restart of the server. Each notifier has its own worker:
//! deliveries to one receiver keep their order, a retryable failure is
//! retried with exponential backoff (capped at an hour) for as long as
//! `retry_for` (a day), and a slow or dead receiver delays neither ingest
//! nor the other notifiers. Every attempt at one notification carries the
//! same `delivery_id`, which a receiver can use to ignore a repeat.
//!
//! When the store cannot take a transition, the transition is kept in
//! memory (up to [`PENDING_EVENTS`]) and written on the next tick, with
//! its notifications: an outage of the database delays notifications, and
//! loses none.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use monitor_core::alert::AlertKey;
use monitor_core::alert::{Evaluator, LastSeen, OFFLINE_METRIC, ServerFacts};
use monitor_core::store::{AlertStateRecord, Delivery, ServerRecord};
use monitor_core::{
    AlertEvent, AlertRule, AlertState, Notification, Notifier, ServerId, Silence, Snapshot, Store,
    StoreError, Thresholds, Timestamp,
};
use serde::Serialize;
use tokio::sync::{Notify, mpsc, watch};

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

/// How often host-offline rules are evaluated (and transitions the store
/// could not take are written again).
const TICK: Duration = Duration::from_secs(5);

/// Transitions kept in memory while the store cannot take them; beyond
/// this, the oldest are dropped (and said).
pub const PENDING_EVENTS: usize = 10_000;

/// A delivery worker with nothing due looks at the outbox this often
/// (deliveries queued by this process wake it at once).
const POLL: Duration = Duration::from_secs(5);

/// The longest wait between two attempts at one delivery.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Deliveries a worker reads from the outbox at a time.
const BATCH: usize = 50;

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
    /// The first retry's delay (doubled at each attempt, up to an hour);
    /// one second when zero.
    pub retry_base: Duration,
    /// How long one delivery attempt may take before it is given up on
    /// (and retried: [`monitor_core::NotifyError::Timeout`]); 30 s when
    /// zero. A notifier that hangs holds only its own queue, and only
    /// this long.
    pub notify_timeout: Duration,
    /// How long a notification is retried (from when it was queued)
    /// before it is given up on; a day when zero.
    pub retry_for: Duration,
}

impl std::fmt::Debug for AlertOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertOptions")
            .field(
                "notifiers",
                &self.notifiers.iter().map(|n| n.name()).collect::<Vec<_>>(),
            )
            .field("repeat_every", &self.repeat_every)
            .field("retry_for", &self.retry_for)
            .finish_non_exhaustive()
    }
}

/// How one notifier's deliveries went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryStatus {
    /// The notifier's name.
    pub notifier: String,
    /// Notifications delivered since the server started.
    pub delivered: u64,
    /// Notifications given up on since the server started (refused, or
    /// still failing after `retry_for`).
    pub failed: u64,
    /// Notifications waiting in the outbox (being retried included).
    pub queued: u64,
    /// When the oldest of them was queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_queued: Option<Timestamp>,
    /// The last failed attempt's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<Timestamp>,
}

/// One notifier's worker, as the engine sees it.
struct Worker {
    name: String,
    /// Told when deliveries are queued for it.
    wake: Arc<Notify>,
    status: Arc<std::sync::Mutex<DeliveryStatus>>,
}

/// Handle to the running engine: cheap to clone, shared by the handlers.
/// The engine's task and its delivery workers end when the last handle is
/// dropped.
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
    /// Held while events, deliveries and states are written, so that the
    /// states saved last are the newest.
    io: tokio::sync::Mutex<()>,
    workers: Vec<Worker>,
    repeat_every: Option<Duration>,
    dashboard_url: Option<String>,
    /// When the engine started: hosts not heard from since then are
    /// counted offline from this time, not from their last report (the
    /// server could not hear them while it was down).
    started: Timestamp,
    /// Dropped with the engine: the delivery workers stop.
    _stop: watch::Sender<()>,
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
    unrecorded: HashMap<AlertKey, usize>,
    /// Transitions the store could not take, oldest first: written again
    /// before any newer one.
    pending: Vec<AlertEvent>,
    /// Alert states the store could not take: saved again with the next.
    unsaved: Vec<AlertStateRecord>,
}

impl Alerts {
    /// Loads the rules and saved states and starts the engine's task and
    /// one delivery worker per notifier (which begins with what the outbox
    /// holds from before a restart).
    ///
    /// # Errors
    /// [`StoreError`] when the rules or states cannot be read.
    pub async fn start(
        store: Arc<dyn Store>,
        stream: Arc<StreamHub>,
        options: AlertOptions,
    ) -> Result<Self, StoreError> {
        let evaluator = Evaluator::from_records(store.alert_states().await?);
        let or = |value: Duration, default: Duration| {
            if value.is_zero() { default } else { value }
        };
        let (stop, stopped) = watch::channel(());
        let workers = options
            .notifiers
            .into_iter()
            .map(|notifier| {
                let status = Arc::new(std::sync::Mutex::new(DeliveryStatus {
                    notifier: notifier.name().to_owned(),
                    ..DeliveryStatus::default()
                }));
                let wake = Arc::new(Notify::new());
                let worker = Worker {
                    name: notifier.name().to_owned(),
                    wake: Arc::clone(&wake),
                    status: Arc::clone(&status),
                };
                let delivery = Deliverer {
                    notifier,
                    store: Arc::clone(&store),
                    status,
                    wake,
                    retry_base: or(options.retry_base, Duration::from_secs(1)),
                    timeout: or(options.notify_timeout, Duration::from_secs(30)),
                    retry_for: or(options.retry_for, Duration::from_secs(86_400)),
                };
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        () = delivery.run() => {}
                        _ = stopped.changed() => {}
                    }
                });
                worker
            })
            .collect::<Vec<_>>();
        if let Ok(backlog) = store.delivery_backlog().await {
            for b in backlog {
                if !workers.iter().any(|w| w.name == b.notifier) {
                    tracing::warn!(notifier = %b.notifier, waiting = b.waiting, "Notifications wait in the outbox for a notifier that is not configured; they go out when it is configured again.");
                }
            }
        }
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
                pending: Vec::new(),
                unsaved: Vec::new(),
            }),
            io: tokio::sync::Mutex::new(()),
            workers,
            repeat_every: options.repeat_every,
            dashboard_url: options.dashboard_url,
            started: Timestamp::now(),
            _stop: stop,
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

    /// How each notifier's deliveries went; `queued` as the outbox last
    /// said (it is read now, and kept when the store does not answer).
    pub async fn deliveries(&self) -> Vec<DeliveryStatus> {
        match self.engine.store.delivery_backlog().await {
            Ok(backlog) => {
                for worker in &self.engine.workers {
                    let waiting = backlog.iter().find(|b| b.notifier == worker.name);
                    let mut status = lock(&worker.status);
                    status.queued = waiting.map_or(0, |b| b.waiting as u64);
                    status.oldest_queued = waiting.and_then(|b| b.oldest);
                }
            }
            Err(error) => tracing::warn!(%error, "Could not read the notification outbox."),
        }
        self.engine
            .workers
            .iter()
            .map(|w| lock(&w.status).clone())
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
                    if let Err(error) = self.record(events).await {
                        tracing::error!(%error, count, "Could not store alert transitions; they are kept and written again on the next tick.");
                    }
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
                unrecorded,
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
            let events = evaluator.on_tick(rules, &seen, now);
            for event in &events {
                *unrecorded.entry(event.key()).or_default() += 1;
            }
            events
        };
        // Transitions kept from a failed write go first.
        let stored = self.record(events).await?;
        self.catch_up(now).await?;
        Ok(stored)
    }

    /// Notifies firing alerts not notified since they started (silenced
    /// then) and, with `repeat_every`, those whose last notification is
    /// that old.
    async fn catch_up(&self, now: Timestamp) -> Result<(), StoreError> {
        let _io = self.io.lock().await;
        let (due, deliveries) = {
            let state = lock(&self.state);
            let due = self.due(&state, now);
            let deliveries: Vec<Delivery> = due
                .iter()
                .flat_map(|(event, repeat, moment)| {
                    self.deliveries(&state, event, *repeat, *moment, now)
                })
                .collect();
            (due, deliveries)
        };
        if due.is_empty() {
            return Ok(());
        }
        self.store.queue_deliveries(&deliveries).await?;
        self.wake(&deliveries);
        let changed = {
            let mut state = lock(&self.state);
            for (event, _, _) in &due {
                state.evaluator.notified(&event.key(), event.at);
            }
            state.evaluator.take_changed()
        };
        self.save_states(changed).await
    }

    /// What [`Engine::catch_up`] owes: each event to tell, whether it
    /// repeats, and the moment that names its notification.
    fn due(&self, state: &State, now: Timestamp) -> Vec<(AlertEvent, bool, Timestamp)> {
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
            // A first notification is named by the firing it tells (a
            // crash before its state was saved queues the same one again);
            // a repeat by its time.
            let moment = if repeat { now } else { r.since };
            Some((event, repeat, moment))
        };
        let waiting = |r: &AlertStateRecord| {
            state.unrecorded.contains_key(&AlertKey {
                rule_id: r.rule_id.clone(),
                server_id: r.server_id.clone(),
                labels: r.labels.clone(),
            })
        };
        let mut due: Vec<_> = state
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
        due.retain(|(event, _, _)| !silenced(state, event, now));
        due
    }

    /// The deliveries that tell `event`, one per notifier.
    fn deliveries(
        &self,
        state: &State,
        event: &AlertEvent,
        repeat: bool,
        moment: Timestamp,
        now: Timestamp,
    ) -> Vec<Delivery> {
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
            delivery_id: String::new(),
        };
        self.workers
            .iter()
            .map(|worker| {
                let mut notification = notification.clone();
                notification.delivery_id = delivery_id(&worker.name, event, moment);
                Delivery {
                    id: 0,
                    notifier: worker.name.clone(),
                    notification,
                    attempts: 0,
                    next_at: now,
                    created: now,
                    last_error: None,
                }
            })
            .collect()
    }

    /// Tells the workers of `deliveries` that there is work.
    fn wake(&self, deliveries: &[Delivery]) {
        for worker in &self.workers {
            if deliveries.iter().any(|d| d.notifier == worker.name) {
                worker.wake.notify_one();
            }
        }
    }

    /// Stores `events` (after those kept from a failed write) with their
    /// notifications, publishes them, and saves the changed states. When
    /// the store fails, the events are kept for the next call.
    async fn record(&self, events: Vec<AlertEvent>) -> Result<Vec<AlertEvent>, StoreError> {
        let _io = self.io.lock().await;
        let now = Timestamp::now();
        let (batch, told, deliveries) = {
            let mut state = lock(&self.state);
            let mut batch = std::mem::take(&mut state.pending);
            batch.extend(events);
            // A resolution under a silence is simply not told.
            let told: Vec<bool> = batch
                .iter()
                .map(|e| e.notifies() && !silenced(&state, e, now))
                .collect();
            let deliveries: Vec<Delivery> = batch
                .iter()
                .zip(&told)
                .filter(|(_, told)| **told)
                .flat_map(|(e, _)| self.deliveries(&state, e, false, e.at, now))
                .collect();
            (batch, told, deliveries)
        };
        if batch.is_empty() {
            self.save_states(Vec::new()).await?;
            return Ok(batch);
        }
        let stored = match self
            .store
            .record_alert_transitions(&batch, &deliveries)
            .await
        {
            Ok(stored) => stored,
            Err(error) => {
                self.keep(batch);
                return Err(error);
            }
        };
        self.wake(&deliveries);
        let changed = {
            let mut state = lock(&self.state);
            for (event, told) in stored.iter().zip(told) {
                let key = event.key();
                if told {
                    state.evaluator.notified(&key, event.at);
                }
                if let std::collections::hash_map::Entry::Occupied(mut entry) =
                    state.unrecorded.entry(key)
                {
                    *entry.get_mut() -= 1;
                    if *entry.get() == 0 {
                        entry.remove();
                    }
                }
            }
            state.evaluator.take_changed()
        };
        for event in &stored {
            tracing::info!(server = %event.server_id, rule = %event.rule_id, state = ?event.state, "{}", event.message);
            let json = serde_json::to_string(event).unwrap_or_default();
            self.stream.publish("alert", Payload::ready(json));
        }
        self.save_states(changed).await?;
        Ok(stored)
    }

    /// Keeps transitions the store did not take, up to [`PENDING_EVENTS`]
    /// (the oldest go first). Called under `io`.
    fn keep(&self, mut batch: Vec<AlertEvent>) {
        let mut state = lock(&self.state);
        if batch.len() > PENDING_EVENTS {
            let dropped: Vec<AlertEvent> = batch.drain(..batch.len() - PENDING_EVENTS).collect();
            tracing::error!(
                dropped = dropped.len(),
                "The store has not taken alert transitions for a long time; the oldest are dropped."
            );
            for event in dropped {
                if let std::collections::hash_map::Entry::Occupied(mut entry) =
                    state.unrecorded.entry(event.key())
                {
                    *entry.get_mut() -= 1;
                    if *entry.get() == 0 {
                        entry.remove();
                    }
                }
            }
        }
        state.pending = batch;
    }

    /// Saves `changed` with the states a failed save left (the newest of
    /// each alert); keeps them all when the store fails. Called under `io`.
    async fn save_states(&self, changed: Vec<AlertStateRecord>) -> Result<(), StoreError> {
        let records = {
            let mut state = lock(&self.state);
            let mut records = std::mem::take(&mut state.unsaved);
            for record in changed {
                records.retain(|r| {
                    !(r.rule_id == record.rule_id
                        && r.server_id == record.server_id
                        && r.labels == record.labels)
                });
                records.push(record);
            }
            records
        };
        if records.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.store.save_alert_states(&records).await {
            lock(&self.state).unsaved = records;
            return Err(error);
        }
        Ok(())
    }
}

/// Whether a silence covers `event` at `now`.
fn silenced(state: &State, event: &AlertEvent, now: Timestamp) -> bool {
    state
        .silences
        .iter()
        .any(|s| s.covers(&event.rule_id, &event.server_id, now))
}

/// The idempotency key of the notification of `event` to `notifier`: the
/// same for every attempt and every rebuild of it (a transition written
/// again after a failure), different for any other.
fn delivery_id(notifier: &str, event: &AlertEvent, moment: Timestamp) -> String {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        notifier,
        &event.rule_id,
        event.server_id.as_str(),
        &serde_json::to_string(&event.labels).unwrap_or_default(),
        &serde_json::to_string(&event.state).unwrap_or_default(),
        &moment.as_millis().to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update(&[0]);
    }
    hash.finish().as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters and states stay usable after a panic elsewhere.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One notifier's worker: its deliveries from the outbox in order, each
/// attempt cut off after `timeout`, a retryable failure retried with
/// exponential backoff until the delivery is `retry_for` old.
struct Deliverer {
    notifier: Arc<dyn Notifier>,
    store: Arc<dyn Store>,
    status: Arc<std::sync::Mutex<DeliveryStatus>>,
    wake: Arc<Notify>,
    retry_base: Duration,
    timeout: Duration,
    retry_for: Duration,
}

impl Deliverer {
    async fn run(self) {
        let name = self.notifier.name().to_owned();
        // Done with (delivered or given up on) but not yet removed from
        // the outbox, the store having failed: not sent again while the
        // removal is retried.
        let mut done: Vec<i64> = Vec::new();
        loop {
            let mut removed = Vec::new();
            for id in &done {
                if self.store.remove_delivery(*id).await.is_ok() {
                    removed.push(*id);
                }
            }
            done.retain(|id| !removed.contains(id));
            let batch = match self.store.waiting_deliveries(&name, BATCH).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(notifier = %name, %error, "Could not read the notification outbox; trying again shortly.");
                    self.idle(POLL).await;
                    continue;
                }
            };
            let batch: Vec<Delivery> = batch
                .into_iter()
                .filter(|d| !done.contains(&d.id))
                .collect();
            if batch.is_empty() {
                self.idle(POLL).await;
                continue;
            }
            for delivery in batch {
                let now = Timestamp::now();
                if delivery.next_at > now {
                    // Deliveries to one receiver keep their order: the
                    // first waits, and those behind it too.
                    let wait = Duration::from_millis(
                        u64::try_from(delivery.next_at.as_millis() - now.as_millis()).unwrap_or(0),
                    );
                    tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
                    break;
                }
                let Some(delivered) = self.attempt(&delivery).await else {
                    break;
                };
                if let Err(error) = self.store.remove_delivery(delivery.id).await {
                    tracing::warn!(notifier = %name, %error, "A notification could not be removed from the outbox; it is removed when the store answers.");
                    done.push(delivery.id);
                }
                // Counted once out of the outbox: `queued` and these agree.
                let mut status = lock(&self.status);
                if delivered {
                    status.delivered += 1;
                } else {
                    status.failed += 1;
                }
            }
        }
    }

    /// Waits for new deliveries, or `at_most`.
    async fn idle(&self, at_most: Duration) {
        tokio::select! {
            () = self.wake.notified() => {}
            () = tokio::time::sleep(at_most) => {}
        }
    }

    /// One attempt at `delivery`: `Some(true)` when delivered, `Some(false)`
    /// when given up on (both leave the outbox), `None` when recorded there
    /// to try again later.
    async fn attempt(&self, delivery: &Delivery) -> Option<bool> {
        let notifier = &self.notifier;
        let attempted = tokio::time::timeout(self.timeout, notifier.notify(&delivery.notification))
            .await
            .unwrap_or(Err(monitor_core::NotifyError::Timeout(self.timeout)));
        let now = Timestamp::now();
        let error = match attempted {
            Ok(()) => return Some(true),
            Err(error) => error,
        };
        // A notifier of yours may quote its URL, which is often its
        // secret: shown without path, query or credentials.
        let message = crate::webhook::redact_urls(&error.to_string());
        let attempts = delivery.attempts.saturating_add(1);
        let age = Duration::from_millis(
            u64::try_from(now.as_millis() - delivery.created.as_millis()).unwrap_or(0),
        );
        {
            let mut status = lock(&self.status);
            status.last_error = Some(message.clone());
            status.last_error_at = Some(now);
        }
        let event = &delivery.notification.event;
        if error.is_retryable() && age < self.retry_for {
            let delay = self
                .retry_base
                .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(31)))
                .min(MAX_BACKOFF);
            tracing::warn!(notifier = notifier.name(), error = %message, attempts, retry_in = ?delay, "Delivery failed; it is tried again.");
            let next_at = now.add_millis(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
            if let Err(error) = self
                .store
                .postpone_delivery(delivery.id, attempts, next_at, &message)
                .await
            {
                tracing::warn!(notifier = notifier.name(), %error, "Could not record a failed delivery in the outbox.");
                tokio::time::sleep(delay.min(POLL)).await;
            }
            return None;
        }
        tracing::error!(notifier = notifier.name(), error = %message, attempts, rule = %event.rule_id, server = %event.server_id, "Notification not delivered; given up.");
        Some(false)
    }
}
