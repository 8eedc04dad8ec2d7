//! The HTTP API: SPEC.md's paths and headers, JSON everywhere.
//!
//! This module holds what every handler shares ([`AppState`], the
//! [`router`]); the handlers live by resource: `status` (health,
//! `/metrics`, the live stream, access), `servers` (registration, tokens,
//! series, newest values, history), `ingest` (`POST /api/metrics`, over
//! [`crate::ingest::Ingest`]) and `alerts` (rules, thresholds, silences,
//! events, notifiers, preview).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{delete, get, post};
use monitor_core::ServerId;

use crate::access::Tokens;
use crate::auth::{self, Token};
use crate::config::{LimitSettings, RetentionSettings, StreamSettings};
use crate::error::ApiError;
use crate::guard::HostPolicy;
use crate::limit::RateLimiter;
use crate::metrics::{ServerMetrics, StoreStats};
use crate::storage::Storage;

mod alerts;
mod ingest;
pub mod openapi;
mod servers;
mod status;

pub use alerts::{MAX_RULES, MAX_SILENCES};

/// Header carrying an agent's token.
pub const AUTH_HEADER: &str = "x-auth-token";

/// Header carrying the dashboard's read token.
pub const DASHBOARD_HEADER: &str = "x-dashboard-token";

/// Header carrying the admin token.
pub const ADMIN_HEADER: &str = "x-admin-token";

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    storage: Storage,
    tokens: Arc<Tokens>,
    hosts: Arc<HostPolicy>,
    ingest: crate::ingest::Ingest,
    max_body_bytes: usize,
    request_timeout: Duration,
    auth_limit: Arc<RateLimiter>,
    agent_tokens: Arc<auth::AgentTokens>,
    stream: Arc<crate::stream::StreamHub>,
    alerts: Option<crate::alerts::Alerts>,
    metrics: Arc<ServerMetrics>,
    renders: Arc<crate::metrics::Renders>,
    store_stats: Option<StoreStats>,
    /// Held while silences are read, changed and written back, so that two
    /// concurrent changes cannot lose one another.
    settings: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("storage", &self.storage)
            .field("open_reads", &self.tokens.is_open())
            .finish()
    }
}

impl AppState {
    /// State over `storage` (an `Arc` of a store that is also the
    /// catalog, such as `SqlStore`, or a [`Storage`] of two), with the
    /// admin token and the optional dashboard token; host names: IP
    /// addresses and `localhost` (see [`AppState::with_hosts`]).
    pub fn new(storage: impl Into<Storage>, admin: &Token, dashboard: Option<&Token>) -> Self {
        let storage = storage.into();
        let stream: Arc<crate::stream::StreamHub> = Arc::default();
        AppState {
            ingest: crate::ingest::Ingest::new(Arc::clone(storage.metrics()))
                .with_stream(Arc::clone(&stream)),
            storage,
            tokens: Arc::new(Tokens::new(admin, dashboard, None)),
            hosts: Arc::new(HostPolicy::default()),
            max_body_bytes: 0,
            request_timeout: Duration::ZERO,
            auth_limit: Arc::new(RateLimiter::new(1.0, 1)),
            agent_tokens: Arc::default(),
            stream,
            alerts: None,
            metrics: Arc::default(),
            renders: Arc::default(),
            store_stats: None,
            settings: Arc::default(),
        }
        .with_limits(&LimitSettings::default())
        .with_retention(&RetentionSettings::default())
    }

    /// Adds a read-only token (wallboards, Prometheus, Grafana): every
    /// read, no change. With it, reads need a token.
    pub fn with_read_token(mut self, read: &Token) -> Self {
        self.tokens = Arc::new((*self.tokens).clone().with_read(read));
        self
    }

    /// The host names requests may be sent to (see [`crate::guard`]).
    pub fn with_hosts(mut self, hosts: HostPolicy) -> Self {
        self.hosts = Arc::new(hosts);
        self
    }

    /// Refuses snapshots older than the raw retention (they would be
    /// deleted at the next retention pass).
    pub fn with_retention(mut self, retention: &RetentionSettings) -> Self {
        self.ingest = self.ingest.with_retention(retention);
        self
    }

    /// Applies request limits: body size, batch and snapshot sizes, clock
    /// skew, the per-token ingest rate, the failed-authentication rate and
    /// the time to answer a request.
    pub fn with_limits(mut self, limits: &LimitSettings) -> Self {
        self.ingest = self.ingest.with_limits(limits);
        self.max_body_bytes = limits.max_body_bytes;
        self.request_timeout = limits.request_timeout;
        self.auth_limit = Arc::new(RateLimiter::new(
            f64::from(limits.failed_auth_per_minute) / 60.0,
            limits.failed_auth_per_minute,
        ));
        self
    }

    /// Evaluates alert rules on every accepted snapshot with `alerts` (an
    /// engine started over the same store and this state's stream hub).
    pub fn with_alerts(mut self, alerts: crate::alerts::Alerts) -> Self {
        self.ingest = self.ingest.with_alerts(alerts.clone());
        self.alerts = Some(alerts);
        self
    }

    /// Shows the store writer's figures on `/metrics` (for the SQL store:
    /// `let s = store.clone(); move || s.stats()`).
    pub fn with_store_stats(mut self, stats: StoreStats) -> Self {
        self.store_stats = Some(stats);
        self
    }

    /// Hands every accepted batch to the exporters behind `queue`.
    pub fn with_exporters(mut self, queue: crate::fanout::ExportQueue) -> Self {
        self.ingest = self.ingest.with_exporters(queue);
        self
    }

    /// Waits until the alert engine has stored every transition found so
    /// far (at shutdown, before the store closes).
    pub async fn settle_alerts(&self) {
        if let Some(alerts) = &self.alerts {
            alerts.settle().await;
        }
    }

    /// Waits for the exporters to finish what is queued (at shutdown).
    pub async fn flush_exporters(&self) {
        if let Some(queue) = self.ingest.exporters() {
            queue.flush().await;
        }
    }

    /// The largest request body accepted, inflated (`limits.max_body_bytes`).
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// The live stream's hub (to close every stream at shutdown).
    pub fn stream_hub(&self) -> Arc<crate::stream::StreamHub> {
        Arc::clone(&self.stream)
    }

    /// Caps the live stream's clients, in all and per token, and the
    /// bytes of events it keeps for clients that reconnect.
    pub fn with_stream_limits(mut self, stream: &StreamSettings) -> Self {
        self.stream = Arc::new(crate::stream::StreamHub::new(
            stream.max_clients,
            stream.max_clients_per_token,
            stream.max_buffer_bytes,
        ));
        self.ingest = self.ingest.with_stream(Arc::clone(&self.stream));
        self
    }

    /// What to do when another server process sharing the catalog changes
    /// it (see [`monitor_core::Catalog::watch`]): forget a rotated or
    /// deleted server's token at once, a deleted server's alerts, and read
    /// alert settings again.
    pub fn catalog_change_handler(&self) -> monitor_core::catalog::ChangeHandler {
        use monitor_core::catalog::CatalogChange;
        let tokens = Arc::clone(&self.agent_tokens);
        let alerts = self.alerts.clone();
        Arc::new(move |change| {
            let reload = match &change {
                CatalogChange::TokenRotated(id) => {
                    tokens.forget(id);
                    false
                }
                CatalogChange::ServerDeleted(id) => {
                    tokens.forget(id);
                    if let Some(alerts) = &alerts {
                        alerts.forget(id);
                    }
                    false
                }
                CatalogChange::AlertSettings => true,
                _ => {
                    tokens.forget_all();
                    true
                }
            };
            if let (true, Some(alerts)) = (reload, &alerts) {
                let alerts = alerts.clone();
                tokio::spawn(async move {
                    if let Err(error) = alerts.reload().await {
                        tracing::warn!(%error, "Could not read the alert settings another process changed; the next reload will.");
                    }
                });
            }
        })
    }

    /// The configured tokens.
    pub(crate) fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The failed-authentication limiter (per client address).
    pub(crate) fn auth_limiter(&self) -> &Arc<RateLimiter> {
        &self.auth_limit
    }

    /// The cache of checked agent tokens.
    pub(crate) fn agent_tokens(&self) -> &auth::AgentTokens {
        &self.agent_tokens
    }

    /// The ingest pipeline.
    pub(crate) fn ingest(&self) -> &crate::ingest::Ingest {
        &self.ingest
    }

    /// The metric store and the catalog.
    pub(crate) fn storage(&self) -> &Storage {
        &self.storage
    }
}

/// A server id from a request, or 400 `invalid_server_id`.
pub(super) fn server_id(text: impl Into<String>) -> Result<ServerId, ApiError> {
    ServerId::new(text).map_err(|e| ApiError::bad_request("invalid_server_id", e.to_string()))
}

/// The API router. A request whose proxy cut off `/api/` is routed with
/// it put back ([`crate::stripped`]).
pub fn router(state: AppState) -> Router {
    use tower::Layer as _;
    let routes = Router::new()
        .route("/api/health", get(status::health))
        .route("/metrics", get(status::prometheus_metrics))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/api/register", post(servers::register))
        .route("/api/metrics", post(ingest::ingest))
        .route("/api/servers", get(servers::servers))
        .route("/api/servers/{id}", delete(servers::delete_server))
        .route("/api/servers/{id}/token", post(servers::rotate_token))
        .route("/api/servers/{id}/series", get(servers::series))
        .route("/api/servers/{id}/latest", get(servers::latest))
        .route("/api/metrics/history", get(servers::history))
        .route("/api/stream", get(status::stream))
        .route(
            "/api/alerts",
            get(alerts::get_alerts).post(alerts::set_alerts),
        )
        .route("/api/alerts/firing", get(alerts::firing_alerts))
        .route(
            "/api/alerts/rules",
            get(alerts::alert_rules).post(alerts::create_alert_rule),
        )
        .route(
            "/api/alerts/rules/{id}",
            axum::routing::put(alerts::replace_alert_rule).delete(alerts::delete_alert_rule),
        )
        .route("/api/alerts/preview", post(alerts::preview_alert_rule))
        .route("/api/alerts/events", get(alerts::alert_events))
        .route("/api/alerts/notifiers", get(alerts::alert_notifiers))
        .route(
            "/api/alerts/silences",
            get(alerts::list_silences).post(alerts::create_silence),
        )
        .route("/api/alerts/silences/{id}", delete(alerts::delete_silence))
        .route("/api/access", get(status::access))
        .merge(crate::dashboard::router())
        .layer(axum::middleware::from_fn_with_state(
            state.request_timeout,
            crate::limit::deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.hosts),
            crate::guard::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.max_body_bytes,
            crate::body::drain_refused,
        ))
        .layer(axum::middleware::from_fn(crate::error::json_errors))
        .with_state(state);
    Router::new()
        .fallback_service(axum::middleware::from_fn(crate::stripped::restore_prefix).layer(routes))
}

pub(super) fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}")
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))
}

/// Whether a server reports: offline after three missed intervals (at
/// least 30 s).
pub(super) fn is_online(server: &monitor_core::catalog::ServerRecord, now_ms: i64) -> bool {
    let interval_ms = (server.interval_secs.unwrap_or(5.0) * 1000.0) as i64;
    server
        .last_seen
        .is_some_and(|t| now_ms - t.as_millis() <= (3 * interval_ms).max(30_000))
}
