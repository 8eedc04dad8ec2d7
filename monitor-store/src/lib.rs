//! # monitor-store
//!
//! Implementations of [`monitor_core::Store`] (the metrics) and
//! [`monitor_core::Catalog`] (the server's own state) in one database:
//! SQLite (feature `sqlite`, the default: one file, for one machine) and
//! PostgreSQL (feature `postgres`: for production and several server
//! processes sharing one database).
//!
//! Both keep time series the way time-series databases do, not as one row
//! per sample: each report lands as one small row (durable at once), and
//! each finished hour is compacted into compressed per-series chunks (about
//! 1–2 bytes per sample) plus minute and hour rollups that keep average,
//! minimum, maximum and last of every bucket. See the `engine` module's
//! documentation in the source, `docs/storage.md`, and the figures in
//! `docs/performance.md`.
//!
//! # Example
//! ```no_run
//! use monitor_core::{Catalog, ServerId, TokenHash, Timestamp};
//! use monitor_core::catalog::NewServer;
//! use monitor_store::{SqlStore, StoreOptions};
//!
//! # async fn run() -> Result<(), monitor_core::StoreError> {
//! let store = SqlStore::open(StoreOptions::sqlite("/var/lib/monitor/monitor.db")).await?;
//! // or: SqlStore::open_url("postgres://monitor@localhost/monitor").await?
//! store.register_server(NewServer {
//!     id: ServerId::new("srv-01").unwrap(),
//!     name: "Web 1".into(),
//!     tags: vec!["web".into()],
//!     token_hash: TokenHash([0; 32]),
//!     created: Timestamp::now(),
//! }).await?;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "postgres")]
pub mod bus;
mod codec;
mod engine;
mod latest;
#[cfg(feature = "postgres")]
pub mod lease;
mod sql;
pub mod stats;

pub use sql::{
    DEFAULT_MAX_SERIES, Database, Durability, RETENTION_LOCK, SqlStore, StoreOptions,
    WRITES_FAILING,
};
