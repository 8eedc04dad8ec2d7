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

#[derive(Serialize)]
pub(super) struct Health {
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

#[derive(Serialize)]
pub(super) struct AccessView {
    role: &'static str,
    change_alerts: bool,
    admin: bool,
}

/// `GET /api/access`: what the caller's token (or none, when reads are
/// open) may do, so the dashboard shows edit controls only to those who
/// may use them.
pub(super) async fn access(Reader(caller): Reader) -> Json<AccessView> {
    Json(AccessView {
        role: caller.role.as_str(),
        change_alerts: caller.role.allows(crate::access::Need::ChangeAlerts),
        admin: caller.role.allows(crate::access::Need::Admin),
    })
}
