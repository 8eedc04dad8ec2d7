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
//! store's outbox ([`monitor_core::catalog::Delivery`]) holds each
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
use monitor_core::alert::{Evaluator, ServerFacts};
use monitor_core::catalog::{AlertStateRecord, ServerRecord};
use monitor_core::{
    AlertEvent, AlertRule, Catalog, Notifier, ServerId, Silence, Snapshot, StoreError, Thresholds,
    Timestamp,
};
use serde::Serialize;

use crate::storage::Storage;
use tokio::sync::{Notify, mpsc, watch};

use crate::stream::StreamHub;

mod delivery;
mod engine;
mod input;

use delivery::Deliverer;
pub use input::Reads;

/// The setting key of the original's three thresholds.
pub const THRESHOLDS_KEY: &str = "thresholds";

/// The setting key of the silences.
pub const SILENCES_KEY: &str = "silences";

/// The stored silences (expired ones included).
///
/// # Errors
/// [`StoreError`] when the setting cannot be read.
pub async fn silences(store: &dyn Catalog) -> Result<Vec<Silence>, StoreError> {
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
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
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
    #[schema(nullable = false)]
    pub oldest_queued: Option<Timestamp>,
    /// The last failed attempt's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub last_error: Option<String>,
    /// When it happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
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
    tx: mpsc::UnboundedSender<Work>,
    engine: Arc<Engine>,
}

/// What the engine's task is given, in order.
#[derive(Debug)]
enum Work {
    /// Transitions to store.
    Events(Vec<AlertEvent>),
    /// Answered once everything given before is stored, or failed to be.
    Settle(tokio::sync::oneshot::Sender<()>),
}

struct Engine {
    storage: Storage,
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
    /// Whether this process evaluates alerts and delivers notifications:
    /// always, unless it shares its database with other server processes
    /// and another holds the alert lease ([`Alerts::lead`],
    /// [`Alerts::follow`]). Shared with the delivery workers.
    leading: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct State {
    evaluator: Evaluator,
    rules: Vec<AlertRule>,
    /// What the rules read of a report (with `rules`).
    reads: Arc<input::Reads>,
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
        storage: impl Into<Storage>,
        stream: Arc<StreamHub>,
        options: AlertOptions,
    ) -> Result<Self, StoreError> {
        let storage = storage.into();
        let catalog = Arc::clone(storage.catalog());
        let evaluator = Evaluator::from_records(catalog.alert_states().await?);
        let or = |value: Duration, default: Duration| {
            if value.is_zero() { default } else { value }
        };
        let (stop, stopped) = watch::channel(());
        let leading = Arc::new(std::sync::atomic::AtomicBool::new(true));
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
                    catalog: Arc::clone(&catalog),
                    status,
                    wake,
                    retry_base: or(options.retry_base, Duration::from_secs(1)),
                    timeout: or(options.notify_timeout, Duration::from_secs(30)),
                    retry_for: or(options.retry_for, Duration::from_secs(86_400)),
                    leading: Arc::clone(&leading),
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
        if let Ok(backlog) = catalog.delivery_backlog().await {
            for b in backlog {
                if !workers.iter().any(|w| w.name == b.notifier) {
                    tracing::warn!(notifier = %b.notifier, waiting = b.waiting, "Notifications wait in the outbox for a notifier that is not configured; they go out when it is configured again.");
                }
            }
        }
        let engine = Arc::new(Engine {
            storage,
            stream,
            state: std::sync::Mutex::new(State {
                evaluator,
                rules: Vec::new(),
                reads: Arc::default(),
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
            leading,
        });
        engine.reload().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(Arc::clone(&engine).run(rx));
        Ok(Alerts { tx, engine })
    }
    /// Waits until every transition found so far is stored (those the
    /// store refused once are tried again): the server calls it at
    /// shutdown, before the store closes, so that the transitions of the
    /// last reports it acknowledged are not lost with the process.
    pub async fn settle(&self) {
        let (done, settled) = tokio::sync::oneshot::channel();
        if self.tx.send(Work::Settle(done)).is_ok() {
            let _ = settled.await;
        }
    }

    /// Notes that `id` reported at `at` (every `interval_secs`), without
    /// evaluating anything: what a follower keeps of a report another
    /// process received, so that it calls no host offline if it takes
    /// over. A leader evaluates such reports instead ([`Alerts::evaluate`]).
    pub fn seen(&self, id: &ServerId, at: Timestamp, interval_secs: Option<f64>) {
        let mut state = lock(&self.engine.state);
        let State {
            servers, unknown, ..
        } = &mut *state;
        seen(servers, unknown, id, at, interval_secs);
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
        let server = seen(
            servers,
            unknown,
            &snapshot.server_id,
            snapshot.timestamp,
            snapshot.interval_secs,
        );
        // A follower keeps its view of when each host was last seen (to
        // take over at once) and leaves the rules to the leader.
        if !self.is_leading() {
            return;
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
        if self.tx.send(Work::Events(events)).is_err() {
            tracing::error!("The alert engine has stopped; a transition was not stored.");
        }
    }

    /// What the leading process needs of `snapshot`, a report this one
    /// accepted, to evaluate it ([`Alerts::evaluate_input`] there): its
    /// head and the metric families the rules read, as JSON. What a
    /// follower sends the leader when no other process's dashboards want
    /// the whole report.
    pub fn input(&self, snapshot: &Snapshot) -> String {
        let reads = Arc::clone(&lock(&self.engine.state).reads);
        reads.cut(snapshot)
    }

    /// Evaluates a report another process accepted, given as its
    /// [`Alerts::input`], when this process leads. One cut for other rules
    /// (they changed a moment ago, or the other process runs another
    /// version) only tells that its host reported, and the answer is
    /// `false`: the caller then asks for whole reports for a while.
    pub fn evaluate_input(&self, text: &str) -> bool {
        if !self.is_leading() {
            return true;
        }
        let reads = Arc::clone(&lock(&self.engine.state).reads);
        match reads.read(text) {
            Ok((snapshot, true)) => {
                self.evaluate(&snapshot);
                true
            }
            Ok((snapshot, false)) => {
                self.seen(
                    &snapshot.server_id,
                    snapshot.timestamp,
                    snapshot.interval_secs,
                );
                false
            }
            Err(error) => {
                tracing::warn!(%error, "A report from another process cannot be read.");
                true
            }
        }
    }

    /// Whether this process evaluates alerts and delivers notifications
    /// (true unless another process sharing the database leads).
    pub fn is_leading(&self) -> bool {
        self.engine
            .leading
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Makes this process the one that evaluates alerts and delivers
    /// their notifications, for a database shared with other server
    /// processes (it took the alert lease): reads the alert states the
    /// previous leader saved, the rules and every host's last report
    /// before it evaluates anything, then wakes the delivery workers,
    /// which take what waits in the outbox.
    ///
    /// # Errors
    /// [`StoreError`] when the states, rules or servers cannot be read
    /// (this process then still follows).
    pub async fn lead(&self) -> Result<(), StoreError> {
        let states = self.engine.storage.catalog().alert_states().await?;
        {
            let mut state = lock(&self.engine.state);
            state.evaluator = Evaluator::from_records(states);
            state.unrecorded.clear();
        }
        self.engine.reload().await?;
        self.engine
            .leading
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for worker in &self.engine.workers {
            worker.wake.notify_one();
        }
        Ok(())
    }

    /// Leaves evaluation and delivery to the process that holds the alert
    /// lease: transitions this one found and could not store yet are
    /// dropped (the leader evaluates from the saved states), and its
    /// delivery workers pause; reports still keep its view of when each
    /// host was last seen.
    pub fn follow(&self) {
        self.engine
            .leading
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let mut state = lock(&self.engine.state);
        state.pending.clear();
        state.unsaved.clear();
        state.unrecorded.clear();
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
        match self.engine.storage.catalog().delivery_backlog().await {
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

    /// The alerts firing now (on a follower, as the leader saved them).
    pub async fn firing(&self) -> Vec<monitor_core::catalog::AlertStateRecord> {
        if !self.is_leading() {
            return match self.engine.storage.catalog().alert_states().await {
                Ok(states) => states
                    .into_iter()
                    .filter(|r| r.state == monitor_core::AlertState::Firing)
                    .collect(),
                Err(error) => {
                    tracing::warn!(%error, "Could not read the alert states the leading process saved.");
                    Vec::new()
                }
            };
        }
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
pub async fn thresholds(store: &dyn Catalog) -> Result<Thresholds, StoreError> {
    Ok(match store.setting(THRESHOLDS_KEY).await? {
        Some(value) => serde_json::from_value(value).unwrap_or_default(),
        None => Thresholds::default(),
    })
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters and states stay usable after a panic elsewhere.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Notes in `servers` that `id` reported at `at`: its record. A server
/// registered since the last reload is noted as seen now (its name and
/// tags come with the next tick's reload, which `unknown` asks for).
fn seen<'a>(
    servers: &'a mut HashMap<ServerId, ServerRecord>,
    unknown: &mut bool,
    id: &ServerId,
    at: Timestamp,
    interval_secs: Option<f64>,
) -> &'a mut ServerRecord {
    let server = servers.entry(id.clone()).or_insert_with(|| {
        *unknown = true;
        ServerRecord {
            id: id.clone(),
            name: id.to_string(),
            tags: Vec::new(),
            hostname: None,
            os: None,
            created: at,
            last_seen: None,
            interval_secs: None,
        }
    });
    if server.last_seen.is_none_or(|t| t < at) {
        server.last_seen = Some(at);
    }
    if interval_secs.is_some() {
        server.interval_secs = interval_secs;
    }
    server
}
