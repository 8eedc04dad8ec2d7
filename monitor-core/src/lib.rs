//! # monitor-core
//!
//! The data model and plugin traits of the monitor SDK. Everything else in
//! the workspace — collectors, stores, the server, the agent — is built on
//! these types, and so can your own plugins be.
//!
//! - [`model`]: [`Snapshot`] (one report of one host), [`MetricFamily`],
//!   [`Sample`], [`Labels`], [`Timestamp`], [`ServerId`].
//! - [`names`]: the well-known metric names, their units and their
//!   OpenTelemetry mapping; [`host`]: a typed view of them.
//! - [`wire`]: the versioned agent→server JSON format and its validation;
//!   [`otel`]: a snapshot in OpenTelemetry's terms.
//! - The four traits: [`Collector`], [`Store`] (where metrics go),
//!   [`Notifier`], [`Exporter`] (async via `async-trait`, object safe,
//!   `Send + Sync`); and [`Catalog`], the server's own state (servers,
//!   tokens, alert rules and events, settings, the notification outbox).
//! - [`alert`]: thresholds, rules, states and events.
//! - With the feature `openapi`, every type of the HTTP API's JSON derives
//!   `utoipa::ToSchema` (see `openapi`).
//!
//! This crate does no I/O and depends on no database, HTTP or system crate,
//! so a plugin never has to match our versions of those.
//!
//! # Example
//! A collector of your own, run once, its snapshot encoded for the wire:
//!
//! ```
//! use async_trait::async_trait;
//! use monitor_core::{
//!     wire, CollectContext, CollectError, Collection, Collector, Labels, ServerId, Snapshot,
//!     Timestamp, Unit,
//! };
//! use std::time::Duration;
//!
//! struct Temperature;
//!
//! #[async_trait]
//! impl Collector for Temperature {
//!     fn name(&self) -> &str {
//!         "temperature"
//!     }
//!     async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
//!         let mut out = Collection::new();
//!         out.gauge("room_temperature_celsius", Unit::new("celsius"),
//!                   Labels::new().with("room", "server-room"), 21.5);
//!         Ok(out)
//!     }
//! }
//!
//! # tokio_test();
//! # fn tokio_test() {
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async {
//! let mut collector: Box<dyn Collector> = Box::new(Temperature);
//! let ctx = CollectContext::new(Timestamp::now(), Duration::from_secs(5));
//! let collection = collector.collect(&ctx).await.unwrap();
//! let snapshot = Snapshot::new(ServerId::new("srv-01").unwrap(), ctx.now, collection);
//! let body = wire::encode(&snapshot).unwrap();
//! let back = wire::decode(&body, &wire::Limits::default()).unwrap();
//! assert_eq!(back[0].value("room_temperature_celsius",
//!            &Labels::new().with("room", "server-room")), Some(21.5));
//! # });
//! # }
//! ```

pub mod alert;
pub mod catalog;
pub mod collector;
pub mod error;
pub mod exporter;
pub mod host;
pub mod model;
pub mod names;
pub mod notifier;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod otel;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wire;

pub use alert::{
    AlertEvent, AlertRule, AlertState, Comparison, Scope, Severity, Silence, Thresholds,
};
pub use catalog::{Catalog, TokenHash};
pub use collector::{CollectContext, Collector};
pub use error::{BoxError, CollectError, ExportError, ModelError, NotifyError, StoreError};
pub use exporter::Exporter;
pub use host::HostMetrics;
pub use model::{
    Collection, ContainerHealth, ContainerInfo, ContainerState, Discarded, HostInfo, LabelMatcher,
    Labels, MatchOp, MetricFamily, MetricKind, ProcessInfo, Sample, ServerId, Snapshot, Timestamp,
    Unit,
};
pub use notifier::{Notification, Notifier};
pub use store::Store;
