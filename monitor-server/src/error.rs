//! API errors: a status and `{"error": code, "message": text}`; internal
//! causes are logged once and never sent to clients.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use monitor_core::StoreError;
use serde::Serialize;

impl From<crate::ingest::IngestError> for ApiError {
    fn from(error: crate::ingest::IngestError) -> Self {
        use crate::ingest::IngestError as E;
        use monitor_core::wire::WireError;
        let message = error.to_string();
        match error {
            E::Wire(WireError::Json(_)) => ApiError::bad_request("invalid_json", message),
            E::Wire(WireError::TooMany { .. }) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_many_items", message)
            }
            E::Wire(WireError::Invalid { .. }) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_snapshot",
                message,
            ),
            E::Overloaded => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
                .with_retry_after(crate::admission::WAIT),
            E::RateLimited { wait, .. } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                    .with_retry_after(wait)
            }
            E::IdentityMismatch { .. } => ApiError::forbidden("identity_mismatch", message),
            E::OutOfRange { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "timestamp_out_of_range",
                message,
            ),
            E::Conflicts { .. } => ApiError::new(StatusCode::CONFLICT, "timestamp_taken", message),
            E::Store(error) => ApiError::from(error),
        }
    }
}

/// An error answered to an API client.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<std::time::Duration>,
}

/// The body of every error answer (`Error` in the OpenAPI document).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    /// A machine-readable code (`invalid_server_id`, `unauthorized`, …).
    error: &'a str,
    /// A sentence that says what is wrong.
    message: &'a str,
}

impl ApiError {
    /// An error with a status, a machine-readable code and a sentence.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` header (whole seconds, at least one).
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// 400 with the given code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: the one answer for a missing, unknown or revoked token.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid token",
        )
    }

    /// 403 with the given code.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StoreError::Conflict(what) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            StoreError::InvalidInput(message) => ApiError::bad_request("invalid_input", message),
            StoreError::TooManySeries { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "too_many_series",
                format!(
                    "{error}; nothing of this request was stored. Labels whose values change at every report (ids, times) make a new series each time: leave them out, or raise limits.max_series_per_server"
                ),
            ),
            StoreError::Full(_) => {
                tracing::error!(%error, "Storage is full; ingest is refused until space is freed.");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage_full",
                    "the server's storage is full; retry later",
                )
            }
            e if e.is_retryable() => {
                tracing::warn!(error = %e, "Storage unavailable.");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "storage is busy or unavailable; retry later",
                )
            }
            e => {
                tracing::error!(error = %e, "Storage failed.");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server's log",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody {
            error: self.code,
            message: &self.message,
        });
        let mut response = (self.status, body).into_response();
        let retry_after = match self.retry_after {
            Some(wait) => Some(wait.as_secs_f64().ceil().max(1.0) as u64),
            None if self.status == StatusCode::SERVICE_UNAVAILABLE => Some(5),
            None => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from(secs));
        }
        response
    }
}

/// Middleware: every error answer is JSON, including the ones axum and its
/// layers make themselves (no such route, wrong method, a body over the
/// limit, an unreadable query string, an unsupported content encoding).
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (code, fallback) = match status {
        StatusCode::NOT_FOUND => ("no_such_route", "no such path; see /api/openapi.json"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "this path does not take that method")
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("body_too_large", "the body is over limits.max_body_bytes")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "send JSON, plain or gzip-encoded")
        }
        s if s.is_server_error() => ("internal", "internal error; see the server's log"),
        _ => ("bad_request", "the request cannot be read"),
    };
    let message = if text.is_empty() {
        fallback.to_owned()
    } else {
        format!("{fallback}: {text}")
    };
    let mut json = ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}
