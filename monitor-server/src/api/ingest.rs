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
use crate::metrics::Outcome;

#[derive(Serialize)]
pub(super) struct Ingested {
    stored: usize,
    duplicates: usize,
}

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
