//! # monitor-server
//!
//! The server: it registers hosts, accepts their agents' snapshots, keeps
//! history in a [`monitor_core::Store`], evaluates alerts and notifies,
//! exports to Prometheus and OTLP, and serves the dashboard, with SPEC.md's
//! paths and headers.
//!
//! [`server::Server::builder`] assembles all of it from a configuration, a
//! store, notifiers and exporters; the `monitor-server` binary is that
//! builder and a command line. [`api::router`] is the axum router over any
//! store alone, to embed or to test without a socket.
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use monitor_core::testing::{MemoryStore, RecordingNotifier};
//! use monitor_server::config::ServerConfig;
//! use monitor_server::server::Server;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ServerConfig {
//!     listen: "127.0.0.1:8001".parse()?,
//!     ..ServerConfig::default()
//! };
//! let server = Server::builder()
//!     .with_config(config)
//!     .with_storage(Arc::new(MemoryStore::new()))
//!     .with_notifier(Arc::new(RecordingNotifier::new()))
//!     .build()
//!     .await?;
//! server.serve(std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```

/// This build's version and the commit it was built from, as `--version`
/// shows it: `0.1.0 (commit 2ba5600c1d2e)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MONITOR_COMMIT"),
    ")"
);

/// The commit this build was built from (12 hex digits), or `unknown` for a
/// build outside a git checkout without `MONITOR_BUILD_COMMIT`.
pub const COMMIT: &str = env!("MONITOR_COMMIT");

pub mod access;
pub mod admission;
pub mod alerts;
pub mod api;
pub mod auth;
pub mod body;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod fanout;
pub mod files;
pub mod guard;
pub mod ingest;
pub mod limit;
pub mod metrics;
pub mod serve;
pub mod server;
pub mod storage;
pub mod stream;
pub mod stripped;
pub mod tls;
pub mod webhook;
