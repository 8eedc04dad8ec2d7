//! Who a request comes from and what it may do.
//!
//! Every handler takes one of the extractors below before anything else:
//! axum runs the extractors of a request's head first, so a request
//! without a valid credential is answered (401, or 429) before its body is
//! read or inflated.
//!
//! | role | credential | may |
//! | --- | --- | --- |
//! | admin | `X-Admin-Token` or `Authorization: Bearer` with the admin token | everything |
//! | dashboard | `X-Dashboard-Token` or `Authorization: Bearer` with `DASHBOARD_TOKEN` | read; change alert thresholds, rules and silences; preview rules |
//! | read | `X-Dashboard-Token` or `Authorization: Bearer` with the read token (`MONITOR_READ_TOKEN`) | read (wallboards, Prometheus, Grafana): no change of anything |
//! | open | none, on a server with neither a dashboard nor a read token | what the dashboard token may (the original's open mode; [`crate::guard`] keeps other web pages and DNS rebinding out) |
//! | agent | `X-Auth-Token` | `POST /api/metrics` for its own server |
//!
//! Wrong tokens are counted per client address
//! (`limits.failed_auth_per_minute`). The count is taken *before* the check
//! ([`RateLimiter::reserve`]) and given back when the credential is good,
//! so a burst of concurrent guesses gets no more checks than the limit
//! allows, and an address over it gets 429 without any check.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use monitor_core::{ServerId, TokenHash};

use crate::api::{ADMIN_HEADER, AUTH_HEADER, AppState, DASHBOARD_HEADER};
use crate::auth::{self, MIN_SECRET_LEN, Token};
use crate::error::ApiError;
use crate::limit::{RateLimiter, Reservation, address_key, client_ip};

/// The configured tokens, as hashes.
#[derive(Debug, Clone)]
pub struct Tokens {
    admin: TokenHash,
    dashboard: Option<TokenHash>,
    read: Option<TokenHash>,
}

impl Tokens {
    /// The admin token, and the optional dashboard and read tokens.
    pub fn new(admin: &Token, dashboard: Option<&Token>, read: Option<&Token>) -> Self {
        Tokens {
            admin: admin.hash(),
            dashboard: dashboard.map(Token::hash),
            read: read.map(Token::hash),
        }
    }

    /// Adds (or replaces) the read token.
    pub fn with_read(mut self, read: &Token) -> Self {
        self.read = Some(read.hash());
        self
    }

    /// True when reads need no token: neither a dashboard nor a read token
    /// is configured (the original's default).
    pub fn is_open(&self) -> bool {
        self.dashboard.is_none() && self.read.is_none()
    }

    /// The role of a presented secret, if it is one of the tokens.
    fn role_of(&self, secret: &[u8]) -> Option<Role> {
        // Every comparison is made, in constant time each.
        let admin = auth::matches(secret, &self.admin);
        let dashboard = self
            .dashboard
            .as_ref()
            .is_some_and(|h| auth::matches(secret, h));
        let read = self.read.as_ref().is_some_and(|h| auth::matches(secret, h));
        if admin {
            Some(Role::Admin)
        } else if dashboard {
            Some(Role::Dashboard)
        } else if read {
            Some(Role::Read)
        } else {
            None
        }
    }
}

/// What a caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = AccessRole)]
pub enum Role {
    /// No token, on a server whose reads are open.
    Open,
    /// The read-only token.
    Read,
    /// The dashboard token.
    Dashboard,
    /// The admin token.
    Admin,
}

impl Role {
    /// Whether this role may do what `need` names.
    pub fn allows(self, need: Need) -> bool {
        match need {
            Need::Read => true,
            Need::ChangeAlerts => matches!(self, Role::Open | Role::Dashboard | Role::Admin),
            Need::Admin => self == Role::Admin,
        }
    }

    /// The role's name in answers (`GET /api/access`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Open => "open",
            Role::Read => "read",
            Role::Dashboard => "dashboard",
            Role::Admin => "admin",
        }
    }
}

/// What a handler needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read anything.
    Read,
    /// Change alert thresholds, rules or silences, or preview a rule.
    ChangeAlerts,
    /// Register, delete, rotate tokens.
    Admin,
}

/// An authenticated caller: its role, and the key its live streams count
/// against (the token that authenticated it, or its address in open mode).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Its role.
    pub role: Role,
    /// The key of its per-token caps.
    pub key: String,
}

/// The secrets a request presents: `X-Admin-Token`, `X-Dashboard-Token`,
/// `Authorization: Bearer`.
fn presented(parts: &Parts) -> Vec<&[u8]> {
    let mut out = Vec::new();
    for name in [ADMIN_HEADER, DASHBOARD_HEADER] {
        if let Some(v) = parts.headers.get(name) {
            out.push(v.as_bytes());
        }
    }
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let v = v.as_bytes();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ") {
            out.push(v[7..].trim_ascii());
        } else {
            out.push(v);
        }
    }
    out
}

fn hex(hash: &TokenHash) -> String {
    hash.0.iter().map(|b| format!("{b:02x}")).collect()
}

/// 429 for an address over its failed-authentication limit.
fn too_many_failures(wait: std::time::Duration) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_failed_attempts",
        "too many requests with a wrong or missing token from this address; wait a minute",
    )
    .with_retry_after(wait.max(std::time::Duration::from_secs(1)))
}

/// Takes one failed-authentication token of the caller's address before a
/// check (none without an address: an embedding without connect info).
fn reserve(
    limiter: &Arc<RateLimiter>,
    ip: Option<IpAddr>,
) -> Result<Option<Reservation>, ApiError> {
    match ip {
        None => Ok(None),
        Some(ip) => limiter
            .reserve(&address_key(ip))
            .map(Some)
            .map_err(too_many_failures),
    }
}

/// A failed check: the reserved token stays spent, and the answer is 401.
fn refused(reservation: Option<Reservation>) -> ApiError {
    if let Some(r) = reservation {
        r.keep();
    }
    ApiError::unauthorized()
}

/// Authorizes a request for `need`.
///
/// # Errors
/// 401 for a missing or wrong token (counted against the address), 429
/// for an address over its limit, 403 `insufficient_scope` for a valid
/// token that may not do this.
pub fn authorize(parts: &Parts, state: &AppState, need: Need) -> Result<Caller, ApiError> {
    let tokens = state.tokens();
    let ip = client_ip(parts);
    let open = tokens.is_open() && need != Need::Admin;
    let open_caller = || Caller {
        role: Role::Open,
        key: ip.map_or_else(
            || "anonymous".to_owned(),
            |ip| format!("addr:{}", address_key(ip)),
        ),
    };
    let secrets = presented(parts);
    if secrets.is_empty() && open {
        return Ok(open_caller());
    }
    let reservation = reserve(state.auth_limiter(), ip)?;
    let best = secrets
        .iter()
        .filter_map(|s| tokens.role_of(s).map(|r| (r, *s)))
        .max_by_key(|(r, _)| match r {
            Role::Open => 0,
            Role::Read => 1,
            Role::Dashboard => 2,
            Role::Admin => 3,
        });
    match best {
        Some((role, secret)) if role.allows(need) => Ok(Caller {
            role,
            key: hex(&auth::hash(secret)),
        }),
        Some((role, _)) => Err(ApiError::forbidden(
            "insufficient_scope",
            match need {
                Need::Admin => "this needs the admin token (X-Admin-Token)".to_owned(),
                _ => format!(
                    "the {} token may read but not change anything; use the dashboard token (DASHBOARD_TOKEN) or the admin token",
                    role.as_str()
                ),
            },
        )),
        // A wrong token on an open server: the request is served as any
        // token-less one (the original ignored tokens when reads were
        // open).
        None if open => Ok(open_caller()),
        None => Err(refused(reservation)),
    }
}

macro_rules! access_extractor {
    ($(#[$doc:meta])* $name:ident, $need:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Caller);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, ApiError> {
                authorize(parts, state, $need).map($name)
            }
        }
    };
}

access_extractor!(
    /// A caller that may read.
    Reader,
    Need::Read
);
access_extractor!(
    /// A caller that may change alert thresholds, rules and silences.
    AlertEditor,
    Need::ChangeAlerts
);
access_extractor!(
    /// A caller with the admin token.
    Admin,
    Need::Admin
);

/// An agent, authenticated by its `X-Auth-Token`: the server the token
/// belongs to.
#[derive(Debug, Clone)]
pub struct Agent(pub ServerId);

impl FromRequestParts<AppState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTH_HEADER)
            .map(|v| v.as_bytes())
            .filter(|t| t.len() >= MIN_SECRET_LEN);
        let hash = token.map(auth::hash);
        let cache = state.agent_tokens();
        // A token checked a moment ago is right: it takes nothing of the
        // address's failed-authentication allowance, so a fleet behind one
        // address (NAT, a proxy) sends as many reports at once as it likes,
        // and a guesser sharing its address does not lock it out.
        if let Some(id) = hash.as_ref().and_then(|h| cache.get(h)) {
            return Ok(Agent(id));
        }
        let reservation = reserve(state.auth_limiter(), client_ip(parts))?;
        let Some(hash) = hash else {
            return Err(refused(reservation));
        };
        let generation = cache.generation();
        match state.storage().catalog().server_by_token(&hash).await? {
            Some(record) => {
                cache.insert(hash, record.id.clone(), generation);
                Ok(Agent(record.id))
            }
            None => Err(refused(reservation)),
        }
    }
}
