//! The [`Catalog`] trait: the server's own state, kept durably beside
//! the metrics: servers and their token hashes, alert rules, events and
//! states, settings, and the notification outbox.
//!
//! A metric [`Store`](crate::Store) keeps what agents report; the catalog
//! keeps what the server and its users decide. The SQL stores of
//! `monitor-store` implement both; a plugin that keeps metrics elsewhere
//! implements only [`Store`](crate::Store) and runs with the catalog on
//! SQLite or PostgreSQL.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::alert::{AlertEvent, AlertRule, AlertState};
use crate::error::StoreError;
use crate::model::{Labels, ServerId, Timestamp};

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

/// A registered server as the catalog knows it.
///
/// Its `hostname`, `os`, `last_seen` and `interval_secs` come from the
/// server's newest report: the server fills them from the metric
/// [`Store`](crate::Store)'s newest snapshot when it lists servers. A
/// type that is both the catalog and the metric store (the SQL stores,
/// `MemoryStore`) keeps them up to date itself, and the server then reads
/// them as they are; a catalog alone leaves them `None`.
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub last_value: Option<f64>,
    /// When a notification was last sent for it.
    #[cfg_attr(feature = "openapi", schema(required = true))]
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

/// The server's own durable state (see the module docs): implemented on
/// SQLite and PostgreSQL by `monitor-store`, and by
/// `monitor_core::testing::MemoryStore`.
///
/// Every write returns once durable. Conformance:
/// `monitor_core::testing::catalog::conformance`.
#[async_trait]
pub trait Catalog: Send + Sync {
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

    /// Deletes a server with its alert states and events (a catalog that
    /// also keeps the metrics deletes those too).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown server.
    async fn delete_server(&self, id: &ServerId) -> Result<(), StoreError>;

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

    /// Records alert transitions and the deliveries they make, in one
    /// transaction where the catalog has them: a transition is never stored
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

    /// Checks that the catalog's database answers. The default assumes it
    /// does.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    async fn catalog_health(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Closes the catalog's connections (the server calls it last, after
    /// the metric store's [`Store::shutdown`](crate::Store::shutdown),
    /// unless both are one object). The default does nothing.
    ///
    /// # Errors
    /// [`StoreError`] when a final write failed.
    async fn close_catalog(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Calls `handler` with every change that any process sharing this
    /// catalog makes to it (this one included), from a task of the
    /// catalog's own, for as long as the process runs; `false` when the
    /// catalog is not shared (the default: an embedded database or one in
    /// memory serves one process).
    ///
    /// A catalog that several server processes share must tell them, or
    /// each keeps trusting a token rotated or a server deleted through
    /// another until its cache of checked tokens expires, and evaluates
    /// old alert rules until its next reload.
    fn watch(&self, handler: ChangeHandler) -> bool {
        let _ = handler;
        false
    }
}

/// A change one server process made to a catalog that several share, as
/// each hears of it (see [`Catalog::watch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CatalogChange {
    /// The server's token was rotated: the old one no longer authenticates.
    TokenRotated(ServerId),
    /// The server was deleted with its data.
    ServerDeleted(ServerId),
    /// Alert rules, thresholds or silences changed: read them again.
    AlertSettings,
    /// Changes may have been missed (the connection that hears them was
    /// lost and is back): forget every cached token and read the alert
    /// settings again.
    Resync,
}

/// What [`Catalog::watch`] calls with each change.
pub type ChangeHandler = std::sync::Arc<dyn Fn(CatalogChange) + Send + Sync>;
