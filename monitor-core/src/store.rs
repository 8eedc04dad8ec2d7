//! The [`Store`] trait: servers, samples with their history, alert rules,
//! events and settings, kept durably.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::alert::{AlertEvent, AlertRule, AlertState};
use crate::error::StoreError;
use crate::model::{LabelMatcher, Labels, MetricKind, ServerId, Snapshot, Timestamp, Unit};

/// The SHA-256 of a server's token. Stores keep only this, never the token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    /// Shows only a short prefix, so a hash never lands whole in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// A server to register.
#[derive(Debug, Clone, PartialEq)]
pub struct NewServer {
    /// Its id.
    pub id: ServerId,
    /// Display name (the id when empty).
    pub name: String,
    /// Free tags for grouping and alert scopes.
    pub tags: Vec<String>,
    /// The hash of its agent token.
    pub token_hash: TokenHash,
    /// When it was registered.
    pub created: Timestamp,
}

/// A registered server as the store knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerRecord {
    /// Its id.
    pub id: ServerId,
    /// Display name.
    pub name: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The host name its agent last reported.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The OS its agent last reported.
    #[serde(default)]
    pub os: Option<String>,
    /// When it was registered.
    pub created: Timestamp,
    /// The timestamp of its newest snapshot.
    #[serde(default)]
    pub last_seen: Option<Timestamp>,
    /// The collection interval its agent last reported, in seconds.
    #[serde(default)]
    pub interval_secs: Option<f64>,
}

/// What an ingest call stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IngestReceipt {
    /// Snapshots newly stored.
    pub stored: usize,
    /// Snapshots already stored before (same server and timestamp), ignored.
    pub duplicates: usize,
    /// Snapshots at a taken millisecond (a stored report of the same server
    /// has that timestamp) with other values: not stored. Two programs
    /// report under one server id, or a push landed on an agent's
    /// millisecond.
    #[serde(default)]
    pub conflicts: usize,
}

/// The most points a history answer holds in all its series. A store
/// gives each series fewer, wider buckets when many series match (the SQL
/// store does): a metric with ten thousand series answers ten thousand
/// series, not a gigabyte.
pub const MAX_HISTORY_POINTS: usize = 250_000;

/// A history request: one metric of one server over a time range.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    /// The server.
    pub server_id: ServerId,
    /// The metric name.
    pub metric: String,
    /// Which series (all when empty).
    pub matchers: Vec<LabelMatcher>,
    /// Start of the range, inclusive.
    pub from: Timestamp,
    /// End of the range, exclusive.
    pub to: Timestamp,
    /// Bucket width. When absent, or finer than that, the store picks the
    /// finest step that yields at most `max_points` buckets.
    pub step: Option<Duration>,
    /// Upper bound on points per series (a given `step` is widened to keep
    /// it), and [`MAX_HISTORY_POINTS`] in all.
    pub max_points: u32,
}

/// Which stored resolution answered a history query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Every sample as received.
    Raw,
    /// One-minute rollups.
    Minute,
    /// One-hour rollups.
    Hour,
}

/// One bucket of a downsampled series. A bucket without data is absent,
/// never interpolated: a gap stays a gap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Start of the bucket.
    pub t: Timestamp,
    /// Mean of the samples in the bucket.
    pub avg: f64,
    /// Smallest sample (a dip is never averaged away).
    pub min: f64,
    /// Largest sample (a spike is never averaged away).
    pub max: f64,
    /// The last sample.
    pub last: f64,
    /// How many raw samples the bucket summarizes.
    pub count: u64,
}

/// One series of a history answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The metric name.
    pub metric: String,
    /// The series' labels.
    pub labels: Labels,
    /// Gauge or counter.
    pub kind: MetricKind,
    /// The unit.
    pub unit: Unit,
    /// Buckets in time order.
    pub points: Vec<Point>,
}

/// The answer to a [`HistoryQuery`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The bucket width used, in seconds.
    pub step_secs: u64,
    /// The stored resolution read.
    pub tier: Tier,
    /// The matching series.
    pub series: Vec<Series>,
}

/// A series a server has reported, with its latest value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesInfo {
    /// The metric name.
    pub metric: String,
    /// The labels.
    pub labels: Labels,
    /// Gauge or counter.
    pub kind: MetricKind,
    /// The unit.
    pub unit: Unit,
    /// The newest value, when the server's latest snapshot has this series.
    pub last_value: Option<f64>,
    /// When that value was reported.
    pub last_seen: Option<Timestamp>,
}

/// How long each resolution is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Raw samples (default 7 days).
    pub raw: Duration,
    /// One-minute rollups (default 90 days).
    pub minute: Duration,
    /// One-hour rollups (default 2 years).
    pub hour: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        RetentionPolicy {
            raw: Duration::from_secs(7 * DAY),
            minute: Duration::from_secs(90 * DAY),
            hour: Duration::from_secs(730 * DAY),
        }
    }
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RetentionReport {
    /// Raw rows (or chunks) deleted.
    pub raw_deleted: u64,
    /// Minute rollup rows deleted.
    pub minute_deleted: u64,
    /// Hour rollup rows deleted.
    pub hour_deleted: u64,
}

/// Which alert events to list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventFilter {
    /// Only this server's.
    pub server_id: Option<ServerId>,
    /// Only this rule's.
    pub rule_id: Option<String>,
    /// Only events at or after this instant.
    pub since: Option<Timestamp>,
    /// Only events listed after the event of this id (older in the
    /// newest-first order): the next page after a page that ended with it.
    pub before: Option<i64>,
    /// At most this many, newest first (0 means [`EventFilter::DEFAULT_LIMIT`]).
    pub limit: usize,
}

impl EventFilter {
    /// How many events a filter without a limit lists.
    pub const DEFAULT_LIMIT: usize = 1000;

    /// The limit to apply: `limit`, or [`EventFilter::DEFAULT_LIMIT`] when 0.
    pub fn effective_limit(&self) -> usize {
        if self.limit == 0 {
            Self::DEFAULT_LIMIT
        } else {
            self.limit
        }
    }
}

/// The persisted state of one alert (rule × server × series), so alerts
/// survive a restart without notifying twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertStateRecord {
    /// The rule.
    pub rule_id: String,
    /// The server.
    pub server_id: ServerId,
    /// The series' labels.
    pub labels: Labels,
    /// Current state.
    pub state: AlertState,
    /// When it entered that state.
    pub since: Timestamp,
    /// The last value evaluated.
    pub last_value: Option<f64>,
    /// When a notification was last sent for it.
    pub last_notified: Option<Timestamp>,
}

/// A notification waiting to be delivered to one notifier: the server's
/// outbox. Kept in the store, so that a delivery survives a receiver down
/// for hours and a restart of the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Assigned by the store; 0 for a new one. Deliveries to one notifier
    /// are made in the order of their ids.
    pub id: i64,
    /// The notifier's name ([`crate::Notifier::name`]).
    pub notifier: String,
    /// What to deliver; its `delivery_id` is the idempotency key a receiver
    /// can use to ignore a second delivery of the same notification.
    pub notification: crate::Notification,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not before this.
    pub next_at: Timestamp,
    /// When it was queued.
    pub created: Timestamp,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// How many deliveries wait for one notifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryBacklog {
    /// The notifier's name.
    pub notifier: String,
    /// Deliveries waiting (being retried included).
    pub waiting: usize,
    /// When the oldest of them was queued.
    pub oldest: Option<Timestamp>,
}

/// Durable storage for the server: implemented on SQLite and PostgreSQL by
/// `monitor-store`, and by plugin authors for anything else.
///
/// Rules every implementation keeps:
/// - [`Store::ingest`] returns only after the data is durable (committed);
/// - ingest is idempotent: a snapshot with a server id and timestamp already
///   stored is counted in [`IngestReceipt::duplicates`] and changes nothing;
/// - history never interpolates: a bucket without samples is absent.
#[async_trait]
pub trait Store: Send + Sync {
    /// A short name for logs and `/api/health` (`sqlite`, `postgres`).
    fn name(&self) -> &str;

    /// Registers a server.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the id exists.
    async fn register_server(&self, server: NewServer) -> Result<ServerRecord, StoreError>;

    /// One server.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn server(&self, id: &ServerId) -> Result<Option<ServerRecord>, StoreError>;

    /// Every server, in id order.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn servers(&self) -> Result<Vec<ServerRecord>, StoreError>;

    /// The server whose token hashes to `hash`.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn server_by_token(&self, hash: &TokenHash) -> Result<Option<ServerRecord>, StoreError>;

    /// Replaces a server's token hash; the old token stops working.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown server.
    async fn rotate_token(&self, id: &ServerId, hash: TokenHash) -> Result<(), StoreError>;

    /// Deletes a server with all its data.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown server.
    async fn delete_server(&self, id: &ServerId) -> Result<(), StoreError>;

    /// Stores snapshots durably and idempotently. Takes them by value: a
    /// server hands over what it decoded, and a store may keep them.
    ///
    /// One report per server and millisecond: a snapshot at a taken
    /// timestamp is a duplicate when its series and values are those of the
    /// stored report (an agent's replay), a conflict otherwise; neither is
    /// stored. A store may count a replay of a report it keeps only in
    /// rollups or compacted form as a duplicate without comparing.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when a snapshot's server is not registered;
    /// [`StoreError::Unavailable`] or [`StoreError::Full`] when it cannot be
    /// written now. On error nothing of the batch counts as stored.
    async fn ingest(&self, snapshots: Vec<Snapshot>) -> Result<IngestReceipt, StoreError>;

    /// The newest snapshot of a server (a store may keep the newest
    /// snapshots in memory). The dashboard's server page and the overview
    /// ask for it.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn latest_snapshot(&self, id: &ServerId) -> Result<Option<Arc<Snapshot>>, StoreError>;

    /// When the newest snapshot of a server was taken. The server asks
    /// after each accepted batch (is it the newest?): keep it cheap. The
    /// default asks [`Store::latest_snapshot`].
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn latest_timestamp(&self, id: &ServerId) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.latest_snapshot(id).await?.map(|s| s.timestamp))
    }

    /// The newest snapshot of every server that has reported (the overview).
    /// The default asks [`Store::latest_snapshot`] for
    /// each server.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn latest_snapshots(&self) -> Result<Vec<Arc<Snapshot>>, StoreError> {
        let mut out = Vec::new();
        for server in self.servers().await? {
            if let Some(snapshot) = self.latest_snapshot(&server.id).await? {
                out.push(snapshot);
            }
        }
        Ok(out)
    }

    /// Downsampled history of one metric.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for an empty or reversed range.
    async fn history(&self, query: &HistoryQuery) -> Result<History, StoreError>;

    /// Every series a server has reported, with its latest value.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn series(&self, id: &ServerId) -> Result<Vec<SeriesInfo>, StoreError>;

    /// Every alert rule.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError>;

    /// Creates or replaces a rule (by id; an empty id gets a new one, returned).
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn put_alert_rule(&self, rule: AlertRule) -> Result<AlertRule, StoreError>;

    /// Deletes a rule.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown rule.
    async fn delete_alert_rule(&self, id: &str) -> Result<(), StoreError>;

    /// Appends alert events; returns them with their ids.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn append_alert_events(
        &self,
        events: &[AlertEvent],
    ) -> Result<Vec<AlertEvent>, StoreError>;

    /// Lists alert events, newest first.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn alert_events(&self, filter: &EventFilter) -> Result<Vec<AlertEvent>, StoreError>;

    /// The persisted alert states.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn alert_states(&self) -> Result<Vec<AlertStateRecord>, StoreError>;

    /// Creates or replaces alert states (keyed by rule, server and labels).
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn save_alert_states(&self, states: &[AlertStateRecord]) -> Result<(), StoreError>;

    /// A setting (a JSON document under a key, such as `thresholds`).
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn setting(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError>;

    /// Writes a setting.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError>;

    /// Rolls raw samples up and deletes what is older than `policy` allows.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        now: Timestamp,
    ) -> Result<RetentionReport, StoreError>;

    /// Records alert transitions and the deliveries they make, in one
    /// transaction where the store has them: a transition is never stored
    /// without its notifications, nor notified without being stored.
    /// Returns the events with their ids. The default appends the events,
    /// then queues the deliveries.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails; then nothing is recorded
    /// (with the default, the events may be).
    async fn record_alert_transitions(
        &self,
        events: &[AlertEvent],
        deliveries: &[Delivery],
    ) -> Result<Vec<AlertEvent>, StoreError> {
        let stored = self.append_alert_events(events).await?;
        self.queue_deliveries(deliveries).await?;
        Ok(stored)
    }

    /// Queues deliveries (their `id` is assigned; `attempts`, `next_at`,
    /// `created` and `last_error` are kept as given).
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn queue_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError>;

    /// The first `limit` deliveries waiting for `notifier`, in the order
    /// they were queued (due or not: one notifier's deliveries go out in
    /// order).
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn waiting_deliveries(
        &self,
        notifier: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Removes a delivery: made, or given up on.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails (an unknown id is no error).
    async fn remove_delivery(&self, id: i64) -> Result<(), StoreError>;

    /// Records a failed attempt: `attempts`, when to try again, and why.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn postpone_delivery(
        &self,
        id: i64,
        attempts: u32,
        next_at: Timestamp,
        error: &str,
    ) -> Result<(), StoreError>;

    /// How many deliveries wait, per notifier that has any.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn delivery_backlog(&self) -> Result<Vec<DeliveryBacklog>, StoreError>;

    /// Checks that the database answers. The default assumes it does.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Flushes pending writes and closes connections.
    ///
    /// # Errors
    /// [`StoreError`] when the final flush failed.
    async fn shutdown(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
