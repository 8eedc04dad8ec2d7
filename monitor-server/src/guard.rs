//! The checks a request passes before any handler, against web pages that
//! use the operator's browser to reach the server (cross-site requests) and
//! DNS rebinding (a name of the attacker's that resolves to this server):
//!
//! - **Host**: the name the request was sent to must be one of this
//!   server's: an IP address, `localhost` (and `*.localhost`), a name of its
//!   TLS certificate or of `tls.names`, or one listed in `allowed_hosts`
//!   (`MONITOR_ALLOWED_HOSTS`; `*` allows any, `.example.com` a domain and
//!   its subdomains). Else 403 `host_not_allowed`: a page of
//!   `evil.example` rebound to `127.0.0.1` gets nothing, not even the
//!   open reads of the quickstart. (DNS rebinding needs a name: a request
//!   to an IP address comes from a page the server itself served.)
//! - **Writes** (every method but GET, HEAD and OPTIONS): a body must be
//!   `Content-Type: application/json` (415 `unsupported_media_type`): a web
//!   page can send `text/plain` to any site without asking, but JSON only
//!   after a CORS preflight, which this server never grants. And an
//!   `Origin` header, which browsers add to every write, must be this
//!   server's own (the same host and port as the request's `Host`, a name
//!   of `allowed_hosts`, or loopback to loopback): else 403
//!   `cross_origin`.
//!
//! - **Tokens in the address**: a query parameter named like a token
//!   (`token`, `access_token`, `api_key`, the token headers' names) on the
//!   API or `/metrics` is 400 `token_in_url_forbidden`: addresses end up in
//!   proxies' access logs and browser histories. The dashboard's page keeps
//!   its `/?token=`, which the page itself reads and removes.
//!
//! Agents, `curl` and scripts send no `Origin` and already send JSON; the
//! original's commands keep working. API answers also get
//! `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The names this server answers to.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    any: bool,
    names: HashSet<String>,
    /// Domains whose subdomains are allowed (`.example.com`, or `*.example.com`
    /// of a wildcard certificate), kept as `.example.com`.
    domains: Vec<String>,
    /// Names an operator listed (`allowed_hosts`): a page served under one
    /// of them may write, whatever `Host` its proxy forwards.
    listed: HashSet<String>,
}

impl HostPolicy {
    /// A policy allowing IP addresses, `localhost`, and `names` (an entry
    /// `*` allows any host; `.example.com` or `*.example.com` a domain and
    /// its subdomains). `listed` are the operator's own entries, which
    /// also count as origins pages may write from.
    pub fn new(
        names: impl IntoIterator<Item = String>,
        listed: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut policy = HostPolicy::default();
        let listed: Vec<String> = listed.into_iter().collect();
        for name in names.into_iter().chain(listed.iter().cloned()) {
            let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
            if name == "*" {
                policy.any = true;
            } else if let Some(domain) = name.strip_prefix('*') {
                policy.domains.push(domain.to_owned());
            } else if name.starts_with('.') {
                policy.domains.push(name);
            } else if !name.is_empty() {
                policy.names.insert(name);
            }
        }
        policy.listed = listed
            .iter()
            .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
            .collect();
        policy
    }

    /// A policy that allows any host (embedding, tests).
    pub fn any() -> Self {
        HostPolicy {
            any: true,
            ..HostPolicy::default()
        }
    }

    /// Whether `host` (a `Host` header's name, without its port) is one of
    /// this server's.
    pub fn allows(&self, host: &str) -> bool {
        if self.any || host.parse::<IpAddr>().is_ok() {
            return true;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        host == "localhost"
            || host.ends_with(".localhost")
            || self.names.contains(&host)
            || self
                .domains
                .iter()
                .any(|d| host.ends_with(d.as_str()) || host == d[1..])
    }
}

/// The host of an authority (`name:port`, `[v6]:port`), lowercased, and
/// its port if given.
fn split_authority(authority: &str) -> (String, Option<&str>) {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (
            host.to_ascii_lowercase(),
            after.strip_prefix(':').filter(|p| !p.is_empty()),
        );
    }
    match authority.rsplit_once(':') {
        // More than one colon without brackets: an IPv6 address alone.
        Some((host, _)) if host.contains(':') => (authority.to_ascii_lowercase(), None),
        Some((host, port)) => (
            host.to_ascii_lowercase(),
            Some(port).filter(|p| !p.is_empty()),
        ),
        None => (authority.to_ascii_lowercase(), None),
    }
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The name the request was sent to: the URI's authority (absolute form)
/// or the `Host` header.
fn request_authority(request: &Request) -> Option<String> {
    if let Some(authority) = request.uri().authority() {
        return Some(authority.as_str().to_owned());
    }
    request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Whether a write's `Origin` is this server's own.
fn same_origin(origin: &str, authority: Option<&str>, policy: &HostPolicy) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    let (origin_host, origin_port) = split_authority(rest.trim_end_matches('/'));
    let origin_port = origin_port.unwrap_or(default_port);
    if let Some(authority) = authority {
        let (host, port) = split_authority(authority);
        if host == origin_host && port.unwrap_or(default_port) == origin_port {
            return true;
        }
        if is_loopback_name(&host) && is_loopback_name(&origin_host) {
            return true;
        }
    }
    policy.listed.contains(&origin_host)
}

/// Whether a request carries a body: a length above zero, chunked, or a
/// body not known to be empty.
fn has_body(request: &Request) -> bool {
    let headers = request.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) => n > 0,
        None => http_body::Body::size_hint(request.body()).exact() != Some(0),
    }
}

/// Whether the body is declared JSON (`application/json`, with parameters
/// or not, or a `+json` type).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .is_some_and(|t| {
            t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
        })
}

/// Query parameters that carry a token when someone puts one in an address.
const TOKEN_PARAMETERS: &[&str] = &[
    "token",
    "access_token",
    "auth_token",
    "api_key",
    "apikey",
    "x-auth-token",
    "x-dashboard-token",
    "x-admin-token",
];

/// The first query parameter of `query` named like a token.
fn token_parameter(query: &str) -> Option<&str> {
    query
        .split('&')
        .map(|pair| pair.split('=').next().unwrap_or(""))
        .find(|name| {
            TOKEN_PARAMETERS
                .iter()
                .any(|t| name.eq_ignore_ascii_case(t))
        })
}

/// Whether `path` is the API's (or `/metrics`).
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics"
}

/// Middleware: the Host, Origin, Content-Type and token-in-address checks
/// (see the module).
pub async fn guard(
    State(policy): State<Arc<HostPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let authority = request_authority(&request);
    if let Some(authority) = &authority {
        let (host, _) = split_authority(authority);
        if !policy.allows(&host) {
            tracing::debug!(%host, "A request for another host name was refused.");
            return ApiError::forbidden(
                "host_not_allowed",
                format!(
                    "this server does not answer to the name {host:?}; if it is one of its names, add it to allowed_hosts (MONITOR_ALLOWED_HOSTS, --allowed-host). Requests under other names are refused against DNS rebinding"
                ),
            )
            .into_response();
        }
    }
    let api = is_api(request.uri().path());
    if api && let Some(name) = request.uri().query().and_then(token_parameter) {
        // Said without the value, which is not logged either.
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "token_in_url_forbidden",
            format!(
                "the query parameter {name:?} carries a token: send tokens in a header (X-Auth-Token, X-Dashboard-Token, X-Admin-Token or Authorization: Bearer), never in the address, which proxies, logs and browser histories keep; a token that was sent this way should be rotated"
            ),
        )
        .into_response();
    }
    let method = request.method();
    if !(method == Method::GET || method == Method::HEAD || method == Method::OPTIONS) {
        let with_body = has_body(&request);
        let headers = request.headers();
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !same_origin(origin, authority.as_deref(), &policy) {
                return ApiError::forbidden(
                    "cross_origin",
                    format!(
                        "a write from the web page at {origin:?} is refused: only this server's own pages may write (list the page's host name in allowed_hosts if it is this server's)"
                    ),
                )
                .into_response();
            }
        }
        if with_body && !is_json(headers) {
            return ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with the header Content-Type: application/json",
            )
            .into_response();
        }
    }
    let mut response = next.run(request).await;
    if api {
        // Answers that carry metrics and settings are kept by no cache and
        // read as nothing but what they say they are.
        let headers = response.headers_mut();
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(axum::http::HeaderValue::from_static("no-store"));
        headers
            .entry(header::X_CONTENT_TYPE_OPTIONS)
            .or_insert(axum::http::HeaderValue::from_static("nosniff"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_this_server_and_no_others() {
        let p = HostPolicy::new(
            ["monitor.example".to_owned(), "*.fleet.example".to_owned()],
            [".corp.example".to_owned()],
        );
        for ok in [
            "127.0.0.1",
            "10.0.0.5",
            "::1",
            "localhost",
            "app.localhost",
            "monitor.example",
            "MONITOR.EXAMPLE.",
            "a.fleet.example",
            "corp.example",
            "x.y.corp.example",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example",
            "monitor.example.evil",
            "fleet.example.evil",
            "rebind.127.0.0.1.nip.io",
        ] {
            assert!(!p.allows(refused), "{refused}");
        }
        assert!(HostPolicy::new(["*".to_owned()], []).allows("anything.example"));
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(
            split_authority("Example.com:8443"),
            ("example.com".into(), Some("8443"))
        );
        assert_eq!(split_authority("[::1]:8001"), ("::1".into(), Some("8001")));
        assert_eq!(split_authority("[::1]"), ("::1".into(), None));
        assert_eq!(split_authority("::1"), ("::1".into(), None));
        assert_eq!(split_authority("host"), ("host".into(), None));
    }

    #[test]
    fn origins_of_this_server_only() {
        let p = HostPolicy::new([], ["monitor.example".to_owned()]);
        let same = |o: &str, a: &str| same_origin(o, Some(a), &p);
        assert!(same("http://127.0.0.1:8001", "127.0.0.1:8001"));
        assert!(same("https://m.internal", "m.internal"));
        assert!(same("https://m.internal", "m.internal:443"));
        assert!(same("https://m.internal:8443", "m.internal:8443"));
        // A page of the dev server on another loopback port.
        assert!(same("http://localhost:5173", "127.0.0.1:8001"));
        // nginx forwarding its upstream's address as Host.
        assert!(same("https://monitor.example", "127.0.0.1:8001"));
        assert!(!same("https://evil.example", "127.0.0.1:8001"));
        assert!(!same("http://m.internal:8443", "m.internal:8444"));
        assert!(!same("null", "127.0.0.1:8001"));
        assert!(!same("file://", "127.0.0.1:8001"));
        assert!(!same("http://evil.example:8001", "127.0.0.1:8001"));
    }
}
