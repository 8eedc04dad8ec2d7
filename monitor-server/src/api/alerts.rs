//! Alerts: thresholds, rules (and their preview on stored history),
//! silences, firing alerts, events and notifiers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use monitor_core::store::HistoryQuery;
use monitor_core::{AlertEvent, AlertRule, Silence, Thresholds, Timestamp};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::servers::{random_failed, time_range};
use super::{json_body, server_id};
use crate::access::{AlertEditor, Reader};
use crate::alerts::THRESHOLDS_KEY;
use crate::body::Body;
use crate::error::ApiError;
use crate::error::ErrorBody as Error;

/// `GET /api/alerts`: the original's global thresholds.
#[utoipa::path(
    get,
    path = "/api/alerts",
    tag = "alerts",
    summary = "The global thresholds.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "thresholds", body = Thresholds),
        (status = 401, description = "no token, or not a known one", body = Error),
    ),
)]
pub(super) async fn get_alerts(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Thresholds>, ApiError> {
    Ok(Json(
        crate::alerts::thresholds(&**state.storage.catalog()).await?,
    ))
}

/// `POST /api/alerts`: sets the global thresholds (the original's body).
#[utoipa::path(
    post,
    path = "/api/alerts",
    tag = "alerts",
    summary = "Sets the global thresholds (the original's body).",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    request_body(content = Thresholds),
    responses(
        (status = 200, description = "thresholds", body = Thresholds),
        (status = 400, description = "an invalid request (the message says what)", body = Error),
        (status = 401, description = "no token, or not a known one", body = Error),
        (status = 403, description = "a read-only token", body = Error),
        (status = 415, description = "the body is not JSON", body = Error),
        (status = 422, description = "a value out of range (the message says which)", body = Error),
    ),
)]
pub(super) async fn set_alerts(
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
    state
        .storage
        .catalog()
        .put_setting(THRESHOLDS_KEY, &value)
        .await?;
    if let Some(alerts) = &state.alerts {
        alerts.reload().await?;
    }
    Ok(Json(thresholds))
}

/// `GET /api/alerts/rules`: the rules in force: the three thresholds, the
/// built-in host-offline rule, and the stored rules (a stored rule with a
/// built-in id replaces it).
#[utoipa::path(
    get,
    path = "/api/alerts/rules",
    tag = "alerts",
    summary = "The rules in force: the three thresholds (ids cpu_total_percent, memory_used_percent, disk_used_percent), the built-in host_offline rule (missed reporting intervals > 3) and the stored rules.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "rules", body = Vec<AlertRule>),
        (status = 401, description = "no token, or not a known one", body = Error),
    ),
)]
pub(super) async fn alert_rules(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Vec<monitor_core::AlertRule>>, ApiError> {
    let thresholds = crate::alerts::thresholds(&**state.storage.catalog()).await?;
    Ok(Json(crate::alerts::effective_rules(
        &thresholds,
        state.storage.catalog().alert_rules().await?,
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
    let rule = state.storage.catalog().put_alert_rule(rule).await?;
    if let Some(alerts) = &state.alerts {
        alerts.reload().await?;
    }
    Ok(rule)
}

/// `POST /api/alerts/rules`: adds a rule (its id is assigned unless given;
/// 409 when a rule has that id).
#[utoipa::path(
    post,
    path = "/api/alerts/rules",
    tag = "alerts",
    summary = "Adds a rule: name, metric, matchers, op (> >= < <=), threshold, resolve_threshold (hysteresis), function ({kind: value | increase | seconds_until, window_secs, target}), for_secs, severity, scope ({kind: all | servers | tag}), enabled, overrides (per server: threshold, resolve_threshold, enabled).",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    request_body(content = AlertRule),
    responses(
        (status = 201, description = "the rule with its id", body = AlertRule),
        (status = 400, description = "an invalid request (the message says what)", body = Error),
        (status = 401, description = "no token, or not a known one", body = Error),
        (status = 403, description = "a read-only token", body = Error),
        (status = 409, description = "a rule with this id exists", body = Error),
        (status = 415, description = "the body is not JSON", body = Error),
        (status = 422, description = "a value out of range (the message says which)", body = Error),
    ),
)]
pub(super) async fn create_alert_rule(
    State(state): State<AppState>,
    _: AlertEditor,
    Body(body): Body,
) -> Result<(StatusCode, Json<monitor_core::AlertRule>), ApiError> {
    let rule = rule_body(&body)?;
    let stored = state.storage.catalog().alert_rules().await?;
    if stored.len() >= MAX_RULES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_rules",
            format!("the server holds its maximum of {MAX_RULES} stored rules; delete some first"),
        ));
    }
    if !rule.id.is_empty() {
        let thresholds = crate::alerts::thresholds(&**state.storage.catalog()).await?;
        let known = crate::alerts::effective_rules(
            &thresholds,
            state.storage.catalog().alert_rules().await?,
        );
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

/// Query of `POST /api/alerts/preview`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct PreviewParams {
    /// RFC 3339 or Unix seconds (24 h before `to`).
    #[serde(default)]
    from: Option<String>,
    /// RFC 3339 or Unix seconds (now); at most 31 days after `from`.
    #[serde(default)]
    to: Option<String>,
    /// Only this server.
    #[serde(default)]
    #[param(value_type = Option<monitor_core::ServerId>)]
    server_id: Option<String>,
}

/// One server of a rule's preview: what the rule would have done on its
/// stored history.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ServerRulePreview)]
pub(super) struct ServerPreview {
    #[schema(value_type = monitor_core::ServerId)]
    server_id: String,
    /// The resolution the store answered with; from rollups the rule saw
    /// each bucket's max (`>`, `>=`) or min (`<`, `<=`).
    tier: monitor_core::store::Tier,
    step_secs: u64,
    /// The stored reports (or rollup buckets) evaluated; 0 when there was
    /// no data in the range.
    reports: usize,
    /// How many times an alert went to firing.
    fired: usize,
    /// Alerts still firing at `to`.
    firing_at_end: usize,
    /// The transitions, oldest first (`id` 0: not stored); at most 1000.
    events: Vec<monitor_core::AlertEvent>,
    /// The transitions after the listed ones, counted only.
    events_left_out: usize,
}

/// The answer of `POST /api/alerts/preview`: a rule replayed over stored
/// history, every alert inactive at `from`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = RulePreview)]
pub(super) struct PreviewView {
    from: Timestamp,
    to: Timestamp,
    /// The sum of the servers' `fired`.
    fired: usize,
    /// Every server in the rule's scope (or only the one asked for).
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
#[utoipa::path(
    post,
    path = "/api/alerts/preview",
    tag = "alerts",
    summary = "What a rule (the body, as for POST /api/alerts/rules; id and name may be left out) would have done on the stored history of each server in its scope, every alert inactive at `from`: per server the resolution read (raw, or rollups whose largest value a > rule sees and smallest a < rule sees), the reports evaluated, how often it fired, what still fires at `to`, and the transitions oldest first (at most 1000). Stores nothing; a host_offline rule is 422 not_previewable.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    params(PreviewParams),
    request_body(content = AlertRule),
    responses(
        (status = 200, description = "per server, what the rule would have done", body = PreviewView),
        (status = 400, description = "an invalid request (the message says what)", body = Error),
        (status = 401, description = "no token, or not a known one", body = Error),
        (status = 403, description = "a read-only token", body = Error),
        (status = 404, description = "no such rule, silence or server", body = Error),
        (status = 415, description = "the body is not JSON", body = Error),
        (status = 422, description = "a value out of range (the message says which)", body = Error),
    ),
)]
pub(super) async fn preview_alert_rule(
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
    let mut servers = state.storage.catalog().servers().await?;
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
            .storage
            .metrics()
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
#[utoipa::path(
    put,
    path = "/api/alerts/rules/{id}",
    tag = "alerts",
    summary = "Replaces a rule; a built-in id stores a rule that takes the built-in's place.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content = AlertRule),
    responses(
        (status = 200, description = "the rule", body = AlertRule),
        (status = 400, description = "an invalid request (the message says what)", body = Error),
        (status = 401, description = "no token, or not a known one", body = Error),
        (status = 403, description = "a read-only token", body = Error),
        (status = 404, description = "no such rule, silence or server", body = Error),
        (status = 415, description = "the body is not JSON", body = Error),
        (status = 422, description = "a value out of range (the message says which)", body = Error),
    ),
)]
pub(super) async fn replace_alert_rule(
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
    let thresholds = crate::alerts::thresholds(&**state.storage.catalog()).await?;
    let known =
        crate::alerts::effective_rules(&thresholds, state.storage.catalog().alert_rules().await?);
    if !known.iter().any(|r| r.id == id) {
        return Err(ApiError::not_found(format!("alert rule {id} not found")));
    }
    rule.id = id;
    Ok(Json(saved_rule(&state, rule).await?))
}

/// `DELETE /api/alerts/rules/{id}`: deletes a stored rule (a built-in rule
/// it replaced comes back); its alerts are forgotten.
#[utoipa::path(
    delete,
    path = "/api/alerts/rules/{id}",
    tag = "alerts",
    summary = "Deletes a stored rule and forgets its alerts.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, description = "no token, or not a known one", body = Error),
        (status = 403, description = "a read-only token", body = Error),
        (status = 404, description = "no such rule, silence or server", body = Error),
    ),
)]
pub(super) async fn delete_alert_rule(
    State(state): State<AppState>,
    _: AlertEditor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.storage.catalog().delete_alert_rule(&id).await?;
    if let Some(alerts) = &state.alerts {
        alerts.reload().await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/alerts/silences`: the silences not yet over.
#[utoipa::path(
    get,
    path = "/api/alerts/silences",
    tag = "alerts",
    summary = "The silences not yet over.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "silences", body = Vec<Silence>),
        (status = 401, description = "no token, or not a known one", body = Error),
    ),
)]
pub(super) async fn list_silences(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Vec<monitor_core::Silence>>, ApiError> {
    let now = Timestamp::now();
    let mut silences = crate::alerts::silences(&**state.storage.catalog()).await?;
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
        .storage
        .catalog()
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
#[utoipa::path(
    post,
    path = "/api/alerts/silences",
    tag = "alerts",
    summary = "No notifications for a rule, a server, or both, until a time: {rule_id, server_id, until (RFC 3339 or Unix seconds), comment}; alerts are still evaluated and recorded, and a still-firing alert is notified when the silence ends.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    request_body(content = Silence),
    responses(
        (status = 201, description = "the silence with its id", body = Silence),
        (status = 400, description = "an invalid request (the message says what)", body = Error),
        (status = 401, description = "no token, or not a known one", body = Error),
        (status = 403, description = "a read-only token", body = Error),
        (status = 415, description = "the body is not JSON", body = Error),
        (status = 422, description = "a value out of range (the message says which)", body = Error),
    ),
)]
pub(super) async fn create_silence(
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
    let mut silences = crate::alerts::silences(&**state.storage.catalog()).await?;
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
#[utoipa::path(
    delete,
    path = "/api/alerts/silences/{id}",
    tag = "alerts",
    summary = "Ends a silence now.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "ended"),
        (status = 401, description = "no token, or not a known one", body = Error),
        (status = 403, description = "a read-only token", body = Error),
        (status = 404, description = "no such rule, silence or server", body = Error),
        (status = 415, description = "the body is not JSON", body = Error),
    ),
)]
pub(super) async fn delete_silence(
    State(state): State<AppState>,
    _: AlertEditor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let _changing = state.settings.lock().await;
    let mut silences = crate::alerts::silences(&**state.storage.catalog()).await?;
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
#[utoipa::path(
    get,
    path = "/api/alerts/notifiers",
    tag = "alerts",
    summary = "Per notifier: notifications delivered and given up on since the start, those waiting in the outbox and the oldest's time, and the last failed attempt's error.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "delivery status", body = Vec<crate::alerts::DeliveryStatus>),
        (status = 401, description = "no token, or not a known one", body = Error),
    ),
)]
pub(super) async fn alert_notifiers(
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
#[utoipa::path(
    get,
    path = "/api/alerts/firing",
    tag = "alerts",
    summary = "Every alert firing now: rule, server, series labels, since when, last value.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "firing alerts", body = Vec<monitor_core::catalog::AlertStateRecord>),
        (status = 401, description = "no token, or not a known one", body = Error),
    ),
)]
pub(super) async fn firing_alerts(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Vec<monitor_core::catalog::AlertStateRecord>>, ApiError> {
    Ok(Json(match &state.alerts {
        Some(alerts) => alerts.firing().await,
        None => Vec::new(),
    }))
}

/// Query of `GET /api/alerts/events`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    #[param(value_type = Option<monitor_core::ServerId>)]
    server_id: Option<String>,
    rule_id: Option<String>,
    /// RFC 3339 or Unix seconds.
    since: Option<String>,
    /// The next page: the events after the one of this id (the last of
    /// the page before).
    before: Option<i64>,
    /// At most this many (100; up to 10000).
    limit: Option<usize>,
}

/// `GET /api/alerts/events`: alert transitions, newest first, filtered by
/// server, rule and time, a page at a time (`before`: the last id of the
/// page before).
#[utoipa::path(
    get,
    path = "/api/alerts/events",
    tag = "alerts",
    summary = "Alert transitions (pending, firing, resolved, inactive) with their values, newest first.",
    security((), ("dashboard" = []), ("admin" = []), ("bearer" = [])),
    params(EventsQuery),
    responses(
        (status = 200, description = "events", body = Vec<AlertEvent>),
        (status = 400, description = "an invalid request (the message says what)", body = Error),
        (status = 401, description = "no token, or not a known one", body = Error),
    ),
)]
pub(super) async fn alert_events(
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
    let filter = monitor_core::catalog::EventFilter {
        server_id: q.server_id.map(server_id).transpose()?,
        rule_id: q.rule_id,
        since,
        before: q.before,
        limit: q.limit.unwrap_or(100).min(10_000),
    };
    Ok(Json(state.storage.catalog().alert_events(&filter).await?))
}

/// The most stored alert rules (built-in ones not counted).
pub const MAX_RULES: usize = 1_000;

/// The most silences in force at once.
pub const MAX_SILENCES: usize = 1_000;
