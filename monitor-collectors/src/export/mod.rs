//! Exporters: ways to publish snapshots to other systems, for the agent
//! (its own host) and the server (every host it receives). Each is behind
//! a feature, off by default, so a program that only collects pays for
//! none of them.
//!
//! - [`prometheus`]: a pull exporter and the rendering of snapshots in the
//!   Prometheus text format (feature `prometheus`).
//! - [`otlp`]: OpenTelemetry metrics over OTLP/HTTP, or gRPC with
//!   `otlp-grpc` (feature `otlp`).
//! - [`remote_write`]: every snapshot to a Prometheus remote-write
//!   receiver, in order, retried with backoff (feature `remote-write`).
//! - [`meter`]: the collectors' metrics as observable instruments of an
//!   OpenTelemetry `Meter` of yours (feature `opentelemetry`).
//! - [`client`]: the HTTP client setup the agent's push and the OTLP
//!   exporter share: TLS with system roots or a pinned CA file, gzip
//!   (feature `client`).

#[cfg(feature = "client")]
pub mod client;
#[cfg(any(feature = "remote-write", feature = "otlp"))]
mod delivery;
#[cfg(any(feature = "remote-write", feature = "otlp"))]
pub use delivery::DeliveryStats;
#[cfg(feature = "opentelemetry")]
pub mod meter;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "prometheus")]
pub mod prometheus;
#[cfg(feature = "remote-write")]
pub mod remote_write;
