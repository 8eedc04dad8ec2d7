//! The web dashboard, embedded in the binary (built from `web/` by
//! `build.rs`) and served at `/`.
//!
//! - `index.html` with `Cache-Control: no-cache` and an `ETag` (a reload
//!   revalidates it: 304 when unchanged); the hashed files under `assets/`
//!   with `Cache-Control: public, max-age=31536000, immutable`.
//! - A gzip copy (made at build time) when the client accepts gzip.
//! - A strict Content-Security-Policy on every page: scripts, styles and
//!   connections from this origin only, no inline script or style, no
//!   framing; with `X-Content-Type-Options: nosniff` and
//!   `Referrer-Policy: no-referrer`.
//!
//! The page routes in the address's hash (`#/server/web-1`), so no other
//! path serves it. Built without the `dashboard` feature, `/` answers a
//! short text saying how to get one.

use axum::Router;
use axum::extract::Path;
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, REFERRER_POLICY, VARY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
#[derive(Debug)]
pub(crate) struct Asset {
    /// Its path under the dashboard's root (`index.html`, `assets/index-3f2a.js`).
    pub(crate) path: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) body: &'static [u8],
    /// The gzip copy, when smaller.
    pub(crate) gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The policy every page of the dashboard is served with.
pub const CONTENT_SECURITY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; font-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Whether this binary carries the dashboard.
pub fn embedded() -> bool {
    !ASSETS.is_empty()
}

/// The routes: `/`, `/index.html` and `/assets/*`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { serve("index.html", &headers) }),
        )
        .route(
            "/index.html",
            get(|headers: HeaderMap| async move { serve("index.html", &headers) }),
        )
        .route(
            "/assets/{*file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                serve(&format!("assets/{file}"), &headers)
            }),
        )
}

/// A weak validator from the file's bytes (FNV-1a: stable across builds of
/// the same file, which is all a revalidation needs).
fn etag(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in body {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        if path == "index.html" {
            return (
                StatusCode::OK,
                [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                "This monitor-server was built without the dashboard (feature `dashboard`).\n\
                 The API is at /api (see /api/openapi.json).\n",
            )
                .into_response();
        }
        return crate::error::ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_file",
            format!("/{path} is not a file of the dashboard"),
        )
        .into_response();
    };
    let hashed = path.starts_with("assets/");
    let tag = etag(asset.body);
    let mut response = if !hashed
        && headers
            .get(IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == tag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let gzip = asset.gzip.filter(|_| {
            headers
                .get(ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.split(',').any(|e| {
                        let mut parts = e.split(';');
                        let name = parts.next().unwrap_or("").trim();
                        let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
                        (name == "gzip" || name == "*") && !refused
                    })
                })
        });
        let mut response = match gzip {
            Some(gz) => {
                let mut r = gz.into_response();
                r.headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            None => asset.body.into_response(),
        };
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        response
    };
    let h = response.headers_mut();
    if asset.gzip.is_some() {
        h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(if hashed {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    if let Ok(tag) = HeaderValue::from_str(&tag) {
        h.insert(ETAG, tag);
    }
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
