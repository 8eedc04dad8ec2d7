//! What the server says about itself: `GET /api/health`, `GET /metrics`,
//! the live stream (`GET /api/stream`) and `GET /api/access`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use monitor_core::Timestamp;
use serde::Serialize;

use super::AppState;
use super::is_online;
use crate::access::Reader;
use crate::error::ApiError;
use crate::error::ErrorBody as Error;

/// The answer of `GET /api/health`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Health {
    /// `ok`, or `degraded` (answered with 503).
    status: &'static str,
    /// This build's version.
    version: &'static str,
    /// `reachable` or `unreachable`.
    database: &'static str,
    /// `ok`, or `failing` while the store cannot write (a full disk).
    writes: &'static str,
    /// The metric store's name (`sqlite`, `postgres`, a plugin's).
    store: String,
    /// What is wrong, when something is (the details go to the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    problem: Option<&'static str>,
}

/// How a store's [`Store::health`] says that it reads but cannot write
/// (`monitor_store::SqlStore` begins its message with it).
const WRITES_FAILING: &str = monitor_store::WRITES_FAILING;

/// How long `GET /api/health` waits for the store: a store that does not
/// answer is reported unreachable rather than keeping the check waiting.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /api/health`: open to anyone, for load balancers and probes.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "status",
    summary = "Health: status, version, database reachable.",
    security(()),
    responses(
        (status = 200, description = "healthy", body = Health),
        (status = 503, description = "the store cannot be reached or cannot write", body = Health),
    ),
)]
pub(super) async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let answer = tokio::time::timeout(
        HEALTH_TIMEOUT.min(state.request_timeout),
        state.storage.health(),
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
            store: state.storage.metrics().name().to_owned(),
            problem,
        }),
    )
}

/// `GET /metrics`: every reporting host's newest values and the server's
/// own health, for Prometheus (see [`crate::metrics`]).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "status",
    summary = "Prometheus text exposition: every reporting host's newest values (label server_id), monitor_host_up, and the server's own health (docs/exporters.md).",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "metrics", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "reads need a token", body = Error),
    ),
)]
pub(super) async fn prometheus_metrics(
    State(state): State<AppState>,
    _: Reader,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let renders = Arc::clone(&state.renders);
    let text = renders.get(render_metrics(state)).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            monitor_collectors::export::prometheus::CONTENT_TYPE,
        )],
        text,
    ))
}

/// The `/metrics` exposition as it is now.
async fn render_metrics(state: AppState) -> Result<Bytes, ApiError> {
    let (records, mut snapshots) = state.storage.servers_with_latest().await?;
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
            state.ingest.budget().in_flight(),
            state.ingest.budget().capacity(),
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

/// `GET /api/stream`: the live stream.
#[utoipa::path(
    get,
    path = "/api/stream",
    tag = "status",
    summary = "Server-Sent Events: every accepted snapshot (event `snapshot`, JSON data, increasing id) and every alert transition (event `alert`); send Last-Event-ID to get what was missed, from a buffer of the last 1024 events (kept while a client is connected or left less than a minute ago).",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    params(("Last-Event-ID" = Option<u64>, Header, description = "the id of the last event received")),
    responses(
        (status = 200, description = "an event stream", content_type = "text/event-stream"),
        (status = 400, description = "Last-Event-ID is not a number", body = Error),
        (status = 401, description = "reads need a token", body = Error),
        (status = 429, description = "too many streams open", body = Error),
    ),
)]
pub(super) async fn stream(
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

/// The answer of `GET /api/access`: the caller's token's role and what it
/// may do.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AccessView {
    role: crate::access::Role,
    /// May change thresholds, rules and silences (and preview rules).
    change_alerts: bool,
    /// May register and delete servers and rotate their tokens.
    admin: bool,
}

/// `GET /api/access`: what the caller's token (or none, when reads are
/// open) may do, so the dashboard shows edit controls only to those who
/// may use them.
#[utoipa::path(
    get,
    path = "/api/access",
    tag = "status",
    summary = "What the caller may do: role (open, read, dashboard, admin), change_alerts, admin.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "access", body = AccessView),
        (status = 401, description = "reads need a token", body = Error),
    ),
)]
pub(super) async fn access(Reader(caller): Reader) -> Json<AccessView> {
    Json(AccessView {
        role: caller.role,
        change_alerts: caller.role.allows(crate::access::Need::ChangeAlerts),
        admin: caller.role.allows(crate::access::Need::Admin),
    })
}
