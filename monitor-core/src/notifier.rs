//! The [`Notifier`] trait: delivers alert events to people and systems.

use async_trait::async_trait;

use crate::alert::AlertEvent;
use crate::error::NotifyError;

/// One alert event to deliver, with what a receiver needs to act on it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    /// The transition (firing, resolved, ...) with its values.
    pub event: AlertEvent,
    /// The server's display name.
    pub server_name: String,
    /// A link to the server's page in the dashboard, when the server knows its URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
    /// True when this repeats an earlier notification of a still-firing alert.
    #[serde(default)]
    pub repeat: bool,
    /// The same for every attempt to deliver this notification to one
    /// notifier, different for every other: a receiver that gets it twice
    /// (a retry after an answer that was lost) can ignore the second.
    /// Empty when the caller gives none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub delivery_id: String,
}

/// A destination for alert notifications: a webhook, a chat, a mail relay.
///
/// The server's alert engine calls [`Notifier::notify`] from a queue off the
/// ingest path, so a slow receiver never delays ingest. One call is one
/// delivery attempt: retries with backoff are the caller's business, guided by
/// [`NotifyError::is_retryable`].
///
/// `Option<N>` (disabled when `None`) and `Vec<N>` (fan-out) are notifiers too.
///
/// # Example
/// ```
/// use async_trait::async_trait;
/// use monitor_core::{Notification, NotifyError, Notifier};
///
/// /// Prints every notification to standard error.
/// struct Stderr;
///
/// #[async_trait]
/// impl Notifier for Stderr {
///     fn name(&self) -> &str {
///         "stderr"
///     }
///
///     async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
///         eprintln!("{} on {}: {:?}", n.event.rule_name, n.server_name, n.event.state);
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Notifier: Send + Sync {
    /// A short, stable name for logs and the API (`webhook:ops`).
    fn name(&self) -> &str;

    /// Delivers one notification.
    ///
    /// # Errors
    /// [`NotifyError`]; retryable errors are retried by the caller.
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError>;

    /// Flushes and releases resources at shutdown. The default does nothing.
    ///
    /// # Errors
    /// [`NotifyError`] if the release failed; the caller only logs it.
    async fn shutdown(&self) -> Result<(), NotifyError> {
        Ok(())
    }
}

#[async_trait]
impl<N: Notifier + ?Sized> Notifier for Box<N> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        (**self).notify(notification).await
    }
    async fn shutdown(&self) -> Result<(), NotifyError> {
        (**self).shutdown().await
    }
}

#[async_trait]
impl<N: Notifier> Notifier for Option<N> {
    fn name(&self) -> &str {
        self.as_ref().map_or("disabled", Notifier::name)
    }
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        match self {
            Some(n) => n.notify(notification).await,
            None => Ok(()),
        }
    }
    async fn shutdown(&self) -> Result<(), NotifyError> {
        match self {
            Some(n) => n.shutdown().await,
            None => Ok(()),
        }
    }
}

/// Fan-out: every notifier is tried; the first error (if any) is returned
/// after all have been called.
#[async_trait]
impl<N: Notifier> Notifier for Vec<N> {
    fn name(&self) -> &str {
        "fan-out"
    }
    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let mut first_error = None;
        for n in self {
            if let Err(e) = n.notify(notification).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
    async fn shutdown(&self) -> Result<(), NotifyError> {
        let mut first_error = None;
        for n in self {
            if let Err(e) = n.shutdown().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
