//! Alerts: thresholds, rules (and their preview on stored history),
//! silences, firing alerts, events and notifiers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use monitor_core::store::HistoryQuery;
use monitor_core::{Thresholds, Timestamp};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::servers::{random_failed, time_range};
use super::{json_body, server_id};
use crate::access::{AlertEditor, Reader};
use crate::alerts::THRESHOLDS_KEY;
use crate::body::Body;
use crate::error::ApiError;

pub(super) async fn get_alerts(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Thresholds>, ApiError> {
    Ok(Json(
        crate::alerts::thresholds(&**state.storage.catalog()).await?,
    ))
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PreviewParams {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    server_id: Option<String>,
}

/// One server in `POST /api/alerts/preview`.
#[derive(Serialize)]
pub(super) struct ServerPreview {
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
pub(super) struct PreviewView {
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
pub(super) async fn firing_alerts(
    State(state): State<AppState>,
    _: Reader,
) -> Result<Json<Vec<monitor_core::catalog::AlertStateRecord>>, ApiError> {
    Ok(Json(match &state.alerts {
        Some(alerts) => alerts.firing().await,
        None => Vec::new(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    server_id: Option<String>,
    rule_id: Option<String>,
    since: Option<String>,
    before: Option<i64>,
    limit: Option<usize>,
}

/// `GET /api/alerts/events`: alert transitions, newest first, filtered by
/// server, rule and time, a page at a time (`before`: the last id of the
/// page before).
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
