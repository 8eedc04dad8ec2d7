//! The OpenAPI 3.1 document of the HTTP API, served at `/api/openapi.json`.
//!
//! Nothing here is written by hand but what the types cannot say: each
//! handler carries its `#[utoipa::path]` (method, path, who may call it,
//! its answers) beside its code, and every body's schema is derived from
//! the Rust type that serializes it (`monitor_core`'s model under its
//! `openapi` feature, the answers of this crate). The document is kept in
//! the repository as `docs/openapi.json`, which a test keeps current, and
//! the dashboard's TypeScript types are generated from that file
//! (`monitor-server/web/src/lib/api-types.ts`, `npm run types`).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, Type};
use utoipa::{Modify, OpenApi};

use super::{alerts, ingest, servers, status};

/// The API's description, from its handlers and types.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "monitor",
        description = "Self-hosted monitoring for Linux servers. Every error is a status with {\"error\": code, \"message\": text}.",
    ),
    paths(
        status::health,
        status::prometheus_metrics,
        status::access,
        status::stream,
        openapi_json,
        servers::register,
        servers::servers,
        servers::delete_server,
        servers::rotate_token,
        servers::series,
        servers::latest,
        servers::history,
        ingest::ingest,
        alerts::get_alerts,
        alerts::set_alerts,
        alerts::alert_rules,
        alerts::create_alert_rule,
        alerts::replace_alert_rule,
        alerts::delete_alert_rule,
        alerts::preview_alert_rule,
        alerts::alert_notifiers,
        alerts::list_silences,
        alerts::create_silence,
        alerts::delete_silence,
        alerts::firing_alerts,
        alerts::alert_events,
    ),
    modifiers(&Credentials),
    tags(
        (name = "status", description = "What the server says about itself."),
        (name = "servers", description = "Registration, tokens, and each server's series, newest values and history."),
        (name = "ingest", description = "What agents send (docs/wire-format.md)."),
        (name = "alerts", description = "Thresholds, rules, silences, firing alerts, events and notifiers."),
    ),
)]
pub struct ApiDoc;

/// The document, with this build's version.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "status",
    summary = "This document.",
    security(()),
    responses((status = 200, description = "OpenAPI 3.1", body = Object)),
)]
pub(super) async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(document())
}

/// The ways a client proves who it is (`docs/security.md`).
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let header = |name: &str, description: &str| {
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                name,
                description,
            )))
        };
        components.add_security_scheme(
            "agent",
            header(
                "X-Auth-Token",
                "A server's agent token: ingest for that server only.",
            ),
        );
        components.add_security_scheme(
            "dashboard",
            header(
                "X-Dashboard-Token",
                "The dashboard token (DASHBOARD_TOKEN: read, change alert settings) or the read-only token (MONITOR_READ_TOKEN: read). Without either configured, reads and alert settings are open (to this server's own pages and to clients without an Origin header).",
            ),
        );
        components.add_security_scheme(
            "admin",
            header("X-Admin-Token", "The admin token: everything."),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The read-only, dashboard or admin token as Authorization: Bearer (what Prometheus's authorization setting sends).",
                    ))
                    .build(),
            ),
        );
    }
}

/// A server's display name: at most 200 bytes of visible text.
pub(super) fn server_name() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(200))
        .pattern(Some(monitor_core::openapi::VISIBLE_TEXT_PATTERN))
}

/// A server's tags: at most 64, each 1 to 64 bytes of visible text.
pub(super) fn tags() -> utoipa::openapi::schema::ArrayBuilder {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(64))
                .pattern(Some(monitor_core::openapi::VISIBLE_TEXT_PATTERN)),
        )
        .max_items(Some(64))
}
