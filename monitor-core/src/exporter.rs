//! The [`Exporter`] trait: publishes snapshots to another system.

use async_trait::async_trait;

use crate::error::ExportError;
use crate::model::Snapshot;

/// A destination for metrics outside this system: a Prometheus scrape
/// endpoint, an OTLP collector, a file.
///
/// The agent calls [`Exporter::export`] with each snapshot it takes; the
/// server calls it with each batch it accepts (after it is stored). A push
/// exporter sends the data; a pull exporter (Prometheus) keeps the latest
/// values for its scrape handler. One call is one attempt.
///
/// `Option<E>` (disabled when `None`) and `Vec<E>` (fan-out) are exporters too.
///
/// # Example
/// ```
/// use async_trait::async_trait;
/// use monitor_core::{ExportError, Exporter, Snapshot};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// /// Counts the samples it is given.
/// #[derive(Default)]
/// struct SampleCounter(AtomicUsize);
///
/// #[async_trait]
/// impl Exporter for SampleCounter {
///     fn name(&self) -> &str {
///         "counter"
///     }
///
///     async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
///         let n: usize = snapshots.iter().map(Snapshot::sample_count).sum();
///         self.0.fetch_add(n, Ordering::Relaxed);
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Exporter: Send + Sync {
    /// A short, stable name for logs (`prometheus`, `otlp`).
    fn name(&self) -> &str;

    /// Publishes snapshots, oldest first.
    ///
    /// # Errors
    /// [`ExportError`]; the caller logs it and goes on with the next batch.
    async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError>;

    /// Sends anything buffered. The default does nothing.
    ///
    /// # Errors
    /// [`ExportError`] if sending failed.
    async fn flush(&self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Flushes and releases resources at shutdown. The default flushes.
    ///
    /// # Errors
    /// [`ExportError`] if the final flush failed.
    async fn shutdown(&self) -> Result<(), ExportError> {
        self.flush().await
    }
}

#[async_trait]
impl<E: Exporter + ?Sized> Exporter for Box<E> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
        (**self).export(snapshots).await
    }
    async fn flush(&self) -> Result<(), ExportError> {
        (**self).flush().await
    }
    async fn shutdown(&self) -> Result<(), ExportError> {
        (**self).shutdown().await
    }
}

/// Shared: the binary keeps one handle (a Prometheus exporter's scrape
/// handler) while the agent feeds another.
#[async_trait]
impl<E: Exporter + ?Sized> Exporter for std::sync::Arc<E> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
        (**self).export(snapshots).await
    }
    async fn flush(&self) -> Result<(), ExportError> {
        (**self).flush().await
    }
    async fn shutdown(&self) -> Result<(), ExportError> {
        (**self).shutdown().await
    }
}

#[async_trait]
impl<E: Exporter> Exporter for Option<E> {
    fn name(&self) -> &str {
        self.as_ref().map_or("disabled", Exporter::name)
    }
    async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
        match self {
            Some(e) => e.export(snapshots).await,
            None => Ok(()),
        }
    }
    async fn flush(&self) -> Result<(), ExportError> {
        match self {
            Some(e) => e.flush().await,
            None => Ok(()),
        }
    }
    async fn shutdown(&self) -> Result<(), ExportError> {
        match self {
            Some(e) => e.shutdown().await,
            None => Ok(()),
        }
    }
}

/// Fan-out: every exporter is called; the first error (if any) is returned
/// after all have been.
#[async_trait]
impl<E: Exporter> Exporter for Vec<E> {
    fn name(&self) -> &str {
        "fan-out"
    }
    async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
        let mut first_error = None;
        for e in self {
            if let Err(err) = e.export(snapshots).await {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
    async fn flush(&self) -> Result<(), ExportError> {
        let mut first_error = None;
        for e in self {
            if let Err(err) = e.flush().await {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
    async fn shutdown(&self) -> Result<(), ExportError> {
        let mut first_error = None;
        for e in self {
            if let Err(err) = e.shutdown().await {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
