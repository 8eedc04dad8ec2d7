//! # monitor-server
//!
//! The server: it registers hosts, accepts their agents' snapshots over
//! HTTPS, keeps history in a [`monitor_core::Store`], evaluates alerts and
//! serves the dashboard.
//!
//! This crate is empty for now: the server lands with the server issue (#4),
//! on top of the stores of the storage issue (#3).
//!
//! # Example
//! ```
//! // The agent→server wire format the server will accept is defined in core:
//! let limits = monitor_core::wire::Limits::default();
//! assert!(limits.max_samples_per_snapshot > 0);
//! ```
