//! Requests whose proxy cut off the `/api/` prefix, served as if it were
//! there.
//!
//! The original system's nginx block, `location /api/ { proxy_pass
//! http://127.0.0.1:8001/; }`, ends `proxy_pass` in a slash, which makes
//! nginx replace `/api/` with `/`: `GET /api/servers` reaches the server as
//! `GET /servers`, an agent's `POST /api/metrics` as `POST /metrics`. So
//! that users who upgrade keep their proxy working, and their agents' data
//! with it, a request for a path that is none of the root's (`/`,
//! `/index.html`, `/assets/…`, `GET /metrics`) and does not start with
//! `/api/` is routed as `/api` + its path, before every check: the
//! host and origin guard, tokens, limits and timeouts apply to it as to
//! any API request. The first such request answered with anything but 404
//! logs a warning that names the fix (`proxy_pass http://127.0.0.1:8001;`,
//! without the slash), once per process.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::Request;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::Response;

/// Whether the warning was logged.
static WARNED: AtomicBool = AtomicBool::new(false);

/// Whether a request for `path` by `method` lacks the `/api` prefix.
pub fn stripped(method: &Method, path: &str) -> bool {
    let root = path == "/"
        || path == "/index.html"
        || path.starts_with("/assets/")
        || (path == "/metrics" && matches!(*method, Method::GET | Method::HEAD));
    !root && path != "/api" && !path.starts_with("/api/")
}

/// The middleware: puts `/api` back in front of a stripped path.
pub async fn restore_prefix(mut request: Request, next: Next) -> Response {
    if !stripped(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let original = request.uri().path().to_owned();
    let restored = match request.uri().path_and_query() {
        Some(pq) => format!("/api{}", pq.as_str()),
        None => "/api/".to_owned(),
    };
    let Ok(uri) = restored.parse::<Uri>() else {
        return next.run(request).await;
    };
    *request.uri_mut() = uri;
    let response = next.run(request).await;
    if response.status() != StatusCode::NOT_FOUND && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            path = %original,
            "A request for {original} came without its /api/ prefix and was served as /api{original}. \
             A proxy in front cuts the prefix off: in nginx, `proxy_pass http://127.0.0.1:8001/;` in \
             `location /api/` ends in a slash; write `proxy_pass http://127.0.0.1:8001;` (see \
             docs/deploy.md, \"Migrating from the original\"). Logged once."
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_that_are_none_of_the_roots_are_stripped() {
        for (method, path, expected) in [
            (Method::GET, "/servers", true),
            (Method::POST, "/metrics", true),
            (Method::POST, "/register", true),
            (Method::GET, "/metrics/history", true),
            (Method::GET, "/health", true),
            (Method::GET, "/metrics", false),
            (Method::HEAD, "/metrics", false),
            (Method::GET, "/", false),
            (Method::GET, "/index.html", false),
            (Method::GET, "/assets/index-3f2a.js", false),
            (Method::GET, "/api/servers", false),
            (Method::GET, "/api", false),
        ] {
            assert_eq!(stripped(&method, path), expected, "{method} {path}");
        }
    }
}
