//! [`MemoryStore`]: a complete [`Store`] and [`Catalog`] in memory, for
//! tests of code that needs them (a server built from the builder, an
//! alert engine) and as a readable reference of what the traits ask. It
//! passes the same conformance suites as the SQL stores. Nothing survives
//! the process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::alert::{AlertEvent, AlertRule};
use crate::catalog::{
    AlertStateRecord, Catalog, Delivery, DeliveryBacklog, EventFilter, NewServer, ServerRecord,
    TokenHash,
};
use crate::error::StoreError;
use crate::model::{Labels, MetricKind, ServerId, Snapshot, Timestamp, Unit, matches_all};
use crate::store::{
    Buckets, History, HistoryQuery, IngestReceipt, Point, RetentionPolicy, RetentionReport, Series,
    SeriesInfo, Store, Tier,
};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// Sum, min, max, last (with its time) and count of a bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    sum: f64,
    min: f64,
    max: f64,
    last: f64,
    last_t: i64,
    count: u64,
}

impl Bucket {
    fn one(t: i64, v: f64) -> Self {
        Bucket {
            sum: v,
            min: v,
            max: v,
            last: v,
            last_t: t,
            count: 1,
        }
    }

    fn add(&mut self, other: &Bucket) {
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if other.last_t >= self.last_t {
            self.last = other.last;
            self.last_t = other.last_t;
        }
        self.count += other.count;
    }

    fn point(&self, t: i64) -> Point {
        Point {
            t: Timestamp::from_millis(t),
            avg: self.sum / self.count as f64,
            min: self.min,
            max: self.max,
            last: self.last,
            count: self.count,
        }
    }
}

/// One series: its raw points and its minute and hour rollups.
#[derive(Debug, Default)]
struct SeriesData {
    kind: MetricKind,
    unit: Unit,
    raw: BTreeMap<i64, f64>,
    minute: BTreeMap<i64, Bucket>,
    hour: BTreeMap<i64, Bucket>,
    last: Option<(i64, f64)>,
}

#[derive(Debug)]
struct ServerData {
    record: ServerRecord,
    token: TokenHash,
    reports: HashSet<i64>,
    series: BTreeMap<(String, Labels), SeriesData>,
    latest: Option<Arc<Snapshot>>,
}

#[derive(Debug, Default)]
struct State {
    servers: BTreeMap<ServerId, ServerData>,
    rules: BTreeMap<String, AlertRule>,
    events: Vec<AlertEvent>,
    states: HashMap<(String, ServerId, Labels), AlertStateRecord>,
    settings: HashMap<String, serde_json::Value>,
    next_id: i64,
    deliveries: BTreeMap<i64, Delivery>,
    next_delivery: i64,
}

/// A [`Store`] and [`Catalog`] in memory (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    gate: Gate,
    /// While set, every write fails ([`MemoryStore::fail_writes`]).
    failing: Arc<std::sync::atomic::AtomicBool>,
}

/// Holds a [`MemoryStore`]'s calls while a [`Stall`] lives.
#[derive(Debug, Clone)]
struct Gate(Arc<watch::Sender<usize>>);

impl Default for Gate {
    fn default() -> Self {
        Gate(Arc::new(watch::channel(0).0))
    }
}

impl Gate {
    /// Returns at once, or when the last stall ends.
    async fn pass(&self) {
        let mut stalls = self.0.subscribe();
        // The sender lives in `self`: the wait cannot fail.
        let _ = stalls.wait_for(|n| *n == 0).await;
    }
}

/// While this lives, every call of the [`MemoryStore`] it came from (and of
/// its clones) waits: a store that stopped answering, as a database behind
/// a broken network does. Dropping it lets the waiting calls go on.
#[derive(Debug)]
#[must_use = "the store answers again once the stall is dropped"]
pub struct Stall(Gate);

impl Drop for Stall {
    fn drop(&mut self) {
        self.0.0.send_modify(|n| *n -= 1);
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call wait until the returned [`Stall`] is dropped, to
    /// test that a caller times out a store that hangs.
    pub fn stall(&self) -> Stall {
        self.gate.0.send_modify(|n| *n += 1);
        Stall(self.gate.clone())
    }

    /// Makes every write fail with [`StoreError::Unavailable`] (reads still
    /// answer) until `false` is given again: a database whose disk or
    /// connection failed, to test that a caller loses nothing meanwhile.
    pub fn fail_writes(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }

    /// An error while writes fail.
    fn write_check(&self) -> Result<(), StoreError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "writes are failing (MemoryStore::fail_writes)".into(),
            ))
        } else {
            Ok(())
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn not_found(id: &ServerId) -> StoreError {
    StoreError::NotFound(format!("server {id}"))
}

fn window(t: i64, width: i64) -> i64 {
    t - t.rem_euclid(width)
}

#[async_trait]
impl Catalog for MemoryStore {
    async fn register_server(&self, server: NewServer) -> Result<ServerRecord, StoreError> {
        self.gate.pass().await;
        let mut state = self.lock();
        if state.servers.contains_key(&server.id) {
            return Err(StoreError::Conflict(format!("server {}", server.id)));
        }
        let record = ServerRecord {
            name: if server.name.is_empty() {
                server.id.to_string()
            } else {
                server.name
            },
            id: server.id.clone(),
            tags: server.tags,
            hostname: None,
            os: None,
            created: server.created,
            last_seen: None,
            interval_secs: None,
        };
        state.servers.insert(
            server.id,
            ServerData {
                record: record.clone(),
                token: server.token_hash,
                reports: HashSet::new(),
                series: BTreeMap::new(),
                latest: None,
            },
        );
        Ok(record)
    }

    async fn server(&self, id: &ServerId) -> Result<Option<ServerRecord>, StoreError> {
        self.gate.pass().await;
        Ok(self.lock().servers.get(id).map(|s| s.record.clone()))
    }

    async fn servers(&self) -> Result<Vec<ServerRecord>, StoreError> {
        self.gate.pass().await;
        Ok(self
            .lock()
            .servers
            .values()
            .map(|s| s.record.clone())
            .collect())
    }

    async fn server_by_token(&self, hash: &TokenHash) -> Result<Option<ServerRecord>, StoreError> {
        self.gate.pass().await;
        Ok(self
            .lock()
            .servers
            .values()
            .find(|s| s.token == *hash)
            .map(|s| s.record.clone()))
    }

    async fn rotate_token(&self, id: &ServerId, hash: TokenHash) -> Result<(), StoreError> {
        self.gate.pass().await;
        let mut state = self.lock();
        let server = state.servers.get_mut(id).ok_or_else(|| not_found(id))?;
        server.token = hash;
        Ok(())
    }

    async fn delete_server(&self, id: &ServerId) -> Result<(), StoreError> {
        self.gate.pass().await;
        let mut state = self.lock();
        state.servers.remove(id).ok_or_else(|| not_found(id))?;
        state.states.retain(|(_, server, _), _| server != id);
        Ok(())
    }

    async fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        self.gate.pass().await;
        Ok(self.lock().rules.values().cloned().collect())
    }

    async fn put_alert_rule(&self, mut rule: AlertRule) -> Result<AlertRule, StoreError> {
        self.gate.pass().await;
        let mut state = self.lock();
        if rule.id.is_empty() {
            state.next_id += 1;
            rule.id = format!("rule-{}", state.next_id);
        }
        state.rules.insert(rule.id.clone(), rule.clone());
        Ok(rule)
    }

    async fn delete_alert_rule(&self, id: &str) -> Result<(), StoreError> {
        self.gate.pass().await;
        self.lock()
            .rules
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| StoreError::NotFound(format!("alert rule {id}")))
    }

    async fn append_alert_events(
        &self,
        events: &[AlertEvent],
    ) -> Result<Vec<AlertEvent>, StoreError> {
        self.gate.pass().await;
        self.write_check()?;
        let mut state = self.lock();
        let mut stored = Vec::with_capacity(events.len());
        for event in events {
            state.next_id += 1;
            let mut event = event.clone();
            event.id = state.next_id;
            state.events.push(event.clone());
            stored.push(event);
        }
        Ok(stored)
    }

    async fn alert_events(&self, filter: &EventFilter) -> Result<Vec<AlertEvent>, StoreError> {
        self.gate.pass().await;
        let limit = filter.effective_limit();
        let state = self.lock();
        let mut events: Vec<&AlertEvent> = state.events.iter().collect();
        events.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));
        let cursor = match filter.before {
            None => None,
            Some(before) => match events.iter().find(|e| e.id == before) {
                Some(e) => Some((e.at, e.id)),
                None => return Ok(Vec::new()),
            },
        };
        Ok(events
            .into_iter()
            .filter(|e| cursor.is_none_or(|c| (e.at, e.id) < c))
            .filter(|e| filter.server_id.as_ref().is_none_or(|s| *s == e.server_id))
            .filter(|e| filter.rule_id.as_ref().is_none_or(|r| *r == e.rule_id))
            .filter(|e| filter.since.is_none_or(|s| e.at >= s))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn alert_states(&self) -> Result<Vec<AlertStateRecord>, StoreError> {
        self.gate.pass().await;
        Ok(self.lock().states.values().cloned().collect())
    }

    async fn save_alert_states(&self, states: &[AlertStateRecord]) -> Result<(), StoreError> {
        self.gate.pass().await;
        self.write_check()?;
        let mut state = self.lock();
        for s in states {
            state.states.insert(
                (s.rule_id.clone(), s.server_id.clone(), s.labels.clone()),
                s.clone(),
            );
        }
        Ok(())
    }

    async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.gate.pass().await;
        Ok(self.lock().settings.get(key).cloned())
    }

    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        self.gate.pass().await;
        self.write_check()?;
        self.lock().settings.insert(key.to_owned(), value.clone());
        Ok(())
    }

    async fn queue_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        self.gate.pass().await;
        self.write_check()?;
        let mut state = self.lock();
        for d in deliveries {
            state.next_delivery += 1;
            let id = state.next_delivery;
            state.deliveries.insert(id, Delivery { id, ..d.clone() });
        }
        Ok(())
    }

    async fn waiting_deliveries(
        &self,
        notifier: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.gate.pass().await;
        Ok(self
            .lock()
            .deliveries
            .values()
            .filter(|d| d.notifier == notifier)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn remove_delivery(&self, id: i64) -> Result<(), StoreError> {
        self.gate.pass().await;
        self.write_check()?;
        self.lock().deliveries.remove(&id);
        Ok(())
    }

    async fn postpone_delivery(
        &self,
        id: i64,
        attempts: u32,
        next_at: Timestamp,
        error: &str,
    ) -> Result<(), StoreError> {
        self.gate.pass().await;
        self.write_check()?;
        if let Some(d) = self.lock().deliveries.get_mut(&id) {
            d.attempts = attempts;
            d.next_at = next_at;
            d.last_error = Some(error.to_owned());
        }
        Ok(())
    }

    async fn delivery_backlog(&self) -> Result<Vec<DeliveryBacklog>, StoreError> {
        self.gate.pass().await;
        let state = self.lock();
        let mut backlog: BTreeMap<&str, DeliveryBacklog> = BTreeMap::new();
        for d in state.deliveries.values() {
            let entry = backlog
                .entry(&d.notifier)
                .or_insert_with(|| DeliveryBacklog {
                    notifier: d.notifier.clone(),
                    waiting: 0,
                    oldest: None,
                });
            entry.waiting += 1;
            entry.oldest = Some(entry.oldest.map_or(d.created, |o| o.min(d.created)));
        }
        Ok(backlog.into_values().collect())
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn name(&self) -> &str {
        "memory"
    }

    async fn ingest(&self, snapshots: Vec<Snapshot>) -> Result<IngestReceipt, StoreError> {
        self.gate.pass().await;
        self.write_check()?;
        let mut state = self.lock();
        // All or nothing: an unknown server refuses the whole call.
        if let Some(s) = snapshots
            .iter()
            .find(|s| !state.servers.contains_key(&s.server_id))
        {
            return Err(not_found(&s.server_id));
        }
        let mut receipt = IngestReceipt::default();
        for snapshot in snapshots {
            let server = state
                .servers
                .get_mut(&snapshot.server_id)
                .ok_or_else(|| not_found(&snapshot.server_id))?;
            let t = snapshot.timestamp.as_millis();
            if !server.reports.insert(t) {
                // The same report again, or another at a taken millisecond
                // (a report whose raw samples retention removed is taken
                // for the same).
                let held = server
                    .series
                    .values()
                    .filter(|d| d.raw.contains_key(&t))
                    .count();
                let same = held == 0
                    || (held == snapshot.sample_count()
                        && snapshot.metrics.iter().all(|family| {
                            family.samples.iter().all(|sample| {
                                server
                                    .series
                                    .get(&(family.name.clone(), sample.labels.clone()))
                                    .and_then(|d| d.raw.get(&t))
                                    .is_some_and(|v| v.to_bits() == sample.value.to_bits())
                            })
                        }));
                if same {
                    receipt.duplicates += 1;
                } else {
                    receipt.conflicts += 1;
                }
                continue;
            }
            receipt.stored += 1;
            for family in &snapshot.metrics {
                for sample in &family.samples {
                    let series = server
                        .series
                        .entry((family.name.clone(), sample.labels.clone()))
                        .or_insert_with(|| SeriesData {
                            kind: family.kind,
                            unit: family.unit.clone(),
                            ..SeriesData::default()
                        });
                    series.raw.insert(t, sample.value);
                    let one = Bucket::one(t, sample.value);
                    for (tier, width) in
                        [(&mut series.minute, MINUTE_MS), (&mut series.hour, HOUR_MS)]
                    {
                        tier.entry(window(t, width))
                            .and_modify(|b| b.add(&one))
                            .or_insert(one);
                    }
                    if series.last.is_none_or(|(lt, _)| t >= lt) {
                        series.last = Some((t, sample.value));
                    }
                }
            }
            let newer = server
                .latest
                .as_ref()
                .is_none_or(|l| l.timestamp <= snapshot.timestamp);
            if newer {
                let record = &mut server.record;
                record.last_seen = Some(snapshot.timestamp);
                if let Some(interval) = snapshot.interval_secs {
                    record.interval_secs = Some(interval);
                }
                if let Some(host) = &snapshot.host {
                    record.hostname = Some(host.hostname.clone());
                    record.os = Some(host.os.clone());
                }
                server.latest = Some(Arc::new(snapshot));
            }
        }
        Ok(receipt)
    }

    async fn latest_snapshot(&self, id: &ServerId) -> Result<Option<Arc<Snapshot>>, StoreError> {
        self.gate.pass().await;
        Ok(self.lock().servers.get(id).and_then(|s| s.latest.clone()))
    }

    async fn latest_snapshots(&self) -> Result<Vec<Arc<Snapshot>>, StoreError> {
        self.gate.pass().await;
        Ok(self
            .lock()
            .servers
            .values()
            .filter_map(|s| s.latest.clone())
            .collect())
    }

    async fn history(&self, query: &HistoryQuery) -> Result<History, StoreError> {
        self.gate.pass().await;
        let (from, to) = (query.from.as_millis(), query.to.as_millis());
        let (step, tier) = query.plan()?;
        let state = self.lock();
        let server = state
            .servers
            .get(&query.server_id)
            .ok_or_else(|| not_found(&query.server_id))?;
        let mut series = Vec::new();
        for ((metric, labels), data) in &server.series {
            if *metric != query.metric || !matches_all(&query.matchers, labels) {
                continue;
            }
            let mut buckets = Buckets::new(step);
            let rollups = match tier {
                Tier::Raw => {
                    for (t, v) in data.raw.range(from..to) {
                        buckets.add(Timestamp::from_millis(*t), *v);
                    }
                    None
                }
                Tier::Minute => Some(&data.minute),
                Tier::Hour => Some(&data.hour),
            };
            for (t, b) in rollups.into_iter().flatten() {
                if (from..to).contains(t) {
                    buckets.merge(&b.point(*t), Timestamp::from_millis(b.last_t));
                }
            }
            if buckets.is_empty() {
                continue;
            }
            series.push(Series {
                metric: metric.clone(),
                labels: labels.clone(),
                kind: data.kind,
                unit: data.unit.clone(),
                points: buckets.into_points(),
            });
        }
        Ok(History {
            step_secs: step.as_secs(),
            tier,
            series,
        })
    }

    async fn series(&self, id: &ServerId) -> Result<Vec<SeriesInfo>, StoreError> {
        self.gate.pass().await;
        let state = self.lock();
        let server = state.servers.get(id).ok_or_else(|| not_found(id))?;
        Ok(server
            .series
            .iter()
            .map(|((metric, labels), data)| SeriesInfo {
                metric: metric.clone(),
                labels: labels.clone(),
                kind: data.kind,
                unit: data.unit.clone(),
                last_value: data.last.map(|(_, v)| v),
                last_seen: data.last.map(|(t, _)| Timestamp::from_millis(t)),
            })
            .collect())
    }

    async fn delete_server_data(&self, id: &ServerId) -> Result<(), StoreError> {
        self.gate.pass().await;
        if let Some(server) = self.lock().servers.get_mut(id) {
            server.reports.clear();
            server.series.clear();
            server.latest = None;
        }
        Ok(())
    }

    async fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        now: Timestamp,
    ) -> Result<RetentionReport, StoreError> {
        self.gate.pass().await;
        let cutoff = |d: Duration| now.as_millis().saturating_sub(d.as_millis() as i64);
        let (raw, minute, hour) = (
            cutoff(policy.raw),
            cutoff(policy.minute),
            cutoff(policy.hour),
        );
        let mut report = RetentionReport::default();
        let mut state = self.lock();
        for server in state.servers.values_mut() {
            for data in server.series.values_mut() {
                let before = (data.raw.len(), data.minute.len(), data.hour.len());
                data.raw = data.raw.split_off(&raw);
                // A bucket goes once it has ended before the cutoff.
                data.minute.retain(|t, _| t + MINUTE_MS > minute);
                data.hour.retain(|t, _| t + HOUR_MS > hour);
                report.raw_deleted += (before.0 - data.raw.len()) as u64;
                report.minute_deleted += (before.1 - data.minute.len()) as u64;
                report.hour_deleted += (before.2 - data.hour.len()) as u64;
            }
        }
        Ok(report)
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.gate.pass().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_memory_store_conforms() {
        let store = super::MemoryStore::new();
        crate::testing::store::Suite::new(&store)
            .with_catalog(&store)
            .with_rollups()
            .run()
            .await;
        crate::testing::catalog::conformance(&store).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_store_answers_once_the_stall_ends() {
        use crate::catalog::Catalog;
        let store = super::MemoryStore::new();
        let stall = store.stall();
        let clone = store.clone();
        let call = tokio::spawn(async move { clone.servers().await });
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        assert!(!call.is_finished(), "a call waits while the stall lives");
        drop(stall);
        assert_eq!(call.await.ok().and_then(Result::ok), Some(Vec::new()));
    }
}
