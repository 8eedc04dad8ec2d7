//! How much ingest work the server takes on at once.
//!
//! A report is small on the wire but not once decoded: a batch of 100
//! snapshots is about 100 KB of gzip, 400 KB of JSON and over a megabyte of
//! decoded samples waiting for the store's writer. A thousand agents coming
//! back after an outage, each with its backlog, would hold a thousand such
//! batches at once (1.6 GB measured before this budget). The budget caps the
//! inflated bytes of the ingest bodies being decoded and stored at once
//! (`limits.ingest_bytes_in_flight`): a request beyond it waits its turn (in
//! order of arrival) for up to [`WAIT`], then is answered 503 `overloaded`
//! with `Retry-After`, nothing of it stored. The agent keeps the batch in its
//! spool and sends it again after its backoff.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a request waits for room before it is answered 503.
pub const WAIT: Duration = Duration::from_secs(2);

/// The budget's unit: permits are KiB.
const UNIT: usize = 1024;

/// The bytes of ingest bodies in progress, bounded.
#[derive(Debug, Clone)]
pub struct IngestBudget {
    permits: Arc<Semaphore>,
    total: u32,
}

/// Room taken in the budget, given back when dropped.
#[derive(Debug)]
pub struct Held {
    _permit: OwnedSemaphorePermit,
}

impl IngestBudget {
    /// A budget of `bytes` (at least 1 KiB).
    pub fn new(bytes: usize) -> Self {
        let total = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        IngestBudget {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Takes room for a body of `bytes`, waiting up to [`WAIT`] for it;
    /// None when there is none in time. A body larger than the whole
    /// budget waits until it has it all.
    pub async fn take(&self, bytes: usize) -> Option<Held> {
        let need = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total);
        let permits = Arc::clone(&self.permits);
        match tokio::time::timeout(WAIT, permits.acquire_many_owned(need)).await {
            Ok(Ok(permit)) => Some(Held { _permit: permit }),
            // Timed out (or, never, closed).
            _ => None,
        }
    }

    /// Bytes taken by requests in progress.
    pub fn in_flight(&self) -> usize {
        (self.total as usize - self.permits.available_permits()) * UNIT
    }

    /// The budget, in bytes.
    pub fn capacity(&self) -> usize {
        self.total as usize * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn room_is_given_back_and_a_full_budget_answers_503() {
        let budget = IngestBudget::new(10 * UNIT);
        let first = budget.take(6 * UNIT).await.expect("room");
        assert_eq!(budget.in_flight(), 6 * UNIT);
        tokio::time::pause();
        assert!(budget.take(6 * UNIT).await.is_none(), "no room");
        drop(first);
        assert_eq!(budget.in_flight(), 0);
        // Larger than the whole budget: it waits for all of it.
        let all = budget.take(100 * UNIT).await.expect("the whole budget");
        assert_eq!(budget.in_flight(), budget.capacity());
        drop(all);
    }
}
