//! What the security tests (`security_*.rs`) share: a token of each role,
//! a router over an in-memory store holding them, requests and their JSON
//! answers, a request from a given address. Each test binary uses some of
//! it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use monitor_core::testing::MemoryStore;
use monitor_server::api::{AppState, router};
use monitor_server::auth::{Scope, Token};
use monitor_server::config::StreamSettings;
use monitor_server::guard::HostPolicy;
use monitor_server::limit::ClientAddr;
use serde_json::Value;
use tower::ServiceExt;

pub(crate) struct Tokens {
    pub(crate) admin: Token,
    pub(crate) dashboard: Token,
    pub(crate) read: Token,
}

pub(crate) fn tokens() -> Tokens {
    Tokens {
        admin: Token::generate(Scope::Admin).unwrap(),
        dashboard: Token::generate(Scope::Dashboard).unwrap(),
        read: Token::generate(Scope::Read).unwrap(),
    }
}

/// An app over a fresh in-memory store: open reads when `closed` is false,
/// else with the dashboard and read tokens of `t`.
pub(crate) fn app(t: &Tokens, closed: bool, store: Arc<MemoryStore>) -> axum::Router {
    let mut state = AppState::new(
        store,
        &t.admin,
        if closed { Some(&t.dashboard) } else { None },
    )
    .with_hosts(HostPolicy::new([], ["monitor.example".to_owned()]))
    .with_stream_limits(&StreamSettings {
        max_clients: 100,
        max_clients_per_token: 2,
        ..StreamSettings::default()
    });
    if closed {
        state = state.with_read_token(&t.read);
    }
    router(state)
}

pub(crate) async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub(crate) fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body).unwrap()
}

pub(crate) fn from(mut req: Request<Body>, ip: &str) -> Request<Body> {
    let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(ClientAddr(addr)));
    req
}
