//! Exporters: ways to publish snapshots to other systems, for the agent (its
//! own host) and the server (every host it receives).
//!
//! - [`prometheus`]: a pull exporter and the rendering of snapshots in the
//!   Prometheus text format (feature `prometheus`).
//! - [`listen`]: the agent's own `/metrics` endpoint (`--listen`), with
//!   optional TLS and basic authentication (feature `prometheus`).
//! - [`otlp`]: OpenTelemetry metrics over OTLP/HTTP (feature `otlp`).

#[cfg(feature = "prometheus")]
pub mod listen;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "prometheus")]
pub mod prometheus;
