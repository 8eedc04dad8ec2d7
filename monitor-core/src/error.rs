//! Error types, one enum per trait family.
//!
//! Each enum has the variants a caller can act on (unavailable and worth
//! retrying, timed out, invalid input, invalid configuration) and an `Other`
//! variant that carries a plugin's own cause. `is_retryable()` tells whether
//! the same call may succeed later.

use std::time::Duration;

/// A boxed error from a plugin or a library underneath it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A value of the data model broke a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A server id is empty, too long, or has a character outside `[A-Za-z0-9._-]`.
    #[error(
        "invalid server id {0:?}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )]
    InvalidServerId(String),
    /// A timestamp is neither RFC 3339 nor Unix seconds, or is out of range.
    #[error("invalid timestamp {0:?}: use RFC 3339 (2026-11-25T14:35:38Z) or Unix seconds")]
    InvalidTimestamp(String),
}

/// A collector could not produce its metrics.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The source is absent or refused access (no Docker socket, permission
    /// denied). The agent keeps running and the collector is tried again later.
    #[error("{what} is unavailable: {reason}")]
    Unavailable {
        /// What could not be reached (`Docker at unix:///var/run/docker.sock`).
        what: String,
        /// Why, in words an operator can act on.
        reason: String,
    },
    /// The collection did not finish in time.
    #[error("collection timed out after {0:?}")]
    Timeout(Duration),
    /// The collector's configuration is wrong; retrying will not help.
    #[error("invalid collector configuration: {0}")]
    InvalidConfig(String),
    /// Reading a system file failed.
    #[error("reading {path} failed: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A system file had an unexpected shape.
    #[error("could not parse {path}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// Any other cause, from a plugin.
    #[error(transparent)]
    Other(BoxError),
}

impl CollectError {
    /// True when the same collection may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CollectError::Unavailable { .. } | CollectError::Timeout(_) | CollectError::Io { .. }
        )
    }

    /// An [`CollectError::Io`] for `path`.
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        CollectError::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`CollectError::Parse`] for `path`.
    pub fn parse(path: impl Into<String>, reason: impl Into<String>) -> Self {
        CollectError::Parse {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The object already exists (a server id registered twice).
    #[error("{0} already exists")]
    Conflict(String),
    /// The request is invalid for this store (bad matcher, range, value).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The database cannot be reached or is busy; retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The disk is full: writes fail, reads still work.
    #[error("storage full: {0}")]
    Full(String),
    /// The database was written by a newer version of this software.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// The version found in the database.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The operation did not finish in time.
    #[error("storage operation timed out after {0:?}")]
    Timeout(Duration),
    /// A report would give its server more series than the store keeps
    /// for one server; nothing of it was stored. Retrying does not help:
    /// fewer series (labels that do not change at every report) or a
    /// higher limit do.
    #[error(
        "server {server} has {active} series in use and this report would add {adding}: the limit is {limit} per server"
    )]
    TooManySeries {
        /// The server.
        server: String,
        /// Its series in use (reported within the raw retention).
        active: usize,
        /// The new series of the refused report.
        adding: usize,
        /// The limit.
        limit: usize,
    },
    /// Any other cause.
    #[error(transparent)]
    Other(BoxError),
}

impl StoreError {
    /// A copy of this error for several callers (one failed group commit
    /// answers each of its calls): the same variant, with a plugin's own
    /// cause as its message.
    pub fn duplicate(&self) -> StoreError {
        match self {
            StoreError::NotFound(m) => StoreError::NotFound(m.clone()),
            StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
            StoreError::InvalidInput(m) => StoreError::InvalidInput(m.clone()),
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            StoreError::Full(m) => StoreError::Full(m.clone()),
            StoreError::SchemaTooNew { found, supported } => StoreError::SchemaTooNew {
                found: *found,
                supported: *supported,
            },
            StoreError::Timeout(d) => StoreError::Timeout(*d),
            StoreError::TooManySeries {
                server,
                active,
                adding,
                limit,
            } => StoreError::TooManySeries {
                server: server.clone(),
                active: *active,
                adding: *adding,
                limit: *limit,
            },
            StoreError::Other(e) => StoreError::Other(e.to_string().into()),
        }
    }

    /// True when the same operation may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Timeout(_) | StoreError::Full(_)
        )
    }
}

/// A notification could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The receiver could not be reached or answered with a temporary error
    /// (5xx, 429); delivery may be retried.
    #[error("receiver unavailable: {0}")]
    Unavailable(String),
    /// The receiver refused the notification for good (4xx other than 429).
    #[error("receiver rejected the notification: {0}")]
    Rejected(String),
    /// The destination is not allowed (private address without an allow-list entry).
    #[error("destination not allowed: {0}")]
    DestinationNotAllowed(String),
    /// The delivery did not finish in time.
    #[error("delivery timed out after {0:?}")]
    Timeout(Duration),
    /// The notifier's configuration is wrong.
    #[error("invalid notifier configuration: {0}")]
    InvalidConfig(String),
    /// Any other cause.
    #[error(transparent)]
    Other(BoxError),
}

impl NotifyError {
    /// True when a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, NotifyError::Unavailable(_) | NotifyError::Timeout(_))
    }
}

/// An export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The destination could not be reached or answered with a temporary error.
    #[error("export destination unavailable: {0}")]
    Unavailable(String),
    /// The destination refused the data for good.
    #[error("export rejected: {0}")]
    Rejected(String),
    /// The export did not finish in time.
    #[error("export timed out after {0:?}")]
    Timeout(Duration),
    /// The exporter's configuration is wrong.
    #[error("invalid exporter configuration: {0}")]
    InvalidConfig(String),
    /// Any other cause.
    #[error(transparent)]
    Other(BoxError),
}

impl ExportError {
    /// True when a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ExportError::Unavailable(_) | ExportError::Timeout(_))
    }
}
