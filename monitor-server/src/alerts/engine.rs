//! The engine's task: stores the transitions ingest finds, evaluates
//! host-offline rules on a timer, catches up repeats, writes each
//! transition with its notifications to the outbox, and saves states.

use std::collections::HashMap;
use std::sync::Arc;

use monitor_core::alert::AlertKey;
use monitor_core::alert::{LastSeen, OFFLINE_METRIC, ServerFacts};
use monitor_core::catalog::{AlertStateRecord, Delivery, ServerRecord};
use monitor_core::{AlertEvent, AlertState, Notification, ServerId, StoreError, Timestamp};
use tokio::sync::mpsc;

use crate::stream::Payload;

use super::{
    Engine, PENDING_EVENTS, State, TICK, Work, effective_rules, lock, silences, thresholds,
};

impl Engine {
    pub(super) async fn run(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Work>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                work = rx.recv() => match work {
                    None => break,
                    Some(Work::Events(events)) => {
                        let count = events.len();
                        if let Err(error) = self.record(events).await {
                            tracing::error!(%error, count, "Could not store alert transitions; they are kept and written again on the next tick.");
                        }
                    }
                    Some(Work::Settle(done)) => {
                        // What a failed write kept, once more.
                        if let Err(error) = self.record(Vec::new()).await {
                            tracing::error!(%error, "Could not store alert transitions before stopping.");
                        }
                        let _ = done.send(());
                    }
                },
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
                    // Host-offline rules and repeats are the leader's.
                    if self.leading.load(std::sync::atomic::Ordering::SeqCst)
                        && let Err(error) = self.tick(Timestamp::now()).await
                    {
                        tracing::error!(%error, "Could not evaluate host-offline rules.");
                    }
                }
            }
        }
    }

    pub(super) async fn reload(&self) -> Result<(), StoreError> {
        let catalog = self.storage.catalog();
        let thresholds = thresholds(&**catalog).await?;
        let rules = effective_rules(&thresholds, catalog.alert_rules().await?);
        // With the newest report of each: a host that stays silent after a
        // restart is counted offline from its last report.
        let mut servers: HashMap<ServerId, ServerRecord> = self
            .storage
            .servers()
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let silences = silences(&**catalog).await?;
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
        state.reads = Arc::new(super::input::Reads::of(&rules));
        state.rules = rules;
        state.servers = servers;
        state.silences = silences;
        Ok(())
    }

    pub(super) async fn tick(&self, now: Timestamp) -> Result<Vec<AlertEvent>, StoreError> {
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
    pub(super) async fn catch_up(&self, now: Timestamp) -> Result<(), StoreError> {
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
        self.storage.catalog().queue_deliveries(&deliveries).await?;
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
    pub(super) fn due(&self, state: &State, now: Timestamp) -> Vec<(AlertEvent, bool, Timestamp)> {
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
    pub(super) fn deliveries(
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
    pub(super) fn wake(&self, deliveries: &[Delivery]) {
        for worker in &self.workers {
            if deliveries.iter().any(|d| d.notifier == worker.name) {
                worker.wake.notify_one();
            }
        }
    }

    /// Stores `events` (after those kept from a failed write) with their
    /// notifications, publishes them, and saves the changed states. When
    /// the store fails, the events are kept for the next call.
    pub(super) async fn record(
        &self,
        events: Vec<AlertEvent>,
    ) -> Result<Vec<AlertEvent>, StoreError> {
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
            .storage
            .catalog()
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
    pub(super) fn keep(&self, mut batch: Vec<AlertEvent>) {
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
    pub(super) async fn save_states(
        &self,
        changed: Vec<AlertStateRecord>,
    ) -> Result<(), StoreError> {
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
        if let Err(error) = self.storage.catalog().save_alert_states(&records).await {
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
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
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
