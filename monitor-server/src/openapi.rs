//! The OpenAPI 3.1 document of the HTTP API, served at `/api/openapi.json`.

use serde_json::{Value, json};

fn error_responses(codes: &[&str]) -> Value {
    let mut map = serde_json::Map::new();
    for code in codes {
        map.insert(
            (*code).to_owned(),
            json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    Value::Object(map)
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// A server id: what `ServerId::new` accepts.
const SERVER_ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// A metric name (Prometheus's rule).
const METRIC_PATTERN: &str = "^[a-zA-Z_:][a-zA-Z0-9_:]{0,127}$";

/// A label name (Prometheus's rule).
const LABEL_PATTERN: &str = "^[a-zA-Z_][a-zA-Z0-9_]{0,127}$";

/// Text without control or invisible formatting characters.
const VISIBLE_TEXT_PATTERN: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff]*$";

/// The document.
pub fn document() -> Value {
    let ok = |description: &str, schema: Value| json!({"200": {"description": description, "content": {"application/json": {"schema": schema}}}});
    let read_security = json!([{}, {"dashboard": []}, {"admin": []}, {"bearer": []}]);
    // The same headers; a read-only token is refused (403 insufficient_scope).
    let edit_security = read_security.clone();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "monitor",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Self-hosted monitoring for Linux servers. Every error is a status with {\"error\": code, \"message\": text}."
        },
        "components": {
            "securitySchemes": {
                "agent": {"type": "apiKey", "in": "header", "name": "X-Auth-Token", "description": "A server's agent token: ingest for that server only."},
                "dashboard": {"type": "apiKey", "in": "header", "name": "X-Dashboard-Token", "description": "The dashboard token (DASHBOARD_TOKEN: read, change alert settings) or the read-only token (MONITOR_READ_TOKEN: read). Without either configured, reads and alert settings are open (to this server's own pages and to clients without an Origin header)."},
                "admin": {"type": "apiKey", "in": "header", "name": "X-Admin-Token", "description": "The admin token: everything."},
                "bearer": {"type": "http", "scheme": "bearer", "description": "The read-only, dashboard or admin token as Authorization: Bearer (what Prometheus's authorization setting sends)."}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
                "Thresholds": {"type": "object", "additionalProperties": false,
                    "required": ["cpu_total_percent", "memory_used_percent", "disk_used_percent"],
                    "properties": {
                        "cpu_total_percent": {"type": "number", "minimum": 0, "maximum": 100},
                        "memory_used_percent": {"type": "number", "minimum": 0, "maximum": 100},
                        "disk_used_percent": {"type": "number", "minimum": 0, "maximum": 100}}},
                "Snapshot": {"type": "object", "description": "See docs/wire-format.md.",
                    "required": ["version", "server_id", "timestamp"],
                    "properties": {"version": {"const": 1}, "server_id": {"type": "string"},
                        "timestamp": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]},
                        "interval_secs": {"type": "number"}, "host": {"type": "object"}, "containers": {"type": "array"},
                        "metrics": {"type": "array", "items": {"type": "object", "required": ["name", "samples"],
                            "properties": {"name": {"type": "string"}, "kind": {"enum": ["gauge", "counter"]}, "unit": {"type": "string"},
                                "help": {"type": "string"}, "samples": {"type": "array", "items": {"type": "object", "required": ["value"],
                                    "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}, "value": {"type": "number"}}}}}}}}},
                "Registered": {"type": "object", "properties": {"server_id": {"type": "string"}, "token": {"type": "string"}}},
                "ServerId": {"type": "string", "pattern": SERVER_ID_PATTERN, "description": "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."},
                "AlertRule": {"type": "object", "required": ["name", "metric", "op", "threshold"],
                    "properties": {
                        "id": {"type": "string"}, "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": VISIBLE_TEXT_PATTERN},
                        "metric": {"type": "string", "pattern": METRIC_PATTERN},
                        "matchers": {"type": "array", "maxItems": 16, "items": {"$ref": "#/components/schemas/LabelMatcher"}},
                        "function": {"type": "object"},
                        "op": {"enum": [">", ">=", "<", "<="]}, "threshold": {"type": "number"},
                        "resolve_threshold": {"type": ["number", "null"]}, "for_secs": {"type": "integer", "minimum": 0, "maximum": 604_800},
                        "severity": {"enum": ["info", "warning", "critical"]}, "scope": {"type": "object"},
                        "enabled": {"type": "boolean"}, "overrides": {"type": "object"}}},
                "LabelMatcher": {"type": "object", "required": ["name", "op", "value"],
                    "properties": {"name": {"type": "string", "pattern": LABEL_PATTERN}, "op": {"enum": ["=", "!="]}, "value": {"type": "string", "maxLength": 255, "pattern": VISIBLE_TEXT_PATTERN}}},
                "Silence": {"type": "object", "required": ["until"],
                    "properties": {"id": {"type": "string"}, "rule_id": {"type": "string"}, "server_id": {"$ref": "#/components/schemas/ServerId"},
                        "until": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]},
                        "comment": {"type": "string", "maxLength": 1000}}},
                "SeriesInfo": {"type": "object", "required": ["metric", "labels", "kind", "unit"],
                    "properties": {"metric": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "kind": {"enum": ["gauge", "counter"]}, "unit": {"type": "string"},
                        "last_value": {"type": ["number", "null"]}, "last_seen": {"type": ["string", "null"], "format": "date-time"}}}
            }
        },
        "paths": {
            "/api/health": {"get": {"summary": "Health: status, version, database reachable.", "security": [{}],
                "responses": merge(ok("healthy", json!({"type": "object"})), error_responses(&["503"]))}},
            "/metrics": {"get": {"summary": "Prometheus text exposition: every reporting host's newest values (label server_id), monitor_host_up, and the server's own health (docs/exporters.md).", "security": read_security,
                "responses": merge(json!({"200": {"description": "metrics", "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}}}), error_responses(&["401"]))}},
            "/api/register": {"post": {"summary": "Registers a server; answers its agent token once.", "security": [{"admin": []}],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "additionalProperties": false,
                    "properties": {"server_id": {"$ref": "#/components/schemas/ServerId"},
                        "name": {"type": "string", "maxLength": 200, "pattern": VISIBLE_TEXT_PATTERN},
                        "tags": {"type": "array", "maxItems": 64, "items": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": VISIBLE_TEXT_PATTERN}}}}}}},
                "responses": merge(json!({"201": {"description": "registered", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Registered"}}}}}),
                    error_responses(&["400", "401", "409"]))}},
            "/api/metrics": {"post": {"summary": "Ingests one snapshot or a batch {\"version\":1,\"snapshots\":[...]}; idempotent.", "security": [{"agent": []}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Snapshot"}}}},
                "responses": merge(ok("stored", json!({"type": "object", "properties": {"stored": {"type": "integer"}, "duplicates": {"type": "integer"}}})),
                    error_responses(&["400", "401", "403", "409", "413", "415", "422", "429", "503", "507"]))}},
            "/api/servers": {"get": {"summary": "Every server with online status, last seen and key values.", "security": read_security,
                "responses": merge(ok("servers", json!({"type": "array", "items": {"type": "object"}})), error_responses(&["401"]))}},
            "/api/servers/{id}": {"delete": {"summary": "Deletes a server and its data.", "security": [{"admin": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"$ref": "#/components/schemas/ServerId"}}],
                "responses": merge(json!({"204": {"description": "deleted"}}), error_responses(&["400", "401", "404"]))}},
            "/api/servers/{id}/token": {"post": {"summary": "Rotates a server's token; the old one stops working.", "security": [{"admin": []}],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"$ref": "#/components/schemas/ServerId"}}],
                "responses": merge(ok("new token", json!({"$ref": "#/components/schemas/Registered"})), error_responses(&["400", "401", "404"]))}},
            "/api/servers/{id}/series": {"get": {"summary": "Every series the server has reported (metric, labels, kind, unit) with its newest value.", "security": read_security,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"$ref": "#/components/schemas/ServerId"}}],
                "responses": merge(ok("series", json!({"type": "array", "items": {"$ref": "#/components/schemas/SeriesInfo"}})), error_responses(&["400", "401", "404"]))}},
            "/api/servers/{id}/latest": {"get": {"summary": "The server's newest snapshot, whole (404 no_snapshot_yet before its first report).", "security": read_security,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"$ref": "#/components/schemas/ServerId"}}],
                "responses": merge(ok("snapshot", json!({"$ref": "#/components/schemas/Snapshot"})), error_responses(&["400", "401", "404"]))}},
            "/api/metrics/history": {"get": {"summary": "Downsampled history (avg, min, max, last, count per bucket; gaps stay gaps).", "security": read_security,
                "parameters": [
                    {"name": "server_id", "in": "query", "required": true, "schema": {"$ref": "#/components/schemas/ServerId"}},
                    {"name": "metric", "in": "query", "schema": {"type": "string"}, "description": "Default: cpu_usage_percent, memory_used_percent, filesystem_used_percent."},
                    {"name": "match", "in": "query", "schema": {"type": "string"}, "description": "Label matchers, comma separated: cpu=\"3\", mountpoint!=\"/boot\"."},
                    {"name": "from", "in": "query", "schema": {"type": "string"}, "description": "RFC 3339 or Unix seconds; default: an hour before `to`."},
                    {"name": "to", "in": "query", "schema": {"type": "string"}, "description": "RFC 3339 or Unix seconds; default: now."},
                    {"name": "step", "in": "query", "schema": {"type": "number", "minimum": 1}, "description": "Bucket width in seconds."},
                    {"name": "points", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100000}, "description": "At most this many buckets when step is absent (default 1000)."}
                ],
                "responses": merge(ok("history", json!({"type": "object"})), error_responses(&["400", "401", "404"]))}},
            "/api/alerts": {
                "get": {"summary": "The global thresholds.", "security": read_security,
                    "responses": merge(ok("thresholds", json!({"$ref": "#/components/schemas/Thresholds"})), error_responses(&["401"]))},
                "post": {"summary": "Sets the global thresholds (the original's body).", "security": edit_security,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thresholds"}}}},
                    "responses": merge(ok("thresholds", json!({"$ref": "#/components/schemas/Thresholds"})), error_responses(&["400", "401", "403", "415", "422"]))}},
            "/api/alerts/rules": {
                "get": {"summary": "The rules in force: the three thresholds (ids cpu_total_percent, memory_used_percent, disk_used_percent), the built-in host_offline rule (missed reporting intervals > 3) and the stored rules.", "security": read_security,
                    "responses": merge(ok("rules", json!({"type": "array", "items": {"type": "object"}})), error_responses(&["401"]))},
                "post": {"summary": "Adds a rule: name, metric, matchers, op (> >= < <=), threshold, resolve_threshold (hysteresis), function ({kind: value | increase | seconds_until, window_secs, target}), for_secs, severity, scope ({kind: all | servers | tag}), enabled, overrides (per server: threshold, resolve_threshold, enabled).", "security": edit_security,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AlertRule"}}}},
                    "responses": merge(json!({"201": {"description": "the rule with its id", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AlertRule"}}}}}), error_responses(&["400", "401", "403", "409", "415", "422"]))}},
            "/api/alerts/rules/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "put": {"summary": "Replaces a rule; a built-in id stores a rule that takes the built-in's place.", "security": edit_security,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AlertRule"}}}},
                    "responses": merge(ok("the rule", json!({"$ref": "#/components/schemas/AlertRule"})), error_responses(&["400", "401", "403", "404", "415", "422"]))},
                "delete": {"summary": "Deletes a stored rule and forgets its alerts.", "security": edit_security,
                    "responses": merge(json!({"204": {"description": "deleted"}}), error_responses(&["401", "403", "404"]))}},
            "/api/alerts/preview": {"post": {"summary": "What a rule (the body, as for POST /api/alerts/rules; id and name may be left out) would have done on the stored history of each server in its scope, every alert inactive at `from`: per server the resolution read (raw, or rollups whose largest value a > rule sees and smallest a < rule sees), the reports evaluated, how often it fired, what still fires at `to`, and the transitions oldest first (at most 1000). Stores nothing; a host_offline rule is 422 not_previewable.", "security": edit_security,
                "parameters": [
                    {"name": "from", "in": "query", "description": "RFC 3339 or Unix seconds (24 h before `to`)", "schema": {"type": "string"}},
                    {"name": "to", "in": "query", "description": "RFC 3339 or Unix seconds (now); at most 31 days after `from`", "schema": {"type": "string"}},
                    {"name": "server_id", "in": "query", "description": "only this server", "schema": {"$ref": "#/components/schemas/ServerId"}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"allOf": [{"$ref": "#/components/schemas/AlertRule"}], "required": ["metric", "op", "threshold"]}}}},
                "responses": merge(ok("per server, what the rule would have done", json!({"type": "object"})), error_responses(&["400", "401", "403", "404", "415", "422"]))}},
            "/api/access": {"get": {"summary": "What the caller may do: role (open, read, dashboard, admin), change_alerts, admin.", "security": read_security,
                "responses": merge(ok("access", json!({"type": "object", "properties": {"role": {"enum": ["open", "read", "dashboard", "admin"]}, "change_alerts": {"type": "boolean"}, "admin": {"type": "boolean"}}})), error_responses(&["401"]))}},
            "/api/alerts/notifiers": {"get": {"summary": "Per notifier: notifications delivered and given up on since the start, those waiting in the outbox and the oldest's time, and the last failed attempt's error.", "security": read_security,
                "responses": merge(ok("delivery status", json!({"type": "array", "items": {"type": "object",
                    "required": ["notifier", "delivered", "failed", "queued"],
                    "properties": {"notifier": {"type": "string"}, "delivered": {"type": "integer", "minimum": 0},
                        "failed": {"type": "integer", "minimum": 0}, "queued": {"type": "integer", "minimum": 0},
                        "oldest_queued": {"type": "string", "format": "date-time"},
                        "last_error": {"type": "string"}, "last_error_at": {"type": "string", "format": "date-time"}}}})), error_responses(&["401"]))}},
            "/api/alerts/silences": {
                "get": {"summary": "The silences not yet over.", "security": read_security,
                    "responses": merge(ok("silences", json!({"type": "array", "items": {"type": "object"}})), error_responses(&["401"]))},
                "post": {"summary": "No notifications for a rule, a server, or both, until a time: {rule_id, server_id, until (RFC 3339 or Unix seconds), comment}; alerts are still evaluated and recorded, and a still-firing alert is notified when the silence ends.", "security": edit_security,
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Silence"}}}},
                    "responses": merge(json!({"201": {"description": "the silence with its id", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Silence"}}}}}), error_responses(&["400", "401", "403", "415", "422"]))}},
            "/api/alerts/silences/{id}": {"delete": {"summary": "Ends a silence now.", "security": edit_security,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": merge(json!({"204": {"description": "ended"}}), error_responses(&["401", "403", "404", "415"]))}},
            "/api/alerts/firing": {"get": {"summary": "Every alert firing now: rule, server, series labels, since when, last value.", "security": read_security,
                "responses": merge(ok("firing alerts", json!({"type": "array", "items": {"type": "object"}})), error_responses(&["401"]))}},
            "/api/alerts/events": {"get": {"summary": "Alert transitions (pending, firing, resolved, inactive) with their values, newest first.", "security": read_security,
                "parameters": [
                    {"name": "server_id", "in": "query", "schema": {"$ref": "#/components/schemas/ServerId"}},
                    {"name": "rule_id", "in": "query", "schema": {"type": "string"}},
                    {"name": "since", "in": "query", "description": "RFC 3339 or Unix seconds", "schema": {"type": "string"}},
                    {"name": "before", "in": "query", "description": "the next page: the events after the one of this id (the last of the page before)", "schema": {"type": "integer"}},
                    {"name": "limit", "in": "query", "description": "at most this many (100; up to 10000)", "schema": {"type": "integer"}}
                ],
                "responses": merge(ok("events", json!({"type": "array", "items": {"type": "object"}})), error_responses(&["400", "401"]))}},
            "/api/stream": {"get": {"summary": "Server-Sent Events: every accepted snapshot (event `snapshot`, JSON data, increasing id) and every alert transition (event `alert`); send Last-Event-ID to get what was missed, from a buffer of the last 1024 events (kept while a client is connected or left less than a minute ago).", "security": read_security,
                "responses": merge(json!({"200": {"description": "an event stream", "content": {"text/event-stream": {}}}}), error_responses(&["400", "401"]))}},
            "/api/openapi.json": {"get": {"summary": "This document.", "security": [{}], "responses": ok("OpenAPI 3.1", json!({"type": "object"}))}}
        }
    })
}
