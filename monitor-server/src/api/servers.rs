//! Servers: registration, token rotation, deletion, the list with each
//! one's state, its series, its newest values and history.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use monitor_core::catalog::NewServer;
use monitor_core::store::HistoryQuery;
use monitor_core::{LabelMatcher, Labels, Timestamp, names};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::{is_online, json_body, server_id};
use crate::access::{Admin, Reader};
use crate::auth::{Scope, Token};
use crate::body::Body;
use crate::error::ApiError;
use crate::error::ErrorBody as Error;

/// The body of `POST /api/register`; every field may be left out.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterBody {
    /// The id to register (`srv-` and 12 random characters when absent).
    #[serde(default)]
    #[schema(value_type = Option<monitor_core::ServerId>)]
    server_id: Option<String>,
    /// A display name.
    #[serde(default)]
    #[schema(schema_with = super::openapi::server_name)]
    name: Option<String>,
    /// Tags, which alert rules can be scoped to.
    #[serde(default)]
    #[schema(schema_with = super::openapi::tags)]
    tags: Vec<String>,
}

/// A server and its agent's token, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Registered {
    #[schema(value_type = monitor_core::ServerId)]
    server_id: String,
    /// The agent's token (`X-Auth-Token`); the server keeps only its hash.
    token: String,
}

/// `POST /api/register`: registers a server and answers its agent token,
/// once.
#[utoipa::path(
    post,
    path = "/api/register",
    tag = "servers",
    summary = "Registers a server; answers its agent token once.",
    security(("admin" = [])),
    request_body(content = RegisterBody),
    responses(
        (status = 201, description = "registered", body = Registered),
        (status = 400, description = "an invalid id, name or tag", body = Error),
        (status = 401, description = "no admin token", body = Error),
        (status = 409, description = "the id is taken", body = Error),
    ),
)]
pub(super) async fn register(
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
        .storage
        .catalog()
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

pub(super) fn random_failed() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "no random source to make a token",
    )
}

/// One server in `GET /api/servers`: what the catalog holds and the key
/// values of its newest report (null before its first).
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ServerView {
    #[schema(value_type = monitor_core::ServerId)]
    server_id: String,
    name: String,
    tags: Vec<String>,
    #[schema(required = true)]
    hostname: Option<String>,
    #[schema(required = true)]
    os: Option<String>,
    /// Reported within the last three intervals (at least 30 s).
    online: bool,
    #[schema(required = true)]
    last_seen: Option<Timestamp>,
    /// The agent's collection interval, in seconds.
    #[schema(required = true)]
    interval_secs: Option<f64>,
    #[schema(required = true)]
    cpu_total_percent: Option<f64>,
    #[schema(required = true)]
    memory_used_percent: Option<f64>,
    /// The fullest filesystem's.
    #[schema(required = true)]
    disk_used_percent: Option<f64>,
    /// Null when the agent does not watch Docker.
    #[schema(required = true)]
    containers_running: Option<usize>,
}

/// `GET /api/servers`.
#[utoipa::path(
    get,
    path = "/api/servers",
    tag = "servers",
    summary = "Every server with online status, last seen and key values.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "servers", body = Vec<ServerView>),
        (status = 401, description = "reads need a token", body = Error),
    ),
)]
pub(super) async fn servers(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Vec<ServerView>>, ApiError> {
    // The store keeps the newest snapshots in memory (CACHE_MAX_ITEMS).
    let (records, latest) = state.storage.servers_with_latest().await?;
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

/// `DELETE /api/servers/{id}`.
#[utoipa::path(
    delete,
    path = "/api/servers/{id}",
    tag = "servers",
    summary = "Deletes a server and its data.",
    security(("admin" = [])),
    params(("id" = monitor_core::ServerId, Path)),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "an invalid id", body = Error),
        (status = 401, description = "no admin token", body = Error),
        (status = 404, description = "no such server", body = Error),
    ),
)]
pub(super) async fn delete_server(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = server_id(id)?;
    state.storage.delete_server(&id).await?;
    state.agent_tokens.forget(&id);
    if let Some(alerts) = &state.alerts {
        alerts.forget(&id);
    }
    tracing::info!(server_id = %id, "Server deleted with its data.");
    Ok(StatusCode::NO_CONTENT)
}

/// Every series a server has reported, with its newest value: what the
/// dashboard's server page charts (plugin metrics included).
#[utoipa::path(
    get,
    path = "/api/servers/{id}/series",
    tag = "servers",
    summary = "Every series the server has reported (metric, labels, kind, unit) with its newest value.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    params(("id" = monitor_core::ServerId, Path)),
    responses(
        (status = 200, description = "series", body = Vec<monitor_core::store::SeriesInfo>),
        (status = 400, description = "an invalid id", body = Error),
        (status = 401, description = "reads need a token", body = Error),
        (status = 404, description = "no such server", body = Error),
    ),
)]
pub(super) async fn series(
    State(state): State<AppState>,
    _: Reader,
    Path(id): Path<String>,
) -> Result<Json<Vec<monitor_core::store::SeriesInfo>>, ApiError> {
    let id = server_id(id)?;
    let series = state.storage.metrics().series(&id).await?;
    if series.is_empty() {
        known(&state, &id).await?;
    }
    Ok(Json(series))
}

/// 404 for a server the catalog does not know (a metric store may answer
/// an unknown server with no data rather than an error).
async fn known(state: &AppState, id: &monitor_core::ServerId) -> Result<(), ApiError> {
    match state.storage.catalog().server(id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("server {id} not found"))),
    }
}

/// A server's newest snapshot, whole (host facts, containers, top
/// processes, every sample): what the dashboard shows before the first live
/// event.
#[utoipa::path(
    get,
    path = "/api/servers/{id}/latest",
    tag = "servers",
    summary = "The server's newest snapshot, whole (404 no_snapshot_yet before its first report).",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    params(("id" = monitor_core::ServerId, Path)),
    responses(
        (status = 200, description = "snapshot", body = monitor_core::Snapshot),
        (status = 400, description = "an invalid id", body = Error),
        (status = 401, description = "reads need a token", body = Error),
        (status = 404, description = "no such server, or no report yet", body = Error),
    ),
)]
pub(super) async fn latest(
    State(state): State<AppState>,
    _: Reader,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let id = server_id(id)?;
    // The newest snapshot first: the store keeps it in memory, so it is
    // served while the database is down (a deleted server has none).
    if let Some(snapshot) = state.storage.metrics().latest_snapshot(&id).await? {
        return Ok(Json(&*snapshot).into_response());
    }
    known(&state, &id).await?;
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "no_snapshot_yet",
        format!("server {id} has not reported yet"),
    ))
}

/// `POST /api/servers/{id}/token`.
#[utoipa::path(
    post,
    path = "/api/servers/{id}/token",
    tag = "servers",
    summary = "Rotates a server's token; the old one stops working.",
    security(("admin" = [])),
    params(("id" = monitor_core::ServerId, Path)),
    responses(
        (status = 200, description = "the new token", body = Registered),
        (status = 400, description = "an invalid id", body = Error),
        (status = 401, description = "no admin token", body = Error),
        (status = 404, description = "no such server", body = Error),
    ),
)]
pub(super) async fn rotate_token(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<Registered>, ApiError> {
    let id = server_id(id)?;
    let token = Token::generate(Scope::Agent).map_err(|_| random_failed())?;
    state
        .storage
        .catalog()
        .rotate_token(&id, token.hash())
        .await?;
    state.agent_tokens.forget(&id);
    tracing::info!(server_id = %id, "Token rotated.");
    Ok(Json(Registered {
        server_id: id.to_string(),
        token: token.expose().to_owned(),
    }))
}

/// Query of `GET /api/metrics/history`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryParams {
    #[param(value_type = monitor_core::ServerId)]
    server_id: String,
    /// Default: cpu_usage_percent, memory_used_percent, filesystem_used_percent.
    #[serde(default)]
    metric: Option<String>,
    /// Label matchers, comma separated: `cpu="3"`, `mountpoint!="/boot"`.
    #[serde(default, rename = "match")]
    matchers: Option<String>,
    /// RFC 3339 or Unix seconds; default: an hour before `to`.
    #[serde(default)]
    from: Option<String>,
    /// RFC 3339 or Unix seconds; default: now.
    #[serde(default)]
    to: Option<String>,
    /// Bucket width in seconds.
    #[serde(default)]
    #[param(minimum = 1)]
    step: Option<f64>,
    /// At most this many buckets when step is absent (default 1000).
    #[serde(default)]
    #[param(minimum = 1, maximum = 100000)]
    points: Option<u32>,
}

/// The answer of `GET /api/metrics/history`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct HistoryView {
    #[schema(value_type = monitor_core::ServerId)]
    server_id: String,
    from: Timestamp,
    to: Timestamp,
    /// The bucket width, in seconds.
    step_secs: u64,
    tier: monitor_core::store::Tier,
    series: Vec<monitor_core::store::Series>,
}

/// The `from` and `to` of a query (RFC 3339 or Unix seconds): `to`
/// defaults to now and `from` to `span_ms` before it; 400 `invalid_time`
/// or `invalid_range` (from not before to).
pub(super) fn time_range(
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

/// `GET /api/metrics/history`.
#[utoipa::path(
    get,
    path = "/api/metrics/history",
    tag = "servers",
    summary = "Downsampled history (avg, min, max, last, count per bucket; gaps stay gaps).",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    params(HistoryParams),
    responses(
        (status = 200, description = "history", body = HistoryView),
        (status = 400, description = "an invalid id, metric, matcher, time or step", body = Error),
        (status = 401, description = "reads need a token", body = Error),
        (status = 404, description = "no such server", body = Error),
    ),
)]
pub(super) async fn history(
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
            .storage
            .metrics()
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
    if series.is_empty() {
        known(&state, &id).await?;
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
