//! The HTTP API: SPEC.md's paths and headers, JSON everywhere.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use monitor_core::store::{HistoryQuery, NewServer};
use monitor_core::{LabelMatcher, Labels, ServerId, Store, Thresholds, Timestamp, names, wire};
use serde::{Deserialize, Serialize};

use crate::access::{Admin, Agent, AlertEditor, Reader, Tokens};
use crate::auth::{self, Scope, Token};
use crate::body::Body;
use crate::config::{LimitSettings, RetentionSettings, StreamSettings};
use crate::error::ApiError;
use crate::guard::HostPolicy;
use crate::limit::RateLimiter;
use crate::metrics::{Outcome, ServerMetrics, StoreStats};

/// Header carrying an agent's token.
pub const AUTH_HEADER: &str = "x-auth-token";
/// Header carrying the dashboard's read token.
pub const DASHBOARD_HEADER: &str = "x-dashboard-token";
/// Header carrying the admin token.
pub const ADMIN_HEADER: &str = "x-admin-token";

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn Store>,
    tokens: Arc<Tokens>,
    hosts: Arc<HostPolicy>,
    limits: wire::Limits,
    max_body_bytes: usize,
    request_timeout: Duration,
    future_tolerance_ms: i64,
    max_age_ms: i64,
    ingest_limit: Arc<RateLimiter>,
    ingest_budget: crate::admission::IngestBudget,
    auth_limit: Arc<RateLimiter>,
    agent_tokens: Arc<auth::AgentTokens>,
    stream: Arc<crate::stream::StreamHub>,
    alerts: Option<crate::alerts::Alerts>,
    metrics: Arc<ServerMetrics>,
    renders: Arc<crate::metrics::Renders>,
    store_stats: Option<StoreStats>,
    exporters: Option<crate::fanout::ExportQueue>,
    /// Held while silences are read, changed and written back, so that two
    /// concurrent changes cannot lose one another.
    settings: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store.name())
            .field("open_reads", &self.tokens.is_open())
            .finish()
    }
}

impl AppState {
    /// State over `store`, with the admin token and the optional dashboard
    /// token; host names: IP addresses and `localhost` (see
    /// [`AppState::with_hosts`]).
    pub fn new(store: Arc<dyn Store>, admin: &Token, dashboard: Option<&Token>) -> Self {
        AppState {
            store,
            tokens: Arc::new(Tokens::new(admin, dashboard, None)),
            hosts: Arc::new(HostPolicy::default()),
            limits: wire::Limits::default(),
            max_body_bytes: 0,
            request_timeout: Duration::ZERO,
            future_tolerance_ms: 0,
            max_age_ms: 0,
            ingest_limit: Arc::new(RateLimiter::new(1.0, 1)),
            ingest_budget: crate::admission::IngestBudget::new(1),
            auth_limit: Arc::new(RateLimiter::new(1.0, 1)),
            agent_tokens: Arc::default(),
            stream: Arc::default(),
            alerts: None,
            metrics: Arc::default(),
            renders: Arc::default(),
            store_stats: None,
            exporters: None,
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
        self.max_age_ms = retention.raw.as_millis() as i64;
        self
    }

    /// Applies request limits: body size, batch and snapshot sizes, clock
    /// skew, the per-token ingest rate, the failed-authentication rate and
    /// the time to answer a request.
    pub fn with_limits(mut self, limits: &LimitSettings) -> Self {
        self.limits = limits.wire();
        self.max_body_bytes = limits.max_body_bytes;
        self.request_timeout = limits.request_timeout;
        self.future_tolerance_ms = limits.future_tolerance.as_millis() as i64;
        self.ingest_limit = Arc::new(RateLimiter::new(
            limits.ingest_per_token_per_second,
            limits.ingest_burst,
        ));
        self.ingest_budget = crate::admission::IngestBudget::new(limits.ingest_bytes_in_flight);
        self.auth_limit = Arc::new(RateLimiter::new(
            f64::from(limits.failed_auth_per_minute) / 60.0,
            limits.failed_auth_per_minute,
        ));
        self
    }

    /// Evaluates alert rules on every accepted snapshot with `alerts` (an
    /// engine started over the same store and this state's stream hub).
    pub fn with_alerts(mut self, alerts: crate::alerts::Alerts) -> Self {
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
        self.exporters = Some(queue);
        self
    }

    /// Waits for the exporters to finish what is queued (at shutdown).
    pub async fn flush_exporters(&self) {
        if let Some(queue) = &self.exporters {
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
        self
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

    /// The store.
    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }
}

/// A server id from a request, or 400 `invalid_server_id`.
fn server_id(text: impl Into<String>) -> Result<ServerId, ApiError> {
    ServerId::new(text).map_err(|e| ApiError::bad_request("invalid_server_id", e.to_string()))
}

/// The API router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/metrics", get(prometheus_metrics))
        .route(
            "/api/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
        .route("/api/register", post(register))
        .route("/api/metrics", post(ingest))
        .route("/api/servers", get(servers))
        .route("/api/servers/{id}", delete(delete_server))
        .route("/api/servers/{id}/token", post(rotate_token))
        .route("/api/servers/{id}/series", get(series))
        .route("/api/servers/{id}/latest", get(latest))
        .route("/api/metrics/history", get(history))
        .route("/api/stream", get(stream))
        .route("/api/alerts", get(get_alerts).post(set_alerts))
        .route("/api/alerts/firing", get(firing_alerts))
        .route(
            "/api/alerts/rules",
            get(alert_rules).post(create_alert_rule),
        )
        .route(
            "/api/alerts/rules/{id}",
            axum::routing::put(replace_alert_rule).delete(delete_alert_rule),
        )
        .route("/api/alerts/preview", post(preview_alert_rule))
        .route("/api/alerts/events", get(alert_events))
        .route("/api/alerts/notifiers", get(alert_notifiers))
        .route(
            "/api/alerts/silences",
            get(list_silences).post(create_silence),
        )
        .route("/api/alerts/silences/{id}", delete(delete_silence))
        .route("/api/access", get(access))
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
        .with_state(state)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    database: &'static str,
    /// `ok`, or `failing` while the store cannot write (a full disk).
    writes: &'static str,
    store: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'static str>,
}

/// How a store's [`Store::health`] says that it reads but cannot write
/// (`monitor_store::SqlStore` begins its message with it).
const WRITES_FAILING: &str = monitor_store::WRITES_FAILING;

/// How long `GET /api/health` waits for the store: a store that does not
/// answer is reported unreachable rather than keeping the check waiting.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let answer = tokio::time::timeout(
        HEALTH_TIMEOUT.min(state.request_timeout),
        state.store.health(),
    )
    .await;
    // Reads work but writes fail (a full disk): the database is reachable,
    // its writes are not. The answer is open to anyone: what is wrong in
    // detail goes to the log.
    let (database, writes, problem) = match answer {
        Ok(Ok(())) => ("reachable", "ok", None),
        Ok(Err(monitor_core::StoreError::Full(message))) => {
            tracing::warn!(%message, "Health: the store's storage is full.");
            (
                "reachable",
                "failing",
                Some("the store's storage is full: reports are refused (507) until space is freed"),
            )
        }
        Ok(Err(monitor_core::StoreError::Unavailable(message)))
            if message.starts_with(WRITES_FAILING) =>
        {
            tracing::warn!(%message, "Health: the store's writes are failing.");
            (
                "reachable",
                "failing",
                Some("the store's writes are failing: see the server's log"),
            )
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "Health: the store cannot be reached.");
            (
                "unreachable",
                "failing",
                Some("the store cannot be reached: see the server's log"),
            )
        }
        Err(_) => (
            "unreachable",
            "failing",
            Some("the store did not answer within 5 s"),
        ),
    };
    let ok = problem.is_none();
    (
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(Health {
            status: if ok { "ok" } else { "degraded" },
            version: env!("CARGO_PKG_VERSION"),
            database,
            writes,
            store: state.store.name().to_owned(),
            problem,
        }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    #[serde(default)]
    server_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Serialize)]
struct Registered {
    server_id: String,
    token: String,
}

fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}")
            .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))
}

async fn register(
    State(state): State<AppState>,
    _: Admin,
    Body(body): Body,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let body: RegisterBody = json_body(&body)?;
    if let Some(name) = &body.name
        && (name.len() > 200 || !monitor_core::model::is_safe_text(name))
    {
        return Err(ApiError::bad_request(
            "invalid_name",
            "name: at most 200 bytes, without control or invisible formatting characters",
        ));
    }
    if body.tags.len() > 64 {
        return Err(ApiError::bad_request(
            "invalid_tag",
            format!("at most 64 tags, got {}", body.tags.len()),
        ));
    }
    let id = match body.server_id {
        Some(id) => server_id(id)?,
        None => {
            let token = Token::generate(Scope::Agent).map_err(|_| random_failed())?;
            server_id(format!("srv-{}", &token.expose()[8..20]))?
        }
    };
    for tag in &body.tags {
        if tag.is_empty() || tag.len() > 64 || !monitor_core::model::is_safe_text(tag) {
            return Err(ApiError::bad_request(
                "invalid_tag",
                format!(
                    "tag {tag:?}: 1 to 64 characters, without control or invisible formatting characters"
                ),
            ));
        }
    }
    let token = Token::generate(Scope::Agent).map_err(|_| random_failed())?;
    state
        .store
        .register_server(NewServer {
            id: id.clone(),
            name: body.name.unwrap_or_default(),
            tags: body.tags,
            token_hash: token.hash(),
            created: Timestamp::now(),
        })
        .await?;
    tracing::info!(server_id = %id, "Server registered.");
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            server_id: id.to_string(),
            token: token.expose().to_owned(),
        }),
    ))
}

fn random_failed() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "no random source to make a token",
    )
}

#[derive(Serialize)]
struct Ingested {
    stored: usize,
    duplicates: usize,
}

async fn ingest(
    State(state): State<AppState>,
    agent: Result<Agent, ApiError>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Ingested>, ApiError> {
    let started = std::time::Instant::now();
    let metrics = Arc::clone(&state.metrics);
    // The token is checked before a byte of the body is read or inflated.
    let result = match agent {
        Ok(Agent(server)) => admit(state, server, &headers, body).await,
        Err(error) => Err(error),
    };
    let (outcome, snapshots, samples) = match &result {
        Ok((_, snapshots, samples)) => (Outcome::Accepted, *snapshots, *samples),
        Err(error) => (Outcome::of(error.status()), 0, 0),
    };
    metrics.ingest(outcome, started.elapsed(), snapshots, samples);
    result.map(|(ingested, _, _)| ingested)
}

/// Reads a request's body and, once the ingest budget has room for it
/// inflated, stores its snapshots; the room is held until the store has
/// answered.
async fn admit(
    state: AppState,
    server: ServerId,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<(Json<Ingested>, usize, usize), ApiError> {
    let limit = state.max_body_bytes;
    let raw = crate::body::Raw::read(headers, body, limit).await?;
    let declared = raw.inflated_size(limit);
    let _held = state.ingest_budget.take(declared).await?;
    let body = raw.inflate(limit)?;
    // A gzip trailer that understated the size: the rest is taken too.
    let _rest = match body.len().checked_sub(declared) {
        Some(more) if more > 0 => Some(state.ingest_budget.take(more).await?),
        _ => None,
    };
    ingest_body(state, server, body).await
}

/// Stores a request's snapshots; with how many snapshots and samples it
/// carried.
async fn ingest_body(
    state: AppState,
    server: ServerId,
    body: Bytes,
) -> Result<(Json<Ingested>, usize, usize), ApiError> {
    let snapshots = wire::decode(&body, &state.limits).map_err(|e| match e {
        wire::WireError::TooMany { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_items",
            e.to_string(),
        ),
        wire::WireError::Json(_) => ApiError::bad_request("invalid_json", e.to_string()),
        wire::WireError::Invalid { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_snapshot",
            e.to_string(),
        ),
    })?;
    if let Err(wait) = state
        .ingest_limit
        .take(server.as_str(), snapshots.len() as f64)
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "server {} sends more snapshots than its limit (limits.ingest_per_token_per_second, limits.ingest_burst); nothing of this request was stored, retry after the delay",
                server.as_str()
            ),
        )
        .with_retry_after(wait));
    }
    let now = Timestamp::now().as_millis();
    for (i, s) in snapshots.iter().enumerate() {
        if s.server_id != server {
            return Err(ApiError::forbidden(
                "identity_mismatch",
                format!(
                    "snapshot {i} is for server {:?} but the token belongs to {:?}",
                    s.server_id.as_str(),
                    server.as_str()
                ),
            ));
        }
        let out_of_range = |rule: String| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "timestamp_out_of_range",
                format!("snapshot {i} is dated {}, {rule}", s.timestamp),
            )
        };
        let span =
            |ms: i64| crate::config::format_duration(Duration::from_millis(ms.max(0) as u64));
        if s.timestamp.as_millis() > now + state.future_tolerance_ms {
            return Err(out_of_range(format!(
                "more than {} in the future (limits.future_tolerance): check the agent's clock",
                span(state.future_tolerance_ms)
            )));
        }
        if s.timestamp.as_millis() < now - state.max_age_ms {
            return Err(out_of_range(format!(
                "older than the raw retention of {} (retention.raw): it would be deleted at once",
                span(state.max_age_ms)
            )));
        }
    }
    // The batch's newest report goes to the rules and the live stream once
    // the store has taken it: a replay older than an alert's state or a
    // duplicate changes nothing (the evaluator ignores what is older than
    // an alert's state), and a report the store refused as a conflict
    // reaches neither. Copied only when one of them wants it.
    let newest = snapshots
        .iter()
        .max_by_key(|s| s.timestamp)
        .filter(|_| state.alerts.is_some() || state.stream.wants_events())
        .map(|s| Arc::new(s.clone()));
    let counts = (
        snapshots.len(),
        snapshots
            .iter()
            .map(monitor_core::Snapshot::sample_count)
            .sum(),
    );
    // A copy for the exporters, only when there are some.
    let for_exporters = state.exporters.as_ref().map(|_| snapshots.clone());
    let receipt = state.store.ingest(snapshots).await?;
    let accepted = receipt.stored > 0 && receipt.conflicts == 0;
    if let (Some(queue), Some(batch)) = (&state.exporters, for_exporters)
        && receipt.stored > 0
    {
        queue.offer(batch);
    }
    if accepted && let (Some(alerts), Some(snapshot)) = (&state.alerts, &newest) {
        alerts.evaluate(snapshot);
    }
    // A batch of replays older than what the server has publishes nothing.
    if accepted
        && state.stream.wants_events()
        && let Some(snapshot) = newest
        && let Ok(Some(latest)) = state.store.latest_timestamp(&server).await
        && latest == snapshot.timestamp
    {
        state.stream.publish(
            "snapshot",
            crate::stream::Payload::lazy(crate::stream::snapshot_weight(&snapshot), move || {
                serde_json::to_string(&*snapshot).unwrap_or_default()
            }),
        );
    }
    if receipt.conflicts > 0 {
        tracing::warn!(server = %server, conflicts = receipt.conflicts, stored = receipt.stored,
            "Reports at a millisecond another report of this server already holds, with other values: not stored. Do two agents or programs report under this server id?");
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "timestamp_taken",
            format!(
                "{} of the {} snapshots are dated at a millisecond where another report of server {} is stored with other values, and were not stored ({} stored, {} already there): does another agent or program report under this server id? Give each its own (POST /api/register)",
                receipt.conflicts,
                counts.0,
                server.as_str(),
                receipt.stored,
                receipt.duplicates
            ),
        ));
    }
    Ok((
        Json(Ingested {
            stored: receipt.stored,
            duplicates: receipt.duplicates,
        }),
        counts.0,
        counts.1,
    ))
}

/// One server in `GET /api/servers`.
#[derive(Serialize)]
struct ServerView {
    server_id: String,
    name: String,
    tags: Vec<String>,
    hostname: Option<String>,
    os: Option<String>,
    online: bool,
    last_seen: Option<Timestamp>,
    interval_secs: Option<f64>,
    cpu_total_percent: Option<f64>,
    memory_used_percent: Option<f64>,
    disk_used_percent: Option<f64>,
    containers_running: Option<usize>,
}

async fn servers(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Vec<ServerView>>, ApiError> {
    let records = state.store.servers().await?;
    // The store keeps the newest snapshots in memory (CACHE_MAX_ITEMS).
    let latest = state.store.latest_snapshots().await?;
    let latest: std::collections::HashMap<&str, &monitor_core::Snapshot> = latest
        .iter()
        .map(|s| (s.server_id.as_str(), &**s))
        .collect();
    let now = Timestamp::now().as_millis();
    let views = records
        .into_iter()
        .map(|r| {
            let snapshot = latest.get(r.id.as_str()).copied();
            let scalar = |name: &str| snapshot.and_then(|s| s.value(name, &Labels::new()));
            let online = is_online(&r, now);
            ServerView {
                server_id: r.id.to_string(),
                name: r.name,
                tags: r.tags,
                hostname: r.hostname,
                os: r.os,
                online,
                last_seen: r.last_seen,
                interval_secs: r.interval_secs,
                cpu_total_percent: scalar(names::CPU_USAGE_PERCENT),
                memory_used_percent: scalar(names::MEMORY_USED_PERCENT),
                // The fullest filesystem, as the original's disk threshold watches.
                disk_used_percent: snapshot
                    .and_then(|s| s.family(names::FILESYSTEM_USED_PERCENT))
                    .and_then(|f| f.samples.iter().map(|x| x.value).reduce(f64::max)),
                containers_running: snapshot.and_then(|s| s.containers.as_ref()).map(|c| {
                    c.iter()
                        .filter(|c| c.state == monitor_core::ContainerState::Running)
                        .count()
                }),
            }
        })
        .collect();
    Ok(Json(views))
}

/// Whether a server reports: offline after three missed intervals (at
/// least 30 s).
fn is_online(server: &monitor_core::store::ServerRecord, now_ms: i64) -> bool {
    let interval_ms = (server.interval_secs.unwrap_or(5.0) * 1000.0) as i64;
    server
        .last_seen
        .is_some_and(|t| now_ms - t.as_millis() <= (3 * interval_ms).max(30_000))
}

/// `GET /metrics`: every reporting host's newest values and the server's
/// own health, for Prometheus (see [`crate::metrics`]).
async fn prometheus_metrics(
    State(state): State<AppState>,
    _: Reader,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let renders = Arc::clone(&state.renders);
    let text = renders.get(render_metrics(state)).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            monitor_agent::export::prometheus::CONTENT_TYPE,
        )],
        text,
    ))
}

/// The `/metrics` exposition as it is now.
async fn render_metrics(state: AppState) -> Result<Bytes, ApiError> {
    let records = state.store.servers().await?;
    let now = Timestamp::now().as_millis();
    let hosts: Vec<crate::metrics::HostStatus> = records
        .iter()
        .map(|r| crate::metrics::HostStatus {
            server_id: r.id.to_string(),
            online: is_online(r, now),
            last_seen: r.last_seen,
        })
        .collect();
    let online: std::collections::HashSet<&str> = hosts
        .iter()
        .filter(|h| h.online)
        .map(|h| h.server_id.as_str())
        .collect();
    let mut snapshots = state.store.latest_snapshots().await?;
    snapshots.retain(|s| online.contains(s.server_id.as_str()));
    let (alerts_firing, deliveries) = match &state.alerts {
        Some(alerts) => (Some(alerts.firing().await.len()), alerts.deliveries().await),
        None => (None, Vec::new()),
    };
    let exposition = crate::metrics::Exposition {
        hosts: &hosts,
        snapshots: &snapshots,
        metrics: &state.metrics,
        store: state.store_stats.as_ref().map(|stats| stats()),
        ingest_in_flight: (
            state.ingest_budget.in_flight(),
            state.ingest_budget.capacity(),
        ),
        stream_clients: state.stream.clients(),
        alerts_firing,
        deliveries: &deliveries,
    };
    let (text, took) = exposition.render();
    state.metrics.rendered(took);
    tracing::debug!(
        hosts = hosts.len(),
        bytes = text.len(),
        ?took,
        "Rendered /metrics."
    );
    Ok(Bytes::from(text))
}

async fn delete_server(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = server_id(id)?;
    state.store.delete_server(&id).await?;
    state.agent_tokens.forget(&id);
    if let Some(alerts) = &state.alerts {
        alerts.forget(&id);
    }
    tracing::info!(server_id = %id, "Server deleted with its data.");
    Ok(StatusCode::NO_CONTENT)
}

/// Every series a server has reported, with its newest value: what the
/// dashboard's server page charts (plugin metrics included).
async fn series(
    State(state): State<AppState>,
    _: Reader,
    Path(id): Path<String>,
) -> Result<Json<Vec<monitor_core::store::SeriesInfo>>, ApiError> {
    let id = server_id(id)?;
    Ok(Json(state.store.series(&id).await?))
}

/// A server's newest snapshot, whole (host facts, containers, every
/// sample): what the dashboard shows before the first live event.
async fn latest(
    State(state): State<AppState>,
    _: Reader,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let id = server_id(id)?;
    // The newest snapshot first: the store keeps it in memory, so it is
    // served while the database is down (a deleted server has none).
    if let Some(snapshot) = state.store.latest_snapshot(&id).await? {
        return Ok(Json(&*snapshot).into_response());
    }
    if state.store.server(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("server {id} not found")));
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "no_snapshot_yet",
        format!("server {id} has not reported yet"),
    ))
}

async fn rotate_token(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<Registered>, ApiError> {
    let id = server_id(id)?;
    let token = Token::generate(Scope::Agent).map_err(|_| random_failed())?;
    state.store.rotate_token(&id, token.hash()).await?;
    state.agent_tokens.forget(&id);
    tracing::info!(server_id = %id, "Token rotated.");
    Ok(Json(Registered {
        server_id: id.to_string(),
        token: token.expose().to_owned(),
    }))
}

/// Query of `GET /api/metrics/history`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryParams {
    server_id: String,
    #[serde(default)]
    metric: Option<String>,
    /// Label matchers, `name="value"` or `name!="value"`, comma separated.
    #[serde(default, rename = "match")]
    matchers: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    step: Option<f64>,
    #[serde(default)]
    points: Option<u32>,
}

#[derive(Serialize)]
struct HistoryView {
    server_id: String,
    from: Timestamp,
    to: Timestamp,
    step_secs: u64,
    tier: monitor_core::store::Tier,
    series: Vec<monitor_core::store::Series>,
}

/// The `from` and `to` of a query (RFC 3339 or Unix seconds): `to`
/// defaults to now and `from` to `span_ms` before it; 400 `invalid_time`
/// or `invalid_range` (from not before to).
fn time_range(
    from: Option<String>,
    to: Option<String>,
    span_ms: i64,
) -> Result<(Timestamp, Timestamp), ApiError> {
    let time = |name: &str, text: Option<String>, default: Timestamp| match text {
        None => Ok(default),
        Some(t) => Timestamp::parse(&t)
            .map_err(|e| ApiError::bad_request("invalid_time", format!("{name}: {e}"))),
    };
    let to = time("to", to, Timestamp::now())?;
    let from = time("from", from, to.add_millis(-span_ms))?;
    if from >= to {
        return Err(ApiError::bad_request(
            "invalid_range",
            "from must be before to",
        ));
    }
    Ok((from, to))
}

/// The metrics `?server_id=` alone returns: the original's main ones.
const DEFAULT_METRICS: [&str; 3] = [
    names::CPU_USAGE_PERCENT,
    names::MEMORY_USED_PERCENT,
    names::FILESYSTEM_USED_PERCENT,
];

async fn history(
    State(state): State<AppState>,
    _: Reader,
    Query(params): Query<HistoryParams>,
) -> Result<Json<HistoryView>, ApiError> {
    let id = server_id(params.server_id)?;
    let (from, to) = time_range(params.from, params.to, 3_600_000)?;
    let step = match params.step {
        None => None,
        Some(s) if s.is_finite() && (1.0..=86_400.0 * 366.0).contains(&s) => {
            Some(Duration::from_secs_f64(s))
        }
        Some(s) => {
            return Err(ApiError::bad_request(
                "invalid_step",
                format!("step {s}: give seconds, at least 1"),
            ));
        }
    };
    // Without `points`, a given step is kept up to the cap (a step of one
    // second over a week is widened to 100,000 buckets, not served whole).
    let points = params
        .points
        .unwrap_or(if step.is_some() { 100_000 } else { 1000 })
        .clamp(1, 100_000);
    let mut matchers = Vec::new();
    if let Some(text) = params.matchers.as_deref().filter(|t| !t.is_empty()) {
        for part in text.split(',') {
            matchers.push(
                LabelMatcher::parse(part).map_err(|e| ApiError::bad_request("invalid_match", e))?,
            );
        }
    }
    let metrics: Vec<String> = match params.metric {
        Some(m) => {
            if !monitor_core::model::is_valid_name(&m) {
                return Err(ApiError::bad_request(
                    "invalid_metric",
                    format!("{m:?} is not a metric name"),
                ));
            }
            vec![m]
        }
        None => DEFAULT_METRICS.iter().map(|m| (*m).to_owned()).collect(),
    };
    let mut series = Vec::new();
    let mut step_secs = 0;
    let mut tier = monitor_core::store::Tier::Raw;
    for metric in metrics {
        let h = state
            .store
            .history(&HistoryQuery {
                server_id: id.clone(),
                metric,
                matchers: matchers.clone(),
                from,
                to,
                step,
                max_points: points,
            })
            .await?;
        step_secs = h.step_secs;
        tier = h.tier;
        series.extend(h.series);
    }
    Ok(Json(HistoryView {
        server_id: id.to_string(),
        from,
        to,
        step_secs,
        tier,
        series,
    }))
}

async fn stream(
    State(state): State<AppState>,
    Reader(caller): Reader,
    headers: HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let last = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_last_event_id", "Last-Event-ID must be a number")
                })?,
        ),
    };
    // Each stream counts against the cap of the token that was accepted
    // (or of the address, when reads are open): another header beside it
    // makes no new key.
    let key = caller.key;
    match state.stream.subscribe(last, &key) {
        Ok(sse) => Ok(sse.into_response()),
        Err(full) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            full.to_string(),
        )
        .with_retry_after(Duration::from_secs(10))),
    }
}

use crate::alerts::THRESHOLDS_KEY;

async fn get_alerts(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Thresholds>, ApiError> {
    Ok(Json(crate::alerts::thresholds(&*state.store).await?))
}

async fn set_alerts(
    State(state): State<AppState>,
    // The original's users change thresholds with the dashboard token.
    _: AlertEditor,
    Body(body): Body,
) -> Result<Json<Thresholds>, ApiError> {
    let thresholds: Thresholds = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    thresholds
        .validate()
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_threshold", e))?;
    let value = serde_json::to_value(thresholds)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    state.store.put_setting(THRESHOLDS_KEY, &value).await?;
    if let Some(alerts) = &state.alerts {
        alerts.reload().await?;
    }
    Ok(Json(thresholds))
}

/// `GET /api/alerts/rules`: the rules in force: the three thresholds, the
/// built-in host-offline rule, and the stored rules (a stored rule with a
/// built-in id replaces it).
async fn alert_rules(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Vec<monitor_core::AlertRule>>, ApiError> {
    let thresholds = crate::alerts::thresholds(&*state.store).await?;
    Ok(Json(crate::alerts::effective_rules(
        &thresholds,
        state.store.alert_rules().await?,
    )))
}

/// A rule from a request body, checked.
fn rule_body(body: &Bytes) -> Result<monitor_core::AlertRule, ApiError> {
    let rule: monitor_core::AlertRule = json_body(body)?;
    rule.validate()
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rule", e))?;
    Ok(rule)
}

async fn saved_rule(
    state: &AppState,
    rule: monitor_core::AlertRule,
) -> Result<monitor_core::AlertRule, ApiError> {
    let rule = state.store.put_alert_rule(rule).await?;
    if let Some(alerts) = &state.alerts {
        alerts.reload().await?;
    }
    Ok(rule)
}

/// `POST /api/alerts/rules`: adds a rule (its id is assigned unless given;
/// 409 when a rule has that id).
async fn create_alert_rule(
    State(state): State<AppState>,
    _: AlertEditor,
    Body(body): Body,
) -> Result<(StatusCode, Json<monitor_core::AlertRule>), ApiError> {
    let rule = rule_body(&body)?;
    let stored = state.store.alert_rules().await?;
    if stored.len() >= MAX_RULES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_rules",
            format!("the server holds its maximum of {MAX_RULES} stored rules; delete some first"),
        ));
    }
    if !rule.id.is_empty() {
        let thresholds = crate::alerts::thresholds(&*state.store).await?;
        let known = crate::alerts::effective_rules(&thresholds, state.store.alert_rules().await?);
        if known.iter().any(|r| r.id == rule.id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "rule_exists",
                format!(
                    "a rule with id {:?} exists; PUT /api/alerts/rules/{} replaces it",
                    rule.id, rule.id
                ),
            ));
        }
    }
    Ok((StatusCode::CREATED, Json(saved_rule(&state, rule).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewParams {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    server_id: Option<String>,
}

/// One server in `POST /api/alerts/preview`.
#[derive(Serialize)]
struct ServerPreview {
    server_id: String,
    tier: monitor_core::store::Tier,
    step_secs: u64,
    reports: usize,
    fired: usize,
    firing_at_end: usize,
    events: Vec<monitor_core::AlertEvent>,
    events_left_out: usize,
}

#[derive(Serialize)]
struct PreviewView {
    from: Timestamp,
    to: Timestamp,
    fired: usize,
    servers: Vec<ServerPreview>,
}

/// The longest range a preview replays.
const PREVIEW_MAX_RANGE_MS: i64 = 31 * 86_400_000;
/// Points per series a preview reads at most: a day of 5-s reports is
/// read raw, longer ranges from rollups.
const PREVIEW_POINTS: u32 = 20_000;
/// Points per series the servers of one preview share: a day of 5-s
/// reports of up to ten servers is read raw, a larger fleet in coarser
/// buckets (benches/preview.rs: about 50 ms a server read raw, 19 ms in
/// 45-s buckets, so that a preview of a thousand servers answers within the
/// request timeout).
const PREVIEW_BUDGET: u32 = 200_000;
/// Points per series a server of a large fleet still gets: a day of
/// one-minute rollups.
const PREVIEW_MIN_POINTS: u32 = 1_500;
/// Events listed per server in a preview (the rest are counted).
const PREVIEW_EVENTS: usize = 1_000;

/// `POST /api/alerts/preview`: what a rule (the body, as for `POST
/// /api/alerts/rules`; `id` and `name` may be left out) would have done on
/// the stored history of each server in its scope, from every alert
/// inactive at `from` (default: the last 24 h). Stores nothing.
async fn preview_alert_rule(
    State(state): State<AppState>,
    _: AlertEditor,
    Query(params): Query<PreviewParams>,
    Body(body): Body,
) -> Result<Json<PreviewView>, ApiError> {
    let mut value: serde_json::Value = json_body(&body)?;
    if let Some(object) = value.as_object_mut() {
        object
            .entry("name")
            .or_insert_with(|| serde_json::Value::from("Preview"));
    }
    let mut rule: monitor_core::AlertRule = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    if rule.id.is_empty() {
        rule.id = "preview".into();
    }
    rule.validate()
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rule", e))?;
    if rule.metric == monitor_core::alert::OFFLINE_METRIC {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_previewable",
            "a host_offline rule counts the time between reports, which stored history does not replay; it cannot be previewed",
        ));
    }
    let (from, to) = time_range(params.from, params.to, 86_400_000)?;
    if to.as_millis() - from.as_millis() > PREVIEW_MAX_RANGE_MS {
        return Err(ApiError::bad_request(
            "invalid_range",
            "a preview replays at most 31 days: give a shorter range",
        ));
    }
    let only = params.server_id.map(server_id).transpose()?;
    let mut servers = state.store.servers().await?;
    if let Some(id) = &only {
        servers.retain(|s| &s.id == id);
        if servers.is_empty() {
            return Err(ApiError::not_found(format!("server {id} not found")));
        }
    }
    servers.retain(|s| rule.scope.includes(&s.id, &s.tags));
    let mut view = PreviewView {
        from,
        to,
        fired: 0,
        servers: Vec::with_capacity(servers.len()),
    };
    let max_points = (PREVIEW_BUDGET / u32::try_from(servers.len()).unwrap_or(u32::MAX).max(1))
        .clamp(PREVIEW_MIN_POINTS, PREVIEW_POINTS);
    // One server at a time: a preview holds one server's history at most.
    for server in servers {
        let history = state
            .store
            .history(&HistoryQuery {
                server_id: server.id.clone(),
                metric: rule.metric.clone(),
                matchers: rule.matchers.clone(),
                from,
                to,
                step: None,
                max_points,
            })
            .await?;
        let facts = monitor_core::alert::ServerFacts::new(&server.id, &server.tags);
        let mut outcome = monitor_core::alert::preview(&rule, &facts, &history);
        let left_out = outcome.events.len().saturating_sub(PREVIEW_EVENTS);
        outcome.events.truncate(PREVIEW_EVENTS);
        view.fired += outcome.fired;
        view.servers.push(ServerPreview {
            server_id: server.id.to_string(),
            tier: history.tier,
            step_secs: history.step_secs,
            reports: outcome.reports,
            fired: outcome.fired,
            firing_at_end: outcome.firing_at_end,
            events: outcome.events,
            events_left_out: left_out,
        });
    }
    Ok(Json(view))
}

/// `PUT /api/alerts/rules/{id}`: replaces a rule (a built-in one too: the
/// stored rule then takes its place).
async fn replace_alert_rule(
    State(state): State<AppState>,
    _: AlertEditor,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Json<monitor_core::AlertRule>, ApiError> {
    let mut rule = rule_body(&body)?;
    if !rule.id.is_empty() && rule.id != id {
        return Err(ApiError::bad_request(
            "id_mismatch",
            format!("the body's id {:?} is not the path's {id:?}", rule.id),
        ));
    }
    let thresholds = crate::alerts::thresholds(&*state.store).await?;
    let known = crate::alerts::effective_rules(&thresholds, state.store.alert_rules().await?);
    if !known.iter().any(|r| r.id == id) {
        return Err(ApiError::not_found(format!("alert rule {id} not found")));
    }
    rule.id = id;
    Ok(Json(saved_rule(&state, rule).await?))
}

/// `DELETE /api/alerts/rules/{id}`: deletes a stored rule (a built-in rule
/// it replaced comes back); its alerts are forgotten.
async fn delete_alert_rule(
    State(state): State<AppState>,
    _: AlertEditor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_alert_rule(&id).await?;
    if let Some(alerts) = &state.alerts {
        alerts.reload().await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/alerts/silences`: the silences not yet over.
async fn list_silences(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Vec<monitor_core::Silence>>, ApiError> {
    let now = Timestamp::now();
    let mut silences = crate::alerts::silences(&*state.store).await?;
    silences.retain(|s| s.until > now);
    Ok(Json(silences))
}

/// Stores `silences` (the ones over dropped) and tells the engine.
async fn save_silences(
    state: &AppState,
    mut silences: Vec<monitor_core::Silence>,
) -> Result<(), ApiError> {
    let now = Timestamp::now();
    silences.retain(|s| s.until > now);
    let value = serde_json::to_value(&silences)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    state
        .store
        .put_setting(crate::alerts::SILENCES_KEY, &value)
        .await?;
    if let Some(alerts) = &state.alerts {
        alerts.reload().await?;
    }
    Ok(())
}

/// `POST /api/alerts/silences`: no notifications for a rule, a server, or
/// a rule on a server, until a time (`{"rule_id": ..., "server_id": ...,
/// "until": RFC 3339 or Unix seconds, "comment": ...}`).
async fn create_silence(
    State(state): State<AppState>,
    _: AlertEditor,
    Body(body): Body,
) -> Result<(StatusCode, Json<monitor_core::Silence>), ApiError> {
    let mut silence: monitor_core::Silence = json_body(&body)?;
    let invalid = |m: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_silence", m);
    silence.validate().map_err(|e| invalid(&e))?;
    if silence.rule_id.is_none() && silence.server_id.is_none() {
        return Err(invalid(
            "give a rule_id, a server_id or both (a silence of everything is too easy to forget)",
        ));
    }
    if silence.until <= Timestamp::now() {
        return Err(invalid("until: give a time in the future"));
    }
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|_| random_failed())?;
    silence.id = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let _changing = state.settings.lock().await;
    let mut silences = crate::alerts::silences(&*state.store).await?;
    let now = Timestamp::now();
    if silences.iter().filter(|s| s.until > now).count() >= MAX_SILENCES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_silences",
            format!("the server holds its maximum of {MAX_SILENCES} silences; end some first"),
        ));
    }
    silences.push(silence.clone());
    save_silences(&state, silences).await?;
    Ok((StatusCode::CREATED, Json(silence)))
}

/// `DELETE /api/alerts/silences/{id}`: ends a silence now.
async fn delete_silence(
    State(state): State<AppState>,
    _: AlertEditor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let _changing = state.settings.lock().await;
    let mut silences = crate::alerts::silences(&*state.store).await?;
    let before = silences.len();
    silences.retain(|s| s.id != id);
    if silences.len() == before {
        return Err(ApiError::not_found(format!("silence {id} not found")));
    }
    save_silences(&state, silences).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/alerts/notifiers`: how each notifier's deliveries went
/// (delivered, failed, queued, the last error).
async fn alert_notifiers(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Vec<crate::alerts::DeliveryStatus>>, ApiError> {
    Ok(Json(match &state.alerts {
        Some(alerts) => alerts.deliveries().await,
        None => Vec::new(),
    }))
}

/// `GET /api/alerts/firing`: every alert firing now (empty when the server
/// runs without an alert engine).
async fn firing_alerts(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Vec<monitor_core::store::AlertStateRecord>>, ApiError> {
    Ok(Json(match &state.alerts {
        Some(alerts) => alerts.firing().await,
        None => Vec::new(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    server_id: Option<String>,
    rule_id: Option<String>,
    since: Option<String>,
    before: Option<i64>,
    limit: Option<usize>,
}

/// `GET /api/alerts/events`: alert transitions, newest first, filtered by
/// server, rule and time, a page at a time (`before`: the last id of the
/// page before).
async fn alert_events(
    State(state): State<AppState>,
    _: Reader,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Vec<monitor_core::AlertEvent>>, ApiError> {
    let since = q
        .since
        .map(|t| {
            Timestamp::parse(&t)
                .map_err(|e| ApiError::bad_request("invalid_time", format!("since: {e}")))
        })
        .transpose()?;
    let filter = monitor_core::store::EventFilter {
        server_id: q.server_id.map(server_id).transpose()?,
        rule_id: q.rule_id,
        since,
        before: q.before,
        limit: q.limit.unwrap_or(100).min(10_000),
    };
    Ok(Json(state.store.alert_events(&filter).await?))
}

/// The most stored alert rules (built-in ones not counted).
pub const MAX_RULES: usize = 1_000;
/// The most silences in force at once.
pub const MAX_SILENCES: usize = 1_000;

#[derive(Serialize)]
struct AccessView {
    role: &'static str,
    change_alerts: bool,
    admin: bool,
}

/// `GET /api/access`: what the caller's token (or none, when reads are
/// open) may do, so the dashboard shows edit controls only to those who
/// may use them.
async fn access(Reader(caller): Reader) -> Json<AccessView> {
    Json(AccessView {
        role: caller.role.as_str(),
        change_alerts: caller.role.allows(crate::access::Need::ChangeAlerts),
        admin: caller.role.allows(crate::access::Need::Admin),
    })
}
