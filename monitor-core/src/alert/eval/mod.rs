//! Alert evaluation: rules + what a server reported + the time → state
//! transitions. Pure code, no I/O: the server feeds it snapshots and timer
//! ticks, stores the transitions it returns as events, hands the ones that
//! notify to its notifier queue and saves the changed states.
//!
//! # States
//! Each alert (a rule on one series of one server) is `inactive` until the
//! rule's condition holds; then `pending` while it has held for less than the
//! rule's `for` duration, `firing` once it has held that long, and `resolved`
//! when a firing alert's value crosses back over the resolve threshold (the
//! firing threshold when the rule gives none). A resolve threshold on the far
//! side of the firing one (80 for `> 90`) is hysteresis: a value hovering at
//! 90 fires once and stays firing instead of flapping.
//!
//! # Host offline
//! A rule on the metric [`OFFLINE_METRIC`] watches the number of reporting
//! intervals since the server's last snapshot: `host_offline > 3` fires after
//! three missed reports. It is evaluated by [`Evaluator::on_tick`] (and reset
//! by the next snapshot).
//!
//! # Example
//! ```
//! use monitor_core::alert::{Evaluator, ServerFacts};
//! use monitor_core::{AlertRule, AlertState, Collection, Comparison, Labels, ServerId, Snapshot, Timestamp, Unit};
//!
//! let rule = AlertRule::threshold("load high", "load_average_1m", Comparison::Greater, 4.0);
//! let id = ServerId::new("srv-01").unwrap();
//! let mut c = Collection::new();
//! c.gauge("load_average_1m", Unit::NONE, Labels::new(), 6.5);
//! let snapshot = Snapshot::new(id.clone(), Timestamp::from_millis(1_000), c);
//!
//! let mut evaluator = Evaluator::default();
//! let events = evaluator.on_snapshot(&[rule], &ServerFacts::new(&id, &[]), &snapshot);
//! assert_eq!(events[0].state, AlertState::Firing);
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use crate::alert::{AlertEvent, AlertRule, AlertState, Function, Trend};
use crate::catalog::AlertStateRecord;
use crate::model::{Labels, ServerId, Snapshot, Timestamp};

/// The metric name of host-offline rules: the number of reporting intervals
/// since the server's last snapshot.
pub const OFFLINE_METRIC: &str = "host_offline";

/// One alert: a rule on one series of one server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertKey {
    /// The rule.
    pub rule_id: String,
    /// The server.
    pub server_id: ServerId,
    /// The series' labels (empty for host-offline rules).
    pub labels: Labels,
}

/// What a rule's scope needs to know about a server.
#[derive(Debug, Clone, Copy)]
pub struct ServerFacts<'a> {
    /// The server.
    pub id: &'a ServerId,
    /// Its tags.
    pub tags: &'a [String],
}

impl<'a> ServerFacts<'a> {
    /// Facts of one server.
    pub fn new(id: &'a ServerId, tags: &'a [String]) -> Self {
        ServerFacts { id, tags }
    }
}

/// When a server was last heard from, for host-offline rules.
#[derive(Debug, Clone, Copy)]
pub struct LastSeen<'a> {
    /// The server and its tags.
    pub server: ServerFacts<'a>,
    /// The timestamp of its newest snapshot (`None`: never reported, never
    /// offline).
    pub at: Option<Timestamp>,
    /// Its agent's reporting interval, in seconds.
    pub interval_secs: f64,
}

/// The state of every alert, and which changed since they were last saved.
#[derive(Debug, Default)]
pub struct Evaluator {
    states: BTreeMap<AlertKey, AlertStateRecord>,
    changed: BTreeSet<AlertKey>,
    /// The recent values of the series of rules with a [`Function`] other
    /// than the value, by a 64-bit hash of the alert's key (compact: a
    /// rule on every filesystem of every server keeps one per series).
    /// Boxed: the table keeps up to twice as many slots as entries, and a
    /// slot is then 16 bytes instead of 112.
    trends: HashMap<u64, Box<Trend>>,
    /// The (rule, server) pairs with at least one record, by a hash of
    /// both: a pair without any is evaluated without allocating anything
    /// (most pairs, most of the time).
    watched: HashSet<u64>,
}

/// A series unseen this long is forgotten by the trends (a removed
/// container, an unmounted filesystem, a host gone quiet).
const TREND_IDLE_MS: i64 = 10 * 60 * 1000;

impl Evaluator {
    /// Resumes from saved states (after a restart: a firing alert stays
    /// firing and does not notify again).
    pub fn from_records(records: impl IntoIterator<Item = AlertStateRecord>) -> Self {
        let states = records
            .into_iter()
            .map(|r| {
                let key = AlertKey {
                    rule_id: r.rule_id.clone(),
                    server_id: r.server_id.clone(),
                    labels: r.labels.clone(),
                };
                (key, r)
            })
            .collect();
        let mut evaluator = Evaluator {
            states,
            changed: BTreeSet::new(),
            trends: HashMap::new(),
            watched: HashSet::new(),
        };
        evaluator.rewatch();
        evaluator
    }

    fn rewatch(&mut self) {
        self.watched = self
            .states
            .keys()
            .map(|k| pair_key(&k.rule_id, &k.server_id))
            .collect();
    }

    /// Evaluates every enabled rule in scope of `server` against its
    /// snapshot, at the snapshot's time; the transitions, in rule order.
    ///
    /// A series a pending or firing alert watched that the snapshot no
    /// longer holds (an unmounted filesystem, a removed container) ends the
    /// alert (pending → inactive, firing → resolved) without a value.
    /// Host-offline alerts of the server resolve: it reported.
    pub fn on_snapshot(
        &mut self,
        rules: &[AlertRule],
        server: &ServerFacts<'_>,
        snapshot: &Snapshot,
    ) -> Vec<AlertEvent> {
        let at = snapshot.timestamp;
        let mut events = Vec::new();
        for rule in rules
            .iter()
            .filter(|r| r.scope.includes(server.id, server.tags))
        {
            let rule = &*rule.for_server(server.id);
            if !rule.enabled {
                continue;
            }
            let watched = self.watched.contains(&pair_key(&rule.id, server.id));
            if rule.metric == OFFLINE_METRIC {
                if watched || rule.op.holds(0.0, rule.threshold) {
                    let key = key(rule, server.id, Labels::new());
                    events.extend(self.observe(rule, key, Some(0.0), at));
                }
                continue;
            }
            let mut seen = BTreeSet::new();
            if let Some(family) = snapshot.metrics.iter().find(|f| f.name == rule.metric) {
                for sample in family
                    .samples
                    .iter()
                    .filter(|s| crate::model::matches_all(&rule.matchers, &s.labels))
                {
                    if watched {
                        seen.insert(sample.labels.clone());
                    }
                    let value = match rule.function {
                        Function::Value => sample.value,
                        function => {
                            let trend = self
                                .trends
                                .entry(trend_key(rule, server.id, &sample.labels))
                                .or_default();
                            function.apply(trend, at, sample.value)
                        }
                    };
                    // Without a record the alert is inactive and stays so
                    // unless the condition holds.
                    if watched || rule.op.holds(value, rule.threshold) {
                        let key = key(rule, server.id, sample.labels.clone());
                        events.extend(self.observe(rule, key, Some(value), at));
                    }
                }
            }
            if !watched {
                // No pending or firing alert of this pair can have gone.
                continue;
            }
            let gone: Vec<AlertKey> = self
                .states
                .range(key(rule, server.id, Labels::new())..)
                .take_while(|(k, _)| k.rule_id == rule.id && &k.server_id == server.id)
                .filter(|(k, r)| {
                    !seen.contains(&k.labels)
                        && matches!(r.state, AlertState::Pending | AlertState::Firing)
                })
                .map(|(k, _)| k.clone())
                .collect();
            for key in gone {
                events.extend(self.observe(rule, key, None, at));
            }
        }
        events
    }

    /// Evaluates host-offline rules at `now`: per server, the number of
    /// reporting intervals since its last snapshot, against each rule.
    pub fn on_tick(
        &mut self,
        rules: &[AlertRule],
        servers: &[LastSeen<'_>],
        now: Timestamp,
    ) -> Vec<AlertEvent> {
        self.trends
            .retain(|_, t| now.as_millis() - t.last_seen_ms() <= TREND_IDLE_MS);
        let mut events = Vec::new();
        for rule in rules.iter().filter(|r| r.metric == OFFLINE_METRIC) {
            for seen in servers
                .iter()
                .filter(|s| rule.scope.includes(s.server.id, s.server.tags))
            {
                let rule = &*rule.for_server(seen.server.id);
                if !rule.enabled {
                    continue;
                }
                let Some(last) = seen.at else { continue };
                let interval = if seen.interval_secs > 0.0 {
                    seen.interval_secs
                } else {
                    DEFAULT_INTERVAL_SECS
                };
                let missed = (now.as_millis() - last.as_millis()).max(0) as f64 / 1000.0 / interval;
                let key = key(rule, seen.server.id, Labels::new());
                events.extend(self.observe(rule, key, Some(missed), now));
            }
        }
        events
    }

    /// Feeds one value (or its absence) of one alert at `at`; the transition
    /// it causes, if any.
    fn observe(
        &mut self,
        rule: &AlertRule,
        key: AlertKey,
        value: Option<f64>,
        at: Timestamp,
    ) -> Option<AlertEvent> {
        // Alerts that never left `inactive` keep no record: with thousands
        // of servers, most series of most rules are quiet.
        if !self.states.contains_key(&key) {
            if !value.is_some_and(|v| rule.op.holds(v, rule.threshold)) {
                return None;
            }
            let record = AlertStateRecord {
                rule_id: key.rule_id.clone(),
                server_id: key.server_id.clone(),
                labels: key.labels.clone(),
                state: AlertState::Inactive,
                since: at,
                last_value: None,
                last_notified: None,
            };
            self.watched.insert(pair_key(&key.rule_id, &key.server_id));
            self.states.insert(key.clone(), record);
        }
        let record = self.states.get_mut(&key)?;
        // A late snapshot cannot move an alert back in time.
        if at < record.since {
            return None;
        }
        let from = record.state;
        let holds = |threshold: f64| value.is_some_and(|v| rule.op.holds(v, threshold));
        let resolve = rule.resolve_threshold.unwrap_or(rule.threshold);
        let held_long_enough = |since: Timestamp| {
            (at.as_millis() - since.as_millis()) as u128 >= u128::from(rule.for_secs) * 1000
        };
        let to = match from {
            AlertState::Inactive | AlertState::Resolved if holds(rule.threshold) => {
                if rule.for_secs == 0 {
                    AlertState::Firing
                } else {
                    AlertState::Pending
                }
            }
            AlertState::Pending if !holds(rule.threshold) => AlertState::Inactive,
            AlertState::Pending if held_long_enough(record.since) => AlertState::Firing,
            AlertState::Firing if !holds(resolve) => AlertState::Resolved,
            state => state,
        };
        // The last value is saved with the next transition, not for every
        // evaluation.
        if value.is_some() {
            record.last_value = value;
        }
        if to == from {
            return None;
        }
        record.state = to;
        record.since = at;
        self.changed.insert(key.clone());
        Some(event(rule, &key, from, to, value, at))
    }

    /// Notes that a notification for `key` went out at `at` (for repeat
    /// intervals; saved with the state).
    pub fn notified(&mut self, key: &AlertKey, at: Timestamp) {
        if let Some(record) = self.states.get_mut(key) {
            record.last_notified = Some(at);
            self.changed.insert(key.clone());
        }
    }

    /// Firing alerts whose last notification is at least `every` old at
    /// `now`: to notify again.
    pub fn due_repeats(&self, every_ms: i64, now: Timestamp) -> Vec<&AlertStateRecord> {
        self.states
            .values()
            .filter(|r| r.state == AlertState::Firing)
            .filter(|r| {
                r.last_notified
                    .is_none_or(|t| now.as_millis() - t.as_millis() >= every_ms)
            })
            .collect()
    }

    /// Firing alerts not notified since they started firing (silenced at
    /// the time, or their notification could not be queued).
    pub fn unnotified_firing(&self) -> Vec<&AlertStateRecord> {
        self.states
            .values()
            .filter(|r| r.state == AlertState::Firing)
            .filter(|r| r.last_notified.is_none_or(|t| t < r.since))
            .collect()
    }

    /// The alerts currently pending or firing.
    pub fn active(&self) -> impl Iterator<Item = &AlertStateRecord> {
        self.states
            .values()
            .filter(|r| matches!(r.state, AlertState::Pending | AlertState::Firing))
    }

    /// The state of one alert.
    pub fn state(&self, key: &AlertKey) -> Option<&AlertStateRecord> {
        self.states.get(key)
    }

    /// The states changed since the last call, to save.
    pub fn take_changed(&mut self) -> Vec<AlertStateRecord> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .filter_map(|k| self.states.get(&k).cloned())
            .collect()
    }

    /// Forgets the alerts of rules not in `rules` (deleted rules) and of
    /// servers for which `keep_server` is false (deleted servers).
    pub fn retain(&mut self, rules: &[AlertRule], keep_server: impl Fn(&ServerId) -> bool) {
        self.states
            .retain(|k, _| rules.iter().any(|r| r.id == k.rule_id) && keep_server(&k.server_id));
        let states = &self.states;
        self.changed.retain(|k| states.contains_key(k));
        self.rewatch();
    }
}

/// The interval assumed for an agent that did not say its own.
const DEFAULT_INTERVAL_SECS: f64 = 5.0;

/// A hash of a rule and a server.
fn pair_key(rule_id: &str, server: &ServerId) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    rule_id.hash(&mut h);
    server.hash(&mut h);
    h.finish()
}

/// The trends' key: a hash of the rule, the server and the series.
fn trend_key(rule: &AlertRule, server: &ServerId, labels: &Labels) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    pair_key(&rule.id, server).hash(&mut h);
    labels.hash(&mut h);
    h.finish()
}

fn key(rule: &AlertRule, server: &ServerId, labels: Labels) -> AlertKey {
    AlertKey {
        rule_id: rule.id.clone(),
        server_id: server.clone(),
        labels,
    }
}

fn event(
    rule: &AlertRule,
    key: &AlertKey,
    from: AlertState,
    to: AlertState,
    value: Option<f64>,
    at: Timestamp,
) -> AlertEvent {
    let series = match rule.function {
        Function::Value => format!("{}{}", rule.metric, key.labels),
        Function::Increase { window_secs } => {
            format!(
                "increase of {}{} over {window_secs} s",
                rule.metric, key.labels
            )
        }
        Function::SecondsUntil {
            target,
            window_secs,
        } => format!(
            "seconds until {}{} reaches {target} (trend over {window_secs} s)",
            rule.metric, key.labels
        ),
    };
    // Rounded for people: a prediction of 1234.5678 s reads 1234.57.
    let shown = value.map(|v| {
        if v.is_finite() {
            (v * 100.0).round() / 100.0
        } else {
            v
        }
    });
    let op = rule.op.symbol();
    let message = match (to, shown) {
        (_, None) => format!(
            "{}: {series} is no longer reported by {}",
            rule.name, key.server_id
        ),
        (AlertState::Pending, Some(v)) => format!(
            "{}: {series} = {v} {op} {} on {}, firing if it holds for {} s",
            rule.name, rule.threshold, key.server_id, rule.for_secs
        ),
        (AlertState::Firing, Some(v)) => format!(
            "{}: {series} = {v} {op} {} on {}",
            rule.name, rule.threshold, key.server_id
        ),
        (AlertState::Resolved, Some(v)) => format!(
            "{}: resolved, {series} = {v} on {} (resolves past {})",
            rule.name,
            key.server_id,
            rule.resolve_threshold.unwrap_or(rule.threshold)
        ),
        (AlertState::Inactive, Some(v)) => format!(
            "{}: {series} = {v} on {} no longer {op} {} before {} s",
            rule.name, key.server_id, rule.threshold, rule.for_secs
        ),
    };
    AlertEvent {
        id: 0,
        rule_id: rule.id.clone(),
        rule_name: rule.name.clone(),
        server_id: key.server_id.clone(),
        metric: rule.metric.clone(),
        labels: key.labels.clone(),
        from,
        state: to,
        value,
        threshold: rule.threshold,
        severity: rule.severity,
        at,
        message,
    }
}

#[cfg(test)]
mod tests;
