//! One delivery worker per notifier: its notifications from the outbox
//! in order, with backoff and a time limit.

use std::sync::Arc;
use std::time::Duration;

use monitor_core::catalog::Delivery;
use monitor_core::{Catalog, Notifier, Timestamp};
use tokio::sync::Notify;

use super::{BATCH, DeliveryStatus, MAX_BACKOFF, POLL, lock};

/// One notifier's worker: its deliveries from the outbox in order, each
/// attempt cut off after `timeout`, a retryable failure retried with
/// exponential backoff until the delivery is `retry_for` old.
pub(super) struct Deliverer {
    pub(super) notifier: Arc<dyn Notifier>,
    pub(super) catalog: Arc<dyn Catalog>,
    pub(super) status: Arc<std::sync::Mutex<DeliveryStatus>>,
    pub(super) wake: Arc<Notify>,
    pub(super) retry_base: Duration,
    pub(super) timeout: Duration,
    pub(super) retry_for: Duration,
    /// Whether this process delivers (see `Alerts::lead`): a follower's
    /// worker waits, so that each notification goes out once.
    pub(super) leading: Arc<std::sync::atomic::AtomicBool>,
}

impl Deliverer {
    pub(super) async fn run(self) {
        let name = self.notifier.name().to_owned();
        // Done with (delivered or given up on) but not yet removed from
        // the outbox, the store having failed: not sent again while the
        // removal is retried.
        let mut done: Vec<i64> = Vec::new();
        loop {
            if !self.leading.load(std::sync::atomic::Ordering::SeqCst) {
                self.idle(POLL).await;
                continue;
            }
            let mut removed = Vec::new();
            for id in &done {
                if self.catalog.remove_delivery(*id).await.is_ok() {
                    removed.push(*id);
                }
            }
            done.retain(|id| !removed.contains(id));
            let batch = match self.catalog.waiting_deliveries(&name, BATCH).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(notifier = %name, %error, "Could not read the notification outbox; trying again shortly.");
                    self.idle(POLL).await;
                    continue;
                }
            };
            let batch: Vec<Delivery> = batch
                .into_iter()
                .filter(|d| !done.contains(&d.id))
                .collect();
            if batch.is_empty() {
                self.idle(POLL).await;
                continue;
            }
            for delivery in batch {
                let now = Timestamp::now();
                if delivery.next_at > now {
                    // Deliveries to one receiver keep their order: the
                    // first waits, and those behind it too.
                    let wait = Duration::from_millis(
                        u64::try_from(delivery.next_at.as_millis() - now.as_millis()).unwrap_or(0),
                    );
                    tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
                    break;
                }
                let Some(delivered) = self.attempt(&delivery).await else {
                    break;
                };
                if let Err(error) = self.catalog.remove_delivery(delivery.id).await {
                    tracing::warn!(notifier = %name, %error, "A notification could not be removed from the outbox; it is removed when the store answers.");
                    done.push(delivery.id);
                }
                // Counted once out of the outbox: `queued` and these agree.
                let mut status = lock(&self.status);
                if delivered {
                    status.delivered += 1;
                } else {
                    status.failed += 1;
                }
            }
        }
    }

    /// Waits for new deliveries, or `at_most`.
    pub(super) async fn idle(&self, at_most: Duration) {
        tokio::select! {
            () = self.wake.notified() => {}
            () = tokio::time::sleep(at_most) => {}
        }
    }

    /// One attempt at `delivery`: `Some(true)` when delivered, `Some(false)`
    /// when given up on (both leave the outbox), `None` when recorded there
    /// to try again later.
    pub(super) async fn attempt(&self, delivery: &Delivery) -> Option<bool> {
        let notifier = &self.notifier;
        let attempted = tokio::time::timeout(self.timeout, notifier.notify(&delivery.notification))
            .await
            .unwrap_or(Err(monitor_core::NotifyError::Timeout(self.timeout)));
        let now = Timestamp::now();
        let error = match attempted {
            Ok(()) => return Some(true),
            Err(error) => error,
        };
        // A notifier of yours may quote its URL, which is often its
        // secret: shown without path, query or credentials.
        let message = crate::webhook::redact_urls(&error.to_string());
        let attempts = delivery.attempts.saturating_add(1);
        let age = Duration::from_millis(
            u64::try_from(now.as_millis() - delivery.created.as_millis()).unwrap_or(0),
        );
        {
            let mut status = lock(&self.status);
            status.last_error = Some(message.clone());
            status.last_error_at = Some(now);
        }
        let event = &delivery.notification.event;
        if error.is_retryable() && age < self.retry_for {
            let delay = self
                .retry_base
                .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(31)))
                .min(MAX_BACKOFF);
            tracing::warn!(notifier = notifier.name(), error = %message, attempts, retry_in = ?delay, "Delivery failed; it is tried again.");
            let next_at = now.add_millis(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
            if let Err(error) = self
                .catalog
                .postpone_delivery(delivery.id, attempts, next_at, &message)
                .await
            {
                tracing::warn!(notifier = notifier.name(), %error, "Could not record a failed delivery in the outbox.");
                tokio::time::sleep(delay.min(POLL)).await;
            }
            return None;
        }
        tracing::error!(notifier = notifier.name(), error = %message, attempts, rule = %event.rule_id, server = %event.server_id, "Notification not delivered; given up.");
        Some(false)
    }
}
