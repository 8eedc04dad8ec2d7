//! Exporters: ways to publish snapshots to other systems.
//!
//! - [`prometheus`] and [`otlp`]: the exporters of `monitor-collectors`
//!   (`monitor_collectors::export`), which the server uses too (features
//!   `prometheus` and `otlp`).
//! - [`listen`]: the agent's own `/metrics` endpoint (`--listen`), with
//!   optional TLS and basic authentication (feature `prometheus`).

#[cfg(feature = "prometheus")]
pub mod listen;
#[cfg(feature = "otlp")]
pub use monitor_collectors::export::otlp;
#[cfg(feature = "prometheus")]
pub use monitor_collectors::export::prometheus;
