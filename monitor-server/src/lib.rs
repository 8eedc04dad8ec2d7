//! # monitor-server
//!
//! The server: it registers hosts, accepts their agents' snapshots, keeps
//! history in a [`monitor_core::Store`] and answers the dashboard and
//! `curl` users, with SPEC.md's paths and headers.
//!
//! [`api::router`] builds the axum router over any store, so the server can
//! be embedded or tested without a socket.
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use monitor_server::api::{AppState, router};
//! use monitor_server::auth::{Scope, Token};
//! use monitor_store::{SqlStore, StoreOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqlStore::open(StoreOptions::sqlite("monitor.db")).await?;
//! let admin = Token::generate(Scope::Admin)?;
//! let app = router(AppState::new(Arc::new(store), &admin, None));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8001").await?;
//! // Timeouts, a connection cap and TLS when options.tls is set.
//! let options = monitor_server::serve::ServeOptions::default();
//! monitor_server::serve::serve(listener, app, options, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```

// The OpenAPI document is one large json! literal.
#![recursion_limit = "256"]

pub mod alerts;
pub mod api;
pub mod auth;
pub mod body;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod fanout;
pub mod limit;
pub mod metrics;
pub mod openapi;
pub mod relay;
pub mod serve;
pub mod server;
pub mod stream;
pub mod tls;
pub mod webhook;
