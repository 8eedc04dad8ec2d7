//! `POST /api/metrics`: authenticate, read the body, take room in the
//! ingest budget, and hand it to [`crate::ingest::Ingest`].

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use monitor_core::ServerId;
use serde::Serialize;

use super::AppState;
use crate::access::Agent;
use crate::error::ApiError;
use crate::error::ErrorBody as Error;
use crate::metrics::Outcome;

/// The answer of `POST /api/metrics`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Ingested {
    /// Snapshots stored.
    stored: usize,
    /// Snapshots already held (the same server and millisecond, the same
    /// values): a replay after a lost answer.
    duplicates: usize,
}

/// The body of `POST /api/metrics` in the OpenAPI document: one snapshot
/// or a batch of them (`monitor_core::wire::decode` reads it).
pub(super) struct Report;

impl utoipa::PartialSchema for Report {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::ToSchema;
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(utoipa::openapi::Ref::from_schema_name(
                monitor_core::Snapshot::name(),
            ))
            .item(utoipa::openapi::Ref::from_schema_name(
                monitor_core::wire::Batch::name(),
            ))
            .into()
    }
}

impl utoipa::ToSchema for Report {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((
            monitor_core::wire::Batch::name().into_owned(),
            monitor_core::wire::Batch::schema(),
        ));
        monitor_core::wire::Batch::schemas(schemas);
    }
}

/// `POST /api/metrics`: an agent's report.
#[utoipa::path(
    post,
    path = "/api/metrics",
    tag = "ingest",
    summary = "Ingests one snapshot or a batch {\"version\":1,\"snapshots\":[...]}; idempotent.",
    security(("agent" = [])),
    request_body(content = Report, description = "JSON, optionally gzip or deflate (Content-Encoding)"),
    responses(
        (status = 200, description = "stored", body = Ingested),
        (status = 400, description = "not a valid report (the message says where)", body = Error),
        (status = 401, description = "no valid agent token", body = Error),
        (status = 403, description = "a snapshot of another server than the token's", body = Error),
        (status = 409, description = "other values for a stored instant", body = Error),
        (status = 413, description = "the body, a batch or a snapshot is too large", body = Error),
        (status = 415, description = "not JSON, or an unknown Content-Encoding", body = Error),
        (status = 422, description = "a timestamp too far in the future or past", body = Error),
        (status = 429, description = "over the token's rate (Retry-After)", body = Error),
        (status = 503, description = "the store cannot take it now (Retry-After)", body = Error),
        (status = 507, description = "the store's disk is full", body = Error),
    ),
)]
pub(super) async fn ingest(
    State(state): State<AppState>,
    agent: Result<Agent, ApiError>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Ingested>, ApiError> {
    let started = std::time::Instant::now();
    let metrics = Arc::clone(&state.metrics);
    // The token is checked before a byte of the body is read or inflated.
    let result = match agent {
        Ok(Agent(server)) => receive(&state, &server, &headers, body).await,
        Err(error) => Err(error),
    };
    let (outcome, snapshots, samples) = match &result {
        Ok(receipt) => (Outcome::Accepted, receipt.snapshots, receipt.samples),
        Err(error) => (Outcome::of(error.status()), 0, 0),
    };
    metrics.ingest(outcome, started.elapsed(), snapshots, samples);
    result.map(|receipt| {
        Json(Ingested {
            stored: receipt.stored,
            duplicates: receipt.duplicates,
        })
    })
}

/// Reads a request's body and, once the ingest budget has room for it
/// inflated, hands it to the ingest pipeline; the room is held until the
/// pipeline has answered.
async fn receive(
    state: &AppState,
    server: &ServerId,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<crate::ingest::Receipt, ApiError> {
    let limit = state.max_body_bytes;
    let raw = crate::body::Raw::read(headers, body, limit).await?;
    let declared = raw.inflated_size(limit);
    let _held = state.ingest.admit(declared).await?;
    let body = raw.inflate(limit)?;
    // A gzip trailer that understated the size: the rest is taken too.
    let _rest = match body.len().checked_sub(declared) {
        Some(more) if more > 0 => Some(state.ingest.admit(more).await?),
        _ => None,
    };
    Ok(state.ingest.ingest(server, &body).await?)
}
