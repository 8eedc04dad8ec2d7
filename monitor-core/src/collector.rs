//! The [`Collector`] trait: a source of metrics on the host.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::CollectError;
use crate::model::{Collection, Timestamp};

/// What a collector is told about the collection it takes part in.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectContext {
    /// The instant the snapshot will carry.
    pub now: Timestamp,
    /// The agent's collection interval (rates are computed over the real time
    /// between two calls, which is about this long).
    pub interval: Duration,
}

impl CollectContext {
    /// A context for a collection at `now` in an agent running every `interval`.
    pub fn new(now: Timestamp, interval: Duration) -> Self {
        CollectContext { now, interval }
    }
}

/// A source of metrics: memory, CPU, Docker, or a plugin of your own.
///
/// The agent calls [`Collector::collect`] once per interval, one call at a
/// time, and merges the results of all its collectors into one
/// [`crate::model::Snapshot`]. `collect` takes `&mut self` because many values
/// (CPU %, bytes per second) are differences between two reads: keep the
/// previous read in `self`, and return no rate on the first call.
///
/// One call is one attempt: a collector neither retries nor sleeps. When its
/// source is missing it returns [`CollectError::Unavailable`] and is called
/// again next interval; the agent logs the first failure and the recovery,
/// not every repeat.
///
/// # Example
/// ```
/// use async_trait::async_trait;
/// use monitor_core::{CollectContext, CollectError, Collection, Collector, Labels, Unit};
///
/// /// Counts the entries of a directory.
/// struct QueueDepth {
///     dir: std::path::PathBuf,
/// }
///
/// #[async_trait]
/// impl Collector for QueueDepth {
///     fn name(&self) -> &str {
///         "queue"
///     }
///
///     async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
///         let count = std::fs::read_dir(&self.dir)
///             .map_err(|e| CollectError::io(self.dir.display().to_string(), e))?
///             .count();
///         let mut out = Collection::new();
///         out.gauge("queue_depth", Unit::COUNT, Labels::new().with("queue", "mail"), count as f64);
///         Ok(out)
///     }
/// }
/// ```
#[async_trait]
pub trait Collector: Send + Sync {
    /// A short, stable name (`memory`, `docker`): used in logs and in the
    /// agent's `--collectors` list.
    fn name(&self) -> &str;

    /// Reads the current values.
    ///
    /// # Errors
    /// [`CollectError`]; the agent keeps the other collectors' results.
    async fn collect(&mut self, ctx: &CollectContext) -> Result<Collection, CollectError>;

    /// Releases resources when the agent stops. The default does nothing.
    ///
    /// # Errors
    /// [`CollectError`] if the release failed; the agent only logs it.
    async fn shutdown(&mut self) -> Result<(), CollectError> {
        Ok(())
    }
}

#[async_trait]
impl<C: Collector + ?Sized> Collector for Box<C> {
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn collect(&mut self, ctx: &CollectContext) -> Result<Collection, CollectError> {
        (**self).collect(ctx).await
    }

    async fn shutdown(&mut self) -> Result<(), CollectError> {
        (**self).shutdown().await
    }
}
