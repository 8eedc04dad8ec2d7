//! # monitor-store
//!
//! Implementations of [`monitor_core::Store`]: SQLite (embedded, the default)
//! and PostgreSQL, behind cargo features.
//!
//! This crate is empty for now: the storage engines land with the storage
//! issue (#3). Until then the [`monitor_core::Store`] trait documents the
//! contract they will fulfil.
//!
//! # Example
//! ```
//! // The trait every store implements:
//! fn accepts_any_store(_store: &dyn monitor_core::Store) {}
//! ```
